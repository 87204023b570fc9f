//! bms-sim: a simulator of the Huawei Cloud BMS job API, for tests, demos and users' CI.
//!
//! Reads the command line, starts the server, prints `bms-sim listening on http://ADDR` on
//! stdout and serves until SIGTERM or Ctrl-C. See `bms-sim --help` and `docs/bms-sim.md`.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use bms_job_operator::sim::cli::{Cli, LogFormat};
use bms_job_operator::sim::server;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = cli.config()?;
    let handle = server::spawn(config)
        .await
        .map_err(|error| format!("{error:#}"))?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "bms-sim listening on {}", handle.url());
        let _ = stdout.flush();
    }
    tracing::info!(address = %handle.addr(), "bms-sim started");
    shutdown_signal().await;
    tracing::info!("shutting down");
    handle
        .shutdown()
        .await
        .map_err(|error| format!("{error:#}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bms-sim: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bms-sim: error: {error}");
            ExitCode::from(2)
        }
    }
}
