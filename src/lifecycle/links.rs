//! One-time links from the owner's side: sealing a payload into a new link
//! (with a key, or portal-account-only), and revoking a link.
//!
//! No plaintext is ever kept: a lost or expired link cannot be sent again.
//! "Reissuing" is either a key rotation (a new key in a new link) or a
//! portal-account-only link for a teammate who still has their key.

use serde::Serialize;
use sqlx::SqliteConnection;
use zeroize::Zeroize as _;

use super::{require_present, teammate};
use crate::aws::iam::NewAccessKey;
use crate::clock::Timestamp;
use crate::crypto::{self, Secret};
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::{AuditAction, Prefix, TeammateStatus};
use crate::error::AppError;
use crate::state::AppState;

/// The sealed payload, as the reveal page's script reads it. `kind` is "key"
/// (with the key fields) or "account" (enrolment only, no key).
#[derive(Serialize)]
struct LinkPayload<'a> {
    v: u8,
    kind: &'static str,
    username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<&'a str>,
    bucket: &'a str,
    region: &'a str,
    endpoint_url: Option<&'a str>,
    prefixes: Vec<String>,
    enrol_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_verified: Option<bool>,
}

/// A link just made; `url` holds the only copy of its key.
pub struct IssuedLink {
    pub id: String,
    /// `<public url>/l/<id>#<key>`.
    pub url: Secret,
    pub expires_at: Timestamp,
}

/// What goes into a link: a new key (and whether STS accepted it yet), or nothing but enrolment.
pub enum Contents<'a> {
    Key { key: &'a NewAccessKey, verified: bool },
    AccountOnly,
}

/// Seals the payload and stores the link inside `tx` (the caller records
/// its own step and commits), with the `link.created` audit row.
pub async fn store(
    state: &AppState,
    tx: &mut SqliteConnection,
    ctx: &AuditContext,
    teammate_id: i64,
    username: &str,
    contents: Contents<'_>,
    now: Timestamp,
) -> Result<IssuedLink, AppError> {
    let link_id = crypto::new_public_id()?;
    let enrol_token = crypto::new_token()?;
    let endpoint = state.config.s3_endpoint.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned());
    let (kind, key, verified) = match &contents {
        Contents::Key { key, verified } => ("key", Some(*key), Some(*verified)),
        Contents::AccountOnly => ("account", None, None),
    };
    let payload = LinkPayload {
        v: 1,
        kind,
        username,
        access_key_id: key.map(|k| k.access_key_id.as_str()),
        secret_access_key: key.map(|k| k.secret_access_key.expose()),
        bucket: state.config.bucket.as_str(),
        region: &state.config.region,
        endpoint_url: endpoint.as_deref(),
        prefixes: Prefix::ALL.iter().map(|p| format!("{}/", p.as_str())).collect(),
        enrol_token: enrol_token.expose(),
        key_verified: verified,
    };
    let mut plaintext = serde_json::to_vec(&payload).map_err(|e| AppError::Internal(e.into()))?;
    let sealed = crypto::seal_link_payload(&link_id, &plaintext);
    plaintext.zeroize();
    let sealed = sealed?;
    let expires_at = now + state.config.link_ttl_secs;
    db::secret_links::insert(
        &mut *tx,
        &db::secret_links::NewLink {
            id: &link_id,
            teammate_id,
            access_key_id: key.map(|k| k.access_key_id.as_str()),
            payload: &sealed.stored,
            enrol_token_digest: &crypto::digest(enrol_token.expose()),
            key_check: &sealed.key_check,
            created_at: now,
            expires_at,
        },
    )
    .await?;
    let detail = serde_json::json!({
        "link_id": link_id,
        "expires_at": expires_at,
        "kind": kind,
        "access_key_id": key.map(|k| k.access_key_id.as_str()),
    });
    db::audit::record(tx, ctx, Event::success(AuditAction::LinkCreated, username).with_detail(detail), now).await?;
    let url = Secret::new(format!("{}/l/{}#{}", state.origin(), link_id, sealed.fragment_key.expose()));
    Ok(IssuedLink { id: link_id, url, expires_at })
}

/// A portal-account-only link: the teammate sets (or resets) their portal
/// password with it; their access key is not touched and not included.
pub async fn issue_account_link(state: &AppState, ctx: &AuditContext, name: &str) -> Result<IssuedLink, AppError> {
    let t = teammate(state, name).await?;
    require_present(&t)?;
    if t.shown_status() == TeammateStatus::Disabled {
        return Err(AppError::Conflict(format!(
            "{name}'s portal account is disabled; enable it before sending a link for it."
        )));
    }
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    let link = store(state, &mut tx, ctx, t.id, &t.iam_user_name, Contents::AccountOnly, now).await?;
    tx.commit().await?;
    Ok(link)
}

/// Revokes one of the teammate's open links (never revealed, or revealed but
/// its password not set yet): it then gets the same "not available" answer
/// as a used or expired one.
pub async fn revoke(state: &AppState, ctx: &AuditContext, name: &str, link_id: &str) -> Result<(), AppError> {
    let t = teammate(state, name).await?;
    let now = state.now();
    let mut tx = db::begin_immediate(&state.db).await?;
    // SECURITY: a link is revoked only through the teammate it belongs to.
    let link = db::secret_links::find(&mut *tx, link_id).await?.filter(|l| l.teammate_id == t.id);
    let Some(link) = link else {
        return Err(AppError::NotFound);
    };
    if !link.is_open(now) || !db::secret_links::revoke(&mut *tx, link_id, "owner", now).await? {
        return Err(AppError::Conflict(format!(
            "That link is already {}; there is nothing to revoke.",
            link.state(now)
        )));
    }
    record_revoked(&mut tx, ctx, &t.iam_user_name, &[link.id], "owner", now).await?;
    tx.commit().await?;
    Ok(())
}

/// Audits links revoked as part of another change (inside its transaction).
pub async fn record_revoked(
    tx: &mut SqliteConnection,
    ctx: &AuditContext,
    username: &str,
    link_ids: &[String],
    reason: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    for id in link_ids {
        let event = Event::success(AuditAction::LinkRevoked, username)
            .with_detail(serde_json::json!({ "link_id": id, "reason": reason }));
        db::audit::record(tx, ctx, event, now).await?;
    }
    Ok(())
}
