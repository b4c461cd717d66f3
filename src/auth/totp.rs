//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s),
//! the format every authenticator app reads, and the recovery codes that
//! stand in for a lost phone.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::clock::Timestamp;
use crate::crypto::{self, Secret};

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;

/// The time step a timestamp falls in.
pub fn step_at(now: Timestamp) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// The code for `secret` at time step `step` (RFC 4226 truncation).
pub fn code_at(secret: &[u8], step: i64) -> Option<String> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    Some(format!("{:0width$}", bin % 10u32.pow(DIGITS), width = DIGITS as usize))
}

/// Checks `code` against the steps around `now` (one step of clock drift
/// either way). Returns the matching step only if it is newer than
/// `last_used_step`, so a code works once.
pub fn verify(secret: &[u8], code: &str, now: Timestamp, last_used_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    (current - 1..=current + 1)
        .filter(|s| last_used_step.is_none_or(|last| *s > last))
        .find(|s| code_at(secret, *s).is_some_and(|c| crypto::constant_time_eq(&c, &code)))
}

/// RFC 4648 base32 without padding: how authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app imports.
pub fn otpauth_uri(username: &str, secret_b32: &str) -> String {
    let label: String = url::form_urlencoded::byte_serialize(format!("egx-portal:{username}").as_bytes()).collect();
    format!(
        "otpauth://totp/{label}?secret={secret_b32}&issuer=egx-portal&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

/// Ten recovery codes like `k7q2-m9xd-4hpa-w3ne` (80 bits each).
pub fn new_recovery_codes() -> anyhow::Result<Vec<Secret>> {
    (0..10)
        .map(|_| {
            let raw = base32(&crypto::random_bytes::<10>()?).to_ascii_lowercase();
            let grouped = raw.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
            Ok(Secret::new(grouped.join("-")))
        })
        .collect()
}

/// A recovery code as typed: case and dashes and spaces do not matter.
pub fn normalise_recovery_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA1 rows (8-digit values, last 6 digits here).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_test_vectors() {
        for (time, expected) in
            [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        {
            assert_eq!(code_at(RFC_SECRET, step_at(time)).unwrap(), expected, "t={time}");
        }
    }

    #[test]
    fn a_code_works_within_one_step_of_drift_and_only_once() {
        let now = 1_111_111_109;
        let code = code_at(RFC_SECRET, step_at(now)).unwrap();
        let step = verify(RFC_SECRET, &code, now + 29, None).unwrap();
        assert_eq!(verify(RFC_SECRET, &code, now, Some(step)), None, "replay refused");
        assert_eq!(verify(RFC_SECRET, &code, now + 95, None), None, "three steps later it is stale");
        assert_eq!(verify(RFC_SECRET, "12345", now, None), None);
        assert_eq!(verify(RFC_SECRET, "abcdef", now, None), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalise() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().map(|c| c.expose().to_owned()).collect();
        assert_eq!(unique.len(), 10);
        assert_eq!(normalise_recovery_code(" K7Q2-m9xd 4hpa "), "k7q2m9xd4hpa");
    }
}
