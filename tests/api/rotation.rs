//! Key rotation on moto: a new key in a new link; the old key stays active
//! until IAM shows the new one used by the teammate (the portal's own STS
//! check does not count) or the owner confirms; then it is deactivated, and
//! deleted after the grace period (the clock is moved, never waited for).
//! IAM's two-key limit is respected, failures are recorded and a second
//! rotate continues.

use egx_portal::lifecycle::rotation;

use crate::helpers::*;

const DAY: i64 = 86_400;

/// Onboards `name`; returns (first key id, its secret, the teammate's client).
async fn onboarded(app: &TestApp, name: &str) -> (String, String, reqwest::Client) {
    let (payload, client) = app.onboard(name).await;
    (
        payload["access_key_id"].as_str().unwrap().to_owned(),
        payload["secret_access_key"].as_str().unwrap().to_owned(),
        client,
    )
}

/// Rotates through the page; returns (new key id, link).
async fn rotate(app: &TestApp, name: &str) -> (String, String) {
    let res = app.teammate_action(name, "rotate", &[]).await;
    let status = res.status();
    assert_eq!(res.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    let html = res.text().await.unwrap();
    assert_eq!(status, 200, "rotate: {}", text_of(&html, "#form-error"));
    (text_of(&html, "#access-key-id"), text_of(&html, "#one-time-link"))
}

/// The stored rotation of a teammate: (outcome, old key deactivated?, old key deleted?).
async fn stored_rotation(app: &TestApp, name: &str) -> (Option<String>, bool, bool) {
    let (outcome, deactivated, deleted): (Option<String>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT r.outcome, r.old_deactivated_at, r.old_deleted_at FROM key_rotations r \
         JOIN teammates t ON t.id = r.teammate_id WHERE t.iam_user_name = ? ORDER BY r.id DESC LIMIT 1",
    )
    .bind(name)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    (outcome, deactivated.is_some(), deleted.is_some())
}

#[tokio::test]
async fn the_old_key_is_deactivated_once_the_new_one_is_used_and_deleted_after_the_grace_period() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("rory");
    let (old, _, _) = onboarded(&app, &name).await;

    let (new, link) = rotate(&app, &name).await;

    assert_ne!(new, old);
    assert_eq!(app.iam_keys(&name).await, vec![(old.clone(), true), (new.clone(), true)], "both work for now");
    let (page_status, page) = app.teammate_page(&name).await;
    assert_eq!(page_status, 200);
    assert!(text_of(&page, ".rotation.open .rotation-stage").contains("old key stays active"));
    // The teammate reveals the new key. The portal's own STS check of it is
    // in IAM's last-used record, but that is not the teammate using it.
    let payload = app.reveal(&app.new_client(), &link).await.unwrap();
    assert_eq!(payload["access_key_id"], new.as_str());
    assert_eq!(rotation::advance_all(&app.state).await, 0);
    assert_eq!(app.iam_keys(&name).await, vec![(old.clone(), true), (new.clone(), true)]);

    // The teammate uses the new key; opening the teammates list moves the rotation on.
    app.use_key(&new, payload["secret_access_key"].as_str().unwrap()).await;
    let list = app.get("/admin/teammates").await.text().await.unwrap();

    assert_eq!(app.iam_keys(&name).await, vec![(old.clone(), false), (new.clone(), true)]);
    let base = format!("#teammates tr[data-name=\"{name}\"]");
    assert_eq!(text_of(&list, &format!("{base} .key[data-key=\"{old}\"] .key-status")), "Inactive");
    assert_eq!(app.audit_of("key_rotation.new_key_seen").await.len(), 1);
    let deactivated = app.audit_of("iam.access_key_deactivated").await;
    assert_eq!((deactivated[0].0.as_str(), &deactivated[0].3["access_key_id"]), ("system", &serde_json::json!(old)));
    assert_eq!(stored_rotation(&app, &name).await, (None, true, false));

    // Not before the grace period (7 days by default) has passed...
    app.clock.advance(7 * DAY - 60);
    rotation::advance_all(&app.state).await;
    assert_eq!(app.iam_keys(&name).await.len(), 2);
    // ...then the old key is deleted and the rotation is complete (by the
    // housekeeping tick `serve` runs every ten minutes).
    app.clock.advance(120);
    egx_portal::app::housekeeping_once(&app.state).await;

    assert_eq!(app.iam_keys(&name).await, vec![(new.clone(), true)]);
    assert_eq!(stored_rotation(&app, &name).await, (Some("completed".into()), true, true));
    let deleted = app.audit_of("iam.access_key_deleted").await;
    assert_eq!(deleted.last().unwrap().3["access_key_id"], old.as_str());
    assert!(deleted.last().unwrap().3["reason"].as_str().unwrap().contains("grace"));
    let actions = app.audit_actions().await;
    for expected in ["key_rotation.started", "iam.access_key_created", "link.created", "key_rotation.completed"] {
        assert!(actions.iter().any(|a| a == expected), "{expected}");
    }
}

#[tokio::test]
async fn the_owner_can_confirm_when_the_new_key_is_not_seen_in_use() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("cora");
    let (old, _, _) = onboarded(&app, &name).await;
    let (new, link) = rotate(&app, &name).await;
    // Until the teammate reveals the new key's link they do not have it: no confirming yet.
    let (_, page) = app.teammate_page(&name).await;
    assert!(!has(&page, "#confirm-rotation button"));
    assert!(text_of(&page, ".rotation.open .rotation-stage").contains("Waiting for the teammate to reveal"));
    let early = app.teammate_action(&name, "rotation/confirm", &[]).await;
    assert_eq!(early.status(), 409);
    assert!(text_of(&early.text().await.unwrap(), "#form-error").contains("has not opened the link with the new key"));
    assert_eq!(app.iam_keys(&name).await, vec![(old.clone(), true), (new.clone(), true)], "nothing changed");
    app.reveal(&app.new_client(), &link).await.unwrap();
    let (_, page) = app.teammate_page(&name).await;
    assert!(has(&page, "#confirm-rotation button"));

    let res = app.teammate_action(&name, "rotation/confirm", &[]).await;

    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/teammates/{name}?done=rotation-confirmed"));
    assert_eq!(app.iam_keys(&name).await, vec![(old, false), (new, true)]);
    let confirmed = app.audit_of("key_rotation.confirmed").await;
    assert_eq!((confirmed[0].0.as_str(), confirmed[0].2.as_deref()), (OWNER, Some(name.as_str())));
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert!(text_of(&page, "#notice").contains("old key was deactivated"));
    assert!(!has(&page, "#confirm-rotation"), "nothing left to confirm");
    // A second confirmation has nothing to do: a clear refusal.
    let again = app.teammate_action(&name, "rotation/confirm", &[]).await;
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn with_two_keys_the_oldest_inactive_one_makes_room_and_two_active_keys_are_refused() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("lim");
    let (first, _, _) = onboarded(&app, &name).await;
    let iam = app.emulator.iam();
    // A second key, made by hand and in use.
    let made_by_hand = iam.create_access_key().user_name(&name).send().await.unwrap();
    let second = made_by_hand.access_key().unwrap().access_key_id().to_owned();

    // Two active keys: refused, nothing changed.
    let res = app.teammate_action(&name, "rotate", &[]).await;
    assert_eq!(res.status(), 409);
    assert!(text_of(&res.text().await.unwrap(), "#form-error").contains("two active keys"));
    assert_eq!(app.iam_keys(&name).await.len(), 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM key_rotations").await, 0);

    // One of them inactive: it is deleted first, and the page says so.
    iam.update_access_key()
        .user_name(&name)
        .access_key_id(&first)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let res = app.teammate_action(&name, "rotate", &[]).await;
    let html = res.text().await.unwrap();
    let new = text_of(&html, "#access-key-id");

    assert!(texts_of(&html, ".note").iter().any(|n| n.contains(&first) && n.contains("make room")), "{html}");
    assert_eq!(app.iam_keys(&name).await, vec![(second.clone(), true), (new, true)]);
    let deleted = app.audit_of("iam.access_key_deleted").await;
    assert_eq!(deleted[0].3["access_key_id"], first.as_str());
}

#[tokio::test]
async fn cancelling_a_rotation_needs_the_name_typed_then_deletes_the_new_key_and_its_link() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("cal");
    let (old, _, _) = onboarded(&app, &name).await;
    let (new, link) = rotate(&app, &name).await;

    let untyped = app.teammate_action(&name, "rotation/cancel", &[("confirm", "someone-else")]).await;
    assert_eq!(untyped.status(), 400);
    assert!(text_of(&untyped.text().await.unwrap(), "#form-error").contains("Type the teammate's name"));
    assert_eq!(app.iam_keys(&name).await.len(), 2, "nothing changed");

    let res = app.teammate_action(&name, "rotation/cancel", &[("confirm", &name)]).await;

    assert_eq!(res.status(), 303);
    assert_eq!(app.iam_keys(&name).await, vec![(old, true)], "the old key is untouched");
    assert_eq!(app.reveal(&app.new_client(), &link).await.unwrap_err().status(), 410, "its link is dead");
    assert_eq!(stored_rotation(&app, &name).await, (Some("cancelled".into()), false, false));
    assert_eq!(app.audit_of("key_rotation.cancelled").await.len(), 1);
    let revoked = app.audit_of("link.revoked").await;
    assert_eq!(revoked[0].3["reason"], "rotation_cancelled");
    let deleted = app.audit_of("iam.access_key_deleted").await;
    assert_eq!(deleted[0].3["access_key_id"], new.as_str());
}

#[tokio::test]
async fn a_rotation_that_stopped_continues_when_rotated_again() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("rerun");
    let (old, _, _) = onboarded(&app, &name).await;

    // CreateAccessKey refused once.
    app.faults.refuse("CreateAccessKey", 403, "AccessDenied", 1);
    let res = app.teammate_action(&name, "rotate", &[]).await;
    assert_eq!(res.status(), 502);
    assert!(text_of(&res.text().await.unwrap(), "#form-error").contains("rotate again to continue"));
    let failed = app.audit_of("key_rotation.failed").await;
    assert_eq!(
        (failed[0].3["step"].as_str(), failed[0].3["error"].as_str()),
        (Some("create the new key"), Some("AccessDenied"))
    );
    let (_, page) = app.teammate_page(&name).await;
    assert!(text_of(&page, ".rotation.open .rotation-stage").contains("stopped at"));

    // The link could not be stored after the new key was made: its secret is lost.
    sqlx::query("CREATE TRIGGER egx_test_no_links BEFORE INSERT ON secret_links BEGIN SELECT RAISE(ABORT, 'x'); END")
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(app.teammate_action(&name, "rotate", &[]).await.status(), 500);
    let lost = app.iam_keys(&name).await.into_iter().map(|(id, _)| id).find(|id| id != &old).unwrap();
    sqlx::query("DROP TRIGGER egx_test_no_links").execute(&app.state.db).await.unwrap();

    let (new, link) = rotate(&app, &name).await;

    assert_ne!(new, lost);
    assert_eq!(app.iam_keys(&name).await, vec![(old, true), (new.clone(), true)], "the lost key was deleted");
    assert_eq!(app.count("SELECT COUNT(*) FROM key_rotations").await, 1, "the same rotation, continued");
    assert_eq!(app.reveal(&app.new_client(), &link).await.unwrap()["access_key_id"], new.as_str());
}

#[tokio::test]
async fn reissuing_for_a_teammate_who_never_opened_the_link_replaces_the_undelivered_key() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("late");
    let first_link = app.add_teammate_link(&name).await;
    let (_, page) = app.teammate_page(&name).await;
    assert_eq!(text_of(&page, "#status"), "activating");
    // The link expires unopened.
    app.clock.advance(73 * 3600);
    app.sign_in_owner_again().await;

    let res = app.teammate_action(&name, "reissue", &[]).await;

    let html = res.text().await.unwrap();
    let new = text_of(&html, "#access-key-id");
    assert!(texts_of(&html, ".note").iter().any(|n| n.contains("never delivered")), "{html}");
    assert_eq!(app.iam_keys(&name).await, vec![(new.clone(), true)], "one key: the new one");
    assert_eq!(stored_rotation(&app, &name).await, (Some("completed".into()), false, false));
    assert_eq!(app.reveal(&app.new_client(), &first_link).await.unwrap_err().status(), 410);
    let (payload, _) = app.enrol_via(&text_of(&html, "#one-time-link")).await;
    assert_eq!(payload["access_key_id"], new.as_str());
    let (_, page) = app.teammate_page(&name).await;
    assert_eq!(text_of(&page, "#status"), "active", "revealing a key link activates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_rotation_step_beside_fifty_audit_writes_and_a_sweeper_loses_nothing() {
    // C24 with the portal's own rotation code doing its read-then-write.
    use egx_portal::db::audit::{AuditContext, Event};
    use egx_portal::domain::AuditAction;
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("busy");
    let (old, _, _) = onboarded(&app, &name).await;
    let (new, link) = rotate(&app, &name).await;
    let payload = app.reveal(&app.new_client(), &link).await.unwrap();
    app.use_key(&new, payload["secret_access_key"].as_str().unwrap()).await;
    let before = app.count("SELECT MAX(id) FROM audit_events").await;

    let writers: Vec<_> = (0..50)
        .map(|i| {
            let state = app.state.clone();
            tokio::spawn(async move {
                let ctx = AuditContext::system(&format!("writer-{i}"));
                egx_portal::db::audit::record_alone(
                    &state.db,
                    &ctx,
                    Event::success(AuditAction::Logout, None),
                    state.now(),
                )
                .await
            })
        })
        .collect();
    let rotator = {
        let state = app.state.clone();
        tokio::spawn(async move { rotation::advance_all(&state).await })
    };
    let sweeper = {
        let state = app.state.clone();
        tokio::spawn(async move { egx_portal::uploads::sweep_stale(&state, state.now()).await })
    };
    for w in writers {
        w.await.unwrap().expect("no audit write failed (no 'database is locked')");
    }
    assert_eq!(rotator.await.unwrap(), 1, "the rotation moved on");
    sweeper.await.unwrap().expect("the sweeper ran");

    assert_eq!(app.iam_keys(&name).await, vec![(old, false), (new, true)]);
    let (written, by_rotation): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), SUM(actor = 'system') FROM audit_events WHERE id > ?")
            .bind(before)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(by_rotation >= 2, "the rotation wrote its rows (seen, deactivated)");
    assert_eq!(written, 50 + by_rotation, "every write is there");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE actor LIKE 'writer-%'").await, 50);
    let (_, problems) = egx_portal::db::audit::verify(&app.state.db).await.unwrap();
    assert!(problems.is_empty(), "the hash chain holds: {problems:?}");
}
