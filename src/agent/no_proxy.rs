//! curl's `NO_PROXY` rules: which hosts are reached directly although a proxy is set.

use std::net::IpAddr;

/// curl's `NO_PROXY` rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NoProxy {
    all: bool,
    names: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut rules = NoProxy::default();
        for entry in list.split([',', ' ', '\t']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                rules.all = true;
                continue;
            }
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, b.parse::<u8>().ok()),
                None => (entry, None),
            };
            let bare = addr.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>() {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                rules.nets.push((ip, bits.unwrap_or(max).min(max)));
                continue;
            }
            let name = entry
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.');
            if !name.is_empty() {
                rules.names.push(name.to_ascii_lowercase());
            }
        }
        rules
    }

    /// Whether `host` (a name, an IP address, or a bracketed IPv6 address) is reached directly.
    pub(crate) fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.nets.iter().any(|&(net, bits)| in_net(ip, net, bits));
        }
        let host = bare.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|n| {
            host == *n
                || (host.len() > n.len()
                    && host.ends_with(n.as_str())
                    && host.as_bytes()[host.len() - n.len() - 1] == b'.')
        })
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
        let whole = usize::from(bits / 8);
        let rest = bits % 8;
        a[..whole] == b[..whole]
            && (rest == 0 || (a[whole] ^ b[whole]) & (0xffu8 << (8 - rest)) == 0)
    }
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => prefix_eq(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(b)) => prefix_eq(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_net(a.into(), net, bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matches_hosts_suffixes_and_cidrs_as_curl_does() {
        let np = NoProxy::parse(
            "localhost, .internal,example.com ,10.0.0.0/8,[::1],fd00::/8,192.168.1.7",
        );
        for yes in [
            "localhost",
            "LOCALHOST",
            "a.internal",
            "internal",
            "example.com",
            "www.example.com",
            "example.com.",
            "10.1.2.3",
            "[::1]",
            "[fd12::1]",
            "192.168.1.7",
            "[::ffff:10.9.9.9]",
        ] {
            assert!(np.matches(yes), "{yes} should bypass the proxy");
        }
        for no in [
            "notexample.com",
            "example.com.evil",
            "localhost2",
            "11.0.0.1",
            "192.168.1.8",
            "[::2]",
            "[fe80::1]",
        ] {
            assert!(!np.matches(no), "{no} should use the proxy");
        }
        assert!(NoProxy::parse("*").matches("anything.at.all"));
        assert!(!NoProxy::parse("").matches("localhost"));
        let odd = NoProxy::parse("10.0.0.0/99,1.2.3.4/0x");
        assert!(odd.matches("10.0.0.0") && !odd.matches("10.0.0.1") && odd.matches("1.2.3.4"));
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8"));
    }
}
