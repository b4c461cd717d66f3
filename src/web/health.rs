//! `/healthz`: the process answers (liveness; touches nothing).
//! `/readyz`: the database and AWS answer (readiness). AWS is asked with
//! STS GetCallerIdentity (are the credentials good?) and S3 HeadBucket (is
//! the bucket reachable with them?). The result is kept for
//! `EGX_READY_CACHE_SECONDS`, so probes every second do not become AWS calls
//! every second, and concurrent probes share one check. The answer names
//! what is down in words an operator can act on, never internal error text.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::clock::Timestamp;
use crate::state::AppState;

/// The longest a fresh readiness check may take before AWS counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(4);

pub async fn healthz() -> &'static str {
    "ok"
}

/// One component's state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Component {
    pub ok: bool,
    /// Why it is down (absent when up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Component {
    fn up() -> Self {
        Self { ok: true, problem: None }
    }

    fn down(problem: impl Into<String>) -> Self {
        Self { ok: false, problem: Some(problem.into()) }
    }
}

/// What `/readyz` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    pub database: Component,
    pub aws: Component,
    /// When the check ran (Unix seconds); older than now when cached.
    pub checked_at: Timestamp,
}

/// The last readiness result, shared by all probes.
#[derive(Debug, Default)]
pub struct ReadyCache(Mutex<Option<Readiness>>);

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let report = readiness(&state).await;
    let status = if report.status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(axum::http::header::CACHE_CONTROL, "no-store")], Json(report))
}

/// The cached result if it is fresh enough, else a new check.
pub async fn readiness(state: &AppState) -> Readiness {
    // Holding the lock while checking makes concurrent probes wait for one check.
    let mut slot = state.ready_cache.0.lock().await;
    let now = state.now();
    let max_age = i64::try_from(state.config.ready_cache_secs).unwrap_or(i64::MAX);
    if let Some(cached) = slot.as_ref()
        && now >= cached.checked_at
        && now - cached.checked_at < max_age
    {
        return cached.clone();
    }
    let (database, aws) = tokio::join!(check_database(state), check_aws(state));
    if !database.ok || !aws.ok {
        tracing::warn!(database = ?database.problem, aws = ?aws.problem, "readiness: not ready");
    }
    state.metrics.set_readiness(crate::metrics::LastReadiness { database: database.ok, aws: aws.ok });
    let report =
        Readiness { status: if database.ok && aws.ok { "ready" } else { "not ready" }, database, aws, checked_at: now };
    *slot = Some(report.clone());
    report
}

async fn check_database(state: &AppState) -> Component {
    match tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&state.db)).await {
        Ok(Ok(_)) => Component::up(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            Component::down("the SQLite database does not answer")
        }
        Err(_) => Component::down("the SQLite database did not answer in time"),
    }
}

async fn check_aws(state: &AppState) -> Component {
    let aws = &state.aws;
    let bucket = state.config.bucket.as_str();
    let checks =
        async { tokio::join!(aws.sts.get_caller_identity().send(), aws.s3.head_bucket().bucket(bucket).send()) };
    let Ok((identity, head)) = tokio::time::timeout(CHECK_TIMEOUT, checks).await else {
        return Component::down("AWS did not answer in time");
    };
    if let Err(e) = identity {
        tracing::warn!(error = %crate::aws::s3::describe(&e), "readiness: STS GetCallerIdentity failed");
        return Component::down(
            match e.as_service_error().and_then(|s| aws_sdk_sts::error::ProvideErrorMetadata::code(s)) {
                Some(code) => format!("AWS refused the portal's credentials ({code})"),
                None if e.raw_response().is_some() => "AWS refused the portal's credentials".to_owned(),
                None => "AWS (STS) could not be reached, or no credentials were found".to_owned(),
            },
        );
    }
    match head {
        Ok(_) => Component::up(),
        Err(e) => {
            tracing::warn!(error = %crate::aws::s3::describe(&e), "readiness: S3 HeadBucket failed");
            Component::down(match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => "the bucket does not exist (check EGX_BUCKET)".to_owned(),
                Some(403) => "the portal's credentials may not access the bucket (403)".to_owned(),
                Some(301 | 400) => "the bucket is in another region than EGX_REGION (run egx-portal doctor)".to_owned(),
                Some(other) => format!("S3 answered {other} for the bucket"),
                None => "S3 could not be reached".to_owned(),
            })
        }
    }
}
