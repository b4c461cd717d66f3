//! Removing a teammate (C16). moto lets DeleteUser through while keys (and
//! more) remain, so the prerequisites are proven on LocalStack, which refuses
//! DeleteUser while the user has access keys, inline or attached policies or
//! service-specific credentials. The rest (console password, MFA, signing
//! certificates, SSH keys, groups) no emulator enforces: the test asserts
//! IAM's state and the audit trail instead. A removal stopped by a failing
//! step finishes when run again; portal sessions and open links die with it.

use std::process::Command;

use crate::helpers::*;

/// A throwaway self-signed certificate (public part only; the key is discarded).
fn certificate_pem() -> String {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-keyout", "/dev/null", "-subj", "/CN=egx-test", "-days", "1"])
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A syntactically valid OpenSSH ed25519 public key with random key bytes.
fn ssh_public_key() -> String {
    use base64::Engine as _;
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), &egx_portal::crypto::random_bytes::<32>().unwrap()] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!("ssh-ed25519 {} egx-test", base64::engine::general_purpose::STANDARD.encode(blob))
}

/// Gives the user everything IAM wants gone before DeleteUser, by hand
/// (as an administrator would in the console). Returns the virtual MFA serial.
async fn make_hostile(app: &TestApp, name: &str) -> String {
    let iam = app.emulator.iam();
    iam.create_access_key().user_name(name).send().await.expect("a second key");
    let password = format!("{}-Aa1!", unique("console"));
    iam.create_login_profile().user_name(name).password(password).send().await.expect("a console password");
    let device = iam.create_virtual_mfa_device().virtual_mfa_device_name(unique("mfa")).send().await.unwrap();
    let serial = device.virtual_mfa_device().unwrap().serial_number().to_owned();
    iam.enable_mfa_device()
        .user_name(name)
        .serial_number(&serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .expect("an MFA device");
    let doc =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    iam.put_user_policy().user_name(name).policy_name("added-by-hand").policy_document(doc).send().await.unwrap();
    let extra = iam.create_policy().policy_name(unique("extra")).policy_document(doc).send().await.unwrap();
    iam.attach_user_policy().user_name(name).policy_arn(extra.policy().unwrap().arn().unwrap()).send().await.unwrap();
    let group = unique("group");
    iam.create_group().group_name(&group).send().await.unwrap();
    iam.add_user_to_group().group_name(&group).user_name(name).send().await.unwrap();
    iam.upload_signing_certificate().user_name(name).certificate_body(certificate_pem()).send().await.unwrap();
    iam.upload_ssh_public_key().user_name(name).ssh_public_key_body(ssh_public_key()).send().await.unwrap();
    iam.create_service_specific_credential()
        .user_name(name)
        .service_name("codecommit.amazonaws.com")
        .send()
        .await
        .expect("a service-specific credential");
    serial
}

#[tokio::test]
async fn removing_a_teammate_clears_everything_deleteuser_requires_then_deletes_the_user() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let name = unique("leaver");
    let (_, teammate) = app.onboard(&name).await;
    let serial = make_hostile(&app, &name).await;
    let iam = app.emulator.iam();
    let refused = iam.delete_user().user_name(&name).send().await.expect_err("LocalStack refuses DeleteUser now");
    assert_eq!(aws_sdk_iam::error::ProvideErrorMetadata::code(&refused), Some("DeleteConflict"));
    // A pending portal-account link that must die with the teammate.
    let res = app.teammate_action(&name, "links", &[]).await;
    let pending = text_of(&res.text().await.unwrap(), "#one-time-link");

    // Without the name typed nothing happens.
    let untyped = app.teammate_action(&name, "remove", &[]).await;
    assert_eq!(untyped.status(), 400);
    assert!(iam.get_user().user_name(&name).send().await.is_ok());

    let res = app.teammate_action(&name, "remove", &[("confirm", &name)]).await;

    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/teammates/{name}?done=removed"));
    let missing = iam.get_user().user_name(&name).send().await.expect_err("the IAM user is gone");
    assert_eq!(aws_sdk_iam::error::ProvideErrorMetadata::code(&missing), Some("NoSuchEntity"));
    let devices = iam.list_virtual_mfa_devices().send().await.unwrap();
    assert!(devices.virtual_mfa_devices().iter().all(|d| d.serial_number() != serial), "the virtual MFA is deleted");
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert_eq!(text_of(&page, "#status"), "removed");
    // The portal side died with it.
    assert_eq!(teammate.get(app.url("/upload")).send().await.unwrap().status(), 303, "signed out");
    assert_eq!(app.login(&app.new_client(), &name, TEAMMATE_PASSWORD).await.status(), 401);
    assert_eq!(app.reveal(&app.new_client(), &pending).await.unwrap_err().status(), 410);
    // Every step is in the audit log.
    for (action, count) in [
        ("iam.access_key_deleted", 2),
        ("iam.login_profile_deleted", 1),
        ("iam.mfa_device_deactivated", 1),
        ("iam.virtual_mfa_device_deleted", 1),
        ("iam.signing_certificate_deleted", 1),
        ("iam.ssh_public_key_deleted", 1),
        ("iam.service_specific_credential_deleted", 1),
        ("iam.inline_policy_deleted", 1),
        ("iam.policy_detached", 2),
        ("iam.user_removed_from_group", 1),
        ("iam.user_deleted", 1),
        ("teammate.removed", 1),
    ] {
        let rows = app.audit_of(action).await;
        assert_eq!(rows.len(), count, "{action}");
        assert!(rows.iter().all(|r| r.0 == OWNER && r.2.as_deref() == Some(name.as_str())), "{action}");
    }
    let started = app.audit_of("teammate.removal_started").await;
    assert_eq!((started[0].3["sessions_ended"].as_u64(), started[0].3["links_revoked"].as_u64()), (Some(1), Some(1)));
    assert_eq!(app.audit_of("link.revoked").await[0].3["reason"], "removal");

    // Removing again is harmless, and the name can be added again later.
    let again = app.teammate_action(&name, "remove", &[("confirm", &name)]).await;
    assert_eq!(again.status(), 303);
    let link = app.add_teammate_link(&name).await;
    assert!(link.contains("/l/"));
    assert_eq!(app.iam_keys(&name).await.len(), 1);
}

#[tokio::test]
async fn a_removal_stopped_by_a_failing_step_is_shown_and_finishes_when_run_again() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let name = unique("halfway");
    let (_, teammate) = app.onboard(&name).await;
    make_hostile(&app, &name).await;
    app.faults.refuse("DetachUserPolicy", 403, "AccessDenied", 1);

    let res = app.teammate_action(&name, "remove", &[("confirm", &name)]).await;

    assert_eq!(res.status(), 502);
    let html = res.text().await.unwrap();
    assert!(text_of(&html, "#form-error").contains("attached policies"), "{html}");
    assert_eq!(text_of(&html, "#status"), "removing");
    assert!(text_of(&html, "#status-detail").contains("attached policies: AccessDenied"));
    assert!(text_of(&html, "#remove button").contains("Finish removing"));
    let failed = app.audit_of("teammate.removal_failed").await;
    assert_eq!(
        (failed[0].3["step"].as_str(), failed[0].3["error"].as_str()),
        (Some("attached policies"), Some("AccessDenied"))
    );
    // Half done, and it shows: the keys are gone, the user is still there, the teammate is signed out.
    assert!(app.iam_keys(&name).await.is_empty());
    assert!(app.emulator.iam().get_user().user_name(&name).send().await.is_ok());
    assert_eq!(teammate.get(app.url("/upload")).send().await.unwrap().status(), 303);
    let list = app.get("/admin/teammates").await.text().await.unwrap();
    assert_eq!(text_of(&list, &format!("#teammates tr[data-name=\"{name}\"] .status-word")), "removing");

    let res = app.teammate_action(&name, "remove", &[("confirm", &name)]).await;

    assert_eq!(res.status(), 303);
    assert!(app.emulator.iam().get_user().user_name(&name).send().await.is_err(), "the user is gone");
    assert_eq!(app.audit_of("teammate.removal_started").await.len(), 2);
    assert_eq!(app.audit_of("teammate.removed").await.len(), 1);
    assert_eq!(app.audit_of("iam.access_key_deleted").await.len(), 2, "each key deleted once");
}

#[tokio::test]
async fn on_moto_which_cannot_list_service_credentials_the_removal_stops_there_instead_of_assuming_none() {
    // moto 5.2.5 has no ListServiceSpecificCredentials: it answers HTTP 500 with no
    // list. A list the portal could not read is never taken as "nothing there".
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("mover");
    app.onboard(&name).await;
    let iam = app.emulator.iam();
    iam.create_access_key().user_name(&name).send().await.unwrap();

    let res = app.teammate_action(&name, "remove", &[("confirm", &name)]).await;

    assert_eq!(res.status(), 502);
    let html = res.text().await.unwrap();
    let error = text_of(&html, "#form-error");
    assert!(error.contains("service-specific credentials") && error.contains("HTTP500"), "{error}");
    assert_eq!(text_of(&html, "#status"), "removing");
    // The steps before it ran: both keys are gone; the user is still there.
    assert!(app.iam_keys(&name).await.is_empty());
    assert_eq!(app.audit_of("iam.access_key_deleted").await.len(), 2);
    assert!(iam.get_user().user_name(&name).send().await.is_ok());
    assert!(app.audit_of("teammate.removed").await.is_empty());
}

#[tokio::test]
async fn a_user_without_the_managed_tag_is_never_deleted() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("tagless");
    app.onboard(&name).await;
    // Someone removed the tag by hand: the portal no longer counts the user as its own.
    app.emulator.iam().untag_user().user_name(&name).tag_keys("managed-by").send().await.unwrap();

    let res = app.teammate_action(&name, "remove", &[("confirm", &name)]).await;

    assert_eq!(res.status(), 409);
    assert!(text_of(&res.text().await.unwrap(), "#form-error").contains("managed-by=egx-portal"));
    assert!(app.emulator.iam().get_user().user_name(&name).send().await.is_ok());
    assert_eq!(app.iam_keys(&name).await.len(), 1);
    assert!(app.audit_of("teammate.removal_started").await.is_empty());
}

#[tokio::test]
async fn a_name_added_again_is_a_new_person_who_cannot_list_or_replace_the_earlier_holders_files() {
    // Arrange: dave uploads a file, is removed, and the name is given to someone new.
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let name = unique("dave");
    let (_, first) = app.onboard(&name).await;
    let res = app.sign(&first, serde_json::json!({"prefix": "batch", "relative_path": "own.txt", "size": 3})).await;
    let signed: serde_json::Value = res.json().await.unwrap();
    let mut put = reqwest::Client::new().put(signed["url"].as_str().unwrap()).body(b"old".to_vec());
    for (k, v) in signed["headers"].as_object().unwrap() {
        put = put.header(k, v.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    assert_eq!(app.complete(&first, signed["upload_id"].as_i64().unwrap()).await.status(), 200);
    assert_eq!(app.teammate_action(&name, "remove", &[("confirm", &name)]).await.status(), 303);

    // Act
    let (_, second) = app.onboard(&name).await;

    // Assert: the new holder sees no uploads and may not replace the earlier file …
    let page = second.get(app.url("/upload")).send().await.unwrap().text().await.unwrap();
    assert!(has(&page, "#no-uploads"), "the earlier holder's uploads are not listed");
    let res = app
        .sign(&second, serde_json::json!({"prefix": "batch", "relative_path": "own.txt", "size": 3, "replace": true}))
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "object_taken");
    // … nor confirm the earlier holder's upload; the owner still sees it in the history.
    assert_eq!(app.complete(&second, signed["upload_id"].as_i64().unwrap()).await.status(), 404);
    let uploads = app.get("/admin/uploads").await.text().await.unwrap();
    assert!(uploads.contains("batch/own.txt"), "the history keeps it");
    // Their own uploads work as for anyone.
    let res = app.sign(&second, serde_json::json!({"prefix": "batch", "relative_path": "new.txt", "size": 3})).await;
    assert_eq!(res.status(), 200);
}
