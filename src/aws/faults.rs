//! A fault-injecting seam in front of the IAM and STS clients, for tests that
//! must make AWS fail on purpose (a step of provisioning, a list call, a
//! removal step, throttling). Production never installs it
//! ([`crate::app::Overrides::faults`] is `None`).
//!
//! It sits where the SDK hands a signed request to the HTTP connector. For an
//! operation that is armed it answers with an AWS-shaped error response (or a
//! connection failure) *without sending the request*, so the emulator never
//! performs the operation; every other request goes to the real emulator
//! untouched. The SDK then parses the answer exactly as it would a real one:
//! its retry policy, our error mapping and our records all run for real.
//!
//! IAM and STS speak the awsQuery protocol: the operation is named by the
//! `Action=` field of the form body, which is how a request is recognised.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// What an armed operation answers.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// An AWS error response with this HTTP status and error code
    /// (e.g. 403 `AccessDenied`, 400 `Throttling`, 503 `ServiceUnavailable`).
    Refuse { status: u16, code: String },
    /// The connection fails (nothing answered).
    Unreachable,
    /// The request waits until the test lets it go, then goes through
    /// (an operation caught in the middle, for tests of concurrent requests).
    Hold(tokio::sync::watch::Receiver<bool>),
}

impl PartialEq for FaultKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Refuse { status: a, code: b }, Self::Refuse { status: c, code: d }) => a == c && b == d,
            (Self::Unreachable, Self::Unreachable) => true,
            _ => false,
        }
    }
}

impl Eq for FaultKind {}

/// Lets held requests go (see [`Faults::hold`]); dropping it does too.
#[derive(Debug)]
pub struct Release(tokio::sync::watch::Sender<bool>);

impl Release {
    pub fn release(&self) {
        let _ = self.0.send(true);
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        self.release();
    }
}

#[derive(Debug, Clone)]
struct Fault {
    operation: String,
    kind: FaultKind,
    /// How many more requests fail; `None`: every one until cleared.
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
struct Inner {
    faults: Vec<Fault>,
    /// Every injected failure, by operation name, in order.
    injected: Vec<String>,
}

/// The switchboard a test holds: arm an operation to fail, read what was injected.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Inner>>);

impl Faults {
    /// Makes the next `times` requests for `operation` (e.g. "CreateUser") fail
    /// with an AWS error `code` and HTTP `status`.
    pub fn refuse(&self, operation: &str, status: u16, code: &str, times: u32) {
        self.arm(operation, FaultKind::Refuse { status, code: code.to_owned() }, Some(times));
    }

    /// Makes every request for `operation` fail with `code` until [`Faults::clear`].
    pub fn refuse_always(&self, operation: &str, status: u16, code: &str) {
        self.arm(operation, FaultKind::Refuse { status, code: code.to_owned() }, None);
    }

    /// Makes every request for `operation` fail to connect until [`Faults::clear`].
    pub fn unreachable_always(&self, operation: &str) {
        self.arm(operation, FaultKind::Unreachable, None);
    }

    /// Holds the next request for `operation` until the returned [`Release`]
    /// lets it go; then it reaches the emulator as usual.
    pub fn hold(&self, operation: &str) -> Release {
        let (tx, rx) = tokio::sync::watch::channel(false);
        self.arm(operation, FaultKind::Hold(rx), Some(1));
        Release(tx)
    }

    fn arm(&self, operation: &str, kind: FaultKind, remaining: Option<u32>) {
        if let Ok(mut inner) = self.0.lock() {
            inner.faults.push(Fault { operation: operation.to_owned(), kind, remaining });
        }
    }

    /// Disarms everything (what was injected stays countable).
    pub fn clear(&self) {
        if let Ok(mut inner) = self.0.lock() {
            inner.faults.clear();
        }
    }

    /// How many requests for `operation` were answered with a fault so far.
    pub fn injected(&self, operation: &str) -> usize {
        self.0.lock().map(|inner| inner.injected.iter().filter(|o| *o == operation).count()).unwrap_or(0)
    }

    /// The fault to answer `operation` with, if one is armed (consumes one use).
    fn take(&self, operation: &str) -> Option<FaultKind> {
        let mut inner = self.0.lock().ok()?;
        let index = inner.faults.iter().position(|f| f.operation == operation && f.remaining != Some(0))?;
        let fault = &mut inner.faults[index];
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        let kind = fault.kind.clone();
        inner.injected.push(operation.to_owned());
        Some(kind)
    }

    /// Wraps `inner` so that armed operations fail before reaching it.
    pub fn wrap(&self, inner: SharedHttpClient) -> SharedHttpClient {
        let faults = self.clone();
        http_client_fn(move |settings, components| {
            SharedHttpConnector::new(FaultConnector {
                inner: inner.http_connector(settings, components),
                faults: faults.clone(),
            })
        })
    }
}

/// The awsQuery operation a request carries (`Action=CreateUser&...`).
fn operation_of(request: &HttpRequest) -> Option<String> {
    let body = request.body().bytes()?;
    url::form_urlencoded::parse(body).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned())
}

/// The XML error body awsQuery services answer with.
fn error_body(code: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>injected by the egx-portal test seam</Message></Error>\
         <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
}

#[derive(Debug)]
struct FaultConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fault = operation_of(&request).and_then(|op| self.faults.take(&op));
        match fault {
            None => self.inner.call(request),
            Some(FaultKind::Hold(mut released)) => {
                let inner = self.inner.clone();
                HttpConnectorFuture::new(async move {
                    // A dropped Release counts as released.
                    let _ = released.wait_for(|go| *go).await;
                    inner.call(request).await
                })
            }
            Some(FaultKind::Unreachable) => HttpConnectorFuture::ready(Err(ConnectorError::io(
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "injected: connection refused").into(),
            ))),
            Some(FaultKind::Refuse { status, code }) => {
                let Ok(status) = StatusCode::try_from(status) else {
                    return HttpConnectorFuture::ready(Err(ConnectorError::other(
                        format!("injected fault has an invalid HTTP status {status}").into(),
                        None,
                    )));
                };
                let mut response = HttpResponse::new(status, SdkBody::from(error_body(&code)));
                response.headers_mut().insert("content-type", "text/xml");
                HttpConnectorFuture::ready(Ok(response))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_fault_is_used_the_number_of_times_asked() {
        let faults = Faults::default();
        faults.refuse("CreateUser", 403, "AccessDenied", 2);
        assert!(faults.take("GetUser").is_none());
        assert!(faults.take("CreateUser").is_some());
        assert!(faults.take("CreateUser").is_some());
        assert!(faults.take("CreateUser").is_none());
        assert_eq!(faults.injected("CreateUser"), 2);
    }

    #[test]
    fn the_operation_is_read_from_the_query_body() {
        let mut request = HttpRequest::new(SdkBody::from("Action=CreateAccessKey&Version=2010-05-08&UserName=a"));
        request.headers_mut().insert("content-type", "application/x-www-form-urlencoded");
        assert_eq!(operation_of(&request).as_deref(), Some("CreateAccessKey"));
    }
}
