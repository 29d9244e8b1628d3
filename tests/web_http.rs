//! The web server over plain HTTP: the real `drover serve` process against
//! a real SQLite file, spoken to like a browser (or an attacker) would.
//! Login first, cookies, CSRF, rate limiting, sessions, headers, shutdown.

mod common;
#[path = "web/mod.rs"]
mod web;

use std::time::{Duration, Instant};

use web::{add_user, audit, web_config, Http, Server};

const PASSWORD: &str = "correct horse battery staple";

fn drover_with(extra: &str) -> common::Drover {
    common::Drover::with_config(&web_config(extra))
}

#[tokio::test]
async fn nothing_is_served_without_a_session_but_the_login_page_and_assets() {
    let drover = drover_with("");
    let server = Server::start(&drover);
    assert!(
        server.stderr().contains("no Discord token"),
        "web alone without a token: {}",
        server.stderr()
    );
    let mut http = Http::new(&server);

    let home = http.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location"), "/login?next=%2F");
    let deep = http.get("/runs/1?x=2").await;
    assert_eq!(deep.status, 303, "unknown pages too: no probing");
    assert_eq!(deep.header("location"), "/login?next=%2Fruns%2F1%3Fx%3D2");
    let whoami = http.get("/api/whoami").await;
    assert_eq!(whoami.status, 401);
    assert!(
        whoami.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("log in at /login")),
        "{}",
        whoami.body
    );
    assert_eq!(http.get("/api/nothing").await.status, 401);
    // a forged cookie is no session
    http.cookie = Some("A".repeat(43));
    assert_eq!(http.get("/api/whoami").await.status, 401);
    http.cookie = None;

    // with no account, the login page says how to create the first admin
    let login = http.get("/login").await;
    assert_eq!(login.status, 200);
    assert!(
        login
            .body
            .contains("drover web user add NAME --level admin"),
        "{}",
        login.body
    );
    assert!(!login.body.to_lowercase().contains("first visitor"));
    add_user(&drover, "alice", "admin", PASSWORD);
    let login = http.get("/login").await;
    assert!(!login.body.contains("No web account exists yet"));

    // static assets need no session and are cached for good
    let css_path = between(&login.body, "<link rel=\"stylesheet\" href=\"", "\"");
    let css = http.get(&css_path).await;
    assert_eq!(css.status, 200, "{css_path}");
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.header("cache-control").contains("immutable"));
    let etag = css.header("etag");
    assert!(!etag.is_empty());
    let again = http
        .send_with(http_get(&server, &css_path).header("if-none-match", &etag))
        .await;
    assert_eq!(again.status, 304);
    assert_eq!(http.get("/static/drover.0000.css").await.status, 404);
}

#[tokio::test]
async fn pages_carry_security_headers_and_no_inline_script() {
    let drover = drover_with("");
    let server = Server::start(&drover);
    let mut http = Http::new(&server);
    for path in ["/login", "/api/whoami", "/"] {
        let answer = http.get(path).await;
        let csp = answer.header("content-security-policy");
        for directive in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "default-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(answer.header("x-content-type-options"), "nosniff");
        assert_eq!(answer.header("referrer-policy"), "same-origin");
        assert_eq!(answer.header("cache-control"), "no-store");
    }
    let login = http.get("/login").await;
    for tag in login.body.split("<script").skip(1) {
        assert!(tag.trim_start().starts_with("src="), "inline script: {tag}");
    }
}

#[tokio::test]
async fn login_sets_a_hardened_cookie_and_logout_ends_the_session() {
    let drover = drover_with("");
    add_user(&drover, "alice", "operator", PASSWORD);
    let server = Server::start(&drover);
    let mut http = Http::new(&server);

    let wrong = http.login("alice", "not the password at all").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong name or password."));
    assert!(wrong.set_cookies().is_empty());
    let unknown = http.login("mallory", PASSWORD).await;
    assert_eq!(unknown.status, 401);
    assert!(
        unknown.body.contains("Wrong name or password."),
        "same words"
    );

    let ok = http
        .post_form(
            "/login",
            &[
                ("name", "alice"),
                ("password", PASSWORD),
                ("next", "/api/whoami"),
            ],
            &[],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), "/api/whoami");
    let cookie = ok.set_cookies().join("\n");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag}: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure: {cookie}"
    );
    let token = http.cookie.clone().expect("session cookie");
    assert_eq!(token.len(), 43, "256 bits in base64url: {token}");

    let whoami = http.get("/api/whoami").await;
    assert_eq!(whoami.status, 200, "{}", whoami.body);
    let me = whoami.json();
    assert_eq!(me["identity"], "web:alice");
    assert_eq!(me["level"], "operator");
    let home = http.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("web:alice"));
    let missing = http.get("/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("drover has no page at /no/such/page"),
        "{}",
        missing.body
    );
    let missing = http.get("/api/nothing").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string(), "{}", missing.body);

    // a login redirect never leaves the site
    let foreign = http
        .post_form(
            "/login",
            &[
                ("name", "alice"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
            &[],
        )
        .await;
    assert_eq!(foreign.header("location"), "/");

    // the token is stored hashed: the database file never holds it
    let db = std::fs::read(drover.db()).expect("db");
    let wal = std::fs::read(drover.db().with_extension("db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "session token stored in clear"
        );
    }

    let token = http.cookie.clone().expect("the newest session");
    let csrf = http.csrf().await;
    let out = http
        .post_form("/logout", &[("csrf", &csrf)], &[("origin", &server.base)])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/login");
    assert!(out.set_cookies().join("").contains("Max-Age=0"));
    http.cookie = Some(token);
    assert_eq!(
        http.get("/api/whoami").await.status,
        401,
        "the session is gone, not only the cookie"
    );
    let actions: Vec<String> = audit(&drover)
        .iter()
        .map(|e| format!("{} {} {}", e["actor"], e["action"], e["outcome"]))
        .collect();
    assert!(
        actions
            .iter()
            .any(|a| a == "\"web:alice\" \"web.logout\" \"ok\""),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("\"web:mallory\" \"web.login\" \"denied")),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_https_public_url_makes_the_cookie_secure() {
    let drover = drover_with("public_url = \"https://drover.example.org\"\n");
    add_user(&drover, "alice", "viewer", PASSWORD);
    let server = Server::start(&drover);
    let mut http = Http::new(&server);
    let ok = http.login("alice", PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok.set_cookies().join("\n");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));

    // the public origin is the only one state changes are taken from
    let csrf = http.csrf().await;
    let foreign = http
        .post_form("/logout", &[("csrf", &csrf)], &[("origin", &server.base)])
        .await;
    assert_eq!(
        foreign.status, 403,
        "the listen address is not the public origin"
    );
    let own = http
        .post_form(
            "/logout",
            &[("csrf", &csrf)],
            &[("origin", "https://drover.example.org")],
        )
        .await;
    assert_eq!(own.status, 303);
}

#[tokio::test]
async fn a_forged_post_with_a_valid_session_cookie_is_refused() {
    let drover = drover_with("");
    add_user(&drover, "alice", "admin", PASSWORD);
    let server = Server::start(&drover);
    let mut http = Http::new(&server);
    assert_eq!(http.login("alice", PASSWORD).await.status, 303);
    let csrf = http.csrf().await;

    // the attacker's page can make the browser send the cookie, not the token
    let no_token = http.post_form("/logout", &[], &[]).await;
    assert_eq!(no_token.status, 403);
    assert!(
        no_token.body.contains("CSRF token"),
        "says what was wrong: {}",
        no_token.body
    );
    let wrong_token = http
        .post_form("/logout", &[("csrf", &"x".repeat(csrf.len()))], &[])
        .await;
    assert_eq!(wrong_token.status, 403);
    let api = http
        .send_with(http_post(&server, "/api/whoami").header("x-csrf-token", "nope"))
        .await;
    assert_eq!(api.status, 403);
    assert!(api.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("CSRF")));
    // even the right token is refused from another origin
    let cross_site = http
        .post_form(
            "/logout",
            &[("csrf", &csrf)],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert!(
        cross_site.body.contains("another site"),
        "{}",
        cross_site.body
    );
    let cross_referer = http
        .post_form(
            "/logout",
            &[("csrf", &csrf)],
            &[("referer", "http://evil.example/page")],
        )
        .await;
    assert_eq!(cross_referer.status, 403);
    // nothing changed: the session still works
    assert_eq!(http.get("/api/whoami").await.status, 200);

    // the token as a header works as well as the form field
    let ok = http
        .send_with(http_post(&server, "/logout").header("x-csrf-token", &csrf))
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(http.get("/api/whoami").await.status, 401);
}

#[tokio::test]
async fn failed_logins_are_rate_limited_and_audited_without_the_password() {
    let drover = drover_with("");
    add_user(&drover, "alice", "admin", PASSWORD);
    let server = Server::start(&drover);
    let mut http = Http::new(&server);
    for attempt in 1..=5 {
        let wrong = http
            .login("alice", &format!("guess-number-{attempt}"))
            .await;
        assert_eq!(wrong.status, 401, "attempt {attempt}");
    }
    let locked = http.login("alice", PASSWORD).await;
    assert_eq!(
        locked.status, 429,
        "even the right password: {}",
        locked.body
    );
    assert!(
        locked.body.contains("Too many failed logins"),
        "{}",
        locked.body
    );
    let retry: u64 = locked.header("retry-after").parse().expect("Retry-After");
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(locked.set_cookies().is_empty());
    assert!(http.cookie.is_none());

    let entries = audit(&drover);
    let text = serde_json::to_string(&entries).expect("json");
    assert!(!text.contains("guess-number"), "passwords never audited");
    assert!(!text.contains(PASSWORD));
    let denied = entries
        .iter()
        .filter(|e| e["action"] == "web.login" && e["actor"] == "web:alice")
        .filter(|e| {
            e["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("denied"))
        })
        .count();
    assert_eq!(denied, 6, "five wrong passwords and one lock: {text}");
}

#[tokio::test]
async fn sessions_end_when_idle_at_their_absolute_end_and_on_password_change() {
    let drover = drover_with("idle_timeout = \"2s\"\nsession_lifetime = \"4s\"\n");
    add_user(&drover, "alice", "admin", PASSWORD);
    let server = Server::start(&drover);

    // active: requests every 300 ms keep it, until the absolute end
    let mut active = Http::new(&server);
    let started = Instant::now();
    assert_eq!(active.login("alice", PASSWORD).await.status, 303);
    let ended = loop {
        if active.get("/api/whoami").await.status == 401 {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never ended");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        ended >= Duration::from_secs(3),
        "kept while active: {ended:?}"
    );

    // idle: unused for longer than idle_timeout, it is gone
    let mut idle = Http::new(&server);
    assert_eq!(idle.login("alice", PASSWORD).await.status, 303);
    assert_eq!(idle.get("/api/whoami").await.status, 200);
    let used = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await; // the idle timeout itself
    assert!(
        used.elapsed() < Duration::from_secs(4),
        "before the absolute end"
    );
    assert_eq!(idle.get("/api/whoami").await.status, 401);

    // a new password ends the account's sessions
    let mut other = Http::new(&server);
    assert_eq!(other.login("alice", PASSWORD).await.status, 303);
    let out = web::web_user(&drover, &["passwd", "alice"], "another long password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(other.get("/api/whoami").await.status, 401);
    assert_eq!(
        other.login("alice", "another long password").await.status,
        303
    );
}

#[tokio::test]
async fn the_home_page_lists_runs_from_the_operations_layer() {
    let fleet = common::SshFleet::start(131, 1);
    let mut drover = drover_with("");
    drover.add_fleet(&fleet, "web", "webs");
    drover.script("hello", "echo hello\n", &[]);
    drover.ok(&["scriptgroup", "create", "greet", "hello"]);
    drover.ok(&["task", "run", "greet", "webs"]);
    add_user(&drover, "alice", "viewer", PASSWORD);
    let server = Server::start(&drover);
    let mut http = Http::new(&server);
    assert_eq!(http.login("alice", PASSWORD).await.status, 303);
    let home = http.get("/").await;
    assert_eq!(home.status, 200);
    let table = between(&home.body, "<table id=\"runs\">", "</table>");
    for cell in ["greet", "webs", "succeeded", "cli:tester"] {
        assert!(table.contains(cell), "{cell}: {table}");
    }
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm_and_refuses_bad_web_settings() {
    let drover = drover_with("");
    let mut server = Server::start(&drover);
    let mut http = Http::new(&server);
    assert_eq!(http.get("/login").await.status, 200);
    let status = server.terminate();
    assert!(status.success(), "exit {status:?}: {}", server.stderr());

    for (settings, key, says) in [
        (
            "[web]\nlisten = \"localhost\"\n",
            "web.listen",
            "127.0.0.1:8080",
        ),
        (
            "[web]\npublic_url = \"ftp://x.example\"\n",
            "web.public_url",
            "https://",
        ),
        (
            "[web]\npublic_url = \"https://x.example/drover\"\n",
            "web.public_url",
            "no path",
        ),
        (
            "[web]\nidle_timeout = \"0s\"\n",
            "web.idle_timeout",
            "at least",
        ),
    ] {
        let bad = common::Drover::with_config(settings);
        let out = bad.run(&["serve"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{settings}: {err}");
        assert!(err.contains(key) && err.contains(says), "{settings}: {err}");
    }
    // the address in use is refused with what to do
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = listener.local_addr().expect("addr");
    let busy = common::Drover::with_config(&format!("[web]\nlisten = \"{taken}\"\n"));
    let out = busy.run(&["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot listen on") && err.contains("[web] listen"),
        "{err}"
    );
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .map(|at| at + start.len())
        .unwrap_or_else(|| panic!("{start} not in {text}"));
    let to = text[from..].find(end).map(|at| from + at).expect("end");
    text[from..to].to_string()
}

fn http_get(server: &Server, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().get(server.url(path))
}

fn http_post(server: &Server, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(server.url(path))
}
