//! The application: build it (bind, connect, migrate, assemble the router),
//! then run it until shutdown. `main` and the tests start it the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_credential_types::Credentials;
use tokio::net::TcpListener;

use crate::aws::AwsClients;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto;
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::AuditAction;
use crate::state::AppState;

/// Things production takes from the environment that tests pass in.
#[derive(Default)]
pub struct Overrides {
    /// AWS credentials instead of the standard chain.
    pub credentials: Option<Credentials>,
    /// A clock instead of the system clock.
    pub clock: Option<Arc<dyn Clock>>,
    /// A fault-injecting seam in front of IAM and STS (tests only).
    pub faults: Option<crate::aws::faults::Faults>,
}

/// A built application, bound to its port(s), not yet serving.
pub struct App {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    setup_link: Option<String>,
}

impl App {
    pub async fn build(config: Config, overrides: Overrides) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("EGX_LISTEN: cannot listen on {}", config.listen))?;
        let bound = listener.local_addr()?;
        let metrics_listener = match config.metrics_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("EGX_METRICS_LISTEN: cannot listen on {address}"))?,
            ),
            None => None,
        };
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => url::Url::parse(&format!("http://{bound}")).context("deriving the public URL")?,
        };
        let db = db::connect(&config.database_path()).await?;
        let aws = AwsClients::build_with(&config, overrides.credentials, overrides.faults.as_ref()).await?;
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let state = AppState::assemble(config, db, aws, clock, public_url)?;
        let setup_link = issue_setup_link_if_needed(&state).await?;
        Ok(Self { listener, metrics_listener, state, setup_link })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Where `/metrics` is served, when `EGX_METRICS_LISTEN` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The first-run owner setup link, when no owner exists yet.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests for
    /// at most `drain` before returning (C25).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        drain: Duration,
    ) -> anyhow::Result<()> {
        let router = crate::web::router(self.state.clone());
        let _housekeeping = AbortOnDrop(tokio::spawn(housekeeping(self.state.clone())));
        // The metrics listener ends with the server (it holds no work worth draining).
        let _metrics = self.metrics_listener.map(|listener| {
            let router = crate::web::metrics_router(self.state.clone());
            AbortOnDrop(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }))
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!(deadline_secs = drain.as_secs(), "shutting down: draining requests");
                let _ = tx.send(());
            });
        let serving = tokio::spawn(async move { serve.await });
        // Stale multipart uploads are aborted hourly (C13); the task ends with the server.
        let sweeper = tokio::spawn(crate::uploads::run_sweeper(self.state.clone(), Duration::from_secs(3600)));
        let _sweeper = AbortOnDrop(sweeper);
        tokio::pin!(serving);
        // With nothing open, the server may finish before the signal's
        // message is read: either way the database is closed below.
        let finished = tokio::select! {
            result = &mut serving => Some(result),
            _ = rx => None,
        };
        match finished {
            Some(result) => result.context("server task")?.context("serving")?,
            None => match tokio::time::timeout(drain, &mut serving).await {
                Ok(result) => result.context("server task")?.context("serving")?,
                Err(_) => {
                    tracing::warn!(
                        deadline_secs = drain.as_secs(),
                        "requests or connections still open at the shutdown deadline; closing them"
                    );
                    serving.abort();
                }
            },
        }
        // Every write is a transaction: closing the pool checkpoints the WAL,
        // and a request cut above never committed half a change.
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Runs [`housekeeping_once`] at start-up and then every ten minutes (key
/// rotations waiting for a new key's first use should not wait an hour).
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        housekeeping_once(&state).await;
    }
}

/// The periodic chores: move key rotations on (the old key is deactivated
/// once the new one is in use, deleted after the grace period), purge expired
/// one-time links (their ciphertext goes, each expiry audited) and apply
/// audit retention. Errors are logged, never fatal.
pub async fn housekeeping_once(state: &AppState) {
    let moved = crate::lifecycle::rotation::advance_all(state).await;
    if moved > 0 {
        tracing::info!(rotations = moved, "key rotations moved on");
    }
    let now = state.now();
    match db::secret_links::purge_expired(&state.db, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(links = n, "purged expired one-time links"),
        Err(e) => tracing::warn!(error = %e, "purging expired links failed"),
    }
    if let Some(days) = state.config.audit_retention_days {
        let before = now - i64::try_from(days).unwrap_or(i64::MAX / 86_400) * 86_400;
        match db::audit::prune(&state.db, before, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, days, "audit retention: pruned old events"),
            Err(e) => tracing::warn!(error = %e, "audit retention failed"),
        }
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// On a database with no owner, makes a one-time setup link and logs it.
async fn issue_setup_link_if_needed(state: &AppState) -> anyhow::Result<Option<String>> {
    if db::accounts::owner_exists(&state.db).await? {
        return Ok(None);
    }
    let now = state.now();
    let token = crypto::new_token()?;
    let mut tx = db::begin_immediate(&state.db).await?;
    db::setup_tokens::insert(&mut *tx, &crypto::digest(token.expose()), now, now + state.config.setup_ttl_secs).await?;
    db::audit::record(
        &mut tx,
        &AuditContext::system("system"),
        Event::success(AuditAction::SetupLinkIssued, None),
        now,
    )
    .await?;
    tx.commit().await?;
    let link = format!("{}/setup/{}", state.origin(), token.expose());
    // The setup link is the one secret the log carries, by design: the
    // person who can read the server's log is the person who runs it.
    tracing::warn!(
        valid_minutes = state.config.setup_ttl_secs / 60,
        "no owner exists yet: open this one-time setup link to create the owner account: {link}"
    );
    Ok(Some(link))
}

/// Asks the portal listening on `listen` for `path` (`/healthz` or
/// `/readyz`); true on a 200. Plain HTTP over a socket, so container images
/// need no curl. An unspecified address (`0.0.0.0`, `[::]`) is asked on loopback.
pub async fn healthcheck(listen: SocketAddr, path: &str) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut target = listen;
    if target.ip().is_unspecified() {
        let loopback: std::net::IpAddr =
            if target.is_ipv6() { std::net::Ipv6Addr::LOCALHOST.into() } else { std::net::Ipv4Addr::LOCALHOST.into() };
        target.set_ip(loopback);
    }
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(target).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<bool, std::io::Error>(head.starts_with(b"HTTP/1.1 200"))
    };
    // A fresh readiness check may take a few seconds (it asks AWS).
    let limit = Duration::from_secs(if path == "/readyz" { 8 } else { 3 });
    matches!(tokio::time::timeout(limit, attempt).await, Ok(Ok(true)))
}
