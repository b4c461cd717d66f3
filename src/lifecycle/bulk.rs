//! Adding many teammates at once (the runbook's "run it for all teammates").
//!
//! Names come as a list (separated by newlines, commas, semicolons or spaces)
//! and/or as CSV text (a column of names, a header row allowed). All names
//! are checked first and every invalid one is reported; only then is anyone
//! provisioned, [`CONCURRENCY`] at a time. Throttling and other transient
//! IAM errors (after the SDK's own retries) are retried with exponential
//! backoff; provisioning is resumable, so a retry continues where it stopped.

use std::time::Duration;

use super::{CONCURRENCY, iam_error};
use crate::crypto::Secret;
use crate::db;
use crate::db::audit::{AuditContext, Event};
use crate::domain::{AuditAction, IamUserName};
use crate::error::AppError;
use crate::provision;
use crate::state::AppState;

/// At most this many names per request (a team, not a directory).
pub const MAX_NAMES: usize = 500;

/// How often a transient failure is retried, and the first pause.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// An entry that is not a valid IAM user name, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub entry: String,
    pub reason: String,
}

/// Header cells a CSV of names may start with.
const HEADERS: [&str; 8] = ["name", "names", "username", "user", "user_name", "iam_user", "iam_user_name", "teammate"];

/// The cells of one CSV line (RFC 4180 quoting: `"a,b"`, `""` for a quote).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cell.trim().is_empty() => {
                cell.clear();
                quoted = true;
            }
            (',' | ';', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    cells.push(cell);
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The names in CSV text: the column headed by a name-like header, else the first column.
fn csv_names(csv: &str) -> Vec<String> {
    let mut lines = csv.lines().map(|l| l.trim_start_matches('\u{feff}')).filter(|l| !l.trim().is_empty());
    let Some(first) = lines.next() else {
        return Vec::new();
    };
    let first_cells = csv_cells(first);
    let header = first_cells.iter().position(|c| HEADERS.contains(&c.to_ascii_lowercase().as_str()));
    let column = header.unwrap_or(0);
    let mut names = Vec::new();
    if header.is_none() {
        names.push(first_cells.get(column).cloned().unwrap_or_default());
    }
    names.extend(lines.map(|l| csv_cells(l).get(column).cloned().unwrap_or_default()));
    names
}

/// Checks every name. Ok: the valid names, each once (IAM names are unique
/// regardless of case), in the order given. Err: every invalid entry.
///
/// The list has one name a line: commas are legal in IAM names, and a line
/// like "bad name!" must be reported whole, not half added.
pub fn parse_names(list: &str, csv: &str) -> Result<Vec<IamUserName>, Vec<Invalid>> {
    let listed = list.lines().map(|l| l.trim().to_owned());
    let entries: Vec<String> = listed.chain(csv_names(csv)).filter(|e| !e.trim().is_empty()).collect();
    let mut invalid = Vec::new();
    let mut names: Vec<IamUserName> = Vec::new();
    for entry in entries {
        match IamUserName::parse(entry.trim()) {
            Ok(n) if names.iter().any(|m| m.as_str().eq_ignore_ascii_case(n.as_str())) => {}
            Ok(n) => names.push(n),
            Err(e) => invalid.push(Invalid { reason: e.to_string(), entry }),
        }
    }
    if names.is_empty() && invalid.is_empty() {
        invalid.push(Invalid { entry: String::new(), reason: "No names were given.".into() });
    }
    if names.len() > MAX_NAMES {
        invalid.push(Invalid {
            entry: format!("{} names", names.len()),
            reason: format!("At most {MAX_NAMES} names at once."),
        });
    }
    if invalid.is_empty() { Ok(names) } else { Err(invalid) }
}

/// What happened to one name.
pub enum Outcome {
    Added {
        access_key_id: String,
        link: Secret,
        link_expires_at: i64,
        key_verified: bool,
        attempts: u32,
    },
    /// Nothing was done (e.g. already a teammate).
    Skipped(String),
    /// Provisioning stopped (the teammate is left 'incomplete', with Resume).
    Failed(String),
}

pub struct BulkResult {
    pub name: String,
    pub outcome: Outcome,
}

/// Adds every name, [`CONCURRENCY`] at a time, in the order given.
pub async fn add_all(
    state: &AppState,
    ctx: &AuditContext,
    names: Vec<IamUserName>,
) -> Result<Vec<BulkResult>, AppError> {
    let event = Event::success(AuditAction::BulkAddRequested, None).with_detail(serde_json::json!({
        "count": names.len(),
        "names": names.iter().map(IamUserName::as_str).collect::<Vec<_>>(),
    }));
    db::audit::record_alone(&state.db, ctx, event, state.now()).await?;
    use futures_util::StreamExt as _;
    Ok(futures_util::stream::iter(names)
        .map(|name| async move {
            let outcome = add_with_backoff(state, ctx, &name).await;
            BulkResult { name: name.to_string(), outcome }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await)
}

async fn add_with_backoff(state: &AppState, ctx: &AuditContext, name: &IamUserName) -> Outcome {
    let mut delay = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match provision::add_teammate(state, ctx, name).await {
            Ok(p) => {
                return Outcome::Added {
                    access_key_id: p.access_key_id,
                    link: p.link,
                    link_expires_at: p.link_expires_at,
                    key_verified: p.key_verified,
                    attempts: attempt,
                };
            }
            Err(AppError::Conflict(m)) => return Outcome::Skipped(m),
            Err(e) if attempt <= RETRIES && iam_error(&e).is_some_and(|i| i.is_transient()) => {
                tracing::info!(teammate = %name, attempt, delay_ms = delay.as_millis() as u64, "transient IAM error: backing off");
                tokio::time::sleep(jitter(delay)).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Outcome::Failed(e.public_message()),
        }
    }
}

/// `delay` plus up to half of it again, so parallel retries spread out.
fn jitter(delay: Duration) -> Duration {
    let random = crate::crypto::random_bytes::<2>().map(u16::from_le_bytes).unwrap_or(0);
    delay + delay.mul_f64(f64::from(random) / f64::from(u16::MAX) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &str, csv: &str) -> Vec<String> {
        parse_names(list, csv).unwrap().iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_list_has_one_name_a_line_and_a_line_is_never_split() {
        assert_eq!(names("alice\n  bob \r\n\ncarol,x@y\n", ""), ["alice", "bob", "carol,x@y"]);
        let err = parse_names("bad name!\ndave", "").unwrap_err();
        assert_eq!(err.iter().map(|i| i.entry.as_str()).collect::<Vec<_>>(), ["bad name!"], "reported whole");
    }

    #[test]
    fn a_csv_gives_its_name_column_with_or_without_a_header() {
        assert_eq!(names("", "alice\nbob\n"), ["alice", "bob"]);
        assert_eq!(names("", "\u{feff}Email,Name\r\na@x.org,alice\n\"b,x@y\",\"bob\"\n"), ["alice", "bob"]);
        assert_eq!(names("", "username\ncarol\n\n"), ["carol"]);
        assert_eq!(names("", "dave,dave@example.org\nerin,erin@example.org"), ["dave", "erin"]);
    }

    #[test]
    fn names_are_kept_once_whatever_their_case() {
        assert_eq!(names("alice\nAlice\nbob", "ALICE"), ["alice", "bob"]);
    }

    #[test]
    fn every_invalid_entry_is_reported_and_nothing_passes() {
        let err = parse_names("alice\nbad/name", "\"with space\"\nélise").unwrap_err();
        let entries: Vec<&str> = err.iter().map(|i| i.entry.as_str()).collect();
        assert_eq!(entries, ["bad/name", "with space", "élise"]);
        assert!(err.iter().all(|i| !i.reason.is_empty()));
        assert!(parse_names(" \n ", "").is_err(), "no names at all is an error too");
    }
}
