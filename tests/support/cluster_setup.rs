//! Objects tests set up on the control plane through the admin client:
//! per-test namespaces, CRDs from YAML files, and kubeconfigs that act as a
//! ServiceAccount (for RBAC tests).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde::Deserialize;

use super::control_plane::ControlPlane;
use super::kubeconfig::{Credentials, write_kubeconfig};

/// Field manager of the objects the harness applies.
const FIELD_MANAGER: &str = "bms-test-harness";
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifetime requested for ServiceAccount tokens; longer than any test run.
const TOKEN_LIFETIME_SECONDS: i64 = 24 * 60 * 60;

impl ControlPlane {
    /// Creates a namespace named `<prefix>-<n>`, unique in this test process,
    /// with its `default` ServiceAccount (no controller-manager creates it).
    pub async fn create_namespace(&self, prefix: &str) -> String {
        let name = unique_namespace_name(prefix);
        let client = self.client().await;
        create_namespace_with_default_account(&client, &name)
            .await
            .unwrap_or_else(|err| panic!("creating namespace {name}: {err:#}"));
        name
    }

    /// Applies the CustomResourceDefinition(s) in the YAML file at `path`
    /// (server-side apply, so installing twice is fine) and waits until each
    /// is Established.
    pub async fn install_crd(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        install_crds_from_file(&self.client().await, path)
            .await
            .unwrap_or_else(|err| panic!("installing CRDs from {}: {err:#}", path.display()));
    }

    /// Writes a kubeconfig that authenticates as ServiceAccount `name` in
    /// `namespace` with a token from the TokenRequest API, creating the
    /// ServiceAccount if missing. It has only the rights RBAC grants it.
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        self.try_service_account_kubeconfig(namespace, name)
            .await
            .unwrap_or_else(|err| {
                panic!("writing a kubeconfig for ServiceAccount {namespace}/{name}: {err:#}")
            })
    }

    async fn try_service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client().await, namespace);
        create_if_missing(&accounts, &service_account(name)).await?;
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(TOKEN_LIFETIME_SECONDS),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let token = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .context("requesting a token")?
            .status
            .and_then(|status| status.token)
            .context("the TokenRequest came back without a token")?;

        let dir = self.work_dir().join("kubeconfigs");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{namespace}.{name}.kubeconfig"));
        write_kubeconfig(
            &path,
            self.server_url(),
            self.ca_cert_path(),
            &format!("system:serviceaccount:{namespace}:{name}"),
            Credentials::Token(&token),
        )?;
        Ok(path)
    }
}

/// `<prefix>-<n>` with the prefix cut down to a DNS label's alphabet.
fn unique_namespace_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut label: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(48)
        .collect();
    label = label.trim_matches('-').to_string();
    if label.is_empty() {
        label = "test".into();
    }
    format!("{label}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn create_namespace_with_default_account(client: &Client, name: &str) -> Result<()> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
    create_if_missing(&accounts, &service_account("default")).await
}

fn service_account(name: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    }
}

async fn create_if_missing(accounts: &Api<ServiceAccount>, account: &ServiceAccount) -> Result<()> {
    match accounts.create(&PostParams::default(), account).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(err.into()),
    }
}

async fn install_crds_from_file(client: &Client, path: &Path) -> Result<()> {
    let yaml = std::fs::read_to_string(path).context("reading the file")?;
    let mut crds = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&yaml) {
        let value = serde_yaml_ng::Value::deserialize(document).context("parsing YAML")?;
        if value.is_null() {
            continue;
        }
        let crd: CustomResourceDefinition =
            serde_yaml_ng::from_value(value).context("parsing a CustomResourceDefinition")?;
        crds.push(crd);
    }
    if crds.is_empty() {
        bail!("the file holds no CustomResourceDefinition");
    }

    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in &crds {
        let name = crd.metadata.name.as_deref().context("a CRD has no name")?;
        api.patch(name, &params, &Patch::Apply(crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
    }
    for crd in &crds {
        let name = crd.metadata.name.as_deref().unwrap_or_default();
        tokio::time::timeout(
            CRD_ESTABLISHED_TIMEOUT,
            await_condition(api.clone(), name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| {
            format!(
                "CRD {name} not Established within {} s",
                CRD_ESTABLISHED_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("watching CRD {name}"))?;
    }
    Ok(())
}
