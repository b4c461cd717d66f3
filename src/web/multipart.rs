//! The multipart upload API the upload page's Uppy client calls:
//!
//! * `POST /api/multipart` — start (checks like a single PUT, then CreateMultipartUpload);
//! * `POST /api/multipart/resumable` — the teammate's own open upload of this
//!   key and size, to resume after a reload;
//! * `POST /api/multipart/{id}/parts/{n}` — sign one part, just before it is sent (C09);
//! * `GET  /api/multipart/{id}/parts` — the parts S3 already holds (ListParts);
//! * `POST /api/multipart/{id}/complete` — complete, confirm, record;
//! * `DELETE /api/multipart/{id}` — abort.
//!
//! `{id}` is the portal's own upload id. Every handler reads the upload by
//! id *and* the signed-in teammate's account: another teammate's upload is
//! simply not found (404), and nothing changes.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{ApiPath, Json};
use super::meta::ClientMeta;
use crate::auth::AuthSession;
use crate::aws::s3::{self, MultipartError, Part};
use crate::db;
use crate::db::audit::Event;
use crate::db::multipart::Multipart;
use crate::domain::{AuditAction, ObjectKey, PartPlan};
use crate::error::{ApiResult, AppError};
use crate::state::AppState;
use crate::uploads::{self, Destination};

/// Loads an open upload of the signed-in teammate, re-checking its key.
async fn owned_open(state: &AppState, session: &AuthSession, id: i64) -> Result<Multipart, AppError> {
    // SECURITY: the upload must belong to the signed-in teammate; anyone else gets 404.
    let mp = db::multipart::find_owned(&state.db, id, session.account_id).await?.ok_or(AppError::NotFound)?;
    check_open(mp)
}

/// [`owned_open`] for signing a part: a recently read open upload of this
/// teammate is taken from memory (see `uploads::OpenUploads`).
async fn owned_open_for_part(state: &AppState, session: &AuthSession, id: i64) -> Result<Multipart, AppError> {
    if let Some(mp) = state.open_uploads.get(id, session.account_id) {
        return Ok(mp);
    }
    let mp = owned_open(state, session, id).await?;
    state.open_uploads.put(&mp);
    Ok(mp)
}

fn check_open(mp: Multipart) -> Result<Multipart, AppError> {
    // SECURITY: the stored key is re-validated (allowed prefix, normalised) before any S3 call.
    ObjectKey::parse(&mp.object_key).map_err(|_| AppError::NotFound)?;
    if mp.state != "open" {
        return Err(AppError::Conflict(format!(
            "This upload is already {}; upload the file again if it is not in your history.",
            if mp.state == "completed" { "complete" } else { "aborted" }
        )));
    }
    Ok(mp)
}

/// Records that the upload is in use (keeps the sweeper away), at most once
/// a minute: signing a part costs no database write.
async fn note_activity(state: &AppState, mp: &Multipart) -> Result<(), AppError> {
    let now = state.now();
    if db::multipart::activity_is_stale(mp, now) {
        db::multipart::touch(&state.db, mp.upload_id, now).await?;
        state.open_uploads.touched(mp.upload_id, now);
    }
    Ok(())
}

fn started_json(upload_id: i64, key: &str, part_size: i64, part_count: i64) -> serde_json::Value {
    serde_json::json!({
        "upload_id": upload_id.to_string(),
        "key": key,
        "part_size": part_size,
        "part_count": part_count,
    })
}

pub async fn create(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Json(dest): Json<Destination>,
) -> ApiResult<Response> {
    let ctx = meta.audit(&session.username);
    let checked = uploads::check_destination(&state, &ctx, session.account_id, &dest, true).await?;
    let started = uploads::start_multipart(&state, &ctx, session.account_id, &checked, dest.replace).await?;
    let part_size = i64::try_from(started.part_size).map_err(|e| AppError::Internal(e.into()))?;
    let part_count = i64::try_from(started.part_count).map_err(|e| AppError::Internal(e.into()))?;
    Ok(axum::Json(started_json(started.upload_id, &started.key, part_size, part_count)).into_response())
}

/// The teammate's newest open upload of the same key and size, if any;
/// `{"upload_id": null}` when there is none (an ordinary answer, not an
/// error: the page asks before every large file).
pub async fn resumable(
    State(state): State<AppState>,
    session: AuthSession,
    Json(dest): Json<Destination>,
) -> ApiResult<Response> {
    let key = ObjectKey::build(&dest.prefix, &dest.folder, &dest.relative_path)
        .map_err(|e| AppError::BadRequest(format!("This file name cannot be uploaded: {e}.")))?;
    let size = i64::try_from(dest.size).map_err(|e| AppError::Internal(e.into()))?;
    // SECURITY: only the signed-in teammate's own uploads are considered.
    let found = db::multipart::find_resumable(&state.db, session.account_id, key.as_str(), size).await?;
    let plan = PartPlan::new(dest.size, state.config.part_size_bytes).ok();
    match found {
        // Resume only when the browser will cut the file exactly as before.
        Some(mp) if plan.is_some_and(|p| i64::try_from(p.part_size).ok() == Some(mp.part_size)) => {
            Ok(axum::Json(started_json(mp.upload_id, &mp.object_key, mp.part_size, mp.part_count)).into_response())
        }
        _ => Ok(axum::Json(serde_json::json!({ "upload_id": null })).into_response()),
    }
}

/// The part plan stored with an upload.
fn plan_of(mp: &Multipart) -> Result<PartPlan, AppError> {
    Ok(PartPlan {
        size: u64::try_from(mp.declared_size).map_err(|e| AppError::Internal(e.into()))?,
        part_size: u64::try_from(mp.part_size).map_err(|e| AppError::Internal(e.into()))?,
        part_count: u64::try_from(mp.part_count).map_err(|e| AppError::Internal(e.into()))?,
    })
}

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>().map_err(|_| AppError::NotFound)
}

pub async fn sign_part(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    ApiPath((id, number)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let mp = owned_open_for_part(&state, &session, parse_id(&id)?).await?;
    let plan = plan_of(&mp)?;
    // SECURITY: part numbers are 1..=part_count of this upload's plan (never above S3's 10,000).
    let (number, length) = match number.parse::<u64>().ok().and_then(|n| plan.part_length(n).map(|l| (n, l))) {
        Some(found) => found,
        None => {
            let ctx = meta.audit(&session.username);
            let event = Event::failure(AuditAction::UploadRefused, mp.object_key.as_str()).with_detail(
                serde_json::json!({ "upload_id": mp.upload_id, "reason": "part_number", "part": number.chars().take(20).collect::<String>() }),
            );
            db::audit::record_alone(&state.db, &ctx, event, state.now()).await?;
            return Err(AppError::BadRequest(format!(
                "Part numbers of this upload run from 1 to {}.",
                plan.part_count
            ))
            .into());
        }
    };
    let part_number = i32::try_from(number).map_err(|e| AppError::Internal(e.into()))?;
    let ttl = Duration::from_secs(state.config.presign_ttl_secs);
    let presigned = s3::presign_part(
        &state.aws.s3,
        &state.config.bucket,
        &mp.object_key,
        &mp.s3_upload_id,
        part_number,
        length,
        ttl,
    )
    .await
    .map_err(AppError::Internal)?;
    note_activity(&state, &mp).await?;
    Ok(axum::Json(serde_json::json!({
        "url": presigned.url,
        "method": "PUT",
        "headers": presigned.headers.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "part_number": part_number,
        "content_length": length,
    }))
    .into_response())
}

pub async fn list_parts(
    State(state): State<AppState>,
    session: AuthSession,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let mp = owned_open(&state, &session, parse_id(&id)?).await?;
    let parts = match s3::list_parts(&state.aws.s3, &state.config.bucket, &mp.object_key, &mp.s3_upload_id).await {
        Ok(parts) => parts,
        Err(MultipartError::NoSuchUpload) => {
            return Err(AppError::Conflict(
                "S3 no longer knows this upload (it was aborted or expired). Upload the file again.".into(),
            )
            .into());
        }
        Err(e) => {
            return Err(AppError::Upstream("S3 could not list the uploaded parts; try again.".into(), e.into()).into());
        }
    };
    // Only parts of exactly the planned length count as uploaded: a part cut
    // short (LocalStack stores a truncated body when the browser drops the
    // connection) is sent again instead of failing the completion.
    let plan = plan_of(&mp)?;
    let parts: Vec<Part> = parts
        .into_iter()
        .filter(|p| {
            let expected = u64::try_from(p.part_number).ok().and_then(|n| plan.part_length(n));
            expected.is_some() && expected == u64::try_from(p.size).ok()
        })
        .collect();
    note_activity(&state, &mp).await?;
    Ok(axum::Json(parts).into_response())
}

#[derive(Deserialize)]
pub struct CompleteRequest {
    parts: Vec<Part>,
}

pub async fn complete(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    ApiPath(id): ApiPath<String>,
    Json(req): Json<CompleteRequest>,
) -> ApiResult<Response> {
    let ctx = meta.audit(&session.username);
    let mp = owned_open(&state, &session, parse_id(&id)?).await?;
    let done = uploads::complete(&state, &ctx, &mp, req.parts).await?;
    Ok(axum::Json(done).into_response())
}

pub async fn abort(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let ctx = meta.audit(&session.username);
    let mp = owned_open(&state, &session, parse_id(&id)?).await?;
    uploads::abort(&state, &ctx, &mp, "cancelled").await?;
    Ok(axum::Json(serde_json::json!({ "status": "aborted" })).into_response())
}
