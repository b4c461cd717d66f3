//! egx-portal's command line: wiring only. Everything it runs lives in the
//! library, where the tests run it too.

use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use egx_portal::app::{App, Overrides};
use egx_portal::auth::owner::{self, OwnerError};
use egx_portal::config::{Config, LogFormat};
use egx_portal::crypto::Secret;
use egx_portal::db;
use egx_portal::db::audit::AuditContext;

#[derive(Parser)]
#[command(name = "egx-portal", version, about = "Give teammates upload-only access to one S3 bucket, safely.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web portal (configured by EGX_* environment variables).
    Serve,
    /// Manage the owner account.
    Owner {
        #[command(subcommand)]
        command: OwnerCommand,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Check that the bucket is ready for browser uploads (region, CORS,
    /// lifecycle, checksums); with --fix, show and then apply the missing settings.
    Doctor {
        #[arg(long)]
        fix: bool,
    },
    /// Abort teammates' multipart uploads idle for EGX_STALE_UPLOAD_HOURS (one sweep; `serve` runs it hourly).
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
    /// Exit 0 if the portal on EGX_LISTEN answers /healthz (for container health checks).
    Healthcheck,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exits 1 and names each edited, removed or reordered row.
    Verify,
    /// Write every event (newest first) to standard output.
    Export {
        /// csv or jsonl
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

#[derive(Subcommand)]
enum OwnerCommand {
    /// Create the owner account; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("egx-portal: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    match run(cli.command, config).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("egx-portal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            let app = App::build(config, Overrides::default()).await?;
            tracing::info!(address = %app.local_addr()?, "egx-portal listening");
            app.run_until(shutdown_signal(), Duration::from_secs(20)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck => {
            Ok(if egx_portal::app::healthcheck(config.listen).await { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let pool = db::connect(&config.database_path()).await?;
            let (checked, problems) = db::audit::verify(&pool).await?;
            pool.close().await;
            if problems.is_empty() {
                println!("audit log intact: {checked} events verified");
                return Ok(ExitCode::SUCCESS);
            }
            for p in &problems {
                println!("PROBLEM: {p}");
            }
            println!("audit log damaged: {} problem(s) in {checked} events", problems.len());
            Ok(ExitCode::FAILURE)
        }
        Command::Audit { command: AuditCommand::Export { format } } => {
            use std::io::Write as _;
            let csv = match format.as_str() {
                "csv" => true,
                "jsonl" => false,
                other => {
                    eprintln!("egx-portal: --format is csv or jsonl, not {other:?}");
                    return Ok(ExitCode::from(2));
                }
            };
            let pool = db::connect(&config.database_path()).await?;
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let pool = db::connect(&config.database_path()).await?;
            pool.close().await;
            println!("database is up to date: {}", config.database_path().display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { fix } => {
            let mut out = std::io::stdout().lock();
            let ok = egx_portal::doctor::cli(&config, fix, &mut out).await?;
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::SweepUploads => {
            // No listener: this runs beside a serving portal.
            let state = egx_portal::state::AppState::offline(config).await?;
            let aborted = egx_portal::uploads::sweep_stale(&state, state.now()).await?;
            println!("aborted {aborted} stale multipart upload(s)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Teammate { command } => {
            // No listener: this runs beside a serving portal (or without one).
            let state = egx_portal::state::AppState::offline(config).await?;
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            let code = egx_portal::teammate_cli::run(&state, command, &mut out, &mut err).await?;
            state.db.close().await;
            Ok(ExitCode::from(code))
        }
        Command::Owner { command: OwnerCommand::Create { username } } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = Secret::new(password.trim_end_matches(['\r', '\n']));
            let app = App::build(config, Overrides::default()).await?;
            let ctx = AuditContext::system("cli");
            match owner::create_owner(app.state(), &ctx, &username, password.clone(), password, None).await {
                Ok(_) => {
                    println!("owner {username} created");
                    Ok(ExitCode::SUCCESS)
                }
                Err(OwnerError::Invalid(message)) => {
                    eprintln!("egx-portal: {message}");
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(anyhow::anyhow!("{e}")),
            }
        }
    }
}
