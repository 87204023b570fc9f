//! The GitOps health checkers over live objects: `argocd-health` (Argo CD's Lua runtime with
//! `gitops/argocd/health.lua`) and `kstatus-check` (kstatus, as Flux uses it), both built by
//! `hack/build-gitops-checkers.sh`, run on objects fetched with `kubectl get -o json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::ControlPlane;
use super::bmsjobs::{output, run_ok};
use super::tools::tools_bin_dir;

/// The Argo CD health script the checks run.
pub const HEALTH_LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/gitops/argocd/health.lua");

/// What a checker printed: `{"status", "message"}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub message: String,
}

/// Path of a checker binary; panics, telling how to build it, when it is missing.
pub fn checker(name: &str) -> PathBuf {
    let path = tools_bin_dir().join(name);
    assert!(
        path.is_file(),
        "{name} not found at {}: run `make tools` (or hack/build-gitops-checkers.sh) to build it",
        path.display()
    );
    path
}

fn run_checker(mut command: Command, object: &Path) -> Health {
    let result = output(command.arg(object));
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{command:?} failed: {}\n{stdout}\n{}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("{command:?} printed {stdout:?}: {error}"))
}

/// Argo CD's health of the object in `object` (a JSON or YAML file), by `health.lua`.
pub fn argocd_health(object: &Path) -> Health {
    let mut command = Command::new(checker("argocd-health"));
    command.arg("-script").arg(HEALTH_LUA);
    run_checker(command, object)
}

/// kstatus's status of the object in `object` (a JSON or YAML file).
pub fn kstatus(object: &Path) -> Health {
    run_checker(Command::new(checker("kstatus-check")), object)
}

/// Directory the live objects are saved into for inspection: `target/gitops-objects/`.
pub fn objects_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/gitops-objects");
    std::fs::create_dir_all(&dir).expect("creating target/gitops-objects");
    dir
}

/// Fetches BmsJob `name` with `kubectl get -o json` and saves it as `<file_name>.json` in
/// [`objects_dir`]; returns the file's path.
pub fn save_live_bmsjob(
    control_plane: &ControlPlane,
    namespace: &str,
    name: &str,
    file_name: &str,
) -> PathBuf {
    let json = run_ok(
        control_plane
            .kubectl()
            .args(["-n", namespace, "get", "bmsjob", name, "-o", "json"]),
    );
    let path = objects_dir().join(format!("{file_name}.json"));
    std::fs::write(&path, json).expect("saving a live object");
    path
}
