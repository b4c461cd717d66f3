//! S3: presigned uploads and confirming what landed.
//!
//! A presigned PUT signs the object's Content-Type and Content-Length, so the
//! browser must send exactly those (C03), and a body of another size is
//! refused by S3 itself (C04). The portal never carries file bytes.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::presigning::PresigningConfig;

use crate::domain::{BucketName, ObjectKey};

/// A URL the browser can PUT to, with the headers it must send.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// Headers the browser sets itself (and may not set from script).
fn browser_sets(name: &str) -> bool {
    matches!(name, "host" | "content-length")
}

pub async fn presign_put(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &ObjectKey,
    content_type: &str,
    content_length: u64,
    ttl: Duration,
) -> anyhow::Result<PresignedPut> {
    let length = i64::try_from(content_length).context("file size out of range")?;
    let presigned = s3
        .put_object()
        .bucket(bucket.as_str())
        .key(key.as_str())
        .content_type(content_type)
        .content_length(length)
        .presigned(PresigningConfig::expires_in(ttl).context("presign expiry")?)
        .await
        .context("presigning PutObject")?;
    let headers = presigned
        .headers()
        .filter(|(name, _)| !browser_sets(&name.to_ascii_lowercase()))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    Ok(PresignedPut { url: presigned.uri().to_owned(), headers })
}

/// A plain GET link for an object (the owner's "download").
pub async fn presign_get(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &str,
    ttl: Duration,
) -> anyhow::Result<String> {
    let presigned = s3
        .get_object()
        .bucket(bucket.as_str())
        .key(key)
        .presigned(PresigningConfig::expires_in(ttl).context("presign expiry")?)
        .await
        .context("presigning GetObject")?;
    Ok(presigned.uri().to_owned())
}

/// What S3 holds at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    pub size: i64,
    pub etag: String,
}

/// HeadObject; `Ok(None)` when there is no such object.
pub async fn head(s3: &aws_sdk_s3::Client, bucket: &BucketName, key: &str) -> anyhow::Result<Option<ObjectFacts>> {
    match s3.head_object().bucket(bucket.as_str()).key(key).send().await {
        Ok(out) => Ok(Some(ObjectFacts {
            size: out.content_length().unwrap_or_default(),
            etag: out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
        })),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context("S3 HeadObject")),
    }
}

/// The Content-Type the portal signs for a file name. Decided on the server
/// from the extension, so it never depends on what a browser guesses.
pub fn content_type_for(file_name: &str) -> &'static str {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "csv" => "text/csv",
        "txt" | "log" => "text/plain",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "parquet" => "application/vnd.apache.parquet",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        "zst" => "application/zstd",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_comes_from_the_extension_only() {
        assert_eq!(content_type_for("export.csv"), "text/csv");
        assert_eq!(content_type_for("EXPORT.CSV"), "text/csv");
        assert_eq!(content_type_for("no-extension"), "application/octet-stream");
        assert_eq!(content_type_for("sheet.xls"), "application/octet-stream");
    }
}
