//! Everything IAM requires before DeleteUser succeeds, one step at a time (C16).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html>
//!
//! DeleteUser fails while the user still has a password (login profile),
//! access keys, signing certificates, SSH public keys, service-specific
//! credentials (Git), MFA devices, inline policies, attached managed policies
//! or group memberships. Each [`RemovalStep`] lists one kind (paginated) and
//! removes every item; "NoSuchEntity" means already done, so a removal that
//! stopped half way finishes when run again.

use super::iam::{IamError, classify};
use super::{AwsClients, error_code};
use crate::domain::IamUserName;

/// The steps of a removal, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalStep {
    AccessKeys,
    LoginProfile,
    MfaDevices,
    SigningCertificates,
    SshPublicKeys,
    ServiceCredentials,
    InlinePolicies,
    AttachedPolicies,
    Groups,
    DeleteUser,
}

impl RemovalStep {
    pub const ALL: [RemovalStep; 10] = [
        Self::AccessKeys,
        Self::LoginProfile,
        Self::MfaDevices,
        Self::SigningCertificates,
        Self::SshPublicKeys,
        Self::ServiceCredentials,
        Self::InlinePolicies,
        Self::AttachedPolicies,
        Self::Groups,
        Self::DeleteUser,
    ];

    /// The stored and shown name of the step.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessKeys => "access keys",
            Self::LoginProfile => "console password",
            Self::MfaDevices => "MFA devices",
            Self::SigningCertificates => "signing certificates",
            Self::SshPublicKeys => "SSH public keys",
            Self::ServiceCredentials => "service-specific credentials",
            Self::InlinePolicies => "inline policies",
            Self::AttachedPolicies => "attached policies",
            Self::Groups => "group memberships",
            Self::DeleteUser => "delete user",
        }
    }
}

/// One thing a step removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub kind: RemovedKind,
    /// Its id or name (a key id, a policy ARN, a group name, …; never a secret).
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedKind {
    AccessKey,
    LoginProfile,
    MfaDeactivated,
    VirtualMfaDeleted,
    SigningCertificate,
    SshPublicKey,
    ServiceCredential,
    InlinePolicy,
    AttachedPolicy,
    Group,
    User,
}

fn gone<E: aws_sdk_iam::error::ProvideErrorMetadata, R>(e: &aws_sdk_iam::error::SdkError<E, R>) -> bool {
    error_code(e).as_deref() == Some("NoSuchEntity")
}

/// Runs one step for `user`; returns what it removed (empty when there was
/// nothing left, including when the user itself is already gone).
pub async fn run_step(aws: &AwsClients, user: &IamUserName, step: RemovalStep) -> Result<Vec<Removed>, IamError> {
    let iam = &aws.iam;
    let name = user.as_str();
    let mut removed = Vec::new();
    let mut note = |kind, id: &str| removed.push(Removed { kind, id: id.to_owned() });
    match step {
        RemovalStep::AccessKeys => {
            let keys = match iam.list_access_keys().user_name(name).into_paginator().items().send().try_collect().await
            {
                Ok(k) => k,
                Err(e) if gone(&e) => Vec::new(),
                Err(e) => return Err(classify("ListAccessKeys", e)),
            };
            for id in keys.iter().filter_map(|k| k.access_key_id()) {
                match iam.delete_access_key().user_name(name).access_key_id(id).send().await {
                    Ok(_) => note(RemovedKind::AccessKey, id),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("DeleteAccessKey", e)),
                }
            }
        }
        RemovalStep::LoginProfile => match iam.delete_login_profile().user_name(name).send().await {
            Ok(_) => note(RemovedKind::LoginProfile, name),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(classify("DeleteLoginProfile", e)),
        },
        RemovalStep::MfaDevices => {
            let devices =
                match iam.list_mfa_devices().user_name(name).into_paginator().items().send().try_collect().await {
                    Ok(d) => d,
                    Err(e) if gone(&e) => Vec::new(),
                    Err(e) => return Err(classify("ListMFADevices", e)),
                };
            for serial in devices.iter().map(|d| d.serial_number()) {
                match iam.deactivate_mfa_device().user_name(name).serial_number(serial).send().await {
                    Ok(_) => note(RemovedKind::MfaDeactivated, serial),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("DeactivateMFADevice", e)),
                }
                // A virtual device is an IAM resource of its own (its serial is
                // an ARN): delete it too. Hardware and FIDO devices only detach.
                if serial.starts_with("arn:") && serial.contains(":mfa/") {
                    match iam.delete_virtual_mfa_device().serial_number(serial).send().await {
                        Ok(_) => note(RemovedKind::VirtualMfaDeleted, serial),
                        Err(e) if gone(&e) => {}
                        Err(e) => return Err(classify("DeleteVirtualMFADevice", e)),
                    }
                }
            }
        }
        RemovalStep::SigningCertificates => {
            let certs = match iam
                .list_signing_certificates()
                .user_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
            {
                Ok(c) => c,
                Err(e) if gone(&e) => Vec::new(),
                Err(e) => return Err(classify("ListSigningCertificates", e)),
            };
            for id in certs.iter().map(|c| c.certificate_id()) {
                match iam.delete_signing_certificate().user_name(name).certificate_id(id).send().await {
                    Ok(_) => note(RemovedKind::SigningCertificate, id),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("DeleteSigningCertificate", e)),
                }
            }
        }
        RemovalStep::SshPublicKeys => {
            let keys =
                match iam.list_ssh_public_keys().user_name(name).into_paginator().items().send().try_collect().await {
                    Ok(k) => k,
                    Err(e) if gone(&e) => Vec::new(),
                    Err(e) => return Err(classify("ListSSHPublicKeys", e)),
                };
            for id in keys.iter().map(|k| k.ssh_public_key_id()) {
                match iam.delete_ssh_public_key().user_name(name).ssh_public_key_id(id).send().await {
                    Ok(_) => note(RemovedKind::SshPublicKey, id),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("DeleteSSHPublicKey", e)),
                }
            }
        }
        RemovalStep::ServiceCredentials => {
            for id in list_service_credentials(aws, user).await? {
                match iam
                    .delete_service_specific_credential()
                    .user_name(name)
                    .service_specific_credential_id(&id)
                    .send()
                    .await
                {
                    Ok(_) => note(RemovedKind::ServiceCredential, &id),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("DeleteServiceSpecificCredential", e)),
                }
            }
        }
        RemovalStep::InlinePolicies => {
            let names =
                match iam.list_user_policies().user_name(name).into_paginator().items().send().try_collect().await {
                    Ok(n) => n,
                    Err(e) if gone(&e) => Vec::new(),
                    Err(e) => return Err(classify("ListUserPolicies", e)),
                };
            for policy in &names {
                match iam.delete_user_policy().user_name(name).policy_name(policy).send().await {
                    Ok(_) => note(RemovedKind::InlinePolicy, policy),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("DeleteUserPolicy", e)),
                }
            }
        }
        RemovalStep::AttachedPolicies => {
            let attached = match iam
                .list_attached_user_policies()
                .user_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
            {
                Ok(a) => a,
                Err(e) if gone(&e) => Vec::new(),
                Err(e) => return Err(classify("ListAttachedUserPolicies", e)),
            };
            for arn in attached.iter().filter_map(|p| p.policy_arn()) {
                match iam.detach_user_policy().user_name(name).policy_arn(arn).send().await {
                    Ok(_) => note(RemovedKind::AttachedPolicy, arn),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("DetachUserPolicy", e)),
                }
            }
        }
        RemovalStep::Groups => {
            let groups =
                match iam.list_groups_for_user().user_name(name).into_paginator().items().send().try_collect().await {
                    Ok(g) => g,
                    Err(e) if gone(&e) => Vec::new(),
                    Err(e) => return Err(classify("ListGroupsForUser", e)),
                };
            for group in groups.iter().map(|g| g.group_name()) {
                match iam.remove_user_from_group().user_name(name).group_name(group).send().await {
                    Ok(_) => note(RemovedKind::Group, group),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(classify("RemoveUserFromGroup", e)),
                }
            }
        }
        RemovalStep::DeleteUser => match iam.delete_user().user_name(name).send().await {
            Ok(_) => note(RemovedKind::User, name),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(classify("DeleteUser", e)),
        },
    }
    Ok(removed)
}

/// ListServiceSpecificCredentials has a marker but no SDK paginator: follow
/// the marker by hand (bounded: a user has at most a handful).
async fn list_service_credentials(aws: &AwsClients, user: &IamUserName) -> Result<Vec<String>, IamError> {
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..100 {
        let out = match aws
            .iam
            .list_service_specific_credentials()
            .user_name(user.as_str())
            .set_marker(marker.clone())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if gone(&e) => return Ok(ids),
            Err(e) => return Err(classify("ListServiceSpecificCredentials", e)),
        };
        ids.extend(out.service_specific_credentials().iter().map(|c| c.service_specific_credential_id().to_owned()));
        match out.marker() {
            Some(m) if out.is_truncated() && !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(ids),
        }
    }
    Ok(ids)
}
