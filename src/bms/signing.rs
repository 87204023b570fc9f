//! SDK-HMAC-SHA256, Huawei Cloud's AK/SK request signature.
//!
//! The same functions serve both sides: the client signs with [`authorization`], and the
//! simulator rebuilds the canonical request from what it received and compares signatures.
//! This is not AWS SigV4: the secret key is used as it is, with no key derivation.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// The algorithm's name, first word of the `Authorization` header and of the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Header that carries the signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const DATE_HEADER: &str = "X-Sdk-Date";

/// `strftime`-style format of [`DATE_HEADER`].
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Bytes kept as they are; every other byte becomes `%XX` in upper-case hex.
const UNRESERVED_KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a signature covers: one HTTP request as it goes over the wire.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// Path as sent, without query, e.g. `/v1/{project}/jobs/{job}`.
    pub path: &'a str,
    /// Query pairs, decoded, in any order.
    pub query: &'a [(String, String)],
    /// Headers to sign as `(name, value)`, names in any case. `host` and `x-sdk-date` must be here.
    pub headers: &'a [(String, String)],
    /// Request body bytes.
    pub body: &'a [u8],
}

fn encode(raw: &str) -> String {
    utf8_percent_encode(raw, UNRESERVED_KEPT).to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn canonical_path(path: &str) -> String {
    let mut encoded = path.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !encoded.ends_with('/') {
        encoded.push('/');
    }
    encoded
}

fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(key, value)| (encode(key), encode(value)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn normalized_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut normalized: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    normalized.sort();
    normalized
}

/// The `SignedHeaders` list: lower-case names, sorted, joined by `;`.
pub fn signed_header_names(headers: &[(String, String)]) -> String {
    normalized_headers(headers)
        .into_iter()
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(";")
}

/// The canonical request: method, path, query, header lines, signed names and body hash.
pub fn canonical_request(request: &SignedRequest<'_>) -> String {
    let header_lines: String = normalized_headers(request.headers)
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    [
        request.method.to_ascii_uppercase(),
        canonical_path(request.path),
        canonical_query(request.query),
        header_lines,
        signed_header_names(request.headers),
        sha256_hex(request.body),
    ]
    .join("\n")
}

/// The string to sign: algorithm, signing time and the hash of the canonical request.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Hex HMAC-SHA256 of the string to sign, keyed with the raw secret key.
pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The signature of a request, given its `X-Sdk-Date` and the secret key.
pub fn sign(request: &SignedRequest<'_>, sdk_date: &str, secret_key: &str) -> String {
    signature(
        secret_key,
        &string_to_sign(sdk_date, &canonical_request(request)),
    )
}

/// The full `Authorization` header value for a request.
pub fn authorization(
    request: &SignedRequest<'_>,
    sdk_date: &str,
    access_key: &str,
    secret_key: &str,
) -> String {
    format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={}",
        signed_header_names(request.headers),
        sign(request, sdk_date, secret_key)
    )
}

/// The parts of a received `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access_key: String,
    /// Lower-case header names, in the order given.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`; `None` when malformed.
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let rest = value.strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
    let (mut access_key, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=')?;
        match key {
            "Access" => access_key = Some(value.to_owned()),
            "SignedHeaders" => {
                signed_headers = Some(value.split(';').map(str::to_ascii_lowercase).collect())
            }
            "Signature" => signature = Some(value.to_owned()),
            _ => return None,
        }
    }
    Some(ParsedAuthorization {
        access_key: access_key.filter(|ak| !ak.is_empty())?,
        signed_headers: signed_headers?,
        signature: signature.filter(|sig| !sig.is_empty())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        method: String,
        host: String,
        path: String,
        query: Vec<(String, String)>,
        headers: std::collections::BTreeMap<String, String>,
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

    #[test]
    fn every_signing_vector_matches_byte_for_byte() {
        let cases = vectors();
        assert!(cases.len() >= 6, "the vector file lost cases");
        for case in cases {
            let mut headers: Vec<(String, String)> = case.headers.clone().into_iter().collect();
            headers.push(("Host".into(), case.host.clone()));
            let request = SignedRequest {
                method: &case.method,
                path: &case.path,
                query: &case.query,
                headers: &headers,
                body: case.body.as_bytes(),
            };
            let date = &case.headers[DATE_HEADER];
            assert_eq!(
                authorization(&request, date, &case.ak, &case.sk),
                case.expected_authorization,
                "vector {}",
                case.name
            );
        }
    }

    #[test]
    fn path_segments_are_encoded_and_end_with_a_slash() {
        assert_eq!(canonical_path("/v1/a b/jobs"), "/v1/a%20b/jobs/");
        assert_eq!(canonical_path("/v1/x/"), "/v1/x/");
    }

    #[test]
    fn query_is_sorted_by_key_then_value_and_encoded() {
        let query = vec![
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "z y".to_owned()),
            ("a".to_owned(), "x".to_owned()),
        ];
        assert_eq!(canonical_query(&query), "a=x&a=z%20y&b=2");
    }

    #[test]
    fn authorization_round_trips_through_the_parser() {
        let header = "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=abc";
        let parsed = parse_authorization(header).expect("parses");
        assert_eq!(parsed.access_key, "AK1");
        assert_eq!(parsed.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(parsed.signature, "abc");
        assert!(parse_authorization("AWS4-HMAC-SHA256 Access=AK1").is_none());
        assert!(
            parse_authorization("SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=x")
                .is_none()
        );
    }
}
