//! The listeners: accept loops, TLS handshakes, HTTP/1.1 connections and
//! shutdown.
//!
//! Each listener runs one accept task that owns the tasks of its
//! connections in a [`JoinSet`]. Shutdown is a message on a watch channel:
//! the accept task stops accepting, then aborts its connection tasks and
//! waits for them, which also ends the stalled and endless responses.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::router::{self, Connection};
use crate::state::SiteState;

/// How long an accept loop waits after a failed `accept`, such as when the
/// process is out of file descriptors, before it tries again.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Binds a TCP listener on 127.0.0.1 with a port chosen by the OS.
/// `protocol` names the listener in the error message.
pub(crate) async fn bind_loopback(protocol: &str) -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("failed to bind the {protocol} listener on 127.0.0.1:0: {error}"),
            )
        })
}

/// The running accept tasks and the channel that stops them.
#[derive(Debug)]
pub(crate) struct ServerHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Spawns the accept task of each listener on the current Tokio runtime.
    pub(crate) fn spawn(
        state: Arc<SiteState>,
        http: TcpListener,
        https: Option<(TcpListener, TlsAcceptor)>,
    ) -> ServerHandle {
        let (stop, stop_receiver) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(accept_loop(
            http,
            None,
            state.clone(),
            stop_receiver.clone(),
        ))];
        if let Some((listener, acceptor)) = https {
            tasks.push(tokio::spawn(accept_loop(
                listener,
                Some(acceptor),
                state,
                stop_receiver,
            )));
        }
        ServerHandle { stop, tasks }
    }

    /// Stops accepting, closes every connection and waits for all tasks.
    pub(crate) async fn shutdown(&mut self) {
        self.stop.send_replace(true);
        for task in self.tasks.drain(..) {
            if let Err(error) = task.await {
                tracing::warn!(%error, "a vendor site accept task failed");
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        // The accept tasks see the message the next time they are polled.
        // If the runtime is gone already, its tasks were dropped with it.
        self.stop.send_replace(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<SiteState>,
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
                    // Small responses go out at once instead of waiting for
                    // delayed acknowledgements, which made timings jump by
                    // about 40 ms on loopback.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "failed to set TCP_NODELAY");
                    }
                    let connection = serve_connection(stream, peer, tls.clone(), state.clone());
                    connections.spawn(connection);
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

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<SiteState>,
) {
    let local_port = match stream.local_addr() {
        Ok(address) => address.port(),
        Err(error) => {
            tracing::debug!(%peer, %error, "failed to read the local address of a connection");
            return;
        }
    };
    let Some(acceptor) = tls else {
        let connection = Connection {
            tls: false,
            local_port,
        };
        serve_http(stream, peer, connection, state).await;
        return;
    };
    match acceptor.accept(stream).await {
        Ok(stream) => {
            let connection = Connection {
                tls: true,
                local_port,
            };
            serve_http(stream, peer, connection, state).await;
        }
        // Expected in tests that check a client rejects the certificate.
        Err(error) => tracing::debug!(%peer, %error, "TLS handshake failed"),
    }
}

async fn serve_http<S>(stream: S, peer: SocketAddr, connection: Connection, state: Arc<SiteState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| router::handle(state.clone(), connection, request));
    let http = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(error) = http.await {
        // Clients that go away mid-response, as network tests do, end here.
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
}
