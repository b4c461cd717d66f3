//! IAM provisioning steps, each idempotent so a retry resumes instead of
//! dead-ending on "already exists" (C18).
//!
//! The upload policy is the same template file the runbook script uses,
//! embedded at build time, so script and portal cannot disagree.
//! IAM API reference: <https://docs.aws.amazon.com/IAM/latest/APIReference/>

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_iam::types::Tag;

use super::{AwsClients, error_code};
use crate::crypto::Secret;
use crate::domain::{BucketName, IamUserName};

/// The policy template shared with `iam/create_team_users.sh`.
pub const POLICY_TEMPLATE: &str = include_str!("../../iam/egx_team_upload_policy.json");
/// The placeholder the template uses for the bucket name.
pub const BUCKET_PLACEHOLDER: &str = "__BUCKET__";
/// Tag that marks IAM users the portal manages.
pub const MANAGED_TAG_KEY: &str = "managed-by";
pub const MANAGED_TAG_VALUE: &str = "egx-portal";
pub const BUCKET_TAG_KEY: &str = "egx-bucket";

/// The policy document for `bucket`, as compact JSON. (Compact on purpose:
/// whitespace carries no meaning for IAM, and moto's signature check
/// mis-handles spaces in SDK-encoded request bodies.)
pub fn policy_document(bucket: &BucketName) -> String {
    let filled = POLICY_TEMPLATE.replace(BUCKET_PLACEHOLDER, bucket.as_str());
    match serde_json::from_str::<serde_json::Value>(&filled) {
        Ok(doc) => doc.to_string(),
        // The template is checked by a unit test; never reached in practice.
        Err(_) => filled,
    }
}

/// The managed policy's name for `bucket`.
pub fn policy_name(bucket: &BucketName) -> String {
    format!("EgxTeamUploadPolicy-{bucket}")
}

/// Why a provisioning step failed, in words for the owner.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error(
        "IAM user {0} exists but was not created by the portal (it has no managed-by=egx-portal tag); \
         the portal will not take it over here"
    )]
    NotManaged(String),
    #[error("IAM user {0} already has two access keys (IAM's limit); delete or rotate one first")]
    KeyLimit(String),
    #[error("AWS refused {step}: {code}")]
    Refused { step: &'static str, code: String, source: anyhow::Error },
    #[error("AWS could not be reached for {step}")]
    Unreachable { step: &'static str, source: anyhow::Error },
}

impl IamError {
    /// Whether waiting and trying again may help (throttling, AWS-side
    /// trouble, no connection). The SDK already retried such an error
    /// itself (standard mode, 4 attempts) before it reached us.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { code, .. } => matches!(
                code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "TooManyRequestsException"
                    | "RequestThrottled"
                    | "ServiceUnavailable"
                    | "ServiceFailure"
                    | "InternalFailure"
                    | "InternalError"
            ),
            Self::NotManaged(_) | Self::KeyLimit(_) => false,
        }
    }

    /// Whether AWS said the thing does not exist.
    pub fn is_no_such_entity(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if code == "NoSuchEntity")
    }

    /// A short kind for records (never a message from AWS with user data).
    pub fn kind(&self) -> String {
        match self {
            Self::NotManaged(_) => "not_managed".into(),
            Self::KeyLimit(_) => "key_limit".into(),
            Self::Refused { code, .. } => code.clone(),
            Self::Unreachable { .. } => "unreachable".into(),
        }
    }
}

/// Maps an SDK error to what the owner is told: refused (with AWS's code) or unreachable.
pub(crate) fn classify<E>(
    step: &'static str,
    err: aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> IamError
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (error_code(&err), err.raw_response().is_some()) {
        (Some(code), _) => IamError::Refused { step, code, source: anyhow::Error::new(err) },
        // An answer came back but carried no error code we could read: name its HTTP status.
        (None, true) => {
            let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or_default();
            IamError::Refused { step, code: format!("HTTP{status}"), source: anyhow::Error::new(err) }
        }
        (None, false) => IamError::Unreachable { step, source: anyhow::Error::new(err) },
    }
}

type SdkError<E> = aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>;

/// The items of a list call whose "NoSuchEntity" means the user is gone, so
/// nothing is left to list. Any other failure is an error, never "none".
pub(crate) fn listed<T, E>(operation: &'static str, result: Result<Vec<T>, SdkError<E>>) -> Result<Vec<T>, IamError>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(items) => Ok(items),
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => Ok(Vec::new()),
        Err(e) => Err(classify(operation, e)),
    }
}

/// The outcome of a change whose "NoSuchEntity" means it was already done:
/// true when this call made it, false when there was nothing left to change.
pub(crate) fn changed<T, E>(operation: &'static str, result: Result<T, SdkError<E>>) -> Result<bool, IamError>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => Ok(false),
        Err(e) => Err(classify(operation, e)),
    }
}

/// Creates the managed upload policy if it is absent; returns its ARN.
pub async fn ensure_policy(aws: &AwsClients, bucket: &BucketName) -> Result<String, IamError> {
    let name = policy_name(bucket);
    let arn = policy_arn(aws, bucket).await?;
    match aws.iam.get_policy().policy_arn(&arn).send().await {
        Ok(_) => return Ok(arn),
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => {}
        Err(e) => return Err(classify("GetPolicy", e)),
    }
    let created = aws.iam.create_policy().policy_name(&name).policy_document(policy_document(bucket)).send().await;
    match created {
        Ok(out) => Ok(out.policy().and_then(|p| p.arn()).map(str::to_owned).unwrap_or(arn)),
        // Created concurrently by someone else: the policy exists, which is all we need.
        Err(e) if error_code(&e).as_deref() == Some("EntityAlreadyExists") => Ok(arn),
        Err(e) => Err(classify("CreatePolicy", e)),
    }
}

/// The tags that mark a user as the portal's: managed-by and the bucket.
fn managed_tags(bucket: &BucketName, step: &'static str) -> Result<Vec<Tag>, IamError> {
    [(MANAGED_TAG_KEY, MANAGED_TAG_VALUE), (BUCKET_TAG_KEY, bucket.as_str())]
        .into_iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| IamError::Refused {
                step,
                code: "BadTag".into(),
                source: e.into(),
            })
        })
        .collect()
}

/// Tags an existing user as managed by the portal (adoption). TagUser
/// overwrites values of existing keys, so running it twice changes nothing.
pub async fn tag_managed(aws: &AwsClients, user: &IamUserName, bucket: &BucketName) -> Result<(), IamError> {
    let mut req = aws.iam.tag_user().user_name(user.as_str());
    for t in managed_tags(bucket, "TagUser")? {
        req = req.tags(t);
    }
    req.send().await.map_err(|e| classify("TagUser", e))?;
    Ok(())
}

/// The ARN of the portal's upload policy for `bucket` (in the portal's account).
pub async fn policy_arn(aws: &AwsClients, bucket: &BucketName) -> Result<String, IamError> {
    let account =
        aws.account_id().await.map_err(|source| IamError::Unreachable { step: "GetCallerIdentity", source })?;
    Ok(format!("arn:aws:iam::{account}:policy/{}", policy_name(bucket)))
}

/// Whether [`ensure_user`] made the user or found ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOutcome {
    Created,
    FoundManaged,
}

/// Creates the IAM user, tagged as managed by the portal, unless it exists.
/// An existing user is accepted only if it carries the managed tag.
pub async fn ensure_user(aws: &AwsClients, user: &IamUserName, bucket: &BucketName) -> Result<UserOutcome, IamError> {
    match aws.iam.get_user().user_name(user.as_str()).send().await {
        Ok(_) => {
            return if is_managed(aws, user).await? {
                Ok(UserOutcome::FoundManaged)
            } else {
                Err(IamError::NotManaged(user.to_string()))
            };
        }
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => {}
        Err(e) => return Err(classify("GetUser", e)),
    }
    let mut req = aws.iam.create_user().user_name(user.as_str());
    for t in managed_tags(bucket, "CreateUser")? {
        req = req.tags(t);
    }
    match req.send().await {
        Ok(_) => Ok(UserOutcome::Created),
        Err(e) if error_code(&e).as_deref() == Some("EntityAlreadyExists") => {
            if is_managed(aws, user).await? {
                Ok(UserOutcome::FoundManaged)
            } else {
                Err(IamError::NotManaged(user.to_string()))
            }
        }
        Err(e) => Err(classify("CreateUser", e)),
    }
}

/// Whether the IAM user carries the portal's managed-by tag.
pub async fn is_managed(aws: &AwsClients, user: &IamUserName) -> Result<bool, IamError> {
    let tags = aws
        .iam
        .list_user_tags()
        .user_name(user.as_str())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("ListUserTags", e))?;
    Ok(tags.iter().any(|t| t.key() == MANAGED_TAG_KEY && t.value() == MANAGED_TAG_VALUE))
}

/// The IAM users the policy is attached to (paginated), or `None` when the
/// policy does not exist (yet). A failed call is an error, never "nobody".
pub async fn users_with_policy(aws: &AwsClients, policy_arn: &str) -> Result<Option<Vec<String>>, IamError> {
    // Asked first: some emulators list nobody for a policy that does not exist.
    match aws.iam.get_policy().policy_arn(policy_arn).send().await {
        Ok(_) => {}
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(classify("GetPolicy", e)),
    }
    let pages = aws
        .iam
        .list_entities_for_policy()
        .policy_arn(policy_arn)
        .entity_filter(aws_sdk_iam::types::EntityType::User)
        .into_paginator()
        .send()
        .try_collect()
        .await;
    match pages {
        Ok(pages) => {
            let mut names: Vec<String> =
                pages.iter().flat_map(|p| p.policy_users()).filter_map(|u| u.user_name()).map(str::to_owned).collect();
            names.sort();
            names.dedup();
            Ok(Some(names))
        }
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(classify("ListEntitiesForPolicy", e)),
    }
}

/// Whether `policy_arn` is attached to the user (paginated).
pub async fn has_policy(aws: &AwsClients, user: &IamUserName, policy_arn: &str) -> Result<bool, IamError> {
    let attached = aws
        .iam
        .list_attached_user_policies()
        .user_name(user.as_str())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("ListAttachedUserPolicies", e))?;
    Ok(attached.iter().any(|p| p.policy_arn() == Some(policy_arn)))
}

/// When the user was created (Unix seconds), or `None` if it does not exist.
pub async fn user_created_at(aws: &AwsClients, user: &IamUserName) -> Result<Option<i64>, IamError> {
    match aws.iam.get_user().user_name(user.as_str()).send().await {
        Ok(out) => Ok(out.user().map(|u| u.create_date().secs())),
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(classify("GetUser", e)),
    }
}

/// Attaches the policy (IAM treats a repeated attach as success).
pub async fn attach_policy(aws: &AwsClients, user: &IamUserName, policy_arn: &str) -> Result<(), IamError> {
    aws.iam
        .attach_user_policy()
        .user_name(user.as_str())
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(|e| classify("AttachUserPolicy", e))?;
    Ok(())
}

/// A new access key: its id, and the secret (shown once, through a link).
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

pub async fn create_access_key(aws: &AwsClients, user: &IamUserName) -> Result<NewAccessKey, IamError> {
    let out = match aws.iam.create_access_key().user_name(user.as_str()).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e).as_deref() == Some("LimitExceeded") => {
            return Err(IamError::KeyLimit(user.to_string()));
        }
        Err(e) => return Err(classify("CreateAccessKey", e)),
    };
    let key = out.access_key().ok_or_else(|| IamError::Refused {
        step: "CreateAccessKey",
        code: "EmptyResponse".into(),
        source: anyhow::anyhow!("CreateAccessKey returned no key"),
    })?;
    Ok(NewAccessKey {
        access_key_id: key.access_key_id().to_owned(),
        secret_access_key: Secret::new(key.secret_access_key()),
    })
}

/// Waits until AWS accepts a new key (IAM is eventually consistent: on AWS a
/// fresh key can be refused for several seconds, C15). Calls STS
/// GetCallerIdentity with the key, backing off, for at most `timeout`.
/// Returns whether the key was accepted in time.
pub async fn verify_key(aws: &AwsClients, key: &NewAccessKey, timeout: Duration) -> bool {
    let credentials =
        Credentials::new(&key.access_key_id, key.secret_access_key.expose(), None, None, "egx-portal-new-key");
    let sts = aws.sts_with_key(credentials);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(250);
    loop {
        if sts.get_caller_identity().send().await.is_ok() {
            return true;
        }
        if tokio::time::Instant::now() + delay > deadline {
            return false;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(4));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_template_is_valid_json_with_the_bucket_substituted() {
        let bucket = BucketName::parse("data-bucket").unwrap();
        let doc: serde_json::Value = serde_json::from_str(&policy_document(&bucket)).unwrap();
        let text = doc.to_string();
        assert!(!text.contains(BUCKET_PLACEHOLDER));
        assert!(text.contains("arn:aws:s3:::data-bucket/streaming/*"));
        assert!(text.contains("arn:aws:s3:::data-bucket/batch/*"));
        assert!(!text.contains("streaming*"), "prefix wildcards must include the slash");
    }
}
