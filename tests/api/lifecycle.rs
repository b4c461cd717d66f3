//! The owner's view of teammates and the smaller actions: keys as IAM
//! reports them (with flags), a list call that fails shown as "IAM
//! unavailable" (never "no keys"), deactivate / reactivate / delete a key,
//! disable / enable the portal account, portal-account-only links.

use crate::helpers::*;

const DAY: i64 = 86_400;

fn key_cell(html: &str, name: &str, key: &str, part: &str) -> String {
    text_of(html, &format!("#teammates tr[data-name=\"{name}\"] .key[data-key=\"{key}\"] {part}"))
}

#[tokio::test]
async fn the_list_shows_keys_from_iam_and_flags_old_never_used_and_long_unused_keys() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("flo");
    let (payload, _) = app.onboard(&name).await;
    let key = payload["access_key_id"].as_str().unwrap().to_owned();

    let list = app.get("/admin/teammates").await.text().await.unwrap();

    let row = format!("#teammates tr[data-name=\"{name}\"]");
    assert_eq!(text_of(&list, &format!("{row} .status-word")), "active");
    assert_eq!(text_of(&list, &format!("{row} .account")), "password set");
    assert_eq!(key_cell(&list, &name, &key, ".key-status"), "Active");
    // The portal's own STS check is in IAM's record, but the teammate never used the key.
    assert!(key_cell(&list, &name, &key, "").contains("the portal's own check"));
    assert_eq!(texts_of(&list, &format!("{row} .key .flag")), ["never used"]);

    // 91 days later the key is old, and still unused by the teammate.
    app.clock.advance(91 * DAY);
    app.sign_in_owner_again().await;
    let list = app.get("/admin/teammates").await.text().await.unwrap();
    assert_eq!(texts_of(&list, &format!("{row} .key .flag")), ["older than 90 days", "never used"]);

    // The teammate uses it now (real time); by the portal's clock that was 91 days ago.
    app.use_key(&key, payload["secret_access_key"].as_str().unwrap()).await;
    let list = app.get("/admin/teammates").await.text().await.unwrap();
    assert_eq!(texts_of(&list, &format!("{row} .key .flag")), ["older than 90 days", "unused for 45 days"]);
    assert!(key_cell(&list, &name, &key, "").contains("(s3)"), "last used by S3");
}

#[tokio::test]
async fn a_key_listing_iam_refuses_is_shown_as_unavailable_never_as_no_keys() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("dark");
    app.onboard(&name).await;
    app.faults.refuse_always("ListAccessKeys", 403, "AccessDenied");

    let list = app.get("/admin/teammates").await;

    assert_eq!(list.status(), 200, "the rest of the page still works");
    let list = list.text().await.unwrap();
    let row = format!("#teammates tr[data-name=\"{name}\"]");
    assert!(text_of(&list, &format!("{row} .keys-unavailable")).contains("IAM unavailable (AccessDenied)"));
    assert!(!has(&list, &format!("{row} .no-keys")));
    let (_, page) = app.teammate_page(&name).await;
    assert!(text_of(&page, "#keys-unavailable").contains("IAM unavailable"));
    assert!(!has(&page, "#no-keys"));
    // Unreachable is the same story (the SDK retried first).
    app.faults.clear();
    app.faults.unreachable_always("ListAccessKeys");
    let (_, page) = app.teammate_page(&name).await;
    assert!(text_of(&page, "#keys-unavailable").contains("IAM unavailable (unreachable)"));
    // An action that needs the list changes nothing and says why.
    let res = app.teammate_action(&name, "rotate", &[]).await;
    assert_eq!(res.status(), 502);
    assert!(text_of(&res.text().await.unwrap(), "#form-error").contains("IAM unavailable"));
    assert_eq!(app.count("SELECT COUNT(*) FROM key_rotations").await, 0);
    app.faults.clear();
    assert_eq!(app.iam_keys(&name).await.len(), 1);
}

#[tokio::test]
async fn a_key_can_be_deactivated_reactivated_and_deleted_and_links_carrying_it_die() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("kay");
    let link = app.add_teammate_link(&name).await;
    let key = app.iam_keys(&name).await[0].0.clone();

    let res = app.teammate_action(&name, &format!("keys/{key}/deactivate"), &[]).await;

    assert_eq!(res.status(), 303);
    assert_eq!(app.iam_keys(&name).await, vec![(key.clone(), false)]);
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert!(text_of(&page, "#notice").contains("deactivated"));
    assert_eq!(text_of(&page, &format!("#keys tr[data-key=\"{key}\"] .key-status")), "Inactive");
    // The unrevealed link carrying the key was revoked with it.
    assert_eq!(app.reveal(&app.new_client(), &link).await.unwrap_err().status(), 410);
    assert_eq!(app.audit_of("link.revoked").await[0].3["reason"], "key_deactivated");

    let res = app.teammate_action(&name, &format!("keys/{key}/reactivate"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.iam_keys(&name).await, vec![(key.clone(), true)]);

    // Deleting needs the name typed.
    let res = app.teammate_action(&name, &format!("keys/{key}/delete"), &[("confirm", "nope")]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(app.iam_keys(&name).await.len(), 1);
    let res = app.teammate_action(&name, &format!("keys/{key}/delete"), &[("confirm", &name)]).await;
    assert_eq!(res.status(), 303);
    assert!(app.iam_keys(&name).await.is_empty());
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert!(has(&page, "#no-keys"), "IAM lists no keys: said so, because IAM answered");

    // A key of someone else (or made up) is not found, and nothing is called.
    let other = unique("other");
    app.add_teammate_link(&other).await;
    let others_key = app.iam_keys(&other).await[0].0.clone();
    let res = app.teammate_action(&name, &format!("keys/{others_key}/deactivate"), &[]).await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.iam_keys(&other).await, vec![(others_key, true)]);
    let actions = app.audit_actions().await;
    for expected in ["iam.access_key_deactivated", "iam.access_key_reactivated", "iam.access_key_deleted"] {
        assert_eq!(actions.iter().filter(|a| *a == expected).count(), 1, "{expected}");
    }
}

#[tokio::test]
async fn disabling_a_portal_account_ends_its_sessions_and_leaves_iam_alone() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("dis");
    let (_, teammate) = app.onboard(&name).await;
    assert_eq!(teammate.get(app.url("/upload")).send().await.unwrap().status(), 200);
    let res = app.teammate_action(&name, "links", &[]).await;
    let account_link = text_of(&res.text().await.unwrap(), "#one-time-link");

    let res = app.teammate_action(&name, "disable", &[]).await;

    assert_eq!(res.status(), 303);
    assert_eq!(teammate.get(app.url("/upload")).send().await.unwrap().status(), 303, "signed out at once");
    // The pending portal-account link dies with the account (it could only be used up in vain).
    assert_eq!(app.reveal(&app.new_client(), &account_link).await.unwrap_err().status(), 410);
    assert_eq!(app.audit_of("teammate.disabled").await[0].3["links_revoked"], 1);
    assert_eq!(app.login(&app.new_client(), &name, TEAMMATE_PASSWORD).await.status(), 401);
    assert_eq!(app.iam_keys(&name).await.iter().filter(|(_, active)| *active).count(), 1, "IAM untouched");
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert_eq!(text_of(&page, "#status"), "disabled");
    assert_eq!(app.audit_of("teammate.disabled").await[0].3["sessions_ended"], 1);
    assert_eq!(app.teammate_action(&name, "disable", &[]).await.status(), 409, "already disabled");

    let res = app.teammate_action(&name, "enable", &[]).await;

    assert_eq!(res.status(), 303);
    assert_eq!(app.login(&app.new_client(), &name, TEAMMATE_PASSWORD).await.status(), 303);
    assert_eq!(app.audit_of("teammate.enabled").await.len(), 1);
}

#[tokio::test]
async fn a_portal_account_link_sets_a_new_password_and_carries_no_key() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("pw");
    app.onboard(&name).await;

    let res = app.teammate_action(&name, "links", &[]).await;

    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(!has(&html, "#access-key-id"), "no key is shown or made");
    assert_eq!(app.iam_keys(&name).await.len(), 1);
    let link = text_of(&html, "#one-time-link");
    let teammate = app.new_client();
    let payload = app.reveal(&teammate, &link).await.unwrap();
    assert_eq!(payload["kind"], "account");
    assert!(payload.get("secret_access_key").is_none() && payload.get("access_key_id").is_none());
    let (id, _) = split_link(&link);
    let new_password = "a-brand-new-password";
    let res = teammate
        .post(app.url(&format!("/l/{id}/enrol")))
        .json(&serde_json::json!({"enrol_token": payload["enrol_token"], "password": new_password, "confirm": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.login(&app.new_client(), &name, new_password).await.status(), 303);
    assert_eq!(app.login(&app.new_client(), &name, TEAMMATE_PASSWORD).await.status(), 401, "the old one is gone");
    let created = app.audit_of("link.created").await;
    assert_eq!(created.last().unwrap().3["kind"], "account");
}

#[tokio::test]
async fn unknown_teammates_and_bad_names_are_not_found() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let (status, _) = app.teammate_page("nobody-here").await;
    assert_eq!(status, 404);
    let res = app.teammate_action("nobody-here", "disable", &[]).await;
    assert_eq!(res.status(), 404);
    let res = app.teammate_action("bad name!", "rotate", &[]).await;
    assert_eq!(res.status(), 404);
}
