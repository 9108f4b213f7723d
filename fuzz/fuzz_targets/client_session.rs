// Invariant: a client driven through negotiation by arbitrary server bytes
// never panics, never hangs (every poll loop ends in `Wait`, `Closed` or an
// error within a bounded number of steps), its memory is the fixed buffers
// it was given, and everything it transmits is well-formed XML: each unit
// is a stream header, `</stream:stream>`, whitespace, or exactly one
// element, which our own parser accepts. After an error, every poll
// returns that same error (once the queued stream error and close are
// written).
//
// Input layout (HEADER = 4 control bytes, then the server's bytes):
//   [0] bit 0: play a valid server prefix first (STARTTLS, SASL PLAIN,
//       bind), so the fuzzer reaches the ready session, stanzas and close;
//       bit 1: channel-binding data after TLS; bit 2: keepalive pings;
//       bit 3: TLS policy InsecureAllowPlaintext instead of Required
//   [1] chunk sizes of the server's bytes (PRNG seed)
//   [2] every how many chunks the client sends a message with a fuzzed
//       body (0: never), and the clock advance per chunk (bits 4-7, in
//       seconds, so timers fire)
//   [3] close politely after this many chunks (0: never)
//   [4..] the server's bytes
#![no_main]

use libfuzzer_sys::fuzz_target;
use picoxmpp::client::{Client, ClientError, Config, Keepalive, Output, TlsBinding, TlsPolicy};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp::time::Instant;
use std::time::Duration;

#[path = "common.rs"]
mod common;
use common::{check_unit, Rng, SERVER_HEADER};

const HEADER: usize = 4;
struct Run<'b> {
    client: Client<'b, 'static, Rng>,
    now: Instant,
    binding: bool,
    last_iq_id: Vec<u8>,
    error: Option<ClientError>,
    ready: bool,
}

impl Run<'_> {
    /// Polls until the client waits; checks every unit.
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
                Ok(Output::StartTls) => self.client.tls_established(if self.binding {
                    TlsBinding::Exporter(&[9; 32])
                } else {
                    TlsBinding::None
                }),
                Ok(Output::Event(picoxmpp::client::Event::Ready { .. })) => self.ready = true,
                Ok(Output::Event(_)) => {}
                Ok(Output::Wait(_)) | Ok(Output::Closed) => return,
                Err(e) => {
                    // The client stays failed.
                    assert_eq!(self.client.poll(self.now).err(), Some(e.clone()));
                    self.error = Some(e);
                    return;
                }
            }
        }
        panic!("the client never waits");
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.error.is_none() {
            let n = self.client.handle_input(data, self.now);
            data = &data[n..];
            self.drain();
            if n == 0 && self.error.is_none() {
                panic!("receive buffer full while the client waits");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let (ctl, server) = data.split_at(HEADER);
    let mut config = Config::new(Jid::parse("juliet@example.com/balcony").unwrap(), "pw");
    config.keepalive = if ctl[0] & 4 != 0 {
        Keepalive::Ping { idle: Duration::from_secs(30), timeout: Duration::from_secs(10) }
    } else {
        Keepalive::Whitespace { idle: Duration::from_secs(30) }
    };
    if ctl[0] & 8 != 0 {
        config.tls = TlsPolicy::InsecureAllowPlaintext;
    }
    config.iq_namespaces = &["jabber:iq:version"];
    let mut rx = vec![0u8; 2048];
    let mut tx = vec![0u8; 2048];
    let mut run = Run {
        client: Client::new(config, &mut rx, &mut tx, Rng(u64::from(ctl[1]))),
        now: Instant::from_millis(1),
        binding: ctl[0] & 2 != 0,
        last_iq_id: Vec::new(),
        error: None,
        ready: false,
    };
    run.drain();
    if ctl[0] & 1 != 0 {
        // A valid server up to the ready session.
        run.feed(SERVER_HEADER);
        run.feed(b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>");
        run.feed(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        run.feed(SERVER_HEADER);
        run.feed(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        run.feed(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        run.feed(SERVER_HEADER);
        run.feed(b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>");
        let mut bind = b"<iq type='result' id='".to_vec();
        bind.extend_from_slice(&run.last_iq_id);
        bind.extend_from_slice(b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>");
        run.feed(&bind);
        assert!(run.ready || run.error.is_some());
    }
    let mut seed = u64::from(ctl[1]) | 0x100;
    let every = ctl[2] & 0x0f;
    let advance = Duration::from_secs(u64::from(ctl[2] >> 4) * 5);
    let mut rest = server;
    let mut chunk_no = 0u32;
    while !rest.is_empty() && run.error.is_none() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let n = 1 + (seed >> 33) as usize % 64;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        chunk_no += 1;
        run.now = run.now + advance;
        run.feed(piece);
        run.drain();
        if every != 0 && chunk_no % u32::from(every) == 0 && run.error.is_none() {
            let body = String::from_utf8_lossy(piece);
            // May be refused (not ready, bad character, full): never a panic.
            let _ = run.client.send_message(Jid::parse("romeo@example.net").unwrap(), MessageType::Chat, &body);
            run.drain();
        }
        if ctl[3] != 0 && chunk_no == u32::from(ctl[3]) && run.error.is_none() {
            let _ = run.client.close(run.now);
            run.drain();
        }
    }
    // Let every timer fire.
    run.now = run.now + Duration::from_secs(3600);
    run.drain();
    run.now = run.now + Duration::from_secs(3600);
    run.drain();
});
