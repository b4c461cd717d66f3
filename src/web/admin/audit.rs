//! `/admin/audit`: the audit log, newest first, filterable, paged by id.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::clock::format_utc;
use crate::db;
use crate::domain::AuditAction;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Nav;

const PAGE_SIZE: i64 = 100;

pub struct AuditView {
    pub id: i64,
    pub when: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    nav: Nav,
    events: Vec<AuditView>,
    actions: Vec<&'static str>,
    actor: String,
    action: String,
    next_before: Option<i64>,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

pub async fn audit_page(
    State(state): State<AppState>,
    session: AuthSession,
    Query(q): Query<AuditQuery>,
) -> AppResult<Response> {
    let actor = q.actor.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    let action = q.action.filter(|a| AuditAction::parse(a).is_some());
    let filter = db::audit::Filter { actor: actor.clone(), action: action.clone(), before_id: q.before };
    let rows = db::audit::list(&state.db, &filter, PAGE_SIZE).await?;
    let next_before = (rows.len() as i64 == PAGE_SIZE).then(|| rows.last().map(|r| r.id)).flatten();
    let events = rows
        .into_iter()
        .map(|r| AuditView {
            id: r.id,
            when: format_utc(r.at),
            actor: r.actor,
            action: r.action,
            target: r.target.unwrap_or_default(),
            outcome: r.outcome,
            ip: r.ip.unwrap_or_default(),
            user_agent: r.user_agent.unwrap_or_default(),
            detail: r.detail.unwrap_or_default(),
        })
        .collect();
    let page = AuditPage {
        nav: Nav::of(&session),
        events,
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        actor: actor.unwrap_or_default(),
        action: action.unwrap_or_default(),
        next_before,
    };
    Ok(page.into_response())
}
