//! Changing one's own password: the current one is required, wrong guesses
//! are throttled, and the change ends every other session.

use crate::helpers::*;

const NEW_PASSWORD: &str = "a-brand-new-password";

async fn change(
    app: &TestApp,
    client: &reqwest::Client,
    current: &str,
    new: &str,
    confirm: &str,
) -> (u16, String, bool) {
    let csrf = app.csrf(client, "/account/password").await;
    let res = client
        .post(app.url("/account/password"))
        .form(&[("csrf_token", csrf.as_str()), ("current", current), ("password", new), ("confirm", confirm)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let sets_cookie = res.headers().contains_key("set-cookie");
    (status, res.text().await.unwrap(), sets_cookie)
}

#[tokio::test]
async fn a_teammate_changes_their_password_and_every_other_session_ends() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("pat");
    let (_, pat) = app.onboard(&name).await;
    let laptop = app.new_client();
    assert_eq!(app.login(&laptop, &name, TEAMMATE_PASSWORD).await.status(), 303);

    let (status, html, sets_cookie) = change(&app, &pat, TEAMMATE_PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;

    assert_eq!(status, 200);
    assert!(has(&html, "#password-changed"));
    assert!(sets_cookie, "this browser gets a fresh session");
    assert_eq!(pat.get(app.url("/upload")).send().await.unwrap().status(), 200, "still signed in here");
    assert_eq!(laptop.get(app.url("/upload")).send().await.unwrap().status(), 303, "signed out elsewhere");
    assert_eq!(app.login(&app.new_client(), &name, TEAMMATE_PASSWORD).await.status(), 401);
    assert_eq!(app.login(&app.new_client(), &name, NEW_PASSWORD).await.status(), 303);
    let (outcome, detail): (String, String) = sqlx::query_as(
        "SELECT outcome, detail FROM audit_events WHERE action = 'account.password_changed' ORDER BY id DESC",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(outcome, "success");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&detail).unwrap()["sessions_ended"], 2);
}

#[tokio::test]
async fn a_wrong_current_password_or_a_bad_new_one_changes_nothing() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let hash_before: (String,) = sqlx::query_as("SELECT password_hash FROM accounts WHERE role = 'owner'")
        .fetch_one(&app.state.db)
        .await
        .unwrap();

    let (status, html, _) = change(&app, &app.client, "not-my-password", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!((status, text_of(&html, "#form-error").as_str()), (400, "The current password is not right."));
    let (status, html, _) = change(&app, &app.client, OWNER_PASSWORD, "short", "short").await;
    assert_eq!(status, 400);
    assert_eq!(text_of(&html, "#form-error"), "Choose a password of at least 10 characters.");
    let (status, html, _) = change(&app, &app.client, OWNER_PASSWORD, NEW_PASSWORD, "a-different-password").await;
    assert_eq!((status, text_of(&html, "#form-error").as_str()), (400, "The two passwords do not match."));

    let hash_after: (String,) = sqlx::query_as("SELECT password_hash FROM accounts WHERE role = 'owner'")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(hash_before, hash_after);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1, "the owner's session is untouched");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'account.password_changed' AND outcome = 'failure'"
        )
        .await,
        1,
        "the wrong current password is audited"
    );
    assert_eq!(app.login(&app.new_client(), OWNER, OWNER_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn guessing_the_current_password_is_held_back_like_signing_in() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    for _ in 0..5 {
        let (status, _, _) = change(&app, &app.client, "a-wrong-guess-1", NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(status, 400);
    }

    let (status, html, _) = change(&app, &app.client, OWNER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;

    assert_eq!(status, 429, "even the right password waits");
    assert_eq!(text_of(&html, "#form-error"), "Too many wrong passwords. Wait 30 seconds and try again.");
    app.clock.advance(30);
    let (status, _, _) = change(&app, &app.client, OWNER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn strangers_guessing_from_many_addresses_cannot_lock_the_owner_out_of_a_known_browser() {
    // Behind a trusted proxy, so each request can come "from" another address.
    let app = TestApp::spawn_with(Spawn {
        env: vec![("EGX_TRUSTED_PROXIES", "127.0.0.1".into())],
        ..Spawn::on(Backend::Moto)
    })
    .await;
    app.create_owner().await;
    let login_from = |client: &reqwest::Client, address: &str, password: &str| {
        let req = client
            .post(app.url("/login"))
            .header("x-forwarded-for", address)
            .form(&[("username", OWNER), ("password", password)]);
        async move { req.send().await.unwrap() }
    };
    let owners_browser = app.new_client();
    assert_eq!(login_from(&owners_browser, "10.0.0.1", OWNER_PASSWORD).await.status(), 303);

    // Act: eleven strangers, eleven addresses, one wrong guess each.
    for i in 1..=11 {
        let res = login_from(&app.new_client(), &format!("10.9.0.{i}"), "a-wrong-guess").await;
        assert_eq!(res.status(), 401);
    }

    // Assert: the owner's name is held back for a browser the portal does not know …
    let res = login_from(&app.new_client(), "10.0.0.2", OWNER_PASSWORD).await;
    assert_eq!(res.status(), 429, "guessing from many addresses is slowed down");
    assert_eq!(res.headers()["retry-after"], "30", "gently: a browser the portal does not know waits seconds");
    // … but not for the browser that signed in before, from wherever it is now.
    let res = login_from(&owners_browser, "10.0.0.3", OWNER_PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/teammates");
}

#[tokio::test]
async fn colleagues_failing_from_the_same_address_do_not_hold_back_the_owners_known_browser() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (_, _) = app.onboard(&unique("ann")).await;
    let owners_browser = app.new_client();
    assert_eq!(app.login(&owners_browser, OWNER, OWNER_PASSWORD).await.status(), 303);

    // Act: from the same address (one office NAT), six wrong tries for other names.
    for i in 0..6 {
        let res = app.login(&app.new_client(), &format!("colleague{i}"), "a-wrong-guess").await;
        assert!(matches!(res.status().as_u16(), 401 | 429), "{}", res.status());
    }

    // Assert: a browser the portal does not know waits; the owner's own browser does not.
    assert_eq!(app.login(&app.new_client(), OWNER, OWNER_PASSWORD).await.status(), 429);
    let res = app.login(&owners_browser, OWNER, OWNER_PASSWORD).await;
    assert_eq!(res.status(), 303);
    // Its own wrong passwords still count: the fifth starts a delay for that name there.
    for _ in 0..5 {
        assert_eq!(app.login(&owners_browser, OWNER, "not-the-password").await.status(), 401);
    }
    assert_eq!(app.login(&owners_browser, OWNER, OWNER_PASSWORD).await.status(), 429);
}
