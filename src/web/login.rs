//! Sign in and sign out.

use crate::web::extract::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Nav;
use super::guard::MaybeSession;
use super::meta::ClientMeta;
use crate::auth::{AuthSession, Role, session};
use crate::crypto::Secret;
use crate::db;
use crate::db::audit::Event;
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    nav: Nav,
    username: String,
    error: Option<String>,
}

pub async fn login_form(MaybeSession(session): MaybeSession) -> Response {
    match session {
        Some(s) => Redirect::to(home_of(s.role)).into_response(),
        None => LoginPage { nav: Nav::anonymous(), username: String::new(), error: None }.into_response(),
    }
}

fn home_of(role: Role) -> &'static str {
    match role {
        Role::Owner => "/admin/teammates",
        Role::Teammate => "/upload",
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    meta: ClientMeta,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let now = state.now();
    let username: String = form.username.trim().chars().take(64).collect();
    let password = Secret::new(form.password);
    let keys = [meta.ip_key(), format!("user:{}", username.to_lowercase())];
    if state.throttle.is_locked(&keys, now) {
        let event = Event::failure(AuditAction::LoginFailed, username.as_str())
            .with_detail(serde_json::json!({ "reason": "throttled" }));
        db::audit::record_alone(&state.db, &meta.audit(&username), event, now).await?;
        return Err(AppError::RateLimited);
    }
    let account = db::accounts::find_by_username(&state.db, &username).await?;
    let stored = account.as_ref().filter(|a| a.disabled_at.is_none()).and_then(|a| a.password_hash.clone());
    let ok = state.hasher.verify(password, stored).await?;
    let Some(account) = account.filter(|_| ok) else {
        state.throttle.record_failure(&keys, now);
        let event = Event::failure(AuditAction::LoginFailed, username.as_str());
        db::audit::record_alone(&state.db, &meta.audit(&username), event, now).await?;
        let page = LoginPage { nav: Nav::anonymous(), username, error: Some("Wrong username or password.".to_owned()) };
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    state.throttle.record_success(&keys);
    let token = session::start(&state.db, account.id, &state.config, now).await?;
    db::audit::record_alone(
        &state.db,
        &meta.audit(&account.username),
        Event::success(AuditAction::LoginSucceeded, None),
        now,
    )
    .await?;
    let role = if account.is_owner() { Role::Owner } else { Role::Teammate };
    let cookie = session::set_cookie(&token, state.is_https(), state.config.session_absolute_secs)?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(home_of(role))).into_response())
}

pub async fn logout(State(state): State<AppState>, meta: ClientMeta, session: AuthSession) -> AppResult<Response> {
    let now = state.now();
    db::sessions::delete(&state.db, session.id_digest()).await?;
    db::audit::record_alone(&state.db, &meta.audit(&session.username), Event::success(AuditAction::Logout, None), now)
        .await?;
    Ok(([(header::SET_COOKIE, session::clear_cookie(state.is_https()))], Redirect::to("/login")).into_response())
}
