//! Adding a teammate: the provisioning workflow.
//!
//! Steps, each idempotent and each recorded (teammate row + audit row in one
//! transaction) as it succeeds: ensure the policy, ensure the IAM user,
//! attach the policy, create an access key, check AWS accepts it, issue the
//! one-time link. A failure leaves the teammate 'incomplete' with the failed
//! step recorded and audited; running "add" again resumes, because every
//! step tolerates the work of an earlier attempt (C18).

use std::time::Duration;

use serde::Serialize;
use zeroize::Zeroize as _;

use crate::aws::iam::{self, IamError, UserOutcome};
use crate::crypto::{self, Secret};
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::{AuditAction, IamUserName, Prefix};
use crate::error::AppError;
use crate::state::AppState;

/// What the owner is shown, once.
pub struct Provisioned {
    pub username: String,
    pub access_key_id: String,
    /// `<public url>/l/<id>#<key>`: contains the only copy of the link key.
    pub link: Secret,
    pub link_expires_at: i64,
    pub key_verified: bool,
}

/// The sealed payload, as the reveal page's script reads it.
#[derive(Serialize)]
struct LinkPayload<'a> {
    v: u8,
    username: &'a str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    bucket: &'a str,
    region: &'a str,
    endpoint_url: Option<&'a str>,
    prefixes: Vec<String>,
    enrol_token: &'a str,
    key_verified: bool,
}

pub async fn add_teammate(state: &AppState, ctx: &AuditContext, name: &IamUserName) -> Result<Provisioned, AppError> {
    let user = name.as_str();
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    if let Some(existing) = db::teammates::find_by_name(&mut *tx, user).await?
        && (existing.status == "removed" || existing.status == "disabled")
    {
        return Err(AppError::Conflict(format!(
            "{user} is {}; it cannot be provisioned again from here.",
            existing.status
        )));
    }
    let teammate_id = db::teammates::ensure(&mut *tx, user, now).await?;
    db::accounts::ensure_teammate(&mut *tx, user, teammate_id, now).await?;
    db::audit::record(&mut tx, ctx, Event::success(AuditAction::TeammateProvisionStarted, user), now).await?;
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

    let key = match iam::create_access_key(&state.aws, name).await {
        Ok(k) => k,
        Err(e) => return Err(steps.failed("create access key", e).await),
    };
    {
        let now = state.now();
        let mut tx = db::begin_immediate(&state.db).await?;
        db::teammates::insert_access_key(&mut *tx, &key.access_key_id, teammate_id, now).await?;
        db::teammates::record_step(&mut *tx, teammate_id, "key", now).await?;
        let event = Event::success(AuditAction::AccessKeyCreated, user)
            .with_detail(serde_json::json!({ "access_key_id": key.access_key_id }));
        db::audit::record(&mut tx, ctx, event, now).await?;
        tx.commit().await?;
    }

    let key_verified =
        iam::verify_key(&state.aws, &key, Duration::from_secs(state.config.key_verify_timeout_secs)).await;
    {
        let now = state.now();
        let event = if key_verified {
            Event::success(AuditAction::AccessKeyVerified, user)
        } else {
            Event::failure(AuditAction::AccessKeyVerified, user)
        }
        .with_detail(serde_json::json!({ "access_key_id": key.access_key_id }));
        db::audit::record_alone(&state.db, ctx, event, now).await?;
    }

    // The one-time link.
    let link_id = crypto::new_public_id()?;
    let enrol_token = crypto::new_token()?;
    let endpoint = state.config.s3_endpoint.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned());
    let payload = LinkPayload {
        v: 1,
        username: user,
        access_key_id: &key.access_key_id,
        secret_access_key: key.secret_access_key.expose(),
        bucket: bucket.as_str(),
        region: &state.config.region,
        endpoint_url: endpoint.as_deref(),
        prefixes: Prefix::ALL.iter().map(|p| format!("{}/", p.as_str())).collect(),
        enrol_token: enrol_token.expose(),
        key_verified,
    };
    let mut plaintext = serde_json::to_vec(&payload).map_err(|e| AppError::Internal(e.into()))?;
    let sealed = crypto::seal_link_payload(&link_id, &plaintext);
    plaintext.zeroize();
    let sealed = sealed?;
    let now = state.now();
    let expires_at = now + state.config.link_ttl_secs;
    let mut tx = db::begin_immediate(&state.db).await?;
    db::secret_links::insert(
        &mut *tx,
        &db::secret_links::NewLink {
            id: &link_id,
            teammate_id,
            access_key_id: Some(&key.access_key_id),
            payload: &sealed.stored,
            enrol_token_digest: &crypto::digest(enrol_token.expose()),
            created_at: now,
            expires_at,
        },
    )
    .await?;
    db::teammates::record_step(&mut *tx, teammate_id, "link", now).await?;
    db::teammates::set_status(&mut *tx, teammate_id, "active", now).await?;
    db::audit::record(
        &mut tx,
        ctx,
        Event::success(AuditAction::LinkCreated, user)
            .with_detail(serde_json::json!({ "link_id": link_id, "expires_at": expires_at })),
        now,
    )
    .await?;
    tx.commit().await?;

    Ok(Provisioned {
        username: user.to_owned(),
        access_key_id: key.access_key_id.clone(),
        link: Secret::new(format!("{}/l/{}#{}", state.origin(), link_id, sealed.fragment_key.expose())),
        link_expires_at: expires_at,
        key_verified,
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

    /// Records that `step` failed (teammate stays 'incomplete', audited) and
    /// returns the error the owner sees.
    async fn failed(&self, step: &'static str, e: IamError) -> AppError {
        let user = self.user;
        let kind = e.kind();
        let shown = format!(
            "Adding {user} stopped at step \u{201c}{step}\u{201d}: {e}. Fix the cause and add {user} again to resume."
        );
        let now = self.state.now();
        let recorded = async {
            let mut tx = db::begin_immediate(&self.state.db).await?;
            db::teammates::record_failure(&mut *tx, self.teammate_id, &format!("{step}: {kind}"), now).await?;
            let event = Event::failure(AuditAction::TeammateProvisionFailed, user)
                .with_detail(serde_json::json!({ "step": step, "error": kind }));
            db::audit::record(&mut tx, self.ctx, event, now).await?;
            tx.commit().await
        }
        .await;
        match recorded {
            Ok(()) => AppError::Upstream(shown, anyhow::Error::new(e)),
            Err(db_err) => db_err.into(),
        }
    }
}
