//! A small HTTP/1.1 server on 127.0.0.1 for the client's tests. It counts
//! the connections it accepts, records every request, and can misbehave on
//! purpose (stall, send an endless body).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Maximum size of a request head the server reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    pub target: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// Returns the first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What the server does with a request.
pub(crate) enum Reply {
    /// A response with `Content-Length`, sent after `delay`; the connection
    /// stays open for the next request.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
    /// A chunked body that never ends, sent as fast as the client reads.
    Endless,
    /// A chunked body of one byte every interval, never ending.
    Trickle(Duration),
    /// No response at all; the connection stays open until the client
    /// closes it.
    Stall,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::with(200, &[], body)
    }

    pub fn with(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::with(status, &[("location", location)], Vec::new())
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    requests: Mutex<Vec<Recorded>>,
}

/// A running server; it stops when dropped.
pub(crate) struct TestServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a plain HTTP server on 127.0.0.1 with a free port.
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> TestServer {
        TestServer::start_with(None, Arc::new(handler)).await
    }

    /// Starts an HTTPS server on 127.0.0.1 with a free port.
    pub async fn start_tls(
        acceptor: TlsAcceptor,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_with(Some(acceptor), Arc::new(handler)).await
    }

    async fn start_with(acceptor: Option<TlsAcceptor>, handler: Handler) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stats = Arc::new(Stats::default());
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            // Dropping the set when the server stops aborts its connections.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                task_stats.connections.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                let (stats, handler, acceptor) =
                    (task_stats.clone(), handler.clone(), acceptor.clone());
                connections.spawn(async move {
                    match acceptor {
                        None => serve(stream, stats, handler).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, stats, handler).await;
                            }
                        }
                    }
                });
            }
        });
        TestServer { addr, stats, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.stats.requests.lock().expect("not poisoned").clone()
    }

    /// Returns the largest number of requests it was serving at once.
    pub fn max_in_flight(&self) -> usize {
        self.stats.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, stats: Arc<Stats>, handler: Handler) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader).await {
        stats
            .requests
            .lock()
            .expect("not poisoned")
            .push(request.clone());
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let keep_open = reply(&mut reader, handler(&request)).await;
        stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !keep_open {
            return;
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> Option<Recorded> {
    let mut head = Vec::new();
    loop {
        let read = reader.read_until(b'\n', &mut head).await.ok()?;
        if read == 0 || head.len() > MAX_HEAD_BYTES {
            return None;
        }
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

/// Writes the reply; returns whether the connection may serve another
/// request.
async fn reply<S: AsyncRead + AsyncWrite + Unpin>(reader: &mut BufReader<S>, reply: Reply) -> bool {
    match reply {
        Reply::Full {
            status,
            headers,
            body,
            delay,
        } => {
            tokio::time::sleep(delay).await;
            let mut head = format!(
                "HTTP/1.1 {status} Test\r\ncontent-length: {}\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let stream = reader.get_mut();
            let mut message = head.into_bytes();
            message.extend_from_slice(&body);
            stream.write_all(&message).await.is_ok() && stream.flush().await.is_ok()
        }
        Reply::Endless => {
            let stream = reader.get_mut();
            let head = "HTTP/1.1 200 Test\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
            while stream.write_all(chunk.as_bytes()).await.is_ok() {}
            false
        }
        Reply::Trickle(interval) => {
            let stream = reader.get_mut();
            let head = "HTTP/1.1 200 Test\r\ntransfer-encoding: chunked\r\n\r\n";
            let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
            while ok {
                tokio::time::sleep(interval).await;
                ok = stream.write_all(b"1\r\nx\r\n").await.is_ok() && stream.flush().await.is_ok();
            }
            false
        }
        Reply::Stall => {
            // Wait until the client closes the connection.
            let mut sink = [0u8; 1024];
            while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
            false
        }
    }
}
