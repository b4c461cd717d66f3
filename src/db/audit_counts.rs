//! `audit_counts`: how many audit events of each action and outcome were
//! ever written, kept by a trigger on `audit_events` (migration 0010), so
//! nothing writes here but SQLite itself.

use sqlx::SqliteExecutor;

/// `(action, outcome, count)` for every pair seen, sorted.
pub async fn all<'e>(db: impl SqliteExecutor<'e>) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as("SELECT action, outcome, n FROM audit_counts ORDER BY action, outcome").fetch_all(db).await
}
