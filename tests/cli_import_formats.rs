//! `drover import` of inventories in other tools' formats (Ansible INI and
//! YAML, host lists, ssh_config Host entries), format detection and
//! `--format`/`--group`, refusals that name file and line and change
//! nothing, and `drover export` round trips. Everything through the real
//! binary on a real SQLite file.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{Env, INVENTORY, NAME_RULE};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/inventories");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// One line per host: `name address:port user [groups]`.
fn hosts_summary(env: &Env) -> Vec<String> {
    env.json(&["host", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let groups: Vec<&str> = h["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap())
                .collect();
            format!(
                "{} {}:{} {} [{}]",
                h["name"].as_str().unwrap(),
                h["address"].as_str().unwrap(),
                h["port"],
                h["user"].as_str().unwrap_or("-"),
                groups.join(",")
            )
        })
        .collect()
}

/// Server groups with their hosts: `group: host,host`.
fn groups_summary(env: &Env) -> Vec<String> {
    env.names(&["group", "list"])
        .iter()
        .map(|g| {
            let hosts = env.json(&["group", "show", g])["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect::<Vec<_>>();
            format!("{g}: {}", hosts.join(","))
        })
        .collect()
}

/// Imports `file` twice: the second import must report nothing added or
/// changed and leave every table exactly as the first left it.
fn import_twice(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    let first = env.json(&all);
    let items = first["added"].as_array().unwrap().len();
    let before = env.snapshot();
    let second = env.ok(&all);
    assert!(
        second.ends_with(&format!("0 added, 0 changed, {items} unchanged\n")),
        "{second}"
    );
    assert_eq!(
        before,
        env.snapshot(),
        "the second import changed the database"
    );
    first
}

const ANSIBLE_GROUPS: [&str; 4] = [
    "db: backup01.example.org,backup03.example.org,backup05.example.org,db-a.example.org,db-b.example.org,db-c.example.org",
    "dc1: backup01.example.org,backup03.example.org,backup05.example.org,db-a.example.org,db-b.example.org,db-c.example.org,web01.example.org,web02.example.org,web03.example.org,www.example.org",
    "prod: backup01.example.org,backup03.example.org,backup05.example.org,db-a.example.org,db-b.example.org,db-c.example.org,web01.example.org,web02.example.org,web03.example.org,www.example.org",
    "web: web01.example.org,web02.example.org,web03.example.org,www.example.org",
];

/// The hosts both Ansible fixtures describe; `mail_user` is the only
/// difference (the YAML sets `all: vars:`).
fn ansible_hosts(mail_user: &str) -> Vec<String> {
    [
        "backup01.example.org backup01.example.org:2222 ops [db,dc1,prod]",
        "backup03.example.org backup03.example.org:2222 ops [db,dc1,prod]",
        "backup05.example.org backup05.example.org:2222 ops [db,dc1,prod]",
        "db-a.example.org db-a.example.org:22 ops [db,dc1,prod]",
        "db-b.example.org db-b.example.org:22 ops [db,dc1,prod]",
        "db-c.example.org db-c.example.org:22 ops [db,dc1,prod]",
        &format!("mail.example.org mail.example.org:2201 {mail_user} []"),
        "web01.example.org web01.example.org:22 deploy [dc1,prod,web]",
        "web02.example.org web02.example.org:22 deploy [dc1,prod,web]",
        "web03.example.org web03.example.org:22 deploy [dc1,prod,web]",
        "www.example.org 192.0.2.50:22 www [dc1,prod,web]",
    ]
    .map(String::from)
    .to_vec()
}

// ------------------------------------------------------------------ Ansible

/// Imports an Ansible fixture twice and checks hosts, groups and the one
/// warning (its `ansible_become` line); returns the file's path.
fn check_ansible_fixture(env: &Env, name: &str, mail_user: &str, become_line: usize) -> String {
    let file = fixture(name);
    let report = import_twice(env, &[&file]);
    assert_eq!(hosts_summary(env), ansible_hosts(mail_user));
    assert_eq!(groups_summary(env), ANSIBLE_GROUPS);
    assert_eq!(
        report["warnings"],
        json!([format!("{file}:{become_line}: ansible_become is not imported; drover reads ansible_host, ansible_port and ansible_user")])
    );
    file
}

#[test]
fn ansible_ini_inventory_with_ranges_and_children() {
    let env = Env::new();
    let file = check_ansible_fixture(&env, "ansible.ini", "-", 27);
    let text = env.ok(&["import", &file]);
    assert!(
        text.contains(&format!(
            "warning  {file}:27: ansible_become is not imported"
        )),
        "{text}"
    );
}

#[test]
fn ansible_yaml_inventory_with_ranges_and_nested_children() {
    let env = Env::new();
    check_ansible_fixture(&env, "ansible.yml", "root", 13);
}

/// An extensionless Ansible file is told by its content; `--format`
/// overrides the extension.
#[test]
fn formats_are_told_by_content_or_forced() {
    let env = Env::new();
    let ini = env.write(
        "inventory",
        std::fs::read_to_string(fixture("ansible.ini")).unwrap(),
    );
    env.ok(&["import", path_str(&ini)]);
    assert_eq!(hosts_summary(&env), ansible_hosts("-"));

    let env = Env::new();
    let list = env.write(
        "fleet.ini",
        "web1.example.org\nroot@web2.example.org:2200\n",
    );
    env.ok(&["import", "--format", "hosts", path_str(&list)]);
    assert_eq!(
        hosts_summary(&env),
        [
            "web1.example.org web1.example.org:22 - []",
            "web2.example.org web2.example.org:2200 root []"
        ]
    );
}

#[test]
fn an_unrecognised_file_is_refused_with_the_formats() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let file = env.write("notes", "some words here\nand more\n");
    let message = env.refuse(&["import", path_str(&file)]);
    assert_eq!(
        message,
        format!(
            "import of {}: cannot tell the format of this file; give --format with one of: toml, ansible-ini, ansible-yaml, hosts, ssh-config",
            file.display()
        )
    );
    let run = env.run(&["import", "--format", "csv", path_str(&file)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("ansible-yaml"), "{}", run.stderr);
}

// --------------------------------------------------------------- host lists

#[test]
fn host_list_with_users_ports_and_groups() {
    let env = Env::new();
    let file = fixture("hosts.txt");
    let report = import_twice(&env, &["--group", "fleet", "--group", "new", &file]);
    assert_eq!(
        hosts_summary(&env),
        [
            "192.0.2.7 192.0.2.7:22 admin [fleet,new]",
            "db-7 2001:db8::7:2200 ops [fleet,new]",
            "web1.example.org web1.example.org:22 - [fleet,new]",
            "web2.example.org web2.example.org:2222 deploy [fleet,new]",
        ]
    );
    assert_eq!(
        report["added"],
        json!([
            "server group fleet",
            "server group new",
            "host web1.example.org",
            "host web2.example.org",
            "host 192.0.2.7",
            "host db-7"
        ])
    );
}

// ---------------------------------------------------------------- ssh_config

/// An Env whose HOME is the fixture home, so `Include conf.d/*.conf`
/// resolves to home/.ssh/conf.d/.
fn ssh_env() -> (Env, String) {
    let mut env = Env::new();
    let home = fixture("home");
    env.set_env("HOME", &home);
    (env, format!("{home}/.ssh/config"))
}

#[test]
fn ssh_config_host_entries_follow_include_and_leave_wildcards_out() {
    let (env, config) = ssh_env();
    let report = import_twice(&env, &["--group", "ssh", &config]);
    assert_eq!(
        hosts_summary(&env),
        [
            "bastion 192.0.2.1:22 jump [ssh]",
            "db1 192.0.2.31:2201 dba [ssh]",
            "web1 web1.example.org:2222 deploy [ssh]",
            "web2 web2.example.org:2222 deploy [ssh]",
        ]
    );
    assert_eq!(
        report["added"],
        json!([
            "server group ssh",
            "host db1",
            "host bastion",
            "host web1",
            "host web2"
        ])
    );
}

// ------------------------------------------------------ refusals, each format

/// Each format refuses a bad line with file:line, after a good import, and
/// writes nothing.
#[test]
fn a_bad_line_is_refused_with_file_and_line_in_every_format() {
    let env = Env::new();
    env.ok(&["import", INVENTORY]);
    let cases: [(&str, &str, String); 8] = [
        (
            "bad.ini",
            "[web]\nweb1\nweb2 ansible_port=70000\n",
            "3: host 'web2': invalid port '70000': a TCP port between 1 and 65535".into(),
        ),
        (
            "range.ini",
            "[web]\nweb[01:100]\n",
            "2: 'web[01:100]': host range [01:100]: with leading zeros, begin and end must have the same number of digits".into(),
        ),
        (
            "group.ini",
            "[web]\nweb1\n[Web_Servers:children]\nweb\n",
            format!("3: invalid server group name 'Web_Servers': {NAME_RULE}"),
        ),
        (
            "bad.yml",
            "all:\n  children:\n    web:\n      hosts:\n        web1:\n          ansible_user: -root\n",
            "6: host 'web1': invalid user '-root': 1-32 characters of letters, digits, '.', '_' and '-', not starting with '-'".into(),
        ),
        (
            "cycle.yml",
            "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n",
            "7: group 'a' contains itself: a -> b -> a".into(),
        ),
        (
            "hosts.txt",
            "web1\nweb2\nroot@web3;reboot web3\n",
            "3: host 'web3': invalid address 'web3;reboot': not a valid DNS name or IP address; expected a DNS name, an IPv4 or an IPv6 address".into(),
        ),
        (
            "dupes.txt",
            "web1\n\nWEB1\n",
            "3: host 'web1' is listed more than once (first at line 1 of FILE)".into(),
        ),
        (
            "config",
            "Host web1\n  HostName 10.0.0.1\n\nHost web2\n  Port twenty-two\n",
            "5: Port: expected port number".into(),
        ),
    ];
    for (name, text, expected) in cases {
        let file = env.write(name, text);
        let file = file.display().to_string();
        let message = env.refuse(&["import", &file]);
        let expected = expected.replace("FILE", &file);
        assert_eq!(message, format!("{file}:{expected}"));
    }
}

#[test]
fn an_ssh_config_with_match_or_a_bad_include_is_refused_where_it_is() {
    let (mut env, _) = ssh_env();
    let home = env.path("home");
    env.set_env("HOME", path_str(&home));
    env.ok(&["host", "list"]);
    let included = env.write("home/.ssh/extra.conf", "Host e1\n  Port 0x16\n");
    let config = env.write("home/.ssh/config", "Host a\nInclude extra.conf\n");
    let message = env.refuse(&["import", path_str(&config)]);
    assert_eq!(
        message,
        format!("{}:2: Port: expected port number", included.display())
    );
    let config = env.write(
        "home/.ssh/config",
        "Host a\n  User x\nMatch user root\n  Port 2\n",
    );
    let message = env.refuse(&["import", path_str(&config)]);
    assert!(
        message.starts_with(&format!(
            "{}:3: 'Match user root': Match blocks are not supported",
            config.display()
        )),
        "{message}"
    );
}

#[test]
fn invalid_group_options_and_directories_are_refused() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let message = env.refuse(&["import", "--group", "Bad", &fixture("hosts.txt")]);
    assert_eq!(
        message,
        format!("invalid server group name 'Bad': {NAME_RULE}")
    );
    let dir = env.path("lib");
    std::fs::create_dir_all(&dir).unwrap();
    let message = env.refuse(&["import", "--format", "hosts", path_str(&dir)]);
    assert!(
        message.contains("--format and --group apply to inventory files"),
        "{message}"
    );
}

/// An attacker's YAML: nested aliases that a loader would copy into
/// millions of nodes are refused before anything is built.
#[test]
fn a_yaml_alias_bomb_is_refused() {
    let env = Env::new();
    env.ok(&["host", "list"]);
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let file = env.write("bomb.yml", text);
    let message = env.refuse(&["import", path_str(&file)]);
    assert_eq!(
        message,
        format!(
            "{}:2: YAML aliases (*name) are not supported; write the values out",
            file.display()
        )
    );
}

// -------------------------------------------------- existing hosts, groups

/// What a foreign format cannot say (description, sudo) stays; what it says
/// (address, port, user) is as the file says; group membership is added,
/// never removed.
#[test]
fn reimport_keeps_what_the_format_cannot_say_and_adds_memberships() {
    let env = Env::new();
    env.ok(&["group", "create", "legacy"]);
    env.ok(&[
        "host",
        "add",
        "web1.example.org",
        "192.0.2.99",
        "--port",
        "2020",
        "--user",
        "old",
        "--group",
        "legacy",
        "--description",
        "front end",
        "--sudo",
    ]);
    let file = env.write("fleet", "web1.example.org\n");
    let out = env.ok(&["import", "--group", "web", path_str(&file)]);
    assert_eq!(
        out,
        "added    server group web\nchanged  host web1.example.org\n1 added, 1 changed, 0 unchanged\n"
    );
    let host = env.json(&["host", "show", "web1.example.org"]);
    assert_eq!(
        host,
        json!({
            "name": "web1.example.org",
            "address": "web1.example.org",
            "port": 22,
            "user": null,
            "description": "front end",
            "host_key": null,
            "use_sudo": true,
            "groups": ["legacy", "web"],
            "jump": null,
            "connection": {
                "jumps": [],
                "values": [
                    {"field": "address", "value": "web1.example.org", "source": "inventory"},
                    {"field": "port", "value": "22", "source": "default"},
                    {"field": "user", "value": "tester", "source": "default: the OS user"},
                ],
            },
        })
    );
}

// ------------------------------------------------------------------ export

fn exported(env: &Env) -> String {
    env.ok(&["export"])
}

#[test]
fn export_import_export_gives_the_same_text() {
    let env = Env::new();
    env.ok(&["import", INVENTORY]);
    env.ok(&["import", &fixture("ansible.yml")]);
    env.ok(&["group", "create", "empty", "--description", "nobody yet"]);
    env.ok(&["host", "edit", "web-1", "--sudo", "true"]);
    let text = exported(&env);
    assert!(text.starts_with("# drover inventory"), "{text}");
    assert!(text.contains("sudo = true"), "{text}");
    assert!(
        text.contains("[groups.empty]\ndescription = \"nobody yet\""),
        "{text}"
    );

    let copy = Env::new();
    let file = copy.write("inventory.toml", &text);
    copy.ok(&["import", path_str(&file)]);
    assert_eq!(exported(&copy), text);
    assert_eq!(hosts_summary(&copy), hosts_summary(&env));
    assert_eq!(groups_summary(&copy), groups_summary(&env));

    // And as JSON: the same document.
    let json = env.json(&["export"]);
    assert_eq!(json["hosts"].as_array().unwrap().len(), 15);
    assert_eq!(json["groups"]["empty"]["description"], "nobody yet");
}

#[test]
fn export_to_a_file_and_host_keys_stay_out() {
    let env = Env::new();
    env.ok(&["import", INVENTORY]);
    let out: PathBuf = env.path("out/inventory.toml");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let said = env.ok(&["export", "-o", path_str(&out)]);
    assert_eq!(
        said,
        format!(
            "exported 4 hosts and 2 server groups to {}\n",
            out.display()
        )
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.trim_end(), exported(&env).trim_end());
    assert!(!text.contains("host_key"), "{text}");
}
