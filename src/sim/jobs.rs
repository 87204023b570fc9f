//! Simulated jobs: the spec a scenario or the admin API gives, and the timeline that turns a
//! spec and a point in time into the response body the real service would send.
//!
//! A job lives like this, measured from its creation `t0`:
//! 1. `PENDING_PAYMENT` for `pending_payment_for` (or forever), when set;
//! 2. `INIT` for `init_for` (`entities: {}`, empty times);
//! 3. `RUNNING` from `run_start`: sub-jobs run in parallel, as a batch's servers are built, each
//!    from `start_after` (default at once) for its `duration`, `INIT` → `RUNNING` →
//!    `SUCCESS`/`FAIL` with its own times, so they finish one by one;
//! 4. `SUCCESS`, or `FAIL` when a sub-job failed or the spec says `fail`, once every sub-job has
//!    ended and `duration` (if any) has passed.
//!
//! A `status_override` short-cuts all of this: that status is served as it is, forever.
//! [`Job::render`] is a pure function of the job and the time, so each state is unit-tested.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::clock::{add, format_time};

/// Error code of a job whose sub-job failed, when the spec gives no `fail`.
pub const SUB_JOB_FAIL_CODE: &str = "BMS.0102";
/// Reason of a job whose sub-job failed, when the spec gives no `fail`.
pub const SUB_JOB_FAIL_REASON: &str = "Sub job fail!";

/// A duration written as text (`"1s"`, `"1500ms"`, `"2m"`) or as a number of seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimDuration(pub Duration);

impl SimDuration {
    pub fn parse(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map(SimDuration)
            .map_err(|error| {
                format!("invalid duration {text:?} ({error}); write e.g. \"1s\", \"500ms\", \"2m\"")
            })
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = SimDuration;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .write_str("a duration such as \"1s\", \"500ms\" or \"2m\", or a number of seconds")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SimDuration, E> {
        SimDuration::parse(text).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<SimDuration, E> {
        Ok(SimDuration(Duration::from_secs(seconds)))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<SimDuration, E> {
        u64::try_from(seconds)
            .map(|seconds| SimDuration(Duration::from_secs(seconds)))
            .map_err(|_| E::custom(format!("invalid duration {seconds}: must not be negative")))
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<SimDuration, E> {
        Duration::try_from_secs_f64(seconds)
            .map(SimDuration)
            .map_err(|_| {
                E::custom(format!(
                    "invalid duration {seconds}: must be a non-negative number of seconds"
                ))
            })
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// How long a job waits for payment: a duration, or `"forever"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingFor {
    Forever,
    For(SimDuration),
}

impl Serialize for PendingFor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Forever => serializer.serialize_str("forever"),
            Self::For(duration) => duration.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for PendingFor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PendingVisitor;
        impl Visitor<'_> for PendingVisitor {
            type Value = PendingFor;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("\"forever\" or a duration such as \"30s\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<PendingFor, E> {
                if text.trim() == "forever" {
                    Ok(PendingFor::Forever)
                } else {
                    DurationVisitor.visit_str(text).map(PendingFor::For)
                }
            }
            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<PendingFor, E> {
                DurationVisitor.visit_u64(seconds).map(PendingFor::For)
            }
            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<PendingFor, E> {
                DurationVisitor.visit_i64(seconds).map(PendingFor::For)
            }
            fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<PendingFor, E> {
                DurationVisitor.visit_f64(seconds).map(PendingFor::For)
            }
        }
        deserializer.deserialize_any(PendingVisitor)
    }
}

/// Why a job or sub-job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub error_code: String,
    pub fail_reason: String,
}

fn default_job_type() -> String {
    "baremetalBatchCreate".to_owned()
}

fn default_sub_job_type() -> String {
    "baremetalSingleCreate".to_owned()
}

/// One job as a scenario file or `POST /admin/jobs` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The project the job belongs to; it is visible only there.
    pub project_id: String,
    /// 32 random hex characters when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default = "default_job_type")]
    pub job_type: String,
    /// Time spent in `INIT` (after any payment wait).
    #[serde(default)]
    pub init_for: SimDuration,
    /// Time spent in `PENDING_PAYMENT` first, or `"forever"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_payment_for: Option<PendingFor>,
    #[serde(default)]
    pub sub_jobs: Vec<SubJobSpec>,
    /// Running time of a job without sub-jobs; with sub-jobs, the least running time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<SimDuration>,
    /// The job fails with this code and reason (even if every sub-job succeeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<Failure>,
    /// A status served as it is, forever (e.g. `QUEUED`, unknown to clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_override: Option<String>,
}

/// One sub-job of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubJobSpec {
    /// 32 random hex characters when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default = "default_sub_job_type")]
    pub job_type: String,
    /// The server the sub-job works on; a random UUID when neither it nor `nic_id` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_id: Option<String>,
    /// When the sub-job starts, measured from the job's start of running (default: at once,
    /// so sub-jobs run in parallel); it is `INIT` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<SimDuration>,
    /// Its running time.
    #[serde(default)]
    pub duration: SimDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<Failure>,
}

fn check_id(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if value
        .chars()
        .any(|character| character == '/' || character.is_whitespace() || character.is_control())
    {
        return Err(format!(
            "{field}: {value:?} must not contain '/' or white space"
        ));
    }
    Ok(())
}

fn check_failure(field: &str, failure: &Option<Failure>) -> Result<(), String> {
    match failure {
        Some(failure) if failure.error_code.trim().is_empty() => {
            Err(format!("{field}.error_code: must not be empty"))
        }
        _ => Ok(()),
    }
}

impl JobSpec {
    /// Checks what serde cannot; the message starts with the offending field.
    pub fn validate(&self) -> Result<(), String> {
        check_id("project_id", &self.project_id)?;
        if let Some(job_id) = &self.job_id {
            check_id("job_id", job_id)?;
        }
        if self.job_type.trim().is_empty() {
            return Err("job_type: must not be empty".into());
        }
        if let Some(status) = &self.status_override
            && status.trim().is_empty()
        {
            return Err("status_override: must not be empty".into());
        }
        check_failure("fail", &self.fail)?;
        for (index, sub_job) in self.sub_jobs.iter().enumerate() {
            if let Some(job_id) = &sub_job.job_id {
                check_id(&format!("sub_jobs[{index}].job_id"), job_id)?;
            }
            if sub_job.job_type.trim().is_empty() {
                return Err(format!("sub_jobs[{index}].job_type: must not be empty"));
            }
            check_failure(&format!("sub_jobs[{index}].fail"), &sub_job.fail)?;
        }
        Ok(())
    }

    /// The same spec with every generated id filled in, so that they stay stable.
    fn resolved(mut self) -> Self {
        self.job_id.get_or_insert_with(|| super::random_hex(16));
        for sub_job in &mut self.sub_jobs {
            sub_job.job_id.get_or_insert_with(|| super::random_hex(16));
            if sub_job.server_id.is_none() && sub_job.nic_id.is_none() {
                sub_job.server_id = Some(super::random_uuid());
            }
        }
        self
    }
}

/// A job being simulated: its resolved spec and when it was created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    #[serde(flatten)]
    pub spec: JobSpec,
    #[serde(serialize_with = "serialize_time")]
    pub created_at: Timestamp,
}

fn serialize_time<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_time(*at))
}

/// The response body, field for field in the order the real service writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobBody {
    pub status: String,
    pub entities: JobEntities,
    pub job_id: String,
    pub job_type: String,
    pub begin_time: String,
    pub end_time: String,
    /// Absent while the job is not finished; `null` on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<Option<String>>,
}

/// The job's `entities`: `{}` before it runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobEntities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_jobs_total: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_jobs: Option<Vec<SubJobBody>>,
}

/// One sub-job in the body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubJobBody {
    pub status: String,
    pub entities: SubJobEntities,
    pub job_id: String,
    pub job_type: String,
    pub begin_time: String,
    pub end_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<Option<String>>,
}

/// A sub-job's `entities`: `{}` while it is `INIT`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SubJobEntities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nic_id: Option<String>,
}

/// When each phase of a job begins; `None` for a phase that never comes.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// End of the payment wait (`None`: it never ends).
    pub paid_at: Option<Timestamp>,
    pub run_start: Option<Timestamp>,
    /// Start and end of each sub-job.
    pub sub_jobs: Vec<(Timestamp, Timestamp)>,
    pub end: Option<Timestamp>,
}

impl Job {
    /// A job from a spec, created at `created_at`; fails when the spec is invalid.
    pub fn new(spec: JobSpec, created_at: Timestamp) -> Result<Self, String> {
        spec.validate()?;
        Ok(Self {
            spec: spec.resolved(),
            created_at,
        })
    }

    pub fn project_id(&self) -> &str {
        &self.spec.project_id
    }

    pub fn job_id(&self) -> &str {
        self.spec.job_id.as_deref().unwrap_or_default()
    }

    /// When each phase begins and ends.
    pub fn schedule(&self) -> Schedule {
        let spec = &self.spec;
        if spec.status_override.is_some() {
            return Schedule {
                paid_at: None,
                run_start: None,
                sub_jobs: Vec::new(),
                end: None,
            };
        }
        let paid_at = match spec.pending_payment_for {
            None => Some(self.created_at),
            Some(PendingFor::Forever) => None,
            Some(PendingFor::For(wait)) => Some(add(self.created_at, wait.0)),
        };
        let run_start = paid_at.map(|paid_at| add(paid_at, spec.init_for.0));
        let mut sub_jobs = Vec::with_capacity(spec.sub_jobs.len());
        let mut end = run_start;
        if let Some(run_start) = run_start {
            let mut last_end = add(run_start, spec.duration.unwrap_or_default().0);
            for sub_job in &spec.sub_jobs {
                let start = add(run_start, sub_job.start_after.unwrap_or_default().0);
                let finish = add(start, sub_job.duration.0);
                sub_jobs.push((start, finish));
                last_end = last_end.max(finish);
            }
            end = Some(last_end);
        }
        Schedule {
            paid_at,
            run_start,
            sub_jobs,
            end,
        }
    }

    /// The body `GET /v1/{project_id}/jobs/{job_id}` answers at `now`.
    pub fn render(&self, now: Timestamp) -> JobBody {
        let spec = &self.spec;
        let body = |status: &str, entities: JobEntities, begin: String, end: String| JobBody {
            status: status.to_owned(),
            entities,
            job_id: self.job_id().to_owned(),
            job_type: spec.job_type.clone(),
            begin_time: begin,
            end_time: end,
            error_code: None,
            fail_reason: None,
        };
        let created = format_time(self.created_at);
        if let Some(status) = &spec.status_override {
            return body(status, JobEntities::default(), created, String::new());
        }
        let schedule = self.schedule();
        let (Some(paid_at), Some(run_start), Some(end)) =
            (schedule.paid_at, schedule.run_start, schedule.end)
        else {
            return body(
                "PENDING_PAYMENT",
                JobEntities::default(),
                created,
                String::new(),
            );
        };
        if now < paid_at {
            return body(
                "PENDING_PAYMENT",
                JobEntities::default(),
                created,
                String::new(),
            );
        }
        if now < run_start {
            return body("INIT", JobEntities::default(), String::new(), String::new());
        }
        let sub_jobs: Vec<SubJobBody> = spec
            .sub_jobs
            .iter()
            .zip(&schedule.sub_jobs)
            .map(|(sub_job, &(start, finish))| {
                render_sub_job(sub_job, run_start, start, finish, now)
            })
            .collect();
        let any_sub_job_failed = spec
            .sub_jobs
            .iter()
            .zip(&schedule.sub_jobs)
            .any(|(sub_job, &(_, finish))| sub_job.fail.is_some() && now >= finish);
        let entities = JobEntities {
            sub_jobs_total: Some(sub_jobs.len()),
            sub_jobs: Some(sub_jobs),
        };
        let begin = format_time(run_start);
        if now < end {
            return body("RUNNING", entities, begin, String::new());
        }
        let failure = spec.fail.clone().or_else(|| {
            any_sub_job_failed.then(|| Failure {
                error_code: SUB_JOB_FAIL_CODE.to_owned(),
                fail_reason: SUB_JOB_FAIL_REASON.to_owned(),
            })
        });
        let (status, error_code, fail_reason) = match failure {
            Some(failure) => ("FAIL", Some(failure.error_code), Some(failure.fail_reason)),
            None => ("SUCCESS", None, None),
        };
        JobBody {
            error_code: Some(error_code),
            fail_reason: Some(fail_reason),
            ..body(status, entities, begin, format_time(end))
        }
    }
}

fn render_sub_job(
    sub_job: &SubJobSpec,
    queued_at: Timestamp,
    start: Timestamp,
    finish: Timestamp,
    now: Timestamp,
) -> SubJobBody {
    let resources = SubJobEntities {
        server_id: sub_job.server_id.clone(),
        nic_id: sub_job.nic_id.clone(),
    };
    let mut body = SubJobBody {
        status: "INIT".to_owned(),
        entities: SubJobEntities::default(),
        job_id: sub_job.job_id.clone().unwrap_or_default(),
        job_type: sub_job.job_type.clone(),
        begin_time: format_time(queued_at),
        end_time: String::new(),
        error_code: None,
        fail_reason: None,
    };
    if now < start {
        return body;
    }
    body.entities = resources;
    body.begin_time = format_time(start);
    if now < finish {
        body.status = "RUNNING".to_owned();
        return body;
    }
    body.end_time = format_time(finish);
    match &sub_job.fail {
        Some(failure) => {
            body.status = "FAIL".to_owned();
            body.error_code = Some(Some(failure.error_code.clone()));
            body.fail_reason = Some(Some(failure.fail_reason.clone()));
        }
        None => {
            body.status = "SUCCESS".to_owned();
            body.error_code = Some(None);
            body.fail_reason = Some(None);
        }
    }
    body
}

/// Every job, by project and job id.
#[derive(Debug, Default)]
pub struct JobStore {
    jobs: BTreeMap<(String, String), Job>,
}

impl JobStore {
    /// Adds a job; refuses a job id already used in the same project.
    pub fn insert(&mut self, job: Job) -> Result<&Job, String> {
        let key = (job.project_id().to_owned(), job.job_id().to_owned());
        if self.jobs.contains_key(&key) {
            return Err(format!(
                "job_id: {} already exists in project {}",
                key.1, key.0
            ));
        }
        Ok(self.jobs.entry(key).or_insert(job))
    }

    /// The job `job_id` of `project_id`: a job of another project is not visible.
    pub fn get(&self, project_id: &str, job_id: &str) -> Option<&Job> {
        self.jobs.get(&(project_id.to_owned(), job_id.to_owned()))
    }

    /// Whether any project has a job with this id.
    pub fn any_project_has(&self, job_id: &str) -> bool {
        self.jobs.keys().any(|(_, id)| id == job_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn t0() -> Timestamp {
        "2026-12-04T09:00:00Z".parse().expect("timestamp")
    }

    fn at(millis: u64) -> Timestamp {
        add(t0(), Duration::from_millis(millis))
    }

    fn spec(yaml: &str) -> JobSpec {
        serde_yaml_ng::from_str(yaml).expect("spec parses")
    }

    fn job(yaml: &str) -> Job {
        Job::new(spec(yaml), t0()).expect("valid spec")
    }

    fn json_at(job: &Job, millis: u64) -> Value {
        serde_json::to_value(job.render(at(millis))).expect("serializes")
    }

    const BATCH: &str = r#"
project_id: p1
job_id: j1
job_type: baremetalBatchCreate
init_for: 1s
sub_jobs:
  - {job_id: s1, server_id: srv-1, duration: 2s}
  - {job_id: s2, server_id: srv-2, duration: 4s}
  - {job_id: s3, server_id: srv-3, start_after: 3s, duration: 3s}
"#;

    #[test]
    fn init_has_empty_entities_and_times_and_no_error_fields() {
        let body = json_at(&job(BATCH), 500);
        assert_eq!(
            body,
            json!({"status": "INIT", "entities": {}, "job_id": "j1",
                   "job_type": "baremetalBatchCreate", "begin_time": "", "end_time": ""})
        );
    }

    #[test]
    fn running_shows_sub_jobs_in_mixed_states_like_the_fixture() {
        // At 1s + 2.5s: s1 finished, s2 running, s3 waiting for its start at 1s + 3s.
        let body = json_at(&job(BATCH), 3_500);
        assert_eq!(body["status"], "RUNNING");
        assert_eq!(body["begin_time"], "2026-12-04T09:00:01.000Z");
        assert_eq!(body["end_time"], "");
        assert!(body.get("error_code").is_none() && body.get("fail_reason").is_none());
        assert_eq!(body["entities"]["sub_jobs_total"], 3);
        let subs = body["entities"]["sub_jobs"].as_array().expect("sub_jobs");
        assert_eq!(
            subs[0],
            json!({"status": "SUCCESS", "entities": {"server_id": "srv-1"}, "job_id": "s1",
                   "job_type": "baremetalSingleCreate",
                   "begin_time": "2026-12-04T09:00:01.000Z", "end_time": "2026-12-04T09:00:03.000Z",
                   "error_code": null, "fail_reason": null})
        );
        assert_eq!(
            subs[1],
            json!({"status": "RUNNING", "entities": {"server_id": "srv-2"}, "job_id": "s2",
                   "job_type": "baremetalSingleCreate",
                   "begin_time": "2026-12-04T09:00:01.000Z", "end_time": ""})
        );
        assert_eq!(
            subs[2],
            json!({"status": "INIT", "entities": {}, "job_id": "s3",
                   "job_type": "baremetalSingleCreate",
                   "begin_time": "2026-12-04T09:00:01.000Z", "end_time": ""})
        );
    }

    #[test]
    fn sub_jobs_finish_one_by_one_then_the_job_succeeds() {
        let job = job(BATCH);
        let finished = |millis| {
            job.render(at(millis))
                .entities
                .sub_jobs
                .unwrap_or_default()
                .iter()
                .filter(|sub| sub.status == "SUCCESS")
                .count()
        };
        assert_eq!(finished(1_000), 0);
        assert_eq!(finished(2_999), 0);
        assert_eq!(finished(3_000), 1);
        assert_eq!(finished(4_999), 1);
        assert_eq!(finished(5_000), 2);
        assert_eq!(job.render(at(6_999)).status, "RUNNING");
        assert_eq!(
            job.render(at(6_999)).entities.sub_jobs.expect("subs")[2].begin_time,
            "2026-12-04T09:00:04.000Z"
        );
        let body = json_at(&job, 7_000);
        assert_eq!(body["status"], "SUCCESS");
        assert_eq!(body["end_time"], "2026-12-04T09:00:07.000Z");
        assert_eq!(body["error_code"], Value::Null);
        assert_eq!(body["fail_reason"], Value::Null);
        assert!(body.as_object().expect("object").contains_key("error_code"));
        // Nothing changes afterwards.
        assert_eq!(json_at(&job, 7_000), json_at(&job, 3_600_000));
    }

    #[test]
    fn a_failed_sub_job_fails_the_job_with_the_default_code() {
        let job = job(r#"
project_id: p1
job_id: j2
sub_jobs:
  - {server_id: a, duration: 1s}
  - {server_id: b, duration: 2s, fail: {error_code: BMS.0102, fail_reason: "Insufficient resources."}}
"#);
        let running = json_at(&job, 1_500);
        assert_eq!(running["status"], "RUNNING");
        assert_eq!(running["entities"]["sub_jobs"][0]["status"], "SUCCESS");
        assert_eq!(running["entities"]["sub_jobs"][1]["status"], "RUNNING");
        let body = json_at(&job, 2_000);
        assert_eq!(body["status"], "FAIL");
        assert_eq!(body["error_code"], SUB_JOB_FAIL_CODE);
        assert_eq!(body["fail_reason"], SUB_JOB_FAIL_REASON);
        let failed = &body["entities"]["sub_jobs"][1];
        assert_eq!(failed["status"], "FAIL");
        assert_eq!(failed["error_code"], "BMS.0102");
        assert_eq!(failed["fail_reason"], "Insufficient resources.");
        assert_eq!(failed["entities"]["server_id"], "b");
        assert_eq!(body["entities"]["sub_jobs"][0]["status"], "SUCCESS");
    }

    #[test]
    fn an_explicit_failure_without_sub_jobs_uses_its_code() {
        let job = job(r#"
project_id: p1
job_id: j3
job_type: baremetalReinstallOs
duration: 2s
fail: {error_code: BMS.0040, fail_reason: "The bare metal server does not exist."}
"#);
        let running = json_at(&job, 1_000);
        assert_eq!(running["status"], "RUNNING");
        assert_eq!(
            running["entities"],
            json!({"sub_jobs_total": 0, "sub_jobs": []})
        );
        let body = json_at(&job, 2_000);
        assert_eq!(body["status"], "FAIL");
        assert_eq!(body["error_code"], "BMS.0040");
        assert_eq!(body["fail_reason"], "The bare metal server does not exist.");
        assert_eq!(
            body["entities"],
            json!({"sub_jobs_total": 0, "sub_jobs": []})
        );
    }

    #[test]
    fn pending_payment_comes_first_then_the_job_goes_on() {
        let job = job(
            "{project_id: p1, job_id: j4, pending_payment_for: 2s, init_for: 1s, duration: 1s}",
        );
        let pending = json_at(&job, 1_999);
        assert_eq!(
            pending,
            json!({"status": "PENDING_PAYMENT", "entities": {}, "job_id": "j4",
                   "job_type": "baremetalBatchCreate",
                   "begin_time": "2026-12-04T09:00:00.000Z", "end_time": ""})
        );
        assert_eq!(job.render(at(2_000)).status, "INIT");
        assert_eq!(job.render(at(3_000)).status, "RUNNING");
        assert_eq!(job.render(at(4_000)).status, "SUCCESS");
    }

    #[test]
    fn pending_payment_forever_never_moves() {
        let job = job("{project_id: p1, pending_payment_for: forever}");
        assert_eq!(job.render(at(0)).status, "PENDING_PAYMENT");
        assert_eq!(job.render(at(86_400_000)).status, "PENDING_PAYMENT");
        assert_eq!(job.schedule().run_start, None);
    }

    #[test]
    fn a_status_override_is_served_as_it_is() {
        let job = job(
            "{project_id: p1, job_id: j5, job_type: baremetalBatchOperate, status_override: QUEUED, duration: 1s}",
        );
        for millis in [0, 5_000, 86_400_000] {
            assert_eq!(
                json_at(&job, millis),
                json!({"status": "QUEUED", "entities": {}, "job_id": "j5",
                       "job_type": "baremetalBatchOperate",
                       "begin_time": "2026-12-04T09:00:00.000Z", "end_time": ""})
            );
        }
    }

    #[test]
    fn sub_jobs_run_in_parallel_unless_told_to_wait() {
        let job = job(r#"
project_id: p1
sub_jobs:
  - {duration: 3s}
  - {duration: 1s}
  - {duration: 1s, start_after: 3s}
"#);
        let body = job.render(at(1_500));
        let subs = body.entities.sub_jobs.expect("sub-jobs");
        assert_eq!(subs[0].status, "RUNNING");
        assert_eq!(subs[1].status, "SUCCESS");
        assert_eq!(subs[2].status, "INIT");
        assert_eq!(job.render(at(3_500)).status, "RUNNING");
        assert_eq!(job.schedule().end, Some(at(4_000)));
        assert_eq!(job.render(at(4_000)).status, "SUCCESS");
    }

    #[test]
    fn generated_ids_are_hex_and_uuids_and_stay_stable() {
        let job = job(
            "{project_id: p1, sub_jobs: [{duration: 1s}, {nic_id: n1, job_type: attachSingleNic}]}",
        );
        assert_eq!(job.job_id().len(), 32);
        assert!(job.job_id().chars().all(|c| c.is_ascii_hexdigit()));
        let subs = &job.spec.sub_jobs;
        assert_eq!(subs[0].server_id.as_deref().map(str::len), Some(36));
        assert_eq!(subs[1].server_id, None);
        assert_eq!(job.render(at(5_000)), job.render(at(5_000)));
        let nic = job.render(at(5_000)).entities.sub_jobs.expect("subs")[1].clone();
        assert_eq!(nic.entities.nic_id.as_deref(), Some("n1"));
    }

    #[test]
    fn spec_errors_name_the_field() {
        let error = serde_yaml_ng::from_str::<JobSpec>("project_id: p\ninit_for: soon\n")
            .expect_err("bad duration");
        let text = error.to_string();
        assert!(
            text.contains("init_for") && text.contains("invalid duration"),
            "{text}"
        );
        let error = serde_yaml_ng::from_str::<JobSpec>("project_id: p\ncolour: red\n")
            .expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `colour`"),
            "{error}"
        );
        let error = Job::new(spec("{project_id: 'a/b'}"), t0()).expect_err("bad project");
        assert!(error.starts_with("project_id:"), "{error}");
        let error = Job::new(spec("{project_id: p, sub_jobs: [{job_id: ''}]}"), t0())
            .expect_err("empty id");
        assert!(error.starts_with("sub_jobs[0].job_id"), "{error}");
    }

    #[test]
    fn durations_accept_text_and_seconds() {
        let parsed: JobSpec =
            serde_json::from_str(r#"{"project_id":"p","init_for":1.5,"duration":"250ms"}"#)
                .expect("parses");
        assert_eq!(parsed.init_for.0, Duration::from_millis(1500));
        assert_eq!(
            parsed.duration.map(|d| d.0),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn the_store_scopes_jobs_by_project_and_refuses_duplicates() {
        let mut store = JobStore::default();
        store
            .insert(job("{project_id: p1, job_id: j}"))
            .expect("first");
        assert!(store.insert(job("{project_id: p1, job_id: j}")).is_err());
        store
            .insert(job("{project_id: p2, job_id: j}"))
            .expect("other project");
        assert!(store.get("p1", "j").is_some());
        assert!(store.get("p3", "j").is_none());
        assert!(store.any_project_has("j"));
        assert_eq!(store.len(), 2);
    }
}
