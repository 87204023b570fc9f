//! `get-job`: one request to the job endpoint, printed as the status the controller would write.

use crate::bms::{BmsClient, ClientOptions, CloudError, Credentials, region_endpoint};
use crate::cli::{CredentialArgs, GetJobArgs};
use crate::status::{Observation, StatusInput, next_status};

/// Why `get-job` did not print a status; its `Display` is the one line printed to stderr.
#[derive(Debug, thiserror::Error)]
pub enum GetJobError {
    #[error("HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK must be set")]
    MissingCredentials,
    #[error("reading --ca-file {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Cloud(#[from] CloudError),
}

/// The default credentials named by flags or the SDK environment variables.
pub fn credentials(args: &CredentialArgs) -> Option<Credentials> {
    let access_key = args.access_key.clone().filter(|ak| !ak.is_empty())?;
    let secret_key = args.secret_key.clone().filter(|sk| !sk.is_empty())?;
    Some(Credentials::new(access_key, secret_key).with_security_token(args.security_token.clone()))
}

/// Reads a PEM bundle for `--ca-file`.
pub fn read_ca(path: Option<&std::path::Path>) -> Result<Option<Vec<u8>>, GetJobError> {
    path.map(|path| {
        std::fs::read(path).map_err(|source| GetJobError::CaFile {
            path: path.display().to_string(),
            source,
        })
    })
    .transpose()
}

/// Asks for the job and returns the status as pretty JSON.
pub async fn get_job(args: &GetJobArgs) -> Result<String, GetJobError> {
    let credentials = credentials(&args.credentials).ok_or(GetJobError::MissingCredentials)?;
    let endpoint = match (&args.endpoint, &args.region) {
        (Some(endpoint), _) => endpoint.clone(),
        (None, Some(region)) => region_endpoint(region),
        (None, None) => {
            return Err(CloudError::Config("--region or --endpoint is required".into()).into());
        }
    };
    let options = ClientOptions {
        ca_pem: read_ca(args.ca_file.as_deref())?,
        ..ClientOptions::default()
    };
    let client = BmsClient::new(&endpoint, options)?;
    let job = client
        .get_job(&args.project_id, &args.job_id, &credentials)
        .await?;
    let status = next_status(&StatusInput {
        previous: None,
        generation: None,
        observation: &Observation::Job(Box::new(job)),
        deadline_passed: None,
        now: jiff::Timestamp::now(),
    });
    Ok(serde_json::to_string_pretty(&status).unwrap_or_default())
}
