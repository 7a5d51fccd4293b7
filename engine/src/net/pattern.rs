//! Host patterns of a manifest's `network.hosts`.
//!
//! A pattern is `[SCHEME://]HOST[:PORT]`:
//!
//! * `SCHEME` is `http` or `https`; without it both are allowed.
//! * `HOST` is a host name (`vendor.example`, matched exactly) or a wildcard
//!   `*.vendor.example`, which matches every subdomain at any depth
//!   (`a.vendor.example`, `a.b.vendor.example`) but **not** the apex
//!   `vendor.example`: list both to allow both. A wildcard needs at least two
//!   labels after `*.`, so `*.com` is rejected. Names are compared after
//!   IDNA (Unicode names become `xn--` labels), lower-casing and removing one
//!   trailing dot.
//! * `PORT` is 1 to 65535; without it only the scheme's default port (80 for
//!   `http`, 443 for `https`) is allowed.
//!
//! IP addresses, address ranges, paths, queries, fragments, userinfo, `*`
//! anywhere but a whole first label, whitespace and empty patterns are
//! rejected. A konnector reaches a vendor by name; an operator who needs a
//! name to point at a test server uses a resolve override instead.

use std::fmt;
use std::str::FromStr;

/// Maximum length in bytes of a host name (RFC 1035).
const MAX_HOST_NAME_BYTES: usize = 253;
/// Maximum length in bytes of one label of a host name (RFC 1035).
const MAX_LABEL_BYTES: usize = 63;

/// A URL scheme the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// Parses a scheme name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if name.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }

    /// Returns the scheme's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// Returns the port used when a URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// The host part of a [`HostPattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// Exactly this name.
    Exact(String),
    /// Any name ending in `.` followed by this suffix.
    Subdomains(String),
}

/// One entry of a manifest's `network.hosts`: see the module documentation
/// for the syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<Scheme>,
    host: HostMatch,
    port: Option<u16>,
}

impl HostPattern {
    /// Creates a pattern for `name` and, when `subdomains` is set, a second
    /// one for its subdomains, for both schemes at their default ports.
    pub(crate) fn for_host(name: &str, subdomains: bool) -> Vec<HostPattern> {
        let exact = HostPattern {
            scheme: None,
            host: HostMatch::Exact(name.to_owned()),
            port: None,
        };
        let mut patterns = vec![exact];
        if subdomains {
            patterns.push(HostPattern {
                scheme: None,
                host: HostMatch::Subdomains(name.to_owned()),
                port: None,
            });
        }
        patterns
    }

    /// Tests whether this pattern allows a request to `scheme://host:port`.
    /// `host` must be canonical: see [`canonical_host_name`].
    pub fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        let scheme_matches = self.scheme.is_none_or(|allowed| allowed == scheme);
        let port_matches = port == self.port.unwrap_or(scheme.default_port());
        let host_matches = match &self.host {
            HostMatch::Exact(name) => host == name,
            HostMatch::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|prefix| prefix.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
        };
        scheme_matches && port_matches && host_matches
    }
}

impl FromStr for HostPattern {
    /// The rule the pattern breaks.
    type Err = String;

    fn from_str(text: &str) -> Result<HostPattern, String> {
        if text.is_empty() {
            return Err("the pattern is empty".to_owned());
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("whitespace and control characters are not allowed".to_owned());
        }

        let (scheme, authority) = match text.split_once("://") {
            Some((name, rest)) => match Scheme::from_name(name) {
                Some(scheme) => (Some(scheme), rest),
                None => return Err(format!("scheme {name}:// is not http:// or https://")),
            },
            None => (None, text),
        };
        if authority.contains('@') {
            return Err("userinfo (user@) is not allowed".to_owned());
        }
        if authority.contains(['/', '?', '#', '\\']) {
            return Err("a path, query, fragment or address range is not allowed".to_owned());
        }
        if authority.starts_with('[') || authority.matches(':').count() > 1 {
            return Err("IP addresses are not allowed; name the host".to_owned());
        }

        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(parse_port(port)?)),
            None => (authority, None),
        };
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(name) => (true, name),
            None => (false, host),
        };
        if name.contains('*') {
            return Err(
                "`*` is only allowed as a whole first label, as in *.vendor.example".into(),
            );
        }
        let name = canonical_host_name(name)?;
        if wildcard && !name.contains('.') {
            return Err("a wildcard needs at least two labels after `*.`".to_owned());
        }

        let host = if wildcard {
            HostMatch::Subdomains(name)
        } else {
            HostMatch::Exact(name)
        };
        Ok(HostPattern { scheme, host, port })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.name())?;
        }
        match &self.host {
            HostMatch::Exact(name) => f.write_str(name)?,
            HostMatch::Subdomains(suffix) => write!(f, "*.{suffix}")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    let valid_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u16>() {
        Ok(port) if valid_digits && port != 0 => Ok(port),
        _ => Err(format!("port {text:?} is not a number from 1 to 65535")),
    }
}

/// Canonicalises a host name the way URLs are: IDNA to ASCII, lower case,
/// one trailing dot removed. IP addresses (in any IPv4 notation the WHATWG
/// URL parser accepts) and invalid names are rejected with the reason.
pub fn canonical_host_name(name: &str) -> Result<String, String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("the host name is empty".to_owned());
    }
    let ascii = match url::Host::parse(name) {
        Ok(url::Host::Domain(ascii)) => ascii,
        Ok(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
            return Err("IP addresses are not allowed; name the host".to_owned());
        }
        Err(error) => return Err(format!("invalid host name: {error}")),
    };
    if ascii.len() > MAX_HOST_NAME_BYTES {
        return Err(format!("host name longer than {MAX_HOST_NAME_BYTES} bytes"));
    }
    for label in ascii.split('.') {
        let valid_label = !label.is_empty()
            && label.len() <= MAX_LABEL_BYTES
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_label {
            return Err(format!(
                "invalid host name label {label:?}: labels are 1 to 63 letters, digits, - or _"
            ));
        }
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::Scheme::{Http, Https};
    use super::*;

    fn pattern(text: &str) -> HostPattern {
        text.parse()
            .unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn exact_name_default_ports() {
        let exact = pattern("vendor.example");
        assert!(exact.matches(Https, "vendor.example", 443));
        assert!(exact.matches(Http, "vendor.example", 80));
        assert!(!exact.matches(Https, "vendor.example", 8443));
        assert!(!exact.matches(Http, "vendor.example", 443));
        assert!(!exact.matches(Https, "www.vendor.example", 443));
        assert!(!exact.matches(Https, "evilvendor.example", 443));
    }

    #[test]
    fn wildcard_excludes_apex() {
        let wildcard = pattern("*.vendor.example");
        assert!(wildcard.matches(Https, "a.vendor.example", 443));
        assert!(wildcard.matches(Https, "a.b.vendor.example", 443));
        assert!(!wildcard.matches(Https, "vendor.example", 443));
        assert!(!wildcard.matches(Https, "evilvendor.example", 443));
        assert!(!wildcard.matches(Https, ".vendor.example", 443));
    }

    #[test]
    fn scheme_and_port_restrict() {
        let api = pattern("https://api.vendor.example:8443");
        assert!(api.matches(Https, "api.vendor.example", 8443));
        assert!(!api.matches(Http, "api.vendor.example", 8443));
        assert!(!api.matches(Https, "api.vendor.example", 443));

        let plain = pattern("http://vendor.example");
        assert!(plain.matches(Http, "vendor.example", 80));
        assert!(!plain.matches(Https, "vendor.example", 443));

        let any_scheme = pattern("vendor.example:8080");
        assert!(any_scheme.matches(Http, "vendor.example", 8080));
        assert!(any_scheme.matches(Https, "vendor.example", 8080));
        assert!(!any_scheme.matches(Http, "vendor.example", 80));
    }

    #[test]
    fn names_are_canonicalised() {
        assert_eq!(pattern("Vendor.EXAMPLE.").to_string(), "vendor.example");
        assert_eq!(
            pattern("HTTPS://Bücher.example").to_string(),
            "https://xn--bcher-kva.example"
        );
        assert_eq!(
            pattern("*.Vendor.example:8443").to_string(),
            "*.vendor.example:8443"
        );
    }

    #[test]
    fn invalid_patterns_rejected() {
        let cases = [
            ("", "empty"),
            (" vendor.example", "whitespace"),
            ("vendor.example/login", "path"),
            ("https://vendor.example/", "path"),
            ("vendor.example?a=1", "query"),
            ("vendor.example#top", "fragment"),
            ("user@vendor.example", "userinfo"),
            ("https://user:pw@vendor.example", "userinfo"),
            ("ftp://vendor.example", "scheme"),
            ("*", "first label"),
            ("*.", "empty"),
            ("*.com", "two labels"),
            ("a.*.vendor.example", "first label"),
            ("*vendor.example", "first label"),
            ("vendor.*", "first label"),
            ("**.vendor.example", "first label"),
            ("127.0.0.1", "IP addresses"),
            ("2130706433", "IP addresses"),
            ("0x7f.1", "IP addresses"),
            ("[::1]", "IP addresses"),
            ("::1", "IP addresses"),
            ("10.0.0.0/8", "address range"),
            ("vendor.example:0", "port"),
            ("vendor.example:65536", "port"),
            ("vendor.example:", "port"),
            ("vendor.example:+80", "port"),
            ("vendor..example", "label"),
            ("vendor.example..", "label"),
            ("vendor!.example", "label"),
        ];
        for (text, expected) in cases {
            match text.parse::<HostPattern>() {
                Ok(parsed) => panic!("{text:?} parsed as {parsed}"),
                Err(reason) => assert!(reason.contains(expected), "{text:?}: {reason}"),
            }
        }
    }
}
