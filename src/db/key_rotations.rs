//! `key_rotations`: one row per rotation of a teammate's key, each step a
//! timestamp (see migration 0006). At most one rotation per teammate is open
//! (a unique partial index), so two rotations cannot race.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

/// `SELECT <every Rotation column> FROM key_rotations <rest>`, static for sqlx.
macro_rules! select_rotations {
    ($rest:literal) => {
        concat!(
            "SELECT id, teammate_id, old_access_key_id, made_room_key_id, new_access_key_id, link_id, started_at, ",
            "new_key_seen_at, confirmed_at, old_deactivated_at, old_deleted_at, finished_at, outcome, last_error ",
            "FROM key_rotations ",
            $rest
        )
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Rotation {
    pub id: i64,
    pub teammate_id: i64,
    pub old_access_key_id: Option<String>,
    pub made_room_key_id: Option<String>,
    pub new_access_key_id: Option<String>,
    pub link_id: Option<String>,
    pub started_at: Timestamp,
    pub new_key_seen_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    pub old_deactivated_at: Option<Timestamp>,
    pub old_deleted_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
}

pub async fn open_for<'e>(db: impl SqliteExecutor<'e>, teammate_id: i64) -> sqlx::Result<Option<Rotation>> {
    sqlx::query_as::<_, Rotation>(select_rotations!("WHERE teammate_id = ? AND finished_at IS NULL"))
        .bind(teammate_id)
        .fetch_optional(db)
        .await
}

/// The teammate's rotations, newest first.
pub async fn for_teammate<'e>(
    db: impl SqliteExecutor<'e>,
    teammate_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Rotation>> {
    sqlx::query_as::<_, Rotation>(select_rotations!("WHERE teammate_id = ? ORDER BY id DESC LIMIT ?"))
        .bind(teammate_id)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Every open rotation (for the housekeeping tick and the teammates list).
pub async fn all_open<'e>(db: impl SqliteExecutor<'e>) -> sqlx::Result<Vec<Rotation>> {
    sqlx::query_as::<_, Rotation>(select_rotations!("WHERE finished_at IS NULL ORDER BY id")).fetch_all(db).await
}

pub async fn insert<'e>(
    db: impl SqliteExecutor<'e>,
    teammate_id: i64,
    old_access_key_id: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO key_rotations (teammate_id, old_access_key_id, started_at) VALUES (?, ?, ?) RETURNING id",
    )
    .bind(teammate_id)
    .bind(old_access_key_id)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// One column of a rotation that records a step: set once, never moved.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    NewKeySeen,
    Confirmed,
    OldDeactivated,
}

pub async fn mark<'e>(db: impl SqliteExecutor<'e>, id: i64, mark: Mark, now: Timestamp) -> sqlx::Result<()> {
    let sql = match mark {
        Mark::NewKeySeen => {
            "UPDATE key_rotations SET new_key_seen_at = COALESCE(new_key_seen_at, ?), last_error = NULL WHERE id = ?"
        }
        Mark::Confirmed => {
            "UPDATE key_rotations SET confirmed_at = COALESCE(confirmed_at, ?), last_error = NULL WHERE id = ?"
        }
        Mark::OldDeactivated => {
            "UPDATE key_rotations SET old_deactivated_at = COALESCE(old_deactivated_at, ?), last_error = NULL \
             WHERE id = ?"
        }
    };
    sqlx::query(sql).bind(now).bind(id).execute(db).await?;
    Ok(())
}

pub async fn set_made_room<'e>(db: impl SqliteExecutor<'e>, id: i64, key: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE key_rotations SET made_room_key_id = ?, last_error = NULL WHERE id = ?")
        .bind(key)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The new key exists (`None`: it was deleted again because its secret was
/// lost before a link carried it; a new one will be made).
pub async fn set_new_key<'e>(db: impl SqliteExecutor<'e>, id: i64, key: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("UPDATE key_rotations SET new_access_key_id = ?, last_error = NULL WHERE id = ?")
        .bind(key)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_link<'e>(db: impl SqliteExecutor<'e>, id: i64, link_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE key_rotations SET link_id = ?, last_error = NULL WHERE id = ?")
        .bind(link_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_error<'e>(db: impl SqliteExecutor<'e>, id: i64, kind: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE key_rotations SET last_error = ? WHERE id = ?").bind(kind).bind(id).execute(db).await?;
    Ok(())
}

/// The old key is gone: the rotation is complete.
pub async fn complete<'e>(db: impl SqliteExecutor<'e>, id: i64, old_deleted: bool, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE key_rotations SET old_deleted_at = CASE WHEN ? THEN COALESCE(old_deleted_at, ?) ELSE old_deleted_at END, \
         finished_at = ?, outcome = 'completed', last_error = NULL WHERE id = ? AND finished_at IS NULL",
    )
    .bind(old_deleted)
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn cancel<'e>(db: impl SqliteExecutor<'e>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE key_rotations SET finished_at = ?, outcome = 'cancelled', last_error = NULL \
         WHERE id = ? AND finished_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}
