//! What the owner is told about a teammate and their keys: the shown status
//! (derived from stored facts, see migration 0006) and the key flags.
//! Pure functions of their inputs; `now` is always passed in.

use std::fmt;

const DAY: i64 = 86_400;

/// A teammate's status as the owner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeammateStatus {
    /// Provisioning stopped before the link was issued; Resume continues it.
    Incomplete,
    /// Provisioned; the teammate has not revealed a link with a key yet.
    Activating,
    Active,
    /// The portal account is disabled (IAM untouched).
    Disabled,
    /// A removal started and has not finished; running it again finishes it.
    Removing,
    Removed,
}

/// The stored facts the status is derived from.
#[derive(Debug, Clone, Copy)]
pub struct StatusFacts<'a> {
    /// `teammates.status`: 'incomplete', 'active' or 'removed'.
    pub stored: &'a str,
    pub removal_started: bool,
    pub account_disabled: bool,
    pub activated: bool,
}

impl TeammateStatus {
    pub fn derive(f: StatusFacts<'_>) -> Self {
        match f.stored {
            "removed" => Self::Removed,
            _ if f.removal_started => Self::Removing,
            "incomplete" => Self::Incomplete,
            _ if f.account_disabled => Self::Disabled,
            _ if !f.activated => Self::Activating,
            _ => Self::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::Activating => "activating",
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Removing => "removing",
            Self::Removed => "removed",
        }
    }

    /// Whether IAM still holds this teammate's user (so keys are worth listing).
    pub fn has_iam_user(self) -> bool {
        !matches!(self, Self::Removed)
    }
}

impl fmt::Display for TeammateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The thresholds behind the key flags (EGX_KEY_MAX_AGE_DAYS, EGX_KEY_UNUSED_DAYS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagRules {
    pub max_age_days: u64,
    pub unused_days: u64,
}

/// Something the owner should look at about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFlag {
    /// Active and older than the configured maximum age: rotate it.
    OlderThan { days: u64 },
    /// Active and never used by the teammate.
    NeverUsed,
    /// Active, used once, but not for this many days.
    UnusedFor { days: u64 },
}

impl fmt::Display for KeyFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OlderThan { days } => write!(f, "older than {days} days"),
            Self::NeverUsed => f.write_str("never used"),
            Self::UnusedFor { days } => write!(f, "unused for {days} days"),
        }
    }
}

/// A use IAM recorded for a key: when, and by which service.
#[derive(Debug, Clone, Copy)]
pub struct KeyUse<'a> {
    pub at: i64,
    pub service: &'a str,
}

/// How long after the portal's own STS check a use by "sts" is taken to be
/// that check (IAM records the check like any other use of the key).
pub const OWN_CHECK_WINDOW_SECS: i64 = 300;

/// The teammate's last use of a key: IAM's last-used record, unless that
/// record is the portal's own verification (GetCallerIdentity, service
/// "sts", around `verified_at`). `None`: never used by the teammate.
pub fn teammate_use(last: Option<KeyUse<'_>>, verified_at: Option<i64>) -> Option<i64> {
    let last = last?;
    let own_check =
        last.service.eq_ignore_ascii_case("sts") && verified_at.is_some_and(|v| last.at <= v + OWN_CHECK_WINDOW_SECS);
    (!own_check).then_some(last.at)
}

/// The flags of a key at `now`.
pub fn key_flags(active: bool, created_at: i64, used_at: Option<i64>, now: i64, rules: FlagRules) -> Vec<KeyFlag> {
    if !active {
        return Vec::new();
    }
    let days = |n: u64| i64::try_from(n).unwrap_or(i64::MAX / DAY) * DAY;
    let mut flags = Vec::new();
    if now - created_at >= days(rules.max_age_days) {
        flags.push(KeyFlag::OlderThan { days: rules.max_age_days });
    }
    match used_at {
        None => flags.push(KeyFlag::NeverUsed),
        Some(at) if now - at >= days(rules.unused_days) => flags.push(KeyFlag::UnusedFor { days: rules.unused_days }),
        Some(_) => {}
    }
    flags
}

/// A key's age for people: "3 days", "5 hours", "just now".
pub fn age(created_at: i64, now: i64) -> String {
    let secs = (now - created_at).max(0);
    match secs {
        s if s >= 2 * DAY => format!("{} days", s / DAY),
        s if s >= DAY => "1 day".to_owned(),
        s if s >= 7200 => format!("{} hours", s / 3600),
        s if s >= 3600 => "1 hour".to_owned(),
        s if s >= 120 => format!("{} minutes", s / 60),
        _ => "just now".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: FlagRules = FlagRules { max_age_days: 90, unused_days: 45 };

    fn facts(stored: &str) -> StatusFacts<'_> {
        StatusFacts { stored, removal_started: false, account_disabled: false, activated: true }
    }

    #[test]
    fn the_shown_status_follows_the_stored_facts_in_order_of_importance() {
        assert_eq!(TeammateStatus::derive(facts("active")), TeammateStatus::Active);
        assert_eq!(
            TeammateStatus::derive(StatusFacts { activated: false, ..facts("active") }),
            TeammateStatus::Activating
        );
        assert_eq!(
            TeammateStatus::derive(StatusFacts { account_disabled: true, activated: false, ..facts("active") }),
            TeammateStatus::Disabled
        );
        assert_eq!(TeammateStatus::derive(facts("incomplete")), TeammateStatus::Incomplete);
        assert_eq!(
            TeammateStatus::derive(StatusFacts { removal_started: true, ..facts("incomplete") }),
            TeammateStatus::Removing
        );
        assert_eq!(
            TeammateStatus::derive(StatusFacts { removal_started: true, ..facts("removed") }),
            TeammateStatus::Removed
        );
    }

    #[test]
    fn the_portals_own_sts_check_is_not_the_teammates_use() {
        let verified = 1_000_000;
        let check = KeyUse { at: verified + 2, service: "sts" };
        assert_eq!(teammate_use(Some(check), Some(verified)), None);
        let later_sts = KeyUse { at: verified + OWN_CHECK_WINDOW_SECS + 1, service: "sts" };
        assert_eq!(teammate_use(Some(later_sts), Some(verified)), Some(later_sts.at));
        let upload = KeyUse { at: verified + 3, service: "s3" };
        assert_eq!(teammate_use(Some(upload), Some(verified)), Some(upload.at));
        assert_eq!(teammate_use(Some(check), None), Some(check.at), "an adopted key was never checked by us");
        assert_eq!(teammate_use(None, Some(verified)), None);
    }

    #[test]
    fn old_never_used_and_long_unused_active_keys_are_flagged() {
        let now = 200 * DAY;
        assert_eq!(key_flags(true, now - 10, Some(now - 5), now, RULES), vec![]);
        assert_eq!(key_flags(true, now - 90 * DAY, Some(now), now, RULES), vec![KeyFlag::OlderThan { days: 90 }]);
        assert_eq!(key_flags(true, now - DAY, None, now, RULES), vec![KeyFlag::NeverUsed]);
        assert_eq!(
            key_flags(true, now - 50 * DAY, Some(now - 45 * DAY), now, RULES),
            vec![KeyFlag::UnusedFor { days: 45 }]
        );
        assert_eq!(key_flags(true, now - 44 * DAY, Some(now - 44 * DAY), now, RULES), vec![]);
        assert_eq!(key_flags(false, 0, None, now, RULES), vec![], "inactive keys carry no flags");
        assert_eq!(KeyFlag::OlderThan { days: 90 }.to_string(), "older than 90 days");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(0, 30), "just now");
        assert_eq!(age(0, 600), "10 minutes");
        assert_eq!(age(0, 3 * 3600), "3 hours");
        assert_eq!(age(0, DAY + 5), "1 day");
        assert_eq!(age(0, 91 * DAY), "91 days");
    }
}
