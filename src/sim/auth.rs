//! Authentication of a received request, the way Huawei Cloud's API gateway does it.
//!
//! For AK/SK requests the canonical request is rebuilt from what was received: the method, the
//! path (decoded, then encoded again as the signer does), the query, the headers named in
//! `SignedHeaders` with their values as received (`host` with its port), and the body hash. The
//! signature computed with the access key's secret must match the one sent. `X-Sdk-Date` must be
//! present, well formed, signed and within the allowed clock skew. Temporary credentials (an
//! access key bound to a security token) also need a signed `X-Security-Token` that matches.
//!
//! Token mode is simpler: `X-Auth-Token` must be one of the configured tokens.
//!
//! Nothing here logs or returns a secret key, a token or a signature.

use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use jiff::Timestamp;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use crate::bms::signing::{self, DATE_FORMAT, DATE_HEADER, ParsedAuthorization, SignedRequest};

/// Header of temporary credentials' security token.
pub const SECURITY_TOKEN_HEADER: &str = "x-security-token";
/// Header of token authentication.
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";

/// An access key the simulator accepts; with a security token it is a temporary credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimCredential {
    pub access_key: String,
    pub secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token: Option<String>,
}

impl fmt::Debug for SimCredential {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SimCredential")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl SimCredential {
    /// Reads `AK:SK` or `AK:SK:TOKEN` (the token may itself hold `:`). The error never repeats
    /// the secret.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.trim().splitn(3, ':');
        let access_key = parts.next().unwrap_or_default().trim();
        let secret_key = parts.next().map(str::trim);
        let token = parts.next().map(str::trim);
        let Some(secret_key) = secret_key else {
            return Err("expected AK:SK or AK:SK:TOKEN, found no ':'".into());
        };
        if access_key.is_empty() {
            return Err("the access key (before the first ':') is empty".into());
        }
        if secret_key.is_empty() {
            return Err(format!(
                "the secret key of access key {access_key} is empty"
            ));
        }
        if token.is_some_and(str::is_empty) {
            return Err(format!(
                "the security token of access key {access_key} is empty (drop the last ':')"
            ));
        }
        Ok(Self {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            security_token: token.map(str::to_owned),
        })
    }

    /// Checks a credential given as JSON or YAML; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.access_key.trim().is_empty() || self.access_key.contains([':', ',']) {
            return Err("access_key: must be non-empty, without ':' or ','".into());
        }
        if self.secret_key.is_empty() {
            return Err(format!(
                "secret_key: empty for access key {}",
                self.access_key
            ));
        }
        if self.security_token.as_deref().is_some_and(str::is_empty) {
            return Err(format!(
                "security_token: empty for access key {}",
                self.access_key
            ));
        }
        Ok(())
    }
}

/// The parts of a received request that a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub method: &'a str,
    /// The path as received, percent-encoded.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The URI's authority (HTTP/2 has no `Host` header).
    pub authority: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    MissingAuthorization,
    MalformedAuthorization,
    UnknownAccessKey,
    MissingDate,
    MalformedDate,
    Skewed { skew: Duration, allowed: Duration },
    HeaderNotSigned(&'static str),
    SignedHeaderMissing(String),
    BadSignature,
    MissingSecurityToken,
    WrongSecurityToken,
    UnexpectedSecurityToken,
    UnknownToken,
    Locked { until: Timestamp },
}

impl AuthFailure {
    /// The gateway's `error_msg`.
    pub fn message(&self) -> String {
        let detail = match self {
            Self::MissingAuthorization => "Authorization header or X-Auth-Token not found".into(),
            Self::MalformedAuthorization => {
                "the Authorization header is not 'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'"
                    .into()
            }
            Self::UnknownAccessKey => "the access key does not exist".into(),
            Self::MissingDate => format!("{DATE_HEADER} header not found"),
            Self::MalformedDate => format!("{DATE_HEADER} is not in the format YYYYMMDDTHHMMSSZ"),
            Self::Skewed { skew, allowed } => format!(
                "request expired: {DATE_HEADER} differs from the server time by {}s, more than {}s",
                skew.as_secs(),
                allowed.as_secs()
            ),
            Self::HeaderNotSigned(name) => format!("header {name} must be signed"),
            Self::SignedHeaderMissing(name) => {
                format!("signed header {name} is not in the request")
            }
            Self::BadSignature => "verify aksk signature fail".into(),
            Self::MissingSecurityToken => {
                "temporary credentials need the X-Security-Token header".into()
            }
            Self::WrongSecurityToken => "the security token does not match the access key".into(),
            Self::UnexpectedSecurityToken => {
                "a security token was sent with a permanent access key".into()
            }
            Self::UnknownToken => "the token is not valid".into(),
            Self::Locked { until } => format!(
                "the access key is locked after too many authentication failures, until {}",
                super::clock::format_time(*until)
            ),
        };
        format!("Incorrect IAM authentication information: {detail}")
    }

    /// A short, stable name for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingAuthorization => "missing_authorization",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::UnknownAccessKey => "unknown_access_key",
            Self::MissingDate => "missing_date",
            Self::MalformedDate => "malformed_date",
            Self::Skewed { .. } => "clock_skew",
            Self::HeaderNotSigned(_) => "header_not_signed",
            Self::SignedHeaderMissing(_) => "signed_header_missing",
            Self::BadSignature => "bad_signature",
            Self::MissingSecurityToken => "missing_security_token",
            Self::WrongSecurityToken => "wrong_security_token",
            Self::UnexpectedSecurityToken => "unexpected_security_token",
            Self::UnknownToken => "unknown_token",
            Self::Locked { .. } => "locked",
        }
    }
}

/// What the request offers to authenticate itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    Signature(ParsedAuthorization),
    Token(String),
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// Reads the `Authorization` header (or, without one, `X-Auth-Token`).
pub fn presented(headers: &HeaderMap) -> Result<Presented, AuthFailure> {
    if let Some(authorization) = header_text(headers, "authorization") {
        return signing::parse_authorization(authorization.trim())
            .map(Presented::Signature)
            .ok_or(AuthFailure::MalformedAuthorization);
    }
    match header_text(headers, AUTH_TOKEN_HEADER) {
        Some(token) if !token.trim().is_empty() => Ok(Presented::Token(token.trim().to_owned())),
        _ => Err(AuthFailure::MissingAuthorization),
    }
}

/// The access key named in an `Authorization` header, even a malformed one, for counting.
pub fn claimed_access_key(headers: &HeaderMap) -> Option<String> {
    let authorization = header_text(headers, "authorization")?;
    let start = authorization.find("Access=")? + "Access=".len();
    let access_key: String = authorization[start..]
        .chars()
        .take_while(|character| *character != ',' && !character.is_whitespace())
        .take(128)
        .collect();
    (!access_key.is_empty()).then_some(access_key)
}

/// Parses `X-Sdk-Date`.
pub fn parse_sdk_date(value: &str) -> Option<Timestamp> {
    jiff::civil::DateTime::strptime(DATE_FORMAT, value.trim())
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

fn decoded_query(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode(key), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn same(left: &str, right: &str) -> bool {
    left.len() == right.len()
        && left
            .bytes()
            .zip(right.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// Verifies an SDK-HMAC-SHA256 signature made with `credential` (`None`: the access key is not
/// known) at `now`.
pub fn verify_signature(
    received: &Received<'_>,
    authorization: &ParsedAuthorization,
    credential: Option<&SimCredential>,
    now: Timestamp,
    max_skew: Duration,
) -> Result<(), AuthFailure> {
    let credential = credential.ok_or(AuthFailure::UnknownAccessKey)?;
    let sdk_date = header_text(received.headers, DATE_HEADER).ok_or(AuthFailure::MissingDate)?;
    let signed_at = parse_sdk_date(&sdk_date).ok_or(AuthFailure::MalformedDate)?;
    let skew = super::clock::since(now, signed_at).max(super::clock::since(signed_at, now));
    if skew > max_skew {
        return Err(AuthFailure::Skewed {
            skew,
            allowed: max_skew,
        });
    }
    let signed = &authorization.signed_headers;
    let is_signed = |name: &str| signed.iter().any(|signed| signed == name);
    for required in ["host", "x-sdk-date"] {
        if !is_signed(required) {
            return Err(AuthFailure::HeaderNotSigned(required));
        }
    }
    let sent_token = header_text(received.headers, SECURITY_TOKEN_HEADER);
    if sent_token.is_some() && !is_signed(SECURITY_TOKEN_HEADER) {
        return Err(AuthFailure::HeaderNotSigned(SECURITY_TOKEN_HEADER));
    }
    let mut headers = Vec::with_capacity(signed.len());
    for name in signed {
        let value = header_text(received.headers, name).or_else(|| {
            (name == "host")
                .then(|| received.authority.map(str::to_owned))
                .flatten()
        });
        match value {
            Some(value) => headers.push((name.clone(), value)),
            None => return Err(AuthFailure::SignedHeaderMissing(name.clone())),
        }
    }
    let path = percent_decode_str(received.path)
        .decode_utf8_lossy()
        .into_owned();
    let query = decoded_query(received.query);
    let request = SignedRequest {
        method: received.method,
        path: &path,
        query: &query,
        headers: &headers,
        body: received.body,
    };
    let expected = signing::sign(&request, &sdk_date, &credential.secret_key);
    if !same(&expected, &authorization.signature.to_ascii_lowercase()) {
        return Err(AuthFailure::BadSignature);
    }
    match (&credential.security_token, sent_token) {
        (Some(_), None) => Err(AuthFailure::MissingSecurityToken),
        (Some(expected), Some(sent)) if !same(expected, sent.trim()) => {
            Err(AuthFailure::WrongSecurityToken)
        }
        (None, Some(_)) => Err(AuthFailure::UnexpectedSecurityToken),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(Deserialize, Clone)]
    struct Case {
        name: String,
        method: String,
        host: String,
        path: String,
        query: Vec<(String, String)>,
        headers: BTreeMap<String, String>,
        body: String,
        ak: String,
        sk: String,
        expected_authorization: String,
    }

    fn vectors() -> Vec<Case> {
        let raw = include_str!("../../tests/fixtures/signing-vectors.json");
        serde_json::from_str::<Vectors>(raw)
            .expect("signing vectors parse")
            .cases
    }

    struct Prepared {
        headers: HeaderMap,
        query: String,
        credential: SimCredential,
        date: Timestamp,
    }

    fn prepare(case: &Case) -> Prepared {
        let mut headers = HeaderMap::new();
        for (name, value) in &case.headers {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers.insert("host", HeaderValue::from_str(&case.host).expect("host"));
        headers.insert(
            "authorization",
            HeaderValue::from_str(&case.expected_authorization).expect("authorization"),
        );
        let query = case
            .query
            .iter()
            .map(|(key, value)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(key, NON_ALPHANUMERIC),
                    utf8_percent_encode(value, NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let token = case.headers.get("X-Security-Token").cloned();
        Prepared {
            headers,
            query,
            credential: SimCredential {
                access_key: case.ak.clone(),
                secret_key: case.sk.clone(),
                security_token: token,
            },
            date: parse_sdk_date(&case.headers[DATE_HEADER]).expect("vector date"),
        }
    }

    const SKEW: Duration = Duration::from_secs(15 * 60);

    fn check(
        case: &Case,
        prepared: &Prepared,
        credential: Option<&SimCredential>,
        now: Timestamp,
    ) -> Result<(), AuthFailure> {
        let received = Received {
            method: &case.method,
            path: &case.path,
            query: Some(&prepared.query),
            authority: None,
            headers: &prepared.headers,
            body: case.body.as_bytes(),
        };
        let Presented::Signature(parsed) = presented(&prepared.headers)? else {
            panic!("vector {} has no signature", case.name);
        };
        verify_signature(&received, &parsed, credential, now, SKEW)
    }

    #[test]
    fn every_signing_vector_is_accepted_at_its_own_date() {
        let cases = vectors();
        assert!(cases.len() >= 6);
        for case in &cases {
            let prepared = prepare(case);
            assert_eq!(
                check(case, &prepared, Some(&prepared.credential), prepared.date),
                Ok(()),
                "vector {}",
                case.name
            );
        }
    }

    #[test]
    fn a_wrong_secret_key_is_a_bad_signature() {
        for case in &vectors() {
            let prepared = prepare(case);
            let wrong = SimCredential {
                secret_key: format!("{}x", prepared.credential.secret_key),
                ..prepared.credential.clone()
            };
            assert_eq!(
                check(case, &prepared, Some(&wrong), prepared.date),
                Err(AuthFailure::BadSignature),
                "vector {}",
                case.name
            );
        }
    }

    #[test]
    fn an_unknown_access_key_is_refused() {
        let case = &vectors()[0];
        let prepared = prepare(case);
        assert_eq!(
            check(case, &prepared, None, prepared.date),
            Err(AuthFailure::UnknownAccessKey)
        );
    }

    #[test]
    fn the_date_must_be_within_the_allowed_skew() {
        let case = &vectors()[0];
        let prepared = prepare(case);
        let minutes = |n: u64| Duration::from_secs(n * 60);
        let later = super::super::clock::add(prepared.date, minutes(15));
        assert_eq!(
            check(case, &prepared, Some(&prepared.credential), later),
            Ok(())
        );
        let too_late = super::super::clock::add(prepared.date, minutes(16));
        assert!(matches!(
            check(case, &prepared, Some(&prepared.credential), too_late),
            Err(AuthFailure::Skewed { .. })
        ));
        let too_early = prepared.date - jiff::SignedDuration::from_mins(16);
        assert!(matches!(
            check(case, &prepared, Some(&prepared.credential), too_early),
            Err(AuthFailure::Skewed { .. })
        ));
    }

    #[test]
    fn a_missing_or_malformed_date_is_refused() {
        let case = &vectors()[0];
        let mut prepared = prepare(case);
        prepared.headers.insert(
            "x-sdk-date",
            HeaderValue::from_static("2019-11-15T03:36:55Z"),
        );
        assert_eq!(
            check(case, &prepared, Some(&prepared.credential), prepared.date),
            Err(AuthFailure::MalformedDate)
        );
        prepared.headers.remove("x-sdk-date");
        assert_eq!(
            check(case, &prepared, Some(&prepared.credential), prepared.date),
            Err(AuthFailure::MissingDate)
        );
    }

    #[test]
    fn a_changed_path_or_host_breaks_the_signature() {
        let case = vectors()
            .into_iter()
            .find(|case| case.name == "custom-port-endpoint")
            .expect("vector");
        let mut prepared = prepare(&case);
        prepared
            .headers
            .insert("host", HeaderValue::from_static("127.0.0.1"));
        assert_eq!(
            check(&case, &prepared, Some(&prepared.credential), prepared.date),
            Err(AuthFailure::BadSignature)
        );
        let prepared = prepare(&case);
        let mut moved = case.clone();
        moved.path = moved.path.replace("/jobs/", "/jobs/0");
        assert_eq!(
            check(&moved, &prepared, Some(&prepared.credential), prepared.date),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn temporary_credentials_need_their_signed_token() {
        let case = vectors()
            .into_iter()
            .find(|case| case.name == "bms-show-job-temporary-credentials")
            .expect("vector");
        let prepared = prepare(&case);
        let wrong_token = SimCredential {
            security_token: Some("another-token".into()),
            ..prepared.credential.clone()
        };
        assert_eq!(
            check(&case, &prepared, Some(&wrong_token), prepared.date),
            Err(AuthFailure::WrongSecurityToken)
        );
        let permanent = SimCredential {
            security_token: None,
            ..prepared.credential.clone()
        };
        assert_eq!(
            check(&case, &prepared, Some(&permanent), prepared.date),
            Err(AuthFailure::UnexpectedSecurityToken)
        );
        // A permanent-key vector checked against a temporary credential lacks the token.
        let plain = vectors()
            .into_iter()
            .find(|case| case.name == "bms-show-job")
            .expect("vector");
        let plain_prepared = prepare(&plain);
        let temporary = SimCredential {
            security_token: Some("tok".into()),
            ..plain_prepared.credential.clone()
        };
        assert_eq!(
            check(
                &plain,
                &plain_prepared,
                Some(&temporary),
                plain_prepared.date
            ),
            Err(AuthFailure::MissingSecurityToken)
        );
    }

    #[test]
    fn host_and_date_must_be_signed() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("h"));
        headers.insert("x-sdk-date", HeaderValue::from_static("20261204T101500Z"));
        let parsed = ParsedAuthorization {
            access_key: "AK".into(),
            signed_headers: vec!["x-sdk-date".into()],
            signature: "00".into(),
        };
        let received = Received {
            method: "GET",
            path: "/",
            query: None,
            authority: None,
            headers: &headers,
            body: b"",
        };
        let credential = SimCredential::parse("AK:SK").expect("credential");
        let now = parse_sdk_date("20261204T101500Z").expect("date");
        assert_eq!(
            verify_signature(&received, &parsed, Some(&credential), now, SKEW),
            Err(AuthFailure::HeaderNotSigned("host"))
        );
    }

    #[test]
    fn presented_reads_signature_token_or_nothing() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented(&headers), Err(AuthFailure::MissingAuthorization));
        headers.insert("x-auth-token", HeaderValue::from_static("tok"));
        assert_eq!(presented(&headers), Ok(Presented::Token("tok".into())));
        headers.insert(
            "authorization",
            HeaderValue::from_static("SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host, Sig"),
        );
        assert_eq!(
            presented(&headers),
            Err(AuthFailure::MalformedAuthorization)
        );
        assert_eq!(claimed_access_key(&headers).as_deref(), Some("AK1"));
    }

    #[test]
    fn credentials_parse_without_echoing_secrets() {
        let plain = SimCredential::parse("AK:SK").expect("plain");
        assert_eq!(plain.security_token, None);
        let temporary = SimCredential::parse("AK:SK:TO:KEN").expect("temporary");
        assert_eq!(temporary.security_token.as_deref(), Some("TO:KEN"));
        let error = SimCredential::parse("AKONLYSECRETLOOKING").expect_err("no colon");
        assert!(!error.contains("AKONLYSECRETLOOKING"), "{error}");
        let error = SimCredential::parse("AK:").expect_err("empty sk");
        assert!(error.contains("secret key"), "{error}");
        let error = SimCredential::parse(":SECRET").expect_err("empty ak");
        assert!(!error.contains("SECRET"), "{error}");
        let shown = format!("{temporary:?}");
        assert!(!shown.contains("TO:KEN"), "{shown}");
    }
}
