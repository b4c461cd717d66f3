//! The teammate lifecycle after "add": keys (list, deactivate, reactivate,
//! delete), rotation, links (account-only, revoke), the portal account
//! (disable, enable), removal, adoption and bulk add. The owner's pages and
//! the `egx-portal teammate …` subcommands call these same functions.
//!
//! Invariants every module here keeps:
//! * IAM is the source of truth for keys; a failed IAM call is an error
//!   ("IAM unavailable"), never treated as "nothing there";
//! * every change is recorded with its audit row in one `BEGIN IMMEDIATE`
//!   transaction, written after the IAM call it records succeeded, and every
//!   failure that leaves something half done is recorded and audited too;
//! * every multi-step operation can be run again and continues where it
//!   stopped (IAM's "NoSuchEntity" on a delete means "already done").

pub mod accounts;
pub mod adopt;
pub mod bulk;
pub mod keys;
pub mod links;
pub mod overview;
pub mod removal;
pub mod rotation;

use crate::aws::iam::IamError;
use crate::db;
use crate::db::teammates::Teammate;
use crate::domain::{IamUserName, TeammateStatus};
use crate::error::AppError;
use crate::state::AppState;

/// How many teammates are worked on at once when many are (listing keys,
/// bulk add, advancing rotations): IAM's request rate is per account.
pub const CONCURRENCY: usize = 4;

/// How long an operation may hold a teammate's lease before it runs out on
/// its own (only a crashed process leaves one behind).
const LEASE_SECS: i64 = 10 * 60;

/// Runs `work` holding the lease on teammate `name` (see `teammate_locks`):
/// another multi-step operation on the same teammate at the same time — a
/// double click, a second tab, the CLI — is refused with 409 instead of
/// racing this one (two new keys, or a key deleted under the other's feet).
pub async fn exclusively<T>(
    state: &AppState,
    name: &str,
    operation: &'static str,
    work: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let now = state.now();
    // SECURITY: one multi-step IAM operation per teammate at a time.
    if let Some((holder, until)) = db::teammate_locks::take(&state.db, name, operation, now, now + LEASE_SECS).await? {
        return Err(AppError::Conflict(format!(
            "{name} is busy: {holder} is under way right now (another tab, a double click or the command \
             line?). Wait until it finishes, then reload. If nothing is running, this clears by itself at {}.",
            crate::clock::format_utc(until)
        )));
    }
    let out = work.await;
    if let Err(e) = db::teammate_locks::give_back(&state.db, name).await {
        tracing::warn!(error = %e, "giving back a teammate's lease failed; it runs out by itself");
    }
    out
}

/// The teammate called `name`, or NotFound.
pub async fn teammate(state: &AppState, name: &str) -> Result<Teammate, AppError> {
    db::teammates::find_by_name(&state.db, name).await?.ok_or(AppError::NotFound)
}

/// The teammate's IAM user name (stored names were validated when added).
pub fn iam_name(t: &Teammate) -> Result<IamUserName, AppError> {
    IamUserName::parse(&t.iam_user_name)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored IAM user name is invalid: {e}")))
}

/// Refuses when the teammate's IAM user is gone or going.
pub fn require_present(t: &Teammate) -> Result<(), AppError> {
    match t.shown_status() {
        TeammateStatus::Removed => Err(AppError::Conflict(format!("{} has been removed.", t.iam_user_name))),
        TeammateStatus::Removing => Err(AppError::Conflict(format!(
            "{} is being removed; finish the removal (Remove again) first.",
            t.iam_user_name
        ))),
        _ => Ok(()),
    }
}

/// An IAM failure, told to the owner as what did not happen and why.
pub fn upstream(what: &str, e: IamError) -> AppError {
    let shown = match &e {
        IamError::Unreachable { .. } => {
            format!("{what}: IAM unavailable (AWS could not be reached). Nothing was changed.")
        }
        IamError::Refused { code, .. } if code == "NoSuchEntity" => {
            format!("{what}: IAM says it does not exist (NoSuchEntity).")
        }
        other => format!("{what}: {other}."),
    };
    AppError::Upstream(shown, anyhow::Error::new(e))
}

/// The IAM error behind an [`AppError`], if it came from one.
pub fn iam_error(e: &AppError) -> Option<&IamError> {
    match e {
        AppError::Upstream(_, source) => source.downcast_ref::<IamError>(),
        _ => None,
    }
}
