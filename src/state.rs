//! The shared state every handler receives: typed, no globals.

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
    pub aws: AwsClients,
    pub clock: Arc<dyn Clock>,
    pub hasher: Arc<Hasher>,
    pub throttle: Arc<LoginThrottle>,
    /// Requests per client address to the public link and setup endpoints.
    pub link_limiter: Arc<RateLimiter>,
    /// The server's key for secrets it must read back (TOTP secrets).
    pub master_key: Arc<crate::crypto::MasterKey>,
    /// The origin people reach the portal at (links and CSRF checks use it).
    pub public_url: Arc<url::Url>,
}

impl AppState {
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
