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

fn is_write(method: &Method) -> bool {
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
    if is_write(req.method()) {
        let headers = req.headers();
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let cross_site = matches!(fetch_site, Some(site) if site != "same-origin" && site != "none");
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let foreign_origin = matches!(origin, Some(o) if o != state.origin());
        if cross_site || foreign_origin {
            tracing::info!(?fetch_site, ?origin, "cross-site write refused");
            return refuse(req.uri().path(), AppError::CsrfRejected);
        }
    }
    next.run(req).await
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
