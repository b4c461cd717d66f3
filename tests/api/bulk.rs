//! Bulk add: every name checked first (all invalid ones reported, nobody
//! added), then provisioned a few at a time with backoff on throttling, and
//! one results table with a link per teammate, shown once.

use crate::helpers::*;

async fn bulk_post(app: &TestApp, names: &str, csv: &str) -> reqwest::Response {
    let csrf = app.csrf(&app.client, "/admin/bulk-add").await;
    app.post_form("/admin/bulk-add", &[("csrf_token", &csrf), ("names", names), ("csv", csv)]).await
}

#[tokio::test]
async fn every_invalid_name_is_reported_and_nobody_is_added() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let good = unique("good");

    let res = bulk_post(&app, &format!("{good}\nbad/name"), "name\n\"with space\"\n<script>x</script>").await;

    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert_eq!(texts_of(&html, "#invalid-names .entry"), ["bad/name", "with space", "<script>x</script>"]);
    assert_eq!(text_of(&html, "#bulk-names"), format!("{good}\nbad/name"), "the input is kept to fix");
    assert_eq!(app.count("SELECT COUNT(*) FROM teammates").await, 0);
    assert!(app.emulator.iam().get_user().user_name(&good).send().await.is_err(), "nothing reached IAM");
}

#[tokio::test]
async fn many_names_from_a_list_and_a_csv_are_added_with_one_link_each_shown_once() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let existing = unique("old");
    app.add_teammate_link(&existing).await;
    let listed: Vec<String> = (0..3).map(|i| unique(&format!("list{i}"))).collect();
    let from_csv: Vec<String> = (0..3).map(|i| unique(&format!("csv{i}"))).collect();
    let csv = format!(
        "email,name\n{}\n{}, {}\n",
        from_csv.iter().map(|n| format!("{n}@example.org,{n}")).collect::<Vec<_>>().join("\n"),
        "dup@example.org",
        listed[0]
    );

    let res = bulk_post(&app, &format!("{}\n{}\n{}\n{existing}", listed[0], listed[1], listed[2]), &csv).await;

    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let mut expected: Vec<String> = listed.clone();
    expected.push(existing.clone());
    expected.extend(from_csv.iter().cloned());
    assert_eq!(texts_of(&html, "#bulk-results tbody tr td:first-child"), expected, "each name once, in order");
    for name in listed.iter().chain(&from_csv) {
        let row = format!("#bulk-results tr[data-name=\"{name}\"]");
        assert!(text_of(&html, &format!("{row} .outcome")).starts_with("added"), "{name}");
        let link = text_of(&html, &format!("{row} code.link"));
        let payload = app.reveal(&app.new_client(), &link).await.unwrap();
        assert_eq!(payload["username"], name.as_str());
        assert_eq!(app.iam_keys(name).await.len(), 1);
    }
    let skipped = format!("#bulk-results tr[data-name=\"{existing}\"]");
    assert!(text_of(&html, &format!("{skipped} .outcome")).starts_with("skipped"));
    assert!(!has(&html, &format!("{skipped} code.link")));
    assert_eq!(app.iam_keys(&existing).await.len(), 1, "an existing teammate gets no second key");
    let requested = app.audit_of("teammate.bulk_add").await;
    assert_eq!(requested[0].3["count"], 7);
    assert_eq!(app.audit_of("link.created").await.len(), 7, "one link per added teammate (and the first one)");
}

#[tokio::test]
async fn throttling_beyond_the_sdks_own_retries_is_retried_with_backoff() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let name = unique("busy");
    // The SDK tries 4 times itself; the fifth refusal reaches the bulk add's own backoff.
    app.faults.refuse("CreateUser", 400, "Throttling", 5);

    let res = bulk_post(&app, &name, "").await;

    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let row = format!("#bulk-results tr[data-name=\"{name}\"]");
    assert!(text_of(&html, &format!("{row} .outcome")).starts_with("added"), "{html}");
    assert!(text_of(&html, &format!("{row} .message")).contains("attempts"));
    assert_eq!(app.faults.injected("CreateUser"), 5);
    let failed = app.audit_of("teammate.provision_failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].3["step"].as_str(), failed[0].3["error"].as_str()),
        (Some("create IAM user"), Some("Throttling"))
    );
    assert_eq!(app.stored_teammate(&name).await.0, "active");
    assert_eq!(app.iam_keys(&name).await.len(), 1);
}

#[tokio::test]
async fn a_name_that_failed_is_left_incomplete_and_a_later_bulk_add_resumes_it() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let ok = unique("fine");
    let stuck = unique("stuck");
    app.add_teammate_link(&unique("warm")).await; // the bucket's policy exists
    app.faults.refuse("AttachUserPolicy", 403, "AccessDenied", 1);

    let res = bulk_post(&app, &stuck, "").await;

    let html = res.text().await.unwrap();
    let row = format!("#bulk-results tr[data-name=\"{stuck}\"]");
    assert!(text_of(&html, &format!("{row} .outcome")).starts_with("failed"));
    assert!(text_of(&html, &format!("{row} .message")).contains("attach policy"));
    assert_eq!(app.stored_teammate(&stuck).await.0, "incomplete");
    let list = app.get("/admin/teammates").await.text().await.unwrap();
    assert!(has(&list, &format!("#teammates tr[data-name=\"{stuck}\"] form.resume button")));

    let res = bulk_post(&app, &format!("{ok}\n{stuck}"), "").await;

    let html = res.text().await.unwrap();
    for name in [&ok, &stuck] {
        assert!(text_of(&html, &format!("#bulk-results tr[data-name=\"{name}\"] .outcome")).starts_with("added"));
        assert_eq!(app.iam_keys(name).await.len(), 1, "{name}: one key");
    }
}
