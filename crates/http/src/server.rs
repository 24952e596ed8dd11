//! Serving an [`App`]: the accept loop and graceful shutdown with a deadline.
//!
//! When the shutdown signal comes, the server at once stops accepting (the listener closes, so
//! new connections are refused), turns `/ready` to 503 (`draining`) and tells every connection
//! to finish: idle keep-alive connections close, requests in flight run on. What is still
//! running after the grace period ([`crate::ServerSettings::shutdown_grace`]) is aborted: its
//! connection closes, so a client mid-download sees a truncated chunked body, a clean error
//! rather than a hang or a short file that looks whole.
//!
//! This is `axum::serve` with two additions it lacks: the deadline (its connections are
//! detached tasks that cannot be stopped) and the draining flag.
//!
//! The deadline closes HTTP/1.1 connections, which is what browsers and proxies speak to a
//! server without TLS. HTTP/2 streams (cleartext, prior knowledge only) run on tasks of their
//! own: aborting their connection stops their I/O, but a stream's handler ends only when the
//! process does, as it does right after shutdown in `cairn up` and `cairn server`.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A built application ([`crate::app`], [`crate::app_with`]): the router, and what serving it
/// needs to shut down well.
#[derive(Clone)]
pub struct App {
    router: Router,
    draining: CancellationToken,
    grace: Duration,
}

impl App {
    /// An application over `router`; `draining` is cancelled when shutdown begins, and
    /// requests in flight get `grace` to finish.
    pub fn new(router: Router, draining: CancellationToken, grace: Duration) -> App {
        App {
            router,
            draining,
            grace,
        }
    }

    /// The router, e.g. to call with `oneshot` in tests.
    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully (see the
/// module documentation). Handlers see the peer address (`ConnectInfo<SocketAddr>`), which the
/// login rate limit keys on.
///
/// # Errors
/// None so far: a failed `accept` is logged and retried. The `Result` is kept for callers.
pub async fn serve_app(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let App {
        router,
        draining,
        grace,
    } = app;
    let finish = CancellationToken::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    connections.spawn(connection(socket, peer, router.clone(), finish.clone()));
                }
                Err(e) => accept_failed(e).await,
            },
            // Reap finished connections so the set only holds live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    draining.cancel();
    finish.cancel();
    tracing::info!(
        connections = connections.len(),
        grace_secs = grace.as_secs_f64(),
        "shutting down: no new connections; finishing requests in flight"
    );
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "grace period over: closing connections with requests still running"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until it ends, or until `finish` asks it to close once its request in
/// flight is answered.
async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    router: Router,
    finish: CancellationToken,
) {
    // Responses are written as headers, then body blocks: without TCP_NODELAY, Nagle's
    // algorithm holds the second write until the client's delayed ACK (about 40 ms).
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let service = router.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let builder = Builder::new(TokioExecutor::new());
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(socket), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = finish.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = outcome {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// After a failed `accept`: errors of one connection (reset before it was accepted) are
/// skipped; others, such as running out of file descriptors, are logged and waited out, as
/// `axum::serve` does.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
