//! `setup_tokens`: the one-time owner setup link printed on first start.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

pub async fn insert<'e>(
    db: impl SqliteExecutor<'e>,
    token_digest: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO setup_tokens (token_digest, created_at, expires_at) VALUES (?, ?, ?)")
        .bind(token_digest)
        .bind(now)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether the token is unused and unexpired (does not consume it).
pub async fn is_usable<'e>(db: impl SqliteExecutor<'e>, token_digest: &str, now: Timestamp) -> sqlx::Result<bool> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM setup_tokens WHERE token_digest = ? AND used_at IS NULL AND expires_at > ?")
            .bind(token_digest)
            .bind(now)
            .fetch_optional(db)
            .await?;
    Ok(row.is_some())
}

/// Consumes the token; true only for the one caller that did.
pub async fn consume<'e>(db: impl SqliteExecutor<'e>, token_digest: &str, now: Timestamp) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE setup_tokens SET used_at = ? WHERE token_digest = ? AND used_at IS NULL AND expires_at > ?",
    )
    .bind(now)
    .bind(token_digest)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
