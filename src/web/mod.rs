//! The web front end (`drover serve`): an axum server whose pages are maud
//! templates compiled into the binary, with its CSS and JS embedded too (no
//! CDN, no template directory). It owns HTTP concerns only: login first
//! (every route but the login page, its POST, login links and static assets
//! needs a session), CSRF checks, login rate limiting, security headers and
//! rendering: runs (`runs`, `start`, `pages`), the inventory (`inventory`:
//! hosts, server groups, tasks) and the library (`library`: scripts and
//! script groups), their `/api/` documents, and the audit page. Accounts, sessions and data come from the application layer (`app`).

mod assets;
mod audit;
mod forms;
mod guard;
mod inventory;
mod library;
mod live;
mod login;
mod pages;
mod ratelimit;
mod refusal;
mod runs;
mod security;
mod start;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::app::App;

pub use ratelimit::{LoginLimiter, Policy as RateLimitPolicy};

/// What every handler shares.
pub struct Web {
    pub app: App,
    pub limiter: LoginLimiter,
    /// True once the server is stopping: live streams end, so that the
    /// graceful shutdown does not wait for them.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The runs live pages follow now, each read once for all of them.
    pub feeds: live::LiveFeeds,
}

pub type WebState = Arc<Web>;

/// Fatal problems of the web server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {address}: {source}; set [web] listen in drover.toml to a free address"
    )]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("web server: {0}")]
    Serve(#[source] std::io::Error),
}

/// Binds the listen address.
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })
}

/// Serves until `shutdown` resolves, then stops taking connections and
/// lets requests in flight finish (axum's graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    let state = Arc::new(Web {
        app,
        limiter: LoginLimiter::default(),
        shutdown: stop_seen,
        feeds: live::LiveFeeds::default(),
    });
    let shutdown = async move {
        shutdown.await;
        let _ = stopping.send(true);
    };
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(ServeError::Serve)
}

/// Every route. The guard decides who gets past (see [`guard::is_public`]).
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(login::page).post(login::submit))
        .route("/login/link/{token}", get(login::link_page))
        .route("/login/link", post(login::link_submit))
        .route("/logout", post(login::logout))
        .route("/api/whoami", get(pages::whoami))
        .route("/runs/new", get(start::page).post(start::submit))
        .route("/runs/{id}", get(runs::page))
        .route("/runs/{id}/live", get(runs::live))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/rerun", post(runs::rerun))
        .route("/runs/{id}/hosts/{host}/logs", get(runs::host_logs))
        .route("/audit", get(audit::page))
        .route("/api/audit", get(audit::api))
        .route("/api/runs", get(pages::api_runs))
        .route("/api/runs/{id}", get(runs::api_run))
        .route("/hosts", get(inventory::hosts).post(inventory::host_add))
        .route(
            "/hosts/{name}",
            get(inventory::host).post(inventory::host_edit),
        )
        .route("/hosts/{name}/delete", post(inventory::host_delete))
        .route(
            "/groups",
            get(inventory::groups).post(inventory::group_create),
        )
        .route("/groups/{name}", get(inventory::group))
        .route("/groups/{name}/hosts", post(inventory::group_add))
        .route(
            "/groups/{name}/hosts/{host}/remove",
            post(inventory::group_remove),
        )
        .route("/groups/{name}/delete", post(inventory::group_delete))
        .route("/tasks", get(inventory::tasks).post(inventory::task_create))
        .route(
            "/tasks/{name}",
            get(inventory::task).post(inventory::task_edit),
        )
        .route("/tasks/{name}/delete", post(inventory::task_delete))
        .route("/scripts", get(library::scripts).post(library::script_add))
        .route(
            "/scripts/{name}",
            get(library::script).post(library::script_edit),
        )
        .route("/scripts/{name}/diff", get(library::script_diff))
        .route("/scripts/{name}/delete", post(library::script_delete))
        .route(
            "/scriptgroups",
            get(library::script_groups).post(library::script_group_create),
        )
        .route("/scriptgroups/{name}", get(library::script_group))
        .route(
            "/scriptgroups/{name}/scripts",
            post(library::script_group_add),
        )
        .route(
            "/scriptgroups/{name}/move",
            post(library::script_group_move),
        )
        .route(
            "/scriptgroups/{name}/scripts/{script}/remove",
            post(library::script_group_remove),
        )
        .route(
            "/scriptgroups/{name}/delete",
            post(library::script_group_delete),
        )
        .route("/api/hosts", get(inventory::api_hosts))
        .route("/api/hosts/{name}", get(inventory::api_host))
        .route("/api/groups", get(inventory::api_groups))
        .route("/api/groups/{name}", get(inventory::api_group))
        .route("/api/tasks", get(inventory::api_tasks))
        .route("/api/tasks/{name}", get(inventory::api_task))
        .route("/api/scripts", get(library::api_scripts))
        .route("/api/scripts/{name}", get(library::api_script))
        .route(
            "/api/scripts/{name}/history",
            get(library::api_script_history),
        )
        .route("/api/scriptgroups", get(library::api_script_groups))
        .route("/api/scriptgroups/{name}", get(library::api_script_group))
        .route("/static/{file}", get(assets::serve))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}
