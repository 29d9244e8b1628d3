//! Discord and the web in one process: `drover serve` with a token runs
//! the bot (against the Discord simulator) beside the web server, and
//! `/dashboard` hands out ephemeral login links that work once, at the
//! caller's level, and expire.

#[path = "browser/mod.rs"]
mod browser;
mod common;
#[path = "discord_sim/mod.rs"]
mod discord_sim;
#[path = "web/mod.rs"]
mod web;

use std::time::Duration;

use browser::Browser;
use discord_sim::{DiscordSim, SimUser};
use web::{audit, Http, Server};

const GUILD: u64 = 900_000_000_000_000_101;
const CHANNEL: u64 = 900_000_000_000_000_102;
const OPERATOR_ROLE: u64 = 900_000_000_000_000_111;
const VIEWER_ROLE: u64 = 900_000_000_000_000_112;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Configuration for the bot and the web; the web listens on `port` and
/// `public_url` points there.
fn config(port: u16, extra_web: &str) -> String {
    format!(
        "[discord]\nguilds = [{GUILD}]\n\
         [discord.permissions]\noperator = [\"role:{OPERATOR_ROLE}\"]\nviewer = [\"role:{VIEWER_ROLE}\"]\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n{extra_web}"
    )
}

/// `drover serve` with the simulator's token: the web and the bot.
async fn serve_with_bot(sim: &DiscordSim, drover: &common::Drover) -> Server {
    let server = Server::start_with_env(
        drover,
        &[
            ("DISCORD_TOKEN", sim.token()),
            ("DROVER_DISCORD_API", &sim.base_url),
        ],
    );
    bot_ready(sim).await;
    server
}

/// Waits until the bot is connected and has registered `/dashboard`.
async fn bot_ready(sim: &DiscordSim) {
    sim.wait_ready(TIMEOUT).await.expect("the bot connects");
    sim.wait_until(TIMEOUT, "/dashboard registered", |s| {
        s.guild_commands(GUILD)
            .iter()
            .any(|c| c["name"] == "dashboard")
    })
    .await
    .expect("commands registered");
}

/// `/dashboard` as `user`: the interaction's answer.
async fn dashboard(sim: &DiscordSim, user: &SimUser) -> serde_json::Value {
    let it = sim
        .slash_command(user, CHANNEL, "dashboard", &[], vec![])
        .await;
    sim.wait_response(&it, TIMEOUT).await.expect("answered")
}

/// The login link in an answer's text.
fn link_in(answer: &serde_json::Value) -> String {
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    content
        .split_whitespace()
        .find(|w| w.contains("/login/link/"))
        .unwrap_or_else(|| panic!("no link in {answer}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_bot_and_a_dashboard_link_logs_in_once() {
    let port = common::free_port();
    let drover = common::Drover::with_config(&config(port, ""));
    let sim = DiscordSim::start().await;
    let server = serve_with_bot(&sim, &drover).await;
    assert!(server.stderr().contains("starting the Discord bot too"));

    let viewer = SimUser::member(2002, GUILD, &[VIEWER_ROLE]);
    let answer = dashboard(&sim, &viewer).await;
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("viewer level") && content.contains("single use"),
        "{content}"
    );
    let link = link_in(&answer);
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/login/link/")),
        "{link}"
    );

    let b = Browser::start("dashboard-link").await;
    b.guarded(async {
        b.goto(&link).await;
        b.wait_for_text("#link-identity", "discord:2002").await;
        b.screenshot("01-link").await;
        b.click("#link-submit").await;
        b.wait_for_path("/").await;
        b.wait_for_text("#identity", "discord:2002").await;
        b.wait_for_text("#level", "viewer").await;
        b.screenshot("02-logged-in").await;

        // the same link again: burnt
        b.goto(&link).await;
        b.wait_for_text("#link-error", "unknown or was already used")
            .await;
        b.screenshot("03-used").await;
    })
    .await;
    b.close().await;

    // an HTTP client with the token is refused too, and gets no session
    let token = link.rsplit('/').next().expect("token");
    let mut http = Http::new(&server);
    let again = http
        .post_form("/login/link", &[("token", token)], &[])
        .await;
    assert_eq!(again.status, 410, "{}", again.body);
    assert!(again.body.contains("was already used"), "{}", again.body);
    assert!(http.cookie.is_none());

    let trail = audit(&drover);
    let entry = |action: &str, outcome: &str| {
        trail.iter().any(|e| {
            e["actor"] == "discord:2002" && e["action"] == action && e["outcome"] == outcome
        })
    };
    assert!(entry("discord /dashboard", "ok"), "{trail:#?}");
    assert!(entry("web.link.create", "ok"), "{trail:#?}");
    assert!(entry("web.login", "ok"), "{trail:#?}");
    assert!(
        !serde_json::to_string(&trail).expect("json").contains(token),
        "the token never reaches the audit trail"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());

    // SIGTERM stops the web server and the bot together, cleanly
    let mut server = server;
    let status = server.terminate();
    assert!(status.success(), "exit {status:?}: {}", server.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_links_expire_and_need_a_level() {
    let port = common::free_port();
    let drover = common::Drover::with_config(&config(port, "login_link_ttl = \"1s\"\n"));
    let sim = DiscordSim::start().await;
    let server = serve_with_bot(&sim, &drover).await;

    let nobody = SimUser::member(2003, GUILD, &[]);
    let refused = dashboard(&sim, &nobody).await;
    let text = refused["data"]["content"].as_str().unwrap_or_default();
    assert!(
        text.contains("you need the viewer level for /dashboard"),
        "{refused}"
    );
    assert!(!text.contains("/login/link/"));

    let operator = SimUser::member(2004, GUILD, &[OPERATOR_ROLE]);
    let link = link_in(&dashboard(&sim, &operator).await);
    let path = link.trim_start_matches(&server.base).to_string();
    let mut http = Http::new(&server);
    // looking at the page does not use the link; it expires on its own
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = http.get(&path).await;
        if page.status == 410 {
            assert!(page.body.contains("has expired"), "{}", page.body);
            break;
        }
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            std::time::Instant::now() < deadline,
            "the link never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = link.rsplit('/').next().expect("token");
    let used = http
        .post_form("/login/link", &[("token", token)], &[])
        .await;
    assert_eq!(used.status, 410);
    assert!(used.body.contains("has expired"), "{}", used.body);
    assert!(http.cookie.is_none(), "no session from an expired link");
    assert!(audit(&drover)
        .iter()
        .any(|e| { e["actor"] == "discord:2004" && e["outcome"] == "denied: link expired" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_without_a_public_url_says_how_to_set_one() {
    let drover = common::Drover::with_config(&format!(
        "[discord]\nguilds = [{GUILD}]\n[discord.permissions]\nviewer = [\"role:{VIEWER_ROLE}\"]\n"
    ));
    let sim = DiscordSim::start().await;
    let mut bot = drover
        .command()
        .arg("bot")
        .env("DISCORD_TOKEN", sim.token())
        .env("DROVER_DISCORD_API", &sim.base_url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("drover bot");
    bot_ready(&sim).await;
    let answer = dashboard(&sim, &SimUser::member(2005, GUILD, &[VIEWER_ROLE])).await;
    let text = answer["data"]["content"].as_str().unwrap_or_default();
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(text.contains("[web] public_url"), "{answer}");
    let _ = bot.kill();
    let _ = bot.wait();
}
