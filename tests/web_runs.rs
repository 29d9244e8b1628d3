//! Run pages in a real headless Chromium against the real `drover serve`,
//! with runs on real sshd hosts on loopback: a run started from the CLI
//! seen live without a reload, filtered to its failed hosts, host output
//! shown as text, a host's logs downloaded; cancel from the page with no
//! remote process left; a viewer without the Cancel button whose forged
//! cancel is refused. Screenshots in target/test-artefacts/web/.

#[path = "browser/mod.rs"]
mod browser;
mod common;
#[path = "web/mod.rs"]
mod web;

use std::time::{Duration, Instant};

use browser::Browser;
use common::SshFleet;
use serde_json::Value;
use web::{add_user, audit, web_config, Http, Server};

const PASSWORD: &str = "correct horse battery staple";

/// Evaluates `script` (which returns a value) in the page.
async fn page_value(b: &Browser, script: &str) -> Value {
    b.client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// The text of the first element matching `css` (shown or not, e.g. in
/// closed details), once it contains `text` (20 s at most).
async fn text_content(b: &Browser, css: &str, text: &str) -> String {
    let script = format!(
        "const el = document.querySelector({}); return el === null ? '' : el.textContent;",
        serde_json::to_string(css).unwrap_or_default()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = page_value(b, &script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        if found.contains(text) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never held {text:?} (last: {found:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a run from the CLI in the background; returns its id.
fn start_detached(drover: &common::Drover, script_group: &str, server_group: &str) -> String {
    drover
        .ok(&["task", "run", script_group, server_group, "--detach"])
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_run_is_seen_live_filtered_to_failures_and_its_output_is_text() {
    let fleet = SshFleet::start(61, 2);
    let mut drover = common::Drover::with_config(&web_config(""));
    drover.add_fleet(&fleet, "w", "web-group");
    drover.script(
        "deploy",
        "echo \"<script>alert(1)</script> <b>bold</b> from $DROVER_HOST\"\n\
         printf '\\033[31mred\\033[0m \\342\\200\\256evil\\n'\nsleep 3\n\
         case $DROVER_HOST in w-2) echo broken; exit 3;; esac\necho done\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "lamp", "deploy"]);
    add_user(&drover, "alice", "operator", PASSWORD);
    let server = Server::start(&drover);
    let b = Browser::start("run-live").await;
    b.guarded(async {
        b.login(&server.base, "alice", PASSWORD).await;
        b.wait_for_path("/").await;
        let id = start_detached(&drover, "lamp", "web-group");

        // The home page links the run; its page shows it running.
        b.goto(&server.url("/")).await;
        b.click_and_wait_for_new_page(&format!("#runs a[href='/runs/{id}']"))
            .await;
        b.wait_for_path(&format!("/runs/{id}")).await;
        b.wait_for_text("#run-state-name", "running").await;
        page_value(&b, "window.__sameDocument = true; return true;").await;
        b.screenshot("01-running").await;

        // Host output is text: the script's markup is shown, not run.
        let tail = text_content(
            &b,
            "tr[data-host='w-1'] pre.tail",
            "<script>alert(1)</script>",
        )
        .await;
        assert!(tail.contains("<b>bold</b>"), "{tail}");
        // Colours and direction overrides do not reach the page.
        let tail = text_content(&b, "tr[data-host='w-1'] pre.tail", "red evil").await;
        assert!(
            !tail.contains('\u{1b}') && !tail.contains('\u{202e}'),
            "{tail:?}"
        );
        let injected = page_value(
            &b,
            "return document.querySelectorAll('#run-live script, #run-live b').length;",
        )
        .await;
        assert_eq!(injected, 0, "host output became markup");

        // The run ends; the page follows without a reload.
        b.wait_for_text("#run-state-name", "failed").await;
        b.wait_for_text("tr[data-host='w-1'] td.state", "succeeded")
            .await;
        b.wait_for_text("tr[data-host='w-2'] td.ended", "exit 3")
            .await;
        assert_eq!(
            page_value(&b, "return window.__sameDocument === true;").await,
            true,
            "the page was reloaded"
        );
        let updates = page_value(
            &b,
            "return document.getElementById('run-live').dataset.updates;",
        )
        .await;
        assert!(
            updates
                .as_str()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0)
                >= 1,
            "no live update: {updates}"
        );
        // Failures come first.
        let first = page_value(&b, "return document.querySelector('tr.host').dataset.host;").await;
        assert_eq!(first, "w-2");
        b.screenshot("02-failed").await;

        // Filtered to failed hosts.
        let select = b.wait_for("#filter-state").await;
        select
            .select_by_value("failed")
            .await
            .expect("choose failed");
        b.click_and_wait_for_new_page("#apply-filter").await;
        b.wait_for_path(&format!("/runs/{id}?state=failed&host="))
            .await;
        let hosts = page_value(
            &b,
            "return Array.from(document.querySelectorAll('tr.host')).map(r => r.dataset.host);",
        )
        .await;
        assert_eq!(hosts, serde_json::json!(["w-2"]));
        b.screenshot("03-filtered").await;

        // At phone width the page does not scroll sideways (wide tables
        // scroll inside themselves).
        b.client
            .set_window_size(390, 844)
            .await
            .expect("phone width");
        b.goto(&server.url(&format!("/runs/{id}"))).await;
        b.wait_for_text("#run-state-name", "failed").await;
        let overflow = page_value(
            &b,
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        )
        .await;
        assert!(
            overflow.as_i64().is_some_and(|px| px <= 0),
            "page wider than the phone by {overflow} px"
        );
        b.screenshot("03b-phone").await;
        b.client
            .set_window_size(1280, 900)
            .await
            .expect("desktop width");

        // A host's logs: the link, and the download it leads to.
        let href = b
            .wait_for("tr[data-host='w-2'] a.logs")
            .await
            .attr("href")
            .await
            .expect("href")
            .unwrap_or_default();
        assert_eq!(href, format!("/runs/{id}/hosts/w-2/logs"));
        let mut http = Http::new(&server);
        assert_eq!(http.login("alice", PASSWORD).await.status, 303);
        let logs = http.get(&href).await;
        assert_eq!(logs.status, 200, "{}", logs.body);
        assert!(logs.header("content-type").starts_with("text/plain"));
        assert_eq!(
            logs.header("content-disposition"),
            format!("attachment; filename=\"run-{id}-w-2.log\"")
        );
        assert!(
            logs.body.starts_with("==> w-2 · step 1/1 deploy <==\n"),
            "{}",
            logs.body
        );
        // The download is the log as written (colours included).
        assert!(
            logs.body
                .contains("from w-2\n\u{1b}[31mred\u{1b}[0m \u{202e}evil\nbroken\n"),
            "{}",
            logs.body
        );
        assert!(!logs.body.contains("w-1"), "{}", logs.body);

        // The runs list filters by state, task and who started the run,
        // on the page and in the API (the documents of `run list --json`).
        let listed = |answer: &web::Answer| -> Vec<i64> {
            answer
                .json()
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_i64())
                .collect()
        };
        let run_id: i64 = id.parse().expect("run id");
        assert_eq!(listed(&http.get("/api/runs?state=failed").await), [run_id]);
        assert_eq!(
            listed(&http.get("/api/runs?state=succeeded").await),
            Vec::<i64>::new()
        );
        assert_eq!(
            listed(&http.get("/api/runs?by=cli:tester&task=").await),
            [run_id]
        );
        assert_eq!(
            listed(&http.get("/api/runs?by=web:").await),
            Vec::<i64>::new()
        );
        assert_eq!(
            http.get("/api/runs").await.json(),
            drover.json(&["run", "list"]),
            "the same documents as the CLI"
        );
        let refused = http.get("/api/runs?state=paused").await;
        assert_eq!(refused.status, 400);
        assert!(
            refused.body.contains("unknown run state 'paused'"),
            "{}",
            refused.body
        );
        b.goto(&server.url("/?state=succeeded")).await;
        b.wait_for_text("#no-runs", "No run matches the filter.")
            .await;
        let select = b.wait_for("#runs-state").await;
        select
            .select_by_value("failed")
            .await
            .expect("choose failed");
        b.click_and_wait_for_new_page("#runs-apply").await;
        b.wait_for(&format!("#runs tr[data-run='{id}']")).await;
        b.screenshot("04-runs-filtered").await;

        // The JSON API gives the run status document.
        let api = http.get(&format!("/api/runs/{id}")).await;
        assert_eq!(api.status, 200, "{}", api.body);
        let doc = api.json();
        assert_eq!(doc["state"], "failed");
        assert_eq!(common::host_doc(&doc, "w-2")["exit_code"], 3);
    })
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_from_the_page_leaves_no_process_and_a_viewer_cannot_cancel() {
    let fleet = SshFleet::start(66, 1);
    let mut drover = common::Drover::with_config(&web_config(""));
    drover.add_fleet(&fleet, "c", "cancel-group");
    let sleep = common::unique_sleep();
    drover.script("wait", &format!("echo waiting\n{sleep}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "waits", "wait"]);
    add_user(&drover, "alice", "operator", PASSWORD);
    add_user(&drover, "bob", "viewer", PASSWORD);
    add_user(&drover, "dana", "admin", PASSWORD);
    let server = Server::start(&drover);
    let id = start_detached(&drover, "waits", "cancel-group");
    common::eventually("the step runs", || {
        !common::processes_matching(&sleep).is_empty()
    });

    // A viewer sees the run but no Cancel button, and a forged cancel
    // (with a valid session and CSRF token) is refused and changes nothing.
    let mut viewer = Http::new(&server);
    assert_eq!(viewer.login("bob", PASSWORD).await.status, 303);
    let page = viewer.get(&format!("/runs/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"run-state-name\""), "{}", page.body);
    assert!(!page.body.contains("id=\"cancel\""), "{}", page.body);
    let csrf = viewer.csrf().await;
    let forged = viewer
        .post_form(&format!("/runs/{id}/cancel"), &[("csrf", &csrf)], &[])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("operator level"), "{}", forged.body);
    let status = drover.json(&["run", "status", &id]);
    assert_eq!(status["state"], "running", "{status:#}");
    assert!(!common::processes_matching(&sleep).is_empty());

    let b = Browser::start("run-cancel").await;
    b.guarded(async {
        b.login(&server.base, "alice", PASSWORD).await;
        b.wait_for_path("/").await;
        b.goto(&server.url(&format!("/runs/{id}"))).await;
        b.wait_for_text("#run-state-name", "running").await;
        // Once the live stream has replaced the section, its Cancel form
        // carries the token the page's script put in.
        let deadline = Instant::now() + Duration::from_secs(20);
        while page_value(
            &b,
            "return Number(document.getElementById('run-live').dataset.updates || '0');",
        )
        .await
        .as_i64()
            < Some(1)
        {
            assert!(Instant::now() < deadline, "no live update");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        b.screenshot("01-running").await;
        // Accept the confirmation the button asks for.
        page_value(&b, "window.confirm = () => true; return true;").await;
        b.click_and_wait_for_new_page("#cancel").await;
        b.wait_for_path(&format!("/runs/{id}")).await;
        b.wait_for_text("#run-state-name", "cancelled").await;
        b.wait_for_text("tr[data-host='c-1'] td.state", "cancelled")
            .await;
        b.screenshot("02-cancelled").await;
    })
    .await;
    b.close().await;

    common::assert_gone(&[&sleep], "cancel from the web page");
    // The audit trail is for admins: the page, and the same entries as
    // `drover audit` in the API.
    assert_eq!(viewer.get("/audit").await.status, 403);
    assert_eq!(viewer.get("/api/audit").await.status, 403);
    let mut admin = Http::new(&server);
    assert_eq!(admin.login("dana", PASSWORD).await.status, 303);
    let page = admin.get("/audit").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<td>run.cancel</td>"), "{}", page.body);
    assert!(page.body.contains("<td>web:alice</td>"), "{}", page.body);
    let api = admin.get("/api/audit").await.json();
    let cli = drover.json(&["audit", "--limit", "500"]);
    // Reading the trail adds nothing to it: both read the same entries.
    assert_eq!(api.as_array().map(Vec::len), cli.as_array().map(Vec::len));
    assert_eq!(api, cli);
    let entries = audit(&drover);
    let cancel = entries
        .iter()
        .find(|e| e["action"] == "run.cancel")
        .expect("the cancel is audited");
    assert_eq!(cancel["actor"], "web:alice", "{cancel:#}");
    assert!(
        entries
            .iter()
            .all(|e| !(e["action"] == "run.cancel" && e["actor"] == "web:bob")),
        "the viewer's forged cancel is not recorded as a cancel"
    );
}

/// A live stream open in a browser does not hold up the server stopping:
/// on SIGTERM the stream ends and `drover serve` exits; the run goes on
/// in the process that drives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_live_stream_ends_when_the_server_stops() {
    let fleet = SshFleet::start(67, 1);
    let mut drover = common::Drover::with_config(&web_config(""));
    drover.add_fleet(&fleet, "s", "stream-group");
    let sleep = common::unique_sleep();
    drover.script("wait", &format!("echo waiting\n{sleep}\n"), &[]);
    drover.ok(&["scriptgroup", "create", "waits", "wait"]);
    add_user(&drover, "carol", "viewer", PASSWORD);
    let mut server = Server::start(&drover);
    let id = start_detached(&drover, "waits", "stream-group");
    common::eventually("the step runs", || {
        !common::processes_matching(&sleep).is_empty()
    });
    let mut http = Http::new(&server);
    assert_eq!(http.login("carol", PASSWORD).await.status, 303);
    let cookie = http.cookie.clone().expect("session cookie");
    let mut stream = reqwest::Client::new()
        .get(server.url(&format!("/runs/{id}/live")))
        .header("cookie", format!("drover_session={cookie}"))
        .send()
        .await
        .expect("live stream");
    assert_eq!(stream.status(), 200);
    assert!(stream
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream")));
    let first = stream.chunk().await.expect("read").expect("a first event");
    let first = String::from_utf8_lossy(&first);
    assert!(first.starts_with("event: run\n"), "{first}");
    assert!(first.contains("running"), "{first}");

    let status = server.terminate();
    assert!(status.success(), "{status:?}: {}", server.stderr());
    // The stream has ended (no hang), and the run goes on elsewhere.
    while let Ok(Some(_)) = stream.chunk().await {}
    assert_eq!(drover.json(&["run", "status", &id])["state"], "running");
    drover.ok(&["run", "cancel", &id]);
    common::assert_gone(&[&sleep], "run cancel");
}

/// An operator starts a run from the browser: a script group on a server
/// group with an env value, confirmed because it is above
/// `discord.confirm_above` hosts, then followed live to its end. A refused
/// env key gets the CLI's words and starts nothing; a viewer cannot start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_starts_a_run_from_the_browser_after_confirming_it() {
    let fleet = SshFleet::start(68, 2);
    let config = web_config("[discord]\nconfirm_above = 1\n");
    let mut drover = common::Drover::with_config(&config);
    drover.add_fleet(&fleet, "n", "new-group");
    drover.script("greet", "echo \"greeting: $GREETING\"\n", &[]);
    drover.ok(&["scriptgroup", "create", "greets", "greet"]);
    add_user(&drover, "alice", "operator", PASSWORD);
    add_user(&drover, "bob", "viewer", PASSWORD);
    let server = Server::start(&drover);

    let mut viewer = Http::new(&server);
    assert_eq!(viewer.login("bob", PASSWORD).await.status, 303);
    assert_eq!(viewer.get("/runs/new").await.status, 403);
    let csrf = viewer.csrf().await;
    let forged = viewer
        .post_form(
            "/runs/new",
            &[
                ("csrf", &csrf),
                ("target", "greets"),
                ("server_group", "new-group"),
                ("confirmed", "1"),
            ],
            &[],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    let b = Browser::start("run-start").await;
    b.guarded(async {
        b.login(&server.base, "alice", PASSWORD).await;
        b.wait_for_path("/").await;
        b.click_and_wait_for_new_page("#start-run").await;
        b.wait_for_path("/runs/new").await;

        // A key that runs code is refused in the CLI's words; nothing starts.
        b.fill("#start-target", "greets").await;
        b.fill("#start-server-group", "new-group").await;
        b.fill("#start-env", "BASH_ENV=/tmp/evil").await;
        b.click_and_wait_for_new_page("#start-submit").await;
        let error = b
            .wait_for_text("#start-error", "environment variable BASH_ENV is refused")
            .await;
        let cli = drover.run(&[
            "task",
            "run",
            "greets",
            "new-group",
            "--env",
            "BASH_ENV=/tmp/evil",
        ]);
        let cli_words = String::from_utf8_lossy(&cli.stderr)
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        assert_eq!(error, cli_words);
        assert_eq!(drover.json(&["run", "list"]), Value::Array(vec![]));
        b.screenshot("01-refused").await;

        // Two hosts are above confirm_above = 1: the plan comes first.
        b.fill("#start-target", "greets").await;
        b.fill("#start-server-group", "new-group").await;
        b.fill("#start-env", "GREETING=hello-from-the-web").await;
        b.click_and_wait_for_new_page("#start-submit").await;
        b.wait_for_text("#plan-hosts", "2 hosts").await;
        assert_eq!(drover.json(&["run", "list"]), Value::Array(vec![]));
        b.screenshot("02-confirm").await;
        b.click_and_wait_for_new_page("#confirm-start").await;
        b.wait_for_text("#run-state-name", "succeeded").await;
        b.wait_for_text("#started-by", "web:alice").await;
        b.screenshot("03-started").await;
    })
    .await;
    b.close().await;
    let logs = drover.ok(&["run", "logs", "1"]);
    assert!(logs.contains("greeting: hello-from-the-web"), "{logs}");
    let status = drover.json(&["run", "status", "1"]);
    assert_eq!(status["started_by"], "web:alice", "{status:#}");
}

/// Reads `/runs/ID/live` as `session` until the stream ends; returns what
/// came.
async fn live_stream(server: &Server, session: &str, id: &str) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let mut response = client
        .get(server.url(&format!("/runs/{id}/live")))
        .header("cookie", format!("drover_session={session}"))
        .send()
        .await
        .expect("open the live stream");
    assert_eq!(response.status(), 200);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("read the live stream") {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// Live streams of one run share its reads and renderings, so they carry
/// no session's secret: no CSRF token (the page's script fills in its
/// own), and a viewer's stream has no buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_of_one_run_share_reads_but_not_sessions() {
    let fleet = SshFleet::start(81, 2);
    let mut drover = common::Drover::with_config(&web_config(""));
    drover.add_fleet(&fleet, "s", "share-group");
    drover.script("slow", "echo start\nsleep 3\necho end\n", &[]);
    drover.ok(&["scriptgroup", "create", "slowly", "slow"]);
    add_user(&drover, "alice", "operator", PASSWORD);
    add_user(&drover, "bob", "operator", PASSWORD);
    add_user(&drover, "val", "viewer", PASSWORD);
    let server = Server::start(&drover);
    let mut sessions = Vec::new();
    for name in ["alice", "bob", "val"] {
        let mut http = Http::new(&server);
        http.login(name, PASSWORD).await;
        let csrf = http.csrf().await;
        sessions.push((http.cookie.clone().expect("session cookie"), csrf));
    }
    let id = start_detached(&drover, "slowly", "share-group");
    let streams = futures::future::join_all(
        sessions
            .iter()
            .map(|(cookie, _)| live_stream(&server, cookie, &id)),
    )
    .await;
    let [alice, bob, val] = [&streams[0], &streams[1], &streams[2]];
    for (name, stream) in [("alice", alice), ("bob", bob), ("val", val)] {
        // The whole section first, then only what changed, to the end.
        assert!(stream.starts_with("event: run\n"), "{name}: {stream}");
        assert!(
            stream.contains("\"final\":true"),
            "{name} never got the final state"
        );
        assert!(
            stream.matches("event: rows").count() >= 1,
            "{name} saw no change: {stream}"
        );
        for (_, csrf) in &sessions {
            assert!(!stream.contains(csrf.as_str()), "{name} got a CSRF token");
        }
    }
    // A run that does not exist has no stream.
    let mut http = Http::new(&server);
    http.login("val", PASSWORD).await;
    let missing = http.get("/runs/999/live").await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(
        missing.body.contains("unknown run '999'"),
        "{}",
        missing.body
    );
    assert!(alice.contains("id=\"cancel\""), "{alice}");
    assert!(bob.contains("id=\"cancel\""), "{bob}");
    assert!(!val.contains("id=\"cancel\""), "{val}");
}

/// A run of more hosts than fit at a glance, followed live: the changes
/// the stream sends (rows moved between groups, rows rebuilt) leave every
/// host once in the right group; only hosts that need attention show
/// their output, and a host's own view shows any host's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_run_followed_live_ends_with_every_host_once_in_its_group() {
    let fleet = SshFleet::start(90, 15);
    let mut drover = common::Drover::with_config(&web_config(""));
    // 30 hosts on 15 addresses: two inventory names for each.
    drover.add_fleet(&fleet, "a", "wide");
    drover.add_fleet(&fleet, "b", "wide");
    drover.script(
        "step",
        "echo \"out of $DROVER_HOST\"\nsleep 2\ncase $DROVER_HOST in a-1|a-2) exit 3;; esac\n",
        &[],
    );
    drover.ok(&["scriptgroup", "create", "steps", "step"]);
    drover.ok(&[
        "task",
        "create",
        "wide-task",
        "steps",
        "wide",
        "--parallel",
        "6",
    ]);
    add_user(&drover, "alice", "viewer", PASSWORD);
    let server = Server::start(&drover);
    let b = Browser::start("run-big").await;
    b.guarded(async {
        b.login(&server.base, "alice", PASSWORD).await;
        b.wait_for_path("/").await;
        let id = drover
            .ok(&["task", "run", "wide-task", "--detach"])
            .trim()
            .to_string();
        b.goto(&server.url(&format!("/runs/{id}"))).await;
        b.wait_for_text("#run-state-name", "failed").await;
        let updates = page_value(&b, "return Number(document.getElementById('run-live').dataset.updates || '0');").await;
        // The whole section, then changes (the run lasts ~10 s: 5 rounds of 2 s).
        assert!(updates.as_i64() >= Some(2), "no live change: {updates}");
        let layout = page_value(
            &b,
            "return Array.from(document.querySelectorAll('#run-groups section')).map((s) => \
             ({ group: s.querySelector('h2').textContent, \
                hosts: Array.from(s.querySelectorAll('tr.host')).map((r) => r.dataset.host + ':' + r.dataset.state), \
                outputs: s.querySelectorAll('pre.tail').length }));",
        )
        .await;
        let groups = layout.as_array().cloned().unwrap_or_default();
        assert_eq!(groups.len(), 2, "{layout:#}");
        assert_eq!(groups[0]["group"], "failed (2)", "{layout:#}");
        assert_eq!(groups[0]["hosts"], serde_json::json!(["a-1:failed", "a-2:failed"]));
        assert_eq!(groups[0]["outputs"], 2, "failed hosts show their output");
        assert_eq!(groups[1]["group"], "succeeded (28)", "{layout:#}");
        let succeeded: Vec<&str> = groups[1]["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut unique = succeeded.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 28, "{succeeded:?}");
        assert!(succeeded.iter().all(|h| h.ends_with(":succeeded")));
        // In the order people count (a-3 … a-15, b-1 … b-15), not a-10 before a-3.
        let expected: Vec<String> = (3..=15)
            .map(|i| format!("a-{i}:succeeded"))
            .chain((1..=15).map(|i| format!("b-{i}:succeeded")))
            .collect();
        assert_eq!(succeeded, expected);
        assert_eq!(groups[1]["outputs"], 0, "28 succeeded hosts' output is left out");
        b.wait_for_text("#output-note", "need attention").await;
        b.screenshot("01-big-run").await;

        // A host's own view shows its output.
        b.click_and_wait_for_new_page("tr[data-host='b-7'] td.name a").await;
        b.wait_for_path(&format!("/runs/{id}?host=b-7")).await;
        let tail = text_content(&b, "tr[data-host='b-7'] pre.tail", "out of b-7").await;
        assert!(tail.contains("out of b-7"), "{tail}");
    })
    .await;
    b.close().await;
}
