//! The guard in front of every route. It finds the caller's session (the
//! `drover_session` cookie), sends anyone without one to the login page
//! (HTML) or answers 401 (`/api/`), and refuses state-changing requests
//! (POST, PUT, PATCH, DELETE) that come from another origin or, with a
//! session, lack the session's CSRF token (form field `csrf` or header
//! `X-CSRF-Token`). Handlers read the result as a [`Caller`].

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::refusal;
use super::WebState;
use crate::access::Level;
use crate::app::accounts::{Session, Token};
use crate::domain::Actor;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "drover_session";
/// The form field and the header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form body the guard reads to find the CSRF token.
const FORM_LIMIT: usize = 256 * 1024;

/// Who is calling, as the guard found them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub session: Option<(Session, Token)>,
    /// The client's address (for rate limiting and the audit trail).
    pub address: IpAddr,
}

impl Caller {
    /// The CSRF token forms of this session carry.
    pub fn csrf(&self) -> Option<String> {
        self.session.as_ref().map(|(_, token)| token.csrf())
    }

    /// Whether the caller holds `level` (or a higher one).
    pub fn has(&self, level: Level) -> bool {
        self.session
            .as_ref()
            .is_some_and(|(session, _)| session.level >= level)
    }

    /// The caller as the actor of a change that needs `level`, or the
    /// refusal a caller below it gets (pages do not even offer them the
    /// change; this answers forged requests).
    pub fn at_least(&self, level: Level) -> Result<Actor, String> {
        match &self.session {
            Some((session, _)) if session.level >= level => Ok(session.actor.clone()),
            Some((session, _)) => Err(format!(
                "this needs the {level} level and you have {}; ask an admin for it (drover web user add NAME --level {level})",
                session.level
            )),
            None => Err("not logged in".to_string()),
        }
    }
}

/// Routes anyone may reach: the login page and its POST, login links and
/// static assets. Everything else needs a session.
pub fn is_public(path: &str) -> bool {
    path == "/login"
        || path == "/login/link"
        || path.starts_with("/login/link/")
        || path.starts_with("/static/")
}

/// Whether a path is part of the JSON API (401 and JSON errors there).
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn guard(
    State(web): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let address = client_address(&web, peer, req.headers());
    let path = req.uri().path().to_string();
    let session = match session_token(req.headers()) {
        Some(token) => match web.app.web_session(&token).await {
            Ok(found) => found.map(|session| (session, token)),
            Err(e) => return refusal::internal(&path, &e),
        },
        None => None,
    };
    if session.is_none() && !is_public(&path) {
        return unauthenticated(&req);
    }
    if changes_state(req.method()) {
        if let Err(why) = check_origin(&web, req.headers()) {
            return refusal::forbidden(&path, &why);
        }
        if let Some((_, token)) = session.as_ref().filter(|_| !is_public(&path)) {
            req = match with_csrf_checked(req, &token.csrf()).await {
                Ok(req) => req,
                Err(why) => return refusal::forbidden(&path, why),
            };
        }
    }
    req.extensions_mut().insert(Caller { session, address });
    next.run(req).await
}

/// No session: the login page for a browser, 401 for the API.
fn unauthenticated(req: &Request) -> Response {
    let path = req.uri().path();
    if is_api(path) {
        return refusal::json(
            StatusCode::UNAUTHORIZED,
            "not logged in: log in at /login first (the session cookie is missing, expired or ended)",
        );
    }
    if req.method() != Method::GET {
        return Redirect::to("/login").into_response();
    }
    let wanted = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let next: String = form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// The session token of the request's cookie, if it has a token's shape.
fn session_token(headers: &HeaderMap) -> Option<Token> {
    let prefix = format!("{SESSION_COOKIE}=");
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(prefix.as_str()))
        .find(|value| {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(Token::from_client)
}

/// The client's address: the TCP peer's, or with `web.trust_forwarded_for`
/// the last X-Forwarded-For entry (the one the reverse proxy wrote).
fn client_address(web: &WebState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if web.app.config.web.trust_forwarded_for {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .and_then(|v| v.parse().ok());
        if let Some(address) = forwarded {
            return address;
        }
    }
    peer.ip()
}

/// A state-changing request must come from drover's own pages: its Origin
/// (or, without one, its Referer) must be `web.public_url`, or without
/// that setting name the host the request was sent to. A request with
/// neither header (not a browser) passes on to the token check.
fn check_origin(web: &WebState, headers: &HeaderMap) -> Result<(), String> {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER));
    let Some(claimed) = claimed else {
        return Ok(());
    };
    let claimed = claimed.to_str().unwrap_or("");
    let refused = || {
        format!("this request came from another site ({claimed}); drover accepts changes only from its own pages")
    };
    let url = reqwest::Url::parse(claimed).map_err(|_| refused())?;
    let same = match web.app.config.web.public_base() {
        Some(base) => reqwest::Url::parse(base).is_ok_and(|public| public.origin() == url.origin()),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let authority = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => String::new(),
            };
            host.is_some_and(|host| host.eq_ignore_ascii_case(&authority))
        }
    };
    if same {
        Ok(())
    } else {
        Err(refused())
    }
}

const CSRF_MISSING: &str = "this request did not carry this session's CSRF token (form field 'csrf' or header X-CSRF-Token); reload the page and try again";

/// Checks the CSRF token of a request with a session: the header, or the
/// `csrf` field of a URL-encoded form (the body is read and put back).
async fn with_csrf_checked(req: Request, expected: &str) -> Result<Request, &'static str> {
    if let Some(given) = req.headers().get(CSRF_HEADER) {
        return if same_secret(given.as_bytes(), expected.as_bytes()) {
            Ok(req)
        } else {
            Err(CSRF_MISSING)
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(CSRF_MISSING);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| "the form is too large")?;
    let given = form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == CSRF_FIELD)
        .map(|(_, value)| value.into_owned());
    match given {
        Some(given) if same_secret(given.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(CSRF_MISSING),
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_login_links_and_assets_are_public() {
        for public in [
            "/login",
            "/login/link",
            "/login/link/abc",
            "/static/drover.1.css",
        ] {
            assert!(is_public(public), "{public}");
        }
        for private in [
            "/",
            "/api/whoami",
            "/logout",
            "/loginx",
            "/login/other",
            "/runs",
        ] {
            assert!(!is_public(private), "{private}");
        }
    }

    #[test]
    fn session_tokens_are_taken_only_in_their_shape() {
        let token = "a".repeat(43);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("other=1; {SESSION_COOKIE}={token}")
                .parse()
                .unwrap(),
        );
        assert_eq!(session_token(&headers).unwrap().as_str(), token);
        headers.insert(
            header::COOKIE,
            format!("{SESSION_COOKIE}=short; x={token}")
                .parse()
                .unwrap(),
        );
        assert!(session_token(&headers).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
