//! Everything IAM requires before DeleteUser succeeds, one step at a time (C16).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html>
//!
//! DeleteUser fails while the user still has a password (login profile),
//! access keys, signing certificates, SSH public keys, service-specific
//! credentials (Git), MFA devices, inline policies, attached managed policies
//! or group memberships. Each [`RemovalStep`] lists one kind (paginated) and
//! removes every item; "NoSuchEntity" means already done, so a removal that
//! stopped half way finishes when run again.

use super::iam::{IamError, changed, classify, listed};
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

/// Runs one step for `user`; returns what it removed (empty when there was
/// nothing left, including when the user itself is already gone).
pub async fn run_step(aws: &AwsClients, user: &IamUserName, step: RemovalStep) -> Result<Vec<Removed>, IamError> {
    let iam = &aws.iam;
    let name = user.as_str();
    let mut removed = Vec::new();
    let mut note = |made: bool, kind, id: &str| {
        if made {
            removed.push(Removed { kind, id: id.to_owned() });
        }
    };
    match step {
        RemovalStep::AccessKeys => {
            let list = iam.list_access_keys().user_name(name).into_paginator().items().send().try_collect().await;
            for id in listed("ListAccessKeys", list)?.iter().filter_map(|k| k.access_key_id()) {
                let sent = iam.delete_access_key().user_name(name).access_key_id(id).send().await;
                note(changed("DeleteAccessKey", sent)?, RemovedKind::AccessKey, id);
            }
        }
        RemovalStep::LoginProfile => {
            let sent = iam.delete_login_profile().user_name(name).send().await;
            note(changed("DeleteLoginProfile", sent)?, RemovedKind::LoginProfile, name);
        }
        RemovalStep::MfaDevices => {
            let list = iam.list_mfa_devices().user_name(name).into_paginator().items().send().try_collect().await;
            for device in listed("ListMFADevices", list)? {
                let serial = device.serial_number();
                let sent = iam.deactivate_mfa_device().user_name(name).serial_number(serial).send().await;
                note(changed("DeactivateMFADevice", sent)?, RemovedKind::MfaDeactivated, serial);
                // A virtual device is an IAM resource of its own (its serial is
                // an ARN): delete it too. Hardware and FIDO devices only detach.
                if serial.starts_with("arn:") && serial.contains(":mfa/") {
                    let sent = iam.delete_virtual_mfa_device().serial_number(serial).send().await;
                    note(changed("DeleteVirtualMFADevice", sent)?, RemovedKind::VirtualMfaDeleted, serial);
                }
            }
        }
        RemovalStep::SigningCertificates => {
            let list =
                iam.list_signing_certificates().user_name(name).into_paginator().items().send().try_collect().await;
            for cert in listed("ListSigningCertificates", list)? {
                let id = cert.certificate_id();
                let sent = iam.delete_signing_certificate().user_name(name).certificate_id(id).send().await;
                note(changed("DeleteSigningCertificate", sent)?, RemovedKind::SigningCertificate, id);
            }
        }
        RemovalStep::SshPublicKeys => {
            let list = iam.list_ssh_public_keys().user_name(name).into_paginator().items().send().try_collect().await;
            for key in listed("ListSSHPublicKeys", list)? {
                let id = key.ssh_public_key_id();
                let sent = iam.delete_ssh_public_key().user_name(name).ssh_public_key_id(id).send().await;
                note(changed("DeleteSSHPublicKey", sent)?, RemovedKind::SshPublicKey, id);
            }
        }
        RemovalStep::ServiceCredentials => {
            for id in list_service_credentials(aws, user).await? {
                let sent = iam
                    .delete_service_specific_credential()
                    .user_name(name)
                    .service_specific_credential_id(&id)
                    .send()
                    .await;
                note(changed("DeleteServiceSpecificCredential", sent)?, RemovedKind::ServiceCredential, &id);
            }
        }
        RemovalStep::InlinePolicies => {
            let list = iam.list_user_policies().user_name(name).into_paginator().items().send().try_collect().await;
            for policy in listed("ListUserPolicies", list)? {
                let sent = iam.delete_user_policy().user_name(name).policy_name(&policy).send().await;
                note(changed("DeleteUserPolicy", sent)?, RemovedKind::InlinePolicy, &policy);
            }
        }
        RemovalStep::AttachedPolicies => {
            let list =
                iam.list_attached_user_policies().user_name(name).into_paginator().items().send().try_collect().await;
            for arn in listed("ListAttachedUserPolicies", list)?.iter().filter_map(|p| p.policy_arn()) {
                let sent = iam.detach_user_policy().user_name(name).policy_arn(arn).send().await;
                note(changed("DetachUserPolicy", sent)?, RemovedKind::AttachedPolicy, arn);
            }
        }
        RemovalStep::Groups => {
            let list = iam.list_groups_for_user().user_name(name).into_paginator().items().send().try_collect().await;
            for group in listed("ListGroupsForUser", list)? {
                let group = group.group_name();
                let sent = iam.remove_user_from_group().user_name(name).group_name(group).send().await;
                note(changed("RemoveUserFromGroup", sent)?, RemovedKind::Group, group);
            }
        }
        RemovalStep::DeleteUser => {
            let sent = iam.delete_user().user_name(name).send().await;
            note(changed("DeleteUser", sent)?, RemovedKind::User, name);
        }
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
            Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => return Ok(ids),
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
