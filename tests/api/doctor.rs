//! `doctor` against LocalStack: region (C07), CORS for the exact origin and
//! ETag exposed (C10, C11), the lifecycle rule (C13), checksum-free presigned
//! URLs (C01); `--fix` and the owner page apply what is missing.

use aws_sdk_s3::types::{BucketLocationConstraint, CorsConfiguration, CorsRule, CreateBucketConfiguration};
use egx_portal::doctor::{self, Status};

use crate::helpers::*;

async fn set_rules(app: &TestApp, rule: CorsRule) {
    let cors = CorsConfiguration::builder().cors_rules(rule).build().unwrap();
    app.emulator.s3().put_bucket_cors().bucket(&app.bucket).cors_configuration(cors).send().await.unwrap();
}

fn status(report: &doctor::Report, id: &str) -> Status {
    report.check(id).unwrap_or_else(|| panic!("no {id} check")).status
}

#[tokio::test]
async fn a_bucket_that_hides_etag_is_reported_and_fix_applies_the_exact_rule() {
    // Arrange: CORS allows the origin and PUT, but does not expose ETag (C11); no lifecycle rule.
    let app = TestApp::spawn(Backend::LocalStack).await;
    let rule =
        CorsRule::builder().allowed_origins(&app.base).allowed_methods("PUT").allowed_headers("*").build().unwrap();
    set_rules(&app, rule).await;

    // Act
    let report = doctor::run(&app.state.aws.s3, &app.state.config, &app.base).await;

    // Assert
    assert_eq!(status(&report, "bucket"), Status::Ok, "{report:?}");
    assert_eq!(status(&report, "checksums"), Status::Ok, "{report:?}");
    let cors = report.check("cors").unwrap();
    assert_eq!(cors.status, Status::Fail);
    assert!(cors.detail.contains("does not expose the ETag header"), "{}", cors.detail);
    let fix: serde_json::Value = serde_json::from_str(cors.fix.as_ref().unwrap()).unwrap();
    assert_eq!(fix["CORSRules"][0]["AllowedOrigins"], serde_json::json!([app.base]));
    assert_eq!(fix["CORSRules"][0]["ExposeHeaders"], serde_json::json!(["ETag"]));
    assert_eq!(status(&report, "lifecycle"), Status::Fail);
    assert!(!report.ok());

    // Act: fix, then check again.
    let applied = doctor::apply_fixes(&app.state.aws.s3, &app.state.config, &report).await.unwrap();
    assert_eq!(applied, vec!["cors", "lifecycle"]);
    let again = doctor::run(&app.state.aws.s3, &app.state.config, &app.base).await;
    assert!(again.ok(), "{again:?}");
    let rules = app.emulator.s3().get_bucket_cors().bucket(&app.bucket).send().await.unwrap();
    assert_eq!(rules.cors_rules().len(), 1, "the portal's rule replaced the one for its own origin");
    let lifecycle = app.emulator.s3().get_bucket_lifecycle_configuration().bucket(&app.bucket).send().await.unwrap();
    let abort = lifecycle.rules()[0].abort_incomplete_multipart_upload().unwrap();
    assert_eq!(abort.days_after_initiation(), Some(doctor::ABORT_AFTER_DAYS));
}

#[tokio::test]
async fn a_rule_for_another_port_is_reported_with_the_rule_to_apply_and_other_rules_are_kept() {
    // C10: the rule names the portal on another port, and allows no headers.
    let app = TestApp::spawn(Backend::LocalStack).await;
    let rule = CorsRule::builder()
        .allowed_origins("http://127.0.0.1:1")
        .allowed_origins("https://other.example.com")
        .allowed_methods("PUT")
        .expose_headers("ETag")
        .build()
        .unwrap();
    set_rules(&app, rule).await;

    let report = doctor::run(&app.state.aws.s3, &app.state.config, &app.base).await;

    let cors = report.check("cors").unwrap();
    assert_eq!(cors.status, Status::Fail);
    assert!(cors.detail.contains(&format!("origin {}", app.base)), "{}", cors.detail);
    assert!(cors.detail.contains("http://127.0.0.1:1"), "{}", cors.detail);
    doctor::apply_fixes(&app.state.aws.s3, &app.state.config, &report).await.unwrap();
    let rules = app.emulator.s3().get_bucket_cors().bucket(&app.bucket).send().await.unwrap();
    let origins: Vec<Vec<String>> = rules.cors_rules().iter().map(|r| r.allowed_origins().to_vec()).collect();
    assert_eq!(
        origins,
        vec![vec![app.base.clone()], vec!["http://127.0.0.1:1".to_owned(), "https://other.example.com".to_owned()]]
    );
}

#[tokio::test]
async fn a_bucket_in_another_region_is_named_with_its_real_region() {
    // C07: the bucket lives in eu-central-1, the portal is configured for us-east-1.
    let mut spawn = Spawn::on(Backend::LocalStack);
    spawn.create_bucket = false;
    let app = TestApp::spawn_with(spawn).await;
    let s3 = app.emulator.s3();
    s3.create_bucket()
        .bucket(&app.bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuCentral1).build(),
        )
        .send()
        .await
        .unwrap();

    let report = doctor::run(&app.state.aws.s3, &app.state.config, &app.base).await;

    let bucket = report.check("bucket").unwrap();
    assert_eq!(bucket.status, Status::Fail, "{bucket:?}");
    assert!(bucket.detail.contains("is in region eu-central-1"), "{}", bucket.detail);
    assert!(bucket.detail.contains("EGX_REGION=eu-central-1"), "{}", bucket.detail);
}

#[tokio::test]
async fn a_missing_bucket_is_reported_not_a_crash() {
    let mut spawn = Spawn::on(Backend::LocalStack);
    spawn.create_bucket = false;
    let app = TestApp::spawn_with(spawn).await;

    let report = doctor::run(&app.state.aws.s3, &app.state.config, &app.base).await;

    let bucket = report.check("bucket").unwrap();
    assert_eq!(bucket.status, Status::Fail);
    assert!(bucket.detail.contains("does not exist"), "{}", bucket.detail);
}

#[tokio::test]
async fn the_cli_shows_the_rules_then_applies_them() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    let rule =
        CorsRule::builder().allowed_origins(&app.base).allowed_methods("PUT").allowed_headers("*").build().unwrap();
    set_rules(&app, rule).await;
    let mut config = (*app.state.config).clone();
    config.public_url = Some(url::Url::parse(&app.base).unwrap());
    let before = doctor_cli(&config, false).await;
    assert!(!before.0);
    assert!(before.1.contains("[FAIL] cors"), "{}", before.1);
    assert!(before.1.contains("egx-portal doctor --fix"), "{}", before.1);

    let after = doctor_cli(&config, true).await;

    assert!(after.0, "{}", after.1);
    let shown = after.1.find("\"ExposeHeaders\"").expect("the rule is shown");
    let applied = after.1.find("applied: cors, lifecycle").expect("then applied");
    assert!(shown < applied);
    let last_report: Vec<&str> = after.1.trim_end().lines().rev().filter(|l| l.starts_with('[')).take(5).collect();
    assert!(last_report[1..].iter().all(|l| l.starts_with("[  ok]")), "{}", after.1);
    // LocalStack's "test" key is the account's root: its permissions cannot be simulated,
    // and the doctor says so instead of passing.
    assert!(last_report[0].starts_with("[   ?] permissions"), "{}", after.1);
    assert!(last_report[0].contains("root user"), "{}", after.1);
}

#[tokio::test]
async fn on_an_emulator_without_the_policy_simulator_permissions_are_unchecked_not_passed() {
    // moto has no iam:SimulatePrincipalPolicy: the doctor must not claim a pass.
    let app = TestApp::spawn(Backend::Moto).await;

    let report = doctor::run_all(&app.state.aws, &app.state.config, &app.base).await;

    let permissions = report.check("permissions").unwrap();
    assert_eq!(permissions.status, Status::Unchecked, "{permissions:?}");
    assert!(permissions.detail.contains("could not check"), "{}", permissions.detail);
    let failed: Vec<&str> = report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id).collect();
    assert_eq!(failed, ["lifecycle"], "only the missing lifecycle rule fails; unchecked is no failure");
}

async fn doctor_cli(config: &egx_portal::config::Config, fix: bool) -> (bool, String) {
    let mut out = Vec::new();
    let ok = egx_portal::doctor::cli_with(config, Some(emulator_credentials()), fix, &mut out).await.unwrap();
    (ok, String::from_utf8(out).unwrap())
}

fn emulator_credentials() -> aws_credential_types::Credentials {
    Backend::LocalStack.emulator().credentials()
}

#[tokio::test]
async fn the_owner_page_shows_the_checks_and_applies_the_fix_with_an_audit_row() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    let rule =
        CorsRule::builder().allowed_origins(&app.base).allowed_methods("PUT").allowed_headers("*").build().unwrap();
    set_rules(&app, rule).await;
    app.create_owner().await;

    let html = app.get("/admin/doctor").await.text().await.unwrap();
    assert!(has(&html, "#check-cors.status-fail"), "{html}");
    assert!(has(&html, "#check-bucket.status-ok"));
    assert!(text_of(&html, "#check-cors .detail").contains("ETag"));
    assert!(text_of(&html, "#check-cors pre.fix").contains("\"ExposeHeaders\""));
    let csrf = app.csrf(&app.client, "/admin/doctor").await;
    let res = app.post_form("/admin/doctor", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 303);

    let html = app.get("/admin/doctor").await.text().await.unwrap();
    for id in ["bucket", "cors", "lifecycle", "checksums"] {
        assert!(has(&html, &format!("#check-{id}.status-ok")), "{id}: {html}");
    }
    assert!(!has(&html, "#doctor-fix"));
    assert!(app.audit().await.iter().any(|(a, o, t)| a == "bucket.settings_applied"
        && o == "success"
        && t.as_deref() == Some(app.bucket.as_str())));
    // A teammate may not see it.
    let (_, alice) = app.onboard(&unique("alice")).await;
    assert_eq!(alice.get(app.url("/admin/doctor")).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_says_etag_is_hidden_at_the_first_part_and_stores_nothing() {
    // C11 in a real browser: CORS allows the origin, PUT and any header, but hides ETag.
    let mut spawn = Spawn::on(Backend::LocalStack);
    spawn.env = vec![
        ("EGX_MULTIPART_THRESHOLD_BYTES", (5 * 1024 * 1024).to_string()),
        ("EGX_PART_SIZE_BYTES", (5 * 1024 * 1024).to_string()),
    ];
    let app = TestApp::spawn_with(spawn).await;
    let rule =
        CorsRule::builder().allowed_origins(&app.base).allowed_methods("PUT").allowed_headers("*").build().unwrap();
    set_rules(&app, rule).await;
    app.create_owner().await;
    let name = unique("alice");
    app.onboard(&name).await;
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("big.bin");
    std::fs::write(&path, vec![7u8; 40 * 1024 * 1024]).unwrap();

    let steps = serde_json::json!([
        {"do": "login"},
        {"do": "upload", "prefix": "batch", "folder": "", "files": [path]},
    ]);
    let result = crate::multipart::browser(&app, &name, steps).await;

    let row = &result["rows"][0];
    assert_eq!(row["state"], "error", "{result}");
    assert!(row["msg"].as_str().unwrap().contains("do not expose the ETag header"), "{result}");
    assert_eq!(result["warning_visible"], true);
    let sent = result["parts_put"].as_array().unwrap().len();
    assert!(sent <= 4, "stopped at the first parts, not after the whole file (8 parts): {sent}");
    let open = app.emulator.s3().list_multipart_uploads().bucket(&app.bucket).send().await.unwrap();
    assert!(open.uploads().is_empty(), "the upload was aborted");
    assert!(app.emulator.s3().head_object().bucket(&app.bucket).key("batch/big.bin").send().await.is_err());
    assert_eq!(app.count("SELECT COUNT(*) FROM multipart_uploads WHERE state = 'aborted'").await, 1);
    // And doctor says the same.
    let report = doctor::run(&app.state.aws.s3, &app.state.config, &app.base).await;
    assert!(report.check("cors").unwrap().detail.contains("does not expose the ETag header"));
}
