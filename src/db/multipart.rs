//! `multipart_uploads`: S3's UploadId and the part plan of a large upload,
//! always reached through the teammate who owns the upload.

use sqlx::SqliteExecutor;

use crate::clock::Timestamp;

/// A multipart upload joined with its `uploads` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Multipart {
    pub upload_id: i64,
    pub account_id: i64,
    pub username: String,
    pub object_key: String,
    pub declared_size: i64,
    pub content_type: String,
    pub replace_existing: bool,
    pub replaces_etag: Option<String>,
    pub s3_upload_id: String,
    pub part_size: i64,
    pub part_count: i64,
    pub state: String,
    pub last_activity_at: Timestamp,
}

/// The common SELECT with a literal tail, so every query stays a static string.
macro_rules! select {
    ($($tail:expr),+ $(,)?) => {
        concat!(
            "SELECT m.upload_id, u.account_id, a.username, u.object_key, u.declared_size, u.content_type, ",
            "u.replace_existing, u.replaces_etag, m.s3_upload_id, m.part_size, m.part_count, m.state, m.last_activity_at ",
            "FROM multipart_uploads m JOIN uploads u ON u.id = m.upload_id JOIN accounts a ON a.id = u.account_id ",
            $($tail),+
        )
    };
}

#[allow(clippy::too_many_arguments)]
pub async fn insert<'e>(
    db: impl SqliteExecutor<'e>,
    upload_id: i64,
    s3_upload_id: &str,
    part_size: i64,
    part_count: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO multipart_uploads (upload_id, s3_upload_id, part_size, part_count, state, last_activity_at) \
         VALUES (?, ?, ?, ?, 'open', ?)",
    )
    .bind(upload_id)
    .bind(s3_upload_id)
    .bind(part_size)
    .bind(part_count)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// A multipart upload, only if it belongs to `account_id`.
pub async fn find_owned<'e>(
    db: impl SqliteExecutor<'e>,
    upload_id: i64,
    account_id: i64,
) -> sqlx::Result<Option<Multipart>> {
    sqlx::query_as::<_, Multipart>(select!(
        "WHERE m.upload_id = ? AND u.account_id = ? AND ",
        current_holders_upload!()
    ))
    .bind(upload_id)
    .bind(account_id)
    .fetch_optional(db)
    .await
}

/// The newest open upload of `account_id` for this key and size (resume after a reload).
pub async fn find_resumable<'e>(
    db: impl SqliteExecutor<'e>,
    account_id: i64,
    object_key: &str,
    size: i64,
) -> sqlx::Result<Option<Multipart>> {
    sqlx::query_as::<_, Multipart>(select!(
        "WHERE u.account_id = ? AND u.object_key = ? AND u.declared_size = ? AND m.state = 'open' \
           AND ",
        current_holders_upload!(),
        " \
         ORDER BY m.upload_id DESC LIMIT 1"
    ))
    .bind(account_id)
    .bind(object_key)
    .bind(size)
    .fetch_optional(db)
    .await
}

/// Open uploads with no activity since `idle_since` (the sweeper's work list).
pub async fn list_stale<'e>(db: impl SqliteExecutor<'e>, idle_since: Timestamp) -> sqlx::Result<Vec<Multipart>> {
    sqlx::query_as::<_, Multipart>(select!("WHERE m.state = 'open' AND m.last_activity_at < ? ORDER BY m.upload_id"))
        .bind(idle_since)
        .fetch_all(db)
        .await
}

/// How stale `last_activity_at` may get before signing or listing parts
/// writes it again. The sweeper's threshold is at least an hour
/// (`EGX_STALE_UPLOAD_HOURS`), so a minute of slack never lets an active
/// upload look idle, and a part signed spares the database a write.
pub const ACTIVITY_SLACK_SECS: i64 = 60;

/// Whether activity at `now` should be written (see [`ACTIVITY_SLACK_SECS`]).
pub fn activity_is_stale(mp: &Multipart, now: Timestamp) -> bool {
    now - mp.last_activity_at >= ACTIVITY_SLACK_SECS
}

pub async fn touch<'e>(db: impl SqliteExecutor<'e>, upload_id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE multipart_uploads SET last_activity_at = ? WHERE upload_id = ? AND state = 'open'")
        .bind(now)
        .bind(upload_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Moves an open upload to `completed` or `aborted`; false when it was not open any more.
pub async fn finish<'e>(
    db: impl SqliteExecutor<'e>,
    upload_id: i64,
    state: &str,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE multipart_uploads SET state = ?, finished_at = ? WHERE upload_id = ? AND state = 'open'")
            .bind(state)
            .bind(now)
            .bind(upload_id)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}
