//! S3 bucket names, following the general-purpose bucket naming rules:
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>

use std::fmt;

/// A valid S3 bucket name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
)]
pub struct BucketNameError(pub String);

impl BucketName {
    pub fn parse(raw: &str) -> Result<Self, BucketNameError> {
        let bytes = raw.as_bytes();
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.';
        let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok = (3..=63).contains(&bytes.len())
            && bytes.iter().all(allowed)
            && edge(bytes.first())
            && edge(bytes.last())
            && !raw.contains("..")
            && !raw.split('.').all(|part| part.parse::<u8>().is_ok());
        if ok { Ok(Self(raw.to_owned())) } else { Err(BucketNameError(raw.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_bucket_names_are_accepted() {
        for name in ["egx-demo", "my.data.bucket", "abc", "a1-b2"] {
            assert!(BucketName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn invalid_bucket_names_are_refused() {
        for name in ["ab", "UPPER", "-lead", "trail-", "a..b", "192.168.1.1", "under_score", &"a".repeat(64)] {
            assert!(BucketName::parse(name).is_err(), "{name}");
        }
    }
}
