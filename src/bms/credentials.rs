//! AK/SK credentials, kept out of every `Debug` and `Display`.

use std::fmt;

/// An access key pair, with a security token for temporary credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
}

impl Credentials {
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// Adds the `X-Security-Token` of temporary credentials; an empty token counts as none.
    pub fn with_security_token(mut self, token: Option<String>) -> Self {
        self.security_token = token.filter(|token| !token.is_empty());
        self
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }

    /// A short, stable, non-reversible tag for this access key, safe for logs and metrics.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(self.access_key.as_bytes())[..4])
    }

    /// A tag for the whole credential set: changes when the secret key or token is rotated.
    pub fn fingerprint_with_secret(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for part in [
            self.access_key.as_str(),
            self.secret_key.as_str(),
            self.security_token.as_deref().unwrap_or_default(),
        ] {
            digest.update(part.len().to_le_bytes());
            digest.update(part.as_bytes());
        }
        hex::encode(&digest.finalize()[..8])
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("access_key", &format_args!("<{}>", self.fingerprint()))
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let credentials = Credentials::new("AKVISIBLE", "SKSECRET")
            .with_security_token(Some("TOKENSECRET".into()));
        let shown = format!("{credentials:?}");
        for secret in ["AKVISIBLE", "SKSECRET", "TOKENSECRET"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
