//! Provisioning that cannot be left half done (C18): each step is made to
//! fail once through the fault seam in front of IAM (the request never
//! reaches moto); the teammate is then 'incomplete' with the step shown and
//! a Resume button, the failure is audited, and Resume finishes from the
//! missing step without a dead end or a needless second key.

use crate::helpers::*;

/// The teammates page row of `name`: (status word, status detail, has a Resume button).
fn row(html: &str, name: &str) -> (String, String, bool) {
    let base = format!("#teammates tr[data-name=\"{name}\"]");
    (
        text_of(html, &format!("{base} .status-word")),
        text_of(html, &format!("{base} .status-detail")),
        has(html, &format!("{base} form.resume button")),
    )
}

#[tokio::test]
async fn each_iam_step_that_fails_leaves_an_incomplete_teammate_that_resume_finishes() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    // CreatePolicy first: the bucket's policy exists after the first teammate.
    // (operation that fails, the step shown, the step Resume continues after)
    let steps = [
        ("CreatePolicy", "ensure policy", None),
        ("CreateUser", "create IAM user", Some("policy")),
        ("AttachUserPolicy", "attach policy", Some("user")),
        ("CreateAccessKey", "create access key", Some("attach")),
    ];
    for (operation, step, resumed_after) in steps {
        let name = unique("stepper");
        app.faults.refuse(operation, 403, "AccessDenied", 1);

        let res = app.add_teammate(&name).await;

        assert_eq!(res.status(), 502, "{operation}");
        let html = res.text().await.unwrap();
        assert!(text_of(&html, "#form-error").contains(step), "{operation}: {html}");
        assert_eq!(app.faults.injected(operation), 1, "{operation} failed once, at the seam");
        let (status, _, error) = app.stored_teammate(&name).await;
        assert_eq!((status.as_str(), error.as_deref()), ("incomplete", Some(format!("{step}: AccessDenied").as_str())));
        let failed = app.audit_of("teammate.provision_failed").await;
        let last = failed.last().unwrap();
        assert_eq!((last.1.as_str(), last.2.as_deref()), ("failure", Some(name.as_str())));
        assert_eq!(last.3["step"], step);
        assert_eq!(last.3["error"], "AccessDenied");
        let list = app.get("/admin/teammates").await.text().await.unwrap();
        let (word, detail, resume) = row(&list, &name);
        assert_eq!(word, "incomplete", "{operation}");
        assert!(detail.contains(step), "{operation}: the step is shown: {detail}");
        assert!(resume, "{operation}: a Resume button is shown");

        let res = app.teammate_action(&name, "resume", &[]).await;

        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, 200, "{operation}: resume: {}", text_of(&html, "#form-error"));
        assert!(text_of(&html, "#one-time-link").contains("/l/"));
        let keys = app.iam_keys(&name).await;
        assert_eq!(keys.len(), 1, "{operation}: exactly one key after resuming");
        assert_eq!(text_of(&html, "#access-key-id"), keys[0].0);
        let says_resumed = texts_of(&html, ".note").iter().any(|n| n.contains("Resumed after"));
        assert_eq!(says_resumed, resumed_after.is_some(), "{operation}: the page says whether it resumed");
        let started = app.audit_of("teammate.provision_started").await;
        let started = started.iter().filter(|r| r.2.as_deref() == Some(name.as_str())).collect::<Vec<_>>();
        assert_eq!(started.len(), 2);
        assert_eq!(started[1].3["resumed_after"].as_str(), resumed_after, "{operation}");
        assert_eq!(app.stored_teammate(&name).await.0, "active");
        // The IAM user is whole: tagged as ours, policy attached.
        let iam = app.emulator.iam();
        let tags = iam.list_user_tags().user_name(&name).send().await.unwrap();
        assert!(tags.tags().iter().any(|t| t.key() == "managed-by" && t.value() == "egx-portal"));
        let attached = iam.list_attached_user_policies().user_name(&name).send().await.unwrap();
        assert_eq!(attached.attached_policies().len(), 1);
    }
}

#[tokio::test]
async fn a_key_whose_link_could_not_be_stored_is_replaced_on_resume_not_duplicated() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("lost");
    // The link step fails in SQLite itself, after CreateAccessKey succeeded.
    sqlx::query(
        "CREATE TRIGGER egx_test_no_links BEFORE INSERT ON secret_links \
         BEGIN SELECT RAISE(ABORT, 'injected by the test'); END",
    )
    .execute(&app.state.db)
    .await
    .unwrap();

    let res = app.add_teammate(&name).await;

    assert_eq!(res.status(), 500);
    let first_keys = app.iam_keys(&name).await;
    assert_eq!(first_keys.len(), 1, "the key was made before the link failed");
    let (status, step, error) = app.stored_teammate(&name).await;
    assert_eq!(
        (status.as_str(), step.as_deref(), error.as_deref()),
        ("incomplete", Some("key"), Some("issue link: internal"))
    );
    assert_eq!(app.audit_of("teammate.provision_failed").await.last().unwrap().3["step"], "issue link");

    sqlx::query("DROP TRIGGER egx_test_no_links").execute(&app.state.db).await.unwrap();
    let res = app.teammate_action(&name, "resume", &[]).await;

    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let keys = app.iam_keys(&name).await;
    assert_eq!(keys.len(), 1, "the undeliverable key was replaced, not joined by a second");
    assert_ne!(keys[0].0, first_keys[0].0);
    assert_eq!(text_of(&html, "#access-key-id"), keys[0].0);
    let deleted = app.audit_of("iam.access_key_deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].3["access_key_id"], first_keys[0].0.as_str());
    assert!(deleted[0].3["reason"].as_str().unwrap().starts_with("undelivered"));
    // The link works.
    let (payload, _) = app.enrol_via(&text_of(&html, "#one-time-link")).await;
    assert_eq!(payload["access_key_id"], keys[0].0.as_str());
}

#[tokio::test]
async fn resuming_a_user_who_already_has_two_keys_stops_with_the_limit_explained() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("full");
    app.faults.refuse("CreateAccessKey", 403, "AccessDenied", 1);
    assert_eq!(app.add_teammate(&name).await.status(), 502);
    // Meanwhile someone made two keys by hand.
    let iam = app.emulator.iam();
    for _ in 0..2 {
        iam.create_access_key().user_name(&name).send().await.unwrap();
    }

    let res = app.teammate_action(&name, "resume", &[]).await;

    assert_eq!(res.status(), 502);
    assert!(text_of(&res.text().await.unwrap(), "#form-error").contains("two access keys"));
    assert_eq!(app.iam_keys(&name).await.len(), 2, "the keys made by hand are not touched");
    let (status, _, error) = app.stored_teammate(&name).await;
    assert_eq!((status.as_str(), error.as_deref()), ("incomplete", Some("create access key: key_limit")));
}

#[tokio::test]
async fn a_key_sts_has_not_accepted_yet_is_delivered_with_a_warning() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    // The portal's own identity is known (cached) once a first teammate was added.
    app.add_teammate_link(&unique("first")).await;
    let name = unique("slow");
    // AWS is eventually consistent: a fresh key can be refused for seconds (C15).
    app.faults.refuse_always("GetCallerIdentity", 403, "InvalidClientTokenId");

    let res = app.add_teammate(&name).await;

    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(text_of(&html, "main").contains("may need a few more seconds"), "{html}");
    assert!(app.faults.injected("GetCallerIdentity") >= 2, "the check was retried with backoff");
    let verified = app.audit_of("iam.access_key_verified").await;
    assert_eq!(verified.last().unwrap().1, "failure");
    app.faults.clear();
    let payload = app.reveal(&app.new_client(), &text_of(&html, "#one-time-link")).await.unwrap();
    assert_eq!(payload["key_verified"], false, "the reveal page is told too");
}

/// Waits (bounded) until the seam has caught one request for `operation`.
async fn wait_until_caught(app: &TestApp, operation: &str) {
    for _ in 0..200 {
        if app.faults.injected(operation) > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no {operation} request arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_add_or_rotation_while_one_is_under_way_is_refused_not_run_twice() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("jack");

    // Arrange: the first "add" is caught in the middle (its CreateUser waits).
    let held = app.faults.hold("CreateUser");
    let first = {
        let (client, url, csrf) =
            (app.client.clone(), app.url("/admin/teammates"), app.csrf(&app.client, "/admin/teammates").await);
        let name = name.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .form(&[("csrf_token", csrf.as_str()), ("username", name.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    wait_until_caught(&app, "CreateUser").await;

    // Act: the double click.
    let second = app.add_teammate(&name).await;

    // Assert: refused while the first runs; the first then finishes alone, with one key.
    assert_eq!(second.status(), 409);
    let html = second.text().await.unwrap();
    assert!(text_of(&html, "#form-error").starts_with(&format!("{name} is busy: adding is under way")), "{html}");
    held.release();
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(app.iam_keys(&name).await.len(), 1, "exactly one key was made");
    assert_eq!(app.audit_of("teammate.provision_started").await.len(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM teammate_locks").await, 0, "the lease was given back");

    // The same for two rotations at once.
    let original = app.iam_keys(&name).await[0].0.clone();
    let held = app.faults.hold("CreateAccessKey");
    let first = {
        let (client, csrf) = (app.client.clone(), app.csrf(&app.client, "/admin/teammates").await);
        let url = app.url(&format!("/admin/teammates/{name}/rotate"));
        tokio::spawn(
            async move { client.post(url).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap().status() },
        )
    };
    wait_until_caught(&app, "CreateAccessKey").await;
    let second = app.teammate_action(&name, "rotate", &[]).await;
    assert_eq!(second.status(), 409);
    held.release();
    assert_eq!(first.await.unwrap(), 200);
    // (The first key's link was never revealed, so the rotation deleted it: nobody had it.)
    let keys = app.iam_keys(&name).await;
    assert_eq!(keys.len(), 1, "one new key, not two: {keys:?}");
    assert_ne!(keys[0].0, original);
}
