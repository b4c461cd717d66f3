//! Operations: readiness that says what is down and is cached briefly,
//! Prometheus metrics on their own listener, request ids in responses and
//! in the access log.

use crate::helpers::*;

/// The value of the first sample line that starts with `prefix`.
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let addr = app.metrics_addr.expect("the test set EGX_METRICS_LISTEN");
    let res = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    res.text().await.unwrap()
}

#[tokio::test]
async fn readiness_is_cached_briefly_then_names_what_went_down() {
    let app = TestApp::spawn(Backend::Moto).await;
    let first = app.get("/readyz").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["status"], "ready");
    assert_eq!(first["database"], serde_json::json!({"ok": true}));
    assert_eq!(first["aws"], serde_json::json!({"ok": true}));

    // The bucket goes away; within EGX_READY_CACHE_SECONDS the cached answer stands.
    app.emulator.s3().delete_bucket().bucket(&app.bucket).send().await.unwrap();
    let cached: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(cached["checked_at"], first["checked_at"], "no new AWS calls inside the cache window");

    app.clock.advance(5);
    let res = app.get("/readyz").await;

    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["aws"]["ok"], false);
    assert_eq!(body["aws"]["problem"], "the bucket does not exist (check EGX_BUCKET)");
    assert_ne!(body["checked_at"], first["checked_at"]);
}

#[tokio::test]
async fn unreachable_aws_makes_readiness_red_while_health_stays_green() {
    // C20's other half: the process is alive, but it cannot do its work.
    let mut spawn = Spawn::on(Backend::Moto);
    spawn.create_bucket = false;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    spawn.env = vec![("EGX_S3_ENDPOINT", format!("http://{closed}")), ("EGX_STS_ENDPOINT", format!("http://{closed}"))];
    let app = TestApp::spawn_with(spawn).await;

    assert_eq!(app.get("/healthz").await.status(), 200);
    let res = app.get("/readyz").await;

    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["aws"]["ok"], false);
    let problem = body["aws"]["problem"].as_str().unwrap();
    assert!(problem.contains("could not be reached") || problem.contains("did not answer in time"), "{problem}");
}

#[tokio::test]
async fn metrics_count_requests_uploads_and_provisioning_on_their_own_listener_only() {
    let mut spawn = Spawn::on(Backend::Moto);
    spawn.env = vec![("EGX_METRICS_LISTEN", "127.0.0.1:0".into())];
    let app = TestApp::spawn_with(spawn).await;
    app.create_owner().await;
    let name = unique("alice");
    let (_, alice) = app.onboard(&name).await;
    let signed = app.sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "m.csv", "size": 3})).await;
    assert_eq!(signed.status(), 200);
    assert_eq!(app.login(&app.new_client(), "nobody", "wrong-password").await.status(), 401);
    assert_eq!(app.get("/healthz").await.status(), 200);

    let metrics = scrape(&app).await;

    assert_eq!(sample(&metrics, r#"egx_http_requests_total{method="GET",route="/healthz",status="200"}"#), Some(1.0));
    assert!(
        sample(&metrics, r#"egx_http_requests_total{method="POST",route="/l/{id}/reveal",status="200"}"#).is_some()
    );
    assert!(!metrics.contains(&name), "no user names in metrics");
    assert_eq!(sample(&metrics, r#"egx_audit_events_total{action="login.failed",outcome="failure"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"egx_provisioning_total{event="iam.user_created",outcome="success"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"egx_uploads_total{event="signed",outcome="success"}"#), Some(1.0));
    assert!(sample(&metrics, "egx_http_request_duration_seconds_count{route=\"/healthz\"}").is_some());
    assert_eq!(app.get("/metrics").await.status(), 404, "not on the public listener");

    // Counters survive a restart: they come from the database.
    let app = app.restart().await;
    let metrics = scrape(&app).await;
    assert_eq!(sample(&metrics, r#"egx_provisioning_total{event="iam.user_created",outcome="success"}"#), Some(1.0));
}

#[tokio::test]
async fn every_answer_carries_a_request_id_that_the_access_log_line_carries_too() {
    let app = TestApp::spawn(Backend::Moto).await;
    let res = app.get("/login").await;
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let logs = String::from_utf8_lossy(&captured_logs()).into_owned();
    let line =
        logs.lines().find(|l| l.contains(&id) && l.contains("route=/login")).expect("an access line with the id");
    assert!(line.contains("status=200"), "{line}");

    // A client's own id is kept when it is plain, and not trusted when it could forge log lines.
    let res = app.client.get(app.url("/login")).header("x-request-id", "trace-abc.123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc.123");
    let logs = String::from_utf8_lossy(&captured_logs()).into_owned();
    assert!(logs.lines().any(|l| l.contains("request_id=trace-abc.123")));
    let forged = "x\" level=ERROR msg=forged";
    app.client.get(app.url("/login")).header("x-request-id", forged).send().await.unwrap();
    let logs = String::from_utf8_lossy(&captured_logs()).into_owned();
    assert!(!logs.contains(forged));
}
