//! The Helm chart installed with the real helm on a real kube-apiserver with RBAC: the objects
//! it creates, its schema refusing wrong values at install time, and its RBAC being enough for
//! the operator (run as a process with the chart's ServiceAccount and the Deployment's own
//! arguments) to reconcile BmsJobs, while everything else is refused.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use bms_job_operator::api::BmsJob;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchParams,
};
use kube::{Api, Client};
use serde_json::json;
use support::bmsjobs::{
    condition_status, create_secret, kubectl_apply, manifest, run_ok, wait_for,
};
use support::chart::{
    assert_forbidden, flag_names, helm_install, helm_install_ok, helm_releases,
    install_monitoring_crds, operator_args, operator_container, values_file,
};
use support::operator_process::{OperatorProcess, test_flags};
use support::sim_process::{PROJECT_ID, SimProcess};
use support::{ControlPlane, client_for_kubeconfig};

const WAIT: Duration = Duration::from_secs(60);
const CRD_NAME: &str = "bmsjobs.bms.operator.dev";

/// The chart's full name for `release` (release name plus chart name).
fn fullname(release: &str) -> String {
    format!("{release}-bms-job-operator")
}

fn rule(group: &str, resource: &str, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(vec![resource.to_owned()]),
        verbs: verbs.iter().map(|verb| (*verb).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// Everything the operator may do with BmsJobs, Secrets and Events: README's "least privilege".
fn watch_rules() -> Vec<PolicyRule> {
    vec![
        rule("bms.operator.dev", "bmsjobs", &["get", "list", "watch"]),
        rule("bms.operator.dev", "bmsjobs/status", &["patch"]),
        rule("", "secrets", &["get"]),
        rule("events.k8s.io", "events", &["create", "patch"]),
        rule("", "events", &["create", "patch"]),
    ]
}

fn lease_rules() -> Vec<PolicyRule> {
    vec![rule(
        "coordination.k8s.io",
        "leases",
        &["get", "create", "update", "patch"],
    )]
}

/// The test flags for fast polls, without `--namespaces` (the chart's arguments say which).
fn fast_flags() -> Vec<String> {
    test_flags("")
        .into_iter()
        .filter(|flag| !flag.starts_with("--namespaces"))
        .collect()
}

/// Makes the namespace enforce the restricted Pod Security profile.
async fn enforce_restricted(client: &Client, namespace: &str) {
    let patch = json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }}});
    Api::<Namespace>::all(client.clone())
        .patch(namespace, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("labelling the namespace");
}

/// The Deployment's pod template as a Pod, created with a server-side dry run in `namespace`.
async fn dry_run_pod(
    client: &Client,
    namespace: &str,
    deployment: &Deployment,
    strip_security: bool,
) -> Result<Pod, kube::Error> {
    let template = deployment
        .spec
        .as_ref()
        .expect("Deployment spec")
        .template
        .clone();
    let mut spec = template.spec.expect("pod template spec");
    if strip_security {
        spec.security_context = None;
        for container in &mut spec.containers {
            container.security_context = None;
        }
    }
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("pod-security-check".into()),
            labels: template.metadata.and_then(|metadata| metadata.labels),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        ..Pod::default()
    };
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&params, &pod)
        .await
}

/// Checks the chart's Deployment: one replica, the ServiceAccount, the restricted security
/// context, probes; and that the real API server's Pod Security admission accepts its pods
/// under `restricted` (and refuses them without the security context, so the check bites).
async fn check_deployment(client: &Client, namespace: &str, release: &str) -> Deployment {
    let name = fullname(release);
    let deployment = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("Deployment {namespace}/{name}: {error}"));
    let spec = deployment.spec.as_ref().expect("Deployment spec");
    assert_eq!(spec.replicas, Some(1));
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.service_account_name.as_deref(), Some(name.as_str()));
    let pod_security = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(pod_security.run_as_user, Some(65532));
    assert_eq!(
        pod_security
            .seccomp_profile
            .as_ref()
            .map(|profile| profile.type_.as_str()),
        Some("RuntimeDefault")
    );
    let container = operator_container(&deployment);
    let security = container
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.privileged, Some(false));
    assert_eq!(
        security
            .capabilities
            .as_ref()
            .and_then(|capabilities| capabilities.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(
        security
            .seccomp_profile
            .as_ref()
            .map(|profile| profile.type_.as_str()),
        Some("RuntimeDefault")
    );
    let probe_path = |probe: Option<&k8s_openapi::api::core::v1::Probe>| {
        probe
            .and_then(|probe| probe.http_get.as_ref())
            .map(|get| get.path.clone().unwrap_or_default())
    };
    assert_eq!(
        probe_path(container.liveness_probe.as_ref()).as_deref(),
        Some("/livez")
    );
    assert_eq!(
        probe_path(container.readiness_probe.as_ref()).as_deref(),
        Some("/readyz")
    );
    assert!(
        container
            .resources
            .as_ref()
            .is_some_and(|resources| resources.limits.is_some() && resources.requests.is_some()),
        "resource requests and limits: {container:?}"
    );

    enforce_restricted(client, namespace).await;
    if let Err(error) = dry_run_pod(client, namespace, &deployment, false).await {
        panic!("Pod Security `restricted` refuses the chart's pod: {error}");
    }
    match dry_run_pod(client, namespace, &deployment, true).await {
        Err(kube::Error::Api(status)) if status.message.contains("PodSecurity") => {}
        other => panic!(
            "a pod without the security context should violate PodSecurity restricted: {other:?}"
        ),
    }
    deployment
}

async fn check_service_account_and_service(client: &Client, namespace: &str, release: &str) {
    let name = fullname(release);
    Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("ServiceAccount {namespace}/{name}: {error}"));
    let service = Api::<Service>::namespaced(client.clone(), namespace)
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("Service {namespace}/{name}: {error}"));
    let spec = service.spec.expect("Service spec");
    let selector = spec.selector.expect("Service selector");
    assert_eq!(
        selector
            .get("app.kubernetes.io/instance")
            .map(String::as_str),
        Some(release)
    );
    let ports = spec.ports.expect("Service ports");
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0].port, 8080);
    assert_eq!(
        ports[0].target_port,
        Some(IntOrString::String("http".into()))
    );
}

/// The chart installed its CRD from `crds/`, and it is Established.
async fn check_crd(client: &Client) {
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get(CRD_NAME)
        .await
        .unwrap_or_else(|error| panic!("the chart's CRD {CRD_NAME}: {error}"));
    let established = crd
        .status
        .and_then(|status| status.conditions)
        .unwrap_or_default()
        .iter()
        .any(|condition| condition.type_ == "Established" && condition.status == "True");
    assert!(established, "CRD {CRD_NAME} not Established");
}

fn assert_binds_service_account(
    what: &str,
    subjects: Option<&Vec<k8s_openapi::api::rbac::v1::Subject>>,
    namespace: &str,
    account: &str,
) {
    let subjects = subjects.unwrap_or_else(|| panic!("{what}: no subjects"));
    assert_eq!(subjects.len(), 1, "{what}: {subjects:?}");
    assert_eq!(subjects[0].kind, "ServiceAccount", "{what}");
    assert_eq!(subjects[0].name, account, "{what}");
    assert_eq!(subjects[0].namespace.as_deref(), Some(namespace), "{what}");
}

/// Roles in `namespace` that belong to `release`.
async fn release_roles(client: &Client, namespace: &str, release: &str) -> Vec<Role> {
    Api::<Role>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={release}")))
        .await
        .expect("listing Roles")
        .items
}

/// Waits until the operator has published Event `reason` on BmsJob `name`.
async fn wait_for_event(client: &Client, namespace: &str, name: &str, reason: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = events
            .list(&ListParams::default())
            .await
            .expect("listing Events");
        if list.items.iter().any(|event| {
            event.reason.as_deref() == Some(reason)
                && event
                    .regarding
                    .as_ref()
                    .is_some_and(|regarding| regarding.name.as_deref() == Some(name))
        }) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no Event {reason} on {namespace}/{name}: {:?}",
            list.items
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn assert_no_forbidden_requests(operator: &OperatorProcess) {
    let log = operator.log();
    assert!(
        !log.to_ascii_lowercase().contains("forbidden"),
        "the operator was refused a request its work needs:\n{log}"
    );
}

/// Starts the operator as the chart's pod would run: the Deployment's arguments, the
/// ServiceAccount's kubeconfig, `POD_NAME` and `POD_NAMESPACE`; plus fast polls.
async fn start_operator_as_the_chart(
    control_plane: &ControlPlane,
    deployment: &Deployment,
    namespace: &str,
    pod_name: &str,
) -> (OperatorProcess, std::path::PathBuf) {
    let account = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .and_then(|pod| pod.service_account_name.clone())
        .expect("the Deployment names its ServiceAccount");
    let kubeconfig = control_plane
        .service_account_kubeconfig(namespace, &account)
        .await;
    let flags = fast_flags();
    let mut args = operator_args(deployment, namespace, &flag_names(&flags));
    args.extend(flags);
    let operator = OperatorProcess::start(
        control_plane,
        Some(&kubeconfig),
        &args,
        &[("POD_NAME", pod_name), ("POD_NAMESPACE", namespace)],
    );
    operator.wait_ready().await;
    (operator, kubeconfig)
}

/// Runs a simulator job that succeeds and a BmsJob for it in `namespace`; waits for Ready.
async fn reconcile_one(
    control_plane: &ControlPlane,
    sim: &SimProcess,
    namespace: &str,
    name: &str,
) {
    let job_id = sim
        .create_job(json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": [{"job_type": "baremetalSingleCreate", "duration": "1s"}]}))
        .await;
    let applied = kubectl_apply(
        control_plane,
        &manifest(namespace, name, sim.url(), &job_id, ""),
    );
    assert!(
        applied.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, namespace);
    wait_for(&api, name, WAIT, "Ready", |job| {
        condition_status(job, "Ready").as_deref() == Some("True")
    })
    .await;
}

/// Requests outside the chart's RBAC, with the ServiceAccount's kubeconfig: each gets 403.
async fn assert_refused_outside_rbac(
    kubeconfig: &Path,
    namespace: &str,
    bmsjob: &str,
    foreign_lease_namespaces: &[&str],
) {
    let client = client_for_kubeconfig(kubeconfig)
        .await
        .expect("ServiceAccount client");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    // The one thing it may do with Secrets: read one by name.
    secrets
        .get("bms-credentials")
        .await
        .expect("getting the named Secret is allowed");
    assert_forbidden(
        "listing Secrets",
        secrets.list(&ListParams::default()).await.map(|_| ()),
    );
    assert_forbidden(
        "watching Secrets",
        secrets
            .watch(&WatchParams::default(), "0")
            .await
            .map(|_| "a watch stream"),
    );
    let all_secrets: Api<Secret> = Api::all(client.clone());
    assert_forbidden(
        "listing Secrets in all namespaces",
        all_secrets.list(&ListParams::default()).await.map(|_| ()),
    );
    assert_forbidden(
        "watching Secrets in all namespaces",
        all_secrets
            .watch(&WatchParams::default(), "0")
            .await
            .map(|_| "a watch stream"),
    );

    let jobs: Api<BmsJob> = Api::namespaced(client.clone(), namespace);
    let mut job = jobs.get(bmsjob).await.expect("getting a BmsJob is allowed");
    job.spec.poll_interval = Some("7s".into());
    assert_forbidden(
        "updating a BmsJob's spec",
        jobs.replace(bmsjob, &PostParams::default(), &job)
            .await
            .map(|_| ()),
    );
    assert_forbidden(
        "patching a BmsJob's spec",
        jobs.patch(
            bmsjob,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"pollInterval": "7s"}})),
        )
        .await
        .map(|_| ()),
    );
    assert_forbidden(
        "deleting a BmsJob",
        jobs.delete(bmsjob, &DeleteParams::default())
            .await
            .map(|_| ()),
    );

    for foreign_lease_namespace in foreign_lease_namespaces {
        let leases: Api<Lease> = Api::namespaced(client.clone(), foreign_lease_namespace);
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some("bms-job-operator".into()),
                ..ObjectMeta::default()
            },
            ..Lease::default()
        };
        assert_forbidden(
            &format!("creating a Lease in namespace {foreign_lease_namespace}"),
            leases
                .create(&PostParams::default(), &lease)
                .await
                .map(|_| ()),
        );
        assert_forbidden(
            &format!("applying a Lease in namespace {foreign_lease_namespace}"),
            leases
                .patch(
                    "bms-job-operator",
                    &PatchParams::apply("bms-job-operator").force(),
                    &Patch::Apply(
                        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": "bms-job-operator"},
                        "spec": {"holderIdentity": "intruder"}}),
                    ),
                )
                .await
                .map(|_| ()),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_install_grants_roles_in_watched_namespaces_only_and_they_suffice() {
    let control_plane = ControlPlane::shared();
    let client = control_plane.client().await;
    install_monitoring_crds(control_plane).await;
    let release_namespace = control_plane.create_namespace("bms-operators").await;
    let team = control_plane.create_namespace("team").await;
    let other = control_plane.create_namespace("other").await;
    let release = "bms-ns";
    let values = values_file(
        control_plane,
        "namespaced.yaml",
        &format!(
            "watchNamespaces:
  - {team}
serviceMonitor:
  enabled: true
prometheusRule:
  enabled: true
grafanaDashboard:
  enabled: true
"
        ),
    );
    helm_install_ok(
        control_plane,
        release,
        &release_namespace,
        &["--values", &values.display().to_string()],
    );
    let name = fullname(release);

    check_crd(&client).await;
    let deployment = check_deployment(&client, &release_namespace, release).await;
    check_service_account_and_service(&client, &release_namespace, release).await;
    let args = operator_container(&deployment)
        .args
        .clone()
        .unwrap_or_default();
    assert!(
        args.contains(&format!("--namespaces={team}")),
        "the operator watches only {team}: {args:?}"
    );
    assert!(
        !args.iter().any(|arg| arg.starts_with("--leader-election")),
        "{args:?}"
    );

    // No cluster-wide rights at all: a Role and RoleBinding in the watched namespace only.
    assert!(
        Api::<ClusterRole>::all(client.clone())
            .get_opt(&name)
            .await
            .expect("reading ClusterRoles")
            .is_none(),
        "no ClusterRole in namespaced mode"
    );
    assert!(
        Api::<ClusterRoleBinding>::all(client.clone())
            .get_opt(&name)
            .await
            .expect("reading ClusterRoleBindings")
            .is_none(),
        "no ClusterRoleBinding in namespaced mode"
    );
    let role = Api::<Role>::namespaced(client.clone(), &team)
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("Role {team}/{name}: {error}"));
    assert_eq!(role.rules, Some(watch_rules()));
    let binding = Api::<RoleBinding>::namespaced(client.clone(), &team)
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("RoleBinding {team}/{name}: {error}"));
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(binding.role_ref.name, name);
    assert_binds_service_account(
        "RoleBinding",
        binding.subjects.as_ref(),
        &release_namespace,
        &name,
    );
    assert!(release_roles(&client, &other, release).await.is_empty());
    assert!(
        release_roles(&client, &release_namespace, release)
            .await
            .is_empty(),
        "no Lease Role without leader election"
    );

    // Monitoring objects, stored through the minimal CRDs.
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        let resource =
            ApiResource::from_gvk(&GroupVersionKind::gvk("monitoring.coreos.com", "v1", kind));
        let object =
            Api::<DynamicObject>::namespaced_with(client.clone(), &release_namespace, &resource)
                .get(&name)
                .await
                .unwrap_or_else(|error| panic!("{kind} {release_namespace}/{name}: {error}"));
        assert!(object.data.get("spec").is_some(), "{kind}: {object:?}");
    }
    let dashboard = Api::<ConfigMap>::namespaced(client.clone(), &release_namespace)
        .get(&format!("{name}-dashboard"))
        .await
        .expect("the dashboard ConfigMap");
    assert_eq!(
        dashboard
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get("grafana_dashboard"))
            .map(String::as_str),
        Some("1")
    );

    // The operator with the chart's ServiceAccount reconciles a BmsJob in the watched namespace.
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &team, "bms-credentials", None);
    create_secret(control_plane, &other, "bms-credentials", None);
    let (mut operator, kubeconfig) = start_operator_as_the_chart(
        control_plane,
        &deployment,
        &release_namespace,
        "bms-ns-operator-0",
    )
    .await;
    reconcile_one(control_plane, &sim, &team, "via-roles").await;
    wait_for_event(&client, &team, "via-roles", "Succeeded").await;

    // Without leader election the chart grants no Lease, not even in its own namespace.
    assert_refused_outside_rbac(
        &kubeconfig,
        &team,
        "via-roles",
        &[&team, &release_namespace],
    )
    .await;
    // Nothing at all outside the watched namespace.
    let account = client_for_kubeconfig(&kubeconfig)
        .await
        .expect("ServiceAccount client");
    assert_forbidden(
        "listing BmsJobs in an unwatched namespace",
        Api::<BmsJob>::namespaced(account.clone(), &other)
            .list(&ListParams::default())
            .await
            .map(|_| ()),
    );
    assert_forbidden(
        "listing BmsJobs in all namespaces",
        Api::<BmsJob>::all(account.clone())
            .list(&ListParams::default())
            .await
            .map(|_| ()),
    );
    assert_forbidden(
        "reading a Secret in an unwatched namespace",
        Api::<Secret>::namespaced(account, &other)
            .get("bms-credentials")
            .await
            .map(|_| ()),
    );

    assert_no_forbidden_requests(&operator);
    assert!(operator.terminate(), "operator stopped cleanly");

    // Uninstalling removes the chart's objects but leaves the CRD and the BmsJobs.
    run_ok(
        control_plane
            .helm()
            .args(["uninstall", release, "--namespace", &release_namespace]),
    );
    assert!(helm_releases(control_plane, &release_namespace).is_empty());
    assert!(
        Api::<Deployment>::namespaced(client.clone(), &release_namespace)
            .get_opt(&name)
            .await
            .expect("reading Deployments")
            .is_none(),
        "the Deployment is gone"
    );
    assert!(
        Api::<Role>::namespaced(client.clone(), &team)
            .get_opt(&name)
            .await
            .expect("reading Roles")
            .is_none(),
        "the Role in the watched namespace is gone"
    );
    check_crd(&client).await;
    Api::<BmsJob>::namespaced(client.clone(), &team)
        .get("via-roles")
        .await
        .expect("the BmsJob outlives the release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_install_with_leader_election_reconciles_anywhere_and_refuses_the_rest() {
    // A cluster-wide operator would also reconcile the BmsJobs of the other tests on the shared
    // control plane, so this test has a control plane of its own.
    let control_plane = ControlPlane::start();
    let client = control_plane.client().await;
    let release_namespace = control_plane.create_namespace("bms-system").await;
    let team = control_plane.create_namespace("team").await;
    let release = "bms";
    helm_install_ok(
        &control_plane,
        release,
        &release_namespace,
        &["--set", "leaderElection.enabled=true"],
    );
    let name = fullname(release);

    check_crd(&client).await;
    let deployment = check_deployment(&client, &release_namespace, release).await;
    check_service_account_and_service(&client, &release_namespace, release).await;
    let args = operator_container(&deployment)
        .args
        .clone()
        .unwrap_or_default();
    for expected in [
        "--leader-election".to_owned(),
        "--leader-election-namespace=$(POD_NAMESPACE)".to_owned(),
        format!("--leader-election-lease-name={name}"),
    ] {
        assert!(args.contains(&expected), "{expected} in {args:?}");
    }
    assert!(
        !args.iter().any(|arg| arg.starts_with("--namespaces")),
        "all namespaces: {args:?}"
    );

    let cluster_role = Api::<ClusterRole>::all(client.clone())
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("ClusterRole {name}: {error}"));
    assert_eq!(cluster_role.rules, Some(watch_rules()));
    let cluster_binding = Api::<ClusterRoleBinding>::all(client.clone())
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("ClusterRoleBinding {name}: {error}"));
    assert_eq!(cluster_binding.role_ref.kind, "ClusterRole");
    assert_eq!(cluster_binding.role_ref.name, name);
    assert_binds_service_account(
        "ClusterRoleBinding",
        cluster_binding.subjects.as_ref(),
        &release_namespace,
        &name,
    );
    let lease_role_name = format!("{name}-leader-election");
    let roles = release_roles(&client, &release_namespace, release).await;
    assert_eq!(
        roles
            .iter()
            .map(|role| role.metadata.name.as_deref().unwrap_or_default())
            .collect::<Vec<_>>(),
        [lease_role_name.as_str()],
        "only the Lease Role in the release namespace"
    );
    assert_eq!(roles[0].rules, Some(lease_rules()));
    let lease_binding = Api::<RoleBinding>::namespaced(client.clone(), &release_namespace)
        .get(&lease_role_name)
        .await
        .unwrap_or_else(|error| panic!("RoleBinding {lease_role_name}: {error}"));
    assert_eq!(lease_binding.role_ref.name, lease_role_name);
    assert_binds_service_account(
        "Lease RoleBinding",
        lease_binding.subjects.as_ref(),
        &release_namespace,
        &name,
    );
    assert!(release_roles(&client, &team, release).await.is_empty());

    // The operator with the chart's ServiceAccount takes the Lease and reconciles a BmsJob in
    // a namespace the chart never heard of.
    let sim = SimProcess::start(&[]);
    create_secret(&control_plane, &team, "bms-credentials", None);
    let pod_name = "bms-operator-7d9f-abcde";
    let (mut operator, kubeconfig) =
        start_operator_as_the_chart(&control_plane, &deployment, &release_namespace, pod_name)
            .await;
    let lease = Api::<Lease>::namespaced(client.clone(), &release_namespace)
        .get(&name)
        .await
        .unwrap_or_else(|error| panic!("Lease {release_namespace}/{name}: {error}"));
    assert_eq!(
        lease.spec.and_then(|spec| spec.holder_identity).as_deref(),
        Some(pod_name)
    );
    reconcile_one(&control_plane, &sim, &team, "via-cluster-role").await;
    wait_for_event(&client, &team, "via-cluster-role", "Succeeded").await;

    assert_refused_outside_rbac(&kubeconfig, &team, "via-cluster-role", &[&team, "default"]).await;

    assert_no_forbidden_requests(&operator);
    assert!(operator.terminate(), "operator stopped cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrongly_typed_value_is_refused_at_install_naming_the_field_and_leaves_no_release() {
    let control_plane = ControlPlane::shared();
    let client = control_plane.client().await;
    let namespace = control_plane.create_namespace("refused").await;
    let cases = [
        (
            "replica-count",
            "replicaCount: \"two\"\n",
            "'/replicaCount'",
            "want integer",
        ),
        (
            "metrics-port",
            "metrics:\n  port: \"8080\"\n",
            "'/metrics/port'",
            "want integer",
        ),
        (
            "watch-namespaces",
            "watchNamespaces: team-a\n",
            "'/watchNamespaces'",
            "want array",
        ),
        (
            "leader-election",
            "leaderElection:\n  enabled: \"yes\"\n",
            "'/leaderElection/enabled'",
            "want boolean",
        ),
    ];
    for (release, yaml, field, problem) in cases {
        let values = values_file(control_plane, &format!("{release}.yaml"), yaml);
        let result = helm_install(
            control_plane,
            release,
            &namespace,
            &["--values", &values.display().to_string()],
        );
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(
            !result.status.success(),
            "helm install accepted {yaml:?}: {}",
            String::from_utf8_lossy(&result.stdout)
        );
        assert!(
            stderr.contains(field) && stderr.contains(problem),
            "helm's refusal of {yaml:?} should name {field} ({problem}):\n{stderr}"
        );
        let status = support::bmsjobs::output(control_plane.helm().args([
            "status",
            release,
            "--namespace",
            &namespace,
        ]));
        assert!(
            !status.status.success(),
            "helm status finds a release {release} after the refusal"
        );
    }
    assert_eq!(
        helm_releases(control_plane, &namespace),
        Vec::<String>::new()
    );
    let deployments = Api::<Deployment>::namespaced(client.clone(), &namespace)
        .list(&ListParams::default())
        .await
        .expect("listing Deployments");
    assert!(deployments.items.is_empty(), "{:?}", deployments.items);
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), &namespace)
        .list(&ListParams::default())
        .await
        .expect("listing ServiceAccounts");
    let names: Vec<_> = accounts
        .items
        .iter()
        .filter_map(|account| account.metadata.name.clone())
        .collect();
    assert_eq!(names, ["default"], "only the namespace's own account");
    let release_secrets = Api::<Secret>::namespaced(client, &namespace)
        .list(&ListParams::default().labels("owner=helm"))
        .await
        .expect("listing Secrets");
    assert!(
        release_secrets.items.is_empty(),
        "no release record: {:?}",
        release_secrets
            .items
            .iter()
            .map(|secret| secret.metadata.name.clone())
            .collect::<Vec<_>>()
    );
}
