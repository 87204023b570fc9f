//! The operator binary as a child process on the test control plane, with its production code
//! path: `bms-job-operator run` with a kubeconfig, flags and environment, logs kept in a file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ControlPlane;
use super::processes::free_loopback_port;

/// A running operator.
pub struct OperatorProcess {
    child: Option<Child>,
    http_addr: String,
    log_path: PathBuf,
}

/// Flags every end-to-end operator gets: fast polls, quick auth retries, debug logs.
pub fn test_flags(namespace: &str) -> Vec<String> {
    vec![
        format!("--namespaces={namespace}"),
        "--default-poll-interval=2s".into(),
        "--max-poll-interval=5s".into(),
        "--auth-retry=2s".into(),
        "--auth-pause=5m".into(),
        "--log-level=debug".into(),
    ]
}

impl OperatorProcess {
    /// Starts `bms-job-operator run` against `control_plane` with `args` and `env`, and waits
    /// until its HTTP server answers.
    pub fn start(
        control_plane: &ControlPlane,
        kubeconfig: Option<&Path>,
        args: &[String],
        env: &[(&str, &str)],
    ) -> OperatorProcess {
        let port = free_loopback_port().expect("a free port");
        let http_addr = format!("127.0.0.1:{port}");
        let log_path = control_plane
            .work_dir()
            .join(format!("operator-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("operator log file");
        let kubeconfig = kubeconfig.unwrap_or(control_plane.kubeconfig_path());
        let child = Command::new(super::tools::crate_binary("bms-job-operator"))
            .arg("run")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--http-addr={http_addr}"))
            .args(args)
            .env_remove("HUAWEICLOUD_SDK_AK")
            .env_remove("HUAWEICLOUD_SDK_SK")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting bms-job-operator: {error}"));
        let operator = OperatorProcess {
            child: Some(child),
            http_addr,
            log_path,
        };
        operator.wait_for_http();
        operator
    }

    fn wait_for_http(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.http_addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("operator did not serve HTTP; log:\n{}", self.log());
    }

    /// Everything the operator logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// GET on the operator's HTTP server: `(status, body)`.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = super::sim_process::http_client()
            .get(format!("http://{}{path}", self.http_addr))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.get("/readyz").await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("operator never became ready; log:\n{}", self.log());
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
