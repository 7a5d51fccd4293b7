//! One HTTP/1.1 exchange with the stack: connecting (TCP, then TLS for
//! `https`), sending a request, reading the response body up to a size cap,
//! and keeping idle connections for the next request.
//!
//! The stack is operator configuration, so its host is resolved with the
//! system resolver and any address is accepted, loopback included: the
//! konnectors' network policy does not apply here.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

use super::config::{StackConfig, StackConfigError};
use crate::net::NetConfigError;

/// Maximum size of one response body from the stack, in bytes (16 MiB). The
/// largest responses are `_find` pages of at most 100 documents. A larger
/// body fails the request with [`StackError::InvalidResponse`](super::StackError::InvalidResponse).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Idle connections kept for reuse (one job's requests are mostly
/// sequential, so a few are enough).
const MAX_IDLE_CONNECTIONS: usize = 4;

/// How long a connection whose response was read may take to become ready
/// for another request before it is dropped rather than kept.
const IDLE_READY_TIMEOUT: Duration = Duration::from_secs(1);

type Sender = http1::SendRequest<Full<Bytes>>;

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Whether the request was sent twice: first on an idle connection that
    /// failed, which may have happened after the stack applied it.
    pub(crate) resent: bool,
}

/// Failure of an exchange that got no usable response.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// Connecting, TLS, sending or reading failed: another attempt may work.
    Retryable(String),
    /// The response cannot be used, and another attempt would not change
    /// that (a body over [`MAX_RESPONSE_BYTES`]).
    Fatal(String),
}

/// Connections to the one stack a sink writes to.
pub(crate) struct Transport {
    /// Host name or address, for resolving and for the TLS server name.
    host: Host<String>,
    port: u16,
    /// TLS settings, for an `https` URL only.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_to: Option<SocketAddr>,
    idle: Arc<Mutex<Vec<Sender>>>,
}

impl Transport {
    /// Prepares connections to the origin of `url` (already checked to be
    /// `http` or `https` with a host).
    pub(crate) fn new(url: &Url, config: &StackConfig) -> Result<Transport, StackConfigError> {
        let host = url
            .host()
            .map(|host| host.to_owned())
            .ok_or_else(|| StackConfigError::InvalidUrl("the URL has no host".into()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| StackConfigError::InvalidUrl("the URL has no port".into()))?;
        let tls = if url.scheme() == "https" {
            let server_name = match &host {
                Host::Domain(name) => ServerName::try_from(name.clone()).map_err(|error| {
                    StackConfigError::InvalidUrl(format!("invalid TLS server name {name}: {error}"))
                })?,
                Host::Ipv4(addr) => ServerName::IpAddress(IpAddr::V4(*addr).into()),
                Host::Ipv6(addr) => ServerName::IpAddress(IpAddr::V6(*addr).into()),
            };
            Some((tls_connector(&config.ca_files)?, server_name))
        } else {
            None
        };
        Ok(Transport {
            host,
            port,
            tls,
            connect_to: config.connect_to,
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Sends the request that `build` makes and reads the whole response.
    ///
    /// An idle connection is tried first. When it fails before a response,
    /// because the stack closed it meanwhile, the request is built again and
    /// sent once on a new connection.
    pub(crate) async fn exchange(
        &self,
        build: impl Fn() -> Result<Request<Full<Bytes>>, String>,
    ) -> Result<Exchange, ExchangeError> {
        let mut resent = false;
        if let Some(sender) = self.take_idle() {
            match self
                .send_on(sender, build().map_err(ExchangeError::Fatal)?)
                .await
            {
                Ok(exchange) => return Ok(exchange),
                Err(ExchangeError::Retryable(reason)) => {
                    tracing::trace!(%reason, "idle stack connection failed; opening a new one");
                    resent = true;
                }
                Err(fatal) => return Err(fatal),
            }
        }
        let sender = self.connect().await?;
        let mut exchange = self
            .send_on(sender, build().map_err(ExchangeError::Fatal)?)
            .await?;
        exchange.resent = resent;
        Ok(exchange)
    }

    async fn send_on(
        &self,
        mut sender: Sender,
        request: Request<Full<Bytes>>,
    ) -> Result<Exchange, ExchangeError> {
        let response = sender.send_request(request).await.map_err(|error| {
            ExchangeError::Retryable(format!("failed to send the request: {error}"))
        })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    ExchangeError::Fatal(format!(
                        "the response body is larger than {MAX_RESPONSE_BYTES} bytes"
                    ))
                } else {
                    ExchangeError::Retryable(format!("failed to read the response: {error}"))
                }
            })?
            .to_bytes();
        self.release(sender);
        Ok(Exchange {
            status: parts.status,
            headers: parts.headers,
            body,
            resent: false,
        })
    }

    fn take_idle(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Keeps the connection for a later request once hyper reports it ready.
    /// The wait runs in its own task, so the response is returned at once.
    fn release(&self, mut sender: Sender) {
        let idle = Arc::clone(&self.idle);
        tokio::spawn(async move {
            let ready = tokio::time::timeout(IDLE_READY_TIMEOUT, sender.ready()).await;
            if !matches!(ready, Ok(Ok(()))) {
                return;
            }
            let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(sender);
            }
        });
    }

    /// Opens a connection to the first address that accepts one.
    async fn connect(&self) -> Result<Sender, ExchangeError> {
        let addrs = self.addresses().await?;
        let mut last_error = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => return self.handshake(addr, stream).await,
                Err(error) => last_error = Some(format!("failed to connect to {addr}: {error}")),
            }
        }
        Err(ExchangeError::Retryable(
            last_error.unwrap_or_else(|| format!("{} has no address", self.host)),
        ))
    }

    async fn addresses(&self) -> Result<Vec<SocketAddr>, ExchangeError> {
        if let Some(addr) = self.connect_to {
            return Ok(vec![addr]);
        }
        match &self.host {
            Host::Ipv4(addr) => Ok(vec![SocketAddr::new(IpAddr::V4(*addr), self.port)]),
            Host::Ipv6(addr) => Ok(vec![SocketAddr::new(IpAddr::V6(*addr), self.port)]),
            Host::Domain(name) => tokio::net::lookup_host((name.as_str(), self.port))
                .await
                .map(Iterator::collect)
                .map_err(|error| {
                    ExchangeError::Retryable(format!("failed to resolve {name}: {error}"))
                }),
        }
    }

    async fn handshake(
        &self,
        addr: SocketAddr,
        stream: TcpStream,
    ) -> Result<Sender, ExchangeError> {
        // Without Nagle's algorithm a small request goes out at once.
        let _ = stream.set_nodelay(true);
        let sender = match &self.tls {
            None => http1_handshake(stream).await,
            Some((connector, server_name)) => {
                let stream = connector
                    .connect(server_name.clone(), stream)
                    .await
                    .map_err(|error| {
                        ExchangeError::Retryable(format!(
                            "TLS handshake with {} ({addr}) failed: {error}",
                            self.host
                        ))
                    })?;
                http1_handshake(stream).await
            }
        };
        sender.map_err(|error| {
            ExchangeError::Retryable(format!("HTTP handshake with {addr} failed: {error}"))
        })
    }
}

/// Runs the HTTP/1.1 handshake and spawns the connection's task, which ends
/// when the stack closes the connection or the sender is dropped.
async fn http1_handshake<S>(stream: S) -> Result<Sender, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::trace!(%error, "stack connection ended with an error");
        }
    });
    Ok(sender)
}

/// Builds the TLS connector of the guest's HTTP client (`webpki-roots` and
/// the PEM certificates of `ca_files`, HTTP/1.1 only) for the stack.
fn tls_connector(ca_files: &[impl AsRef<Path>]) -> Result<TlsConnector, StackConfigError> {
    crate::net::tls_connector(ca_files).map_err(|error| match error {
        NetConfigError::CaFile { path, reason } => StackConfigError::CaFile { path, reason },
        other => StackConfigError::Tls(other.to_string()),
    })
}
