//! Static assets compiled into the binary (the stylesheet and the one
//! script), served under names that carry a hash of their content, with a
//! year-long immutable cache and an ETag: a new build gets new names.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// `drover.<hash>.css`
    name: String,
    body: &'static str,
    content_type: &'static str,
    etag: String,
}

fn asset(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Asset {
    let hash: String = Sha256::digest(body.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    Asset {
        name: format!("{stem}.{hash}.{extension}"),
        body,
        content_type,
        etag: format!("\"{hash}\""),
    }
}

fn assets() -> &'static [Asset; 2] {
    static ASSETS: OnceLock<[Asset; 2]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            asset(
                "drover",
                "css",
                include_str!("static/drover.css"),
                "text/css; charset=utf-8",
            ),
            asset(
                "drover",
                "js",
                include_str!("static/drover.js"),
                "text/javascript; charset=utf-8",
            ),
        ]
    })
}

/// The stylesheet's URL path.
pub fn css_path() -> String {
    format!("/static/{}", assets()[0].name)
}

/// The script's URL path.
pub fn js_path() -> String {
    format!("/static/{}", assets()[1].name)
}

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = assets().iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let cache = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(&asset.etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}
