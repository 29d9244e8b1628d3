//! The `drover` binary: parses the command line and maps outcomes to exit
//! codes (0 done, 1 refused or failed, 2 usage error).

use std::process::ExitCode;

use clap::Parser;
use drover::cli::console;

fn main() -> ExitCode {
    let cli = drover::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // A diagnostic that cannot be written (stderr closed) is dropped,
        // not reported with a panicking eprintln!.
        .log_internal_errors(false)
        .init();
    // Hundreds of hosts at once need as many open files: take all the
    // system allows this process (runs stay within it, see fd_limit).
    if let Err(e) = drover::engine::fd_limit::raise_to_hard_limit() {
        tracing::warn!(error = %e, "cannot raise the open-files limit");
    }
    // One thread: the work is I/O bound, and a run's hundreds of SSH
    // sessions wake each other less on one thread than across several
    // (measured: about 15% less controller CPU at 500 hosts).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            console::note(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(drover::cli::run(cli)) {
        Ok(outcome) => {
            if !outcome.text.is_empty() {
                // A reader that went away (`| head`) is not an error.
                if let Err(e) = console::print(outcome.text.trim_end_matches('\n')) {
                    console::note(&format!("error: cannot write the output: {e}"));
                    return ExitCode::FAILURE;
                }
            }
            if outcome.success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            console::note(&format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}
