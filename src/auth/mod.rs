//! Who is asking: passwords, sessions, CSRF, login throttling.

pub mod device;
pub mod owner;
pub mod password;
pub mod session;
pub mod throttle;
pub mod totp;

pub use session::{AuthSession, Role};

/// The values of every cookie called `name` the request carries (a browser
/// may send a name twice: for different paths, or planted by another site).
pub fn cookie_values<'a>(headers: &'a axum::http::HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}
