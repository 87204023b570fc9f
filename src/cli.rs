//! Command-line interface: `run`, `crd` and `get-job`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Follows Huawei Cloud Bare Metal Server jobs as BmsJob resources.
#[derive(Debug, Parser)]
#[command(name = "bms-job-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller.
    Run(RunArgs),
    /// Print the BmsJob CustomResourceDefinition as YAML.
    Crd,
    /// Ask the cloud for one job and print the status the controller would write, as JSON.
    GetJob(GetJobArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logging flags shared by every subcommand that logs.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log level or filter (`info`, `debug`, `bms_job_operator=trace,kube=info`).
    #[arg(long, env = "BMS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, env = "BMS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Default cloud credentials, from the official SDKs' environment variables
/// `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK` and `HUAWEICLOUD_SDK_SECURITY_TOKEN` (the flags
/// exist but are hidden: a secret on a command line is visible to every process).
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// Access key (AK).
    #[arg(
        long = "access-key",
        env = "HUAWEICLOUD_SDK_AK",
        hide_env_values = true,
        hide = true
    )]
    pub access_key: Option<String>,
    /// Secret key (SK).
    #[arg(
        long = "secret-key",
        env = "HUAWEICLOUD_SDK_SK",
        hide_env_values = true,
        hide = true
    )]
    pub secret_key: Option<String>,
    /// Security token of temporary credentials.
    #[arg(
        long = "security-token",
        env = "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        hide_env_values = true,
        hide = true
    )]
    pub security_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Namespaces to watch, comma-separated; all namespaces when empty.
    #[arg(long, env = "BMS_WATCH_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Kubeconfig file; in-cluster configuration or $KUBECONFIG when absent.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Address of the HTTP server for /metrics, /livez and /readyz.
    #[arg(long, env = "BMS_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Poll interval of BmsJobs without spec.pollInterval.
    #[arg(long, env = "BMS_DEFAULT_POLL_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub default_poll_interval: Duration,
    /// Longest poll interval, however long a job runs.
    #[arg(long, env = "BMS_MAX_POLL_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_poll_interval: Duration,
    /// Cloud requests per second, per endpoint and access key.
    #[arg(long, env = "BMS_CLOUD_RATE_LIMIT", default_value = "10")]
    pub cloud_rate_limit: NonZeroU32,
    /// Cloud requests allowed in a burst, per endpoint and access key.
    #[arg(long, env = "BMS_CLOUD_BURST", default_value = "20")]
    pub cloud_burst: NonZeroU32,
    /// Wait after the first rejected-credentials answer (twice that after the second).
    #[arg(long, env = "BMS_AUTH_RETRY", default_value = "1m", value_parser = humantime::parse_duration)]
    pub auth_retry: Duration,
    /// Pause after three rejected-credentials answers in a row, doubling after each further one.
    #[arg(long, env = "BMS_AUTH_PAUSE", default_value = "10m", value_parser = humantime::parse_duration)]
    pub auth_pause: Duration,
    /// BmsJobs reconciled at once.
    #[arg(long, env = "BMS_CONCURRENCY", default_value = "16")]
    pub concurrency: u16,
    /// Extra CA certificates (PEM) trusted for cloud endpoints.
    #[arg(long, env = "BMS_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Only the holder of a Lease polls and writes; for more than one replica.
    #[arg(long, env = "BMS_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_election_namespace: String,
    /// Name of the Lease.
    #[arg(
        long,
        env = "BMS_LEADER_ELECTION_LEASE_NAME",
        default_value = "bms-job-operator"
    )]
    pub leader_election_lease_name: String,
    /// Lease duration: how long a dead leader keeps the lease.
    #[arg(long, env = "BMS_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub leader_election_lease_duration: Duration,
    /// Identity in the Lease; the host name when absent.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct GetJobArgs {
    /// Project ID.
    #[arg(long)]
    pub project_id: String,
    /// Job ID.
    #[arg(long)]
    pub job_id: String,
    /// Region, e.g. cn-north-4.
    #[arg(
        long,
        conflicts_with = "endpoint",
        required_unless_present = "endpoint"
    )]
    pub region: Option<String>,
    /// Endpoint URL (http or https), for private clouds and simulators.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Extra CA certificates (PEM) to trust.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
}
