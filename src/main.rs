//! `bms-job-operator`: parse the command line, set up logging, run the subcommand.

use std::process::ExitCode;

use clap::Parser;

use bms_job_operator::cli::{Cli, Command};
use bms_job_operator::{api, get_job, operator, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match api::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::GetJob(args) => match get_job::get_job(&args).await {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            if let Err(error) = telemetry::init(&args.log) {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
            match operator::run(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
