//! The listener: accept loop, HTTP/1.1 connections and shutdown.
//!
//! One accept task owns the tasks of its connections in a [`JoinSet`].
//! Shutdown is a message on a watch channel: the accept task stops
//! accepting, then aborts its connection tasks and waits for them.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::router;
use crate::state::ServerState;

/// How long the accept loop waits after a failed `accept`, such as when the
/// process is out of file descriptors, before it tries again.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Binds a TCP listener on 127.0.0.1 with a port chosen by the OS.
pub(crate) async fn bind_loopback() -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("failed to bind the stack server on 127.0.0.1:0: {error}"),
            )
        })
}

/// The running accept task and the channel that stops it.
#[derive(Debug)]
pub(crate) struct ServerHandle {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Spawns the accept task on the current Tokio runtime.
    pub(crate) fn spawn(state: Arc<ServerState>, listener: TcpListener) -> ServerHandle {
        let (stop, stop_receiver) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state, stop_receiver));
        ServerHandle {
            stop,
            task: Some(task),
        }
    }

    /// Stops accepting, closes every connection and waits for the tasks.
    pub(crate) async fn shutdown(&mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "the stack server's accept task failed");
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        // The accept task reads the message the next time it is polled. If
        // the runtime is gone already, its tasks were dropped with it.
        self.stop.send_replace(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServerState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // The value only ever changes to true, and an error means the
            // handle is gone: either way the server stops.
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, state.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "failed to accept a connection, retrying");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            },
            // Reaps finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, state: Arc<ServerState>) {
    let service = service_fn(move |request| router::handle(state.clone(), request));
    let http = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(error) = http.await {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
}
