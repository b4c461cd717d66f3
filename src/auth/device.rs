//! "Known device" cookies. The per-account sign-in delay exists against
//! guessing from many addresses, but strangers can trigger it too — so it
//! would let anyone keep the owner out. A browser that has signed in to an
//! account before carries a cookie proving it, and the per-account delay does
//! not hold that browser back (its address is still throttled like any other).
//!
//! The value is an HMAC under the master key over the account id and its
//! current password hash: nothing is stored, only this portal can make one,
//! and every one dies when the password changes.

use axum::http::{HeaderMap, HeaderValue};

use crate::crypto::{self, MasterKey};
use crate::error::AppError;

/// How long a browser stays known without signing in again.
const MAX_AGE_SECS: i64 = 180 * 24 * 3600;

fn cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-egx_device" } else { "egx_device" }
}

/// The cookie value for `account_id` with its current `password_hash`.
pub fn token_for(master: &MasterKey, account_id: i64, password_hash: &str) -> String {
    master.mac(&format!("egx-device:v1:{account_id}:{password_hash}"))
}

/// `Set-Cookie` marking this browser as known for the account.
pub fn set_cookie(token: &str, secure: bool) -> Result<HeaderValue, AppError> {
    let secure_attr = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE_SECS}{secure_attr}",
        cookie_name(secure)
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

/// Whether the request carries the known-device cookie for this account.
pub fn is_known(master: &MasterKey, headers: &HeaderMap, secure: bool, account_id: i64, password_hash: &str) -> bool {
    let expected = token_for(master, account_id, password_hash);
    super::cookie_values(headers, cookie_name(secure))
        // SECURITY: constant-time comparison with the value only this portal can compute.
        .any(|v| crypto::constant_time_eq(v, &expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        let dir = tempfile::tempdir().unwrap();
        MasterKey::load_or_create(&dir.path().join("k")).unwrap()
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::COOKIE, HeaderValue::from_str(&format!("other=1; egx_device={value}")).unwrap());
        h
    }

    #[test]
    fn a_device_is_known_only_for_its_account_and_current_password() {
        let master = key();
        let token = token_for(&master, 7, "$argon2id$hash-one");
        assert!(is_known(&master, &with_cookie(&token), false, 7, "$argon2id$hash-one"));
        assert!(!is_known(&master, &with_cookie(&token), false, 8, "$argon2id$hash-one"), "another account");
        assert!(!is_known(&master, &with_cookie(&token), false, 7, "$argon2id$hash-two"), "after a password change");
        assert!(!is_known(&master, &with_cookie(&token), true, 7, "$argon2id$hash-one"), "__Host- name over https");
        assert!(!is_known(&key(), &with_cookie(&token), false, 7, "$argon2id$hash-one"), "another portal's key");
        assert!(!is_known(&master, &HeaderMap::new(), false, 7, "$argon2id$hash-one"));
    }
}
