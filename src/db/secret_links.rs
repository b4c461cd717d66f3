//! `secret_links`: one-time links. The payload is ciphertext whose key only
//! the link's fragment holds; revealing removes it, exactly once.

use sqlx::{SqliteConnection, SqliteExecutor};

use crate::clock::Timestamp;

pub struct NewLink<'a> {
    pub id: &'a str,
    pub teammate_id: i64,
    pub access_key_id: Option<&'a str>,
    pub payload: &'a [u8],
    pub enrol_token_digest: &'a str,
    /// Proof the revealing browser must send (see `crypto::link_key_check`).
    pub key_check: &'a str,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert<'e>(db: impl SqliteExecutor<'e>, link: &NewLink<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO secret_links (id, teammate_id, access_key_id, payload, enrol_token_digest, key_check, created_at, \
                                   expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(link.id)
    .bind(link.teammate_id)
    .bind(link.access_key_id)
    .bind(link.payload)
    .bind(link.enrol_token_digest)
    .bind(link.key_check)
    .bind(link.created_at)
    .bind(link.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkState {
    pub id: String,
    pub teammate_id: i64,
    /// The key the link carries; `None` for a portal-account-only link.
    pub access_key_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub opened_at: Option<Timestamp>,
    pub revealed_at: Option<Timestamp>,
    pub enrolled_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub revoke_reason: Option<String>,
}

impl LinkState {
    /// Whether the link can still be revealed at `now`.
    pub fn is_revealable(&self, now: Timestamp) -> bool {
        self.revealed_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }

    /// Whether revoking still changes something: not revoked, not expired,
    /// and its enrolment not used (a revealed link still carries one).
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.enrolled_at.is_none() && now < self.expires_at
    }

    /// The link's state in a word, for the owner.
    pub fn state(&self, now: Timestamp) -> &'static str {
        match self {
            l if l.revoked_at.is_some() => "revoked",
            l if l.enrolled_at.is_some() => "used (password set)",
            l if l.revealed_at.is_some() && now < l.expires_at => "revealed, password not set",
            l if l.revealed_at.is_some() => "revealed",
            l if now >= l.expires_at => "expired unopened",
            _ => "pending",
        }
    }
}

/// `SELECT <every LinkState column> FROM secret_links <rest>`, static for sqlx.
macro_rules! select_links {
    ($rest:literal) => {
        concat!(
            "SELECT id, teammate_id, access_key_id, created_at, expires_at, opened_at, revealed_at, ",
            "enrolled_at, revoked_at, revoke_reason FROM secret_links ",
            $rest
        )
    };
}

pub async fn find<'e>(db: impl SqliteExecutor<'e>, id: &str) -> sqlx::Result<Option<LinkState>> {
    sqlx::query_as::<_, LinkState>(select_links!("WHERE id = ?")).bind(id).fetch_optional(db).await
}

/// The teammate's links, newest first.
pub async fn for_teammate<'e>(
    db: impl SqliteExecutor<'e>,
    teammate_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<LinkState>> {
    sqlx::query_as::<_, LinkState>(select_links!("WHERE teammate_id = ? ORDER BY created_at DESC, id LIMIT ?"))
        .bind(teammate_id)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Revokes one open link: its ciphertext and enrolment token are wiped, so
/// it can never be revealed or used. Returns whether it was open.
pub async fn revoke<'e>(db: impl SqliteExecutor<'e>, id: &str, reason: &str, now: Timestamp) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE secret_links SET revoked_at = ?, revoke_reason = ?, payload = NULL, enrol_token_digest = NULL \
         WHERE id = ? AND revoked_at IS NULL AND enrolled_at IS NULL AND expires_at > ?",
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every open link of a teammate (removal); returns their ids.
pub async fn revoke_open_for_teammate<'e>(
    db: impl SqliteExecutor<'e>,
    teammate_id: i64,
    reason: &str,
    now: Timestamp,
) -> sqlx::Result<Vec<String>> {
    let query = sqlx::query_as(
        "UPDATE secret_links SET revoked_at = ?, revoke_reason = ?, payload = NULL, enrol_token_digest = NULL \
         WHERE teammate_id = ? AND revoked_at IS NULL AND enrolled_at IS NULL AND expires_at > ? RETURNING id",
    );
    revoked_ids(db, query.bind(now).bind(reason).bind(teammate_id).bind(now)).await
}

/// Revokes a teammate's open portal-account-only links (no key in them): a
/// disabled account cannot enrol, so such a link would only be used up in
/// vain. Returns their ids.
pub async fn revoke_open_account_links<'e>(
    db: impl SqliteExecutor<'e>,
    teammate_id: i64,
    reason: &str,
    now: Timestamp,
) -> sqlx::Result<Vec<String>> {
    let query = sqlx::query_as(
        "UPDATE secret_links SET revoked_at = ?, revoke_reason = ?, payload = NULL, enrol_token_digest = NULL \
         WHERE teammate_id = ? AND access_key_id IS NULL AND revoked_at IS NULL AND enrolled_at IS NULL \
           AND expires_at > ? RETURNING id",
    );
    revoked_ids(db, query.bind(now).bind(reason).bind(teammate_id).bind(now)).await
}

/// Revokes the links still carrying `access_key_id` unrevealed (the key was
/// deactivated or deleted: its secret must not be handed out); returns their ids.
pub async fn revoke_unrevealed_for_key<'e>(
    db: impl SqliteExecutor<'e>,
    access_key_id: &str,
    reason: &str,
    now: Timestamp,
) -> sqlx::Result<Vec<String>> {
    let query = sqlx::query_as(
        "UPDATE secret_links SET revoked_at = ?, revoke_reason = ?, payload = NULL, enrol_token_digest = NULL \
         WHERE access_key_id = ? AND revealed_at IS NULL AND revoked_at IS NULL AND expires_at > ? RETURNING id",
    );
    revoked_ids(db, query.bind(now).bind(reason).bind(access_key_id).bind(now)).await
}

type IdsQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Sqlite, (String,), sqlx::sqlite::SqliteArguments>;

async fn revoked_ids<'e>(db: impl SqliteExecutor<'e>, query: IdsQuery<'_>) -> sqlx::Result<Vec<String>> {
    Ok(query.fetch_all(db).await?.into_iter().map(|(id,)| id).collect())
}

/// Records the first time the interstitial page was opened.
pub async fn mark_opened<'e>(db: impl SqliteExecutor<'e>, id: &str, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE secret_links SET opened_at = ? WHERE id = ? AND opened_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// What a reveal attempt got.
#[derive(Debug)]
pub enum Taken {
    /// The ciphertext: this caller, and no other, has it now.
    Payload(Vec<u8>),
    /// Used, expired, revoked or unknown.
    Unavailable,
    /// Live, but the caller did not prove it holds the link's key (a link cut
    /// short or altered, or someone who knows only its id): nothing was used up.
    WrongKey,
}

/// Takes the payload out of a revealable link, if `check` proves the caller
/// holds the link's key. Must run inside a `BEGIN IMMEDIATE` transaction:
/// the read and the clearing write are then one step, so among racing
/// callers exactly one gets the payload.
pub async fn take_payload(
    conn: &mut SqliteConnection,
    id: &str,
    check: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<Taken> {
    let row: Option<(Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT payload, key_check FROM secret_links WHERE id = ? AND payload IS NOT NULL \
         AND revealed_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((payload, expected)) = row else {
        return Ok(Taken::Unavailable);
    };
    // SECURITY: only the holder of the whole link (its key) can use it up.
    if let Some(expected) = expected
        && !check.is_some_and(|sent| crate::crypto::constant_time_eq(sent, &expected))
    {
        return Ok(Taken::WrongKey);
    }
    let done =
        sqlx::query("UPDATE secret_links SET payload = NULL, revealed_at = ? WHERE id = ? AND revealed_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(if done.rows_affected() == 1 { Taken::Payload(payload) } else { Taken::Unavailable })
}

/// Uses the enrolment token of a revealed link; returns the teammate id for
/// the one caller that presents the right token first.
pub async fn consume_enrolment<'e>(
    db: impl SqliteExecutor<'e>,
    id: &str,
    token_digest: &str,
    now: Timestamp,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE secret_links SET enrolled_at = ?, enrol_token_digest = NULL \
         WHERE id = ? AND enrol_token_digest = ? AND revealed_at IS NOT NULL AND enrolled_at IS NULL \
           AND revoked_at IS NULL AND expires_at > ? \
         RETURNING teammate_id",
    )
    .bind(now)
    .bind(id)
    .bind(token_digest)
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(t,)| t))
}

/// Purges links that expired before being revealed: their ciphertext and
/// enrolment token digest are dropped, and each gets one `link.expired`
/// audit row, in the same transaction. Returns how many were purged.
/// Idempotent: a purged link holds no payload, so it is never counted twice.
pub async fn purge_expired(pool: &sqlx::SqlitePool, now: Timestamp) -> sqlx::Result<u64> {
    use crate::db::audit::{self, AuditContext, Event};
    use crate::domain::AuditAction;
    const BATCH: i64 = 200;
    let ctx = AuditContext::system("system");
    let mut purged = 0;
    loop {
        let mut tx = crate::db::begin_immediate(pool).await?;
        let expired: Vec<(String, String)> = sqlx::query_as(
            "SELECT l.id, t.iam_user_name FROM secret_links l JOIN teammates t ON t.id = l.teammate_id \
             WHERE l.payload IS NOT NULL AND l.expires_at <= ? ORDER BY l.expires_at LIMIT ?",
        )
        .bind(now)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        for (id, teammate) in &expired {
            sqlx::query("UPDATE secret_links SET payload = NULL, enrol_token_digest = NULL WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let event = Event::success(AuditAction::LinkExpired, id.as_str())
                .with_detail(serde_json::json!({ "teammate": teammate }));
            audit::record(&mut tx, &ctx, event, now).await?;
        }
        // Revealed links whose enrolment was never used: the token dies with the link.
        sqlx::query(
            "UPDATE secret_links SET enrol_token_digest = NULL \
             WHERE enrol_token_digest IS NOT NULL AND payload IS NULL AND expires_at <= ?",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        purged += expired.len() as u64;
        if (expired.len() as i64) < BATCH {
            return Ok(purged);
        }
    }
}
