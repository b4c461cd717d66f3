//! Login throttling: after a few failures for one IP or one username within
//! a window, further attempts are refused until the window passes. In memory
//! on purpose: one portal process, and a restart only forgives attackers as
//! much as a window does.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Timestamp;

const WINDOW_SECS: i64 = 15 * 60;
const MAX_FAILURES: u32 = 5;
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Timestamp)>>,
}

impl LoginThrottle {
    /// Whether any of `keys` (e.g. `ip:1.2.3.4`, `user:alice`) is locked out.
    pub fn is_locked(&self, keys: &[String], now: Timestamp) -> bool {
        let Ok(map) = self.failures.lock() else {
            return true;
        };
        keys.iter()
            .any(|k| map.get(k).is_some_and(|(count, since)| *count >= MAX_FAILURES && now - since < WINDOW_SECS))
    }

    pub fn record_failure(&self, keys: &[String], now: Timestamp) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > MAX_ENTRIES {
            map.retain(|_, (_, since)| now - *since < WINDOW_SECS);
        }
        for k in keys {
            let entry = map.entry(k.clone()).or_insert((0, now));
            if now - entry.1 >= WINDOW_SECS {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    pub fn record_success(&self, keys: &[String]) {
        if let Ok(mut map) = self.failures.lock() {
            for k in keys {
                map.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_until_the_window_passes() {
        let t = LoginThrottle::default();
        let keys = vec!["user:alice".to_owned()];
        for _ in 0..4 {
            t.record_failure(&keys, 1000);
        }
        assert!(!t.is_locked(&keys, 1000));
        t.record_failure(&keys, 1000);
        assert!(t.is_locked(&keys, 1000));
        assert!(!t.is_locked(&keys, 1000 + WINDOW_SECS));
    }
}

/// A fixed-window request limit per key (e.g. per client address).
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window_secs: i64,
    hits: Mutex<HashMap<String, (u32, Timestamp)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window_secs: i64) -> Self {
        Self { limit, window_secs, hits: Mutex::new(HashMap::new()) }
    }

    /// Counts a request; false when `key` is over its limit in this window.
    pub fn allow(&self, key: &str, now: Timestamp) -> bool {
        let Ok(mut map) = self.hits.lock() else { return false };
        if map.len() > MAX_ENTRIES {
            let window = self.window_secs;
            map.retain(|_, (_, since)| now - *since < window);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now - entry.1 >= self.window_secs {
            *entry = (0, now);
        }
        entry.0 += 1;
        entry.0 <= self.limit
    }
}

#[cfg(test)]
mod limiter_tests {
    use super::*;

    #[test]
    fn requests_over_the_limit_wait_for_the_next_window() {
        let limiter = RateLimiter::new(3, 60);
        assert!((0..3).all(|_| limiter.allow("ip:1", 100)));
        assert!(!limiter.allow("ip:1", 159));
        assert!(limiter.allow("ip:2", 159), "other addresses are not affected");
        assert!(limiter.allow("ip:1", 160));
    }
}
