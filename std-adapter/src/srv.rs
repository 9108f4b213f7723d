//! Where to connect for a domain: DNS SRV (RFC 6120 §3.2, RFC 2782) for
//! both STARTTLS and direct TLS (XEP-0368), with the RFC's fallback.
//!
//! [`candidates`] answers the question for an account's domain: the
//! records of `_xmpps-client._tcp.<domain>` (direct TLS) and
//! `_xmpp-client._tcp.<domain>` (STARTTLS) merged into one list, lowest
//! priority first, and within a priority in RFC 2782's weighted random
//! order. Each [`Target`] says whether it expects direct TLS, to match
//! with [`TlsSettings::direct_tls`](crate::TlsSettings::direct_tls).
//!
//! The ordering is the pure [`order`], over [`SrvRecord`]s and an
//! injected RNG; the DNS lookup ([`lookup`]) is a thin map from
//! `hickory-resolver`'s answers into those records.
//!
//! Whatever the target, the certificate is still checked for the
//! account's domain (RFC 6120 §13.7.2.1), not for the SRV target: that is
//! [`TlsSettings`](crate::TlsSettings)' default.
//!
//! ```no_run
//! use picoxmpp_std::srv;
//! use rand_core::OsRng;
//!
//! for target in srv::candidates("example.com", None, &mut OsRng) {
//!     println!("{target} (direct TLS: {})", target.direct_tls);
//! }
//! ```

use rand_core::RngCore;
use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::vec;

/// The SRV service of STARTTLS client connections (RFC 6120 §3.2.1).
pub const SERVICE_STARTTLS: &str = "_xmpp-client._tcp";
/// The SRV service of direct-TLS client connections (XEP-0368 §3).
pub const SERVICE_DIRECT_TLS: &str = "_xmpps-client._tcp";
/// The port of the fallback without SRV records (RFC 6120 §3.2.2, §14.7).
pub const DEFAULT_PORT: u16 = 5222;

/// One SRV record (RFC 2782), tagged with the service it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among records of the same priority; 0 gets a small
    /// chance only (RFC 2782).
    pub weight: u16,
    /// The TCP port.
    pub port: u16,
    /// The host name, without the trailing dot; `"."` means the service
    /// is decidedly not available at this domain (RFC 2782).
    pub target: String,
    /// From `_xmpps-client._tcp` (XEP-0368: TLS from the first byte)
    /// rather than `_xmpp-client._tcp` (STARTTLS).
    pub direct_tls: bool,
}

impl SrvRecord {
    /// Whether this is RFC 2782's "decidedly not available" record.
    pub fn is_unavailable(&self) -> bool {
        self.target == "." || self.target.is_empty()
    }
}

/// A host and port to connect to, and how TLS starts there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// A host name or an IP address (an IPv6 address without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// TLS from the first byte (XEP-0368), not STARTTLS.
    pub direct_tls: bool,
}

impl Target {
    /// `host:port` with STARTTLS.
    pub fn starttls(host: impl Into<String>, port: u16) -> Self {
        Target {
            host: host.into(),
            port,
            direct_tls: false,
        }
    }

    /// `host:port` with direct TLS (XEP-0368).
    pub fn direct_tls(host: impl Into<String>, port: u16) -> Self {
        Target {
            host: host.into(),
            port,
            direct_tls: true,
        }
    }

    /// Parses `host`, `host:port`, an IPv4 address with or without a port,
    /// `[v6]`, `[v6]:port` or a bare IPv6 address, as an explicit override
    /// or a `see-other-host` (RFC 6120 §4.9.3.19) names them. Without a
    /// port, `default_port`. The target is STARTTLS; set
    /// [`direct_tls`](Self::direct_tls) after if it is not.
    ///
    /// `None` for an empty host, a port that is not 1–65535, brackets
    /// around something that is not an IPv6 address, or characters no
    /// host name has (spaces, `/`, `@`...).
    pub fn parse(s: &str, default_port: u16) -> Option<Target> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest.split_once(']')?;
            v6.parse::<Ipv6Addr>().ok()?;
            let port = match after {
                "" => default_port,
                _ => parse_port(after.strip_prefix(':')?)?,
            };
            (v6, port)
        } else if s.matches(':').count() > 1 {
            // More than one colon and no brackets: only a bare IPv6
            // address, which cannot carry a port.
            s.parse::<Ipv6Addr>().ok()?;
            (s, default_port)
        } else {
            match s.split_once(':') {
                Some((host, port)) => (host, parse_port(port)?),
                None => (s, default_port),
            }
        };
        let bad = |c: char| c.is_whitespace() || c.is_control() || "/@[]\\<>\"'".contains(c);
        if host.is_empty() || host.len() > 255 || host.contains(bad) || port == 0 {
            return None;
        }
        Some(Target::starttls(host, port))
    }
}

fn parse_port(s: &str) -> Option<u16> {
    // u16's parser takes a leading '+': a port is digits only.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p != 0)
}

impl fmt::Display for Target {
    /// `host:port`, with brackets around an IPv6 address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Resolves the host (A/AAAA, through the system) for
/// [`Connection::connect`](crate::Connection::connect).
impl ToSocketAddrs for Target {
    type Iter = vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (self.host.as_str(), self.port).to_socket_addrs()
    }
}

impl From<SrvRecord> for Target {
    fn from(r: SrvRecord) -> Self {
        Target {
            host: r.target,
            port: r.port,
            direct_tls: r.direct_tls,
        }
    }
}

/// The targets for `domain`, in the order to try them: `over` alone if
/// given (no DNS at all), else the SRV records of both services through
/// the system's resolver, ordered by [`order`].
///
/// Empty when the domain says the service is decidedly not available
/// (RFC 2782's `"."` target): the caller reports that rather than trying
/// anything. Failed lookups count as no records (RFC 6120 §3.2.2: the
/// fallback applies when the SRV lookup fails).
pub fn candidates(domain: &str, over: Option<&Target>, rng: &mut impl RngCore) -> Vec<Target> {
    candidates_with(domain, over, lookup, rng)
}

/// [`candidates`] with the lookup injected: `lookup(domain)` returns the
/// records of both services. Not called with an override.
pub fn candidates_with(
    domain: &str,
    over: Option<&Target>,
    lookup: impl FnOnce(&str) -> Vec<SrvRecord>,
    rng: &mut impl RngCore,
) -> Vec<Target> {
    match over {
        Some(target) => vec![target.clone()],
        None => order(domain, lookup(domain), rng),
    }
}

/// Orders the SRV records of both services into targets.
///
/// - Lowest priority first; within a priority, RFC 2782's weighted random
///   selection: each next record is drawn with a chance proportional to
///   its weight, a weight-0 record with a small chance (it sits at the
///   start of the running sum, so it wins when the draw is 0). The two
///   services share one list (XEP-0368 §3), so a direct-TLS record and a
///   STARTTLS record of the same priority compete by weight.
/// - A `"."` target (RFC 2782) removes its record. When it was the only
///   answer for `_xmpp-client._tcp`, the service is decidedly not
///   available: no fallback, and the list may be empty.
/// - With no usable record at all and no answer for `_xmpp-client._tcp`,
///   the fallback of RFC 6120 §3.2.2: `domain` on port 5222, STARTTLS.
///   RFC 6120 §3.2.1 says not to fall back once SRV records were found,
///   even if none of them can be reached: so no fallback after records.
pub fn order(domain: &str, records: Vec<SrvRecord>, rng: &mut impl RngCore) -> Vec<Target> {
    let starttls_answered = records.iter().any(|r| !r.direct_tls);
    let mut usable: Vec<SrvRecord> = records
        .into_iter()
        .filter(|r| !r.is_unavailable())
        .collect();
    if usable.is_empty() {
        if starttls_answered {
            // RFC 2782: "decidedly not available".
            return Vec::new();
        }
        return vec![Target::starttls(domain.trim_end_matches('.'), DEFAULT_PORT)];
    }
    usable.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(usable.len());
    for group in usable.chunk_by(|a, b| a.priority == b.priority) {
        weighted(group.to_vec(), rng, &mut out);
    }
    out
}

/// RFC 2782's selection within one priority: arrange the records with the
/// weight-0 ones first, draw a number in `0..=sum of weights`, take the
/// first record whose running sum reaches it; repeat with the rest.
fn weighted(mut left: Vec<SrvRecord>, rng: &mut impl RngCore, out: &mut Vec<Target>) {
    // "Any order" but weight 0 first: shuffled, so that records of equal
    // weight (all 0, say) share the first place fairly.
    for i in (1..left.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        left.swap(i, j);
    }
    left.sort_by_key(|r| r.weight != 0);
    while !left.is_empty() {
        let total: u64 = left.iter().map(|r| u64::from(r.weight)).sum();
        let draw = below(rng, total + 1);
        let mut running = 0;
        let i = left
            .iter()
            .position(|r| {
                running += u64::from(r.weight);
                running >= draw
            })
            .unwrap_or(0);
        out.push(left.remove(i).into());
    }
}

/// A uniform draw in `0..n` (`n > 0`), without modulo bias.
pub(crate) fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    debug_assert!(n > 0);
    // The largest multiple of n that fits: draws at or above it are
    // redrawn (fewer than one in two, for any n).
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % n;
        }
    }
}

/// The SRV records of both services for `domain`, through the system's
/// resolver (`/etc/resolv.conf` on Unix). A service whose lookup fails
/// (no such name, no records, no answer) contributes nothing; so does
/// everything when the system configuration cannot be read.
pub fn lookup(domain: &str) -> Vec<SrvRecord> {
    use hickory_resolver::Resolver;

    let Ok(resolver) = Resolver::from_system_conf() else {
        return Vec::new();
    };
    let domain = domain.trim_end_matches('.');
    let mut records = Vec::new();
    for (service, direct_tls) in [(SERVICE_DIRECT_TLS, true), (SERVICE_STARTTLS, false)] {
        // The trailing dot: a fully qualified name, so no search domain
        // of resolv.conf is appended.
        let Ok(answer) = resolver.srv_lookup(format!("{service}.{domain}.")) else {
            continue;
        };
        records.extend(answer.iter().map(|srv| SrvRecord {
            priority: srv.priority(),
            weight: srv.weight(),
            port: srv.port(),
            target: if srv.target().is_root() {
                ".".to_owned()
            } else {
                // ASCII (punycode) for the system's A/AAAA resolution.
                srv.target().to_ascii().trim_end_matches('.').to_owned()
            },
            direct_tls,
        }));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use crate::test_rng::SplitMix;

    fn rec(priority: u16, weight: u16, target: &str, direct_tls: bool) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: if direct_tls { 5223 } else { 5222 },
            target: target.to_owned(),
            direct_tls,
        }
    }

    fn hosts(targets: &[Target]) -> Vec<&str> {
        targets.iter().map(|t| t.host.as_str()).collect()
    }

    #[test]
    fn priorities_lowest_first_across_both_services() {
        let records = vec![
            rec(30, 5, "c.example.com", false),
            rec(10, 5, "a.example.com", true),
            rec(20, 5, "b.example.com", false),
        ];
        for seed in 0..50 {
            let got = order("example.com", records.clone(), &mut SplitMix(seed));
            assert_eq!(
                got,
                vec![
                    Target::direct_tls("a.example.com", 5223),
                    Target::starttls("b.example.com", 5222),
                    Target::starttls("c.example.com", 5222),
                ]
            );
        }
    }

    #[test]
    fn every_record_appears_once_and_priority_groups_stay_together() {
        let records = vec![
            rec(1, 10, "a1", false),
            rec(1, 0, "a2", true),
            rec(1, 60, "a3", false),
            rec(2, 1, "b1", true),
            rec(2, 1, "b2", false),
        ];
        for seed in 0..200 {
            let got = order("example.com", records.clone(), &mut SplitMix(seed));
            let mut first: Vec<&str> = hosts(&got[..3]).to_vec();
            first.sort();
            assert_eq!(first, ["a1", "a2", "a3"]);
            let mut second: Vec<&str> = hosts(&got[3..]).to_vec();
            second.sort();
            assert_eq!(second, ["b1", "b2"]);
        }
    }

    /// How often each host comes first in `n` draws.
    fn firsts(records: &[SrvRecord], n: u64) -> HashMap<String, u64> {
        let mut rng = SplitMix(0x5EED);
        let mut count = HashMap::new();
        for _ in 0..n {
            let got = order("example.com", records.to_vec(), &mut rng);
            *count.entry(got[0].host.clone()).or_insert(0) += 1;
        }
        count
    }

    #[test]
    fn weights_share_the_first_place_proportionally() {
        // 60:30:10 (RFC 2782's own kind of example); 20,000 draws put each
        // share within ±1.5 points with overwhelming probability.
        let records = [
            rec(0, 60, "big", false),
            rec(0, 30, "mid", true),
            rec(0, 10, "small", false),
        ];
        let n = 20_000;
        let count = firsts(&records, n);
        let share = |h: &str| count.get(h).copied().unwrap_or(0) as f64 / n as f64;
        assert!((share("big") - 0.6).abs() < 0.015, "{count:?}");
        assert!((share("mid") - 0.3).abs() < 0.015, "{count:?}");
        assert!((share("small") - 0.1).abs() < 0.015, "{count:?}");
    }

    #[test]
    fn weight_zero_gets_a_small_chance() {
        // RFC 2782: the weight-0 record wins when the draw in 0..=20 is 0,
        // one time in 21; else it comes last.
        let records = [rec(0, 0, "zero", false), rec(0, 20, "twenty", false)];
        let n = 21_000;
        let count = firsts(&records, n);
        let zero = count.get("zero").copied().unwrap_or(0);
        assert!((700..1300).contains(&zero), "expected ~1000: {count:?}");
    }

    #[test]
    fn all_weights_zero_are_shuffled_evenly() {
        let records = [
            rec(0, 0, "a", false),
            rec(0, 0, "b", false),
            rec(0, 0, "c", false),
        ];
        let n = 9_000;
        let count = firsts(&records, n);
        for h in ["a", "b", "c"] {
            let c = count.get(h).copied().unwrap_or(0);
            assert!((2700..3300).contains(&c), "{count:?}");
        }
    }

    #[test]
    fn second_place_follows_the_remaining_weights() {
        // Once "big" is drawn, "mid" and "small" share 30:10.
        let records = [
            rec(0, 60, "big", false),
            rec(0, 30, "mid", false),
            rec(0, 10, "small", false),
        ];
        let mut rng = SplitMix(7);
        let (mut after_big, mut mid_second) = (0u32, 0u32);
        for _ in 0..20_000 {
            let got = order("example.com", records.to_vec(), &mut rng);
            if got[0].host == "big" {
                after_big += 1;
                mid_second += u32::from(got[1].host == "mid");
            }
        }
        let share = f64::from(mid_second) / f64::from(after_big);
        assert!((share - 0.75).abs() < 0.02, "{share}");
    }

    #[test]
    fn no_records_fall_back_to_the_domain_on_5222_with_starttls() {
        let got = order("example.com", Vec::new(), &mut SplitMix(1));
        assert_eq!(got, vec![Target::starttls("example.com", 5222)]);
    }

    #[test]
    fn dot_for_starttls_means_unavailable_and_no_fallback() {
        let got = order("example.com", vec![rec(0, 0, ".", false)], &mut SplitMix(1));
        assert!(got.is_empty());
        let both = vec![rec(0, 0, ".", false), rec(0, 0, ".", true)];
        assert!(order("example.com", both, &mut SplitMix(1)).is_empty());
    }

    #[test]
    fn dot_for_direct_tls_only_keeps_the_starttls_records() {
        let records = vec![rec(0, 0, ".", true), rec(5, 0, "xmpp.example.com", false)];
        let got = order("example.com", records, &mut SplitMix(1));
        assert_eq!(got, vec![Target::starttls("xmpp.example.com", 5222)]);
        // No STARTTLS answer at all: its fallback still applies.
        let got = order("example.com", vec![rec(0, 0, ".", true)], &mut SplitMix(1));
        assert_eq!(got, vec![Target::starttls("example.com", 5222)]);
    }

    #[test]
    fn direct_tls_records_alone_mean_no_fallback() {
        let got = order(
            "example.com",
            vec![rec(0, 0, "tls.example.com", true)],
            &mut SplitMix(1),
        );
        assert_eq!(got, vec![Target::direct_tls("tls.example.com", 5223)]);
    }

    #[test]
    fn an_override_skips_the_lookup() {
        let over = Target::direct_tls("127.0.0.1", 5223);
        let got = candidates_with(
            "example.com",
            Some(&over),
            |_| panic!("no lookup with an override"),
            &mut SplitMix(1),
        );
        assert_eq!(got, vec![over]);
        // Without one, the lookup is asked for the domain.
        let got = candidates_with(
            "example.com",
            None,
            |d| vec![rec(0, 0, &format!("xmpp.{d}"), false)],
            &mut SplitMix(1),
        );
        assert_eq!(got, vec![Target::starttls("xmpp.example.com", 5222)]);
    }

    #[test]
    fn parse_host_and_port_forms() {
        let p = |s| Target::parse(s, 5222);
        assert_eq!(
            p("example.net"),
            Some(Target::starttls("example.net", 5222))
        );
        assert_eq!(
            p("example.net:5299"),
            Some(Target::starttls("example.net", 5299))
        );
        assert_eq!(
            p("192.0.2.1:5223"),
            Some(Target::starttls("192.0.2.1", 5223))
        );
        assert_eq!(
            p("[2001:db8::1]:5223"),
            Some(Target::starttls("2001:db8::1", 5223))
        );
        assert_eq!(
            p("[2001:db8::1]"),
            Some(Target::starttls("2001:db8::1", 5222))
        );
        assert_eq!(
            p("2001:db8::1"),
            Some(Target::starttls("2001:db8::1", 5222))
        );
        assert_eq!(
            p(" example.net "),
            Some(Target::starttls("example.net", 5222))
        );
        for bad in [
            "",
            ":5222",
            "example.net:",
            "example.net:0",
            "example.net:65536",
            "example.net:+5",
            "[example.net]:5222",
            "[2001:db8::1]5222",
            "[2001:db8::1",
            "a b",
            "user@example.net",
            "example.net/x",
            "1:2:3",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn display_brackets_ipv6() {
        assert_eq!(Target::starttls("::1", 5222).to_string(), "[::1]:5222");
        assert_eq!(
            Target::starttls("example.net", 5223).to_string(),
            "example.net:5223"
        );
    }

    #[test]
    fn to_socket_addrs_of_a_literal_needs_no_dns() {
        let addrs: Vec<_> = Target::starttls("::1", 5222)
            .to_socket_addrs()
            .unwrap()
            .collect();
        assert_eq!(addrs, vec!["[::1]:5222".parse().unwrap()]);
    }

    #[test]
    fn below_stays_below() {
        let mut rng = SplitMix(3);
        for n in [1, 2, 3, 7, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(below(&mut rng, n) < n);
            }
        }
    }
}
