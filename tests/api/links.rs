//! One-time links: nothing on GET, exactly once on POST, one answer for
//! every kind of unavailable (C22, C23).

use crate::helpers::*;

async fn app_with_link() -> (TestApp, String) {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let link = app.add_teammate_link(&unique("lina")).await;
    (app, link)
}

fn page_path(link: &str) -> String {
    let (id, _) = split_link(link);
    format!("/l/{id}")
}

#[tokio::test]
async fn fetching_the_link_page_reveals_and_consumes_nothing() {
    let (app, link) = app_with_link().await;
    let bot = app.new_client();

    // A chat preview bot and a mail scanner fetch the URL (fragments are never sent).
    for _ in 0..2 {
        let res = bot.get(app.url(&page_path(&link))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        let html = res.text().await.unwrap();
        assert!(has(&html, "#reveal-button"));
        assert_eq!(text_of(&html, "#secret-access-key"), "", "no secret in the page");
    }

    let (revealed_at,): (Option<i64>,) =
        sqlx::query_as("SELECT revealed_at FROM secret_links").fetch_one(&app.state.db).await.unwrap();
    assert_eq!(revealed_at, None);
    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "link.opened").count(), 2);
    assert!(!actions.iter().any(|a| a == "link.revealed"));

    // The teammate can still reveal afterwards.
    assert!(app.reveal(&app.new_client(), &link).await.is_ok());
    assert!(app.audit_actions().await.iter().any(|a| a == "link.revealed"));
}

#[tokio::test]
async fn a_used_link_cannot_be_revealed_twice_and_its_ciphertext_is_gone() {
    let (app, link) = app_with_link().await;
    let teammate = app.new_client();
    let payload = app.reveal(&teammate, &link).await.unwrap();

    let again = app.reveal(&app.new_client(), &link).await.unwrap_err();

    assert_eq!(again.status(), 410);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "link_unavailable");
    let (payload_left,): (Option<Vec<u8>>,) =
        sqlx::query_as("SELECT payload FROM secret_links").fetch_one(&app.state.db).await.unwrap();
    assert_eq!(payload_left, None, "the ciphertext is deleted at reveal");
    assert!(app.audit_actions().await.iter().any(|a| a == "link.reveal_refused"));
    // The page itself now says "not available" too.
    assert_eq!(app.get(&page_path(&link)).await.status(), 410);
    assert!(payload["secret_access_key"].as_str().is_some());
}

#[tokio::test]
async fn fifty_concurrent_reveals_have_exactly_one_winner() {
    // The per-address rate limit would answer some of these from 127.0.0.1 with 429: lift it here.
    let app = TestApp::spawn_with(Spawn {
        env: vec![("EGX_LINK_RATE_PER_MINUTE", "1000".into())],
        ..Spawn::on(Backend::Moto)
    })
    .await;
    app.create_owner().await;
    let link = app.add_teammate_link(&unique("lina")).await;
    let (id, _) = split_link(&link);
    let url = app.url(&format!("/l/{id}/reveal"));

    let body = reveal_body(&link);
    let attempts = (0..50).map(|_| {
        let client = app.new_client();
        let url = url.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let res = client.post(url).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        })
    });
    let results: Vec<(u16, String)> = futures_join_all(attempts).await.into_iter().map(|r| r.unwrap()).collect();

    let winners = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(winners, 1, "{:?}", results.iter().map(|(s, _)| s).collect::<Vec<_>>());
    let losers: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert_eq!(losers.len(), 49);
    let first_loser = &losers[0].1;
    assert!(losers.iter().all(|(s, body)| *s == 410 && body == first_loser), "one uniform answer");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'link.revealed'").await, 1);
}

async fn futures_join_all<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await);
    }
    out
}

#[tokio::test]
async fn expired_used_and_unknown_links_all_get_the_same_answer() {
    let (app, link) = app_with_link().await;
    let (id, _) = split_link(&link);
    let unknown = app.new_client().post(app.url("/l/AAAAAAAAAAAAAAAAAAAAAA/reveal")).send().await.unwrap();
    let garbage = app.new_client().post(app.url("/l/..%2F..%2Fetc/reveal")).send().await.unwrap();
    let unknown_status = unknown.status();
    let unknown_body = unknown.text().await.unwrap();
    assert_eq!(unknown_status, 410);
    assert_eq!(garbage.status(), 410);
    assert_eq!(garbage.text().await.unwrap(), unknown_body);

    // 72 hours later (the default lifetime) the link has expired.
    app.clock.advance(72 * 3600);
    let expired = app.new_client().post(app.url(&format!("/l/{id}/reveal"))).send().await.unwrap();
    assert_eq!(expired.status(), 410);
    assert_eq!(expired.text().await.unwrap(), unknown_body);
    assert_eq!(app.get(&format!("/l/{id}")).await.status(), 410);
    let (revealed_at,): (Option<i64>,) =
        sqlx::query_as("SELECT revealed_at FROM secret_links").fetch_one(&app.state.db).await.unwrap();
    assert_eq!(revealed_at, None);
}

#[tokio::test]
async fn the_database_holds_only_ciphertext_and_digests() {
    let (app, link) = app_with_link().await;
    let (_, key) = split_link(&link);
    let teammate = app.new_client();
    let payload = app.reveal(&teammate, &link).await.unwrap();
    let secret = payload["secret_access_key"].as_str().unwrap().to_owned();
    let enrol = payload["enrol_token"].as_str().unwrap().to_owned();
    app.stop_and_scan(&[&secret, &key, &enrol]).await;
}

#[tokio::test]
async fn enrolment_needs_the_token_from_the_revealed_payload_and_works_once() {
    let (app, link) = app_with_link().await;
    let (id, _) = split_link(&link);
    let teammate = app.new_client();
    let payload = app.reveal(&teammate, &link).await.unwrap();
    let enrol = |token: serde_json::Value| {
        let client = app.new_client();
        let url = app.url(&format!("/l/{id}/enrol"));
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"enrol_token": token, "password": TEAMMATE_PASSWORD, "confirm": TEAMMATE_PASSWORD}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    assert_eq!(enrol(serde_json::json!("wrong-token-wrong-token-wrong-token-wrong-t")).await, 410);
    assert_eq!(enrol(payload["enrol_token"].clone()).await, 200);
    assert_eq!(enrol(payload["enrol_token"].clone()).await, 410, "the token works once");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM accounts WHERE role = 'teammate' AND password_hash IS NOT NULL").await,
        1
    );
}

#[tokio::test]
async fn link_endpoints_are_rate_limited_per_client_address() {
    let (app, link) = app_with_link().await;
    let (id, _) = split_link(&link);
    let guesser = app.new_client();
    let mut statuses = Vec::new();
    for i in 0..31 {
        let res = guesser.post(app.url(&format!("/l/{}{:04}/reveal", "B".repeat(18), i))).send().await.unwrap();
        statuses.push(res.status().as_u16());
    }
    // 30 per minute from one address; the owner's setup request was the first.
    assert!(statuses[..29].iter().all(|s| *s == 410), "{statuses:?}");
    assert!(statuses[29..].iter().all(|s| *s == 429), "{statuses:?}");
    // A person opening a link page meanwhile gets a page that says so, not JSON.
    let res = guesser.get(app.url(&page_path(&link))).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "60", "says when to try again");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(
        text_of(&res.text().await.unwrap(), "#error-message"),
        "Too many attempts. Wait a minute and try again."
    );
    // The real link is still intact: rate limiting consumed nothing.
    let (revealed_at,): (Option<i64>,) = sqlx::query_as("SELECT revealed_at FROM secret_links WHERE id = ?")
        .bind(&id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(revealed_at, None);
    // A minute later the address may try again.
    app.clock.advance(60);
    assert!(app.reveal(&app.new_client(), &link).await.is_ok());
}

#[tokio::test]
async fn a_revoked_link_gets_the_same_answer_as_an_unknown_one_and_is_audited() {
    let (app, link) = app_with_link().await;
    let (id, _) = split_link(&link);
    let name: (String,) =
        sqlx::query_as("SELECT t.iam_user_name FROM teammates t JOIN secret_links l ON l.teammate_id = t.id")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let unknown = app.new_client().post(app.url("/l/AAAAAAAAAAAAAAAAAAAAAA/reveal")).send().await.unwrap();
    let unknown_body = unknown.text().await.unwrap();
    let (_, page) = app.teammate_page(&name.0).await;
    assert!(has(&page, &format!("#links tr[data-link=\"{id}\"] form.revoke button")));

    let res = app.teammate_action(&name.0, &format!("links/{id}/revoke"), &[]).await;

    assert_eq!(res.status(), 303);
    let revoked = app.new_client().post(app.url(&format!("/l/{id}/reveal"))).send().await.unwrap();
    assert_eq!(revoked.status(), 410);
    assert_eq!(revoked.text().await.unwrap(), unknown_body, "one uniform answer");
    assert_eq!(app.get(&page_path(&link)).await.status(), 410);
    let (payload,): (Option<Vec<u8>>,) = sqlx::query_as("SELECT payload FROM secret_links WHERE id = ?")
        .bind(&id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(payload, None, "the ciphertext is wiped");
    let audited = app.audit_of("link.revoked").await;
    assert_eq!((audited[0].0.as_str(), &audited[0].3["link_id"]), (OWNER, &serde_json::json!(id)));
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert_eq!(text_of(&page, &format!("#links tr[data-link=\"{id}\"] .link-state")), "revoked (by the owner)");
    // Revoking twice: nothing left to revoke.
    assert_eq!(app.teammate_action(&name.0, &format!("links/{id}/revoke"), &[]).await.status(), 409);
    // The list says there is nothing left to wait for, and what to do.
    let list = app.get("/admin/teammates").await.text().await.unwrap();
    let detail = text_of(&list, ".status-detail");
    assert!(detail.starts_with("no link left to reveal"), "{detail}");
}

#[tokio::test]
async fn an_expired_link_loses_its_ciphertext_and_its_expiry_is_audited_once() {
    let (app, link) = app_with_link().await;
    let (id, _) = split_link(&link);
    let revealed = app.add_teammate_link(&unique("rita")).await;
    app.reveal(&app.new_client(), &revealed).await.unwrap();

    // Housekeeping before the links expire purges nothing.
    egx_portal::app::housekeeping_once(&app.state).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM secret_links WHERE payload IS NOT NULL").await, 1);

    app.clock.advance(72 * 3600);
    egx_portal::app::housekeeping_once(&app.state).await;
    egx_portal::app::housekeeping_once(&app.state).await;

    assert_eq!(app.count("SELECT COUNT(*) FROM secret_links WHERE payload IS NOT NULL").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM secret_links WHERE enrol_token_digest IS NOT NULL").await,
        0,
        "the revealed link's unused enrolment token is gone too"
    );
    let expired: Vec<(String, String, Option<String>)> =
        app.audit().await.into_iter().filter(|(action, _, _)| action == "link.expired").collect();
    assert_eq!(
        expired,
        [("link.expired".to_owned(), "success".to_owned(), Some(id.clone()))],
        "once, for the unrevealed link"
    );
    assert_eq!(app.get(&page_path(&link)).await.status(), 410);
    assert_eq!(app.reveal(&app.new_client(), &link).await.unwrap_err().status(), 410);
}

#[tokio::test]
async fn a_guessable_password_is_refused_at_enrolment_and_the_enrolment_stays_usable() {
    let (app, link) = app_with_link().await;
    let teammate = app.new_client();
    let payload = app.reveal(&teammate, &link).await.unwrap();
    let (id, _) = split_link(&link);
    let enrol = |password: &'static str| {
        let req = teammate.post(app.url(&format!("/l/{id}/enrol"))).json(&serde_json::json!({
            "enrol_token": payload["enrol_token"], "password": password, "confirm": password
        }));
        async move { req.send().await.unwrap() }
    };

    let res = enrol("password12").await;

    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["message"],
        "This password is too easy to guess (it is a common word with digits or symbols). Try a few unrelated words."
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE role = 'teammate' AND password_hash IS NULL").await, 1);
    assert_eq!(enrol(TEAMMATE_PASSWORD).await.status(), 200, "the enrolment was not used up");
}

#[tokio::test]
async fn a_reveal_without_the_links_key_uses_nothing_up() {
    // Someone who knows only the link's id (a proxy log), or a copy cut short or
    // altered by a chat app: the same answer as an unknown link, and the link stays.
    let (app, link) = app_with_link().await;
    let (id, key) = split_link(&link);
    let url = app.url(&format!("/l/{id}/reveal"));
    let mut altered = key.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    let altered = format!("{}#{}", link.split('#').next().unwrap(), String::from_utf8(altered).unwrap());
    let unknown = app.new_client().post(app.url("/l/AAAAAAAAAAAAAAAAAAAAAA/reveal")).send().await.unwrap();
    let uniform = unknown.text().await.unwrap();

    for (what, body) in [
        ("no body", None),
        ("not JSON", Some(reqwest::Body::from("check=1"))),
        ("no check", Some(reqwest::Body::from("{}"))),
        ("an altered key's check", Some(reqwest::Body::from(reveal_body(&altered).to_string()))),
        ("a check far too long", Some(reqwest::Body::from(format!("{{\"check\":\"{}\"}}", "x".repeat(5000))))),
    ] {
        let mut req = app.new_client().post(&url).header("content-type", "application/json");
        if let Some(body) = body {
            req = req.body(body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 410, "{what}");
        assert_eq!(res.text().await.unwrap(), uniform, "{what}: one uniform answer");
    }

    assert_eq!(
        app.count("SELECT COUNT(*) FROM secret_links WHERE payload IS NOT NULL AND revealed_at IS NULL").await,
        1
    );
    let refusals = app.audit_of("link.reveal_refused").await;
    assert_eq!(refusals.len(), 5);
    assert!(refusals.iter().all(|r| r.3["reason"] == "the link's key was missing or wrong (nothing was used up)"));
    assert!(app.reveal(&app.new_client(), &link).await.is_ok(), "the whole link still works");
}
