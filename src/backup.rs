//! `egx-portal backup PATH`: an online backup of the SQLite database while
//! the portal serves. `VACUUM INTO` copies one consistent snapshot (a read
//! transaction, WAL included) without stopping writers. The copy is then
//! proven usable: it must open, pass `PRAGMA integrity_check`, carry the
//! same schema version and hold an intact audit chain; a copy that fails
//! is deleted. Backups never overwrite a file, are created mode 0600 (they
//! hold password hashes), and are recorded in the audit log.
//!
//! Not in the copy, by design: the master key file (it seals the owner's
//! two-factor secret; keep it apart from database backups).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::Config;
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::AuditAction;

/// What a verified backup holds.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
    pub audit_events: u64,
    pub accounts: i64,
}

/// Writes a verified backup of the portal's database to `target`.
pub async fn run(config: &Config, target: &Path, now: crate::clock::Timestamp) -> anyhow::Result<BackupReport> {
    let source = config.database_path();
    let target_text = target.to_str().context("the backup path must be valid UTF-8")?.to_owned();
    if target.exists() {
        anyhow::bail!("{} exists: a backup never overwrites a file; choose a new name", target.display());
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        anyhow::bail!("{} is not a folder: create it first", dir.display());
    }
    let pool = db::open_existing(&source, false).await?;
    let source_version = db::applied_migrations(&pool).await?.last().copied().unwrap_or_default();

    // An empty file of our own, private from the start; VACUUM INTO fills it.
    create_private(target).with_context(|| format!("creating {}", target.display()))?;
    let copied = sqlx::query("VACUUM INTO ?").bind(&target_text).execute(&pool).await;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(target);
        pool.close().await;
        return Err(anyhow::Error::new(e).context("copying the database (VACUUM INTO)"));
    }
    let report = match verify(target, source_version).await {
        Ok(report) => report,
        Err(e) => {
            let _ = std::fs::remove_file(target);
            pool.close().await;
            return Err(e.context(format!("the copy at {} failed verification and was deleted", target.display())));
        }
    };
    let event = Event::success(AuditAction::BackupCreated, target_text.as_str()).with_detail(serde_json::json!({
        "bytes": report.bytes,
        "audit_events": report.audit_events,
        "schema_version": report.schema_version,
    }));
    db::audit::record_alone(&pool, &AuditContext::system("cli"), event, now).await?;
    pool.close().await;
    Ok(report)
}

/// Opens the copy read-only and checks it.
pub async fn verify(path: &Path, expected_version: i64) -> anyhow::Result<BackupReport> {
    let pool = db::open_existing(path, true).await?;
    let result = async {
        let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&pool).await?;
        if integrity != "ok" {
            anyhow::bail!("integrity check: {integrity}");
        }
        let schema_version = db::applied_migrations(&pool).await?.last().copied().unwrap_or_default();
        if schema_version != expected_version {
            anyhow::bail!("schema version {schema_version}, the live database has {expected_version}");
        }
        let (audit_events, problems) = db::audit::verify(&pool).await?;
        if let Some(first) = problems.first() {
            anyhow::bail!("audit chain: {first} ({} problem(s))", problems.len());
        }
        let (accounts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM accounts").fetch_one(&pool).await?;
        let bytes = std::fs::metadata(path)?.len();
        Ok(BackupReport { path: path.to_owned(), bytes, schema_version, audit_events, accounts })
    }
    .await;
    pool.close().await;
    result
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}
