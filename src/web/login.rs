//! Logging in and out: the login page and its POST (rate-limited), the
//! one-time login links of Discord's /dashboard, logout, and the session
//! cookie (HttpOnly, SameSite=Lax, Path=/, Secure under an https
//! `web.public_url`).

use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};

use super::guard::{Caller, SESSION_COOKIE};
use super::pages::layout;
use super::{refusal, WebState};
use crate::accounts::{link_refusal, LinkStatus, Password, Session, Token};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct LinkForm {
    token: String,
}

/// Where to go after login: a local path only (never another site).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

/// `GET /login`.
pub async fn page(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<LoginQuery>,
) -> Response {
    if caller.session.is_some() {
        return Redirect::to(safe_next(query.next.as_deref())).into_response();
    }
    login_page(&web, StatusCode::OK, None, query.next.as_deref(), "").await
}

/// The login form, with an error and the name typed, if any. With no
/// account yet it says how to create the first admin.
async fn login_page(
    web: &WebState,
    status: StatusCode,
    error: Option<&str>,
    next: Option<&str>,
    name: &str,
) -> Response {
    let accounts_exist = match web.drover.web_accounts_exist().await {
        Ok(exist) => exist,
        Err(e) => return refusal::internal("/login", &e),
    };
    let content = html! {
        main class="narrow" {
            h1 { "Log in to drover" }
            @if !accounts_exist {
                div id="no-accounts" class="notice" {
                    p { "No web account exists yet. Create the first admin on the drover server:" }
                    pre { code { "drover web user add NAME --level admin" } }
                    p { "It asks for the password (or reads one line from standard input). Then log in here." }
                }
            }
            @if let Some(error) = error {
                p id="login-error" class="error" role="alert" { (error) }
            }
            form method="post" action="/login" id="login" {
                label for="name" { "Name" }
                input type="text" id="name" name="name" value=(name) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input type="password" id="password" name="password" autocomplete="current-password" required;
                input type="hidden" name="next" value=(safe_next(next));
                button type="submit" id="login-submit" { "Log in" }
            }
        }
    };
    (status, Html(layout("Log in", None, content).into_string())).into_response()
}

/// `POST /login`.
pub async fn submit(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<LoginForm>,
) -> Response {
    let client = caller.address.to_string();
    if let Err(throttled) = web
        .limiter
        .attempt(&form.name, caller.address, Instant::now())
    {
        let secs = throttled.retry_after.as_secs().max(1);
        if throttled.first {
            if let Err(e) = web
                .drover
                .web_login_throttled(&form.name, &client, secs)
                .await
            {
                return refusal::internal("/login", &e);
            }
        }
        let message = format!(
            "Too many failed logins for this account or from this address. Try again in {secs} s."
        );
        let mut response = login_page(
            &web,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&message),
            form.next.as_deref(),
            &form.name,
        )
        .await;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    let password = Password::attempt(form.password);
    match web.drover.web_login(&form.name, password, &client).await {
        Ok(Some((token, session))) => {
            web.limiter.succeeded(&form.name, caller.address);
            logged_in(&web, &token, &session, safe_next(form.next.as_deref()))
        }
        Ok(None) => {
            login_page(
                &web,
                StatusCode::UNAUTHORIZED,
                Some("Wrong name or password."),
                form.next.as_deref(),
                &form.name,
            )
            .await
        }
        Err(e) => refusal::internal("/login", &e),
    }
}

/// A new session: the cookie, and on to `next`.
fn logged_in(web: &WebState, token: &Token, session: &Session, next: &str) -> Response {
    tracing::info!(actor = %session.actor, level = %session.level, "web login");
    let mut response = Redirect::to(next).into_response();
    let lifetime = web.drover.config.web.session_lifetime.as_secs();
    set_cookie(web, &mut response, token.as_str(), lifetime);
    response
}

/// Sets (or with `max_age` 0, clears) the session cookie.
fn set_cookie(web: &WebState, response: &mut Response, value: &str, max_age: u64) {
    let secure = if web.drover.config.web.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `POST /logout`: the session is deleted and the cookie cleared.
pub async fn logout(State(web): State<WebState>, Extension(caller): Extension<Caller>) -> Response {
    if let Some((session, token)) = &caller.session {
        if let Err(e) = web.drover.web_logout(session, token).await {
            return refusal::internal("/logout", &e);
        }
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(&web, &mut response, "", 0);
    response
}

/// A page about a login link. Its address holds the token: the global
/// `Referrer-Policy: same-origin` keeps it from other sites (and
/// `no-referrer` would make the browser send `Origin: null` with the form,
/// which the guard refuses).
fn link_response(status: StatusCode, title: &str, content: Markup) -> Response {
    (status, Html(layout(title, None, content).into_string())).into_response()
}

/// `GET /login/link/{token}`: says whom the link signs in, with a button
/// that uses it. Looking does not use it (chat previews fetch links).
pub async fn link_page(State(web): State<WebState>, Path(token): Path<String>) -> Response {
    let status = match web
        .drover
        .web_login_link_status(&Token::from_client(&token))
        .await
    {
        Ok(status) => status,
        Err(e) => return refusal::internal("/login/link", &e),
    };
    match status {
        LinkStatus::Usable { actor, level } => link_response(
            StatusCode::OK,
            "Login link",
            html! {
                main class="narrow" {
                    h1 { "Log in to drover" }
                    p { "This link logs you in once as " strong id="link-identity" { (actor.to_string()) } " with the " strong { (level.as_str()) } " level." }
                    form method="post" action="/login/link" id="use-link" {
                        input type="hidden" name="token" value=(token);
                        button type="submit" id="link-submit" { "Log in" }
                    }
                }
            },
        ),
        LinkStatus::Expired => link_gone(&link_refusal("has expired").to_string()),
        LinkStatus::Unknown => {
            link_gone(&link_refusal("is unknown or was already used").to_string())
        }
    }
}

fn link_gone(message: &str) -> Response {
    link_response(
        StatusCode::GONE,
        "Login link",
        html! {
            main class="narrow" {
                h1 { "Login link not valid" }
                p id="link-error" class="error" { (message) }
            }
        },
    )
}

/// `POST /login/link`: uses (burns) the link and opens a session.
pub async fn link_submit(
    State(web): State<WebState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<LinkForm>,
) -> Response {
    let token = Token::from_client(&form.token);
    let client = caller.address.to_string();
    match web.drover.web_login_link_use(&token, &client).await {
        Ok((session_token, session)) => logged_in(&web, &session_token, &session, "/"),
        Err(e) if e.is_refusal() => link_gone(&e.to_string()),
        Err(e) => refusal::internal("/login/link", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/runs?x=1")), "/runs?x=1");
        for foreign in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "runs",
        ] {
            assert_eq!(safe_next(Some(foreign)), "/", "{foreign}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
