//! `teammates`: IAM users the portal manages, and how far provisioning got.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Teammate {
    pub id: i64,
    pub iam_user_name: String,
    pub status: String,
    pub last_step: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub async fn find_by_name<'e>(db: impl SqliteExecutor<'e>, name: &str) -> sqlx::Result<Option<Teammate>> {
    sqlx::query_as::<_, Teammate>(
        "SELECT id, iam_user_name, status, last_step, last_error, created_at, updated_at \
         FROM teammates WHERE iam_user_name = ?",
    )
    .bind(name)
    .fetch_optional(db)
    .await
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

/// One row of the owner's teammates list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeammateRow {
    pub id: i64,
    pub iam_user_name: String,
    pub status: String,
    pub last_step: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub has_password: bool,
    pub pending_links: i64,
    pub last_upload_at: Option<Timestamp>,
}

pub async fn list<'e>(db: impl SqliteExecutor<'e>, now: Timestamp) -> sqlx::Result<Vec<TeammateRow>> {
    sqlx::query_as::<_, TeammateRow>(
        "SELECT t.id, t.iam_user_name, t.status, t.last_step, t.last_error, t.created_at, \
                COALESCE(a.password_hash IS NOT NULL, 0) AS has_password, \
                (SELECT COUNT(*) FROM secret_links l WHERE l.teammate_id = t.id AND l.revealed_at IS NULL \
                   AND l.revoked_at IS NULL AND l.expires_at > ?) AS pending_links, \
                (SELECT MAX(u.completed_at) FROM uploads u WHERE u.account_id = a.id) AS last_upload_at \
         FROM teammates t LEFT JOIN accounts a ON a.teammate_id = t.id \
         ORDER BY t.iam_user_name",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

pub async fn insert_access_key<'e>(
    db: impl SqliteExecutor<'e>,
    access_key_id: &str,
    teammate_id: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("INSERT OR IGNORE INTO access_keys (access_key_id, teammate_id, created_at) VALUES (?, ?, ?)")
        .bind(access_key_id)
        .bind(teammate_id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}
