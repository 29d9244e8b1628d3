//! What the inventory and library pages share: turning form fields into
//! the app's raw input (the same input types the CLI fills, so refusals
//! come in the same words), the admin gate for changes, and the answers to
//! a change and to an `/api/` read.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use super::guard::{Caller, CSRF_FIELD};
use super::refusal;
use super::WebState;
use crate::access::Level;
use crate::domain::Actor;
use crate::error::{EntityKind, Error, Result};

/// The admin making an inventory or library change, as an extractor:
/// anyone below gets a 403 before the handler runs (the pages do not offer
/// them the forms; this answers forged requests).
pub struct Admin(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<Self, Response> {
        let path = parts.uri.path();
        match parts.extensions.get::<Caller>() {
            Some(caller) => caller
                .at_least(Level::Admin)
                .map(Admin)
                .map_err(|why| refusal::forbidden(path, &why)),
            None => Err(refusal::forbidden(path, "not logged in")),
        }
    }
}

/// The hidden CSRF field of a form of this session.
pub fn csrf_field(caller: &Caller) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(caller.csrf().unwrap_or_default()); }
}

/// A POST button in its own form, asking before it sends when `confirm`
/// is given.
pub fn post_button(
    caller: &Caller,
    action: &str,
    id: &str,
    label: &str,
    confirm: Option<&str>,
) -> Markup {
    html! {
        form method="post" action=(action) class="inline" data-confirm=[confirm] {
            (csrf_field(caller))
            button type="submit" id=(id) { (label) }
        }
    }
}

/// The error of a refused change, above the form it came from.
pub fn error_banner(error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p class="error" id="form-error" role="alert" { (error) }
        }
    }
}

/// A delete button (labelled `verb`, asking `question` first) with a
/// "force" box (take it out of what uses it too).
pub fn delete_form(
    caller: &Caller,
    action: &str,
    (verb, question): (&str, &str),
    force_label: &str,
) -> Markup {
    html! {
        form method="post" action=(action) id="delete" class="danger" data-confirm=(question) {
            (csrf_field(caller))
            label { input type="checkbox" name="force" id="delete-force"; " " (force_label) }
            " " button type="submit" id="delete-submit" { (verb) }
        }
    }
}

/// Where a change form posts: its action, its id (its button is
/// `ID-submit`) and its button's label.
pub struct FormTarget<'a> {
    pub action: &'a str,
    pub id: &'a str,
    pub submit: &'a str,
}

/// A change form: the refusal of the last try above it (if shown here),
/// the session's CSRF token, the fields and the button.
pub fn change_form(
    caller: &Caller,
    target: FormTarget<'_>,
    error: Option<&str>,
    fields: Markup,
) -> Markup {
    html! {
        (error_banner(error))
        form method="post" action=(target.action) id=(target.id) {
            (csrf_field(caller))
            (fields)
            button type="submit" id={ (target.id) "-submit" } { (target.submit) }
        }
    }
}

/// What a delete form sends.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteForm {
    force: Option<String>,
}

impl DeleteForm {
    pub fn force(&self) -> bool {
        ticked(&self.force)
    }
}

/// Names a browser suggests in a text field (`<datalist id=ID>`, the
/// field's `list`): the first [`SUGGESTED`] names of each of `kinds`.
pub async fn suggestions(web: &WebState, kinds: &[EntityKind], id: &str) -> Markup {
    let mut names = Vec::new();
    for kind in kinds {
        let found = web.app.names_matching(*kind, "", SUGGESTED).await;
        names.extend(found.unwrap_or_default());
    }
    html! {
        datalist id=(id) { @for name in &names { option value=(name) {} } }
    }
}

/// Names a field suggests at most.
const SUGGESTED: usize = 500;

/// A text field: `None` when left empty.
pub fn given(raw: &str) -> Option<String> {
    Some(raw.trim().to_string()).filter(|text| !text.is_empty())
}

/// A number field: `None` when left empty, else the number or the error
/// `what` gets in the CLI's words.
pub fn number(what: &'static str, raw: &str, expected: &str) -> Result<Option<i64>> {
    match given(raw) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Error::InvalidValue {
                what,
                value: text,
                expected: expected.to_string(),
            }),
    }
}

/// A checkbox: present (any value) when ticked.
pub fn ticked(raw: &Option<String>) -> bool {
    raw.is_some()
}

/// A script body from a textarea: browsers send CRLF line breaks, scripts
/// need LF.
pub fn script_body(raw: &str) -> Vec<u8> {
    raw.replace("\r\n", "\n").into_bytes()
}

/// The answer to a change: to `done` (a page path) when it went through;
/// the page again with the refusal (400) when the app refused it (what
/// that page shows is read only then); an internal error (logged)
/// otherwise.
pub async fn after_change<T>(
    path: &str,
    result: Result<T>,
    done: impl FnOnce(T) -> String,
    again: impl AsyncFnOnce(String) -> Result<Markup>,
) -> Response {
    match result {
        Ok(value) => Redirect::to(&done(value)).into_response(),
        Err(e) if e.is_refusal() => match again(e.to_string()).await {
            Ok(page) => (StatusCode::BAD_REQUEST, Html(page.into_string())).into_response(),
            Err(e) => self::page(path, Err(e)),
        },
        Err(e) => refusal::internal(path, &e),
    }
}

/// A page, or the error page when reading what it shows failed (404 for
/// something that does not exist).
pub fn page(path: &str, result: Result<Markup>) -> Response {
    match result {
        Ok(markup) => Html(markup.into_string()).into_response(),
        Err(e @ Error::NotFound { .. }) => {
            refusal::for_path(path, StatusCode::NOT_FOUND, "Not found", &e.to_string())
        }
        Err(e) => refusal::internal(path, &e),
    }
}

/// An `/api/` document: the same serialisation `--json` prints.
pub fn api<T: Serialize>(path: &str, result: Result<T>) -> Response {
    match result {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e @ Error::NotFound { .. }) => refusal::json(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => refusal::internal(path, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_optional_and_refused_in_words() {
        assert_eq!(number("port", " ", "a port").ok(), Some(None));
        assert_eq!(number("port", "2222", "a port").ok(), Some(Some(2222)));
        let err = number("port", "22x", "a TCP port between 1 and 65535")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("'22x'") && err.contains("between 1 and 65535"),
            "{err}"
        );
    }

    #[test]
    fn textarea_bodies_get_unix_line_breaks() {
        assert_eq!(
            script_body("#!/bin/sh\r\necho hi\r\n"),
            b"#!/bin/sh\necho hi\n"
        );
    }
}
