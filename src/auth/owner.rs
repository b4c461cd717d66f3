//! Creating the owner (from the first-run setup link, or from the CLI) and
//! the CLI's way back in: resetting the owner's password and clearing
//! two-factor. A reset ends every session and pending sign-in of the
//! owner, in the same transaction as its audit row.

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

/// What [`reset_owner`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOutcome {
    pub username: String,
    pub password_changed: bool,
    pub two_factor_disabled: bool,
    pub sessions_ended: u64,
}

/// Sets a new owner password (when `password` is given) and/or clears the
/// owner's two-factor secret and recovery codes; ends all of the owner's
/// sessions and login challenges; audits each change. `username`, when
/// given, must name the owner.
pub async fn reset_owner(
    state: &AppState,
    ctx: &AuditContext,
    username: Option<&str>,
    password: Option<Secret>,
    disable_two_factor: bool,
) -> Result<ResetOutcome, OwnerError> {
    let owner = db::accounts::find_owner(&state.db).await?.ok_or_else(|| {
        OwnerError::Invalid("There is no owner yet: create one with `egx-portal owner create`.".into())
    })?;
    if let Some(name) = username
        && name != owner.username
    {
        return Err(OwnerError::Invalid(format!("The owner is {:?}, not {name:?}.", owner.username)));
    }
    let hash = match &password {
        Some(p) => {
            check_new_password(p.expose(), p.expose(), &owner.username).map_err(OwnerError::Invalid)?;
            Some(state.hasher.hash(p.clone()).await.map_err(AppError::Internal)?)
        }
        None => None,
    };
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let had_two_factor = db::two_factor::state(&mut *tx, owner.id).await?.totp_secret.is_some();
    if let Some(hash) = &hash {
        db::accounts::set_password(&mut *tx, owner.id, hash).await?;
    }
    let two_factor_disabled = disable_two_factor && had_two_factor;
    if disable_two_factor {
        db::two_factor::disable(&mut tx, owner.id).await?;
    }
    db::two_factor::delete_challenges_for_account(&mut *tx, owner.id).await?;
    let sessions_ended = db::sessions::delete_for_account(&mut *tx, owner.id).await?;
    let detail = serde_json::json!({ "sessions_ended": sessions_ended, "via": "cli" });
    if hash.is_some() {
        let event =
            Event::success(AuditAction::OwnerPasswordReset, owner.username.as_str()).with_detail(detail.clone());
        db::audit::record(&mut tx, ctx, event, now).await?;
    }
    if two_factor_disabled {
        let event = Event::success(AuditAction::TotpDisabled, owner.username.as_str()).with_detail(detail);
        db::audit::record(&mut tx, ctx, event, now).await?;
    }
    tx.commit().await?;
    Ok(ResetOutcome { username: owner.username, password_changed: hash.is_some(), two_factor_disabled, sessions_ended })
}
