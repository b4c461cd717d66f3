//! The only place that makes tokens, digests and link ciphertexts.
//!
//! Invariants guarded here:
//! * every token comes from the operating system's CSPRNG;
//! * tokens are stored only as SHA-256 digests and compared in constant time;
//! * a one-time link payload is sealed with AES-256-GCM under a fresh key that
//!   is returned to the caller for the link's `#fragment` and never stored.
//!   The browser opens it with WebCrypto (same algorithm, 96-bit nonce,
//!   128-bit tag appended to the ciphertext, link id as additional data).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A secret string: never printed, zeroed on drop.
#[derive(Clone)]
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The only way to read the value: the name makes every use greppable.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("operating system RNG failed: {e}"))?;
    Ok(buf)
}

/// A fresh 256-bit token, URL-safe base64 (43 characters).
pub fn new_token() -> anyhow::Result<Secret> {
    let mut bytes = random_bytes::<32>()?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    bytes.zeroize();
    Ok(Secret(token))
}

/// A fresh public identifier (128 bits, URL-safe base64, 22 characters).
/// Not a secret on its own: link ids appear in URLs and the audit log.
pub fn new_public_id() -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// SHA-256 of a token, hex: what the database stores instead of the token.
pub fn digest(token: &str) -> String {
    let hash = Sha256::digest(token.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The CSRF token bound to a session: derived, so nothing more is stored.
pub fn csrf_token_for(session_token: &Secret) -> String {
    let hash = Sha256::digest(format!("egx-csrf:{}", session_token.expose()).as_bytes());
    URL_SAFE_NO_PAD.encode(hash)
}

/// A sealed one-time payload.
pub struct SealedPayload {
    /// nonce (12 bytes) || ciphertext || tag: what the database stores.
    pub stored: Vec<u8>,
    /// The AES key, URL-safe base64: goes only into the link's fragment.
    pub fragment_key: Secret,
    /// Proof of holding the key, which the browser sends with Reveal (see [`link_key_check`]).
    pub key_check: String,
}

/// SHA-256("egx-link-key-check:v1:" || link id || ":" || key), base64url: what
/// a browser holding the fragment key sends to reveal, so that knowing a
/// link's id alone cannot use it up. It reveals nothing about the key.
fn key_check_of(link_id: &str, key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"egx-link-key-check:v1:");
    h.update(link_id.as_bytes());
    h.update(b":");
    h.update(key);
    b64url(&h.finalize())
}

/// The key check for a fragment key as the link carries it (base64url);
/// `None` when the fragment is not a key at all.
pub fn link_key_check(link_id: &str, fragment_key: &str) -> Option<String> {
    let mut key = URL_SAFE_NO_PAD.decode(fragment_key).ok()?;
    let check = (key.len() == 32).then(|| key_check_of(link_id, &key));
    key.zeroize();
    check
}

/// Seals `plaintext` under a fresh key, binding it to `link_id`.
pub fn seal_link_payload(link_id: &str, plaintext: &[u8]) -> anyhow::Result<SealedPayload> {
    let mut key = random_bytes::<32>()?;
    let nonce = random_bytes::<12>()?;
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| anyhow::anyhow!("bad AES key length"))?;
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: link_id.as_bytes() })
        .map_err(|_| anyhow::anyhow!("AES-GCM encryption failed"))?;
    let fragment_key = Secret(URL_SAFE_NO_PAD.encode(key));
    let key_check = key_check_of(link_id, &key);
    key.zeroize();
    let mut stored = nonce.to_vec();
    stored.extend_from_slice(&ciphertext);
    Ok(SealedPayload { stored, fragment_key, key_check })
}

/// Opens a payload sealed by [`seal_link_payload`]. The server never does this
/// (it never has the key); tests and the CLI use it to play the browser's part.
pub fn open_link_payload(link_id: &str, stored: &[u8], fragment_key: &str) -> anyhow::Result<Vec<u8>> {
    let key = URL_SAFE_NO_PAD.decode(fragment_key).map_err(|_| anyhow::anyhow!("key is not base64url"))?;
    if stored.len() < 12 + 16 {
        anyhow::bail!("payload too short");
    }
    let (nonce, ciphertext) = stored.split_at(12);
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| anyhow::anyhow!("bad AES key length"))?;
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: link_id.as_bytes() })
        .map_err(|_| anyhow::anyhow!("payload does not open with this key"))
}

/// The server's own key, for the few secrets it must be able to read back
/// (the owner's TOTP secret). Kept in a file outside the database, so a copy
/// of the database alone reveals nothing.
pub struct MasterKey([u8; 32]);

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A key written as text: base64 (standard or URL-safe, padded or not)
    /// or hex of exactly 32 bytes, surrounding whitespace ignored. This is
    /// what `openssl rand -base64 32` makes, and what a Docker secret holds.
    pub fn from_text(text: &str) -> Option<Self> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        let text = text.trim();
        let mut decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()
        } else {
            [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(text).ok())
        }?;
        let key: Option<[u8; 32]> = decoded.as_slice().try_into().ok();
        decoded.zeroize();
        key.map(Self)
    }

    /// Reads the key file, creating it (32 random bytes, mode 0600) if
    /// absent. The file holds the 32 bytes themselves, or their base64 or
    /// hex text ([`MasterKey::from_text`]).
    pub fn load_or_create(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        match std::fs::read(path) {
            Ok(mut bytes) => {
                let raw: Option<[u8; 32]> = bytes.as_slice().try_into().ok();
                let key = raw.map(Self).or_else(|| std::str::from_utf8(&bytes).ok().and_then(Self::from_text));
                let len = bytes.len();
                bytes.zeroize();
                key.ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} must hold 32 bytes, or their base64 or hex (it has {len} bytes that are neither)",
                        path.display()
                    )
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).with_context(|| format!("creating key file {}", path.display()))?;
                std::io::Write::write_all(&mut file, &key).with_context(|| format!("writing {}", path.display()))?;
                Ok(Self(key))
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading key file {}", path.display()))),
        }
    }

    /// nonce || AES-256-GCM(plaintext), bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let nonce = random_bytes::<12>()?;
        let cipher = Aes256Gcm::new_from_slice(&self.0).map_err(|_| anyhow::anyhow!("bad AES key length"))?;
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| anyhow::anyhow!("AES-GCM encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, context: &str, stored: &[u8]) -> anyhow::Result<Vec<u8>> {
        if stored.len() < 28 {
            anyhow::bail!("sealed value too short");
        }
        let (nonce, ct) = stored.split_at(12);
        let cipher = Aes256Gcm::new_from_slice(&self.0).map_err(|_| anyhow::anyhow!("bad AES key length"))?;
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() })
            .map_err(|_| anyhow::anyhow!("sealed value does not open with the master key (was the key file replaced?)"))
    }

    /// HMAC-SHA256 of `message` under the master key, base64url: a value only
    /// this portal can make, and check by making it again.
    pub fn mac(&self, message: &str) -> String {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            // HMAC takes keys of any length; never reached.
            return String::new();
        };
        mac.update(message.as_bytes());
        b64url(&mac.finalize().into_bytes())
    }
}

/// Base64url without padding, for values sent to the browser.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("AKIAEXAMPLESECRET");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
    }

    #[test]
    fn a_sealed_payload_opens_only_with_its_key_and_link_id() {
        let sealed = seal_link_payload("link-1", b"hello").unwrap();
        let opened = open_link_payload("link-1", &sealed.stored, sealed.fragment_key.expose()).unwrap();
        assert_eq!(opened, b"hello");
        assert!(open_link_payload("link-2", &sealed.stored, sealed.fragment_key.expose()).is_err());
        let other = seal_link_payload("link-1", b"x").unwrap();
        assert!(open_link_payload("link-1", &sealed.stored, other.fragment_key.expose()).is_err());
    }

    #[test]
    fn the_stored_payload_does_not_contain_the_plaintext() {
        let sealed = seal_link_payload("id", b"SECRETSECRETSECRET").unwrap();
        assert!(!sealed.stored.windows(6).any(|w| w == b"SECRET"));
    }

    #[test]
    fn the_master_key_is_created_once_and_opens_what_it_sealed() {
        let dir = tempfile_dir();
        let path = dir.join("master.key");
        let key = MasterKey::load_or_create(&path).unwrap();
        let sealed = key.seal("totp:1", b"shared secret").unwrap();
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(again.open("totp:1", &sealed).unwrap(), b"shared secret");
        assert!(again.open("totp:2", &sealed).is_err(), "bound to its context");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(MasterKey::load_or_create(&path).is_err());
        // A Docker secret made with `openssl rand -base64 32` (text, with a newline) works too.
        let text = format!("{}\n", base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
        std::fs::write(&path, text).unwrap();
        let from_text = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(from_text.open("ctx", &MasterKey([7u8; 32]).seal("ctx", b"x").unwrap()).unwrap(), b"x");
        assert!(MasterKey::from_text(&"ab".repeat(32)).is_some(), "hex");
        assert!(MasterKey::from_text("c2hvcnQ=").is_none(), "base64 of fewer than 32 bytes");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("egx-crypto-{}", new_public_id().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn tokens_are_unique_and_digests_are_stable() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "diff"));
    }
}
