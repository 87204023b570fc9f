//! The HTTP client of the job endpoint: signs, sends, bounds and reads one request.

use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderMap, StatusCode};
use reqwest::Url;

use super::credentials::Credentials;
use super::error::{CloudError, ErrorBody};
use super::model::JobResponse;
use super::signing::{self, SignedRequest};

/// Largest response body read; a job with a thousand sub-jobs is well under it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The endpoint for a region, `https://bms.{region}.myhuaweicloud.com`.
pub fn region_endpoint(region: &str) -> String {
    format!("https://bms.{region}.myhuaweicloud.com")
}

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Extra trusted CA certificates (PEM), for private clouds and simulators.
    pub ca_pem: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            ca_pem: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A client of one endpoint; cheap to clone, connections are pooled.
#[derive(Debug, Clone)]
pub struct BmsClient {
    http: reqwest::Client,
    endpoint: Url,
    max_body_bytes: usize,
}

impl BmsClient {
    /// A client of `endpoint` (`http://` or `https://`, optionally with a path prefix).
    pub fn new(endpoint: &str, options: ClientOptions) -> Result<Self, CloudError> {
        // rustls needs one process-wide crypto provider; ring is the one the whole crate uses.
        // Installing fails harmlessly when one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoint = Url::parse(endpoint)
            .map_err(|error| CloudError::Config(format!("endpoint {endpoint:?}: {error}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(CloudError::Config(format!(
                "endpoint {endpoint} must be an http or https URL with a host"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("bms-job-operator/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &options.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|error| CloudError::Config(format!("CA bundle: {error}")))?;
            if certificates.is_empty() {
                return Err(CloudError::Config("CA bundle holds no certificate".into()));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|error| CloudError::Config(format!("HTTP client: {error}")))?;
        Ok(Self {
            http,
            endpoint,
            max_body_bytes: options.max_body_bytes,
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn job_url(&self, project_id: &str, job_id: &str) -> Url {
        let mut url = self.endpoint.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}/v1/{project_id}/jobs/{job_id}"));
        url
    }

    /// `GET /v1/{project_id}/jobs/{job_id}`, signed with `credentials`.
    pub async fn get_job(
        &self,
        project_id: &str,
        job_id: &str,
        credentials: &Credentials,
    ) -> Result<JobResponse, CloudError> {
        let url = self.job_url(project_id, job_id);
        let sdk_date = jiff::Timestamp::now()
            .strftime(signing::DATE_FORMAT)
            .to_string();
        let headers = signed_headers(&url, project_id, &sdk_date, credentials);
        let authorization = sign_get(&url, &headers, &sdk_date, credentials);
        let mut request = self.http.get(url.clone());
        for (name, value) in headers.iter().filter(|(name, _)| name != "Host") {
            request = request.header(name, value);
        }
        let response = request
            .header(http::header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|source| transport_error(&url, source))?;
        let status = response.status();
        let response_headers = response.headers().clone();
        let body = self.read_bounded(&url, response).await?;
        interpret(status, &response_headers, &body)
    }

    async fn read_bounded(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<BytesMut, CloudError> {
        let too_large = || CloudError::TooLarge {
            url: url.to_string(),
            limit: self.max_body_bytes,
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.max_body_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| transport_error(url, source))?
        {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The headers that are sent and signed (`Host` is signed but set by the HTTP stack).
fn signed_headers(
    url: &Url,
    project_id: &str,
    sdk_date: &str,
    credentials: &Credentials,
) -> Vec<(String, String)> {
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    };
    let mut headers = vec![
        ("Host".to_owned(), host),
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Project-Id".to_owned(), project_id.to_owned()),
        (signing::DATE_HEADER.to_owned(), sdk_date.to_owned()),
    ];
    if let Some(token) = credentials.security_token() {
        headers.push(("X-Security-Token".to_owned(), token.to_owned()));
    }
    headers
}

/// The `Authorization` value of a GET of `url`. The URL holds its path percent-encoded; the
/// signature encodes the raw segments itself, as the official SDK does.
fn sign_get(
    url: &Url,
    headers: &[(String, String)],
    sdk_date: &str,
    credentials: &Credentials,
) -> String {
    let raw_path = percent_encoding::percent_decode_str(url.path()).decode_utf8_lossy();
    signing::authorization(
        &SignedRequest {
            method: "GET",
            path: &raw_path,
            query: &[],
            headers,
            body: b"",
        },
        sdk_date,
        credentials.access_key(),
        credentials.secret_key(),
    )
}

fn transport_error(url: &Url, source: reqwest::Error) -> CloudError {
    CloudError::Transport {
        url: url.to_string(),
        source: source.without_url(),
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = header_text(headers, "retry-after")?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value.trim()).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Turns status, headers and body into a job or the error they describe.
pub(crate) fn interpret(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<JobResponse, CloudError> {
    let header_request_id = header_text(headers, "x-request-id");
    let error_body = ErrorBody::parse(body);
    let job = serde_json::from_slice::<JobResponse>(body);
    if status.is_success() {
        match (job, error_body) {
            (Ok(job), _) if job.status.is_some() => return Ok(job),
            (_, Some(error)) => return Err(api_error(status, headers, &error, header_request_id)),
            (Ok(_), None) => {
                return Err(CloudError::InvalidResponse {
                    status: status.as_u16(),
                    detail: "no status field".into(),
                    request_id: header_request_id,
                });
            }
            (Err(error), None) => {
                return Err(CloudError::InvalidResponse {
                    status: status.as_u16(),
                    detail: describe_unreadable(headers, body, &error),
                    request_id: header_request_id,
                });
            }
        }
    }
    Err(match error_body {
        Some(error) => api_error(status, headers, &error, header_request_id),
        None => CloudError::Api {
            status: status.as_u16(),
            code: None,
            message: Some(snippet(body)).filter(|text| !text.is_empty()),
            request_id: header_request_id,
            retry_after: retry_after(headers),
        },
    })
}

fn api_error(
    status: StatusCode,
    headers: &HeaderMap,
    error: &ErrorBody,
    header_request_id: Option<String>,
) -> CloudError {
    CloudError::Api {
        status: status.as_u16(),
        code: error.code(),
        message: error.message(),
        request_id: error.request_id().or(header_request_id),
        retry_after: retry_after(headers),
    }
}

fn describe_unreadable(headers: &HeaderMap, body: &[u8], error: &serde_json::Error) -> String {
    let content_type = header_text(headers, "content-type").unwrap_or_else(|| "none".into());
    if body.is_empty() {
        format!("empty body, content type {content_type}")
    } else {
        format!("content type {content_type}, {error}")
    }
}

/// The first characters of a body, for an error message.
fn snippet(body: &[u8]) -> String {
    const SNIPPET_CHARS: usize = 200;
    String::from_utf8_lossy(body)
        .chars()
        .filter(|character| !character.is_control())
        .take(SNIPPET_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_path_is_signed_once_encoded_not_twice() {
        let credentials = Credentials::new("AK", "SK");
        let url = Url::parse("http://127.0.0.1:8080/v1/p/jobs/a b").expect("url");
        assert_eq!(url.path(), "/v1/p/jobs/a%20b");
        let headers = signed_headers(&url, "p", "20261204T101500Z", &credentials);
        let expected = signing::authorization(
            &SignedRequest {
                method: "GET",
                path: "/v1/p/jobs/a b",
                query: &[],
                headers: &headers,
                body: b"",
            },
            "20261204T101500Z",
            "AK",
            "SK",
        );
        assert_eq!(
            sign_get(&url, &headers, "20261204T101500Z", &credentials),
            expected
        );
    }

    #[test]
    fn the_host_header_keeps_a_non_default_port() {
        let credentials = Credentials::new("AK", "SK").with_security_token(Some("T".into()));
        let url = Url::parse("http://127.0.0.1:8080/v1/p/jobs/j").expect("url");
        let headers = signed_headers(&url, "p", "d", &credentials);
        assert!(headers.contains(&("Host".to_owned(), "127.0.0.1:8080".to_owned())));
        assert!(headers.contains(&("X-Security-Token".to_owned(), "T".to_owned())));
        let default_port =
            Url::parse("https://bms.cn-north-4.myhuaweicloud.com/v1/p/jobs/j").expect("url");
        let headers = signed_headers(&default_port, "p", "d", &credentials);
        assert!(headers.contains(&(
            "Host".to_owned(),
            "bms.cn-north-4.myhuaweicloud.com".to_owned()
        )));
    }
}
