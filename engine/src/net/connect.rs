//! Connections of one job's client: TCP (and TLS) connections to checked
//! addresses only, and the idle connections kept for reuse.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::error::{FetchError, FetchErrorKind};
use super::pattern::Scheme;
use super::policy::CheckedTarget;

/// The sending half of an HTTP/1.1 connection.
pub(crate) type Sender = http1::SendRequest<Full<Bytes>>;

/// Idle connections are reused only for the same scheme, host name (the TLS
/// server name), port and checked address.
type PoolKey = (Scheme, String, u16, SocketAddr);

/// A connection to a checked address.
pub(crate) struct Connection {
    pub(crate) sender: Sender,
    key: PoolKey,
    /// Whether the connection served an earlier request.
    pub(crate) reused: bool,
}

/// Opens connections to the addresses of a [`CheckedTarget`] and keeps idle
/// ones for reuse. It never resolves a name.
pub(crate) struct Connector {
    tls: TlsConnector,
    idle: Mutex<HashMap<PoolKey, Vec<Sender>>>,
    max_idle_per_key: usize,
    attempts: AtomicU64,
}

impl Connector {
    /// Creates a connector that keeps at most `max_idle_per_key` idle
    /// connections per scheme, host, port and address.
    pub(crate) fn new(tls: TlsConnector, max_idle_per_key: usize) -> Connector {
        Connector {
            tls,
            idle: Mutex::new(HashMap::new()),
            max_idle_per_key,
            attempts: AtomicU64::new(0),
        }
    }

    /// Returns the number of TCP connections attempted so far.
    pub(crate) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Takes an idle connection to one of the target's addresses, or opens a
    /// new one.
    pub(crate) async fn connection(
        &self,
        target: &CheckedTarget,
        fresh: bool,
    ) -> Result<Connection, FetchError> {
        if !fresh && let Some(connection) = self.take_idle(target) {
            return Ok(connection);
        }
        let url = target.url.as_str();
        let mut last_error = None;
        // NOTE: addresses are tried one after the other, so an address that
        // drops packets can use up the whole connect timeout before the
        // next one is tried (no Happy Eyeballs).
        for addr in &target.addrs {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            match TcpStream::connect(addr).await {
                Ok(stream) => return self.handshake(target, *addr, stream).await,
                Err(error) => last_error = Some((addr, error)),
            }
        }
        let reason = match last_error {
            Some((addr, error)) => format!("failed to connect to {addr}: {error}"),
            None => "no address to connect to".to_owned(),
        };
        Err(FetchError::new(FetchErrorKind::ConnectFailed, url, reason))
    }

    fn take_idle(&self, target: &CheckedTarget) -> Option<Connection> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for addr in &target.addrs {
            let key = (target.scheme, target.host.clone(), target.port, *addr);
            let Some(senders) = idle.get_mut(&key) else {
                continue;
            };
            while let Some(sender) = senders.pop() {
                if sender.is_ready() {
                    return Some(Connection {
                        sender,
                        key,
                        reused: true,
                    });
                }
            }
        }
        None
    }

    /// Keeps a connection whose response was read to the end for a later
    /// request, once hyper reports it idle.
    pub(crate) async fn release(&self, mut connection: Connection, until: Instant) {
        let ready = tokio::time::timeout_at(until, connection.sender.ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let senders = idle.entry(connection.key).or_default();
        if senders.len() < self.max_idle_per_key {
            senders.push(connection.sender);
        }
    }

    async fn handshake(
        &self,
        target: &CheckedTarget,
        addr: SocketAddr,
        stream: TcpStream,
    ) -> Result<Connection, FetchError> {
        let url = target.url.as_str();
        let failed = |reason: String| FetchError::new(FetchErrorKind::ConnectFailed, url, reason);
        // Without Nagle's algorithm a small request goes out at once.
        let _ = stream.set_nodelay(true);

        let sender = match target.scheme {
            Scheme::Http => http1_handshake(stream).await,
            Scheme::Https => {
                let server_name = ServerName::try_from(target.host.clone()).map_err(|error| {
                    failed(format!("invalid TLS server name {}: {error}", target.host))
                })?;
                let stream = self
                    .tls
                    .connect(server_name, stream)
                    .await
                    .map_err(|error| {
                        // A test server with its own CA gives a certificate
                        // from an unknown issuer, so the hint names the fix.
                        let text = error.to_string();
                        let hint = if text.contains("UnknownIssuer") {
                            "; the certificate's CA is not trusted, and only the operator can add one, with --ca-file"
                        } else {
                            ""
                        };
                        failed(format!(
                            "TLS handshake with {} ({addr}) failed: {text}{hint}",
                            target.host
                        ))
                    })?;
                http1_handshake(stream).await
            }
        };
        let sender = sender
            .map_err(|error| failed(format!("HTTP handshake with {addr} failed: {error}")))?;
        Ok(Connection {
            sender,
            key: (target.scheme, target.host.clone(), target.port, addr),
            reused: false,
        })
    }
}

/// Runs the HTTP/1.1 handshake on `stream` and spawns the connection's task,
/// which ends when the server closes the connection or the last sender and
/// body are dropped.
async fn http1_handshake<S>(stream: S) -> Result<Sender, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::trace!(%error, "HTTP connection ended with an error");
        }
    });
    Ok(sender)
}
