//! `drover serve`: the web dashboard and, when a Discord token is
//! configured, the bot, in one process sharing one database pool and one
//! run engine. Both stop on SIGINT/SIGTERM.

use super::Context;
use crate::error::{Error, Result};

pub async fn serve(ctx: &Context) -> Result<String> {
    let drover = ctx.drover.clone();
    let address = drover.config.web.listen_address()?;
    let listener = crate::web::bind(address)
        .await
        .map_err(|e| Error::Refused(e.to_string()))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listen address", e))?;
    if let Some(public) = drover.config.web.public_base() {
        eprintln!("drover web: public address {public}");
    }
    if !drover.web_accounts_exist().await? {
        eprintln!(
            "drover web: no account yet; create the first admin with `drover web user add NAME --level admin`"
        );
    }
    let bot_wanted = drover.config.discord.token.is_some();
    if bot_wanted {
        eprintln!("drover web: starting the Discord bot too");
    } else {
        eprintln!("drover web: no Discord token (DISCORD_TOKEN or discord.token), so no bot");
    }
    // The last start-up line: scripts and tests wait for it.
    eprintln!("drover web: listening on http://{bound}");
    let web = crate::web::serve(
        listener,
        drover.clone(),
        crate::signals::shutdown_requested(),
    );
    if !bot_wanted {
        web.await.map_err(serve_failed)?;
        return Ok(String::new());
    }
    let engine = drover.engine(&ctx.identities);
    let bot = crate::discord::run_bot_with(drover, engine, &ctx.identities);
    tokio::pin!(web, bot);
    // Both wait for the same signal; whichever stops first (or fails) ends
    // the wait for the other.
    tokio::select! {
        done = &mut web => {
            done.map_err(serve_failed)?;
            bot.await.map_err(bot_failed)?;
        }
        done = &mut bot => {
            done.map_err(bot_failed)?;
            web.await.map_err(serve_failed)?;
        }
    }
    Ok(String::new())
}

fn serve_failed(e: crate::web::ServeError) -> Error {
    Error::Refused(e.to_string())
}

fn bot_failed(e: crate::discord::StartError) -> Error {
    Error::Refused(format!("Discord bot: {e}"))
}
