//! Name resolution: the [`Resolver`] trait, the system resolver, a static
//! resolver for tests, and the operator's resolve overrides.
//!
//! The engine resolves every name itself and connects to the exact address
//! it checked; no connector ever receives a host name.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::str::FromStr;

use async_trait::async_trait;

use super::pattern::canonical_host_name;

/// Resolves host names to addresses.
#[async_trait]
pub trait Resolver: Send + Sync {
    /// Returns the addresses of `host`, a canonical ASCII host name (never an
    /// IP literal), for a connection to `port`. An empty list and an error
    /// both mean the name cannot be reached.
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver, through `tokio::net::lookup_host`
/// (`getaddrinfo` on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, port)).await?;
        Ok(addrs.map(|addr| addr.ip()).collect())
    }
}

/// A resolver that answers from a fixed table and never touches DNS: names
/// not in the table are not found. For tests and for operators who pin
/// every vendor's addresses.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    entries: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// Creates an empty table.
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    /// Adds the addresses of `host` (compared case-insensitively, without a
    /// trailing dot), keeping those it had.
    pub fn with(mut self, host: &str, addrs: &[IpAddr]) -> StaticResolver {
        let host = normalize_name(host);
        self.entries
            .entry(host)
            .or_default()
            .extend_from_slice(addrs);
        self
    }
}

#[async_trait]
impl Resolver for StaticResolver {
    async fn lookup(&self, host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        self.entries
            .get(&normalize_name(host))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} not found")))
    }
}

fn normalize_name(host: &str) -> String {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.to_ascii_lowercase()
}

/// One operator override of name resolution, in curl's `--resolve`
/// spelling `HOST:PORT:ADDRESS`: requests to `HOST` on `PORT` go to
/// `ADDRESS` without asking the resolver.
///
/// The network policy still applies to `ADDRESS`: an override to a loopback
/// or private address is refused unless `ADDRESS:PORT` is also in the
/// operator's `allow_private`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolveOverride {
    /// Canonical host name (lower case, IDNA, no trailing dot).
    pub host: String,
    /// The port the override applies to.
    pub port: u16,
    /// The address to connect to.
    pub addr: IpAddr,
}

impl FromStr for ResolveOverride {
    type Err = String;

    /// Parses `HOST:PORT:ADDRESS`; an IPv6 `ADDRESS` may be written with or
    /// without brackets (`vendor.test:443:[::1]`). curl's `*` host, `+`
    /// prefix and comma-separated address lists are not supported.
    fn from_str(text: &str) -> Result<ResolveOverride, String> {
        let invalid = |reason: &str| format!("invalid resolve override {text:?}: {reason}");
        let mut parts = text.splitn(3, ':');
        let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("expected HOST:PORT:ADDRESS"));
        };
        let host = canonical_host_name(host).map_err(|reason| invalid(&reason))?;
        let digits_only = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        let port = match port.parse::<u16>() {
            Ok(port) if digits_only && port != 0 => port,
            _ => return Err(invalid("PORT is not a number from 1 to 65535")),
        };
        let bare = addr
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(addr);
        let addr = bare
            .parse::<IpAddr>()
            .map_err(|_| invalid("ADDRESS is not an IPv4 or IPv6 address"))?;
        Ok(ResolveOverride { host, port, addr })
    }
}

impl fmt::Display for ResolveOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(addr) => write!(f, "{}:{}:{addr}", self.host, self.port),
            IpAddr::V6(addr) => write!(f, "{}:{}:[{addr}]", self.host, self.port),
        }
    }
}

/// An operator's redirection of one host and port to a socket address, as
/// curl's `--connect-to HOST:PORT:ADDRESS:PORT2` with an IP address as the
/// target. It lets a konnector that hard-codes `https://vendor.example/`
/// reach a local fixture site on any port. The policy still applies to the
/// target address, so a loopback target also needs `allow_private`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectTo {
    /// Canonical host name, lower-case.
    pub host: String,
    /// Port of the URL.
    pub port: u16,
    /// Address and port connected to instead.
    pub target: std::net::SocketAddr,
}

impl FromStr for ConnectTo {
    type Err = String;

    /// Parses `HOST:PORT:ADDRESS:PORT2`, with an IPv6 ADDRESS in brackets.
    fn from_str(text: &str) -> Result<ConnectTo, String> {
        let invalid = |reason: &str| format!("invalid connect-to {text:?}: {reason}");
        let Some((prefix, target_port)) = text.rsplit_once(':') else {
            return Err(invalid("expected HOST:PORT:ADDRESS:PORT2"));
        };
        let pinned: ResolveOverride = prefix.parse().map_err(|_| {
            invalid("expected HOST:PORT:ADDRESS:PORT2 with an IP address as ADDRESS")
        })?;
        let digits_only =
            !target_port.is_empty() && target_port.bytes().all(|b| b.is_ascii_digit());
        let target_port = match target_port.parse::<u16>() {
            Ok(port) if digits_only && port != 0 => port,
            _ => return Err(invalid("PORT2 is not a number from 1 to 65535")),
        };
        Ok(ConnectTo {
            host: pinned.host,
            port: pinned.port,
            target: std::net::SocketAddr::new(pinned.addr, target_port),
        })
    }
}

impl fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.host, self.port, self.target)
    }
}

/// Resolves `host:port`: the operator's overrides for exactly that host and
/// port when there are any, else `resolver`.
pub(crate) async fn resolve_name(
    host: &str,
    port: u16,
    overrides: &[ResolveOverride],
    resolver: &dyn Resolver,
) -> io::Result<Vec<IpAddr>> {
    let pinned: Vec<IpAddr> = overrides
        .iter()
        .filter(|entry| entry.host == host && entry.port == port)
        .map(|entry| entry.addr)
        .collect();
    if !pinned.is_empty() {
        return Ok(pinned);
    }
    resolver.lookup(host, port).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ResolveOverride, String> {
        text.parse()
    }

    #[test]
    fn connect_to_formats() {
        let entry: ConnectTo = "Vendor.Example:443:127.0.0.1:8443".parse().expect("valid");
        assert_eq!(entry.host, "vendor.example");
        assert_eq!(entry.port, 443);
        assert_eq!(entry.target, "127.0.0.1:8443".parse().expect("valid"));
        let v6: ConnectTo = "vendor.example:443:[::1]:8443".parse().expect("valid");
        assert_eq!(v6.target, "[::1]:8443".parse().expect("valid"));
        for bad in [
            "vendor.example:443:127.0.0.1",
            "vendor.example:443:localhost:80",
            "vendor.example:443:127.0.0.1:0",
            "x",
        ] {
            assert!(bad.parse::<ConnectTo>().is_err(), "{bad}");
        }
    }

    #[test]
    fn override_formats() {
        let v4 = parse("Vendor.Test:8443:127.0.0.1").expect("valid");
        assert_eq!(v4.host, "vendor.test");
        assert_eq!(v4.port, 8443);
        assert_eq!(v4.addr, "127.0.0.1".parse::<IpAddr>().expect("valid"));
        assert_eq!(v4.to_string(), "vendor.test:8443:127.0.0.1");

        let v6 = parse("vendor.test:443:[::1]").expect("valid");
        assert_eq!(v6.addr, "::1".parse::<IpAddr>().expect("valid"));
        assert_eq!(v6.to_string(), "vendor.test:443:[::1]");

        let bare_v6 = parse("vendor.test:443:fe80::1").expect("valid");
        assert_eq!(bare_v6.addr, "fe80::1".parse::<IpAddr>().expect("valid"));
    }

    #[test]
    fn invalid_overrides_rejected() {
        for text in [
            "",
            "vendor.test",
            "vendor.test:443",
            "vendor.test:0:127.0.0.1",
            "vendor.test:+443:127.0.0.1",
            "vendor.test:70000:127.0.0.1",
            "vendor.test:443:localhost",
            "vendor.test:443:127.0.0.1,127.0.0.2",
            "vendor.test:443:[::1",
            "*:443:127.0.0.1",
            "127.0.0.1:443:127.0.0.1",
        ] {
            assert!(parse(text).is_err(), "{text:?} parsed");
        }
    }

    #[tokio::test]
    async fn overrides_apply_to_their_port_only() {
        let overrides = vec![parse("vendor.test:8443:127.0.0.1").expect("valid")];
        let resolver =
            StaticResolver::new().with("vendor.test", &["10.0.0.1".parse().expect("ip")]);

        let pinned = resolve_name("vendor.test", 8443, &overrides, &resolver).await;
        assert_eq!(
            pinned.expect("pinned"),
            vec!["127.0.0.1".parse::<IpAddr>().expect("ip")]
        );

        let other_port = resolve_name("vendor.test", 443, &overrides, &resolver).await;
        assert_eq!(
            other_port.expect("resolved"),
            vec!["10.0.0.1".parse::<IpAddr>().expect("ip")]
        );

        let unknown = resolve_name("other.test", 443, &overrides, &resolver).await;
        assert_eq!(
            unknown.expect_err("not in table").kind(),
            io::ErrorKind::NotFound
        );
    }
}
