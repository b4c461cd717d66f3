//! `iam/portal_policy.json`, the least-privilege policy of the portal's own
//! identity: its document (what AWS evaluates), and the portal running as
//! an identity holding it on moto with IAM enforcement on.
//!
//! What moto can and cannot prove (moto 5.2.5, read from its source): it
//! checks S3 actions against the real bucket/object ARN, but every IAM
//! action against the resource `*`, and it evaluates no condition keys at
//! all (only `sts:ExternalId` in trust policies). So on moto: S3 scoping is
//! proven with the exact file; for IAM, the test gives moto the same
//! statements with `Resource: "*"` (what moto can evaluate), which proves
//! the action list is enough to provision a teammate and that actions
//! outside it are denied. Resource ARNs and tag conditions of the IAM
//! statements are checked on the document below, and on AWS by `doctor`
//! (IAM's policy simulator). moto also authorises HeadBucket as
//! `s3:HeadBucket` (AWS: `s3:ListBucket`), so the moto copy adds it.

use aws_credential_types::Credentials;
use egx_portal::aws::permissions::{PROBES, UNPROBED_ACTIONS, portal_policy};
use egx_portal::domain::BucketName;
use serde_json::Value;

use crate::helpers::*;

fn document(bucket: &str) -> Value {
    serde_json::from_str(&portal_policy(&BucketName::parse(bucket).unwrap())).unwrap()
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        _ => Vec::new(),
    }
}

fn statement_of<'a>(doc: &'a Value, action: &str) -> &'a Value {
    let found: Vec<&Value> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| list(&s["Action"]).iter().any(|a| a == action))
        .collect();
    assert_eq!(found.len(), 1, "{action} is granted by exactly one statement");
    found[0]
}

#[test]
fn the_portal_policy_scopes_iam_to_its_own_policy_and_managed_users_and_s3_to_its_bucket() {
    let doc = document("team-bucket");
    let statements = doc["Statement"].as_array().unwrap();
    // Exactly the actions the portal calls: the doctor's probes plus two.
    let mut granted: Vec<String> = statements.iter().flat_map(|s| list(&s["Action"])).collect();
    granted.sort();
    let mut needed: Vec<String> =
        PROBES.iter().flat_map(|p| p.actions.iter()).chain(UNPROBED_ACTIONS.iter()).map(|a| (*a).to_owned()).collect();
    needed.sort();
    assert_eq!(granted, needed);
    for s in statements {
        assert_eq!(s["Effect"], "Allow");
        assert!(s.get("NotAction").is_none() && s.get("NotResource").is_none());
        let resources = list(&s["Resource"]);
        if list(&s["Action"]) != ["sts:GetCallerIdentity"] {
            assert!(!resources.iter().any(|r| r == "*"), "only GetCallerIdentity has Resource *: {s}");
        }
        for r in resources.iter().filter(|r| r.starts_with("arn:aws:s3:::")) {
            assert!(r == "arn:aws:s3:::team-bucket" || r.starts_with("arn:aws:s3:::team-bucket/"), "{r}");
        }
    }
    // Policy management: only the team upload policy.
    for a in ["iam:GetPolicy", "iam:CreatePolicy", "iam:ListEntitiesForPolicy"] {
        assert_eq!(list(&statement_of(&doc, a)["Resource"]), ["arn:aws:iam::*:policy/EgxTeamUploadPolicy-team-bucket"]);
    }
    // Creating users: only with the managed-by tag in the request.
    let create = statement_of(&doc, "iam:CreateUser");
    assert_eq!(create["Condition"]["StringEquals"]["aws:RequestTag/managed-by"], "egx-portal");
    assert_eq!(create["Condition"]["StringEquals"]["aws:RequestTag/egx-bucket"], "team-bucket");
    // Attaching: only the team policy, only to managed users.
    let attach = statement_of(&doc, "iam:AttachUserPolicy");
    assert_eq!(attach["Condition"]["StringEquals"]["aws:ResourceTag/managed-by"], "egx-portal");
    assert_eq!(
        attach["Condition"]["ArnLike"]["iam:PolicyARN"],
        "arn:aws:iam::*:policy/EgxTeamUploadPolicy-team-bucket"
    );
    // Everything that changes or reads a user's credentials: managed users only.
    let lifecycle = PROBES.iter().find(|p| p.actions.contains(&"iam:CreateAccessKey")).unwrap();
    for a in lifecycle.actions {
        let s = statement_of(&doc, a);
        assert_eq!(s["Condition"]["StringEquals"]["aws:ResourceTag/managed-by"], "egx-portal", "{a}");
    }
    // Object access: only the two upload prefixes; nothing that deletes, reads policies or grants.
    let put = statement_of(&doc, "s3:PutObject");
    assert_eq!(list(&put["Resource"]), ["arn:aws:s3:::team-bucket/streaming/*", "arn:aws:s3:::team-bucket/batch/*"]);
    for forbidden in [
        "s3:DeleteObject",
        "s3:PutBucketPolicy",
        "iam:PutUserPolicy",
        "iam:CreateRole",
        "iam:PassRole",
        "iam:UntagUser",
    ] {
        assert!(!granted.iter().any(|g| g == forbidden), "{forbidden}");
    }
}

/// What moto can evaluate of the policy: IAM statements on `*` (moto checks
/// IAM against `*`), plus moto's `s3:HeadBucket` spelling of ListBucket.
fn moto_view(bucket: &str) -> String {
    let mut doc = document(bucket);
    for s in doc["Statement"].as_array_mut().unwrap() {
        if list(&s["Action"]).iter().any(|a| a.starts_with("iam:")) {
            s["Resource"] = Value::String("*".into());
        }
        if list(&s["Action"]).iter().any(|a| a == "s3:ListBucket") {
            let mut actions = list(&s["Action"]);
            actions.push("s3:HeadBucket".into());
            s["Action"] = serde_json::json!(actions);
        }
    }
    doc.to_string()
}

/// An IAM user holding `policy` (inline), made by the emulator's admin; its key.
async fn portal_identity(app: &TestApp, policy: &str) -> Credentials {
    let iam = app.emulator.iam();
    let name = unique("egx-portal");
    iam.create_user().user_name(&name).send().await.unwrap();
    iam.put_user_policy().user_name(&name).policy_name("egx-portal").policy_document(policy).send().await.unwrap();
    let key = iam.create_access_key().user_name(&name).send().await.unwrap();
    let key = key.access_key().unwrap();
    Credentials::new(key.access_key_id(), key.secret_access_key(), None, None, "portal-identity")
}

fn denied<T, E: aws_sdk_s3::error::ProvideErrorMetadata, R>(r: Result<T, aws_sdk_s3::error::SdkError<E, R>>) -> bool {
    matches!(r, Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("AccessDenied"))
}

#[tokio::test]
async fn with_exactly_the_portal_policy_the_portal_works_on_its_bucket_and_on_no_other() {
    let app = TestApp::spawn(Backend::MotoEnforcing).await;
    let other = unique("egx-other");
    app.emulator.s3().create_bucket().bucket(&other).send().await.unwrap();
    // Compact JSON: moto's signature check mishandles spaces in request bodies.
    let key = portal_identity(&app, &document(&app.bucket).to_string()).await;
    let s3 = app.emulator.s3_with(key);
    let b = app.bucket.as_str();

    // What the portal does on its own bucket (doctor, uploads, sweeper) is allowed.
    s3.get_bucket_location().bucket(b).send().await.expect("GetBucketLocation");
    let cors = s3.get_bucket_cors().bucket(b).send().await.expect("GetBucketCORS").cors_rules().to_vec();
    let rules = aws_sdk_s3::types::CorsConfiguration::builder().set_cors_rules(Some(cors)).build().unwrap();
    s3.put_bucket_cors().bucket(b).cors_configuration(rules).send().await.expect("PutBucketCORS");
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(b).send().await;
    assert!(!denied(lifecycle), "GetLifecycleConfiguration");
    s3.list_multipart_uploads().bucket(b).send().await.expect("ListBucketMultipartUploads");
    s3.list_objects_v2().bucket(b).prefix("batch/").send().await.expect("ListBucket");
    let mpu = s3.create_multipart_upload().bucket(b).key("batch/big.bin").send().await.expect("multipart into batch/");
    let upload_id = mpu.upload_id().unwrap();
    // (moto answers ListParts with an XML root the SDK does not parse; allowed is what counts here.)
    assert!(!denied(s3.list_parts().bucket(b).key("batch/big.bin").upload_id(upload_id).send().await), "ListParts");
    s3.abort_multipart_upload().bucket(b).key("batch/big.bin").upload_id(upload_id).send().await.expect("Abort");
    s3.put_object().bucket(b).key("streaming/p.csv").body(b"x".to_vec().into()).send().await.expect("PutObject");
    s3.head_object().bucket(b).key("streaming/p.csv").send().await.expect("HeadObject confirms an upload");

    // Outside its scope: denied.
    assert!(denied(s3.put_object().bucket(b).key("other/p.csv").body(b"x".to_vec().into()).send().await));
    assert!(denied(s3.delete_object().bucket(b).key("streaming/p.csv").send().await), "no deleting");
    assert!(denied(s3.get_bucket_policy().bucket(b).send().await));
    assert!(denied(s3.put_bucket_policy().bucket(b).policy("{}").send().await), "no granting via a bucket policy");
    assert!(denied(s3.list_objects_v2().bucket(&other).send().await), "another bucket");
    assert!(denied(s3.get_bucket_cors().bucket(&other).send().await), "another bucket's settings");
    assert!(denied(s3.create_multipart_upload().bucket(&other).key("batch/x").send().await));
}

#[tokio::test]
async fn with_the_portal_policys_actions_the_portal_adds_a_teammate_and_is_denied_other_iam_work() {
    let admin = TestApp::spawn(Backend::MotoEnforcing).await;
    let key = portal_identity(&admin, &moto_view(&admin.bucket)).await;
    // The portal itself runs as that identity, on the same bucket.
    let mut spawn = Spawn::on(Backend::MotoEnforcing);
    spawn.create_bucket = false;
    spawn.credentials = Some(key.clone());
    spawn.env = vec![("EGX_BUCKET", admin.bucket.clone())];
    let app = TestApp::spawn_with(spawn).await;
    app.create_owner().await;
    let name = unique("alice");

    let link = app.add_teammate_link(&name).await;

    assert!(link.contains("/l/"), "the one-time link was shown");
    let iam = admin.emulator.iam();
    let tags = iam.list_user_tags().user_name(&name).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "managed-by" && t.value() == "egx-portal"));
    let attached = iam.list_attached_user_policies().user_name(&name).send().await.unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_name(),
        Some(format!("EgxTeamUploadPolicy-{}", admin.bucket).as_str())
    );
    assert_eq!(iam.list_access_keys().user_name(&name).send().await.unwrap().access_key_metadata().len(), 1);
    assert!(app.audit_actions().await.iter().any(|a| a == "link.created"));

    // Actions outside the list are denied to the portal's identity.
    let as_portal = admin.emulator.iam_with(key);
    let put_inline = as_portal.put_user_policy().user_name(&name).policy_name("x").policy_document("{}").send().await;
    let create_role = as_portal.create_role().role_name(unique("r")).assume_role_policy_document("{}").send().await;
    let untag = as_portal.untag_user().user_name(&name).tag_keys("managed-by").send().await;
    let list_users = as_portal.list_users().send().await;
    assert_eq!(status_of(list_users), "403", "ListUsers");
    assert_eq!(status_of(put_inline), "403", "PutUserPolicy (an inline grant)");
    assert_eq!(status_of(create_role), "403", "CreateRole");
    assert_eq!(status_of(untag), "403", "UntagUser (hiding a user from the portal)");
}

/// The HTTP status IAM refused with (moto's AccessDenied body carries no code the SDK reads).
fn status_of<T, E>(r: Result<T, aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::http::Response>>) -> String {
    match r {
        Ok(_) => "allowed".into(),
        Err(e) => e.raw_response().map(|r| r.status().as_u16().to_string()).unwrap_or_else(|| "no answer".into()),
    }
}
