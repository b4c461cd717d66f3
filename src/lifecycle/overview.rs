//! What the owner sees about teammates: status, keys as IAM reports them
//! (id, status, created, age, last used, flags), the portal account, pending
//! links, the last upload, and an open rotation.
//!
//! Keys come from IAM on every look, several teammates at a time
//! ([`CONCURRENCY`]). When IAM cannot be asked, that teammate's keys are
//! [`Keys::Unavailable`] — shown as "IAM unavailable", never as "no keys".

use super::{CONCURRENCY, iam_name, teammate};
use crate::aws::iam_keys::{self, IamKey};
use crate::clock::Timestamp;
use crate::db;
use crate::db::access_keys::KnownKey;
use crate::db::key_rotations::Rotation;
use crate::db::secret_links::LinkState;
use crate::db::teammates::Teammate;
use crate::domain::teammate::{FlagRules, KeyUse, key_flags, teammate_use};
use crate::domain::{KeyFlag, TeammateStatus};
use crate::error::AppError;
use crate::state::AppState;

/// One key, as the owner sees it.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub access_key_id: String,
    pub active: bool,
    pub created_at: Timestamp,
    /// IAM's last-used record: when, and by which service.
    pub last_used: Option<(Timestamp, String)>,
    /// The last use that was the teammate's (not the portal's own STS check).
    pub teammate_used_at: Option<Timestamp>,
    pub flags: Vec<KeyFlag>,
    /// "portal", "adopted", or None for a key the portal did not know of.
    pub origin: Option<String>,
    /// "old" or "new" when an open rotation involves this key.
    pub rotation_role: Option<&'static str>,
}

/// A teammate's keys, or why they could not be listed.
#[derive(Debug, Clone)]
pub enum Keys {
    Listed(Vec<KeyRow>),
    /// IAM could not be asked (the error kind, e.g. "unreachable", "AccessDenied").
    Unavailable(String),
    /// Removed: no IAM user to ask.
    NotApplicable,
}

#[derive(Debug, Clone)]
pub struct TeammateOverview {
    pub teammate: Teammate,
    pub status: TeammateStatus,
    pub keys: Keys,
    pub rotation: Option<Rotation>,
    pub pending_links: i64,
    pub last_upload_at: Option<Timestamp>,
}

fn rules(state: &AppState) -> FlagRules {
    FlagRules { max_age_days: state.config.key_max_age_days, unused_days: state.config.key_unused_days }
}

/// Turns IAM's keys into rows, with what the portal knows about each.
pub fn key_rows(
    iam: Vec<IamKey>,
    known: &[&KnownKey],
    rotation: Option<&Rotation>,
    now: Timestamp,
    rules: FlagRules,
) -> Vec<KeyRow> {
    iam.into_iter()
        .map(|k| {
            let ours = known.iter().find(|c| c.access_key_id == k.access_key_id);
            let used = teammate_use(
                k.last_used.as_ref().map(|l| KeyUse { at: l.at, service: &l.service }),
                ours.and_then(|c| c.verified_at),
            );
            let rotation_role = rotation.and_then(|r| {
                if r.old_access_key_id.as_deref() == Some(&k.access_key_id) {
                    Some("old")
                } else if r.new_access_key_id.as_deref() == Some(&k.access_key_id) {
                    Some("new")
                } else {
                    None
                }
            });
            KeyRow {
                flags: key_flags(k.active, k.created_at, used, now, rules),
                access_key_id: k.access_key_id,
                active: k.active,
                created_at: k.created_at,
                last_used: k.last_used.map(|l| (l.at, l.service)),
                teammate_used_at: used,
                origin: ours.map(|c| c.origin.clone()),
                rotation_role,
            }
        })
        .collect()
}

/// Every teammate, with keys from IAM.
pub async fn list(state: &AppState) -> Result<Vec<TeammateOverview>, AppError> {
    let now = state.now();
    let teammates = db::teammates::list_all(&state.db).await?;
    let activity = db::teammates::activity(&state.db, now).await?;
    let known = db::access_keys::all(&state.db).await?;
    let rotations = db::key_rotations::all_open(&state.db).await?;
    let rules = rules(state);
    use futures_util::StreamExt as _;
    let rows = futures_util::stream::iter(teammates)
        .map(|t| {
            let known: Vec<&KnownKey> = known.iter().filter(|k| k.teammate_id == t.id).collect();
            let rotation = rotations.iter().find(|r| r.teammate_id == t.id).cloned();
            let activity = activity.iter().find(|a| a.teammate_id == t.id);
            let (pending_links, last_upload_at) =
                activity.map(|a| (a.pending_links, a.last_upload_at)).unwrap_or_default();
            async move {
                let status = t.shown_status();
                let keys = iam_keys_of(state, &t, status, &known, rotation.as_ref(), now, rules).await;
                TeammateOverview { teammate: t, status, keys, rotation, pending_links, last_upload_at }
            }
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    Ok(rows)
}

async fn iam_keys_of(
    state: &AppState,
    t: &Teammate,
    status: TeammateStatus,
    known: &[&KnownKey],
    rotation: Option<&Rotation>,
    now: Timestamp,
    rules: FlagRules,
) -> Keys {
    if !status.has_iam_user() {
        return Keys::NotApplicable;
    }
    let Ok(user) = iam_name(t) else {
        return Keys::Unavailable("invalid name".into());
    };
    match iam_keys::list_keys(&state.aws, &user).await {
        Ok(keys) => Keys::Listed(key_rows(keys, known, rotation, now, rules)),
        Err(e) => {
            tracing::warn!(teammate = %user, error = %e.kind(), "listing keys failed");
            Keys::Unavailable(e.kind())
        }
    }
}

/// One teammate in full: the overview plus links and recent rotations.
pub struct TeammateDetail {
    pub overview: TeammateOverview,
    pub links: Vec<LinkState>,
    pub rotations: Vec<Rotation>,
}

pub async fn detail(state: &AppState, name: &str) -> Result<TeammateDetail, AppError> {
    let now = state.now();
    let t = teammate(state, name).await?;
    let known = db::access_keys::for_teammate(&state.db, t.id).await?;
    let known: Vec<&KnownKey> = known.iter().collect();
    let rotations = db::key_rotations::for_teammate(&state.db, t.id, 10).await?;
    let open = rotations.iter().find(|r| r.finished_at.is_none()).cloned();
    let links = db::secret_links::for_teammate(&state.db, t.id, 50).await?;
    let activity = db::teammates::activity(&state.db, now).await?;
    let (pending_links, last_upload_at) = activity
        .iter()
        .find(|a| a.teammate_id == t.id)
        .map(|a| (a.pending_links, a.last_upload_at))
        .unwrap_or_default();
    let status = t.shown_status();
    let keys = iam_keys_of(state, &t, status, &known, open.as_ref(), now, rules(state)).await;
    Ok(TeammateDetail {
        overview: TeammateOverview { teammate: t, status, keys, rotation: open, pending_links, last_upload_at },
        links,
        rotations,
    })
}
