//! Server-side sessions. The cookie holds a random 256-bit token; the
//! database holds only its SHA-256 digest. Sessions have an idle and an
//! absolute lifetime (the owner's idle lifetime is shorter), are created
//! fresh at every login (never reused across a privilege change), and are
//! deleted at logout. The CSRF token is derived from the session token, so
//! it needs no storage and dies with the session.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::HeaderValue;
use axum::http::request::Parts;
use sqlx::SqlitePool;

use crate::clock::Timestamp;
use crate::config::Config;
use crate::crypto::{self, Secret};
use crate::db;
use crate::error::AppError;

/// The owner's idle lifetime never exceeds this, whatever the configuration.
const OWNER_MAX_IDLE_SECS: i64 = 30 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Teammate,
}

/// A signed-in person, put into the request by the route group's guard.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub account_id: i64,
    pub username: String,
    pub role: Role,
    pub teammate_id: Option<i64>,
    /// The token forms and scripts must send back.
    pub csrf_token: String,
    id_digest: String,
}

impl AuthSession {
    pub fn id_digest(&self) -> &str {
        &self.id_digest
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Only route groups behind a guard have a session; a handler asking
        // for one elsewhere is a routing mistake, answered as "sign in".
        parts.extensions.get::<AuthSession>().cloned().ok_or(AppError::LoginRequired)
    }
}

/// The cookie's name: `__Host-` prefixed when served over HTTPS, so the
/// browser enforces Secure, Path=/ and no Domain.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-egx_session" } else { "egx_session" }
}

/// Creates a session for `account_id`; returns the cookie value.
pub async fn start(db: &SqlitePool, account_id: i64, config: &Config, now: Timestamp) -> anyhow::Result<Secret> {
    let token = crypto::new_token()?;
    db::sessions::insert(db, &crypto::digest(token.expose()), account_id, now, now + config.session_absolute_secs)
        .await?;
    Ok(token)
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(token: &Secret, secure: bool, max_age_secs: i64) -> Result<HeaderValue, AppError> {
    let secure_attr = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure_attr}",
        cookie_name(secure),
        token.expose()
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure_attr}", cookie_name(secure)))
        .unwrap_or_else(|_| HeaderValue::from_static("egx_session=; Path=/; Max-Age=0"))
}

/// The session token from the request's cookies, if any.
pub fn token_from(headers: &HeaderMap, secure: bool) -> Option<Secret> {
    super::cookie_values(headers, cookie_name(secure))
        .next()
        .map(Secret::new)
        .filter(|s| !s.expose().is_empty() && s.expose().len() <= 64)
}

/// Loads and validates the session named by the request's cookie. Expired
/// sessions are deleted; a live one has its idle timer reset.
pub async fn load(
    db: &SqlitePool,
    headers: &HeaderMap,
    config: &Config,
    secure: bool,
    now: Timestamp,
) -> Result<Option<AuthSession>, AppError> {
    let Some(token) = token_from(headers, secure) else {
        return Ok(None);
    };
    load_token(db, &token, config, now).await
}

/// Loads and validates the session a cookie value names (see [`load`]).
pub async fn load_token(
    db: &SqlitePool,
    token: &Secret,
    config: &Config,
    now: Timestamp,
) -> Result<Option<AuthSession>, AppError> {
    let digest = crypto::digest(token.expose());
    let Some(row) = db::sessions::find(db, &digest).await? else {
        return Ok(None);
    };
    let role = if row.role == "owner" { Role::Owner } else { Role::Teammate };
    let idle = match role {
        Role::Owner => config.session_idle_secs.min(OWNER_MAX_IDLE_SECS),
        Role::Teammate => config.session_idle_secs,
    };
    if now >= row.expires_at || now - row.last_seen_at >= idle {
        db::sessions::delete(db, &digest).await?;
        return Ok(None);
    }
    // Writing on every request would serialise reads; a minute's slack is plenty.
    if now - row.last_seen_at >= 60 {
        db::sessions::touch(db, &digest, now).await?;
    }
    Ok(Some(AuthSession {
        account_id: row.account_id,
        username: row.username,
        role,
        teammate_id: row.teammate_id,
        csrf_token: crypto::csrf_token_for(token),
        id_digest: digest,
    }))
}
