//! A real Kubernetes control plane for integration tests: etcd and
//! kube-apiserver (no kubelet, no controller-manager) on free 127.0.0.1 ports,
//! with RBAC, client-certificate admin access and ServiceAccount tokens.
//!
//! [`ControlPlane::shared`] starts one control plane per test binary on first
//! use; [`ControlPlane::start`] starts a private one that [`Drop`] tears down.
//! Both are synchronous and may be called from sync or async tests: start-up
//! runs on its own thread with its own Tokio runtime.
//!
//! Teardown: statics are never dropped, so every start also launches a
//! janitor shell holding the read end of a pipe from the test process. When
//! the test process exits, however it exits, the pipe closes and the janitor
//! stops etcd and kube-apiserver and removes the temporary directory. A
//! private control plane does the same when dropped, which also happens when
//! a test panics.
//!
//! Without a controller-manager nothing reconciles: namespaces are never
//! finalized after deletion, ServiceAccount token Secrets and `default`
//! ServiceAccounts are not created (so [`ControlPlane::create_namespace`]
//! creates `default` itself), and Deployments never get Pods.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::kubeconfig::{Credentials, write_kubeconfig};
use super::pki::{ADMIN_USER, Pki};
use super::processes::{Janitor, LoggedProcess, free_loopback_port};
use super::tools::{built_tool, kubectl_binary};

/// Range that Services get their cluster IPs from.
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/24";

/// Issuer of ServiceAccount tokens.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

const ETCD_READY_TIMEOUT: Duration = Duration::from_secs(30);
const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;
const LOG_TAIL_LINES: usize = 40;

/// A running etcd + kube-apiserver pair and the files to reach it.
///
/// Dropping it tears it down in field order: kube-apiserver is killed, then
/// etcd, then the janitor removes the temporary directory.
#[derive(Debug)]
pub struct ControlPlane {
    apiserver: LoggedProcess,
    etcd: LoggedProcess,
    janitor: Janitor,
    root: PathBuf,
    server_url: String,
    kubeconfig: PathBuf,
    pki: Pki,
}

impl ControlPlane {
    /// The control plane shared by every test of this test binary, started on
    /// first use. Each test should work in its own namespace
    /// ([`ControlPlane::create_namespace`]). Panics if it cannot start.
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Self::start_on_own_thread().map_err(|err| format!("{err:#}"))) {
            Ok(control_plane) => control_plane,
            Err(err) => panic!("the shared test control plane failed to start: {err}"),
        }
    }

    /// Starts a private control plane, stopped and removed on drop. Blocks
    /// until `/readyz` answers ok; panics with the reason (missing binary,
    /// process exit with its log tail, or timeout) if it does not.
    pub fn start() -> ControlPlane {
        Self::start_on_own_thread()
            .unwrap_or_else(|err| panic!("the test control plane failed to start: {err:#}"))
    }

    fn start_on_own_thread() -> Result<ControlPlane> {
        // Find the binaries first: a missing one is a setup error to report
        // as such, not a start-up failure to retry.
        let etcd = built_tool("etcd");
        let apiserver = built_tool("kube-apiserver");
        std::thread::spawn(move || {
            let mut attempt = 1;
            loop {
                match Self::try_start(&etcd, &apiserver) {
                    Ok(control_plane) => return Ok(control_plane),
                    Err(StartError::PortTaken(err)) if attempt < START_ATTEMPTS => {
                        eprintln!("control plane: retrying start after a port clash: {err:#}");
                        attempt += 1;
                    }
                    Err(StartError::PortTaken(err) | StartError::Failed(err)) => return Err(err),
                }
            }
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Starts etcd, then kube-apiserver. On any failure the values built so
    /// far drop in reverse order: processes are killed, then the janitor
    /// removes the directory.
    fn try_start(etcd_binary: &Path, apiserver_binary: &Path) -> Result<ControlPlane, StartError> {
        let root = tempfile::Builder::new()
            .prefix("bms-control-plane-")
            .tempdir()
            .context("creating the control plane's temporary directory")?
            .keep();
        let janitor = Janitor::start(&root).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&root);
        })?;
        let pki = Pki::generate(&root.join("pki"))?;

        let etcd_client_port = free_loopback_port()?;
        let etcd_peer_port = free_loopback_port()?;
        let mut etcd = LoggedProcess::spawn(
            "etcd",
            etcd_binary,
            &etcd_args(&root.join("etcd"), etcd_client_port, etcd_peer_port),
            root.join("etcd.log"),
            &janitor,
        )?;
        wait_for_etcd(&mut etcd, etcd_client_port)?;

        let apiserver_port = free_loopback_port()?;
        let server_url = format!("https://127.0.0.1:{apiserver_port}");
        let kubeconfig = root.join("admin.kubeconfig");
        write_kubeconfig(
            &kubeconfig,
            &server_url,
            &pki.ca_cert,
            ADMIN_USER,
            Credentials::ClientCertificate {
                cert: &pki.admin_cert,
                key: &pki.admin_key,
            },
        )?;
        let mut apiserver = LoggedProcess::spawn(
            "kube-apiserver",
            apiserver_binary,
            &apiserver_args(&pki, apiserver_port, etcd_client_port),
            root.join("kube-apiserver.log"),
            &janitor,
        )?;
        wait_for_apiserver(&mut apiserver, &kubeconfig)?;

        Ok(ControlPlane {
            apiserver,
            etcd,
            janitor,
            root,
            server_url,
            kubeconfig,
            pki,
        })
    }

    /// `https://127.0.0.1:<port>` of the API server.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Kubeconfig of the admin user (a client certificate in `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// CA certificate that signed the API server's serving certificate.
    pub fn ca_cert_path(&self) -> &Path {
        &self.pki.ca_cert
    }

    /// Temporary directory of this control plane, removed at teardown; tests
    /// may put files there.
    pub fn work_dir(&self) -> &Path {
        &self.root
    }

    /// The last lines of the API server's log, for failure messages.
    pub fn apiserver_log_tail(&self) -> String {
        self.apiserver.log_tail(LOG_TAIL_LINES)
    }

    /// A new admin client. Each call builds a fresh client because a client
    /// is tied to the Tokio runtime that created it, and each test has its own.
    pub async fn client(&self) -> kube::Client {
        client_for_kubeconfig(&self.kubeconfig)
            .await
            .unwrap_or_else(|err| panic!("building the admin client: {err:#}"))
    }

    /// `kubectl --kubeconfig=<admin kubeconfig>`, ready for more arguments.
    pub fn kubectl(&self) -> Command {
        let mut kubectl = Command::new(kubectl_binary());
        kubectl.arg(format!("--kubeconfig={}", self.kubeconfig.display()));
        kubectl
    }

    /// `helm` with `KUBECONFIG` set to the admin kubeconfig (a `--kubeconfig`
    /// argument overrides it) and its cache, config and data directories
    /// inside this control plane's temporary directory.
    pub fn helm(&self) -> Command {
        let helm_home = self.root.join("helm");
        let mut helm = Command::new(built_tool("helm"));
        helm.env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", helm_home.join("cache"))
            .env("HELM_CONFIG_HOME", helm_home.join("config"))
            .env("HELM_DATA_HOME", helm_home.join("data"));
        helm
    }
}

/// Builds a client from a kubeconfig file.
pub async fn client_for_kubeconfig(path: &Path) -> Result<kube::Client> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    kube::Client::try_from(config).context("building a client")
}

fn etcd_args(data_dir: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=test".into(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=test={peer_url}"),
        "--initial-cluster-state=new".into(),
        // Test data is thrown away: skip fsync for speed.
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

fn apiserver_args(pki: &Pki, port: u16, etcd_client_port: u16) -> Vec<String> {
    let path = |path: &Path| path.display().to_string();
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_client_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", path(&pki.serving_cert)),
        format!("--tls-private-key-file={}", path(&pki.serving_key)),
        format!("--client-ca-file={}", path(&pki.ca_cert)),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
        format!(
            "--service-account-key-file={}",
            path(&pki.service_account_public_key)
        ),
        format!(
            "--service-account-signing-key-file={}",
            path(&pki.service_account_key)
        ),
        format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
        // Endpoints may not hold loopback addresses, and nothing here needs
        // the `kubernetes` Service to have any.
        "--endpoint-reconciler-type=none".into(),
        "--profiling=false".into(),
    ]
}

/// Polls etcd's `/health` until it reports healthy.
fn wait_for_etcd(etcd: &mut LoggedProcess, client_port: u16) -> Result<(), StartError> {
    let deadline = Instant::now() + ETCD_READY_TIMEOUT;
    loop {
        check_running(etcd)?;
        if etcd_is_healthy(client_port) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(not_ready(etcd, ETCD_READY_TIMEOUT, "/health"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn etcd_is_healthy(client_port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, client_port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut response = String::new();
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .and_then(|()| stream.read_to_string(&mut response))
        .is_ok()
        && response.contains(r#""health":"true""#)
}

/// Polls the API server's `/readyz` as the admin until it answers `ok`.
fn wait_for_apiserver(apiserver: &mut LoggedProcess, kubeconfig: &Path) -> Result<(), StartError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a Tokio runtime")?;
    runtime.block_on(async {
        let client = client_for_kubeconfig(kubeconfig).await?;
        let deadline = Instant::now() + APISERVER_READY_TIMEOUT;
        loop {
            check_running(apiserver)?;
            let request = http::Request::get("/readyz").body(Vec::new()).unwrap();
            if let Ok(body) = client.request_text(request).await
                && body.trim() == "ok"
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(not_ready(apiserver, APISERVER_READY_TIMEOUT, "/readyz"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

fn check_running(process: &mut LoggedProcess) -> Result<(), StartError> {
    let Some(status) = process.exit_status() else {
        return Ok(());
    };
    let err = anyhow!(
        "{} exited during start-up ({status}); last lines of its log:\n{}",
        process.name(),
        process.log_tail(LOG_TAIL_LINES)
    );
    Err(if process.lost_port_race() {
        StartError::PortTaken(err)
    } else {
        StartError::Failed(err)
    })
}

fn not_ready(process: &LoggedProcess, timeout: Duration, endpoint: &str) -> StartError {
    StartError::Failed(anyhow!(
        "{} did not answer {endpoint} within {} s; last lines of its log:\n{}",
        process.name(),
        timeout.as_secs(),
        process.log_tail(LOG_TAIL_LINES)
    ))
}

/// Why a start attempt failed: a port clash is worth another attempt.
enum StartError {
    PortTaken(anyhow::Error),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(err: anyhow::Error) -> Self {
        StartError::Failed(err)
    }
}

impl From<std::io::Error> for StartError {
    fn from(err: std::io::Error) -> Self {
        StartError::Failed(err.into())
    }
}
