//! Process signals: the shutdown request (SIGINT or SIGTERM) that the
//! long-running front ends (the bot, the web server) stop on.

use std::future::Future;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Resolves on the first SIGINT or SIGTERM after this call. The handlers
/// are installed by the call itself, not when the future is first polled,
/// so a signal that arrives in between is not lost (nor does it kill the
/// process). Every caller is woken by the same signal, so several servers
/// in one process stop together.
pub fn shutdown_requested() -> impl Future<Output = ()> + Send + 'static {
    let install = |kind: SignalKind| match signal(kind) {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!(error = %e, "cannot install a signal handler");
            None
        }
    };
    let mut interrupt = install(SignalKind::interrupt());
    let mut terminate = install(SignalKind::terminate());
    async move {
        tokio::select! {
            _ = received(&mut interrupt) => {}
            _ = received(&mut terminate) => {}
        }
    }
}

async fn received(stream: &mut Option<Signal>) {
    match stream {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
