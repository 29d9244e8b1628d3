//! What the CLI integration tests check with the harness: exit codes and
//! output as text, refusals that leave the whole database as it was
//! (snapshots), and the repository's library and example inventory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::Drover;
use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

/// The repository's script library.
pub const LIBRARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/commands");

/// The repository's example inventory.
pub const INVENTORY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/commands/inventory.example.toml"
);

/// The message every invalid name is refused with (after the name).
pub const NAME_RULE: &str = "names are 1-64 characters of lower-case letters, digits, '-', '_' and '.', starting with a letter or digit";

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(args: &[&str], out: Output) -> Run {
        Run {
            code: out
                .status
                .code()
                .unwrap_or_else(|| panic!("{args:?} killed by a signal")),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// One test's private drover with drover's default configuration (an empty
/// file), as the CLI tests use it: the binary through the one harness
/// (`Drover`), with refusals checked against a snapshot of the database.
pub struct Env {
    pub drover: Drover,
    pub db: PathBuf,
    pub config: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let drover = Drover::bare();
        let db = drover.db();
        let config = drover.config_path();
        Env { drover, db, config }
    }

    /// Sets an environment variable for every later command.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.drover.set_env(key, value);
    }

    /// A path inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.drover.dir.path().join(name)
    }

    /// Writes a file inside the temporary directory and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// The binary with this test's environment and `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.drover.command();
        cmd.args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run drover");
        Run::from_output(args, out)
    }

    /// Runs with `stdin` fed to standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn drover");
        {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            // The binary may stop reading early (size limit): ignore EPIPE.
            let _ = pipe.write_all(stdin);
        }
        let out = child.wait_with_output().expect("wait for drover");
        Run::from_output(args, out)
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "drover {args:?} failed:\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// Like `ok` with standard input.
    pub fn ok_stdin(&self, args: &[&str], stdin: &[u8]) -> String {
        let run = self.run_stdin(args, stdin);
        assert_eq!(
            run.code, 0,
            "drover {args:?} failed:\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs `drover --json ARGS`, which must succeed, and parses its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("drover {all:?} printed no JSON ({e}):\n{out}"))
    }

    /// Asserts that `run` is a refusal (exit 1, nothing on stdout, stderr
    /// starting with "error: "); returns the message without the prefix.
    pub fn refusal_message(args: &[&str], run: &Run) -> String {
        assert_eq!(
            run.code, 1,
            "drover {args:?} was not refused:\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        assert_eq!(run.stdout, "", "refused drover {args:?} printed on stdout");
        let message = run
            .stderr
            .strip_prefix("error: ")
            .unwrap_or_else(|| panic!("stderr of {args:?} lacks 'error: ': {}", run.stderr));
        message.trim_end().to_string()
    }

    /// Runs a command that must be refused and must leave the database
    /// exactly as it was; returns the message (without "error: ").
    pub fn refuse(&self, args: &[&str]) -> String {
        let before = self.snapshot();
        let run = self.run(args);
        let message = Self::refusal_message(args, &run);
        assert_snapshot_eq(&before, &self.snapshot(), args);
        message
    }

    /// Like `refuse` with standard input.
    pub fn refuse_stdin(&self, args: &[&str], stdin: &[u8]) -> String {
        let before = self.snapshot();
        let run = self.run_stdin(args, stdin);
        let message = Self::refusal_message(args, &run);
        assert_snapshot_eq(&before, &self.snapshot(), args);
        message
    }

    /// Everything the database holds: the JSON of every list command and
    /// of the audit trail, then every row of every table.
    pub fn snapshot(&self) -> String {
        let mut out = String::new();
        for args in [
            &["host", "list"][..],
            &["group", "list"],
            &["script", "list"],
            &["scriptgroup", "list"],
            &["task", "list"],
            &["audit", "--limit", "1000000"],
        ] {
            let value = self.json(args);
            out.push_str(&format!("== {}\n{value:#}\n", args.join(" ")));
        }
        out.push_str(&dump_tables(&self.db));
        out
    }

    /// The audit trail, newest first.
    pub fn audit(&self) -> Vec<Value> {
        let value = self.json(&["audit", "--limit", "1000000"]);
        value.as_array().expect("audit is a JSON array").clone()
    }

    /// Names of a JSON list of objects.
    pub fn names(&self, args: &[&str]) -> Vec<String> {
        names_of(&self.json(args))
    }

    /// The scripts of a script group, in order.
    pub fn group_scripts(&self, group: &str) -> Vec<String> {
        strings(&self.json(&["scriptgroup", "show", group])["scripts"])
    }

    /// A script file in the temporary directory with `body`.
    pub fn script_file(&self, name: &str, body: &str) -> String {
        self.write(&format!("bodies/{name}.sh"), body)
            .display()
            .to_string()
    }

    /// Adds a script named `name` whose body is `echo NAME`.
    pub fn add_script(&self, name: &str) {
        let file = self.script_file(name, &format!("#!/bin/sh\necho {name}\n"));
        self.ok(&["script", "add", name, &file]);
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

fn assert_snapshot_eq(before: &str, after: &str, args: &[&str]) {
    if before == after {
        return;
    }
    // Report the sections ("== ..." headers) that differ.
    let sections = |text: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in text.lines() {
            match out.last_mut() {
                Some(section) if !line.starts_with("== ") => {
                    section.push('\n');
                    section.push_str(line);
                }
                _ => out.push(line.to_string()),
            }
        }
        out
    };
    let (old, new) = (sections(before), sections(after));
    let changed: Vec<String> = new
        .iter()
        .filter(|section| !old.contains(section))
        .map(|section| section.chars().take(1500).collect())
        .collect();
    panic!(
        "drover {args:?} changed the database; changed sections now read:\n{}",
        changed.join("\n")
    );
}

/// Every row of every table of the SQLite file, opened read-only.
pub fn dump_tables(db: &Path) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .expect("sqlite options")
            .filename(db)
            .read_only(true);
        let mut conn = options.connect().await.expect("open database read-only");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables");
        let mut out = String::new();
        for table in tables {
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                    .bind(&table)
                    .fetch_all(&mut conn)
                    .await
                    .expect("list columns");
            let row_text = columns
                .iter()
                .map(|c| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows = sqlx::query(&format!(
                "SELECT {row_text} AS r FROM \"{table}\" ORDER BY rowid"
            ))
            .fetch_all(&mut conn)
            .await
            .expect("read table");
            out.push_str(&format!("== table {table}\n"));
            for row in rows {
                out.push_str(&row.get::<String, _>("r"));
                out.push('\n');
            }
        }
        conn.close().await.expect("close database");
        out
    })
}

/// The `name` fields of a JSON array of objects.
pub fn names_of(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {value}"))
        .iter()
        .map(|v| v["name"].as_str().expect("name is a string").to_string())
        .collect()
}

/// A JSON array of strings.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

/// Copies a directory tree (the library) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}
