//! Where the command connects: `--server`, or the JID's domain.

use std::fmt;

/// The XMPP client port (RFC 6120 §3.2.1, no SRV record).
pub(crate) const DEFAULT_PORT: u16 = 5222;
/// The port commonly used for direct TLS when no `_xmpps-client` SRV record
/// says otherwise (XEP-0368 leaves it to SRV).
pub(crate) const DEFAULT_DIRECT_TLS_PORT: u16 = 5223;

/// `--server HOST[:PORT]`: a name, an IPv4 address, or an IPv6 address
/// (in brackets when a port follows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// The host name or address, without brackets.
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl ServerAddr {
    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6
    /// address.
    pub fn parse(s: &str) -> Result<ServerAddr, String> {
        let bad = || format!("{s:?} is not HOST[:PORT]");
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad);
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(port(after.strip_prefix(':').ok_or_else(bad)?)?)),
            }
        } else if s.matches(':').count() > 1 {
            (s, None)
        } else if let Some((host, p)) = s.split_once(':') {
            (host, Some(port(p)?))
        } else {
            (s, None)
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(bad());
        }
        Ok(ServerAddr {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// The hosts and ports to try, in order.
///
/// `--server` wins. Otherwise the JID's domain on the default port. This
/// is the hook for DNS SRV (RFC 6120 §3.2.1, XEP-0368 §3), being added in
/// `crate::srv`: once it lands, the domain case becomes
/// `srv::candidates(domain, None, &mut OsRng)` (which keeps this fallback
/// when there is no record). Its targets each say whether they expect
/// direct TLS, so the caller (`commands::run`) then connects target by
/// target, with [`TlsSettings::direct_tls`](crate::TlsSettings::direct_tls)
/// set per target, instead of once over all the addresses.
pub(crate) fn targets(
    server: Option<&ServerAddr>,
    domain: &str,
    direct_tls: bool,
) -> Vec<ServerAddr> {
    let default_port = if direct_tls {
        DEFAULT_DIRECT_TLS_PORT
    } else {
        DEFAULT_PORT
    };
    let target = match server {
        Some(s) => s.clone(),
        None => ServerAddr {
            host: domain.to_owned(),
            port: None,
        },
    };
    vec![ServerAddr {
        port: Some(target.port.unwrap_or(default_port)),
        ..target
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_forms() {
        let p = |s| ServerAddr::parse(s).map(|a| (a.host, a.port));
        assert_eq!(p("example.com"), Ok(("example.com".into(), None)));
        assert_eq!(p("127.0.0.1:5223"), Ok(("127.0.0.1".into(), Some(5223))));
        assert_eq!(p("[::1]:5222"), Ok(("::1".into(), Some(5222))));
        assert_eq!(p("[::1]"), Ok(("::1".into(), None)));
        assert_eq!(p("::1"), Ok(("::1".into(), None)));
        assert!(p("example.com:").is_err());
        assert!(p("example.com:0").is_err());
        assert!(p("example.com:99999").is_err());
        assert!(p("[::1]x").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn default_ports() {
        let t = targets(None, "example.com", false);
        assert_eq!(t[0].to_string(), "example.com:5222");
        let t = targets(None, "example.com", true);
        assert_eq!(t[0].to_string(), "example.com:5223");
        let s = ServerAddr::parse("::1").unwrap();
        assert_eq!(
            targets(Some(&s), "example.com", false)[0].to_string(),
            "[::1]:5222"
        );
    }
}
