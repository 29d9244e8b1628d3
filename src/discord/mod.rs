//! The Discord front end (poise on serenity): slash commands mirroring the
//! CLI tree name for name, authorisation by role/user levels, audit of every
//! invocation, and live progress messages for runs. The only module that
//! imports serenity/poise; the work itself goes through the application
//! layer (`app`), exactly as for the CLI.

mod api;
mod commands;
mod dashboard;
mod memory;
mod permissions;
mod progress;
pub mod render;
mod run_logs;

use std::sync::Arc;

use poise::serenity_prelude as serenity;

use crate::app::App;
use crate::domain::Actor;
pub use permissions::Level;
use permissions::Permissions;

/// Everything a command handler needs.
pub struct Data {
    pub drover: App,
    /// Key files given to `drover bot -i`, for commands that connect.
    pub identities: Vec<std::path::PathBuf>,
    pub permissions: Permissions,
    pub redactor: render::Redactor,
    pub tracker: progress::Tracker,
}

/// Errors of the Discord front end. What users see is `user_message`.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    App(#[from] crate::error::Error),
    #[error("Discord API: {0}")]
    Discord(#[from] serenity::Error),
    #[error("Discord API: {0}")]
    ChannelApi(#[from] api::ApiError),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    BadInput(String),
}

impl BotError {
    /// What the invoking user is told (never internals).
    pub fn user_message(&self) -> String {
        match self {
            BotError::App(e) if e.is_refusal() => e.to_string(),
            BotError::App(_) => {
                "drover could not complete this because of an internal error; see its log".into()
            }
            BotError::Discord(_) | BotError::ChannelApi(_) => {
                "Discord refused an answer from drover; try again".into()
            }
            BotError::Denied(m) | BotError::BadInput(m) => m.clone(),
        }
    }
}

pub type Context<'a> = poise::Context<'a, Data, BotError>;

/// Fatal start-up problems of the bot.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no Discord token: set DISCORD_TOKEN or discord.token in the configuration")]
    NoToken,
    #[error("configuration: {0}")]
    Config(String),
    #[error("Discord client: {0}")]
    Client(#[from] serenity::Error),
}

impl Data {
    fn actor(user: serenity::UserId) -> Actor {
        Actor::Discord(user.get())
    }
}

/// Runs the bot until SIGINT/SIGTERM, on an app the process may share with
/// its other front ends (`drover serve`: one engine, one database pool).
/// Runs it started go on remotely and are reattached on the next start.
pub async fn run_bot(drover: App, identities: &[std::path::PathBuf]) -> Result<(), StartError> {
    let config = drover.config.clone();
    let token = config.discord.token.clone().ok_or(StartError::NoToken)?;
    let permissions =
        Permissions::from_config(&config.discord.permissions).map_err(StartError::Config)?;
    let redactor = drover.redactor.as_ref().clone();
    let guilds = config.discord.guilds.clone();
    let data = Data {
        tracker: progress::Tracker::new(
            drover.clone(),
            progress::Pacing {
                edit_every: config.discord.edit_interval,
                handover_after: config.discord.message_handover,
            },
            api::ChannelApi::new(config.discord.api_url.as_deref(), &token),
        ),
        drover,
        identities: identities.to_vec(),
        permissions,
        redactor,
    };
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: commands::all(),
            on_error: |error| Box::pin(commands::on_error(error)),
            command_check: Some(|ctx| Box::pin(commands::authorise(ctx))),
            post_command: |ctx| Box::pin(commands::audit_success(ctx)),
            event_handler: |framework, event| {
                Box::pin(commands::on_event(
                    framework.serenity_context,
                    event,
                    framework.user_data,
                ))
            },
            initialize_owners: false,
            // No command has a cooldown: poise would still record every
            // user, channel and member that used each command, for good.
            manual_cooldowns: true,
            require_cache_for_guild_check: false,
            ..Default::default()
        })
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                tracing::info!(user = %ready.user.name, "connected to Discord");
                register(ctx, &framework.options().commands, &guilds).await?;
                data.tracker.adopt_periodically(ctx.http.clone());
                Ok(data)
            })
        })
        .build();
    let mut http = serenity::HttpBuilder::new(&token);
    if let Some(api) = &config.discord.api_url {
        // serenity's ratelimiter sends to discord.com whatever the proxy,
        // so with a proxy it is off; the messages the bot writes on its own
        // honour rate limits themselves (see api.rs).
        http = http
            .proxy(api.trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    let intents = serenity::GatewayIntents::GUILDS;
    let mut client = serenity::ClientBuilder::new_with_http(http.build(), intents)
        .framework(framework)
        .await?;
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        crate::signals::shutdown_requested().await;
        tracing::info!(
            "shutting down: runs keep going on their hosts and are reattached on the next start"
        );
        shards.shutdown_all().await;
    });
    client.start().await?;
    Ok(())
}

async fn register(
    ctx: &serenity::Context,
    commands: &[poise::Command<Data, BotError>],
    guilds: &[u64],
) -> Result<(), BotError> {
    if guilds.is_empty() {
        poise::builtins::register_globally(ctx, commands).await?;
    } else {
        for guild in guilds {
            poise::builtins::register_in_guild(ctx, commands, serenity::GuildId::new(*guild))
                .await?;
        }
    }
    Ok(())
}

/// Shared pieces used by both commands and buttons.
pub(crate) type Http = Arc<serenity::Http>;
