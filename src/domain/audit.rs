//! The typed list of things the audit log records.

use std::fmt;

/// One kind of audited event. The string forms are stored, so they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SetupLinkIssued,
    OwnerCreated,
    LoginSucceeded,
    LoginFailed,
    Logout,
    TeammateProvisionStarted,
    PolicyEnsured,
    IamUserCreated,
    IamUserFound,
    PolicyAttached,
    AccessKeyCreated,
    AccessKeyVerified,
    TeammateProvisionFailed,
    LinkCreated,
    LinkOpened,
    LinkRevealed,
    LinkRevealRefused,
    TeammateEnrolled,
    UploadSigned,
    UploadRefused,
    UploadCompleted,
    UploadFailed,
    UploadMultipartCreated,
    UploadAborted,
    UploadReplaceRequested,
    BucketSettingsApplied,
    AuditPruned,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodeUsed,
    TeammateAdopted,
    IamUserTagged,
    BulkAddRequested,
    TeammateDisabled,
    TeammateEnabled,
    LinkRevoked,
    AccessKeyDeactivated,
    AccessKeyReactivated,
    AccessKeyDeleted,
    AccessKeyChangeFailed,
    RotationStarted,
    RotationNewKeySeen,
    RotationConfirmed,
    RotationCompleted,
    RotationCancelled,
    RotationFailed,
    TeammateRemovalStarted,
    TeammateRemovalFailed,
    TeammateRemoved,
    LoginProfileDeleted,
    MfaDeviceDeactivated,
    VirtualMfaDeviceDeleted,
    SigningCertificateDeleted,
    SshPublicKeyDeleted,
    ServiceCredentialDeleted,
    InlinePolicyDeleted,
    PolicyDetached,
    UserRemovedFromGroup,
    IamUserDeleted,
    PasswordChanged,
    LinkExpired,
    OwnerPasswordReset,
    BackupCreated,
}

impl AuditAction {
    pub const ALL: &[AuditAction] = &[
        Self::SetupLinkIssued,
        Self::OwnerCreated,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::TeammateProvisionStarted,
        Self::PolicyEnsured,
        Self::IamUserCreated,
        Self::IamUserFound,
        Self::PolicyAttached,
        Self::AccessKeyCreated,
        Self::AccessKeyVerified,
        Self::TeammateProvisionFailed,
        Self::LinkCreated,
        Self::LinkOpened,
        Self::LinkRevealed,
        Self::LinkRevealRefused,
        Self::TeammateEnrolled,
        Self::UploadSigned,
        Self::UploadRefused,
        Self::UploadCompleted,
        Self::UploadFailed,
        Self::UploadMultipartCreated,
        Self::UploadAborted,
        Self::UploadReplaceRequested,
        Self::BucketSettingsApplied,
        Self::AuditPruned,
        Self::TotpEnabled,
        Self::TotpDisabled,
        Self::RecoveryCodeUsed,
        Self::TeammateAdopted,
        Self::IamUserTagged,
        Self::BulkAddRequested,
        Self::TeammateDisabled,
        Self::TeammateEnabled,
        Self::LinkRevoked,
        Self::AccessKeyDeactivated,
        Self::AccessKeyReactivated,
        Self::AccessKeyDeleted,
        Self::AccessKeyChangeFailed,
        Self::RotationStarted,
        Self::RotationNewKeySeen,
        Self::RotationConfirmed,
        Self::RotationCompleted,
        Self::RotationCancelled,
        Self::RotationFailed,
        Self::TeammateRemovalStarted,
        Self::TeammateRemovalFailed,
        Self::TeammateRemoved,
        Self::LoginProfileDeleted,
        Self::MfaDeviceDeactivated,
        Self::VirtualMfaDeviceDeleted,
        Self::SigningCertificateDeleted,
        Self::SshPublicKeyDeleted,
        Self::ServiceCredentialDeleted,
        Self::InlinePolicyDeleted,
        Self::PolicyDetached,
        Self::UserRemovedFromGroup,
        Self::IamUserDeleted,
        Self::PasswordChanged,
        Self::LinkExpired,
        Self::OwnerPasswordReset,
        Self::BackupCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SetupLinkIssued => "setup_link.issued",
            Self::OwnerCreated => "owner.created",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::Logout => "logout",
            Self::TeammateProvisionStarted => "teammate.provision_started",
            Self::PolicyEnsured => "iam.policy_ensured",
            Self::IamUserCreated => "iam.user_created",
            Self::IamUserFound => "iam.user_found",
            Self::PolicyAttached => "iam.policy_attached",
            Self::AccessKeyCreated => "iam.access_key_created",
            Self::AccessKeyVerified => "iam.access_key_verified",
            Self::TeammateProvisionFailed => "teammate.provision_failed",
            Self::LinkCreated => "link.created",
            Self::LinkOpened => "link.opened",
            Self::LinkRevealed => "link.revealed",
            Self::LinkRevealRefused => "link.reveal_refused",
            Self::TeammateEnrolled => "teammate.enrolled",
            Self::UploadSigned => "upload.signed",
            Self::UploadRefused => "upload.refused",
            Self::UploadCompleted => "upload.completed",
            Self::UploadFailed => "upload.failed",
            Self::UploadMultipartCreated => "upload.multipart_created",
            Self::UploadAborted => "upload.aborted",
            Self::UploadReplaceRequested => "upload.replace_requested",
            Self::BucketSettingsApplied => "bucket.settings_applied",
            Self::AuditPruned => "audit.pruned",
            Self::TotpEnabled => "two_factor.enabled",
            Self::TotpDisabled => "two_factor.disabled",
            Self::RecoveryCodeUsed => "two_factor.recovery_code_used",
            Self::TeammateAdopted => "teammate.adopted",
            Self::IamUserTagged => "iam.user_tagged",
            Self::BulkAddRequested => "teammate.bulk_add",
            Self::TeammateDisabled => "teammate.disabled",
            Self::TeammateEnabled => "teammate.enabled",
            Self::LinkRevoked => "link.revoked",
            Self::AccessKeyDeactivated => "iam.access_key_deactivated",
            Self::AccessKeyReactivated => "iam.access_key_reactivated",
            Self::AccessKeyDeleted => "iam.access_key_deleted",
            Self::AccessKeyChangeFailed => "iam.access_key_change_failed",
            Self::RotationStarted => "key_rotation.started",
            Self::RotationNewKeySeen => "key_rotation.new_key_seen",
            Self::RotationConfirmed => "key_rotation.confirmed",
            Self::RotationCompleted => "key_rotation.completed",
            Self::RotationCancelled => "key_rotation.cancelled",
            Self::RotationFailed => "key_rotation.failed",
            Self::TeammateRemovalStarted => "teammate.removal_started",
            Self::TeammateRemovalFailed => "teammate.removal_failed",
            Self::TeammateRemoved => "teammate.removed",
            Self::LoginProfileDeleted => "iam.login_profile_deleted",
            Self::MfaDeviceDeactivated => "iam.mfa_device_deactivated",
            Self::VirtualMfaDeviceDeleted => "iam.virtual_mfa_device_deleted",
            Self::SigningCertificateDeleted => "iam.signing_certificate_deleted",
            Self::SshPublicKeyDeleted => "iam.ssh_public_key_deleted",
            Self::ServiceCredentialDeleted => "iam.service_specific_credential_deleted",
            Self::InlinePolicyDeleted => "iam.inline_policy_deleted",
            Self::PolicyDetached => "iam.policy_detached",
            Self::UserRemovedFromGroup => "iam.user_removed_from_group",
            Self::IamUserDeleted => "iam.user_deleted",
            Self::PasswordChanged => "account.password_changed",
            Self::LinkExpired => "link.expired",
            Self::OwnerPasswordReset => "owner.password_reset",
            Self::BackupCreated => "backup.created",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == raw)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the audited attempt worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_through_its_stored_name() {
        for &action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
    }
}
