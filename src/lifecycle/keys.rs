//! Access keys: making a new one (shared by provisioning and rotation), and
//! the owner's deactivate / reactivate / delete.
//!
//! A key's secret exists only between CreateAccessKey and the link that
//! carries it. A key whose secret was lost before a link stored it (a crash,
//! a failed step) is "undelivered": nobody can ever use it, so the portal
//! deletes it instead of leaving it to count against IAM's two-key limit.

use std::time::Duration;

use sqlx::SqliteConnection;

use super::{iam_name, links, require_present, teammate, upstream};
use crate::aws::iam::{self, IamError, NewAccessKey};
use crate::aws::iam_keys::{self, Change};
use crate::clock::Timestamp;
use crate::db;
use crate::db::access_keys::Origin;
use crate::db::audit::{AuditContext, Event};
use crate::db::key_rotations::Mark;
use crate::domain::{AuditAction, IamUserName};
use crate::error::AppError;
use crate::state::AppState;

/// Where a new key is recorded besides `access_keys`.
#[derive(Debug, Clone, Copy)]
pub enum KeyFor {
    /// Provisioning: the teammate's `last_step` becomes "key".
    Provisioning,
    /// A rotation: its `new_access_key_id`.
    Rotation(i64),
}

/// Creates a key for the teammate and records it (with its audit row).
pub async fn create(
    state: &AppState,
    ctx: &AuditContext,
    teammate_id: i64,
    user: &IamUserName,
    purpose: KeyFor,
) -> Result<NewAccessKey, IamError> {
    let key = iam::create_access_key(&state.aws, user).await?;
    let recorded = async {
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        db::access_keys::insert(&mut *tx, &key.access_key_id, teammate_id, Origin::Portal, now).await?;
        match purpose {
            KeyFor::Provisioning => db::teammates::record_step(&mut *tx, teammate_id, "key", now).await?,
            KeyFor::Rotation(id) => db::key_rotations::set_new_key(&mut *tx, id, Some(&key.access_key_id)).await?,
        }
        let event = Event::success(AuditAction::AccessKeyCreated, user.as_str())
            .with_detail(serde_json::json!({ "access_key_id": key.access_key_id }));
        db::audit::record(&mut tx, ctx, event, now).await?;
        tx.commit().await
    }
    .await;
    // The key exists in IAM whatever happened here; a record that failed is
    // the caller's failure to report (the key is then found undelivered).
    recorded.map_err(|e| IamError::Refused {
        step: "record the new key",
        code: "DatabaseError".into(),
        source: anyhow::Error::new(e),
    })?;
    Ok(key)
}

/// Checks the new key with STS (backing off while IAM catches up, C15) and
/// records the outcome. Returns whether AWS accepted it in time.
pub async fn verify(
    state: &AppState,
    ctx: &AuditContext,
    user: &IamUserName,
    key: &NewAccessKey,
) -> Result<bool, AppError> {
    let verified = iam::verify_key(&state.aws, key, Duration::from_secs(state.config.key_verify_timeout_secs)).await;
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    if verified {
        db::access_keys::mark_verified(&mut *tx, &key.access_key_id, now).await?;
    }
    let event = if verified {
        Event::success(AuditAction::AccessKeyVerified, user.as_str())
    } else {
        Event::failure(AuditAction::AccessKeyVerified, user.as_str())
    }
    .with_detail(serde_json::json!({ "access_key_id": key.access_key_id }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    Ok(verified)
}

/// Deletes the teammate's undelivered keys (see the module doc); returns their ids.
pub async fn delete_undelivered(
    state: &AppState,
    ctx: &AuditContext,
    teammate_id: i64,
    user: &IamUserName,
) -> Result<Vec<String>, IamError> {
    let undelivered: Vec<String> = db::access_keys::for_teammate(&state.db, teammate_id)
        .await
        .map_err(|e| IamError::Refused { step: "read keys", code: "DatabaseError".into(), source: e.into() })?
        .into_iter()
        .filter(|k| k.origin == "portal" && k.deleted_at.is_none() && !k.has_link)
        .map(|k| k.access_key_id)
        .collect();
    for id in &undelivered {
        iam_keys::delete_key(&state.aws, user, id).await?;
        record_deleted(state, ctx, user, id, "undelivered: its secret was lost before a link carried it")
            .await
            .map_err(|e| IamError::Refused { step: "record", code: "DatabaseError".into(), source: e.into() })?;
    }
    Ok(undelivered)
}

/// Records a deletion the portal made (own transaction): the key row, the
/// audit row, and the unrevealed links that carried it.
pub async fn record_deleted(
    state: &AppState,
    ctx: &AuditContext,
    user: &IamUserName,
    access_key_id: &str,
    reason: &str,
) -> Result<(), AppError> {
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    record_deleted_in(&mut tx, ctx, user.as_str(), access_key_id, reason, now).await?;
    tx.commit().await?;
    Ok(())
}

/// What happened to a key that stopped being usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    Deactivated,
    Deleted,
}

/// [`record_deleted`] inside the caller's transaction.
pub async fn record_deleted_in(
    tx: &mut SqliteConnection,
    ctx: &AuditContext,
    user: &str,
    access_key_id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    record_retired_in(tx, ctx, user, access_key_id, Retired::Deleted, reason, now).await
}

/// Records that a key was deactivated or deleted (inside the caller's
/// transaction): its audit row, and the links still carrying it unrevealed
/// are revoked — its secret must not be handed out any more.
pub async fn record_retired_in(
    tx: &mut SqliteConnection,
    ctx: &AuditContext,
    user: &str,
    access_key_id: &str,
    how: Retired,
    reason: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    let (action, link_reason) = match how {
        Retired::Deactivated => (AuditAction::AccessKeyDeactivated, "key_deactivated"),
        Retired::Deleted => {
            db::access_keys::mark_deleted(&mut *tx, access_key_id, now).await?;
            (AuditAction::AccessKeyDeleted, "key_deleted")
        }
    };
    let event = Event::success(action, user)
        .with_detail(serde_json::json!({ "access_key_id": access_key_id, "reason": reason }));
    db::audit::record(tx, ctx, event, now).await?;
    let revoked = db::secret_links::revoke_unrevealed_for_key(&mut *tx, access_key_id, link_reason, now).await?;
    links::record_revoked(tx, ctx, user, &revoked, link_reason, now).await
}

/// What the owner can do to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    Deactivate,
    Reactivate,
    Delete,
}

impl KeyChange {
    fn verb(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Reactivate => "reactivate",
            Self::Delete => "delete",
        }
    }
}

/// Deactivates, reactivates or deletes one of the teammate's keys. The key
/// must be one IAM lists for the teammate's user. Keeps an open rotation
/// consistent: deleting its new key cancels it; deactivating or deleting its
/// old key moves it on; reactivating its old key ends it with the key kept.
pub async fn change(
    state: &AppState,
    ctx: &AuditContext,
    name: &str,
    access_key_id: &str,
    change: KeyChange,
) -> Result<(), AppError> {
    super::exclusively(state, name, "changing a key", change_locked(state, ctx, name, access_key_id, change)).await
}

async fn change_locked(
    state: &AppState,
    ctx: &AuditContext,
    name: &str,
    access_key_id: &str,
    change: KeyChange,
) -> Result<(), AppError> {
    let t = teammate(state, name).await?;
    require_present(&t)?;
    let user = iam_name(&t)?;
    let keys = iam_keys::list_key_metadata(&state.aws, &user)
        .await
        .map_err(|e| upstream(&format!("Could not {} the key", change.verb()), e))?;
    // SECURITY: only a key IAM lists for this teammate's own user is touched.
    if !keys.iter().any(|k| k.access_key_id == access_key_id) {
        return Err(AppError::NotFound);
    }
    let result = match change {
        KeyChange::Deactivate => iam_keys::set_key_active(&state.aws, &user, access_key_id, false).await,
        KeyChange::Reactivate => iam_keys::set_key_active(&state.aws, &user, access_key_id, true).await,
        KeyChange::Delete => iam_keys::delete_key(&state.aws, &user, access_key_id).await,
    };
    let now = state.now();
    let outcome = match result {
        Ok(c) => c,
        Err(e) => {
            let event = Event::failure(AuditAction::AccessKeyChangeFailed, user.as_str()).with_detail(
                serde_json::json!({ "access_key_id": access_key_id, "change": change.verb(), "error": e.kind() }),
            );
            db::audit::record_alone(&state.db, ctx, event, now).await?;
            return Err(upstream(&format!("Could not {} key {access_key_id}", change.verb()), e));
        }
    };
    let mut tx = db::begin_immediate(&state.db).await?;
    let rotation = db::key_rotations::open_for(&mut *tx, t.id).await?;
    let is_old = rotation.as_ref().is_some_and(|r| r.old_access_key_id.as_deref() == Some(access_key_id));
    let is_new = rotation.as_ref().is_some_and(|r| r.new_access_key_id.as_deref() == Some(access_key_id));
    match change {
        KeyChange::Deactivate => {
            record_retired_in(&mut tx, ctx, user.as_str(), access_key_id, Retired::Deactivated, "owner", now).await?;
            if let Some(r) = rotation.as_ref().filter(|_| is_old) {
                db::key_rotations::mark(&mut *tx, r.id, Mark::OldDeactivated, now).await?;
            }
        }
        KeyChange::Reactivate => {
            let event = Event::success(AuditAction::AccessKeyReactivated, user.as_str())
                .with_detail(serde_json::json!({ "access_key_id": access_key_id }));
            db::audit::record(&mut tx, ctx, event, now).await?;
            if let Some(r) = rotation.as_ref().filter(|r| is_old && r.old_deactivated_at.is_some()) {
                // The owner wants the old key back: it must not be deleted when the grace period ends.
                db::key_rotations::complete(&mut *tx, r.id, false, now).await?;
                let event = Event::success(AuditAction::RotationCompleted, user.as_str())
                    .with_detail(serde_json::json!({ "rotation": r.id, "old_key_kept": access_key_id }));
                db::audit::record(&mut tx, ctx, event, now).await?;
            }
        }
        KeyChange::Delete => {
            let reason = if outcome == Change::AlreadyGone { "owner (already gone in IAM)" } else { "owner" };
            record_deleted_in(&mut tx, ctx, user.as_str(), access_key_id, reason, now).await?;
            if let Some(r) = rotation.as_ref() {
                if is_new {
                    db::key_rotations::cancel(&mut *tx, r.id, now).await?;
                    let event = Event::success(AuditAction::RotationCancelled, user.as_str())
                        .with_detail(serde_json::json!({ "rotation": r.id, "reason": "new key deleted by the owner" }));
                    db::audit::record(&mut tx, ctx, event, now).await?;
                } else if is_old {
                    db::key_rotations::complete(&mut *tx, r.id, true, now).await?;
                    let event = Event::success(AuditAction::RotationCompleted, user.as_str())
                        .with_detail(serde_json::json!({ "rotation": r.id, "old_key_deleted_by": "owner" }));
                    db::audit::record(&mut tx, ctx, event, now).await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
