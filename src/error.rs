//! The one error type that reaches a user. Variants are things a person can
//! act on; internal detail is logged (inside the request's span, so with its
//! request id) and never shown. Pages get an HTML error page, `/api` and the
//! link endpoints get JSON through [`ApiError`].

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is wrong in a way the user can fix; the text is shown.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("login required")]
    LoginRequired,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("CSRF check failed")]
    CsrfRejected,
    /// The change conflicts with what exists; the text is shown.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An object exists that this person may not replace; the text is shown.
    #[error("object taken: {0}")]
    ObjectTaken(String),
    #[error("too many attempts")]
    RateLimited,
    /// One uniform answer for used, expired, revoked and unknown links.
    #[error("link unavailable")]
    LinkUnavailable,
    /// The first-run setup link was used or expired.
    #[error("setup link unavailable")]
    SetupLinkUnavailable,
    #[error("payload too large")]
    PayloadTooLarge,
    /// AWS refused or failed; the first text is shown, the error is logged.
    #[error("upstream: {0}")]
    Upstream(String, #[source] anyhow::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::LoginRequired => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::ObjectTaken(_) => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::LinkUnavailable | Self::SetupLinkUnavailable => StatusCode::GONE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Upstream(..) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code for JSON answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::LoginRequired => "login_required",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::CsrfRejected => "csrf_rejected",
            Self::Conflict(_) => "conflict",
            Self::ObjectTaken(_) => "object_taken",
            Self::RateLimited => "rate_limited",
            Self::LinkUnavailable => "link_unavailable",
            Self::SetupLinkUnavailable => "setup_link_unavailable",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Upstream(..) => "upstream",
            Self::Internal(_) => "internal",
        }
    }

    /// What the user is told. Never contains internal detail.
    pub fn public_message(&self) -> String {
        match self {
            Self::BadRequest(m) | Self::Conflict(m) | Self::ObjectTaken(m) => m.clone(),
            Self::LoginRequired => "Please sign in.".into(),
            Self::Forbidden => "You do not have access to this page.".into(),
            Self::NotFound => "There is nothing here.".into(),
            Self::CsrfRejected => {
                "The form was stale or came from another site. Go back, reload the page and try again.".into()
            }
            Self::RateLimited => "Too many attempts. Wait a minute and try again.".into(),
            Self::LinkUnavailable => "This link is not available. It may have been used already, \
                 expired or been revoked. Ask the portal owner for a new one."
                .into(),
            Self::SetupLinkUnavailable => "This setup link was used already or has expired. If the owner account \
                 exists, sign in; otherwise restart the portal: it prints a new setup link in its log."
                .into(),
            Self::PayloadTooLarge => "The request is larger than the portal accepts for it. Files are uploaded \
                 straight to S3, not through the portal."
                .into(),
            Self::Upstream(m, _) => m.clone(),
            Self::Internal(_) => "Something went wrong on our side. It has been logged; try again.".into(),
        }
    }

    fn log(&self) {
        match self {
            Self::Internal(e) => tracing::error!(error = format!("{e:#}"), "internal error"),
            Self::Upstream(m, e) => {
                tracing::warn!(error = format!("{e:#}"), shown = %m, "upstream error")
            }
            other => tracing::debug!(error = %other, "request refused"),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        if matches!(self, Self::LoginRequired) {
            return Redirect::to("/login").into_response();
        }
        let status = self.status();
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.public_message(),
        };
        let mut res = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.public_message()).into_response(),
        };
        self.add_headers(&mut res);
        res
    }
}

impl AppError {
    /// Headers some answers carry: when to try again after a rate limit.
    fn add_headers(&self, res: &mut Response) {
        if matches!(self, Self::RateLimited) {
            // The per-address limits count per minute.
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("60"));
        }
    }
}

/// The same errors, answered as JSON `{ "error": code, "message": text }`.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let body = serde_json::json!({ "error": self.0.code(), "message": self.0.public_message() });
        let mut res = (self.0.status(), Json(body)).into_response();
        self.0.add_headers(&mut res);
        res
    }
}

pub type AppResult<T> = Result<T, AppError>;
pub type ApiResult<T> = Result<T, ApiError>;
