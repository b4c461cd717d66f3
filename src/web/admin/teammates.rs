//! `/admin/teammates`: the list (status, keys from IAM with flags, portal
//! account, pending links, last upload), "Add teammate", Resume, and
//! `/admin/teammates/<name>`: one teammate with every action on them.
//!
//! Every action is a POST form carrying the CSRF token (the owner group's
//! guard checks it); destructive ones (delete a key, cancel a rotation,
//! remove) also need the teammate's name typed. The work is done by
//! `provision` and `lifecycle`, the same functions the CLI calls. Pages that
//! show a one-time link are sent with `Cache-Control: no-store`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::clock::{Timestamp, format_utc};
use crate::db::audit::AuditContext;
use crate::db::key_rotations::Rotation;
use crate::db::secret_links::LinkState;
use crate::db::teammates::Teammate;
use crate::domain::teammate::age;
use crate::domain::{IamUserName, TeammateStatus};
use crate::error::{AppError, AppResult};
use crate::lifecycle::keys::KeyChange;
use crate::lifecycle::overview::{self, KeyRow, Keys, TeammateOverview};
use crate::lifecycle::{accounts, keys, links, removal, rotation};
use crate::provision::{self, STEPS};
use crate::state::AppState;
use crate::web::Nav;
use crate::web::extract::Form;
use crate::web::headers::NO_STORE;
use crate::web::meta::ClientMeta;

/// One key, ready to show.
pub struct KeyView {
    pub id: String,
    pub active: bool,
    pub status: &'static str,
    pub created: String,
    pub age: String,
    pub last_used: String,
    pub flags: Vec<String>,
    pub origin: &'static str,
    pub role: &'static str,
}

fn key_view(k: &KeyRow, now: Timestamp) -> KeyView {
    let last_used = match (&k.last_used, k.teammate_used_at) {
        (None, _) => "never".to_owned(),
        (Some((at, service)), Some(_)) => format!("{} ({service})", format_utc(*at)),
        (Some((at, service)), None) => format!("{} ({service}, the portal's own check)", format_utc(*at)),
    };
    KeyView {
        id: k.access_key_id.clone(),
        active: k.active,
        status: if k.active { "Active" } else { "Inactive" },
        created: format_utc(k.created_at),
        age: age(k.created_at, now),
        last_used,
        flags: k.flags.iter().map(ToString::to_string).collect(),
        origin: match k.origin.as_deref() {
            Some("portal") => "made by the portal",
            Some("adopted") => "adopted",
            _ => "made outside the portal",
        },
        role: match k.rotation_role {
            Some("old") => "being replaced",
            Some("new") => "new (rotation)",
            _ => "",
        },
    }
}

/// The keys cell: listed, or why not.
pub struct KeysView {
    pub listed: bool,
    /// "IAM unavailable (…)" or "" (removed teammates have no keys to ask for).
    pub problem: String,
    pub keys: Vec<KeyView>,
}

fn keys_view(keys: &Keys, now: Timestamp) -> KeysView {
    match keys {
        Keys::Listed(rows) => {
            KeysView { listed: true, problem: String::new(), keys: rows.iter().map(|k| key_view(k, now)).collect() }
        }
        Keys::Unavailable(kind) => KeysView {
            listed: false,
            problem: format!("IAM unavailable ({kind}): the keys could not be listed"),
            keys: Vec::new(),
        },
        Keys::NotApplicable => KeysView { listed: false, problem: String::new(), keys: Vec::new() },
    }
}

/// The label of a provisioning step.
fn step_label(step: &str) -> &str {
    STEPS.iter().find(|(s, _)| *s == step).map(|(_, label)| *label).unwrap_or(step)
}

/// One line saying where a teammate stands, beside the status.
fn status_detail(t: &Teammate, status: TeammateStatus, pending_links: i64) -> String {
    match status {
        TeammateStatus::Incomplete => match (&t.last_error, &t.last_step) {
            (Some(err), _) => format!("stopped at {err}"),
            (None, Some(step)) => format!("stopped after \u{201c}{}\u{201d}", step_label(step)),
            (None, None) => "not started".to_owned(),
        },
        TeammateStatus::Removing => match (&t.removal_error, &t.removal_step) {
            (Some(err), _) => format!("removal stopped at {err}"),
            (None, Some(step)) => format!("removal stopped after \u{201c}{step}\u{201d}"),
            (None, None) => "removal started".to_owned(),
        },
        TeammateStatus::Activating if pending_links == 0 => {
            "no link left to reveal (revoked or expired): reissue one from the teammate's page".to_owned()
        }
        TeammateStatus::Activating => "waiting for the teammate to reveal their link".to_owned(),
        TeammateStatus::Disabled => "portal account disabled (IAM untouched)".to_owned(),
        TeammateStatus::Removed => t.removed_at.map(|at| format!("removed {}", format_utc(at))).unwrap_or_default(),
        TeammateStatus::Active => String::new(),
    }
}

fn account_state(t: &Teammate) -> &'static str {
    match (t.account_disabled_at.is_some(), t.has_password) {
        (true, _) => "disabled",
        (false, true) => "password set",
        (false, false) => "not enrolled",
    }
}

fn rotation_stage(r: &Rotation, grace_secs: i64) -> String {
    match r {
        r if r.finished_at.is_some() => format!(
            "{} {}",
            r.outcome.as_deref().unwrap_or("finished"),
            r.finished_at.map(format_utc).unwrap_or_default()
        ),
        r if r.link_id.is_none() => match &r.last_error {
            Some(e) => format!("stopped at {e}; Rotate again to continue"),
            None => "stopped before the new key's link was issued; Rotate again to continue".to_owned(),
        },
        r if r.old_deactivated_at.is_none() => {
            "new key sent; the old key stays active until the new one is used or you confirm".to_owned()
        }
        r => format!(
            "old key deactivated {}; it is deleted after {}",
            r.old_deactivated_at.map(format_utc).unwrap_or_default(),
            r.old_deactivated_at.map(|at| format_utc(at + grace_secs)).unwrap_or_default()
        ),
    }
}

/// One row of the teammates list.
pub struct TeammateView {
    pub name: String,
    pub status: &'static str,
    pub detail: String,
    pub keys: KeysView,
    pub account: &'static str,
    pub pending_links: i64,
    pub last_upload: String,
    pub added: String,
    pub rotation: String,
    pub resumable: bool,
}

fn teammate_view(o: &TeammateOverview, now: Timestamp, grace_secs: i64) -> TeammateView {
    let t = &o.teammate;
    TeammateView {
        name: t.iam_user_name.clone(),
        status: o.status.as_str(),
        detail: status_detail(t, o.status, o.pending_links),
        keys: keys_view(&o.keys, now),
        account: account_state(t),
        pending_links: o.pending_links,
        last_upload: o.last_upload_at.map(format_utc).unwrap_or_else(|| "never".to_owned()),
        added: format_utc(t.adopted_at.unwrap_or(t.created_at)),
        rotation: o.rotation.as_ref().map(|r| rotation_stage(r, grace_secs)).unwrap_or_default(),
        resumable: o.status == TeammateStatus::Incomplete,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/teammates.html")]
pub struct TeammatesPage {
    nav: Nav,
    teammates: Vec<TeammateView>,
    removed: Vec<TeammateView>,
    form_name: String,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    session: &AuthSession,
    form_name: String,
    error: Option<String>,
) -> AppResult<TeammatesPage> {
    // Rotations waiting for the new key's first use move on when the owner looks.
    rotation::advance_all(state).await;
    let now = state.now();
    let grace = state.config.rotation_grace_secs;
    let (removed, teammates): (Vec<_>, Vec<_>) = overview::list(state)
        .await?
        .iter()
        .map(|o| teammate_view(o, now, grace))
        .partition(|v| v.status == TeammateStatus::Removed.as_str());
    Ok(TeammatesPage { nav: Nav::of(session), teammates, removed, form_name, error })
}

pub async fn teammates_page(State(state): State<AppState>, session: AuthSession) -> AppResult<Response> {
    Ok(list_page(&state, &session, String::new(), None).await?.into_response())
}

/// The page that shows a one-time link, exactly once.
#[derive(Template, WebTemplate)]
#[template(path = "admin/link_issued.html")]
pub struct LinkIssuedPage {
    pub nav: Nav,
    pub heading: String,
    pub username: String,
    /// The key the link carries (None: a portal-account-only link).
    pub access_key_id: Option<String>,
    pub link: String,
    pub expires: String,
    pub key_verified: bool,
    pub notes: Vec<String>,
}

impl LinkIssuedPage {
    pub fn into_no_store(self) -> Response {
        (NO_STORE, self).into_response()
    }
}

fn provisioned_page(session: &AuthSession, done: provision::Provisioned) -> Response {
    let notes = match &done.resumed_after {
        Some(step) => {
            vec![format!("Resumed after \u{201c}{}\u{201d}; earlier steps were not repeated.", step_label(step))]
        }
        None => Vec::new(),
    };
    LinkIssuedPage {
        nav: Nav::of(session),
        heading: format!("{} is ready", done.username),
        username: done.username,
        access_key_id: Some(done.access_key_id),
        link: done.link.expose().to_owned(),
        expires: format_utc(done.link_expires_at),
        key_verified: done.key_verified,
        notes,
    }
    .into_no_store()
}

#[derive(Deserialize)]
pub struct AddTeammateForm {
    username: String,
}

/// Errors the owner can act on are shown on the page that was used;
/// anything else is the error page.
fn shown_on_page(e: &AppError) -> bool {
    matches!(e, AppError::Upstream(..) | AppError::Conflict(_) | AppError::BadRequest(_))
}

pub async fn create_teammate(
    State(state): State<AppState>,
    session: AuthSession,
    meta: ClientMeta,
    Form(form): Form<AddTeammateForm>,
) -> AppResult<Response> {
    let raw = form.username.trim().to_owned();
    let name = match IamUserName::parse(&raw) {
        Ok(n) => n,
        Err(e) => {
            let page = list_page(&state, &session, raw, Some(e.to_string())).await?;
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    match provision::add_teammate(&state, &meta.audit(&session.username), &name).await {
        Ok(done) => Ok(provisioned_page(&session, done)),
        Err(e) if shown_on_page(&e) => {
            let page = list_page(&state, &session, raw, Some(e.public_message())).await?;
            Ok((e.status(), page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Any action form: the CSRF token (checked by the guard) and, for
/// destructive actions, the teammate's name typed to confirm.
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    confirm: String,
}

fn require_typed_name(form: &ActionForm, name: &str) -> Result<(), AppError> {
    if form.confirm.trim() == name {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!("Type the teammate's name ({name}) to confirm. Nothing was changed.")))
    }
}

pub async fn resume_teammate(
    act: Action,
    Path(name): Path<String>,
    Form(_form): Form<ActionForm>,
) -> AppResult<Response> {
    let parsed = IamUserName::parse(&name).map_err(|_| AppError::NotFound)?;
    crate::lifecycle::teammate(&act.state, &name).await?;
    match provision::add_teammate(&act.state, &act.ctx, &parsed).await {
        Ok(done) => Ok(provisioned_page(&act.session, done)),
        Err(e) => act.refused(&name, e).await,
    }
}

/// A link for a view: what it carries and where it stands.
pub struct LinkView {
    pub id: String,
    pub carries: String,
    pub created: String,
    pub expires: String,
    pub state: &'static str,
    pub open: bool,
    pub reason: String,
}

fn link_view(l: &LinkState, now: Timestamp) -> LinkView {
    LinkView {
        id: l.id.clone(),
        carries: match &l.access_key_id {
            Some(key) => format!("key {key}"),
            None => "portal account only".to_owned(),
        },
        created: format_utc(l.created_at),
        expires: format_utc(l.expires_at),
        state: l.state(now),
        open: l.is_open(now),
        reason: l.revoke_reason.as_deref().map(revoke_reason_words).unwrap_or_default().to_owned(),
    }
}

pub struct RotationView {
    pub started: String,
    pub old_key: String,
    pub new_key: String,
    pub stage: String,
    pub open: bool,
    pub can_confirm: bool,
    pub can_cancel: bool,
}

/// `links`: the teammate's links, to tell whether the new key's link was revealed.
fn rotation_view(r: &Rotation, grace: i64, links: &[LinkState]) -> RotationView {
    let open = r.finished_at.is_none();
    // Confirming turns the old key off: only once the teammate has the new one.
    let new_key_delivered = links.iter().any(|l| Some(&l.id) == r.link_id.as_ref() && l.revealed_at.is_some());
    RotationView {
        started: format_utc(r.started_at),
        old_key: r.old_access_key_id.clone().unwrap_or_else(|| "none".to_owned()),
        new_key: r.new_access_key_id.clone().unwrap_or_else(|| "not made yet".to_owned()),
        stage: if open && r.link_id.is_some() && !new_key_delivered && r.old_deactivated_at.is_none() {
            format!("{} Waiting for the teammate to reveal the new key's link.", rotation_stage(r, grace))
        } else {
            rotation_stage(r, grace)
        },
        open,
        can_confirm: open && new_key_delivered && r.old_deactivated_at.is_none() && r.old_access_key_id.is_some(),
        can_cancel: open && r.old_deactivated_at.is_none(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/teammate.html")]
pub struct TeammatePage {
    nav: Nav,
    t: TeammateView,
    links: Vec<LinkView>,
    rotations: Vec<RotationView>,
    notice: Option<String>,
    error: Option<String>,
    present: bool,
    disabled: bool,
    removing: bool,
    audit_href: String,
}

async fn detail_page(
    state: &AppState,
    session: &AuthSession,
    name: &str,
    notice: Option<String>,
    error: Option<String>,
) -> AppResult<TeammatePage> {
    let now = state.now();
    let grace = state.config.rotation_grace_secs;
    let d = overview::detail(state, name).await?;
    let status = d.overview.status;
    let audit_href =
        format!("/admin/audit?target={}", url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>());
    Ok(TeammatePage {
        nav: Nav::of(session),
        t: teammate_view(&d.overview, now, grace),
        links: d.links.iter().map(|l| link_view(l, now)).collect(),
        rotations: d.rotations.iter().map(|r| rotation_view(r, grace, &d.links)).collect(),
        notice,
        error,
        present: status.has_iam_user() && status != TeammateStatus::Removing,
        disabled: status == TeammateStatus::Disabled,
        removing: status == TeammateStatus::Removing,
        audit_href,
    })
}

/// The detail page, with an error from an action shown on it (its status code).
async fn detail_response(
    state: &AppState,
    session: &AuthSession,
    name: &str,
    notice: Option<String>,
    error: Option<AppError>,
) -> AppResult<Response> {
    let status = error.as_ref().map(AppError::status).unwrap_or(StatusCode::OK);
    if let Some(AppError::Upstream(_, source)) = &error {
        tracing::warn!(error = format!("{source:#}"), "teammate action failed upstream");
    }
    let page = detail_page(state, session, name, notice, error.map(|e| e.public_message())).await?;
    Ok((status, page).into_response())
}

/// What an action reports back after redirecting to the page (`?done=`).
const NOTICES: &[(&str, &str)] = &[
    ("key-deactivated", "The key was deactivated. Links still carrying it unrevealed were revoked."),
    ("key-reactivated", "The key was reactivated."),
    ("key-deleted", "The key was deleted. Links still carrying it unrevealed were revoked."),
    ("rotation-confirmed", "Confirmed: the old key was deactivated; it is deleted after the grace period."),
    ("rotation-cancelled", "The rotation was cancelled: the new key was deleted and its link revoked."),
    ("link-revoked", "The link was revoked; it now answers \u{201c}not available\u{201d}."),
    ("disabled", "The portal account was disabled and its sessions ended. IAM was not touched."),
    ("enabled", "The portal account was enabled."),
    ("removed", "The teammate was removed: IAM user, keys and everything attached are gone."),
    (
        "adopted",
        "Adopted: the IAM user is tagged managed-by=egx-portal and its keys are recorded. Rotate its key \
                 to deliver a new one through a link, or send a portal-account link.",
    ),
];

#[derive(Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    done: String,
}

pub async fn teammate_page(
    State(state): State<AppState>,
    session: AuthSession,
    Path(name): Path<String>,
    Query(q): Query<DetailQuery>,
) -> AppResult<Response> {
    let notice = NOTICES.iter().find(|(code, _)| *code == q.done).map(|(_, text)| (*text).to_owned());
    Ok(detail_page(&state, &session, &name, notice, None).await?.into_response())
}

/// What every action needs: the state, who acts, and the audit context
/// (actor, address, user agent) its rows are written with.
pub struct Action {
    state: AppState,
    session: AuthSession,
    ctx: AuditContext,
}

impl FromRequestParts<AppState> for Action {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = AuthSession::from_request_parts(parts, state).await?;
        let Ok(meta) = ClientMeta::from_request_parts(parts, state).await;
        Ok(Self { state: state.clone(), ctx: meta.audit(&session.username), session })
    }
}

impl Action {
    /// An error the owner can act on is shown on the teammate's page;
    /// anything else is the error page.
    async fn refused(&self, name: &str, e: AppError) -> AppResult<Response> {
        if shown_on_page(&e) { detail_response(&self.state, &self.session, name, None, Some(e)).await } else { Err(e) }
    }

    /// On success redirects to the teammate's page with a notice (`?done=`).
    async fn finish(&self, name: &str, done: &str, result: Result<(), AppError>) -> AppResult<Response> {
        match result {
            Ok(()) => Ok(Redirect::to(&format!("/admin/teammates/{name}?done={done}")).into_response()),
            Err(e) => self.refused(name, e).await,
        }
    }

    /// The page with the rotation's new link, or the refusal.
    async fn rotation_page(
        &self,
        name: &str,
        started: Result<rotation::RotationStarted, AppError>,
    ) -> AppResult<Response> {
        let r = match started {
            Ok(r) => r,
            Err(e) => return self.refused(name, e).await,
        };
        let mut notes: Vec<String> =
            r.deleted_first.iter().map(|(id, why)| format!("Deleted key {id} first: {why}.")).collect();
        match &r.old_access_key_id {
            Some(old) => notes.push(format!(
                "The old key {old} stays active until the new key is used (checked regularly) or you confirm on \
                 {name}'s page; then it is deactivated, and deleted {} days later.",
                self.state.config.rotation_grace_secs / 86_400
            )),
            None => notes.push("There was no active key to replace.".to_owned()),
        }
        Ok(LinkIssuedPage {
            nav: Nav::of(&self.session),
            heading: format!("New key for {}", r.username),
            username: r.username,
            access_key_id: Some(r.new_access_key_id),
            link: r.link.expose().to_owned(),
            expires: format_utc(r.link_expires_at),
            key_verified: r.key_verified,
            notes,
        }
        .into_no_store())
    }
}

pub async fn rotate_key(act: Action, Path(name): Path<String>, Form(_form): Form<ActionForm>) -> AppResult<Response> {
    let started = rotation::start(&act.state, &act.ctx, &name).await;
    act.rotation_page(&name, started).await
}

pub async fn reissue_key_link(
    act: Action,
    Path(name): Path<String>,
    Form(_form): Form<ActionForm>,
) -> AppResult<Response> {
    let started = rotation::reissue(&act.state, &act.ctx, &name).await;
    act.rotation_page(&name, started).await
}

pub async fn issue_account_link(
    act: Action,
    Path(name): Path<String>,
    Form(_form): Form<ActionForm>,
) -> AppResult<Response> {
    let link = match links::issue_account_link(&act.state, &act.ctx, &name).await {
        Ok(l) => l,
        Err(e) => return act.refused(&name, e).await,
    };
    Ok(LinkIssuedPage {
        nav: Nav::of(&act.session),
        heading: format!("Portal account link for {name}"),
        username: name.clone(),
        access_key_id: None,
        link: link.url.expose().to_owned(),
        expires: format_utc(link.expires_at),
        key_verified: true,
        notes: vec![format!(
            "This link lets {name} set a new portal password. It carries no access key: {name}'s key is unchanged."
        )],
    }
    .into_no_store())
}

pub async fn confirm_rotation(
    act: Action,
    Path(name): Path<String>,
    Form(_form): Form<ActionForm>,
) -> AppResult<Response> {
    let result = rotation::confirm(&act.state, &act.ctx, &name).await;
    act.finish(&name, "rotation-confirmed", result).await
}

pub async fn cancel_rotation(
    act: Action,
    Path(name): Path<String>,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    let result = match require_typed_name(&form, &name) {
        Ok(()) => rotation::cancel(&act.state, &act.ctx, &name).await,
        Err(e) => Err(e),
    };
    act.finish(&name, "rotation-cancelled", result).await
}

/// `POST /admin/teammates/<name>/keys/<key id>/<change>`: deactivate,
/// reactivate or delete (the name typed) one key.
pub async fn change_key(
    act: Action,
    Path((name, key_id, change)): Path<(String, String, String)>,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    let (change, done, typed) = match change.as_str() {
        "deactivate" => (KeyChange::Deactivate, "key-deactivated", Ok(())),
        "reactivate" => (KeyChange::Reactivate, "key-reactivated", Ok(())),
        "delete" => (KeyChange::Delete, "key-deleted", require_typed_name(&form, &name)),
        _ => return Err(AppError::NotFound),
    };
    let result = match typed {
        Ok(()) => keys::change(&act.state, &act.ctx, &name, &key_id, change).await,
        Err(e) => Err(e),
    };
    act.finish(&name, done, result).await
}

pub async fn revoke_link(
    act: Action,
    Path((name, link_id)): Path<(String, String)>,
    Form(_form): Form<ActionForm>,
) -> AppResult<Response> {
    let result = links::revoke(&act.state, &act.ctx, &name, &link_id).await;
    act.finish(&name, "link-revoked", result).await
}

pub async fn disable_teammate(
    act: Action,
    Path(name): Path<String>,
    Form(_form): Form<ActionForm>,
) -> AppResult<Response> {
    let result = accounts::set_enabled(&act.state, &act.ctx, &name, false).await.map(|_| ());
    act.finish(&name, "disabled", result).await
}

pub async fn enable_teammate(
    act: Action,
    Path(name): Path<String>,
    Form(_form): Form<ActionForm>,
) -> AppResult<Response> {
    let result = accounts::set_enabled(&act.state, &act.ctx, &name, true).await.map(|_| ());
    act.finish(&name, "enabled", result).await
}

pub async fn remove_teammate(
    act: Action,
    Path(name): Path<String>,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    let result = match require_typed_name(&form, &name) {
        Ok(()) => removal::remove(&act.state, &act.ctx, &name).await.map(|_| ()),
        Err(e) => Err(e),
    };
    act.finish(&name, "removed", result).await
}

/// Why a link was revoked, in words (the stored reasons are short codes).
fn revoke_reason_words(reason: &str) -> &str {
    match reason {
        "owner" => "by the owner",
        "rotation_cancelled" => "the rotation was cancelled",
        "removal" => "the teammate was removed",
        "account disabled" => "the portal account was disabled",
        "key_deactivated" => "its key was deactivated",
        "key_deleted" => "its key was deleted",
        other => other,
    }
}
