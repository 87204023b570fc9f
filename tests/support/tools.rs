//! Locates the tool binaries the harness runs: kube-apiserver, etcd and helm
//! come from `hack/build-tools.sh`, kubectl from `PATH`.

use std::path::{Path, PathBuf};

/// Environment variable naming the directory that holds the built tools.
pub const TOOLS_BIN_ENV: &str = "BMS_TOOLS_BIN";

/// Environment variable naming the kubectl binary (default: `kubectl` on `PATH`).
pub const KUBECTL_ENV: &str = "KUBECTL";

/// Directory holding kube-apiserver, etcd and helm: `$BMS_TOOLS_BIN`, or else
/// `target/tools/bin` in the crate, where `hack/build-tools.sh` links them.
pub fn tools_bin_dir() -> PathBuf {
    match std::env::var_os(TOOLS_BIN_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin"),
    }
}

/// Path of a tool built by `hack/build-tools.sh`; panics with instructions when
/// it is missing, because tests must not silently skip the real control plane.
pub fn built_tool(name: &str) -> PathBuf {
    let path = tools_bin_dir().join(name);
    if !path.is_file() {
        panic!(
            "{name} not found at {}: run `hack/build-tools.sh` to build it \
             (or point {TOOLS_BIN_ENV} at a directory that holds it)",
            path.display()
        );
    }
    path
}

/// The kubectl binary: `$KUBECTL`, or else `kubectl` from `PATH`.
pub fn kubectl_binary() -> PathBuf {
    match std::env::var_os(KUBECTL_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from("kubectl"),
    }
}

/// One of this crate's own binaries (`bms-job-operator`, `bms-sim`): the one Cargo built for
/// this test, or else the debug build in `target/debug` (for the demo, which is an example).
pub fn crate_binary(name: &str) -> PathBuf {
    let from_cargo = match name {
        "bms-sim" => option_env!("CARGO_BIN_EXE_bms-sim"),
        "bms-job-operator" => option_env!("CARGO_BIN_EXE_bms-job-operator"),
        _ => None,
    };
    let path = from_cargo.map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/debug")
            .join(name)
    });
    if !path.is_file() {
        panic!(
            "{name} not found at {}: run `cargo build --bins`",
            path.display()
        );
    }
    path
}
