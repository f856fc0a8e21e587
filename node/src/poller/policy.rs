//! The address policy: which resolved addresses a poll (or any connection to a tenant-given
//! target) may connect to. Pure; the dial path is its only caller.
//!
//! Refused unless allowed by the operator: loopback, RFC 1918, link-local (cloud metadata),
//! shared address space, "this network", reserved, multicast, broadcast, IPv6 loopback,
//! unspecified, unique-local, link-local and multicast, and every IPv6 form that embeds an IPv4
//! address (mapped, compatible, NAT64, 6to4, Teredo) when the embedded address is refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A network in CIDR notation, e.g. `10.1.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` (a bare address is a /32 or /128); `None` when malformed.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Cidr { net: addr, prefix })
    }

    /// Whether `ip` lies in this network (IPv4 networks match only IPv4 addresses).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(n.to_bits()) << 96,
                u128::from(a.to_bits()) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(n.to_bits(), a.to_bits(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    prefix == 0 || (a ^ b) >> (128 - u32::from(prefix)) == 0
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub addr: IpAddr,
    /// The rule, e.g. "link-local" or "6to4 form of a loopback address".
    pub rule: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "target refused by policy: {} is {}",
            self.addr, self.rule
        )
    }
}

/// The operator's policy for outbound connections to tenant-given targets.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Allow every address the rules would refuse (`--allow-private-targets`).
    pub allow_private: bool,
    /// Networks allowed although a rule refuses them (`--allow-targets`).
    pub allow: Vec<Cidr>,
}

impl AddressPolicy {
    /// Builds the policy from the operator's settings; malformed CIDRs were refused by config
    /// validation and are skipped here.
    pub fn new(allow_private: bool, allow: &[String]) -> AddressPolicy {
        AddressPolicy {
            allow_private,
            allow: allow.iter().filter_map(|c| Cidr::parse(c)).collect(),
        }
    }

    /// Whether a connection to `addr` may be made.
    pub fn check(&self, addr: IpAddr) -> Result<(), Refused> {
        let Some(rule) = refused_rule(addr) else {
            return Ok(());
        };
        let embedded = embedded_v4(addr).map(IpAddr::V4);
        let allowed = self.allow_private
            || self
                .allow
                .iter()
                .any(|c| c.contains(addr) || embedded.is_some_and(|e| c.contains(e)));
        if allowed {
            Ok(())
        } else {
            Err(Refused { addr, rule })
        }
    }
}

/// The rule that refuses `addr`, if any.
pub fn refused_rule(addr: IpAddr) -> Option<String> {
    match addr {
        IpAddr::V4(a) => v4_rule(a).map(str::to_string),
        IpAddr::V6(a) => v6_rule(a),
    }
}

fn v4_rule(a: Ipv4Addr) -> Option<&'static str> {
    let [o0, o1, ..] = a.octets();
    let rule = match (o0, o1) {
        (0, _) => "in 0.0.0.0/8 (this network)",
        (10, _) => "private (RFC 1918)",
        (100, 64..=127) => "shared address space (100.64.0.0/10)",
        (127, _) => "loopback",
        (169, 254) => "link-local",
        (172, 16..=31) => "private (RFC 1918)",
        (192, 168) => "private (RFC 1918)",
        (224..=239, _) => "multicast",
        _ if a == Ipv4Addr::BROADCAST => "broadcast",
        (240..=255, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    };
    Some(rule)
}

fn v6_rule(a: Ipv6Addr) -> Option<String> {
    if let Some((form, v4)) = embedded_v4_form(a) {
        return v4_rule(v4).map(|r| format!("{form} form of {v4}, which is {r}"));
    }
    let seg0 = a.segments()[0];
    let rule = if a == Ipv6Addr::LOCALHOST {
        "loopback"
    } else if a == Ipv6Addr::UNSPECIFIED {
        "unspecified"
    } else if seg0 & 0xfe00 == 0xfc00 {
        "unique-local (fc00::/7)"
    } else if seg0 & 0xffc0 == 0xfe80 {
        "link-local"
    } else if seg0 & 0xff00 == 0xff00 {
        "multicast"
    } else {
        return None;
    };
    Some(rule.to_string())
}

/// The IPv4 address an IPv6 address carries, if it is one of the embedding forms.
fn embedded_v4(addr: IpAddr) -> Option<Ipv4Addr> {
    match addr {
        IpAddr::V6(a) => embedded_v4_form(a).map(|(_, v4)| v4),
        IpAddr::V4(_) => None,
    }
}

fn embedded_v4_form(a: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let bits = a.to_bits();
    let low32 = Ipv4Addr::from_bits(bits as u32);
    let s = a.segments();
    if bits >> 32 == 0xffff {
        return Some(("IPv4-mapped", low32));
    }
    // ::a.b.c.d, but not :: and ::1, which are their own rules.
    if bits >> 32 == 0 && bits > 1 {
        return Some(("IPv4-compatible", low32));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (bits >> 32) & 0xffff_ffff_ffff_ffff == 0 {
        return Some(("NAT64", low32));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some(("local NAT64", low32));
    }
    if s[0] == 0x2002 {
        return Some(("6to4", Ipv4Addr::from_bits((bits >> 80) as u32)));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        // Teredo: the client's address is stored inverted in the low 32 bits.
        return Some(("Teredo", Ipv4Addr::from_bits(!(bits as u32))));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn every_listed_range_is_refused_and_public_addresses_pass() {
        let refused = [
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "RFC 1918"),
            ("172.16.0.1", "RFC 1918"),
            ("172.31.255.255", "RFC 1918"),
            ("192.168.1.1", "RFC 1918"),
            ("100.64.0.1", "shared address space"),
            ("100.127.255.254", "shared address space"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique-local"),
            ("fd12:3456::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("ff02::1", "multicast"),
            (
                "::ffff:127.0.0.1",
                "IPv4-mapped form of 127.0.0.1, which is loopback",
            ),
            (
                "::ffff:169.254.169.254",
                "IPv4-mapped form of 169.254.169.254",
            ),
            ("::10.0.0.1", "IPv4-compatible form of 10.0.0.1"),
            ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254"),
            ("64:ff9b:1::7f00:1", "local NAT64 form of 127.0.0.1"),
            ("2002:7f00:0001::", "6to4 form of 127.0.0.1"),
            ("2002:c0a8:0101::1", "6to4 form of 192.168.1.1"),
            // Teredo client 127.0.0.1 is stored as its complement 80ff:fffe.
            (
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                "Teredo form of 127.0.0.1",
            ),
        ];
        let policy = AddressPolicy::default();
        for (addr, rule) in refused {
            let e = policy.check(ip(addr)).expect_err(addr);
            assert!(e.rule.contains(rule), "{addr}: {}", e.rule);
            assert!(e.to_string().starts_with("target refused by policy: "));
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.1.1",
            "169.253.1.1",
            "223.255.255.255",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ];
        for addr in public {
            assert_eq!(policy.check(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn the_operator_can_allow_private_targets_or_networks() {
        let all = AddressPolicy::new(true, &[]);
        assert!(all.check(ip("127.0.0.1")).is_ok());
        assert!(all.check(ip("169.254.169.254")).is_ok());
        let some = AddressPolicy::new(false, &["10.1.0.0/16".into(), "fd00::/8".into()]);
        assert!(some.check(ip("10.1.2.3")).is_ok());
        assert!(some.check(ip("::ffff:10.1.2.3")).is_ok(), "embedded form");
        assert!(some.check(ip("2002:0a01:0203::")).is_ok(), "6to4 form");
        assert!(some.check(ip("fd00::5")).is_ok());
        assert!(some.check(ip("10.2.0.1")).is_err());
        assert!(some.check(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn cidrs_parse_and_match() {
        assert!(Cidr::parse("10.0.0.0/8").is_some());
        assert!(Cidr::parse("10.0.0.1").is_some());
        assert!(Cidr::parse("::/0").is_some());
        for bad in ["10.0.0.0/33", "fd00::/129", "x/8", "10.0.0.0/", ""] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
        let c = Cidr::parse("192.168.0.0/23").expect("cidr");
        assert!(c.contains(ip("192.168.1.255")));
        assert!(!c.contains(ip("192.168.2.0")));
        assert!(!c.contains(ip("::ffff:192.168.1.1")), "families do not mix");
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("any")
                .contains(ip("1.2.3.4"))
        );
    }
}
