//! The `bms-sim` command line, and its translation into a [`SimConfig`].
//!
//! Credentials given on the command line or in `BMS_SIM_CREDENTIALS` are read here rather than
//! by clap, so that an error never repeats a secret key, and `--help` never shows the
//! environment's values.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use super::auth::SimCredential;
use super::clock::SystemClock;
use super::lockout::LockoutPolicy;
use super::scenario::Scenario;
use super::server::SimConfig;

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error} (write e.g. \"30s\", \"5m\", \"1h\")"))
}

/// A simulator of the Huawei Cloud BMS job API (`GET /v1/{project_id}/jobs/{job_id}`).
///
/// It verifies SDK-HMAC-SHA256 signatures like the API gateway (with access-key lockout),
/// serves jobs whose status evolves with time, injects faults on demand and counts every
/// request. On start it prints one line to stdout, `bms-sim listening on http://ADDR`; logs go
/// to stderr. The admin API (`/admin/jobs`, `/admin/faults`, `/admin/counters`,
/// `/admin/credentials`), `/metrics` and `/healthz` share the listener and are not
/// authenticated: listen on loopback.
#[derive(Debug, Clone, Parser)]
#[command(name = "bms-sim", version, about, long_about)]
pub struct Cli {
    /// Address to listen on (port 0 picks a free port, shown in the listening line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// An accepted access key, `AK:SK`, or `AK:SK:TOKEN` for temporary credentials (requests
    /// must then send and sign `X-Security-Token: TOKEN`). Repeatable; the environment
    /// variable takes a comma-separated list.
    #[arg(
        long = "credential",
        value_name = "AK:SK[:TOKEN]",
        env = "BMS_SIM_CREDENTIALS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub credentials: Vec<String>,

    /// An accepted IAM token: requests with `X-Auth-Token: TOKEN` (and no `Authorization`)
    /// are authenticated. Repeatable; the environment variable takes a comma-separated list.
    #[arg(
        long = "token",
        value_name = "TOKEN",
        env = "BMS_SIM_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// Scenario file (`.yaml`, `.yml` or `.json`) with jobs, and optionally credentials,
    /// tokens and faults in force from the start. Read once at start-up; an error stops it.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Consecutive authentication failures that lock an access key (0: never lock).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub lockout_failures: u32,

    /// How long a locked access key is refused, even with a correct signature.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub lockout_duration: Duration,

    /// Largest accepted difference between `X-Sdk-Date` and the simulator's clock.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub max_clock_skew: Duration,

    /// Requests per second accepted on the job endpoint, all clients together; more are
    /// answered 429 `APIG.0308` with `Retry-After`. Unlimited when omitted.
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<NonZeroU32>,

    /// Log format on stderr (filter with `RUST_LOG`, default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Cli {
    /// The configuration this command line describes; the error names the flag, entry or file.
    pub fn config(&self) -> Result<SimConfig, String> {
        let mut credentials = Vec::new();
        for (index, text) in self
            .credentials
            .iter()
            .filter(|text| !text.trim().is_empty())
            .enumerate()
        {
            let credential = SimCredential::parse(text).map_err(|error| {
                format!(
                    "--credential / BMS_SIM_CREDENTIALS entry {}: {error}",
                    index + 1
                )
            })?;
            credentials.push(credential);
        }
        let tokens: Vec<String> = self
            .tokens
            .iter()
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty())
            .collect();
        let scenario = match &self.scenario {
            Some(path) => Scenario::load(path)?,
            None => Scenario::default(),
        };
        Ok(SimConfig {
            listen: self.listen,
            credentials,
            tokens,
            scenario,
            lockout: LockoutPolicy {
                failures: self.lockout_failures,
                duration: self.lockout_duration,
            },
            max_clock_skew: self.max_clock_skew,
            rate_limit: self.rate_limit,
            clock: Arc::new(SystemClock),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_a_config() {
        let cli = Cli::try_parse_from([
            "bms-sim",
            "--listen",
            "127.0.0.1:0",
            "--credential",
            "AK1:SK1",
            "--credential",
            "AK2:SK2:TOKEN2",
            "--token",
            "t1",
            "--lockout-failures",
            "3",
            "--lockout-duration",
            "3s",
            "--max-clock-skew",
            "1m",
            "--rate-limit",
            "10",
        ])
        .expect("parses");
        let config = cli.config().expect("config");
        assert_eq!(config.credentials.len(), 2);
        assert_eq!(
            config.credentials[1].security_token.as_deref(),
            Some("TOKEN2")
        );
        assert_eq!(config.tokens, vec!["t1".to_owned()]);
        assert_eq!(config.lockout.failures, 3);
        assert_eq!(config.lockout.duration, Duration::from_secs(3));
        assert_eq!(config.max_clock_skew, Duration::from_secs(60));
        assert_eq!(config.rate_limit.map(NonZeroU32::get), Some(10));
    }

    #[test]
    fn a_malformed_credential_is_named_without_its_secret() {
        let cli = Cli::try_parse_from([
            "bms-sim",
            "--credential",
            "AK1:SK1",
            "--credential",
            "NOCOLONSECRET",
        ])
        .expect("parses");
        let error = cli.config().expect_err("malformed");
        assert!(error.contains("entry 2"), "{error}");
        assert!(!error.contains("NOCOLONSECRET"), "{error}");
    }
}
