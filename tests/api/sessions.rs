//! Sessions: survive a restart, end when idle or too old, and the owner's
//! idle limit is the shorter one.

use crate::helpers::*;

#[tokio::test]
async fn sessions_survive_a_portal_restart() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    assert_eq!(app.get("/admin/teammates").await.status(), 200);

    let app = app.restart().await;

    assert_eq!(app.setup_link, None, "an owner exists: no new setup link");
    assert_eq!(app.get("/admin/teammates").await.status(), 200, "still signed in");
}

#[tokio::test]
async fn an_idle_owner_session_ends_after_thirty_minutes() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    app.clock.advance(29 * 60);
    assert_eq!(app.get("/admin/teammates").await.status(), 200, "29 idle minutes: still in");
    app.clock.advance(29 * 60);
    assert_eq!(app.get("/admin/teammates").await.status(), 200, "activity reset the idle timer");
    app.clock.advance(31 * 60);
    let res = app.get("/admin/teammates").await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/login".to_owned()), "30 idle minutes: out");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0, "the expired session is deleted");
}

#[tokio::test]
async fn a_teammate_session_has_a_longer_idle_limit_but_an_absolute_end() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("tia")).await;
    app.clock.advance(45 * 60);
    assert_eq!(teammate.get(app.url("/upload")).send().await.unwrap().status(), 200, "45 idle minutes is fine");
    for _ in 0..14 {
        app.clock.advance(55 * 60);
        teammate.get(app.url("/upload")).send().await.unwrap();
    }
    // 12 h 35 min after sign-in, active all along: the absolute limit (12 h) ended it.
    let res = teammate.get(app.url("/upload")).send().await.unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_tampered_session_cookie_is_just_signed_out() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    for value in ["x", "../../etc/passwd", &"A".repeat(43), &"é".repeat(10), &"B".repeat(5000)] {
        let res = app
            .new_client()
            .get(app.url("/admin/teammates"))
            .header("cookie", format!("egx_session={value}"))
            .send()
            .await
            .unwrap();
        assert_eq!((res.status().as_u16(), location(&res)), (303, "/login".to_owned()), "{value:.20}");
    }
}
