//! Removing a teammate (C16): first the portal side dies (the account is
//! disabled, its sessions end, its open links are revoked, an open rotation
//! is cancelled), then every IAM step DeleteUser requires
//! ([`crate::aws::iam_removal`]), each item audited, then DeleteUser.
//!
//! Each step is recorded on the teammate (`removal_step`); a failure is
//! recorded and audited (`teammate.removal_failed`) and shown as "removing,
//! stopped at …". Running the removal again runs every step again — each
//! finds only what is left — so a removal interrupted anywhere (even by a
//! crash between two calls) finishes.

use super::{iam_name, links, teammate, upstream};
use crate::aws::iam;
use crate::aws::iam_removal::{self, RemovalStep, Removed, RemovedKind};
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::{AuditAction, TeammateStatus};
use crate::error::AppError;
use crate::state::AppState;

/// What a finished removal did.
#[derive(Debug, Default)]
pub struct RemovalReport {
    /// Everything removed from IAM in this run, in order.
    pub removed: Vec<Removed>,
    pub sessions_ended: u64,
    pub links_revoked: usize,
    /// The teammate was already removed: nothing was done.
    pub already_removed: bool,
}

fn action_of(kind: RemovedKind) -> AuditAction {
    match kind {
        RemovedKind::AccessKey => AuditAction::AccessKeyDeleted,
        RemovedKind::LoginProfile => AuditAction::LoginProfileDeleted,
        RemovedKind::MfaDeactivated => AuditAction::MfaDeviceDeactivated,
        RemovedKind::VirtualMfaDeleted => AuditAction::VirtualMfaDeviceDeleted,
        RemovedKind::SigningCertificate => AuditAction::SigningCertificateDeleted,
        RemovedKind::SshPublicKey => AuditAction::SshPublicKeyDeleted,
        RemovedKind::ServiceCredential => AuditAction::ServiceCredentialDeleted,
        RemovedKind::InlinePolicy => AuditAction::InlinePolicyDeleted,
        RemovedKind::AttachedPolicy => AuditAction::PolicyDetached,
        RemovedKind::Group => AuditAction::UserRemovedFromGroup,
        RemovedKind::User => AuditAction::IamUserDeleted,
    }
}

pub async fn remove(state: &AppState, ctx: &AuditContext, name: &str) -> Result<RemovalReport, AppError> {
    super::exclusively(state, name, "removing", remove_locked(state, ctx, name)).await
}

async fn remove_locked(state: &AppState, ctx: &AuditContext, name: &str) -> Result<RemovalReport, AppError> {
    let t = teammate(state, name).await?;
    if t.shown_status() == TeammateStatus::Removed {
        return Ok(RemovalReport { already_removed: true, ..Default::default() });
    }
    let user = iam_name(&t)?;
    // SECURITY: only a user the portal manages (managed-by tag; adoption sets it) is deleted.
    match iam::is_managed(&state.aws, &user).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(AppError::Conflict(format!(
                "IAM user {name} does not carry the managed-by=egx-portal tag, so the portal will not delete it. \
                 Adopt it first, or delete it by hand."
            )));
        }
        Err(e) if e.is_no_such_entity() => {} // already gone: the steps below find nothing
        Err(e) => return Err(upstream(&format!("Could not remove {name}"), e)),
    }

    let mut report = RemovalReport::default();
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    db::teammates::start_removal(&mut *tx, t.id, now).await?;
    if let Some(account_id) = t.account_id {
        db::accounts::set_disabled(&mut *tx, account_id, Some(t.account_disabled_at.unwrap_or(now))).await?;
        // SECURITY: the portal account is disabled and its sessions end before IAM is touched.
        report.sessions_ended = db::sessions::delete_for_account(&mut *tx, account_id).await?;
    }
    let revoked = db::secret_links::revoke_open_for_teammate(&mut *tx, t.id, "removal", now).await?;
    links::record_revoked(&mut tx, ctx, name, &revoked, "removal", now).await?;
    report.links_revoked = revoked.len();
    if let Some(r) = db::key_rotations::open_for(&mut *tx, t.id).await? {
        db::key_rotations::cancel(&mut *tx, r.id, now).await?;
        let event = Event::success(AuditAction::RotationCancelled, name)
            .with_detail(serde_json::json!({ "rotation": r.id, "reason": "teammate removed" }));
        db::audit::record(&mut tx, ctx, event, now).await?;
    }
    let event = Event::success(AuditAction::TeammateRemovalStarted, name).with_detail(serde_json::json!({
        "sessions_ended": report.sessions_ended,
        "links_revoked": report.links_revoked,
        "resumed_after": t.removal_step,
    }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;

    for step in RemovalStep::ALL {
        let removed = match iam_removal::run_step(&state.aws, &user, step).await {
            Ok(r) => r,
            Err(e) => {
                let kind = e.kind();
                let now = state.now();
                let mut tx = db::begin_immediate(&state.db).await?;
                db::teammates::record_removal_failure(&mut *tx, t.id, &format!("{}: {kind}", step.as_str()), now)
                    .await?;
                let event = Event::failure(AuditAction::TeammateRemovalFailed, name)
                    .with_detail(serde_json::json!({ "step": step.as_str(), "error": kind }));
                db::audit::record(&mut tx, ctx, event, now).await?;
                tx.commit().await?;
                let shown = format!(
                    "Removing {name} stopped at \u{201c}{}\u{201d}: {e}. Fix the cause, then Remove again to finish.",
                    step.as_str()
                );
                return Err(AppError::Upstream(shown, anyhow::Error::new(e)));
            }
        };
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        for item in &removed {
            if item.kind == RemovedKind::AccessKey {
                db::access_keys::mark_deleted(&mut *tx, &item.id, now).await?;
            }
            let field = if item.kind == RemovedKind::AccessKey { "access_key_id" } else { "id" };
            let event = Event::success(action_of(item.kind), name)
                .with_detail(serde_json::json!({ field: item.id, "reason": "removal" }));
            db::audit::record(&mut tx, ctx, event, now).await?;
        }
        db::teammates::record_removal_step(&mut *tx, t.id, step.as_str(), now).await?;
        tx.commit().await?;
        report.removed.extend(removed);
    }

    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    db::teammates::mark_removed(&mut *tx, t.id, now).await?;
    let event = Event::success(AuditAction::TeammateRemoved, name)
        .with_detail(serde_json::json!({ "removed_from_iam": report.removed.len() }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    Ok(report)
}
