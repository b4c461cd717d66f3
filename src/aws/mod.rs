//! AWS clients, built once at start-up and shared.
//!
//! Choices made here on purpose:
//! * The SDK's default features are off (lean build); the HTTPS client is
//!   passed explicitly (rustls + ring), and the behaviour version is pinned,
//!   so nothing is left to panic at request time (C19).
//! * S3 request checksums are calculated only "when required": a presigned
//!   PUT must never carry a checksum of an empty body (C01).
//! * Custom endpoints (emulators, S3-compatible services) use path-style
//!   addressing, which works without wildcard DNS (C08).
//! * Stalled-stream protection stays on with a generous grace period: the
//!   portal's own calls move no file bytes, so a stall is a real fault (C21).
//! * Credentials come from the standard chain; start-up fails with a clear
//!   message when none can be found (C20).

pub mod faults;
pub mod iam;
pub mod iam_keys;
pub mod iam_removal;
pub mod permissions;
pub mod s3;

use std::time::Duration;

use anyhow::Context as _;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::sync::OnceCell;

use crate::config::Config;

/// The SDK clients the portal uses.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    sdk_config: SdkConfig,
    sts_endpoint: Option<String>,
    /// The HTTP client of the IAM and STS clients (the fault seam in tests).
    iam_http: SharedHttpClient,
    account_id: std::sync::Arc<OnceCell<String>>,
}

/// The HTTPS client every AWS client uses (rustls with ring).
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}

impl AwsClients {
    /// Builds the clients and checks that credentials can be found (C20).
    /// `credentials` overrides the configuration (used by tests that talk to
    /// several emulators from one process).
    pub async fn build(config: &Config, credentials: Option<Credentials>) -> anyhow::Result<Self> {
        Self::build_inner(config, credentials, None, true).await
    }

    /// Builds the clients without looking for credentials yet, for commands
    /// that do not call AWS (`owner …`, `backup`): nothing is sent until a
    /// client is used.
    pub async fn build_unchecked(config: &Config) -> anyhow::Result<Self> {
        Self::build_inner(config, None, None, false).await
    }

    /// [`AwsClients::build`], with IAM and STS requests going through a
    /// fault-injecting seam (tests that make AWS fail on purpose).
    pub async fn build_with(
        config: &Config,
        credentials: Option<Credentials>,
        faults: Option<&faults::Faults>,
    ) -> anyhow::Result<Self> {
        Self::build_inner(config, credentials, faults, true).await
    }

    async fn build_inner(
        config: &Config,
        credentials: Option<Credentials>,
        faults: Option<&faults::Faults>,
        check: bool,
    ) -> anyhow::Result<Self> {
        // Static keys from the configuration (env, `_FILE`, config file) win
        // over the standard chain, as AWS_ACCESS_KEY_ID does in every SDK.
        let credentials = credentials.or_else(|| {
            config.aws_keys.as_ref().map(|k| {
                Credentials::new(
                    k.access_key_id.expose(),
                    k.secret_access_key.expose(),
                    k.session_token.as_ref().map(|t| t.expose().to_owned()),
                    None,
                    "egx-portal-config",
                )
            })
        });
        let iam_http = match faults {
            Some(f) => f.wrap(http_client()),
            None => http_client(),
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .http_client(http_client())
            .retry_config(RetryConfig::standard().with_max_attempts(4))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            )
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled().grace_period(Duration::from_secs(30)).build(),
            );
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        } else if let Some(profile) = &config.aws_profile {
            loader = loader.profile_name(profile);
        }
        let sdk_config = loader.load().await;

        let provider = sdk_config.credentials_provider().context(
            "no AWS credentials provider is configured: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
             AWS_PROFILE, or run with an instance/task role or web identity",
        )?;
        if check {
            tokio::time::timeout(Duration::from_secs(15), provider.provide_credentials())
                .await
                .map_err(|_| anyhow::anyhow!("timed out looking for AWS credentials"))
                .and_then(|r| r.map_err(anyhow::Error::new))
                .context(
                    "no AWS credentials could be found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                     (or their _FILE variants), or AWS_PROFILE, or run with a container/instance role or \
                     web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE)",
                )?;
        }

        let s3 = {
            let mut b = aws_sdk_s3::config::Builder::from(&sdk_config)
                .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
            if let Some(endpoint) = &config.s3_endpoint {
                b = b.endpoint_url(endpoint.as_str().trim_end_matches('/')).force_path_style(true);
            }
            aws_sdk_s3::Client::from_conf(b.build())
        };
        let iam = {
            let mut b = aws_sdk_iam::config::Builder::from(&sdk_config).http_client(iam_http.clone());
            if let Some(endpoint) = &config.iam_endpoint {
                b = b.endpoint_url(endpoint.as_str().trim_end_matches('/'));
            }
            aws_sdk_iam::Client::from_conf(b.build())
        };
        let sts_endpoint = config.sts_endpoint.as_ref().map(|e| e.as_str().trim_end_matches('/').to_owned());
        let sts = sts_client(&sdk_config, &iam_http, sts_endpoint.as_deref(), None);
        Ok(Self { iam, s3, sts, sdk_config, sts_endpoint, iam_http, account_id: Default::default() })
    }

    /// The AWS account id of the portal's own identity (cached).
    pub async fn account_id(&self) -> anyhow::Result<String> {
        let id = self
            .account_id
            .get_or_try_init(|| async {
                let who = self.sts.get_caller_identity().send().await.context("STS GetCallerIdentity")?;
                who.account().map(str::to_owned).context("GetCallerIdentity returned no account")
            })
            .await?;
        Ok(id.clone())
    }

    /// An STS client that signs with the given (teammate's) key.
    pub fn sts_with_key(&self, credentials: Credentials) -> aws_sdk_sts::Client {
        sts_client(&self.sdk_config, &self.iam_http, self.sts_endpoint.as_deref(), Some(credentials))
    }
}

fn sts_client(
    sdk: &SdkConfig,
    http: &SharedHttpClient,
    endpoint: Option<&str>,
    credentials: Option<Credentials>,
) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::config::Builder::from(sdk).http_client(http.clone());
    if let Some(endpoint) = endpoint {
        b = b.endpoint_url(endpoint);
    }
    if let Some(credentials) = credentials {
        b = b.credentials_provider(credentials);
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

/// The error code AWS returned, if any ("NoSuchEntity", "Throttling", …).
pub fn error_code<E, R>(err: &aws_sdk_iam::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ObjectKey;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
    }

    async fn clients(config: &Config) -> AwsClients {
        let credentials = Credentials::new("AKIDEXAMPLE", "example-secret", None, None, "unit-test");
        AwsClients::build(config, Some(credentials)).await.unwrap()
    }

    async fn presigned_url(config: &Config) -> String {
        let aws = clients(config).await;
        let key = ObjectKey::parse("streaming/probe.csv").unwrap();
        let put = s3::presign_put(
            &aws.s3,
            &config.bucket,
            &key,
            "text/csv",
            10_240,
            s3::WriteCondition::Absent,
            "probe",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        put.url
    }

    #[tokio::test]
    async fn a_custom_endpoint_gets_path_style_urls_that_resolve_to_it() {
        // C08: an S3-compatible server on localhost has no wildcard DNS for bucket subdomains.
        let config = config(&[
            ("EGX_BUCKET", "egx-demo"),
            ("EGX_REGION", "us-east-1"),
            ("EGX_S3_ENDPOINT", "http://localhost:9000"),
        ]);
        let url = url::Url::parse(&presigned_url(&config).await).unwrap();
        assert_eq!(url.origin().ascii_serialization(), "http://localhost:9000");
        assert_eq!(url.path(), "/egx-demo/streaming/probe.csv");
    }

    #[tokio::test]
    async fn on_aws_urls_are_virtual_hosted_in_the_buckets_region_and_allowed_by_the_csp() {
        let config = config(&[("EGX_BUCKET", "egx-data"), ("EGX_REGION", "eu-central-1")]);
        let url = url::Url::parse(&presigned_url(&config).await).unwrap();
        assert_eq!(url.host_str(), Some("egx-data.s3.eu-central-1.amazonaws.com"));
        assert_eq!(url.path(), "/streaming/probe.csv");
        let state_csp = crate::web::headers::connect_sources_for(&config);
        assert!(state_csp.split(' ').any(|src| src == "https://egx-data.s3.eu-central-1.amazonaws.com"), "{state_csp}");
    }

    #[tokio::test]
    async fn stalled_stream_protection_is_on_with_a_deliberate_grace_period() {
        // C21: the portal's own S3 calls move no file bytes; a 30 s grace period
        // tolerates slow links without hiding a real stall.
        let config = config(&[("EGX_BUCKET", "egx-data"), ("EGX_REGION", "eu-central-1")]);
        let aws = clients(&config).await;
        let stalled = aws.s3.config().stalled_stream_protection().unwrap();
        assert!(stalled.is_enabled());
        assert_eq!(stalled.grace_period(), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_call_to_an_unreachable_endpoint_is_an_error_not_a_panic() {
        // C19: default features off, so the HTTP client and behaviour version are
        // set by hand; a missing one would show up here as a construction failure.
        let config = config(&[
            ("EGX_BUCKET", "egx-data"),
            ("EGX_REGION", "us-east-1"),
            ("EGX_S3_ENDPOINT", "http://127.0.0.1:9"),
            ("EGX_IAM_ENDPOINT", "http://127.0.0.1:9"),
        ]);
        let aws = clients(&config).await;
        // (Concurrently: each retries a refused connection a few times.)
        let (s3, iam, sts) = tokio::join!(
            aws.s3.head_bucket().bucket("egx-data").send(),
            aws.iam.list_users().send(),
            aws.sts.get_caller_identity().send(),
        );
        let s3_err = s3.unwrap_err();
        assert!(matches!(s3_err, aws_sdk_s3::error::SdkError::DispatchFailure(_)), "{s3_err:?}");
        let iam_err = iam.unwrap_err();
        assert!(matches!(iam_err, aws_sdk_iam::error::SdkError::DispatchFailure(_)), "{iam_err:?}");
        let sts_err = sts.unwrap_err();
        assert!(matches!(sts_err, aws_sdk_sts::error::SdkError::DispatchFailure(_)), "{sts_err:?}");
    }
}
