//! egx-portal: give teammates upload-only access to one S3 bucket, safely.
//!
//! A short tour, in the order a request meets the code:
//!
//! * [`config`]: typed configuration from `EGX_*` environment variables,
//!   validated once at start-up with messages that name the variable.
//! * [`app`]: [`app::App::build`] binds the listener and assembles the router;
//!   tests start the very same `App` on `127.0.0.1:0`.
//! * [`web`]: **the routing table** (public, teammate and owner groups) and one
//!   module per area of the site.
//! * [`auth`]: passwords (argon2id), server-side sessions, CSRF, and the
//!   `Owner` / `Teammate` extractors that guard the route groups.
//! * [`aws`]: the IAM provisioning steps and S3 presigning.
//! * [`provision`] and [`lifecycle`]: adding a teammate, then keys, rotation,
//!   links, removal, adoption, bulk add — for the pages and [`teammate_cli`].
//! * [`db`]: one module per table, small named query functions.
//! * [`domain`]: parse-don't-validate types (IAM user names, object keys, …).
//! * [`crypto`]: the only place that makes tokens, digests and link ciphertexts.
//! * [`error`]: the one error type that reaches a user; internals are logged.
//! * [`metrics`]: Prometheus counters (kept in `AppState`) for the metrics listener.
//! * [`backup`]: the online SQLite backup behind `egx-portal backup`.

pub mod app;
pub mod auth;
pub mod aws;
pub mod backup;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod lifecycle;
pub mod metrics;
pub mod provision;
pub mod state;
pub mod teammate_cli;
pub mod uploads;
pub mod web;
