//! The test harness: `TestApp` starts the portal exactly as production does
//! (`App::build` + `run_until`), on port 0, with its own SQLite file, its own
//! bucket on the chosen emulator, and a clock the test can move.

use std::sync::{Arc, Once};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use egx_portal::app::{App, Overrides};
use egx_portal::aws::faults::Faults;
use egx_portal::clock::ManualClock;
use egx_portal::config::Config;
use egx_portal::crypto;
use egx_portal::state::AppState;
use scraper::{Html, Selector};
use tokio::sync::oneshot;

/// Which emulator a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// moto, IAM policies not enforced.
    Moto,
    /// moto with IAM policy enforcement on (signs as its admin user).
    MotoEnforcing,
    /// LocalStack: S3 checks presigned URL signatures.
    LocalStack,
}

#[derive(Debug, Clone)]
pub struct Emulator {
    pub url: String,
    pub key_id: String,
    pub secret: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the test suite with scripts/test.sh, which starts the emulators")
    })
}

impl Backend {
    pub fn emulator(self) -> Emulator {
        match self {
            Backend::Moto => Emulator { url: env("EGX_TEST_MOTO_URL"), key_id: "test".into(), secret: "test".into() },
            Backend::MotoEnforcing => Emulator {
                url: env("EGX_TEST_MOTO_AUTH_URL"),
                key_id: env("EGX_TEST_MOTO_AUTH_KEY_ID"),
                secret: env("EGX_TEST_MOTO_AUTH_SECRET"),
            },
            // LocalStack verifies signatures of unknown key ids with the secret "test".
            Backend::LocalStack => {
                Emulator { url: env("EGX_TEST_LOCALSTACK_URL"), key_id: "test".into(), secret: "test".into() }
            }
        }
    }
}

impl Emulator {
    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.key_id, &self.secret, None, None, "egx-tests")
    }

    pub fn s3_with(&self, credentials: Credentials) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .force_path_style(true)
            .http_client(egx_portal::aws::http_client())
            .credentials_provider(credentials)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.s3_with(self.credentials())
    }

    pub fn iam_with(&self, credentials: Credentials) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .http_client(egx_portal::aws::http_client())
            .credentials_provider(credentials)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.iam_with(self.credentials())
    }
}

/// A short random suffix, so tests sharing an emulator never collide.
pub fn unique(prefix: &str) -> String {
    let bytes: [u8; 5] = crypto::random_bytes().unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

static LOGGING: Once = Once::new();

/// Everything every app in this test binary logged (scanned for secrets).
static CAPTURED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// A log writer that keeps every line, and echoes it when `TEST_LOG` is set.
#[derive(Clone, Copy)]
struct Capture {
    echo: bool,
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.lock().unwrap().extend_from_slice(buf);
        if self.echo {
            print!("{}", String::from_utf8_lossy(buf));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Logs are always captured, at a more talkative level than production's
/// (`info`), so a secret that would reach any log line is caught.
fn init_logging() {
    LOGGING.call_once(|| {
        let echo = std::env::var("TEST_LOG").is_ok();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,egx_portal=trace,tower_http=debug"))
            .with_ansi(false)
            .with_writer(Capture { echo })
            .try_init();
    });
}

/// A copy of everything logged so far.
pub fn captured_logs() -> Vec<u8> {
    CAPTURED.lock().unwrap().clone()
}

pub const OWNER: &str = "owner";
pub const OWNER_PASSWORD: &str = "tulip-sextant-41";
pub const TEAMMATE_PASSWORD: &str = "harbor-quince-72";

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: ManualClock,
    pub setup_link: Option<String>,
    pub bucket: String,
    pub emulator: Emulator,
    pub client: reqwest::Client,
    /// Where `/metrics` is served, when the test set `EGX_METRICS_LISTEN`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The fault-injecting seam in front of the app's IAM and STS clients.
    pub faults: Faults,
    vars: Vec<(&'static str, String)>,
    credentials: Credentials,
    _data: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Options for [`TestApp::spawn_with`].
pub struct Spawn {
    pub backend: Backend,
    /// Extra `EGX_*` settings.
    pub env: Vec<(&'static str, String)>,
    /// Whether to create the bucket (with CORS for the app's origin).
    pub create_bucket: bool,
    /// The portal's own AWS identity (default: the emulator's admin).
    pub credentials: Option<Credentials>,
}

impl Spawn {
    pub fn on(backend: Backend) -> Self {
        Self { backend, env: Vec::new(), create_bucket: true, credentials: None }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(Spawn::on(backend)).await
    }

    pub async fn spawn_with(opts: Spawn) -> Self {
        init_logging();
        let emulator = opts.backend.emulator();
        let data = tempfile::tempdir().unwrap();
        let bucket = unique("egx-t");
        let mut vars: Vec<(&'static str, String)> = vec![
            ("EGX_BUCKET", bucket.clone()),
            ("EGX_REGION", "us-east-1".into()),
            ("EGX_LISTEN", "127.0.0.1:0".into()),
            ("EGX_DATA_DIR", data.path().display().to_string()),
            ("EGX_S3_ENDPOINT", emulator.url.clone()),
            ("EGX_IAM_ENDPOINT", emulator.url.clone()),
            ("EGX_KEY_VERIFY_SECONDS", "5".into()),
        ];
        vars.extend(opts.env);
        let clock = ManualClock::starting_now();
        let credentials = opts.credentials.unwrap_or_else(|| emulator.credentials());
        let faults = Faults::default();
        let (base, state, setup_link, tx, server, metrics_addr) = start(&vars, &credentials, &clock, &faults).await;
        if opts.create_bucket {
            create_bucket(&emulator.s3(), &bucket, &[base.as_str()]).await;
        }
        Self {
            base,
            state,
            clock,
            setup_link,
            bucket,
            emulator,
            client: new_client(),
            metrics_addr,
            faults,
            vars,
            credentials,
            _data: data,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the portal and starts it again on the same address, database
    /// and bucket (a restart, as after an upgrade). Clients keep their cookies.
    pub async fn restart(mut self) -> Self {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap().unwrap();
        }
        let mut vars = std::mem::take(&mut self.vars);
        let address = self.base.trim_start_matches("http://").to_owned();
        vars.push(("EGX_LISTEN", address));
        let (base, state, setup_link, tx, server, metrics_addr) =
            start(&vars, &self.credentials, &self.clock, &self.faults).await;
        assert_eq!(base, self.base, "the same address");
        self.metrics_addr = metrics_addr;
        self.state = state;
        self.setup_link = setup_link;
        self.vars = vars;
        self.shutdown = Some(tx);
        self.server = Some(server);
        self
    }

    /// Stops the server (graceful shutdown) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(h) => h.await?,
            None => Ok(()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A separate browser-like client (another person).
    pub fn new_client(&self) -> reqwest::Client {
        new_client()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.url(path)).form(form).send().await.unwrap()
    }

    /// Uses the setup link to create the owner; the client is signed in afterwards.
    pub async fn create_owner(&self) {
        let link = self.setup_link.clone().expect("a fresh app prints a setup link");
        let res = self
            .client
            .post(&link)
            .form(&[("username", OWNER), ("password", OWNER_PASSWORD), ("confirm", OWNER_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "owner setup redirects");
        assert_eq!(location(&res), "/admin/security?welcome=1", "two-factor is offered first");
    }

    pub async fn login(&self, client: &reqwest::Client, user: &str, password: &str) -> reqwest::Response {
        client.post(self.url("/login")).form(&[("username", user), ("password", password)]).send().await.unwrap()
    }

    /// The CSRF token a page embeds for `client`.
    pub async fn csrf(&self, client: &reqwest::Client, path: &str) -> String {
        let html = client.get(self.url(path)).send().await.unwrap().text().await.unwrap();
        let doc = Html::parse_document(&html);
        let input = Selector::parse("input[name=csrf_token]").unwrap();
        let uploader = Selector::parse("#uploader").unwrap();
        doc.select(&input)
            .next()
            .and_then(|e| e.value().attr("value"))
            .or_else(|| doc.select(&uploader).next().and_then(|e| e.value().attr("data-csrf")))
            .expect("page has a CSRF token")
            .to_owned()
    }

    /// Adds a teammate as the (signed-in) owner; returns the response.
    pub async fn add_teammate(&self, name: &str) -> reqwest::Response {
        let csrf = self.csrf(&self.client, "/admin/teammates").await;
        self.post_form("/admin/teammates", &[("csrf_token", &csrf), ("username", name)]).await
    }

    /// Adds a teammate and returns the one-time link shown to the owner.
    pub async fn add_teammate_link(&self, name: &str) -> String {
        let res = self.add_teammate(name).await;
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, 200, "adding {name} succeeds: {}", text_of(&html, "#form-error"));
        text_of(&html, "#one-time-link")
    }

    /// Plays the browser's part of Reveal: POST, then decrypt with the fragment key.
    pub async fn reveal(&self, client: &reqwest::Client, link: &str) -> Result<serde_json::Value, reqwest::Response> {
        let (id, key) = split_link(link);
        let res = client.post(self.url(&format!("/l/{id}/reveal"))).json(&reveal_body(link)).send().await.unwrap();
        if res.status() != 200 {
            return Err(res);
        }
        let body: serde_json::Value = res.json().await.unwrap();
        let stored = base64_url(body["payload"].as_str().unwrap());
        let plain = crypto::open_link_payload(&id, &stored, &key).expect("payload opens with the fragment key");
        Ok(serde_json::from_slice(&plain).unwrap())
    }

    /// Creates the owner, adds `name`, reveals and enrols; returns the
    /// revealed payload and a client signed in as the teammate.
    pub async fn onboard(&self, name: &str) -> (serde_json::Value, reqwest::Client) {
        let link = self.add_teammate_link(name).await;
        self.enrol_via(&link).await
    }

    /// Reveals `link` and enrols with its token, as the teammate's browser does.
    pub async fn enrol_via(&self, link: &str) -> (serde_json::Value, reqwest::Client) {
        let teammate = self.new_client();
        let payload = self.reveal(&teammate, link).await.unwrap_or_else(|r| panic!("reveal: {}", r.status()));
        let (id, _) = split_link(link);
        let res = teammate
            .post(self.url(&format!("/l/{id}/enrol")))
            .json(&serde_json::json!({
                "enrol_token": payload["enrol_token"], "password": TEAMMATE_PASSWORD, "confirm": TEAMMATE_PASSWORD
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "enrolment succeeds");
        (payload, teammate)
    }

    /// Asks the portal to sign an upload for `client`.
    pub async fn sign(&self, client: &reqwest::Client, body: serde_json::Value) -> reqwest::Response {
        let csrf = self.csrf(client, "/upload").await;
        client.post(self.url("/api/uploads")).header("x-csrf-token", csrf).json(&body).send().await.unwrap()
    }

    pub async fn complete(&self, client: &reqwest::Client, upload_id: i64) -> reqwest::Response {
        let csrf = self.csrf(client, "/upload").await;
        client
            .post(self.url(&format!("/api/uploads/{upload_id}/complete")))
            .header("x-csrf-token", csrf)
            .send()
            .await
            .unwrap()
    }

    /// Audit rows as (action, outcome, target), oldest first.
    pub async fn audit(&self) -> Vec<(String, String, Option<String>)> {
        sqlx::query_as("SELECT action, outcome, target FROM audit_events ORDER BY id")
            .fetch_all(&self.state.db)
            .await
            .unwrap()
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.audit().await.into_iter().map(|(a, _, _)| a).collect()
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.state.db).await.unwrap();
        n
    }
}

impl TestApp {
    /// Stops the app, then checks its SQLite file, its WAL and every log line
    /// captured so far for each needle (a secret it handled).
    pub async fn stop_and_scan(self, needles: &[&str]) {
        let path = self.state.config.database_path();
        let keep = tempfile::tempdir().unwrap();
        // Copy before stopping: the app's data folder goes away with it.
        let copy = keep.path().join("copy.sqlite");
        let wal_copy = keep.path().join("copy.sqlite-wal");
        std::fs::copy(&path, &copy).unwrap();
        let _ = std::fs::copy(path.with_extension("sqlite-wal"), &wal_copy);
        self.stop().await.unwrap();
        let data = std::fs::read(&copy).unwrap();
        let wal = std::fs::read(&wal_copy).unwrap_or_default();
        let logs = captured_logs();
        assert!(!logs.is_empty(), "logs were captured");
        for (i, needle) in needles.iter().enumerate() {
            assert!(needle.len() >= 8, "needle {i} is long enough to mean something");
            for (name, bytes) in [("database", &data), ("WAL", &wal), ("logs", &logs)] {
                let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
                assert!(!found, "secret #{i} was found in the {name}");
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

type Started = (
    String,
    AppState,
    Option<String>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    Option<std::net::SocketAddr>,
);

/// Builds and starts the app exactly as `main` does.
async fn start(
    vars: &[(&'static str, String)],
    credentials: &Credentials,
    clock: &ManualClock,
    faults: &Faults,
) -> Started {
    let config = Config::from_lookup(|k| vars.iter().rev().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("test configuration is valid");
    let app = App::build(
        config,
        Overrides {
            credentials: Some(credentials.clone()),
            clock: Some(Arc::new(clock.clone())),
            faults: Some(faults.clone()),
        },
    )
    .await
    .expect("the app builds");
    let base = format!("http://{}", app.local_addr().unwrap());
    let state = app.state().clone();
    let setup_link = app.setup_link().map(str::to_owned);
    let metrics_addr = app.metrics_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    (base, state, setup_link, tx, server, metrics_addr)
}

fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Creates a bucket whose CORS lets `origins` upload from a browser.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str, origins: &[&str]) {
    s3.create_bucket().bucket(bucket).send().await.expect("bucket is created");
    set_cors(s3, bucket, origins).await;
}

pub async fn set_cors(s3: &aws_sdk_s3::Client, bucket: &str, origins: &[&str]) {
    let mut rule = CorsRule::builder()
        .allowed_methods("PUT")
        .allowed_methods("GET")
        .allowed_methods("HEAD")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(60);
    for origin in origins {
        rule = rule.allowed_origins(*origin);
    }
    let cors = CorsConfiguration::builder().cors_rules(rule.build().unwrap()).build().unwrap();
    s3.put_bucket_cors().bucket(bucket).cors_configuration(cors).send().await.expect("CORS is set");
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The text of the first element matching `selector` ("" when absent).
pub fn text_of(html: &str, selector: &str) -> String {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel).next().map(|e| e.text().collect::<String>().trim().to_owned()).unwrap_or_default()
}

/// Whether `selector` matches anything in `html`.
pub fn has(html: &str, selector: &str) -> bool {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel).next().is_some()
}

/// `(link id, fragment key)` of a one-time link.
pub fn split_link(link: &str) -> (String, String) {
    let (url, key) = link.split_once('#').expect("link has a fragment");
    let id = url.rsplit('/').next().unwrap().to_owned();
    (id, key.to_owned())
}

pub fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// Owner actions on teammates, and what IAM and the audit log then say.
impl TestApp {
    /// The owner's page of one teammate: (status, html).
    pub async fn teammate_page(&self, name: &str) -> (u16, String) {
        let res = self.get(&format!("/admin/teammates/{name}")).await;
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Posts an action form of a teammate's page (`action` is the path
    /// after the name, e.g. "rotate" or "keys/AKIA…/delete"), with the
    /// page's CSRF token and `fields`.
    pub async fn teammate_action(&self, name: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf(&self.client, "/admin/teammates").await;
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_form(&format!("/admin/teammates/{name}/{action}"), &form).await
    }

    /// The user's access keys as IAM lists them: (id, active), oldest first.
    pub async fn iam_keys(&self, name: &str) -> Vec<(String, bool)> {
        let out = self.emulator.iam().list_access_keys().user_name(name).send().await.unwrap();
        let mut keys: Vec<_> = out
            .access_key_metadata()
            .iter()
            .map(|k| {
                let active = k.status() == Some(&aws_sdk_iam::types::StatusType::Active);
                (
                    k.create_date().map(|d| d.as_nanos()).unwrap_or_default(),
                    k.access_key_id().unwrap().to_owned(),
                    active,
                )
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, id, active)| (id, active)).collect()
    }

    /// Audit rows of one action: (actor, outcome, target, detail), oldest first.
    pub async fn audit_of(&self, action: &str) -> Vec<(String, String, Option<String>, serde_json::Value)> {
        let rows: Vec<(String, String, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT actor, outcome, target, detail FROM audit_events WHERE action = ? ORDER BY id")
                .bind(action)
                .fetch_all(&self.state.db)
                .await
                .unwrap();
        rows.into_iter()
            .map(|(actor, outcome, target, detail)| {
                let detail = detail.map(|d| serde_json::from_str(&d).unwrap()).unwrap_or(serde_json::Value::Null);
                (actor, outcome, target, detail)
            })
            .collect()
    }

    /// Signs the owner in again (after the clock moved past the session's life).
    pub async fn sign_in_owner_again(&self) {
        let res = self.login(&self.client, OWNER, OWNER_PASSWORD).await;
        assert_eq!(res.status(), 303, "the owner signs in again");
    }

    /// Uploads one small object with a teammate's own key, the way the AWS
    /// CLI would: IAM then records the key as used by S3.
    pub async fn use_key(&self, access_key_id: &str, secret: &str) {
        let key = Credentials::new(access_key_id, secret, None, None, "teammate");
        self.emulator
            .s3_with(key)
            .put_object()
            .bucket(&self.bucket)
            .key(format!("streaming/{}.csv", unique("used")))
            .body(b"a,b\n".to_vec().into())
            .send()
            .await
            .expect("the teammate's key uploads");
    }

    /// A teammate's status, last_step and last_error as stored.
    pub async fn stored_teammate(&self, name: &str) -> (String, Option<String>, Option<String>) {
        sqlx::query_as("SELECT status, last_step, last_error FROM teammates WHERE iam_user_name = ?")
            .bind(name)
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }
}

/// The text of every element matching `selector`.
pub fn texts_of(html: &str, selector: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

/// Signs `user` in with a client that keeps no cookies; returns the
/// `name=value` of the session cookie (for raw requests).
pub async fn session_cookie(app: &TestApp, user: &str, password: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = app.login(&client, user, password).await;
    assert_eq!(res.status(), 303, "sign-in succeeds");
    let set = res.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// The body a browser holding `link` sends to reveal it: the key check.
pub fn reveal_body(link: &str) -> serde_json::Value {
    let (id, key) = split_link(link);
    serde_json::json!({ "check": crypto::link_key_check(&id, &key).expect("the fragment is a key") })
}
