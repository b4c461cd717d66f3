//! Bad and hostile input: a clear error, the exact status, and no change.

use crate::helpers::*;

#[tokio::test]
async fn invalid_teammate_names_get_a_form_error_and_change_nothing() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let long = "x".repeat(65);
    for name in ["", "al ice", "a/b", "élise", "<script>alert(1)</script>", long.as_str()] {
        let res = app.add_teammate(name).await;
        assert_eq!(res.status(), 400, "{name:?}");
        let html = res.text().await.unwrap();
        assert!(!text_of(&html, "#form-error").is_empty(), "{name:?} gets a reason");
        assert!(!html.contains("<script>alert(1)</script>"), "input is escaped");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM teammates").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action LIKE 'teammate.%' OR action LIKE 'iam.%'").await,
        0
    );
}

#[tokio::test]
async fn hostile_object_keys_are_refused_before_anything_is_signed() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("hana")).await;
    let huge = "y".repeat(1100);
    let cases = [
        ("other", "", "a.csv"),
        ("streamingX", "", "a.csv"),
        ("streaming", "", "../escape.csv"),
        ("batch", "..", "x.csv"),
        ("batch", "a//b", "x.csv"),
        ("batch", "", "dir/"),
        ("batch", "", "/abs.csv"),
        ("batch", "", "bad\u{0}name"),
        ("batch", "", "line\nbreak"),
        ("batch", "", huge.as_str()),
        ("batch", "", ""),
        ("batch", "", "invoice\u{202e}gpj.exe"),
        ("batch", "", "zero\u{200b}width.csv"),
        ("batch", "", "..\\..\\windows.txt"),
        ("batch", "", " "),
        ("batch", "", "\u{ff0e}\u{ff0e}/x.csv"),
    ];
    for (prefix, folder, path) in cases {
        let res = app
            .sign(&teammate, serde_json::json!({"prefix": prefix, "folder": folder, "relative_path": path, "size": 1}))
            .await;
        assert_eq!(res.status(), 400, "{prefix}/{folder}/{path:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "bad_request");
        assert!(body["message"].as_str().unwrap().starts_with("This file name cannot be uploaded"));
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'upload.refused'").await,
        cases.len() as i64
    );
}

#[tokio::test]
async fn files_over_the_size_limit_and_existing_keys_are_refused() {
    let app =
        TestApp::spawn_with(Spawn { env: vec![("EGX_MAX_FILE_BYTES", "1000".into())], ..Spawn::on(Backend::Moto) })
            .await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("ivan")).await;

    let res =
        app.sign(&teammate, serde_json::json!({"prefix": "batch", "relative_path": "big.bin", "size": 1001})).await;
    assert_eq!(res.status(), 400);

    app.emulator
        .s3()
        .put_object()
        .bucket(&app.bucket)
        .key("batch/taken.csv")
        .body(b"old".to_vec().into())
        .send()
        .await
        .unwrap();
    let res =
        app.sign(&teammate, serde_json::json!({"prefix": "batch", "relative_path": "taken.csv", "size": 3})).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("already exists"));
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads").await, 0);
}

#[tokio::test]
async fn a_wrong_password_is_refused_audited_and_throttled() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let stranger = app.new_client();

    let unknown_user = app.login(&app.new_client(), "nobody-here", "whatever-password").await;
    assert_eq!(unknown_user.status(), 401);
    let unknown_text = text_of(&unknown_user.text().await.unwrap(), "#form-error");
    for _ in 0..4 {
        let res = app.login(&stranger, OWNER, "not-the-password").await;
        assert_eq!(res.status(), 401);
        assert_eq!(text_of(&res.text().await.unwrap(), "#form-error"), unknown_text, "one answer for both");
    }

    // Five failures from this address: held back now, even with the right password.
    let res = app.login(&stranger, OWNER, OWNER_PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "30", "the first delay is 30 seconds");
    assert_eq!(
        text_of(&res.text().await.unwrap(), "#form-error"),
        "Too many failed sign-ins. Wait 30 seconds and try again."
    );
    for _ in 0..10 {
        assert_eq!(app.login(&stranger, OWNER, OWNER_PASSWORD).await.status(), 429);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'login.failed'").await,
        6,
        "five wrong passwords and one row for the held-back stretch, however many requests it had"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'login.failed' AND actor = 'anonymous'").await,
        6,
        "nobody was signed in: the name tried is the target, not the actor"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1, "only the setup session exists");

    // The delay grows: one more wrong password after the wait doubles it.
    app.clock.advance(30);
    assert_eq!(app.login(&stranger, OWNER, "still-not-the-password").await.status(), 401);
    let res = app.login(&stranger, OWNER, OWNER_PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "60");

    // Once the wait is over, the right password signs in and clears the count.
    app.clock.advance(60);
    assert_eq!(app.login(&stranger, OWNER, OWNER_PASSWORD).await.status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 2);
}

#[tokio::test]
async fn writes_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let csrf = app.csrf(&app.client, "/admin/teammates").await;
    let add_with = |token: Option<&str>, origin: Option<&str>, fetch_site: Option<&str>, referer: Option<&str>| {
        let mut form = vec![("username", "zed".to_owned())];
        if let Some(t) = token {
            form.push(("csrf_token", t.to_owned()));
        }
        let mut req = app.client.post(app.url("/admin/teammates")).form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        async move { req.send().await.unwrap().status() }
    };
    let add = |token, origin, fetch_site| add_with(token, origin, fetch_site, None);

    assert_eq!(add(None, None, None).await, 403, "no token");
    assert_eq!(add(Some("forged-token"), None, None).await, 403, "wrong token");
    assert_eq!(add(Some(&csrf), Some("http://evil.example"), None).await, 403, "foreign origin");
    assert_eq!(add(Some(&csrf), None, Some("cross-site")).await, 403, "cross-site fetch");
    assert_eq!(add(Some(&csrf), Some("null"), Some("cross-site")).await, 403, "opaque origin, cross-site");
    assert_eq!(add(Some(&csrf), Some("null"), None).await, 403, "opaque origin without fetch metadata");
    let evil_page = Some("http://evil.example/page");
    assert_eq!(add_with(Some(&csrf), None, None, evil_page).await, 403, "no origin, a foreign referer");
    assert_eq!(app.count("SELECT COUNT(*) FROM teammates").await, 0);

    // A JSON API call needs the header token.
    let (_, teammate) = app.onboard(&unique("jo")).await;
    let res = teammate
        .post(app.url("/api/uploads"))
        .json(&serde_json::json!({"prefix": "batch", "relative_path": "a.csv", "size": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "csrf_rejected");
}

#[tokio::test]
async fn each_role_reaches_only_its_own_pages() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("kim")).await;
    let anonymous = app.new_client();

    for path in ["/admin/teammates", "/admin/audit", "/admin/uploads"] {
        assert_eq!(teammate.get(app.url(path)).send().await.unwrap().status(), 403, "teammate {path}");
        let res = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!((res.status().as_u16(), location(&res)), (303, "/login".to_owned()), "anonymous {path}");
    }
    assert_eq!(app.get("/upload").await.status(), 403, "the owner is not a teammate");
    let res = anonymous
        .post(app.url("/api/uploads"))
        .json(&serde_json::json!({"prefix": "batch", "relative_path": "a.csv", "size": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "login_required");
}

#[tokio::test]
async fn a_teammate_cannot_complete_someone_elses_upload() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let (_, bob) = app.onboard(&unique("bob")).await;
    let res = app.sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "mine.csv", "size": 1})).await;
    let signed: serde_json::Value = res.json().await.unwrap();

    let res = app.complete(&bob, signed["upload_id"].as_i64().unwrap()).await;

    assert_eq!(res.status(), 404);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'signed'").await, 1);
}

#[tokio::test]
async fn oversized_request_bodies_get_413_with_a_clear_message() {
    let app = TestApp::spawn(Backend::Moto).await;
    let res = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=a&password={}", "p".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(text_of(&res.text().await.unwrap(), "#error-message").contains("larger than the portal accepts"));
}

#[tokio::test]
async fn malformed_bodies_and_unknown_api_paths_get_clear_answers_in_the_right_format() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (_, teammate) = app.onboard(&unique("mo")).await;
    let csrf = app.csrf(&teammate, "/upload").await;

    // JSON API: serde's words, without axum's preamble.
    let res = teammate
        .post(app.url("/api/uploads"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"prefix": "batch", "relative_path": "a.csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["message"], "The request could not be read: missing field `size` at line 1 column 42.");
    // JSON sent without saying so: the answer says how to send it.
    let res = teammate
        .post(app.url("/api/uploads"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "text/plain")
        .body(r#"{"prefix":"batch","relative_path":"a.csv","size":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["message"], "The request could not be read: send it as JSON (Content-Type: application/json).");

    // A form a person sent: a page that says what to do, no parser internals.
    let owner_csrf = app.csrf(&app.client, "/admin/teammates").await;
    let res = app.post_form("/admin/teammates", &[("csrf_token", owner_csrf.as_str()), ("name", "x")]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert_eq!(text_of(&html, "#error-message"), "The form could not be read. Reload the page and try again.");

    // Unknown paths: JSON under /api/, a page elsewhere.
    let res = teammate.get(app.url("/api/no-such-thing")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "not_found");
    let res = teammate.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(text_of(&res.text().await.unwrap(), "#error-title"), "Not Found");
}
