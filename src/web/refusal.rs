//! Error answers: an HTML error page for the pages, a JSON `{"error": ...}`
//! for `/api/`. Internal failures are logged and shown without details.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

use super::guard::is_api;
use super::pages::layout;

/// `{"error": message}` with `status`.
pub fn json(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// A page that says what went wrong and what to do.
pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = layout(
        title,
        None,
        html! {
            main class="narrow" {
                h1 { (title) }
                p class="error" { (message) }
                p { a href="/" { "Back to drover" } }
            }
        },
    );
    (status, Html(body.into_string())).into_response()
}

/// JSON under `/api/`, a page elsewhere.
pub fn for_path(path: &str, status: StatusCode, title: &str, message: &str) -> Response {
    if is_api(path) {
        json(status, message)
    } else {
        page(status, title, message)
    }
}

/// 403: a request the guard refused (CSRF, foreign origin).
pub fn forbidden(path: &str, why: &str) -> Response {
    for_path(path, StatusCode::FORBIDDEN, "Request refused", why)
}

/// A refusal of the operations layer is shown as it is (400); anything
/// else is logged and shown as an internal error (500).
pub fn internal(path: &str, error: &crate::error::Error) -> Response {
    if error.is_refusal() {
        return for_path(path, StatusCode::BAD_REQUEST, "Refused", &error.to_string());
    }
    tracing::error!(%error, path, "web request failed");
    for_path(
        path,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error",
        "drover could not complete this because of an internal error; see its log",
    )
}
