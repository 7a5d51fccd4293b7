//! Network access for konnectors: the network policy and the per-job HTTP
//! client behind the guest's `http_fetch`.
//!
//! A job gets one [`HttpClient`], built from the manifest's
//! [`NetworkPolicy`], the operator's [`OperatorNetConfig`], the job's
//! [`NetLimits`] and deadline, and a [`Resolver`]. Every request and every
//! redirect hop passes through one function, [`NetGuard::check`], which
//! returns the checked addresses; the client connects to those exact
//! addresses and never hands a host name to anything that resolves it again,
//! so DNS rebinding cannot swap the address after the check.
//!
//! # The rules and where each is enforced
//!
//! | Rule | Where |
//! |---|---|
//! | Only `http` and `https`; no userinfo, backslash or control character in the URL string | [`NetGuard::check`] (`policy.rs`) |
//! | Host names are canonicalised (IDNA, lower case, every IPv4 notation: `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`) | the `url` crate, called once in [`NetGuard::check`] |
//! | The host matches a manifest pattern (default ports unless listed) before any DNS query | [`NetworkPolicy::allows`], [`HostPattern`] (`pattern.rs`) |
//! | Names are resolved by the engine, operator overrides first | [`Resolver`], [`ResolveOverride`] (`resolve.rs`) |
//! | Every resolved address is global unicast, unless the operator's `allow_private` names that exact address and port | [`classify`] (`address.rs`), [`NetGuard::check`] |
//! | The stack's origins are never reachable, not even through `allow_private` | [`NetGuard::check`] |
//! | Redirects: at most [`NetLimits::max_redirects`], each hop checked; `Authorization`, `Cookie` and `Proxy-Authorization` dropped when the origin changes | [`HttpClient::fetch`] (`client.rs`) |
//! | The guest cannot set framing or hop-by-hop headers, nor CR, LF or NUL; header count and size are capped | `headers.rs` |
//! | Connections go only to the checked addresses | `connect.rs` |
//! | Request and response sizes (after decoding), request count, concurrency, timeouts, the job's deadline | [`NetLimits`] (`limits.rs`), enforced in `client.rs` and `decode.rs` |
//! | Cookies live in a jar that belongs to the job | `cookies.rs` |
//!
//! Every refusal is a [`FetchError`] of kind
//! [`FetchErrorKind::RefusedByPolicy`] whose message names the URL and the
//! rule, logged with `tracing::debug!` (the host and the rule, never a
//! header value or a body).
//!
//! # Limitations
//!
//! * HTTP/1.1 only, over TCP; no proxy support.
//! * The cookie jar has no public suffix list, so a vendor may set a cookie
//!   for a whole public suffix; the jar belongs to one job, so such a cookie
//!   only reaches other hosts that the same manifest allows.

mod address;
mod client;
mod connect;
mod cookies;
mod decode;
mod error;
mod headers;
mod limits;
mod pattern;
mod policy;
mod resolve;
mod tls;

pub(crate) use tls::tls_connector;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

pub use address::{AddressClass, classify};
pub use client::{
    DEFAULT_ACCEPT_ENCODING, DEFAULT_USER_AGENT, FetchRequest, FetchResponse, HttpClient,
    NetCounters,
};
pub(crate) use cookies::CookieSetError;
pub use cookies::MAX_JAR_COOKIES;
pub use error::{FetchError, FetchErrorKind, NetConfigError, NetPolicyError};
pub use limits::*;
pub use pattern::{HostPattern, Scheme, canonical_host_name};
pub use policy::{CheckedTarget, NetGuard, NetworkPolicy, OperatorNetConfig};
pub use resolve::{ConnectTo, ResolveOverride, Resolver, StaticResolver, SystemResolver};
