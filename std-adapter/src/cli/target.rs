//! Where the command connects: `--server`, or the JID's domain through DNS
//! SRV (RFC 6120 §3.2.1, XEP-0368 §3).

use crate::srv::{self, SrvRecord, Target};

/// The XMPP client port (RFC 6120 §3.2.1, no SRV record).
pub(crate) const DEFAULT_PORT: u16 = srv::DEFAULT_PORT;
/// The port commonly used for direct TLS when no `_xmpps-client` SRV record
/// says otherwise (XEP-0368 leaves it to SRV).
pub(crate) const DEFAULT_DIRECT_TLS_PORT: u16 = 5223;

/// Checks `--server HOST[:PORT]` (a name, an IPv4 address, or an IPv6
/// address, in brackets when a port follows); the port is filled in later.
pub(crate) fn parse_server(s: &str) -> Result<String, String> {
    Target::parse(s, DEFAULT_PORT)
        .map(|_| s.to_owned())
        .ok_or_else(|| format!("{s:?} is not HOST[:PORT]"))
}

/// The hosts and ports to try, in order, each with its TLS mode.
///
/// `--server` wins (STARTTLS, or direct TLS with `--direct-tls`).
/// Otherwise the domain's SRV records, `_xmpps-client` and `_xmpp-client`
/// merged by priority and weight, falling back to the domain on 5222
/// (`lookup` gives the records: DNS, or a test's). With `--direct-tls`,
/// only direct-TLS targets, falling back to the domain on 5223.
pub(crate) fn targets(
    server: Option<&str>,
    domain: &str,
    direct_tls: bool,
    lookup: impl FnOnce(&str) -> Vec<SrvRecord>,
) -> Vec<Target> {
    let default_port = if direct_tls {
        DEFAULT_DIRECT_TLS_PORT
    } else {
        DEFAULT_PORT
    };
    if let Some(s) = server {
        let Some(mut t) = Target::parse(s, default_port) else {
            return Vec::new();
        };
        t.direct_tls = direct_tls;
        return vec![t];
    }
    let all = srv::candidates_with(domain, None, lookup, &mut rand_core::OsRng);
    if !direct_tls {
        return all;
    }
    let direct: Vec<Target> = all.into_iter().filter(|t| t.direct_tls).collect();
    if direct.is_empty() {
        return vec![Target::direct_tls(domain, DEFAULT_DIRECT_TLS_PORT)];
    }
    direct
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(priority: u16, port: u16, target: &str, direct_tls: bool) -> SrvRecord {
        SrvRecord {
            priority,
            weight: 0,
            port,
            target: target.to_owned(),
            direct_tls,
        }
    }

    #[test]
    fn server_wins_and_keeps_its_port() {
        let no_dns = |_: &str| -> Vec<SrvRecord> { panic!("no DNS with --server") };
        let t = targets(Some("[::1]:5999"), "example.com", false, no_dns);
        assert_eq!(
            (t[0].host.as_str(), t[0].port, t[0].direct_tls),
            ("::1", 5999, false)
        );
        let t = targets(Some("127.0.0.1"), "example.com", true, no_dns);
        assert_eq!(
            (t[0].port, t[0].direct_tls),
            (DEFAULT_DIRECT_TLS_PORT, true)
        );
        assert!(parse_server("example.com:0").is_err() && parse_server("a b").is_err());
        assert!(parse_server("example.com").is_ok() && parse_server("::1").is_ok());
    }

    #[test]
    fn srv_records_order_the_targets() {
        let records = || {
            vec![
                record(20, 5222, "xmpp2.example.com", false),
                record(10, 5223, "tls.example.com", true),
                record(10, 5222, "xmpp1.example.com", false),
            ]
        };
        let t = targets(None, "example.com", false, |_| records());
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].host, "xmpp2.example.com");
        let t = targets(None, "example.com", true, |_| records());
        assert_eq!(
            (t.len(), t[0].host.as_str(), t[0].direct_tls),
            (1, "tls.example.com", true)
        );
        // No records: the domain itself.
        let t = targets(None, "example.com", false, |_| Vec::new());
        assert_eq!(
            (t[0].host.as_str(), t[0].port, t[0].direct_tls),
            ("example.com", 5222, false)
        );
        let t = targets(None, "example.com", true, |_| Vec::new());
        assert_eq!((t[0].port, t[0].direct_tls), (5223, true));
    }
}
