//! SQLite access: one module per table, each a few named query functions
//! that take an executor. Queries are checked at run time (`query_as`) and
//! every one is exercised by the test suite.
//!
//! SQLite is set up once here: WAL (readers never block the writer),
//! `foreign_keys=ON`, a busy timeout, and [`begin_immediate`] for every
//! transaction that reads and then writes, so two such transactions queue
//! instead of failing with "database is locked" at commit.

/// SQL condition, for a query joining `uploads u` with its `accounts a`: the
/// upload belongs to the account's current holder, not to an earlier holder
/// of a name that was removed and added again (`former_uploads_through`).
/// Every query that hands an account its own uploads uses it.
macro_rules! current_holders_upload {
    () => {
        "u.id > COALESCE(a.former_uploads_through, 0)"
    };
}

pub mod access_keys;
pub mod accounts;
pub mod audit;
pub mod audit_counts;
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
    // A new database file is private from the start (it holds password
    // hashes); SQLite gives its -wal and -shm files the same mode.
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("creating {}", path.display()))),
        }
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

/// Opens an existing database as it is: no file is created and no
/// migration runs (for commands beside a serving portal that must not
/// change its schema, such as `backup`). `read_only` opens it read-only.
pub async fn open_existing(path: &Path, read_only: bool) -> anyhow::Result<SqlitePool> {
    if !path.is_file() {
        anyhow::bail!("no database at {} (is EGX_DATA_DIR right?)", path.display());
    }
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .read_only(read_only)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .with_context(|| format!("opening SQLite database {}", path.display()))
}

/// The migration versions recorded as applied (empty for a new file).
pub async fn applied_migrations(pool: &SqlitePool) -> anyhow::Result<Vec<i64>> {
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version")
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// Every migration this binary carries: `(version, description)`.
pub fn known_migrations() -> Vec<(i64, String)> {
    sqlx::migrate!("./migrations").iter().map(|m| (m.version, m.description.to_string())).collect()
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
