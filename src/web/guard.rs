//! The guards the routing table applies: session + role per route group,
//! CSRF tokens on every state-changing request inside a group, and a
//! same-origin check on every state-changing request at all.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::session::{self, AuthSession, Role};
use crate::crypto;
use crate::error::{ApiError, AppError};
use crate::state::AppState;

/// Form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

fn refuse(path: &str, err: AppError) -> Response {
    if path.starts_with("/api/") || path.starts_with("/l/") {
        ApiError(err).into_response()
    } else {
        err.into_response()
    }
}

pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

// SECURITY: owner group guard: owner session required; CSRF token on writes.
pub async fn require_owner(State(state): State<AppState>, req: Request, next: Next) -> Response {
    guard(state, req, next, Some(Role::Owner)).await
}

// SECURITY: teammate group guard: teammate session required; CSRF token on writes.
pub async fn require_teammate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    guard(state, req, next, Some(Role::Teammate)).await
}

// SECURITY: signed-in group guard (any role): a session required; CSRF token on writes.
pub async fn require_signed_in(State(state): State<AppState>, req: Request, next: Next) -> Response {
    guard(state, req, next, None).await
}

async fn guard(state: AppState, req: Request, next: Next, role: Option<Role>) -> Response {
    let path = req.uri().path().to_owned();
    let loaded = session::load(&state.db, req.headers(), &state.config, state.is_https(), state.now()).await;
    let session = match loaded {
        Ok(Some(s)) => s,
        Ok(None) if path.starts_with("/api/") => return refuse(&path, AppError::LoginRequired),
        Ok(None) => return AppError::LoginRequired.into_response(),
        Err(e) => return refuse(&path, e),
    };
    if role.is_some_and(|r| r != session.role) {
        return refuse(&path, AppError::Forbidden);
    }
    let req = if is_write(req.method()) {
        match check_csrf(req, &session).await {
            Ok(req) => req,
            Err(e) => return refuse(&path, e),
        }
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// Accepts the request only if it carries the session's CSRF token, in the
/// `x-csrf-token` header or, for HTML forms, the `csrf_token` field.
async fn check_csrf(req: Request, session: &AuthSession) -> Result<Request, AppError> {
    let expected = &session.csrf_token;
    if let Some(sent) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        // SECURITY: header token must match the session's derived token.
        return if crypto::constant_time_eq(sent, expected) { Ok(req) } else { Err(AppError::CsrfRejected) };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AppError::CsrfRejected);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES).await.map_err(|_| AppError::PayloadTooLarge)?;
    let sent = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
    match sent {
        // SECURITY: form token must match the session's derived token.
        Some(sent) if crypto::constant_time_eq(&sent, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        _ => Err(AppError::CsrfRejected),
    }
}

// SECURITY: a state-changing request from another site is refused, whatever its target.
pub async fn same_origin_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_write(req.method()) && !is_same_origin(req.headers(), &state.origin()) {
        tracing::info!("cross-site write refused");
        return refuse(req.uri().path(), AppError::CsrfRejected);
    }
    next.run(req).await
}

/// Browsers send `Sec-Fetch-Site` (a header pages cannot forge): when it is
/// there, it decides. Otherwise a present `Origin` must be ours. (Under
/// `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on same-origin
/// form posts, which is why `Sec-Fetch-Site` is asked first.) Requests with
/// neither header do not come from a browser and cannot ride on its cookies
/// across sites; the session's CSRF token still guards them.
fn is_same_origin(headers: &axum::http::HeaderMap, ours: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => origin == ours,
        None => true,
    }
}

/// The session if the request has a valid one (pages that work either way).
pub struct MaybeSession(pub Option<AuthSession>);

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let s = session::load(&state.db, &parts.headers, &state.config, state.is_https(), state.now()).await?;
        Ok(Self(s))
    }
}

// SECURITY: the public one-time link and setup endpoints are rate limited per client address.
pub async fn rate_limit_links(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = super::meta::client_ip(req.extensions(), req.headers(), &state.config.trusted_proxies);
    let key = ip.map(|ip| ip.to_string()).unwrap_or_default();
    if !state.link_limiter.allow(&key, state.now()) {
        return refuse(req.uri().path(), AppError::RateLimited);
    }
    next.run(req).await
}

/// Runs every state-changing request to completion in its own task, so a
/// client that goes away mid-request (a closed tab, a dropped network) cannot
/// cancel a handler between the S3 call it made and the record of it: the
/// request's change and its audit row always land together, or neither.
pub async fn finish_writes(req: Request, next: Next) -> Response {
    if !is_write(req.method()) {
        return next.run(req).await;
    }
    use tracing::Instrument as _;
    let task = tokio::spawn(next.run(req).instrument(tracing::Span::current()));
    match task.await {
        Ok(res) => res,
        Err(e) => refuse("/", AppError::Internal(anyhow::anyhow!("request task failed: {e}"))),
    }
}
