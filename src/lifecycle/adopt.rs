//! Adopting IAM users made outside the portal (e.g. by the runbook script
//! `iam/create_team_users.sh`): users the portal's upload policy is attached
//! to but that the portal does not know. Adopting records the teammate (and
//! a portal account without a password), tags the user managed-by=egx-portal
//! and records its existing keys. The owner can then rotate its key (a new
//! key through a link) or send a portal-account-only link.
//!
//! Only users that carry the portal's policy can be adopted: that is checked
//! against IAM when adopting, whatever the form sent.

use super::{CONCURRENCY, upstream};
use crate::aws::iam;
use crate::aws::iam_keys;
use crate::db;
use crate::db::access_keys::Origin;
use crate::db::audit::{AuditContext, Event};
use crate::domain::{AuditAction, IamUserName, TeammateStatus};
use crate::error::AppError;
use crate::state::AppState;

/// An IAM user that carries the portal's policy but is not a teammate.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub created_at: Option<i64>,
    /// Whether it already has the managed-by=egx-portal tag (the runbook sets it).
    pub tagged: Option<bool>,
    /// How many keys it has (None: IAM could not tell).
    pub keys: Option<usize>,
}

/// The candidates, or `None` when the policy does not exist yet (nobody was
/// ever given it). A failed IAM call is an error, never "no candidates".
pub async fn candidates(state: &AppState) -> Result<Option<Vec<Candidate>>, AppError> {
    let arn = iam::policy_arn(&state.aws, &state.config.bucket)
        .await
        .map_err(|e| upstream("Could not list the users to adopt", e))?;
    let Some(users) =
        iam::users_with_policy(&state.aws, &arn).await.map_err(|e| upstream("Could not list the users to adopt", e))?
    else {
        return Ok(None);
    };
    let known = db::teammates::list_all(&state.db).await?;
    let unknown: Vec<String> = users
        .into_iter()
        .filter(|u| !known.iter().any(|t| &t.iam_user_name == u && t.shown_status() != TeammateStatus::Removed))
        .collect();
    use futures_util::StreamExt as _;
    let found = futures_util::stream::iter(unknown)
        .map(|name| async move {
            let Ok(user) = IamUserName::parse(&name) else {
                return Candidate { name, created_at: None, tagged: None, keys: None };
            };
            let created_at = iam::user_created_at(&state.aws, &user).await.ok().flatten();
            let tagged = iam::is_managed(&state.aws, &user).await.ok();
            let keys = iam_keys::list_key_metadata(&state.aws, &user).await.ok().map(|k| k.len());
            Candidate { name, created_at, tagged, keys }
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    Ok(Some(found))
}

/// What adoption recorded.
pub struct Adopted {
    pub name: String,
    pub keys: Vec<String>,
}

pub async fn adopt(state: &AppState, ctx: &AuditContext, name: &IamUserName) -> Result<Adopted, AppError> {
    super::exclusively(state, name.as_str(), "adopting", adopt_locked(state, ctx, name)).await
}

async fn adopt_locked(state: &AppState, ctx: &AuditContext, name: &IamUserName) -> Result<Adopted, AppError> {
    let user = name.as_str();
    if let Some(t) = db::teammates::find_by_name(&state.db, user).await?
        && t.shown_status() != TeammateStatus::Removed
    {
        return Err(AppError::Conflict(format!("{user} is already a teammate.")));
    }
    if let Some(account) = db::accounts::find_by_username(&state.db, user).await?
        && account.is_owner()
    {
        return Err(AppError::Conflict(format!("The name {user} is already used by the owner's account.")));
    }
    let bucket = &state.config.bucket;
    let what = format!("Could not adopt {user}");
    let arn = iam::policy_arn(&state.aws, bucket).await.map_err(|e| upstream(&what, e))?;
    // SECURITY: only a user that carries the portal's policy is adopted, whatever the form named.
    match iam::has_policy(&state.aws, name, &arn).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(AppError::Conflict(format!(
                "{user} does not carry the portal's policy {}; only users that do can be adopted.",
                iam::policy_name(bucket)
            )));
        }
        Err(e) if e.is_no_such_entity() => return Err(AppError::NotFound),
        Err(e) => return Err(upstream(&what, e)),
    }
    let keys = iam_keys::list_key_metadata(&state.aws, name).await.map_err(|e| upstream(&what, e))?;
    iam::tag_managed(&state.aws, name, bucket).await.map_err(|e| upstream(&what, e))?;

    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    db::audit::record(
        &mut tx,
        ctx,
        Event::success(AuditAction::IamUserTagged, user).with_detail(serde_json::json!({ "managed-by": "egx-portal" })),
        now,
    )
    .await?;
    let Some(teammate_id) = db::teammates::insert_adopted(&mut *tx, user, now).await? else {
        return Err(AppError::Conflict(format!("{user} is already a teammate.")));
    };
    db::accounts::ensure_teammate(&mut *tx, user, teammate_id, now).await?;
    db::accounts::reset_teammate(&mut *tx, teammate_id).await?;
    let ids: Vec<String> = keys.iter().map(|k| k.access_key_id.clone()).collect();
    for key in &keys {
        db::access_keys::insert(&mut *tx, &key.access_key_id, teammate_id, Origin::Adopted, key.created_at).await?;
    }
    let event = Event::success(AuditAction::TeammateAdopted, user)
        .with_detail(serde_json::json!({ "policy_arn": arn, "access_key_ids": ids }));
    db::audit::record(&mut tx, ctx, event, now).await?;
    tx.commit().await?;
    Ok(Adopted { name: user.to_owned(), keys: ids })
}
