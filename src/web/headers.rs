//! One layer sets the security headers on every response: a CSP without
//! inline script (S3's origin allowed for uploads), nosniff, frame denial,
//! a referrer policy, HSTS over HTTPS, and `Cache-Control: no-store` on
//! everything but static assets. Pages that carry secrets or links also get
//! `Referrer-Policy: no-referrer` (see [`NO_STORE`]).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Headers for responses that show a secret, a link or personal data.
pub const NO_STORE: [(header::HeaderName, &str); 2] =
    [(header::CACHE_CONTROL, "no-store"), (header::REFERRER_POLICY, "no-referrer")];

/// The origin(s) browsers upload to: the custom endpoint, or AWS's S3 hosts.
pub fn s3_connect_sources(state: &AppState) -> String {
    connect_sources_for(&state.config)
}

/// [`s3_connect_sources`] for a configuration.
pub fn connect_sources_for(config: &crate::config::Config) -> String {
    match &config.s3_endpoint {
        Some(url) => url.origin().ascii_serialization(),
        None => {
            let r = &config.region;
            let b = config.bucket.as_str();
            format!("https://{b}.s3.{r}.amazonaws.com https://s3.{r}.amazonaws.com")
        }
    }
}

// SECURITY: every response carries the security headers.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        s3_connect_sources(&state)
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    // Pages and API answers are personal (names, keys, audit rows): no cache
    // keeps them unless a response says otherwise (static assets do).
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if state.is_https() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    res
}
