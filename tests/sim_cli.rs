//! The `bms-sim` binary: `--help`, start-up errors that name the file, line and field, the
//! single listening line on stdout, JSON logs on stderr and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// reqwest is built without a default TLS crypto provider: install one before any client.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

const BIN: &str = env!("CARGO_BIN_EXE_bms-sim");

/// A child process killed if the test fails before it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("BMS_SIM_CREDENTIALS")
        .env_remove("BMS_SIM_TOKENS")
        .stdin(Stdio::null())
        .output()
        .expect("bms-sim runs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario");
    path.to_string_lossy().into_owned()
}

/// Runs with a scenario that must be refused; returns stderr.
fn refused(args: &[&str]) -> String {
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "args {args:?}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout when refusing to start"
    );
    stderr
}

#[test]
fn help_explains_every_flag() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--credential",
        "--token",
        "--scenario",
        "--lockout-failures",
        "--lockout-duration",
        "--max-clock-skew",
        "--rate-limit",
        "--log-format",
        "BMS_SIM_CREDENTIALS",
        "AK:SK[:TOKEN]",
        "[default: 127.0.0.1:8080]",
        "[default: 5]",
        "[default: 5m]",
        "[default: 15m]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn help_never_shows_credentials_from_the_environment() {
    let output = Command::new(BIN)
        .arg("--help")
        .env("BMS_SIM_CREDENTIALS", "ENVAK:ENVSECRETKEY")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(!help.contains("ENVSECRETKEY"), "{help}");
}

#[test]
fn a_malformed_yaml_scenario_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(
        dir.path(),
        "broken.yaml",
        "jobs:\n  - project_id: p\n    sub_jobs: [\n",
    );
    let stderr = refused(&["--scenario", &path]);
    assert!(stderr.contains("broken.yaml"), "{stderr}");
    assert!(stderr.contains("line"), "{stderr}");
}

#[test]
fn an_unknown_field_is_named_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(
        dir.path(),
        "unknown.yaml",
        "jobs:\n  - project_id: p\n    job_id: j\n    colour: red\n",
    );
    let stderr = refused(&["--scenario", &path]);
    assert!(stderr.contains("jobs[0].colour"), "{stderr}");
    assert!(stderr.contains("unknown field"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");
}

#[test]
fn a_bad_duration_names_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(
        dir.path(),
        "duration.yaml",
        "jobs:\n  - project_id: p\n    sub_jobs:\n      - duration: soonish\n",
    );
    let stderr = refused(&["--scenario", &path]);
    assert!(stderr.contains("jobs[0].sub_jobs[0].duration"), "{stderr}");
    assert!(stderr.contains("invalid duration"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");

    let json = write(
        dir.path(),
        "duration.json",
        "{\"jobs\": [\n  {\"project_id\": \"p\", \"init_for\": \"later\"}\n]}\n",
    );
    let stderr = refused(&["--scenario", &json]);
    assert!(stderr.contains("duration.json"), "{stderr}");
    assert!(stderr.contains("jobs[0].init_for"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn an_unknown_fault_name_lists_the_valid_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(
        dir.path(),
        "faults.yaml",
        "faults:\n  - kind: server_error\n    count: 1\n  - kind: meltdown\n",
    );
    let stderr = refused(&["--scenario", &path]);
    assert!(stderr.contains("faults[1].kind"), "{stderr}");
    assert!(stderr.contains("meltdown"), "{stderr}");
    for kind in [
        "server_error",
        "throttle",
        "drop_connection",
        "flow_control",
    ] {
        assert!(stderr.contains(kind), "{stderr}");
    }
}

#[test]
fn other_start_up_errors_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let duplicate = write(
        dir.path(),
        "dup.yaml",
        "jobs:\n  - {project_id: p, job_id: j}\n  - {project_id: p, job_id: j}\n",
    );
    let stderr = refused(&["--scenario", &duplicate]);
    assert!(stderr.contains("jobs[1].job_id"), "{stderr}");
    let toml = write(dir.path(), "scenario.toml", "");
    let stderr = refused(&["--scenario", &toml]);
    assert!(
        stderr.contains("scenario.toml") && stderr.contains(".yaml"),
        "{stderr}"
    );
    let stderr = refused(&["--scenario", "/nonexistent/scenario.yaml"]);
    assert!(stderr.contains("/nonexistent/scenario.yaml"), "{stderr}");
}

#[test]
fn a_malformed_credential_is_refused_without_echoing_it() {
    let stderr = refused(&[
        "--credential",
        "AK1:SK1",
        "--credential",
        "JUSTASECRETVALUE",
    ]);
    assert!(stderr.contains("--credential"), "{stderr}");
    assert!(stderr.contains("entry 2"), "{stderr}");
    assert!(!stderr.contains("JUSTASECRETVALUE"), "{stderr}");
    let output = Command::new(BIN)
        .env("BMS_SIM_CREDENTIALS", "AK1:SK1,AK2:")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BMS_SIM_CREDENTIALS") && stderr.contains("AK2"),
        "{stderr}"
    );
}

#[test]
fn it_prints_one_line_serves_logs_json_and_stops_on_sigterm() {
    install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write(
        dir.path(),
        "ok.json",
        r#"{"jobs": [{"project_id": "p1", "job_id": "j1", "duration": "1h"}]}"#,
    );
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--scenario",
                &scenario,
                "--token",
                "tok",
                "--log-format",
                "json",
            ])
            .env("BMS_SIM_CREDENTIALS", "ENVAK:ENVSECRETKEY")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("listening line");
    let url = line
        .trim_end()
        .strip_prefix("bms-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"), "the real port is shown: {url}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}/v1/p1/jobs/j1"))
            .header("X-Auth-Token", "tok")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("request")
            .status()
    });
    assert_eq!(status, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "bms-sim did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit}");

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout");
    assert_eq!(rest, "", "exactly one line on stdout");
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(!stderr.contains("ENVSECRETKEY"), "{stderr}");
    assert!(!stderr.trim().is_empty(), "logs go to stderr");
    for log_line in stderr.lines() {
        let parsed: serde_json::Value = serde_json::from_str(log_line)
            .unwrap_or_else(|error| panic!("log line is not JSON ({error}): {log_line}"));
        assert!(parsed.get("level").is_some(), "{log_line}");
    }
}
