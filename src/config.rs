//! Typed configuration, read from `EGX_*` environment variables (and,
//! optionally, a `KEY=VALUE` file named by `EGX_CONFIG_FILE`; the environment
//! wins) and validated once at start-up. Every error names the variable (or
//! the file and line) and says what to do, so a bad deployment fails fast
//! instead of on the first "add teammate".
//!
//! Secrets (the master key, static AWS keys) can also be given as `X_FILE`,
//! the Docker-secrets convention: the value is read from that file when `X`
//! is unset. Secrets live in [`Secret`]s, so `Debug` never prints them.
//! [`VARIABLES`] lists every setting; a test keeps it, `.env.example` and the
//! README's table in step.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::crypto::Secret;
use crate::domain::BucketName;
use crate::domain::multipart::MIN_PART_BYTES;

/// Every variable the portal reads, in the order the README documents them.
pub const VARIABLES: &[&str] = &[
    "EGX_CONFIG_FILE",
    "EGX_BUCKET",
    "EGX_REGION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "EGX_PUBLIC_URL",
    "EGX_LISTEN",
    "EGX_DATA_DIR",
    "EGX_TRUSTED_PROXIES",
    "EGX_S3_ENDPOINT",
    "EGX_IAM_ENDPOINT",
    "EGX_STS_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_ACCESS_KEY_ID_FILE",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY_FILE",
    "AWS_SESSION_TOKEN",
    "AWS_SESSION_TOKEN_FILE",
    "AWS_PROFILE",
    "EGX_MASTER_KEY",
    "EGX_MASTER_KEY_FILE",
    "EGX_LINK_TTL_HOURS",
    "EGX_SETUP_TTL_MINUTES",
    "EGX_LINK_RATE_PER_MINUTE",
    "EGX_PRESIGN_TTL_SECONDS",
    "EGX_MAX_FILE_BYTES",
    "EGX_MULTIPART_THRESHOLD_BYTES",
    "EGX_PART_SIZE_BYTES",
    "EGX_STALE_UPLOAD_HOURS",
    "EGX_SESSION_IDLE_MINUTES",
    "EGX_SESSION_ABSOLUTE_HOURS",
    "EGX_KEY_VERIFY_SECONDS",
    "EGX_AUDIT_RETENTION_DAYS",
    "EGX_KEY_MAX_AGE_DAYS",
    "EGX_KEY_UNUSED_DAYS",
    "EGX_ROTATION_GRACE_DAYS",
    "EGX_REQUEST_TIMEOUT_SECONDS",
    "EGX_SHUTDOWN_TIMEOUT_SECONDS",
    "EGX_READY_CACHE_SECONDS",
    "EGX_METRICS_LISTEN",
    "EGX_LOG_FORMAT",
    "RUST_LOG",
];

/// The variables whose value is a secret (accepted as `X_FILE` too).
pub const SECRET_VARIABLES: &[&str] =
    &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "EGX_MASTER_KEY"];

/// A configuration problem, phrased for the person running the portal.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn problem(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { variable, message: message.into() }
}

/// Static AWS keys given to the portal itself (else the standard chain decides).
#[derive(Debug, Clone)]
pub struct StaticAwsKeys {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// Where the server's master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// A file holding the key, created (32 random bytes, mode 0600) if absent.
    File(PathBuf),
    /// The key itself (base64 or hex of 32 bytes), from `EGX_MASTER_KEY`.
    Value(Secret),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the portal needs to run. The few secrets in it are
/// [`Secret`]s, so `{:?}` prints no secret.
#[derive(Debug, Clone)]
pub struct Config {
    /// The one bucket teammates upload into.
    pub bucket: BucketName,
    /// The bucket's region (S3 signatures are region-bound).
    pub region: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URL people use to reach the portal (links are built from it).
    /// `None`: derived from the bound address (local use and tests).
    pub public_url: Option<url::Url>,
    /// Folder holding the SQLite database.
    pub data_dir: PathBuf,
    /// Custom endpoints for S3/IAM/STS-compatible services (path-style S3).
    pub s3_endpoint: Option<url::Url>,
    pub iam_endpoint: Option<url::Url>,
    pub sts_endpoint: Option<url::Url>,
    /// How long a one-time link stays valid.
    pub link_ttl_secs: i64,
    /// How long the first-run owner setup link stays valid.
    pub setup_ttl_secs: i64,
    /// How long a presigned upload URL stays valid.
    pub presign_ttl_secs: u64,
    /// Largest file a teammate may upload.
    pub max_file_bytes: u64,
    /// Files larger than this go up in parts (multipart); smaller ones in one PUT.
    pub multipart_threshold_bytes: u64,
    /// The preferred part size; grown per file so no upload needs more than 10,000 parts.
    pub part_size_bytes: u64,
    /// Unfinished multipart uploads idle for this long are aborted by the sweeper (C13).
    pub stale_upload_hours: u64,
    /// Session idle and absolute lifetimes.
    pub session_idle_secs: i64,
    pub session_absolute_secs: i64,
    /// How long to wait for a new access key to be accepted by AWS.
    pub key_verify_timeout_secs: u64,
    pub log_format: LogFormat,
    /// Audit events older than this many days are pruned (None: kept forever).
    pub audit_retention_days: Option<u64>,
    /// Requests per minute per client address to the one-time link and setup endpoints.
    pub link_rate_per_minute: u32,
    /// The server's master key (seals the owner's TOTP secret).
    pub master_key: MasterKeySource,
    /// Reverse proxies whose `X-Forwarded-For` is believed (empty: none).
    pub trusted_proxies: Vec<IpNet>,
    /// Static AWS keys from the environment, a `_FILE` or the config file;
    /// `None`: the standard AWS chain (profile, container/instance role, web identity).
    pub aws_keys: Option<StaticAwsKeys>,
    /// `AWS_PROFILE` when it came from the config file (the SDK reads the environment itself).
    pub aws_profile: Option<String>,
    /// Longest a request may take before the portal answers 408.
    pub request_timeout_secs: u64,
    /// How long in-flight requests may finish after SIGTERM before they are cut.
    pub shutdown_timeout_secs: u64,
    /// How long a `/readyz` result is reused (probes must not hammer AWS).
    pub ready_cache_secs: u64,
    /// Where the Prometheus `/metrics` listener binds (`None`: no metrics).
    pub metrics_listen: Option<SocketAddr>,
    /// The log filter (`RUST_LOG` syntax).
    pub log_filter: Option<String>,
    /// Things worth telling the operator that are not errors (unknown `EGX_*` variables).
    pub warnings: Vec<String>,
    /// Teammate keys: flag active keys older than this many days (rotate them).
    pub key_max_age_days: u64,
    /// Teammate keys: flag active keys not used for this many days.
    pub key_unused_days: u64,
    /// Key rotation: how long a replaced key stays deactivated before it is deleted.
    pub rotation_grace_secs: i64,
}

/// An address range like `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(raw: &str) -> Option<Self> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a.parse::<std::net::IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (raw.parse().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let bits = |a: [u8; 16], b: [u8; 16], n: u32| {
            let (a, b) = (u128::from_be_bytes(a), u128::from_be_bytes(b));
            n == 0 || (a ^ b) >> (128 - n) == 0
        };
        match (self.addr, ip) {
            (V4(net), V4(ip)) => {
                let n = u32::from(self.prefix);
                let (a, b) = (u32::from(net), u32::from(ip));
                n == 0 || (a ^ b) >> (32 - n) == 0
            }
            (V6(net), V6(ip)) => bits(net.octets(), ip.octets(), u32::from(self.prefix)),
            (V6(net), V4(ip)) => bits(net.octets(), ip.to_ipv6_mapped().octets(), u32::from(self.prefix)),
            (V4(_), V6(ip)) => ip.to_ipv4_mapped().is_some_and(|v4| self.contains(v4.into())),
        }
    }
}

/// Largest object a single PUT may create (S3's limit: 5 GiB).
pub const SINGLE_PUT_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// Largest object S3 stores (5 TiB), so the largest file the portal can accept.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

impl Config {
    /// Reads the configuration from the process environment and, when
    /// `EGX_CONFIG_FILE` names one, the config file (the environment wins).
    pub fn from_env() -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let file = match env("EGX_CONFIG_FILE") {
            Some(path) => Some(ConfigFile::read(Path::new(path.trim()))?),
            None => None,
        };
        let mut config =
            Self::from_lookup(|name| env(name).or_else(|| file.as_ref().and_then(|f| f.get(name).map(str::to_owned))))?;
        let names: Vec<String> = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()).collect();
        config.warnings.extend(unknown_variables(names.iter().map(String::as_str)));
        Ok(config)
    }

    /// The listen address alone, for `healthcheck` (which needs nothing else).
    pub fn listen_from_env() -> Result<SocketAddr, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let from_file = match env("EGX_CONFIG_FILE") {
            Some(path) => ConfigFile::read(Path::new(path.trim()))?.get("EGX_LISTEN").map(str::to_owned),
            None => None,
        };
        parse_listen(env("EGX_LISTEN").or(from_file))
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let bucket_raw = get("EGX_BUCKET")
            .ok_or_else(|| problem("EGX_BUCKET", "is not set: give the name of the S3 bucket teammates upload into"))?;
        let bucket = BucketName::parse(&bucket_raw).map_err(|e| problem("EGX_BUCKET", e.to_string()))?;

        let region =
            get("EGX_REGION").or_else(|| get("AWS_REGION")).or_else(|| get("AWS_DEFAULT_REGION")).ok_or_else(|| {
                problem(
                    "EGX_REGION",
                    format!(
                        "is not set (nor AWS_REGION): set it to the region of bucket {bucket} \
                         (`aws s3api get-bucket-location --bucket {bucket}` tells it; \
                         an empty answer means us-east-1)"
                    ),
                )
            })?;
        if !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(problem("EGX_REGION", format!("{region:?} is not a region name like eu-central-1")));
        }

        let listen = parse_listen(get("EGX_LISTEN"))?;

        let public_url = get("EGX_PUBLIC_URL").map(|raw| parse_public_url(&raw)).transpose()?;
        if public_url.is_none() && listen.ip().is_unspecified() {
            return Err(problem(
                "EGX_PUBLIC_URL",
                format!(
                    "is not set, and EGX_LISTEN={listen} listens on every interface: set EGX_PUBLIC_URL to the \
                     address people open (e.g. https://upload.example.com); links, cookies and CSRF checks use it"
                ),
            ));
        }

        let data_dir = PathBuf::from(get("EGX_DATA_DIR").unwrap_or_else(|| "./data".to_owned()));

        let endpoint = |name: &'static str| -> Result<Option<url::Url>, ConfigError> {
            get(name)
                .map(|raw| {
                    let url = url::Url::parse(&raw).map_err(|e| problem(name, format!("{raw:?} is not a URL: {e}")))?;
                    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                        return Err(problem(name, format!("{raw:?} must be an http(s) URL with a host")));
                    }
                    Ok(url)
                })
                .transpose()
        };
        let s3_endpoint = endpoint("EGX_S3_ENDPOINT")?;
        let iam_endpoint = endpoint("EGX_IAM_ENDPOINT")?;
        // STS follows IAM when only IAM is overridden: emulators serve both.
        let sts_endpoint = endpoint("EGX_STS_ENDPOINT")?.or_else(|| iam_endpoint.clone());

        let number = |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => {
                    let value: u64 =
                        raw.parse().map_err(|_| problem(name, format!("{raw:?} is not a whole number")))?;
                    if value < min || value > max {
                        return Err(problem(name, format!("{value} is outside {min}..={max}")));
                    }
                    Ok(value)
                }
            }
        };
        let link_ttl_hours = number("EGX_LINK_TTL_HOURS", 72, 1, 24 * 30)?;
        let setup_ttl_minutes = number("EGX_SETUP_TTL_MINUTES", 60, 1, 60)?;
        let presign_ttl_secs = number("EGX_PRESIGN_TTL_SECONDS", 900, 30, 3600)?;
        let max_file_bytes = number("EGX_MAX_FILE_BYTES", MAX_OBJECT_BYTES, 1, MAX_OBJECT_BYTES)?;
        // Never a single PUT above 5 GiB (C14); parts never below 5 MiB (C12).
        let multipart_threshold_bytes =
            number("EGX_MULTIPART_THRESHOLD_BYTES", 100 * 1024 * 1024, MIN_PART_BYTES, SINGLE_PUT_LIMIT)?;
        let part_size_bytes = number("EGX_PART_SIZE_BYTES", 16 * 1024 * 1024, MIN_PART_BYTES, SINGLE_PUT_LIMIT)?;
        let stale_upload_hours = number("EGX_STALE_UPLOAD_HOURS", 24, 1, 24 * 30)?;
        let session_idle_minutes = number("EGX_SESSION_IDLE_MINUTES", 60, 1, 24 * 60)?;
        let session_absolute_hours = number("EGX_SESSION_ABSOLUTE_HOURS", 12, 1, 24 * 7)?;
        let key_verify_timeout_secs = number("EGX_KEY_VERIFY_SECONDS", 30, 0, 300)?;

        let audit_retention_days = match number("EGX_AUDIT_RETENTION_DAYS", 0, 0, 36_500)? {
            0 => None,
            days => Some(days),
        };

        let master_key = match (get("EGX_MASTER_KEY"), get("EGX_MASTER_KEY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(problem(
                    "EGX_MASTER_KEY",
                    "and EGX_MASTER_KEY_FILE are both set: keep one (the file is the safer place)",
                ));
            }
            (Some(value), None) => {
                let value = Secret::new(value);
                if crate::crypto::MasterKey::from_text(value.expose()).is_none() {
                    return Err(problem(
                        "EGX_MASTER_KEY",
                        "must be 32 bytes in base64 or hex (make one with `openssl rand -base64 32`)",
                    ));
                }
                MasterKeySource::Value(value)
            }
            (None, Some(path)) => MasterKeySource::File(PathBuf::from(path)),
            (None, None) => MasterKeySource::File(data_dir.join("master.key")),
        };

        let secret = |name: &'static str, file_variable: &'static str| read_secret(&get, name, file_variable);
        let aws_keys = match (
            secret("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID_FILE")?,
            secret("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY_FILE")?,
            secret("AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN_FILE")?,
        ) {
            (Some(access_key_id), Some(secret_access_key), session_token) => {
                Some(StaticAwsKeys { access_key_id, secret_access_key, session_token })
            }
            (None, None, None) => None,
            (Some(_), None, _) => {
                return Err(problem(
                    "AWS_SECRET_ACCESS_KEY",
                    "is not set, but AWS_ACCESS_KEY_ID is: set both (or AWS_SECRET_ACCESS_KEY_FILE), or neither \
                     to use the standard AWS chain (profile, container or instance role, web identity)",
                ));
            }
            (None, _, _) => {
                return Err(problem(
                    "AWS_ACCESS_KEY_ID",
                    "is not set, but AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN is: set the key id too \
                     (or AWS_ACCESS_KEY_ID_FILE)",
                ));
            }
        };
        let aws_profile = get("AWS_PROFILE");

        let request_timeout_secs = number("EGX_REQUEST_TIMEOUT_SECONDS", 60, 5, 600)?;
        let shutdown_timeout_secs = number("EGX_SHUTDOWN_TIMEOUT_SECONDS", 8, 1, 300)?;
        let ready_cache_secs = number("EGX_READY_CACHE_SECONDS", 5, 0, 300)?;
        let metrics_listen = get("EGX_METRICS_LISTEN")
            .map(|raw| {
                raw.parse::<SocketAddr>().map_err(|_| {
                    problem("EGX_METRICS_LISTEN", format!("{raw:?} is not an address like 127.0.0.1:9090"))
                })
            })
            .transpose()?;
        if metrics_listen.is_some_and(|m| m == listen && m.port() != 0) {
            return Err(problem("EGX_METRICS_LISTEN", "must differ from EGX_LISTEN (metrics have their own listener)"));
        }
        let log_filter = get("RUST_LOG");

        let link_rate_per_minute = number("EGX_LINK_RATE_PER_MINUTE", 30, 1, 100_000)? as u32;

        let trusted_proxies = match get("EGX_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    IpNet::parse(p).ok_or_else(|| {
                        problem("EGX_TRUSTED_PROXIES", format!("{p:?} is not an address or range like 10.0.0.0/8"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let key_max_age_days = number("EGX_KEY_MAX_AGE_DAYS", 90, 1, 36_500)?;
        let key_unused_days = number("EGX_KEY_UNUSED_DAYS", 45, 1, 36_500)?;
        let rotation_grace_days = number("EGX_ROTATION_GRACE_DAYS", 7, 0, 365)?;

        let log_format = match get("EGX_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(problem("EGX_LOG_FORMAT", format!("{other:?} is not `text` or `json`")));
            }
        };

        Ok(Self {
            bucket,
            region,
            listen,
            public_url,
            data_dir,
            s3_endpoint,
            iam_endpoint,
            sts_endpoint,
            link_ttl_secs: (link_ttl_hours * 3600) as i64,
            setup_ttl_secs: (setup_ttl_minutes * 60) as i64,
            presign_ttl_secs,
            max_file_bytes,
            multipart_threshold_bytes,
            part_size_bytes,
            stale_upload_hours,
            session_idle_secs: (session_idle_minutes * 60) as i64,
            session_absolute_secs: (session_absolute_hours * 3600) as i64,
            key_verify_timeout_secs,
            log_format,
            audit_retention_days,
            trusted_proxies,
            link_rate_per_minute,
            master_key,
            aws_keys,
            aws_profile,
            request_timeout_secs,
            shutdown_timeout_secs,
            ready_cache_secs,
            metrics_listen,
            log_filter,
            warnings: Vec::new(),
            key_max_age_days,
            key_unused_days,
            rotation_grace_secs: (rotation_grace_days * 86_400) as i64,
        })
    }

    /// Path of the SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("egx-portal.sqlite")
    }
}

fn parse_listen(raw: Option<String>) -> Result<SocketAddr, ConfigError> {
    let raw = raw.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    raw.trim()
        .parse()
        .map_err(|_| problem("EGX_LISTEN", format!("{raw:?} is not an address like 127.0.0.1:8080 or 0.0.0.0:8080")))
}

/// A secret given as `name`, or read from the file `file_variable` names.
fn read_secret(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    file_variable: &'static str,
) -> Result<Option<Secret>, ConfigError> {
    match (get(name), get(file_variable)) {
        (Some(_), Some(_)) => Err(problem(name, format!("and {file_variable} are both set: keep one"))),
        (Some(value), None) => Ok(Some(Secret::new(value))),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(&path)
                .map_err(|e| problem(file_variable, format!("cannot read {path}: {e}")))?;
            let value = Secret::new(raw.trim_end_matches(['\n', '\r']));
            drop(raw);
            if value.expose().trim().is_empty() {
                return Err(problem(file_variable, format!("{path} is empty")));
            }
            Ok(Some(value))
        }
        (None, None) => Ok(None),
    }
}

/// `EGX_*` names the portal does not know (a typo is otherwise silent).
pub fn unknown_variables<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    names
        .filter(|n| n.starts_with("EGX_") && !VARIABLES.contains(n) && !n.starts_with("EGX_TEST_"))
        .map(|n| match closest(n) {
            Some(known) => format!("{n} is not a setting of egx-portal (did you mean {known}?); it is ignored"),
            None => format!("{n} is not a setting of egx-portal; it is ignored"),
        })
        .collect()
}

/// The known variable a typo most likely meant (edit distance at most 2).
fn closest(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    VARIABLES.iter().map(|v| (distance(name, v), *v)).filter(|(d, _)| *d <= 2).min().map(|(_, v)| v)
}

/// An `EGX_CONFIG_FILE`: `KEY=VALUE` lines, `#` comments and blank lines;
/// values may be quoted with `"` or `'`; in an unquoted value, ` #` starts
/// a comment; `export KEY=VALUE` is accepted so the same file can be
/// sourced by a shell. Unknown keys are errors (a typo is not ignored).
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    values: HashMap<String, String>,
}

impl ConfigFile {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| problem("EGX_CONFIG_FILE", format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the file's text; `name` appears in errors.
    pub fn parse(text: &str, name: &str) -> Result<Self, ConfigError> {
        let mut values = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let at = |what: String| problem("EGX_CONFIG_FILE", format!("{name} line {}: {what}", i + 1));
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
            let Some((key, value)) = line.split_once('=') else {
                return Err(at(format!("expected KEY=VALUE, found {:?}", truncate_for_error(line))));
            };
            let key = key.trim();
            if !VARIABLES.contains(&key) || key == "EGX_CONFIG_FILE" {
                let hint = closest(key).map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
                return Err(at(format!("{key:?} is not a setting of egx-portal{hint}")));
            }
            let value = value.trim();
            let value = match value.chars().next() {
                Some(q @ ('"' | '\'')) => match value[1..].strip_suffix(q) {
                    Some(inner) => inner,
                    None => return Err(at(format!("the value of {key} opens a {q} quote it does not close"))),
                },
                // Unquoted: a `#` after whitespace starts a comment (as in Compose env files).
                _ => match value.find(" #").or_else(|| value.find("\t#")) {
                    Some(i) => value[..i].trim_end(),
                    None => value,
                },
            };
            if values.insert(key.to_owned(), value.to_owned()).is_some() {
                return Err(at(format!("{key} is set twice")));
            }
        }
        Ok(Self { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }
}

/// A line quoted in an error, cut short: it may hold a secret.
fn truncate_for_error(line: &str) -> String {
    let shown: String = line.chars().take(12).collect();
    if shown.len() < line.len() { format!("{shown}…") } else { shown }
}

fn parse_public_url(raw: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw).map_err(|e| problem("EGX_PUBLIC_URL", format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(problem("EGX_PUBLIC_URL", format!("{raw:?} must be http(s)://host[:port]")));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(problem(
            "EGX_PUBLIC_URL",
            format!("{raw:?} must be an origin only (no path, query or fragment), e.g. https://upload.example.com"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn a_missing_bucket_is_named_in_the_error() {
        let err = config(&[("EGX_REGION", "us-east-1")]).unwrap_err();
        assert_eq!(err.variable, "EGX_BUCKET");
    }

    #[test]
    fn a_missing_region_says_how_to_find_it() {
        let err = config(&[("EGX_BUCKET", "data-bucket")]).unwrap_err();
        assert_eq!(err.variable, "EGX_REGION");
        assert!(err.message.contains("get-bucket-location --bucket data-bucket"), "{}", err.message);
    }

    #[test]
    fn aws_region_is_accepted_when_egx_region_is_absent() {
        let c = config(&[("EGX_BUCKET", "data-bucket"), ("AWS_REGION", "eu-central-1")]).unwrap();
        assert_eq!(c.region, "eu-central-1");
    }

    #[test]
    fn a_public_url_with_a_path_is_refused() {
        let err = config(&[
            ("EGX_BUCKET", "data-bucket"),
            ("EGX_REGION", "us-east-1"),
            ("EGX_PUBLIC_URL", "https://example.com/portal"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "EGX_PUBLIC_URL");
    }

    #[test]
    fn out_of_range_numbers_name_their_variable() {
        let err = config(&[
            ("EGX_BUCKET", "data-bucket"),
            ("EGX_REGION", "us-east-1"),
            ("EGX_PRESIGN_TTL_SECONDS", "999999"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "EGX_PRESIGN_TTL_SECONDS");
    }

    #[test]
    fn address_ranges_match_what_they_cover() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(IpNet::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
        assert!(!IpNet::parse("127.0.0.1").unwrap().contains("127.0.0.2".parse().unwrap()));
        assert!(IpNet::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("nonsense").is_none());
        let err = config(&[("EGX_BUCKET", "b-1"), ("EGX_REGION", "us-east-1"), ("EGX_TRUSTED_PROXIES", "10.0.0.1, x")])
            .unwrap_err();
        assert_eq!(err.variable, "EGX_TRUSTED_PROXIES");
    }

    #[test]
    fn a_part_size_below_5_mib_is_refused() {
        let err =
            config(&[("EGX_BUCKET", "data-bucket"), ("EGX_REGION", "us-east-1"), ("EGX_PART_SIZE_BYTES", "5000000")])
                .unwrap_err();
        assert_eq!(err.variable, "EGX_PART_SIZE_BYTES");
    }

    #[test]
    fn a_multipart_threshold_above_5_gib_is_refused() {
        let err = config(&[
            ("EGX_BUCKET", "data-bucket"),
            ("EGX_REGION", "us-east-1"),
            ("EGX_MULTIPART_THRESHOLD_BYTES", &(SINGLE_PUT_LIMIT + 1).to_string()),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "EGX_MULTIPART_THRESHOLD_BYTES");
    }

    fn base() -> Vec<(&'static str, String)> {
        vec![("EGX_BUCKET", "data-bucket".into()), ("EGX_REGION", "us-east-1".into())]
    }

    fn with(extra: &[(&'static str, String)]) -> Result<Config, ConfigError> {
        let mut pairs = base();
        pairs.extend_from_slice(extra);
        let map: HashMap<String, String> = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn temp_file(contents: &str) -> tempfile_path::TempPath {
        tempfile_path::write(contents)
    }

    /// A tiny temporary file helper (the crate's unit tests have no tempfile dependency).
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        pub fn write(contents: &str) -> TempPath {
            let name = format!("egx-config-test-{}", crate::crypto::new_public_id().unwrap());
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).unwrap();
            TempPath(path)
        }
    }

    #[test]
    fn a_secret_can_come_from_a_file_like_a_docker_secret() {
        let id = temp_file("AKIDEXAMPLE\n");
        let secret = temp_file("wJalrXUtnFEMI/K7MDENG\n");
        let c = with(&[
            ("AWS_ACCESS_KEY_ID_FILE", id.0.display().to_string()),
            ("AWS_SECRET_ACCESS_KEY_FILE", secret.0.display().to_string()),
        ])
        .unwrap();
        let keys = c.aws_keys.as_ref().unwrap();
        assert_eq!(keys.access_key_id.expose(), "AKIDEXAMPLE", "the trailing newline is dropped");
        assert_eq!(keys.secret_access_key.expose(), "wJalrXUtnFEMI/K7MDENG");
        assert!(!format!("{c:?}").contains("wJalrXUtnFEMI"), "Debug never prints a secret");
    }

    #[test]
    fn a_secret_and_its_file_together_are_refused_by_name() {
        let f = temp_file("x");
        let err = with(&[
            ("AWS_SECRET_ACCESS_KEY", "inline".into()),
            ("AWS_SECRET_ACCESS_KEY_FILE", f.0.display().to_string()),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "AWS_SECRET_ACCESS_KEY");
        assert!(err.message.contains("AWS_SECRET_ACCESS_KEY_FILE are both set"), "{}", err.message);
    }

    #[test]
    fn a_missing_or_empty_secret_file_names_its_variable_and_path() {
        let err =
            with(&[("AWS_ACCESS_KEY_ID", "AKID".into()), ("AWS_SECRET_ACCESS_KEY_FILE", "/nonexistent/k".into())])
                .unwrap_err();
        assert_eq!(err.variable, "AWS_SECRET_ACCESS_KEY_FILE");
        assert!(err.message.contains("/nonexistent/k"), "{}", err.message);
        let empty = temp_file("\n");
        let err = with(&[
            ("AWS_ACCESS_KEY_ID", "AKID".into()),
            ("AWS_SECRET_ACCESS_KEY_FILE", empty.0.display().to_string()),
        ])
        .unwrap_err();
        assert!(err.message.ends_with("is empty"), "{}", err.message);
    }

    #[test]
    fn half_a_static_key_pair_is_refused() {
        let err = with(&[("AWS_ACCESS_KEY_ID", "AKID".into())]).unwrap_err();
        assert_eq!(err.variable, "AWS_SECRET_ACCESS_KEY");
        let err = with(&[("AWS_SECRET_ACCESS_KEY", "s".into())]).unwrap_err();
        assert_eq!(err.variable, "AWS_ACCESS_KEY_ID");
        assert!(with(&[]).unwrap().aws_keys.is_none(), "no keys: the standard chain");
    }

    #[test]
    fn the_master_key_comes_from_a_file_by_default_or_from_its_variable() {
        let c = with(&[("EGX_DATA_DIR", "/var/lib/egx".into())]).unwrap();
        assert!(matches!(&c.master_key, MasterKeySource::File(p) if p == Path::new("/var/lib/egx/master.key")));
        let key = "A".repeat(43) + "=";
        let c = with(&[("EGX_MASTER_KEY", key)]).unwrap();
        assert!(matches!(c.master_key, MasterKeySource::Value(_)));
        let err = with(&[("EGX_MASTER_KEY", "too-short".into())]).unwrap_err();
        assert_eq!(err.variable, "EGX_MASTER_KEY");
        let err = with(&[("EGX_MASTER_KEY", "A".repeat(43) + "="), ("EGX_MASTER_KEY_FILE", "/k".into())]).unwrap_err();
        assert!(err.message.contains("both set"), "{}", err.message);
    }

    #[test]
    fn listening_on_every_interface_needs_a_public_url() {
        let err = with(&[("EGX_LISTEN", "0.0.0.0:8080".into())]).unwrap_err();
        assert_eq!(err.variable, "EGX_PUBLIC_URL");
        let c = with(&[("EGX_LISTEN", "0.0.0.0:8080".into()), ("EGX_PUBLIC_URL", "https://up.example.com".into())]);
        assert!(c.is_ok());
    }

    #[test]
    fn operational_settings_have_defaults_and_bounds() {
        let c = with(&[]).unwrap();
        assert_eq!((c.request_timeout_secs, c.shutdown_timeout_secs, c.ready_cache_secs), (60, 8, 5));
        assert!(c.metrics_listen.is_none(), "metrics are off by default");
        let c = with(&[("EGX_METRICS_LISTEN", "127.0.0.1:9090".into())]).unwrap();
        assert_eq!(c.metrics_listen.unwrap().port(), 9090);
        let err = with(&[("EGX_METRICS_LISTEN", "127.0.0.1:8080".into())]).unwrap_err();
        assert_eq!(err.variable, "EGX_METRICS_LISTEN", "not the same listener as the portal");
        let err = with(&[("EGX_SHUTDOWN_TIMEOUT_SECONDS", "0".into())]).unwrap_err();
        assert_eq!(err.variable, "EGX_SHUTDOWN_TIMEOUT_SECONDS");
    }

    #[test]
    fn a_config_file_is_read_line_by_line_and_errors_name_the_line() {
        let text = "# egx-portal\n\nEGX_BUCKET=from-file\nexport EGX_REGION=\"eu-central-1\"\nEGX_LINK_TTL_HOURS='24'\n\
                    EGX_PART_SIZE_BYTES=16777216   # 16 MiB\n";
        let file = ConfigFile::parse(text, "/etc/egx.conf").unwrap();
        assert_eq!(file.get("EGX_BUCKET"), Some("from-file"));
        assert_eq!(file.get("EGX_REGION"), Some("eu-central-1"));
        assert_eq!(file.get("EGX_LINK_TTL_HOURS"), Some("24"));
        assert_eq!(file.get("EGX_PART_SIZE_BYTES"), Some("16777216"), "an inline comment is dropped");

        let err = ConfigFile::parse("EGX_BUCKET=b\nEGX_BUKET=c\n", "/etc/egx.conf").unwrap_err();
        assert_eq!(err.variable, "EGX_CONFIG_FILE");
        assert!(err.message.starts_with("/etc/egx.conf line 2:"), "{}", err.message);
        assert!(err.message.contains("did you mean EGX_BUCKET?"), "{}", err.message);
        let err = ConfigFile::parse("just words\n", "f").unwrap_err();
        assert!(err.message.contains("line 1: expected KEY=VALUE"), "{}", err.message);
        let err = ConfigFile::parse("EGX_BUCKET=\"open\n", "f").unwrap_err();
        assert!(err.message.contains("quote"), "{}", err.message);
        let err = ConfigFile::parse("EGX_BUCKET=a\nEGX_BUCKET=b\n", "f").unwrap_err();
        assert!(err.message.contains("line 2: EGX_BUCKET is set twice"), "{}", err.message);
    }

    #[test]
    fn a_line_without_equals_is_not_echoed_whole() {
        // It may be a pasted secret.
        let err = ConfigFile::parse("wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n", "f").unwrap_err();
        assert!(!err.message.contains("wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"), "{}", err.message);
    }

    #[test]
    fn unknown_egx_variables_are_warned_about_with_a_suggestion() {
        let warnings =
            unknown_variables(["EGX_BUKET", "EGX_BUCKET", "EGX_TEST_MOTO_URL", "HOME", "EGX_NOPE"].into_iter());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("did you mean EGX_BUCKET?"));
        assert!(!warnings[1].contains("did you mean"));
    }

    #[test]
    fn every_variable_read_is_listed_and_documented() {
        let source = include_str!("config.rs");
        let code = source.split("#[cfg(test)]").next().unwrap();
        let mut read: Vec<&str> = Vec::new();
        for quoted in code.split('"').skip(1).step_by(2) {
            let is_name = (quoted.starts_with("EGX_") || quoted.starts_with("AWS_") || quoted == "RUST_LOG")
                && !quoted.ends_with('_')
                && quoted.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name && !read.contains(&quoted) {
                read.push(quoted);
            }
        }
        for name in &read {
            assert!(VARIABLES.contains(name), "{name} is read but not in VARIABLES");
        }
        let readme = include_str!("../README.md");
        let example = include_str!("../.env.example");
        for name in VARIABLES {
            assert!(readme.contains(&format!("`{name}`")), "{name} is missing from the README's table");
            assert!(example.contains(name), "{name} is missing from .env.example");
        }
        for name in SECRET_VARIABLES {
            assert!(VARIABLES.contains(&format!("{name}_FILE").as_str()) || *name == "EGX_MASTER_KEY", "{name}_FILE");
        }
    }

    #[test]
    fn sts_follows_a_custom_iam_endpoint() {
        let c = config(&[
            ("EGX_BUCKET", "data-bucket"),
            ("EGX_REGION", "us-east-1"),
            ("EGX_IAM_ENDPOINT", "http://localhost:9000"),
        ])
        .unwrap();
        assert_eq!(c.sts_endpoint.unwrap().as_str(), "http://localhost:9000/");
    }
}
