//! Multipart uploads through the API, on LocalStack (which checks presigned
//! signatures, signed Content-Length and If-None-Match): parts signed one at
//! a time, the part plan enforced by S3, ownership, no silent overwrite,
//! resume (ListParts), abort, and the stale-upload sweeper (C09, C12, C13).

use crate::helpers::*;

const MIB: usize = 1024 * 1024;

async fn app_with_small_parts() -> TestApp {
    let mut spawn = Spawn::on(Backend::LocalStack);
    spawn.env =
        vec![("EGX_MULTIPART_THRESHOLD_BYTES", (5 * MIB).to_string()), ("EGX_PART_SIZE_BYTES", (5 * MIB).to_string())];
    TestApp::spawn_with(spawn).await
}

/// Bytes that differ at every offset, so a misplaced part shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i / 251 % 256) as u8).collect()
}

async fn post_json(app: &TestApp, who: &reqwest::Client, path: &str, body: serde_json::Value) -> reqwest::Response {
    let csrf = app.csrf(who, "/upload").await;
    who.post(app.url(path)).header("x-csrf-token", csrf).json(&body).send().await.unwrap()
}

async fn create(app: &TestApp, who: &reqwest::Client, path: &str, size: usize, replace: bool) -> reqwest::Response {
    post_json(
        app,
        who,
        "/api/multipart",
        serde_json::json!({"prefix": "batch", "folder": "mp", "relative_path": path, "size": size, "replace": replace}),
    )
    .await
}

async fn sign_part(app: &TestApp, who: &reqwest::Client, id: &str, n: &str) -> reqwest::Response {
    post_json(app, who, &format!("/api/multipart/{id}/parts/{n}"), serde_json::json!({})).await
}

async fn list_parts(app: &TestApp, who: &reqwest::Client, id: &str) -> reqwest::Response {
    who.get(app.url(&format!("/api/multipart/{id}/parts"))).send().await.unwrap()
}

async fn complete(app: &TestApp, who: &reqwest::Client, id: &str, parts: &serde_json::Value) -> reqwest::Response {
    post_json(app, who, &format!("/api/multipart/{id}/complete"), serde_json::json!({ "parts": parts })).await
}

async fn abort(app: &TestApp, who: &reqwest::Client, id: &str) -> reqwest::Response {
    let csrf = app.csrf(who, "/upload").await;
    who.delete(app.url(&format!("/api/multipart/{id}"))).header("x-csrf-token", csrf).send().await.unwrap()
}

/// PUTs `body` to a signed part URL as a browser would; returns (status, ETag).
async fn put_part(signed: &serde_json::Value, body: Vec<u8>) -> (u16, Option<String>) {
    let mut req = reqwest::Client::new().put(signed["url"].as_str().unwrap()).body(body);
    for (k, v) in signed["headers"].as_object().unwrap() {
        req = req.header(k, v.as_str().unwrap());
    }
    let res = req.send().await.unwrap();
    let etag = res.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), etag)
}

/// Signs and uploads the given parts of `data`; returns their `{PartNumber, ETag}`.
async fn upload_parts(
    app: &TestApp,
    who: &reqwest::Client,
    id: &str,
    data: &[u8],
    part_size: usize,
    numbers: &[usize],
) -> Vec<serde_json::Value> {
    let mut parts = Vec::new();
    for &n in numbers {
        let res = sign_part(app, who, id, &n.to_string()).await;
        assert_eq!(res.status(), 200, "part {n} is signed");
        let signed: serde_json::Value = res.json().await.unwrap();
        let chunk = data[(n - 1) * part_size..(n * part_size).min(data.len())].to_vec();
        assert_eq!(signed["content_length"], chunk.len(), "the part's exact length is signed");
        let (status, etag) = put_part(&signed, chunk).await;
        assert_eq!(status, 200, "part {n} is accepted by S3");
        parts.push(serde_json::json!({"PartNumber": n, "ETag": etag.unwrap()}));
    }
    parts
}

async fn object_bytes(app: &TestApp, key: &str) -> Vec<u8> {
    let object = app.emulator.s3().get_object().bucket(&app.bucket).key(key).send().await.unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn open_s3_uploads(app: &TestApp) -> Vec<String> {
    let out = app.emulator.s3().list_multipart_uploads().bucket(&app.bucket).send().await.unwrap();
    out.uploads().iter().filter_map(|u| u.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_large_file_goes_up_in_parts_each_signed_on_demand_and_lands_byte_for_byte() {
    // Arrange
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let data = pattern(12 * MIB + 12_345);

    // Act
    let res = create(&app, &alice, "ticks 100%.bin", data.len(), false).await;
    assert_eq!(res.status(), 200);
    let started: serde_json::Value = res.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap().to_owned();
    assert_eq!(started["key"], "batch/mp/ticks 100%.bin");
    assert_eq!(started["part_size"], 5 * MIB);
    assert_eq!(started["part_count"], 3);
    let parts = upload_parts(&app, &alice, &id, &data, 5 * MIB, &[1, 2, 3]).await;
    let res = complete(&app, &alice, &id, &serde_json::json!(parts)).await;

    // Assert
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    assert_eq!(done["size"], data.len());
    assert_eq!(object_bytes(&app, "batch/mp/ticks 100%.bin").await, data);
    let (status, size): (String, i64) =
        sqlx::query_as("SELECT status, size FROM uploads").fetch_one(&app.state.db).await.unwrap();
    assert_eq!((status.as_str(), size), ("completed", data.len() as i64));
    assert_eq!(app.count("SELECT COUNT(*) FROM multipart_uploads WHERE state = 'completed'").await, 1);
    let actions = app.audit_actions().await;
    assert!(actions.ends_with(&["upload.multipart_created".into(), "upload.completed".into()]), "{actions:?}");
    assert!(open_s3_uploads(&app).await.is_empty());
    let page = alice.get(app.url("/upload")).send().await.unwrap().text().await.unwrap();
    assert_eq!(text_of(&page, "#history tbody tr td code"), "batch/mp/ticks 100%.bin");
}

#[tokio::test]
async fn a_part_of_another_size_than_planned_is_refused_by_s3() {
    // C12: the part plan is enforced by S3 itself through the signed Content-Length.
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let started: serde_json::Value = create(&app, &alice, "a.bin", 12_000_000, false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap();
    let signed: serde_json::Value = sign_part(&app, &alice, id, "1").await.json().await.unwrap();
    assert_eq!(signed["content_length"], 5 * MIB);

    let (too_small, _) = put_part(&signed, vec![1u8; 5_000_000]).await;
    let (too_big, _) = put_part(&signed, vec![1u8; 5 * MIB + 1]).await;

    assert_eq!(too_small, 403);
    assert_eq!(too_big, 403);
    let parts: Vec<serde_json::Value> = list_parts(&app, &alice, id).await.json().await.unwrap();
    assert!(parts.is_empty(), "{parts:?}");
}

#[tokio::test]
async fn part_numbers_outside_the_plan_are_refused_and_audited() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let started: serde_json::Value = create(&app, &alice, "a.bin", 12_000_000, false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap();

    for n in ["0", "4", "10001", "-1", "abc", "99999999999999999999"] {
        let res = sign_part(&app, &alice, id, n).await;
        assert_eq!(res.status(), 400, "part {n}");
    }

    let refused = app.audit().await.into_iter().filter(|(a, o, _)| a == "upload.refused" && o == "failure").count();
    assert_eq!(refused, 6);
    assert_eq!(sign_part(&app, &alice, id, "3").await.status(), 200, "the last part is fine");
}

#[tokio::test]
async fn another_teammate_cannot_sign_list_complete_or_abort_alices_upload() {
    // Arrange: alice has an upload with one part in S3.
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let (_, bob) = app.onboard(&unique("bob")).await;
    let data = pattern(6 * MIB);
    let started: serde_json::Value = create(&app, &alice, "mine.bin", data.len(), false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let parts = upload_parts(&app, &alice, &id, &data, 5 * MIB, &[1]).await;
    let audit_before = app.audit().await.len();

    // Act + Assert: bob gets 404 for every operation on it.
    assert_eq!(sign_part(&app, &bob, &id, "2").await.status(), 404);
    assert_eq!(list_parts(&app, &bob, &id).await.status(), 404);
    assert_eq!(complete(&app, &bob, &id, &serde_json::json!(parts)).await.status(), 404);
    assert_eq!(abort(&app, &bob, &id).await.status(), 404);
    let res = post_json(
        &app,
        &bob,
        "/api/multipart/resumable",
        serde_json::json!({"prefix": "batch", "folder": "mp", "relative_path": "mine.bin", "size": data.len()}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let found: serde_json::Value = res.json().await.unwrap();
    assert_eq!(found, serde_json::json!({"upload_id": null}), "bob cannot find alice's upload to resume it");
    // Nor through the single-PUT completion endpoint.
    let numeric: i64 = id.parse().unwrap();
    assert_eq!(app.complete(&bob, numeric).await.status(), 404);

    // Nothing changed: still open, still in S3, no audit rows.
    assert_eq!(app.count("SELECT COUNT(*) FROM multipart_uploads WHERE state = 'open'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'signed'").await, 1);
    assert_eq!(open_s3_uploads(&app).await, vec!["batch/mp/mine.bin".to_owned()]);
    assert_eq!(app.audit().await.len(), audit_before);
    // And alice can still finish it.
    let mut all = parts.clone();
    all.extend(upload_parts(&app, &alice, &id, &data, 5 * MIB, &[2]).await);
    assert_eq!(complete(&app, &alice, &id, &serde_json::json!(all)).await.status(), 200);
    assert_eq!(object_bytes(&app, "batch/mp/mine.bin").await, data);
}

#[tokio::test]
async fn a_single_put_is_refused_above_the_multipart_threshold() {
    // C14: never a single PUT above the threshold (itself at most 5 GiB).
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;

    let res =
        app.sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "big.bin", "size": 5 * MIB + 1})).await;

    assert_eq!(res.status(), 400);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads").await, 0);
    assert!(
        app.audit()
            .await
            .iter()
            .any(|(a, o, t)| a == "upload.refused" && o == "failure" && t.as_deref() == Some("batch/big.bin"))
    );
}

/// Uploads `bytes` to `prefix/name` through the portal (sign, PUT, complete).
async fn upload_small(app: &TestApp, who: &reqwest::Client, prefix: &str, name: &str, bytes: &[u8]) -> i64 {
    let res = app.sign(who, serde_json::json!({"prefix": prefix, "relative_path": name, "size": bytes.len()})).await;
    assert_eq!(res.status(), 200, "signing {prefix}/{name}");
    let signed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(put_part(&signed, bytes.to_vec()).await.0, 200);
    let id = signed["upload_id"].as_i64().unwrap();
    assert_eq!(app.complete(who, id).await.status(), 200);
    id
}

#[tokio::test]
async fn a_teammates_own_object_is_refused_then_replaced_when_they_ask() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let first = upload_small(&app, &alice, "batch", "x.csv", b"old").await;
    let data = pattern(6 * MIB);
    let started: serde_json::Value = create(&app, &alice, "y.bin", data.len(), false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap();
    let parts = upload_parts(&app, &alice, id, &data, 5 * MIB, &[1, 2]).await;
    assert_eq!(complete(&app, &alice, id, &serde_json::json!(parts)).await.status(), 200);

    // Refused by default, single PUT and multipart alike, with "Replace" offered (code "conflict").
    let res = app.sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "x.csv", "size": 3})).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "conflict");
    assert!(body["message"].as_str().unwrap().contains("already exists in the bucket (you uploaded it)"), "{body}");
    assert_eq!(create(&app, &alice, "y.bin", 6 * MIB, false).await.status(), 409);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads").await, 2, "nothing new was recorded");

    // Allowed when asked: the choice is audited, the write is conditional on the very object, and the bytes change.
    let res = app
        .sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "x.csv", "size": 3, "replace": true}))
        .await;
    assert_eq!(res.status(), 200);
    let signed: serde_json::Value = res.json().await.unwrap();
    assert!(signed["headers"].get("if-none-match").is_none(), "{signed}");
    let etag = app.emulator.s3().head_object().bucket(&app.bucket).key("batch/x.csv").send().await.unwrap();
    assert_eq!(signed["headers"]["if-match"].as_str(), etag.e_tag(), "If-Match names the object checked");
    assert_eq!(put_part(&signed, b"new".to_vec()).await.0, 200);
    let second = signed["upload_id"].as_i64().unwrap();
    assert_eq!(app.complete(&alice, second).await.status(), 200);
    assert_eq!(object_bytes(&app, "batch/x.csv").await, b"new");
    let (replaced_by,): (Option<i64>,) = sqlx::query_as("SELECT replaced_by FROM uploads WHERE id = ?")
        .bind(first)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(replaced_by, Some(second), "the first row now points at the upload that replaced it");

    let data = pattern(6 * MIB + 7);
    let started: serde_json::Value = create(&app, &alice, "y.bin", data.len(), true).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap();
    let parts = upload_parts(&app, &alice, id, &data, 5 * MIB, &[1, 2]).await;
    assert_eq!(complete(&app, &alice, id, &serde_json::json!(parts)).await.status(), 200);
    assert_eq!(object_bytes(&app, "batch/mp/y.bin").await, data);

    let audit = app.audit().await;
    let refusals = audit.iter().filter(|(a, o, _)| a == "upload.refused" && o == "failure").count();
    assert_eq!(refusals, 2);
    let replaces: Vec<_> =
        audit.iter().filter(|(a, _, _)| a == "upload.replace_requested").map(|(_, _, t)| t.clone()).collect();
    assert_eq!(replaces, vec![Some("batch/x.csv".to_owned()), Some("batch/mp/y.bin".to_owned())]);

    // The owner's list marks the replaced row.
    let html = app.get("/admin/uploads?key=batch/x.csv").await.text().await.unwrap();
    assert_eq!(text_of(&html, &format!("#upload-{first} .state")), format!("replaced by #{second}"));
    assert_eq!(text_of(&html, &format!("#upload-{second} .state")), "latest");
}

#[tokio::test]
async fn nobody_replaces_another_teammates_object_or_one_written_outside_the_portal() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let (_, bob) = app.onboard(&unique("bob")).await;
    upload_small(&app, &alice, "streaming", "alices.csv", b"alice's").await;
    let s3 = app.emulator.s3();
    s3.put_object()
        .bucket(&app.bucket)
        .key("batch/cli.csv")
        .body(b"from the CLI".to_vec().into())
        .send()
        .await
        .unwrap();
    let before = app.count("SELECT COUNT(*) FROM uploads").await;

    for (prefix, name) in [("streaming", "alices.csv"), ("batch", "cli.csv")] {
        for replace in [false, true] {
            let dest = serde_json::json!({"prefix": prefix, "relative_path": name, "size": 3, "replace": replace});
            let res = app.sign(&bob, dest).await;
            assert_eq!(res.status(), 409, "{prefix}/{name} replace={replace}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"], "object_taken", "no Replace is offered");
            assert!(body["message"].as_str().unwrap().contains("was not uploaded by you"), "{body}");
        }
    }
    // Alice herself may not replace what the CLI wrote either: the portal did not record it as hers.
    let res = app
        .sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "cli.csv", "size": 3, "replace": true}))
        .await;
    assert_eq!(res.status(), 409);

    assert_eq!(object_bytes(&app, "streaming/alices.csv").await, b"alice's");
    assert_eq!(object_bytes(&app, "batch/cli.csv").await, b"from the CLI");
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads").await, before, "nothing was signed");
    let refused = app
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'upload.refused' AND detail LIKE '%exists_not_yours%'")
        .await;
    assert_eq!(refused, 5);
}

#[tokio::test]
async fn a_replace_is_refused_by_s3_when_the_object_changed_after_signing() {
    // The replace URL is signed with If-Match on the checked ETag (LocalStack honours it).
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    upload_small(&app, &alice, "batch", "moving.csv", b"v1").await;
    let dest = serde_json::json!({"prefix": "batch", "relative_path": "moving.csv", "size": 2, "replace": true});
    let signed: serde_json::Value = app.sign(&alice, dest).await.json().await.unwrap();
    let s3 = app.emulator.s3();
    s3.put_object().bucket(&app.bucket).key("batch/moving.csv").body(b"v2".to_vec().into()).send().await.unwrap();

    let (status, _) = put_part(&signed, b"v3".to_vec()).await;

    assert_eq!(status, 412);
    assert_eq!(object_bytes(&app, "batch/moving.csv").await, b"v2");
}

#[tokio::test]
async fn s3_refuses_a_signed_put_when_an_object_appeared_after_signing() {
    // If-None-Match: * is signed into the URL (LocalStack honours it).
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let res =
        app.sign(&alice, serde_json::json!({"prefix": "streaming", "relative_path": "race.csv", "size": 3})).await;
    let signed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(signed["headers"]["if-none-match"], "*");
    let url = signed["url"].as_str().unwrap().to_ascii_lowercase();
    assert!(url.contains("if-none-match"), "If-None-Match is a signed header: {url}");
    app.emulator
        .s3()
        .put_object()
        .bucket(&app.bucket)
        .key("streaming/race.csv")
        .body(b"theirs".to_vec().into())
        .send()
        .await
        .unwrap();

    let (status, _) = put_part(&signed, b"new".to_vec()).await;

    assert_eq!(status, 412);
    assert_eq!(object_bytes(&app, "streaming/race.csv").await, b"theirs");
    assert_eq!(app.complete(&alice, signed["upload_id"].as_i64().unwrap()).await.status(), 409);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'failed'").await, 1);
}

#[tokio::test]
async fn completing_is_refused_when_an_object_appeared_meanwhile_and_the_parts_are_freed() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let data = pattern(6 * MIB);
    let started: serde_json::Value = create(&app, &alice, "late.bin", data.len(), false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap();
    let parts = upload_parts(&app, &alice, id, &data, 5 * MIB, &[1, 2]).await;
    let s3 = app.emulator.s3();
    s3.put_object().bucket(&app.bucket).key("batch/mp/late.bin").body(b"theirs".to_vec().into()).send().await.unwrap();

    let res = complete(&app, &alice, id, &serde_json::json!(parts)).await;

    assert_eq!(res.status(), 409);
    assert_eq!(object_bytes(&app, "batch/mp/late.bin").await, b"theirs", "not overwritten");
    assert!(open_s3_uploads(&app).await.is_empty(), "the parts were aborted");
    assert_eq!(app.count("SELECT COUNT(*) FROM multipart_uploads WHERE state = 'aborted'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'failed'").await, 1);
    assert!(app.audit().await.iter().any(|(a, o, _)| a == "upload.failed" && o == "failure"));
}

#[tokio::test]
async fn an_interrupted_upload_is_found_again_and_s3_lists_the_parts_it_holds() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let data = pattern(11 * MIB);
    let started: serde_json::Value = create(&app, &alice, "resume.bin", data.len(), false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let first = upload_parts(&app, &alice, &id, &data, 5 * MIB, &[1, 2]).await;

    // "Reload": the page asks for the teammate's open upload of this key and size.
    let res = post_json(
        &app,
        &alice,
        "/api/multipart/resumable",
        serde_json::json!({"prefix": "batch", "folder": "mp", "relative_path": "resume.bin", "size": data.len()}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let found: serde_json::Value = res.json().await.unwrap();
    assert_eq!(found["upload_id"], id.as_str());
    let held: Vec<serde_json::Value> = list_parts(&app, &alice, &id).await.json().await.unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0]["PartNumber"], 1);
    assert_eq!(held[1]["ETag"], first[1]["ETag"]);
    assert_eq!(held[1]["Size"], 5 * MIB);

    // Only the missing part is sent; the upload completes.
    let mut parts =
        held.iter().map(|p| serde_json::json!({"PartNumber": p["PartNumber"], "ETag": p["ETag"]})).collect::<Vec<_>>();
    parts.extend(upload_parts(&app, &alice, &id, &data, 5 * MIB, &[3]).await);
    assert_eq!(complete(&app, &alice, &id, &serde_json::json!(parts)).await.status(), 200);
    assert_eq!(object_bytes(&app, "batch/mp/resume.bin").await, data);
    // A completed upload is not offered for resuming.
    let res = post_json(
        &app,
        &alice,
        "/api/multipart/resumable",
        serde_json::json!({"prefix": "batch", "folder": "mp", "relative_path": "resume.bin", "size": data.len()}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let found: serde_json::Value = res.json().await.unwrap();
    assert_eq!(found, serde_json::json!({"upload_id": null}));
}

#[tokio::test]
async fn a_cancelled_upload_is_aborted_in_s3_and_recorded() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let data = pattern(6 * MIB);
    let started: serde_json::Value = create(&app, &alice, "gone.bin", data.len(), false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap();
    upload_parts(&app, &alice, id, &data, 5 * MIB, &[1]).await;

    assert_eq!(abort(&app, &alice, id).await.status(), 200);

    assert!(open_s3_uploads(&app).await.is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM multipart_uploads WHERE state = 'aborted'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'failed'").await, 1);
    assert_eq!(app.audit_actions().await.last().unwrap(), "upload.aborted");
    assert_eq!(abort(&app, &alice, id).await.status(), 409, "an aborted upload stays aborted");
    assert_eq!(sign_part(&app, &alice, id, "2").await.status(), 409);
}

/// A portal whose sweeper aborts uploads idle for `hours`, and alice signed in
/// (for a whole day, so moving the clock does not end her session).
async fn app_sweeping_after_hours(hours: u32) -> (TestApp, reqwest::Client) {
    let mut spawn = Spawn::on(Backend::LocalStack);
    spawn.env = vec![("EGX_STALE_UPLOAD_HOURS", hours.to_string()), ("EGX_SESSION_IDLE_MINUTES", "1440".into())];
    let app = TestApp::spawn_with(spawn).await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    (app, alice)
}

#[tokio::test]
async fn the_sweeper_aborts_uploads_idle_longer_than_the_configured_hours_and_only_those() {
    // C13: the tab was closed at 60 % and nobody came back.
    let (app, alice) = app_sweeping_after_hours(6).await;
    let old: serde_json::Value = create(&app, &alice, "old.bin", 200 * MIB, false).await.json().await.unwrap();
    app.clock.advance(5 * 3600);
    let recent: serde_json::Value = create(&app, &alice, "recent.bin", 200 * MIB, false).await.json().await.unwrap();
    app.clock.advance(3600 + 1);

    let aborted = egx_portal::uploads::sweep_stale(&app.state, app.state.now()).await.unwrap();

    assert_eq!(aborted, 1);
    assert_eq!(open_s3_uploads(&app).await, vec!["batch/mp/recent.bin".to_owned()]);
    let state: (String,) = sqlx::query_as("SELECT state FROM multipart_uploads WHERE upload_id = ?")
        .bind(old["upload_id"].as_str().unwrap().parse::<i64>().unwrap())
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(state.0, "aborted");
    let state: (String,) = sqlx::query_as("SELECT state FROM multipart_uploads WHERE upload_id = ?")
        .bind(recent["upload_id"].as_str().unwrap().parse::<i64>().unwrap())
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(state.0, "open");
    let (actor, action, target): (String, String, String) =
        sqlx::query_as("SELECT actor, action, target FROM audit_events ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!((actor.as_str(), action.as_str(), target.as_str()), ("sweeper", "upload.aborted", "batch/mp/old.bin"));
    // A second sweep finds nothing more to do.
    assert_eq!(egx_portal::uploads::sweep_stale(&app.state, app.state.now()).await.unwrap(), 0);
}

async fn last_activity(app: &TestApp, id: &str) -> i64 {
    let (at,): (i64,) = sqlx::query_as("SELECT last_activity_at FROM multipart_uploads WHERE upload_id = ?")
        .bind(id.parse::<i64>().unwrap())
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    at
}

#[tokio::test]
async fn signing_parts_keeps_an_upload_alive_with_at_most_one_write_a_minute() {
    let (app, alice) = app_sweeping_after_hours(1).await;
    let started: serde_json::Value = create(&app, &alice, "slow.bin", 200 * MIB, false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap();
    let created = last_activity(&app, id).await;

    app.clock.advance(30);
    assert_eq!(sign_part(&app, &alice, id, "1").await.status(), 200);
    assert_eq!(last_activity(&app, id).await, created, "a part signed within the minute writes nothing");
    app.clock.advance(31);
    assert_eq!(sign_part(&app, &alice, id, "2").await.status(), 200);
    assert_eq!(last_activity(&app, id).await, created + 61, "a minute later the activity is recorded");

    // A slow upload, a part every 50 minutes, is never taken for an idle one.
    for part in 3..=6 {
        app.clock.advance(50 * 60);
        assert_eq!(sign_part(&app, &alice, id, &part.to_string()).await.status(), 200);
        assert_eq!(egx_portal::uploads::sweep_stale(&app.state, app.state.now()).await.unwrap(), 0);
    }
    assert_eq!(last_activity(&app, id).await, app.state.now());
    assert_eq!(open_s3_uploads(&app).await, vec!["batch/mp/slow.bin".to_owned()]);
    // Once it really is left alone for longer than the configured hour, the sweeper takes it.
    app.clock.advance(3600 + 1);
    assert_eq!(egx_portal::uploads::sweep_stale(&app.state, app.state.now()).await.unwrap(), 1);
}

// -- in a real browser ---------------------------------------------------------

/// Runs tests/browser/uploads.mjs for `teammate` with `steps`; returns its JSON result.
pub async fn browser(app: &TestApp, teammate: &str, steps: serde_json::Value) -> serde_json::Value {
    let dir = std::env::var("EGX_TEST_BROWSER_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser").to_owned());
    let chromium = std::env::var("EGX_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let envs = [
        ("EGX_BASE_URL", app.base.clone()),
        ("EGX_TEAMMATE", teammate.to_owned()),
        ("EGX_TEAMMATE_PASSWORD", TEAMMATE_PASSWORD.to_owned()),
        ("EGX_STEPS", steps.to_string()),
        ("EGX_CHROMIUM", chromium),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(format!("{dir}/uploads.mjs"))
            .envs(envs)
            .current_dir(&dir)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(result["csp"].as_array().unwrap().is_empty(), "CSP violations: {}", result["csp"]);
    assert_eq!(result["unfinished_api_calls"], serde_json::json!([]), "the page's calls to the portal all finished");
    result
}

fn row_keys(result: &serde_json::Value, state: &str) -> Vec<String> {
    let mut keys: Vec<String> = result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == state)
        .map(|r| r["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    keys.sort();
    keys
}

async fn browser_app() -> (TestApp, String, tempfile::TempDir) {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let name = unique("alice");
    app.onboard(&name).await;
    (app, name, tempfile::tempdir().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_mb_file_goes_up_in_parts_from_a_real_browser_and_lands_byte_for_byte() {
    // Arrange: 31 MB of pseudo-random bytes, 5 MiB parts (6 parts).
    let (app, alice, files) = browser_app().await;
    let data: Vec<u8> = (0..31_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let path = files.path().join("capture 2026-12-03.bin");
    std::fs::write(&path, &data).unwrap();

    // Act
    let steps = serde_json::json!([
        {"do": "login"},
        {"do": "upload", "prefix": "streaming", "folder": "day 1", "files": [path]},
        {"do": "reload"},
    ]);
    let result = browser(&app, &alice, steps).await;

    // Assert
    assert_eq!(row_keys(&result, "done"), vec!["streaming/day 1/capture 2026-12-03.bin".to_owned()], "{result}");
    let mut parts: Vec<u64> =
        result["parts_put"].as_array().unwrap().iter().map(|p| p["n"].as_u64().unwrap()).collect();
    parts.sort();
    assert_eq!(parts, (1..=6).collect::<Vec<_>>(), "each part sent once: {result}");
    // A clean run leaves nothing in the console (no failed request either:
    // "nothing to resume" is an ordinary answer, not a 404).
    assert_eq!(result["console"], serde_json::json!([]), "console errors or warnings: {result}");
    assert_eq!(object_bytes(&app, "streaming/day 1/capture 2026-12-03.bin").await, data);
    assert_eq!(result["history"], serde_json::json!(["streaming/day 1/capture 2026-12-03.bin"]));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM multipart_uploads WHERE state = 'completed' AND part_count = 6").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_folder_and_hostile_names_land_at_exactly_the_intended_keys() {
    // C05, C06: '+', ' ', '%', '#', '?' and a folder named team#1, with nested files.
    let (app, alice, files) = browser_app().await;
    let dir = files.path();
    std::fs::create_dir_all(dir.join("team#1/sub dir")).unwrap();
    let contents = [
        ("team#1/notes.txt", b"notes".to_vec()),
        ("team#1/sub dir/deeper 100%.csv", b"a,b\n1,2\n".to_vec()),
        ("a+b c 100%.csv", b"plus space percent".to_vec()),
        ("Q3#final?.csv", b"hash question".to_vec()),
        ("no-extension", b"type from nothing".to_vec()),
    ];
    for (name, bytes) in &contents {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    let steps = serde_json::json!([
        {"do": "login"},
        {"do": "upload", "prefix": "batch", "folder": "", "files": dir.join("team#1"), "input": "folder", "count": 2},
        {"do": "upload", "prefix": "streaming", "folder": "", "files": [dir.join("a+b c 100%.csv")]},
        {"do": "upload", "prefix": "batch", "folder": "", "files": [dir.join("Q3#final?.csv"), dir.join("no-extension")]},
    ]);
    let result = browser(&app, &alice, steps).await;

    let expected = [
        ("batch/team#1/notes.txt", 0),
        ("batch/team#1/sub dir/deeper 100%.csv", 1),
        ("streaming/a+b c 100%.csv", 2),
        ("batch/Q3#final?.csv", 3),
        ("batch/no-extension", 4),
    ];
    let mut keys: Vec<String> = expected.iter().map(|(k, _)| (*k).to_owned()).collect();
    keys.sort();
    assert_eq!(row_keys(&result, "done"), keys, "{result}");
    for (key, i) in expected {
        assert_eq!(object_bytes(&app, key).await, contents[i].1, "{key}");
    }
    let listed = app.emulator.s3().list_objects_v2().bucket(&app.bucket).send().await.unwrap();
    let mut listed: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    listed.sort();
    assert_eq!(listed, keys, "nothing else landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_mid_upload_resumes_with_the_parts_s3_already_holds() {
    let (app, alice, files) = browser_app().await;
    let data = pattern(30_000_000);
    let path = files.path().join("resume me.bin");
    std::fs::write(&path, &data).unwrap();

    // Parts 3.. are cut off (the network drops them); once 1 and 2 are stored
    // the page is reloaded and the same file is chosen again.
    let steps = serde_json::json!([
        {"do": "login"},
        {"do": "upload-and-reload", "prefix": "batch", "folder": "r", "file": path, "hold_from_part": 3},
    ]);
    let result = browser(&app, &alice, steps).await;

    assert_eq!(row_keys(&result, "done"), vec!["batch/r/resume me.bin".to_owned()], "{result}");
    assert!(result["list_parts_calls"].as_u64().unwrap() >= 1, "ListParts was asked: {result}");
    let before: Vec<u64> = result["parts_put"].as_array().unwrap().iter().map(|p| p["n"].as_u64().unwrap()).collect();
    assert!(before.contains(&1) && before.contains(&2), "{result}");
    let after: Vec<u64> =
        result["part_puts_after_reload"].as_array().unwrap().iter().map(|p| p["n"].as_u64().unwrap()).collect();
    let mut after = after;
    after.sort();
    assert_eq!(after, vec![3, 4, 5, 6], "only the missing parts were sent after the reload: {result}");
    assert_eq!(object_bytes(&app, "batch/r/resume me.bin").await, data);
    assert_eq!(app.count("SELECT COUNT(*) FROM multipart_uploads").await, 1, "the same upload was continued");
    assert!(open_s3_uploads(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_browser_an_overwrite_is_refused_then_done_when_the_teammate_chooses_replace() {
    let (app, alice, files) = browser_app().await;
    for (dir, text) in [("v1", "first version"), ("v2", "second version")] {
        std::fs::create_dir_all(files.path().join(dir)).unwrap();
        std::fs::write(files.path().join(dir).join("report.csv"), text).unwrap();
    }

    let steps = serde_json::json!([
        {"do": "login"},
        {"do": "upload", "prefix": "batch", "folder": "", "files": [files.path().join("v1/report.csv")]},
        {"do": "reload"},
        {"do": "upload", "prefix": "batch", "folder": "", "files": [files.path().join("v2/report.csv")]},
        {"do": "replace"},
    ]);
    let result = browser(&app, &alice, steps).await;

    let rows = result["rows"].as_array().unwrap();
    assert_eq!(rows[0]["state"], "done", "{result}");
    assert_eq!(rows[1]["state"], "error", "{result}");
    assert!(rows[1]["msg"].as_str().unwrap().contains("already exists"), "{result}");
    assert_eq!(rows.last().unwrap()["state"], "done", "{result}");
    assert_eq!(object_bytes(&app, "batch/report.csv").await, b"second version");
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "upload.refused"));
    assert!(actions.iter().any(|a| a == "upload.replace_requested"));
}

/// By hand (not in CI): a real file of ≥ 1 GB through the page in headless
/// Chromium against LocalStack, timed, then checked byte for byte (by size and
/// MD5 of the whole object against the file). Run with
/// `EGX_BIG_FILE=/path/to/file scripts/test.sh --test api -- --ignored --nocapture by_hand`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "by hand: needs EGX_BIG_FILE, a file of 1 GB or more"]
async fn by_hand_a_big_file_through_the_page_is_timed_and_verified() {
    let path = std::path::PathBuf::from(std::env::var("EGX_BIG_FILE").expect("EGX_BIG_FILE"));
    let size = std::fs::metadata(&path).unwrap().len();
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let name = unique("alice");
    app.onboard(&name).await;

    let started = std::time::Instant::now();
    let steps = serde_json::json!([{"do": "login"}]);
    browser(&app, &name, steps).await;
    let login = started.elapsed();
    let steps =
        serde_json::json!([{"do": "login"}, {"do": "upload", "prefix": "batch", "folder": "big", "files": [path]}]);
    let started = std::time::Instant::now();
    let result = browser(&app, &name, steps).await;
    let elapsed = started.elapsed().saturating_sub(login);

    let key = format!("batch/big/{}", path.file_name().unwrap().to_string_lossy());
    assert_eq!(row_keys(&result, "done"), vec![key.clone()], "{result}");
    let head = app.emulator.s3().head_object().bucket(&app.bucket).key(&key).send().await.unwrap();
    assert_eq!(head.content_length(), Some(size as i64));
    let parts = result["parts_put"].as_array().unwrap().len();
    println!(
        "BY HAND: {size} bytes in {parts} parts through the page in {:.1} s (login excluded, ~{:.1} s); \
         {:.1} MB/s; bucket {} at {}",
        elapsed.as_secs_f64(),
        login.as_secs_f64(),
        size as f64 / 1e6 / elapsed.as_secs_f64(),
        app.bucket,
        app.emulator.url
    );
    // Byte for byte: stream the object back and compare with the file, chunk by chunk.
    let mut object = app.emulator.s3().get_object().bucket(&app.bucket).key(&key).send().await.unwrap().body;
    let mut file = std::fs::File::open(&path).unwrap();
    let mut offset = 0usize;
    while let Some(chunk) = object.try_next().await.unwrap() {
        let mut expected = vec![0u8; chunk.len()];
        std::io::Read::read_exact(&mut file, &mut expected).unwrap();
        assert!(chunk.as_ref() == expected.as_slice(), "bytes differ near offset {offset}");
        offset += chunk.len();
    }
    assert_eq!(offset as u64, size);
}

#[tokio::test]
async fn the_owner_sees_everyones_uploads_and_can_filter_by_teammate_and_key() {
    let app = TestApp::spawn(Backend::LocalStack).await;
    app.create_owner().await;
    let alice_name = unique("alice");
    let bob_name = unique("bob");
    let (_, alice) = app.onboard(&alice_name).await;
    let (_, bob) = app.onboard(&bob_name).await;
    for (who, prefix, name) in [(&alice, "batch", "a.csv"), (&bob, "batch", "b.csv"), (&bob, "streaming", "c.csv")] {
        let res = app.sign(who, serde_json::json!({"prefix": prefix, "relative_path": name, "size": 2})).await;
        let signed: serde_json::Value = res.json().await.unwrap();
        assert_eq!(put_part(&signed, b"hi".to_vec()).await.0, 200);
        assert_eq!(app.complete(who, signed["upload_id"].as_i64().unwrap()).await.status(), 200);
    }
    let keys = |html: &str| -> Vec<String> {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("#uploads tbody tr td code").unwrap();
        doc.select(&sel).map(|e| e.text().collect::<String>()).filter(|t| t.contains('/')).collect()
    };

    let all = app.get("/admin/uploads").await.text().await.unwrap();
    let bobs = app.get(&format!("/admin/uploads?who={bob_name}")).await.text().await.unwrap();
    let bobs_batch = app.get(&format!("/admin/uploads?who={bob_name}&key=batch/")).await.text().await.unwrap();

    assert_eq!(keys(&all), vec!["streaming/c.csv", "batch/b.csv", "batch/a.csv"]);
    assert_eq!(keys(&bobs), vec!["streaming/c.csv", "batch/b.csv"]);
    assert_eq!(keys(&bobs_batch), vec!["batch/b.csv"]);
    // Each teammate's own page shows only their own.
    let page = alice.get(app.url("/upload")).send().await.unwrap().text().await.unwrap();
    assert_eq!(text_of(&page, "#history tbody tr td code"), "batch/a.csv");
    assert!(!has(&page, "#history tbody tr:nth-child(2)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_whose_browser_type_is_odd_or_empty_upload_with_the_type_the_portal_signed() {
    // C03: the browser says application/vnd.ms-excel for a .csv, "" for a file with no
    // extension, and something unrelated for a .bin; the signed Content-Type is the
    // portal's choice and the page sends exactly that, as a raw body (no FormData).
    let (app, alice, files) = browser_app().await;
    let cases = [
        ("export.csv", "application/vnd.ms-excel", "text/csv"),
        ("README", "", "application/octet-stream"),
        ("capture.bin", "image/png", "application/octet-stream"),
    ];
    let mut specs = Vec::new();
    for (name, browser_type, _) in cases {
        let path = files.path().join(name);
        std::fs::write(&path, format!("bytes of {name}")).unwrap();
        specs.push(serde_json::json!({"path": path, "name": name, "mimeType": browser_type}));
    }

    let steps = serde_json::json!([{"do": "login"}, {"do": "upload", "prefix": "batch", "folder": "odd types", "files": specs}]);
    let result = browser(&app, &alice, steps).await;

    let mut expected: Vec<String> = cases.iter().map(|(n, _, _)| format!("batch/odd types/{n}")).collect();
    expected.sort();
    assert_eq!(row_keys(&result, "done"), expected, "{result}");
    let mut listed: Vec<String> =
        result["history"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect();
    listed.sort();
    assert_eq!(listed, expected, "\"Your recent uploads\" lists them without a reload");
    for (name, _, signed_type) in cases {
        let key = format!("batch/odd types/{name}");
        let head = app.emulator.s3().head_object().bucket(&app.bucket).key(&key).send().await.unwrap();
        assert_eq!(head.content_type(), Some(signed_type), "{key}");
        assert_eq!(object_bytes(&app, &key).await, format!("bytes of {name}").into_bytes(), "{key}: the raw bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_runs_to_its_record_even_when_the_client_hangs_up_at_once() {
    // A closed tab must not cut a handler between S3's change and the portal's
    // record of it: the request runs to completion without its client.
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let name = unique("alice");
    let (_, alice) = app.onboard(&name).await;
    let started: serde_json::Value = create(&app, &alice, "left.bin", 12 * MIB, false).await.json().await.unwrap();
    let id: i64 = started["upload_id"].as_str().unwrap().parse().unwrap();
    let cookie = session_cookie(&app, &name, TEAMMATE_PASSWORD).await;
    let csrf = {
        let html = app.new_client().get(app.url("/upload")).header("cookie", &cookie).send().await.unwrap();
        let html = html.text().await.unwrap();
        let doc = scraper::Html::parse_document(&html);
        let sel = scraper::Selector::parse("#uploader").unwrap();
        doc.select(&sel).next().unwrap().value().attr("data-csrf").unwrap().to_owned()
    };

    // Act: the whole request, then the connection closes before any answer.
    let address = app.base.trim_start_matches("http://").to_owned();
    let request = format!(
        "DELETE /api/multipart/{id} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Origin: {}\r\nContent-Length: 0\r\n\r\n",
        app.base
    );
    {
        use tokio::io::AsyncWriteExt as _;
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
    }

    // Assert: S3 and the portal agree, whichever way it went. (The server may
    // notice the hang-up before it starts on the request, and then nothing
    // happens; what may never be is S3 aborted while the portal says open.)
    let mut state = String::new();
    for _ in 0..100 {
        (state,) = sqlx::query_as("SELECT state FROM multipart_uploads WHERE upload_id = ?")
            .bind(id)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
        if state != "open" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let s3_holds_it = !open_s3_uploads(&app).await.is_empty();
    let audited = app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'upload.aborted'").await;
    match state.as_str() {
        "aborted" => assert_eq!((s3_holds_it, audited), (false, 1), "aborted, in S3 and in the record"),
        _ => assert_eq!((state.as_str(), s3_holds_it, audited), ("open", true, 0), "or not started at all"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_cannot_be_resumed_starts_over_and_frees_the_old_parts() {
    let (app, alice, files) = browser_app().await;
    let data = pattern(16_000_000);
    let path = files.path().join("no resume.bin");
    std::fs::write(&path, &data).unwrap();

    // As above, but after the reload listing the stored parts fails.
    let steps = serde_json::json!([
        {"do": "login"},
        {"do": "upload-and-reload", "prefix": "batch", "folder": "r", "file": path, "hold_from_part": 3,
         "fail_list_parts": true},
    ]);
    let result = browser(&app, &alice, steps).await;

    assert_eq!(row_keys(&result, "done"), vec!["batch/r/no resume.bin".to_owned()], "{result}");
    let mut after: Vec<u64> =
        result["part_puts_after_reload"].as_array().unwrap().iter().map(|p| p["n"].as_u64().unwrap()).collect();
    after.sort();
    assert_eq!(after, vec![1, 2, 3, 4], "every part was sent again: {result}");
    assert_eq!(object_bytes(&app, "batch/r/no resume.bin").await, data);
    let states: Vec<(String,)> = sqlx::query_as("SELECT state FROM multipart_uploads ORDER BY upload_id")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(states, [("aborted".to_owned(),), ("completed".to_owned(),)], "the old upload was aborted");
    assert!(open_s3_uploads(&app).await.is_empty(), "no parts left behind in S3");
}

// -- who stored the object ----------------------------------------------------

#[tokio::test]
async fn a_teammate_is_never_recorded_as_the_uploader_of_an_object_someone_else_stored() {
    // Arrange: bob signs a key and sends nothing; alice then uploads there.
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let (_, bob) = app.onboard(&unique("bob")).await;
    let res = app.sign(&bob, serde_json::json!({"prefix": "batch", "relative_path": "claim.csv", "size": 10})).await;
    assert_eq!(res.status(), 200);
    let bobs: serde_json::Value = res.json().await.unwrap();
    upload_small(&app, &alice, "batch", "claim.csv", b"0123456789").await;

    // Act: bob confirms his own upload id.
    let res = app.complete(&bob, bobs["upload_id"].as_i64().unwrap()).await;

    // Assert: refused, his record failed, alice stays the only uploader.
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("stored by another upload"), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'completed'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'failed'").await, 1);
    let completed = app.audit_of("upload.completed").await;
    assert_eq!(completed.len(), 1);
    assert!(completed[0].0.starts_with("alice"), "{completed:?}");
    assert_eq!(object_bytes(&app, "batch/claim.csv").await, b"0123456789");
}

#[tokio::test]
async fn confirming_before_the_file_arrived_changes_nothing_and_works_once_it_has() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let res = app.sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "early.csv", "size": 5})).await;
    let signed: serde_json::Value = res.json().await.unwrap();
    let id = signed["upload_id"].as_i64().unwrap();

    let res = app.complete(&alice, id).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("send the file first"), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'signed'").await, 1, "still open");
    assert!(app.audit_of("upload.failed").await.is_empty());

    assert_eq!(put_part(&signed, b"early".to_vec()).await.0, 200);
    assert_eq!(app.complete(&alice, id).await.status(), 200);
    assert_eq!(app.count("SELECT COUNT(*) FROM uploads WHERE status = 'completed'").await, 1);
}

#[tokio::test]
async fn a_wrong_etag_in_the_part_list_keeps_the_upload_open_for_a_retry() {
    let app = app_with_small_parts().await;
    app.create_owner().await;
    let (_, alice) = app.onboard(&unique("alice")).await;
    let data = pattern(11 * MIB);
    let started: serde_json::Value = create(&app, &alice, "etag.bin", data.len(), false).await.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let parts = upload_parts(&app, &alice, &id, &data, 5 * MIB, &[1, 2, 3]).await;
    let mut wrong = parts.clone();
    wrong[1]["ETag"] = serde_json::json!("\"00000000000000000000000000000000\"");

    let res = complete(&app, &alice, &id, &serde_json::json!(wrong)).await;

    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("parts already sent are kept"), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM multipart_uploads WHERE state = 'open'").await, 1);
    assert_eq!(open_s3_uploads(&app).await, vec!["batch/mp/etag.bin".to_owned()]);
    let held: Vec<serde_json::Value> = list_parts(&app, &alice, &id).await.json().await.unwrap();
    assert_eq!(held.len(), 3);
    // Retry with the list S3 gives: completed, byte for byte.
    let listed: Vec<serde_json::Value> =
        held.iter().map(|p| serde_json::json!({"PartNumber": p["PartNumber"], "ETag": p["ETag"]})).collect();
    assert_eq!(complete(&app, &alice, &id, &serde_json::json!(listed)).await.status(), 200);
    assert_eq!(object_bytes(&app, "batch/mp/etag.bin").await, data);
}
