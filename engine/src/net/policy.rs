//! The network policy and the one function that checks every request and
//! every redirect hop: [`NetGuard::check`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::OnceCell;
use url::Url;

use super::address::classify;
use super::error::{FetchError, FetchErrorKind, NetPolicyError};
use super::pattern::{HostPattern, Scheme, canonical_host_name};
use super::resolve::{ConnectTo, ResolveOverride, Resolver, resolve_name};

/// The hosts a konnector may reach, from its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    patterns: Vec<HostPattern>,
}

impl NetworkPolicy {
    /// Reads the policy from a whole manifest.
    ///
    /// With a `network` field, `network.hosts` lists the host patterns (see
    /// [`HostPattern`]); an empty list denies every request. Without it, the
    /// policy allows the host of `vendor_link` and its subdomains, over http
    /// and https on the default ports; without either field it denies every
    /// request.
    ///
    /// NOTE: the default does not allow sibling hosts: with `vendor_link`
    /// `https://www.vendor.example`, `login.vendor.example` is refused, and
    /// such a konnector needs `network.hosts`.
    ///
    /// # Errors
    ///
    /// [`NetPolicyError`] names the invalid entry of `network.hosts` and its
    /// index, or the `vendor_link` that gives no host name.
    pub fn from_manifest(raw: &Value) -> Result<NetworkPolicy, NetPolicyError> {
        match raw.get("network") {
            Some(network) => NetworkPolicy::from_network_field(network),
            None => NetworkPolicy::from_vendor_link(raw.get("vendor_link")),
        }
    }

    /// Creates a policy that refuses every request.
    pub fn deny_all() -> NetworkPolicy {
        NetworkPolicy {
            patterns: Vec::new(),
        }
    }

    /// Returns the host patterns, in manifest order.
    pub fn patterns(&self) -> &[HostPattern] {
        &self.patterns
    }

    /// Whether some pattern allows `scheme://host:port`; `host` must be
    /// canonical (see [`canonical_host_name`]).
    pub fn allows(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.patterns
            .iter()
            .any(|pattern| pattern.matches(scheme, host, port))
    }

    fn from_network_field(network: &Value) -> Result<NetworkPolicy, NetPolicyError> {
        let hosts = network
            .get("hosts")
            .and_then(Value::as_array)
            .ok_or(NetPolicyError::InvalidNetworkField)?;
        let mut patterns = Vec::with_capacity(hosts.len());
        for (index, entry) in hosts.iter().enumerate() {
            let invalid = |reason: String| NetPolicyError::InvalidPattern {
                index,
                pattern: entry.to_string(),
                reason,
            };
            let text = entry
                .as_str()
                .ok_or_else(|| invalid("not a string".to_owned()))?;
            patterns.push(text.parse().map_err(invalid)?);
        }
        Ok(NetworkPolicy { patterns })
    }

    fn from_vendor_link(vendor_link: Option<&Value>) -> Result<NetworkPolicy, NetPolicyError> {
        let Some(value) = vendor_link.filter(|value| !value.is_null()) else {
            return Ok(NetworkPolicy::deny_all());
        };
        let invalid = |reason: String| NetPolicyError::InvalidVendorLink {
            value: value.to_string(),
            reason,
        };
        let text = value
            .as_str()
            .ok_or_else(|| invalid("not a string".to_owned()))?
            .trim();
        // Some manifests give a bare host name such as `www.vendor.example`.
        let absolute = match text.contains("://") {
            true => text.to_owned(),
            false => format!("https://{text}"),
        };
        let url = Url::parse(&absolute).map_err(|error| invalid(error.to_string()))?;
        if Scheme::from_name(url.scheme()).is_none() {
            return Err(invalid(format!(
                "scheme {}: is not http or https",
                url.scheme()
            )));
        }
        let host = url.host_str().unwrap_or("");
        let name = canonical_host_name(host).map_err(invalid)?;
        Ok(NetworkPolicy {
            patterns: HostPattern::for_host(&name, true),
        })
    }
}

/// Network settings only the operator can give, never a manifest.
#[derive(Debug, Clone, Default)]
pub struct OperatorNetConfig {
    /// Resolve overrides, curl's `--resolve HOST:PORT:ADDRESS`. The policy
    /// still applies to the addresses they give.
    pub resolve: Vec<ResolveOverride>,
    /// Connection redirections, curl's `--connect-to HOST:PORT:ADDRESS:PORT2`.
    /// The policy still applies to the target address.
    pub connect_to: Vec<ConnectTo>,
    /// Loopback or private `ADDRESS:PORT` pairs a konnector may reach, for
    /// local testing and private vendors. Each entry allows that exact
    /// address and port only (`127.0.0.1:8080` does not allow
    /// `[::ffff:127.0.0.1]:8080`). Unspecified, multicast and broadcast
    /// addresses are rejected when the client is created.
    pub allow_private: Vec<SocketAddr>,
    /// PEM files of extra CA certificates trusted for https, besides the
    /// Mozilla roots of `webpki-roots`.
    pub ca_files: Vec<PathBuf>,
    /// The Cozy stack's host names or addresses and ports. A request to one
    /// of them, by name or by any address the name resolves to, is refused,
    /// even when `allow_private` lists it.
    ///
    /// NOTE: list every address the stack listens on. A stack bound to
    /// `0.0.0.0` also listens on the machine's public addresses, which are
    /// global unicast and pass the address check.
    pub stack_origins: Vec<(String, u16)>,
}

/// A URL that passed the policy, with the addresses to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTarget {
    /// The parsed URL; its host is canonical.
    pub url: Url,
    /// Its scheme.
    pub scheme: Scheme,
    /// Canonical host: a lower-case ASCII name without trailing dot, or an IP
    /// address without brackets.
    pub host: String,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// Every address the host resolved to, each one checked; the client
    /// connects to these and never resolves the name again.
    pub addrs: Vec<SocketAddr>,
}

impl CheckedTarget {
    /// Returns the target's origin: scheme, host and port.
    pub fn origin(&self) -> (Scheme, &str, u16) {
        (self.scheme, &self.host, self.port)
    }
}

/// A job's network policy with the operator's settings and the resolver.
/// [`NetGuard::check`] is the one policy function.
pub struct NetGuard {
    policy: NetworkPolicy,
    operator: Arc<OperatorNetConfig>,
    resolver: Arc<dyn Resolver>,
    /// Addresses of `operator.stack_origins`, resolved on first use.
    stack_addrs: OnceCell<Vec<SocketAddr>>,
    refused: AtomicU64,
}

impl NetGuard {
    /// Creates the guard of one job.
    pub fn new(
        policy: NetworkPolicy,
        operator: Arc<OperatorNetConfig>,
        resolver: Arc<dyn Resolver>,
    ) -> NetGuard {
        NetGuard {
            policy,
            operator,
            resolver,
            stack_addrs: OnceCell::new(),
            refused: AtomicU64::new(0),
        }
    }

    /// Returns the operator's settings.
    pub fn operator(&self) -> &OperatorNetConfig {
        &self.operator
    }

    /// Number of requests refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Checks `raw_url` (absolute, or relative to `base` for a redirect's
    /// `Location`) and returns the addresses the request may go to.
    ///
    /// In order: the guest's string has no control character or backslash;
    /// it parses as a WHATWG URL (IDNA and every IPv4 notation are
    /// canonicalised here) with scheme http or https and no userinfo; it is
    /// not a stack origin; an IP literal must be a global address (or an
    /// `allow_private` entry) and is then refused anyway, because patterns
    /// name hosts; a name must match a manifest pattern *before* it is
    /// resolved, and every address it resolves to (overrides first) must be
    /// global or an `allow_private` entry, and no stack address. One refused
    /// address refuses the request, so a DNS answer that mixes public and
    /// private addresses is never half-used.
    ///
    /// This function sends nothing but DNS queries for names the manifest
    /// allows and, on its first call, for the operator's stack origins. Each
    /// refusal is logged at debug level with the host and the rule.
    pub async fn check(
        &self,
        raw_url: &str,
        base: Option<&Url>,
    ) -> Result<CheckedTarget, FetchError> {
        let result = self.check_unlogged(raw_url, base).await;
        if let Err(error) = &result
            && error.kind() == FetchErrorKind::RefusedByPolicy
        {
            self.refused.fetch_add(1, Ordering::Relaxed);
            let parsed = match base {
                Some(base) => base.join(raw_url),
                None => Url::parse(raw_url),
            };
            let host = parsed
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_default();
            tracing::debug!(
                host,
                rule = error.reason(),
                "request refused by the network policy"
            );
        }
        result
    }

    async fn check_unlogged(
        &self,
        raw: &str,
        base: Option<&Url>,
    ) -> Result<CheckedTarget, FetchError> {
        let refuse = |reason: String| FetchError::new(FetchErrorKind::RefusedByPolicy, raw, reason);
        let url = parse_guest_url(raw, base)?;
        let scheme = Scheme::from_name(url.scheme()).ok_or_else(|| {
            refuse(format!(
                "scheme {}: is not allowed, only http and https",
                url.scheme()
            ))
        })?;
        let port = url.port().unwrap_or(scheme.default_port());
        let (host, literal) = match url.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.strip_suffix('.').unwrap_or(name).to_owned();
                (name, None)
            }
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), Some(IpAddr::V4(ip))),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), Some(IpAddr::V6(ip))),
            None => {
                return Err(FetchError::new(
                    FetchErrorKind::InvalidRequest,
                    raw,
                    "the URL has no host",
                ));
            }
        };

        if self.is_stack_name(&host, port) {
            return Err(refuse(format!(
                "{host}:{port} is the Cozy stack, which konnectors may never reach"
            )));
        }

        let ips = match literal {
            Some(ip) => {
                self.check_address(raw, None, SocketAddr::new(ip, port))
                    .await?;
                return Err(refuse(format!(
                    "host {host} is an IP address, and the manifest's network.hosts only allows host names"
                )));
            }
            None => {
                if !self.policy.allows(scheme, &host, port) {
                    return Err(refuse(format!(
                        "{}://{host}:{port} is not allowed by the manifest's network policy (its network.hosts, else the host of its vendor_link); list it in network.hosts",
                        scheme.name()
                    )));
                }
                let redirected = self
                    .operator
                    .connect_to
                    .iter()
                    .find(|entry| entry.host == host && entry.port == port);
                if let Some(entry) = redirected {
                    self.check_address(raw, Some(&host), entry.target).await?;
                    return Ok(CheckedTarget {
                        url,
                        scheme,
                        host,
                        port,
                        addrs: vec![entry.target],
                    });
                }
                self.resolve(raw, &host, port).await?
            }
        };

        let mut addrs = Vec::with_capacity(ips.len());
        for ip in ips {
            let addr = SocketAddr::new(ip, port);
            self.check_address(raw, Some(&host), addr).await?;
            addrs.push(addr);
        }
        Ok(CheckedTarget {
            url,
            scheme,
            host,
            port,
            addrs,
        })
    }

    async fn resolve(&self, raw: &str, host: &str, port: u16) -> Result<Vec<IpAddr>, FetchError> {
        let failed = |reason: String| FetchError::new(FetchErrorKind::ConnectFailed, raw, reason);
        match resolve_name(host, port, &self.operator.resolve, self.resolver.as_ref()).await {
            Ok(ips) if ips.is_empty() => {
                Err(failed(format!("failed to resolve {host}: no address")))
            }
            Ok(ips) => Ok(ips),
            Err(error) => Err(failed(format!("failed to resolve {host}: {error}"))),
        }
    }

    /// Checks one address: never a stack address, and global unless
    /// `allow_private` lists it. `name` is the host name it came from.
    async fn check_address(
        &self,
        raw: &str,
        name: Option<&str>,
        addr: SocketAddr,
    ) -> Result<(), FetchError> {
        let refuse = |reason: String| FetchError::new(FetchErrorKind::RefusedByPolicy, raw, reason);
        let ip = addr.ip();
        let canonical = ip.to_canonical();
        let is_stack = self
            .stack_addresses()
            .await
            .iter()
            .any(|stack| stack.port() == addr.port() && stack.ip().to_canonical() == canonical);
        if is_stack {
            return Err(refuse(format!(
                "address {addr} is the Cozy stack, which konnectors may never reach"
            )));
        }
        if self.operator.allow_private.contains(&addr) {
            return Ok(());
        }
        let class = classify(ip);
        if class.is_global() {
            return Ok(());
        }
        let description = class.description();
        Err(refuse(match name {
            Some(name) => format!(
                "{name} resolves to {ip}, which is {description}, not a global unicast address; only the operator can allow one such address and port ({addr}), with --allow-private"
            ),
            None => format!(
                "address {ip} is {description}, not a global unicast address; only the operator can allow one such address and port ({addr}), with --allow-private"
            ),
        }))
    }

    fn is_stack_name(&self, host: &str, port: u16) -> bool {
        self.operator
            .stack_origins
            .iter()
            .any(|(stack_host, stack_port)| {
                *stack_port == port && normalize_stack_host(stack_host) == host
            })
    }

    async fn stack_addresses(&self) -> &[SocketAddr] {
        self.stack_addrs
            .get_or_init(|| async {
                let mut addrs = Vec::new();
                for (host, port) in &self.operator.stack_origins {
                    let host = normalize_stack_host(host);
                    if let Ok(ip) = host.parse::<IpAddr>() {
                        addrs.push(SocketAddr::new(ip, *port));
                        continue;
                    }
                    match resolve_name(&host, *port, &self.operator.resolve, self.resolver.as_ref())
                        .await
                    {
                        Ok(ips) => {
                            addrs.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, *port)))
                        }
                        // Requests to this name are still refused by name.
                        Err(error) => {
                            tracing::debug!(host, %error, "failed to resolve a stack origin")
                        }
                    }
                }
                addrs
            })
            .await
    }
}

/// Lower case, without brackets or one trailing dot, as URL hosts are kept.
fn normalize_stack_host(host: &str) -> String {
    let host = host.strip_suffix('.').unwrap_or(host);
    let host = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => canonical_host_name(host).unwrap_or_else(|_| host.to_ascii_lowercase()),
    }
}

/// Parses the guest's URL string (or a `Location` relative to `base`),
/// rejecting what URL parsers disagree on or use to hide a host.
fn parse_guest_url(raw: &str, base: Option<&Url>) -> Result<Url, FetchError> {
    let refuse = |reason: String| FetchError::new(FetchErrorKind::RefusedByPolicy, raw, reason);
    if let Some(control) = raw.chars().find(|c| c.is_control()) {
        // The WHATWG parser silently drops tabs and newlines, so the URL
        // would not be the one the konnector's author reads.
        return Err(refuse(format!(
            "the URL contains the control character {:?}",
            control
        )));
    }
    if raw.contains('\\') {
        return Err(refuse(
            "the URL contains a backslash, which URL parsers read in different ways".to_owned(),
        ));
    }
    let parsed = match base {
        Some(base) => base.join(raw),
        None => Url::parse(raw),
    };
    let url = parsed.map_err(|error| {
        FetchError::new(
            FetchErrorKind::InvalidRequest,
            raw,
            format!("invalid URL: {error}"),
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "the URL contains userinfo (user:password@)".to_owned(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
