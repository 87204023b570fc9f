//! Where a BmsJob's credentials come from: its Secret, or the operator's defaults.
//!
//! The Secret is read with a single `get` on every poll (no list or watch of Secrets), so a
//! rotated Secret is used from the next poll on.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::api::conditions::Reason;
use crate::bms::Credentials;
use crate::status::Observation;

pub const ACCESS_KEY: &str = "accessKey";
pub const SECRET_KEY: &str = "secretKey";
pub const SECURITY_TOKEN: &str = "securityToken";

/// Why no credentials could be had; becomes a `Stalled` condition.
pub fn problem(reason: Reason, message: String) -> Observation {
    Observation::Problem { reason, message }
}

fn key(secret: &Secret, name: &str) -> Option<String> {
    let from_data = secret
        .data
        .as_ref()
        .and_then(|data| data.get(name))
        .map(|bytes| String::from_utf8_lossy(&bytes.0).trim().to_owned());
    let from_string_data = || {
        secret
            .string_data
            .as_ref()
            .and_then(|data| data.get(name))
            .map(|text| text.trim().to_owned())
    };
    from_data
        .or_else(from_string_data)
        .filter(|value| !value.is_empty())
}

/// Credentials from a Secret's keys, or the problem that names what to fix.
pub fn from_secret(secret: &Secret, secret_name: &str) -> Result<Credentials, Observation> {
    let missing = |name: &str| {
        problem(
            Reason::SecretKeyMissing,
            format!(
                "Secret {secret_name:?} has no non-empty key {name:?}: add it (keys {ACCESS_KEY}, {SECRET_KEY}, optional {SECURITY_TOKEN})"
            ),
        )
    };
    let access_key = key(secret, ACCESS_KEY).ok_or_else(|| missing(ACCESS_KEY))?;
    let secret_key = key(secret, SECRET_KEY).ok_or_else(|| missing(SECRET_KEY))?;
    Ok(Credentials::new(access_key, secret_key).with_security_token(key(secret, SECURITY_TOKEN)))
}

/// Reads the named Secret, or falls back to the operator's default credentials.
pub async fn resolve(
    secrets: &Api<Secret>,
    namespace: &str,
    secret_name: Option<&str>,
    defaults: Option<&Credentials>,
) -> Result<Result<Credentials, Observation>, kube::Error> {
    let Some(secret_name) = secret_name else {
        return Ok(defaults.cloned().ok_or_else(|| {
            problem(
                Reason::CredentialsMissing,
                "spec.credentialsSecretRef is not set and the operator has no default credentials: name a Secret with keys accessKey and secretKey in spec.credentialsSecretRef".into(),
            )
        }));
    };
    match secrets.get_opt(secret_name).await {
        Ok(Some(secret)) => Ok(from_secret(&secret, secret_name)),
        Ok(None) => Ok(Err(problem(
            Reason::SecretNotFound,
            format!(
                "Secret {secret_name:?} not found in namespace {namespace:?}: create it with keys {ACCESS_KEY} and {SECRET_KEY} (spec.credentialsSecretRef.name)"
            ),
        ))),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(Err(problem(
            Reason::InvalidConfiguration,
            format!(
                "the operator may not read Secret {secret_name:?} in namespace {namespace:?}: grant it get on secrets there"
            ),
        ))),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn a_complete_secret_gives_credentials_with_an_optional_token() {
        let credentials = from_secret(
            &secret(&[
                ("accessKey", "AK"),
                ("secretKey", "SK\n"),
                ("securityToken", "T"),
            ]),
            "creds",
        )
        .expect("complete");
        assert_eq!(credentials.access_key(), "AK");
        assert_eq!(credentials.secret_key(), "SK", "trailing newline trimmed");
        assert_eq!(credentials.security_token(), Some("T"));
    }

    #[test]
    fn a_missing_key_names_the_secret_and_the_key() {
        let Err(Observation::Problem { reason, message }) =
            from_secret(&secret(&[("accessKey", "AK")]), "creds")
        else {
            panic!("expected a problem");
        };
        assert_eq!(reason, Reason::SecretKeyMissing);
        assert!(
            message.contains("\"creds\"") && message.contains("\"secretKey\""),
            "{message}"
        );
    }
}
