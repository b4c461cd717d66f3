//! `/healthz`: the process answers. `/readyz`: the database and AWS answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = sqlx::query("SELECT 1").execute(&state.db).await.is_ok();
    let aws = match state.aws.account_id().await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "readiness: AWS identity check failed");
            false
        }
    };
    let status = if database && aws { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(serde_json::json!({ "database": database, "aws": aws })))
}
