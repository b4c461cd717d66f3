//! `accounts`: people who can sign in (the owner and teammates).

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub password_hash: Option<String>,
    pub teammate_id: Option<i64>,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Account {
    pub fn is_owner(&self) -> bool {
        self.role == "owner"
    }
}

pub async fn find_by_username<'e>(db: impl SqliteExecutor<'e>, username: &str) -> sqlx::Result<Option<Account>> {
    sqlx::query_as::<_, Account>(
        "SELECT id, username, role, password_hash, teammate_id, disabled_at, created_at \
         FROM accounts WHERE username = ?",
    )
    .bind(username)
    .fetch_optional(db)
    .await
}

pub async fn find_by_id<'e>(db: impl SqliteExecutor<'e>, id: i64) -> sqlx::Result<Option<Account>> {
    sqlx::query_as::<_, Account>(
        "SELECT id, username, role, password_hash, teammate_id, disabled_at, created_at FROM accounts WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn find_by_teammate<'e>(db: impl SqliteExecutor<'e>, teammate_id: i64) -> sqlx::Result<Option<Account>> {
    sqlx::query_as::<_, Account>(
        "SELECT id, username, role, password_hash, teammate_id, disabled_at, created_at \
         FROM accounts WHERE teammate_id = ?",
    )
    .bind(teammate_id)
    .fetch_optional(db)
    .await
}

/// The owner's account (the first, should there ever be several).
pub async fn find_owner<'e>(db: impl SqliteExecutor<'e>) -> sqlx::Result<Option<Account>> {
    sqlx::query_as::<_, Account>(
        "SELECT id, username, role, password_hash, teammate_id, disabled_at, created_at \
         FROM accounts WHERE role = 'owner' ORDER BY id LIMIT 1",
    )
    .fetch_optional(db)
    .await
}

pub async fn owner_exists<'e>(db: impl SqliteExecutor<'e>) -> sqlx::Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM accounts WHERE role = 'owner'").fetch_one(db).await?;
    Ok(n > 0)
}

pub async fn insert_owner<'e>(
    db: impl SqliteExecutor<'e>,
    username: &str,
    password_hash: &str,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO accounts (username, role, password_hash, created_at) \
         VALUES (?, 'owner', ?, ?) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// Creates the teammate's (password-less) account unless it exists.
pub async fn ensure_teammate<'e>(
    db: impl SqliteExecutor<'e>,
    username: &str,
    teammate_id: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO accounts (username, role, teammate_id, created_at) VALUES (?, 'teammate', ?, ?) \
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(username)
    .bind(teammate_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_password<'e>(db: impl SqliteExecutor<'e>, account_id: i64, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(account_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Disables (`Some(now)`) or enables (`None`) a portal account. A disabled
/// account cannot sign in, and sessions::find no longer returns its sessions.
pub async fn set_disabled<'e>(db: impl SqliteExecutor<'e>, account_id: i64, at: Option<Timestamp>) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET disabled_at = ? WHERE id = ?").bind(at).bind(account_id).execute(db).await?;
    Ok(())
}

/// A removed teammate added again starts without the old password (the
/// name may belong to someone else now) and with the account enabled; the
/// uploads made so far belong to the name's earlier holder
/// (`former_uploads_through`).
pub async fn reset_teammate<'e>(db: impl SqliteExecutor<'e>, teammate_id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE accounts SET password_hash = NULL, disabled_at = NULL, totp_secret = NULL, totp_pending = NULL, \
         former_uploads_through = (SELECT COALESCE(MAX(id), 0) FROM uploads) \
         WHERE teammate_id = ? AND role = 'teammate'",
    )
    .bind(teammate_id)
    .execute(db)
    .await?;
    Ok(())
}
