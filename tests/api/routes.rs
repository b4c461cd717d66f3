//! Every route, checked for every kind of caller. The route list is read
//! from the routing table's source, so a route added later without an
//! access decision here makes this test fail.

use std::collections::BTreeSet;

use crate::helpers::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Public,
    SignedIn,
    Teammate,
    Owner,
    /// The separate metrics listener (EGX_METRICS_LISTEN): not on the public one at all.
    Metrics,
}

/// The access decision for every route: (method, path, group).
const DECISIONS: &[(&str, &str, Group)] = &[
    ("GET", "/", Group::Public),
    ("GET", "/healthz", Group::Public),
    ("GET", "/readyz", Group::Public),
    ("GET", "/static/{file}", Group::Public),
    ("GET", "/login", Group::Public),
    ("POST", "/login", Group::Public),
    ("GET", "/login/2fa", Group::Public),
    ("POST", "/login/2fa", Group::Public),
    ("GET", "/setup/{token}", Group::Public),
    ("POST", "/setup/{token}", Group::Public),
    ("GET", "/l/{id}", Group::Public),
    ("POST", "/l/{id}/reveal", Group::Public),
    ("POST", "/l/{id}/enrol", Group::Public),
    ("POST", "/logout", Group::SignedIn),
    ("GET", "/account/password", Group::SignedIn),
    ("POST", "/account/password", Group::SignedIn),
    ("GET", "/upload", Group::Teammate),
    ("POST", "/api/uploads", Group::Teammate),
    ("POST", "/api/uploads/{id}/complete", Group::Teammate),
    ("POST", "/api/multipart", Group::Teammate),
    ("POST", "/api/multipart/resumable", Group::Teammate),
    ("GET", "/api/multipart/{id}/parts", Group::Teammate),
    ("POST", "/api/multipart/{id}/parts/{number}", Group::Teammate),
    ("DELETE", "/api/multipart/{id}", Group::Teammate),
    ("POST", "/api/multipart/{id}/complete", Group::Teammate),
    ("GET", "/admin", Group::Owner),
    ("GET", "/admin/teammates", Group::Owner),
    ("POST", "/admin/teammates", Group::Owner),
    ("GET", "/admin/teammates/{name}", Group::Owner),
    ("POST", "/admin/teammates/{name}/resume", Group::Owner),
    ("POST", "/admin/teammates/{name}/rotate", Group::Owner),
    ("POST", "/admin/teammates/{name}/reissue", Group::Owner),
    ("POST", "/admin/teammates/{name}/rotation/confirm", Group::Owner),
    ("POST", "/admin/teammates/{name}/rotation/cancel", Group::Owner),
    ("POST", "/admin/teammates/{name}/keys/{key_id}/{change}", Group::Owner),
    ("POST", "/admin/teammates/{name}/links", Group::Owner),
    ("POST", "/admin/teammates/{name}/links/{link_id}/revoke", Group::Owner),
    ("POST", "/admin/teammates/{name}/disable", Group::Owner),
    ("POST", "/admin/teammates/{name}/enable", Group::Owner),
    ("POST", "/admin/teammates/{name}/remove", Group::Owner),
    ("GET", "/admin/bulk-add", Group::Owner),
    ("POST", "/admin/bulk-add", Group::Owner),
    ("GET", "/admin/adopt", Group::Owner),
    ("POST", "/admin/adopt", Group::Owner),
    ("GET", "/admin/uploads", Group::Owner),
    ("GET", "/admin/audit", Group::Owner),
    ("GET", "/admin/audit/export", Group::Owner),
    ("GET", "/admin/doctor", Group::Owner),
    ("POST", "/admin/doctor", Group::Owner),
    ("GET", "/admin/security", Group::Owner),
    ("POST", "/admin/security/totp/start", Group::Owner),
    ("POST", "/admin/security/totp/confirm", Group::Owner),
    ("POST", "/admin/security/totp/disable", Group::Owner),
    ("GET", "/metrics", Group::Metrics),
];

/// (method, path, group) for every `.route(..)` in src/web/mod.rs, the
/// group being the `let NAME = Router::new()` block it sits in.
fn routes_in_source() -> BTreeSet<(String, String, Group)> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/mod.rs")).unwrap();
    let mut out = BTreeSet::new();
    let mut group = None;
    let mut rest = source.as_str();
    while let Some(pos) = rest.find(['l', '.']) {
        rest = &rest[pos..];
        if let Some(after) = rest.strip_prefix("let ") {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            group = match name.as_str() {
                "public" | "links" => Some(Group::Public),
                "signed_in" => Some(Group::SignedIn),
                "teammate" => Some(Group::Teammate),
                "owner" => Some(Group::Owner),
                "metrics" => Some(Group::Metrics),
                _ => group,
            };
        }
        if let Some(after) = rest.strip_prefix(".route(").map(|a| a.trim_start()).and_then(|a| a.strip_prefix('"')) {
            let path = &after[..after.find('"').unwrap()];
            // The call's arguments, up to the matching parenthesis.
            let mut depth = 1;
            let args: String = after
                .chars()
                .take_while(|c| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth > 0
                })
                .collect();
            for method in ["get", "post", "put", "patch", "delete"] {
                let needle = format!("{method}(");
                let found = args.match_indices(&needle).any(|(i, _)| {
                    i == 0 || !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if found {
                    let g = group.unwrap_or_else(|| panic!("route {path} is outside a named group"));
                    out.insert((method.to_uppercase(), path.to_owned(), g));
                }
            }
        }
        rest = &rest[1..];
    }
    out
}

#[test]
fn every_route_in_the_routing_table_has_an_access_decision() {
    let source = routes_in_source();
    let decided: BTreeSet<_> = DECISIONS.iter().map(|(m, p, g)| (m.to_string(), p.to_string(), *g)).collect();
    let undecided: Vec<_> = source.difference(&decided).collect();
    let stale: Vec<_> = decided.difference(&source).collect();
    assert!(undecided.is_empty(), "routes without a decision (add them to DECISIONS): {undecided:?}");
    assert!(stale.is_empty(), "decisions for routes that no longer exist: {stale:?}");
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_as_decided() {
    let app = TestApp::spawn(Backend::Moto).await;
    app.create_owner().await;
    let alice_name = unique("alice");
    let (_, alice) = app.onboard(&alice_name).await;
    let (_, bob) = app.onboard(&unique("bob")).await;
    let signed = app.sign(&alice, serde_json::json!({"prefix": "batch", "relative_path": "a.csv", "size": 1})).await;
    let upload_id = signed.json::<serde_json::Value>().await.unwrap()["upload_id"].as_i64().unwrap();
    let anonymous = app.new_client();
    let owner_csrf = app.csrf(&app.client, "/admin/teammates").await;
    let alice_csrf = app.csrf(&alice, "/upload").await;
    let bob_csrf = app.csrf(&bob, "/upload").await;

    let concrete = |path: &str| {
        path.replace("{file}", "app.css")
            .replace("{token}", &"t".repeat(43))
            .replace("/l/{id}", &format!("/l/{}", "A".repeat(22)))
            .replace("{id}", &upload_id.to_string())
            // Owner routes about a teammate name one the portal does not know: the
            // access decision is what answers, and nothing real is changed.
            .replace("{name}", "nobody-known")
            .replace("{key_id}", "AKIAIOSFODNN7EXAMPLE")
            .replace("{change}", "deactivate")
            .replace("{link_id}", &"C".repeat(22))
            .replace("{number}", "1")
    };
    let send = |client: &reqwest::Client, method: &str, path: &str, csrf: Option<&str>| {
        let url = app.url(&concrete(path));
        let mut req = match method {
            "GET" => client.get(url),
            "DELETE" => client.delete(url),
            _ => client.post(url),
        };
        if let Some(token) = csrf {
            req = req.header("x-csrf-token", token);
        }
        if method != "GET" {
            // A well-formed body where one is needed, so the access decision is what answers.
            let body = if path.ends_with("/complete") && path.contains("multipart") { r#"{"parts":[]}"# } else { "{}" };
            req = req.header("content-type", "application/json").body(body);
        }
        let what = format!("{method} {path}");
        let is_static = path.starts_with("/static/");
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let loc = location(&res);
            let cache = res.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
            if !is_static {
                // Personal data is never kept by a cache, whoever asks and whatever the answer.
                assert_eq!(cache.as_deref(), Some("no-store"), "{what} answered {status}");
            }
            (status, loc, res.text().await.unwrap())
        }
    };

    for &(method, path, group) in DECISIONS {
        let what = format!("{method} {path}");
        if path == "/logout" {
            continue; // checked last: it ends the sessions used here
        }
        let (anon, anon_loc, anon_body) = send(&anonymous, method, path, None).await;
        let (as_alice, _, alice_body) = send(&alice, method, path, Some(&alice_csrf)).await;
        let (as_bob, _, _) = send(&bob, method, path, Some(&bob_csrf)).await;
        let (as_owner, _, owner_body) = send(&app.client, method, path, Some(&owner_csrf)).await;
        let refused = |s: u16| s == 401 || s == 403;
        match group {
            Group::Public => {
                for (who, s) in [("anonymous", anon), ("teammate", as_alice), ("owner", as_owner)] {
                    assert!(!refused(s), "{what}: {who} got {s}");
                }
            }
            Group::SignedIn => {
                assert_eq!((anon, anon_loc.as_str()), (303, "/login"), "{what}: anonymous");
                for (who, s) in [("teammate", as_alice), ("other teammate", as_bob), ("owner", as_owner)] {
                    assert!(!refused(s), "{what}: {who} got {s}");
                }
            }
            Group::Metrics => {
                // Not routed on the public listener, for anyone.
                for (who, s) in [("anonymous", anon), ("teammate", as_alice), ("owner", as_owner)] {
                    assert_eq!(s, 404, "{what}: {who} on the public listener");
                }
            }
            Group::Teammate | Group::Owner => {
                if path.starts_with("/api/") {
                    assert_eq!(anon, 401, "{what}: anonymous");
                } else {
                    assert_eq!((anon, anon_loc.as_str()), (303, "/login"), "{what}: anonymous");
                }
                assert!(!anon_body.contains(&app.bucket) && !anon_body.contains(&alice_name), "{what}: leak");
                let (allowed, denied, denied_body) = if group == Group::Teammate {
                    (as_alice, as_owner, &owner_body)
                } else {
                    (as_owner, as_alice, &alice_body)
                };
                assert!(!refused(allowed), "{what}: the right role got {allowed}");
                assert_eq!(denied, 403, "{what}: the other role");
                assert!(!denied_body.contains(&app.bucket), "{what}: a refusal leaks data");
                if path.contains("{id}") {
                    assert_eq!(as_bob, 404, "{what}: another teammate's resource");
                } else if group == Group::Teammate {
                    assert!(!refused(as_bob), "{what}: another teammate on their own data");
                }
            }
        }
    }
    // Logout: anonymous is sent to sign in; a signed-in person is signed out.
    let (anon, loc, _) = send(&anonymous, "POST", "/logout", None).await;
    assert_eq!((anon, loc.as_str()), (303, "/login"));
    let (status, _, _) = send(&alice, "POST", "/logout", Some(&alice_csrf)).await;
    assert_eq!(status, 303);
    assert_eq!(alice.get(app.url("/upload")).send().await.unwrap().status(), 303, "alice is signed out");
}
