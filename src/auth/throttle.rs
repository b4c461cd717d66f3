//! Login throttling with growing delays: a few failures for one client
//! address or one username cost nothing, then each further failure doubles
//! how long that key must wait before the next attempt (up to a cap).
//! Failures are forgotten a day after the last one, or at a success.
//! In memory on purpose: one portal process, and a restart only forgives an
//! attacker one delay.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Timestamp;

/// Failures that cost no delay.
const FREE_FAILURES: u32 = 4;
/// The delay after the first failure past the free ones; doubled after each next one.
const FIRST_DELAY_SECS: i64 = 30;
/// The longest delay.
const MAX_DELAY_SECS: i64 = 15 * 60;
/// A key's failures are forgotten this long after its last failure.
const FORGET_SECS: i64 = 24 * 3600;
const MAX_ENTRIES: usize = 100_000;

/// Keys for a username from anywhere (`user:NAME`) hold back guessing spread
/// over many addresses, but anyone can trigger them, so they are gentler:
/// more free failures and a short cap. A flood of guesses from many
/// addresses then costs the owner (on a browser not known to the portal) a
/// minute at most, while the guessers get one try a minute for the name.
const ACCOUNT_FREE_FAILURES: u32 = 10;
const ACCOUNT_MAX_DELAY_SECS: i64 = 60;

/// Failures per key: (count, time of the last failure, whether a refusal
/// since that failure was already reported).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Timestamp, bool)>>,
}

/// How long `key`, with `failures` failures, waits after its last failure.
fn delay_after(key: &str, failures: u32) -> i64 {
    let (free, cap) = if key.starts_with("user:") {
        (ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY_SECS)
    } else {
        (FREE_FAILURES, MAX_DELAY_SECS)
    };
    if failures <= free {
        return 0;
    }
    let doublings = (failures - free - 1).min(20);
    (FIRST_DELAY_SECS << doublings).min(cap)
}

impl LoginThrottle {
    /// Seconds until any of `keys` (e.g. `ip:1.2.3.4`, `user:alice`) may try
    /// again; 0 when none is held back.
    pub fn wait_secs(&self, keys: &[String], now: Timestamp) -> i64 {
        let Ok(map) = self.failures.lock() else {
            return MAX_DELAY_SECS;
        };
        keys.iter()
            .filter_map(|k| map.get(k).map(|entry| (k, entry)))
            .map(|(k, (count, last, _))| (last + delay_after(k, *count) - now).max(0))
            .max()
            .unwrap_or(0)
    }

    /// Whether any of `keys` is held back at `now`.
    pub fn is_locked(&self, keys: &[String], now: Timestamp) -> bool {
        self.wait_secs(keys, now) > 0
    }

    pub fn record_failure(&self, keys: &[String], now: Timestamp) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > MAX_ENTRIES {
            map.retain(|_, (_, last, _)| now - *last < FORGET_SECS);
        }
        for k in keys {
            let entry = map.entry(k.clone()).or_insert((0, now, false));
            if now - entry.1 >= FORGET_SECS {
                *entry = (0, now, false);
            }
            entry.0 = entry.0.saturating_add(1);
            entry.1 = now;
            entry.2 = false;
        }
    }

    /// Whether a refused attempt should be reported: true once per held-back
    /// key between two failures, so a flood of refused attempts leaves one
    /// audit row, not one per request.
    pub fn first_refusal(&self, keys: &[String], now: Timestamp) -> bool {
        let Ok(mut map) = self.failures.lock() else {
            return true;
        };
        let mut first = false;
        for k in keys {
            if let Some(entry) = map.get_mut(k)
                && entry.1 + delay_after(k, entry.0) > now
                && !entry.2
            {
                entry.2 = true;
                first = true;
            }
        }
        first
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
    fn four_failures_are_free_and_the_fifth_holds_the_key_back() {
        let t = LoginThrottle::default();
        let keys = vec!["user@ip:10.0.0.1:alice".to_owned()];
        for _ in 0..4 {
            t.record_failure(&keys, 1000);
        }
        assert_eq!(t.wait_secs(&keys, 1000), 0);
        t.record_failure(&keys, 1000);
        assert_eq!(t.wait_secs(&keys, 1000), FIRST_DELAY_SECS);
        assert!(t.is_locked(&keys, 1000 + FIRST_DELAY_SECS - 1));
        assert!(!t.is_locked(&keys, 1000 + FIRST_DELAY_SECS));
    }

    #[test]
    fn each_further_failure_doubles_the_delay_up_to_the_cap() {
        let t = LoginThrottle::default();
        let keys = vec!["ip:10.0.0.1".to_owned()];
        let mut now = 1000;
        let mut waits = Vec::new();
        for _ in 0..12 {
            t.record_failure(&keys, now);
            let wait = t.wait_secs(&keys, now);
            waits.push(wait);
            now += wait;
        }
        assert_eq!(waits, [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
    }

    #[test]
    fn the_longest_wait_of_any_key_counts_and_a_success_clears_only_its_keys() {
        let t = LoginThrottle::default();
        let ip = "ip:10.0.0.1".to_owned();
        let user = "user:bob".to_owned();
        for _ in 0..6 {
            t.record_failure(std::slice::from_ref(&ip), 0);
        }
        assert_eq!(t.wait_secs(&[user.clone(), ip.clone()], 0), 60);
        t.record_success(std::slice::from_ref(&user));
        assert_eq!(t.wait_secs(&[user, ip], 0), 60);
    }

    #[test]
    fn a_flood_of_refused_attempts_is_reported_once_per_failure() {
        let t = LoginThrottle::default();
        let keys = vec!["ip:10.0.0.9".to_owned()];
        for _ in 0..5 {
            t.record_failure(&keys, 0);
        }
        assert!(t.first_refusal(&keys, 1));
        assert!((0..100).all(|_| !t.first_refusal(&keys, 2)));
        t.record_failure(&keys, 30);
        assert!(t.first_refusal(&keys, 31), "a new failure starts a new report");
    }

    #[test]
    fn a_name_guessed_from_anywhere_is_held_back_gently() {
        // Strangers can trigger this key, so it may cost the owner a minute at most.
        let t = LoginThrottle::default();
        let keys = vec!["user:owner".to_owned()];
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..14 {
            t.record_failure(&keys, now);
            let wait = t.wait_secs(&keys, now);
            waits.push(wait);
            now += wait;
        }
        assert_eq!(waits, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 60, 60, 60]);
    }

    #[test]
    fn failures_are_forgotten_a_day_after_the_last_one() {
        let t = LoginThrottle::default();
        let keys = vec!["ip:10.0.0.2".to_owned()];
        for _ in 0..9 {
            t.record_failure(&keys, 0);
        }
        t.record_failure(&keys, FORGET_SECS);
        assert_eq!(t.wait_secs(&keys, FORGET_SECS), 0, "counting started again at one");
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
