//! What the portal's own AWS identity must be allowed to do, and a check of
//! it with IAM's policy simulator (`iam:SimulatePrincipalPolicy`), which
//! evaluates the identity's real policies (identity policies, permissions
//! boundary) for each action, resource and condition context without doing
//! anything. `iam/portal_policy.json` grants exactly [`PROBES`]; a test
//! keeps the two in step.
//!
//! The simulator is an AWS feature: an emulator that lacks it (moto), or
//! the account's root user (which cannot be simulated), yields
//! [`Verdict::Unchecked`] with the reason, never a pass.
//! API: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html>

use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};

use super::AwsClients;
use super::iam::{BUCKET_TAG_KEY, MANAGED_TAG_KEY, MANAGED_TAG_VALUE};
use crate::domain::BucketName;

/// `iam/portal_policy.json`, embedded: the policy the portal's identity needs.
pub const PORTAL_POLICY_TEMPLATE: &str = include_str!("../../iam/portal_policy.json");

/// The portal policy for `bucket` (the template's `__BUCKET__` filled in).
pub fn portal_policy(bucket: &BucketName) -> String {
    PORTAL_POLICY_TEMPLATE.replace(super::iam::BUCKET_PLACEHOLDER, bucket.as_str())
}

/// Actions the policy grants beyond [`PROBES`]: IAM cannot deny the first;
/// the second is the doctor's own check.
pub const UNPROBED_ACTIONS: &[&str] = &["sts:GetCallerIdentity", "iam:SimulatePrincipalPolicy"];

/// The name probes use for resources that need not exist.
const PROBE: &str = "egx-doctor-probe";

/// Which resource a group of actions is simulated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A user the portal does not manage yet (no tags): lookups, creation with tags.
    NewUser,
    /// A user tagged `managed-by=egx-portal`.
    ManagedUser,
    /// The team upload policy `EgxTeamUploadPolicy-<bucket>`.
    TeamPolicy,
    /// A virtual MFA device of a user being removed.
    MfaDevice,
    /// A group a user being removed is in.
    Group,
    /// The bucket itself.
    Bucket,
    /// Objects under `streaming/` and `batch/`.
    UploadObjects,
}

/// One group of actions the portal needs, on one kind of resource.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub target: Target,
    pub actions: &'static [&'static str],
    /// Simulated with the request tags the portal sends (`CreateUser` with tags).
    pub request_tags: bool,
    /// Simulated with `iam:PolicyARN` = the team upload policy.
    pub team_policy_arn: bool,
}

/// Every action the portal calls, grouped by resource. `sts:GetCallerIdentity`
/// is not here: IAM cannot deny it.
pub const PROBES: &[Probe] = &[
    Probe {
        target: Target::TeamPolicy,
        actions: &["iam:GetPolicy", "iam:CreatePolicy", "iam:ListEntitiesForPolicy"],
        request_tags: false,
        team_policy_arn: false,
    },
    Probe {
        target: Target::NewUser,
        actions: &["iam:GetUser", "iam:ListUserTags"],
        request_tags: false,
        team_policy_arn: false,
    },
    Probe {
        target: Target::NewUser,
        actions: &["iam:CreateUser", "iam:TagUser"],
        request_tags: true,
        team_policy_arn: false,
    },
    Probe {
        target: Target::ManagedUser,
        actions: &["iam:AttachUserPolicy"],
        request_tags: false,
        team_policy_arn: true,
    },
    Probe {
        target: Target::ManagedUser,
        actions: &[
            "iam:DetachUserPolicy",
            "iam:ListAttachedUserPolicies",
            "iam:ListUserPolicies",
            "iam:DeleteUserPolicy",
            "iam:CreateAccessKey",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
            "iam:UpdateAccessKey",
            "iam:DeleteAccessKey",
            "iam:GetLoginProfile",
            "iam:DeleteLoginProfile",
            "iam:ListMFADevices",
            "iam:DeactivateMFADevice",
            "iam:ListSigningCertificates",
            "iam:DeleteSigningCertificate",
            "iam:ListSSHPublicKeys",
            "iam:DeleteSSHPublicKey",
            "iam:ListServiceSpecificCredentials",
            "iam:DeleteServiceSpecificCredential",
            "iam:ListGroupsForUser",
            "iam:DeleteUser",
        ],
        request_tags: false,
        team_policy_arn: false,
    },
    Probe {
        target: Target::MfaDevice,
        actions: &["iam:DeleteVirtualMFADevice"],
        request_tags: false,
        team_policy_arn: false,
    },
    Probe { target: Target::Group, actions: &["iam:RemoveUserFromGroup"], request_tags: false, team_policy_arn: false },
    Probe {
        target: Target::Bucket,
        actions: &[
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetBucketCORS",
            "s3:PutBucketCORS",
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:ListBucketMultipartUploads",
        ],
        request_tags: false,
        team_policy_arn: false,
    },
    Probe {
        target: Target::UploadObjects,
        actions: &["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        request_tags: false,
        team_policy_arn: false,
    },
];

/// Who the portal runs as, from STS GetCallerIdentity's ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's root user: cannot be simulated (and should not run the portal).
    Root,
    /// An IAM user or role ARN the simulator accepts.
    Simulatable(String),
    /// Something else (a federated user): cannot be simulated.
    Other,
}

/// `arn:P:iam::A:user/x` stays; `arn:P:sts::A:assumed-role/R/session`
/// becomes `arn:P:iam::A:role/R` (a role with a path is then not found:
/// reported as unchecked); `arn:P:iam::A:root` is the root user.
pub fn principal_of(caller_arn: &str) -> Principal {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    let [_, partition, _service, _, account, resource] = parts.as_slice() else {
        return Principal::Other;
    };
    if *resource == "root" {
        return Principal::Root;
    }
    if let Some(user) = resource.strip_prefix("user/") {
        return Principal::Simulatable(format!("arn:{partition}:iam::{account}:user/{user}"));
    }
    if let Some(rest) = resource.strip_prefix("assumed-role/")
        && let Some((role, _session)) = rest.split_once('/')
    {
        return Principal::Simulatable(format!("arn:{partition}:iam::{account}:role/{role}"));
    }
    Principal::Other
}

/// What the simulation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every needed action is allowed. `excess` names needed-not actions the
    /// identity may also do (it has more rights than it needs).
    Allowed { principal: String, actions: usize, excess: Vec<String> },
    /// These `action on resource` pairs are denied.
    Denied { principal: String, denied: Vec<String> },
    /// The simulation could not run; the reason, for the owner.
    Unchecked(String),
}

fn arn_of(target: Target, partition: &str, account: &str, bucket: &BucketName) -> Vec<String> {
    let iam = |what: &str| format!("arn:{partition}:iam::{account}:{what}");
    match target {
        Target::NewUser | Target::ManagedUser => vec![iam(&format!("user/{PROBE}"))],
        Target::TeamPolicy => vec![iam(&format!("policy/{}", super::iam::policy_name(bucket)))],
        Target::MfaDevice => vec![iam(&format!("mfa/{PROBE}"))],
        Target::Group => vec![iam(&format!("group/{PROBE}"))],
        Target::Bucket => vec![format!("arn:{partition}:s3:::{bucket}")],
        Target::UploadObjects => crate::domain::Prefix::ALL
            .iter()
            .map(|p| format!("arn:{partition}:s3:::{bucket}/{}/{PROBE}", p.as_str()))
            .collect(),
    }
}

fn entry(key: &str, kind: ContextKeyTypeEnum, values: &[&str]) -> ContextEntry {
    let mut b = ContextEntry::builder().context_key_name(key).context_key_type(kind);
    for v in values {
        b = b.context_key_values(*v);
    }
    b.build()
}

fn context(probe: &Probe, partition: &str, account: &str, bucket: &BucketName) -> Vec<ContextEntry> {
    let s = ContextKeyTypeEnum::String;
    let mut out = Vec::new();
    if probe.target == Target::ManagedUser {
        out.push(entry(&format!("aws:ResourceTag/{MANAGED_TAG_KEY}"), s.clone(), &[MANAGED_TAG_VALUE]));
        out.push(entry(&format!("iam:ResourceTag/{MANAGED_TAG_KEY}"), s.clone(), &[MANAGED_TAG_VALUE]));
    }
    if probe.request_tags {
        out.push(entry(&format!("aws:RequestTag/{MANAGED_TAG_KEY}"), s.clone(), &[MANAGED_TAG_VALUE]));
        out.push(entry(&format!("aws:RequestTag/{BUCKET_TAG_KEY}"), s.clone(), &[bucket.as_str()]));
        out.push(entry("aws:TagKeys", ContextKeyTypeEnum::StringList, &[MANAGED_TAG_KEY, BUCKET_TAG_KEY]));
    }
    if probe.team_policy_arn {
        let arn = format!("arn:{partition}:iam::{account}:policy/{}", super::iam::policy_name(bucket));
        out.push(entry("iam:PolicyARN", s, &[&arn]));
    }
    out
}

/// Why a simulation call failed, for the owner.
fn unchecked_reason(code: Option<&str>, reached: bool) -> String {
    match code {
        Some("AccessDenied") => "could not check: the identity may not call iam:SimulatePrincipalPolicy on itself \
             (add the SimulateOwnPermissions statement of iam/portal_policy.json)"
            .to_owned(),
        Some("NoSuchEntity") => "could not check: IAM does not know the identity's ARN (a role with a path?); \
             compare its policies with iam/portal_policy.json by hand"
            .to_owned(),
        Some(code) => {
            format!("could not check: the IAM endpoint refused the policy simulation ({code}); emulators often lack it")
        }
        None if reached => "could not check: the IAM endpoint does not support the policy simulation \
             (emulators often lack it)"
            .to_owned(),
        None => "could not check: the IAM endpoint could not be reached".to_owned(),
    }
}

/// Simulates every action of [`PROBES`] for the portal's identity.
pub async fn check(aws: &AwsClients, bucket: &BucketName) -> Verdict {
    let who = match aws.sts.get_caller_identity().send().await {
        Ok(who) => who,
        Err(e) => {
            return Verdict::Unchecked(format!(
                "could not check: STS GetCallerIdentity failed ({})",
                super::s3::describe(&e)
            ));
        }
    };
    let caller = who.arn().unwrap_or_default().to_owned();
    let account = who.account().unwrap_or_default().to_owned();
    let partition = caller.split(':').nth(1).unwrap_or("aws").to_owned();
    let principal = match principal_of(&caller) {
        Principal::Simulatable(arn) => arn,
        Principal::Root => {
            return Verdict::Unchecked(format!(
                "could not check: the portal runs as the account's root user ({caller}), which may do everything \
                 and cannot be simulated. Run it as an IAM user or role with iam/portal_policy.json."
            ));
        }
        Principal::Other => {
            return Verdict::Unchecked(format!("could not check: {caller} is neither an IAM user nor a role"));
        }
    };
    let mut denied = Vec::new();
    let mut count = 0;
    for probe in PROBES {
        let resources = arn_of(probe.target, &partition, &account, bucket);
        let mut req = aws.iam.simulate_principal_policy().policy_source_arn(&principal);
        for a in probe.actions {
            req = req.action_names(*a);
        }
        for r in &resources {
            req = req.resource_arns(r);
        }
        for c in context(probe, &partition, &account, bucket) {
            req = req.context_entries(c);
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) => {
                let code = super::error_code(&e);
                tracing::info!(error = %super::s3::describe(&e), "doctor: policy simulation failed");
                return Verdict::Unchecked(unchecked_reason(code.as_deref(), e.raw_response().is_some()));
            }
        };
        let results = out.evaluation_results();
        if results.len() < probe.actions.len() * resources.len() {
            return Verdict::Unchecked(
                "could not check: the policy simulation answered for fewer actions than asked (an emulator?)".into(),
            );
        }
        for r in results {
            count += 1;
            if r.eval_decision() != &PolicyEvaluationDecisionType::Allowed {
                denied.push(format!("{} on {}", r.eval_action_name(), r.eval_resource_name().unwrap_or("*")));
            }
        }
    }
    if !denied.is_empty() {
        return Verdict::Denied { principal, denied };
    }
    // More than needed? A key for a user the portal does not manage is the telling case.
    let untagged = aws
        .iam
        .simulate_principal_policy()
        .policy_source_arn(&principal)
        .action_names("iam:CreateAccessKey")
        .action_names("iam:AttachUserPolicy")
        .resource_arns(format!("arn:{partition}:iam::{account}:user/{PROBE}-unmanaged"))
        .send()
        .await;
    let excess = match untagged {
        Ok(out) => out
            .evaluation_results()
            .iter()
            .filter(|r| r.eval_decision() == &PolicyEvaluationDecisionType::Allowed)
            .map(|r| format!("{} on users it does not manage", r.eval_action_name()))
            .collect(),
        Err(_) => Vec::new(),
    };
    Verdict::Allowed { principal, actions: count, excess }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_arns_become_the_principal_the_simulator_takes() {
        assert_eq!(
            principal_of("arn:aws:iam::123456789012:user/ops/egx-portal"),
            Principal::Simulatable("arn:aws:iam::123456789012:user/ops/egx-portal".into())
        );
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:assumed-role/EgxPortal/i-0abc"),
            Principal::Simulatable("arn:aws:iam::123456789012:role/EgxPortal".into())
        );
        assert_eq!(
            principal_of("arn:aws-cn:sts::123456789012:user/moto"),
            Principal::Simulatable("arn:aws-cn:iam::123456789012:user/moto".into())
        );
        assert_eq!(principal_of("arn:aws:iam::000000000000:root"), Principal::Root);
        assert_eq!(principal_of("arn:aws:sts::1:federated-user/bob"), Principal::Other);
        assert_eq!(principal_of("garbage"), Principal::Other);
    }

    #[test]
    fn probes_name_each_action_once() {
        let mut all: Vec<&str> = PROBES.iter().flat_map(|p| p.actions.iter().copied()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
