//! The runbook script (`iam/create_team_users.sh`) against moto: it is
//! idempotent, and what it makes agrees with the portal's policy.

use std::process::Command;

use crate::helpers::*;

fn run_script(emulator: &Emulator, user: &str, bucket: &str) -> std::process::Output {
    Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/iam/create_team_users.sh"))
        .args([user, bucket])
        .env("AWS_ENDPOINT_URL", &emulator.url)
        .env("AWS_ACCESS_KEY_ID", &emulator.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &emulator.secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("bash runs")
}

#[tokio::test]
async fn running_the_script_twice_makes_one_policy_one_user_and_two_keys() {
    let emulator = Backend::Moto.emulator();
    let bucket = unique("egx-rb");
    let user = unique("rita");

    let first = run_script(&emulator, &user, &bucket);
    let second = run_script(&emulator, &user, &bucket);

    for out in [&first, &second] {
        assert!(out.status.success(), "script failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("AccessKeyId"), "{stdout}");
    }
    let iam = emulator.iam();
    let keys = iam.list_access_keys().user_name(&user).send().await.unwrap();
    assert_eq!(keys.access_key_metadata().len(), 2);
    let attached = iam.list_attached_user_policies().user_name(&user).send().await.unwrap();
    let policy = attached.attached_policies()[0].policy_arn().unwrap().to_owned();
    assert!(policy.ends_with(&format!("policy/EgxTeamUploadPolicy-{bucket}")));
    // The script's policy document is the portal's, byte for byte in meaning.
    let version = iam.get_policy().policy_arn(&policy).send().await.unwrap();
    let version_id = version.policy().unwrap().default_version_id().unwrap().to_owned();
    let doc = iam.get_policy_version().policy_arn(&policy).version_id(version_id).send().await.unwrap();
    let raw = doc.policy_version().unwrap().document().unwrap();
    let decoded = url::form_urlencoded::parse(format!("d={raw}").as_bytes()).next().unwrap().1.into_owned();
    let from_script: serde_json::Value = serde_json::from_str(&decoded).or_else(|_| serde_json::from_str(raw)).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&egx_portal::aws::iam::policy_document(
        &egx_portal::domain::BucketName::parse(&bucket).unwrap(),
    ))
    .unwrap();
    assert_eq!(from_script, ours);
}

#[tokio::test]
async fn the_script_refuses_bad_names_with_exit_code_2() {
    let emulator = Backend::Moto.emulator();
    let out = run_script(&emulator, "bad name", "egx-bucket");
    assert_eq!(out.status.code(), Some(2));
    let out = run_script(&emulator, "fine", "Bad_Bucket");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn a_user_made_by_the_script_is_adopted_through_the_page_then_its_key_is_rotated() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let user = unique("scripted");
    let out = run_script(&app.emulator, &user, &app.bucket);
    assert!(out.status.success(), "script failed: {}", String::from_utf8_lossy(&out.stderr));
    let script_key = app.iam_keys(&user).await[0].0.clone();
    // A user without the portal's policy is no candidate and cannot be adopted.
    let outsider = unique("outsider");
    app.emulator.iam().create_user().user_name(&outsider).send().await.unwrap();

    let page = app.get("/admin/adopt").await.text().await.unwrap();

    let row = format!("#candidates tr[data-name=\"{user}\"]");
    assert!(has(&page, &row), "{page}");
    assert!(!has(&page, &format!("#candidates tr[data-name=\"{outsider}\"]")));
    assert_eq!(text_of(&page, &format!("{row} td:nth-child(4)")), "1", "one key");
    let csrf = app.csrf(&app.client, "/admin/adopt").await;
    let refused = app.post_form("/admin/adopt", &[("csrf_token", &csrf), ("username", &outsider)]).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(app.count("SELECT COUNT(*) FROM teammates").await, 0);

    let res = app.post_form("/admin/adopt", &[("csrf_token", &csrf), ("username", &user)]).await;

    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/teammates/{user}?done=adopted"));
    let detail = app.get(&location(&res)).await.text().await.unwrap();
    assert_eq!(text_of(&detail, "#status"), "active");
    assert!(text_of(&detail, &format!("#keys tr[data-key=\"{script_key}\"]")).contains("adopted"));
    let tags = app.emulator.iam().list_user_tags().user_name(&user).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "managed-by" && t.value() == "egx-portal"));
    let adopted = app.audit_of("teammate.adopted").await;
    assert_eq!(adopted[0].3["access_key_ids"], serde_json::json!([script_key]));
    let page = app.get("/admin/adopt").await.text().await.unwrap();
    assert!(!has(&page, &row), "adopted users are no candidates any more");

    // Rotate: the script's key keeps working until the new one is used or confirmed.
    let res = app.teammate_action(&user, "rotate", &[]).await;
    let html = res.text().await.unwrap();
    let new_key = text_of(&html, "#access-key-id");
    let (payload, teammate) = app.enrol_via(&text_of(&html, "#one-time-link")).await;
    assert_eq!(payload["access_key_id"], new_key.as_str());
    assert_eq!(teammate.get(app.url("/upload")).send().await.unwrap().status(), 200, "a portal account too");
    assert_eq!(app.iam_keys(&user).await, vec![(script_key.clone(), true), (new_key.clone(), true)]);
    assert_eq!(app.teammate_action(&user, "rotation/confirm", &[]).await.status(), 303);
    assert_eq!(app.iam_keys(&user).await, vec![(script_key, false), (new_key, true)]);
}

#[tokio::test]
async fn the_script_uses_the_profile_it_is_given() {
    let emulator = Backend::Moto.emulator();
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!("[egx-test]\naws_access_key_id = {}\naws_secret_access_key = {}\n", emulator.key_id, emulator.secret),
    )
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile egx-test]\nregion = us-east-1\n").unwrap();
    let user = unique("profiled");
    let run = |profile: &str| {
        Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/iam/create_team_users.sh"))
            .args(["--profile", profile, &user, &unique("egx-pr")])
            .env("AWS_ENDPOINT_URL", &emulator.url)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", &config)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("bash runs")
    };

    let unknown = run("no-such-profile");
    let named = run("egx-test");

    assert_eq!(unknown.status.code(), Some(1), "an unknown profile fails");
    assert!(named.status.success(), "{}", String::from_utf8_lossy(&named.stderr));
    assert!(String::from_utf8_lossy(&named.stdout).contains("AccessKeyId"));
    assert_eq!(emulator.iam().list_access_keys().user_name(&user).send().await.unwrap().access_key_metadata().len(), 1);
}

#[test]
fn the_script_names_the_tool_that_is_missing() {
    let which = |tool: &str| {
        let out = Command::new("bash").args(["-c", &format!("command -v {tool}")]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (aws, dirname) = (which("aws"), which("dirname"));
    assert!(!aws.is_empty() && !dirname.is_empty(), "aws and dirname are on PATH in the test environment");
    for (tools, missing) in
        [(vec![("dirname", &dirname)], "AWS CLI"), (vec![("dirname", &dirname), ("aws", &aws)], "'jq'")]
    {
        let bin = tempfile::tempdir().unwrap();
        for (name, target) in tools {
            std::os::unix::fs::symlink(target, bin.path().join(name)).unwrap();
        }
        let out = Command::new("/bin/bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/iam/create_team_users.sh"))
            .args(["alice", "egx-bucket"])
            .env("PATH", bin.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{missing}: {stderr}");
        assert!(stderr.contains(missing) && stderr.contains("not installed"), "{missing}: {stderr}");
    }
}
