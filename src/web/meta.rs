//! Request metadata: the span every request is logged in, and the
//! client address / user agent recorded in audit rows.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Request, header};

use crate::db::audit::AuditContext;

/// The tracing span for a request: method, path (never the query, which
/// may carry a token) and request id.
pub fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    // Paths under /setup/ and /l/ hold tokens or link ids: log only their route.
    let path = req.uri().path();
    let shown = if path.starts_with("/setup/") { "/setup/…" } else { path };
    tracing::info_span!("request", method = %req.method(), path = %shown, request_id = %id)
}

/// Who is asking, for the audit log.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientMeta {
    pub fn audit(&self, actor: &str) -> AuditContext {
        AuditContext { actor: actor.to_owned(), ip: self.ip.clone(), user_agent: self.user_agent.clone() }
    }

    /// A key for throttling by address.
    pub fn ip_key(&self) -> String {
        format!("ip:{}", self.ip.as_deref().unwrap_or("unknown"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The direct peer. Proxies' X-Forwarded-For is not trusted here.
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let user_agent =
            parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}
