//! Key rotation: a new key for a teammate, delivered through a new one-time
//! link, while the old key keeps working until the new one is seen in use
//! (IAM's last-used record, not counting the portal's own STS check) or the
//! owner confirms; then the old key is deactivated, and deleted once
//! EGX_ROTATION_GRACE_DAYS have passed. Every step is recorded in
//! `key_rotations` and audited; a rotation that stopped (AWS error, crash)
//! continues when the owner rotates again.
//!
//! IAM allows two keys per user. Before the new key is made: an inactive key
//! is deleted if there are already two (the oldest first; the owner is told),
//! and a key whose link was never revealed (nobody has it) is deleted rather
//! than kept "active until replaced". Two active keys: refused, with what to do.
//!
//! [`advance_all`] moves open rotations on; the housekeeping tick runs it,
//! and so does opening the teammates list. Time is `state.now()`.

use sqlx::SqliteConnection;

use super::keys::{self, KeyFor};
use super::links::{self, Contents};
use super::{CONCURRENCY, iam_name, require_present, teammate, upstream};
use crate::aws::iam::IamError;
use crate::aws::iam_keys::{self, IamKey};
use crate::clock::Timestamp;
use crate::crypto::Secret;
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::db::key_rotations::{Mark, Rotation};
use crate::domain::teammate::{KeyUse, teammate_use};
use crate::domain::{AuditAction, IamUserName, TeammateStatus};
use crate::error::AppError;
use crate::state::AppState;

/// What the owner is shown once a rotation delivered its new key.
pub struct RotationStarted {
    pub username: String,
    pub new_access_key_id: String,
    pub link: Secret,
    pub link_expires_at: Timestamp,
    pub key_verified: bool,
    /// The key being replaced (stays active until the new one is in use or confirmed).
    pub old_access_key_id: Option<String>,
    /// Keys deleted first, with why (IAM's two-key limit; never-delivered keys).
    pub deleted_first: Vec<(String, &'static str)>,
}

/// Starts a rotation (or continues one that stopped before its link was issued).
pub async fn start(state: &AppState, ctx: &AuditContext, name: &str) -> Result<RotationStarted, AppError> {
    super::exclusively(state, name, "rotating the key", start_locked(state, ctx, name)).await
}

async fn start_locked(state: &AppState, ctx: &AuditContext, name: &str) -> Result<RotationStarted, AppError> {
    let t = teammate(state, name).await?;
    require_present(&t)?;
    if t.shown_status() == TeammateStatus::Incomplete {
        return Err(AppError::Conflict(format!(
            "Adding {name} has not finished; Resume it first (it issues the first key)."
        )));
    }
    let user = iam_name(&t)?;
    if let Some(open) = db::key_rotations::open_for(&state.db, t.id).await?
        && open.link_id.is_some()
    {
        return Err(AppError::Conflict(format!(
            "A rotation of {name}'s key is already under way (new key {}). Confirm it or cancel it first.",
            open.new_access_key_id.as_deref().unwrap_or("?")
        )));
    }
    let mut keys = iam_keys::list_key_metadata(&state.aws, &user)
        .await
        .map_err(|e| upstream(&format!("Could not rotate {name}'s key"), e))?;
    let known = db::access_keys::for_teammate(&state.db, t.id).await?;
    let links = db::secret_links::for_teammate(&state.db, t.id, 1000).await?;
    let delivered = |id: &str| {
        let ours = known.iter().find(|k| k.access_key_id == id);
        // Adopted keys and keys the portal does not know were handed out outside the portal.
        ours.is_none_or(|k| k.origin != "portal")
            || links.iter().any(|l| l.access_key_id.as_deref() == Some(id) && l.revealed_at.is_some())
    };

    let now = state.now();
    let mut deleted_first = Vec::new();
    let mut tx = db::begin_immediate(&state.db).await?;
    let rotation = match db::key_rotations::open_for(&mut *tx, t.id).await? {
        Some(open) if open.link_id.is_some() => {
            return Err(AppError::Conflict(format!("A rotation of {name}'s key is already under way.")));
        }
        Some(open) => open,
        None => {
            let active: Vec<&IamKey> = keys.iter().filter(|k| k.active && delivered(&k.access_key_id)).collect();
            if active.len() >= 2 {
                return Err(AppError::Conflict(format!(
                    "{name} has two active keys ({} and {}). IAM allows two keys per user, so one must go before \
                     a new one can be made: deactivate or delete one, then rotate.",
                    active[0].access_key_id, active[1].access_key_id
                )));
            }
            let old = active.first().map(|k| k.access_key_id.clone());
            let id = db::key_rotations::insert(&mut *tx, t.id, old.as_deref(), now).await?;
            let event = Event::success(AuditAction::RotationStarted, user.as_str())
                .with_detail(serde_json::json!({ "rotation": id, "old_access_key_id": old }));
            db::audit::record(&mut tx, ctx, event, now).await?;
            db::key_rotations::open_for(&mut *tx, t.id)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("rotation {id} vanished")))?
        }
    };
    tx.commit().await?;
    let fail = |step: &'static str, e: IamError| failed(state, ctx, &user, rotation.id, step, e);

    // A new key made by an attempt that stopped before its link was stored: its secret is gone.
    if let Some(lost) = &rotation.new_access_key_id {
        if let Err(e) = iam_keys::delete_key(&state.aws, &user, lost).await {
            return Err(fail("delete the undelivered new key", e).await);
        }
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        keys::record_deleted_in(&mut tx, ctx, user.as_str(), lost, "undelivered: its secret was lost", now).await?;
        db::key_rotations::set_new_key(&mut *tx, rotation.id, None).await?;
        tx.commit().await?;
        keys.retain(|k| &k.access_key_id != lost);
    }

    // Keys nobody has (their link was never revealed) are not worth keeping, and
    // with two keys the oldest inactive one makes room (IAM's two-key limit).
    let old = rotation.old_access_key_id.clone();
    let mut doomed: Vec<(String, &'static str)> = keys
        .iter()
        .filter(|k| !delivered(&k.access_key_id) && Some(&k.access_key_id) != old.as_ref())
        .map(|k| (k.access_key_id.clone(), "never delivered: its link was never revealed"))
        .collect();
    let remaining = keys.len() - doomed.len();
    if remaining >= 2
        && let Some(inactive) = keys
            .iter()
            .filter(|k| !k.active && Some(&k.access_key_id) != old.as_ref())
            .find(|k| !doomed.iter().any(|(d, _)| d == &k.access_key_id))
    {
        doomed.push((inactive.access_key_id.clone(), "the oldest inactive key, deleted to make room (IAM allows two)"));
    }
    for (id, reason) in doomed {
        if let Err(e) = iam_keys::delete_key(&state.aws, &user, &id).await {
            return Err(fail("delete a key to make room", e).await);
        }
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        keys::record_deleted_in(&mut tx, ctx, user.as_str(), &id, reason, now).await?;
        db::key_rotations::set_made_room(&mut *tx, rotation.id, &id).await?;
        tx.commit().await?;
        deleted_first.push((id, reason));
    }

    let key = match keys::create(state, ctx, t.id, &user, KeyFor::Rotation(rotation.id)).await {
        Ok(k) => k,
        Err(e) => return Err(fail("create the new key", e).await),
    };
    let key_verified = keys::verify(state, ctx, &user, &key).await?;

    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let contents = Contents::Key { key: &key, verified: key_verified };
    let link = links::store(state, &mut tx, ctx, t.id, user.as_str(), contents, now).await?;
    db::key_rotations::set_link(&mut *tx, rotation.id, &link.id).await?;
    if old.is_none() {
        complete_in(&mut tx, ctx, user.as_str(), rotation.id, false, "there was no active key to replace", now).await?;
    }
    tx.commit().await?;

    Ok(RotationStarted {
        username: user.to_string(),
        new_access_key_id: key.access_key_id.clone(),
        link: link.url,
        link_expires_at: link.expires_at,
        key_verified,
        old_access_key_id: old,
        deleted_first,
    })
}

/// Records a failed rotation step (rotation stays open, error kept) and
/// returns what the owner sees.
async fn failed(
    state: &AppState,
    ctx: &AuditContext,
    user: &IamUserName,
    rotation_id: i64,
    step: &'static str,
    e: IamError,
) -> AppError {
    let kind = e.kind();
    let recorded = async {
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        db::key_rotations::set_error(&mut *tx, rotation_id, &format!("{step}: {kind}")).await?;
        let event = Event::failure(AuditAction::RotationFailed, user.as_str())
            .with_detail(serde_json::json!({ "rotation": rotation_id, "step": step, "error": kind }));
        db::audit::record(&mut tx, ctx, event, now).await?;
        tx.commit().await
    }
    .await;
    match recorded {
        Ok(()) => {
            upstream(&format!("Rotating {user}'s key stopped at \u{201c}{step}\u{201d}; rotate again to continue"), e)
        }
        Err(db_err) => db_err.into(),
    }
}

async fn complete_in(
    tx: &mut SqliteConnection,
    ctx: &AuditContext,
    user: &str,
    rotation_id: i64,
    old_deleted: bool,
    note: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    db::key_rotations::complete(&mut *tx, rotation_id, old_deleted, now).await?;
    let event = Event::success(AuditAction::RotationCompleted, user)
        .with_detail(serde_json::json!({ "rotation": rotation_id, "note": note }));
    db::audit::record(tx, ctx, event, now).await?;
    Ok(())
}

/// The owner confirms the teammate has the new key: the old one is deactivated now.
pub async fn confirm(state: &AppState, ctx: &AuditContext, name: &str) -> Result<(), AppError> {
    super::exclusively(state, name, "confirming the rotation", confirm_locked(state, ctx, name)).await
}

async fn confirm_locked(state: &AppState, ctx: &AuditContext, name: &str) -> Result<(), AppError> {
    let t = teammate(state, name).await?;
    let user = iam_name(&t)?;
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let rotation = match db::key_rotations::open_for(&mut *tx, t.id).await? {
        Some(r) if r.link_id.is_some() => r,
        _ => return Err(AppError::Conflict(format!("No rotation of {name}'s key is waiting for confirmation."))),
    };
    if rotation.old_deactivated_at.is_some() {
        return Err(AppError::Conflict(format!(
            "The rotation is past that point: the old key is already deactivated (it is deleted {} days after).",
            state.config.rotation_grace_secs / 86_400
        )));
    }
    // Nobody has the new key until its link is revealed: turning the old one
    // off now would leave the teammate without a working key.
    let link = match &rotation.link_id {
        Some(id) => db::secret_links::find(&mut *tx, id).await?,
        None => None,
    };
    if link.is_none_or(|l| l.revealed_at.is_none()) {
        return Err(AppError::Conflict(format!(
            "{name} has not opened the link with the new key yet, so {name} does not have it: the old key stays \
             on. Confirm once the link was revealed (the teammate's page shows it), or cancel the rotation."
        )));
    }
    db::key_rotations::mark(&mut *tx, rotation.id, Mark::Confirmed, now).await?;
    let event = Event::success(AuditAction::RotationConfirmed, user.as_str())
        .with_detail(serde_json::json!({ "rotation": rotation.id, "new_access_key_id": rotation.new_access_key_id }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    let rotation = db::key_rotations::open_for(&state.db, t.id).await?.ok_or(AppError::NotFound)?;
    advance(state, ctx, &user, &rotation).await.map_err(|e| upstream("The old key could not be deactivated", e))?;
    Ok(())
}

/// Cancels an open rotation before the old key was deactivated: the new key
/// is deleted and its link revoked; the old key stays as it is.
pub async fn cancel(state: &AppState, ctx: &AuditContext, name: &str) -> Result<(), AppError> {
    super::exclusively(state, name, "cancelling the rotation", cancel_locked(state, ctx, name)).await
}

async fn cancel_locked(state: &AppState, ctx: &AuditContext, name: &str) -> Result<(), AppError> {
    let t = teammate(state, name).await?;
    let user = iam_name(&t)?;
    let Some(rotation) = db::key_rotations::open_for(&state.db, t.id).await? else {
        return Err(AppError::Conflict(format!("No rotation of {name}'s key is under way.")));
    };
    cancel_open(state, ctx, &user, &rotation, "cancelled by the owner").await
}

async fn cancel_open(
    state: &AppState,
    ctx: &AuditContext,
    user: &IamUserName,
    rotation: &Rotation,
    reason: &str,
) -> Result<(), AppError> {
    if rotation.old_deactivated_at.is_some() {
        return Err(AppError::Conflict(
            "Too late to cancel: the old key is already deactivated and the new one is in use. \
             Reactivate the old key on its row if it is still needed."
                .into(),
        ));
    }
    if let Some(new) = &rotation.new_access_key_id {
        iam_keys::delete_key(&state.aws, user, new)
            .await
            .map_err(|e| upstream("The new key could not be deleted", e))?;
    }
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    if let Some(link) = &rotation.link_id
        && db::secret_links::revoke(&mut *tx, link, "rotation_cancelled", now).await?
    {
        links::record_revoked(&mut tx, ctx, user.as_str(), std::slice::from_ref(link), "rotation_cancelled", now)
            .await?;
    }
    if let Some(new) = &rotation.new_access_key_id {
        keys::record_deleted_in(&mut tx, ctx, user.as_str(), new, "rotation cancelled", now).await?;
    }
    db::key_rotations::cancel(&mut *tx, rotation.id, now).await?;
    let event = Event::success(AuditAction::RotationCancelled, user.as_str())
        .with_detail(serde_json::json!({ "rotation": rotation.id, "reason": reason }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// "Reissue the link" for a key: a lost or expired link cannot be sent again
/// (no plaintext is kept), so this is a rotation. An open rotation whose link
/// was never revealed is cancelled first (its key reached nobody).
pub async fn reissue(state: &AppState, ctx: &AuditContext, name: &str) -> Result<RotationStarted, AppError> {
    super::exclusively(state, name, "reissuing the link", reissue_locked(state, ctx, name)).await
}

async fn reissue_locked(state: &AppState, ctx: &AuditContext, name: &str) -> Result<RotationStarted, AppError> {
    let t = teammate(state, name).await?;
    if let Some(open) = db::key_rotations::open_for(&state.db, t.id).await?
        && let Some(link_id) = &open.link_id
    {
        let link = db::secret_links::find(&state.db, link_id).await?;
        if link.is_some_and(|l| l.revealed_at.is_none()) && open.old_deactivated_at.is_none() {
            let user = iam_name(&t)?;
            cancel_open(state, ctx, &user, &open, "superseded: a new link was issued").await?;
        }
    }
    start_locked(state, ctx, name).await
}

/// Moves every open rotation on as far as it can go now (the housekeeping
/// tick and the teammates list call this). Errors are recorded per rotation
/// and logged; returns how many rotations changed.
pub async fn advance_all(state: &AppState) -> usize {
    let ctx = AuditContext::system("system");
    let open = match db::key_rotations::all_open(&state.db).await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(error = %e, "reading open rotations failed");
            return 0;
        }
    };
    use futures_util::StreamExt as _;
    let ctx = &ctx;
    let results: Vec<bool> = futures_util::stream::iter(open)
        .map(|r| async move { advance_logged(state, ctx, r).await })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().filter(|changed| *changed).count()
}

async fn advance_logged(state: &AppState, ctx: &AuditContext, r: Rotation) -> bool {
    let user = match db::teammates::find_by_id(&state.db, r.teammate_id).await {
        Ok(Some(t)) => match IamUserName::parse(&t.iam_user_name) {
            Ok(u) => u,
            Err(_) => return false,
        },
        _ => return false,
    };
    // A teammate someone is working on right now is left for the next tick.
    let now = state.now();
    match db::teammate_locks::take(&state.db, user.as_str(), "advancing the rotation", now, now + 600).await {
        Ok(None) => {}
        Ok(Some(_)) | Err(_) => return false,
    }
    let advanced = advance(state, ctx, &user, &r).await;
    if let Err(e) = db::teammate_locks::give_back(&state.db, user.as_str()).await {
        tracing::warn!(error = %e, "giving back a teammate's lease failed; it runs out by itself");
    }
    match advanced {
        Ok(changed) => changed,
        Err(e) => {
            let kind = e.kind();
            tracing::warn!(rotation = r.id, error = %kind, "advancing a key rotation failed");
            // Audited once per new error, not on every tick.
            if r.last_error.as_deref() != Some(kind.as_str()) {
                let recorded = async {
                    let now = state.now();
                    let mut tx = db::begin_immediate(&state.db).await?;
                    db::key_rotations::set_error(&mut *tx, r.id, &kind).await?;
                    let event = Event::failure(AuditAction::RotationFailed, user.as_str())
                        .with_detail(serde_json::json!({ "rotation": r.id, "step": "advance", "error": kind }));
                    db::audit::record(&mut tx, ctx, event, now).await?;
                    tx.commit().await
                }
                .await;
                if let Err(e) = recorded {
                    tracing::warn!(error = %e, "recording a rotation failure failed");
                }
            }
            false
        }
    }
}

/// One rotation, as far as it goes now. Returns whether anything changed.
async fn advance(state: &AppState, ctx: &AuditContext, user: &IamUserName, r: &Rotation) -> Result<bool, IamError> {
    let db_err = |e: sqlx::Error| IamError::Refused { step: "record", code: "DatabaseError".into(), source: e.into() };
    let app_err = |e: AppError| IamError::Refused { step: "record", code: "DatabaseError".into(), source: e.into() };
    let (Some(_link), Some(new)) = (&r.link_id, &r.new_access_key_id) else {
        return Ok(false); // stopped before its link: the owner continues it by rotating again
    };
    let Some(old) = &r.old_access_key_id else {
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await.map_err(db_err)?;
        complete_in(&mut tx, ctx, user.as_str(), r.id, false, "there was no active key to replace", now)
            .await
            .map_err(app_err)?;
        tx.commit().await.map_err(db_err)?;
        return Ok(true);
    };
    let mut changed = false;
    let mut deactivated_at = r.old_deactivated_at;
    if deactivated_at.is_none() {
        if r.confirmed_at.is_none() && r.new_key_seen_at.is_none() {
            let verified_at = db::access_keys::for_teammate(&state.db, r.teammate_id)
                .await
                .map_err(db_err)?
                .into_iter()
                .find(|k| &k.access_key_id == new)
                .and_then(|k| k.verified_at);
            let last = iam_keys::last_used(&state.aws, new).await?;
            let used = teammate_use(last.as_ref().map(|l| KeyUse { at: l.at, service: &l.service }), verified_at);
            let Some(used_at) = used else {
                return Ok(false); // still waiting for the teammate or the owner
            };
            let now = state.now();
            let mut tx = db::begin_immediate(&state.db).await.map_err(db_err)?;
            db::key_rotations::mark(&mut *tx, r.id, Mark::NewKeySeen, now).await.map_err(db_err)?;
            let event = Event::success(AuditAction::RotationNewKeySeen, user.as_str()).with_detail(serde_json::json!({
                "rotation": r.id,
                "new_access_key_id": new,
                "used_at": used_at,
                "service": last.map(|l| l.service),
            }));
            db::audit::record(&mut tx, ctx, event, now).await.map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        }
        iam_keys::set_key_active(&state.aws, user, old, false).await?;
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await.map_err(db_err)?;
        db::key_rotations::mark(&mut *tx, r.id, Mark::OldDeactivated, now).await.map_err(db_err)?;
        let reason = "rotation: the new key is in use";
        keys::record_retired_in(&mut tx, ctx, user.as_str(), old, keys::Retired::Deactivated, reason, now)
            .await
            .map_err(app_err)?;
        tx.commit().await.map_err(db_err)?;
        deactivated_at = Some(now);
        changed = true;
    }
    let now = state.now();
    if let Some(at) = deactivated_at
        && now >= at + state.config.rotation_grace_secs
    {
        iam_keys::delete_key(&state.aws, user, old).await?;
        let mut tx = db::begin_immediate(&state.db).await.map_err(db_err)?;
        keys::record_deleted_in(&mut tx, ctx, user.as_str(), old, "rotation: the grace period ended", now)
            .await
            .map_err(app_err)?;
        complete_in(&mut tx, ctx, user.as_str(), r.id, true, "old key deleted", now).await.map_err(app_err)?;
        tx.commit().await.map_err(db_err)?;
        changed = true;
    }
    Ok(changed)
}
