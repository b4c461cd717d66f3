//! Extractors that turn axum's plain-text rejections into our error page or
//! JSON error, so malformed input always gets a clear answer in the right
//! format (never a bare 422 text body).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, AppError};

/// A URL-encoded form; a malformed one gets the error page (400).
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::PayloadTooLarge),
            Err(e) => {
                tracing::debug!(error = %e.body_text(), "unreadable form");
                Err(AppError::BadRequest("The form could not be read. Reload the page and try again.".to_owned()))
            }
        }
    }
}

/// A JSON body; a malformed one gets a JSON error (400, or 413 when too large).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError(AppError::PayloadTooLarge))
            }
            Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError(AppError::BadRequest(
                    "The request could not be read: send it as JSON (Content-Type: application/json).".into(),
                )))
            }
            Err(e) => {
                // Keep serde's own words (useful to whoever writes the client), not axum's preamble.
                let text = e.body_text();
                let detail = text.rsplit_once(": ").map_or(text.as_str(), |(_, d)| d);
                Err(ApiError(AppError::BadRequest(format!("The request could not be read: {detail}."))))
            }
        }
    }
}

/// A path parameter for the JSON API; one that does not parse names nothing (404).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError(AppError::NotFound)),
        }
    }
}
