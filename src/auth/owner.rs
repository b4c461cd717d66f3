//! Creating the owner: from the first-run setup link, or from the CLI.

use crate::auth::password::check_new_password;
use crate::crypto::Secret;
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::AuditAction;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// Input the person can correct; the text is shown.
    #[error("{0}")]
    Invalid(String),
    /// The setup token is used, expired or unknown.
    #[error("the setup link is not usable")]
    TokenUnusable,
    #[error(transparent)]
    Other(#[from] AppError),
}

impl From<sqlx::Error> for OwnerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Other(e.into())
    }
}

/// Usernames for portal accounts: 1-64 letters, digits, `.`, `_`, `-`, `@`.
pub fn check_username(username: &str) -> Result<(), String> {
    let ok =
        (1..=64).contains(&username.len()) && username.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok { Ok(()) } else { Err("A username has 1 to 64 letters, digits, '.', '_', '-' or '@'.".to_owned()) }
}

/// Creates the owner account. With `setup_token_digest`, the token is
/// consumed in the same transaction (exactly one owner per setup link).
pub async fn create_owner(
    state: &AppState,
    ctx: &AuditContext,
    username: &str,
    password: Secret,
    confirm: Secret,
    setup_token_digest: Option<&str>,
) -> Result<i64, OwnerError> {
    check_username(username).map_err(OwnerError::Invalid)?;
    check_new_password(password.expose(), confirm.expose(), username).map_err(OwnerError::Invalid)?;
    let hash = state.hasher.hash(password).await.map_err(AppError::Internal)?;
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    if let Some(digest) = setup_token_digest
        && !db::setup_tokens::consume(&mut *tx, digest, now).await?
    {
        return Err(OwnerError::TokenUnusable);
    }
    if db::accounts::owner_exists(&mut *tx).await? {
        return Err(OwnerError::Invalid("An owner already exists.".to_owned()));
    }
    if db::accounts::find_by_username(&mut *tx, username).await?.is_some() {
        return Err(OwnerError::Invalid("That username is taken.".to_owned()));
    }
    let id = db::accounts::insert_owner(&mut *tx, username, &hash, now).await?;
    db::audit::record(&mut tx, ctx, Event::success(AuditAction::OwnerCreated, username), now).await?;
    tx.commit().await?;
    Ok(id)
}
