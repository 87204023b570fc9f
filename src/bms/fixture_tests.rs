//! Every response fixture read through the client's interpretation: jobs parse, errors classify.

use http::{HeaderMap, HeaderValue, StatusCode};

use super::client::interpret;
use super::error::{CloudError, ErrorClass};

fn load(kind: &str, name: &str) -> (StatusCode, Vec<u8>) {
    let path = format!(
        "{}/tests/fixtures/{kind}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let wrapper: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON");
    let status = wrapper["http_status"].as_u64().expect("http_status") as u16;
    (
        StatusCode::from_u16(status).expect("valid status"),
        serde_json::to_vec(&wrapper["body"]).expect("encodes"),
    )
}

#[test]
fn every_error_fixture_gets_the_class_and_code_a_user_expects() {
    let cases = [
        (
            "apig-auth-failed-401",
            ErrorClass::Auth,
            "APIG.0301",
            Some("3c6b1e0a9f2d4c7e8b5a1d2c3e4f5a6b"),
        ),
        (
            "apig-throttled-429",
            ErrorClass::Throttled,
            "APIG.0308",
            Some("4d7c2f1b0a3e5d8f9c6b2e3d4f5a6b7c"),
        ),
        ("internal-500", ErrorClass::Transient, "Common.0001", None),
        (
            "job-not-found-400",
            ErrorClass::NotFound,
            "Common.0011",
            None,
        ),
        (
            "project-mismatch-400",
            ErrorClass::Config,
            "Common.0018",
            None,
        ),
        (
            "service-unavailable-503",
            ErrorClass::Throttled,
            "Common.1503",
            None,
        ),
        (
            "system-overloaded-400",
            ErrorClass::Transient,
            "BMS.0212",
            None,
        ),
    ];
    let dir = format!("{}/tests/fixtures/errors", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(std::fs::read_dir(dir).expect("dir").count(), cases.len());
    for (name, class, code, request_id) in cases {
        let (status, body) = load("errors", name);
        let error = interpret(status, &HeaderMap::new(), &body).expect_err(name);
        assert_eq!(error.class(), class, "{name}");
        assert_eq!(error.code(), Some(code), "{name}");
        match &error {
            CloudError::Api {
                status: got,
                request_id: got_id,
                message,
                ..
            } => {
                assert_eq!(*got, status.as_u16(), "{name}");
                assert_eq!(got_id.as_deref(), request_id, "{name}");
                assert!(message.is_some(), "{name}: message kept");
            }
            other => panic!("{name}: {other:?}"),
        }
        let text = error.to_string();
        assert!(
            text.contains(code) && text.contains(&status.as_u16().to_string()),
            "{text}"
        );
    }
}

#[test]
fn every_job_fixture_parses_as_a_job() {
    let dir = format!("{}/tests/fixtures/jobs", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let (status, body) = load("jobs", &name);
        let job = interpret(status, &HeaderMap::new(), &body).expect(&name);
        assert!(job.status.is_some() && job.job_id.is_some(), "{name}");
    }
}

#[test]
fn retry_after_and_header_request_id_are_kept() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from_static("7"));
    headers.insert("x-request-id", HeaderValue::from_static("req-9"));
    let error = interpret(StatusCode::TOO_MANY_REQUESTS, &headers, b"").expect_err("429");
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(7)));
    assert!(error.to_string().contains("req-9"));
    assert_eq!(error.class(), ErrorClass::Throttled);
}

#[test]
fn flow_control_inside_a_202_is_an_error_not_a_job() {
    let body = br#"{"code":"Common.0024","message":"flow control"}"#;
    let error = interpret(StatusCode::ACCEPTED, &HeaderMap::new(), body).expect_err("202");
    assert_eq!(error.class(), ErrorClass::Throttled);
}

#[test]
fn a_2xx_that_is_not_a_job_is_an_invalid_response() {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/html"));
    for body in [&b"<html>gateway</html>"[..], b"{\"status\":", b"{}", b""] {
        let error = interpret(StatusCode::OK, &headers, body).expect_err("not a job");
        assert_eq!(error.class(), ErrorClass::InvalidResponse, "{error}");
    }
}
