//! Every inventory command of the real `drover` binary, with its human
//! output and (where it has one) its `--json` output.

mod common;

use common::cli::{names_of, strings, Env};
use serde_json::{json, Value};

/// A server group `web` and two hosts in it.
fn env_with_hosts() -> Env {
    let env = Env::new();
    env.ok(&["group", "create", "web", "--description", "web servers"]);
    env.ok(&["host", "add", "web-1", "10.0.0.1", "--group", "web"]);
    env.ok(&["host", "add", "web-2", "10.0.0.2", "--group", "web"]);
    env
}

/// Scripts a, b, c and script group `sg` = [a, b, c].
fn env_with_script_group() -> Env {
    let env = Env::new();
    for name in ["a", "b", "c", "d"] {
        env.add_script(name);
    }
    env.ok(&["scriptgroup", "create", "sg", "a", "b", "c"]);
    env
}

// ------------------------------------------------------------------ hosts

#[test]
fn host_add_prints_the_name_and_stores_every_option() {
    let env = Env::new();
    env.ok(&["group", "create", "web"]);
    env.ok(&["group", "create", "db"]);
    let out = env.ok(&[
        "host",
        "add",
        "web-1",
        "10.0.0.1",
        "--port",
        "2222",
        "--user",
        "deploy",
        "--group",
        "web",
        "--group",
        "db",
        "--sudo",
        "--description",
        "first web server",
    ]);
    assert_eq!(out, "added host web-1\n");
    let host = env.json(&["host", "show", "web-1"]);
    assert_eq!(
        host,
        json!({
            "name": "web-1",
            "address": "10.0.0.1",
            "port": 2222,
            "user": "deploy",
            "description": "first web server",
            "host_key": null,
            "use_sudo": true,
            "groups": ["db", "web"],
            "jump": null,
            "connection": {
                "jumps": [],
                "values": [
                    {"field": "address", "value": "10.0.0.1", "source": "inventory"},
                    {"field": "port", "value": "2222", "source": "inventory"},
                    {"field": "user", "value": "deploy", "source": "inventory"},
                ],
            },
        })
    );
}

#[test]
fn host_add_json_returns_the_host_with_defaults() {
    let env = Env::new();
    let host = env.json(&["host", "add", "web-1", "Web-1.Example.ORG"]);
    assert_eq!(host["name"], "web-1");
    assert_eq!(
        host["address"], "web-1.example.org",
        "DNS names are lower-cased"
    );
    assert_eq!(host["port"], 22);
    assert_eq!(
        host["user"],
        Value::Null,
        "no --user: the configured default"
    );
    assert_eq!(host["use_sudo"], false);
    assert_eq!(host["groups"], json!([]));
    assert_eq!(host["description"], "");
}

#[test]
fn host_add_accepts_ipv6_addresses() {
    let env = Env::new();
    let host = env.json(&["host", "add", "v6", "[2001:db8::1]"]);
    assert_eq!(host["address"], "2001:db8::1");
}

#[test]
fn host_show_human_lists_every_field() {
    let env = Env::new();
    env.ok(&["group", "create", "web"]);
    env.ok(&[
        "host", "add", "web-1", "10.0.0.1", "--group", "web", "--user", "deploy",
    ]);
    let out = env.ok(&["host", "show", "web-1"]);
    let expected = "\
name:        web-1
address:     10.0.0.1
port:        22
user:        deploy
sudo:        false
groups:      web
jump:        -
description: -
host key:    (not pinned)

connection:
  address: 10.0.0.1 (inventory)
  port: 22 (default)
  user: deploy (inventory)
";
    assert_eq!(out, expected);
}

#[test]
fn host_list_human_is_a_table_sorted_by_name() {
    let env = env_with_hosts();
    env.ok(&[
        "host", "add", "db-1", "10.0.1.1", "--port", "2200", "--user", "admin",
    ]);
    let out = env.ok(&["host", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ADDRESS", "PORT", "USER", "GROUPS", "DESCRIPTION"]
    );
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first, ["db-1", "10.0.1.1", "2200", "admin", "-", "-"]);
    let second: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(second, ["web-1", "10.0.0.1", "22", "-", "web", "-"]);
}

#[test]
fn host_list_json_has_every_host_with_its_groups() {
    let env = env_with_hosts();
    let hosts = env.json(&["host", "list"]);
    assert_eq!(names_of(&hosts), ["web-1", "web-2"]);
    assert_eq!(hosts[0]["groups"], json!(["web"]));
    assert_eq!(hosts[1]["address"], "10.0.0.2");
}

#[test]
fn host_edit_changes_the_given_fields_only() {
    let env = Env::new();
    env.ok(&[
        "host",
        "add",
        "web-1",
        "10.0.0.1",
        "--description",
        "keep me",
    ]);
    let host = env.json(&[
        "host",
        "edit",
        "web-1",
        "--address",
        "10.0.0.9",
        "--port",
        "2022",
        "--user",
        "ops",
        "--sudo",
        "true",
    ]);
    assert_eq!(host["address"], "10.0.0.9");
    assert_eq!(host["port"], 2022);
    assert_eq!(host["user"], "ops");
    assert_eq!(host["use_sudo"], true);
    assert_eq!(host["description"], "keep me");
}

#[test]
fn host_edit_human_prints_the_edited_host() {
    let env = Env::new();
    env.ok(&["host", "add", "web-1", "10.0.0.1"]);
    let out = env.ok(&["host", "edit", "web-1", "--description", "new words"]);
    assert!(out.contains("description: new words\n"), "{out}");
    assert!(out.starts_with("name:        web-1\n"), "{out}");
}

#[test]
fn host_edit_default_user_forgets_the_user() {
    let env = Env::new();
    env.ok(&["host", "add", "web-1", "10.0.0.1", "--user", "deploy"]);
    let out = env.ok(&["host", "edit", "web-1", "--default-user"]);
    assert!(out.contains("user:        (default)\n"), "{out}");
    assert_eq!(env.json(&["host", "show", "web-1"])["user"], Value::Null);
}

#[test]
fn host_rm_removes_the_host() {
    let env = Env::new();
    env.ok(&["host", "add", "web-1", "10.0.0.1"]);
    env.ok(&["host", "add", "web-2", "10.0.0.2"]);
    assert_eq!(env.ok(&["host", "rm", "web-1"]), "removed host web-1\n");
    assert_eq!(env.names(&["host", "list"]), ["web-2"]);
    let message = env.refuse(&["host", "show", "web-1"]);
    assert_eq!(message, "unknown host 'web-1' (known: web-2)");
}

// ----------------------------------------------------------- server groups

#[test]
fn group_create_and_show() {
    let env = Env::new();
    let out = env.ok(&["group", "create", "web", "--description", "front ends"]);
    assert_eq!(out, "created server group web\n");
    let group = env.json(&["group", "show", "web"]);
    assert_eq!(
        group,
        json!({"name": "web", "description": "front ends", "hosts": []})
    );
    let out = env.ok(&["group", "show", "web"]);
    assert_eq!(
        out,
        "name:        web\ndescription: front ends\nhosts:       -\n"
    );
}

#[test]
fn group_list_human_and_json() {
    let env = env_with_hosts();
    env.ok(&["group", "create", "db"]);
    let groups = env.json(&["group", "list"]);
    assert_eq!(names_of(&groups), ["db", "web"]);
    assert_eq!(groups[1]["hosts"], json!(["web-1", "web-2"]));
    assert_eq!(groups[1]["description"], "web servers");
    let out = env.ok(&["group", "list"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "HOSTS", "DESCRIPTION"]);
    assert_eq!(rows[1], ["db", "0", "-"]);
    assert_eq!(rows[2], ["web", "2", "web", "servers"]);
}

#[test]
fn group_add_reports_hosts_already_in_it() {
    let env = env_with_hosts();
    env.ok(&["group", "create", "all"]);
    let out = env.ok(&["group", "add", "all", "web-1", "web-2"]);
    assert_eq!(out, "added 2 host(s) to server group all\n");
    env.ok(&["host", "add", "db-1", "10.0.1.1"]);
    let out = env.ok(&["group", "add", "all", "web-1", "db-1"]);
    assert_eq!(
        out,
        "added 1 host(s) to server group all (1 already in it)\n"
    );
    assert_eq!(
        strings(&env.json(&["group", "show", "all"])["hosts"]),
        ["db-1", "web-1", "web-2"]
    );
    assert_eq!(
        strings(&env.json(&["host", "show", "web-1"])["groups"]),
        ["all", "web"]
    );
}

#[test]
fn group_remove_takes_hosts_out() {
    let env = env_with_hosts();
    let out = env.ok(&["group", "remove", "web", "web-1"]);
    assert_eq!(out, "removed 1 host(s) from server group web\n");
    assert_eq!(
        strings(&env.json(&["group", "show", "web"])["hosts"]),
        ["web-2"]
    );
    assert_eq!(env.json(&["host", "show", "web-1"])["groups"], json!([]));
    // a host named twice is removed once
    let out = env.ok(&["group", "remove", "web", "web-2", "web-2"]);
    assert_eq!(out, "removed 1 host(s) from server group web\n");
    assert_eq!(env.json(&["group", "show", "web"])["hosts"], json!([]));
}

#[test]
fn group_delete_keeps_the_hosts() {
    let env = env_with_hosts();
    assert_eq!(
        env.ok(&["group", "delete", "web"]),
        "deleted server group web\n"
    );
    assert_eq!(env.json(&["group", "list"]), json!([]));
    let hosts = env.json(&["host", "list"]);
    assert_eq!(names_of(&hosts), ["web-1", "web-2"]);
    assert_eq!(hosts[0]["groups"], json!([]));
}

// ----------------------------------------------------------------- scripts

#[test]
fn script_add_from_file_human() {
    let env = Env::new();
    let file = env.script_file("hello", "#!/bin/bash\necho hello\n");
    let out = env.ok(&[
        "script",
        "add",
        "hello",
        &file,
        "--description",
        "Says hello",
        "--timeout",
        "10m",
    ]);
    assert_eq!(out, "added script hello (version 1)\n");
    assert_eq!(
        env.ok(&["script", "show", "hello"]),
        "#!/bin/bash\necho hello\n"
    );
}

#[test]
fn script_add_json_returns_the_script() {
    let env = Env::new();
    let file = env.script_file("hello", "echo hello\n");
    let script = env.json(&["script", "add", "hello", &file, "--timeout", "1h 30m"]);
    assert_eq!(script["name"], "hello");
    assert_eq!(script["version"], 1);
    assert_eq!(script["body"], "echo hello\n");
    assert_eq!(script["timeout_secs"], 5400);
    assert_eq!(script["description"], "");
    assert_eq!(script["groups"], json!([]));
    let sha = script["sha256"].as_str().expect("sha256");
    assert_eq!(sha.len(), 64);
    assert!(sha.chars().all(|c| c.is_ascii_hexdigit()), "{sha}");
}

#[test]
fn script_add_reads_standard_input_for_dash() {
    let env = Env::new();
    let out = env.ok_stdin(&["script", "add", "piped", "-"], b"uptime\n");
    assert_eq!(out, "added script piped (version 1)\n");
    let script = env.json(&["script", "show", "piped"]);
    assert_eq!(script["body"], "uptime\n");
}

#[test]
fn script_edit_with_a_new_body_makes_a_new_version() {
    let env = Env::new();
    env.add_script("s");
    let file = env.script_file("s2", "echo two\n");
    assert_eq!(
        env.ok(&["script", "edit", "s", &file]),
        "script s is now at version 2\n"
    );
    let script = env.json(&["script", "show", "s"]);
    assert_eq!(script["version"], 2);
    assert_eq!(script["body"], "echo two\n");
}

#[test]
fn script_edit_from_standard_input() {
    let env = Env::new();
    env.add_script("s");
    let out = env.ok_stdin(&["script", "edit", "s", "-"], b"echo piped\n");
    assert_eq!(out, "script s is now at version 2\n");
    assert_eq!(env.ok(&["script", "show", "s"]), "echo piped\n");
}

#[test]
fn script_edit_with_the_same_body_changes_nothing() {
    let env = Env::new();
    let file = env.script_file("s", "echo same\n");
    env.ok(&["script", "add", "s", &file]);
    let before = env.snapshot();
    assert_eq!(
        env.ok(&["script", "edit", "s", &file]),
        "script s unchanged\n"
    );
    assert_eq!(before, env.snapshot(), "no new version, no audit entry");
    assert_eq!(
        env.json(&["script", "history", "s"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn script_edit_of_metadata_only_keeps_the_version() {
    let env = Env::new();
    let file = env.script_file("s", "echo same\n");
    env.ok(&["script", "add", "s", &file, "--timeout", "5m"]);
    let out = env.ok(&[
        "script",
        "edit",
        "s",
        &file,
        "--description",
        "Now described",
    ]);
    assert_eq!(
        out,
        "script s: description/timeout updated, body unchanged\n"
    );
    env.ok(&["script", "edit", "s", &file, "--timeout", "none"]);
    let script = env.json(&["script", "show", "s"]);
    assert_eq!(script["version"], 1);
    assert_eq!(script["description"], "Now described");
    assert_eq!(
        script["timeout_secs"],
        Value::Null,
        "--timeout none clears it"
    );
}

#[test]
fn script_show_version_shows_an_older_body() {
    let env = Env::new();
    let v1 = env.script_file("v1", "echo one\n");
    let v2 = env.script_file("v2", "echo two\n");
    env.ok(&["script", "add", "s", &v1]);
    env.ok(&["script", "edit", "s", &v2]);
    assert_eq!(
        env.ok(&["script", "show", "s", "--version", "1"]),
        "echo one\n"
    );
    assert_eq!(env.ok(&["script", "show", "s"]), "echo two\n");
    let old = env.json(&["script", "show", "s", "--version", "1"]);
    assert_eq!(old["version"], 1);
    assert_eq!(old["body"], "echo one\n");
}

#[test]
fn script_history_survives_two_edits() {
    let env = Env::new();
    let original = "#!/bin/sh\necho original\n";
    let v1 = env.script_file("v1", original);
    env.ok(&["script", "add", "s", &v1]);
    for (i, body) in ["echo second\n", "echo third\n"].iter().enumerate() {
        let file = env.script_file(&format!("edit{i}"), body);
        env.ok(&["script", "edit", "s", &file]);
    }
    assert_eq!(env.ok(&["script", "show", "s", "--version", "1"]), original);
    assert_eq!(
        env.ok(&["script", "show", "s", "--version", "2"]),
        "echo second\n"
    );
    assert_eq!(env.json(&["script", "show", "s"])["version"], 3);
    let history = env.json(&["script", "history", "s"]);
    let versions: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(history[0]["bytes"], original.len());
    assert_eq!(history[0]["created_by"], "cli:tester");
}

#[test]
fn script_history_human_is_a_table() {
    let env = Env::new();
    let file = env.script_file("s", "echo 1\n");
    env.ok(&["script", "add", "s", &file]);
    let out = env.ok(&["script", "history", "s"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["VERSION", "BYTES", "SHA256", "CREATED", "BY"]);
    assert_eq!(rows[1][0], "1");
    assert_eq!(rows[1][1], "7");
    assert_eq!(rows[1][2].len(), 12, "sha256 is shortened");
    assert_eq!(rows[1][4], "cli:tester");
}

#[test]
fn script_list_human_and_json() {
    let env = Env::new();
    let py = env.script_file("py", "#!/usr/bin/env python3\nprint(1)\n");
    env.ok(&[
        "script",
        "add",
        "py",
        &py,
        "--timeout",
        "10m",
        "--description",
        "Python",
    ]);
    env.add_script("sh");
    let out = env.ok(&["script", "list"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "VERSION", "TIMEOUT", "INTERPRETER", "DESCRIPTION"]
    );
    assert_eq!(
        rows[1],
        ["py", "1", "10m", "/usr/bin/env", "python3", "Python"]
    );
    assert_eq!(rows[2], ["sh", "1", "-", "/bin/sh", "-"]);
    let scripts = env.json(&["script", "list"]);
    assert_eq!(names_of(&scripts), ["py", "sh"]);
    assert_eq!(scripts[0]["timeout_secs"], 600);
}

#[test]
fn script_rm_removes_the_script() {
    let env = Env::new();
    env.add_script("s");
    assert_eq!(env.ok(&["script", "rm", "s"]), "removed script s\n");
    assert_eq!(env.json(&["script", "list"]), json!([]));
}

#[test]
fn script_rm_force_takes_it_out_of_its_groups() {
    let env = env_with_script_group();
    env.ok(&["scriptgroup", "create", "other", "b"]);
    assert_eq!(
        env.ok(&["script", "rm", "b", "--force"]),
        "removed script b\n"
    );
    assert_eq!(env.group_scripts("sg"), ["a", "c"]);
    assert_eq!(env.group_scripts("other"), Vec::<String>::new());
    assert_eq!(env.names(&["script", "list"]), ["a", "c", "d"]);
    // Positions stay dense: inserting at the end lands at position 3.
    let out = env.ok(&["scriptgroup", "add", "sg", "d"]);
    assert_eq!(out, "added d to script group sg at position 3\n");
}

// ----------------------------------------------------------- script groups

#[test]
fn scriptgroup_create_keeps_the_given_order() {
    let env = Env::new();
    for name in ["a", "b", "c"] {
        env.add_script(name);
    }
    let out = env.ok(&[
        "scriptgroup",
        "create",
        "sg",
        "c",
        "a",
        "b",
        "--description",
        "in order",
    ]);
    assert_eq!(out, "created script group sg with 3 script(s)\n");
    assert_eq!(
        env.json(&["scriptgroup", "show", "sg"]),
        json!({"name": "sg", "description": "in order", "scripts": ["c", "a", "b"]})
    );
    assert_eq!(
        strings(&env.json(&["script", "show", "a"])["groups"]),
        ["sg"]
    );
}

#[test]
fn scriptgroup_create_without_scripts() {
    let env = Env::new();
    let out = env.ok(&["scriptgroup", "create", "empty"]);
    assert_eq!(out, "created script group empty with 0 script(s)\n");
    assert_eq!(env.group_scripts("empty"), Vec::<String>::new());
}

#[test]
fn scriptgroup_show_human_numbers_the_scripts() {
    let env = env_with_script_group();
    let out = env.ok(&["scriptgroup", "show", "sg"]);
    let expected = "\
name:        sg
description: -
POS  SCRIPT
1    a
2    b
3    c
";
    assert_eq!(out, expected);
}

#[test]
fn scriptgroup_list_human_and_json() {
    let env = env_with_script_group();
    env.ok(&["scriptgroup", "create", "aa", "--description", "first"]);
    let groups = env.json(&["scriptgroup", "list"]);
    assert_eq!(names_of(&groups), ["aa", "sg"]);
    assert_eq!(groups[1]["scripts"], json!(["a", "b", "c"]));
    let out = env.ok(&["scriptgroup", "list"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "SCRIPTS", "DESCRIPTION"]);
    assert_eq!(rows[1], ["aa", "-", "first"]);
    assert_eq!(rows[2], ["sg", "a", "→", "b", "→", "c", "-"]);
}

#[test]
fn scriptgroup_add_appends_by_default() {
    let env = env_with_script_group();
    let out = env.ok(&["scriptgroup", "add", "sg", "d"]);
    assert_eq!(out, "added d to script group sg at position 4\n");
    assert_eq!(env.group_scripts("sg"), ["a", "b", "c", "d"]);
}

#[test]
fn scriptgroup_add_inserts_at_a_position() {
    let env = env_with_script_group();
    let out = env.ok(&["scriptgroup", "add", "sg", "d", "--position", "2"]);
    assert_eq!(out, "added d to script group sg at position 2\n");
    assert_eq!(env.group_scripts("sg"), ["a", "d", "b", "c"]);
}

#[test]
fn scriptgroup_add_at_first_and_one_past_last_position() {
    let env = env_with_script_group();
    env.add_script("e");
    env.ok(&["scriptgroup", "add", "sg", "d", "--position", "1"]);
    assert_eq!(env.group_scripts("sg"), ["d", "a", "b", "c"]);
    env.ok(&["scriptgroup", "add", "sg", "e", "--position", "5"]);
    assert_eq!(env.group_scripts("sg"), ["d", "a", "b", "c", "e"]);
}

#[test]
fn scriptgroup_move_down_and_up() {
    let env = env_with_script_group();
    let out = env.ok(&["scriptgroup", "move", "sg", "a", "3"]);
    assert_eq!(out, "moved a to position 3 in script group sg\n");
    assert_eq!(env.group_scripts("sg"), ["b", "c", "a"]);
    env.ok(&["scriptgroup", "move", "sg", "a", "1"]);
    assert_eq!(env.group_scripts("sg"), ["a", "b", "c"]);
    env.ok(&["scriptgroup", "move", "sg", "c", "2"]);
    assert_eq!(env.group_scripts("sg"), ["a", "c", "b"]);
}

#[test]
fn scriptgroup_remove_keeps_the_order_of_the_rest() {
    let env = env_with_script_group();
    let out = env.ok(&["scriptgroup", "remove", "sg", "b"]);
    assert_eq!(out, "removed b from script group sg\n");
    assert_eq!(env.group_scripts("sg"), ["a", "c"]);
    env.ok(&["scriptgroup", "add", "sg", "b", "--position", "3"]);
    assert_eq!(env.group_scripts("sg"), ["a", "c", "b"]);
    // The script itself is still there.
    assert_eq!(env.names(&["script", "list"]), ["a", "b", "c", "d"]);
}

#[test]
fn scriptgroup_delete_keeps_the_scripts() {
    let env = env_with_script_group();
    assert_eq!(
        env.ok(&["scriptgroup", "delete", "sg"]),
        "deleted script group sg\n"
    );
    assert_eq!(env.json(&["scriptgroup", "list"]), json!([]));
    assert_eq!(env.names(&["script", "list"]), ["a", "b", "c", "d"]);
}

// ------------------------------------------------------------------- tasks

/// Script group `sg` and server group `web`.
fn env_for_tasks() -> Env {
    let env = env_with_script_group();
    env.ok(&["group", "create", "web"]);
    env
}

#[test]
fn task_create_with_defaults() {
    let env = env_for_tasks();
    assert_eq!(
        env.ok(&["task", "create", "deploy", "sg", "web"]),
        "created task deploy\n"
    );
    assert_eq!(
        env.json(&["task", "show", "deploy"]),
        json!({
            "name": "deploy",
            "script_group": "sg",
            "server_group": "web",
            "description": "",
            "parallel": 64,
            "on_failure": "stop",
            "max_failed_hosts": null,
            "use_sudo": false,
        })
    );
}

#[test]
fn task_create_with_every_option_json() {
    let env = env_for_tasks();
    let task = env.json(&[
        "task",
        "create",
        "deploy",
        "sg",
        "web",
        "--parallel",
        "3",
        "--continue-on-error",
        "--max-failed-hosts",
        "2",
        "--sudo",
        "--description",
        "roll out",
    ]);
    assert_eq!(
        task,
        json!({
            "name": "deploy",
            "script_group": "sg",
            "server_group": "web",
            "description": "roll out",
            "parallel": 3,
            "on_failure": "continue",
            "max_failed_hosts": 2,
            "use_sudo": true,
        })
    );
}

#[test]
fn task_show_human() {
    let env = env_for_tasks();
    env.ok(&[
        "task",
        "create",
        "deploy",
        "sg",
        "web",
        "--parallel",
        "5",
        "--max-failed-hosts",
        "1",
    ]);
    let expected = "\
name:             deploy
script group:     sg
server group:     web
parallel:         5
on failure:       stop
max failed hosts: 1
sudo:             false
description:      -
";
    assert_eq!(env.ok(&["task", "show", "deploy"]), expected);
}

#[test]
fn task_list_human_and_json() {
    let env = env_for_tasks();
    env.ok(&[
        "task",
        "create",
        "b-task",
        "sg",
        "web",
        "--continue-on-error",
    ]);
    env.ok(&["task", "create", "a-task", "sg", "web", "--parallel", "1"]);
    let tasks = env.json(&["task", "list"]);
    assert_eq!(names_of(&tasks), ["a-task", "b-task"]);
    assert_eq!(tasks[1]["on_failure"], "continue");
    let out = env.ok(&["task", "list"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "SCRIPT", "GROUP", "SERVER", "GROUP", "PARALLEL", "ON", "FAILURE"],
            vec!["a-task", "sg", "web", "1", "stop"],
            vec!["b-task", "sg", "web", "64", "continue"],
        ]
    );
}

#[test]
fn task_delete_keeps_its_groups() {
    let env = env_for_tasks();
    env.ok(&["task", "create", "deploy", "sg", "web"]);
    assert_eq!(
        env.ok(&["task", "delete", "deploy"]),
        "deleted task deploy\n"
    );
    assert_eq!(env.json(&["task", "list"]), json!([]));
    assert_eq!(env.names(&["scriptgroup", "list"]), ["sg"]);
    assert_eq!(env.names(&["group", "list"]), ["web"]);
}

// ------------------------------------------------------------------- audit

#[test]
fn audit_records_actor_and_action_newest_first() {
    let env = Env::new();
    env.ok(&["group", "create", "web"]);
    env.ok(&["host", "add", "web-1", "10.0.0.1"]);
    env.ok(&["group", "add", "web", "web-1"]);
    env.add_script("s");
    env.ok(&["scriptgroup", "create", "sg", "s"]);
    env.ok(&["task", "create", "t", "sg", "web"]);
    env.ok(&["task", "delete", "t"]);
    env.ok(&["host", "rm", "web-1", "--force"]);
    let audit = env.audit();
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "host.rm",
            "task.delete",
            "task.create",
            "scriptgroup.create",
            "script.add",
            "group.add",
            "host.add",
            "group.create",
        ]
    );
    for entry in &audit {
        assert_eq!(entry["actor"], "cli:tester", "{entry}");
        assert_eq!(entry["outcome"], "ok", "{entry}");
    }
    assert_eq!(audit[0]["target"], "web-1");
    assert_eq!(audit[0]["detail"], "force=true");
    assert_eq!(audit[6]["detail"], "address=10.0.0.1 port=22 user=None");
}

#[test]
fn audit_records_every_kind_of_change() {
    let env = env_with_script_group();
    env.ok(&["group", "create", "web"]);
    env.ok(&["host", "add", "h", "10.0.0.1", "--group", "web"]);
    env.ok(&["host", "edit", "h", "--port", "2200"]);
    env.ok(&["group", "remove", "web", "h"]);
    env.ok(&["scriptgroup", "add", "sg", "d"]);
    env.ok(&["scriptgroup", "move", "sg", "d", "1"]);
    env.ok(&["scriptgroup", "remove", "sg", "d"]);
    let file = env.script_file("new-a", "echo new\n");
    env.ok(&["script", "edit", "a", &file]);
    env.ok(&["script", "rm", "d"]);
    env.ok(&["scriptgroup", "delete", "sg"]);
    env.ok(&["group", "delete", "web"]);
    let actions: Vec<String> = env
        .audit()
        .iter()
        .take(11)
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "group.delete web",
            "scriptgroup.delete sg",
            "script.rm d",
            "script.edit a",
            "scriptgroup.remove sg",
            "scriptgroup.move sg",
            "scriptgroup.add sg",
            "group.remove web",
            "host.edit h",
            "host.add h",
            "group.create web",
        ]
    );
}

#[test]
fn audit_human_is_a_table_and_honours_limit() {
    let env = Env::new();
    env.ok(&["group", "create", "one"]);
    env.ok(&["group", "create", "two"]);
    let out = env.ok(&["audit", "--limit", "1"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(
        rows[0],
        ["AT", "ACTOR", "ACTION", "TARGET", "DETAIL", "OUTCOME"]
    );
    assert_eq!(rows[1][1..], ["cli:tester", "group.create", "two", "ok"]);
    assert!(rows[1][0].ends_with('Z'), "RFC 3339 time: {}", rows[1][0]);
}

// ------------------------------------------- --json of message-only commands

#[test]
fn host_rm_json() {
    let env = env_with_hosts();
    assert_eq!(
        env.json(&["host", "rm", "web-1", "--force"]),
        json!({"ok": true, "message": "removed host web-1", "host": "web-1"})
    );
    assert_eq!(env.names(&["host", "list"]), ["web-2"]);
}

#[test]
fn group_commands_json() {
    let env = env_with_hosts();
    assert_eq!(
        env.json(&["group", "create", "all"]),
        json!({"ok": true, "message": "created server group all", "group": "all"})
    );
    env.ok(&["group", "add", "all", "web-1"]);
    assert_eq!(
        env.json(&["group", "add", "all", "web-1", "web-2"]),
        json!({
            "ok": true,
            "message": "added 1 host(s) to server group all (1 already in it)",
            "group": "all",
            "added": ["web-2"],
            "already_in_group": ["web-1"],
        })
    );
    assert_eq!(
        env.json(&["group", "remove", "all", "web-1", "web-2"]),
        json!({
            "ok": true,
            "message": "removed 2 host(s) from server group all",
            "group": "all",
            "removed": ["web-1", "web-2"],
        })
    );
    assert_eq!(
        env.json(&["group", "delete", "all"]),
        json!({"ok": true, "message": "deleted server group all", "group": "all"})
    );
    assert_eq!(env.names(&["group", "list"]), ["web"]);
}

#[test]
fn script_edit_json_reports_version_and_change() {
    let env = Env::new();
    env.add_script("a");
    let same = env.script_file("a", "#!/bin/sh\necho a\n");
    assert_eq!(
        env.json(&["script", "edit", "a", &same]),
        json!({
            "ok": true,
            "message": "script a unchanged",
            "script": "a",
            "version": 1,
            "changed": false,
            "body_changed": false,
        })
    );
    let new = env.script_file("a2", "#!/bin/sh\necho a2\n");
    assert_eq!(
        env.json(&["script", "edit", "a", &new]),
        json!({
            "ok": true,
            "message": "script a is now at version 2",
            "script": "a",
            "version": 2,
            "changed": true,
            "body_changed": true,
        })
    );
    let edited = env.json(&["script", "edit", "a", &new, "--timeout", "5m"]);
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["changed"], true);
    assert_eq!(edited["body_changed"], false);
}

#[test]
fn script_rm_json() {
    let env = Env::new();
    env.add_script("a");
    assert_eq!(
        env.json(&["script", "rm", "a"]),
        json!({"ok": true, "message": "removed script a", "script": "a"})
    );
    assert_eq!(env.json(&["script", "list"]), json!([]));
}

#[test]
fn scriptgroup_commands_json() {
    let env = env_with_script_group();
    assert_eq!(
        env.json(&["scriptgroup", "create", "two", "a", "b"]),
        json!({
            "ok": true,
            "message": "created script group two with 2 script(s)",
            "script_group": "two",
            "scripts": ["a", "b"],
        })
    );
    assert_eq!(
        env.json(&["scriptgroup", "add", "sg", "d"]),
        json!({
            "ok": true,
            "message": "added d to script group sg at position 4",
            "script_group": "sg",
            "script": "d",
            "position": 4,
        })
    );
    assert_eq!(
        env.json(&["scriptgroup", "move", "sg", "d", "1"]),
        json!({
            "ok": true,
            "message": "moved d to position 1 in script group sg",
            "script_group": "sg",
            "script": "d",
            "position": 1,
        })
    );
    assert_eq!(
        env.json(&["scriptgroup", "remove", "sg", "a"]),
        json!({
            "ok": true,
            "message": "removed a from script group sg",
            "script_group": "sg",
            "script": "a",
        })
    );
    assert_eq!(env.group_scripts("sg"), ["d", "b", "c"]);
    assert_eq!(
        env.json(&["scriptgroup", "delete", "two"]),
        json!({"ok": true, "message": "deleted script group two", "script_group": "two"})
    );
    assert_eq!(env.names(&["scriptgroup", "list"]), ["sg"]);
}

#[test]
fn task_edit_replaces_only_what_is_given_and_audits_the_change() {
    let env = env_for_tasks();
    env.ok(&["group", "create", "db"]);
    env.ok(&["scriptgroup", "create", "other", "d"]);
    env.ok(&[
        "task",
        "create",
        "deploy",
        "sg",
        "web",
        "--max-failed-hosts",
        "2",
        "--description",
        "roll out",
    ]);
    let task = env.json(&[
        "task",
        "edit",
        "deploy",
        "--server-group",
        "db",
        "--parallel",
        "5",
        "--continue-on-error",
        "--no-max-failed-hosts",
        "--sudo",
    ]);
    assert_eq!(
        task,
        json!({
            "name": "deploy",
            "script_group": "sg",
            "server_group": "db",
            "description": "roll out",
            "parallel": 5,
            "on_failure": "continue",
            "max_failed_hosts": null,
            "use_sudo": true,
        })
    );
    let out = env.ok(&[
        "task",
        "edit",
        "deploy",
        "--script-group",
        "other",
        "--stop-on-error",
        "--no-sudo",
    ]);
    assert!(
        out.contains("script group") && out.contains("other"),
        "{out}"
    );
    let task = env.json(&["task", "show", "deploy"]);
    assert_eq!(task["on_failure"], "stop");
    assert_eq!(task["use_sudo"], false);
    let audit = env.ok(&["audit"]);
    assert!(
        audit.contains("task.edit")
            && audit.contains("server group: web -> db")
            && audit.contains("parallel: 64 -> 5")
            && audit.contains("max failed hosts: 2 -> none")
            && audit.contains("script group: sg -> other"),
        "{audit}"
    );
    // Giving what it already has changes and records nothing.
    let edits = |audit: &str| audit.lines().filter(|l| l.contains("task.edit")).count();
    env.ok(&["task", "edit", "deploy", "--parallel", "5"]);
    assert_eq!(edits(&env.ok(&["audit"])), 2);
}

#[test]
fn task_edit_refusals_name_what_is_wrong_and_change_nothing() {
    let env = env_for_tasks();
    env.ok(&["task", "create", "deploy", "sg", "web"]);
    assert_eq!(
        env.refuse(&["task", "edit", "deploy"]),
        "nothing to change for task 'deploy': give at least one of --script-group, --server-group, --parallel, --continue-on-error, --stop-on-error, --max-failed-hosts, --no-max-failed-hosts, --sudo, --no-sudo, --description"
    );
    let unknown = env.refuse(&["task", "edit", "deploy", "--server-group", "nope"]);
    assert!(
        unknown.starts_with("unknown server group 'nope'"),
        "{unknown}"
    );
    let parallel = env.refuse(&["task", "edit", "deploy", "--parallel", "0"]);
    assert_eq!(
        parallel,
        "invalid parallel '0': between 1 and 4096 hosts at once"
    );
    let missing = env.refuse(&["task", "edit", "ghost", "--parallel", "2"]);
    assert!(missing.starts_with("unknown task 'ghost'"), "{missing}");
    // Opposite flags are refused by the parser.
    let both = env.run(&["task", "edit", "deploy", "--sudo", "--no-sudo"]);
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(both.stderr.contains("--no-sudo"), "{}", both.stderr);
}

#[test]
fn task_delete_json() {
    let env = env_for_tasks();
    env.ok(&["task", "create", "deploy", "sg", "web"]);
    assert_eq!(
        env.json(&["task", "delete", "deploy"]),
        json!({"ok": true, "message": "deleted task deploy", "task": "deploy"})
    );
    assert_eq!(env.json(&["task", "list"]), json!([]));
}

#[test]
fn config_show_json_is_the_masked_configuration() {
    let mut env = Env::new();
    std::fs::write(
        &env.config,
        "[ssh]\nuser = \"ops\"\n\n[discord]\ntoken = \"file-secret\"\n",
    )
    .unwrap();
    env.set_env("DROVER_DISCORD_GUILD", "42");
    let run = env.run(&["--json", "config", "show"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("file-secret"), "{}", run.stdout);
    let shown: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(shown["ssh"]["user"], "ops");
    assert_eq!(shown["ssh"]["connect_timeout"], "10s");
    assert_eq!(shown["discord"]["token"], "********");
    assert_eq!(shown["discord"]["guilds"], json!([42]));
    assert_eq!(
        shown["database"]["url"],
        env.db.to_str().unwrap(),
        "DROVER_DATABASE_URL is the effective database"
    );
}
