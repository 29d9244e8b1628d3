//! `drover web user ...`: web dashboard accounts from the command line.
//! Passwords come from a prompt without echo when standard input is a
//! terminal, else from its first line; they are never taken as arguments
//! (which `ps` and shell histories would show).

use std::io::{BufRead, IsTerminal, Read};

use clap::Subcommand;

use super::{output, Context};
use crate::accounts::{parse_account, Password, MAX_PASSWORD_BYTES};
use crate::error::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum WebCmd {
    /// Web dashboard accounts.
    #[command(subcommand)]
    User(WebUserCmd),
}

#[derive(Debug, Subcommand)]
pub enum WebUserCmd {
    /// Add an account (password from a prompt, or one line of standard input).
    Add {
        name: String,
        /// viewer, operator or admin (the levels of [discord.permissions]).
        #[arg(long)]
        level: String,
    },
    /// List accounts.
    List,
    /// Remove an account; its sessions end.
    Rm { name: String },
    /// Set a new password (prompt or standard input); the account's sessions end.
    Passwd { name: String },
}

pub async fn run(ctx: &Context, cmd: WebCmd) -> Result<String> {
    let WebCmd::User(cmd) = cmd;
    match cmd {
        WebUserCmd::Add { name, level } => {
            parse_account(&name, &level)?;
            let password = read_password()?;
            let user = ctx
                .drover
                .web_user_add(&ctx.actor, &name, &level, password)
                .await?;
            Ok(format!("added web user {} ({})", user.name, user.level))
        }
        WebUserCmd::List => {
            let users = ctx.drover.web_users().await?;
            if ctx.json {
                return Ok(output::json(&users));
            }
            let mut table = output::Table::new(&["NAME", "LEVEL", "CREATED", "PASSWORD SET"]);
            for u in users {
                table.row(vec![
                    u.name,
                    u.level.to_string(),
                    u.created_at,
                    u.updated_at,
                ]);
            }
            Ok(table.render())
        }
        WebUserCmd::Rm { name } => {
            ctx.drover.web_user_remove(&ctx.actor, &name).await?;
            Ok(format!("removed web user {name}; its sessions ended"))
        }
        WebUserCmd::Passwd { name } => {
            let password = read_password()?;
            ctx.drover
                .web_user_passwd(&ctx.actor, &name, password)
                .await?;
            Ok(format!(
                "changed the password of web user {name}; its sessions ended"
            ))
        }
    }
}

/// The new password: prompted twice without echo on a terminal, else the
/// first line of standard input (without its line ending).
fn read_password() -> Result<Password> {
    let io_error = |e| Error::io("cannot read the password", e);
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(io_error)?;
        let again = rpassword::prompt_password("Password again: ").map_err(io_error)?;
        if first != again {
            return Err(Error::Refused(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        return Password::new(first);
    }
    let mut line = String::new();
    let limit = u64::try_from(MAX_PASSWORD_BYTES + 2).unwrap_or(u64::MAX);
    std::io::stdin()
        .lock()
        .take(limit)
        .read_line(&mut line)
        .map_err(io_error)?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Password::new(line.to_string())
}
