//! Migration 0006 on a database that holds data: a version-5 database is
//! built from the migrations as they were (copied, 0001-0005), filled the way
//! the portal filled it, then opened by the portal, which applies 0006.

use std::str::FromStr;

use egx_portal::db;
use egx_portal::domain::TeammateStatus;
use sqlx::sqlite::SqliteConnectOptions;

#[tokio::test]
async fn a_version_5_database_with_teammates_is_migrated_and_its_facts_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egx-portal.sqlite");
    let old = dir.path().join("migrations-v5");
    std::fs::create_dir(&old).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name().into_string().unwrap();
        if file.as_str() < "0006" {
            std::fs::copy(entry.path(), old.join(&file)).unwrap();
        }
    }
    let options =
        SqliteConnectOptions::from_str("sqlite:").unwrap().filename(&path).create_if_missing(true).foreign_keys(true);
    let v5 = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&v5).await.unwrap();
    let t0 = 1_700_000_000_i64;
    // alice: provisioned, her key link revealed and enrolled; bob: his link never
    // opened; carol: removed. Audit rows as the portal wrote them then.
    for sql in [
        "INSERT INTO teammates (id, iam_user_name, status, last_step, created_at, updated_at) VALUES \
         (1, 'alice', 'active', 'link', 1700000000, 1700000100), \
         (2, 'bob', 'active', 'link', 1700000200, 1700000200), \
         (3, 'carol', 'removed', 'link', 1700000300, 1700009999)",
        "INSERT INTO accounts (username, role, password_hash, teammate_id, created_at) VALUES \
         ('owner', 'owner', 'x', NULL, 1700000000), ('alice', 'teammate', 'y', 1, 1700000000), \
         ('bob', 'teammate', NULL, 2, 1700000200), ('carol', 'teammate', NULL, 3, 1700000300)",
        "INSERT INTO access_keys (access_key_id, teammate_id, created_at) VALUES \
         ('AKIAALICE00000000001', 1, 1700000050), ('AKIABOB0000000000001', 2, 1700000250)",
        "INSERT INTO secret_links (id, teammate_id, access_key_id, payload, created_at, expires_at, revealed_at, enrolled_at) VALUES \
         ('aaaaaaaaaaaaaaaaaaaaaa', 1, 'AKIAALICE00000000001', NULL, 1700000060, 1700259260, 1700000500, 1700000600), \
         ('bbbbbbbbbbbbbbbbbbbbbb', 2, 'AKIABOB0000000000001', X'00', 1700000260, 1700259460, NULL, NULL)",
        "INSERT INTO audit_events (at, actor, action, target, outcome, detail) VALUES \
         (1700000055, 'owner', 'iam.access_key_verified', 'alice', 'success', '{\"access_key_id\":\"AKIAALICE00000000001\"}'), \
         (1700000255, 'owner', 'iam.access_key_verified', 'bob', 'failure', '{\"access_key_id\":\"AKIABOB0000000000001\"}')",
    ] {
        sqlx::query(sql).execute(&v5).await.unwrap();
    }
    v5.close().await;

    // The portal opens it: 0006 is applied, legacy audit rows are sealed.
    let pool = db::connect(&path).await.unwrap();

    let by_name = |name: &str| {
        let pool = pool.clone();
        let name = name.to_owned();
        async move { db::teammates::find_by_name(&pool, &name).await.unwrap().unwrap() }
    };
    let (alice, bob, carol) = (by_name("alice").await, by_name("bob").await, by_name("carol").await);
    assert_eq!(alice.activated_at, Some(1_700_000_500), "activated when her key link was revealed");
    assert_eq!(alice.shown_status(), TeammateStatus::Active);
    assert_eq!(bob.activated_at, None);
    assert_eq!(bob.shown_status(), TeammateStatus::Activating);
    assert_eq!((carol.shown_status(), carol.removed_at), (TeammateStatus::Removed, Some(1_700_009_999)));
    let alice_keys = db::access_keys::for_teammate(&pool, 1).await.unwrap();
    assert_eq!((alice_keys[0].origin.as_str(), alice_keys[0].verified_at), ("portal", Some(t0 + 55)));
    assert_eq!(
        db::access_keys::for_teammate(&pool, 2).await.unwrap()[0].verified_at,
        None,
        "a failed check is no check"
    );
    let links = db::secret_links::for_teammate(&pool, 2, 10).await.unwrap();
    assert_eq!(links[0].state(t0 + 1000), "pending");
    // The new table works, and at most one rotation per teammate is open.
    db::key_rotations::insert(&pool, 1, Some("AKIAALICE00000000001"), t0 + 2000).await.unwrap();
    assert!(db::key_rotations::insert(&pool, 1, None, t0 + 2001).await.is_err(), "a second open rotation is refused");
    let fk: Vec<(String,)> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(&pool).await.unwrap();
    assert!(fk.is_empty(), "{fk:?}");
    let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
    assert_eq!(integrity, "ok");
    let (checked, problems) = db::audit::verify(&pool).await.unwrap();
    assert_eq!((checked, problems.len()), (2, 0), "the audit chain is intact");
}
