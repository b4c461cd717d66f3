//! egx-portal's command line: wiring only. Everything it runs lives in the
//! library, where the tests run it too.
//!
//! Exit codes, the same for every command: 0 success; 1 a check failed or
//! an operation failed (doctor found a problem, the audit chain is damaged,
//! AWS or the database could not be reached, a backup failed, a health
//! check got no 200, migrations are pending under `--check`); 2 a usage or
//! configuration error (bad arguments, a bad `EGX_*` setting, input such as
//! a too-short password). Clap's own usage errors exit 2 as well.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use egx_portal::app::{App, Overrides};
use egx_portal::auth::owner::{self, OwnerError};
use egx_portal::config::{Config, LogFormat};
use egx_portal::crypto::Secret;
use egx_portal::db;
use egx_portal::db::audit::AuditContext;
use egx_portal::state::AppState;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a check or an operation failed (doctor found a problem, the audit chain is damaged,
     AWS or the database could not be reached, a backup failed, the health check got no 200)
  2  usage or configuration error (bad arguments, a bad EGX_* setting, invalid input)

Settings come from EGX_* environment variables and, if EGX_CONFIG_FILE names one, a
KEY=VALUE file (the environment wins). See the README's configuration table.";

#[derive(Parser)]
#[command(
    name = "egx-portal",
    version,
    about = "Give teammates upload-only access to one S3 bucket, safely.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web portal until SIGTERM or Ctrl-C (then drain for EGX_SHUTDOWN_TIMEOUT_SECONDS).
    ///
    /// On first start with no owner, logs a one-time setup link for the owner account.
    Serve,
    /// Manage the owner account (create, reset the password, clear two-factor).
    Owner {
        #[command(subcommand)]
        command: OwnerCommand,
    },
    /// Apply database migrations and exit (serve applies them too).
    ///
    /// Run it before starting a new version to see what changes. Take a backup first.
    Migrate {
        /// Change nothing: list pending migrations and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Check the bucket and the portal's AWS identity: region, CORS, lifecycle rule,
    /// checksum-free presigned URLs, IAM permissions. Exits 1 when something fails.
    Doctor {
        /// Show the missing CORS and lifecycle settings, then apply them (other rules are kept).
        #[arg(long)]
        fix: bool,
        /// Only print the least-privilege IAM policy the portal's own identity needs
        /// (iam/portal_policy.json for EGX_BUCKET) and exit; calls no AWS.
        #[arg(long, conflicts_with = "fix")]
        print_policy: bool,
    },
    /// Abort teammates' multipart uploads idle for EGX_STALE_UPLOAD_HOURS (one sweep; serve runs it hourly).
    SweepUploads,
    /// Manage teammates: add, bulk-add, list, rotate keys, remove, adopt, … (same powers as the pages).
    Teammate {
        #[command(subcommand)]
        command: egx_portal::teammate_cli::TeammateCommand,
    },
    /// Verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy the database to PATH while the portal serves (SQLite VACUUM INTO), then verify the copy.
    ///
    /// The copy is written mode 0600 and never over an existing file; it is checked with
    /// PRAGMA integrity_check, its schema version and its audit chain. The master key file is
    /// not in it: back that up separately.
    Backup {
        /// Where to write the copy (a new file).
        path: PathBuf,
    },
    /// Exit 0 if the portal on EGX_LISTEN answers /healthz with 200 (for container health checks).
    Healthcheck {
        /// Ask /readyz instead (database and AWS reachable).
        #[arg(long)]
        ready: bool,
        /// Ask this address instead of EGX_LISTEN.
        #[arg(long)]
        address: Option<std::net::SocketAddr>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exits 1 and names each edited, removed or reordered row.
    Verify,
    /// Write every event (newest first) to standard output.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Subcommand)]
enum OwnerCommand {
    /// Create the owner account; the password is read from standard input (one line).
    ///
    /// Example: printf '%s\n' "$PASSWORD" | egx-portal owner create --username alice
    Create {
        #[arg(long)]
        username: String,
    },
    /// Set a new owner password, read from standard input (one line); ends every owner session.
    ///
    /// Example: printf '%s\n' "$NEW_PASSWORD" | egx-portal owner reset-password --disable-2fa
    /// Audited as owner.password_reset (and two_factor.disabled with --disable-2fa).
    ResetPassword {
        /// The owner's username (checked when given).
        #[arg(long)]
        username: Option<String>,
        /// Also clear the owner's two-factor secret and recovery codes (lost phone and codes).
        #[arg(long)]
        disable_2fa: bool,
    },
    /// Clear the owner's two-factor secret and recovery codes (the password stays); ends every owner session.
    ///
    /// For an owner locked out by a lost authenticator and lost recovery codes. Audited as
    /// two_factor.disabled.
    #[command(name = "disable-2fa")]
    Disable2fa {
        /// The owner's username (checked when given).
        #[arg(long)]
        username: Option<String>,
    },
}

fn init_logging(format: LogFormat, filter: Option<&str>) {
    let default = "info,aws_config=warn,aws_smithy_runtime=warn";
    let filter = tracing_subscriber::EnvFilter::try_new(filter.unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: `docker logs` and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutdown signal received");
}

/// A command's result: success, a failed check (1), a usage problem (2),
/// or the exit code a command chose itself (`teammate …`: same meanings).
enum Outcome {
    Ok,
    Failed,
    Usage(String),
    Code(u8),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Healthcheck { ready, address } = cli.command {
        // Needs nothing but the address: no bucket, region or credentials.
        let listen = match address.map(Ok).unwrap_or_else(Config::listen_from_env) {
            Ok(listen) => listen,
            Err(e) => {
                eprintln!("egx-portal: configuration error: {e}");
                return ExitCode::from(2);
            }
        };
        let path = if ready { "/readyz" } else { "/healthz" };
        return if egx_portal::app::healthcheck(listen, path).await {
            ExitCode::SUCCESS
        } else {
            eprintln!("egx-portal: no 200 from http://{listen}{path}");
            ExitCode::FAILURE
        };
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("egx-portal: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format, config.log_filter.as_deref());
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    match run(cli.command, config).await {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::FAILURE,
        Ok(Outcome::Code(code)) => ExitCode::from(code),
        Ok(Outcome::Usage(message)) => {
            eprintln!("egx-portal: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("egx-portal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The one line of standard input a password command reads.
fn password_from_stdin() -> anyhow::Result<Result<Secret, String>> {
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw)?;
    let raw = Secret::new(raw);
    let line = raw.expose().strip_suffix('\n').unwrap_or(raw.expose());
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains('\n') {
        return Ok(Err("standard input must hold one line: the password".to_owned()));
    }
    if line.is_empty() {
        return Ok(Err("no password on standard input (pipe it in: printf '%s\\n' \"$PASSWORD\" | …)".to_owned()));
    }
    Ok(Ok(Secret::new(line)))
}

fn owner_outcome(result: Result<owner::ResetOutcome, OwnerError>) -> anyhow::Result<Outcome> {
    match result {
        Ok(done) => {
            let mut what = Vec::new();
            if done.password_changed {
                what.push("password set".to_owned());
            }
            if done.two_factor_disabled {
                what.push("two-factor cleared".to_owned());
            }
            what.push(format!("{} session(s) ended", done.sessions_ended));
            println!("owner {}: {}", done.username, what.join(", "));
            Ok(Outcome::Ok)
        }
        Err(OwnerError::Invalid(message)) => Ok(Outcome::Usage(message)),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<Outcome> {
    match command {
        Command::Serve => {
            let drain = Duration::from_secs(config.shutdown_timeout_secs);
            let app = App::build(config, Overrides::default()).await?;
            let c = &app.state().config;
            tracing::info!(
                address = %app.local_addr()?,
                public_url = %app.state().origin(),
                bucket = %c.bucket,
                region = %c.region,
                metrics = ?app.metrics_addr(),
                data_dir = %c.data_dir.display(),
                "egx-portal listening"
            );
            app.run_until(shutdown_signal(), drain).await?;
            Ok(Outcome::Ok)
        }
        Command::Healthcheck { .. } => Ok(Outcome::Usage("healthcheck is handled before configuration".into())),
        Command::Audit { command: AuditCommand::Verify } => {
            let pool = db::open_existing(&config.database_path(), true).await?;
            let (checked, problems) = db::audit::verify(&pool).await?;
            pool.close().await;
            if problems.is_empty() {
                println!("audit log intact: {checked} events verified");
                return Ok(Outcome::Ok);
            }
            for p in &problems {
                println!("PROBLEM: {p}");
            }
            println!("audit log damaged: {} problem(s) in {checked} events", problems.len());
            Ok(Outcome::Failed)
        }
        Command::Audit { command: AuditCommand::Export { format } } => {
            use std::io::Write as _;
            let csv = matches!(format, ExportFormat::Csv);
            let pool = db::open_existing(&config.database_path(), true).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if csv {
                out.write_all(egx_portal::web::admin::audit::CSV_HEADER.as_bytes())?;
            }
            let mut filter = db::audit::Filter::default();
            loop {
                let rows = db::audit::list(&pool, &filter, 2000).await?;
                for r in &rows {
                    out.write_all(egx_portal::web::admin::audit::export_line(r, csv).as_bytes())?;
                }
                match rows.last() {
                    Some(last) if rows.len() == 2000 => filter.before_id = Some(last.id),
                    _ => break,
                }
            }
            out.flush()?;
            pool.close().await;
            Ok(Outcome::Ok)
        }
        Command::Migrate { check } => migrate(&config, check).await,
        Command::Backup { path } => {
            let now = egx_portal::clock::Clock::now(&egx_portal::clock::SystemClock);
            let report = egx_portal::backup::run(&config, &path, now).await?;
            println!(
                "backup written to {} ({} bytes): integrity ok, schema version {}, {} audit events with an intact \
                 chain, {} account(s)",
                report.path.display(),
                report.bytes,
                report.schema_version,
                report.audit_events,
                report.accounts
            );
            if let egx_portal::config::MasterKeySource::File(key) = &config.master_key {
                println!(
                    "note: the master key ({}) is not in the backup; keep a copy of it apart from database backups",
                    key.display()
                );
            }
            Ok(Outcome::Ok)
        }
        Command::Doctor { print_policy: true, .. } => {
            print!("{}", egx_portal::aws::permissions::portal_policy(&config.bucket));
            Ok(Outcome::Ok)
        }
        Command::Doctor { fix, .. } => {
            let mut out = std::io::stdout().lock();
            let ok = egx_portal::doctor::cli(&config, fix, &mut out).await?;
            Ok(if ok { Outcome::Ok } else { Outcome::Failed })
        }
        Command::SweepUploads => {
            // No listener: this runs beside a serving portal.
            let state = AppState::offline(config, true).await?;
            let aborted = egx_portal::uploads::sweep_stale(&state, state.now()).await?;
            println!("aborted {aborted} stale multipart upload(s)");
            Ok(Outcome::Ok)
        }
        Command::Teammate { command } => {
            // No listener: this runs beside a serving portal (or without one).
            let state = AppState::offline(config, true).await?;
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            let code = egx_portal::teammate_cli::run(&state, command, &mut out, &mut err).await?;
            state.db.close().await;
            Ok(Outcome::Code(code))
        }
        Command::Owner { command } => {
            let password = match &command {
                OwnerCommand::Create { .. } | OwnerCommand::ResetPassword { .. } => match password_from_stdin()? {
                    Ok(p) => Some(p),
                    Err(message) => return Ok(Outcome::Usage(message)),
                },
                OwnerCommand::Disable2fa { .. } => None,
            };
            // No listener and no AWS: this runs beside a serving portal.
            let state = AppState::offline(config, false).await?;
            let ctx = AuditContext::system("cli");
            match command {
                OwnerCommand::Create { username } => {
                    let password = password.unwrap_or_else(|| Secret::new(""));
                    match owner::create_owner(&state, &ctx, &username, password.clone(), password, None).await {
                        Ok(_) => {
                            println!("owner {username} created");
                            Ok(Outcome::Ok)
                        }
                        Err(OwnerError::Invalid(message)) => Ok(Outcome::Usage(message)),
                        Err(e) => Err(anyhow::anyhow!("{e}")),
                    }
                }
                OwnerCommand::ResetPassword { username, disable_2fa } => {
                    owner_outcome(owner::reset_owner(&state, &ctx, username.as_deref(), password, disable_2fa).await)
                }
                OwnerCommand::Disable2fa { username } => {
                    owner_outcome(owner::reset_owner(&state, &ctx, username.as_deref(), None, true).await)
                }
            }
        }
    }
}

async fn migrate(config: &Config, check: bool) -> anyhow::Result<Outcome> {
    let path = config.database_path();
    let applied = if path.is_file() {
        let pool = db::open_existing(&path, true).await?;
        let applied = db::applied_migrations(&pool).await?;
        pool.close().await;
        applied
    } else {
        Vec::new()
    };
    let pending: Vec<(i64, String)> =
        db::known_migrations().into_iter().filter(|(v, _)| !applied.contains(v)).collect();
    if pending.is_empty() {
        println!("database is up to date: {}", path.display());
        return Ok(Outcome::Ok);
    }
    for (version, description) in &pending {
        println!("{} {version:04} {description}", if check { "pending" } else { "applying" });
    }
    if check {
        return Ok(Outcome::Failed);
    }
    let pool = db::connect(&path).await?;
    pool.close().await;
    println!("database is up to date: {} ({} migration(s) applied)", path.display(), pending.len());
    Ok(Outcome::Ok)
}
