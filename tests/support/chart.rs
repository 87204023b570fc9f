//! The Helm chart on the test control plane: installs with the real helm, values files,
//! minimal Prometheus Operator CRDs for the monitoring objects, the chart's Deployment read
//! back from the API, and checks that a request was refused by RBAC.

use std::path::PathBuf;
use std::process::Output;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;

use super::ControlPlane;
use super::bmsjobs::output;

/// The chart's directory in this crate.
pub const CHART_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/bms-job-operator");

/// Name of the operator's container in the chart's Deployment.
pub const CONTAINER: &str = "operator";

/// CustomResourceDefinitions for `monitoring.coreos.com/v1` ServiceMonitor and PrometheusRule,
/// with no schema beyond "an object": enough for the API server to store the chart's objects.
const MONITORING_CRDS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names:
    kind: ServiceMonitor
    listKind: ServiceMonitorList
    plural: servicemonitors
    singular: servicemonitor
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names:
    kind: PrometheusRule
    listKind: PrometheusRuleList
    plural: prometheusrules
    singular: prometheusrule
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
";

/// Installs the minimal ServiceMonitor and PrometheusRule CRDs and waits until they are
/// Established (installing them again is harmless).
pub async fn install_monitoring_crds(control_plane: &ControlPlane) {
    let path = control_plane.work_dir().join("monitoring-crds.yaml");
    std::fs::write(&path, MONITORING_CRDS).expect("writing the monitoring CRDs");
    control_plane.install_crd(&path).await;
}

/// Writes a values file named `name` in the control plane's directory; returns its path.
pub fn values_file(control_plane: &ControlPlane, name: &str, yaml: &str) -> PathBuf {
    let dir = control_plane.work_dir().join("helm-values");
    std::fs::create_dir_all(&dir).expect("creating the values directory");
    let path = dir.join(name);
    std::fs::write(&path, yaml).expect("writing a values file");
    path
}

/// `helm install <release> <chart> --namespace <namespace> <args>`, whatever its outcome.
pub fn helm_install(
    control_plane: &ControlPlane,
    release: &str,
    namespace: &str,
    args: &[&str],
) -> Output {
    output(
        control_plane
            .helm()
            .args(["install", release, CHART_DIR, "--namespace", namespace])
            .args(args),
    )
}

/// `helm install` that must succeed; panics with helm's output otherwise.
pub fn helm_install_ok(
    control_plane: &ControlPlane,
    release: &str,
    namespace: &str,
    args: &[&str],
) {
    let result = helm_install(control_plane, release, namespace, args);
    assert!(
        result.status.success(),
        "helm install {release} failed: {}\n{}\n{}",
        result.status,
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The names of every release helm knows in `namespace`, in any state.
pub fn helm_releases(control_plane: &ControlPlane, namespace: &str) -> Vec<String> {
    let result = output(
        control_plane
            .helm()
            .args(["list", "--short", "--namespace", namespace])
            .args(["--deployed", "--failed", "--pending", "--superseded"])
            .args(["--uninstalled", "--uninstalling"]),
    );
    assert!(
        result.status.success(),
        "helm list failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    String::from_utf8_lossy(&result.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The operator container of the chart's Deployment.
pub fn operator_container(deployment: &Deployment) -> &Container {
    deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .and_then(|pod| pod.containers.iter().find(|c| c.name == CONTAINER))
        .unwrap_or_else(|| panic!("no container {CONTAINER:?} in {deployment:?}"))
}

/// The arguments the chart's Deployment gives the operator, for running the binary as the pod
/// would: without `run` and `--http-addr` (the test harness sets those) and without any flag
/// named in `overridden` (the test passes its own value), with `$(POD_NAMESPACE)` expanded as
/// the kubelet would.
pub fn operator_args(
    deployment: &Deployment,
    pod_namespace: &str,
    overridden: &[&str],
) -> Vec<String> {
    let container = operator_container(deployment);
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(
        args.first().map(String::as_str),
        Some("run"),
        "the chart runs `bms-job-operator run`: {args:?}"
    );
    args.into_iter()
        .skip(1)
        .filter(|arg| {
            let flag = arg.split('=').next().unwrap_or_default();
            flag != "--http-addr" && !overridden.contains(&flag)
        })
        .map(|arg| arg.replace("$(POD_NAMESPACE)", pod_namespace))
        .collect()
}

/// The flag names (`--name`) of `args`.
pub fn flag_names(args: &[String]) -> Vec<&str> {
    args.iter()
        .filter_map(|arg| arg.split('=').next())
        .filter(|flag| flag.starts_with("--"))
        .collect()
}

/// Asserts that `result` is the API server's 403 Forbidden.
pub fn assert_forbidden<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        Err(error) => panic!("{what}: expected 403 Forbidden, got the error {error:?}"),
        Ok(value) => panic!("{what}: expected 403 Forbidden, but it was allowed: {value:?}"),
    }
}
