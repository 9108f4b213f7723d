// Invariant: stream management (XEP-0198) driven by an arbitrary server
// never panics or hangs, keeps its memory in the buffers it was given,
// transmits only well-formed units, and treats counts by the rules:
// an `<a h=''/>` above what was sent fails the session (never wraps into
// a silent ack), one within it frees exactly that many stanzas; the
// resumable state survives export and import, and a damaged blob is
// refused, never loaded half.
//
// Input: a program of one-byte operations, each with its operands after
// it (see `op`): the client sends, the server acks (any h, or an h near
// the client's count), requests acks, sends stanzas or raw bytes, the
// connection breaks and the session is resumed (any h, any previd) or
// refused, the state is exported (maybe damaged) and imported, time
// passes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picoxmpp::client::{
    Client, ClientError, Config, Keepalive, OnFailedResume, Output, SmConfig, TlsPolicy,
};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp::time::Instant;
use std::time::Duration;

#[path = "common.rs"]
mod common;
use common::{check_unit, Rng, SERVER_HEADER};

struct Run<'b> {
    client: Client<'b, 'static, Rng>,
    now: Instant,
    last_iq_id: Vec<u8>,
    error: Option<ClientError>,
    /// The session is over (`Output::Closed`): it reads no more.
    closed: bool,
}

impl Run<'_> {
    fn drain(&mut self) {
        for _ in 0..10_000 {
            match self.client.poll(self.now) {
                Ok(Output::Transmit(unit)) => {
                    check_unit(unit);
                    if unit.starts_with(b"<iq") {
                        if let Some(id) = unit.split(|b| *b == b'\'').nth(3) {
                            self.last_iq_id = id.to_vec();
                        }
                    }
                }
                Ok(Output::StartTls) => panic!("no STARTTLS offered"),
                Ok(Output::Event(picoxmpp::client::Event::Unacked(unit))) => check_unit(unit),
                Ok(Output::Event(_)) => {}
                Ok(Output::Wait(_)) => return,
                Ok(Output::Closed) => {
                    self.closed = true;
                    return;
                }
                Err(e) => {
                    assert_eq!(self.client.poll(self.now).err(), Some(e.clone()));
                    self.error = Some(e);
                    return;
                }
            }
        }
        panic!("the client never waits");
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.error.is_none() && !self.closed {
            let n = self.client.handle_input(data, self.now);
            data = &data[n..];
            self.drain();
            if n == 0 && self.error.is_none() {
                panic!("receive buffer full while the client waits");
            }
        }
    }

    /// Logs in (again): PLAIN, then bind features with `<sm/>` and `<csi/>`;
    /// a fresh login gets the bind result and `enabled`.
    fn login(&mut self, enabled: &[u8]) {
        self.drain();
        self.feed(SERVER_HEADER);
        self.feed(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        self.feed(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        self.feed(SERVER_HEADER);
        self.feed(b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/></stream:features>");
        if self.client.is_resumable() {
            return;
        }
        self.bind();
        self.feed(enabled);
    }

    fn bind(&mut self) {
        let mut bind = b"<iq type='result' id='".to_vec();
        bind.extend_from_slice(&self.last_iq_id);
        bind.extend_from_slice(b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>");
        self.feed(&bind);
    }
}

fn config() -> Config<'static> {
    let mut config = Config::new(Jid::parse("juliet@example.com/balcony").unwrap(), "pw");
    config.keepalive = Keepalive::Off;
    config.tls = TlsPolicy::InsecureAllowPlaintext;
    config.allow_plain_without_tls = true;
    config
}

/// Takes `n` bytes of the program (zeros past its end).
fn take<'d>(data: &mut &'d [u8], n: usize) -> &'d [u8] {
    let (a, b) = data.split_at(n.min(data.len()));
    *data = b;
    a
}

fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}

fn word(data: &mut &[u8]) -> u32 {
    let mut b = [0u8; 4];
    let t = take(data, 4);
    b[..t.len()].copy_from_slice(t);
    u32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let mut prog = data;
    let flags = byte(&mut prog);
    let sm = SmConfig {
        resume: flags & 1 == 0,
        max: (flags & 2 != 0).then_some(60),
        request_every: u32::from(flags >> 4),
        request_after: (flags & 4 != 0).then_some(Duration::from_secs(1)),
        on_failed_resume: if flags & 8 != 0 {
            OnFailedResume::Resend
        } else {
            OnFailedResume::HandBack
        },
    };
    let mut rx = vec![0u8; 2048];
    let mut tx = vec![0u8; 1024];
    let mut queue = vec![0u8; 1024];
    let mut run = Run {
        client: Client::new(config(), &mut rx, &mut tx, Rng(7)),
        now: Instant::from_millis(1),
        last_iq_id: Vec::new(),
        error: None,
        closed: false,
    };
    run.client.enable_stream_management(&mut queue, sm);
    run.login(b"<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='true' max='60' location='127.0.0.1:5222'/>");
    let mut steps = 0;
    while !prog.is_empty() && steps < 200 {
        steps += 1;
        let op = byte(&mut prog) % 12;
        if run.error.is_some() && op != 5 {
            continue;
        }
        match op {
            0 => {
                let n = usize::from(byte(&mut prog) % 64);
                let body = String::from_utf8_lossy(take(&mut prog, n)).into_owned();
                let _ = run.client.send_message(Jid::parse("romeo@example.net").unwrap(), MessageType::Chat, &body);
                run.drain();
            }
            1 | 2 => {
                // An ack with any h, or with one near the client's count.
                let (_, acked) = run.client.sm_counters();
                let unacked = run.client.unacked();
                let h = if op == 1 {
                    word(&mut prog)
                } else {
                    acked.wrapping_add(u32::from(byte(&mut prog)) % (unacked + 3))
                };
                let delta = h.wrapping_sub(acked);
                run.feed(format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>").as_bytes());
                // Never applied past what was sent; applied whole or not
                // at all (raw bytes before may have left an element open,
                // which swallows this one).
                let (_, now_acked) = run.client.sm_counters();
                if delta > unacked {
                    assert!(run.error.is_some() || now_acked == acked, "h={h} acked={acked} unacked={unacked}");
                } else if run.error.is_none() && now_acked == h && h != acked {
                    assert_eq!(run.client.unacked(), unacked - delta);
                } else if run.error.is_none() {
                    assert_eq!(now_acked, acked);
                }
            }
            3 => run.feed(b"<r xmlns='urn:xmpp:sm:3'/>"),
            4 => run.feed(b"<message from='romeo@example.net/o' type='chat'><body>x</body></message>"),
            5 => {
                // The connection breaks; the server resumes (any h, maybe
                // another previd), refuses, or the login binds afresh.
                run.error = None;
                run.closed = false;
                run.client.connection_lost(run.now);
                let kind = byte(&mut prog);
                let h = match kind & 3 {
                    0 => word(&mut prog),
                    _ => run.client.sm_counters().1.wrapping_add(u32::from(byte(&mut prog) % 8)),
                };
                run.login(b"<enabled xmlns='urn:xmpp:sm:3' id='sm-2' resume='1'/>");
                match kind >> 2 & 3 {
                    0 | 1 => run.feed(format!("<resumed xmlns='urn:xmpp:sm:3' previd='sm-1' h='{h}'/>").as_bytes()),
                    2 => {
                        run.feed(format!("<failed xmlns='urn:xmpp:sm:3' h='{h}'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>").as_bytes());
                        run.bind();
                    }
                    _ => run.feed(b"<resumed xmlns='urn:xmpp:sm:3' previd='other' h='0'/>"),
                }
            }
            6 => {
                // Export, maybe damage one byte, import into a new client.
                let mut blob = vec![0u8; 2048];
                let Ok(n) = run.client.export_resumable(&mut blob) else { continue };
                blob.truncate(n);
                let at = usize::from(byte(&mut prog));
                let flip = byte(&mut prog);
                let damaged = at < n && flip != 0;
                if damaged {
                    blob[at] ^= flip;
                }
                let (mut rx2, mut tx2, mut q2) = (vec![0u8; 2048], vec![0u8; 1024], vec![0u8; 1024]);
                let mut c2 = Client::new(config(), &mut rx2, &mut tx2, Rng(9));
                c2.enable_stream_management(&mut q2, sm);
                match c2.import_resumable(&blob) {
                    // CRC-32C catches every one-byte change.
                    Ok(()) => {
                        assert!(!damaged);
                        assert_eq!(c2.unacked(), run.client.unacked());
                        assert_eq!(c2.sm_counters(), run.client.sm_counters());
                    }
                    Err(e) => {
                        assert!(damaged, "{e}");
                        assert_eq!(c2.unacked(), 0);
                    }
                }
            }
            7 => {
                let n = usize::from(byte(&mut prog));
                let raw = take(&mut prog, n).to_vec();
                run.feed(&raw);
            }
            8 => {
                let _ = run.client.set_active(byte(&mut prog) & 1 == 0);
                run.drain();
            }
            9 => {
                run.now = run.now + Duration::from_millis(u64::from(byte(&mut prog)) * 20);
                run.drain();
            }
            10 => {
                let _ = run.client.request_ack();
                run.drain();
            }
            _ => {
                let _ = run.client.close(run.now);
                run.drain();
            }
        }
    }
    run.now = run.now + Duration::from_secs(3600);
    run.drain();
});
