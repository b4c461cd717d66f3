//! `audit_events`: one row per thing that happened. Callers write the row in
//! the same transaction as the change it records. Never a secret in a row:
//! `detail` carries names, ids and error kinds only.

use sqlx::{SqliteConnection, SqliteExecutor, SqlitePool};

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

/// The hash the chain starts from on a new database.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields a row's hash covers, in a fixed order.
struct Sealed<'a> {
    id: i64,
    at: Timestamp,
    actor: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    outcome: &'a str,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    detail: Option<&'a str>,
}

/// SHA-256 over the previous hash and every field, each length-prefixed so
/// no two different rows can encode alike.
fn chain_hash(prev_hash: &str, row: &Sealed<'_>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |value: Option<&str>| match value {
        None => h.update(b"-\n"),
        Some(v) => {
            h.update(format!("{}:", v.len()).as_bytes());
            h.update(v.as_bytes());
            h.update(b"\n");
        }
    };
    field(Some(prev_hash));
    field(Some(&row.id.to_string()));
    field(Some(&row.at.to_string()));
    field(Some(row.actor));
    field(Some(row.action));
    field(row.target);
    field(Some(row.outcome));
    field(row.ip);
    field(row.user_agent);
    field(row.detail);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends an event to the chain. Call it inside a `BEGIN IMMEDIATE`
/// transaction (the one that makes the change it records): reading the
/// chain's head and writing the new row must not interleave with another
/// writer. For an event with no other change, use [`record_alone`].
pub async fn record(
    conn: &mut SqliteConnection,
    ctx: &AuditContext,
    event: Event<'_>,
    now: Timestamp,
) -> sqlx::Result<()> {
    let (head_id, head_hash): (i64, String) =
        sqlx::query_as("SELECT head_id, head_hash FROM audit_chain WHERE id = 1").fetch_one(&mut *conn).await?;
    let detail = event.detail.map(|d| d.to_string());
    let user_agent = ctx.user_agent.as_deref().map(|ua| truncate(ua, 512));
    let row = Sealed {
        id: head_id + 1,
        at: now,
        actor: &ctx.actor,
        action: event.action.as_str(),
        target: event.target,
        outcome: event.outcome.as_str(),
        ip: ctx.ip.as_deref(),
        user_agent,
        detail: detail.as_deref(),
    };
    let hash = chain_hash(&head_hash, &row);
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor, action, target, outcome, ip, user_agent, detail, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.id)
    .bind(row.at)
    .bind(row.actor)
    .bind(row.action)
    .bind(row.target)
    .bind(row.outcome)
    .bind(row.ip)
    .bind(row.user_agent)
    .bind(row.detail)
    .bind(&head_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_chain SET head_id = ?, head_hash = ? WHERE id = 1")
        .bind(row.id)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records an event that accompanies no other change, in its own transaction.
pub async fn record_alone(pool: &SqlitePool, ctx: &AuditContext, event: Event<'_>, now: Timestamp) -> sqlx::Result<()> {
    let mut tx = super::begin_immediate(pool).await?;
    record(&mut tx, ctx, event, now).await?;
    tx.commit().await
}

/// Seals rows written before the chain existed (migration 0004), in id order.
pub async fn seal_legacy(pool: &SqlitePool) -> sqlx::Result<u64> {
    let mut tx = super::begin_immediate(pool).await?;
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, at, actor, action, target, outcome, ip, user_agent, detail FROM audit_events \
         WHERE hash IS NULL ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (mut head_id, mut head_hash): (i64, String) =
        sqlx::query_as("SELECT head_id, head_hash FROM audit_chain WHERE id = 1").fetch_one(&mut *tx).await?;
    for r in &rows {
        let hash = chain_hash(&head_hash, &r.sealed());
        sqlx::query("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?")
            .bind(&head_hash)
            .bind(&hash)
            .bind(r.id)
            .execute(&mut *tx)
            .await?;
        head_id = r.id;
        head_hash = hash;
    }
    sqlx::query("UPDATE audit_chain SET head_id = ?, head_hash = ? WHERE id = 1")
        .bind(head_id)
        .bind(&head_hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// A row's content no longer matches its hash.
    Edited { id: i64 },
    /// Row ids skip: rows between were removed.
    Missing { after: i64, next: i64 },
    /// A row does not follow the one before it (moved, or rows removed and renumbered).
    Broken { id: i64 },
    /// The newest rows were cut off (the chain's head is gone).
    Truncated { last: i64, head: i64 },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edited { id } => write!(f, "row {id} was edited after it was written"),
            Self::Missing { after, next } => write!(f, "rows {}..={} are missing (removed)", after + 1, next - 1),
            Self::Broken { id } => {
                write!(f, "row {id} does not follow the row before it (rows were removed or reordered)")
            }
            Self::Truncated { last, head } => write!(f, "rows {}..={head} are missing from the end", last + 1),
        }
    }
}

/// Walks the whole chain; returns the number of rows checked and every problem.
pub async fn verify(pool: &SqlitePool) -> sqlx::Result<(u64, Vec<ChainProblem>)> {
    let (pruned_through, anchor, head_id): (i64, String, i64) =
        sqlx::query_as("SELECT pruned_through, anchor_hash, head_id FROM audit_chain WHERE id = 1")
            .fetch_one(pool)
            .await?;
    let mut problems = Vec::new();
    let mut expected_prev = anchor;
    let mut last_id = pruned_through;
    let mut checked = 0u64;
    let mut after = pruned_through;
    loop {
        let batch: Vec<ChainRow> = sqlx::query_as(
            "SELECT id, at, actor, action, target, outcome, ip, user_agent, detail, prev_hash, hash \
             FROM audit_events WHERE id > ? ORDER BY id LIMIT 5000",
        )
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for r in &batch {
            checked += 1;
            if r.id != last_id + 1 {
                problems.push(ChainProblem::Missing { after: last_id, next: r.id });
            } else if r.prev_hash.as_deref() != Some(expected_prev.as_str()) {
                problems.push(ChainProblem::Broken { id: r.id });
            }
            let recomputed = chain_hash(r.prev_hash.as_deref().unwrap_or_default(), &r.row.sealed());
            if r.hash.as_deref() != Some(recomputed.as_str()) {
                problems.push(ChainProblem::Edited { id: r.id });
            }
            expected_prev = r.hash.clone().unwrap_or_default();
            last_id = r.id;
        }
    }
    if last_id < head_id {
        problems.push(ChainProblem::Truncated { last: last_id, head: head_id });
    }
    Ok((checked, problems))
}

#[derive(sqlx::FromRow)]
struct ChainRow {
    id: i64,
    #[sqlx(flatten)]
    row: AuditRow,
    prev_hash: Option<String>,
    hash: Option<String>,
}

/// Removes rows older than `before` (retention), keeping the chain
/// verifiable: the anchor moves to the last removed row's hash. Returns how
/// many rows were removed. Records the pruning itself as an event.
pub async fn prune(pool: &SqlitePool, before: Timestamp, now: Timestamp) -> sqlx::Result<u64> {
    let mut tx = super::begin_immediate(pool).await?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM audit_events WHERE at < ? ORDER BY id DESC LIMIT 1")
            .bind(before)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((last_id, last_hash)) = last else { return Ok(0) };
    sqlx::query("UPDATE audit_chain SET delete_allowed = 1 WHERE id = 1").execute(&mut *tx).await?;
    let done = sqlx::query("DELETE FROM audit_events WHERE id <= ?").bind(last_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE audit_chain SET delete_allowed = 0, pruned_through = ?, anchor_hash = ? WHERE id = 1")
        .bind(last_id)
        .bind(&last_hash)
        .execute(&mut *tx)
        .await?;
    let event = Event::success(AuditAction::AuditPruned, None)
        .with_detail(serde_json::json!({ "through_id": last_id, "rows": done.rows_affected() }));
    record(&mut tx, &AuditContext::system("system"), event, now).await?;
    tx.commit().await?;
    Ok(done.rows_affected())
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

impl AuditRow {
    fn sealed(&self) -> Sealed<'_> {
        Sealed {
            id: self.id,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            target: self.target.as_deref(),
            outcome: &self.outcome,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            detail: self.detail.as_deref(),
        }
    }
}

/// Filters for the audit page and export. `before_id` pages backwards
/// (keyset: `id < before_id`, newest first), so a deep page costs what the
/// first one does.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub before_id: Option<i64>,
}

const LIST_SELECT: &str =
    "SELECT id, at, actor, action, target, outcome, ip, user_agent, detail FROM audit_events WHERE 1 = 1";

/// The statement for `filter` (after `head`), with a condition for each filter that is set
/// and none for the others. (A fixed `(? IS NULL OR col = ?)` statement
/// cannot use any index: SQLite plans it once, for every binding, and then
/// a filtered page or a deep `before_id` page walks the table from its
/// newest row. With only the conditions that apply, a filter uses its
/// `(column, id)` index and `before_id` a rowid range.) Only the fixed
/// fragments below are ever pushed; every value is bound.
fn list_query(head: impl Into<String>, filter: &Filter, limit: i64) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut q = sqlx::QueryBuilder::new(head);
    if let Some(actor) = &filter.actor {
        q.push(" AND actor = ").push_bind(actor.as_str());
    }
    if let Some(action) = &filter.action {
        q.push(" AND action = ").push_bind(action.as_str());
    }
    if let Some(target) = &filter.target {
        q.push(" AND target = ").push_bind(target.as_str());
    }
    if let Some(outcome) = &filter.outcome {
        q.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some(since) = filter.since {
        q.push(" AND at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        q.push(" AND at < ").push_bind(until);
    }
    if let Some(before) = filter.before_id {
        q.push(" AND id < ").push_bind(before);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    q
}

pub async fn list<'e>(db: impl SqliteExecutor<'e>, filter: &Filter, limit: i64) -> sqlx::Result<Vec<AuditRow>> {
    list_query(LIST_SELECT, filter, limit).build_query_as::<AuditRow>().fetch_all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite would run the page query for `filter` (EXPLAIN QUERY PLAN details).
    async fn plan(pool: &SqlitePool, filter: &Filter) -> String {
        let mut q = list_query(format!("EXPLAIN QUERY PLAN {LIST_SELECT}"), filter, 100);
        let rows: Vec<(i64, i64, i64, String)> = q.build_query_as().fetch_all(pool).await.unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
    }

    #[tokio::test]
    async fn every_filter_and_a_deep_page_are_answered_from_an_index_not_a_table_walk() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::connect(&dir.path().join("audit.sqlite")).await.unwrap();
        let deep = Filter { before_id: Some(500_000), ..Filter::default() };
        let actor = Filter { actor: Some("alice".into()), ..Filter::default() };
        let action = Filter { action: Some("upload.completed".into()), before_id: Some(9), ..Filter::default() };
        let target = Filter { target: Some("batch/a.csv".into()), ..Filter::default() };

        assert!(
            plan(&pool, &deep).await.contains("USING INTEGER PRIMARY KEY (rowid<?)"),
            "{}",
            plan(&pool, &deep).await
        );
        assert!(plan(&pool, &actor).await.contains("USING INDEX audit_events_by_actor (actor=?)"));
        assert!(
            plan(&pool, &action).await.contains("USING INDEX audit_events_by_action (action=? AND id<?)"),
            "{}",
            plan(&pool, &action).await
        );
        assert!(plan(&pool, &target).await.contains("USING INDEX audit_events_by_target (target=?)"));
        // No page ever sorts: the newest-first order comes from the index itself.
        for f in [&deep, &actor, &action, &target, &Filter::default()] {
            assert!(!plan(&pool, f).await.contains("TEMP B-TREE"), "{}", plan(&pool, f).await);
        }
    }
}
