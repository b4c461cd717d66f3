//! The main journey through the HTTP API, on moto: setup link → owner →
//! add teammate → one-time link → reveal → enrol → upload → audit.

use crate::helpers::*;

#[tokio::test]
async fn the_whole_journey_works_and_every_step_is_audited() {
    // Arrange
    let app = TestApp::spawn(Backend::Moto).await;
    let name = unique("alice");

    // Act: the owner sets up the portal and adds a teammate.
    app.create_owner().await;
    let link = app.add_teammate_link(&name).await;
    assert!(link.starts_with(&format!("{}/l/", app.base)), "{link}");

    // The teammate opens the link, reveals, and sets a password.
    let (payload, teammate) = app.enrol_via(&link).await;
    assert_eq!(payload["username"], name.as_str());
    assert_eq!(payload["bucket"], app.bucket.as_str());
    assert!(payload["access_key_id"].as_str().unwrap().len() >= 16);
    assert!(!payload["secret_access_key"].as_str().unwrap().is_empty());

    // The IAM side exists: user tagged as ours, policy attached, one key.
    let iam = app.emulator.iam();
    let tags = iam.list_user_tags().user_name(&name).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "managed-by" && t.value() == "egx-portal"));
    let attached = iam.list_attached_user_policies().user_name(&name).send().await.unwrap();
    let policy_names: Vec<_> = attached.attached_policies().iter().filter_map(|p| p.policy_name()).collect();
    assert_eq!(policy_names, vec![format!("EgxTeamUploadPolicy-{}", app.bucket)]);
    let keys = iam.list_access_keys().user_name(&name).send().await.unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);
    assert_eq!(keys.access_key_metadata()[0].access_key_id(), payload["access_key_id"].as_str());

    // The teammate uploads through a presigned URL.
    let res = app
        .sign(
            &teammate,
            serde_json::json!({"prefix": "batch", "folder": "sub", "relative_path": "data.csv", "size": 11}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let signed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(signed["key"], "batch/sub/data.csv");
    let mut put = reqwest::Client::new().put(signed["url"].as_str().unwrap()).body("hello,world");
    for (k, v) in signed["headers"].as_object().unwrap() {
        put = put.header(k, v.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    let res = app.complete(&teammate, signed["upload_id"].as_i64().unwrap()).await;
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert_eq!(done["size"], 11);

    // Assert: the object holds the bytes, and the history shows it.
    let object = app.emulator.s3().get_object().bucket(&app.bucket).key("batch/sub/data.csv").send().await.unwrap();
    assert_eq!(object.body.collect().await.unwrap().into_bytes().as_ref(), b"hello,world");
    let page = teammate.get(app.url("/upload")).send().await.unwrap().text().await.unwrap();
    assert_eq!(text_of(&page, "#history tbody tr td code"), "batch/sub/data.csv");

    let actions = app.audit_actions().await;
    for expected in [
        "setup_link.issued",
        "owner.created",
        "teammate.provision_started",
        "iam.policy_ensured",
        "iam.user_created",
        "iam.policy_attached",
        "iam.access_key_created",
        "iam.access_key_verified",
        "link.created",
        "link.revealed",
        "teammate.enrolled",
        "upload.signed",
        "upload.completed",
    ] {
        assert!(actions.iter().any(|a| a == expected), "audit has {expected}: {actions:?}");
    }
    let owner_audit = app.get("/admin/audit").await.text().await.unwrap();
    assert!(has(&owner_audit, "#audit tbody tr"));
    assert_eq!(text_of(&owner_audit, "#audit tbody tr td.action"), "upload.completed");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn adding_an_active_teammate_again_is_refused_and_points_to_rotation() {
    let app = TestApp::spawn(Backend::Moto).await;
    let name = unique("bob");
    app.create_owner().await;
    app.add_teammate_link(&name).await;

    // A second "add" would hand out a second key without retiring the first.
    let res = app.add_teammate(&name).await;

    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(text_of(&html, "#form-error").contains("Rotate key"), "{html}");
    let keys = app.emulator.iam().list_access_keys().user_name(&name).send().await.unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1, "no second key was made");
    let (status,): (String,) = sqlx::query_as("SELECT status FROM teammates WHERE iam_user_name = ?")
        .bind(&name)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(status, "active", "a refused add leaves a working teammate as it was");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'teammate.provision_failed'").await, 0);
}

#[tokio::test]
async fn an_iam_user_the_portal_did_not_create_is_not_taken_over() {
    let app = TestApp::spawn(Backend::Moto).await;
    let name = unique("stranger");
    app.emulator.iam().create_user().user_name(&name).send().await.unwrap();
    app.create_owner().await;

    let res = app.add_teammate(&name).await;

    assert_eq!(res.status(), 502);
    assert!(text_of(&res.text().await.unwrap(), "#form-error").contains("not created by the portal"));
    let keys = app.emulator.iam().list_access_keys().user_name(&name).send().await.unwrap();
    assert!(keys.access_key_metadata().is_empty(), "no key was made for a foreign user");
}

#[tokio::test]
async fn the_owner_can_sign_out_and_back_in_and_sessions_rotate() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let csrf = app.csrf(&app.client, "/admin/teammates").await;

    let res = app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.get("/admin/teammates").await.status(), 303, "signed out: sent to login");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);

    let res = app.login(&app.client, OWNER, OWNER_PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/teammates");
    assert_eq!(app.get("/admin/teammates").await.status(), 200);
    let new_csrf = app.csrf(&app.client, "/admin/teammates").await;
    assert_ne!(csrf, new_csrf, "a new session has a new token");
}

#[tokio::test]
async fn the_setup_link_works_once_and_not_after_it_expires() {
    let app = TestApp::spawn(Backend::Moto).await;
    let link = app.setup_link.clone().unwrap();
    // Expired: an hour later the link is refused.
    app.clock.advance(3601);
    let res = app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 410);
    app.clock.advance(-3601);

    app.create_owner().await;
    let again = app
        .new_client()
        .post(&link)
        .form(&[("username", "mallory"), ("password", "mallory-password"), ("confirm", "mallory-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410);
    assert_eq!(
        text_of(&again.text().await.unwrap(), "#error-message"),
        "This setup link was used already or has expired. If the owner account exists, sign in; \
         otherwise restart the portal: it prints a new setup link in its log."
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE role = 'owner'").await, 1);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn(Backend::Moto).await;
    assert_eq!(app.get("/healthz").await.text().await.unwrap(), "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], serde_json::json!({"ok": true}));
    assert_eq!(body["aws"], serde_json::json!({"ok": true}));
}
