//! Test support for the web dashboard: `drover serve` started against the
//! temporary database and configuration of a `common::Drover` (listening on
//! a loopback port it picks and reports), accounts made through `drover web
//! user add` with the password on standard input, and an HTTP client that
//! keeps the session cookie by hand, so tests see every Set-Cookie.
//!
//! Include it after `mod common;` with `#[path = "web/mod.rs"] mod web;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::common;

/// How long `drover serve` may take to listen, and to stop.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `[web]` configuration listening on a port the server picks.
pub fn web_config(extra: &str) -> String {
    format!("[web]\nlisten = \"127.0.0.1:0\"\n{extra}")
}

/// A running `drover serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `drover serve` with no Discord token.
    pub fn start(drover: &common::Drover) -> Server {
        Server::start_with_env(drover, &[])
    }

    /// `drover serve` with extra environment variables; waits until it
    /// reports its address (or fails the test with what it printed).
    pub fn start_with_env(drover: &common::Drover, env: &[(&str, &str)]) -> Server {
        let mut command = drover.command();
        command
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start drover serve");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("stderr piped");
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("[drover serve] {line}");
                if let Some(address) = line.strip_prefix("drover web: listening on ") {
                    let _ = tx.send(address.to_string());
                }
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let base = match rx.recv_timeout(START_TIMEOUT) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "drover serve did not report its address: {:?}",
                    stderr.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
        };
        Server {
            child,
            base,
            stderr,
        }
    }

    /// What the server printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// `http://127.0.0.1:PORT/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling a child process this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for drover serve") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "drover serve did not stop on SIGTERM: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `drover web user ARGS` with `stdin` as standard input.
pub fn web_user(drover: &common::Drover, args: &[&str], stdin: &str) -> Output {
    let mut child = drover
        .command()
        .arg("web")
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drover web user");
    if let Some(mut input) = child.stdin.take() {
        // A refusal before the password is read closes the pipe: fine.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("drover web user")
}

/// Adds an account; panics if drover refuses.
pub fn add_user(drover: &common::Drover, name: &str, level: &str, password: &str) {
    let out = web_user(
        drover,
        &["add", name, "--level", level],
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "web user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An HTTP client that follows no redirects and carries one session
/// cookie, set from the answers' Set-Cookie headers.
pub struct Http {
    client: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Every Set-Cookie header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }
}

impl Http {
    pub fn new(server: &Server) -> Http {
        Http {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: server.base.clone(),
            cookie: None,
        }
    }

    /// Sends a request built elsewhere, with the session cookie.
    pub async fn send_with(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", format!("drover_session={cookie}")),
            None => request,
        };
        let response = request.send().await.expect("HTTP request");
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("HTTP body"),
        };
        for cookie in answer.set_cookies() {
            if let Some(value) = cookie
                .strip_prefix("drover_session=")
                .and_then(|rest| rest.split(';').next())
            {
                self.cookie = Some(value.to_string()).filter(|v| !v.is_empty());
            }
        }
        answer
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send_with(request).await
    }

    /// POSTs a URL-encoded form, with extra headers (e.g. Origin).
    pub async fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send_with(request).await
    }

    /// Logs in through the login form; returns the answer.
    pub async fn login(&mut self, name: &str, password: &str) -> Answer {
        self.post_form("/login", &[("name", name), ("password", password)], &[])
            .await
    }

    /// The session's CSRF token, from /api/whoami.
    pub async fn csrf(&mut self) -> String {
        let whoami = self.get("/api/whoami").await;
        assert_eq!(whoami.status, 200, "{}", whoami.body);
        whoami.json()["csrf_token"]
            .as_str()
            .expect("csrf_token")
            .to_string()
    }
}

/// The audit trail as JSON entries (newest first).
pub fn audit(drover: &common::Drover) -> Vec<serde_json::Value> {
    drover
        .json(&["audit", "--limit", "200"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}
