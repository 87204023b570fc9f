//! Errors of a call to the job endpoint, and the class that decides what happens next.
//!
//! Huawei warns that the HTTP status "may not be accurate", so a cloud error code, when there is
//! one, decides the class before the status does. No message here ever holds a credential: the
//! URL carries only project and job ids, and request headers are never echoed.

use std::time::Duration;

use serde::Deserialize;

/// What a failed call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Worth retrying with backoff: network trouble, 5xx, an overloaded service.
    Transient,
    /// The cloud asked us to slow down.
    Throttled,
    /// Credentials rejected: never retry quickly (five failures lock the access key).
    Auth,
    /// The job does not exist in that project (or is not visible yet).
    NotFound,
    /// The cloud answered with something that is not a job.
    InvalidResponse,
    /// Our own settings are wrong: endpoint, CA, project, request.
    Config,
}

impl ErrorClass {
    /// Stable lower-case name, used in metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Throttled => "throttled",
            Self::Auth => "auth",
            Self::NotFound => "not_found",
            Self::InvalidResponse => "invalid_response",
            Self::Config => "config",
        }
    }
}

/// A call to the job endpoint that did not give a job.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The cloud answered with an error body or status.
    #[error("{}", describe_api_error(*.status, .code.as_deref(), .message.as_deref(), .request_id.as_deref()))]
    Api {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    /// Connecting, sending or reading failed.
    #[error("request to {url} failed: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The response body was larger than we accept.
    #[error("response from {url} exceeds {limit} bytes")]
    TooLarge { url: String, limit: usize },
    /// HTTP 2xx but the body is not a job.
    #[error("HTTP {status}: response is not a job ({detail}){}", request_id_suffix(.request_id.as_deref()))]
    InvalidResponse {
        status: u16,
        detail: String,
        request_id: Option<String>,
    },
    /// Not sent: these credentials were rejected recently and are paused to spare the key.
    #[error(
        "credentials rejected recently ({last}); not retried for another {}s so that the access key is not locked",
        .remaining.as_secs()
    )]
    AuthPaused { remaining: Duration, last: String },
    /// The client could not be built from its settings.
    #[error("invalid cloud client settings: {0}")]
    Config(String),
}

fn request_id_suffix(request_id: Option<&str>) -> String {
    request_id
        .map(|id| format!(", request id {id}"))
        .unwrap_or_default()
}

fn describe_api_error(
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
    request_id: Option<&str>,
) -> String {
    let mut text = format!("HTTP {status}");
    if let Some(code) = code {
        text.push_str(&format!(" {code}"));
    }
    if let Some(message) = message {
        text.push_str(&format!(": {message}"));
    }
    text.push_str(&request_id_suffix(request_id));
    text
}

/// Cloud error codes whose meaning overrides the HTTP status.
fn class_of_code(code: &str) -> Option<ErrorClass> {
    Some(match code {
        "APIG.0301" | "APIGW.0301" | "APIG.0303" | "APIG.0305" | "APIG.1000" => ErrorClass::Auth,
        "APIG.0308" | "APIGW.0308" | "Common.0024" | "Common.1503" => ErrorClass::Throttled,
        "Common.0011" => ErrorClass::NotFound,
        "Common.0018" => ErrorClass::Config,
        "BMS.0212" | "Common.0001" => ErrorClass::Transient,
        _ => return None,
    })
}

fn class_of_status(status: u16) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        408 | 500..=599 => ErrorClass::Transient,
        429 => ErrorClass::Throttled,
        _ => ErrorClass::Config,
    }
}

impl CloudError {
    /// The class that decides backoff, conditions and metrics.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api { status, code, .. } => code
                .as_deref()
                .and_then(class_of_code)
                .unwrap_or_else(|| class_of_status(*status)),
            Self::Transport { source, .. } if source.is_builder() => ErrorClass::Config,
            Self::Transport { .. } => ErrorClass::Transient,
            Self::TooLarge { .. } | Self::InvalidResponse { .. } => ErrorClass::InvalidResponse,
            Self::AuthPaused { .. } => ErrorClass::Auth,
            Self::Config(_) => ErrorClass::Config,
        }
    }

    /// The cloud's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The message without the request id, stable across retries of the same failure.
    pub fn summary(&self) -> String {
        match self {
            Self::Api {
                status,
                code,
                message,
                ..
            } => describe_api_error(*status, code.as_deref(), message.as_deref(), None),
            Self::InvalidResponse { status, detail, .. } => {
                format!("HTTP {status}: response is not a job ({detail})")
            }
            Self::AuthPaused { last, .. } => format!("credentials rejected recently ({last})"),
            other => other.to_string(),
        }
    }

    /// How long the cloud asked us to wait, from `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            Self::AuthPaused { remaining, .. } => Some(*remaining),
            _ => None,
        }
    }
}

/// The three error body shapes: gateway, nested service, flat service.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    error: Option<NestedError>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NestedError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ErrorBody {
    /// Reads an error body; `None` when the bytes hold no recognisable error.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        let body: Self = serde_json::from_slice(bytes).ok()?;
        (body.code().is_some() || body.message().is_some()).then_some(body)
    }

    pub(crate) fn code(&self) -> Option<String> {
        let nested = self.error.as_ref().and_then(|error| error.code.clone());
        non_blank(self.error_code.clone().or(nested).or(self.code.clone()))
    }

    pub(crate) fn message(&self) -> Option<String> {
        let nested = self.error.as_ref().and_then(|error| error.message.clone());
        non_blank(self.error_msg.clone().or(nested).or(self.message.clone()))
    }

    pub(crate) fn request_id(&self) -> Option<String> {
        non_blank(self.request_id.clone())
    }
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<&str>) -> CloudError {
        CloudError::Api {
            status,
            code: code.map(str::to_owned),
            message: None,
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn code_decides_before_status() {
        assert_eq!(api(400, Some("BMS.0212")).class(), ErrorClass::Transient);
        assert_eq!(api(202, Some("Common.0024")).class(), ErrorClass::Throttled);
        assert_eq!(api(400, Some("Common.0011")).class(), ErrorClass::NotFound);
        assert_eq!(api(400, Some("Common.0018")).class(), ErrorClass::Config);
        assert_eq!(api(401, Some("APIGW.0301")).class(), ErrorClass::Auth);
    }

    #[test]
    fn status_decides_without_a_known_code() {
        assert_eq!(api(401, None).class(), ErrorClass::Auth);
        assert_eq!(api(502, Some("X.1")).class(), ErrorClass::Transient);
        assert_eq!(api(429, None).class(), ErrorClass::Throttled);
        assert_eq!(api(404, None).class(), ErrorClass::NotFound);
        assert_eq!(api(400, None).class(), ErrorClass::Config);
    }

    #[test]
    fn message_names_status_code_text_and_request_id() {
        let error = CloudError::Api {
            status: 429,
            code: Some("APIG.0308".into()),
            message: Some("slow down".into()),
            request_id: Some("r-1".into()),
            retry_after: None,
        };
        assert_eq!(
            error.to_string(),
            "HTTP 429 APIG.0308: slow down, request id r-1"
        );
    }

    #[test]
    fn bodies_without_error_fields_are_not_errors() {
        assert!(ErrorBody::parse(br#"{"status":"RUNNING"}"#).is_none());
        assert!(ErrorBody::parse(b"<html>").is_none());
    }
}
