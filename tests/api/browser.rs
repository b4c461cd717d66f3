//! The journey in a real headless Chromium (driven by Playwright, see
//! tests/browser/journey.mjs) against LocalStack, which checks presigned
//! signatures and applies the bucket's CORS rules.

use std::process::Command;

use crate::helpers::*;

fn browser_dir() -> String {
    std::env::var("EGX_TEST_BROWSER_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser").to_owned())
}

fn run_node(envs: &[(&str, String)]) -> serde_json::Value {
    let dir = browser_dir();
    let out = Command::new("node")
        .arg(format!("{dir}/journey.mjs"))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("EGX_CHROMIUM", std::env::var("EGX_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()))
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().expect("the script prints a result");
    serde_json::from_str(last).expect("the last line is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_works_in_a_real_browser_and_cors_is_what_allows_it() {
    // Arrange: a fresh portal on LocalStack, two files with known bytes.
    let app = TestApp::spawn(Backend::LocalStack).await;
    let files = tempfile::tempdir().unwrap();
    let stream_file = files.path().join("ticks a+b 100%.csv");
    let batch_file = files.path().join("Q3#final?.csv");
    std::fs::write(&stream_file, b"ts,price\n1,100\n").unwrap();
    std::fs::write(&batch_file, vec![b'z'; 300_000]).unwrap();
    let teammate = unique("alice");
    let spec = serde_json::json!([
        {"path": stream_file, "prefix": "streaming", "folder": ""},
        {"path": batch_file, "prefix": "batch", "folder": "sub"},
    ]);
    let envs = vec![
        ("EGX_MODE", "journey".to_owned()),
        ("EGX_BASE_URL", app.base.clone()),
        ("EGX_SETUP_LINK", app.setup_link.clone().unwrap()),
        ("EGX_OWNER_USER", OWNER.to_owned()),
        ("EGX_OWNER_PASSWORD", OWNER_PASSWORD.to_owned()),
        ("EGX_TEAMMATE", teammate.clone()),
        ("EGX_TEAMMATE_PASSWORD", TEAMMATE_PASSWORD.to_owned()),
        ("EGX_FILES", spec.to_string()),
    ];

    // Act: the whole journey in Chromium (blocking: run it off the runtime).
    let result = tokio::task::spawn_blocking(move || run_node(&envs)).await.unwrap();

    // Assert: both objects hold exactly the bytes, at exactly those keys.
    assert_eq!(result["ok"], true);
    let s3 = app.emulator.s3();
    for (key, expected) in [
        ("streaming/ticks a+b 100%.csv", std::fs::read(&stream_file).unwrap()),
        ("batch/sub/Q3#final?.csv", std::fs::read(&batch_file).unwrap()),
    ] {
        let object =
            s3.get_object().bucket(&app.bucket).key(key).send().await.unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(object.body.collect().await.unwrap().into_bytes().as_ref(), expected.as_slice(), "{key}");
    }
    let actions = app.audit_actions().await;
    for expected in [
        "owner.created",
        "logout",
        "login.succeeded",
        "iam.user_created",
        "iam.access_key_created",
        "link.created",
        "link.opened",
        "link.revealed",
        "link.reveal_refused",
        "teammate.enrolled",
        "upload.signed",
        "upload.completed",
    ] {
        assert!(actions.iter().any(|a| a == expected), "audit has {expected}: {actions:?}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'completed'").await, 2);

    // Act again: the bucket's CORS no longer names the portal's origin.
    set_cors(&s3, &app.bucket, &["http://example.invalid"]).await;
    let blocked = files.path().join("blocked.csv");
    std::fs::write(&blocked, b"nope").unwrap();
    let envs = vec![
        ("EGX_MODE", "upload-only".to_owned()),
        ("EGX_BASE_URL", app.base.clone()),
        ("EGX_TEAMMATE", teammate.clone()),
        ("EGX_TEAMMATE_PASSWORD", TEAMMATE_PASSWORD.to_owned()),
        ("EGX_FILES", serde_json::json!([{"path": blocked, "prefix": "streaming", "folder": ""}]).to_string()),
        ("EGX_EXPECT", "failure".to_owned()),
    ];
    let result = tokio::task::spawn_blocking(move || run_node(&envs)).await.unwrap();

    // Assert: the upload failed in the browser, and nothing landed.
    assert_eq!(result["ok"], true);
    assert!(s3.head_object().bucket(&app.bucket).key("streaming/blocked.csv").send().await.is_err());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reveal_refuses_without_webcrypto_or_with_a_cut_or_altered_link_and_uses_nothing_up() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let link = app.add_teammate_link(&unique("ines")).await;
    let envs = vec![("EGX_MODE", "link-guards".to_owned()), ("EGX_LINK", link.clone())];

    let result = tokio::task::spawn_blocking(move || run_node(&envs)).await.unwrap();

    assert_eq!(result["ok"], true);
    assert_eq!(result["reveal_posts"], 1, "only the altered link's page asked the server");
    assert_eq!(
        result["altered"],
        "This link is not available. It may have been used already, expired or been revoked. Ask the portal \
         owner for a new one. If the link was copied from a message, check that it was copied whole."
    );
    assert_eq!(
        result["insecure"],
        "Your browser only decrypts secrets on a secure page (https, or localhost). \
         Nothing was used up: open the link over https."
    );
    assert_eq!(
        result["incomplete"],
        "This link is incomplete: the part after # is missing or cut off. \
         Nothing was used up: copy the whole link and open it again."
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM secret_links WHERE revealed_at IS NULL AND payload IS NOT NULL").await,
        1
    );
    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "link.opened").count(), 3);
    assert!(!actions.iter().any(|a| a == "link.revealed"), "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "link.reveal_refused").count(), 1, "the altered key, refused");
    assert!(app.reveal(&app.new_client(), &link).await.is_ok(), "the link still works afterwards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_a_csv_file_bulk_adds_and_an_account_link_sets_a_password_without_a_key() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let teammate = unique("tess");
    app.onboard(&teammate).await;
    let names: Vec<String> = (0..3).map(|i| unique(&format!("csv{i}"))).collect();
    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("team.csv");
    let rows: Vec<String> = names.iter().map(|n| format!("{n},{n}@example.org")).collect();
    std::fs::write(&csv, format!("name,email\r\n{}\r\n", rows.join("\r\n"))).unwrap();
    let new_password = "a-password-set-in-chromium";
    let envs = vec![
        ("EGX_MODE", "lifecycle".to_owned()),
        ("EGX_BASE_URL", app.base.clone()),
        ("EGX_OWNER_USER", OWNER.to_owned()),
        ("EGX_OWNER_PASSWORD", OWNER_PASSWORD.to_owned()),
        ("EGX_TEAMMATE", teammate.clone()),
        ("EGX_TEAMMATE_PASSWORD", new_password.to_owned()),
        ("EGX_CSV_FILE", csv.display().to_string()),
    ];

    let result = tokio::task::spawn_blocking(move || run_node(&envs)).await.unwrap();

    assert_eq!(result["ok"], true);
    assert_eq!(result["added"], serde_json::json!(names));
    for name in &names {
        assert_eq!(app.stored_teammate(name).await.0, "active", "{name}");
    }
    assert_eq!(app.login(&app.new_client(), &teammate, new_password).await.status(), 303);
    assert_eq!(app.iam_keys(&teammate).await.len(), 1, "the account link made no key");
    app.stop().await.unwrap();
}
