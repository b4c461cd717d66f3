//! S3: presigned uploads, multipart uploads, and confirming what landed.
//!
//! A presigned PUT signs the object's Content-Type and Content-Length, so the
//! browser must send exactly those (C03), and a body of another size is
//! refused by S3 itself (C04). Unless the teammate asked to replace, it also
//! signs `If-None-Match: *`, so S3 refuses to overwrite an existing object
//! even if one appeared after the portal checked.
//! Multipart uploads are created, listed, completed and aborted by the portal
//! itself; the browser only PUTs parts, each through a URL signed just before
//! that part is sent (C09) with the part's exact Content-Length (C12).
//! The portal never carries file bytes.

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

/// What a write requires of its key, sent (and for a presigned PUT, signed)
/// as a conditional header, so S3 itself enforces it whatever happens between
/// the portal's check and the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCondition<'a> {
    /// The key must be free: `If-None-Match: *`.
    Absent,
    /// The key must still hold exactly the object with this ETag: `If-Match`.
    Exactly(&'a str),
}

impl WriteCondition<'_> {
    fn if_match(&self) -> Option<String> {
        match self {
            Self::Absent => None,
            Self::Exactly(etag) => Some(format!("\"{}\"", etag.trim_matches('"'))),
        }
    }

    fn if_none_match(&self) -> Option<&'static str> {
        matches!(self, Self::Absent).then_some("*")
    }
}

/// Presigns a single PUT under `condition`.
///
/// `upload_marker` is signed as the object's `x-amz-meta-egx-upload`: only a
/// PUT through this very URL can store it, so the confirmation can tell the
/// teammate's own object from one someone else put at the same key.
#[allow(clippy::too_many_arguments)]
pub async fn presign_put(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &ObjectKey,
    content_type: &str,
    content_length: u64,
    condition: WriteCondition<'_>,
    upload_marker: &str,
    ttl: Duration,
) -> anyhow::Result<PresignedPut> {
    let length = i64::try_from(content_length).context("file size out of range")?;
    let put = s3
        .put_object()
        .bucket(bucket.as_str())
        .key(key.as_str())
        .content_type(content_type)
        .content_length(length)
        .metadata(UPLOAD_MARKER_KEY, upload_marker)
        .set_if_none_match(condition.if_none_match().map(str::to_owned))
        .set_if_match(condition.if_match());
    let presigned = put
        .presigned(PresigningConfig::expires_in(ttl).context("presign expiry")?)
        .await
        .context("presigning PutObject")?;
    Ok(to_browser(&presigned))
}

fn to_browser(presigned: &aws_sdk_s3::presigning::PresignedRequest) -> PresignedPut {
    let headers = presigned
        .headers()
        .filter(|(name, _)| !browser_sets(&name.to_ascii_lowercase()))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    PresignedPut { url: presigned.uri().to_owned(), headers }
}

/// Starts a multipart upload; returns S3's UploadId.
pub async fn create_multipart(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &ObjectKey,
    content_type: &str,
) -> anyhow::Result<String> {
    let out = s3
        .create_multipart_upload()
        .bucket(bucket.as_str())
        .key(key.as_str())
        .content_type(content_type)
        .send()
        .await
        .context("S3 CreateMultipartUpload")?;
    out.upload_id().map(str::to_owned).context("CreateMultipartUpload returned no UploadId")
}

/// Presigns one part's PUT, with that part's exact length signed.
pub async fn presign_part(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &str,
    s3_upload_id: &str,
    part_number: i32,
    content_length: u64,
    ttl: Duration,
) -> anyhow::Result<PresignedPut> {
    let length = i64::try_from(content_length).context("part size out of range")?;
    let presigned = s3
        .upload_part()
        .bucket(bucket.as_str())
        .key(key)
        .upload_id(s3_upload_id)
        .part_number(part_number)
        .content_length(length)
        .presigned(PresigningConfig::expires_in(ttl).context("presign expiry")?)
        .await
        .context("presigning UploadPart")?;
    Ok(to_browser(&presigned))
}

/// A part S3 holds for an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Part {
    pub part_number: i32,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(default)]
    pub size: i64,
}

/// What went wrong with a multipart call, as far as the caller must tell apart.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// S3 no longer knows the upload (completed, aborted or expired).
    #[error("no such upload")]
    NoSuchUpload,
    /// `If-None-Match: *` failed: an object exists at the key.
    #[error("an object exists at the key")]
    Exists,
    /// S3 refused the parts (a missing or wrong part, a part too small).
    #[error("S3 refused the parts: {0}")]
    BadParts(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn classify<E>(
    err: aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    what: &str,
) -> MultipartError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.as_service_error().and_then(|e| e.code()).map(str::to_owned);
    let status = err.raw_response().map(|r| r.status().as_u16());
    match (code.as_deref(), status) {
        (Some("NoSuchUpload"), _) | (_, Some(404)) => MultipartError::NoSuchUpload,
        (Some("PreconditionFailed"), _) | (_, Some(412)) => MultipartError::Exists,
        (Some(c @ ("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall")), _) => {
            MultipartError::BadParts(c.to_owned())
        }
        _ => MultipartError::Other(anyhow::Error::new(err).context(format!("S3 {what}"))),
    }
}

/// Every part S3 holds for the upload (following pagination).
pub async fn list_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &str,
    s3_upload_id: &str,
) -> Result<Vec<Part>, MultipartError> {
    let mut parts = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut req = s3.list_parts().bucket(bucket.as_str()).key(key).upload_id(s3_upload_id);
        if let Some(m) = &marker {
            req = req.part_number_marker(m);
        }
        let out = req.send().await.map_err(|e| classify(e, "ListParts"))?;
        for p in out.parts() {
            parts.push(Part {
                part_number: p.part_number().unwrap_or_default(),
                etag: p.e_tag().unwrap_or_default().to_owned(),
                size: p.size().unwrap_or_default(),
            });
        }
        match (out.is_truncated(), out.next_part_number_marker()) {
            (Some(true), Some(next)) if marker.as_deref() != Some(next) => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(parts)
}

/// Completes the upload under `condition`.
pub async fn complete_multipart(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &str,
    s3_upload_id: &str,
    parts: &[Part],
    condition: WriteCondition<'_>,
) -> Result<(), MultipartError> {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let completed = CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts.iter().map(|p| CompletedPart::builder().part_number(p.part_number).e_tag(&p.etag).build()).collect(),
        ))
        .build();
    let req = s3
        .complete_multipart_upload()
        .bucket(bucket.as_str())
        .key(key)
        .upload_id(s3_upload_id)
        .multipart_upload(completed)
        .set_if_none_match(condition.if_none_match().map(str::to_owned))
        .set_if_match(condition.if_match());
    req.send().await.map_err(|e| classify(e, "CompleteMultipartUpload"))?;
    Ok(())
}

/// Aborts the upload. An upload S3 no longer knows counts as aborted.
pub async fn abort_multipart(
    s3: &aws_sdk_s3::Client,
    bucket: &BucketName,
    key: &str,
    s3_upload_id: &str,
) -> Result<(), MultipartError> {
    match s3.abort_multipart_upload().bucket(bucket.as_str()).key(key).upload_id(s3_upload_id).send().await {
        Ok(_) => Ok(()),
        Err(e) => match classify(e, "AbortMultipartUpload") {
            MultipartError::NoSuchUpload => Ok(()),
            other => Err(other),
        },
    }
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
    /// The `x-amz-meta-egx-upload` the object was stored with, if any.
    pub upload_marker: Option<String>,
}

/// The user-metadata key (`x-amz-meta-egx-upload`) that names the portal
/// upload whose signed PUT stored an object.
pub const UPLOAD_MARKER_KEY: &str = "egx-upload";

/// A short description of an S3 error for people: its code, else its HTTP status.
pub fn describe<E: aws_sdk_s3::error::ProvideErrorMetadata, R: std::fmt::Debug>(
    err: &aws_sdk_s3::error::SdkError<E, R>,
) -> String {
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("an error without a code").to_owned(),
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        SdkError::DispatchFailure(_) => "the endpoint could not be reached".to_owned(),
        _ => "an unreadable answer".to_owned(),
    }
}

/// HeadObject; `Ok(None)` when there is no such object.
pub async fn head(s3: &aws_sdk_s3::Client, bucket: &BucketName, key: &str) -> anyhow::Result<Option<ObjectFacts>> {
    match s3.head_object().bucket(bucket.as_str()).key(key).send().await {
        Ok(out) => Ok(Some(ObjectFacts {
            size: out.content_length().unwrap_or_default(),
            etag: out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            upload_marker: out.metadata().and_then(|m| m.get(UPLOAD_MARKER_KEY)).cloned(),
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
