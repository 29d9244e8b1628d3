//! The bot end to end: the real `drover bot` process against the Discord
//! simulator and real sshd hosts on loopback.

mod common;
#[path = "discord_sim/mod.rs"]
mod discord_sim;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::SshFleet;
use discord_sim::{DiscordSim, SimInteraction, SimMessage, SimUser};
use serde_json::{json, Value};

const GUILD: u64 = 900_000_000_000_000_001;
const CHANNEL: u64 = 900_000_000_000_000_002;
const ADMIN_ROLE: u64 = 900_000_000_000_000_010;
const OPERATOR_ROLE: u64 = 900_000_000_000_000_011;
const TIMEOUT: Duration = Duration::from_secs(30);

struct Bot {
    child: Child,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config() -> String {
    format!(
        "[discord]\nguilds = [{GUILD}]\nedit_interval = \"500ms\"\nconfirm_above = 50\n\
         [discord.permissions]\nadmin = [\"role:{ADMIN_ROLE}\"]\noperator = [\"role:{OPERATOR_ROLE}\"]\n\
         [logs]\nredact = [\"password=\\\\S+\"]\n"
    )
}

async fn start_bot(sim: &DiscordSim, drover: &common::Drover) -> Bot {
    let child = drover
        .command()
        .arg("bot")
        .env("DISCORD_TOKEN", sim.token())
        .env("DROVER_DISCORD_API", &sim.base_url)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start drover bot");
    sim.wait_ready(TIMEOUT)
        .await
        .expect("bot connects to the gateway");
    // commands are registered in the guild once setup has run
    eventually(|| !sim.guild_commands(GUILD).is_empty()).await;
    Bot { child }
}

/// Polls `ready` every 100 ms for up to 10 s (callers assert afterwards).
async fn eventually(mut ready: impl FnMut() -> bool) {
    for _ in 0..100 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/task run SCRIPT_GROUP SERVER_GROUP` as `user`; the command's answer.
async fn task_run(
    sim: &DiscordSim,
    user: &SimUser,
    script_group: &str,
    server_group: &str,
) -> Value {
    let run = sim
        .slash_command(
            user,
            CHANNEL,
            "task",
            &["run"],
            vec![
                ("task_or_script_group", json!(script_group)),
                ("server_group", json!(server_group)),
            ],
        )
        .await;
    sim.wait_response(&run, TIMEOUT)
        .await
        .expect("the command is answered")
}

/// An operator types `la` as `/task run`'s first option; the answer.
async fn operator_types_la(sim: &DiscordSim) -> Value {
    let typed = sim
        .autocomplete(
            &operator(),
            CHANNEL,
            "task",
            &["run"],
            vec![("task_or_script_group", json!("la"))],
            "task_or_script_group",
        )
        .await;
    sim.wait_response(&typed, TIMEOUT)
        .await
        .expect("autocomplete answered")
}

fn operator() -> SimUser {
    SimUser::member(1001, GUILD, &[OPERATOR_ROLE])
}

/// The progress message of the newest run in the channel (one with buttons).
fn progress_message(sim: &DiscordSim) -> Option<SimMessage> {
    sim.messages(CHANNEL)
        .into_iter()
        .rfind(|m| !m.embeds.is_empty() && !m.components.is_empty())
}

fn embed_text(m: &SimMessage) -> String {
    m.embeds
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn wait_final(sim: &DiscordSim, state: &str) -> SimMessage {
    for _ in 0..300 {
        if let Some(m) = progress_message(sim) {
            let title = m
                .embeds
                .first()
                .and_then(|e| e["title"].as_str())
                .unwrap_or_default()
                .to_lowercase();
            if title.contains(state) {
                return m;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no progress message reached {state}: {:#?}",
        sim.messages(CHANNEL)
    );
}

fn setup_inventory(fleet: &SshFleet) -> common::Drover {
    let mut drover = common::Drover::with_config(&config());
    drover.add_fleet(fleet, "web", "web-group");
    drover.script("setup-apache", "echo apache on $DROVER_HOST\n", &[]);
    drover.script(
        "setup-mysql",
        "if [ \"$DROVER_HOST\" = web-2 ]; then echo 'mysql broke @everyone password=hunter2 ```'; exit 7; fi\necho mysql ok\n",
        &[],
    );
    drover.script("setup-php", "echo php ok\n", &[]);
    drover.ok(&[
        "scriptgroup",
        "create",
        "lamp",
        "setup-apache",
        "setup-mysql",
        "setup-php",
    ]);
    drover
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_run_from_slash_command_to_final_embed_with_logs() {
    let fleet = SshFleet::start(111, 3);
    let drover = setup_inventory(&fleet);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    let commands: Vec<String> = sim
        .guild_commands(GUILD)
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    for name in [
        "host",
        "group",
        "script",
        "scriptgroup",
        "task",
        "run",
        "log",
    ] {
        assert!(
            commands.iter().any(|c| c == name),
            "/{name} registered: {commands:?}"
        );
    }

    // autocomplete answers with matching names
    let choices = operator_types_la(&sim).await;
    assert_eq!(choices["type"], 8, "{choices}");
    assert_eq!(choices["data"]["choices"][0]["name"], "lamp", "{choices}");

    let answer = task_run(&sim, &operator(), "lamp", "web-group").await;
    assert!(
        answer.to_string().contains("lamp") && answer.to_string().contains("3"),
        "{answer}"
    );
    // a storm of 429s on the progress edits still ends with the right final message
    sim.rate_limit_next(6, 0.3);

    let last = wait_final(&sim, "failed").await;
    let text = embed_text(&last);
    assert!(text.contains("web-2"), "{text}");
    assert!(
        text.contains("mysql broke"),
        "failed host excerpt shown: {text}"
    );
    assert!(!text.contains("hunter2"), "secrets are redacted: {text}");
    assert!(
        !text.contains("@everyone"),
        "mentions are neutralised: {text}"
    );
    assert!(last.edits >= 1, "the progress message was edited");
    // logs attached when the run ends
    let mut files = Vec::new();
    for _ in 0..100 {
        files = sim
            .messages(CHANNEL)
            .into_iter()
            .flat_map(|m| m.attachments)
            .collect::<Vec<_>>();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"run-1-web-2.log") && names.len() == 3,
        "{names:?}"
    );
    let violations = sim.violations();
    assert!(violations.is_empty(), "{violations:#?}");
    let limited = sim.requests().iter().filter(|r| r.status == 429).count();
    assert!(limited >= 1, "the simulator sent 429s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorised_users_are_refused_and_nothing_runs() {
    let fleet = SshFleet::start(121, 1);
    let drover = setup_inventory(&fleet);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    let stranger = SimUser::member(2002, GUILD, &[]);
    // typing into a command's autocomplete: no suggestions, no audit record
    for typed in ["l", "la"] {
        sim.autocomplete(
            &stranger,
            CHANNEL,
            "task",
            &["run"],
            vec![("task_or_script_group", json!(typed))],
            "task_or_script_group",
        )
        .await;
    }
    // The bot has handled them once an operator's keystroke typed after
    // them is answered (a refused one gets no answer to wait for).
    let choices = operator_types_la(&sim).await;
    assert_eq!(choices["data"]["choices"][0]["name"], "lamp", "{choices}");
    let run = sim
        .slash_command(
            &stranger,
            CHANNEL,
            "task",
            &["run"],
            vec![
                ("task_or_script_group", json!("lamp")),
                ("server_group", json!("web-group")),
                ("env", json!("API_TOKEN=s3cr3t-value REGION=eu")),
            ],
        )
        .await;
    let answer = sim.wait_response(&run, TIMEOUT).await.expect("answered");
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    assert!(answer.to_string().contains("operator level"), "{answer}");
    // an operator may not change the inventory
    let add = sim
        .slash_command(
            &operator(),
            CHANNEL,
            "group",
            &["create"],
            vec![("name", json!("new-group"))],
        )
        .await;
    let answer = sim.wait_response(&add, TIMEOUT).await.expect("answered");
    assert!(answer.to_string().contains("admin level"), "{answer}");
    // DMs are refused, in the user's eyes only, and the refusal is recorded
    let dm = sim
        .slash_command(&SimUser::dm(1001), CHANNEL + 100, "run", &["list"], vec![])
        .await;
    // (answered after its audit record is written)
    let answer = sim.wait_response(&dm, TIMEOUT).await.expect("answered");
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    assert_eq!(
        answer["data"]["content"], "drover commands work only in a server channel, not in DMs",
        "{answer}"
    );
    let runs = drover.json(&["run", "list"]);
    assert_eq!(runs, Value::Array(vec![]), "nothing ran");
    assert!(!drover.ok(&["group", "list"]).contains("new-group"));
    let audit = drover.ok(&["audit"]);
    assert!(
        audit.contains("discord:2002") && audit.contains("denied"),
        "{audit}"
    );
    // the record names the variables, never their values
    assert!(audit.contains("env:API_TOKEN=*** REGION=***"), "{audit}");
    assert!(!audit.contains("s3cr3t"), "{audit}");
    assert!(
        audit.lines().any(|l| l.contains("discord:1001")
            && l.contains("discord /run list")
            && l.contains("denied: drover commands work only in a server channel, not in DMs")),
        "{audit}"
    );
    let strangers = audit.lines().filter(|l| l.contains("discord:2002")).count();
    assert_eq!(
        strangers, 1,
        "only the refused command is recorded: {audit}"
    );
    // the only violation is the test's own: a DM command Discord would not offer
    let violations = sim.violations();
    assert!(
        violations
            .iter()
            .all(|v| v.contains("not registered in DMs")),
        "{violations:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_button_ends_remote_processes_and_gateway_resumes() {
    let fleet = SshFleet::start(131, 2);
    let mut drover = common::Drover::with_config(&config());
    drover.add_fleet(&fleet, "slow", "slow-group");
    let (child, main) = (common::unique_sleep(), common::unique_sleep() + "1");
    drover.script("forever", &format!("{child} &\n{main}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "forever-group", "forever"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "forever-group", "slow-group").await;
    eventually(|| common::processes_matching(&child).len() == 2).await;
    assert_eq!(
        common::processes_matching(&child).len(),
        2,
        "both hosts run the script"
    );
    // the gateway drops mid-run; the bot resumes its session
    sim.disconnect_gateway().await;
    eventually(|| sim.resume_count() >= 1).await;
    assert!(
        sim.resume_count() >= 1,
        "the bot resumed after the disconnect"
    );
    let message = progress_message(&sim).expect("progress message");
    let stranger = SimUser::member(2003, GUILD, &[]);
    let refused = sim
        .click_button(&stranger, CHANNEL, message.id, "drover:cancel:1")
        .await;
    let answer = sim
        .wait_response(&refused, TIMEOUT)
        .await
        .expect("button answered");
    assert!(answer.to_string().contains("operator level"), "{answer}");
    assert_eq!(
        common::processes_matching(&child).len(),
        2,
        "a refused cancel stops nothing"
    );
    let click = sim
        .click_button(&operator(), CHANNEL, message.id, "drover:cancel:1")
        .await;
    let answer = sim
        .wait_response(&click, TIMEOUT)
        .await
        .expect("button answered");
    assert!(answer.to_string().contains("cancelling run 1"), "{answer}");
    let last = wait_final(&sim, "cancelled").await;
    assert!(embed_text(&last).contains("slow-1"));
    common::assert_gone(&[&child, &main], "the cancel button");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    let audit = drover.ok(&["audit"]);
    let presses: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("discord button cancel"))
        .collect();
    assert_eq!(presses.len(), 2, "{audit}");
    assert!(
        presses[0].contains("discord:1001") && presses[0].trim_end().ends_with("ok"),
        "{audit}"
    );
    assert!(
        presses[1].contains("discord:2003")
            && presses[1].contains("denied: you need the operator level"),
        "{audit}"
    );
}

fn admin() -> SimUser {
    SimUser::member(1000, GUILD, &[ADMIN_ROLE])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_come_from_attachments_and_show_as_code() {
    let fleet = SshFleet::start(141, 1);
    let drover = setup_inventory(&fleet);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    let (file, _) = sim.add_attachment("hello.sh", b"#!/bin/sh\necho hello from chat\n".to_vec());
    let options = vec![
        ("name", json!("hello")),
        ("file", json!(file.to_string())),
        ("description", json!("greets")),
    ];
    acknowledged(&sim, &admin(), "script", "add", options).await;
    let mut body = String::new();
    for _ in 0..100 {
        let out = drover.run(&["script", "show", "hello"]);
        if out.status.success() {
            body = String::from_utf8_lossy(&out.stdout).into_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(body, "#!/bin/sh\necho hello from chat\n");
    let history = drover.ok(&["script", "history", "hello"]);
    assert!(
        history.contains("discord:1000"),
        "the version records who added it: {history}"
    );

    let show = sim
        .slash_command(
            &operator(),
            CHANNEL,
            "script",
            &["show"],
            vec![("name", json!("hello"))],
        )
        .await;
    let answer = sim.wait_response(&show, TIMEOUT).await.expect("answered");
    let content = answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        content.starts_with("```") && content.contains("echo hello from chat"),
        "{answer}"
    );

    // a body that is not UTF-8 is refused with the reason, and nothing changes
    let (bad, _) = sim.add_attachment("bad.sh", vec![0xff, 0xfe, b'x']);
    let options = vec![("name", json!("hello")), ("file", json!(bad.to_string()))];
    let edit = acknowledged(&sim, &admin(), "script", "edit", options).await;
    let refused = followup_text(&sim, &edit, "UTF-8").await;
    assert!(refused.contains("not valid UTF-8"), "{refused}");
    assert_eq!(
        drover.ok(&["script", "show", "hello"]),
        body,
        "the script is unchanged"
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// The fleet as `PREFIX-1..n` in `server_group`, and script group
/// `slow-group`: one script printing `tick-1` to `tick-8` over about 3 s.
fn slow_inventory(fleet: &SshFleet, prefix: &str, server_group: &str) -> common::Drover {
    let mut drover = common::Drover::with_config(&config());
    drover.add_fleet(fleet, prefix, server_group);
    drover.script(
        "slow",
        "for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 0.4; done\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "slow-group", "slow"]);
    drover
}

/// Every tick of run 1's slow script is in each host's log, once, in order.
fn assert_every_tick_logged(drover: &common::Drover, hosts: &[&str]) {
    let expected: String = (1..=8).map(|i| format!("tick-{i}\n")).collect();
    for host in hosts {
        assert_eq!(
            String::from_utf8_lossy(&drover.step_log(1, host, 1)),
            expected,
            "{host}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_bot_takes_its_runs_over_and_finishes_the_message() {
    let fleet = SshFleet::start(151, 2);
    let drover = slow_inventory(&fleet, "r", "restart-group");
    let sim = DiscordSim::start().await;
    let bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "slow-group", "restart-group").await;
    eventually(|| progress_message(&sim).is_some()).await;
    let first = progress_message(&sim).expect("progress message posted");
    eventually(|| {
        drover
            .step_log(1, "r-1", 1)
            .starts_with(b"tick-1\ntick-2\n")
    })
    .await;
    drop(bot); // SIGKILL mid-run
    let _bot = start_bot(&sim, &drover).await;
    let last = wait_final(&sim, "succeeded").await;
    assert_eq!(last.id, first.id, "the same message is edited to the end");
    assert_every_tick_logged(&drover, &["r-1", "r-2"]);
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// The lease owner of run `id` (`None`: nobody holds it).
async fn lease_owner(drover: &common::Drover, id: i64) -> Option<String> {
    use sqlx::ConnectOptions;
    let mut db = format!("sqlite://{}", drover.db().display())
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .expect("sqlite url")
        .connect()
        .await
        .expect("open the database");
    sqlx::query_scalar::<_, Option<String>>("SELECT lease_owner FROM runs WHERE id = ?")
        .bind(id)
        .fetch_one(&mut db)
        .await
        .expect("lease owner")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_adopts_a_run_whose_controller_dies_while_it_runs() {
    let fleet = SshFleet::start(161, 2);
    let mut drover = common::Drover::with_config(&config());
    drover.add_fleet(&fleet, "a", "adopt-group");
    let gate = drover.dir.path().join("go");
    drover.script(
        "gated",
        &format!(
            "echo tick-1\nwhile [ ! -e {} ]; do sleep 0.1; done\necho tick-2\n",
            gate.display()
        ),
        &[],
    );
    drover.ok(&["scriptgroup", "create", "gated-group", "gated"]);
    let sim = DiscordSim::start().await;
    let bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "gated-group", "adopt-group").await;
    eventually(|| progress_message(&sim).is_some()).await;
    let first = progress_message(&sim).expect("progress message posted");
    eventually(|| drover.step_log(1, "a-2", 1).starts_with(b"tick-1")).await;
    drop(bot); // SIGKILL
               // A CLI process takes the run over and drives it while a bot starts...
    let mut cli = drover
        .command()
        .args(["run", "resume", "1", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run resume");
    let cli_pid = format!("/{}/", cli.id());
    let mut owner = None;
    for _ in 0..200 {
        owner = lease_owner(&drover, 1).await;
        if owner.as_deref().is_some_and(|o| o.contains(&cli_pid)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        owner.as_deref().is_some_and(|o| o.contains(&cli_pid)),
        "the CLI drives the run: {owner:?}"
    );
    // It registers its commands (a second time: the first bot did too),
    // then looks for orphaned runs: this one is not one yet.
    let registrations = || {
        sim.requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .count()
    };
    let _bot = start_bot(&sim, &drover).await;
    eventually(|| registrations() == 2).await;
    assert_eq!(registrations(), 2, "the second bot registered its commands");
    // ...and dies with the run unfinished, after the bot started.
    cli.kill().expect("SIGKILL the CLI");
    let _ = cli.wait();
    std::fs::write(&gate, "").expect("open the gate");
    let last = wait_final(&sim, "succeeded").await;
    assert_eq!(last.id, first.id, "the same message is edited to the end");
    for host in ["a-1", "a-2"] {
        assert_eq!(drover.step_log(1, host, 1), b"tick-1\ntick-2\n", "{host}");
    }
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_moves_to_a_new_message_that_links_the_first() {
    let fleet = SshFleet::start(156, 1);
    let mut drover = common::Drover::with_config(&config().replace(
        "edit_interval = \"500ms\"",
        "edit_interval = \"500ms\"\nmessage_handover = \"2s\"",
    ));
    drover.add_fleet(&fleet, "l", "long-group");
    drover.script(
        "slow",
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick-$i; sleep 0.4; done\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "slow-group", "slow"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "slow-group", "long-group").await;
    let last = wait_final(&sim, "succeeded").await;
    // Every progress message of the run, oldest first: each one handed over
    // points to the next, each continuation links the first.
    let shown: Vec<SimMessage> = sim
        .messages(CHANNEL)
        .into_iter()
        .filter(|m| !m.embeds.is_empty() && !m.components.is_empty())
        .collect();
    assert!(
        shown.len() >= 2,
        "a 4 s run outlives a 2 s message: {shown:#?}"
    );
    assert_eq!(shown.last().map(|m| m.id), Some(last.id));
    let link = |m: &SimMessage| format!("/channels/{GUILD}/{CHANNEL}/{}", m.id);
    for pair in shown.windows(2) {
        assert!(
            pair[0].content.contains("continues in") && pair[0].content.contains(&link(&pair[1])),
            "{:?} should point to {}",
            pair[0].content,
            link(&pair[1])
        );
        assert!(
            pair[1].content.contains("continues here (started in")
                && pair[1].content.contains(&link(&shown[0])),
            "{:?}",
            pair[1].content
        );
    }
    assert!(
        last.content.contains("succeeded"),
        "the final state is shown below the link: {:?}",
        last.content
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// `/task run hello-group big-group` by the operator, on a bot that asks
/// for confirmation: the command, its first answer, and the id of the
/// question message (its followup).
async fn task_run_to_confirm(sim: &DiscordSim) -> (SimInteraction, Value, u64) {
    let run = sim
        .slash_command(
            &operator(),
            CHANNEL,
            "task",
            &["run"],
            vec![
                ("task_or_script_group", json!("hello-group")),
                ("server_group", json!("big-group")),
            ],
        )
        .await;
    let answer = sim
        .wait_response(&run, TIMEOUT)
        .await
        .expect("acknowledged");
    let mut question = Value::Null;
    eventually(|| {
        question = sim
            .followups(&run)
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        question["id"].is_string()
    })
    .await;
    let id = question["id"]
        .as_str()
        .and_then(|i| i.parse().ok())
        .expect("message id");
    (run, answer, id)
}

/// The operator presses button `custom_id` of message `message_id`; waits
/// for the bot to acknowledge it.
async fn press(sim: &DiscordSim, message_id: u64, custom_id: &str) {
    let click = sim
        .click_button(&operator(), CHANNEL, message_id, custom_id)
        .await;
    sim.wait_response(&click, TIMEOUT)
        .await
        .expect("button acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_runs_ask_for_confirmation_first() {
    let fleet = SshFleet::start(161, 2);
    let mut drover =
        common::Drover::with_config(&config().replace("confirm_above = 50", "confirm_above = 1"));
    drover.add_fleet(&fleet, "b", "big-group");
    drover.script("hello", "echo hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "hello-group", "hello"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    let (run, answer, message_id) = task_run_to_confirm(&sim).await;
    assert!(answer.to_string().contains("Confirm"), "{answer}");
    assert_eq!(
        drover.json(&["run", "list"]),
        Value::Array(vec![]),
        "nothing runs before confirmation"
    );
    press(&sim, message_id, &format!("drover:confirm:{}", run.id)).await;
    let last = wait_final(&sim, "succeeded").await;
    assert!(embed_text(&last).contains("b-2"));
    // a second one is called off at the confirmation, and recorded as such
    let (again, _, question_id) = task_run_to_confirm(&sim).await;
    press(&sim, question_id, &format!("drover:abort:{}", again.id)).await;
    let mut records = Vec::new();
    eventually(|| {
        records = drover
            .ok(&["audit"])
            .lines()
            .filter(|l| l.contains("discord /task run"))
            .map(str::to_string)
            .collect();
        records.len() == 2
    })
    .await;
    assert_eq!(records.len(), 2, "{records:#?}");
    assert!(
        records[0]
            .trim_end()
            .ends_with("cancelled at confirmation; nothing ran"),
        "{records:#?}"
    );
    assert!(records[1].trim_end().ends_with("ok"), "{records:#?}");
    assert_eq!(
        drover.json(&["run", "list"]).as_array().map(Vec::len),
        Some(1)
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_bot_cleanly() {
    let fleet = SshFleet::start(171, 1);
    let drover = setup_inventory(&fleet);
    let sim = DiscordSim::start().await;
    let mut bot = start_bot(&sim, &drover).await;
    stop_with_sigterm(&mut bot).await;
}

/// Sends SIGTERM to the bot and waits (bounded) for it to exit cleanly.
async fn stop_with_sigterm(bot: &mut Bot) {
    let pid = libc::pid_t::try_from(bot.child.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    for _ in 0..100 {
        if let Some(status) = bot.child.try_wait().expect("wait") {
            assert!(status.success(), "clean exit: {status:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the bot did not exit within 10 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_bot_releases_its_runs_which_the_next_one_finishes() {
    let fleet = SshFleet::start(176, 2);
    let drover = slow_inventory(&fleet, "s", "stop-group");
    let sim = DiscordSim::start().await;
    let mut bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "slow-group", "stop-group").await;
    eventually(|| drover.step_log(1, "s-1", 1).starts_with(b"tick-1\n")).await;
    assert!(
        lease_owner(&drover, 1).await.is_some(),
        "the bot holds the run's lease while it drives it"
    );
    stop_with_sigterm(&mut bot).await;
    // Released, not left to expire: the next drover takes the run at once.
    assert_eq!(lease_owner(&drover, 1).await, None);
    let _bot = start_bot(&sim, &drover).await;
    wait_final(&sim, "succeeded").await;
    // The remote runs went on while no bot drove them.
    assert_every_tick_logged(&drover, &["s-1", "s-2"]);
}

/// Sends a slash command and waits until it is acknowledged (deferred).
async fn acknowledged(
    sim: &DiscordSim,
    user: &SimUser,
    command: &str,
    sub: &str,
    options: Vec<(&str, Value)>,
) -> SimInteraction {
    let asked = sim
        .slash_command(user, CHANNEL, command, &[sub], options)
        .await;
    sim.wait_response(&asked, TIMEOUT)
        .await
        .expect("acknowledged");
    asked
}

/// The text of an interaction's original response once it contains `needle`
/// (10 s at most; callers assert on what comes back).
async fn followup_text(sim: &DiscordSim, interaction: &SimInteraction, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = sim
            .followups(interaction)
            .iter()
            .map(|f| f["content"].as_str().unwrap_or_default().to_string())
            .collect();
        if text.contains(needle) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_fetch_and_host_check_connect_with_the_bots_keys() {
    let fleet = SshFleet::start(231, 1);
    let files = tempfile::tempdir().expect("tempdir");
    let log = files.path().join("app.log");
    std::fs::write(
        &log,
        "old line\nlogin ok password=hunter2\nping @everyone done\n",
    )
    .expect("app.log");
    let mut drover = common::Drover::with_config(&format!(
        "{}fetch_allow = [\"{}/*.log\"]\n",
        config(),
        files.path().display()
    ));
    drover.add_fleet(&fleet, "web", "web-group");
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;

    let fetch = |path: String| {
        let sim = &sim;
        async move {
            let options = vec![
                ("host", json!("web-1")),
                ("path", json!(path)),
                ("lines", json!(2)),
            ];
            acknowledged(sim, &operator(), "log", "fetch", options).await
        }
    };
    let asked = fetch(log.display().to_string()).await;
    let text = followup_text(&sim, &asked, "done").await;
    assert!(text.starts_with("```"), "shown as code: {text}");
    assert!(text.contains("login ok") && text.contains("done"), "{text}");
    assert!(!text.contains("old line"), "only the last 2 lines: {text}");
    assert!(!text.contains("hunter2"), "secrets are redacted: {text}");
    assert!(
        !text.contains("@everyone"),
        "mentions are neutralised: {text}"
    );

    let outside = files.path().join("secret.txt");
    std::fs::write(&outside, "hunter2\n").expect("secret");
    let refused = fetch(outside.display().to_string()).await;
    let text = followup_text(&sim, &refused, "fetch_allow").await;
    assert!(text.contains("not allowed by logs.fetch_allow"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    // /host check connects with the bot's keys too.
    let check = acknowledged(
        &sim,
        &admin(),
        "host",
        "check",
        vec![("name", json!("web-1"))],
    )
    .await;
    let text = followup_text(&sim, &check, "web-1").await;
    assert!(text.contains("web-1: ok"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_environment_that_runs_code_is_refused_in_the_cli_words() {
    let fleet = SshFleet::start(176, 1);
    let drover = setup_inventory(&fleet);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    let witness = drover.dir.path().join("pwned");
    let env = format!("REGION=eu BASH_ENV=$(id>{})", witness.display());
    let run = sim
        .slash_command(
            &operator(),
            CHANNEL,
            "task",
            &["run"],
            vec![
                ("task_or_script_group", json!("lamp")),
                ("server_group", json!("web-group")),
                ("env", json!(env)),
            ],
        )
        .await;
    let answer = sim.wait_response(&run, TIMEOUT).await.expect("answered");
    let mut text = answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for _ in 0..100 {
        if text.contains("refused") {
            break;
        }
        text = sim
            .followups(&run)
            .iter()
            .map(|f| f["content"].as_str().unwrap_or_default().to_string())
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cli = drover.run(&[
        "task",
        "run",
        "lamp",
        "web-group",
        "--env",
        "REGION=eu",
        "--env",
        &format!("BASH_ENV=$(id>{})", witness.display()),
    ]);
    let cli_words = String::from_utf8_lossy(&cli.stderr)
        .trim()
        .trim_start_matches("error: ")
        .to_string();
    assert!(
        cli_words.starts_with("environment variable BASH_ENV is refused: "),
        "{cli_words}"
    );
    assert!(
        text.contains(&cli_words),
        "Discord: {text}\nCLI: {cli_words}"
    );
    assert!(!text.contains("id>"), "the value is not repeated: {text}");
    assert!(!witness.exists());
    assert_eq!(drover.json(&["run", "list"]), Value::Array(vec![]));
}

/// The message with the run's logs attached, once posted (10 s at most).
async fn logs_message(sim: &DiscordSim) -> Option<SimMessage> {
    let mut found = None;
    eventually(|| {
        found = sim
            .messages(CHANNEL)
            .into_iter()
            .find(|m| !m.attachments.is_empty());
        found.is_some()
    })
    .await;
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_logs_fit_one_message_and_name_the_rest() {
    let fleet = SshFleet::start(181, 12);
    let mut drover = common::Drover::with_config(&config());
    drover.add_fleet(&fleet, "x", "big-logs");
    // about 3.3 MB a host: ten hosts' logs are far over Discord's 25 MiB
    // per request; x-11 and x-12 fail.
    drover.script(
        "chatty",
        "yes 'filler line of a chatty script, long enough to add up quickly' | head -n 50000\n\
         echo \"last line of $DROVER_HOST\"\n\
         case $DROVER_HOST in x-11|x-12) exit 3;; esac\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "chatty-group", "chatty"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "chatty-group", "big-logs").await;
    let last = wait_final(&sim, "failed").await;
    let logs = logs_message(&sim).await.expect("the logs are posted");
    let sizes: usize = logs.attachments.iter().map(|(_, size)| size).sum();
    assert!(
        sizes <= 9 * 1024 * 1024,
        "one message stays within the limit: {sizes} bytes"
    );
    let names: Vec<&str> = logs.attachments.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(
        names[..2],
        ["run-1-x-11.log", "run-1-x-12.log"],
        "failed hosts first"
    );
    for name in &names {
        let host = name.trim_start_matches("run-1-").trim_end_matches(".log");
        let body = sim.uploaded_file(name).expect("uploaded");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.starts_with(&format!(
                "[earlier output left out; `drover run logs 1 {host}` prints all of it]\n"
            )),
            "{name} says where the rest is: {:?}",
            &text[..text.len().min(200)]
        );
        assert!(
            text.ends_with(&format!("last line of {host}\n")),
            "{name} keeps the end of the logs"
        );
    }
    let left_out: Vec<String> = (1..=10)
        .map(|i| format!("x-{i}"))
        .filter(|h| !names.contains(&format!("run-1-{h}.log").as_str()))
        .collect();
    assert_eq!(left_out.len(), 2);
    for host in &left_out {
        assert!(logs.content.contains(host.as_str()), "{}", logs.content);
    }
    assert!(
        logs.content.contains("`drover run logs 1 HOST`"),
        "{}",
        logs.content
    );

    // The Logs button: the last lines of the failed host, and where the rest is.
    let click = sim
        .click_button(&operator(), CHANNEL, last.id, "drover:logs:1")
        .await;
    let answer = sim.wait_response(&click, TIMEOUT).await.expect("answered");
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    assert!(
        content.contains("last line of x-11") && content.contains("`drover run logs 1 x-11`"),
        "{content}"
    );
    assert!(content.chars().count() <= 2000);
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// An inventory whose hosts fail their first run and succeed, 3 s later,
/// when run again: `rerun-group` of hosts `rr-1..n` with script group
/// `flaky-group`.
fn flaky_inventory(fleet: &SshFleet, config: &str) -> common::Drover {
    let mut drover = common::Drover::with_config(config);
    drover.add_fleet(fleet, "rr", "rerun-group");
    let marks = drover.dir.path().join("marks");
    std::fs::create_dir_all(&marks).expect("marks dir");
    drover.script(
        "flaky",
        &format!(
            "m='{}'/\"$DROVER_HOST\"\nif [ -e \"$m\" ]; then sleep 3; echo again; exit 0; fi\n\
             touch \"$m\"; echo first; exit 4\n",
            marks.display()
        ),
        &[],
    );
    drover.ok(&["scriptgroup", "create", "flaky-group", "flaky"]);
    drover
}

/// The content of an interaction's answer.
fn content_of(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_click_on_rerun_starts_one_rerun() {
    let fleet = SshFleet::start(201, 2);
    let drover = flaky_inventory(&fleet, &config());
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "flaky-group", "rerun-group").await;
    let failed = wait_final(&sim, "failed").await;
    let first = sim
        .click_button(&operator(), CHANNEL, failed.id, "drover:rerun:1")
        .await;
    let second = sim
        .click_button(&admin(), CHANNEL, failed.id, "drover:rerun:1")
        .await;
    let mut answers = Vec::new();
    for click in [&first, &second] {
        let answer = sim.wait_response(click, TIMEOUT).await.expect("answered");
        assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
        answers.push(content_of(&answer));
    }
    answers.sort();
    assert_eq!(
        answers,
        [
            "rerunning the failed hosts of run 1 as run 2",
            "run 1 is already being rerun as run 2, which is still running; wait for it to end \
             (drover run status 2) or cancel it (drover run cancel 2)"
        ],
        "one rerun; the other press is refused naming it"
    );
    let runs = drover.json(&["run", "list"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(2), "{runs:#}");
    let last = wait_final(&sim, "succeeded").await;
    assert!(embed_text(&last).contains("rr-2"));
    let audit = drover.ok(&["audit"]);
    let presses: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("discord button rerun"))
        .collect();
    assert_eq!(presses.len(), 2, "{audit}");
    assert!(
        presses
            .iter()
            .any(|l| l.contains("error: run 1 is already being rerun as run 2")),
        "{audit}"
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// The message an interaction was answered with (the original response),
/// its content and its id, once it exists.
async fn answer_message(sim: &DiscordSim, interaction: &SimInteraction) -> (String, u64) {
    let mut message = Value::Null;
    eventually(|| {
        message = sim
            .followups(interaction)
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        message["id"].is_string()
    })
    .await;
    let id = message["id"]
        .as_str()
        .and_then(|i| i.parse().ok())
        .expect("message id");
    (content_of(&json!({"data": message})), id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_reruns_ask_for_confirmation_like_runs() {
    let fleet = SshFleet::start(211, 2);
    let config = config().replace("confirm_above = 50", "confirm_above = 1");
    let drover = flaky_inventory(&fleet, &config);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    let run = sim
        .slash_command(
            &operator(),
            CHANNEL,
            "task",
            &["run"],
            vec![
                ("task_or_script_group", json!("flaky-group")),
                ("server_group", json!("rerun-group")),
            ],
        )
        .await;
    sim.wait_response(&run, TIMEOUT).await.expect("asked");
    let (_, question) = answer_message(&sim, &run).await;
    press(&sim, question, &format!("drover:confirm:{}", run.id)).await;
    let failed = wait_final(&sim, "failed").await;

    // The Rerun button asks first; called off, nothing runs.
    let click = sim
        .click_button(&operator(), CHANNEL, failed.id, "drover:rerun:1")
        .await;
    let asked = sim.wait_response(&click, TIMEOUT).await.expect("answered");
    assert!(
        content_of(&asked).contains("This runs on 2 hosts. Confirm?"),
        "{asked}"
    );
    assert_eq!(asked["data"]["flags"], 64, "ephemeral: {asked}");
    let (_, question) = answer_message(&sim, &click).await;
    press(&sim, question, &format!("drover:abort:{}", click.id)).await;
    let (text, _) = answer_message(&sim, &click).await;
    assert!(text.ends_with("Cancelled; nothing ran."), "{text}");
    assert_eq!(
        drover.json(&["run", "list"]).as_array().map(Vec::len),
        Some(1)
    );

    // Confirmed, it reruns.
    let click = sim
        .click_button(&operator(), CHANNEL, failed.id, "drover:rerun:1")
        .await;
    sim.wait_response(&click, TIMEOUT).await.expect("answered");
    let (_, question) = answer_message(&sim, &click).await;
    press(&sim, question, &format!("drover:confirm:{}", click.id)).await;
    let (text, _) = answer_message(&sim, &click).await;
    assert!(
        text.ends_with("rerunning the failed hosts of run 1 as run 2"),
        "{text}"
    );
    wait_final(&sim, "succeeded").await;

    // /run rerun asks too.
    let rerun = sim
        .slash_command(
            &operator(),
            CHANNEL,
            "run",
            &["rerun"],
            vec![("id", json!(1))],
        )
        .await;
    sim.wait_response(&rerun, TIMEOUT).await.expect("asked");
    let (text, question) = answer_message(&sim, &rerun).await;
    assert!(
        text.contains("Rerun of run 1") && text.contains("Confirm?"),
        "{text}"
    );
    press(&sim, question, &format!("drover:abort:{}", rerun.id)).await;
    let mut records = Vec::new();
    eventually(|| {
        records = drover
            .ok(&["audit"])
            .lines()
            .filter(|l| l.contains("discord /run rerun") || l.contains("discord button rerun"))
            .map(str::to_string)
            .collect();
        records.len() == 3
    })
    .await;
    assert!(
        records[0]
            .trim_end()
            .ends_with("cancelled at confirmation; nothing ran"),
        "{records:#?}"
    );
    assert!(records[1].trim_end().ends_with("ok"), "{records:#?}");
    assert!(
        records[2]
            .trim_end()
            .ends_with("cancelled at confirmation; nothing ran"),
        "{records:#?}"
    );
    assert_eq!(
        drover.json(&["run", "list"]).as_array().map(Vec::len),
        Some(2)
    );
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_edits_come_at_most_once_per_edit_interval() {
    let fleet = SshFleet::start(221, 2);
    let mut drover = common::Drover::with_config(&config());
    drover.add_fleet(&fleet, "p", "paced");
    let steps: Vec<String> = (1..=8).map(|i| format!("step-{i}")).collect();
    for step in &steps {
        drover.script(step, "sleep 0.15; echo done\n", &[]);
    }
    let mut create = vec!["scriptgroup", "create", "steps"];
    create.extend(steps.iter().map(String::as_str));
    drover.ok(&create);
    let sim = DiscordSim::start().await;
    // A bucket roomy enough that only the bot's own pacing spaces the edits
    // (Discord's 5 per 5 s would space them by itself).
    sim.set_route_limit(
        "PATCH",
        "/channels/{channel_id}/messages/{id}",
        100,
        Duration::from_secs(1),
    );
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "steps", "paced").await;
    let last = wait_final(&sim, "succeeded").await;
    let edits = edit_times(&sim, last.id);
    assert!(
        edits.len() >= 3,
        "the run changed often: {} edits",
        edits.len()
    );
    // edit_interval is 500 ms; 50 ms of slack for request latency.
    assert_apart(&edits, Duration::from_millis(450));
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// When the bot edited the message `id`, in order.
fn edit_times(sim: &DiscordSim, id: u64) -> Vec<std::time::Instant> {
    let path = format!("/api/v10/channels/{CHANNEL}/messages/{id}");
    sim.requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .map(|r| r.time)
        .collect()
}

/// Asserts that consecutive edits came at least `at_least` apart.
fn assert_apart(edits: &[std::time::Instant], at_least: Duration) {
    for pair in edits.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= at_least,
            "two edits {gap:?} apart, under edit_interval"
        );
    }
}

/// The bot learns of a run's changes from the app's run events: the first
/// change after the message is posted shows at once, not a whole
/// `edit_interval` later, and later edits keep to the interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_change_shows_at_once_and_later_edits_keep_the_interval() {
    let fleet = SshFleet::start(255, 1);
    let slow = config().replace("edit_interval = \"500ms\"", "edit_interval = \"6s\"");
    let mut drover = common::Drover::with_config(&slow);
    drover.add_fleet(&fleet, "e", "evented");
    drover.script("wait", "sleep 4; echo done\n", &[]);
    drover.ok(&["scriptgroup", "create", "waits", "wait"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "waits", "evented").await;
    let last = wait_final(&sim, "succeeded").await;
    let posts = format!("/api/v10/channels/{CHANNEL}/messages");
    let posted = sim
        .requests()
        .iter()
        .find(|r| r.method == "POST" && r.path == posts)
        .map(|r| r.time)
        .expect("the progress message was posted");
    let edited = edit_times(&sim, last.id);
    let first = edited.first().copied().expect("the message was edited");
    // The host was connecting or running long before 6 s had passed.
    assert!(
        first - posted < Duration::from_secs(3),
        "the first edit came {:?} after the post (edit_interval is 6 s)",
        first - posted
    );
    assert_apart(&edited, Duration::from_millis(5950));
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// Discord shows every command's and subcommand's description in its
/// picker: each says what it does (1-100 characters, not poise's
/// placeholder).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_and_subcommand_says_what_it_does() {
    let drover = common::Drover::with_config(&config());
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    let mut checked = 0;
    let mut missing = Vec::new();
    let mut stack: Vec<(String, Value)> = sim
        .guild_commands(GUILD)
        .into_iter()
        .map(|c| (c["name"].as_str().unwrap_or_default().to_string(), c))
        .collect();
    while let Some((path, command)) = stack.pop() {
        let description = command["description"].as_str().unwrap_or_default();
        checked += 1;
        // poise's placeholder for a command without a doc comment.
        let placeholder = description == "A slash command";
        if description.is_empty() || description.len() > 100 || placeholder {
            missing.push(format!("{path}: {description:?}"));
        }
        for option in command["options"].as_array().into_iter().flatten() {
            let name = option["name"].as_str().unwrap_or_default();
            // Subcommands (1) and subcommand groups (2) are commands too.
            if matches!(option["type"].as_u64(), Some(1) | Some(2)) {
                stack.push((format!("{path} {name}"), option.clone()));
                continue;
            }
            // A parameter says what to give (not poise's placeholder).
            let said = option["description"].as_str().unwrap_or_default();
            if said.is_empty() || said.len() > 100 || said == "A slash command parameter" {
                missing.push(format!("{path} <{name}>: {said:?}"));
            }
        }
    }
    assert!(checked > 30, "only {checked} commands registered");
    assert!(missing.is_empty(), "without a description: {missing:#?}");
}

/// A run too big to read host by host (more than 25 hosts): the message
/// gives lines only to the hosts that need attention, and the final logs
/// are only theirs, naming no succeeded host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_run_shows_and_attaches_only_the_hosts_that_need_attention() {
    let fleet = SshFleet::start(101, 13);
    let mut drover = common::Drover::with_config(&config());
    // 26 hosts on 13 addresses: two inventory names for each.
    drover.add_fleet(&fleet, "a", "wide");
    drover.add_fleet(&fleet, "b", "wide");
    drover.script(
        "mostly-fine",
        "echo \"hello from $DROVER_HOST\"\ncase $DROVER_HOST in b-3) exit 3;; esac\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "mostly-fine-group", "mostly-fine"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "mostly-fine-group", "wide").await;
    let last = wait_final(&sim, "failed").await;
    let text = embed_text(&last);
    assert!(
        text.contains("26 hosts: ✅ 25 succeeded · ❌ 1 failed"),
        "{text}"
    );
    let lines: Vec<&str> = last.embeds[0]["description"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" **"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("❌ **b-3** · 1/1 mostly-fine · exit 3"),
        "{lines:?}"
    );
    let logs = logs_message(&sim)
        .await
        .expect("the failed host's logs are posted");
    let names: Vec<&str> = logs.attachments.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["run-1-b-3.log"]);
    assert!(!logs.content.contains("Not attached"), "{}", logs.content);
    let body = sim.uploaded_file("run-1-b-3.log").expect("uploaded");
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("hello from b-3"), "{body}");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// With `web.public_url` set, the progress message links the run's page
/// on the web dashboard (a link button), and "and N more" points there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_message_links_the_runs_web_page() {
    let fleet = SshFleet::start(121, 2);
    let linked = format!(
        "{}[web]\npublic_url = \"https://drover.example.org/\"\n",
        config()
    );
    let mut drover = common::Drover::with_config(&linked);
    drover.add_fleet(&fleet, "l", "linked");
    drover.script("hello", "echo hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "hellos", "hello"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;
    task_run(&sim, &operator(), "hellos", "linked").await;
    let last = wait_final(&sim, "succeeded").await;
    let links: Vec<&Value> = last
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().into_iter().flatten())
        .filter(|button| button["style"] == 5)
        .collect();
    assert_eq!(links.len(), 1, "{:#?}", last.components);
    assert_eq!(links[0]["url"], "https://drover.example.org/runs/1");
    assert_eq!(links[0]["label"], "Open run page");
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

/// `/task edit` changes what it is given, for admins only, audited as the
/// Discord user; an operator's edit changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_a_task_from_discord() {
    let drover = common::Drover::with_config(&config());
    drover.script("deploy", "true\n", &[]);
    drover.ok(&["scriptgroup", "create", "lamp", "deploy"]);
    drover.ok(&["group", "create", "web"]);
    drover.ok(&["group", "create", "db"]);
    drover.ok(&["task", "create", "ship", "lamp", "web"]);
    let sim = DiscordSim::start().await;
    let _bot = start_bot(&sim, &drover).await;

    let refused = sim
        .slash_command(
            &operator(),
            CHANNEL,
            "task",
            &["edit"],
            vec![("name", json!("ship")), ("parallel", json!(2))],
        )
        .await;
    let answer = sim
        .wait_response(&refused, TIMEOUT)
        .await
        .expect("answered");
    assert!(answer.to_string().contains("admin level"), "{answer}");
    assert_eq!(drover.json(&["task", "show", "ship"])["parallel"], 64);

    let options = vec![
        ("name", json!("ship")),
        ("server_group", json!("db")),
        ("parallel", json!(5)),
        ("continue_on_error", json!(true)),
    ];
    let edit = acknowledged(&sim, &admin(), "task", "edit", options).await;
    let text = followup_text(&sim, &edit, "changed task ship").await;
    assert!(text.contains("changed task ship"), "{text}");
    let task = drover.json(&["task", "show", "ship"]);
    assert_eq!(task["server_group"], "db", "{task}");
    assert_eq!(task["parallel"], 5, "{task}");
    assert_eq!(task["on_failure"], "continue", "{task}");
    let audit = drover.ok(&["audit"]);
    assert!(
        audit.lines().any(|l| l.contains("discord:1000")
            && l.contains("task.edit")
            && l.contains("server group: web -> db")),
        "{audit}"
    );
}
