//! `sessions`: server-side sessions keyed by the digest of the cookie value.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionAccount {
    pub account_id: i64,
    pub username: String,
    pub role: String,
    pub teammate_id: Option<i64>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert<'e>(
    db: impl SqliteExecutor<'e>,
    id_digest: &str,
    account_id: i64,
    now: Timestamp,
    expires_at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_digest, account_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id_digest)
    .bind(account_id)
    .bind(now)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The session's account, if the session exists and its account is enabled.
/// Expiry is decided by the caller (it knows the idle rule and `now`).
pub async fn find<'e>(db: impl SqliteExecutor<'e>, id_digest: &str) -> sqlx::Result<Option<SessionAccount>> {
    sqlx::query_as::<_, SessionAccount>(
        "SELECT s.account_id, a.username, a.role, a.teammate_id, s.created_at, s.last_seen_at, s.expires_at \
         FROM sessions s JOIN accounts a ON a.id = s.account_id \
         WHERE s.id_digest = ? AND a.disabled_at IS NULL",
    )
    .bind(id_digest)
    .fetch_optional(db)
    .await
}

pub async fn touch<'e>(db: impl SqliteExecutor<'e>, id_digest: &str, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id_digest = ?")
        .bind(now)
        .bind(id_digest)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn delete<'e>(db: impl SqliteExecutor<'e>, id_digest: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_digest = ?").bind(id_digest).execute(db).await?;
    Ok(())
}

pub async fn delete_for_account<'e>(db: impl SqliteExecutor<'e>, account_id: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE account_id = ?").bind(account_id).execute(db).await?;
    Ok(done.rows_affected())
}
