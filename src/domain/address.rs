//! Where a request comes from, as every per-address limit and ban counts it.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
};

/// A client address, grouped as abuse limits need it: an IPv4 address as is (an IPv4-mapped
/// IPv6 address counts as its IPv4 address), an IPv6 address by its /64, since one
/// subscriber usually gets a whole /64 and could otherwise take a fresh address per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    pub fn new(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }

    pub fn ip(self) -> IpAddr {
        self.0
    }
}

impl fmt::Display for ClientAddress {
    /// `203.0.113.9`, or `2001:db8:1:2::/64`: also the form bans are stored in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a = ClientAddress::new("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientAddress::new("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = ClientAddress::new("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        let mapped = ClientAddress::new("::ffff:203.0.113.9".parse().unwrap());
        assert_eq!(mapped, ClientAddress::new("203.0.113.9".parse().unwrap()));
        assert_eq!(mapped.to_string(), "203.0.113.9");
    }
}
