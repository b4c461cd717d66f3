//! `audit_events`: one row per thing that happened. Callers write the row in
//! the same transaction as the change it records. Never a secret in a row:
//! `detail` carries names, ids and error kinds only.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;
use crate::domain::{AuditAction, Outcome};

/// Who did it and from where (filled from the request at the web boundary).
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl AuditContext {
    /// Events the portal causes on its own (start-up, sweepers, the CLI).
    pub fn system(actor: &str) -> Self {
        Self { actor: actor.to_owned(), ip: None, user_agent: None }
    }

    pub fn as_actor(&self, actor: &str) -> Self {
        Self { actor: actor.to_owned(), ..self.clone() }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub action: AuditAction,
    pub target: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: Option<serde_json::Value>,
}

impl<'a> Event<'a> {
    pub fn success(action: AuditAction, target: impl Into<Option<&'a str>>) -> Self {
        Self { action, target: target.into(), outcome: Outcome::Success, detail: None }
    }

    pub fn failure(action: AuditAction, target: impl Into<Option<&'a str>>) -> Self {
        Self { action, target: target.into(), outcome: Outcome::Failure, detail: None }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

pub async fn record<'e>(
    db: impl SqliteExecutor<'e>,
    ctx: &AuditContext,
    event: Event<'_>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor, action, target, outcome, ip, user_agent, detail) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(now)
    .bind(&ctx.actor)
    .bind(event.action.as_str())
    .bind(event.target)
    .bind(event.outcome.as_str())
    .bind(ctx.ip.as_deref())
    .bind(ctx.user_agent.as_deref().map(|ua| truncate(ua, 512)))
    .bind(event.detail.map(|d| d.to_string()))
    .execute(db)
    .await?;
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

/// Filters for the audit page. `before_id` pages backwards (keyset).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub before_id: Option<i64>,
}

pub async fn list<'e>(db: impl SqliteExecutor<'e>, filter: &Filter, limit: i64) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, actor, action, target, outcome, ip, user_agent, detail FROM audit_events \
         WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR id < ?3) \
         ORDER BY id DESC LIMIT ?4",
    )
    .bind(filter.actor.as_deref())
    .bind(filter.action.as_deref())
    .bind(filter.before_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
