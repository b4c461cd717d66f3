//! `access_keys`: the keys the portal knows of (made here, or found on an
//! adopted user). IAM stays the source of truth for status and last use;
//! this table remembers what the portal did: when it checked a key with STS
//! and when it deleted one.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnownKey {
    pub access_key_id: String,
    pub teammate_id: i64,
    pub created_at: Timestamp,
    pub origin: String,
    pub verified_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    /// Whether a one-time link ever carried this key.
    pub has_link: bool,
}

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Portal,
    Adopted,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Adopted => "adopted",
        }
    }
}

pub async fn insert<'e>(
    db: impl SqliteExecutor<'e>,
    access_key_id: &str,
    teammate_id: i64,
    origin: Origin,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO access_keys (access_key_id, teammate_id, created_at, origin) VALUES (?, ?, ?, ?)",
    )
    .bind(access_key_id)
    .bind(teammate_id)
    .bind(now)
    .bind(origin.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// The teammate's keys the portal knows of, newest first.
pub async fn for_teammate<'e>(db: impl SqliteExecutor<'e>, teammate_id: i64) -> sqlx::Result<Vec<KnownKey>> {
    sqlx::query_as::<_, KnownKey>(
        "SELECT k.access_key_id, k.teammate_id, k.created_at, k.origin, k.verified_at, k.deleted_at, \
                EXISTS (SELECT 1 FROM secret_links l WHERE l.access_key_id = k.access_key_id) AS has_link \
         FROM access_keys k WHERE k.teammate_id = ? ORDER BY k.created_at DESC, k.access_key_id",
    )
    .bind(teammate_id)
    .fetch_all(db)
    .await
}

/// Every known key (for the teammates list).
pub async fn all<'e>(db: impl SqliteExecutor<'e>) -> sqlx::Result<Vec<KnownKey>> {
    sqlx::query_as::<_, KnownKey>(
        "SELECT k.access_key_id, k.teammate_id, k.created_at, k.origin, k.verified_at, k.deleted_at, \
                EXISTS (SELECT 1 FROM secret_links l WHERE l.access_key_id = k.access_key_id) AS has_link \
         FROM access_keys k ORDER BY k.created_at DESC",
    )
    .fetch_all(db)
    .await
}

/// STS accepted the key (the portal's own check).
pub async fn mark_verified<'e>(db: impl SqliteExecutor<'e>, access_key_id: &str, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE access_keys SET verified_at = COALESCE(verified_at, ?) WHERE access_key_id = ?")
        .bind(now)
        .bind(access_key_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn mark_deleted<'e>(db: impl SqliteExecutor<'e>, access_key_id: &str, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE access_keys SET deleted_at = COALESCE(deleted_at, ?) WHERE access_key_id = ?")
        .bind(now)
        .bind(access_key_id)
        .execute(db)
        .await?;
    Ok(())
}
