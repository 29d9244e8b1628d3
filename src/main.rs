//! The `drover` binary: wires configuration, the application layer and the
//! chosen front end (the command line, the Discord bot, or the web
//! dashboard with the bot), and maps outcomes to exit codes (0 done, 1
//! refused or failed, 2 usage error). The front ends do not know each
//! other: only this file starts the long-running ones.

use std::process::ExitCode;

use clap::Parser;
use drover::cli::{console, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Bot => front_end::bot(&cli).await.map(|()| empty()),
            Command::Serve => front_end::serve(&cli).await.map(|()| empty()),
            _ => drover::cli::run(cli).await.map_err(|e| e.to_string()),
        }
    });
    match result {
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

/// The outcome of a front end that printed nothing on standard output.
fn empty() -> drover::cli::Outcome {
    drover::cli::Outcome {
        text: String::new(),
        success: true,
    }
}

/// The long-running front ends: `drover bot` and `drover serve`. Their
/// errors are the lines printed after `error: `.
mod front_end {
    use drover::cli::Cli;

    /// `drover bot`: the Discord bot until SIGINT/SIGTERM.
    pub async fn bot(cli: &Cli) -> Result<(), String> {
        let app = drover::cli::open(cli).await.map_err(|e| e.to_string())?;
        let result = drover::discord::run_bot(app.clone(), &cli.identities)
            .await
            .map_err(|e| e.to_string());
        app.shutdown().await;
        app.close().await;
        result
    }

    /// `drover serve`: the web dashboard and, when a Discord token is
    /// configured, the bot, in one process sharing one database pool and
    /// one run engine. Both stop on SIGINT/SIGTERM.
    pub async fn serve(cli: &Cli) -> Result<(), String> {
        let app = drover::cli::open(cli).await.map_err(|e| e.to_string())?;
        let result = serve_with(&app, cli).await;
        app.shutdown().await;
        app.close().await;
        result
    }

    async fn serve_with(app: &drover::app::App, cli: &Cli) -> Result<(), String> {
        let address = app.config.web.listen_address().map_err(|e| e.to_string())?;
        let listener = drover::web::bind(address)
            .await
            .map_err(|e| e.to_string())?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listen address: {e}"))?;
        if let Some(public) = app.config.web.public_base() {
            eprintln!("drover web: public address {public}");
        }
        if !app.web_accounts_exist().await.map_err(|e| e.to_string())? {
            eprintln!(
                "drover web: no account yet; create the first admin with `drover web user add NAME --level admin`"
            );
        }
        let bot_wanted = app.config.discord.token.is_some();
        if bot_wanted {
            eprintln!("drover web: starting the Discord bot too");
        } else {
            eprintln!("drover web: no Discord token (DISCORD_TOKEN or discord.token), so no bot");
        }
        // The last start-up line: scripts and tests wait for it.
        eprintln!("drover web: listening on http://{bound}");
        let web = drover::web::serve(listener, app.clone(), drover::signals::shutdown_requested());
        if !bot_wanted {
            return web.await.map_err(|e| e.to_string());
        }
        let bot = drover::discord::run_bot(app.clone(), &cli.identities);
        tokio::pin!(web, bot);
        let bot_failed = |e: drover::discord::StartError| format!("Discord bot: {e}");
        // Both wait for the same signal; whichever stops first (or fails)
        // ends the wait for the other.
        tokio::select! {
            done = &mut web => {
                done.map_err(|e| e.to_string())?;
                bot.await.map_err(bot_failed)?;
            }
            done = &mut bot => {
                done.map_err(bot_failed)?;
                web.await.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}
