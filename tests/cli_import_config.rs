//! `drover import` of the commands/ library and of inventory files, and the
//! configuration file: loading, refusing bad keys and values, `config show`.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{copy_dir, names_of, strings, Env, Run, INVENTORY, LIBRARY, NAME_RULE};
use serde_json::json;

/// Names of the scripts of a library directory, sorted.
fn library_scripts(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The last line of an import report.
fn summary(out: &str) -> &str {
    out.lines().last().unwrap_or_default()
}

/// A copy of the repository's library in the test's directory.
fn library_copy(env: &Env) -> PathBuf {
    let dir = env.path("library");
    copy_dir(Path::new(LIBRARY), &dir);
    dir
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ------------------------------------------------------------------ library

#[test]
fn first_library_import_adds_every_script_and_group() {
    let env = Env::new();
    let out = env.ok(&["import", LIBRARY]);
    let scripts = library_scripts(Path::new(LIBRARY));
    for name in &scripts {
        assert!(
            out.lines().any(|l| l == format!("added    script {name}")),
            "{name} missing:\n{out}"
        );
    }
    assert!(
        out.lines().any(|l| l == "added    script group lamp"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "added    script group health"),
        "{out}"
    );
    let added = out.lines().filter(|l| l.starts_with("added    ")).count();
    assert_eq!(added, scripts.len() + 2, "{out}");
    assert_eq!(
        summary(&out),
        format!("{added} added, 0 changed, 0 unchanged")
    );
    assert_eq!(env.names(&["script", "list"]), scripts);
}

#[test]
fn library_import_builds_lamp_in_order() {
    let env = Env::new();
    env.ok(&["import", LIBRARY]);
    assert_eq!(
        env.group_scripts("lamp"),
        ["setup-apache", "setup-mysql", "setup-php"]
    );
    assert_eq!(env.group_scripts("health"), ["load-uptime", "disk-usage"]);
    let lamp = env.json(&["scriptgroup", "show", "lamp"]);
    assert_eq!(
        lamp["description"],
        "Apache, MySQL (MariaDB) and PHP on Debian/Ubuntu"
    );
}

#[test]
fn library_import_reads_description_and_timeout_headers() {
    let env = Env::new();
    env.ok(&["import", LIBRARY]);
    let script = env.json(&["script", "show", "setup-mysql"]);
    assert_eq!(script["timeout_secs"], 15 * 60);
    assert_eq!(
        script["description"],
        "Install, enable and start MariaDB (Debian's MySQL server) on Debian/Ubuntu"
    );
    let body = std::fs::read_to_string(Path::new(LIBRARY).join("scripts/setup-mysql.sh")).unwrap();
    assert_eq!(script["body"], body.as_str());
    assert_eq!(script["groups"], json!(["lamp"]));
    let audit = env.audit();
    assert!(audit
        .iter()
        .all(|e| e["actor"] == "cli:tester" && e["outcome"] == "ok"));
    assert!(audit
        .iter()
        .any(|e| e["action"] == "scriptgroup.create" && e["target"] == "lamp"));
}

#[test]
fn library_import_json_lists_added_items() {
    let env = Env::new();
    let report = env.json(&["import", LIBRARY]);
    let added = strings(&report["added"]);
    assert!(added.contains(&"script group lamp".to_string()), "{report}");
    assert!(
        added.contains(&"script setup-apache".to_string()),
        "{report}"
    );
    assert_eq!(report["changed"], json!([]));
    assert_eq!(report["unchanged"], 0);
}

#[test]
fn second_library_import_changes_nothing() {
    let env = Env::new();
    let first = env.json(&["import", LIBRARY]);
    let items = first["added"].as_array().unwrap().len();
    let before = env.snapshot();
    let out = env.ok(&["import", LIBRARY]);
    assert_eq!(out, format!("0 added, 0 changed, {items} unchanged\n"));
    assert_eq!(before, env.snapshot(), "no version, no audit entry");
    let report = env.json(&["import", LIBRARY]);
    assert_eq!(
        report,
        json!({"added": [], "changed": [], "unchanged": items})
    );
}

#[test]
fn changed_script_body_becomes_version_2_on_reimport() {
    let env = Env::new();
    let lib = library_copy(&env);
    env.ok(&["import", path_str(&lib)]);
    let file = lib.join("scripts/setup-php.sh");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{original}echo changed\n")).unwrap();
    let out = env.ok(&["import", path_str(&lib)]);
    let items = library_scripts(&lib).len() + 2;
    assert_eq!(
        out,
        format!(
            "changed  script setup-php (version 2)\n0 added, 1 changed, {} unchanged\n",
            items - 1
        )
    );
    assert_eq!(
        env.ok(&["script", "show", "setup-php", "--version", "1"]),
        original
    );
    assert_eq!(env.json(&["script", "show", "setup-php"])["version"], 2);
    assert_eq!(
        env.group_scripts("lamp"),
        ["setup-apache", "setup-mysql", "setup-php"]
    );
}

#[test]
fn changed_script_header_only_updates_metadata() {
    let env = Env::new();
    let lib = library_copy(&env);
    let file = lib.join("scripts/tail-log.sh");
    env.ok(&["import", path_str(&lib)]);
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("# timeout: 1m", "# timeout: 3m", 1);
    assert_ne!(text, edited, "tail-log.sh has a '# timeout: 1m' header");
    std::fs::write(&file, edited).unwrap();
    let out = env.ok(&["import", path_str(&lib)]);
    // The header is part of the body, so the body changed too.
    assert!(
        out.starts_with("changed  script tail-log (version 2)\n"),
        "{out}"
    );
    let script = env.json(&["script", "show", "tail-log"]);
    assert_eq!(script["timeout_secs"], 180);
}

#[test]
fn reordered_script_group_is_reported_changed() {
    let env = Env::new();
    let lib = library_copy(&env);
    env.ok(&["import", path_str(&lib)]);
    let groups = lib.join("groups.toml");
    let text = std::fs::read_to_string(&groups).unwrap();
    let edited = text.replace(
        r#"["setup-apache", "setup-mysql", "setup-php"]"#,
        r#"["setup-mysql", "setup-apache", "setup-php"]"#,
    );
    assert_ne!(text, edited);
    std::fs::write(&groups, edited).unwrap();
    let out = env.ok(&["import", path_str(&lib)]);
    assert!(out.starts_with("changed  script group lamp\n"), "{out}");
    assert!(summary(&out).starts_with("0 added, 1 changed, "), "{out}");
    assert_eq!(
        env.group_scripts("lamp"),
        ["setup-mysql", "setup-apache", "setup-php"]
    );
}

#[test]
fn library_with_an_invalid_script_name_is_refused_whole() {
    let env = Env::new();
    let lib = library_copy(&env);
    let bad = lib.join("scripts/Bad_Name.sh");
    std::fs::write(&bad, "#!/bin/sh\necho bad\n").unwrap();
    env.ok(&["host", "list"]);
    let message = env.refuse(&["import", path_str(&lib)]);
    assert_eq!(
        message,
        format!(
            "import of {}: invalid script name 'Bad_Name': {NAME_RULE}",
            bad.display()
        )
    );
    assert_eq!(env.json(&["script", "list"]), json!([]));
}

#[test]
fn library_with_a_non_utf8_body_is_refused_whole() {
    let env = Env::new();
    let lib = library_copy(&env);
    // A good import first: the refused one must not touch it either.
    env.ok(&["import", path_str(&lib)]);
    let first = lib.join("scripts/disk-usage.sh");
    std::fs::write(&first, "#!/bin/sh\necho changed\n").unwrap();
    let bad = lib.join("scripts/zz-latin1.sh");
    std::fs::write(&bad, b"#!/bin/sh\necho caf\xe9\n").unwrap();
    let message = env.refuse(&["import", path_str(&lib)]);
    assert_eq!(
        message,
        format!(
            "import of {}: script body is not valid UTF-8 (first bad byte at offset 18); scripts must be text",
            bad.display()
        )
    );
    assert_eq!(env.json(&["script", "show", "disk-usage"])["version"], 1);
}

#[test]
fn library_with_an_empty_script_or_bad_timeout_is_refused_whole() {
    let env = Env::new();
    let lib = library_copy(&env);
    let empty = lib.join("scripts/empty.sh");
    std::fs::write(&empty, "\n").unwrap();
    let message = env.refuse(&["import", path_str(&lib)]);
    assert_eq!(
        message,
        format!(
            "import of {}: script body is empty; a script needs at least one command",
            empty.display()
        )
    );
    std::fs::remove_file(&empty).unwrap();
    let slow = lib.join("scripts/slow.sh");
    std::fs::write(&slow, "#!/bin/sh\n# timeout: forever\nsleep 1\n").unwrap();
    let message = env.refuse(&["import", path_str(&lib)]);
    assert!(
        message.starts_with(&format!(
            "import of {}: invalid timeout 'forever': ",
            slow.display()
        )),
        "{message}"
    );
}

#[test]
fn library_with_a_broken_groups_file_is_refused() {
    let env = Env::new();
    let lib = library_copy(&env);
    let groups = lib.join("groups.toml");
    std::fs::write(
        &groups,
        "[lamp]\nscripts = [\"setup-php\"]\ncolour = \"red\"\n",
    )
    .unwrap();
    env.ok(&["host", "list"]);
    let message = env.refuse(&["import", path_str(&lib)]);
    assert!(
        message.starts_with(&format!(
            "import of {}: line 3, column 1: unknown field `colour`",
            groups.display()
        )),
        "{message}"
    );
}

#[test]
fn import_of_a_missing_path_is_refused() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let missing = env.path("nowhere");
    let message = env.refuse(&["import", path_str(&missing)]);
    assert_eq!(
        message,
        format!(
            "import of {}: no such file or directory; give the commands/ directory or an inventory file",
            missing.display()
        )
    );
}

/// groups.toml is checked against the scripts before anything is written:
/// a group naming an unknown script refuses the whole import.
#[test]
fn library_with_a_group_of_unknown_scripts_changes_nothing() {
    let env = Env::new();
    let lib = library_copy(&env);
    let groups = lib.join("groups.toml");
    let mut text = std::fs::read_to_string(&groups).unwrap();
    text.push_str("\n[broken]\nscripts = [\"no-such-script\"]\n");
    std::fs::write(&groups, text).unwrap();
    env.ok(&["host", "list"]);
    let message = env.refuse(&["import", path_str(&lib)]);
    assert_eq!(
        message,
        format!(
            "import of {}: script group 'broken' names unknown script 'no-such-script': it is neither in scripts/ nor already stored",
            groups.display()
        )
    );
}

/// A refused re-import leaves the first import exactly as it was: no new
/// version of a changed script, no audit entry.
#[test]
fn refused_library_reimport_keeps_the_changed_scripts_unwritten() {
    let env = Env::new();
    let lib = library_copy(&env);
    env.ok(&["import", path_str(&lib)]);
    std::fs::write(
        lib.join("scripts/disk-usage.sh"),
        "#!/bin/sh
echo v2
",
    )
    .unwrap();
    let groups = lib.join("groups.toml");
    let mut text = std::fs::read_to_string(&groups).unwrap();
    text.push_str("\n[twice]\nscripts = [\"disk-usage\", \"disk-usage\"]\n");
    std::fs::write(&groups, text).unwrap();
    let message = env.refuse(&["import", path_str(&lib)]);
    assert_eq!(
        message,
        format!(
            "import of {}: script group 'twice' lists script 'disk-usage' more than once",
            groups.display()
        )
    );
    assert_eq!(env.json(&["script", "show", "disk-usage"])["version"], 1);
}

#[test]
fn library_group_may_name_a_script_already_stored() {
    let env = Env::new();
    env.add_script("local-only");
    let lib = library_copy(&env);
    let groups = lib.join("groups.toml");
    let mut text = std::fs::read_to_string(&groups).unwrap();
    text.push_str("\n[mixed]\nscripts = [\"local-only\", \"disk-usage\"]\n");
    std::fs::write(&groups, text).unwrap();
    let out = env.ok(&["import", path_str(&lib)]);
    assert!(
        out.lines().any(|l| l == "added    script group mixed"),
        "{out}"
    );
    assert_eq!(env.group_scripts("mixed"), ["local-only", "disk-usage"]);
}

/// Same for an invalid script group name in groups.toml.
#[test]
fn library_with_an_invalid_group_name_changes_nothing() {
    let env = Env::new();
    let lib = library_copy(&env);
    let groups = lib.join("groups.toml");
    let mut text = std::fs::read_to_string(&groups).unwrap();
    text.push_str("\n[Broken]\nscripts = []\n");
    std::fs::write(&groups, text).unwrap();
    env.ok(&["host", "list"]);
    let message = env.refuse(&["import", path_str(&lib)]);
    assert_eq!(
        message,
        format!(
            "import of {}: invalid script group name 'Broken': {NAME_RULE}",
            groups.display()
        )
    );
}

// ---------------------------------------------------------------- inventory

#[test]
fn inventory_import_adds_groups_then_hosts() {
    let env = Env::new();
    let out = env.ok(&["import", INVENTORY]);
    let expected = "\
added    server group db
added    server group web
added    host web-1
added    host web-2
added    host db-1
added    host lamp-1
6 added, 0 changed, 0 unchanged
";
    assert_eq!(out, expected);
}

#[test]
fn inventory_import_stores_every_field() {
    let env = Env::new();
    env.ok(&["import", INVENTORY]);
    let hosts = env.json(&["host", "list"]);
    assert_eq!(names_of(&hosts), ["db-1", "lamp-1", "web-1", "web-2"]);
    assert_eq!(
        env.json(&["host", "show", "db-1"]),
        json!({
            "name": "db-1",
            "address": "2001:db8::20",
            "port": 2222,
            "user": "admin",
            "description": "MariaDB primary",
            "host_key": null,
            "use_sudo": false,
            "groups": ["db"],
            "jump": null,
            "connection": {
                "jumps": [],
                "values": [
                    {"field": "address", "value": "2001:db8::20", "source": "inventory"},
                    {"field": "port", "value": "2222", "source": "inventory"},
                    {"field": "user", "value": "admin", "source": "inventory"},
                ],
            },
        })
    );
    let web2 = env.json(&["host", "show", "web-2"]);
    assert_eq!(web2["port"], 22);
    assert_eq!(web2["user"], serde_json::Value::Null);
    assert_eq!(
        env.json(&["host", "show", "lamp-1"])["groups"],
        json!(["db", "web"])
    );
    assert_eq!(
        env.json(&["group", "show", "web"]),
        json!({
            "name": "web",
            "description": "front-end web servers",
            "hosts": ["lamp-1", "web-1", "web-2"],
        })
    );
    assert_eq!(
        env.json(&["group", "show", "db"])["description"],
        "database servers"
    );
}

#[test]
fn second_inventory_import_changes_nothing() {
    let env = Env::new();
    env.ok(&["import", INVENTORY]);
    let before = env.snapshot();
    let out = env.ok(&["import", INVENTORY]);
    assert_eq!(out, "0 added, 0 changed, 6 unchanged\n");
    assert_eq!(before, env.snapshot());
}

#[test]
fn inventory_import_updates_a_changed_host() {
    let env = Env::new();
    let file = env.write(
        "inventory.toml",
        std::fs::read_to_string(INVENTORY).unwrap(),
    );
    env.ok(&["import", path_str(&file)]);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("192.0.2.11", "192.0.2.99");
    std::fs::write(&file, text).unwrap();
    let out = env.ok(&["import", path_str(&file)]);
    assert_eq!(
        out,
        "changed  host web-2\n0 added, 1 changed, 5 unchanged\n"
    );
    assert_eq!(
        env.json(&["host", "show", "web-2"])["address"],
        "192.0.2.99"
    );
    assert_eq!(env.audit()[0]["action"], "host.edit");
}

#[test]
fn inventory_with_an_unknown_field_is_refused() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let file = env.write(
        "inventory.toml",
        "[[hosts]]\nname = \"h\"\naddress = \"10.0.0.1\"\ncolour = \"red\"\n",
    );
    let message = env.refuse(&["import", path_str(&file)]);
    assert!(
        message.starts_with(&format!(
            "import of {}: line 4, column 1: unknown field `colour`",
            file.display()
        )),
        "{message}"
    );
}

#[test]
fn inventory_with_a_value_of_the_wrong_type_says_where() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let file = env.write(
        "inventory.toml",
        "[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n\n[[hosts]]\nname = \"b\"\naddress = \"10.0.0.2\"\nport = \"22\"\n",
    );
    let message = env.refuse(&["import", path_str(&file)]);
    assert!(
        message.starts_with(&format!("import of {}: line 8, column 8: ", file.display())),
        "{message}"
    );
    assert!(message.contains("string"), "{message}");
    assert_eq!(env.json(&["host", "list"]), json!([]), "nothing imported");
}

#[test]
fn library_with_two_files_of_one_script_name_is_refused_whole() {
    let env = Env::new();
    let lib = library_copy(&env);
    let (first, second) = (lib.join("scripts/twin.py"), lib.join("scripts/twin.sh"));
    std::fs::write(&first, "#!/usr/bin/env python3\nprint('py')\n").unwrap();
    std::fs::write(&second, "#!/bin/sh\necho sh\n").unwrap();
    env.ok(&["host", "list"]);
    let message = env.refuse(&["import", path_str(&lib)]);
    assert_eq!(
        message,
        format!(
            "import of {}: {} and {} both give script name 'twin'; rename one",
            second.display(),
            first.display(),
            second.display()
        )
    );
    assert_eq!(env.json(&["script", "list"]), json!([]));
}

/// Every host is validated before any group or host is written.
#[test]
fn inventory_with_an_invalid_host_changes_nothing() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let file = env.write(
        "inventory.toml",
        "[[hosts]]\nname = \"ok-1\"\naddress = \"10.0.0.1\"\ngroups = [\"g\"]\n\n\
         [[hosts]]\nname = \"Bad\"\naddress = \"10.0.0.2\"\n",
    );
    let message = env.refuse(&["import", path_str(&file)]);
    assert_eq!(
        message,
        format!(
            "import of {}: invalid host name 'Bad': {NAME_RULE}",
            file.display()
        )
    );
}

#[test]
fn inventory_with_a_bad_field_in_a_later_host_changes_nothing() {
    let env = Env::new();
    env.ok(&["import", INVENTORY]);
    let cases = [
        (
            "address = \"10.0.0.300\"",
            "host 'late': invalid address '10.0.0.300': not a valid DNS name or IP address; expected a DNS name, an IPv4 or an IPv6 address",
        ),
        (
            "address = \"10.0.0.9\"\nport = 70000",
            "host 'late': invalid port '70000': a TCP port between 1 and 65535",
        ),
        (
            "address = \"10.0.0.9\"\nuser = \"-root\"",
            "host 'late': invalid user '-root': 1-32 characters of letters, digits, '.', '_' and '-', not starting with '-'",
        ),
        (
            "address = \"10.0.0.9\"\ngroups = [\"Web\"]",
            &format!("host 'late': invalid server group name 'Web': {NAME_RULE}"),
        ),
    ];
    for (fields, expected) in cases {
        // web-1 changes and a new group appears before the bad host.
        let text = std::fs::read_to_string(INVENTORY)
            .unwrap()
            .replace("192.0.2.10", "192.0.2.77");
        let file = env.write(
            "inventory.toml",
            format!("{text}\n[[hosts]]\nname = \"early\"\naddress = \"10.0.0.8\"\ngroups = [\"new\"]\n\n[[hosts]]\nname = \"late\"\n{fields}\n"),
        );
        let message = env.refuse(&["import", path_str(&file)]);
        assert_eq!(message, format!("import of {}: {expected}", file.display()));
    }
}

#[test]
fn inventory_listing_a_host_twice_is_refused() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let file = env.write(
        "inventory.toml",
        "[[hosts]]\nname = \"h\"\naddress = \"10.0.0.1\"\n\n[[hosts]]\nname = \"h\"\naddress = \"10.0.0.2\"\n",
    );
    let message = env.refuse(&["import", path_str(&file)]);
    assert_eq!(
        message,
        format!(
            "import of {}: host 'h' is listed more than once",
            file.display()
        )
    );
}

#[test]
fn inventory_import_adds_an_existing_host_to_a_new_group() {
    let env = Env::new();
    env.ok(&["host", "add", "h", "10.0.0.1"]);
    let file = env.write(
        "inventory.toml",
        "[[hosts]]\nname = \"h\"\naddress = \"10.0.0.1\"\ngroups = [\"g\"]\n",
    );
    let out = env.ok(&["import", path_str(&file)]);
    assert_eq!(
        out,
        "added    server group g\nchanged  host h\n1 added, 1 changed, 0 unchanged\n"
    );
    assert_eq!(env.json(&["host", "show", "h"])["groups"], json!(["g"]));
}

// ------------------------------------------------------------ configuration

/// Runs `host list` with `text` as the configuration file; it must be
/// refused before the database is even created.
fn refused_config(text: &str) -> (Env, String) {
    let env = Env::new();
    std::fs::write(&env.config, text).unwrap();
    let args = ["host", "list"];
    let run = env.run(&args);
    let message = Env::refusal_message(&args, &run);
    assert!(!env.db.exists(), "the database was created anyway");
    (env, message)
}

#[test]
fn config_with_an_unknown_key_is_refused() {
    let (env, message) = refused_config("[ssh]\nuser = \"ops\"\ncolour = \"red\"\n");
    assert!(
        message.starts_with(&format!(
            "configuration: {}: key 'ssh.colour': unknown field `colour`",
            env.config.display()
        )),
        "{message}"
    );
}

#[test]
fn config_with_an_unknown_table_is_refused() {
    let (env, message) = refused_config("[colours]\nbackground = \"red\"\n");
    assert!(
        message.starts_with(&format!("configuration: {}: ", env.config.display())),
        "{message}"
    );
    assert!(message.contains("colours"), "{message}");
}

#[test]
fn config_with_a_bad_host_key_policy_is_refused() {
    let (env, message) = refused_config("[ssh]\nhost_key_policy = \"yolo\"\n");
    assert_eq!(
        message,
        format!(
            "configuration: {}: key 'ssh.host_key_policy': unknown variant `yolo`, expected `accept-new` or `strict`",
            env.config.display()
        )
    );
}

#[test]
fn config_with_a_bad_duration_is_refused() {
    let (env, message) = refused_config("[ssh]\nconnect_timeout = \"soon\"\n");
    assert!(
        message.starts_with(&format!(
            "configuration: {}: key 'ssh.connect_timeout': ",
            env.config.display()
        )),
        "{message}"
    );
    assert!(message.contains("soon"), "{message}");
}

#[test]
fn config_with_a_too_short_timeout_is_refused() {
    let (env, message) = refused_config("[ssh]\nconnect_timeout = \"10ms\"\n");
    assert_eq!(
        message,
        format!(
            "configuration: {}: key 'ssh.connect_timeout': must be at least 100ms",
            env.config.display()
        )
    );
}

#[test]
fn config_with_a_message_handover_out_of_range_is_refused() {
    for value in ["1s", "2h"] {
        let (env, message) = refused_config(&format!(
            "[discord]\nedit_interval = \"2s\"\nmessage_handover = \"{value}\"\n"
        ));
        assert_eq!(
            message,
            format!(
                "configuration: {}: key 'discord.message_handover': must be longer than discord.edit_interval and at most 1h",
                env.config.display()
            ),
            "{value}"
        );
    }
}

#[test]
fn config_with_a_bad_permission_principal_is_refused() {
    let (env, message) = refused_config("[discord.permissions]\nadmin = [\"team:1\"]\n");
    assert_eq!(
        message,
        format!(
            "configuration: {}: key 'discord.permissions.admin': 'team:1': expected 'role:ID' or 'user:ID'",
            env.config.display()
        )
    );
}

#[test]
fn config_refusal_leaves_an_existing_database_unchanged() {
    let env = Env::new();
    env.ok(&["import", INVENTORY]);
    let before = env.snapshot();
    std::fs::write(&env.config, "[logs]\nredact = [\"(\"]\n").unwrap();
    let args = ["group", "create", "new"];
    let message = Env::refusal_message(&args, &env.run(&args));
    assert!(
        message.starts_with(&format!(
            "configuration: {}: key 'logs.redact': '(': ",
            env.config.display()
        )),
        "{message}"
    );
    std::fs::write(&env.config, "").unwrap();
    assert_eq!(before, env.snapshot());
}

#[test]
fn missing_explicit_config_file_is_refused() {
    let env = Env::new();
    std::fs::remove_file(&env.config).unwrap();
    let args = ["config", "show"];
    let message = Env::refusal_message(&args, &env.run(&args));
    assert!(
        message.starts_with(&format!(
            "cannot read configuration file {}: ",
            env.config.display()
        )),
        "{message}"
    );
}

#[test]
fn bad_guild_environment_variable_is_refused() {
    let mut env = Env::new();
    env.set_env("DROVER_DISCORD_GUILD", "my-guild");
    let args = ["config", "show"];
    let message = Env::refusal_message(&args, &env.run(&args));
    assert_eq!(
        message,
        "configuration: environment variable DROVER_DISCORD_GUILD: 'my-guild' is not a Discord guild id (a number)"
    );
}

#[test]
fn config_values_that_cannot_work_are_refused() {
    let cases = [
        (
            "[ssh]\nkeepalive_interval = \"0s\"\n",
            "key 'ssh.keepalive_interval': must be at least 1s",
        ),
        (
            "[discord]\nguilds = [0]\n",
            "key 'discord.guilds': 0 is not a Discord guild id",
        ),
    ];
    for (text, expected) in cases {
        let (env, message) = refused_config(text);
        assert!(
            message.starts_with(&format!(
                "configuration: {}: {expected}",
                env.config.display()
            )),
            "{message}"
        );
    }
    let (env, message) = refused_config("[discord]\napi_url = \"discord.example\"\n");
    assert!(
        message.starts_with(&format!(
            "configuration: {}: key 'discord.api_url': 'discord.example' is not a URL",
            env.config.display()
        )),
        "{message}"
    );
    // values from the environment are blamed on their variable
    let cases = [
        (
            "DROVER_DISCORD_GUILD",
            "0",
            "environment variable DROVER_DISCORD_GUILD: 0 is not a Discord guild id",
        ),
        (
            "DROVER_SSH_USER",
            "-root",
            "environment variable DROVER_SSH_USER: invalid user '-root'",
        ),
        (
            "DROVER_DISCORD_API",
            "ftp://127.0.0.1/",
            "environment variable DROVER_DISCORD_API: 'ftp://127.0.0.1/': expected an http:// or https:// URL",
        ),
    ];
    for (variable, value, expected) in cases {
        let mut env = Env::new();
        env.set_env(variable, value);
        let args = ["config", "show"];
        let message = Env::refusal_message(&args, &env.run(&args));
        assert!(
            message.starts_with(&format!("configuration: {expected}")),
            "{message}"
        );
    }
}

#[test]
fn a_database_url_of_another_kind_is_refused_and_creates_nothing() {
    let env = Env::new();
    let args = ["--database", "postgres://db.example/drover", "host", "list"];
    let out = env
        .command(&args)
        .current_dir(env.drover.dir.path())
        .output()
        .unwrap();
    let message = Env::refusal_message(&args, &Run::from_output(&args, out));
    assert_eq!(
        message,
        "configuration: database url 'postgres://...': drover keeps its data in SQLite; give a file path or sqlite://PATH"
    );
    let made: Vec<_> = std::fs::read_dir(env.drover.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("postgres"))
        .collect();
    assert!(made.is_empty(), "{made:?}");
}

#[test]
fn config_show_masks_the_discord_token() {
    let mut env = Env::new();
    env.set_env("DISCORD_TOKEN", "sekrit-token-value");
    let out = env.ok(&["config", "show"]);
    assert!(out.contains("token = \"********\""), "{out}");
    assert!(!out.contains("sekrit"), "{out}");
}

#[test]
fn config_show_masks_a_token_from_the_file() {
    let env = Env::new();
    std::fs::write(&env.config, "[discord]\ntoken = \"file-secret\"\n").unwrap();
    let out = env.ok(&["config", "show"]);
    assert!(out.contains("token = \"********\""), "{out}");
    assert!(!out.contains("file-secret"), "{out}");
}

#[test]
fn config_show_prints_the_effective_configuration() {
    let mut env = Env::new();
    std::fs::write(
        &env.config,
        "[ssh]\nuser = \"ops\"\nconnect_timeout = \"30s\"\nhost_key_policy = \"strict\"\n",
    )
    .unwrap();
    env.set_env("DROVER_DISCORD_GUILD", "42");
    let out = env.ok(&["config", "show"]);
    let shown: toml::Value = toml::from_str(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert_eq!(shown["ssh"]["user"].as_str(), Some("ops"));
    assert_eq!(shown["ssh"]["connect_timeout"].as_str(), Some("30s"));
    assert_eq!(shown["ssh"]["host_key_policy"].as_str(), Some("strict"));
    assert_eq!(shown["ssh"]["keepalive_interval"].as_str(), Some("15s"));
    assert_eq!(
        shown["database"]["url"].as_str(),
        Some(path_str(&env.db)),
        "DROVER_DATABASE_URL is the effective database"
    );
    assert_eq!(shown["discord"]["guilds"].as_array().unwrap().len(), 1);
    assert!(shown["discord"].get("token").is_none(), "no token: {out}");
    assert_eq!(
        shown["logs"]["fetch_allow"].as_array().unwrap()[0].as_str(),
        Some("/var/log/**")
    );
}
