//! `uploads`: every URL the portal signed, and what S3 confirmed afterwards.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    pub id: i64,
    pub account_id: i64,
    pub username: String,
    pub object_key: String,
    pub declared_size: i64,
    pub content_type: String,
    pub status: String,
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// The later upload that overwrote this one's object.
    pub replaced_by: Option<i64>,
}

/// A signed upload to record.
pub struct NewUpload<'a> {
    pub account_id: i64,
    pub object_key: &'a str,
    pub declared_size: i64,
    pub content_type: &'a str,
    /// The teammate asked to replace an existing object.
    pub replace_existing: bool,
    /// The ETag of the object being replaced (`None`: the key must be free).
    pub replaces_etag: Option<&'a str>,
}

pub async fn insert_signed<'e>(db: impl SqliteExecutor<'e>, new: &NewUpload<'_>, now: Timestamp) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO uploads (account_id, object_key, declared_size, content_type, replace_existing, replaces_etag, \
                              status, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, 'signed', ?) RETURNING id",
    )
    .bind(new.account_id)
    .bind(new.object_key)
    .bind(new.declared_size)
    .bind(new.content_type)
    .bind(new.replace_existing)
    .bind(new.replaces_etag)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// An upload, only if it belongs to `account_id`.
pub async fn find_owned<'e>(db: impl SqliteExecutor<'e>, id: i64, account_id: i64) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as::<_, Upload>(concat!(
        "SELECT u.id, u.account_id, a.username, u.object_key, u.declared_size, u.content_type, u.status, \
                u.size, u.etag, u.created_at, u.completed_at, u.replaced_by \
         FROM uploads u JOIN accounts a ON a.id = u.account_id \
         WHERE u.id = ? AND u.account_id = ? AND ",
        current_holders_upload!()
    ))
    .bind(id)
    .bind(account_id)
    .fetch_optional(db)
    .await
}

pub async fn mark_completed<'e>(
    db: impl SqliteExecutor<'e>,
    id: i64,
    size: i64,
    etag: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET status = 'completed', size = ?, etag = ?, completed_at = ? WHERE id = ?")
        .bind(size)
        .bind(etag)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn mark_failed<'e>(db: impl SqliteExecutor<'e>, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET status = 'failed' WHERE id = ? AND status = 'signed'").bind(id).execute(db).await?;
    Ok(())
}

/// Most recent uploads, of one account or (None) of everyone.
pub async fn list_recent<'e>(
    db: impl SqliteExecutor<'e>,
    account_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as::<_, Upload>(concat!(
        "SELECT u.id, u.account_id, a.username, u.object_key, u.declared_size, u.content_type, u.status, \
                u.size, u.etag, u.created_at, u.completed_at, u.replaced_by \
         FROM uploads u JOIN accounts a ON a.id = u.account_id \
         WHERE (?1 IS NULL OR (u.account_id = ?1 AND ",
        current_holders_upload!(),
        ")) AND u.status = 'completed' \
         ORDER BY u.id DESC LIMIT ?2",
    ))
    .bind(account_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Confirmed uploads for the owner's page, newest first, optionally of one
/// teammate (by username) and/or under a key prefix.
pub async fn list_filtered<'e>(
    db: impl SqliteExecutor<'e>,
    username: Option<&str>,
    key_prefix: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as::<_, Upload>(
        "SELECT u.id, u.account_id, a.username, u.object_key, u.declared_size, u.content_type, u.status, \
                u.size, u.etag, u.created_at, u.completed_at, u.replaced_by \
         FROM uploads u JOIN accounts a ON a.id = u.account_id \
         WHERE u.status = 'completed' AND (?1 IS NULL OR a.username = ?1) \
           AND (?2 IS NULL OR substr(u.object_key, 1, length(?2)) = ?2) \
         ORDER BY u.id DESC LIMIT ?3",
    )
    .bind(username)
    .bind(key_prefix)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The newest completed upload at `object_key` that nothing replaced since:
/// `(upload id, account id, ETag)`. The account id is 0 (no account) when the
/// upload was made by an earlier holder of the account's name.
pub async fn current_at_key<'e>(
    db: impl SqliteExecutor<'e>,
    object_key: &str,
) -> sqlx::Result<Option<(i64, i64, Option<String>)>> {
    sqlx::query_as(concat!(
        "SELECT u.id, CASE WHEN ",
        current_holders_upload!(),
        " THEN u.account_id ELSE 0 END, u.etag \
         FROM uploads u JOIN accounts a ON a.id = u.account_id \
         WHERE u.object_key = ? AND u.status = 'completed' AND u.replaced_by IS NULL ORDER BY u.id DESC LIMIT 1",
    ))
    .bind(object_key)
    .fetch_optional(db)
    .await
}

/// Marks the earlier completed uploads at the key of upload `id` as replaced by it.
pub async fn mark_replaced_by<'e>(db: impl SqliteExecutor<'e>, id: i64, object_key: &str) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE uploads SET replaced_by = ?1 \
         WHERE object_key = ?2 AND status = 'completed' AND id < ?1 AND replaced_by IS NULL",
    )
    .bind(id)
    .bind(object_key)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
