//! Kubeconfig files for the test control plane: one authenticating with a
//! client certificate (the admin), one with a bearer token (a ServiceAccount).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// Name of the cluster entry in every kubeconfig the harness writes.
const CLUSTER_NAME: &str = "bms-test";

/// How a kubeconfig user proves its identity.
pub enum Credentials<'a> {
    ClientCertificate { cert: &'a Path, key: &'a Path },
    Token(&'a str),
}

/// Writes a kubeconfig at `path` whose only context talks to `server`, trusts
/// the CA in `ca_cert`, and authenticates as `user` with `credentials`.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_cert: &Path,
    user: &str,
    credentials: Credentials<'_>,
) -> Result<()> {
    let user_entry = match credentials {
        Credentials::ClientCertificate { cert, key } => json!({
            "client-certificate": cert,
            "client-key": key,
        }),
        Credentials::Token(token) => json!({ "token": token }),
    };
    let kubeconfig: Value = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": CLUSTER_NAME,
            "cluster": { "server": server, "certificate-authority": ca_cert },
        }],
        "users": [{ "name": user, "user": user_entry }],
        "contexts": [{
            "name": user,
            "context": { "cluster": CLUSTER_NAME, "user": user },
        }],
        "current-context": user,
    });
    let yaml = serde_yaml_ng::to_string(&kubeconfig).context("serializing kubeconfig")?;
    // Owner-only, as kubectl and helm expect of a file holding credentials.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(yaml.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}
