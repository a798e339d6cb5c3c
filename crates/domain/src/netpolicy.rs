//! Which network addresses deliveries may go to. Endpoint URLs are the tenant's to choose,
//! so without this a tenant could make Herald call its own internals or a cloud metadata
//! service. The check runs on every address actually connected to, after DNS.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use crate::Error;

/// An address block, `10.0.0.0/8` or `::1/128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(value: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::invalid(
                "allow_private_networks",
                format!("`{value}` is not a CIDR block like 127.0.0.0/8"),
            )
        };
        let (addr, prefix) = match value.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (value, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| invalid())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| invalid())?,
            None => max,
        };
        if prefix > max {
            return Err(invalid());
        }
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why an address is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub ip: IpAddr,
    pub class: &'static str,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blocked by policy: {} is a {} address; to allow it, add it to HERALD_ALLOW_PRIVATE_NETWORKS (e.g. {}/{})",
            self.ip,
            self.class,
            self.ip,
            if self.ip.is_ipv4() { 32 } else { 128 }
        )
    }
}

/// The outbound policy: public addresses only, plus the operator's allow-list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<Cidr>,
}

impl NetworkPolicy {
    /// Reads `HERALD_ALLOW_PRIVATE_NETWORKS`: comma-separated CIDR blocks, or empty.
    pub fn parse(allow_list: &str) -> Result<Self, Error> {
        let allowed = allow_list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Cidr::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        match special_class(ip) {
            Some(class) if !self.allowed.iter().any(|c| c.contains(ip)) => Err(Blocked { ip, class }),
            _ => Ok(()),
        }
    }
}

/// The kind of non-public address `ip` is, if it is one.
pub fn special_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let class = match o {
        [0, ..] => "unspecified (this-network)",
        [127, ..] => "loopback",
        [10, ..] => "private",
        [172, b, ..] if (16..=31).contains(&b) => "private",
        [192, 168, ..] => "private",
        [169, 254, ..] => "link-local (cloud metadata)",
        [100, b, ..] if (64..=127).contains(&b) => "carrier-grade NAT",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking",
        [a, ..] if (224..=239).contains(&a) => "multicast",
        [a, ..] if a >= 240 => "reserved or broadcast",
        _ => return None,
    };
    Some(class)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4_class(v4).unwrap_or("IPv4-mapped IPv6"));
    }
    let first = ip.segments()[0];
    match first {
        f if f & 0xfe00 == 0xfc00 => Some("unique local (IPv6 private)"),
        f if f & 0xffc0 == 0xfe80 => Some("link-local"),
        f if f & 0xff00 == 0xff00 => Some("multicast"),
        0x2001 if ip.segments()[1] == 0x0db8 => Some("documentation"),
        _ if ip.segments()[..6] == [0, 0, 0, 0, 0, 0] => Some("IPv4-compatible IPv6 (deprecated)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_special_range_and_allows_public_ones() {
        let policy = NetworkPolicy::default();
        for blocked in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
        ] {
            let err = policy.check(ip(blocked)).unwrap_err();
            assert!(err.to_string().contains("HERALD_ALLOW_PRIVATE_NETWORKS"), "{err}");
        }
        for allowed in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(policy.check(ip(allowed)), Ok(()), "{allowed}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_blocks() {
        let policy = NetworkPolicy::parse("127.0.0.0/8, ::1/128,10.0.0.5").unwrap();
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::1")), Ok(()));
        assert_eq!(policy.check(ip("10.0.0.5")), Ok(()));
        assert!(policy.check(ip("10.0.0.6")).is_err());
        assert!(policy.check(ip("192.168.0.1")).is_err());
        for bad in ["127.0.0.0/33", "nope", "::1/129", "1.2.3.4/x"] {
            assert!(NetworkPolicy::parse(bad).is_err(), "{bad}");
        }
    }
}
