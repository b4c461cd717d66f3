//! Request metadata: the span every request is logged in, and the
//! client address / user agent recorded in audit rows.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, header};

use crate::config::IpNet;
use crate::db::audit::AuditContext;
use crate::state::AppState;

/// The tracing span for a request: method, path (never the query, which
/// may carry a token) and request id (a client-sent id is kept only if it
/// is short and plain, so it cannot forge log lines).
pub fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
        .unwrap_or("-");
    // Paths under /setup/ and /l/ hold tokens or link ids: log only their route.
    let path = req.uri().path();
    let shown = if path.starts_with("/setup/") {
        "/setup/…"
    } else if let Some(rest) = path.strip_prefix("/l/") {
        // A link id is not a secret, but logs need no handle on a live link.
        match rest.split_once('/') {
            Some((_, "reveal")) => "/l/…/reveal",
            Some((_, "enrol")) => "/l/…/enrol",
            _ => "/l/…",
        }
    } else {
        path
    };
    tracing::info_span!("request", method = %req.method(), path = %shown, request_id = %id)
}

/// One access-log line and one metrics sample per request, inside the
/// request's span (so with its request id). The route is the routing
/// table's template (`/l/{id}`), never the concrete path or the query.
/// Health probes log at debug level, so they do not flood the log.
pub async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let in_flight = state.metrics.start();
    let res = next.run(req).await;
    drop(in_flight);
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    state.metrics.observe(method.as_str(), &route, status, elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if route == "/healthz" || route == "/readyz" {
        tracing::debug!(%method, %route, status, latency_ms, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms, "request");
    }
    res
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

/// The client's address: the direct peer, unless the peer is a configured
/// trusted proxy, in which case the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Anyone can write
/// that header, so it is believed only from proxies the owner named.
pub fn client_ip(extensions: &axum::http::Extensions, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    // SECURITY: X-Forwarded-For is read only when the peer is a trusted proxy.
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    Some(forwarded.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer))
}

impl FromRequestParts<AppState> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = client_ip(&parts.extensions, &parts.headers, &state.config.trusted_proxies).map(|ip| ip.to_string());
        let user_agent =
            parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}
