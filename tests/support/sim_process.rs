//! `bms-sim` as a child process for end-to-end tests: started on a free port, driven through
//! its admin API, stopped on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Access key the simulator accepts in end-to-end tests.
pub const ACCESS_KEY: &str = "E2EACCESSKEY000000001";
/// Secret key paired with [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "e2eSecretKey0000000000000000000000000001";
/// Project the end-to-end jobs live in.
pub const PROJECT_ID: &str = "0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b";

/// A running simulator.
pub struct SimProcess {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl SimProcess {
    /// Starts `bms-sim` on a free port with the end-to-end credentials and `extra` flags.
    pub fn start(extra: &[&str]) -> SimProcess {
        Self::start_on("127.0.0.1:0", extra)
    }

    /// Starts `bms-sim` listening on `listen`.
    pub fn start_on(listen: &str, extra: &[&str]) -> SimProcess {
        // Built first: nothing below may panic while the child is not yet owned by a guard.
        let http = http_client();
        let mut child = Command::new(super::tools::crate_binary("bms-sim"))
            .args(["--listen", listen])
            .arg(format!("--credential={ACCESS_KEY}:{SECRET_KEY}"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("starting bms-sim: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("reading bms-sim's first line");
        let url = first_line
            .trim()
            .strip_prefix("bms-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from bms-sim: {first_line:?}"))
            .to_owned();
        SimProcess { child, url, http }
    }

    /// The base URL for BmsJob `spec.endpoint`.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).expect("JSON body"));
        }
        let response = request
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|error| panic!("bms-sim admin {path}: {error}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "bms-sim admin {path}: {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Creates a job from a spec (see `docs/bms-sim.md`); returns its id.
    pub async fn create_job(&self, spec: Value) -> String {
        let created = self
            .admin(reqwest::Method::POST, "/admin/jobs", Some(spec))
            .await;
        created["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no job_id in {created}"))
            .to_owned()
    }

    /// Adds a fault (see `docs/bms-sim.md`).
    pub async fn add_fault(&self, fault: Value) {
        self.admin(reqwest::Method::POST, "/admin/faults", Some(fault))
            .await;
    }

    /// The simulator's counters, as JSON.
    pub async fn counters(&self) -> Value {
        self.admin(reqwest::Method::GET, "/admin/counters", None)
            .await
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for test traffic; installs ring as rustls's provider first, as the crate does.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Samples the simulator's counters in the background, to see when requests arrived.
pub struct CounterSampler {
    samples: Arc<Mutex<Vec<(Instant, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CounterSampler {
    pub fn start(sim: &SimProcess, period: Duration) -> CounterSampler {
        let url = format!("{}/admin/counters", sim.url());
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sink = samples.clone();
        let task = tokio::spawn(async move {
            let http = http_client();
            loop {
                let answer = http.get(&url).timeout(Duration::from_secs(5)).send().await;
                if let Ok(response) = answer
                    && let Ok(text) = response.text().await
                    && let Ok(counters) = serde_json::from_str::<Value>(&text)
                {
                    sink.lock()
                        .expect("samples")
                        .push((Instant::now(), counters));
                }
                tokio::time::sleep(period).await;
            }
        });
        CounterSampler { samples, task }
    }

    pub fn samples(&self) -> Vec<(Instant, Value)> {
        self.samples.lock().expect("samples").clone()
    }
}

impl Drop for CounterSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}
