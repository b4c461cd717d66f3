//! Adding a teammate: the provisioning workflow.
//!
//! Steps, each idempotent and each recorded (teammate row + audit row in one
//! transaction) as it succeeds: ensure the policy, ensure the IAM user,
//! attach the policy, create an access key, check AWS accepts it, issue the
//! one-time link. A failure leaves the teammate 'incomplete' with the failed
//! step recorded and audited (`teammate.provision_failed`); **Resume** (or
//! adding the name again) continues, because every step tolerates the work
//! of an earlier attempt (C18): the policy and user are found, attaching
//! twice is a no-op, and a key whose secret was lost before its link was
//! stored is deleted and replaced rather than left to use up IAM's two keys.

use serde::Serialize;

use crate::aws::iam::{self, IamError, UserOutcome};
use crate::crypto::Secret;
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::{AuditAction, IamUserName, TeammateStatus};
use crate::error::AppError;
use crate::lifecycle::keys::{self, KeyFor};
use crate::lifecycle::links::{self, Contents};
use crate::state::AppState;

/// What the owner is shown, once.
pub struct Provisioned {
    pub username: String,
    pub access_key_id: String,
    /// `<public url>/l/<id>#<key>`: contains the only copy of the link key.
    pub link: Secret,
    pub link_expires_at: i64,
    pub key_verified: bool,
    /// The step this run resumed after (None: a fresh start).
    pub resumed_after: Option<String>,
}

/// The provisioning steps, as recorded in `teammates.last_step` and shown.
pub const STEPS: [(&str, &str); 5] = [
    ("policy", "ensure policy"),
    ("user", "create IAM user"),
    ("attach", "attach policy"),
    ("key", "create access key"),
    ("link", "issue link"),
];

#[derive(Serialize)]
struct Started<'a> {
    resumed_after: Option<&'a str>,
    re_added: bool,
}

/// Adds (or resumes adding) `name`, holding the teammate's lease: a second
/// "add" of the same name at the same time is refused, not run twice.
pub async fn add_teammate(state: &AppState, ctx: &AuditContext, name: &IamUserName) -> Result<Provisioned, AppError> {
    crate::lifecycle::exclusively(state, name.as_str(), "adding", add_locked(state, ctx, name)).await
}

async fn add_locked(state: &AppState, ctx: &AuditContext, name: &IamUserName) -> Result<Provisioned, AppError> {
    let user = name.as_str();
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let existing = db::teammates::find_by_name(&mut *tx, user).await?;
    let mut re_added = false;
    if let Some(t) = &existing {
        match t.shown_status() {
            TeammateStatus::Incomplete => {}
            TeammateStatus::Removed => {
                db::teammates::reset_for_readd(&mut *tx, t.id, now).await?;
                db::accounts::reset_teammate(&mut *tx, t.id).await?;
                state.open_uploads.forget_all();
                re_added = true;
            }
            TeammateStatus::Removing => {
                return Err(AppError::Conflict(format!(
                    "{user} is being removed; finish the removal (Remove again) before adding {user} again."
                )));
            }
            _ => {
                return Err(AppError::Conflict(format!(
                    "{user} is already a teammate. To give {user} a new key, use Rotate key on {user}'s page; \
                     for a new portal password, issue a portal-account link."
                )));
            }
        }
    }
    if let Some(account) = db::accounts::find_by_username(&mut *tx, user).await?
        && (account.is_owner() || existing.is_none())
    {
        return Err(AppError::Conflict(format!("The name {user} is already used by a portal account.")));
    }
    let resumed_after = existing.as_ref().filter(|_| !re_added).and_then(|t| t.last_step.clone());
    let teammate_id = db::teammates::ensure(&mut *tx, user, now).await?;
    db::accounts::ensure_teammate(&mut *tx, user, teammate_id, now).await?;
    let started = Started { resumed_after: resumed_after.as_deref(), re_added };
    let event = Event::success(AuditAction::TeammateProvisionStarted, user)
        .with_detail(serde_json::to_value(&started).map_err(|e| AppError::Internal(e.into()))?);
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;

    let bucket = &state.config.bucket;
    let steps = Steps { state, ctx, teammate_id, user };

    let policy_arn = match iam::ensure_policy(&state.aws, bucket).await {
        Ok(arn) => arn,
        Err(e) => return Err(steps.failed("ensure policy", e).await),
    };
    steps.done("policy", Event::success(AuditAction::PolicyEnsured, policy_arn.as_str())).await?;

    let action = match iam::ensure_user(&state.aws, name, bucket).await {
        Ok(UserOutcome::Created) => AuditAction::IamUserCreated,
        Ok(UserOutcome::FoundManaged) => AuditAction::IamUserFound,
        Err(e) => return Err(steps.failed("create IAM user", e).await),
    };
    steps.done("user", Event::success(action, user)).await?;

    if let Err(e) = iam::attach_policy(&state.aws, name, &policy_arn).await {
        return Err(steps.failed("attach policy", e).await);
    }
    steps.done("attach", Event::success(AuditAction::PolicyAttached, user)).await?;

    // A key from an earlier attempt whose link was never stored cannot be
    // delivered (its secret is gone): replace it instead of adding a second.
    if let Err(e) = keys::delete_undelivered(state, ctx, teammate_id, name).await {
        return Err(steps.failed("create access key", e).await);
    }
    let key = match keys::create(state, ctx, teammate_id, name, KeyFor::Provisioning).await {
        Ok(k) => k,
        Err(e) => return Err(steps.failed("create access key", e).await),
    };

    let key_verified = keys::verify(state, ctx, name, &key).await?;

    let issued = async {
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        let contents = Contents::Key { key: &key, verified: key_verified };
        let link = links::store(state, &mut tx, ctx, teammate_id, user, contents, now).await?;
        db::teammates::record_step(&mut *tx, teammate_id, "link", now).await?;
        db::teammates::set_status(&mut *tx, teammate_id, "active", now).await?;
        tx.commit().await?;
        Ok::<_, AppError>(link)
    }
    .await;
    let link = match issued {
        Ok(link) => link,
        Err(e) => return Err(steps.failed_locally("issue link", e).await),
    };

    Ok(Provisioned {
        username: user.to_owned(),
        access_key_id: key.access_key_id.clone(),
        link: link.url,
        link_expires_at: link.expires_at,
        key_verified,
        resumed_after,
    })
}

/// Records provisioning progress for one teammate.
struct Steps<'a> {
    state: &'a AppState,
    ctx: &'a AuditContext,
    teammate_id: i64,
    user: &'a str,
}

impl Steps<'_> {
    /// Records that `step` succeeded, with its audit row, in one transaction.
    async fn done(&self, step: &str, event: Event<'_>) -> Result<(), AppError> {
        let now = self.state.now();
        let mut tx = db::begin_immediate(&self.state.db).await?;
        db::teammates::record_step(&mut *tx, self.teammate_id, step, now).await?;
        db::audit::record(&mut tx, self.ctx, event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that `step` failed in IAM (teammate stays 'incomplete',
    /// audited) and returns the error the owner sees.
    async fn failed(&self, step: &'static str, e: IamError) -> AppError {
        let user = self.user;
        let shown = format!(
            "Adding {user} stopped at step \u{201c}{step}\u{201d}: {e}. Fix the cause, then Resume to continue."
        );
        match self.record_failure(step, &e.kind()).await {
            Ok(()) => AppError::Upstream(shown, anyhow::Error::new(e)),
            Err(db_err) => db_err,
        }
    }

    /// Records that a step the portal does itself failed (e.g. storing the link).
    async fn failed_locally(&self, step: &'static str, e: AppError) -> AppError {
        tracing::error!(error = %e, step, "provisioning step failed");
        match self.record_failure(step, "internal").await {
            Ok(()) => e,
            Err(db_err) => db_err,
        }
    }

    async fn record_failure(&self, step: &str, kind: &str) -> Result<(), AppError> {
        let now = self.state.now();
        let mut tx = db::begin_immediate(&self.state.db).await?;
        db::teammates::record_failure(&mut *tx, self.teammate_id, &format!("{step}: {kind}"), now).await?;
        let event = Event::failure(AuditAction::TeammateProvisionFailed, self.user)
            .with_detail(serde_json::json!({ "step": step, "error": kind }));
        db::audit::record(&mut tx, self.ctx, event, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
