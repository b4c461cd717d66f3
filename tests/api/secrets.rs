//! Secret hygiene: after a whole journey — including a key rotation, a
//! portal-account link and a removal — no secret the portal handled is in
//! the database file, its WAL, or anything it logged. (On LocalStack, so the
//! removal runs to its end.)

use crate::helpers::*;

fn session_cookie(res: &reqwest::Response) -> String {
    let header = res.headers()["set-cookie"].to_str().unwrap();
    let (_, rest) = header.split_once('=').unwrap();
    rest.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn no_secret_reaches_the_database_its_wal_or_the_logs() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    let setup_link = app.setup_link.clone().unwrap();
    let setup_token = setup_link.rsplit('/').next().unwrap().to_owned();

    // The owner sets up (capturing the session cookie the portal hands out).
    let res = app
        .client
        .post(&setup_link)
        .form(&[("username", OWNER), ("password", OWNER_PASSWORD), ("confirm", OWNER_PASSWORD)])
        .send()
        .await
        .unwrap();
    let owner_session = session_cookie(&res);

    // Add a teammate; the teammate reveals, enrols and uploads.
    let sam = unique("sam");
    let link = app.add_teammate_link(&sam).await;
    let (link_id, fragment_key) = split_link(&link);
    let teammate = app.new_client();
    let payload = app.reveal(&teammate, &link).await.unwrap();
    let enrol_token = payload["enrol_token"].as_str().unwrap().to_owned();
    let secret_key = payload["secret_access_key"].as_str().unwrap().to_owned();
    let res = teammate
        .post(app.url(&format!("/l/{link_id}/enrol")))
        .json(&serde_json::json!({"enrol_token": enrol_token, "password": TEAMMATE_PASSWORD, "confirm": TEAMMATE_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let teammate_session = session_cookie(&res);
    let res =
        app.sign(&teammate, serde_json::json!({"prefix": "streaming", "relative_path": "s.csv", "size": 2})).await;
    let signed: serde_json::Value = res.json().await.unwrap();
    let mut put = reqwest::Client::new().put(signed["url"].as_str().unwrap()).body("ok");
    for (k, v) in signed["headers"].as_object().unwrap() {
        put = put.header(k, v.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    assert_eq!(app.complete(&teammate, signed["upload_id"].as_i64().unwrap()).await.status(), 200);

    // The owner rotates sam's key; sam reveals the new one; the owner confirms.
    let res = app.teammate_action(&sam, "rotate", &[]).await;
    let rotated_link = text_of(&res.text().await.unwrap(), "#one-time-link");
    let (_, rotated_fragment) = split_link(&rotated_link);
    let rotated = app.reveal(&app.new_client(), &rotated_link).await.unwrap();
    let rotated_secret = rotated["secret_access_key"].as_str().unwrap().to_owned();
    let rotated_enrol = rotated["enrol_token"].as_str().unwrap().to_owned();
    assert_eq!(app.teammate_action(&sam, "rotation/confirm", &[]).await.status(), 303);
    // A portal-account link, revealed.
    let res = app.teammate_action(&sam, "links", &[]).await;
    let account_link = text_of(&res.text().await.unwrap(), "#one-time-link");
    let (_, account_fragment) = split_link(&account_link);
    let account_enrol =
        app.reveal(&app.new_client(), &account_link).await.unwrap()["enrol_token"].as_str().unwrap().to_owned();
    // Another teammate is removed with a link never opened.
    let leaver = unique("leo");
    let pending_link = app.add_teammate_link(&leaver).await;
    let (_, pending_fragment) = split_link(&pending_link);
    assert_eq!(app.teammate_action(&leaver, "remove", &[("confirm", &leaver)]).await.status(), 303);

    // A failed and a successful login of the owner.
    let other = app.new_client();
    assert_eq!(app.login(&other, OWNER, "a-wrong-password-123").await.status(), 401);
    let res = app.login(&other, OWNER, OWNER_PASSWORD).await;
    let second_owner_session = session_cookie(&res);

    // The setup token is printed in the log by design (the owner reads it
    // there), so it is only checked against the database.
    let db_path = app.state.config.database_path();
    let db_bytes = std::fs::read(&db_path).unwrap();
    let wal_bytes = std::fs::read(db_path.with_extension("sqlite-wal")).unwrap_or_default();
    for bytes in [&db_bytes, &wal_bytes] {
        assert!(!bytes.windows(setup_token.len()).any(|w| w == setup_token.as_bytes()));
    }
    // The scan sees real log content: the setup link line is there, and the
    // link's request lines (which name the route, never the link id).
    let logs = captured_logs();
    assert!(logs.windows(setup_token.len()).any(|w| w == setup_token.as_bytes()), "the scan reads the portal's logs");
    let route = "/l/…/reveal".as_bytes();
    assert!(logs.windows(route.len()).any(|w| w == route), "the reveal requests were logged, by route");
    assert!(!logs.windows(link_id.len()).any(|w| w == link_id.as_bytes()), "link ids are not logged");
    app.stop_and_scan(&[
        &secret_key,
        &fragment_key,
        &enrol_token,
        OWNER_PASSWORD,
        TEAMMATE_PASSWORD,
        "a-wrong-password-123",
        &owner_session,
        &teammate_session,
        &second_owner_session,
        &rotated_secret,
        &rotated_fragment,
        &rotated_enrol,
        &account_fragment,
        &account_enrol,
        &pending_fragment,
    ])
    .await;
}
