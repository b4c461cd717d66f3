//! Owner-only pages (the routing table guards the whole `/admin` group).

pub mod adopt;
pub mod audit;
pub mod bulk;
pub mod doctor;
pub mod security;
pub mod teammates;
pub mod uploads;
