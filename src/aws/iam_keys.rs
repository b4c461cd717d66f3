//! Access keys as IAM reports them, and the changes the owner makes to them.
//!
//! IAM is the source of truth for a key's status and last use. Every list
//! call is paginated, and a list that fails is an error for the caller to
//! show as "IAM unavailable" — never an empty list.
//! <https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListAccessKeys.html>
//! <https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccessKeyLastUsed.html>

use aws_sdk_iam::types::StatusType;

use super::AwsClients;
use super::iam::{IamError, changed, classify};
use crate::domain::IamUserName;

/// One access key of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamKey {
    pub access_key_id: String,
    pub active: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// When IAM last saw the key used, and by which service ("s3", "sts", …).
    pub last_used: Option<LastUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    pub at: i64,
    pub service: String,
}

/// What a change found: done now, or it was already so (the key or user is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    AlreadyGone,
}

/// The user's keys, without last-use information (one paginated call).
pub async fn list_key_metadata(aws: &AwsClients, user: &IamUserName) -> Result<Vec<IamKey>, IamError> {
    let keys = aws
        .iam
        .list_access_keys()
        .user_name(user.as_str())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("ListAccessKeys", e))?;
    let mut out: Vec<IamKey> = keys
        .into_iter()
        .filter_map(|k| {
            Some(IamKey {
                access_key_id: k.access_key_id()?.to_owned(),
                active: k.status() == Some(&StatusType::Active),
                created_at: k.create_date().map(|d| d.secs()).unwrap_or_default(),
                last_used: None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.access_key_id.cmp(&b.access_key_id)));
    Ok(out)
}

/// The user's keys, oldest first, each with IAM's last-used record.
pub async fn list_keys(aws: &AwsClients, user: &IamUserName) -> Result<Vec<IamKey>, IamError> {
    let mut keys = list_key_metadata(aws, user).await?;
    for key in &mut keys {
        key.last_used = last_used(aws, &key.access_key_id).await?;
    }
    Ok(keys)
}

/// IAM's record of the key's last use (None: never used, as far as IAM knows).
pub async fn last_used(aws: &AwsClients, access_key_id: &str) -> Result<Option<LastUsed>, IamError> {
    let out = aws
        .iam
        .get_access_key_last_used()
        .access_key_id(access_key_id)
        .send()
        .await
        .map_err(|e| classify("GetAccessKeyLastUsed", e))?;
    Ok(out
        .access_key_last_used()
        .and_then(|u| u.last_used_date().map(|d| LastUsed { at: d.secs(), service: u.service_name().to_owned() })))
}

/// Activates or deactivates a key.
pub async fn set_key_active(
    aws: &AwsClients,
    user: &IamUserName,
    access_key_id: &str,
    active: bool,
) -> Result<Change, IamError> {
    let status = if active { StatusType::Active } else { StatusType::Inactive };
    let sent =
        aws.iam.update_access_key().user_name(user.as_str()).access_key_id(access_key_id).status(status).send().await;
    Ok(if changed("UpdateAccessKey", sent)? { Change::Done } else { Change::AlreadyGone })
}

/// Deletes a key (a key already gone counts as deleted).
pub async fn delete_key(aws: &AwsClients, user: &IamUserName, access_key_id: &str) -> Result<Change, IamError> {
    let sent = aws.iam.delete_access_key().user_name(user.as_str()).access_key_id(access_key_id).send().await;
    Ok(if changed("DeleteAccessKey", sent)? { Change::Done } else { Change::AlreadyGone })
}
