//! `/admin/security`: the owner's two-factor authentication (TOTP with
//! recovery codes). Offered right after the owner account is created.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::auth::totp;
use crate::crypto::{self, Secret};
use crate::db;
use crate::db::audit::Event;
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::Nav;
use crate::web::extract::Form;
use crate::web::headers::NO_STORE;
use crate::web::meta::ClientMeta;

#[derive(Template, WebTemplate)]
#[template(path = "admin/security.html")]
pub struct SecurityPage {
    nav: Nav,
    welcome: bool,
    enabled: bool,
    unused_codes: i64,
    /// While setting up: the secret (base32), the otpauth URI, and that URI
    /// as a QR code (an SVG `data:` URL, for the phone's camera).
    pending: Option<(String, String, String)>,
    /// Right after enabling: the recovery codes, shown once.
    codes: Vec<String>,
    error: Option<String>,
}

/// The context TOTP secrets are sealed under (binds a sealed secret to its account).
fn seal_context(account_id: i64) -> String {
    format!("totp:{account_id}")
}

async fn page(state: &AppState, session: &AuthSession) -> AppResult<SecurityPage> {
    let totp = db::two_factor::state(&state.db, session.account_id).await?;
    Ok(SecurityPage {
        nav: Nav::of(session),
        welcome: false,
        enabled: totp.totp_secret.is_some(),
        unused_codes: db::two_factor::unused_recovery_codes(&state.db, session.account_id).await?,
        pending: None,
        codes: Vec::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct SecurityQuery {
    welcome: Option<String>,
}

pub async fn security_page(
    State(state): State<AppState>,
    session: AuthSession,
    Query(q): Query<SecurityQuery>,
) -> AppResult<Response> {
    let mut page = page(&state, &session).await?;
    page.welcome = q.welcome.is_some() && !page.enabled;
    Ok(page.into_response())
}

pub async fn start_totp(State(state): State<AppState>, session: AuthSession) -> AppResult<Response> {
    let mut page = page(&state, &session).await?;
    if page.enabled {
        return Err(AppError::Conflict("Two-factor authentication is already on.".into()));
    }
    let secret = crypto::random_bytes::<20>()?;
    let sealed = state.master_key.seal(&seal_context(session.account_id), &secret)?;
    db::two_factor::set_pending(&state.db, session.account_id, &sealed).await?;
    page.pending = Some(pending(&session.username, &secret)?);
    Ok((NO_STORE, page).into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn confirm_totp(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let now = state.now();
    let current = db::two_factor::state(&state.db, session.account_id).await?;
    let Some(sealed) = current.totp_pending else {
        return Err(AppError::Conflict("Start the set-up again: no set-up is in progress.".into()));
    };
    let secret = state.master_key.open(&seal_context(session.account_id), &sealed)?;
    let Some(step) = totp::verify(&secret, &form.code, now, None) else {
        let mut page = page(&state, &session).await?;
        page.pending = Some(pending(&session.username, &secret)?);
        page.error = Some("That code is not right. Check the time on your phone and type the current code.".into());
        return Ok((StatusCode::BAD_REQUEST, NO_STORE, page).into_response());
    };
    let codes = totp::new_recovery_codes()?;
    let digests: Vec<String> =
        codes.iter().map(|c| crypto::digest(&totp::normalise_recovery_code(c.expose()))).collect();
    let mut tx = db::begin_immediate(&state.db).await?;
    db::two_factor::activate(&mut tx, session.account_id, step, &digests).await?;
    db::audit::record(&mut tx, &meta.audit(&session.username), Event::success(AuditAction::TotpEnabled, None), now)
        .await?;
    tx.commit().await?;
    let mut page = page(&state, &session).await?;
    page.codes = codes.iter().map(|c| c.expose().to_owned()).collect();
    Ok((NO_STORE, page).into_response())
}

#[derive(Deserialize)]
pub struct DisableForm {
    password: String,
    code: String,
}

pub async fn disable_totp(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Form(form): Form<DisableForm>,
) -> AppResult<Response> {
    let now = state.now();
    let account = db::accounts::find_by_username(&state.db, &session.username).await?.ok_or(AppError::Forbidden)?;
    let password_ok = state.hasher.verify(Secret::new(form.password), account.password_hash).await?;
    let current = db::two_factor::state(&state.db, session.account_id).await?;
    // The code is checked (and spent) only once the password is right.
    let code_ok = match &current.totp_secret {
        Some(_) if !password_ok => false,
        Some(sealed) => {
            let secret = state.master_key.open(&seal_context(session.account_id), sealed)?;
            match totp::verify(&secret, &form.code, now, current.totp_last_step) {
                Some(step) => db::two_factor::advance_step(&state.db, session.account_id, step).await?,
                None => false,
            }
        }
        None => return Ok(Redirect::to("/admin/security").into_response()),
    };
    if !(password_ok && code_ok) {
        let event = Event::failure(AuditAction::TotpDisabled, None)
            .with_detail(serde_json::json!({ "reason": "wrong password or code" }));
        db::audit::record_alone(&state.db, &meta.audit(&session.username), event, now).await?;
        let mut page = page(&state, &session).await?;
        page.error = Some("The password or the code is not right; two-factor authentication stays on.".into());
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let mut tx = db::begin_immediate(&state.db).await?;
    db::two_factor::disable(&mut tx, session.account_id).await?;
    db::audit::record(&mut tx, &meta.audit(&session.username), Event::success(AuditAction::TotpDisabled, None), now)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/security").into_response())
}

/// What the set-up step shows: the key, the otpauth URI and its QR code.
fn pending(username: &str, secret: &[u8]) -> AppResult<(String, String, String)> {
    let b32 = totp::base32(secret);
    let uri = totp::otpauth_uri(username, &b32);
    let qr = qr_data_url(&uri)?;
    Ok((b32, uri, qr))
}

/// `text` as a QR code: an SVG image in a `data:` URL (the page's CSP allows
/// `img-src data:`; no script and no external request are needed).
fn qr_data_url(text: &str) -> AppResult<String> {
    use base64::Engine as _;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| AppError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build();
    Ok(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_is_an_svg_data_url() {
        let url = super::qr_data_url("otpauth://totp/egx-portal:owner?secret=ABC&issuer=egx-portal").unwrap();
        let svg = url.strip_prefix("data:image/svg+xml;base64,").unwrap();
        use base64::Engine as _;
        let svg = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(svg).unwrap()).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
