//! Benchmark helper (bench/links.sh, bench/audit.sh): fills a portal
//! database through the portal's own code paths, before the portal starts.
//!
//! * `bench_seed audit N` appends N audit events with `db::audit::record`
//!   (the function every handler uses, so every row is hash-chained exactly
//!   as in production; `egx-portal audit verify` checks them afterwards),
//!   10,000 per `BEGIN IMMEDIATE` transaction, with a realistic mix of
//!   actors, actions, targets, addresses and details spread over a year.
//! * `bench_seed links N OUT` stores N one-time links for teammate
//!   `bench-links` (sealed with `crypto::seal_link_payload`, stored with
//!   `db::secret_links::insert`) and writes `ID KEY_CHECK`, one link a line,
//!   to OUT (the check is what a browser holding the link's key sends).
//!
//! The database is the one `EGX_DATA_DIR` names (as for `egx-portal`).

use anyhow::Context as _;
use egx_portal::clock::Timestamp;
use egx_portal::config::Config;
use egx_portal::db::audit::{AuditContext, Event};
use egx_portal::domain::AuditAction;
use egx_portal::{crypto, db};

const BATCH: u64 = 10_000;

fn now() -> Timestamp {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn audit(pool: &sqlx::SqlitePool, n: u64) -> anyhow::Result<()> {
    let actors: Vec<String> =
        (0..50).map(|i| format!("teammate-{i:02}")).chain(["owner".into(), "anonymous".into()]).collect();
    let agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        "aws-cli/1.36.0 Python/3.11.2 Linux/6.1.0",
    ];
    let end = now();
    let start = end - 365 * 86_400;
    let started = std::time::Instant::now();
    let mut written = 0u64;
    while written < n {
        let mut tx = db::begin_immediate(pool).await?;
        let upto = (written + BATCH).min(n);
        for i in written..upto {
            let at = start + i64::try_from(i * 365 * 86_400 / n.max(1))?;
            let actor = &actors[usize::try_from(i % actors.len() as u64)?];
            let action = AuditAction::ALL[usize::try_from(i * 7 % AuditAction::ALL.len() as u64)?];
            let target = format!("batch/exports/{actor}/day-{:03}/part-{i}.csv.gz", i % 365);
            let ctx = AuditContext {
                actor: actor.clone(),
                ip: Some(format!("10.{}.{}.{}", i % 200, i / 200 % 250, i % 250 + 1)),
                user_agent: Some(agents[usize::try_from(i % 3)?].to_owned()),
            };
            let mut event = if i % 23 == 0 {
                Event::failure(action, target.as_str())
            } else {
                Event::success(action, target.as_str())
            };
            event = event.with_detail(serde_json::json!({ "upload_id": i, "size": i * 4096 % 999_999_937 }));
            db::audit::record(&mut tx, &ctx, event, at).await?;
        }
        tx.commit().await?;
        written = upto;
        if written.is_multiple_of(100_000) || written == n {
            eprintln!("audit: {written} rows in {:.1} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

async fn links(pool: &sqlx::SqlitePool, n: u64, out: &str) -> anyhow::Result<()> {
    let created = now();
    let mut conn = pool.acquire().await?;
    let teammate = db::teammates::ensure(&mut *conn, "bench-links", created).await?;
    drop(conn);
    let mut ids = String::new();
    let mut tx = db::begin_immediate(pool).await?;
    for i in 0..n {
        let id = crypto::new_public_id()?;
        // A payload of the real one's size: key id, secret, region, bucket, enrolment token.
        let plain = serde_json::json!({
            "access_key_id": format!("AKIABENCH{i:011}"), "secret_access_key": "x".repeat(40),
            "region": "us-east-1", "bucket": "egx-bench", "enrol_token": "y".repeat(43),
        });
        let sealed = crypto::seal_link_payload(&id, plain.to_string().as_bytes())?;
        let link = db::secret_links::NewLink {
            id: &id,
            teammate_id: teammate,
            access_key_id: None,
            payload: &sealed.stored,
            enrol_token_digest: &crypto::digest(&format!("bench-enrol-{i}")),
            key_check: &sealed.key_check,
            created_at: created,
            expires_at: created + 72 * 3600,
        };
        db::secret_links::insert(&mut *tx, &link).await?;
        // The browser proves it holds the key with this check (crypto::link_key_check).
        ids.push_str(&format!("{id} {}\n", sealed.key_check));
    }
    tx.commit().await?;
    std::fs::write(out, ids).with_context(|| format!("writing {out}"))?;
    eprintln!("links: {n} written to {out}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = Config::from_env().context("EGX_* settings")?;
    let pool = db::connect(&config.database_path()).await?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["audit", n] => audit(&pool, n.parse()?).await?,
        ["links", n, out] => links(&pool, n.parse()?, out).await?,
        _ => anyhow::bail!("usage: bench_seed audit N | bench_seed links N OUT"),
    }
    pool.close().await;
    Ok(())
}
