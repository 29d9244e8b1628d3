//! Every refusal of the inventory commands: exit status 1, a specific
//! message on stderr, and the database (audit trail included) unchanged.
//! `Env::refuse` checks the status, the "error: " prefix and the snapshot.

mod common;

use common::cli::{Env, NAME_RULE};

/// Host web-1 in server group web, scripts a, b, c (and d, not grouped),
/// script group sg = [a, b, c], task deploy = sg on web.
fn full_env() -> Env {
    let env = Env::new();
    env.ok(&["group", "create", "web"]);
    env.ok(&["host", "add", "web-1", "10.0.0.1", "--group", "web"]);
    for name in ["a", "b", "c", "d"] {
        env.add_script(name);
    }
    env.ok(&["scriptgroup", "create", "sg", "a", "b", "c"]);
    env.ok(&["task", "create", "deploy", "sg", "web"]);
    env
}

#[test]
fn snapshot_sees_changes_the_lists_do_not_show() {
    // The helper itself: a new script version and an audit row both show.
    let env = full_env();
    let before = env.snapshot();
    let file = env.script_file("a2", "echo a2\n");
    env.ok(&["script", "edit", "a", &file]);
    assert_ne!(before, env.snapshot());
    let before = env.snapshot();
    env.ok(&["host", "edit", "web-1", "--description", "x"]);
    assert_ne!(before, env.snapshot());
}

// ---------------------------------------------------------------- duplicates

#[test]
fn duplicate_host_is_refused() {
    let env = full_env();
    let message = env.refuse(&["host", "add", "web-1", "10.0.0.2"]);
    assert_eq!(message, "host 'web-1' already exists");
}

#[test]
fn duplicate_server_group_is_refused() {
    let env = full_env();
    let message = env.refuse(&["group", "create", "web"]);
    assert_eq!(message, "server group 'web' already exists");
}

#[test]
fn duplicate_script_is_refused() {
    let env = full_env();
    let file = env.script_file("other", "echo other\n");
    let message = env.refuse(&["script", "add", "a", &file]);
    assert_eq!(message, "script 'a' already exists");
}

#[test]
fn duplicate_script_group_is_refused() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "create", "sg", "d"]);
    assert_eq!(message, "script group 'sg' already exists");
}

#[test]
fn duplicate_task_is_refused() {
    let env = full_env();
    let message = env.refuse(&["task", "create", "deploy", "sg", "web"]);
    assert_eq!(message, "task 'deploy' already exists");
}

#[test]
fn duplicate_script_in_a_new_script_group_is_refused() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "create", "twice", "a", "b", "a"]);
    assert_eq!(
        message,
        "script 'a' is already in script group 'twice' at position 1"
    );
}

#[test]
fn adding_a_script_already_in_the_group_is_refused() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "add", "sg", "b"]);
    assert_eq!(
        message,
        "script 'b' is already in script group 'sg' at position 2"
    );
}

// -------------------------------------------------------- unknown references

#[test]
fn unknown_host_in_group_add_lists_known_hosts() {
    let env = full_env();
    env.ok(&["host", "add", "web-2", "10.0.0.2"]);
    let message = env.refuse(&["group", "add", "web", "web-2", "nope"]);
    assert_eq!(message, "unknown host 'nope' (known: web-1, web-2)");
}

#[test]
fn unknown_group_in_group_add_is_refused() {
    let env = full_env();
    let message = env.refuse(&["group", "add", "nope", "web-1"]);
    assert_eq!(message, "unknown server group 'nope' (known: web)");
}

#[test]
fn unknown_group_in_host_add_lists_known_groups() {
    let env = full_env();
    env.ok(&["group", "create", "db"]);
    let message = env.refuse(&[
        "host", "add", "web-2", "10.0.0.2", "--group", "web", "--group", "nope",
    ]);
    assert_eq!(message, "unknown server group 'nope' (known: db, web)");
}

#[test]
fn unknown_script_in_scriptgroup_create_lists_known_scripts() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "create", "new", "a", "nope"]);
    assert_eq!(message, "unknown script 'nope' (known: a, b, c, d)");
}

#[test]
fn unknown_script_in_scriptgroup_add_is_refused() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "add", "sg", "nope"]);
    assert_eq!(message, "unknown script 'nope' (known: a, b, c, d)");
}

#[test]
fn unknown_script_group_in_task_create_lists_known_ones() {
    let env = full_env();
    env.ok(&["scriptgroup", "create", "other"]);
    let message = env.refuse(&["task", "create", "t2", "nope", "web"]);
    assert_eq!(message, "unknown script group 'nope' (known: other, sg)");
}

#[test]
fn unknown_server_group_in_task_create_lists_known_ones() {
    let env = full_env();
    let message = env.refuse(&["task", "create", "t2", "sg", "nope"]);
    assert_eq!(message, "unknown server group 'nope' (known: web)");
}

#[test]
fn unknown_names_in_show_edit_and_delete_are_refused() {
    let env = full_env();
    let cases: [(&[&str], &str); 9] = [
        (&["host", "show", "x"], "unknown host 'x' (known: web-1)"),
        (
            &["host", "edit", "x", "--port", "2"],
            "unknown host 'x' (known: web-1)",
        ),
        (&["host", "rm", "x"], "unknown host 'x' (known: web-1)"),
        (
            &["group", "delete", "x"],
            "unknown server group 'x' (known: web)",
        ),
        (
            &["script", "rm", "x"],
            "unknown script 'x' (known: a, b, c, d)",
        ),
        (
            &["script", "history", "x"],
            "unknown script 'x' (known: a, b, c, d)",
        ),
        (
            &["scriptgroup", "delete", "x"],
            "unknown script group 'x' (known: sg)",
        ),
        (&["task", "delete", "x"], "unknown task 'x' (known: deploy)"),
        (&["task", "show", "x"], "unknown task 'x' (known: deploy)"),
    ];
    for (args, expected) in cases {
        assert_eq!(env.refuse(args), expected, "{args:?}");
    }
}

#[test]
fn removing_a_host_not_in_the_group_is_refused() {
    let env = full_env();
    env.ok(&["host", "add", "web-2", "10.0.0.2"]);
    let message = env.refuse(&["group", "remove", "web", "web-1", "web-2"]);
    assert_eq!(message, "host 'web-2' is not in server group 'web'");
}

#[test]
fn moving_or_removing_a_script_not_in_the_group_is_refused() {
    let env = full_env();
    assert_eq!(
        env.refuse(&["scriptgroup", "move", "sg", "d", "1"]),
        "script 'd' is not in script group 'sg'"
    );
    assert_eq!(
        env.refuse(&["scriptgroup", "remove", "sg", "d"]),
        "script 'd' is not in script group 'sg'"
    );
}

#[test]
fn unknown_script_version_is_refused() {
    let env = full_env();
    assert_eq!(
        env.refuse(&["script", "show", "a", "--version", "2"]),
        "invalid version '2': script 'a' has versions 1..=1"
    );
    assert_eq!(
        env.refuse(&["script", "show", "a", "--version", "0"]),
        "invalid version '0': script 'a' has versions 1..=1"
    );
}

// ------------------------------------------------------------- invalid names

fn invalid_names() -> Vec<String> {
    vec![
        "Web".to_string(),
        "web server".to_string(),
        "a".repeat(65),
        "-web".to_string(),
        ".web".to_string(),
        "wéb".to_string(),
        "a/b".to_string(),
        String::new(),
    ]
}

fn assert_invalid_name(message: &str, kind: &str, name: &str) {
    assert_eq!(
        message,
        format!("invalid {kind} name '{name}': {NAME_RULE}")
    );
}

#[test]
fn invalid_host_names_are_refused() {
    let env = full_env();
    for name in invalid_names() {
        let message = env.refuse(&["host", "add", "--", &name, "10.0.0.9"]);
        assert_invalid_name(&message, "host", &name);
    }
}

#[test]
fn invalid_server_group_names_are_refused() {
    let env = full_env();
    for name in invalid_names() {
        let message = env.refuse(&["group", "create", "--", &name]);
        assert_invalid_name(&message, "server group", &name);
    }
    let message = env.refuse(&["host", "add", "h", "10.0.0.9", "--group", "Web"]);
    assert_invalid_name(&message, "server group", "Web");
}

#[test]
fn invalid_script_names_are_refused() {
    let env = full_env();
    let file = env.script_file("body", "echo hi\n");
    for name in invalid_names() {
        let message = env.refuse(&["script", "add", "--", &name, &file]);
        assert_invalid_name(&message, "script", &name);
    }
}

#[test]
fn invalid_script_group_names_are_refused() {
    let env = full_env();
    for name in invalid_names() {
        let message = env.refuse(&["scriptgroup", "create", "--", &name, "a"]);
        assert_invalid_name(&message, "script group", &name);
    }
}

#[test]
fn invalid_task_names_are_refused() {
    let env = full_env();
    for name in invalid_names() {
        let message = env.refuse(&["task", "create", "--", &name, "sg", "web"]);
        assert_invalid_name(&message, "task", &name);
    }
}

#[test]
fn names_of_64_characters_are_accepted() {
    let env = Env::new();
    let name = "a".repeat(64);
    assert_eq!(
        env.ok(&["group", "create", &name]),
        format!("created server group {name}\n")
    );
}

// ------------------------------------------------------------- script bodies

#[test]
fn oversized_script_body_is_refused() {
    let env = full_env();
    let big = env.write("big.sh", vec![b'a'; 1024 * 1024 + 1]);
    let message = env.refuse(&["script", "add", "big", big.to_str().unwrap()]);
    assert_eq!(
        message,
        "script body is more than 1048576 bytes; the limit is 1048576 bytes (1 MiB)"
    );
}

#[test]
fn script_body_of_exactly_1_mib_is_accepted() {
    let env = Env::new();
    let mut body = b"#".repeat(1024 * 1024 - 1);
    body.push(b'\n');
    let file = env.write("max.sh", body);
    env.ok(&["script", "add", "max", file.to_str().unwrap()]);
    let history = env.json(&["script", "history", "max"]);
    assert_eq!(history[0]["bytes"], 1024 * 1024);
}

#[test]
fn oversized_script_body_on_stdin_is_refused() {
    let env = full_env();
    let message = env.refuse_stdin(&["script", "add", "big", "-"], &vec![b'a'; 3 * 1024 * 1024]);
    assert_eq!(
        message,
        "script body is more than 1048576 bytes; the limit is 1048576 bytes (1 MiB)"
    );
}

#[test]
fn oversized_body_in_script_edit_is_refused() {
    let env = full_env();
    let big = env.write("big.sh", vec![b'a'; 2 * 1024 * 1024]);
    let message = env.refuse(&["script", "edit", "a", big.to_str().unwrap()]);
    assert_eq!(
        message,
        "script body is more than 1048576 bytes; the limit is 1048576 bytes (1 MiB)"
    );
}

#[test]
fn non_utf8_script_body_is_refused() {
    let env = full_env();
    let file = env.write("latin1.sh", b"echo caf\xe9\n");
    let message = env.refuse(&["script", "add", "latin1", file.to_str().unwrap()]);
    assert_eq!(
        message,
        "script body is not valid UTF-8 (first bad byte at offset 8); scripts must be text"
    );
    let message = env.refuse_stdin(&["script", "edit", "a", "-"], b"\xff\xfe");
    assert_eq!(
        message,
        "script body is not valid UTF-8 (first bad byte at offset 0); scripts must be text"
    );
}

#[test]
fn empty_script_body_is_refused() {
    let env = full_env();
    let expected = "script body is empty; a script needs at least one command";
    let empty = env.write("empty.sh", "");
    assert_eq!(
        env.refuse(&["script", "add", "e", empty.to_str().unwrap()]),
        expected
    );
    assert_eq!(
        env.refuse_stdin(&["script", "add", "e", "-"], b"  \n\t\n"),
        expected
    );
    assert_eq!(
        env.refuse(&["script", "edit", "a", empty.to_str().unwrap()]),
        expected
    );
}

#[test]
fn missing_script_file_is_refused() {
    let env = full_env();
    let missing = env.path("missing.sh");
    let missing = missing.to_str().unwrap();
    let message = env.refuse(&["script", "add", "m", missing]);
    assert!(
        message.starts_with(&format!("cannot read script body from {missing}: ")),
        "{message}"
    );
}

// --------------------------------------------------- deleting what is in use

#[test]
fn removing_a_host_in_a_group_needs_force() {
    let env = full_env();
    env.ok(&["group", "create", "db"]);
    env.ok(&["group", "add", "db", "web-1"]);
    let message = env.refuse(&["host", "rm", "web-1"]);
    assert_eq!(
        message,
        "host 'web-1' is still used by server group db, server group web; remove it from them first or use --force"
    );
    assert_eq!(
        env.ok(&["host", "rm", "web-1", "--force"]),
        "removed host web-1\n"
    );
    assert_eq!(env.json(&["host", "list"]), serde_json::json!([]));
    assert_eq!(
        env.json(&["group", "show", "web"])["hosts"],
        serde_json::json!([])
    );
    assert_eq!(
        env.json(&["group", "show", "db"])["hosts"],
        serde_json::json!([])
    );
}

#[test]
fn deleting_a_server_group_used_by_tasks_needs_force() {
    let env = full_env();
    env.ok(&["task", "create", "other", "sg", "web"]);
    let message = env.refuse(&["group", "delete", "web"]);
    assert_eq!(
        message,
        "server group 'web' is still used by task deploy, task other; delete those tasks first or use --force to delete them too"
    );
    assert_eq!(
        env.ok(&["group", "delete", "web", "--force"]),
        "deleted server group web\n"
    );
    assert_eq!(env.json(&["task", "list"]), serde_json::json!([]));
    assert_eq!(
        env.json(&["host", "show", "web-1"])["groups"],
        serde_json::json!([])
    );
    let audit = env.audit();
    assert_eq!(audit[0]["action"], "group.delete");
    assert_eq!(
        audit[0]["detail"],
        "force=true tasks_deleted=[deploy,other]"
    );
}

#[test]
fn deleting_a_script_group_used_by_a_task_needs_force() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "delete", "sg"]);
    assert_eq!(
        message,
        "script group 'sg' is still used by task deploy; delete those tasks first or use --force to delete them too"
    );
    assert_eq!(
        env.ok(&["scriptgroup", "delete", "sg", "--force"]),
        "deleted script group sg\n"
    );
    assert_eq!(env.json(&["task", "list"]), serde_json::json!([]));
    assert_eq!(env.names(&["script", "list"]), ["a", "b", "c", "d"]);
}

#[test]
fn removing_a_script_in_a_script_group_needs_force() {
    let env = full_env();
    env.ok(&["scriptgroup", "create", "other", "c", "b"]);
    let message = env.refuse(&["script", "rm", "b"]);
    assert_eq!(
        message,
        "script 'b' is still used by script group other, script group sg; remove it from them first or use --force"
    );
    assert_eq!(
        env.ok(&["script", "rm", "b", "--force"]),
        "removed script b\n"
    );
    assert_eq!(env.group_scripts("sg"), ["a", "c"]);
    assert_eq!(env.group_scripts("other"), ["c"]);
    let message = env.refuse(&["script", "show", "b"]);
    assert_eq!(message, "unknown script 'b' (known: a, c, d)");
}

// -------------------------------------------------------------- positions

#[test]
fn scriptgroup_add_at_position_zero_is_refused() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "add", "sg", "d", "--position", "0"]);
    assert_eq!(
        message,
        "position 0 is out of range for script group 'sg': valid positions are 1..=4"
    );
}

#[test]
fn scriptgroup_add_beyond_one_past_the_end_is_refused() {
    let env = full_env();
    let message = env.refuse(&["scriptgroup", "add", "sg", "d", "--position", "5"]);
    assert_eq!(
        message,
        "position 5 is out of range for script group 'sg': valid positions are 1..=4"
    );
}

#[test]
fn scriptgroup_move_out_of_range_is_refused() {
    let env = full_env();
    for position in ["0", "4", "-1"] {
        let message = env.refuse(&["scriptgroup", "move", "sg", "a", position]);
        assert_eq!(
            message,
            format!("position {position} is out of range for script group 'sg': valid positions are 1..=3")
        );
    }
}

// ------------------------------------------------------------ bad values

#[test]
fn bad_ports_are_refused() {
    let env = full_env();
    for port in ["0", "70000", "65536"] {
        let expected = format!("invalid port '{port}': a TCP port between 1 and 65535");
        assert_eq!(
            env.refuse(&["host", "add", "h", "10.0.0.9", "--port", port]),
            expected
        );
        assert_eq!(
            env.refuse(&["host", "edit", "web-1", "--port", port]),
            expected
        );
    }
}

#[test]
fn bad_addresses_are_refused() {
    let env = full_env();
    for (address, why) in [
        ("10.0.0.300", "not a valid DNS name or IP address"),
        ("has space", "not a valid DNS name or IP address"),
        ("x_y.org", "not a valid DNS name or IP address"),
        ("a..b", "not a valid DNS name or IP address"),
        ("-x.org", "not a valid DNS name or IP address"),
    ] {
        let expected = format!(
            "invalid address '{address}': {why}; expected a DNS name, an IPv4 or an IPv6 address"
        );
        assert_eq!(env.refuse(&["host", "add", "h", "--", address]), expected);
        assert_eq!(
            env.refuse(&["host", "edit", "web-1", &format!("--address={address}")]),
            expected
        );
    }
    let long = format!("{}.org", "a".repeat(250));
    assert!(env
        .refuse(&["host", "add", "h", &long])
        .contains("length must be 1-253"));
}

#[test]
fn bad_users_are_refused() {
    let env = full_env();
    let expected = "invalid user 'bad user': 1-32 characters of letters, digits, '.', '_' and '-', not starting with '-'";
    assert_eq!(
        env.refuse(&["host", "add", "h", "10.0.0.9", "--user", "bad user"]),
        expected
    );
    assert_eq!(
        env.refuse(&["host", "edit", "web-1", "--user", "bad user"]),
        expected
    );
}

#[test]
fn bad_timeouts_are_refused() {
    let env = full_env();
    let file = env.script_file("t", "echo t\n");
    let message = env.refuse(&["script", "add", "t", &file, "--timeout", "soon"]);
    assert!(message.starts_with("invalid timeout 'soon': "), "{message}");
    assert!(
        message.ends_with("expected a duration such as 30s, 10m or 1h"),
        "{message}"
    );
    let message = env.refuse(&["script", "add", "t", &file, "--timeout", "0s"]);
    assert_eq!(message, "invalid timeout '0s': at least 1s");
    let message = env.refuse(&["script", "add", "t", &file, "--timeout", "none"]);
    assert!(
        message.starts_with("invalid timeout 'none': "),
        "none only clears on edit: {message}"
    );
    let message = env.refuse(&["script", "edit", "a", &file, "--timeout", "5 parsecs"]);
    assert!(
        message.starts_with("invalid timeout '5 parsecs': "),
        "{message}"
    );
}

#[test]
fn bad_task_options_are_refused() {
    let env = full_env();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--parallel", "0"],
            "invalid parallel '0': between 1 and 4096 hosts at once",
        ),
        (
            &["--parallel", "4097"],
            "invalid parallel '4097': between 1 and 4096 hosts at once",
        ),
        (
            &["--parallel=-3"],
            "invalid parallel '-3': between 1 and 4096 hosts at once",
        ),
        (
            &["--max-failed-hosts", "0"],
            "invalid max-failed-hosts '0': at least 1 (leave it out for no limit)",
        ),
    ];
    for (options, expected) in cases {
        let mut args = vec!["task", "create", "t2", "sg", "web"];
        args.extend_from_slice(options);
        assert_eq!(env.refuse(&args), expected, "{options:?}");
    }
}

#[test]
fn host_edit_without_changes_is_refused() {
    let env = full_env();
    let message = env.refuse(&["host", "edit", "web-1"]);
    assert_eq!(
        message,
        "nothing to change for host 'web-1': give at least one of --address, --port, --user, --default-user, --description, --sudo, --jump, --no-jump"
    );
}

// ------------------------------------------------------------ usage errors

#[test]
fn usage_errors_exit_2_and_change_nothing() {
    let env = full_env();
    let before = env.snapshot();
    for args in [
        &["host", "edit", "web-1", "--user", "x", "--default-user"][..],
        &["host", "add", "only-a-name"],
        &["host", "add", "h", "10.0.0.9", "--port", "ssh"],
        &["group", "add", "web"],
        &["task", "create", "t2", "sg"],
        &["frobnicate"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("--help"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(before, env.snapshot());
}

#[test]
fn task_run_refusals_name_what_exists_and_start_nothing() {
    let env = full_env();
    let cases: [(&[&str], &str); 9] = [
        (&["task", "run", "nope"], "unknown task 'nope' (known tasks: deploy)"),
        (
            &["task", "run", "sg"],
            "unknown task 'sg' (known tasks: deploy); 'sg' is a script group: name a server group too (drover task run sg SERVER_GROUP)",
        ),
        (
            &["task", "run", "sg", "nope"],
            "unknown server group 'nope' (known: web)",
        ),
        (
            &["task", "run", "nope", "web"],
            "unknown script group 'nope' (known: sg)",
        ),
        (
            // a word without '=' may be a bare secret: never echoed
            &["task", "run", "deploy", "--env", "s3cr3t"],
            "an --env value has no '=': expected KEY=VALUE (the word itself is not repeated here)",
        ),
        (
            &["task", "run", "deploy", "--env", "1X=hunter2"],
            "invalid --env '1X': KEY must be letters, digits and '_', not starting with a digit",
        ),
        (
            &["task", "run", "deploy", "--env", "A-B=hunter2"],
            "invalid --env 'A-B': KEY must be letters, digits and '_', not starting with a digit",
        ),
        (
            &["task", "run", "deploy", "--env", "DROVER_HOST=x"],
            "invalid --env 'DROVER_HOST': DROVER_* variables are set by drover itself",
        ),
        (
            &["task", "run", "deploy", "--parallel", "0"],
            "invalid parallel '0': between 1 and 4096 hosts at once",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(env.refuse(args), expected, "{args:?}");
    }
}
