//! Which address a request comes from, for per-client rate limits. The TCP peer, unless that peer is a trusted
//! proxy (an ingress or load balancer named in configuration): then the rightmost address in `X-Forwarded-For`
//! that is not itself a trusted proxy. Addresses a client writes to the left of that are never believed.

use std::net::IpAddr;

/// An address block such as `10.0.0.0/8`, `fd00::/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?}: prefix must be 0-{max}"))?
            }
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (addr, addr_width)) = (bits(self.network), bits(ip.to_canonical()));
        if width != addr_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        if shift >= 128 {
            return true;
        }
        (net >> shift) == (addr >> shift)
    }
}

/// The client address of a request from `peer` carrying `forwarded_for` headers, trusting `proxies`.
pub(crate) fn client_ip(peer: IpAddr, forwarded_for: &http::HeaderMap, proxies: &[Cidr]) -> IpAddr {
    let trusted = |ip: IpAddr| proxies.iter().any(|c| c.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded_for
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter().rev().find(|ip| !trusted(*ip)).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        let ten: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(ten.contains("10.1.2.3".parse().unwrap()));
        assert!(!ten.contains("11.0.0.1".parse().unwrap()));
        assert!(ten.contains("::ffff:10.9.9.9".parse().unwrap()), "IPv4-mapped IPv6 counts as IPv4");
        let one: Cidr = "192.168.1.7".parse().unwrap();
        assert!(one.contains("192.168.1.7".parse().unwrap()) && !one.contains("192.168.1.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "fd00::/129", "nope", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let ingress: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        // From a stranger the header is ignored.
        assert_eq!(client_ip(stranger, &headers(&["1.2.3.4"]), &proxies), stranger);
        // From the ingress: the rightmost untrusted hop; a forged left part changes nothing.
        assert_eq!(
            client_ip(ingress, &headers(&["6.6.6.6, 198.51.100.2"]), &proxies),
            "198.51.100.2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(ingress, &headers(&["198.51.100.2", "10.0.0.9"]), &proxies),
            "198.51.100.2".parse::<IpAddr>().unwrap()
        );
        // Nothing usable: the peer itself.
        assert_eq!(client_ip(ingress, &headers(&["garbage"]), &proxies), ingress);
        assert_eq!(client_ip(ingress, &http::HeaderMap::new(), &[]), ingress);
    }
}
