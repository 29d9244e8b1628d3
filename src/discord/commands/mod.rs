//! Slash commands (the CLI tree, name for name): one file per command
//! group, with their authorisation (`auth`), invocation audit (`audit`),
//! replies (`reply`), autocomplete and the progress-message buttons. What
//! is shared lives here; each file uses it through `use super::*`.

mod audit;
mod auth;
mod autocomplete;
mod buttons;
mod group;
mod host;
mod log;
mod reply;
mod run;
mod script;
mod scriptgroup;
mod task;

use poise::serenity_prelude as serenity;

use super::permissions::{required_level, Level};
use super::{render, run_logs, BotError, Context, Data};
use crate::app::{
    CancelWait, HostEditInput, HostInput, RunInput, ScriptInput, TaskEditInput, TaskInput,
};
use crate::error::EntityKind;

pub use audit::audit_success;
use audit::*;
pub use auth::authorise;
use auth::*;
use autocomplete::*;
pub use buttons::on_event;
use group::*;
use host::*;
use log::*;
pub use reply::on_error;
use reply::*;
use run::*;
use script::*;
use scriptgroup::*;
use task::*;

type Result<T = ()> = std::result::Result<T, BotError>;

/// The application layer, which every command calls.
fn app<'a>(ctx: Context<'a>) -> &'a crate::app::App {
    &ctx.data().drover
}

/// Longest reply sent inline; longer ones go as a file.
const INLINE_MAX: usize = 1900;
/// Log bytes `/run logs` attaches (Discord's upload limit is 10 MiB).
const LOGS_ATTACHMENT_MAX: usize = 8 * 1024 * 1024;
/// Largest attachment `say` sends (Discord's upload limit is 10 MiB).
const ATTACHMENT_MAX: usize = 9 * 1024 * 1024;

pub fn all() -> Vec<poise::Command<Data, BotError>> {
    vec![
        host(),
        group(),
        script(),
        scriptgroup(),
        task(),
        run(),
        log(),
        super::dashboard::dashboard(),
    ]
}

#[cfg(test)]
mod tests {
    use super::buttons::press_outcome;
    use super::{argument_text, env_keys, keep_head, place_refusal};
    use crate::error::Error;
    use poise::serenity_prelude::{GuildId, ResolvedValue};

    #[test]
    fn audit_details_keep_env_keys_and_never_their_values() {
        assert_eq!(
            env_keys("API_TOKEN=s3cr3t  REGION=eu=west  stray"),
            "API_TOKEN=*** REGION=*** ***"
        );
        assert_eq!(
            argument_text("env", &ResolvedValue::String("K=hunter2")).as_deref(),
            Some("K=***")
        );
        assert_eq!(
            argument_text("server_group", &ResolvedValue::String("web")).as_deref(),
            Some("web")
        );
        assert_eq!(
            argument_text("parallel", &ResolvedValue::Integer(8)).as_deref(),
            Some("8")
        );
    }

    #[test]
    fn a_button_that_fails_is_audited_with_its_error() {
        assert_eq!(
            press_outcome(Ok("cancelling".into())),
            ("cancelling".into(), "ok".into())
        );
        let refused = Error::Refused("run 3 is already cancelled".into());
        assert_eq!(
            press_outcome(Err(refused)),
            (
                "run 3 is already cancelled".into(),
                "error: run 3 is already cancelled".into()
            )
        );
        let internal = Error::Database(sqlx::Error::PoolTimedOut);
        let (answer, outcome) = press_outcome(Err(internal));
        assert_eq!(answer, "internal error; see drover's log");
        assert_eq!(outcome, "error: internal error; see drover's log");
    }

    #[test]
    fn commands_and_buttons_work_only_in_listed_servers() {
        let listed = [7_u64];
        assert!(place_refusal(&listed, None).is_some_and(|r| r.contains("DMs")));
        assert!(place_refusal(&listed, Some(GuildId::new(8)))
            .is_some_and(|r| r.contains("not enabled in this server")));
        assert_eq!(place_refusal(&listed, Some(GuildId::new(7))), None);
        assert_eq!(place_refusal(&[], Some(GuildId::new(8))), None);
    }

    #[test]
    fn keep_head_cuts_at_a_line_end_within_the_limit_and_says_so() {
        let text = "é first line\nsecond line\nthird line\n".repeat(10);
        let kept = keep_head(text.clone(), 60);
        assert!(kept.len() <= 60, "{}", kept.len());
        assert!(
            kept.ends_with("\n[cut to fit Discord's upload limit]\n"),
            "{kept}"
        );
        assert!(text.starts_with(kept.trim_end_matches("[cut to fit Discord's upload limit]\n")));
        assert_eq!(keep_head("short\n".into(), 60), "short\n");
    }
}
