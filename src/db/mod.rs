//! SQLite access: one module per table, each a few named query functions
//! that take an executor. Queries are checked at run time (`query_as`) and
//! every one is exercised by the test suite.
//!
//! SQLite is set up once here: WAL (readers never block the writer),
//! `foreign_keys=ON`, a busy timeout, and [`begin_immediate`] for every
//! transaction that reads and then writes, so two such transactions queue
//! instead of failing with "database is locked" at commit.

pub mod access_keys;
pub mod accounts;
pub mod audit;
pub mod key_rotations;
pub mod multipart;
pub mod secret_links;
pub mod sessions;
pub mod setup_tokens;
pub mod teammate_locks;
pub mod teammates;
pub mod two_factor;
pub mod uploads;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// Opens (creating if needed) the database file and applies migrations.
pub async fn connect(path: &Path) -> anyhow::Result<SqlitePool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("opening SQLite database {}", path.display()))?;
    migrate(&pool).await?;
    audit::seal_legacy(&pool).await.context("sealing audit rows written before the hash chain")?;
    Ok(pool)
}

/// Applies the embedded migrations (idempotent).
pub async fn migrate(pool: &SqlitePool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await.context("applying database migrations")?;
    Ok(())
}

/// Starts a transaction that takes the write lock up front.
pub async fn begin_immediate(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}
