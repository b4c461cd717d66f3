//! The upload policy, proven with the teammate's own key against moto with
//! IAM policy enforcement on (C17). moto does not evaluate the `s3:prefix`
//! condition on ListBucket, so listing is checked on the document instead.

use aws_credential_types::Credentials;

use crate::helpers::*;

#[tokio::test]
async fn a_new_teammates_key_can_upload_only_under_streaming_and_batch() {
    let app = TestApp::spawn(Backend::MotoEnforcing).await;
    let name = unique("alice");
    app.create_owner().await;
    let (payload, _) = app.onboard(&name).await;
    let key = Credentials::new(
        payload["access_key_id"].as_str().unwrap(),
        payload["secret_access_key"].as_str().unwrap(),
        None,
        None,
        "teammate",
    );
    let s3 = app.emulator.s3_with(key.clone());
    let put = |k: &'static str| {
        let s3 = s3.clone();
        let bucket = app.bucket.clone();
        async move { s3.put_object().bucket(bucket).key(k).body(b"x".to_vec().into()).send().await }
    };

    // Allowed: the two prefixes, and multipart into batch/.
    put("streaming/x").await.expect("PUT streaming/x is allowed");
    put("batch/y").await.expect("PUT batch/y is allowed");
    let mpu = s3.create_multipart_upload().bucket(&app.bucket).key("batch/big.bin").send().await;
    let upload_id = mpu.expect("multipart into batch/ is allowed").upload_id().unwrap().to_owned();
    s3.abort_multipart_upload()
        .bucket(&app.bucket)
        .key("batch/big.bin")
        .upload_id(upload_id)
        .send()
        .await
        .expect("aborting one's multipart upload is allowed");

    // Denied: other prefixes (including the no-slash cousin), reading, deleting, IAM.
    for k in ["other/x", "streamingX/x", "batchy", "x"] {
        let err = put(k).await.expect_err(k);
        assert_eq!(
            err.as_service_error().and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e)),
            Some("AccessDenied"),
            "{k}"
        );
    }
    assert!(s3.get_object().bucket(&app.bucket).key("streaming/x").send().await.is_err(), "GET is denied");
    assert!(s3.delete_object().bucket(&app.bucket).key("streaming/x").send().await.is_err(), "DELETE is denied");
    assert!(app.emulator.iam_with(key).list_users().send().await.is_err(), "iam:ListUsers is denied");
}

#[tokio::test]
async fn listing_is_allowed_only_for_the_two_prefixes_in_the_policy_document() {
    // moto ignores s3:prefix conditions, so read the document AWS will evaluate.
    let bucket = egx_portal::domain::BucketName::parse("some-bucket").unwrap();
    let doc: serde_json::Value = serde_json::from_str(&egx_portal::aws::iam::policy_document(&bucket)).unwrap();
    let statements = doc["Statement"].as_array().unwrap();
    let list = statements.iter().find(|s| s["Action"] == "s3:ListBucket").expect("a ListBucket statement for sync");
    assert_eq!(list["Resource"], "arn:aws:s3:::some-bucket");
    let prefixes: Vec<&str> =
        list["Condition"]["StringLike"]["s3:prefix"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(prefixes, ["streaming/", "streaming/*", "batch/", "batch/*"]);
    for s in statements {
        let actions = match &s["Action"] {
            serde_json::Value::String(a) => vec![a.clone()],
            serde_json::Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
            _ => panic!("Action is a string or a list"),
        };
        assert_eq!(s["Effect"], "Allow");
        for a in &actions {
            assert!(
                ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucket"]
                    .contains(&a.as_str()),
                "unexpected action {a}"
            );
        }
    }
}

/// Runs the AWS CLI (on PATH in tests: scripts/test.sh puts moto's venv
/// first) with the teammate's own key and nothing else.
fn aws_cli(app: &TestApp, key: &(String, String), args: &[&str]) -> std::process::Output {
    std::process::Command::new("aws")
        .args(["--endpoint-url", &app.emulator.url, "--region", "us-east-1"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("aws runs")
}

#[tokio::test]
async fn the_teammates_key_does_aws_s3_cp_and_sync_into_the_two_prefixes_and_nothing_else() {
    let app = TestApp::spawn(Backend::MotoEnforcing).await;
    app.create_owner().await;
    let (payload, _) = app.onboard(&unique("cli")).await;
    let key = (
        payload["access_key_id"].as_str().unwrap().to_owned(),
        payload["secret_access_key"].as_str().unwrap().to_owned(),
    );
    let files = tempfile::tempdir().unwrap();
    let small = files.path().join("small.csv");
    std::fs::write(&small, b"a,b\n1,2\n").unwrap();
    // Above the CLI's 8 MB multipart threshold.
    let big = files.path().join("big.bin");
    std::fs::write(&big, vec![b'x'; 9 * 1024 * 1024]).unwrap();
    let day = files.path().join("day1");
    std::fs::create_dir_all(day.join("sub")).unwrap();
    std::fs::write(day.join("one.csv"), b"1").unwrap();
    std::fs::write(day.join("sub/two.csv"), b"2").unwrap();
    let s3 = |path: &str| format!("s3://{}/{path}", app.bucket);
    let ok = |out: std::process::Output, what: &str| {
        assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    ok(aws_cli(&app, &key, &["s3", "cp", small.to_str().unwrap(), &s3("streaming/small.csv")]), "cp");
    ok(aws_cli(&app, &key, &["s3", "cp", big.to_str().unwrap(), &s3("batch/big.bin")]), "multipart cp");
    let synced = ok(aws_cli(&app, &key, &["s3", "sync", day.to_str().unwrap(), &s3("batch/day1/")]), "sync");
    assert!(synced.contains("upload:"), "{synced}");
    let again = ok(aws_cli(&app, &key, &["s3", "sync", day.to_str().unwrap(), &s3("batch/day1/")]), "sync again");
    assert!(!again.contains("upload:"), "the second sync listed the prefix and found nothing to send: {again}");

    let listed = app.emulator.s3().list_objects_v2().bucket(&app.bucket).send().await.unwrap();
    let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort();
    assert_eq!(keys, ["batch/big.bin", "batch/day1/one.csv", "batch/day1/sub/two.csv", "streaming/small.csv"]);

    let denied = |args: &[&str]| {
        let out = aws_cli(&app, &key, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} was allowed");
        assert!(
            stderr.contains("AccessDenied") || stderr.contains("Forbidden") || stderr.contains("403"),
            "{args:?}: {stderr}"
        );
    };
    denied(&["s3", "cp", small.to_str().unwrap(), &s3("streamingX/a.csv")]);
    denied(&["s3", "cp", small.to_str().unwrap(), &s3("other/a.csv")]);
    denied(&["s3", "cp", &s3("streaming/small.csv"), "-"]);
    denied(&["s3", "rm", &s3("streaming/small.csv")]);
    denied(&["iam", "list-users"]);
}
