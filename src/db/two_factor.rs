//! Owner two-factor state: the (sealed) TOTP secret on `accounts`,
//! `recovery_codes`, and `login_challenges` between password and code.

use sqlx::{SqliteConnection, SqliteExecutor};

use crate::clock::Timestamp;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpState {
    pub totp_secret: Option<Vec<u8>>,
    pub totp_pending: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
}

pub async fn state<'e>(db: impl SqliteExecutor<'e>, account_id: i64) -> sqlx::Result<TotpState> {
    sqlx::query_as("SELECT totp_secret, totp_pending, totp_last_step FROM accounts WHERE id = ?")
        .bind(account_id)
        .fetch_one(db)
        .await
}

pub async fn set_pending<'e>(db: impl SqliteExecutor<'e>, account_id: i64, sealed: &[u8]) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET totp_pending = ? WHERE id = ?").bind(sealed).bind(account_id).execute(db).await?;
    Ok(())
}

/// Turns the pending secret into the active one; `step` is the code just used.
pub async fn activate(
    conn: &mut SqliteConnection,
    account_id: i64,
    step: i64,
    code_digests: &[String],
) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ? WHERE id = ?")
        .bind(step)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = ?").bind(account_id).execute(&mut *conn).await?;
    for digest in code_digests {
        sqlx::query("INSERT INTO recovery_codes (account_id, code_digest) VALUES (?, ?)")
            .bind(account_id)
            .bind(digest)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn disable(conn: &mut SqliteConnection, account_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL WHERE id = ?")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = ?").bind(account_id).execute(&mut *conn).await?;
    Ok(())
}

/// Records the step of a code just accepted, only if it is newer (one use per code).
pub async fn advance_step<'e>(db: impl SqliteExecutor<'e>, account_id: i64, step: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE accounts SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
    )
    .bind(step)
    .bind(account_id)
    .bind(step)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a recovery code; true for the one caller that did.
pub async fn use_recovery_code<'e>(
    db: impl SqliteExecutor<'e>,
    account_id: i64,
    code_digest: &str,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND code_digest = ? AND used_at IS NULL",
    )
    .bind(now)
    .bind(account_id)
    .bind(code_digest)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn unused_recovery_codes<'e>(db: impl SqliteExecutor<'e>, account_id: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM recovery_codes WHERE account_id = ? AND used_at IS NULL")
        .bind(account_id)
        .fetch_one(db)
        .await?;
    Ok(n)
}

pub async fn insert_challenge<'e>(
    db: impl SqliteExecutor<'e>,
    token_digest: &str,
    account_id: i64,
    expires_at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO login_challenges (token_digest, account_id, expires_at) VALUES (?, ?, ?)")
        .bind(token_digest)
        .bind(account_id)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// Counts an attempt on a live challenge; returns its account if the
/// challenge exists, is unexpired and has attempts left.
pub async fn attempt_challenge<'e>(
    db: impl SqliteExecutor<'e>,
    token_digest: &str,
    now: Timestamp,
    max_attempts: i64,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE login_challenges SET attempts = attempts + 1 \
         WHERE token_digest = ? AND expires_at > ? AND attempts < ? RETURNING account_id",
    )
    .bind(token_digest)
    .bind(now)
    .bind(max_attempts)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id,)| id))
}

pub async fn delete_challenge<'e>(db: impl SqliteExecutor<'e>, token_digest: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_challenges WHERE token_digest = ?").bind(token_digest).execute(db).await?;
    Ok(())
}

/// Ends every pending login challenge of the account (a password reset
/// makes a half-finished sign-in worthless).
pub async fn delete_challenges_for_account<'e>(db: impl SqliteExecutor<'e>, account_id: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM login_challenges WHERE account_id = ?").bind(account_id).execute(db).await?;
    Ok(done.rows_affected())
}
