//! `egx-portal teammate …`: the owner's teammate powers from a shell, beside
//! a serving portal or without one. Each subcommand calls the same library
//! function as the page and is audited with actor "cli". One-time links are
//! printed on standard output (they are meant for the operator), never logged.
//!
//! Exit codes: 0 done; 1 the change was refused or AWS failed (the message
//! says what and what to do); 2 bad usage (an invalid or unknown name, a
//! destructive command without `--yes`).

use std::io::Write;

use clap::Subcommand;

use crate::clock::format_utc;
use crate::db::audit::AuditContext;
use crate::domain::IamUserName;
use crate::domain::teammate::age;
use crate::error::AppError;
use crate::lifecycle::keys::KeyChange;
use crate::lifecycle::overview::{self, Keys, TeammateOverview};
use crate::lifecycle::{accounts, adopt, bulk, keys, links, removal, rotation};
use crate::provision;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum TeammateCommand {
    /// Add a teammate (or resume adding one that stopped): IAM user, policy, key, one-time link.
    Add { name: String },
    /// Add many teammates: names as arguments and/or from a file (a list, or CSV with a column
    /// of names; `-` reads standard input). All names are checked before anyone is added.
    BulkAdd {
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        names: Vec<String>,
    },
    /// List teammates with their status, portal account and keys (from IAM, with flags).
    List,
    /// Show one teammate: keys, rotations, links.
    Show { name: String },
    /// Rotate the teammate's key: a new key in a new one-time link; the old key stays active
    /// until the new one is used or the rotation is confirmed.
    Rotate { name: String },
    /// Confirm the teammate has the new key: the old key is deactivated now (deleted after the grace period).
    ConfirmRotation { name: String },
    /// Cancel an open rotation: the new key is deleted, its link revoked.
    CancelRotation {
        name: String,
        #[arg(long)]
        yes: bool,
    },
    /// Deactivate one of the teammate's keys (links still carrying it unrevealed are revoked).
    DeactivateKey { name: String, key_id: String },
    /// Reactivate one of the teammate's keys.
    ReactivateKey { name: String, key_id: String },
    /// Delete one of the teammate's keys.
    DeleteKey {
        name: String,
        key_id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Issue a new link: for a key this is a rotation (no plaintext is kept to send again);
    /// with --account-only, a link that only sets the portal password.
    ReissueLink {
        name: String,
        #[arg(long)]
        account_only: bool,
    },
    /// Revoke one of the teammate's open links.
    RevokeLink { name: String, link_id: String },
    /// Disable the teammate's portal account (sessions end; IAM untouched).
    Disable { name: String },
    /// Enable the teammate's portal account again.
    Enable { name: String },
    /// Remove the teammate: everything IAM requires, then the IAM user; sessions and links end.
    /// Run it again to finish a removal that stopped.
    Remove {
        name: String,
        #[arg(long)]
        yes: bool,
    },
    /// Without names: list IAM users that carry the portal's policy but are unknown to it.
    /// With names: adopt them.
    Adopt { names: Vec<String> },
    /// Move open key rotations on now (`serve` does this every few minutes).
    AdvanceRotations,
}

/// Runs one subcommand: results to `out`, problems to `err`; returns the
/// process exit code.
pub async fn run(
    state: &AppState,
    command: TeammateCommand,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<u8> {
    let ctx = AuditContext::system("cli");
    match execute(state, &ctx, command, out, err).await {
        Ok(()) => Ok(0),
        Err(Failure::Usage(message)) => {
            writeln!(err, "error: {message}")?;
            Ok(2)
        }
        Err(Failure::App(AppError::NotFound)) => {
            writeln!(err, "error: no such teammate, key or link")?;
            Ok(2)
        }
        Err(Failure::App(e @ (AppError::Internal(_) | AppError::Forbidden))) => Err(anyhow::anyhow!("{e}")),
        Err(Failure::App(e)) => {
            if let AppError::Upstream(_, source) = &e {
                tracing::warn!(error = format!("{source:#}"), "teammate command failed upstream");
            }
            writeln!(err, "error: {}", e.public_message())?;
            Ok(1)
        }
        Err(Failure::Io(e)) => Err(e.into()),
    }
}

enum Failure {
    Usage(String),
    App(AppError),
    Io(std::io::Error),
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::App(e.into())
    }
}

fn parse(name: &str) -> Result<IamUserName, Failure> {
    IamUserName::parse(name).map_err(|e| Failure::Usage(format!("{name:?}: {e}")))
}

fn require_yes(yes: bool, what: &str) -> Result<(), Failure> {
    if yes { Ok(()) } else { Err(Failure::Usage(format!("{what} cannot be undone: add --yes to go ahead"))) }
}

async fn execute(
    state: &AppState,
    ctx: &AuditContext,
    command: TeammateCommand,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<(), Failure> {
    match command {
        TeammateCommand::Add { name } => {
            let done = provision::add_teammate(state, ctx, &parse(&name)?).await?;
            if let Some(step) = &done.resumed_after {
                writeln!(out, "resumed after step {step}")?;
            }
            print_link(out, &done.username, Some(&done.access_key_id), done.link.expose(), done.link_expires_at)?;
            if !done.key_verified {
                writeln!(err, "note: AWS had not confirmed the key yet; it may need a few more seconds")?;
            }
        }
        TeammateCommand::BulkAdd { file, names } => {
            let csv = match file {
                None => String::new(),
                Some(path) if path.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())?,
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?,
            };
            let valid = match bulk::parse_names(&names.join("\n"), &csv) {
                Ok(v) => v,
                Err(invalid) => {
                    for i in &invalid {
                        writeln!(err, "invalid: {:?}: {}", i.entry, i.reason)?;
                    }
                    return Err(Failure::Usage(format!("{} invalid name(s); nobody was added", invalid.len())));
                }
            };
            let mut failed = 0;
            for r in bulk::add_all(state, ctx, valid).await? {
                match r.outcome {
                    bulk::Outcome::Added { access_key_id, link, .. } => {
                        writeln!(out, "{}\tadded\t{access_key_id}\t{}", r.name, link.expose())?
                    }
                    bulk::Outcome::Skipped(why) => writeln!(out, "{}\tskipped\t{why}", r.name)?,
                    bulk::Outcome::Failed(why) => {
                        failed += 1;
                        writeln!(out, "{}\tfailed\t{why}", r.name)?
                    }
                }
            }
            if failed > 0 {
                return Err(Failure::App(AppError::Conflict(format!(
                    "{failed} teammate(s) failed; they are left incomplete: `egx-portal teammate add NAME` resumes"
                ))));
            }
        }
        TeammateCommand::List => {
            rotation::advance_all(state).await;
            let list = overview::list(state).await?;
            if list.is_empty() {
                writeln!(out, "no teammates yet")?;
            }
            for o in &list {
                print_overview(state, out, o)?;
            }
        }
        TeammateCommand::Show { name } => {
            let d = overview::detail(state, &name).await?;
            print_overview(state, out, &d.overview)?;
            let now = state.now();
            for r in &d.rotations {
                writeln!(
                    out,
                    "  rotation {}: started {}, old {}, new {}, {}",
                    r.id,
                    format_utc(r.started_at),
                    r.old_access_key_id.as_deref().unwrap_or("none"),
                    r.new_access_key_id.as_deref().unwrap_or("none"),
                    match (&r.outcome, r.old_deactivated_at) {
                        (Some(outcome), _) => outcome.clone(),
                        (None, Some(at)) => format!("old key deactivated {}", format_utc(at)),
                        (None, None) if r.link_id.is_some() => "waiting for the new key to be used".to_owned(),
                        (None, None) => "stopped before its link: rotate again".to_owned(),
                    }
                )?;
            }
            for l in &d.links {
                writeln!(
                    out,
                    "  link {}: {}, created {}, expires {}, {}",
                    l.id,
                    l.access_key_id.as_deref().map(|k| format!("key {k}")).unwrap_or_else(|| "account only".into()),
                    format_utc(l.created_at),
                    format_utc(l.expires_at),
                    l.state(now)
                )?;
            }
        }
        TeammateCommand::Rotate { name } => print_rotation(out, rotation::start(state, ctx, &name).await?)?,
        TeammateCommand::ReissueLink { name, account_only: false } => {
            print_rotation(out, rotation::reissue(state, ctx, &name).await?)?
        }
        TeammateCommand::ReissueLink { name, account_only: true } => {
            let link = links::issue_account_link(state, ctx, &name).await?;
            print_link(out, &name, None, link.url.expose(), link.expires_at)?;
        }
        TeammateCommand::ConfirmRotation { name } => {
            rotation::confirm(state, ctx, &name).await?;
            writeln!(out, "confirmed: {name}'s old key is deactivated")?;
        }
        TeammateCommand::CancelRotation { name, yes } => {
            require_yes(yes, "cancelling a rotation deletes its new key, which")?;
            rotation::cancel(state, ctx, &name).await?;
            writeln!(out, "cancelled: the new key was deleted and its link revoked")?;
        }
        TeammateCommand::DeactivateKey { name, key_id } => {
            keys::change(state, ctx, &name, &key_id, KeyChange::Deactivate).await?;
            writeln!(out, "deactivated {key_id}")?;
        }
        TeammateCommand::ReactivateKey { name, key_id } => {
            keys::change(state, ctx, &name, &key_id, KeyChange::Reactivate).await?;
            writeln!(out, "reactivated {key_id}")?;
        }
        TeammateCommand::DeleteKey { name, key_id, yes } => {
            require_yes(yes, "deleting a key")?;
            keys::change(state, ctx, &name, &key_id, KeyChange::Delete).await?;
            writeln!(out, "deleted {key_id}")?;
        }
        TeammateCommand::RevokeLink { name, link_id } => {
            links::revoke(state, ctx, &name, &link_id).await?;
            writeln!(out, "revoked link {link_id}")?;
        }
        TeammateCommand::Disable { name } => {
            let ended = accounts::set_enabled(state, ctx, &name, false).await?;
            writeln!(out, "disabled {name}'s portal account; {ended} session(s) ended; IAM untouched")?;
        }
        TeammateCommand::Enable { name } => {
            accounts::set_enabled(state, ctx, &name, true).await?;
            writeln!(out, "enabled {name}'s portal account")?;
        }
        TeammateCommand::Remove { name, yes } => {
            require_yes(yes, "removing a teammate")?;
            let report = removal::remove(state, ctx, &name).await?;
            if report.already_removed {
                writeln!(out, "{name} was already removed")?;
            } else {
                for item in &report.removed {
                    writeln!(out, "removed {:?} {}", item.kind, item.id)?;
                }
                writeln!(
                    out,
                    "{name} removed ({} session(s) ended, {} link(s) revoked)",
                    report.sessions_ended, report.links_revoked
                )?;
            }
        }
        TeammateCommand::Adopt { names } if names.is_empty() => match adopt::candidates(state).await? {
            None => writeln!(out, "the portal's policy does not exist yet: nobody carries it")?,
            Some(list) if list.is_empty() => {
                writeln!(out, "every user with the portal's policy is already a teammate")?
            }
            Some(list) => {
                for c in list {
                    writeln!(
                        out,
                        "{}\tcreated {}\tkeys {}\ttagged {}",
                        c.name,
                        c.created_at.map(format_utc).unwrap_or_else(|| "?".into()),
                        c.keys.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
                        c.tagged.map(|t| if t { "yes" } else { "no" }).unwrap_or("?")
                    )?;
                }
            }
        },
        TeammateCommand::Adopt { names } => {
            let parsed = names.iter().map(|n| parse(n)).collect::<Result<Vec<_>, _>>()?;
            for name in parsed {
                let done = adopt::adopt(state, ctx, &name).await?;
                writeln!(out, "adopted {} with key(s) [{}]", done.name, done.keys.join(", "))?;
            }
        }
        TeammateCommand::AdvanceRotations => {
            let changed = rotation::advance_all(state).await;
            writeln!(out, "{changed} rotation(s) moved on")?;
        }
    }
    Ok(())
}

fn print_link(out: &mut impl Write, name: &str, key: Option<&str>, link: &str, expires_at: i64) -> std::io::Result<()> {
    match key {
        Some(k) => writeln!(out, "{name}: access key {k}")?,
        None => writeln!(out, "{name}: portal-account link (no key)")?,
    }
    writeln!(out, "one-time link (shown once, works once, until {}):", format_utc(expires_at))?;
    writeln!(out, "{link}")
}

fn print_rotation(out: &mut impl Write, r: rotation::RotationStarted) -> std::io::Result<()> {
    for (id, why) in &r.deleted_first {
        writeln!(out, "deleted key {id} first: {why}")?;
    }
    match &r.old_access_key_id {
        Some(old) => {
            writeln!(out, "old key {old} stays active until the new key is used or the rotation is confirmed")?
        }
        None => writeln!(out, "there was no active key to replace")?,
    }
    print_link(out, &r.username, Some(&r.new_access_key_id), r.link.expose(), r.link_expires_at)?;
    if !r.key_verified {
        writeln!(out, "note: AWS had not confirmed the key yet; it may need a few more seconds")?;
    }
    Ok(())
}

fn print_overview(state: &AppState, out: &mut impl Write, o: &TeammateOverview) -> std::io::Result<()> {
    let t = &o.teammate;
    let account = match (t.account_disabled_at.is_some(), t.has_password) {
        (true, _) => "account disabled",
        (false, true) => "password set",
        (false, false) => "not enrolled",
    };
    let detail = match (&t.last_error, &t.removal_error) {
        (_, Some(e)) => format!(" (removal stopped at {e})"),
        (Some(e), _) if o.status.as_str() == "incomplete" => format!(" (stopped at {e})"),
        _ => String::new(),
    };
    writeln!(
        out,
        "{}\t{}{detail}\t{account}\tpending links {}\tlast upload {}",
        t.iam_user_name,
        o.status,
        o.pending_links,
        o.last_upload_at.map(format_utc).unwrap_or_else(|| "never".into())
    )?;
    let now = state.now();
    match &o.keys {
        Keys::NotApplicable => {}
        Keys::Unavailable(kind) => writeln!(out, "  keys: IAM unavailable ({kind})")?,
        Keys::Listed(keys) if keys.is_empty() => writeln!(out, "  keys: none")?,
        Keys::Listed(keys) => {
            for k in keys {
                let flags: Vec<String> = k.flags.iter().map(ToString::to_string).collect();
                writeln!(
                    out,
                    "  key {} {} age {} last used {}{}{}",
                    k.access_key_id,
                    if k.active { "Active" } else { "Inactive" },
                    age(k.created_at, now),
                    k.last_used
                        .as_ref()
                        .map(|(at, s)| format!("{} ({s})", format_utc(*at)))
                        .unwrap_or_else(|| "never".into()),
                    k.rotation_role.map(|r| format!(" [{r} key of a rotation]")).unwrap_or_default(),
                    if flags.is_empty() { String::new() } else { format!(" FLAGS: {}", flags.join(", ")) }
                )?;
            }
        }
    }
    Ok(())
}
