//! Benchmark helper (bench/signing.sh): the bare aws-sdk-s3 presign rate, the
//! ceiling the portal's signing endpoints are measured against. It builds the
//! S3 client exactly as the portal does (`AwsClients::build` from the same
//! `EGX_*` settings) and calls the portal's own `presign_put` /
//! `presign_part` in a loop on `--tasks` tasks of a tokio runtime with
//! `--threads` workers, for `--seconds`. No network: presigning is local.
//!
//! ```text
//! EGX_BUCKET=b EGX_REGION=us-east-1 EGX_S3_ENDPOINT=http://127.0.0.1:9 \
//!   cargo run --release --example presign_ceiling -- --threads 2 --seconds 10
//! ```
//! Prints one JSON object per operation on stdout.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_credential_types::Credentials;
use egx_portal::aws::{AwsClients, s3};
use egx_portal::config::Config;
use egx_portal::domain::{BucketName, ObjectKey};

struct Args {
    threads: usize,
    tasks: usize,
    seconds: f64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { threads: 2, tasks: 0, seconds: 10.0 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--threads" => a.threads = value.parse()?,
            "--tasks" => a.tasks = value.parse()?,
            "--seconds" => a.seconds = value.parse()?,
            other => anyhow::bail!("unknown flag {other} (--threads N --tasks N --seconds S)"),
        }
    }
    if a.tasks == 0 {
        a.tasks = a.threads;
    }
    Ok(a)
}

#[derive(Clone, Copy)]
enum Op {
    Put,
    Part,
}

/// Presigns in a loop until `deadline`; returns each call's latency in ns.
async fn run(
    clients: AwsClients,
    bucket: BucketName,
    op: Op,
    task: usize,
    deadline: Instant,
) -> anyhow::Result<Vec<u32>> {
    let ttl = Duration::from_secs(900);
    let mut latencies = Vec::with_capacity(200_000);
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let started = Instant::now();
        match op {
            Op::Put => {
                let key = ObjectKey::build("batch", "bench", &format!("t{task}/file-{n}.csv"))?;
                let marker = n.to_string();
                s3::presign_put(
                    &clients.s3,
                    &bucket,
                    &key,
                    "text/csv",
                    1_048_576,
                    s3::WriteCondition::Absent,
                    &marker,
                    ttl,
                )
                .await?;
            }
            Op::Part => {
                let part = i32::try_from(n % 10_000 + 1)?;
                s3::presign_part(&clients.s3, &bucket, "batch/bench/big.bin", "bench-upload-id", part, 16 << 20, ttl)
                    .await?;
            }
        }
        latencies.push(u32::try_from(started.elapsed().as_nanos()).unwrap_or(u32::MAX));
    }
    Ok(latencies)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let config = Config::from_env().context("EGX_* settings")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(a.threads).enable_all().build()?;
    runtime.block_on(async {
        let credentials = Credentials::new("test", "test", None, None, "bench");
        let clients = AwsClients::build(&config, Some(credentials)).await?;
        for (name, op) in [("presign_put", Op::Put), ("presign_part", Op::Part)] {
            // Warm-up: one second, not counted.
            let warm = Instant::now() + Duration::from_secs(1);
            run(clients.clone(), config.bucket.clone(), op, 0, warm).await?;
            let started = Instant::now();
            let deadline = started + Duration::from_secs_f64(a.seconds);
            let handles: Vec<_> = (0..a.tasks)
                .map(|t| tokio::spawn(run(clients.clone(), config.bucket.clone(), op, t, deadline)))
                .collect();
            let mut all = Vec::new();
            for h in handles {
                all.extend(h.await??);
            }
            let elapsed = started.elapsed().as_secs_f64();
            all.sort_unstable();
            println!(
                "{}",
                serde_json::json!({
                    "op": name, "threads": a.threads, "tasks": a.tasks, "seconds": elapsed,
                    "count": all.len(), "per_sec": all.len() as f64 / elapsed,
                    "p50_us": percentile(&all, 0.50), "p99_us": percentile(&all, 0.99),
                })
            );
        }
        Ok(())
    })
}
