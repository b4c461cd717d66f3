//! The shared state every handler receives: typed, no globals. Counters
//! for `/metrics` and the readiness cache live here too.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::SqlitePool;

use crate::auth::password::Hasher;
use crate::auth::throttle::{LoginThrottle, RateLimiter};
use crate::aws::AwsClients;
use crate::clock::Clock;
use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub db: SqlitePool,
    pub config: Arc<Config>,
    pub aws: Arc<AwsClients>,
    pub clock: Arc<dyn Clock>,
    pub hasher: Arc<Hasher>,
    pub throttle: Arc<LoginThrottle>,
    /// Requests per client address to the public link and setup endpoints.
    pub link_limiter: Arc<RateLimiter>,
    /// The server's key for secrets it must read back (TOTP secrets).
    pub master_key: Arc<crate::crypto::MasterKey>,
    /// The origin people reach the portal at (links and CSRF checks use it).
    pub public_url: Arc<url::Url>,
    /// Request counters and latency, for the metrics listener.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The last `/readyz` result, reused for `EGX_READY_CACHE_SECONDS`.
    pub ready_cache: Arc<crate::web::health::ReadyCache>,
    /// Open multipart uploads whose parts are being signed (no database read per part).
    pub open_uploads: Arc<crate::uploads::OpenUploads>,
}

impl AppState {
    /// The state without a listener, for CLI commands that run beside a
    /// serving portal (database, AWS clients, system clock). With
    /// `check_aws` false, AWS credentials are not looked for (commands that
    /// never call AWS work without them).
    pub async fn offline(config: Config, check_aws: bool) -> anyhow::Result<Self> {
        let db = crate::db::connect(&config.database_path()).await?;
        let aws = if check_aws {
            AwsClients::build(&config, None).await?
        } else {
            AwsClients::build_unchecked(&config).await?
        };
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => url::Url::parse(&format!("http://{}", config.listen))?,
        };
        Self::assemble(config, db, aws, Arc::new(crate::clock::SystemClock), public_url)
    }

    /// Puts the state together from its parts (the one place that does).
    pub fn assemble(
        config: Config,
        db: SqlitePool,
        aws: AwsClients,
        clock: Arc<dyn Clock>,
        public_url: url::Url,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let master_key = match &config.master_key {
            crate::config::MasterKeySource::File(path) => crate::crypto::MasterKey::load_or_create(path)
                .context("EGX_MASTER_KEY_FILE: the master key could not be read or created")?,
            crate::config::MasterKeySource::Value(value) => crate::crypto::MasterKey::from_text(value.expose())
                .context("EGX_MASTER_KEY: must be 32 bytes in base64 or hex")?,
        };
        Ok(Self {
            db,
            link_limiter: Arc::new(RateLimiter::new(config.link_rate_per_minute, 60)),
            config: Arc::new(config),
            aws: Arc::new(aws),
            clock,
            hasher: Arc::new(Hasher::default()),
            throttle: Arc::new(LoginThrottle::default()),
            master_key: Arc::new(master_key),
            public_url: Arc::new(public_url),
            metrics: Arc::default(),
            ready_cache: Arc::default(),
            open_uploads: Arc::default(),
        })
    }

    pub fn now(&self) -> crate::clock::Timestamp {
        self.clock.now()
    }

    /// Whether the portal is served over HTTPS (secure cookies, HSTS).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// `scheme://host[:port]`, without a trailing slash.
    pub fn origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

impl FromRef<AppState> for SqlitePool {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}
