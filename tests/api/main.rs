//! One integration-test binary. Every test starts the real application on
//! 127.0.0.1:0 with a fresh SQLite file, against real emulators started by
//! `scripts/test.sh` (moto for IAM and policy enforcement, LocalStack for
//! signature-checked S3), and a real headless Chromium for the browser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account;
mod audit;
mod bad_input;
mod browser;
mod bulk;
mod cli;
mod doctor;
mod helpers;
mod journey;
mod lifecycle;
mod links;
mod migrations;
mod multipart;
mod ops;
mod ops_cli;
mod packaging;
mod policy;
mod portal_policy;
mod presign;
mod properties;
mod provisioning;
mod removal;
mod rotation;
mod routes;
mod runbook;
mod secrets;
mod sessions;
mod two_factor;
