//! `egx-portal teammate …`: the same library functions as the pages, run
//! from a shell and audited with actor "cli". Most of it through the
//! library entry point (with the test app's state, clock and emulator), and
//! once through the real binary beside the running portal.

use clap::Parser;
use egx_portal::teammate_cli::{TeammateCommand, run};

use crate::helpers::*;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: TeammateCommand,
}

/// Runs `egx-portal teammate ARGS…` in-process: (exit code, standard output
/// followed by standard error).
async fn teammate(app: &TestApp, args: &[&str]) -> (u8, String) {
    let cli = Cli::try_parse_from(std::iter::once("teammate").chain(args.iter().copied())).expect("valid arguments");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&app.state, cli.command, &mut out, &mut err).await.expect("no internal error");
    out.extend_from_slice(&err);
    (code, String::from_utf8(out).unwrap())
}

/// The one-time link in a command's output.
fn link_in(output: &str) -> String {
    output.lines().find(|l| l.contains("/l/")).expect("a link is printed").trim().to_owned()
}

#[tokio::test]
async fn every_teammate_subcommand_does_what_the_page_does_and_is_audited_as_cli() {
    // LocalStack, so that a removal runs to the end (moto lacks one list call).
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let name = unique("cli");

    let (code, out) = teammate(&app, &["add", &name]).await;
    assert_eq!(code, 0, "{out}");
    let link = link_in(&out);
    assert!(link.starts_with(&app.base));
    let (code, out) = teammate(&app, &["list"]).await;
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.starts_with(&name)).expect("listed");
    assert!(line.contains("activating"), "{line}");
    let (payload, _) = app.enrol_via(&link).await;
    let first = payload["access_key_id"].as_str().unwrap().to_owned();
    let (_, out) = teammate(&app, &["list"]).await;
    assert!(out.contains(&format!("key {first} Active")), "{out}");

    let (code, out) = teammate(&app, &["rotate", &name]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("old key {first} stays active")));
    let second =
        app.reveal(&app.new_client(), &link_in(&out)).await.unwrap()["access_key_id"].as_str().unwrap().to_owned();
    assert_eq!(teammate(&app, &["confirm-rotation", &name]).await.0, 0);
    assert_eq!(app.iam_keys(&name).await, vec![(first.clone(), false), (second.clone(), true)]);

    assert_eq!(teammate(&app, &["reactivate-key", &name, &first]).await.0, 0);
    assert_eq!(teammate(&app, &["deactivate-key", &name, &first]).await.0, 0);
    let (code, out) = teammate(&app, &["delete-key", &name, &first]).await;
    assert_eq!(code, 2, "no --yes: {out}");
    assert_eq!(app.iam_keys(&name).await.len(), 2);
    assert_eq!(teammate(&app, &["delete-key", &name, &first, "--yes"]).await.0, 0);
    assert_eq!(app.iam_keys(&name).await, vec![(second.clone(), true)]);

    let (code, out) = teammate(&app, &["reissue-link", &name, "--account-only"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("portal-account link (no key)"));
    let account_link = link_in(&out);
    let (link_id, _) = split_link(&account_link);
    let (_, shown) = teammate(&app, &["show", &name]).await;
    assert!(shown.contains(&format!("link {link_id}: account only")) && shown.contains("pending"), "{shown}");
    assert_eq!(teammate(&app, &["revoke-link", &name, &link_id]).await.0, 0);
    assert_eq!(app.reveal(&app.new_client(), &account_link).await.unwrap_err().status(), 410);

    let (code, out) = teammate(&app, &["disable", &name]).await;
    assert_eq!(code, 0);
    assert!(out.contains("1 session(s) ended"), "{out}");
    assert_eq!(teammate(&app, &["disable", &name]).await.0, 1, "already disabled: refused");
    assert_eq!(teammate(&app, &["enable", &name]).await.0, 0);

    let others = [unique("b1"), unique("b2")];
    let (code, out) = teammate(&app, &["bulk-add", &others[0], &others[1], "bad/name"]).await;
    assert_eq!(code, 2, "an invalid name: nobody added: {out}");
    assert!(out.contains("invalid: \"bad/name\""));
    let (code, out) = teammate(&app, &["bulk-add", &others[0], &others[1]]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().filter(|l| l.contains("\tadded\t")).count(), 2);

    assert_eq!(teammate(&app, &["remove", &name]).await.0, 2, "no --yes");
    let (code, out) = teammate(&app, &["remove", &name, "--yes"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{name} removed")));
    assert!(app.emulator.iam().get_user().user_name(&name).send().await.is_err());

    assert_eq!(teammate(&app, &["show", "nobody-known"]).await.0, 2);
    assert_eq!(teammate(&app, &["add", "bad name"]).await.0, 2);
    // Every change is the CLI's in the audit log.
    for action in [
        "teammate.provision_started",
        "key_rotation.started",
        "key_rotation.confirmed",
        "link.revoked",
        "teammate.removed",
    ] {
        let rows = app.audit_of(action).await;
        assert!(!rows.is_empty() && rows.iter().all(|r| r.0 == "cli"), "{action}: {rows:?}");
    }
}

#[tokio::test]
async fn adopt_lists_candidates_then_adopts_them() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (code, out) = teammate(&app, &["adopt"]).await;
    assert_eq!((code, out.trim()), (0, "the portal's policy does not exist yet: nobody carries it"));
    app.add_teammate_link(&unique("first")).await; // makes the policy
    let user = unique("byhand");
    let iam = app.emulator.iam();
    iam.create_user().user_name(&user).send().await.unwrap();
    let policy = format!("arn:aws:iam::123456789012:policy/EgxTeamUploadPolicy-{}", app.bucket);
    iam.attach_user_policy().user_name(&user).policy_arn(&policy).send().await.unwrap();

    let (code, out) = teammate(&app, &["adopt"]).await;
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with(&format!("{user}\t")) && l.contains("tagged no")), "{out}");

    let (code, out) = teammate(&app, &["adopt", &user]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(teammate(&app, &["adopt", &user]).await.0, 1, "already a teammate");
    let (_, out) = teammate(&app, &["show", &user]).await;
    assert!(out.starts_with(&format!("{user}\tactive")), "{out}");
    assert_eq!(app.audit_of("teammate.adopted").await[0].0, "cli");
}

#[tokio::test]
async fn the_real_binary_runs_teammate_commands_beside_the_serving_portal() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("bin");
    let config = &app.state.config;
    let binary = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_egx-portal"))
            .arg("teammate")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("EGX_BUCKET", &app.bucket)
            .env("EGX_REGION", "us-east-1")
            .env("EGX_DATA_DIR", &config.data_dir)
            .env("EGX_PUBLIC_URL", &app.base)
            .env("EGX_S3_ENDPOINT", &app.emulator.url)
            .env("EGX_IAM_ENDPOINT", &app.emulator.url)
            .env("EGX_KEY_VERIFY_SECONDS", "5")
            .env("AWS_ACCESS_KEY_ID", &app.emulator.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &app.emulator.secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    };

    let added = binary(&["add", &name]);
    let listed = binary(&["list"]);
    let unknown = binary(&["frobnicate"]);
    let unconfirmed = binary(&["remove", &name]);

    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(added.status.success(), "{stdout}{}", String::from_utf8_lossy(&added.stderr));
    let link = link_in(&stdout);
    assert!(link.starts_with(&format!("{}/l/", app.base)), "{link}");
    let payload = app.reveal(&app.new_client(), &link).await.unwrap();
    assert_eq!(payload["username"], name.as_str(), "the serving portal reveals the CLI's link");
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).lines().any(|l| l.starts_with(&format!("{name}\tactivating"))));
    assert_eq!(unknown.status.code(), Some(2), "clap refuses an unknown subcommand");
    assert_eq!(unconfirmed.status.code(), Some(2));
    assert_eq!(app.iam_keys(&name).await.len(), 1);
    assert_eq!(app.audit_of("teammate.provision_started").await[0].0, "cli");
}
