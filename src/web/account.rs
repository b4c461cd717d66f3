//! `/account/password`: anyone signed in changes their own password.
//!
//! The current password is required (a session left open on a shared
//! machine must not be enough), wrong guesses count towards the same
//! growing delays as sign-in, and a change ends every session of the
//! account — the browser that made the change gets a fresh one.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::Deserialize;

use super::Nav;
use super::headers::NO_STORE;
use super::meta::ClientMeta;
use crate::auth::password::check_new_password;
use crate::auth::{AuthSession, session};
use crate::crypto::Secret;
use crate::db;
use crate::db::audit::Event;
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::extract::Form;

#[derive(Template, WebTemplate)]
#[template(path = "account/password.html")]
pub struct PasswordPage {
    nav: Nav,
    error: Option<String>,
    changed: bool,
}

pub async fn password_form(session: AuthSession) -> Response {
    (NO_STORE, PasswordPage { nav: Nav::of(&session), error: None, changed: false }).into_response()
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    password: String,
    confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let now = state.now();
    let ctx = meta.audit(&session.username);
    let refuse = |status: StatusCode, message: String| {
        (status, NO_STORE, PasswordPage { nav: Nav::of(&session), error: Some(message), changed: false })
            .into_response()
    };
    // SECURITY: guessing the current password is throttled like signing in.
    // (The person holds a session: their address and their name from it are what to hold back.)
    let keys = super::login::throttle_keys(&meta, &session.username, true);
    let wait = state.throttle.wait_secs(&keys, now);
    if wait > 0 {
        let event = Event::failure(AuditAction::PasswordChanged, session.username.as_str())
            .with_detail(serde_json::json!({ "reason": "throttled", "wait_secs": wait }));
        db::audit::record_alone(&state.db, &ctx, event, now).await?;
        let message = format!("Too many wrong passwords. Wait {} and try again.", crate::clock::format_wait(wait));
        return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, message));
    }
    let account = db::accounts::find_by_id(&state.db, session.account_id).await?.ok_or(AppError::LoginRequired)?;
    // SECURITY: the current password proves it is the account's holder, not just their open session.
    if !state.hasher.verify(Secret::new(form.current), account.password_hash.clone()).await? {
        state.throttle.record_failure(&keys, now);
        let event = Event::failure(AuditAction::PasswordChanged, session.username.as_str())
            .with_detail(serde_json::json!({ "reason": "wrong current password" }));
        db::audit::record_alone(&state.db, &ctx, event, now).await?;
        return Ok(refuse(StatusCode::BAD_REQUEST, "The current password is not right.".to_owned()));
    }
    state.throttle.record_success(&keys);
    let password = Secret::new(form.password);
    let confirm = Secret::new(form.confirm);
    if let Err(message) = check_new_password(password.expose(), confirm.expose(), &session.username) {
        return Ok(refuse(StatusCode::BAD_REQUEST, message));
    }
    let hash = state.hasher.hash(password).await?;

    let mut tx = db::begin_immediate(&state.db).await?;
    db::accounts::set_password(&mut *tx, account.id, &hash).await?;
    // SECURITY: a new password ends every session of the account, this one included.
    let ended = db::sessions::delete_for_account(&mut *tx, account.id).await?;
    let event = Event::success(AuditAction::PasswordChanged, session.username.as_str())
        .with_detail(serde_json::json!({ "sessions_ended": ended }));
    db::audit::record(&mut tx, &ctx, event, now).await?;
    tx.commit().await?;

    let token = session::start(&state.db, account.id, &state.config, now).await?;
    let cookie = session::set_cookie(&token, state.is_https(), state.config.session_absolute_secs)?;
    let fresh = session::load_token(&state.db, &token, &state.config, now).await?.ok_or(AppError::LoginRequired)?;
    // The old known-device cookies died with the old hash; this browser gets a new one.
    let device = crate::auth::device::token_for(&state.master_key, account.id, &hash);
    let device = crate::auth::device::set_cookie(&device, state.is_https())?;
    let page = PasswordPage { nav: Nav::of(&fresh), error: None, changed: true };
    Ok((AppendHeaders([(header::SET_COOKIE, cookie), (header::SET_COOKIE, device)]), NO_STORE, page).into_response())
}
