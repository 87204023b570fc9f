//! Faults injected on demand: for one job or for every request, for the next N requests or
//! until cleared, each producing the response (or the lack of one) a real cloud can produce.
//!
//! Faults apply to requests that passed authentication. Per-job faults are tried before
//! global ones, oldest first; `latency` faults add their delay and let the request go on (to
//! another fault or the normal answer), every other kind answers the request itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default status of `server_error`.
pub const DEFAULT_SERVER_ERROR_STATUS: u16 = 500;
/// Default `Retry-After` of `throttle`, in seconds.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 2;
/// Default delay of `latency`, in milliseconds.
pub const DEFAULT_LATENCY_MS: u64 = 1000;
/// Default size of `oversized_body`: 8 MiB.
pub const DEFAULT_OVERSIZED_BYTES: u64 = 8 * 1024 * 1024;
/// Largest `oversized_body` allowed, to keep the simulator's memory bounded.
pub const MAX_OVERSIZED_BYTES: u64 = 256 * 1024 * 1024;
/// Largest `latency_ms` allowed: ten minutes.
pub const MAX_LATENCY_MS: u64 = 600_000;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 5xx (`status`, default 500): `{"code":"Common.0001",...}`, or for 503 the service's
    /// flow-control body `{"error":{"code":"Common.1503",...}}`.
    ServerError,
    /// HTTP 429 `APIG.0308` with `Retry-After: retry_after_seconds`.
    Throttle,
    /// The answer is delayed by `latency_ms`.
    Latency,
    /// The connection is closed without any response.
    DropConnection,
    /// HTTP 200, `application/json`, the job's body cut in the middle.
    TruncatedJson,
    /// HTTP 200, `application/json`, a body that is not JSON.
    MalformedJson,
    /// HTTP 200 with a JSON body of `size_bytes` (default 8 MiB).
    OversizedBody,
    /// HTTP `status` (default 200), `text/html`, an HTML page.
    WrongContentType,
    /// HTTP 400 `BMS.0212` "System is overloaded".
    Overloaded,
    /// HTTP 202 (!) `{"code":"Common.0024",...}`: flow control.
    FlowControl,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        Self::ServerError,
        Self::Throttle,
        Self::Latency,
        Self::DropConnection,
        Self::TruncatedJson,
        Self::MalformedJson,
        Self::OversizedBody,
        Self::WrongContentType,
        Self::Overloaded,
        Self::FlowControl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ServerError => "server_error",
            Self::Throttle => "throttle",
            Self::Latency => "latency",
            Self::DropConnection => "drop_connection",
            Self::TruncatedJson => "truncated_json",
            Self::MalformedJson => "malformed_json",
            Self::OversizedBody => "oversized_body",
            Self::WrongContentType => "wrong_content_type",
            Self::Overloaded => "overloaded",
            Self::FlowControl => "flow_control",
        }
    }

    /// Every valid name, comma-separated, for error messages.
    pub fn valid_names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

/// A fault as the admin API or a scenario file gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// Only requests for this job id; every request when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// For the next `count` matching requests; until cleared when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// HTTP status of `server_error` (500–599) and `wrong_content_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` of `throttle` (and of `server_error`, when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Delay of `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Body size of `oversized_body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

impl FaultSpec {
    /// A fault of `kind` for every request, until cleared.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            job_id: None,
            count: None,
            status: None,
            retry_after_seconds: None,
            latency_ms: None,
            size_bytes: None,
        }
    }

    /// Checks the fields against the kind; the message starts with the offending field.
    pub fn validate(&self) -> Result<(), String> {
        let kind = self.kind;
        let name = kind.name();
        if self.count == Some(0) {
            return Err("count: must be at least 1 (omit it for a fault until cleared)".into());
        }
        if self
            .job_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err("job_id: must not be empty (omit it for every job)".into());
        }
        match (kind, self.status) {
            (_, None) => {}
            (FaultKind::ServerError, Some(status)) if !(500..=599).contains(&status) => {
                return Err(format!("status: {status} is not a 5xx status"));
            }
            (FaultKind::WrongContentType, Some(status)) if !(200..=599).contains(&status) => {
                return Err(format!("status: {status} is not between 200 and 599"));
            }
            (FaultKind::ServerError | FaultKind::WrongContentType, Some(_)) => {}
            (_, Some(_)) => {
                return Err(format!(
                    "status: only server_error and wrong_content_type take a status, not {name}"
                ));
            }
        }
        if self.retry_after_seconds.is_some()
            && !matches!(kind, FaultKind::Throttle | FaultKind::ServerError)
        {
            return Err(format!(
                "retry_after_seconds: only throttle and server_error take it, not {name}"
            ));
        }
        match (kind, self.latency_ms) {
            (FaultKind::Latency, Some(latency)) if latency > MAX_LATENCY_MS => {
                return Err(format!("latency_ms: {latency} is over {MAX_LATENCY_MS}"));
            }
            (FaultKind::Latency, _) | (_, None) => {}
            (_, Some(_)) => return Err(format!("latency_ms: only latency takes it, not {name}")),
        }
        match (kind, self.size_bytes) {
            (FaultKind::OversizedBody, Some(size)) if size > MAX_OVERSIZED_BYTES => {
                return Err(format!("size_bytes: {size} is over {MAX_OVERSIZED_BYTES}"));
            }
            (FaultKind::OversizedBody, _) | (_, None) => {}
            (_, Some(_)) => {
                return Err(format!(
                    "size_bytes: only oversized_body takes it, not {name}"
                ));
            }
        }
        Ok(())
    }

    fn applies_to(&self, job_id: &str) -> bool {
        self.job_id.as_deref().is_none_or(|id| id == job_id)
    }
}

/// A fault in force, with what is left of its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveFault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Requests still to fault; `None` until cleared.
    pub remaining: Option<u64>,
    /// Requests faulted so far.
    pub applied: u64,
}

/// What the faults in force do to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Added delay (from `latency` faults).
    pub delay: Duration,
    /// Whether a latency fault applied.
    pub latency_applied: bool,
    /// The fault that answers the request, if any.
    pub answer: Option<FaultSpec>,
}

/// The faults in force.
#[derive(Debug, Default)]
pub struct FaultBook {
    next_id: u64,
    faults: Vec<ActiveFault>,
}

impl FaultBook {
    /// Adds a validated fault; returns it as it is now in force.
    pub fn add(&mut self, spec: FaultSpec) -> ActiveFault {
        self.next_id += 1;
        let fault = ActiveFault {
            id: self.next_id,
            remaining: spec.count,
            spec,
            applied: 0,
        };
        self.faults.push(fault.clone());
        fault
    }

    /// Clears the faults of one job (`Some`) or all of them (`None`); returns how many.
    pub fn clear(&mut self, job_id: Option<&str>) -> usize {
        let before = self.faults.len();
        match job_id {
            Some(job_id) => self
                .faults
                .retain(|fault| fault.spec.job_id.as_deref() != Some(job_id)),
            None => self.faults.clear(),
        }
        before - self.faults.len()
    }

    pub fn list(&self) -> &[ActiveFault] {
        &self.faults
    }

    /// Consumes what applies to one request for `job_id`.
    pub fn take(&mut self, job_id: &str) -> FaultPlan {
        let mut plan = FaultPlan::default();
        // Per-job faults first, then global ones; oldest first within each.
        let mut order: Vec<usize> = (0..self.faults.len())
            .filter(|&index| self.faults[index].spec.applies_to(job_id))
            .collect();
        order.sort_by_key(|&index| (self.faults[index].spec.job_id.is_none(), index));
        let mut used = Vec::new();
        for index in order {
            let spec = &self.faults[index].spec;
            if spec.kind == FaultKind::Latency {
                plan.delay += Duration::from_millis(spec.latency_ms.unwrap_or(DEFAULT_LATENCY_MS));
                plan.latency_applied = true;
                used.push(index);
            } else if plan.answer.is_none() {
                plan.answer = Some(spec.clone());
                used.push(index);
            }
        }
        for &index in &used {
            let fault = &mut self.faults[index];
            fault.applied += 1;
            if let Some(remaining) = fault.remaining.as_mut() {
                *remaining = remaining.saturating_sub(1);
            }
        }
        self.faults
            .retain(|fault| fault.remaining.is_none_or(|remaining| remaining > 0));
        plan
    }
}

/// How a fault answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultResponse {
    /// Close the connection without a response.
    Drop,
    Respond {
        status: u16,
        content_type: &'static str,
        retry_after: Option<u64>,
        body: Vec<u8>,
    },
}

fn json_response(status: u16, body: serde_json::Value) -> FaultResponse {
    FaultResponse::Respond {
        status,
        content_type: "application/json",
        retry_after: None,
        body: body.to_string().into_bytes(),
    }
}

/// The response of a fault that answers; `job_body` is the body the job would have had
/// (some faults mangle it), `request_id` the gateway's request id.
pub fn respond(
    spec: &FaultSpec,
    job_body: &[u8],
    request_id: &str,
    rate_limit_text: &str,
) -> FaultResponse {
    use serde_json::json;
    match spec.kind {
        FaultKind::ServerError => {
            let status = spec.status.unwrap_or(DEFAULT_SERVER_ERROR_STATUS);
            let body = if status == 503 {
                json!({"error": {"code": "Common.1503", "message": "API flow control. Try again later."}})
            } else {
                json!({"code": "Common.0001", "message": "Internal error."})
            };
            FaultResponse::Respond {
                status,
                content_type: "application/json",
                retry_after: spec.retry_after_seconds,
                body: body.to_string().into_bytes(),
            }
        }
        FaultKind::Throttle => FaultResponse::Respond {
            status: 429,
            content_type: "application/json",
            retry_after: Some(
                spec.retry_after_seconds
                    .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS),
            ),
            body: throttled_body(rate_limit_text, request_id),
        },
        // A latency fault only delays ([`FaultBook::take`] never makes it the answer); should it
        // answer anyway, the answer is an empty JSON body.
        FaultKind::Latency => json_response(200, serde_json::Value::Null),
        FaultKind::DropConnection => FaultResponse::Drop,
        FaultKind::TruncatedJson => {
            let cut = (job_body.len() / 2).max(1).min(job_body.len());
            FaultResponse::Respond {
                status: 200,
                content_type: "application/json",
                retry_after: None,
                body: job_body[..cut].to_vec(),
            }
        }
        FaultKind::MalformedJson => FaultResponse::Respond {
            status: 200,
            content_type: "application/json",
            retry_after: None,
            body: br#"{"status": "RUNNING", "entities": {"sub_jobs_total": 1,, "sub_jobs": [}"#
                .to_vec(),
        },
        FaultKind::OversizedBody => FaultResponse::Respond {
            status: 200,
            content_type: "application/json",
            retry_after: None,
            body: oversized_body(spec.size_bytes.unwrap_or(DEFAULT_OVERSIZED_BYTES)),
        },
        FaultKind::WrongContentType => FaultResponse::Respond {
            status: spec.status.unwrap_or(200),
            content_type: "text/html; charset=utf-8",
            retry_after: None,
            body: b"<!DOCTYPE html>\n<html><head><title>Service Maintenance</title></head>\
<body><h1>Service Maintenance</h1><p>The service is under maintenance. Please try again later.</p>\
</body></html>\n"
                .to_vec(),
        },
        FaultKind::Overloaded => json_response(
            400,
            json!({"error": {"code": "BMS.0212", "message": "System is overloaded. Try again later."}}),
        ),
        FaultKind::FlowControl => json_response(
            202,
            json!({"code": "Common.0024", "message": "The request is rejected by flow control. Try again later."}),
        ),
    }
}

/// The gateway's 429 body, `APIG.0308`.
pub fn throttled_body(limit_text: &str, request_id: &str) -> Vec<u8> {
    serde_json::json!({
        "error_msg": format!("The throttling threshold has been reached: policy user over ratelimit,{limit_text}"),
        "error_code": "APIG.0308",
        "request_id": request_id,
    })
    .to_string()
    .into_bytes()
}

/// A syntactically valid job body padded to `size` bytes.
fn oversized_body(size: u64) -> Vec<u8> {
    let head = br#"{"status":"RUNNING","entities":{},"job_id":"oversized","job_type":"baremetalBatchCreate","begin_time":"","end_time":"","padding":""#;
    let tail = br#""}"#;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let padding = size.saturating_sub(head.len() + tail.len());
    let mut body = Vec::with_capacity(head.len() + padding + tail.len());
    body.extend_from_slice(head);
    body.resize(head.len() + padding, b'x');
    body.extend_from_slice(tail);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).expect("fault spec")
    }

    #[test]
    fn an_unknown_kind_names_the_valid_ones() {
        let error = serde_json::from_str::<FaultSpec>(r#"{"kind":"explode"}"#)
            .expect_err("unknown kind")
            .to_string();
        assert!(error.contains("explode"), "{error}");
        for kind in FaultKind::ALL {
            assert!(error.contains(kind.name()), "{error} lacks {}", kind.name());
        }
    }

    #[test]
    fn names_round_trip_through_serde() {
        for kind in FaultKind::ALL {
            let text = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(text, format!("\"{}\"", kind.name()));
        }
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (r#"{"kind":"server_error","status":404}"#, "status:"),
            (r#"{"kind":"throttle","status":500}"#, "status:"),
            (r#"{"kind":"latency","count":0}"#, "count:"),
            (r#"{"kind":"overloaded","latency_ms":5}"#, "latency_ms:"),
            (r#"{"kind":"latency","size_bytes":5}"#, "size_bytes:"),
            (
                r#"{"kind":"flow_control","retry_after_seconds":5}"#,
                "retry_after_seconds:",
            ),
        ];
        for (json, field) in cases {
            let error = spec(json).validate().expect_err(json);
            assert!(error.starts_with(field), "{json}: {error}");
        }
        spec(r#"{"kind":"server_error","status":503,"retry_after_seconds":1}"#)
            .validate()
            .expect("valid");
    }

    #[test]
    fn counted_faults_run_out_and_per_job_faults_come_first() {
        let mut book = FaultBook::default();
        book.add(spec(r#"{"kind":"overloaded","count":1}"#));
        book.add(spec(r#"{"kind":"throttle","job_id":"j1","count":2}"#));
        let first = book.take("j1");
        assert_eq!(first.answer.map(|s| s.kind), Some(FaultKind::Throttle));
        assert_eq!(
            book.take("j2").answer.map(|s| s.kind),
            Some(FaultKind::Overloaded)
        );
        assert_eq!(book.take("j2").answer, None);
        assert_eq!(
            book.take("j1").answer.map(|s| s.kind),
            Some(FaultKind::Throttle)
        );
        assert_eq!(book.take("j1"), FaultPlan::default());
        assert!(book.list().is_empty());
    }

    #[test]
    fn latency_adds_up_and_lets_another_fault_answer() {
        let mut book = FaultBook::default();
        book.add(spec(r#"{"kind":"latency","latency_ms":100}"#));
        book.add(spec(r#"{"kind":"latency","latency_ms":50,"job_id":"j"}"#));
        book.add(spec(r#"{"kind":"server_error"}"#));
        let plan = book.take("j");
        assert_eq!(plan.delay, Duration::from_millis(150));
        assert_eq!(plan.answer.map(|s| s.kind), Some(FaultKind::ServerError));
        assert_eq!(book.list().len(), 3);
        assert_eq!(book.list()[0].applied, 1);
        assert_eq!(book.clear(Some("j")), 1);
        assert_eq!(book.clear(None), 2);
    }

    #[test]
    fn responses_follow_the_fixture_shapes() {
        let job = br#"{"status":"RUNNING","entities":{}}"#;
        let answer = |json: &str| respond(&spec(json), job, "rid", "limit:20,time:1 minute");
        let FaultResponse::Respond { status, body, .. } = answer(r#"{"kind":"server_error"}"#)
        else {
            panic!("responds")
        };
        assert_eq!(status, 500);
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], "Common.0001");
        let FaultResponse::Respond {
            status,
            retry_after,
            body,
            ..
        } = answer(r#"{"kind":"throttle","retry_after_seconds":7}"#)
        else {
            panic!("responds")
        };
        assert_eq!((status, retry_after), (429, Some(7)));
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error_code"], "APIG.0308");
        assert_eq!(body["request_id"], "rid");
        let FaultResponse::Respond { body, .. } = answer(r#"{"kind":"truncated_json"}"#) else {
            panic!("responds")
        };
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
        assert!(job.starts_with(&body));
        let FaultResponse::Respond { body, .. } = answer(r#"{"kind":"malformed_json"}"#) else {
            panic!("responds")
        };
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
        let FaultResponse::Respond { body, .. } =
            answer(r#"{"kind":"oversized_body","size_bytes":100000}"#)
        else {
            panic!("responds")
        };
        assert_eq!(body.len(), 100_000);
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
        assert_eq!(answer(r#"{"kind":"drop_connection"}"#), FaultResponse::Drop);
        let FaultResponse::Respond { status, body, .. } = answer(r#"{"kind":"flow_control"}"#)
        else {
            panic!("responds")
        };
        assert_eq!(status, 202);
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], "Common.0024");
    }
}
