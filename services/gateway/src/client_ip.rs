//! Which address a request comes from, for per-client rate limits. The TCP peer, unless that peer is a trusted
//! proxy (an ingress or load balancer named in configuration): then the rightmost address in `X-Forwarded-For`
//! that is not itself a trusted proxy. Addresses a client writes to the left of that are never believed.

use std::net::IpAddr;

pub use switchboard_mesh::net::Cidr;

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
