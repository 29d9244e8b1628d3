//! The inventory and the script library in a real headless Chromium
//! against the real `drover serve`: an admin adds and edits hosts, server
//! groups, scripts (a new version, the diff between versions), script
//! groups (reordered) and tasks; refusals come in the CLI's words and
//! change nothing; every change is audited as the web user. A viewer reads
//! but cannot change (no forms, forged requests refused). `/api/` serves
//! the documents `--json` prints. Rerun asks above `confirm_above` like a
//! new run. Screenshots in target/test-artefacts/web/.

#[path = "browser/mod.rs"]
mod browser;
mod common;
#[path = "web/mod.rs"]
mod web;

use browser::Browser;
use common::SshFleet;
use serde_json::Value;
use web::{add_user, audit, web_config, Http, Server};

const PASSWORD: &str = "correct horse battery staple";

/// What the CLI says on stderr for `args` (which must fail), without
/// its "error: " prefix.
fn cli_refusal(drover: &common::Drover, args: &[&str]) -> String {
    let out = drover.run(args);
    assert!(!out.status.success(), "drover {args:?} was not refused");
    String::from_utf8_lossy(&out.stderr)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// The refusal shown above the form just sent.
async fn form_error(b: &Browser) -> String {
    b.wait_for("#form-error")
        .await
        .text()
        .await
        .unwrap_or_default()
}

/// `(actor, action, target)` of every audit entry, oldest first.
fn audited(drover: &common::Drover) -> Vec<(String, String, String)> {
    let field = |entry: &Value, name: &str| entry[name].as_str().unwrap_or_default().to_string();
    let mut entries: Vec<_> = audit(drover)
        .iter()
        .map(|e| (field(e, "actor"), field(e, "action"), field(e, "target")))
        .collect();
    entries.reverse();
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_keeps_the_inventory_and_library_in_the_browser() {
    let drover = common::Drover::with_config(&web_config(""));
    add_user(&drover, "alice", "admin", PASSWORD);
    let server = Server::start(&drover);
    let b = Browser::start("inventory").await;
    b.guarded(async {
        b.login(&server.base, "alice", PASSWORD).await;
        b.wait_for_path("/").await;
        let before = audited(&drover).len();

        // Hosts: a bad name is refused in the CLI's words, the form keeps
        // what was typed, nothing is added.
        b.click_and_wait_for_new_page("#nav-hosts").await;
        b.wait_for_path("/hosts").await;
        b.fill("#host-name", "Web 1").await;
        b.fill("#host-address", "127.0.0.1").await;
        b.click_and_wait_for_new_page("#host-add-submit").await;
        let error = form_error(&b).await;
        assert_eq!(
            error,
            cli_refusal(&drover, &["host", "add", "Web 1", "127.0.0.1"])
        );
        let kept = b.wait_for("#host-address").await.prop("value").await;
        assert_eq!(kept.ok().flatten().as_deref(), Some("127.0.0.1"));
        assert_eq!(drover.json(&["host", "list"]), Value::Array(vec![]));
        b.screenshot("01-host-refused").await;

        b.fill("#host-name", "web-1").await;
        b.fill("#host-port", "2222").await;
        b.click_and_wait_for_new_page("#host-add-submit").await;
        b.wait_for_path("/hosts/web-1").await;
        b.wait_for_text("#host-shown-address", "127.0.0.1:2222")
            .await;

        // Edit: a bad port is refused as the CLI refuses it; a good edit
        // changes only what changed.
        b.fill("#host-port", "70000").await;
        b.click_and_wait_for_new_page("#host-edit-submit").await;
        let error = form_error(&b).await;
        assert_eq!(
            error,
            cli_refusal(&drover, &["host", "edit", "web-1", "--port", "70000"])
        );
        b.fill("#host-port", "2222").await;
        b.fill("#host-description", "front <b>web</b>").await;
        b.click_and_wait_for_new_page("#host-edit-submit").await;
        b.wait_for_path("/hosts/web-1").await;
        let host = drover.json(&["host", "show", "web-1"]);
        assert_eq!(host["description"], "front <b>web</b>");
        assert_eq!(host["port"], 2222);
        b.wait_for_text("#host", "front <b>web</b>").await;
        // Saving it unchanged changes (and records) nothing.
        b.click_and_wait_for_new_page("#host-edit-submit").await;
        b.wait_for_path("/hosts/web-1").await;

        // Server groups: an unknown host is refused; web-1 joins.
        b.click_and_wait_for_new_page("#nav-groups").await;
        b.fill("#group-name", "web").await;
        b.click_and_wait_for_new_page("#group-create-submit").await;
        b.wait_for_path("/groups/web").await;
        b.fill("#group-hosts", "web-1, ghost").await;
        b.click_and_wait_for_new_page("#group-add-submit").await;
        let error = form_error(&b).await;
        assert_eq!(
            error,
            cli_refusal(&drover, &["group", "add", "web", "web-1", "ghost"])
        );
        b.fill("#group-hosts", "web-1").await;
        b.click_and_wait_for_new_page("#group-add-submit").await;
        b.wait_for_text("#members", "web-1").await;
        assert_eq!(
            drover.json(&["group", "show", "web"])["hosts"],
            serde_json::json!(["web-1"])
        );

        // Scripts: typed into the page (the browser sends CRLF; the
        // script keeps LF), edited into a second version, and the diff.
        b.click_and_wait_for_new_page("#nav-scripts").await;
        b.fill("#script-name", "deploy").await;
        b.fill("#script-body", "#!/bin/sh\necho one\necho two\n")
            .await;
        b.fill("#script-timeout", "10m").await;
        b.click_and_wait_for_new_page("#script-add-submit").await;
        b.wait_for_path("/scripts/deploy").await;
        assert_eq!(
            drover.ok(&["script", "show", "deploy"]).trim_end(),
            "#!/bin/sh\necho one\necho two"
        );
        b.fill("#script-body", "#!/bin/sh\necho one\necho three\n")
            .await;
        b.click_and_wait_for_new_page("#script-edit-submit").await;
        b.wait_for_text("#script-summary", "version 2").await;
        let shown = drover.json(&["script", "show", "deploy"]);
        assert_eq!(shown["body"], "#!/bin/sh\necho one\necho three\n");
        assert_eq!(shown["timeout_secs"], 600, "the timeout was kept");
        b.wait_for_text("#history", "web:alice").await;
        b.click_and_wait_for_new_page("#diff-submit").await;
        b.wait_for_path("/scripts/deploy/diff?from=1&to=2").await;
        let diff = b.wait_for_text("#diff", "+ echo three").await;
        assert!(
            diff.contains("- echo two") && diff.contains("  echo one"),
            "{diff}"
        );
        assert_eq!(
            b.client
                .find_all(fantoccini::Locator::Css("#diff .diff-del"))
                .await
                .map(|v| v.len())
                .ok(),
            Some(1)
        );
        b.screenshot("02-script-diff").await;
        // An older version can be read.
        b.goto(&server.url("/scripts/deploy?version=1")).await;
        b.wait_for_text("#script-shown-body", "echo two").await;

        b.goto(&server.url("/scripts")).await;
        b.fill("#script-name", "check").await;
        b.fill("#script-body", "#!/bin/sh\ntrue\n").await;
        b.click_and_wait_for_new_page("#script-add-submit").await;
        b.wait_for_path("/scripts/check").await;

        // Script groups: created in order, then reordered with a button.
        b.click_and_wait_for_new_page("#nav-scriptgroups").await;
        b.fill("#scriptgroup-name", "lamp").await;
        b.fill("#scriptgroup-scripts", "deploy check").await;
        b.click_and_wait_for_new_page("#scriptgroup-create-submit")
            .await;
        b.wait_for_path("/scriptgroups/lamp").await;
        b.wait_for_text("#order tbody tr:first-child", "deploy")
            .await;
        b.click_and_wait_for_new_page("#down-deploy").await;
        b.wait_for_text("#order tbody tr:first-child", "check")
            .await;
        assert_eq!(
            drover.json(&["scriptgroup", "show", "lamp"])["scripts"],
            serde_json::json!(["check", "deploy"])
        );
        b.screenshot("03-reordered").await;

        // Tasks: a bad option is refused in the CLI's words; then created,
        // and its page offers to start it.
        b.click_and_wait_for_new_page("#nav-tasks").await;
        b.fill("#task-name", "ship").await;
        b.fill("#task-script-group", "lamp").await;
        b.fill("#task-server-group", "web").await;
        b.fill("#task-parallel", "-1").await;
        b.click_and_wait_for_new_page("#task-create-submit").await;
        let error = form_error(&b).await;
        assert_eq!(
            error,
            cli_refusal(
                &drover,
                &["task", "create", "ship", "lamp", "web", "--parallel=-1"]
            )
        );
        b.fill("#task-parallel", "5").await;
        b.click_and_wait_for_new_page("#task-create-submit").await;
        b.wait_for_path("/tasks/ship").await;
        b.wait_for_text("#task-options", "5 at once").await;
        // Edit: more hosts at once, going on after failures.
        b.fill("#task-parallel", "8").await;
        b.click("#task-continue").await;
        b.click_and_wait_for_new_page("#task-edit-submit").await;
        b.wait_for_text("#task-options", "8 at once · on failure: continue")
            .await;
        let task = drover.json(&["task", "show", "ship"]);
        assert_eq!((task["parallel"].clone(), task["on_failure"].clone()), (8.into(), "continue".into()));
        b.click_and_wait_for_new_page("#task-start").await;
        let target = b.wait_for("#start-target").await.prop("value").await;
        assert_eq!(target.ok().flatten().as_deref(), Some("ship"));
        // The form suggests tasks and script groups, and server groups.
        let suggested = b
            .client
            .execute(
                "return ['#target-names', '#servergroup-names'].map((id) => \
                 Array.from(document.querySelectorAll(id + ' option')).map((o) => o.value).join(' '));",
                vec![],
            )
            .await
            .expect("read the suggestions");
        assert_eq!(suggested, serde_json::json!(["ship lamp", "web"]));

        // Deleting a group a task uses is refused as in the CLI; nothing goes.
        b.goto(&server.url("/groups/web")).await;
        // Accept the confirmation the button asks for.
        b.client
            .execute("window.confirm = () => true; return true;", vec![])
            .await
            .expect("accept confirmations");
        b.click_and_wait_for_new_page("#delete-submit").await;
        let error = form_error(&b).await;
        assert_eq!(error, cli_refusal(&drover, &["group", "delete", "web"]));
        assert_eq!(
            drover.json(&["task", "list"]).as_array().map(Vec::len),
            Some(1)
        );
        b.screenshot("04-delete-refused").await;

        // At phone width no page scrolls sideways.
        b.client.set_window_size(390, 844).await.expect("phone width");
        for path in ["/hosts", "/hosts/web-1", "/groups/web", "/scripts", "/scripts/deploy", "/scripts/deploy/diff?from=1&to=2", "/scriptgroups/lamp", "/tasks", "/tasks/ship"] {
            b.goto(&server.url(path)).await;
            b.wait_for("main h1").await;
            let overflow = b
                .client
                .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
                .await
                .expect("measure the page");
            assert!(overflow.as_i64().is_some_and(|px| px <= 0), "{path} is wider than the phone by {overflow} px");
        }
        b.screenshot("05-phone").await;

        // Every change, and only the changes, audited as the web user.
        let changes: Vec<_> = audited(&drover).split_off(before);
        let web_changes: Vec<(&str, &str)> = changes
            .iter()
            .filter(|(actor, _, _)| actor == "web:alice")
            .map(|(_, action, target)| (action.as_str(), target.as_str()))
            .collect();
        let host_edits = web_changes
            .iter()
            .filter(|change| **change == ("host.edit", "web-1"))
            .count();
        assert_eq!(host_edits, 1, "{web_changes:?}");
        for expected in [
            ("host.add", "web-1"),
            ("host.edit", "web-1"),
            ("group.create", "web"),
            ("group.add", "web"),
            ("script.add", "deploy"),
            ("script.edit", "deploy"),
            ("script.add", "check"),
            ("scriptgroup.create", "lamp"),
            ("scriptgroup.move", "lamp"),
            ("task.create", "ship"),
            ("task.edit", "ship"),
        ] {
            assert!(
                web_changes.contains(&expected),
                "{expected:?} not in {web_changes:?}"
            );
        }
    })
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_the_documents_json_prints() {
    let drover = common::Drover::with_config(&web_config(""));
    drover.ok(&["group", "create", "web", "--description", "front"]);
    drover.ok(&[
        "host",
        "add",
        "web-1",
        "127.0.0.1",
        "--port",
        "2222",
        "--group",
        "web",
    ]);
    drover.ok(&["host", "add", "db-1", "127.0.0.2", "--user", "pg", "--sudo"]);
    drover.script("deploy", "#!/bin/sh\necho one\n", &["--timeout", "5m"]);
    drover.script("check", "true\n", &[]);
    let edited = drover.dir.path().join("deploy-2.sh");
    std::fs::write(&edited, "#!/bin/sh\necho two\n").expect("write script");
    drover.ok(&["script", "edit", "deploy", &edited.to_string_lossy()]);
    drover.ok(&["scriptgroup", "create", "lamp", "deploy", "check"]);
    drover.ok(&[
        "task",
        "create",
        "ship",
        "lamp",
        "web",
        "--parallel",
        "3",
        "--continue-on-error",
    ]);
    add_user(&drover, "val", "viewer", PASSWORD);
    let server = Server::start(&drover);
    let mut http = Http::new(&server);
    assert_eq!(http.get("/api/hosts").await.status, 401);
    assert_eq!(http.login("val", PASSWORD).await.status, 303);

    for (path, args) in [
        ("/api/hosts", vec!["host", "list"]),
        ("/api/hosts/db-1", vec!["host", "show", "db-1"]),
        ("/api/groups", vec!["group", "list"]),
        ("/api/groups/web", vec!["group", "show", "web"]),
        ("/api/scripts", vec!["script", "list"]),
        ("/api/scripts/deploy", vec!["script", "show", "deploy"]),
        (
            "/api/scripts/deploy?version=1",
            vec!["script", "show", "deploy", "--version", "1"],
        ),
        (
            "/api/scripts/deploy/history",
            vec!["script", "history", "deploy"],
        ),
        ("/api/scriptgroups", vec!["scriptgroup", "list"]),
        (
            "/api/scriptgroups/lamp",
            vec!["scriptgroup", "show", "lamp"],
        ),
        ("/api/tasks", vec!["task", "list"]),
        ("/api/tasks/ship", vec!["task", "show", "ship"]),
    ] {
        let answer = http.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(
            answer.json(),
            drover.json(&args),
            "{path} differs from {args:?}"
        );
    }
    // The pages show the same things.
    let page = http.get("/scripts/deploy?version=1").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("echo one") && !page.body.contains("echo two"),
        "{}",
        page.body
    );
    // Unknown things are 404, in the CLI's words.
    let missing = http.get("/api/hosts/ghost").await;
    assert_eq!(missing.status, 404);
    let words = cli_refusal(&drover, &["host", "show", "ghost"]);
    assert_eq!(missing.json()["error"], words.as_str());
    let page = http.get("/tasks/ghost").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("unknown task"), "{}", page.body);
    let bad = http.get("/api/scripts/deploy?version=x").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("invalid version 'x'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_the_inventory_but_changes_nothing() {
    let drover = common::Drover::with_config(&web_config(""));
    drover.ok(&["group", "create", "web"]);
    drover.ok(&["host", "add", "web-1", "127.0.0.1", "--group", "web"]);
    drover.script("deploy", "#!/bin/sh\necho one\n", &[]);
    drover.ok(&["scriptgroup", "create", "lamp", "deploy"]);
    add_user(&drover, "val", "viewer", PASSWORD);
    add_user(&drover, "alice", "admin", PASSWORD);
    let server = Server::start(&drover);

    // Not logged in: the login page (pages), 401 (API).
    let mut anonymous = Http::new(&server);
    let page = anonymous.get("/scripts/deploy").await;
    assert_eq!(page.status, 303);
    assert!(page.header("location").starts_with("/login"), "{page:?}");

    let mut viewer = Http::new(&server);
    viewer.login("val", PASSWORD).await;
    for path in [
        "/hosts",
        "/hosts/web-1",
        "/groups/web",
        "/scripts/deploy",
        "/scriptgroups/lamp",
        "/tasks",
    ] {
        let page = viewer.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains("method=\"post\" action=\"/hosts")
                && !page.body.contains("id=\"delete\""),
            "{path} offers a change to a viewer"
        );
        assert!(!page.body.contains("<textarea"), "{path}");
    }
    let csrf = viewer.csrf().await;
    let before = drover.ok(&["host", "list"]);
    let audit_before = audit(&drover).len();
    for (path, fields) in [
        ("/hosts", vec![("name", "evil"), ("address", "127.0.0.9")]),
        (
            "/hosts/web-1",
            vec![("address", "127.0.0.9"), ("port", "22")],
        ),
        ("/hosts/web-1/delete", vec![("force", "on")]),
        ("/groups/web/delete", vec![("force", "on")]),
        ("/scripts/deploy", vec![("body", "rm -rf /\n")]),
        (
            "/scriptgroups/lamp/move",
            vec![("script", "deploy"), ("position", "1")],
        ),
        (
            "/tasks",
            vec![
                ("name", "t"),
                ("script_group", "lamp"),
                ("server_group", "web"),
            ],
        ),
        ("/tasks/ghost", vec![("parallel", "2")]),
    ] {
        let mut fields = fields;
        fields.push(("csrf", csrf.as_str()));
        let answer = viewer.post_form(path, &fields, &[]).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert!(
            answer.body.contains("needs the admin level"),
            "{path}: {}",
            answer.body
        );
    }
    assert_eq!(drover.ok(&["host", "list"]), before);
    assert_eq!(
        drover.ok(&["script", "show", "deploy"]),
        "#!/bin/sh\necho one\n"
    );
    assert_eq!(drover.json(&["task", "list"]), Value::Array(vec![]));
    assert_eq!(
        audit(&drover).len(),
        audit_before,
        "a refused change was recorded as done"
    );

    // An admin without the CSRF token is refused too.
    let mut admin = Http::new(&server);
    admin.login("alice", PASSWORD).await;
    let answer = admin
        .post_form("/hosts", &[("name", "evil"), ("address", "127.0.0.9")], &[])
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(drover.ok(&["host", "list"]), before);
}

/// The Rerun button asks above `confirm_above` hosts, as a new run does,
/// and starts nothing until confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_rerun_from_the_page_asks_first() {
    let fleet = SshFleet::start(71, 2);
    let mut drover = common::Drover::with_config(&web_config("[discord]\nconfirm_above = 1\n"));
    drover.add_fleet(&fleet, "r", "rerun-group");
    drover.script("fails", "echo nope\nexit 3\n", &[]);
    drover.ok(&["scriptgroup", "create", "breaks", "fails"]);
    let ran = drover.run(&["task", "run", "breaks", "rerun-group"]);
    assert!(!ran.status.success(), "the run should fail");
    add_user(&drover, "otto", "operator", PASSWORD);
    let server = Server::start(&drover);
    let b = Browser::start("rerun-confirm").await;
    b.guarded(async {
        b.login(&server.base, "otto", PASSWORD).await;
        b.goto(&server.url("/runs/1")).await;
        b.click_and_wait_for_new_page("#rerun").await;
        b.wait_for_text("#plan-hosts", "2 hosts").await;
        assert_eq!(
            drover.json(&["run", "list"]).as_array().map(Vec::len),
            Some(1),
            "started before confirming"
        );
        b.screenshot("01-rerun-plan").await;
        b.click_and_wait_for_new_page("#confirm-start").await;
        b.wait_for_path("/runs/2").await;
        b.wait_for_text("#run-state-name", "failed").await;
        let rerun = drover.json(&["run", "status", "2"]);
        assert_eq!(rerun["hosts"].as_array().map(Vec::len), Some(2), "{rerun}");
        assert_eq!(rerun["started_by"], "web:otto", "{rerun}");
    })
    .await;
    b.close().await;
}
