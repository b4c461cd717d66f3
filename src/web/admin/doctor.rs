//! `/admin/doctor`: the same bucket checks as `egx-portal doctor`, for the
//! owner, with a button that applies the missing settings (audited).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::AuthSession;
use crate::db;
use crate::db::audit::Event;
use crate::doctor::{self, Report};
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::Nav;
use crate::web::meta::ClientMeta;

#[derive(Template, WebTemplate)]
#[template(path = "admin/doctor.html")]
pub struct DoctorPage {
    nav: Nav,
    report: Report,
    fixable: bool,
}

pub async fn doctor_page(State(state): State<AppState>, session: AuthSession) -> AppResult<Response> {
    let report = doctor::run_all(&state.aws, &state.config, &state.origin()).await;
    let fixable = report.checks.iter().any(|c| c.status == doctor::Status::Fail && c.fix.is_some());
    Ok(DoctorPage { nav: Nav::of(&session), report, fixable }.into_response())
}

pub async fn apply_fixes(State(state): State<AppState>, session: AuthSession, meta: ClientMeta) -> AppResult<Response> {
    let ctx = meta.audit(&session.username);
    let report = doctor::run(&state.aws.s3, &state.config, &state.origin()).await;
    let result = doctor::apply_fixes(&state.aws.s3, &state.config, &report).await;
    let now = state.now();
    match result {
        Ok(applied) => {
            let event = Event::success(AuditAction::BucketSettingsApplied, state.config.bucket.as_str())
                .with_detail(serde_json::json!({ "applied": applied, "origin": report.origin }));
            db::audit::record_alone(&state.db, &ctx, event, now).await?;
            Ok(Redirect::to("/admin/doctor").into_response())
        }
        Err(e) => {
            let event = Event::failure(AuditAction::BucketSettingsApplied, state.config.bucket.as_str())
                .with_detail(serde_json::json!({ "origin": report.origin }));
            db::audit::record_alone(&state.db, &ctx, event, now).await?;
            Err(AppError::Upstream("S3 refused to apply the bucket settings; apply the rules shown by hand.".into(), e))
        }
    }
}
