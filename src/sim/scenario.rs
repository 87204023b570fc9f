//! The scenario file read at start-up: credentials, tokens, jobs and faults.
//!
//! YAML (`.yaml`, `.yml`) or JSON (`.json`), chosen by extension. Unknown fields are refused,
//! and every error names the file and the field, with the line and column the parser gives.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::auth::SimCredential;
use super::faults::FaultSpec;
use super::jobs::JobSpec;

/// Everything a scenario file can declare.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Access keys accepted, besides `--credential`.
    #[serde(default)]
    pub credentials: Vec<SimCredential>,
    /// `X-Auth-Token` values accepted, besides `--token`.
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub jobs: Vec<JobSpec>,
    /// Faults in force from the start.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
}

/// The syntax of a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// The format of a file, by its extension.
    pub fn of(path: &Path) -> Result<Self, String> {
        match path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("yaml" | "yml") => Ok(Self::Yaml),
            Some("json") => Ok(Self::Json),
            _ => Err("unknown extension: name the file *.yaml, *.yml or *.json".into()),
        }
    }
}

impl Scenario {
    /// Reads, parses and checks a scenario file; the error starts with the file's name.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let format = Format::of(path).map_err(|error| format!("scenario {shown}: {error}"))?;
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("scenario {shown}: cannot read: {error}"))?;
        Self::parse(&text, format).map_err(|error| format!("scenario {shown}: {error}"))
    }

    /// Parses and checks scenario text.
    pub fn parse(text: &str, format: Format) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let scenario: Self = match format {
            Format::Yaml => {
                let deserializer = serde_yaml_ng::Deserializer::from_str(text);
                serde_path_to_error::deserialize(deserializer).map_err(|error| {
                    describe(error.path().to_string(), error.inner().to_string())
                })?
            }
            Format::Json => {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                    describe(error.path().to_string(), error.inner().to_string())
                })?
            }
        };
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks what serde cannot; the message starts with the offending field.
    pub fn validate(&self) -> Result<(), String> {
        for (index, credential) in self.credentials.iter().enumerate() {
            credential
                .validate()
                .map_err(|error| format!("credentials[{index}].{error}"))?;
        }
        for (index, token) in self.tokens.iter().enumerate() {
            if token.trim().is_empty() {
                return Err(format!("tokens[{index}]: must not be empty"));
            }
        }
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        for (index, job) in self.jobs.iter().enumerate() {
            job.validate()
                .map_err(|error| format!("jobs[{index}].{error}"))?;
            if let Some(job_id) = job.job_id.as_deref()
                && let Some(first) = seen.insert((job.project_id.as_str(), job_id), index)
            {
                return Err(format!(
                    "jobs[{index}].job_id: {job_id} is already used by jobs[{first}] in project {}",
                    job.project_id
                ));
            }
        }
        for (index, fault) in self.faults.iter().enumerate() {
            fault
                .validate()
                .map_err(|error| format!("faults[{index}].{error}"))?;
        }
        Ok(())
    }
}

/// `path: message`; a path the parser already put at the front (maybe shorter) is replaced.
fn describe(path: String, message: String) -> String {
    if path.is_empty() || path == "." {
        return message;
    }
    let rest = match message.split_once(": ") {
        Some((head, rest)) if !head.contains(' ') && path.starts_with(head) => rest,
        _ => message.as_str(),
    };
    format!("{path}: {rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<Scenario, String> {
        Scenario::parse(text, Format::Yaml)
    }

    #[test]
    fn a_full_scenario_parses() {
        let scenario = yaml(
            r#"
credentials:
  - {access_key: AK1, secret_key: SK1}
  - {access_key: AK2, secret_key: SK2, security_token: TOKEN2}
tokens: [t1]
jobs:
  - project_id: p1
    job_id: j1
    init_for: 1s
    sub_jobs:
      - {server_id: s1, duration: 2s}
faults:
  - {kind: latency, latency_ms: 10, count: 2}
"#,
        )
        .expect("parses");
        assert_eq!(scenario.credentials.len(), 2);
        assert_eq!(scenario.jobs[0].sub_jobs.len(), 1);
        assert_eq!(scenario.faults[0].count, Some(2));
        assert_eq!(yaml("").expect("empty"), Scenario::default());
    }

    #[test]
    fn json_parses_too_and_errors_carry_line_and_column() {
        let scenario = Scenario::parse(
            r#"{"jobs": [{"project_id": "p", "duration": "1s"}]}"#,
            Format::Json,
        )
        .expect("parses");
        assert_eq!(scenario.jobs.len(), 1);
        let error = Scenario::parse(
            "{\"jobs\": [\n  {\"project_id\": \"p\", \"init_for\": \"later\"}\n]}",
            Format::Json,
        )
        .expect_err("bad duration");
        assert!(error.contains("jobs[0].init_for"), "{error}");
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn yaml_errors_name_field_line_and_column() {
        let error = yaml("jobs:\n  - project_id: p\n    init_for: soon\n").expect_err("duration");
        assert!(error.contains("jobs[0].init_for"), "{error}");
        assert!(error.contains("invalid duration"), "{error}");
        assert!(error.contains("line 3"), "{error}");
        let error = yaml("jobs:\n  - project_id: p\n    colour: red\n").expect_err("unknown");
        assert!(error.contains("unknown field `colour`"), "{error}");
        assert!(
            error.starts_with("jobs[0].colour: unknown field"),
            "{error}"
        );
        assert!(error.contains("line 3"), "{error}");
        let error = yaml("jobs: [\n").expect_err("syntax");
        assert!(error.contains("line"), "{error}");
        let error = yaml("faults:\n  - kind: explode\n").expect_err("kind");
        assert!(error.contains("faults[0].kind"), "{error}");
        assert!(
            error.contains("server_error") && error.contains("flow_control"),
            "{error}"
        );
    }

    #[test]
    fn checks_name_the_offending_entry() {
        let error = yaml("jobs:\n  - {project_id: p, job_id: j}\n  - {project_id: p, job_id: j}\n")
            .expect_err("duplicate");
        assert!(error.starts_with("jobs[1].job_id:"), "{error}");
        let error = yaml("faults:\n  - {kind: server_error, status: 200}\n").expect_err("status");
        assert!(error.starts_with("faults[0].status:"), "{error}");
        let error =
            yaml("credentials:\n  - {access_key: AK, secret_key: ''}\n").expect_err("empty sk");
        assert!(error.starts_with("credentials[0].secret_key:"), "{error}");
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(Format::of(Path::new("a.yml")), Ok(Format::Yaml));
        assert_eq!(Format::of(Path::new("a.YAML")), Ok(Format::Yaml));
        assert_eq!(Format::of(Path::new("a.json")), Ok(Format::Json));
        assert!(Format::of(Path::new("a.toml")).is_err());
    }
}
