// Invariant: a server session fed arbitrary client bytes never panics,
// never hangs (every poll loop ends in `Wait` or `Closed` within a bounded
// number of steps), its memory is the fixed buffers it was given, and
// every outcome is either a stanza handed up or the end of the session:
// each `Event::Stanza` written stamped is exactly one well-formed element
// whose `from` is the bound full JID; the session ends with exactly one
// `Event::Closed`, after which nothing else happens, and when that reason
// is a stream error we sent, the last units written are that
// `<stream:error/>` and `</stream:stream>`. Everything the server
// transmits is well-formed XML on its own.
//
// Input layout (HEADER = 3 control bytes, then the client's bytes):
//   [0] bit 0: play a valid client prefix first (stream, SASL PLAIN,
//       restart, bind), so the fuzzer reaches the bound session;
//       bit 1: STARTTLS required (the handshake is simulated);
//       bit 2: the adapter delivers a stanza to the client now and then;
//       bit 3: channel binding (tls-exporter) after TLS, so -PLUS is offered
//   [1] chunk sizes of the client's bytes (PRNG seed)
//   [2] the clock advance per chunk, in seconds (timers fire)
//   [3..] the client's bytes
#![no_main]

use libfuzzer_sys::fuzz_target;
use picoxmpp::jid::JidBuf;
use picoxmpp::sasl::scram::HashFunction;
use picoxmpp::sasl::scram_server::StoredKeys;
use picoxmpp::server::{Accounts, CloseReason, Config, Detached, Event, Output, Server, TlsMode};
use picoxmpp::time::Instant;
use picoxmpp::xml::{self, StreamParser};
use std::sync::OnceLock;
use std::time::Duration;

const HEADER: usize = 3;

mod common;
use common::Rng;

/// juliet / pw, SHA-1 and SHA-256, derived once.
struct Store;
impl Accounts for Store {
    fn scram_keys(&mut self, username: &str, hash: HashFunction) -> Option<StoredKeys> {
        static KEYS: OnceLock<[StoredKeys; 2]> = OnceLock::new();
        let keys = KEYS.get_or_init(|| {
            [HashFunction::Sha1, HashFunction::Sha256]
                .map(|h| StoredKeys::derive(h, "pw", b"salt", 4096).unwrap())
        });
        (username == "juliet").then(|| keys.iter().find(|k| k.hash() == hash).cloned())?
    }
    /// One detached session of juliet's, `k1`, whose counters wrapped.
    fn resume(&mut self, username: &str, previd: &str) -> Option<Detached> {
        if previd != "k1" {
            return None;
        }
        Some(Detached {
            jid: JidBuf::parse(&format!("{username}@example.com/r")).ok()?,
            inbound: u32::MAX,
            outbound: 3,
        })
    }
}

const OPEN: &[u8] = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// Parses `unit` (after a synthetic stream header unless it is one) and
/// returns its single event's element name, `"header"` or `"close"`.
fn check_unit(unit: &[u8]) -> String {
    let mut buf = vec![0u8; 16384];
    let mut p = StreamParser::new(&mut buf);
    let is_header = unit.starts_with(b"<?xml") || unit.starts_with(b"<stream:stream");
    if !is_header {
        p.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
        assert!(matches!(p.next(), Ok(Some(xml::Event::StreamOpen(_)))));
    }
    assert_eq!(p.feed(unit), unit.len(), "unit larger than the check buffer");
    let mut what = None;
    loop {
        match p.next() {
            Ok(Some(e)) => {
                assert!(what.is_none(), "more than one unit: {}", String::from_utf8_lossy(unit));
                what = Some(match e {
                    xml::Event::StreamOpen(_) => "header".to_string(),
                    xml::Event::StreamClose => "close".to_string(),
                    xml::Event::Element(el) => el.qname().to_string(),
                });
            }
            Ok(None) => break,
            Err(e) => panic!("the server sent bad XML ({e}): {}", String::from_utf8_lossy(unit)),
        }
    }
    what.unwrap_or_else(|| panic!("not a unit: {}", String::from_utf8_lossy(unit)))
}

struct Run<'b> {
    server: Server<'b, 'static, Rng, Store>,
    now: Instant,
    /// What the units written were, last ones last.
    units: Vec<String>,
    closed: Option<CloseReason>,
    over: bool,
    stanzas: usize,
    binding: bool,
}

impl Run<'_> {
    fn drain(&mut self) {
        for _ in 0..10_000 {
            match self.server.poll(self.now) {
                Output::Transmit(unit) => {
                    let what = check_unit(unit);
                    if let Some(CloseReason::ErrorSent(_)) = self.closed {
                        // Nothing but the error and the close after the end.
                        assert!(matches!(what.as_str(), "stream:error" | "close" | "header"), "{what}");
                    }
                    self.units.push(what);
                }
                Output::StartTls => {
                    self.server.tls_established();
                    if self.binding {
                        self.server.tls_exporter(&[9; 32]);
                    }
                }
                Output::Event(e) => {
                    assert!(self.closed.is_none(), "an event after the end: {e:?}");
                    match e {
                        Event::Stanza(s) => {
                            self.stanzas += 1;
                            let mut out = vec![0u8; s.stamped_len()];
                            let n = s.write_stamped(&mut out).unwrap();
                            assert_eq!(n, out.len());
                            check_unit(&out);
                            let from = s.from();
                            assert!(from.is_full());
                            let prefix = format!("<{} from='", s.element().qname());
                            assert!(out.starts_with(prefix.as_bytes()));
                        }
                        Event::Closed(r) => self.closed = Some(r),
                        _ => {}
                    }
                }
                Output::Wait(_) => return,
                Output::Closed => {
                    assert!(self.closed.is_some(), "closed without saying why");
                    self.over = true;
                    return;
                }
            }
        }
        panic!("the server never waits");
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.over {
            let n = self.server.handle_input(data, self.now);
            data = &data[n..];
            self.drain();
            if n == 0 && !self.over && self.closed.is_none() {
                panic!("receive buffer full while the server waits");
            }
            if n == 0 {
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let (ctl, client) = data.split_at(HEADER);
    let mut config = Config::new("example.com");
    config.tls = if ctl[0] & 2 != 0 { TlsMode::Required } else { TlsMode::Off };
    config.allow_plain_without_tls = true;
    config.legacy_session = true;
    config.resumption = Some(Duration::from_secs(60));
    let mut rx = vec![0u8; 2048];
    let mut tx = vec![0u8; 4096];
    let mut run = Run {
        server: Server::new(config, &mut rx, &mut tx, Rng(u64::from(ctl[1])), Store),
        now: Instant::from_millis(1),
        units: Vec::new(),
        closed: None,
        over: false,
        stanzas: 0,
        binding: ctl[0] & 8 != 0,
    };
    run.drain();
    if ctl[0] & 1 != 0 {
        run.feed(OPEN);
        if ctl[0] & 2 != 0 {
            run.feed(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
            run.drain();
            run.feed(OPEN);
        }
        // \0juliet\0pw
        run.feed(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>");
        run.feed(OPEN);
        run.feed(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>");
        assert!(run.server.is_ready() || run.closed.is_some());
    }
    let mut seed = u64::from(ctl[1]) | 0x100;
    let advance = Duration::from_secs(u64::from(ctl[2]));
    let mut rest = client;
    let mut chunk_no = 0u32;
    while !rest.is_empty() && !run.over {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let n = 1 + (seed >> 33) as usize % 64;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        chunk_no += 1;
        run.now = run.now + advance;
        run.feed(piece);
        run.drain();
        if ctl[0] & 4 != 0 && chunk_no % 3 == 0 {
            // Refused when not bound or full: never a panic.
            let _ = run.server.deliver(b"<message from='romeo@example.com/o' type='chat'><body>x</body></message>");
            let _ = run.server.bounce(picoxmpp::stanza::ErrorCondition::ServiceUnavailable);
            run.drain();
        }
    }
    // Let every timer fire: the session always ends.
    run.now = run.now + Duration::from_secs(3600);
    run.drain();
    if !run.over {
        run.server.close(run.now);
        run.drain();
        run.now = run.now + Duration::from_secs(3600);
        run.drain();
    }
    assert!(run.over, "the session did not end");
    if let Some(CloseReason::ErrorSent(_)) = run.closed {
        let n = run.units.len();
        assert!(n >= 2 && run.units[n - 1] == "close" && run.units[n - 2] == "stream:error", "{:?}", run.units);
    }
});
