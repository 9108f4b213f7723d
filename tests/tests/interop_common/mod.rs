//! What the interop tests of both adapters share: the servers, their
//! generation, the TLS settings trusting the test CA, and the session
//! configuration.
#![allow(dead_code)]

use picoxmpp::client::{Config, Keepalive};
use picoxmpp::jid::Jid;
use picoxmpp::sasl::Mechanism;
use picoxmpp_std::TlsSettings;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const DEFAULT_CA: &str = "/tmp/picoxmpp-servers/certs/localhost.crt";
pub const DOMAIN: &str = "localhost";
pub const NS_ROSTER: &str = "jabber:iq:roster";
/// How long any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(8);
/// How long each connection is driven before the next one's turn.
pub const SLICE: Duration = Duration::from_millis(40);
/// How long the other sessions are driven while one waits.
pub const OTHERS_SLICE: Duration = Duration::from_millis(2);

/// One server under test.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub name: &'static str,
    /// STARTTLS port.
    pub starttls: u16,
    /// Direct TLS port (XEP-0368).
    pub direct: u16,
}

pub const PROSODY: Server = Server {
    name: "prosody",
    starttls: 5222,
    direct: 5223,
};

pub const EJABBERD: Server = Server {
    name: "ejabberd",
    starttls: 5322,
    direct: 5323,
};

pub fn ca_path() -> String {
    std::env::var("PICOXMPP_INTEROP_CA").unwrap_or_else(|_| DEFAULT_CA.to_owned())
}

/// Which server generation runs (see tests/interop/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Prosody 0.12, ejabberd 23.01 (Debian 12).
    Previous,
    /// Prosody 13 + prosody-modules, ejabberd 24.12 (bookworm-backports),
    /// with the test hosts `tls12.localhost` and (Prosody) `badcb.localhost`.
    Current,
}

pub fn generation() -> Generation {
    let name = std::env::var("PICOXMPP_INTEROP_GENERATION").unwrap_or_else(|_| {
        let ca = ca_path();
        let file = std::path::Path::new(&ca)
            .parent()
            .and_then(|certs| certs.parent())
            .map(|base| base.join("generation"));
        file.and_then(|f| std::fs::read_to_string(f).ok())
            .unwrap_or_else(|| "previous".to_owned())
    });
    match name.trim() {
        "previous" => Generation::Previous,
        "current" => Generation::Current,
        other => panic!("unknown server generation {other:?} (previous or current)"),
    }
}

pub fn tls_settings(direct: bool) -> TlsSettings {
    let ca = ca_path();
    let tls = TlsSettings::new()
        .without_public_roots()
        .add_ca_file(&ca)
        .unwrap_or_else(|e| {
            panic!(
                "CA certificate {ca}: {e}. Start the servers with \
                 `bash tests/interop/servers-up.sh` (as root) or set PICOXMPP_INTEROP_CA"
            )
        })
        .server_name(DOMAIN);
    if direct {
        tls.direct_tls()
    } else {
        tls
    }
}

/// A resource no other test (or earlier run) uses.
pub fn unique_resource(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!(
        "{}-{test}-{}-{t}-{n}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    )
}

pub fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

pub fn leak_buf(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

/// A session's configuration: no keepalive (the tests are short), short
/// timeouts so that a stuck exchange fails rather than hangs.
pub fn config(jid: &str, password: &str) -> Config<'static> {
    config_with(jid, password, None)
}

/// [`config`], with `mechanisms` as the only SASL mechanisms allowed
/// ([`Config::mechanisms`]).
pub fn config_with(jid: &str, password: &str, mechanisms: Option<&[Mechanism]>) -> Config<'static> {
    let jid = Jid::parse(leak(jid.to_owned())).expect("a valid JID");
    let mut c = Config::new(jid, leak(password.to_owned()));
    c.mechanisms = mechanisms.map(|m| &*Box::leak(m.to_vec().into_boxed_slice()));
    c.keepalive = Keepalive::Off;
    c.negotiation_timeout = Duration::from_secs(15);
    c.iq_timeout = Duration::from_secs(10);
    c.close_timeout = Duration::from_secs(5);
    c
}

/// A loopback TCP proxy to a server that cuts each connection after a
/// random number of bytes (both directions together, from `min` to `max`,
/// from a fixed seed): mid-record, mid-stanza, between a stanza and its
/// ack. It cuts until [`CuttingProxy::stop_cutting`].
pub struct CuttingProxy {
    pub addr: std::net::SocketAddr,
    cuts: std::sync::Arc<AtomicU32>,
    cutting: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CuttingProxy {
    pub fn start(upstream: u16, min: u64, max: u64, seed: u64) -> CuttingProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, AtomicU64};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(AtomicU32::new(0));
        let cutting = Arc::new(AtomicBool::new(true));
        let (c, k) = (cuts.clone(), cutting.clone());
        std::thread::spawn(move || {
            let mut state = seed;
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                // SplitMix64: the byte budget of this connection.
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let budget = Arc::new(AtomicU64::new(min + (z ^ (z >> 31)) % (max - min)));
                let pipes = [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ];
                for (mut from, mut to) in pipes {
                    let (budget, cuts, cutting) = (budget.clone(), c.clone(), k.clone());
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let left = budget
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                                    Some(b.saturating_sub(n as u64))
                                })
                                .unwrap_or_default();
                            if cutting.load(Ordering::SeqCst) && left <= n as u64 {
                                // The cut: what fits the budget, then both
                                // sides closed.
                                let _ = to.write_all(&buf[..left as usize]);
                                if left > 0 {
                                    cuts.fetch_add(1, Ordering::SeqCst);
                                }
                                break;
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        CuttingProxy {
            addr,
            cuts,
            cutting,
        }
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u32 {
        self.cuts.load(Ordering::SeqCst)
    }

    /// From now on, bytes flow untouched.
    pub fn stop_cutting(&self) {
        self.cutting.store(false, Ordering::SeqCst);
    }
}

/// How many messages the stream management runs send through the proxy.
pub const SM_MESSAGES: usize = 1000;

/// The unacked queue of those runs: about 35 messages in flight, so that
/// what a resumption sends again fits in most of the proxy's budgets.
pub const SM_QUEUE: usize = 8 * 1024;

/// The stream management policy of those runs: an ack request every 10
/// stanzas or after 200 ms.
pub fn sm_config() -> picoxmpp::client::SmConfig {
    picoxmpp::client::SmConfig {
        request_every: 10,
        request_after: Some(Duration::from_millis(200)),
        ..picoxmpp::client::SmConfig::default()
    }
}

/// Their reconnection policy: quick retries, for a test.
pub fn sm_policy() -> picoxmpp_std::reconnect::Policy {
    picoxmpp_std::reconnect::Policy {
        backoff: picoxmpp_std::reconnect::Backoff {
            base: Duration::from_millis(20),
            factor: 2,
            max: Duration::from_millis(200),
        },
        ..picoxmpp_std::reconnect::Policy::default()
    }
}

/// How a session came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Up {
    Ready,
    Resumed(u32),
    Rebound,
    Other,
}

pub fn up(e: picoxmpp::client::Event<'_>) -> Up {
    use picoxmpp::client::Event;
    match e {
        Event::Ready { .. } => Up::Ready,
        Event::Resumed { resent, .. } => Up::Resumed(resent),
        Event::Rebound { .. } => Up::Rebound,
        _ => Up::Other,
    }
}

/// Checks a stream management run: bob got every message of `tag` once
/// and in order; every session after the first was a resumption; the
/// connection was made again after each cut (the proxy's cuts, the
/// connection's reconnections). Prints the figures.
pub fn check_sm_run(
    server: &str,
    tag: &str,
    got: &[String],
    seen: &[Up],
    failures: &[String],
    (cuts, reconnections): (u32, u32),
    elapsed: Duration,
) {
    let expected: Vec<String> = (0..SM_MESSAGES).map(|i| format!("{tag} {i}")).collect();
    assert_eq!(got.len(), SM_MESSAGES, "{server}: lost or doubled");
    assert!(got == expected, "{server}: out of order or doubled");
    assert!(cuts >= 5, "{server}: only {cuts} cuts");
    assert_eq!(seen.first(), Some(&Up::Ready), "{server}: {seen:?}");
    // A cut during the negotiation on a new connection costs one more
    // connection, not one more session.
    assert!(
        seen[1..].iter().all(|e| matches!(e, Up::Resumed(_))),
        "{server}: {seen:?}, after the failures {failures:?}"
    );
    let resumed: Vec<u32> = seen
        .iter()
        .filter_map(|e| match e {
            Up::Resumed(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert!(resumed.len() * 2 >= cuts as usize, "{server}: {seen:?}");
    assert_eq!(reconnections, cuts, "{server}: {seen:?}");
    println!(
        "{server}: {SM_MESSAGES} messages through {cuts} cuts in {} ms: {} resumptions (the \
         other cuts fell in a negotiation), {} stanzas resent",
        elapsed.as_millis(),
        resumed.len(),
        resumed.iter().sum::<u32>()
    );
}
