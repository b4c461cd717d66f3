//! IAM user names: 1-64 characters of letters, digits and `+=,.@_-`.
//! <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html>

use std::fmt;

/// A valid IAM user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamUserName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IamUserNameError {
    #[error("A name is required.")]
    Empty,
    #[error("A name can have at most 64 characters.")]
    TooLong,
    #[error("A name can only contain letters, digits and + = , . @ _ - (no spaces).")]
    BadCharacter,
}

impl IamUserName {
    pub fn parse(raw: &str) -> Result<Self, IamUserNameError> {
        if raw.is_empty() {
            return Err(IamUserNameError::Empty);
        }
        if raw.len() > 64 {
            return Err(IamUserNameError::TooLong);
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if !raw.chars().all(allowed) {
            return Err(IamUserNameError::BadCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IamUserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_iam_accepts_are_accepted() {
        for name in ["alice", "a", "Bob.Smith+data=1,x@corp_-", &"x".repeat(64)] {
            assert_eq!(IamUserName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn names_iam_refuses_get_a_reason() {
        assert_eq!(IamUserName::parse(""), Err(IamUserNameError::Empty));
        assert_eq!(IamUserName::parse(&"x".repeat(65)), Err(IamUserNameError::TooLong));
        for name in ["al ice", "alice/", "élise", "a\u{0}b", "<script>", "a:b", "a*"] {
            assert_eq!(IamUserName::parse(name), Err(IamUserNameError::BadCharacter), "{name:?}");
        }
    }
}
