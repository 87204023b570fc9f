//! Condition types and reasons: the vocabulary that `kubectl wait`, kstatus and Argo CD read.
//!
//! Reasons are CamelCase and stable; tools and alerts match on them.

/// The job succeeded.
pub const READY: &str = "Ready";
/// The job failed, or the BmsJob's timeout passed.
pub const FAILED: &str = "Failed";
/// A person must act: the job failed, or the BmsJob cannot make progress as configured.
pub const STALLED: &str = "Stalled";
/// The operator is still following the job.
pub const RECONCILING: &str = "Reconciling";

/// Every condition type the operator sets, in the order it writes them.
pub const ALL_TYPES: [&str; 4] = [READY, RECONCILING, FAILED, STALLED];

/// Why a condition has its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not polled yet.
    Initializing,
    /// `INIT`: accepted, not started.
    JobPending,
    /// `RUNNING`.
    JobRunning,
    /// `PENDING_PAYMENT`: a prepaid order awaits payment.
    PendingPayment,
    /// A status this operator does not know; polling goes on.
    UnknownJobStatus,
    /// `SUCCESS`.
    JobSucceeded,
    /// `FAIL`.
    JobFailed,
    /// `spec.timeout` passed before the job finished.
    DeadlineExceeded,
    /// The credentials Secret does not exist.
    SecretNotFound,
    /// The credentials Secret lacks a key.
    SecretKeyMissing,
    /// No Secret named and the operator has no default credentials.
    CredentialsMissing,
    /// The cloud rejected the credentials.
    CredentialsRejected,
    /// The cloud knows no such job in that project.
    JobNotFound,
    /// The request is wrong for the cloud: project mismatch, bad endpoint or CA.
    InvalidConfiguration,
    /// The cloud could not be reached or failed; retrying with backoff.
    CloudUnavailable,
    /// The cloud asked us to slow down; retrying later.
    CloudThrottled,
    /// The cloud answered with something that is not a job; retrying with backoff.
    InvalidCloudResponse,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "Initializing",
            Self::JobPending => "JobPending",
            Self::JobRunning => "JobRunning",
            Self::PendingPayment => "PendingPayment",
            Self::UnknownJobStatus => "UnknownJobStatus",
            Self::JobSucceeded => "JobSucceeded",
            Self::JobFailed => "JobFailed",
            Self::DeadlineExceeded => "DeadlineExceeded",
            Self::SecretNotFound => "SecretNotFound",
            Self::SecretKeyMissing => "SecretKeyMissing",
            Self::CredentialsMissing => "CredentialsMissing",
            Self::CredentialsRejected => "CredentialsRejected",
            Self::JobNotFound => "JobNotFound",
            Self::InvalidConfiguration => "InvalidConfiguration",
            Self::CloudUnavailable => "CloudUnavailable",
            Self::CloudThrottled => "CloudThrottled",
            Self::InvalidCloudResponse => "InvalidCloudResponse",
        }
    }

    /// Whether this reason means a person must act (the `Stalled` condition is true).
    pub fn needs_a_person(self) -> bool {
        matches!(
            self,
            Self::JobFailed
                | Self::DeadlineExceeded
                | Self::SecretNotFound
                | Self::SecretKeyMissing
                | Self::CredentialsMissing
                | Self::CredentialsRejected
                | Self::JobNotFound
                | Self::InvalidConfiguration
        )
    }
}
