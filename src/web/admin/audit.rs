//! `/admin/audit`: the audit log, newest first, filterable (actor, action,
//! target, outcome, time range), paged by id (keyset: a deep page costs what
//! the first one does), and exported as CSV or JSON Lines.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::clock::{Timestamp, format_utc};
use crate::db;
use crate::db::audit::{AuditRow, Filter};
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::Nav;

const PAGE_SIZE: i64 = 100;
const EXPORT_BATCH: i64 = 2000;

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
    q: AuditQuery,
    /// The query string of the current filters (for paging and export links).
    filter_query: String,
    next_before: Option<i64>,
}

/// The filters as they arrive in the query string.
#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub outcome: String,
    /// First day included, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: String,
    /// Last day included, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub to: String,
    pub before: Option<i64>,
    #[serde(default)]
    pub format: String,
}

fn day_start(raw: &str, field: &str) -> Result<Option<Timestamp>, AppError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(raw, &format)
        .map_err(|_| AppError::BadRequest(format!("\u{201c}{field}\u{201d} must be a date like 2026-12-31.")))?;
    Ok(Some(date.midnight().assume_utc().unix_timestamp()))
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter, AppError> {
        if !self.action.is_empty() && AuditAction::parse(&self.action).is_none() {
            return Err(AppError::BadRequest("Unknown action.".into()));
        }
        if !matches!(self.outcome.as_str(), "" | "success" | "failure") {
            return Err(AppError::BadRequest("Outcome is success or failure.".into()));
        }
        Ok(Filter {
            actor: opt(&self.actor),
            action: opt(&self.action),
            target: opt(&self.target),
            outcome: opt(&self.outcome),
            since: day_start(&self.from, "from")?,
            until: day_start(&self.to, "to")?.map(|t| t + 86_400),
            before_id: self.before,
        })
    }

    fn query_string(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

pub async fn audit_page(
    State(state): State<AppState>,
    session: AuthSession,
    Query(q): Query<AuditQuery>,
) -> AppResult<Response> {
    let filter = q.filter()?;
    let rows = db::audit::list(&state.db, &filter, PAGE_SIZE).await?;
    let next_before = (rows.len() as i64 == PAGE_SIZE).then(|| rows.last().map(|r| r.id)).flatten();
    let events = rows
        .into_iter()
        .map(|r| AuditView {
            id: r.id,
            when: format_utc(r.at),
            actor: shown(&r.actor),
            action: r.action,
            target: shown(&r.target.unwrap_or_default()),
            outcome: r.outcome,
            ip: r.ip.unwrap_or_default(),
            user_agent: shown(&r.user_agent.unwrap_or_default()),
            detail: shown(&r.detail.unwrap_or_default()),
        })
        .collect();
    let page = AuditPage {
        nav: Nav::of(&session),
        events,
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        filter_query: q.query_string(),
        q,
        next_before,
    };
    Ok(page.into_response())
}

/// CSV cell: quoted, quotes doubled, and a leading `= + - @` defused so a
/// spreadsheet never runs an actor-controlled value as a formula.
fn csv_cell(value: &str) -> String {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// One exported row, CSV or JSON Lines.
pub fn export_line(row: &AuditRow, csv: bool) -> String {
    if csv {
        let cells = [
            row.id.to_string(),
            format_utc(row.at),
            row.actor.clone(),
            row.action.clone(),
            row.target.clone().unwrap_or_default(),
            row.outcome.clone(),
            row.ip.clone().unwrap_or_default(),
            row.user_agent.clone().unwrap_or_default(),
            row.detail.clone().unwrap_or_default(),
        ];
        let mut line = cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
        line.push('\n');
        line
    } else {
        let mut line = serde_json::to_string(row).unwrap_or_default();
        line.push('\n');
        line
    }
}

pub const CSV_HEADER: &str = "id,time,actor,action,target,outcome,ip,user_agent,detail\n";

pub async fn export_audit(State(state): State<AppState>, Query(q): Query<AuditQuery>) -> AppResult<Response> {
    let csv = match q.format.as_str() {
        "" | "csv" => true,
        "jsonl" => false,
        _ => return Err(AppError::BadRequest("Export format is csv or jsonl.".into())),
    };
    let filter = q.filter()?;
    let pool = state.db.clone();
    // Streamed in keyset batches: memory stays flat however long the log is.
    let first = if csv { Some(CSV_HEADER.to_owned()) } else { None };
    let stream = futures_util::stream::unfold(Some((filter, first)), move |cursor| {
        let pool = pool.clone();
        async move {
            let (mut filter, header) = cursor?;
            if let Some(h) = header {
                return Some((Ok::<_, std::io::Error>(h), Some((filter, None))));
            }
            let rows = match db::audit::list(&pool, &filter, EXPORT_BATCH).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(std::io::Error::other(e)), None)),
            };
            let last = rows.last()?.id;
            let chunk: String = rows.iter().map(|r| export_line(r, csv)).collect();
            filter.before_id = Some(last);
            let more = rows.len() as i64 == EXPORT_BATCH;
            Some((Ok(chunk), more.then_some((filter, None))))
        }
    });
    let (content_type, file) =
        if csv { ("text/csv; charset=utf-8", "audit.csv") } else { ("application/x-ndjson", "audit.jsonl") };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Text from a request as the audit page shows it: control characters and
/// characters that change how text reads (direction overrides, invisible
/// and look-alike characters; the same set object keys refuse) are written
/// as `\u{…}`, so a refused attempt cannot make its row read as something
/// else. The stored row and the exports keep the exact text.
fn shown(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || crate::domain::changes_how_text_reads(c) {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "\"plain\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
    }

    #[test]
    fn the_page_spells_out_characters_that_would_change_how_a_row_reads() {
        assert_eq!(shown("batch/invoice\u{202e}txt.exe"), "batch/invoice\\u{202e}txt.exe");
        assert_eq!(shown("a\u{0}b\nc"), "a\\u{0000}b\\u{000a}c");
        assert_eq!(shown("a\u{3164}b \u{2215} c"), "a\\u{3164}b \\u{2215} c");
        assert_eq!(shown("Ünïcødé – 東京 \u{1f468}\u{200d}\u{1f469}"), "Ünïcødé – 東京 \u{1f468}\u{200d}\u{1f469}");
    }
}
