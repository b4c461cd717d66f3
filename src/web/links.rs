//! One-time links: `/l/<id>#<key>`.
//!
//! * `GET /l/<id>` shows an interstitial that reveals and consumes nothing
//!   (link-preview bots and mail scanners fetch URLs, C22); it records
//!   "opened".
//! * `POST /l/<id>/reveal` (from the page's script, after a click) takes the
//!   ciphertext out in one `BEGIN IMMEDIATE` transaction: exactly one caller
//!   ever receives it (C23), and only one that proves it holds the fragment
//!   key (a hash of it): the id alone, or a cut or altered link, uses up
//!   nothing. The browser decrypts the ciphertext with the fragment key.
//! * `POST /l/<id>/enrol` sets the teammate's portal password, proven by
//!   the enrolment token that only the decrypted payload contains.
//!
//! Used, expired, revoked and unknown links all get the same answer.

use crate::web::extract::Json;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Nav;
use super::headers::NO_STORE;
use super::meta::ClientMeta;
use crate::auth::password::check_new_password;
use crate::auth::session;
use crate::crypto::{self, Secret};
use crate::db;
use crate::db::audit::Event;
use crate::db::secret_links::Taken;
use crate::domain::AuditAction;
use crate::error::{ApiError, ApiResult, AppError, AppResult};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "link.html")]
pub struct LinkPage {
    nav: Nav,
    link_id: String,
    expires: String,
}

/// Link ids are 22 characters of base64url; anything else is unknown.
fn plausible_id(id: &str) -> bool {
    id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn link_page(State(state): State<AppState>, Path(id): Path<String>, meta: ClientMeta) -> AppResult<Response> {
    let now = state.now();
    if !plausible_id(&id) {
        return Err(AppError::LinkUnavailable);
    }
    let Some(link) = db::secret_links::find(&state.db, &id).await? else {
        return Err(AppError::LinkUnavailable);
    };
    if !link.is_revealable(now) {
        return Err(AppError::LinkUnavailable);
    }
    let mut tx = db::begin_immediate(&state.db).await?;
    db::secret_links::mark_opened(&mut *tx, &id, now).await?;
    db::audit::record(&mut tx, &meta.audit("anonymous"), Event::success(AuditAction::LinkOpened, id.as_str()), now)
        .await?;
    tx.commit().await?;
    let page = LinkPage { nav: Nav::anonymous(), link_id: id, expires: crate::clock::format_utc(link.expires_at) };
    Ok((NO_STORE, page).into_response())
}

/// The reveal request: proof of holding the link's key (see
/// `crypto::link_key_check`). A body that is missing or unreadable counts as
/// no proof: the answer stays the uniform "not available".
#[derive(Deserialize, Default)]
struct RevealRequest {
    #[serde(default)]
    check: Option<String>,
}

pub async fn reveal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    meta: ClientMeta,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let now = state.now();
    if !plausible_id(&id) {
        return Err(AppError::LinkUnavailable.into());
    }
    let request: RevealRequest = serde_json::from_slice(&body).unwrap_or_default();
    let check = request.check.filter(|c| c.len() <= 64);
    let mut tx = db::begin_immediate(&state.db).await?;
    let taken = db::secret_links::take_payload(&mut tx, &id, check.as_deref(), now).await?;
    let ctx = meta.audit("anonymous");
    let payload = match taken {
        Taken::Payload(payload) => payload,
        refused => {
            // Only links that exist are worth a row; unknown ids would let
            // anyone fill the log. The caller gets one answer either way.
            if db::secret_links::find(&mut *tx, &id).await?.is_some() {
                let reason = match refused {
                    Taken::WrongKey => "the link's key was missing or wrong (nothing was used up)",
                    _ => "used, expired or revoked",
                };
                let event = Event::failure(AuditAction::LinkRevealRefused, id.as_str())
                    .with_detail(serde_json::json!({ "reason": reason }));
                db::audit::record(&mut tx, &ctx, event, now).await?;
            }
            tx.commit().await?;
            return Err(AppError::LinkUnavailable.into());
        }
    };
    db::audit::record(&mut tx, &ctx, Event::success(AuditAction::LinkRevealed, id.as_str()), now).await?;
    // A teammate holding a key of theirs is no longer "activating".
    if let Some(link) = db::secret_links::find(&mut *tx, &id).await?
        && link.access_key_id.is_some()
    {
        db::teammates::mark_activated(&mut *tx, link.teammate_id, now).await?;
    }
    tx.commit().await?;
    Ok((NO_STORE, axum::Json(serde_json::json!({ "payload": crypto::b64url(&payload) }))).into_response())
}

#[derive(Deserialize)]
pub struct EnrolRequest {
    enrol_token: String,
    password: String,
    confirm: String,
}

pub async fn enrol(
    State(state): State<AppState>,
    Path(id): Path<String>,
    meta: ClientMeta,
    Json(req): Json<EnrolRequest>,
) -> ApiResult<Response> {
    if !plausible_id(&id) {
        return Err(AppError::LinkUnavailable.into());
    }
    let token = Secret::new(req.enrol_token);
    let password = Secret::new(req.password);
    let confirm = Secret::new(req.confirm);
    // The rules need the account's name; an unknown link gets the uniform answer.
    let link = db::secret_links::find(&state.db, &id).await?.ok_or(AppError::LinkUnavailable)?;
    let username = db::accounts::find_by_teammate(&state.db, link.teammate_id)
        .await?
        .map(|a| a.username)
        .ok_or(AppError::LinkUnavailable)?;
    check_new_password(password.expose(), confirm.expose(), &username).map_err(AppError::BadRequest)?;
    let hash = state.hasher.hash(password).await.map_err(AppError::Internal)?;
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let Some(teammate_id) =
        db::secret_links::consume_enrolment(&mut *tx, &id, &crypto::digest(token.expose()), now).await?
    else {
        return Err(ApiError(AppError::LinkUnavailable));
    };
    let account = db::accounts::find_by_teammate(&mut *tx, teammate_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("teammate {teammate_id} has no account")))?;
    if account.disabled_at.is_some() {
        return Err(ApiError(AppError::LinkUnavailable));
    }
    db::accounts::set_password(&mut *tx, account.id, &hash).await?;
    // A new password ends every older session of this account.
    db::sessions::delete_for_account(&mut *tx, account.id).await?;
    db::audit::record(
        &mut tx,
        &meta.audit(&account.username),
        Event::success(AuditAction::TeammateEnrolled, account.username.as_str()),
        now,
    )
    .await?;
    tx.commit().await?;
    let session_token = session::start(&state.db, account.id, &state.config, now).await?;
    let cookie = session::set_cookie(&session_token, state.is_https(), state.config.session_absolute_secs)?;
    Ok((NO_STORE, [(header::SET_COOKIE, cookie)], axum::Json(serde_json::json!({ "redirect": "/upload" })))
        .into_response())
}
