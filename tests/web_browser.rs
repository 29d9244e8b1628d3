//! The dashboard in a real headless Chromium against the real `drover
//! serve`: login first, the first-admin hint, wrong passwords, the rate
//! limit, a working login, whoami, logout. Screenshots at each step in
//! target/test-artefacts/web/.

#[path = "browser/mod.rs"]
mod browser;
mod common;
#[path = "web/mod.rs"]
mod web;

use browser::Browser;
use web::{add_user, web_config, Server};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_in_the_browser_refuses_wrong_passwords_rate_limits_and_logs_out() {
    let drover = common::Drover::with_config(&web_config(""));
    let server = Server::start(&drover);
    let b = Browser::start("login").await;
    b.guarded(async {
        // not logged in: any page leads to the login page, which says how
        // to create the first admin
        b.goto(&server.url("/")).await;
        b.wait_for_path("/login?next=%2F").await;
        let hint = b
            .wait_for_text("#no-accounts", "drover web user add NAME --level admin")
            .await;
        assert!(!hint.to_lowercase().contains("first visitor"), "{hint}");
        b.screenshot("01-no-account").await;

        add_user(&drover, "alice", "admin", PASSWORD);
        add_user(&drover, "bob", "viewer", PASSWORD);
        b.goto(&server.url("/login")).await;
        b.wait_for("#login").await;
        assert!(b
            .client
            .find(fantoccini::Locator::Css("#no-accounts"))
            .await
            .is_err());

        b.submit_login("alice", "not the password at all").await;
        b.wait_for_text("#login-error", "Wrong name or password.")
            .await;
        b.screenshot("02-wrong-password").await;
        for attempt in 2..=5 {
            b.submit_login("alice", &format!("wrong guess {attempt}"))
                .await;
            b.wait_for_text("#login-error", "Wrong name or password.")
                .await;
        }
        b.submit_login("alice", PASSWORD).await;
        b.wait_for_text("#login-error", "Too many failed logins")
            .await;
        b.screenshot("03-rate-limited").await;

        // another account from the same browser is not locked
        b.submit_login("bob", PASSWORD).await;
        b.wait_for_path("/").await;
        b.wait_for_text("#identity", "web:bob").await;
        b.wait_for_text("#level", "viewer").await;
        b.wait_for_text("main", "No runs yet").await;
        b.screenshot("04-home").await;

        b.goto(&server.url("/api/whoami")).await;
        let whoami = b.body_text().await;
        assert!(whoami.contains("\"identity\":\"web:bob\""), "{whoami}");

        b.goto(&server.url("/")).await;
        b.click_and_wait_for_new_page("#logout").await;
        b.wait_for_path("/login").await;
        b.goto(&server.url("/")).await;
        b.wait_for_path("/login?next=%2F").await;
        b.screenshot("05-logged-out").await;
    })
    .await;
    b.close().await;
}
