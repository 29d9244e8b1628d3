//! A real browser for web tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver, with the fantoccini client). tests/run.sh
//! installs `chromium` and `chromium-driver` when missing.
//!
//! Each [`Browser`] starts its own chromedriver on a free loopback port, in
//! its own process group (killed whole on drop, Chromium included), with a
//! fresh profile directory. Screenshots go to
//! `target/test-artefacts/web/<test>-<step>.png` (the path is printed),
//! at the steps a test names and on any failure inside
//! [`Browser::guarded`]. Waits poll a condition up to a deadline.
//!
//! Include it after `mod common;` with `#[path = "browser/mod.rs"] mod browser;`.
#![allow(dead_code)]

use std::future::Future;
use std::os::unix::process::CommandExt as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;

use super::common;

/// How long a wait for the page may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// Chromium flags this machine needs: headless, no sandbox (root), and no
/// background connections (which fail without internet).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

fn binary(candidates: &[&str], package: &str) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{package} not found: run tests/run.sh, which installs it"))
}

/// Where screenshots go.
pub fn artefact_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new("target"))
        .join("test-artefacts")
        .join("web");
    std::fs::create_dir_all(&dir).expect("artefact directory");
    dir
}

/// One headless Chromium session.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
    test: String,
}

/// chromedriver, leading its own process group: dropping it kills the
/// group, Chromium included, even when the test fails before a session.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.0.id()) {
            // SAFETY: signalling the process group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a Chromium session for the test `test`
    /// (the prefix of its screenshots).
    pub async fn start(test: &str) -> Browser {
        let chromium = binary(
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
            "chromium",
        );
        let chromedriver = binary(
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
            "chromium-driver",
        );
        let port = common::free_port();
        let driver = Driver(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start chromedriver"),
        );
        let profile = tempfile::tempdir().expect("profile directory");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            // chromedriver speaks plain HTTP on loopback: no TLS.
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) => {
                    assert!(Instant::now() < deadline, "chromedriver did not start: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Browser {
            client,
            _driver: driver,
            _profile: profile,
            test: test.to_string(),
        }
    }

    /// Runs `steps`; on a panic, saves a `failure` screenshot first.
    pub async fn guarded<T>(&self, steps: impl Future<Output = T>) -> T {
        match AssertUnwindSafe(steps).catch_unwind().await {
            Ok(value) => value,
            Err(panic) => {
                self.screenshot("failure").await;
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Saves a screenshot of the page as `<test>-<step>.png`; prints the path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let path = artefact_dir().join(format!("{}-{step}.png", self.test));
        match self.client.screenshot().await {
            Ok(png) => {
                std::fs::write(&path, png).expect("write screenshot");
                eprintln!("screenshot: {}", path.display());
            }
            Err(e) => eprintln!("screenshot {} failed: {e}", path.display()),
        }
        path
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn current_path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The first element matching `css`, once there is one.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} on {}",
                self.current_path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `css`, once it contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if found.contains(text) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {text:?} (last: {found:?}) on {}",
                self.current_path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's path (with query) is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.current_path().await;
            if now == path {
                return;
            }
            assert!(Instant::now() < deadline, "at {now}, never at {path}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into the input `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.wait_for(css).await;
        input.clear().await.expect("clear input");
        input.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    /// Fills and submits the login form at `base`/login.
    pub async fn login(&self, base: &str, name: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.submit_login(name, password).await;
    }

    /// Fills and submits the login form of the page shown now, and waits
    /// until the browser has left that page (the answer is a new page, so
    /// the next step never finds an element of the old one).
    pub async fn submit_login(&self, name: &str, password: &str) {
        self.fill("#name", name).await;
        self.fill("#password", password).await;
        self.click_and_wait_for_new_page("#login-submit").await;
    }

    /// Clicks `css` and waits until a new document has replaced the one
    /// shown when it was clicked and has finished loading.
    pub async fn click_and_wait_for_new_page(&self, css: &str) {
        self.client
            .execute("window.__droverOldPage = true;", vec![])
            .await
            .expect("mark the current page");
        self.click(css).await;
        let deadline = Instant::now() + WAIT;
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__droverOldPage !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .map(|answer| answer.as_bool() == Some(true))
                .unwrap_or(false);
            if loaded {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} never led to a new page (still at {})",
                self.current_path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's body text.
    pub async fn body_text(&self) -> String {
        self.wait_for("body").await.text().await.unwrap_or_default()
    }

    /// Ends the session (Chromium quits); the driver stops on drop.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
