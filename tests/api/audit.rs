//! The audit log: append-only, hash-chained, verifiable, filterable,
//! exportable; no row lost under concurrency (C24).

use egx_portal::db;
use egx_portal::db::audit::{AuditContext, ChainProblem, Event};
use egx_portal::domain::AuditAction;

use crate::helpers::*;

async fn app_with_events() -> TestApp {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    for i in 0..5 {
        let ctx = AuditContext::system(&format!("actor-{}", i % 2));
        let event = Event::success(AuditAction::LoginSucceeded, None);
        db::audit::record_alone(&app.state.db, &ctx, event, app.state.now()).await.unwrap();
    }
    app
}

async fn verify(app: &TestApp) -> Vec<ChainProblem> {
    db::audit::verify(&app.state.db).await.unwrap().1
}

#[tokio::test]
async fn an_untouched_log_verifies() {
    let app = app_with_events().await;
    let (checked, problems) = db::audit::verify(&app.state.db).await.unwrap();
    assert_eq!(checked, app.count("SELECT COUNT(*) FROM audit_events").await as u64);
    assert!(checked >= 7);
    assert_eq!(problems, vec![]);
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_audit_rows() {
    let app = app_with_events().await;
    let update =
        sqlx::query("UPDATE audit_events SET actor = 'someone-else' WHERE id = 2").execute(&app.state.db).await;
    let delete = sqlx::query("DELETE FROM audit_events WHERE id = 2").execute(&app.state.db).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(verify(&app).await, vec![]);
}

#[tokio::test]
async fn verify_names_an_edited_row() {
    let app = app_with_events().await;
    // Someone with the database file drops the guard and edits a row.
    sqlx::query("DROP TRIGGER audit_events_no_update").execute(&app.state.db).await.unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'innocent' WHERE id = 3").execute(&app.state.db).await.unwrap();
    assert_eq!(verify(&app).await, vec![ChainProblem::Edited { id: 3 }]);
}

#[tokio::test]
async fn verify_names_removed_reordered_and_cut_off_rows() {
    let app = app_with_events().await;
    sqlx::query("DROP TRIGGER audit_events_no_delete").execute(&app.state.db).await.unwrap();
    sqlx::query("DROP TRIGGER audit_events_no_update").execute(&app.state.db).await.unwrap();

    sqlx::query("DELETE FROM audit_events WHERE id = 2").execute(&app.state.db).await.unwrap();
    assert_eq!(verify(&app).await, vec![ChainProblem::Missing { after: 1, next: 3 }]);

    // Swap the contents of rows 4 and 5 (a reordering that keeps the ids).
    sqlx::query(
        "UPDATE audit_events SET actor = CASE id WHEN 4 THEN (SELECT actor FROM audit_events WHERE id = 5) \
         ELSE (SELECT actor FROM audit_events WHERE id = 4) END, \
         hash = CASE id WHEN 4 THEN (SELECT hash FROM audit_events WHERE id = 5) ELSE (SELECT hash FROM audit_events WHERE id = 4) END, \
         prev_hash = CASE id WHEN 4 THEN (SELECT prev_hash FROM audit_events WHERE id = 5) ELSE (SELECT prev_hash FROM audit_events WHERE id = 4) END \
         WHERE id IN (4, 5)",
    )
    .execute(&app.state.db)
    .await
    .unwrap();
    let problems = verify(&app).await;
    assert!(problems.contains(&ChainProblem::Broken { id: 4 }), "{problems:?}");
    assert!(problems.contains(&ChainProblem::Edited { id: 4 }), "{problems:?}");

    let (max,): (i64,) = sqlx::query_as("SELECT MAX(id) FROM audit_events").fetch_one(&app.state.db).await.unwrap();
    sqlx::query("DELETE FROM audit_events WHERE id = ?").bind(max).execute(&app.state.db).await.unwrap();
    let problems = verify(&app).await;
    assert!(problems.contains(&ChainProblem::Truncated { last: max - 1, head: max }), "{problems:?}");
}

#[tokio::test]
async fn retention_prunes_old_rows_and_the_chain_still_verifies() {
    let app = app_with_events().await;
    let before = app.count("SELECT COUNT(*) FROM audit_events").await;
    app.clock.advance(40 * 86_400);
    let now = app.state.now();
    db::audit::record_alone(
        &app.state.db,
        &AuditContext::system("late"),
        Event::success(AuditAction::Logout, None),
        now,
    )
    .await
    .unwrap();

    let pruned = db::audit::prune(&app.state.db, now - 30 * 86_400, now).await.unwrap();

    assert_eq!(pruned, before as u64);
    assert_eq!(app.audit_actions().await, vec!["logout", "audit.pruned"]);
    assert_eq!(verify(&app).await, vec![]);
}

#[tokio::test]
async fn the_audit_page_filters_and_pages_and_exports() {
    let app = app_with_events().await;
    let res = app.get("/admin/audit?actor=actor-1&action=login.succeeded").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let rows = scraper::Selector::parse("#audit tbody tr").unwrap();
    assert_eq!(doc.select(&rows).count(), 2, "actor-1 logged in twice");

    let res = app.get("/admin/audit?outcome=failure").await;
    assert!(has(&res.text().await.unwrap(), "#no-events"));
    assert_eq!(app.get("/admin/audit?from=yesterday").await.status(), 400);
    assert_eq!(app.get("/admin/audit?action=no.such.action").await.status(), 400);

    let csv = app.get("/admin/audit/export?format=csv&actor=actor-0").await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,time,actor,action,target,outcome,ip,user_agent,detail");
    assert_eq!(lines.len(), 1 + 3, "actor-0 has three events");
    assert!(lines[1..].iter().all(|l| l.contains("\"actor-0\"")));

    let jsonl = app.get("/admin/audit/export?format=jsonl").await.text().await.unwrap();
    let parsed: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(parsed.len() as i64, app.count("SELECT COUNT(*) FROM audit_events").await);
    assert!(parsed.windows(2).all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()), "newest first");
}

#[tokio::test]
async fn keyset_pages_cover_every_row_exactly_once() {
    let app = app_with_events().await;
    let ctx = AuditContext::system("bulk");
    let mut tx = db::begin_immediate(&app.state.db).await.unwrap();
    for _ in 0..250 {
        db::audit::record(&mut tx, &ctx, Event::success(AuditAction::Logout, None), 1).await.unwrap();
    }
    tx.commit().await.unwrap();
    let total = app.count("SELECT COUNT(*) FROM audit_events").await;

    let mut seen = Vec::new();
    let mut path = "/admin/audit".to_owned();
    for _ in 0..10 {
        let html = app.get(&path).await.text().await.unwrap();
        let doc = scraper::Html::parse_document(&html);
        let ids = scraper::Selector::parse("#audit tbody tr td:first-child").unwrap();
        seen.extend(doc.select(&ids).map(|e| e.text().collect::<String>().parse::<i64>().unwrap()));
        let older = scraper::Selector::parse("#older").unwrap();
        match doc.select(&older).next() {
            Some(a) => path = a.value().attr("href").unwrap().to_owned(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "no row twice");
    assert_eq!(seen.len() as i64, total, "every row once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_audit_writes_beside_a_read_then_write_transaction_lose_nothing() {
    let app = app_with_events().await;
    let before = app.count("SELECT COUNT(*) FROM audit_events").await;
    let pool = app.state.db.clone();

    // A rotation-like transaction: read, think, write, with its audit row.
    let slow = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = db::begin_immediate(&pool).await.unwrap();
            let (_n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM teammates").fetch_one(&mut *tx).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            db::audit::record(&mut tx, &AuditContext::system("rotation"), Event::success(AuditAction::Logout, None), 2)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        })
    };
    // A sweeper pruning nothing (nothing is old), concurrently.
    let sweeper = {
        let pool = pool.clone();
        tokio::spawn(async move { db::audit::prune(&pool, 0, 3).await.unwrap() })
    };
    let writers: Vec<_> = (0..50)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let ctx = AuditContext::system(&format!("w{i}"));
                db::audit::record_alone(&pool, &ctx, Event::success(AuditAction::LoginFailed, None), 4).await
            })
        })
        .collect();
    let mut errors = Vec::new();
    for w in writers {
        if let Err(e) = w.await.unwrap() {
            errors.push(e.to_string());
        }
    }
    slow.await.unwrap();
    assert_eq!(sweeper.await.unwrap(), 0);

    assert_eq!(errors, Vec::<String>::new(), "no 'database is locked' surfaced");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events").await, before + 51);
    assert_eq!(verify(&app).await, vec![]);
}
