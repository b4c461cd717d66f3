//! THE routing table. Read it as security code: every route sits in exactly
//! one group, and each group's guard is applied once with `route_layer`.
//!
//! * public: health, static assets, login;
//! * links: first-run setup and one-time links (public, rate limited per address);
//! * teammate: the upload page and its API (a teammate's own data only);
//! * owner: everything under `/admin`.
//!
//! Around all of it: security headers, a same-origin check on every
//! state-changing request, body limits, timeouts, request ids, and one
//! access-log line and metrics sample per request.
//!
//! [`metrics_router`] is the separate metrics listener's table.

pub mod account;
pub mod admin;
pub mod assets;
pub mod extract;
pub mod guard;
pub mod headers;
pub mod health;
pub mod links;
pub mod login;
pub mod meta;
pub mod metrics;
pub mod multipart;
pub mod setup;
pub mod uploads;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::Redirect;
use axum::routing::{delete, get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::state::AppState;

/// Largest request body any route accepts (forms and small JSON only: file
/// bytes never pass through the portal).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body limit of a multipart completion: 10,000 parts with their ETags.
pub const MAX_COMPLETE_BODY_BYTES: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let public = Router::new()
        .route("/", get(root))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/{file}", get(assets::serve))
        .route("/login", get(login::login_form).post(login::login))
        .route("/login/2fa", get(login::second_factor_form).post(login::second_factor));

    // SECURITY: public token-bearing endpoints, rate limited per client address.
    let links = Router::new()
        .route("/setup/{token}", get(setup::setup_form).post(setup::create_owner))
        .route("/l/{id}", get(links::link_page))
        .route("/l/{id}/reveal", post(links::reveal))
        .route("/l/{id}/enrol", post(links::enrol))
        .route_layer(from_fn_with_state(state.clone(), guard::rate_limit_links));

    // SECURITY: routes for anyone signed in; a session and a CSRF token on writes.
    let signed_in = Router::new()
        .route("/logout", post(login::logout))
        .route("/account/password", get(account::password_form).post(account::change_password))
        .route_layer(from_fn_with_state(state.clone(), guard::require_signed_in));

    // SECURITY: every teammate route requires a teammate session and a CSRF token on writes.
    let teammate = Router::new()
        .route("/upload", get(uploads::upload_page))
        .route("/api/uploads", post(uploads::sign_upload))
        .route("/api/uploads/{id}/complete", post(uploads::complete_upload))
        .route("/api/multipart", post(multipart::create))
        .route("/api/multipart/resumable", post(multipart::resumable))
        .route("/api/multipart/{id}", delete(multipart::abort))
        .route("/api/multipart/{id}/parts", get(multipart::list_parts))
        .route("/api/multipart/{id}/parts/{number}", post(multipart::sign_part))
        // A list of up to 10,000 parts is larger than the default body limit.
        .route(
            "/api/multipart/{id}/complete",
            post(multipart::complete).layer(DefaultBodyLimit::max(MAX_COMPLETE_BODY_BYTES)),
        )
        .route_layer(from_fn_with_state(state.clone(), guard::require_teammate));

    // SECURITY: every owner route requires the owner's session and a CSRF token on writes.
    let owner = Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/teammates") }))
        .route("/admin/teammates", get(admin::teammates::teammates_page).post(admin::teammates::create_teammate))
        .route("/admin/teammates/{name}", get(admin::teammates::teammate_page))
        .route("/admin/teammates/{name}/resume", post(admin::teammates::resume_teammate))
        .route("/admin/teammates/{name}/rotate", post(admin::teammates::rotate_key))
        .route("/admin/teammates/{name}/reissue", post(admin::teammates::reissue_key_link))
        .route("/admin/teammates/{name}/rotation/confirm", post(admin::teammates::confirm_rotation))
        .route("/admin/teammates/{name}/rotation/cancel", post(admin::teammates::cancel_rotation))
        // {change}: deactivate, reactivate or delete (anything else: 404)
        .route("/admin/teammates/{name}/keys/{key_id}/{change}", post(admin::teammates::change_key))
        .route("/admin/teammates/{name}/links", post(admin::teammates::issue_account_link))
        .route("/admin/teammates/{name}/links/{link_id}/revoke", post(admin::teammates::revoke_link))
        .route("/admin/teammates/{name}/disable", post(admin::teammates::disable_teammate))
        .route("/admin/teammates/{name}/enable", post(admin::teammates::enable_teammate))
        .route("/admin/teammates/{name}/remove", post(admin::teammates::remove_teammate))
        .route("/admin/bulk-add", get(admin::bulk::bulk_add_form).post(admin::bulk::bulk_add))
        .route("/admin/adopt", get(admin::adopt::adopt_page).post(admin::adopt::adopt_user))
        .route("/admin/uploads", get(admin::uploads::uploads_page))
        .route("/admin/audit", get(admin::audit::audit_page))
        .route("/admin/audit/export", get(admin::audit::export_audit))
        .route("/admin/security", get(admin::security::security_page))
        .route("/admin/security/totp/start", post(admin::security::start_totp))
        .route("/admin/security/totp/confirm", post(admin::security::confirm_totp))
        .route("/admin/security/totp/disable", post(admin::security::disable_totp))
        .route("/admin/doctor", get(admin::doctor::doctor_page).post(admin::doctor::apply_fixes))
        .route_layer(from_fn_with_state(state.clone(), guard::require_owner));

    Router::new()
        .merge(public)
        .merge(links)
        .merge(signed_in)
        .merge(teammate)
        .merge(owner)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(guard::finish_writes))
        // SECURITY: cross-site state-changing requests are refused before any handler runs.
        .layer(from_fn_with_state(state.clone(), guard::same_origin_writes))
        .layer(from_fn_with_state(state.clone(), headers::security_headers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.request_timeout_secs),
        ))
        .layer(from_fn_with_state(state.clone(), meta::observe))
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static("x-request-id")))
        .layer(TraceLayer::new_for_http().make_span_with(meta::request_span))
        .layer(SetRequestIdLayer::new(HeaderName::from_static("x-request-id"), MakeRequestUuid))
        .with_state(state)
}

/// The metrics listener (`EGX_METRICS_LISTEN`), apart from the public one.
pub fn metrics_router(state: AppState) -> Router {
    // SECURITY: no sign-in on this listener: it must be bound to a private address (see README);
    // it serves counts only, never names, keys or links.
    let metrics = Router::new().route("/metrics", get(metrics::serve));

    metrics.fallback(|| async { StatusCode::NOT_FOUND }).with_state(state)
}

/// Unknown paths: JSON under `/api/`, our error page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if uri.path().starts_with("/api/") {
        crate::error::ApiError(AppError::NotFound).into_response()
    } else {
        AppError::NotFound.into_response()
    }
}

async fn root(guard::MaybeSession(session): guard::MaybeSession) -> Redirect {
    match session {
        Some(s) if s.role == crate::auth::Role::Owner => Redirect::to("/admin/teammates"),
        Some(_) => Redirect::to("/upload"),
        None => Redirect::to("/login"),
    }
}

/// What the page layout needs to draw the navigation bar.
pub struct Nav {
    /// "owner", "teammate", or empty when signed out.
    pub role: &'static str,
    pub username: String,
    pub csrf_token: String,
}

impl Nav {
    pub fn anonymous() -> Self {
        Self { role: "", username: String::new(), csrf_token: String::new() }
    }

    pub fn of(session: &crate::auth::AuthSession) -> Self {
        let role = match session.role {
            crate::auth::Role::Owner => "owner",
            crate::auth::Role::Teammate => "teammate",
        };
        Self { role, username: session.username.clone(), csrf_token: session.csrf_token.clone() }
    }
}
