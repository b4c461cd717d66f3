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
