//! The `drover` command line: clap definitions and dispatch onto the
//! application layer (`app`). The command tree is the one the chat front end mirrors.

pub mod console;
mod inventory;
mod live;
mod runs;
mod web;

use crate::text as output;

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::Format;
use crate::app::{App, Launcher};
use crate::config::{default_config_path, Config};
use crate::domain::Actor;
use crate::error::Result;

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    version,
    about = "Run script groups on server groups over SSH, from a CLI or a chat"
)]
pub struct Cli {
    /// Configuration file (default: drover.toml in the user's config directory).
    #[arg(long, global = true, env = "DROVER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite database (file path or sqlite:// URL).
    #[arg(long, global = true, env = "DROVER_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// SSH private key to try (repeatable), before ssh.identity_files and ssh-agent.
    #[arg(short = 'i', long = "identity", global = true, value_name = "FILE")]
    pub identities: Vec<PathBuf>,
    /// No progress output.
    #[arg(long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hosts of the inventory.
    #[command(subcommand)]
    Host(HostCmd),
    /// Server groups (sets of hosts).
    #[command(subcommand)]
    Group(GroupCmd),
    /// Scripts of the library, with their versions.
    #[command(subcommand)]
    Script(ScriptCmd),
    /// Script groups (ordered lists of scripts).
    #[command(subcommand)]
    Scriptgroup(ScriptGroupCmd),
    /// Tasks: a script group paired with a server group.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Runs: list, status, logs, cancel, rerun, resume.
    #[command(subcommand)]
    Run(RunCmd),
    /// Remote log files.
    #[command(subcommand)]
    Log(LogCmd),
    /// Import the commands/ library (a directory) or an inventory file
    /// (drover TOML, Ansible INI or YAML, a host list, an ssh_config).
    Import {
        path: PathBuf,
        /// The file's format (default: by extension, then by content).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Format::NAMES))]
        format: Option<String>,
        /// Server group every imported host joins (repeatable; created if missing).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Write the inventory (hosts and server groups) as an inventory TOML file.
    Export {
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Run the Discord bot (token from DISCORD_TOKEN or discord.token).
    Bot,
    /// Run the web dashboard (web.listen) and, with a Discord token, the bot.
    Serve,
    /// Web dashboard accounts.
    #[command(subcommand)]
    Web(web::WebCmd),
    /// The audit trail of changes, newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostCmd {
    #[command(flatten)]
    Inventory(HostInventoryCmd),
    /// Re-pin a host's SSH key to the one it offers now.
    Trust { name: String },
    /// Connect to hosts, verify their keys, authenticate, report.
    Check {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// `host` subcommands that change or show the inventory only.
#[derive(Debug, Subcommand)]
pub enum HostInventoryCmd {
    /// Add a host.
    Add {
        name: String,
        address: String,
        #[arg(long)]
        port: Option<i64>,
        #[arg(long)]
        user: Option<String>,
        /// Server group to put the host in (repeatable; must exist).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        /// Run scripts on this host through `sudo -n`.
        #[arg(long)]
        sudo: bool,
        /// Jump hosts on the way (ProxyJump): `HOST`, `[USER@]HOST[:PORT]`,
        /// several separated by commas, or `none` (overrides ssh_config).
        #[arg(long)]
        jump: Option<String>,
    },
    /// List hosts (name, address, user, groups).
    List,
    /// One host: fields, groups, pinned key.
    Show { name: String },
    /// Change a host's fields.
    Edit {
        name: String,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        port: Option<i64>,
        #[arg(long, conflicts_with = "default_user")]
        user: Option<String>,
        /// Use the configured default user again.
        #[arg(long)]
        default_user: bool,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        sudo: Option<bool>,
        /// Jump hosts on the way (as for `host add`).
        #[arg(long, conflicts_with = "no_jump")]
        jump: Option<String>,
        /// No jump hosts of the inventory's own (ssh_config's apply).
        #[arg(long)]
        no_jump: bool,
    },
    /// Remove a host (--force also takes it out of its groups).
    Rm {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunCmd {
    /// Runs, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Per-host state of a run.
    Status { id: i64 },
    /// Step logs of a run (all hosts, or one; all scripts, or one).
    Logs {
        id: i64,
        host: Option<String>,
        #[arg(long)]
        script: Option<String>,
    },
    /// Stop every remote process of a run.
    Cancel { id: i64 },
    /// Run the failed hosts of a run again (same script versions).
    Rerun {
        id: i64,
        #[arg(long)]
        failed: bool,
    },
    /// Drive a run whose controller died: reattach and finish it.
    Resume { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum LogCmd {
    /// The tail of a remote file allowed by logs.fetch_allow.
    Fetch {
        host: String,
        path: String,
        #[arg(long, default_value_t = 100)]
        lines: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create an empty server group.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a server group (--force also deletes the tasks that use it).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Add hosts to a group.
    Add {
        group: String,
        #[arg(required = true)]
        hosts: Vec<String>,
    },
    /// Remove hosts from a group.
    Remove {
        group: String,
        #[arg(required = true)]
        hosts: Vec<String>,
    },
    /// List server groups with their host counts.
    List,
    /// One server group and its hosts.
    Show { name: String },
}

#[derive(Debug, Args)]
pub struct ScriptBodyArgs {
    pub name: String,
    /// File with the body, or - for standard input.
    pub file: PathBuf,
    #[arg(long)]
    pub description: Option<String>,
    /// Per-script timeout, e.g. 10m (`none` clears it on edit).
    #[arg(long)]
    pub timeout: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ScriptCmd {
    /// Add a script to the library (its first version).
    Add(ScriptBodyArgs),
    /// Replace a script's body; a different body becomes a new version.
    Edit(ScriptBodyArgs),
    /// A script's body (the current version, or --version N).
    Show {
        name: String,
        #[arg(long)]
        version: Option<i64>,
    },
    /// List scripts with their current versions.
    List,
    /// Versions of a script.
    History { name: String },
    /// Remove a script (--force also takes it out of script groups).
    Rm {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScriptGroupCmd {
    /// Create a script group from scripts, in order.
    Create {
        name: String,
        scripts: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Insert a script (at the end, or at a 1-based position).
    Add {
        name: String,
        script: String,
        #[arg(long)]
        position: Option<i64>,
    },
    /// Move a script to a 1-based position.
    Move {
        name: String,
        script: String,
        #[arg(allow_negative_numbers = true)]
        position: i64,
    },
    /// Take a script out of a script group.
    Remove { name: String, script: String },
    /// Delete a script group (--force also deletes the tasks that use it).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// List script groups.
    List,
    /// One script group and its scripts, in order.
    Show { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    #[command(flatten)]
    Inventory(TaskInventoryCmd),
    /// Run a task, or a script group on a server group.
    Run {
        /// A task, or a script group followed by a server group.
        task_or_script_group: String,
        server_group: Option<String>,
        #[command(flatten)]
        options: RunOptionArgs,
        /// KEY=VALUE given to the scripts (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Hand the run to a background drover and print its id.
        #[arg(long)]
        detach: bool,
        /// Print every host's output after the run (like `run logs`).
        #[arg(long, conflicts_with = "detach")]
        show_output: bool,
    },
}

/// How a run goes: saved with a task, or given to `task run` (over the
/// task's own).
#[derive(Debug, clap::Args)]
pub struct RunOptionArgs {
    /// Hosts at once.
    #[arg(long)]
    pub parallel: Option<i64>,
    /// Go on with a host's next script when one fails (default: stop that host).
    #[arg(long)]
    pub continue_on_error: bool,
    /// Skip hosts not yet started once this many hosts have failed.
    #[arg(long)]
    pub max_failed_hosts: Option<i64>,
    /// Run the scripts through `sudo -n`.
    #[arg(long)]
    pub sudo: bool,
}

/// `task` subcommands that change or show the inventory only.
#[derive(Debug, Subcommand)]
pub enum TaskInventoryCmd {
    /// Pair a script group with a server group under a name.
    Create {
        name: String,
        script_group: String,
        server_group: String,
        #[command(flatten)]
        options: RunOptionArgs,
        #[arg(long)]
        description: Option<String>,
    },
    /// Change a task: each option given replaces the task's own.
    Edit {
        name: String,
        #[arg(long)]
        script_group: Option<String>,
        #[arg(long)]
        server_group: Option<String>,
        /// Hosts at once.
        #[arg(long)]
        parallel: Option<i64>,
        /// Go on with a host's next script when one fails.
        #[arg(long, conflicts_with = "stop_on_error")]
        continue_on_error: bool,
        /// Stop a host at its failing script (the default).
        #[arg(long)]
        stop_on_error: bool,
        /// Skip hosts not yet started once this many hosts have failed.
        #[arg(long, conflicts_with = "no_max_failed_hosts")]
        max_failed_hosts: Option<i64>,
        /// No limit of failed hosts.
        #[arg(long)]
        no_max_failed_hosts: bool,
        /// Run the scripts through `sudo -n`.
        #[arg(long, conflicts_with = "no_sudo")]
        sudo: bool,
        /// Run the scripts as the login user.
        #[arg(long)]
        no_sudo: bool,
        #[arg(long)]
        description: Option<String>,
    },
    /// List tasks.
    List,
    /// One task and its options.
    Show { name: String },
    /// Delete a task.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration, secrets masked.
    Show,
}

/// Everything a command needs.
pub struct Context {
    pub app: App,
    pub actor: Actor,
    pub json: bool,
    pub quiet: bool,
    pub identities: Vec<PathBuf>,
    pub config_path: Option<PathBuf>,
}

/// What a command printed and whether it fully succeeded (exit code 0).
pub struct Outcome {
    pub text: String,
    pub success: bool,
}

/// Loads configuration and opens the database as the global options say.
pub async fn open(cli: &Cli) -> Result<App> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let explicit = cli.config.is_some();
    let path = cli.config.clone().or_else(default_config_path);
    let mut config = Config::load(path.as_deref(), explicit, &env)?;
    if let Some(url) = &cli.database {
        config.database.url = Some(url.clone());
    }
    let launcher = Launcher {
        identities: cli.identities.clone(),
        config_path: cli.config.clone(),
    };
    App::open(config, launcher).await
}

/// Runs a parsed command line; returns what to print on stdout.
pub async fn run(cli: Cli) -> Result<Outcome> {
    let app = open(&cli).await?;
    let ctx = Context {
        app,
        actor: Actor::Cli(crate::config::os_user_name()),
        json: cli.json,
        quiet: cli.quiet,
        identities: cli.identities.clone(),
        config_path: cli.config.clone(),
    };
    let result = dispatch(&ctx, cli.command).await;
    ctx.app.shutdown().await;
    ctx.app.close().await;
    result
}

async fn dispatch(ctx: &Context, command: Command) -> Result<Outcome> {
    let done = |text: String| Outcome {
        text,
        success: true,
    };
    let ran = |out: runs::RunOutput| Outcome {
        text: out.text,
        success: out.success,
    };
    match command {
        Command::Task(TaskCmd::Run {
            task_or_script_group,
            server_group,
            options,
            env,
            detach,
            show_output,
        }) => {
            let overrides = crate::app::RunInput {
                parallel: options.parallel,
                continue_on_error: options.continue_on_error,
                max_failed_hosts: options.max_failed_hosts,
                sudo: options.sudo,
                env,
            };
            let mode = if detach {
                runs::Mode::Detach
            } else if show_output {
                runs::Mode::ShowOutput
            } else {
                runs::Mode::Table
            };
            runs::task_run(
                ctx,
                &task_or_script_group,
                server_group.as_deref(),
                overrides,
                mode,
            )
            .await
            .map(ran)
        }
        Command::Run(cmd) => runs::run(ctx, cmd).await.map(ran),
        Command::Host(HostCmd::Check { names }) => runs::host_check(ctx, &names).await.map(ran),
        Command::Host(HostCmd::Trust { name }) => {
            let (old, new) = ctx
                .app
                .host_trust_with(&ctx.actor, &name, &ctx.identities)
                .await?;
            Ok(done(match old {
                Some(old) if old != new => {
                    format!("host {name}: key re-pinned from {old} to {new}")
                }
                Some(_) => format!("host {name}: key unchanged ({new})"),
                None => format!("host {name}: key pinned ({new})"),
            }))
        }
        Command::Log(LogCmd::Fetch { host, path, lines }) => {
            let text = ctx
                .app
                .log_fetch(&ctx.actor, &host, &path, lines, &ctx.identities)
                .await?;
            Ok(done(text))
        }
        Command::Bot | Command::Serve => Err(crate::error::Error::Refused(
            "`drover bot` and `drover serve` start a long-running front end: the drover binary starts them, not the command dispatcher".into(),
        )),
        Command::Web(cmd) => web::run(ctx, cmd).await.map(done),
        Command::Host(HostCmd::Inventory(cmd)) => inventory::host(ctx, cmd).await.map(done),
        Command::Group(cmd) => inventory::group(ctx, cmd).await.map(done),
        Command::Script(cmd) => inventory::script(ctx, cmd).await.map(done),
        Command::Scriptgroup(cmd) => inventory::scriptgroup(ctx, cmd).await.map(done),
        Command::Task(TaskCmd::Inventory(cmd)) => inventory::task(ctx, cmd).await.map(done),
        Command::Import {
            path,
            format,
            groups,
        } => {
            let options = crate::app::ImportOptions {
                format: format.as_deref().and_then(Format::from_name),
                groups,
            };
            import(ctx, &path, &options).await.map(done)
        }
        Command::Export { output } => export(ctx, output.as_deref()).await.map(done),
        Command::Config(ConfigCmd::Show) => config_show(ctx).map(done),
        Command::Audit { limit } => audit(ctx, limit).await.map(done),
    }
}

/// The effective configuration, secrets masked: TOML, or with `--json` the
/// same masked values as JSON.
fn config_show(ctx: &Context) -> Result<String> {
    let masked = ctx.app.config.to_masked_toml();
    if !ctx.json {
        return Ok(masked);
    }
    let value: toml::Value = toml::from_str(&masked).map_err(|e| {
        crate::error::Error::Config(format!("cannot render the configuration as JSON: {e}"))
    })?;
    Ok(output::json(&value))
}

/// Imports a `commands/` library or an inventory file.
async fn import(
    ctx: &Context,
    path: &std::path::Path,
    options: &crate::app::ImportOptions,
) -> Result<String> {
    let report = ctx.app.import(&ctx.actor, path, options).await?;
    Ok(if ctx.json {
        output::json(&report)
    } else {
        report.to_string()
    })
}

/// The inventory as TOML (or JSON), printed or written to `output`.
async fn export(ctx: &Context, output: Option<&std::path::Path>) -> Result<String> {
    use crate::app::export;
    let inventory = ctx.app.export_inventory().await?;
    let text = if ctx.json {
        output::json(&inventory)
    } else {
        export::to_toml(&inventory)?
    };
    let Some(path) = output else {
        return Ok(text);
    };
    std::fs::write(path, &text)
        .map_err(|e| crate::error::Error::io(format!("cannot write {}", path.display()), e))?;
    Ok(format!(
        "exported {} hosts and {} server groups to {}",
        inventory.hosts.len(),
        inventory.groups.len(),
        path.display()
    ))
}

/// The newest audit entries.
async fn audit(ctx: &Context, limit: u32) -> Result<String> {
    let entries = ctx.app.audit_log(limit).await?;
    if ctx.json {
        return Ok(output::json(&entries));
    }
    let mut table = output::Table::new(&["AT", "ACTOR", "ACTION", "TARGET", "DETAIL", "OUTCOME"]);
    for e in entries {
        table.row(vec![e.at, e.actor, e.action, e.target, e.detail, e.outcome]);
    }
    Ok(table.render())
}
