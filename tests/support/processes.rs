//! The control plane's child processes: free loopback ports, children that log
//! to files, and a janitor that stops them and removes their directory even
//! when the test process ends without running destructors.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use anyhow::{Context, Result};

/// Asks the kernel for a currently free TCP port on 127.0.0.1. Another process
/// may take it before the child binds it; callers retry the start when a
/// child reports the address in use (see [`LoggedProcess::lost_port_race`]).
pub fn free_loopback_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A child process whose stdout and stderr go to a log file; killed on drop.
#[derive(Debug)]
pub struct LoggedProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl LoggedProcess {
    /// Starts `program` in its own process group (so a terminal's Ctrl-C
    /// reaches the test, whose janitor then stops it in order) and registers
    /// it with `janitor`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: PathBuf,
        janitor: &Janitor,
    ) -> Result<LoggedProcess> {
        let log_file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        janitor.watch(child.id())?;
        Ok(LoggedProcess { name, child, log })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The exit status if the process has ended.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the process's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process failed because its port was taken meanwhile.
    pub fn lost_port_race(&self) -> bool {
        fs::read_to_string(&self.log)
            .map(|log| log.contains("address already in use"))
            .unwrap_or(false)
    }
}

impl Drop for LoggedProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Shell script run by the janitor: waits until its stdin closes (the test
/// process let go of it, or exited), then stops the processes listed in the
/// pids file, waiting up to 2 s before killing them, and removes the root.
const JANITOR_SCRIPT: &str = r#"
trap '' HUP INT
root=$1
pids_file=$2
any_alive() {
  for pid in $pids; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
cat >/dev/null
pids=$(cat "$pids_file" 2>/dev/null)
if [ -n "$pids" ]; then
  kill -TERM $pids 2>/dev/null
  tries=0
  while [ "$tries" -lt 20 ] && any_alive; do
    sleep 0.1
    tries=$((tries + 1))
  done
  kill -KILL $pids 2>/dev/null
fi
rm -rf "$root"
"#;

/// Cleans up a directory and the processes registered with [`Janitor::watch`]
/// once the test process closes the janitor's stdin: on drop, or when the
/// test process exits, however it exits (the kernel closes the pipe).
#[derive(Debug)]
pub struct Janitor {
    process: Child,
    stdin: Option<ChildStdin>,
    pids_file: PathBuf,
}

impl Janitor {
    /// Starts a janitor that will remove `root` (and stop registered processes).
    pub fn start(root: &Path) -> Result<Janitor> {
        let pids_file = root.join("janitor.pids");
        File::create(&pids_file)?;
        let mut process = Command::new("/bin/sh")
            .arg("-c")
            .arg(JANITOR_SCRIPT)
            .arg("bms-control-plane-janitor")
            .arg(root)
            .arg(&pids_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting the janitor shell (/bin/sh)")?;
        let stdin = process.stdin.take();
        Ok(Janitor {
            process,
            stdin,
            pids_file,
        })
    }

    /// Registers a process to stop when the test process ends.
    pub fn watch(&self, pid: u32) -> Result<()> {
        let mut pids = OpenOptions::new().append(true).open(&self.pids_file)?;
        writeln!(pids, "{pid}").context("registering a process with the janitor")
    }
}

impl Drop for Janitor {
    /// Removes the directory now. The registered processes must already be
    /// stopped and reaped (see [`LoggedProcess`]'s drop): their ids are
    /// forgotten first so that a reused id is never signalled.
    fn drop(&mut self) {
        let _ = File::create(&self.pids_file);
        drop(self.stdin.take());
        let _ = self.process.wait();
    }
}
