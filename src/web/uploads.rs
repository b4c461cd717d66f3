//! The teammate's upload page and its API. The server signs a URL only
//! after validating the key (allowed prefix, normalised, ≤ 1024 bytes) and
//! the size; the browser then PUTs the file straight to S3 and reports back,
//! and the server confirms the object with HeadObject before recording it.

use std::time::Duration;

use crate::web::extract::{ApiPath, Json};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Nav;
use super::meta::ClientMeta;
use crate::auth::AuthSession;
use crate::aws::s3;
use crate::db;
use crate::db::audit::Event;
use crate::domain::{AuditAction, ObjectKey, Prefix};
use crate::error::{ApiResult, AppError, AppResult};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "upload.html")]
pub struct UploadPage {
    nav: Nav,
    bucket: String,
    prefixes: Vec<&'static str>,
    max_file_bytes: u64,
    max_file_human: String,
    uploads: Vec<UploadRow>,
}

pub struct UploadRow {
    pub key: String,
    pub size: String,
    pub when: String,
}

/// Sizes for people, in binary units: `12.3 MiB`.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

pub async fn upload_page(State(state): State<AppState>, session: AuthSession) -> AppResult<Response> {
    let uploads = db::uploads::list_recent(&state.db, Some(session.account_id), 50)
        .await?
        .into_iter()
        .map(|u| UploadRow {
            key: u.object_key,
            size: human_size(u.size.unwrap_or(u.declared_size)),
            when: crate::clock::format_utc(u.completed_at.unwrap_or(u.created_at)),
        })
        .collect();
    let page = UploadPage {
        nav: Nav::of(&session),
        bucket: state.config.bucket.to_string(),
        prefixes: Prefix::ALL.iter().map(|p| p.as_str()).collect(),
        max_file_bytes: state.config.max_file_bytes,
        max_file_human: human_size(i64::try_from(state.config.max_file_bytes).unwrap_or(i64::MAX)),
        uploads,
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct SignRequest {
    prefix: String,
    #[serde(default)]
    folder: String,
    relative_path: String,
    size: u64,
}

/// Target text for the audit log: bounded, whatever was sent.
fn bounded(s: &str) -> String {
    s.chars().take(1100).collect()
}

pub async fn sign_upload(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Json(req): Json<SignRequest>,
) -> ApiResult<Response> {
    let ctx = meta.audit(&session.username);
    let now = state.now();
    let attempted = bounded(&format!("{}/{}/{}", req.prefix, req.folder, req.relative_path));
    let refuse = |reason: String| async {
        let event = Event::failure(AuditAction::UploadRefused, attempted.as_str())
            .with_detail(serde_json::json!({ "reason": reason }));
        db::audit::record_alone(&state.db, &ctx, event, now).await?;
        Ok::<AppError, AppError>(AppError::BadRequest(reason))
    };

    let key = match ObjectKey::build(&req.prefix, &req.folder, &req.relative_path) {
        Ok(k) => k,
        Err(e) => {
            return Err(refuse(format!("This file name cannot be uploaded: {e}.")).await?.into());
        }
    };
    if req.size > state.config.max_file_bytes {
        let limit = human_size(i64::try_from(state.config.max_file_bytes).unwrap_or(i64::MAX));
        return Err(refuse(format!("This file is larger than the portal's limit of {limit}.")).await?.into());
    }
    // No silent overwrite: an existing object is never replaced from here.
    let existing = s3::head(&state.aws.s3, &state.config.bucket, key.as_str())
        .await
        .map_err(|e| AppError::Upstream("S3 could not be reached to check the file name; try again.".into(), e))?;
    if existing.is_some() {
        let event = Event::failure(AuditAction::UploadRefused, key.as_str())
            .with_detail(serde_json::json!({ "reason": "exists" }));
        db::audit::record_alone(&state.db, &ctx, event, now).await?;
        return Err(AppError::Conflict(format!(
            "{key} already exists in the bucket; rename the file or choose another folder."
        ))
        .into());
    }

    let content_type = s3::content_type_for(key.file_name());
    let ttl = Duration::from_secs(state.config.presign_ttl_secs);
    let presigned = s3::presign_put(&state.aws.s3, &state.config.bucket, &key, content_type, req.size, ttl)
        .await
        .map_err(AppError::Internal)?;
    let size = i64::try_from(req.size).map_err(|e| AppError::Internal(e.into()))?;
    let mut tx = db::begin_immediate(&state.db).await?;
    let upload_id =
        db::uploads::insert_signed(&mut *tx, session.account_id, key.as_str(), size, content_type, now).await?;
    let event = Event::success(AuditAction::UploadSigned, key.as_str())
        .with_detail(serde_json::json!({ "upload_id": upload_id, "size": size }));
    db::audit::record(&mut tx, &ctx, event, now).await?;
    tx.commit().await?;
    Ok(axum::Json(serde_json::json!({
        "upload_id": upload_id,
        "key": key.as_str(),
        "method": "PUT",
        "url": presigned.url,
        "headers": presigned.headers.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "expires_in": state.config.presign_ttl_secs,
    }))
    .into_response())
}

pub async fn complete_upload(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let ctx = meta.audit(&session.username);
    // SECURITY: only the teammate who signed an upload can complete it.
    let upload = db::uploads::find_owned(&state.db, id, session.account_id).await?.ok_or(AppError::NotFound)?;
    if upload.status == "completed" {
        return Ok(axum::Json(serde_json::json!({
            "key": upload.object_key, "size": upload.size, "etag": upload.etag, "status": "completed"
        }))
        .into_response());
    }
    if upload.status != "signed" {
        return Err(
            AppError::Conflict("This upload was already marked as failed; upload the file again.".into()).into()
        );
    }
    let facts = s3::head(&state.aws.s3, &state.config.bucket, &upload.object_key)
        .await
        .map_err(|e| AppError::Upstream("S3 could not be reached to confirm the upload; try again.".into(), e))?;
    let now = state.now();
    let problem = match &facts {
        None => Some("S3 has no object at this key: the upload did not arrive".to_owned()),
        Some(f) if f.size != upload.declared_size => {
            Some(format!("S3 holds {} bytes, not the {} that were announced", f.size, upload.declared_size))
        }
        Some(_) => None,
    };
    let mut tx = db::begin_immediate(&state.db).await?;
    if let Some(problem) = problem {
        db::uploads::mark_failed(&mut *tx, id).await?;
        let event = Event::failure(AuditAction::UploadFailed, upload.object_key.as_str())
            .with_detail(serde_json::json!({ "upload_id": id, "reason": problem }));
        db::audit::record(&mut tx, &ctx, event, now).await?;
        tx.commit().await?;
        return Err(AppError::Conflict(format!("{problem}. Upload the file again.")).into());
    }
    let facts = facts.ok_or_else(|| AppError::Internal(anyhow::anyhow!("facts vanished")))?;
    db::uploads::mark_completed(&mut *tx, id, facts.size, &facts.etag, now).await?;
    let event = Event::success(AuditAction::UploadCompleted, upload.object_key.as_str())
        .with_detail(serde_json::json!({ "upload_id": id, "size": facts.size, "etag": facts.etag }));
    db::audit::record(&mut tx, &ctx, event, now).await?;
    tx.commit().await?;
    Ok(axum::Json(serde_json::json!({
        "key": upload.object_key, "size": facts.size, "etag": facts.etag, "status": "completed"
    }))
    .into_response())
}
