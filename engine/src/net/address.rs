//! Classification of IP addresses: only global unicast addresses are
//! reachable by a konnector.
//!
//! The ranges come from the IANA IPv4 and IPv6 Special-Purpose Address
//! Registries (RFC 6890 and its updates). Addresses that embed an IPv4
//! address are handled this way:
//!
//! * IPv4-mapped (`::ffff:0:0/96`) and IPv4-compatible (`::/96`) addresses
//!   are refused whatever they embed, because a socket may reach the embedded
//!   IPv4 address through them.
//! * NAT64 (`64:ff9b::/96`) is allowed only when the embedded IPv4 address
//!   is itself global; local-use NAT64 (`64:ff9b:1::/48`) is refused.
//! * 6to4 (`2002::/16`, and the relay anycast `192.88.99.0/24`) and Teredo
//!   (`2001::/32`) are refused whatever they embed: both are deprecated, no
//!   vendor site needs them, and Teredo hides its IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The special-purpose range an address belongs to, or [`Global`].
///
/// [`Global`]: AddressClass::Global
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// A global unicast address: the only class a konnector may reach.
    Global,
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// `0.0.0.0/8` other than `0.0.0.0`.
    ThisNetwork,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12` or `192.168.0.0/16`.
    Private,
    /// `100.64.0.0/10`, used by carrier-grade NAT.
    SharedAddressSpace,
    /// `169.254.0.0/16` (which contains cloud metadata services such as
    /// `169.254.169.254`) or `fe80::/10`.
    LinkLocal,
    /// `192.0.0.0/24` or `2001::/23` outside Teredo and benchmarking.
    ProtocolAssignment,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`
    /// or `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15` or `2001:2::/48`.
    Benchmarking,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4` other than the broadcast address.
    Reserved,
    /// IPv6 unique local addresses, `fc00::/7`.
    UniqueLocal,
    /// Deprecated IPv6 site-local addresses, `fec0::/10`.
    SiteLocal,
    /// IPv4-mapped IPv6 addresses, `::ffff:0:0/96`.
    Ipv4Mapped,
    /// Deprecated IPv4-compatible IPv6 addresses, `::/96`.
    Ipv4Compatible,
    /// NAT64 `64:ff9b::/96` embedding an IPv4 address that is not global.
    Nat64NotGlobal,
    /// Local-use NAT64, `64:ff9b:1::/48`.
    Nat64LocalUse,
    /// 6to4: `2002::/16` or the relay anycast `192.88.99.0/24`.
    SixToFour,
    /// Teredo, `2001::/32`.
    Teredo,
    /// Discard-only prefix, `100::/64`.
    Discard,
    /// Any other IPv6 address outside global unicast `2000::/3`.
    NotGlobalUnicast,
}

impl AddressClass {
    /// Returns whether a konnector may reach addresses of this class.
    pub fn is_global(self) -> bool {
        self == AddressClass::Global
    }

    /// Describes the class, to complete "address X is …".
    pub fn description(self) -> &'static str {
        match self {
            AddressClass::Global => "global unicast",
            AddressClass::Unspecified => "unspecified",
            AddressClass::ThisNetwork => "in 0.0.0.0/8 (this network)",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::SharedAddressSpace => "carrier-grade NAT shared address space",
            AddressClass::LinkLocal => "link-local",
            AddressClass::ProtocolAssignment => "reserved for IETF protocol assignments",
            AddressClass::Documentation => "reserved for documentation",
            AddressClass::Benchmarking => "reserved for benchmarking",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Reserved => "reserved (240.0.0.0/4)",
            AddressClass::UniqueLocal => "IPv6 unique local",
            AddressClass::SiteLocal => "IPv6 site-local",
            AddressClass::Ipv4Mapped => "IPv4-mapped IPv6",
            AddressClass::Ipv4Compatible => "IPv4-compatible IPv6",
            AddressClass::Nat64NotGlobal => "NAT64 with a non-global embedded IPv4 address",
            AddressClass::Nat64LocalUse => "local-use NAT64",
            AddressClass::SixToFour => "6to4",
            AddressClass::Teredo => "Teredo",
            AddressClass::Discard => "discard-only",
            AddressClass::NotGlobalUnicast => "outside IPv6 global unicast 2000::/3",
        }
    }
}

/// Classifies `ip`.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Tests whether `addr` is in `prefix/len`.
fn in_v4(addr: Ipv4Addr, prefix: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(addr) & mask == u32::from(Ipv4Addr::from(prefix)) & mask
}

/// Tests whether `addr` is in `prefix/len`.
fn in_v6(addr: Ipv6Addr, prefix: Ipv6Addr, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(addr) & mask == u128::from(prefix) & mask
}

fn classify_v4(addr: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    const RANGES: &[([u8; 4], u32, AddressClass)] = &[
        ([0, 0, 0, 0], 32, Unspecified),
        ([0, 0, 0, 0], 8, ThisNetwork),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedAddressSpace),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, ProtocolAssignment),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, SixToFour),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Broadcast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    RANGES
        .iter()
        .find(|(prefix, len, _)| in_v4(addr, *prefix, *len))
        .map_or(Global, |(_, _, class)| *class)
}

fn classify_v6(addr: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if addr.is_unspecified() {
        return Unspecified;
    }
    if addr.is_loopback() {
        return Loopback;
    }
    // Checked before the table because the class depends on the embedded
    // IPv4 address, the last 32 bits.
    if in_v6(addr, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        let [.., a, b, c, d] = addr.octets();
        return match classify_v4(Ipv4Addr::new(a, b, c, d)) {
            Global => Global,
            _ => Nat64NotGlobal,
        };
    }
    const RANGES: &[(Ipv6Addr, u32, AddressClass)] = &[
        (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, Ipv4Mapped),
        (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, Ipv4Compatible),
        (
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
            48,
            Nat64LocalUse,
        ),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Discard),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, LinkLocal),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, SiteLocal),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, UniqueLocal),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Multicast),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Teredo),
        (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, Benchmarking),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            Documentation,
        ),
        (
            Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
            23,
            ProtocolAssignment,
        ),
        (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, SixToFour),
        (
            Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
            20,
            Documentation,
        ),
        (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3, Global),
    ];
    RANGES
        .iter()
        .find(|(prefix, len, _)| in_v6(addr, *prefix, *len))
        .map_or(NotGlobalUnicast, |(_, _, class)| *class)
}

#[cfg(test)]
mod tests {
    use super::AddressClass::*;
    use super::*;

    fn class_of(text: &str) -> AddressClass {
        classify(text.parse().expect("valid IP address"))
    }

    #[test]
    fn ipv4_special_ranges() {
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", ThisNetwork),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.169.254", LinkLocal),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.0.0.8", ProtocolAssignment),
            ("192.0.2.1", Documentation),
            ("192.88.99.1", SixToFour),
            ("192.168.1.1", Private),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("224.0.0.1", Multicast),
            ("239.255.255.255", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Broadcast),
        ];
        for (text, expected) in cases {
            assert_eq!(class_of(text), expected, "{text}");
        }
    }

    #[test]
    fn ipv4_global_neighbours() {
        for text in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(class_of(text), Global, "{text}");
        }
    }

    #[test]
    fn ipv6_special_ranges() {
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Ipv4Mapped),
            ("::ffff:169.254.169.254", Ipv4Mapped),
            ("::ffff:8.8.8.8", Ipv4Mapped),
            ("::127.0.0.1", Ipv4Compatible),
            ("::8.8.8.8", Ipv4Compatible),
            ("64:ff9b::127.0.0.1", Nat64NotGlobal),
            ("64:ff9b::a9fe:a9fe", Nat64NotGlobal),
            ("64:ff9b:1::1", Nat64LocalUse),
            ("100::1", Discard),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", SiteLocal),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("2001::1", Teredo),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Teredo),
            ("2001:2::1", Benchmarking),
            ("2001:db8::1", Documentation),
            ("2001:10::1", ProtocolAssignment),
            ("2002:7f00:1::1", SixToFour),
            ("3fff::1", Documentation),
            ("5f00::1", NotGlobalUnicast),
            ("1::1", NotGlobalUnicast),
        ];
        for (text, expected) in cases {
            assert_eq!(class_of(text), expected, "{text}");
        }
    }

    #[test]
    fn ipv6_global_addresses() {
        for text in [
            "2606:4700::1111",
            "2a00:1450:4007:80e::200e",
            "2001:200::1",
            "64:ff9b::808:808",
            "3fff:1000::1",
        ] {
            assert_eq!(class_of(text), Global, "{text}");
        }
    }
}
