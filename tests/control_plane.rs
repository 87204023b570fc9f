//! Proves the test control plane: the real API server at the expected
//! version, RBAC enforcement for ServiceAccounts, namespaces, CRDs, kubectl,
//! helm, and teardown of a private control plane.

mod support;

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use support::{ControlPlane, client_for_kubeconfig};

const KUBERNETES_VERSION: &str = "v1.36.3";

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("running {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("command output is UTF-8")
}

#[tokio::test]
async fn api_server_reports_the_pinned_kubernetes_version() {
    let control_plane = ControlPlane::shared();
    let version = control_plane
        .client()
        .await
        .apiserver_version()
        .await
        .expect("GET /version");
    assert_eq!(version.git_version, KUBERNETES_VERSION);
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "36")
    );
}

#[tokio::test]
async fn created_namespace_exists_with_its_default_service_account() {
    let control_plane = ControlPlane::shared();
    let namespace = control_plane.create_namespace("harness-namespace").await;
    let client = control_plane.client().await;

    let created = Api::<Namespace>::all(client.clone())
        .get(&namespace)
        .await
        .expect("the namespace exists");
    assert_eq!(created.metadata.name.as_deref(), Some(namespace.as_str()));
    Api::<ServiceAccount>::namespaced(client, &namespace)
        .get("default")
        .await
        .expect("the default ServiceAccount exists");

    let second = control_plane.create_namespace("harness-namespace").await;
    assert_ne!(namespace, second, "namespace names are unique");
}

#[tokio::test]
async fn rbac_refuses_a_service_account_until_a_role_binding_allows_it() {
    let control_plane = ControlPlane::shared();
    let namespace = control_plane.create_namespace("harness-rbac").await;
    let kubeconfig = control_plane
        .service_account_kubeconfig(&namespace, "secret-reader")
        .await;
    let reader = client_for_kubeconfig(&kubeconfig)
        .await
        .expect("a client from the ServiceAccount kubeconfig");
    let secrets: Api<Secret> = Api::namespaced(reader, &namespace);

    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing Secrets without a RoleBinding must be forbidden: {other:?}"),
    }

    grant_secret_listing(control_plane.client().await, &namespace, "secret-reader").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match secrets.list(&ListParams::default()).await {
            Ok(_) => break,
            Err(err) if Instant::now() < deadline => {
                eprintln!("not allowed yet: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("listing Secrets after the RoleBinding: {err}"),
        }
    }
}

async fn grant_secret_listing(admin: Client, namespace: &str, service_account: &str) {
    let metadata = ObjectMeta {
        name: Some("secret-listing".into()),
        ..ObjectMeta::default()
    };
    let role = Role {
        metadata: metadata.clone(),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: vec!["list".into()],
            ..PolicyRule::default()
        }]),
    };
    let binding = RoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "secret-listing".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: service_account.into(),
            namespace: Some(namespace.into()),
            ..Subject::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), namespace)
        .create(&PostParams::default(), &role)
        .await
        .expect("creating the Role");
    Api::<RoleBinding>::namespaced(admin, namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("creating the RoleBinding");
}

#[tokio::test]
async fn installed_crd_is_established() {
    let control_plane = ControlPlane::shared();
    let crd_file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(
        crd_file.path(),
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.harness.example.com
spec:
  group: harness.example.com
  names: { kind: Widget, plural: widgets, singular: widget, listKind: WidgetList }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#,
    )
    .expect("writing the CRD");

    control_plane.install_crd(crd_file.path()).await;
    control_plane.install_crd(crd_file.path()).await;

    let crd = Api::<CustomResourceDefinition>::all(control_plane.client().await)
        .get("widgets.harness.example.com")
        .await
        .expect("the CRD exists");
    let established = crd
        .status
        .and_then(|status| status.conditions)
        .unwrap_or_default()
        .into_iter()
        .any(|condition| condition.type_ == "Established" && condition.status == "True");
    assert!(established);
}

#[tokio::test]
async fn kubectl_works_with_the_admin_kubeconfig() {
    let control_plane = ControlPlane::shared();
    let namespace = control_plane.create_namespace("harness-kubectl").await;
    let output = run(control_plane
        .kubectl()
        .args(["get", "namespace", &namespace, "-o", "name"]));
    assert_eq!(output.trim(), format!("namespace/{namespace}"));

    run(control_plane.kubectl().args([
        "create",
        "configmap",
        "from-kubectl",
        "--namespace",
        &namespace,
        "--from-literal=key=value",
    ]));
    let value = run(control_plane.kubectl().args([
        "get",
        "configmap",
        "from-kubectl",
        "--namespace",
        &namespace,
        "-o",
        "jsonpath={.data.key}",
    ]));
    assert_eq!(value, "value");
}

#[test]
fn helm_talks_to_the_control_plane() {
    let control_plane = ControlPlane::shared();
    let version = run(control_plane.helm().args(["version", "--short"]));
    assert!(version.starts_with("v4.3.2"), "helm version: {version}");
    run(control_plane.helm().args(["list", "--all-namespaces"]));
}

#[test]
fn private_control_plane_is_removed_on_drop() {
    let control_plane = ControlPlane::start();
    let work_dir = control_plane.work_dir().to_path_buf();
    let address = control_plane
        .server_url()
        .trim_start_matches("https://")
        .to_string();
    assert!(work_dir.is_dir());
    TcpStream::connect(&address).expect("the API server listens");

    drop(control_plane);

    assert!(!work_dir.exists(), "{} was not removed", work_dir.display());
    assert!(
        TcpStream::connect(&address).is_err(),
        "the API server still listens on {address}"
    );
}
