//! Prometheus metrics, in the text exposition format.
//!
//! * Requests (by method, route template and status) and their latency are
//!   counted in memory, in [`Metrics`], which lives in `AppState` (no
//!   globals). Routes are the routing table's templates (`/l/{id}`), never a
//!   concrete path: a path can carry a link id or a token.
//! * Uploads, provisioning steps and every other audited outcome are read at
//!   scrape time from `audit_counts`, which a trigger keeps for every audit
//!   row written (migration 0010): one central place, durable, and nothing
//!   in the handlers has to count.
//!
//! The metrics are served only on their own listener (`EGX_METRICS_LISTEN`,
//! off by default), never on the public one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::SqlitePool;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// What a readiness check last found, for the `egx_ready` gauge.
#[derive(Debug, Clone, Copy, Default)]
pub struct LastReadiness {
    pub database: bool,
    pub aws: bool,
}

/// The in-memory counters.
#[derive(Debug)]
pub struct Metrics {
    started_at_unix: f64,
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    in_flight: AtomicI64,
    readiness: Mutex<Option<LastReadiness>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let started_at_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        Self {
            started_at_unix,
            requests: Mutex::default(),
            latency: Mutex::default(),
            in_flight: AtomicI64::new(0),
            readiness: Mutex::default(),
        }
    }
}

/// Decrements the in-flight gauge when the request ends (even if dropped).
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a request as started; the guard counts it as ended.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut map) = self.latency.lock() {
            map.entry(route.to_owned()).or_default().observe(seconds);
        }
    }

    pub fn set_readiness(&self, readiness: LastReadiness) {
        if let Ok(mut slot) = self.readiness.lock() {
            *slot = Some(readiness);
        }
    }

    /// The whole exposition: in-memory counters, then the audit counters
    /// from the database (a database error is reported as `egx_scrape_error`).
    pub async fn render(&self, db: &SqlitePool) -> String {
        let mut out = String::new();
        self.render_memory(&mut out);
        match crate::db::audit_counts::all(db).await {
            Ok(rows) => render_audit(&rows, &mut out),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: audit counters could not be read");
                family(&mut out, "egx_scrape_error", "gauge", "1 when part of this scrape could not be read.");
                let _ = writeln!(out, "egx_scrape_error 1");
            }
        }
        out
    }

    fn render_memory(&self, out: &mut String) {
        family(out, "egx_build_info", "gauge", "The running version of egx-portal.");
        let _ = writeln!(out, "egx_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        family(out, "egx_process_start_time_seconds", "gauge", "When the process started, in Unix seconds.");
        let _ = writeln!(out, "egx_process_start_time_seconds {}", self.started_at_unix);
        family(out, "egx_http_requests_in_flight", "gauge", "Requests being answered right now.");
        let _ = writeln!(out, "egx_http_requests_in_flight {}", self.in_flight.load(Ordering::Relaxed));

        family(out, "egx_http_requests_total", "counter", "Requests answered, by method, route template and status.");
        if let Ok(map) = self.requests.lock() {
            for ((method, route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "egx_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(method),
                    escape(route)
                );
            }
        }
        family(out, "egx_http_request_duration_seconds", "histogram", "Time to answer a request, by route template.");
        if let Ok(map) = self.latency.lock() {
            for (route, h) in map.iter() {
                let route = escape(route);
                for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(
                        out,
                        "egx_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "egx_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "egx_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "egx_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
        }
        if let Some(ready) = self.readiness.lock().ok().and_then(|r| *r) {
            family(out, "egx_ready", "gauge", "What the last /readyz check found (1 up, 0 down), by component.");
            let _ = writeln!(out, "egx_ready{{component=\"database\"}} {}", u8::from(ready.database));
            let _ = writeln!(out, "egx_ready{{component=\"aws\"}} {}", u8::from(ready.aws));
        }
    }
}

/// Picks the event label of an audit action for one view (`None`: not in it).
type EventOf = fn(&str) -> Option<&str>;

fn render_audit(rows: &[(String, String, i64)], out: &mut String) {
    family(out, "egx_audit_events_total", "counter", "Audited events ever written, by action and outcome.");
    for (action, outcome, n) in rows {
        let _ = writeln!(
            out,
            "egx_audit_events_total{{action=\"{}\",outcome=\"{}\"}} {n}",
            escape(action),
            escape(outcome)
        );
    }
    // Two views of the same counts: uploads by event (`upload.completed` is
    // `completed`), provisioning by full action (`teammate.*` and `iam.*`).
    let views: [(&str, &str, EventOf); 2] = [
        ("egx_uploads_total", "Upload events (audit actions upload.*), by event and outcome.", |a| {
            a.strip_prefix("upload.")
        }),
        (
            "egx_provisioning_total",
            "Teammate provisioning and IAM steps (audit actions teammate.* and iam.*), by event and outcome.",
            |a| (a.starts_with("teammate.") || a.starts_with("iam.")).then_some(a),
        ),
    ];
    for (name, help, event_of) in views {
        family(out, name, "counter", help);
        for (action, outcome, n) in rows {
            if let Some(event) = event_of(action) {
                let _ = writeln!(out, "{name}{{event=\"{}\",outcome=\"{}\"}} {n}", escape(event), escape(outcome));
            }
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value, escaped as the exposition format requires.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_in_every_bucket_at_or_above_it() {
        let mut h = Histogram::default();
        h.observe(0.02);
        h.observe(3.0);
        assert_eq!(h.counts[0], 0, "le=0.005");
        assert_eq!(h.counts[2], 1, "le=0.025 holds 0.02");
        assert_eq!(h.counts[BUCKETS.len() - 1], 2, "le=10 holds both");
        assert_eq!(h.count, 2);
    }

    #[test]
    fn requests_are_rendered_by_route_template_with_escaped_labels() {
        let m = Metrics::default();
        m.observe("GET", "/l/{id}", 200, 0.01);
        m.observe("GET", "/l/{id}", 200, 0.02);
        m.observe("POST", "a\"b", 403, 0.01);
        let mut out = String::new();
        m.render_memory(&mut out);
        assert!(out.lines().any(|l| l == "egx_http_requests_total{method=\"GET\",route=\"/l/{id}\",status=\"200\"} 2"));
        assert!(out.lines().any(|l| l == "egx_http_requests_total{method=\"POST\",route=\"a\\\"b\",status=\"403\"} 1"));
        assert!(out.lines().any(|l| l == "egx_http_request_duration_seconds_count{route=\"/l/{id}\"} 2"));
    }

    #[test]
    fn audit_counts_feed_the_upload_and_provisioning_families() {
        let rows = vec![
            ("iam.user_created".to_owned(), "success".to_owned(), 3),
            ("login.failed".to_owned(), "failure".to_owned(), 5),
            ("upload.completed".to_owned(), "success".to_owned(), 7),
        ];
        let mut out = String::new();
        render_audit(&rows, &mut out);
        assert!(out.lines().any(|l| l == "egx_uploads_total{event=\"completed\",outcome=\"success\"} 7"));
        assert!(out.lines().any(|l| l == "egx_provisioning_total{event=\"iam.user_created\",outcome=\"success\"} 3"));
        assert!(out.lines().any(|l| l == "egx_audit_events_total{action=\"login.failed\",outcome=\"failure\"} 5"));
        assert!(!out.lines().any(|l| l.starts_with("egx_uploads_total{event=\"failed\"")));
    }
}
