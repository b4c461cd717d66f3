//! Presigned URLs against LocalStack, which checks signatures (C01, C02, C04).

use crate::helpers::*;

async fn signed_upload(app: &TestApp, teammate: &reqwest::Client, path: &str, size: u64) -> serde_json::Value {
    let res = app.sign(teammate, serde_json::json!({"prefix": "streaming", "relative_path": path, "size": size})).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn put(signed: &serde_json::Value, url: &str, body: Vec<u8>) -> reqwest::StatusCode {
    let mut req = reqwest::Client::new().put(url).body(body);
    for (k, v) in signed["headers"].as_object().unwrap() {
        req = req.header(k, v.as_str().unwrap());
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn a_presigned_put_carries_no_checksum_and_uploads_on_a_signature_checking_server() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("carol")).await;
    let body = vec![7u8; 10 * 1024];
    let signed = signed_upload(&app, &teammate, "probe.csv", body.len() as u64).await;
    let url = signed["url"].as_str().unwrap();

    let lower = url.to_ascii_lowercase();
    assert!(!lower.contains("x-amz-checksum"), "{url}");
    assert!(!lower.contains("x-amz-sdk-checksum-algorithm"), "{url}");
    assert!(
        lower.contains("x-amz-signedheaders=content-length%3bcontent-type%3bhost"),
        "length and type are signed: {url}"
    );
    assert_eq!(signed["headers"]["content-type"], "text/csv");

    assert_eq!(put(&signed, url, body.clone()).await, 200);
    let res = app.complete(&teammate, signed["upload_id"].as_i64().unwrap()).await;
    assert_eq!(res.status(), 200);

    // C02: the owner's GET link works as a plain link, no extra header.
    let get = egx_portal::aws::s3::presign_get(
        &app.state.aws.s3,
        &app.state.config.bucket,
        "streaming/probe.csv",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    let fetched = reqwest::get(&get).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), body.as_slice());
}

#[tokio::test]
async fn a_tampered_url_is_refused_by_s3() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("dave")).await;
    let signed = signed_upload(&app, &teammate, "t.csv", 3).await;
    let url = signed["url"].as_str().unwrap();

    let other_key = url.replace("streaming/t.csv", "batch/t.csv");
    assert_eq!(put(&signed, &other_key, b"abc".to_vec()).await, 403, "a different key is refused");
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut bad_sig = url.to_owned();
    let flipped = if &url[sig_at..sig_at + 1] == "0" { "1" } else { "0" };
    bad_sig.replace_range(sig_at..sig_at + 1, flipped);
    assert_eq!(put(&signed, &bad_sig, b"abc".to_vec()).await, 403, "a changed signature is refused");
    assert_eq!(put(&signed, url, b"abc".to_vec()).await, 200, "the untouched URL works");
}

#[tokio::test]
async fn a_body_longer_than_the_signed_length_is_refused_and_nothing_is_recorded() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("erin")).await;
    let signed = signed_upload(&app, &teammate, "a.bin", 1_000_000).await;

    let status = put(&signed, signed["url"].as_str().unwrap(), vec![1u8; 3_000_000]).await;

    assert_eq!(status, 403, "S3 refuses a body whose length was not signed");
    let res = app.complete(&teammate, signed["upload_id"].as_i64().unwrap()).await;
    assert_eq!(res.status(), 409, "S3 holds nothing at the key");
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'completed'").await, 0);
    // Nothing arrived, so nothing is decided: the signed upload stays open until its URL expires.
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'signed'").await, 1);
    assert!(!app.audit().await.iter().any(|(a, _, _)| a == "upload.failed" || a == "upload.completed"));
}
