//! `teammates`: IAM users the portal manages, how far provisioning got, and
//! how far a removal got. The status shown to the owner is derived from these
//! facts (domain::TeammateStatus); see migration 0006 for why.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;
use crate::domain::TeammateStatus;
use crate::domain::teammate::StatusFacts;

/// `SELECT <every Teammate column> FROM teammates t LEFT JOIN accounts a ... <rest>`,
/// built at compile time (sqlx only takes SQL it can see is static).
macro_rules! select_teammates {
    ($rest:literal) => {
        concat!(
            "SELECT t.id, t.iam_user_name, t.status, t.last_step, t.last_error, t.created_at, t.updated_at, ",
            "t.activated_at, t.adopted_at, t.removal_started_at, t.removal_step, t.removal_error, t.removed_at, ",
            "a.id AS account_id, a.disabled_at AS account_disabled_at, ",
            "COALESCE(a.password_hash IS NOT NULL, 0) AS has_password ",
            "FROM teammates t LEFT JOIN accounts a ON a.teammate_id = t.id ",
            $rest
        )
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Teammate {
    pub id: i64,
    pub iam_user_name: String,
    pub status: String,
    pub last_step: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub adopted_at: Option<Timestamp>,
    pub removal_started_at: Option<Timestamp>,
    pub removal_step: Option<String>,
    pub removal_error: Option<String>,
    pub removed_at: Option<Timestamp>,
    /// The teammate's portal account (every teammate has one).
    pub account_id: Option<i64>,
    pub account_disabled_at: Option<Timestamp>,
    pub has_password: bool,
}

impl Teammate {
    /// The status the owner sees.
    pub fn shown_status(&self) -> TeammateStatus {
        TeammateStatus::derive(StatusFacts {
            stored: &self.status,
            removal_started: self.removal_started_at.is_some() && self.removed_at.is_none(),
            account_disabled: self.account_disabled_at.is_some(),
            activated: self.activated_at.is_some(),
        })
    }
}

pub async fn find_by_name<'e>(db: impl SqliteExecutor<'e>, name: &str) -> sqlx::Result<Option<Teammate>> {
    sqlx::query_as::<_, Teammate>(select_teammates!("WHERE t.iam_user_name = ?")).bind(name).fetch_optional(db).await
}

pub async fn find_by_id<'e>(db: impl SqliteExecutor<'e>, id: i64) -> sqlx::Result<Option<Teammate>> {
    sqlx::query_as::<_, Teammate>(select_teammates!("WHERE t.id = ?")).bind(id).fetch_optional(db).await
}

/// Every teammate, by name.
pub async fn list_all<'e>(db: impl SqliteExecutor<'e>) -> sqlx::Result<Vec<Teammate>> {
    sqlx::query_as::<_, Teammate>(select_teammates!("ORDER BY t.iam_user_name")).fetch_all(db).await
}

/// Inserts the teammate as 'incomplete', or returns the existing row's id.
pub async fn ensure<'e>(db: impl SqliteExecutor<'e>, name: &str, now: Timestamp) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO teammates (iam_user_name, status, created_at, updated_at) VALUES (?, 'incomplete', ?, ?) \
         ON CONFLICT (iam_user_name) DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
    )
    .bind(name)
    .bind(now)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// A removed teammate is added again (the same name, possibly another
/// person): provisioning starts over and nothing of the old life carries on.
pub async fn reset_for_readd<'e>(db: impl SqliteExecutor<'e>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE teammates SET status = 'incomplete', last_step = NULL, last_error = NULL, activated_at = NULL, \
         adopted_at = NULL, removal_started_at = NULL, removal_step = NULL, removal_error = NULL, removed_at = NULL, \
         updated_at = ? WHERE id = ? AND status = 'removed'",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Records an adopted IAM user (made outside the portal, already working):
/// active and activated from the start. Returns the id, or `None` when the
/// name belongs to a teammate who is not removed.
pub async fn insert_adopted<'e>(db: impl SqliteExecutor<'e>, name: &str, now: Timestamp) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO teammates (iam_user_name, status, last_step, created_at, updated_at, activated_at, adopted_at) \
         VALUES (?, 'active', 'adopted', ?, ?, ?, ?) \
         ON CONFLICT (iam_user_name) DO UPDATE SET status = 'active', last_step = 'adopted', last_error = NULL, \
           activated_at = excluded.activated_at, adopted_at = excluded.adopted_at, removal_started_at = NULL, \
           removal_step = NULL, removal_error = NULL, removed_at = NULL, updated_at = excluded.updated_at \
         WHERE teammates.status = 'removed' \
         RETURNING id",
    )
    .bind(name)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Records the last provisioning step that succeeded.
pub async fn record_step<'e>(db: impl SqliteExecutor<'e>, id: i64, step: &str, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE teammates SET last_step = ?, last_error = NULL, updated_at = ? WHERE id = ?")
        .bind(step)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks provisioning as failed at a step (the teammate stays 'incomplete').
pub async fn record_failure<'e>(
    db: impl SqliteExecutor<'e>,
    id: i64,
    error_kind: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE teammates SET status = 'incomplete', last_error = ?, updated_at = ? WHERE id = ?")
        .bind(error_kind)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_status<'e>(db: impl SqliteExecutor<'e>, id: i64, status: &str, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE teammates SET status = ?, updated_at = ? WHERE id = ?")
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The teammate has a working key in hand (first reveal of a key link).
pub async fn mark_activated<'e>(db: impl SqliteExecutor<'e>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE teammates SET activated_at = ? WHERE id = ? AND activated_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A removal starts (or starts again after it stopped).
pub async fn start_removal<'e>(db: impl SqliteExecutor<'e>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE teammates SET removal_started_at = COALESCE(removal_started_at, ?), removal_error = NULL, \
         updated_at = ? WHERE id = ?",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn record_removal_step<'e>(
    db: impl SqliteExecutor<'e>,
    id: i64,
    step: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE teammates SET removal_step = ?, removal_error = NULL, updated_at = ? WHERE id = ?")
        .bind(step)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn record_removal_failure<'e>(
    db: impl SqliteExecutor<'e>,
    id: i64,
    error_kind: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE teammates SET removal_error = ?, updated_at = ? WHERE id = ?")
        .bind(error_kind)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn mark_removed<'e>(db: impl SqliteExecutor<'e>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE teammates SET status = 'removed', removed_at = ?, removal_error = NULL, updated_at = ? WHERE id = ?",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Per teammate: pending (revealable) links and the last completed upload.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Activity {
    pub teammate_id: i64,
    pub pending_links: i64,
    pub last_upload_at: Option<Timestamp>,
}

pub async fn activity<'e>(db: impl SqliteExecutor<'e>, now: Timestamp) -> sqlx::Result<Vec<Activity>> {
    sqlx::query_as::<_, Activity>(
        "SELECT t.id AS teammate_id, \
                (SELECT COUNT(*) FROM secret_links l WHERE l.teammate_id = t.id AND l.revealed_at IS NULL \
                   AND l.revoked_at IS NULL AND l.expires_at > ?) AS pending_links, \
                (SELECT MAX(u.completed_at) FROM uploads u WHERE u.account_id = a.id) AS last_upload_at \
         FROM teammates t LEFT JOIN accounts a ON a.teammate_id = t.id",
    )
    .bind(now)
    .fetch_all(db)
    .await
}
