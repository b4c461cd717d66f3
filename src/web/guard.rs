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

/// JSON for the API and for the link page's script calls; an HTML page for
/// everything a person opens (the link page itself included).
fn refuse(method: &Method, path: &str, err: AppError) -> Response {
    if path.starts_with("/api/") || (path.starts_with("/l/") && is_write(method)) {
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
    let method = req.method().clone();
    let loaded = session::load(&state.db, req.headers(), &state.config, state.is_https(), state.now()).await;
    let session = match loaded {
        Ok(Some(s)) => s,
        Ok(None) if path.starts_with("/api/") => return refuse(&method, &path, AppError::LoginRequired),
        Ok(None) => return AppError::LoginRequired.into_response(),
        Err(e) => return refuse(&method, &path, e),
    };
    if role.is_some_and(|r| r != session.role) {
        return refuse(&method, &path, AppError::Forbidden);
    }
    let req = if is_write(req.method()) {
        match check_csrf(req, &session).await {
            Ok(req) => req,
            Err(e) => return refuse(&method, &path, e),
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
        return refuse(req.method(), req.uri().path(), AppError::CsrfRejected);
    }
    next.run(req).await
}

/// Browsers send `Sec-Fetch-Site` (a header pages cannot forge): when it is
/// there, it decides. Otherwise a present `Origin` must be ours, and failing
/// that a present `Referer` must come from our origin. (Under
/// `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on same-origin
/// form posts, which is why `Sec-Fetch-Site` is asked first.) Requests with
/// none of these headers do not come from a browser and cannot ride on its
/// cookies across sites; the session's CSRF token still guards them.
fn is_same_origin(headers: &axum::http::HeaderMap, ours: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(|o| o == ours);
    }
    match headers.get(header::REFERER) {
        None => true,
        Some(referer) => referer
            .to_str()
            .ok()
            .and_then(|r| url::Url::parse(r).ok())
            .is_some_and(|r| r.origin().ascii_serialization() == ours),
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
        return refuse(req.method(), req.uri().path(), AppError::RateLimited);
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
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let task = tokio::spawn(next.run(req).instrument(tracing::Span::current()));
    match task.await {
        Ok(res) => res,
        Err(e) => refuse(&method, &path, AppError::Internal(anyhow::anyhow!("request task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_write_whose_client_went_away_still_runs_to_the_end() {
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let slot = Arc::new(std::sync::Mutex::new(Some((started_tx, release_rx))));
        let done = finished.clone();
        let app = Router::new()
            .route(
                "/w",
                post(move || {
                    let channels = slot.lock().unwrap().take();
                    let done = done.clone();
                    async move {
                        let (started, release) = channels.unwrap();
                        started.send(()).unwrap();
                        // Between "S3 changed" and "recorded": the client leaves here.
                        let _ = release.await;
                        done.store(true, Ordering::SeqCst);
                    }
                }),
            )
            .layer(axum::middleware::from_fn(finish_writes));

        // The client sends, the handler starts, then the client's side is dropped.
        let request = Request::post("/w").body(Body::empty()).unwrap();
        let mut call = Box::pin(app.oneshot(request));
        tokio::select! {
            _ = &mut call => unreachable!("the handler waits for its release"),
            started = started_rx => started.unwrap(),
        }
        drop(call);
        let _ = release_tx.send(());

        for _ in 0..100 {
            if finished.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the handler was cancelled with its client");
    }
}
