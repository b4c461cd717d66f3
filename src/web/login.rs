//! Sign in and sign out.

use crate::web::extract::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Nav;
use super::guard::MaybeSession;
use super::meta::ClientMeta;
use crate::auth::totp;
use crate::auth::{AuthSession, Role, session};
use crate::crypto::{self, Secret};
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

/// The throttling keys of a sign-in attempt: the username from the client's
/// address always; and unless this browser is a known device of the
/// account, the address itself (many names guessed from one place) and the
/// username from anywhere (one name guessed from many places). A known
/// device only ever tries its own account, so other people's failures (on
/// the same office NAT, or strangers elsewhere) never hold it back, while
/// its own wrong passwords still do.
pub fn throttle_keys(meta: &ClientMeta, username: &str, known_device: bool) -> Vec<String> {
    let user = username.to_lowercase();
    let mut keys = vec![format!("user@{}:{user}", meta.ip_key())];
    if !known_device {
        keys.push(meta.ip_key());
        keys.push(format!("user:{user}"));
    }
    keys
}

pub async fn login(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let now = state.now();
    let username: String = form.username.trim().chars().take(64).collect();
    let password = Secret::new(form.password);
    let account = db::accounts::find_by_username(&state.db, &username).await?;
    let known_device = account.as_ref().is_some_and(|a| {
        a.password_hash.as_deref().is_some_and(|hash| {
            crate::auth::device::is_known(&state.master_key, &headers, state.is_https(), a.id, hash)
        })
    });
    let keys = throttle_keys(&meta, &username, known_device);
    // SECURITY: growing delays per client address, per username from it, and per
    // username from anywhere (except for the account's known devices: no lock-out by strangers).
    let wait = state.throttle.wait_secs(&keys, now);
    // Nobody is signed in yet: the actor is "anonymous", the name tried is the target.
    let ctx = meta.audit("anonymous");
    if wait > 0 {
        // One row per held-back stretch, not one per request of a flood.
        if state.throttle.first_refusal(&keys, now) {
            let event = Event::failure(AuditAction::LoginFailed, username.as_str())
                .with_detail(serde_json::json!({ "reason": "throttled", "wait_secs": wait }));
            db::audit::record_alone(&state.db, &ctx, event, now).await?;
        }
        let error = format!("Too many failed sign-ins. Wait {} and try again.", crate::clock::format_wait(wait));
        let page = LoginPage { nav: Nav::anonymous(), username, error: Some(error) };
        return Ok((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, wait.to_string())], page).into_response());
    }
    let stored = account.as_ref().filter(|a| a.disabled_at.is_none()).and_then(|a| a.password_hash.clone());
    let ok = state.hasher.verify(password, stored).await?;
    let Some(account) = account.filter(|_| ok) else {
        state.throttle.record_failure(&keys, now);
        let event = Event::failure(AuditAction::LoginFailed, username.as_str());
        db::audit::record_alone(&state.db, &ctx, event, now).await?;
        let page = LoginPage { nav: Nav::anonymous(), username, error: Some("Wrong username or password.".to_owned()) };
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    state.throttle.record_success(&keys);
    // With two-factor on, the password opens a short challenge, not a session.
    if db::two_factor::state(&state.db, account.id).await?.totp_secret.is_some() {
        let token = crypto::new_token()?;
        db::two_factor::insert_challenge(&state.db, &crypto::digest(token.expose()), account.id, now + CHALLENGE_SECS)
            .await?;
        let cookie = challenge_cookie(Some(&token), state.is_https())?;
        return Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login/2fa")).into_response());
    }
    signed_in(&state, &meta, &account, None).await
}

/// Starts the session after every factor checked out.
async fn signed_in(
    state: &AppState,
    meta: &ClientMeta,
    account: &db::accounts::Account,
    second_factor: Option<&str>,
) -> AppResult<Response> {
    let now = state.now();
    let token = session::start(&state.db, account.id, &state.config, now).await?;
    let mut event = Event::success(AuditAction::LoginSucceeded, None);
    if let Some(factor) = second_factor {
        event = event.with_detail(serde_json::json!({ "second_factor": factor }));
    }
    db::audit::record_alone(&state.db, &meta.audit(&account.username), event, now).await?;
    let role = if account.is_owner() { Role::Owner } else { Role::Teammate };
    let cookie = session::set_cookie(&token, state.is_https(), state.config.session_absolute_secs)?;
    let clear_challenge = challenge_cookie(None, state.is_https())?;
    let hash = account.password_hash.as_deref().unwrap_or_default();
    let device = crate::auth::device::token_for(&state.master_key, account.id, hash);
    let device = crate::auth::device::set_cookie(&device, state.is_https())?;
    Ok((
        AppendHeaders([
            (header::SET_COOKIE, cookie),
            (header::SET_COOKIE, clear_challenge),
            (header::SET_COOKIE, device),
        ]),
        Redirect::to(home_of(role)),
    )
        .into_response())
}

/// How long the second step of a sign-in may take, and how many codes it may try.
const CHALLENGE_SECS: i64 = 5 * 60;
const CHALLENGE_ATTEMPTS: i64 = 5;
const CHALLENGE_COOKIE: &str = "egx_2fa";

/// Sets (or, with `None`, clears) the cookie naming the sign-in challenge.
fn challenge_cookie(token: Option<&Secret>, secure: bool) -> Result<HeaderValue, AppError> {
    let secure_attr = if secure { "; Secure" } else { "" };
    let (value, age) = match token {
        Some(t) => (t.expose(), CHALLENGE_SECS),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{CHALLENGE_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={age}{secure_attr}"
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

fn challenge_from(headers: &HeaderMap) -> Option<Secret> {
    crate::auth::cookie_values(headers, CHALLENGE_COOKIE).next().map(Secret::new).filter(|s| s.expose().len() == 43)
}

#[derive(Template, WebTemplate)]
#[template(path = "login_2fa.html")]
pub struct SecondFactorPage {
    nav: Nav,
    error: Option<String>,
}

pub async fn second_factor_form(headers: HeaderMap) -> Response {
    if challenge_from(&headers).is_none() {
        return Redirect::to("/login").into_response();
    }
    SecondFactorPage { nav: Nav::anonymous(), error: None }.into_response()
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    code: String,
}

pub async fn second_factor(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    Form(form): Form<SecondFactorForm>,
) -> AppResult<Response> {
    let now = state.now();
    let challenge = challenge_from(&headers).map(|t| crypto::digest(t.expose()));
    let account_id = match &challenge {
        Some(digest) => db::two_factor::attempt_challenge(&state.db, digest, now, CHALLENGE_ATTEMPTS).await?,
        None => None,
    };
    let (Some(digest), Some(account_id)) = (challenge, account_id) else {
        let page = LoginPage {
            nav: Nav::anonymous(),
            username: String::new(),
            error: Some("The sign-in expired or had too many wrong codes. Sign in again.".to_owned()),
        };
        let clear = challenge_cookie(None, state.is_https())?;
        return Ok((StatusCode::UNAUTHORIZED, [(header::SET_COOKIE, clear)], page).into_response());
    };
    let account = db::accounts::find_by_id(&state.db, account_id).await?.ok_or(AppError::LoginRequired)?;
    let totp_state = db::two_factor::state(&state.db, account_id).await?;
    let Some(sealed) = totp_state.totp_secret else { return Err(AppError::LoginRequired) };
    let secret = state.master_key.open(&format!("totp:{account_id}"), &sealed)?;
    let factor = match totp::verify(&secret, &form.code, now, totp_state.totp_last_step) {
        Some(step) if db::two_factor::advance_step(&state.db, account_id, step).await? => Some("totp"),
        _ => {
            let code = totp::normalise_recovery_code(&form.code);
            let used = code.len() >= 16
                && db::two_factor::use_recovery_code(&state.db, account_id, &crypto::digest(&code), now).await?;
            if used {
                let event = Event::success(AuditAction::RecoveryCodeUsed, None);
                db::audit::record_alone(&state.db, &meta.audit(&account.username), event, now).await?;
            }
            used.then_some("recovery_code")
        }
    };
    let Some(factor) = factor else {
        let event = Event::failure(AuditAction::LoginFailed, account.username.as_str())
            .with_detail(serde_json::json!({ "reason": "second factor" }));
        db::audit::record_alone(&state.db, &meta.audit(&account.username), event, now).await?;
        let page = SecondFactorPage { nav: Nav::anonymous(), error: Some("That code is not right.".to_owned()) };
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    db::two_factor::delete_challenge(&state.db, &digest).await?;
    signed_in(&state, &meta, &account, Some(factor)).await
}

pub async fn logout(State(state): State<AppState>, meta: ClientMeta, session: AuthSession) -> AppResult<Response> {
    let now = state.now();
    db::sessions::delete(&state.db, session.id_digest()).await?;
    db::audit::record_alone(&state.db, &meta.audit(&session.username), Event::success(AuditAction::Logout, None), now)
        .await?;
    Ok(([(header::SET_COOKIE, session::clear_cookie(state.is_https()))], Redirect::to("/login")).into_response())
}
