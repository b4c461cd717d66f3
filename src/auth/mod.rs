//! Who is asking: passwords, sessions, CSRF, login throttling.

pub mod device;
pub mod owner;
pub mod password;
pub mod session;
pub mod throttle;
pub mod totp;

pub use session::{AuthSession, Role};
