//! The upload workflows the web API and the sweeper share: checking where a
//! file may go, starting, completing and aborting multipart uploads, and
//! aborting stale ones (C13).
//!
//! Invariants:
//! * every S3 call about an upload is made with a row read by
//!   `(upload id, teammate's account)` — never with an id or UploadId from
//!   the browser alone;
//! * every state change is written with its audit row in one transaction,
//!   after the S3 call it records succeeded;
//! * an existing object is never replaced unless the teammate asked to, and
//!   then S3's `If-None-Match: *` is left off on purpose (and audited).

use crate::aws::s3::{self, MultipartError, Part};
use crate::clock::Timestamp;
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::db::multipart::Multipart;
use crate::domain::{AuditAction, ObjectKey};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::uploads::human_size;

/// Where a teammate asked to put a file.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Destination {
    pub prefix: String,
    #[serde(default)]
    pub folder: String,
    pub relative_path: String,
    pub size: u64,
    /// The teammate explicitly chose to replace an existing object.
    #[serde(default)]
    pub replace: bool,
}

/// A destination that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub key: ObjectKey,
    pub size: i64,
    /// The ETag of the teammate's own object this upload replaces (only with
    /// `replace`); `None`: the key is free and must stay so.
    pub replaces: Option<String>,
}

/// Target text for the audit log: bounded, whatever was sent.
fn bounded(s: &str) -> String {
    s.chars().take(1100).collect()
}

/// Checks a destination: a valid normalised key under an allowed prefix, a
/// size within the limits, and no existing object unless `replace` — and
/// then only an object this same account uploaded (see [`may_replace`]).
/// Every refusal is audited.
pub async fn check_destination(
    state: &AppState,
    ctx: &AuditContext,
    account_id: i64,
    dest: &Destination,
    multipart: bool,
) -> Result<Checked, AppError> {
    let now = state.now();
    let attempted = bounded(&format!("{}/{}/{}", dest.prefix, dest.folder, dest.relative_path));
    let refuse = |reason: String, target: String| async move {
        let event = Event::failure(AuditAction::UploadRefused, target.as_str())
            .with_detail(serde_json::json!({ "reason": reason }));
        db::audit::record_alone(&state.db, ctx, event, now).await?;
        Ok::<AppError, AppError>(AppError::BadRequest(reason))
    };
    // SECURITY: only keys under the allowed prefixes, normalised and validated, are ever signed.
    let key = match ObjectKey::build(&dest.prefix, &dest.folder, &dest.relative_path) {
        Ok(k) => k,
        Err(e) => return Err(refuse(format!("This file name cannot be uploaded: {e}."), attempted).await?),
    };
    let config = &state.config;
    if dest.size > config.max_file_bytes {
        let limit = human_size(i64::try_from(config.max_file_bytes).unwrap_or(i64::MAX));
        return Err(refuse(format!("This file is larger than the portal's limit of {limit}."), attempted).await?);
    }
    // Never a single PUT above the threshold (which is at most 5 GiB, C14).
    if !multipart && dest.size > config.multipart_threshold_bytes {
        return Err(refuse(
            "Files this large are uploaded in parts; reload the page and try again.".into(),
            key.as_str().to_owned(),
        )
        .await?);
    }
    let size = i64::try_from(dest.size).map_err(|e| AppError::Internal(e.into()))?;
    let existing = s3::head(&state.aws.s3, &config.bucket, key.as_str())
        .await
        .map_err(|e| AppError::Upstream("S3 could not be reached to check the file name; try again.".into(), e))?;
    if let Some(existing) = &existing {
        // SECURITY: nobody overwrites another person's object (or one written outside the portal).
        if !may_replace(state, account_id, key.as_str(), &existing.etag).await? {
            let event = Event::failure(AuditAction::UploadRefused, key.as_str())
                .with_detail(serde_json::json!({ "reason": "exists_not_yours", "replace": dest.replace }));
            db::audit::record_alone(&state.db, ctx, event, now).await?;
            return Err(AppError::ObjectTaken(format!(
                "{key} already exists in the bucket and was not uploaded by you, so it cannot be replaced \
                 from here. Rename your file, or ask the portal owner."
            )));
        }
        // SECURITY: no silent overwrite: one's own object is replaced only on explicit request.
        if !dest.replace {
            let event = Event::failure(AuditAction::UploadRefused, key.as_str())
                .with_detail(serde_json::json!({ "reason": "exists" }));
            db::audit::record_alone(&state.db, ctx, event, now).await?;
            return Err(AppError::Conflict(format!(
                "{key} already exists in the bucket (you uploaded it). Choose “Replace” to overwrite it, \
                 or rename the file."
            )));
        }
    }
    Ok(Checked { key, size, replaces: existing.map(|e| e.etag) })
}

/// Whether `account_id` may replace the object at `key` whose ETag S3 reports
/// now: only if the newest completed upload there is this account's and the
/// bucket still holds exactly that object (nobody changed it since, through
/// the portal or around it).
async fn may_replace(state: &AppState, account_id: i64, key: &str, etag_now: &str) -> Result<bool, AppError> {
    let current = db::uploads::current_at_key(&state.db, key).await?;
    Ok(matches!(current, Some((_, owner, Some(etag))) if owner == account_id && etag == etag_now))
}

/// Records the teammate's explicit choice to replace an existing object.
pub async fn record_replace(
    db: &mut sqlx::SqliteConnection,
    ctx: &AuditContext,
    key: &str,
    upload_id: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    let event = Event::success(AuditAction::UploadReplaceRequested, key)
        .with_detail(serde_json::json!({ "upload_id": upload_id }));
    db::audit::record(db, ctx, event, now).await
}

/// Where a multipart upload stands after a create.
pub struct Started {
    pub upload_id: i64,
    pub key: String,
    pub part_size: u64,
    pub part_count: u64,
}

/// Starts a multipart upload for a checked destination and records it.
pub async fn start_multipart(
    state: &AppState,
    ctx: &AuditContext,
    account_id: i64,
    checked: &Checked,
    replace: bool,
) -> Result<Started, AppError> {
    let size = u64::try_from(checked.size).map_err(|e| AppError::Internal(e.into()))?;
    let plan = crate::domain::PartPlan::new(size, state.config.part_size_bytes)
        .map_err(|e| AppError::BadRequest(format!("This file cannot be uploaded in parts: {e}.")))?;
    let content_type = s3::content_type_for(checked.key.file_name());
    let s3_upload_id = s3::create_multipart(&state.aws.s3, &state.config.bucket, &checked.key, content_type)
        .await
        .map_err(|e| AppError::Upstream("S3 could not start the upload; try again.".into(), e))?;
    let now = state.now();
    let key = checked.key.as_str();
    let part_size = i64::try_from(plan.part_size).map_err(|e| AppError::Internal(e.into()))?;
    let part_count = i64::try_from(plan.part_count).map_err(|e| AppError::Internal(e.into()))?;
    let mut tx = db::begin_immediate(&state.db).await?;
    let new = db::uploads::NewUpload {
        account_id,
        object_key: key,
        declared_size: checked.size,
        content_type,
        replace_existing: replace,
        replaces_etag: checked.replaces.as_deref(),
    };
    let upload_id = db::uploads::insert_signed(&mut *tx, &new, now).await?;
    db::multipart::insert(&mut *tx, upload_id, &s3_upload_id, part_size, part_count, now).await?;
    if checked.replaces.is_some() {
        record_replace(&mut tx, ctx, key, upload_id, now).await?;
    }
    let event = Event::success(AuditAction::UploadMultipartCreated, key).with_detail(serde_json::json!({
        "upload_id": upload_id, "size": checked.size, "part_size": part_size, "part_count": part_count
    }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    Ok(Started { upload_id, key: key.to_owned(), part_size: plan.part_size, part_count: plan.part_count })
}

/// Aborts an open multipart upload in S3 and records it (`reason` is audited).
pub async fn abort(state: &AppState, ctx: &AuditContext, mp: &Multipart, reason: &str) -> Result<bool, AppError> {
    state.open_uploads.forget(mp.upload_id);
    s3::abort_multipart(&state.aws.s3, &state.config.bucket, &mp.object_key, &mp.s3_upload_id)
        .await
        .map_err(|e| AppError::Upstream("S3 could not abort the upload; try again.".into(), e.into()))?;
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let changed = db::multipart::finish(&mut *tx, mp.upload_id, "aborted", now).await?;
    if changed {
        db::uploads::mark_failed(&mut *tx, mp.upload_id).await?;
        let event = Event::success(AuditAction::UploadAborted, mp.object_key.as_str())
            .with_detail(serde_json::json!({ "upload_id": mp.upload_id, "owner": mp.username, "reason": reason }));
        db::audit::record(&mut tx, ctx, event, now).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// What a completed upload holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Completed {
    pub key: String,
    pub size: i64,
    pub etag: String,
    pub status: &'static str,
}

/// Completes a multipart upload with the parts the browser reports, checked
/// against the plan; then confirms the object with HeadObject and records it.
pub async fn complete(
    state: &AppState,
    ctx: &AuditContext,
    mp: &Multipart,
    mut parts: Vec<Part>,
) -> Result<Completed, AppError> {
    state.open_uploads.forget(mp.upload_id);
    parts.sort_by_key(|p| p.part_number);
    let expected: Vec<i32> = (1..=mp.part_count).filter_map(|n| i32::try_from(n).ok()).collect();
    let got: Vec<i32> = parts.iter().map(|p| p.part_number).collect();
    if got != expected || parts.iter().any(|p| p.etag.is_empty()) {
        return Err(AppError::BadRequest(format!(
            "The upload needs exactly parts 1 to {}, each with its ETag; retry the file.",
            mp.part_count
        )));
    }
    let condition = match &mp.replaces_etag {
        Some(etag) => s3::WriteCondition::Exactly(etag),
        None => s3::WriteCondition::Absent,
    };
    let bucket = &state.config.bucket;
    let result =
        s3::complete_multipart(&state.aws.s3, bucket, &mp.object_key, &mp.s3_upload_id, &parts, condition).await;
    let problem = match result {
        Ok(()) => None,
        Err(MultipartError::Exists) => Some((
            "exists",
            format!(
                "{} appeared in the bucket or changed while this file was uploading; it was not overwritten. \
                 Upload the file again to see what is there now.",
                mp.object_key
            ),
        )),
        Err(MultipartError::NoSuchUpload) => Some((
            "no_such_upload",
            "S3 no longer knows this upload (it was aborted or expired). Upload the file again.".to_owned(),
        )),
        Err(MultipartError::BadParts(code)) if code == "InvalidPart" || code == "InvalidPartOrder" => {
            // A wrong or missing ETag in the list: the parts S3 holds are
            // fine, so the upload stays open and can be completed again with
            // the list S3 itself gives (ListParts), as the page does on Retry.
            tracing::warn!(%code, upload_id = mp.upload_id, "S3 refused the part list; the upload stays open");
            let now = state.now();
            let mut tx = db::begin_immediate(&state.db).await?;
            let event = Event::failure(AuditAction::UploadFailed, mp.object_key.as_str()).with_detail(
                serde_json::json!({ "upload_id": mp.upload_id, "reason": "part_list_refused", "code": code, "still_open": true }),
            );
            db::audit::record(&mut tx, ctx, event, now).await?;
            tx.commit().await?;
            return Err(AppError::Conflict(format!(
                "S3 refused the list of parts ({code}): an ETag does not match a part it holds. \
                 The parts already sent are kept; press Retry to complete with the parts S3 lists."
            )));
        }
        Err(MultipartError::BadParts(code)) => {
            tracing::warn!(%code, upload_id = mp.upload_id, "S3 refused the parts");
            Some(("bad_parts", format!("S3 refused the parts ({code}). Upload the file again.")))
        }
        Err(MultipartError::Other(e)) => {
            return Err(AppError::Upstream("S3 could not complete the upload; try again.".into(), e));
        }
    };
    if let Some((reason, message)) = problem {
        // The parts are useless now: free them, then record the failure.
        if reason != "no_such_upload" {
            let _ = s3::abort_multipart(&state.aws.s3, bucket, &mp.object_key, &mp.s3_upload_id).await;
        }
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        db::multipart::finish(&mut *tx, mp.upload_id, "aborted", now).await?;
        db::uploads::mark_failed(&mut *tx, mp.upload_id).await?;
        let event = Event::failure(AuditAction::UploadFailed, mp.object_key.as_str())
            .with_detail(serde_json::json!({ "upload_id": mp.upload_id, "reason": reason }));
        db::audit::record(&mut tx, ctx, event, now).await?;
        tx.commit().await?;
        return Err(AppError::Conflict(message));
    }
    confirm(state, ctx, mp.upload_id, &mp.object_key, mp.declared_size, true).await
}

/// The `x-amz-meta-egx-upload` value a single PUT of upload `upload_id` is
/// signed with, and that [`confirm`] expects back from HeadObject.
pub fn upload_marker(upload_id: i64) -> String {
    upload_id.to_string()
}

/// Confirms the object with HeadObject (size, ETag) and records the upload
/// as completed, or as failed when S3 holds something else.
pub async fn confirm(
    state: &AppState,
    ctx: &AuditContext,
    upload_id: i64,
    key: &str,
    declared_size: i64,
    multipart: bool,
) -> Result<Completed, AppError> {
    let facts = s3::head(&state.aws.s3, &state.config.bucket, key)
        .await
        .map_err(|e| AppError::Upstream("S3 could not be reached to confirm the upload; try again.".into(), e))?;
    let now = state.now();
    if facts.is_none() && !multipart {
        // Asked too early (or the PUT never came): nothing is decided yet, so
        // nothing is recorded; the same upload can be confirmed once it lands.
        return Err(AppError::Conflict(
            "S3 has no object at this key yet: send the file first, then confirm again.".to_owned(),
        ));
    }
    let marker = upload_marker(upload_id);
    let problem = match &facts {
        None => Some("S3 has no object at this key: the upload did not arrive".to_owned()),
        Some(f) if f.size != declared_size => {
            Some(format!("S3 holds {} bytes, not the {} that were announced", f.size, declared_size))
        }
        // SECURITY: a single PUT is confirmed only if its own signed URL stored
        // the object (the marker); otherwise a teammate could sign a key, let
        // someone else upload there, and be recorded as its uploader.
        Some(f) if !multipart && f.upload_marker.as_deref() != Some(marker.as_str()) => {
            Some("The object at this key was stored by another upload, not through this one".to_owned())
        }
        Some(_) => None,
    };
    let mut tx = db::begin_immediate(&state.db).await?;
    if multipart {
        db::multipart::finish(&mut *tx, upload_id, if problem.is_some() { "aborted" } else { "completed" }, now)
            .await?;
    }
    let facts = match (problem, facts) {
        (None, Some(facts)) => facts,
        (problem, _) => {
            let problem = problem.unwrap_or_default();
            db::uploads::mark_failed(&mut *tx, upload_id).await?;
            let event = Event::failure(AuditAction::UploadFailed, key)
                .with_detail(serde_json::json!({ "upload_id": upload_id, "reason": problem }));
            db::audit::record(&mut tx, ctx, event, now).await?;
            tx.commit().await?;
            return Err(AppError::Conflict(format!("{problem}. Upload the file again.")));
        }
    };
    db::uploads::mark_completed(&mut *tx, upload_id, facts.size, &facts.etag, now).await?;
    db::uploads::mark_replaced_by(&mut *tx, upload_id, key).await?;
    let event = Event::success(AuditAction::UploadCompleted, key).with_detail(serde_json::json!({
        "upload_id": upload_id, "size": facts.size, "etag": facts.etag, "multipart": multipart
    }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    Ok(Completed { key: key.to_owned(), size: facts.size, etag: facts.etag, status: "completed" })
}

/// Aborts every open multipart upload idle for longer than
/// `EGX_STALE_UPLOAD_HOURS` at `now` (C13). Returns how many were aborted;
/// one that fails is logged and left for the next sweep.
pub async fn sweep_stale(state: &AppState, now: Timestamp) -> anyhow::Result<usize> {
    let idle_since = now - i64::try_from(state.config.stale_upload_hours * 3600)?;
    let stale = db::multipart::list_stale(&state.db, idle_since).await?;
    let ctx = AuditContext::system("sweeper");
    let mut aborted = 0;
    for mp in &stale {
        match abort(state, &ctx, mp, "stale").await {
            Ok(true) => aborted += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(upload_id = mp.upload_id, error = %e, "could not abort a stale upload"),
        }
    }
    if aborted > 0 {
        tracing::info!(aborted, "aborted stale multipart uploads");
    }
    Ok(aborted)
}

/// Runs [`sweep_stale`] every `every` until the task is dropped.
pub async fn run_sweeper(state: AppState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep_stale(&state, state.now()).await {
            tracing::warn!(error = format!("{e:#}"), "upload sweeper failed; will retry");
        }
    }
}

/// Open multipart uploads recently looked up for signing their parts: the
/// facts that never change (whose upload it is, its key, S3's UploadId, the
/// part plan), so signing part after part of one file costs no database read.
///
/// What may be stale is only whether the upload is still open (up to
/// [`OpenUploads::KEEP`], and only if it ended in another process): S3 then
/// refuses the part itself (NoSuchUpload), so nothing is lost. Aborting and
/// completing in this process forget the entry at once.
#[derive(Debug, Default)]
pub struct OpenUploads {
    entries: std::sync::Mutex<std::collections::HashMap<i64, (Multipart, std::time::Instant)>>,
}

impl OpenUploads {
    /// How long an entry is trusted.
    pub const KEEP: std::time::Duration = std::time::Duration::from_secs(30);
    const MAX_ENTRIES: usize = 10_000;

    /// The open upload `upload_id` of `account_id`, if it was looked up recently.
    pub fn get(&self, upload_id: i64, account_id: i64) -> Option<Multipart> {
        let entries = self.entries.lock().ok()?;
        let (mp, at) = entries.get(&upload_id)?;
        // SECURITY: an entry serves only the account the database said owns the upload.
        (mp.account_id == account_id && at.elapsed() < Self::KEEP).then(|| mp.clone())
    }

    /// Remembers an open upload just read from the database.
    pub fn put(&self, mp: &Multipart) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.retain(|_, (_, at)| at.elapsed() < Self::KEEP);
                if entries.len() >= Self::MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(mp.upload_id, (mp.clone(), std::time::Instant::now()));
        }
    }

    /// Records that the upload's activity was written at `at`.
    pub fn touched(&self, upload_id: i64, at: Timestamp) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some((mp, _)) = entries.get_mut(&upload_id)
        {
            mp.last_activity_at = at;
        }
    }

    /// Forgets every entry (a name changed hands: its old uploads are no
    /// longer the account's).
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// Forgets an upload that ended (aborted or completed).
    pub fn forget(&self, upload_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&upload_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_upload(upload_id: i64, account_id: i64) -> Multipart {
        Multipart {
            upload_id,
            account_id,
            username: "alice".into(),
            object_key: "batch/big.bin".into(),
            declared_size: 20 << 20,
            content_type: "application/octet-stream".into(),
            replace_existing: false,
            replaces_etag: None,
            s3_upload_id: "s3-upload-id".into(),
            part_size: 5 << 20,
            part_count: 4,
            state: "open".into(),
            last_activity_at: 1000,
        }
    }

    #[test]
    fn a_remembered_upload_serves_only_its_owner_and_is_forgotten_when_it_ends() {
        let open = OpenUploads::default();
        assert!(open.get(7, 1).is_none(), "nothing before it was read");
        open.put(&open_upload(7, 1));
        assert_eq!(open.get(7, 1).map(|m| m.s3_upload_id), Some("s3-upload-id".to_owned()));
        assert!(open.get(7, 2).is_none(), "another account never gets it");
        open.touched(7, 2000);
        assert_eq!(open.get(7, 1).map(|m| m.last_activity_at), Some(2000));
        open.forget(7);
        assert!(open.get(7, 1).is_none());
    }
}
