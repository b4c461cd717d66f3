//! Typed configuration, read from `EGX_*` environment variables and validated
//! once at start-up. Every error names the variable and says what to do, so a
//! bad deployment fails fast instead of on the first "add teammate".

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::BucketName;
use crate::domain::multipart::MIN_PART_BYTES;

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

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the portal needs to run. Contains no secrets: AWS credentials
/// come from the standard AWS chain, never from here.
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
    /// File holding the server's master key (created on first start).
    pub master_key_file: PathBuf,
    /// Reverse proxies whose `X-Forwarded-For` is believed (empty: none).
    pub trusted_proxies: Vec<IpNet>,
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
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
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

        let listen_raw = get("EGX_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen = listen_raw
            .parse()
            .map_err(|_| problem("EGX_LISTEN", format!("{listen_raw:?} is not an address like 127.0.0.1:8080")))?;

        let public_url = get("EGX_PUBLIC_URL").map(|raw| parse_public_url(&raw)).transpose()?;

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

        let master_key_file =
            get("EGX_MASTER_KEY_FILE").map(PathBuf::from).unwrap_or_else(|| data_dir.join("master.key"));

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
            master_key_file,
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
