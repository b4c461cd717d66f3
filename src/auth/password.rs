//! Password hashing with argon2id, OWASP's first recommended setting
//! (46 MiB, t=1, p=1; as strong as the 19 MiB, t=2 default). The working
//! memory is deliberately above glibc's 32 MiB ceiling for its sliding mmap
//! threshold: every hash buffer is then mapped for the hash and unmapped
//! after it, so memory goes back to the system between sign-ins. With a
//! 19 MiB buffer glibc raises the threshold after the first free, later
//! buffers come from per-thread arenas and about 19 MiB stays resident per
//! blocking thread that ever hashed (measured: idle 120 MiB instead of 25;
//! docs/BENCHMARKS.md). Stored hashes carry their own parameters, so older
//! hashes still verify. Hashing runs on blocking threads behind a semaphore, so a burst of
//! logins cannot exhaust memory or starve the async runtime. Unknown users
//! are checked against a dummy hash, so response time does not reveal
//! whether an account exists.

use std::sync::Arc;

use anyhow::Context as _;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::crypto::Secret;

/// Shortest and longest passwords accepted (the cap bounds hashing cost).
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password for `username` against the rules; the error is
/// shown to the user. Beyond the length: not the username, not a run of one
/// or two characters or a keyboard/number sequence, not a very common word
/// with digits or symbols around it (what guessers try first).
pub fn check_new_password(password: &str, confirm: &str, username: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("Choose a password of at least {MIN_PASSWORD_CHARS} characters."));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("A password can be at most {MAX_PASSWORD_BYTES} bytes long."));
    }
    if password != confirm {
        return Err("The two passwords do not match.".to_owned());
    }
    if let Some(why) = guessable(password, username) {
        return Err(format!("This password is too easy to guess ({why}). Try a few unrelated words."));
    }
    Ok(())
}

/// Words guessers try first (with digits and symbols around them).
const COMMON_WORDS: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssword",
    "qwerty",
    "qwertyuiop",
    "asdfgh",
    "asdfghjkl",
    "zxcvbnm",
    "letmein",
    "welcome",
    "admin",
    "administrator",
    "iloveyou",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "trustno1",
    "changeme",
    "secret",
    "master",
    "shadow",
    "superman",
    "batman",
    "login",
    "abc",
    "abcdef",
    "test",
    "guest",
    "root",
    "default",
    "upload",
    "portal",
    "egx",
    "amazon",
    "aws",
    "s3bucket",
];

fn guessable(password: &str, username: &str) -> Option<&'static str> {
    let lower = password.to_lowercase();
    let user = username.trim().to_lowercase();
    if user.len() >= 3 && lower.contains(&user) {
        return Some("it contains the username");
    }
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 2 {
        return Some("it repeats one or two characters");
    }
    let sequences = ["01234567890", "09876543210", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm"];
    if sequences.iter().any(|seq| seq.contains(lower.as_str())) {
        return Some("it is a sequence");
    }
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    if core.is_empty() || COMMON_WORDS.contains(&core) {
        return Some("it is a common word with digits or symbols");
    }
    None
}

/// Argon2id working memory in KiB (46 MiB) and passes for new hashes.
pub const HASH_MEMORY_KIB: u32 = 46 * 1024;
pub const HASH_PASSES: u32 = 1;

/// The hasher for new passwords (verification takes the stored parameters).
fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params =
        Params::new(HASH_MEMORY_KIB, HASH_PASSES, 1, None).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes and verifies passwords off the async threads.
#[derive(Debug)]
pub struct Hasher {
    permits: Semaphore,
    dummy: OnceCell<String>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self { permits: Semaphore::new(2), dummy: OnceCell::new() }
    }
}

impl Hasher {
    pub async fn hash(self: &Arc<Self>, password: Secret) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        tokio::task::spawn_blocking(move || {
            argon2()?
                .hash_password(password.expose().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
        .await
        .context("hashing task")?
    }

    /// True only if `stored` exists and matches. With no stored hash the
    /// password is still checked (against a dummy) to keep timing uniform.
    pub async fn verify(self: &Arc<Self>, password: Secret, stored: Option<String>) -> anyhow::Result<bool> {
        if password.expose().len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash().await?, false),
        };
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let matched = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok()
        })
        .await
        .context("verify task")?;
        Ok(real && matched)
    }

    async fn dummy_hash(self: &Arc<Self>) -> anyhow::Result<String> {
        let this = Arc::clone(self);
        let hash = self
            .dummy
            .get_or_try_init(|| async move { this.hash(Secret::new("egx-portal dummy password")).await })
            .await?;
        Ok(hash.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hasher = Arc::new(Hasher::default());
        let hash = hasher.hash(Secret::new("correct horse battery")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=47104,t=1,p=1$"), "{hash}");
        assert!(hasher.verify(Secret::new("correct horse battery"), Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify(Secret::new("wrong horse battery"), Some(hash)).await.unwrap());
        assert!(!hasher.verify(Secret::new("anything at all"), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_made_with_the_earlier_19_mib_parameters_still_verifies() {
        let old = Argon2::default().hash_password(b"correct horse battery").unwrap().to_string();
        assert!(old.contains("m=19456,t=2,p=1"), "{old}");
        let hasher = Arc::new(Hasher::default());
        assert!(hasher.verify(Secret::new("correct horse battery"), Some(old.clone())).await.unwrap());
        assert!(!hasher.verify(Secret::new("wrong horse battery"), Some(old)).await.unwrap());
    }

    #[test]
    fn new_passwords_are_checked_with_reasons() {
        assert!(check_new_password("short", "short", "ann").is_err());
        assert!(check_new_password("long enough 1", "long enough 2", "ann").is_err());
        assert!(check_new_password(&"x".repeat(2000), &"x".repeat(2000), "ann").is_err());
        assert!(check_new_password("long enough 1", "long enough 1", "ann").is_ok());
    }

    #[test]
    fn passwords_guessers_try_first_are_refused_with_the_reason() {
        let refused = |p: &str| check_new_password(p, p, "alice").unwrap_err();
        assert!(refused("password12").contains("common word"));
        assert!(refused("!!Password2026!!").contains("common word"));
        assert!(refused("1234567890").contains("sequence"));
        assert!(refused("qwertyuiop").contains("sequence"));
        assert!(refused("aaaaaaaaaaaa").contains("one or two characters"));
        assert!(refused("abababababab").contains("one or two characters"));
        assert!(refused("alice-2026-dec").contains("username"));
        assert!(refused("2026-12-03!!").contains("common word"), "digits and symbols only");
        for fine in ["correct horse battery", "tulip-sextant-moraine", "Ünïcødé pässwörd"] {
            assert!(check_new_password(fine, fine, "alice").is_ok(), "{fine}");
        }
    }
}
