//! Owner two-factor authentication: offered at set-up, TOTP codes once
//! each, recovery codes once each, and a password alone no longer signs in.

use egx_portal::auth::totp;

use crate::helpers::*;

fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in s.chars() {
        buffer = (buffer << 5) | ALPHABET.find(c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Turns two-factor on for the signed-in owner; returns (secret, recovery codes).
async fn enable(app: &TestApp) -> (Vec<u8>, Vec<String>) {
    let csrf = app.csrf(&app.client, "/admin/security").await;
    let res = app.post_form("/admin/security/totp/start", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let secret = base32_decode(&text_of(&html, "#totp-secret"));
    assert_eq!(secret.len(), 20);
    assert!(text_of(&html, "#totp-uri").starts_with("otpauth://totp/egx-portal%3Aowner?secret="));
    let doc = scraper::Html::parse_document(&html);
    let qr = doc.select(&scraper::Selector::parse("img#totp-qr").unwrap()).next().expect("a QR code to scan");
    assert!(qr.value().attr("src").unwrap().starts_with("data:image/svg+xml;base64,"), "an image the CSP allows");

    let wrong = app.post_form("/admin/security/totp/confirm", &[("csrf_token", &csrf), ("code", "000000")]).await;
    assert_eq!(wrong.status(), 400);
    let code = totp::code_at(&secret, totp::step_at(app.state.now())).unwrap();
    let res = app.post_form("/admin/security/totp/confirm", &[("csrf_token", &csrf), ("code", &code)]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("#recovery-codes li code").unwrap();
    let codes: Vec<String> = doc.select(&sel).map(|e| e.text().collect()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn sign_out_and_in(app: &TestApp) -> reqwest::Response {
    let csrf = app.csrf(&app.client, "/admin/security").await;
    app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    app.login(&app.client, OWNER, OWNER_PASSWORD).await
}

#[tokio::test]
async fn two_factor_is_offered_right_after_setup() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let html = app.get("/admin/security?welcome=1").await.text().await.unwrap();
    assert!(has(&html, "#start-two-factor"));
    assert!(has(&html, "#skip-two-factor"));
    assert!(has(&html, "#two-factor-off"));
}

#[tokio::test]
async fn with_two_factor_on_a_password_alone_does_not_sign_in_and_each_code_works_once() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (secret, _) = enable(&app).await;
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("SELECT totp_secret FROM accounts WHERE role = 'owner'").fetch_one(&app.state.db).await.unwrap();
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()), "stored sealed, not raw");

    let res = sign_out_and_in(&app).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/login/2fa".to_owned()));
    assert_eq!(app.get("/admin/teammates").await.status(), 303, "no session yet");

    // The code used to turn it on cannot be used again (same time step).
    let used = totp::code_at(&secret, totp::step_at(app.state.now())).unwrap();
    let res = app.post_form("/login/2fa", &[("code", &used)]).await;
    assert_eq!(res.status(), 401);

    app.clock.advance(30);
    let fresh = totp::code_at(&secret, totp::step_at(app.state.now())).unwrap();
    let res = app.post_form("/login/2fa", &[("code", &fresh)]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/teammates".to_owned()));
    assert_eq!(app.get("/admin/teammates").await.status(), 200);
    let audit = app.audit().await;
    assert!(audit.iter().any(|(a, o, _)| a == "two_factor.enabled" && o == "success"));
    assert!(audit.iter().any(|(a, o, _)| a == "login.failed" && o == "failure"));
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (_, codes) = enable(&app).await;

    sign_out_and_in(&app).await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let res = app.post_form("/login/2fa", &[("code", &typed)]).await;
    assert_eq!(res.status(), 303, "case and separators do not matter");

    let res = sign_out_and_in(&app).await;
    assert_eq!(location(&res), "/login/2fa");
    let res = app.post_form("/login/2fa", &[("code", &codes[0])]).await;
    assert_eq!(res.status(), 401, "a recovery code works once");
    assert!(app.audit_actions().await.iter().any(|a| a == "two_factor.recovery_code_used"));
}

#[tokio::test]
async fn five_wrong_codes_end_the_sign_in_attempt() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (secret, _) = enable(&app).await;
    sign_out_and_in(&app).await;
    for _ in 0..5 {
        assert_eq!(app.post_form("/login/2fa", &[("code", "123456")]).await.status(), 401);
    }
    app.clock.advance(30);
    let good = totp::code_at(&secret, totp::step_at(app.state.now())).unwrap();
    let res = app.post_form("/login/2fa", &[("code", &good)]).await;
    assert_eq!(res.status(), 401, "the challenge is spent: start again with the password");
    assert_eq!(app.get("/admin/teammates").await.status(), 303);
}

#[tokio::test]
async fn turning_two_factor_off_needs_the_password_and_a_code() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (secret, _) = enable(&app).await;
    app.clock.advance(30);
    let code = totp::code_at(&secret, totp::step_at(app.state.now())).unwrap();
    let csrf = app.csrf(&app.client, "/admin/security").await;

    let res = app
        .post_form(
            "/admin/security/totp/disable",
            &[("csrf_token", &csrf), ("password", "wrong-password"), ("code", &code)],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .post_form(
            "/admin/security/totp/disable",
            &[("csrf_token", &csrf), ("password", OWNER_PASSWORD), ("code", &code)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE totp_secret IS NOT NULL").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM recovery_codes").await, 0);
    let res = sign_out_and_in(&app).await;
    assert_eq!(location(&res), "/admin/teammates", "password alone again");
}
