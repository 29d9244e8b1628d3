//! `drover web user ...`: accounts made from the command line with the
//! password on standard input; refusals say what was wrong and change
//! nothing; passwords never reach the audit trail or the database in clear.

mod common;
#[path = "web/mod.rs"]
mod web;

use web::{audit, web_user};

const PASSWORD: &str = "correct horse battery staple";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn web_user_entries(drover: &common::Drover) -> Vec<serde_json::Value> {
    audit(drover)
        .into_iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("web.user"))
        })
        .collect()
}

#[test]
fn add_reads_the_password_from_stdin_and_list_shows_the_account() {
    let drover = common::Drover::new();
    let out = web_user(
        &drover,
        &["add", "alice", "--level", "admin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "added web user alice (admin)"
    );
    // a CRLF line ending is not part of the password
    let out = web_user(
        &drover,
        &["add", "bob", "--level", "viewer"],
        &format!("{PASSWORD}\r\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let list = drover.ok(&["web", "user", "list"]);
    assert!(list.contains("alice") && list.contains("admin"), "{list}");
    let users = drover.json(&["web", "user", "list"]);
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users[1]["level"], "viewer");
    assert!(!users.to_string().contains("argon2"), "no hash in listings");

    let entries = web_user_entries(&drover);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1]["actor"], "cli:tester");
    assert_eq!(entries[1]["target"], "alice");
    assert_eq!(entries[1]["detail"], "level=admin");
    let db = std::fs::read(drover.db()).expect("db");
    let wal = std::fs::read(drover.db().with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "password stored in clear"
        );
    }
    let trail = serde_json::to_string(&audit(&drover)).expect("json");
    assert!(!trail.contains(PASSWORD));
}

#[test]
fn bad_levels_names_and_passwords_are_refused_and_nothing_is_written() {
    let drover = common::Drover::new();
    for (args, stdin, says) in [
        (
            vec!["add", "alice", "--level", "root"],
            format!("{PASSWORD}\n"),
            "invalid level 'root': one of viewer, operator, admin",
        ),
        (
            vec!["add", "alice", "--level", "admin"],
            "hunter2\n".to_string(),
            "the password has 7 characters; it needs at least 12",
        ),
        (
            vec!["add", "alice", "--level", "admin"],
            String::new(),
            "the password has 0 characters",
        ),
        (
            vec!["add", "Alice!", "--level", "admin"],
            format!("{PASSWORD}\n"),
            "invalid web user name 'Alice!'",
        ),
        (
            vec!["add", "alice", "--level", "admin"],
            format!("{}\n", "x".repeat(2000)),
            "longer than 1024 bytes",
        ),
    ] {
        let out = web_user(&drover, &args, &stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("hunter2"), "never echoed");
    }
    let missing = web_user(&drover, &["add", "alice"], "");
    assert_eq!(missing.status.code(), Some(2), "usage: --level is required");

    assert_eq!(drover.json(&["web", "user", "list"]), serde_json::json!([]));
    assert!(web_user_entries(&drover).is_empty());
}

#[test]
fn duplicates_unknown_names_removal_and_new_passwords() {
    let drover = common::Drover::new();
    web::add_user(&drover, "alice", "operator", PASSWORD);
    let again = web_user(
        &drover,
        &["add", "alice", "--level", "admin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("web user 'alice' already exists"),
        "{}",
        stderr(&again)
    );

    let unknown = web_user(&drover, &["rm", "bob"], "");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("unknown web user 'bob' (known: alice)"),
        "{}",
        stderr(&unknown)
    );
    let unknown = web_user(&drover, &["passwd", "bob"], &format!("{PASSWORD}\n"));
    assert!(
        stderr(&unknown).contains("unknown web user 'bob'"),
        "{}",
        stderr(&unknown)
    );
    let short = web_user(&drover, &["passwd", "alice"], "short\n");
    assert!(stderr(&short).contains("at least 12"), "{}", stderr(&short));

    let changed = web_user(&drover, &["passwd", "alice"], "a brand new passphrase\n");
    assert!(changed.status.success(), "{}", stderr(&changed));
    let removed = web_user(&drover, &["rm", "alice"], "");
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(drover.json(&["web", "user", "list"]), serde_json::json!([]));
    let actions: Vec<String> = web_user_entries(&drover)
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(actions, ["web.user.rm", "web.user.passwd", "web.user.add"]);
}
