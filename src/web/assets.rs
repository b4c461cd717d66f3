//! Static assets, embedded in the binary at build time. The upload page's
//! bundle (Uppy) is built by scripts/build-assets.sh into static/dist/,
//! which is committed, so building the binary needs no npm.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../../static/app.css")),
    ("reveal.js", "text/javascript; charset=utf-8", include_str!("../../static/reveal.js")),
    ("upload.js", "text/javascript; charset=utf-8", include_str!("../../static/dist/upload.js")),
    ("upload.css", "text/css; charset=utf-8", include_str!("../../static/dist/upload.css")),
    ("admin.js", "text/javascript; charset=utf-8", include_str!("../../static/admin.js")),
];

pub async fn serve(Path(file): Path<String>) -> Result<Response, AppError> {
    let (_, content_type, body) = ASSETS.iter().find(|(name, _, _)| *name == file).ok_or(AppError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=300")], *body).into_response())
}
