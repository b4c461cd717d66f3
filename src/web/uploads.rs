//! The teammate's upload page and its single-PUT API. The server signs a URL
//! only after validating the key (allowed prefix, normalised, ≤ 1024 bytes),
//! the size and that nothing exists there (unless the teammate asked to
//! replace); the browser then PUTs the file straight to S3 and reports back,
//! and the server confirms the object with HeadObject before recording it.
//! Large files go through [`super::multipart`].

use std::time::Duration;

use crate::web::extract::{ApiPath, Json};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::Nav;
use super::meta::ClientMeta;
use crate::auth::AuthSession;
use crate::aws::s3;
use crate::db;
use crate::db::audit::Event;
use crate::domain::{AuditAction, Prefix};
use crate::error::{ApiResult, AppError, AppResult};
use crate::state::AppState;
use crate::uploads::{self, Destination};

#[derive(Template, WebTemplate)]
#[template(path = "upload.html")]
pub struct UploadPage {
    nav: Nav,
    bucket: String,
    prefixes: Vec<&'static str>,
    max_file_bytes: u64,
    max_file_human: String,
    multipart_threshold_bytes: u64,
    part_size_bytes: u64,
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
        multipart_threshold_bytes: state.config.multipart_threshold_bytes,
        part_size_bytes: state.config.part_size_bytes,
        uploads,
    };
    Ok(page.into_response())
}

/// Signs a single PUT (files up to the multipart threshold).
pub async fn sign_upload(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Json(dest): Json<Destination>,
) -> ApiResult<Response> {
    let ctx = meta.audit(&session.username);
    let checked = uploads::check_destination(&state, &ctx, session.account_id, &dest, false).await?;
    let key = &checked.key;
    let content_type = s3::content_type_for(key.file_name());
    let ttl = Duration::from_secs(state.config.presign_ttl_secs);
    // SECURITY: S3 itself enforces what was checked: a free key stays free (If-None-Match: *),
    // a replaced object is the very one checked (If-Match).
    let condition = match &checked.replaces {
        Some(etag) => s3::WriteCondition::Exactly(etag),
        None => s3::WriteCondition::Absent,
    };
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let new = db::uploads::NewUpload {
        account_id: session.account_id,
        object_key: key.as_str(),
        declared_size: checked.size,
        content_type,
        replace_existing: dest.replace,
        replaces_etag: checked.replaces.as_deref(),
    };
    let upload_id = db::uploads::insert_signed(&mut *tx, &new, now).await?;
    // Signed with the row's id as the object's marker (see `uploads::confirm`);
    // local work only, no request to S3 while the transaction is open.
    let marker = uploads::upload_marker(upload_id);
    let presigned =
        s3::presign_put(&state.aws.s3, &state.config.bucket, key, content_type, dest.size, condition, &marker, ttl)
            .await
            .map_err(AppError::Internal)?;
    if checked.replaces.is_some() {
        uploads::record_replace(&mut tx, &ctx, key.as_str(), upload_id, now).await?;
    }
    let event = Event::success(AuditAction::UploadSigned, key.as_str())
        .with_detail(serde_json::json!({ "upload_id": upload_id, "size": checked.size, "replace": dest.replace }));
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

/// Confirms a single PUT with HeadObject and records it.
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
    // SECURITY: a multipart upload is completed only through its own endpoint (parts checked).
    if db::multipart::find_owned(&state.db, id, session.account_id).await?.is_some() {
        return Err(AppError::NotFound.into());
    }
    let done = uploads::confirm(&state, &ctx, id, &upload.object_key, upload.declared_size, false).await?;
    Ok(axum::Json(done).into_response())
}
