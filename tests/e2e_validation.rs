//! The API server itself refuses invalid BmsJobs, with messages that name the field.

mod support;

use support::ControlPlane;
use support::bmsjobs::kubectl_apply;

fn control_plane() -> &'static ControlPlane {
    support::bmsjobs::shared_control_plane_with_crd()
}

fn manifest(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: bms.operator.dev/v1alpha1\nkind: BmsJob\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{spec}"
    )
}

const VALID: &str = "  projectId: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b\n  jobId: ff8080817c1a2b3c017c1a2b3c4d0001\n  region: cn-north-4\n";

/// Applies a manifest that must be refused, and returns kubectl's error text.
fn refused(control_plane: &ControlPlane, manifest: &str) -> String {
    let result = kubectl_apply(control_plane, manifest);
    assert!(!result.status.success(), "accepted:\n{manifest}");
    String::from_utf8_lossy(&result.stderr).into_owned()
}

#[tokio::test]
async fn invalid_manifests_are_refused_with_the_field_named() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("invalid").await;
    let cases = [
        (
            "missing-job-id",
            "  projectId: p1\n  region: cn-north-4\n",
            vec!["spec.jobId", "Required value"],
        ),
        (
            "empty-project",
            "  projectId: \"\"\n  jobId: j1\n  region: cn-north-4\n",
            vec!["spec.projectId"],
        ),
        (
            "bad-job-id",
            "  projectId: p1\n  jobId: \"job/../x\"\n  region: cn-north-4\n",
            vec!["spec.jobId", "should match"],
        ),
        (
            "both",
            "  projectId: p1\n  jobId: j1\n  region: cn-north-4\n  endpoint: https://bms.example.com\n",
            vec!["spec.region or spec.endpoint"],
        ),
        (
            "neither",
            "  projectId: p1\n  jobId: j1\n",
            vec!["spec.region or spec.endpoint"],
        ),
        (
            "negative-interval",
            &format!("{VALID}  pollInterval: -5s\n"),
            vec!["spec.pollInterval"],
        ),
        (
            "too-fast",
            &format!("{VALID}  pollInterval: 500ms\n"),
            vec!["spec.pollInterval", "between 2s and 1h"],
        ),
        (
            "bad-endpoint",
            "  projectId: p1\n  jobId: j1\n  endpoint: ftp://x\n",
            vec!["spec.endpoint"],
        ),
    ];
    for (name, spec, expected) in cases {
        let error = refused(control_plane, &manifest(&namespace, name, spec));
        for text in expected {
            assert!(error.contains(text), "{name}: {text:?} not in:\n{error}");
        }
    }
}

#[tokio::test]
async fn project_and_job_ids_are_immutable() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("immutable").await;
    let original = manifest(&namespace, "fixed", VALID);
    assert!(kubectl_apply(control_plane, &original).status.success());
    let changed_job = original.replace(
        "ff8080817c1a2b3c017c1a2b3c4d0001",
        "ff8080817c1a2b3c017c1a2b3c4d9999",
    );
    let error = refused(control_plane, &changed_job);
    assert!(error.contains("spec.jobId is immutable"), "{error}");
    let changed_project = original.replace(
        "0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b",
        "1b8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b",
    );
    let error = refused(control_plane, &changed_project);
    assert!(error.contains("spec.projectId is immutable"), "{error}");
    // Other fields may change.
    let longer = format!("{original}  pollInterval: 30s\n");
    assert!(kubectl_apply(control_plane, &longer).status.success());
}
