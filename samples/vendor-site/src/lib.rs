//! A fixture vendor web site: a local HTTP and HTTPS server that imitates a
//! vendor's customer area, for sample konnectors, the engine's network tests
//! and demos.
//!
//! [`VendorSite::start`] binds two listeners on 127.0.0.1 with ports chosen by
//! the OS, one for plain HTTP and, unless [`SiteConfig::https`] is off, one
//! for HTTPS. Both serve the same routes from one shared state, so a session
//! cookie obtained over HTTP also works over HTTPS. The server never listens
//! on any other address.
//!
//! The site behaves like a small vendor's customer area:
//!
//! - `GET /` redirects (302) to `/login`.
//! - `GET /login` returns an HTML form `#login-form` with the inputs `login`,
//!   `password` and a hidden `csrf` token, which is also set as the `csrf`
//!   cookie. `POST /login` checks the credentials and that token. On success
//!   it sets the `session` cookie and redirects (303) to `/bills`, otherwise
//!   it returns the form again with `<div class="error">Invalid
//!   credentials</div>`.
//! - `GET /bills?page=N` lists the bills of page N as `li.bill` elements with
//!   a link `a.pdf` to `GET /bills/ID.pdf`, and an `a.next` link while more
//!   pages exist. `GET /api/bills` returns the same bills as JSON, compressed
//!   with gzip when the request accepts it. These three routes need the
//!   session cookie and otherwise redirect (302) to `/login`.
//!
//! Other routes let network tests provoke hard cases: `/redirect/N` and
//! `/redirect-to` for redirects, `/slow`, `/stall`, `/endless` and `/bomb` for
//! slow, stalled, endless and decompression-bomb responses. With
//! [`SiteConfig::fail_with_500`] every route returns 500, like a vendor that
//! is down.
//!
//! Content is deterministic: the same [`SiteConfig`] always produces the same
//! bills, HTML pages and PDF bytes, so tests can pin what a konnector imports.
//! The HTTPS certificate is the exception, because a new test CA and server
//! key are generated at every start: clients trust [`VendorSite::ca_pem`].
//!
//! The server stops when [`VendorSite::shutdown`] is awaited or when the
//! [`VendorSite`] is dropped. Either way every open connection is closed,
//! including the stalled and endless responses.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use vendor_site::{SiteConfig, VendorSite};
//!
//! let site = VendorSite::start(SiteConfig::default()).await?;
//! println!("login page: http://{}/login", site.http_addr());
//! site.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod bills;
mod body;
mod faults;
mod html;
mod pages;
mod pdf;
mod record;
mod response;
mod router;
mod server;
mod session;
mod state;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

pub use bills::Bill;
pub use record::RequestRecord;

/// The largest accepted [`SiteConfig::bill_count`]. Bill dates go back one
/// month per bill, so this bound keeps every date a four-digit year.
pub const MAX_BILL_COUNT: usize = 10_000;

/// The settings of a [`VendorSite`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteConfig {
    /// The login the form accepts. Default `demo@example.com`.
    pub login: String,
    /// The password the form accepts. Default `demo-password`.
    pub password: String,
    /// The number of bills on the site, at most [`MAX_BILL_COUNT`]. Default 12.
    pub bill_count: usize,
    /// The number of bills on each page of `/bills`, at least 1. Default 5.
    pub bills_per_page: usize,
    /// Whether every route returns 500 Internal Server Error. Default false.
    pub fail_with_500: bool,
    /// Whether an HTTPS listener is started beside the HTTP one. Default true.
    pub https: bool,
    /// The DNS name in the server certificate and in absolute links (the
    /// `pdf_url` fields of `/api/bills`). Clients resolve it to 127.0.0.1
    /// themselves. Default `vendor.example`.
    pub hostname: String,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            login: "demo@example.com".to_owned(),
            password: "demo-password".to_owned(),
            bill_count: 12,
            bills_per_page: 5,
            fail_with_500: false,
            https: true,
            hostname: "vendor.example".to_owned(),
        }
    }
}

/// A running vendor site. Dropping it stops the server without waiting, and
/// [`VendorSite::shutdown`] stops it and waits until every listener and
/// connection is closed.
#[derive(Debug)]
pub struct VendorSite {
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    ca_pem: String,
    state: Arc<state::SiteState>,
    server: server::ServerHandle,
}

impl VendorSite {
    /// Starts the site on 127.0.0.1, HTTP and (when [`SiteConfig::https`] is
    /// set) HTTPS each on a port chosen by the OS.
    ///
    /// Must be called within a Tokio runtime, which runs the server's tasks.
    ///
    /// # Errors
    ///
    /// Returns [`io::ErrorKind::InvalidInput`] when `bill_count` is over
    /// [`MAX_BILL_COUNT`], `bills_per_page` is 0 or `hostname` is not a valid
    /// DNS name, and the OS error when a listener cannot be bound.
    pub async fn start(config: SiteConfig) -> io::Result<VendorSite> {
        validate_config(&config)?;
        let pki = tls::TestPki::generate(&config.hostname)?;

        let http_listener = server::bind_loopback("HTTP").await?;
        let https_listener = match config.https {
            true => Some(server::bind_loopback("HTTPS").await?),
            false => None,
        };
        let http_addr = http_listener.local_addr()?;
        let https_addr = match &https_listener {
            Some(listener) => Some(listener.local_addr()?),
            None => None,
        };

        let state = Arc::new(state::SiteState::new(config));
        let server = server::ServerHandle::spawn(
            state.clone(),
            http_listener,
            https_listener.map(|listener| (listener, pki.acceptor())),
        );
        tracing::info!(%http_addr, ?https_addr, "vendor site started");

        Ok(VendorSite {
            http_addr,
            https_addr,
            ca_pem: pki.ca_pem,
            state,
            server,
        })
    }

    /// Returns the address of the HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Returns the address of the HTTPS listener, or `None` when
    /// [`SiteConfig::https`] is off.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// Returns the PEM certificate of the test CA that signed the HTTPS
    /// server certificate. It is generated even when HTTPS is off.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Returns every request received so far on both listeners, in arrival
    /// order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests()
    }

    /// Returns the site's bills, newest first, as listed on `/bills`.
    pub fn bills(&self) -> Vec<Bill> {
        self.state.bills().to_vec()
    }

    /// Returns the configuration the site was started with.
    pub fn config(&self) -> &SiteConfig {
        self.state.config()
    }

    /// Stops the server and waits until the listeners are closed and every
    /// connection task has ended.
    pub async fn shutdown(mut self) {
        self.server.shutdown().await;
        tracing::info!(http_addr = %self.http_addr, "vendor site stopped");
    }
}

fn validate_config(config: &SiteConfig) -> io::Result<()> {
    if config.bill_count > MAX_BILL_COUNT {
        return Err(invalid_input(format!(
            "invalid bill_count {}: the maximum is {MAX_BILL_COUNT}",
            config.bill_count
        )));
    }
    if rustls::pki_types::ServerName::try_from(config.hostname.as_str()).is_err() {
        return Err(invalid_input(format!(
            "invalid hostname {:?}: expected a DNS name or an IP address",
            config.hostname
        )));
    }
    if config.bills_per_page == 0 {
        return Err(invalid_input(
            "invalid bills_per_page 0: a page must hold at least one bill".to_owned(),
        ));
    }
    Ok(())
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
