//! `egx-portal doctor` and `/admin/doctor`: is the bucket ready for browser
//! uploads from this portal? The same checks serve both:
//!
//! * **bucket** — reachable with the portal's credentials, and in the
//!   configured region (C07: the bucket's real region is reported when it differs);
//! * **cors** — a rule allows the portal's exact origin with PUT and the
//!   headers the upload page sends, and exposes `ETag` (C10, C11);
//! * **lifecycle** — a rule aborts incomplete multipart uploads (C13);
//! * **checksums** — the portal's presigned URLs carry no checksum parameter (C01);
//! * **permissions** — the portal's own AWS identity may do everything it
//!   needs (IAM policy simulation, [`crate::aws::permissions`]); "could not
//!   check" where the simulation cannot run (emulators, root), never a pass.
//!
//! [`apply_fixes`] sets the missing CORS and lifecycle rules, keeping the
//! bucket's other rules. Nothing here changes anything unless asked.

use std::fmt;

use anyhow::Context as _;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, CorsConfiguration, CorsRule, ExpirationStatus,
    LifecycleRule, LifecycleRuleFilter,
};
use serde::Serialize;

use crate::config::Config;
use crate::domain::{ObjectKey, Prefix};

/// Headers the upload page sets on its requests to S3 (besides those the
/// browser sets itself): the signed Content-Type of a single PUT, the
/// `If-None-Match: *` that refuses to overwrite, and the `If-Match` that
/// makes a teammate's replace of their own file exact, and the signed
/// `x-amz-meta-egx-upload` that ties the object to its portal upload.
pub const CLIENT_HEADERS: [&str; 4] = ["content-type", "if-none-match", "if-match", "x-amz-meta-egx-upload"];

/// The id of the lifecycle rule the portal adds.
pub const LIFECYCLE_RULE_ID: &str = "egx-abort-incomplete-multipart-uploads";

/// Days after which S3 itself aborts an unfinished upload (the portal's own
/// sweeper usually does it sooner, after EGX_STALE_UPLOAD_HOURS).
pub const ABORT_AFTER_DAYS: i32 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    /// The check could not run here (the detail says why); not a failure.
    Unchecked,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Unchecked => "?",
        })
    }
}

/// One check's result, phrased for the owner.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `bucket`, `cors`, `lifecycle` or `checksums`.
    pub id: &'static str,
    pub status: Status,
    /// What was found, and what to do about it.
    pub detail: String,
    /// The exact setting to apply, when one is missing (JSON for `aws s3api`).
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bucket: String,
    pub origin: String,
    pub checks: Vec<Check>,
}

impl Report {
    /// No check failed (an unchecked one is not a failure).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// The CORS rule the portal needs.
pub fn cors_rule(origin: &str) -> anyhow::Result<CorsRule> {
    let mut rule = CorsRule::builder()
        .id("egx-portal-uploads")
        .allowed_origins(origin)
        .allowed_methods("PUT")
        .expose_headers("ETag")
        .max_age_seconds(3000);
    for header in CLIENT_HEADERS {
        rule = rule.allowed_headers(header);
    }
    rule.build().context("building the CORS rule")
}

/// The CORS rule the portal needs, as `aws s3api put-bucket-cors` JSON.
pub fn cors_json(origin: &str) -> String {
    let value = serde_json::json!({ "CORSRules": [{
        "ID": "egx-portal-uploads",
        "AllowedOrigins": [origin],
        "AllowedMethods": ["PUT"],
        "AllowedHeaders": CLIENT_HEADERS,
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3000,
    }]});
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

pub fn lifecycle_json() -> String {
    let value = serde_json::json!({ "Rules": [{
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": { "Prefix": "" },
        "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": ABORT_AFTER_DAYS },
    }]});
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// `*` in a CORS origin or header pattern matches any run of characters.
fn glob(pattern: &str, value: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let value = value.to_ascii_lowercase();
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len() && value.starts_with(head) && value.ends_with(tail)
        }
    }
}

/// What the bucket's CORS rules do for the portal's uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsVerdict {
    Ok,
    NoRules,
    /// No rule allows this origin with PUT; the origins the rules do name.
    OriginNotAllowed(Vec<String>),
    /// The matching rule does not allow these request headers.
    HeadersNotAllowed(Vec<String>),
    /// The matching rule does not expose ETag (multipart cannot work, C11).
    EtagNotExposed,
}

/// Evaluates CORS rules as S3 does: the first rule matching origin and method is used.
pub fn evaluate_cors(rules: &[CorsRule], origin: &str) -> CorsVerdict {
    if rules.is_empty() {
        return CorsVerdict::NoRules;
    }
    let matching = rules.iter().find(|r| {
        r.allowed_origins().iter().any(|o| glob(o, origin))
            && r.allowed_methods().iter().any(|m| m.eq_ignore_ascii_case("PUT"))
    });
    let Some(rule) = matching else {
        let named = rules.iter().flat_map(|r| r.allowed_origins().iter().cloned()).collect();
        return CorsVerdict::OriginNotAllowed(named);
    };
    let missing: Vec<String> = CLIENT_HEADERS
        .iter()
        .filter(|h| !rule.allowed_headers().iter().any(|p| glob(p, h)))
        .map(|h| (*h).to_owned())
        .collect();
    if !missing.is_empty() {
        return CorsVerdict::HeadersNotAllowed(missing);
    }
    if !rule.expose_headers().iter().any(|h| h.eq_ignore_ascii_case("etag")) {
        return CorsVerdict::EtagNotExposed;
    }
    CorsVerdict::Ok
}

fn service_code<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    err: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<String> {
    err.as_service_error().and_then(|e| e.code()).map(str::to_owned)
}

async fn check_bucket(s3: &aws_sdk_s3::Client, config: &Config) -> Check {
    let bucket = config.bucket.as_str();
    let configured = &config.region;
    let fail = |detail: String| Check { id: "bucket", status: Status::Fail, detail, fix: None };
    let head = s3.head_bucket().bucket(bucket).send().await;
    let header_region = match &head {
        Ok(out) => out.bucket_region().map(str::to_owned),
        Err(e) => e.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_owned),
    };
    if let Err(e) = &head {
        let status = e.raw_response().map(|r| r.status().as_u16());
        match (status, &header_region) {
            (Some(301 | 400), Some(real)) if real != configured => {}
            (Some(404), _) => {
                return fail(format!("Bucket {bucket} does not exist (or not at this endpoint). Check EGX_BUCKET."));
            }
            (Some(403), _) => {
                return fail(format!(
                    "The portal's AWS credentials may not access bucket {bucket} (403). Grant s3:ListBucket, \
                     s3:GetBucket*, s3:PutBucketCORS, s3:PutLifecycleConfiguration and object access on it."
                ));
            }
            _ => return fail(format!("Bucket {bucket} could not be reached: {}.", crate::aws::s3::describe(e))),
        }
    }
    // GetBucketLocation: an empty answer means us-east-1.
    let location = s3.get_bucket_location().bucket(bucket).send().await.ok().map(|out| {
        out.location_constraint()
            .map(|c| c.as_str().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "us-east-1".to_owned())
    });
    let real = header_region.or(location);
    match real {
        Some(real) if &real != configured => fail(format!(
            "Bucket {bucket} is in region {real}, but the portal is configured for {configured}. \
             Set EGX_REGION={real} and restart: presigned URLs are only valid in the bucket's own region."
        )),
        Some(real) => Check {
            id: "bucket",
            status: Status::Ok,
            detail: format!("Bucket {bucket} is reachable, in {real}."),
            fix: None,
        },
        None => Check {
            id: "bucket",
            status: Status::Ok,
            detail: format!("Bucket {bucket} is reachable; its region could not be read (assumed {configured})."),
            fix: None,
        },
    }
}

async fn check_cors(s3: &aws_sdk_s3::Client, config: &Config, origin: &str) -> Check {
    let rules = match s3.get_bucket_cors().bucket(config.bucket.as_str()).send().await {
        Ok(out) => out.cors_rules().to_vec(),
        Err(e) if service_code(&e).as_deref() == Some("NoSuchCORSConfiguration") => Vec::new(),
        Err(e) => {
            return Check {
                id: "cors",
                status: Status::Fail,
                detail: format!("The bucket's CORS settings could not be read: {}.", crate::aws::s3::describe(&e)),
                fix: Some(cors_json(origin)),
            };
        }
    };
    let fail = |detail: String| Check { id: "cors", status: Status::Fail, detail, fix: Some(cors_json(origin)) };
    match evaluate_cors(&rules, origin) {
        CorsVerdict::Ok => Check {
            id: "cors",
            status: Status::Ok,
            detail: format!("CORS allows {origin} to PUT with {} and exposes ETag.", CLIENT_HEADERS.join(", ")),
            fix: None,
        },
        CorsVerdict::NoRules => {
            fail(format!("The bucket has no CORS rules: browsers at {origin} cannot upload. Apply the rule below."))
        }
        CorsVerdict::OriginNotAllowed(named) => fail(format!(
            "No CORS rule allows PUT from the portal's origin {origin} (the rules name: {}). \
             Browsers compare the exact scheme, host and port. Apply the rule below.",
            if named.is_empty() { "nothing".to_owned() } else { named.join(", ") }
        )),
        CorsVerdict::HeadersNotAllowed(missing) => fail(format!(
            "The CORS rule for {origin} does not allow the request header(s) {} that the upload page sends. \
             Apply the rule below.",
            missing.join(", ")
        )),
        CorsVerdict::EtagNotExposed => fail(format!(
            "The CORS rule for {origin} does not expose the ETag header: large files (multipart) cannot be \
             uploaded, because the browser cannot read each part's ETag. Add \"ExposeHeaders\": [\"ETag\"]."
        )),
    }
}

async fn check_lifecycle(s3: &aws_sdk_s3::Client, config: &Config) -> Check {
    let fix = Some(lifecycle_json());
    let rules = match s3.get_bucket_lifecycle_configuration().bucket(config.bucket.as_str()).send().await {
        Ok(out) => out.rules().to_vec(),
        Err(e) if service_code(&e).as_deref() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(e) => {
            return Check {
                id: "lifecycle",
                status: Status::Fail,
                detail: format!("The bucket's lifecycle rules could not be read: {}.", crate::aws::s3::describe(&e)),
                fix,
            };
        }
    };
    let covers = |rule: &LifecycleRule, prefix: Prefix| {
        let probe = format!("{}/", prefix.as_str());
        let rule_prefix = rule
            .filter()
            .and_then(|f| f.prefix().map(str::to_owned).or_else(|| f.and().and_then(|a| a.prefix().map(str::to_owned))))
            .or_else(|| {
                #[allow(deprecated)]
                rule.prefix().map(str::to_owned)
            })
            .unwrap_or_default();
        rule.status() == &ExpirationStatus::Enabled
            && rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()).is_some()
            && probe.starts_with(&rule_prefix)
    };
    let all_covered = Prefix::ALL.iter().all(|p| rules.iter().any(|r| covers(r, *p)));
    if all_covered {
        Check {
            id: "lifecycle",
            status: Status::Ok,
            detail: "A lifecycle rule aborts incomplete multipart uploads under streaming/ and batch/.".into(),
            fix: None,
        }
    } else {
        Check {
            id: "lifecycle",
            status: Status::Fail,
            detail: "No enabled lifecycle rule aborts incomplete multipart uploads: abandoned parts are stored \
                     (and billed) forever. Apply the rule below."
                .into(),
            fix,
        }
    }
}

async fn check_checksums(s3: &aws_sdk_s3::Client, config: &Config) -> Check {
    let probe = ObjectKey::build("streaming", "", "egx-doctor-probe.csv");
    let url = match probe {
        Ok(key) => crate::aws::s3::presign_put(
            s3,
            &config.bucket,
            &key,
            "text/csv",
            1,
            crate::aws::s3::WriteCondition::Absent,
            "doctor-probe",
            std::time::Duration::from_secs(60),
        )
        .await
        .map(|p| p.url),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    };
    match url {
        Ok(url) => {
            let lower = url.to_ascii_lowercase();
            if lower.contains("x-amz-checksum") || lower.contains("x-amz-sdk-checksum-algorithm") {
                Check {
                    id: "checksums",
                    status: Status::Fail,
                    detail: "Presigned URLs carry a checksum parameter: S3 would refuse browser uploads (BadDigest). \
                             The S3 client must calculate checksums only when required."
                        .into(),
                    fix: None,
                }
            } else {
                Check {
                    id: "checksums",
                    status: Status::Ok,
                    detail: "Presigned URLs carry no checksum parameter (checksums only when required).".into(),
                    fix: None,
                }
            }
        }
        Err(e) => Check {
            id: "checksums",
            status: Status::Fail,
            detail: format!("A probe URL could not be presigned: {e:#}."),
            fix: None,
        },
    }
}

/// Runs every check against the bucket, for uploads from `origin`.
pub async fn run(s3: &aws_sdk_s3::Client, config: &Config, origin: &str) -> Report {
    let (bucket, cors, lifecycle, checksums) = tokio::join!(
        check_bucket(s3, config),
        check_cors(s3, config, origin),
        check_lifecycle(s3, config),
        check_checksums(s3, config),
    );
    Report {
        bucket: config.bucket.to_string(),
        origin: origin.to_owned(),
        checks: vec![bucket, cors, lifecycle, checksums],
    }
}

/// The bucket checks of [`run`] and the portal identity's permissions.
pub async fn run_all(aws: &crate::aws::AwsClients, config: &Config, origin: &str) -> Report {
    let (mut report, permissions) = tokio::join!(run(&aws.s3, config, origin), check_permissions(aws, config));
    report.checks.push(permissions);
    report
}

async fn check_permissions(aws: &crate::aws::AwsClients, config: &Config) -> Check {
    use crate::aws::permissions::{Verdict, check};
    let (status, detail) = match check(aws, &config.bucket).await {
        Verdict::Allowed { principal, actions, excess } if excess.is_empty() => (
            Status::Ok,
            format!("The portal's identity {principal} may do all {actions} things it needs (IAM policy simulation)."),
        ),
        Verdict::Allowed { principal, actions, excess } => (
            Status::Ok,
            format!(
                "The portal's identity {principal} may do all {actions} things it needs, and more than it needs \
                 ({}): consider iam/portal_policy.json instead of its current policies.",
                excess.join(", ")
            ),
        ),
        Verdict::Denied { principal, denied } => (
            Status::Fail,
            format!(
                "The portal's identity {principal} may not do what it needs: {}. Give it iam/portal_policy.json \
                 (see iam/README.md).",
                denied.join("; ")
            ),
        ),
        Verdict::Unchecked(reason) => (Status::Unchecked, format!("Permissions: {}.", reason.trim_end_matches('.'))),
    };
    Check { id: "permissions", status, detail, fix: None }
}

/// Applies the missing CORS and lifecycle settings found in `report`,
/// keeping the bucket's other rules. Returns what was applied.
pub async fn apply_fixes(
    s3: &aws_sdk_s3::Client,
    config: &Config,
    report: &Report,
) -> anyhow::Result<Vec<&'static str>> {
    let bucket = config.bucket.as_str();
    let origin = report.origin.as_str();
    let mut applied = Vec::new();
    if report.check("cors").is_some_and(|c| c.status == Status::Fail) {
        let existing = match s3.get_bucket_cors().bucket(bucket).send().await {
            Ok(out) => out.cors_rules().to_vec(),
            Err(e) if service_code(&e).as_deref() == Some("NoSuchCORSConfiguration") => Vec::new(),
            Err(e) => return Err(anyhow::Error::new(e).context("reading the bucket's CORS rules")),
        };
        // Ours first (S3 uses the first matching rule); other origins keep their rules.
        let mut rules = vec![cors_rule(origin)?];
        for rule in existing {
            if rule.id() == Some("egx-portal-uploads") {
                continue;
            }
            let others: Vec<String> = rule.allowed_origins().iter().filter(|o| *o != origin).cloned().collect();
            if others.is_empty() {
                continue;
            }
            let mut b = rule.to_owned();
            b.allowed_origins = others;
            rules.push(b);
        }
        let cors = CorsConfiguration::builder().set_cors_rules(Some(rules)).build().context("building CORS")?;
        s3.put_bucket_cors().bucket(bucket).cors_configuration(cors).send().await.context("S3 PutBucketCors")?;
        applied.push("cors");
    }
    if report.check("lifecycle").is_some_and(|c| c.status == Status::Fail) {
        let existing = match s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
            Ok(out) => out.rules().to_vec(),
            Err(e) if service_code(&e).as_deref() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
            Err(e) => return Err(anyhow::Error::new(e).context("reading the bucket's lifecycle rules")),
        };
        let ours = LifecycleRule::builder()
            .id(LIFECYCLE_RULE_ID)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(ABORT_AFTER_DAYS).build(),
            )
            .build()
            .context("building the lifecycle rule")?;
        let mut rules: Vec<LifecycleRule> =
            existing.into_iter().filter(|r| r.id() != Some(LIFECYCLE_RULE_ID)).collect();
        rules.push(ours);
        let lifecycle =
            BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().context("building lifecycle")?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(lifecycle)
            .send()
            .await
            .context("S3 PutBucketLifecycleConfiguration")?;
        applied.push("lifecycle");
    }
    Ok(applied)
}

/// `egx-portal doctor [--fix]`: prints the report; with `fix`, prints the
/// settings it will apply, applies them and checks again. True when all is well.
pub async fn cli(config: &Config, fix: bool, out: &mut impl std::io::Write) -> anyhow::Result<bool> {
    cli_with(config, None, fix, out).await
}

/// [`cli`] with explicit credentials instead of the standard AWS chain (tests).
pub async fn cli_with(
    config: &Config,
    credentials: Option<aws_credential_types::Credentials>,
    fix: bool,
    out: &mut impl std::io::Write,
) -> anyhow::Result<bool> {
    let origin = match &config.public_url {
        Some(url) => url.origin().ascii_serialization(),
        None => {
            writeln!(out, "note: EGX_PUBLIC_URL is not set; checking for the origin http://{}", config.listen)?;
            format!("http://{}", config.listen)
        }
    };
    let aws = crate::aws::AwsClients::build(config, credentials).await?;
    let report = run_all(&aws, config, &origin).await;
    print_report(&report, out)?;
    if report.ok() || !fix {
        if !report.ok() {
            writeln!(out, "\nRun `egx-portal doctor --fix` to apply the missing CORS and lifecycle settings.")?;
        }
        return Ok(report.ok());
    }
    writeln!(out, "\n--fix: applying to bucket {}:", config.bucket)?;
    for check in report.checks.iter().filter(|c| c.status == Status::Fail) {
        if let Some(fix) = &check.fix {
            writeln!(out, "  {}:\n{}", check.id, indent(fix))?;
        }
    }
    let applied = apply_fixes(&aws.s3, config, &report).await?;
    writeln!(out, "applied: {}\n", if applied.is_empty() { "nothing".to_owned() } else { applied.join(", ") })?;
    let again = run_all(&aws, config, &origin).await;
    print_report(&again, out)?;
    Ok(again.ok())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn print_report(report: &Report, out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "egx-portal doctor: bucket {}, uploads from {}", report.bucket, report.origin)?;
    for check in &report.checks {
        writeln!(out, "[{:>4}] {:<10} {}", check.status.to_string(), check.id, check.detail)?;
        if let Some(fix) = &check.fix {
            writeln!(out, "{}", indent(fix))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], headers: &[&str], expose: &[&str]) -> CorsRule {
        let mut b = CorsRule::builder().allowed_methods("PUT");
        for o in origins {
            b = b.allowed_origins(*o);
        }
        for h in headers {
            b = b.allowed_headers(*h);
        }
        for e in expose {
            b = b.expose_headers(*e);
        }
        b.build().unwrap()
    }

    #[test]
    fn a_rule_for_another_port_does_not_allow_the_portal() {
        // C10: the rule names :8080, the portal runs on :8081.
        let rules = [rule(&["http://localhost:8080"], &["*"], &["ETag"])];
        assert_eq!(
            evaluate_cors(&rules, "http://localhost:8081"),
            CorsVerdict::OriginNotAllowed(vec!["http://localhost:8080".into()])
        );
        assert_eq!(evaluate_cors(&rules, "http://localhost:8080"), CorsVerdict::Ok);
    }

    #[test]
    fn a_rule_without_the_headers_the_page_sends_is_reported() {
        let rules = [rule(&["https://up.example.com"], &[], &["ETag"])];
        assert_eq!(
            evaluate_cors(&rules, "https://up.example.com"),
            CorsVerdict::HeadersNotAllowed(vec![
                "content-type".into(),
                "if-none-match".into(),
                "if-match".into(),
                "x-amz-meta-egx-upload".into()
            ])
        );
        let rules =
            [rule(&["https://*.example.com"], &["Content-Type", "If-None-Match", "x-amz-meta-egx-upload"], &["etag"])];
        assert_eq!(
            evaluate_cors(&rules, "https://up.example.com"),
            CorsVerdict::HeadersNotAllowed(vec!["if-match".into()]),
            "a replace sends If-Match"
        );
        let rules = [rule(&["https://*.example.com"], &["Content-Type", "If-None-Match", "If-Match"], &["etag"])];
        assert_eq!(
            evaluate_cors(&rules, "https://up.example.com"),
            CorsVerdict::HeadersNotAllowed(vec!["x-amz-meta-egx-upload".into()]),
            "every single PUT sends its upload marker"
        );
        let rules = [rule(
            &["https://*.example.com"],
            &["Content-Type", "If-None-Match", "If-Match", "x-amz-meta-egx-upload"],
            &["etag"],
        )];
        assert_eq!(evaluate_cors(&rules, "https://up.example.com"), CorsVerdict::Ok);
    }

    #[test]
    fn a_rule_that_hides_etag_is_reported() {
        // C11, and S3's first-match rule: the earlier rule wins even if a later one is right.
        let rules = [rule(&["*"], &["*"], &[]), rule(&["https://up.example.com"], &["*"], &["ETag"])];
        assert_eq!(evaluate_cors(&rules, "https://up.example.com"), CorsVerdict::EtagNotExposed);
    }

    #[test]
    fn the_suggested_rule_passes_its_own_check() {
        let origin = "https://up.example.com:8443";
        assert_eq!(evaluate_cors(&[cors_rule(origin).unwrap()], origin), CorsVerdict::Ok);
        let json: serde_json::Value = serde_json::from_str(&cors_json(origin)).unwrap();
        assert_eq!(json["CORSRules"][0]["AllowedOrigins"][0], origin);
        assert_eq!(json["CORSRules"][0]["ExposeHeaders"][0], "ETag");
    }
}
