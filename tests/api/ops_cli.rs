//! The real `egx-portal` binary, as an operator runs it: exit codes (0 ok,
//! 1 failed, 2 usage/configuration), start-up refusals that name what is
//! missing (C07, C20), graceful shutdown on SIGTERM with a deadline while a
//! slow request is open (C25), owner password reset beside a serving portal,
//! and the online backup.

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_egx-portal");

/// The binary with a clean environment: only what the test gives it.
fn egx(data: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", data)
        // No instance-metadata probing: only 127.0.0.1 is reachable here.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", data.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", data.join("no-aws-credentials"))
        .env("EGX_BUCKET", "egx-cli-test")
        .env("EGX_REGION", "us-east-1")
        .env("EGX_DATA_DIR", data.join("data"))
        .env("EGX_LOG_FORMAT", "text")
        .stdin(Stdio::null());
    cmd
}

/// With static keys for the moto emulator (S3, IAM and STS there).
fn egx_on_moto(data: &Path) -> Command {
    let moto = Backend::Moto.emulator();
    let mut cmd = egx(data);
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("EGX_S3_ENDPOINT", &moto.url)
        .env("EGX_IAM_ENDPOINT", &moto.url);
    cmd
}

fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits (bounded) for the child to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A `serve` process, its address, and every line it wrote to stderr.
struct Served {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start(mut cmd: Command) -> Self {
        cmd.arg("serve").env("EGX_LISTEN", "127.0.0.1:0").stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("egx-portal listening")
                    && let Some(rest) = line.split("address=").nth(1)
                {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("the portal did not start: {:?}", log.lock().unwrap());
            }
        };
        Self { child, address, log, reader: Some(reader) }
    }

    /// After the process exited: waits until its last log line was read.
    fn drain_log(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn help_and_version_exit_0_and_usage_errors_exit_2() {
    let data = tempfile::tempdir().unwrap();
    let help = egx(data.path()).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for word in ["serve", "owner", "doctor", "audit", "backup", "healthcheck", "migrate", "Exit codes:"] {
        assert!(help.contains(word), "--help mentions {word}:\n{help}");
    }
    for sub in [&["owner", "reset-password", "--help"][..], &["backup", "--help"], &["migrate", "--help"]] {
        let out = egx(data.path()).args(sub).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub:?}");
    }
    let unknown = egx(data.path()).arg("frobnicate").output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let bad_format = egx(data.path()).args(["audit", "export", "--format", "xml"]).output().unwrap();
    assert_eq!(bad_format.status.code(), Some(2));
}

#[test]
fn a_configuration_error_exits_2_and_names_the_variable() {
    // C07: no region anywhere.
    let data = tempfile::tempdir().unwrap();
    let out = egx(data.path()).env_remove("EGX_REGION").arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("EGX_REGION: is not set"), "{err}");
    assert!(err.contains("get-bucket-location --bucket egx-cli-test"), "{err}");
    // A typo in a config file: the file and line are named.
    let file = data.path().join("egx.conf");
    std::fs::write(&file, "EGX_BUCKET=b-1\nEGX_REGON=us-east-1\n").unwrap();
    let out = egx(data.path()).env("EGX_CONFIG_FILE", &file).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{} line 2", file.display())) && err.contains("EGX_REGION?"), "{err}");
}

#[test]
fn settings_from_a_config_file_apply_and_the_environment_wins() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("egx.conf");
    let from_file = data.path().join("from-file");
    std::fs::write(&file, format!("EGX_DATA_DIR={}\nEGX_BUCKET=ignored-bucket\n", from_file.display())).unwrap();
    let out =
        egx(data.path()).env_remove("EGX_DATA_DIR").env("EGX_CONFIG_FILE", &file).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(from_file.join("egx-portal.sqlite").is_file(), "EGX_DATA_DIR came from the file");
    let policy = egx(data.path()).env("EGX_CONFIG_FILE", &file).args(["doctor", "--print-policy"]).output().unwrap();
    let policy = text(&policy.stdout);
    assert!(policy.contains("arn:aws:s3:::egx-cli-test/streaming/*"), "the environment's EGX_BUCKET won: {policy}");
}

#[test]
fn no_aws_credentials_fail_fast_at_start_naming_what_to_set() {
    // C20: a container with no credentials anywhere in the chain.
    let data = tempfile::tempdir().unwrap();
    let mut cmd = egx(data.path());
    cmd.env("EGX_LISTEN", "127.0.0.1:0").arg("serve").stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();

    let status = wait_exit(&mut child, Duration::from_secs(60));

    let status = status.expect("it stopped at start-up instead of serving without credentials");
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("no AWS credentials could be found"), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID") && err.contains("AWS_PROFILE"), "says what to set: {err}");
}

#[test]
fn migrate_check_reports_pending_migrations_then_migrate_applies_them() {
    let data = tempfile::tempdir().unwrap();
    let check = egx(data.path()).args(["migrate", "--check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "a new database has pending migrations");
    assert!(text(&check.stdout).contains("pending 0001"), "{}", text(&check.stdout));
    assert!(!data.path().join("data/egx-portal.sqlite").exists(), "--check changes nothing");
    let apply = egx(data.path()).arg("migrate").output().unwrap();
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply.stderr));
    let again = egx(data.path()).args(["migrate", "--check"]).output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("up to date"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.path().join("data/egx-portal.sqlite")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the database holds password hashes: private");
    }
}

#[test]
fn healthcheck_exits_1_when_nothing_answers_and_needs_no_other_setting() {
    let data = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = egx(data.path())
        .env_remove("EGX_BUCKET")
        .env_remove("EGX_REGION")
        .env("EGX_LISTEN", free.to_string())
        .arg("healthcheck")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn sigterm_with_a_slow_request_open_stops_at_the_deadline_and_leaves_a_sound_database() {
    // C25: a request stuck reading its body and a connection that never
    // finishes its request head are open when SIGTERM arrives.
    let data = tempfile::tempdir().unwrap();
    let mut cmd = egx_on_moto(data.path());
    cmd.env("EGX_SHUTDOWN_TIMEOUT_SECONDS", "2");
    let mut served = Served::start(cmd);
    let health = served.address.parse().unwrap();
    assert!(tokio_block(egx_portal::app::healthcheck(health, "/healthz")), "serving");
    let mut slow_body = TcpStream::connect(&served.address).unwrap();
    slow_body
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 1000\r\n\r\nusername=a",
        )
        .unwrap();
    let mut slow_head = TcpStream::connect(&served.address).unwrap();
    slow_head.write_all(b"GET /healthz HTTP/1.1\r\nHost: local").unwrap();
    std::thread::sleep(Duration::from_millis(300));

    served.terminate();
    let status = wait_exit(&mut served.child, Duration::from_secs(30));

    let status = status.expect("the portal exited instead of waiting for the slow request forever");
    served.drain_log();
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert!(served.logged("shutting down: draining requests"), "{:?}", served.log.lock().unwrap());
    assert!(served.logged("still open at the shutdown deadline"), "the deadline, not the client, ended it");
    slow_body.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = slow_body.read_to_end(&mut rest);
    assert!(!text(&rest).contains("HTTP/1.1 200"), "the cut request did not succeed");
    // No half-written state: the file checks out and the audit chain holds.
    let verify = egx(data.path()).args(["audit", "verify"]).output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
}

#[test]
fn sigterm_with_nothing_open_stops_without_waiting_for_the_deadline() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = egx_on_moto(data.path());
    cmd.env("EGX_SHUTDOWN_TIMEOUT_SECONDS", "300");
    let mut served = Served::start(cmd);
    let health = served.address.parse().unwrap();
    assert!(tokio_block(egx_portal::app::healthcheck(health, "/healthz")));
    let out = egx(data.path()).env("EGX_LISTEN", &served.address).arg("healthcheck").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "the healthcheck subcommand sees it serving");

    served.terminate();
    let status = wait_exit(&mut served.child, Duration::from_secs(60)).expect("it stopped well before the deadline");
    served.drain_log();

    assert_eq!(status.code(), Some(0));
    assert!(!served.logged("still open at the shutdown deadline"));
    assert!(served.logged("stopped"));
}

fn tokio_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[tokio::test]
async fn owner_reset_password_beside_a_serving_portal_ends_the_owners_sessions_and_is_audited() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    assert_eq!(app.get("/admin/teammates").await.status(), 200, "signed in");
    let data_dir = app.state.config.data_dir.clone();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = egx(home.path());
    cmd.env("EGX_DATA_DIR", &data_dir).args(["owner", "reset-password", "--username", OWNER]);

    let out = tokio::task::spawn_blocking(move || run_with_stdin(cmd, "violet-lantern-otter-42\n")).await.unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 session(s) ended"), "{}", text(&out.stdout));
    let res = app.get("/admin/teammates").await;
    assert_eq!((res.status().as_u16(), location(&res).as_str()), (303, "/login"), "the old session is gone");
    let fresh = app.new_client();
    assert_eq!(app.login(&fresh, OWNER, OWNER_PASSWORD).await.status(), 401, "the old password fails");
    let res = app.login(&fresh, OWNER, "violet-lantern-otter-42").await;
    assert_eq!(res.status(), 303, "the new one works");
    let audit = app.audit().await;
    assert!(audit.iter().any(|(a, o, t)| a == "owner.password_reset" && o == "success" && t.as_deref() == Some(OWNER)));
    let actor: (String,) = sqlx::query_as("SELECT actor FROM audit_events WHERE action = 'owner.password_reset'")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(actor.0, "cli");
}

#[tokio::test]
async fn owner_commands_refuse_bad_input_with_exit_2_and_change_nothing() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let data_dir = app.state.config.data_dir.clone();
    let home = tempfile::tempdir().unwrap();
    let cmd = |args: &[&str]| {
        let mut c = egx(home.path());
        c.env("EGX_DATA_DIR", &data_dir).args(args);
        c
    };
    let short = cmd(&["owner", "reset-password"]);
    let wrong_name = cmd(&["owner", "reset-password", "--username", "mallory"]);
    let two_lines = cmd(&["owner", "reset-password"]);
    let outs = tokio::task::spawn_blocking(move || {
        (
            run_with_stdin(short, "short\n"),
            run_with_stdin(wrong_name, "a-long-enough-password\n"),
            run_with_stdin(two_lines, "first-line-password\nsecond\n"),
        )
    })
    .await
    .unwrap();
    for (what, out) in [("too short", &outs.0), ("not the owner", &outs.1), ("two lines", &outs.2)] {
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out.stderr));
    }
    assert!(text(&outs.1.stderr).contains("not \"mallory\""), "{}", text(&outs.1.stderr));
    assert_eq!(app.get("/admin/teammates").await.status(), 200, "the session survived");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'owner.password_reset'").await, 0);
}

#[tokio::test]
async fn owner_disable_2fa_clears_two_factor_so_a_locked_out_owner_signs_in_with_the_password() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let account: (i64,) =
        sqlx::query_as("SELECT id FROM accounts WHERE role = 'owner'").fetch_one(&app.state.db).await.unwrap();
    sqlx::query("UPDATE accounts SET totp_secret = x'00' WHERE id = ?")
        .bind(account.0)
        .execute(&app.state.db)
        .await
        .unwrap();
    let data_dir = app.state.config.data_dir.clone();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = egx(home.path());
    cmd.env("EGX_DATA_DIR", &data_dir).args(["owner", "disable-2fa"]);

    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("two-factor cleared"), "{}", text(&out.stdout));
    let (secret,): (Option<Vec<u8>>,) = sqlx::query_as("SELECT totp_secret FROM accounts WHERE id = ?")
        .bind(account.0)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert!(secret.is_none());
    let res = app.login(&app.new_client(), OWNER, OWNER_PASSWORD).await;
    assert_eq!((res.status().as_u16(), location(&res).as_str()), (303, "/admin/teammates"), "no second factor asked");
    assert!(app.audit().await.iter().any(|(a, o, _)| a == "two_factor.disabled" && o == "success"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writes_happen_is_a_consistent_verified_copy() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let before = app.count("SELECT COUNT(*) FROM audit_events").await;
    // Writers: failed sign-ins through the portal and audit rows written directly, until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for i in 0..2 {
        let (stop, db, base) = (stop.clone(), app.state.db.clone(), app.base.clone());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 2000 {
                if i == 0 {
                    let _ =
                        client.post(format!("{base}/login")).form(&[("username", "x"), ("password", "y")]).send().await;
                } else {
                    let event =
                        egx_portal::db::audit::Event::success(egx_portal::domain::AuditAction::Logout, "writer");
                    egx_portal::db::audit::record_alone(
                        &db,
                        &egx_portal::db::audit::AuditContext::system("test"),
                        event,
                        0,
                    )
                    .await
                    .unwrap();
                }
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("egx-backup.sqlite");

    let report = egx_portal::backup::run(&app.state.config, &target, app.state.now()).await.unwrap();

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    assert!(written > 0, "writes happened during the backup");
    let after = app.count("SELECT COUNT(*) FROM audit_events").await;
    assert!(report.audit_events as i64 > before, "the copy has rows written before it");
    assert!((report.audit_events as i64) < after, "rows written after the snapshot (and its own record) are not in it");
    let again = egx_portal::backup::verify(&target, report.schema_version).await.unwrap();
    assert_eq!(again.audit_events, report.audit_events, "the copy opens again, chain intact");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600, "private");
    }
    assert!(app.audit().await.iter().any(|(a, o, _)| a == "backup.created" && o == "success"));
    // Never over an existing file.
    let err = egx_portal::backup::run(&app.state.config, &target, app.state.now()).await.unwrap_err();
    assert!(format!("{err:#}").contains("never overwrites"), "{err:#}");
}

#[tokio::test]
async fn the_backup_command_prints_what_it_verified_and_exits_1_when_it_cannot_write() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let data_dir = app.state.config.data_dir.clone();
    let home = tempfile::tempdir().unwrap();
    let target = home.path().join("copy.sqlite");
    let (ok, missing_dir) = {
        let mut ok = egx(home.path());
        ok.env("EGX_DATA_DIR", &data_dir).arg("backup").arg(&target);
        let mut bad = egx(home.path());
        bad.env("EGX_DATA_DIR", &data_dir).arg("backup").arg(home.path().join("no/such/dir/copy.sqlite"));
        tokio::task::spawn_blocking(move || (ok.output().unwrap(), bad.output().unwrap())).await.unwrap()
    };
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let said = text(&ok.stdout);
    assert!(said.contains("integrity ok") && said.contains("intact"), "{said}");
    assert!(said.contains("master key"), "reminds that the key is not in the copy: {said}");
    assert_eq!(missing_dir.status.code(), Some(1));
    assert!(text(&missing_dir.stderr).contains("create it first"), "{}", text(&missing_dir.stderr));
}
