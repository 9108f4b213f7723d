//! The parser, the views, the writer and the JID code allocate nothing: a
//! counting global allocator sees no allocation on this thread while a whole
//! stream is written, parsed (byte by byte and whole) and read through.

use picoxmpp::jid::{Jid, JidBuf};
use picoxmpp::xml::{ElementBuilder, Event, Node, StreamHeaderBuilder, StreamParser};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    // Per thread: tests run in parallel, and one of them allocates on
    // purpose while watched.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    if WATCHING.with(|w| w.get()) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watched<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(|a| a.get());
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, ALLOCATIONS.with(|a| a.get()) - before)
}

/// Writes a stream of `n` messages into `out`; returns its length.
fn write_stream(out: &mut [u8], n: usize) -> usize {
    let mut len = StreamHeaderBuilder::new("jabber:client")
        .from("example.com")
        .id("s1")
        .write_to(out)
        .unwrap();
    for i in 0..n {
        let body = [Node::Text(if i % 2 == 0 {
            "Wherefore art thou, <Romeo> & 😀?"
        } else {
            "Dvořím se\r\nJulii"
        })];
        let kids = [
            Node::Element(ElementBuilder::new("body").children(&body)),
            Node::Element(
                ElementBuilder::new("active").ns("http://jabber.org/protocol/chatstates"),
            ),
        ];
        let msg = ElementBuilder::new("message")
            .attrs(&[
                ("to", "romeo@example.net/orchard"),
                ("type", "chat"),
                ("id", "o'1"),
            ])
            .children(&kids);
        len += msg.write_to(&mut out[len..]).unwrap();
        len += picoxmpp::xml::escape(" ", false, &mut out[len..]).unwrap();
    }
    len + StreamHeaderBuilder::write_close(&mut out[len..]).unwrap()
}

/// Parses `input` in chunks of `chunk` bytes and reads every view.
fn parse_all(buf: &mut [u8], input: &[u8], chunk: usize) -> (usize, usize) {
    let mut p = StreamParser::new(buf);
    let (mut elements, mut text_bytes) = (0, 0);
    let mut rest = input;
    let mut scratch = [0u8; 256];
    loop {
        while let Some(ev) = p.next().unwrap() {
            match ev {
                Event::StreamOpen(h) => assert!(h.id().unwrap().eq_str("s1")),
                Event::Element(el) => {
                    elements += 1;
                    assert_eq!(el.namespace(), "jabber:client");
                    for a in el.attrs() {
                        text_bytes += a.value.decode_into(&mut scratch).unwrap().len();
                    }
                    let to = el.attr("to").unwrap();
                    let to = to.decode_into(&mut scratch).unwrap();
                    assert!(Jid::parse(to).unwrap().is_full());
                    for c in el.children() {
                        text_bytes += c.text().chars().count();
                        text_bytes += c.namespace().len();
                    }
                }
                Event::StreamClose => {}
            }
        }
        if rest.is_empty() {
            return (elements, text_bytes);
        }
        let n = p.feed(&rest[..chunk.min(rest.len())]);
        rest = &rest[n..];
    }
}

#[test]
fn parser_writer_and_jids_allocate_nothing() {
    let mut out = vec![0u8; 1 << 16];
    let mut rx = vec![0u8; 2048];
    let ((len, jids), allocs) = watched(|| {
        let len = write_stream(&mut out, 100);
        let jid: JidBuf<64> =
            JidBuf::from_parts(Some("juliet"), "example.com", Some("balcony")).unwrap();
        (
            len,
            jid.as_jid().bare() == Jid::parse("Juliet@Example.com").unwrap(),
        )
    });
    assert_eq!(allocs, 0, "writer or JIDs allocated");
    assert!(jids);
    let input = out[..len].to_vec();
    for chunk in [1, 7, 1500, usize::MAX] {
        let ((elements, text), allocs) = watched(|| parse_all(&mut rx, &input, chunk));
        assert_eq!(allocs, 0, "parser allocated with chunks of {chunk}");
        assert_eq!(elements, 100);
        assert!(text > 0);
    }
    // The counter itself works.
    let (_, allocs) = watched(|| std::hint::black_box(vec![1u8; 10]));
    assert_eq!(allocs, 1);
}

mod session {
    //! A whole client session (STARTTLS, SASL PLAIN, bind, stanzas both
    //! ways, the core's own iq answers, close) allocates nothing either.

    use super::watched;
    use picoxmpp::client::{Client, Config, Event, Keepalive, Output, TlsBinding};
    use picoxmpp::jid::Jid;
    use picoxmpp::stanza::MessageType;
    use picoxmpp::time::Instant;

    pub(super) struct Rng(pub(super) u64);
    impl rand_core::RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 11
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            d.iter_mut().for_each(|b| *b = self.next_u32() as u8)
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for Rng {}

    const HEADER: &str = "<stream:stream from='example.com' id='s1' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

    /// What one drive of the client saw, without allocating.
    #[derive(Default)]
    struct Seen {
        sent_units: usize,
        sent_bytes: usize,
        ready: bool,
        resumed: u32,
        messages: usize,
        closed: bool,
        /// The id of the last iq sent, copied.
        last_iq_id: [u8; 32],
        last_iq_id_len: usize,
    }

    fn drive(c: &mut Client<'_, '_, Rng>, now: Instant, seen: &mut Seen) {
        loop {
            match c.poll(now).expect("no error") {
                Output::Transmit(unit) => {
                    seen.sent_units += 1;
                    seen.sent_bytes += unit.len();
                    if unit.starts_with(b"<iq") {
                        let s = core::str::from_utf8(unit).unwrap();
                        if let Some(id) = s.split("id='").nth(1).and_then(|r| r.split('\'').next())
                        {
                            seen.last_iq_id[..id.len()].copy_from_slice(id.as_bytes());
                            seen.last_iq_id_len = id.len();
                        }
                    }
                }
                Output::StartTls => c.tls_established(TlsBinding::None),
                Output::Event(Event::Ready { jid }) => {
                    seen.ready = jid == Jid::parse("juliet@example.com/r1").unwrap()
                }
                Output::Event(Event::Message(m)) => {
                    assert!(m.body().unwrap().eq_str("Wherefore art thou?"));
                    seen.messages += 1;
                }
                Output::Event(Event::Closed) => seen.closed = true,
                Output::Event(Event::Resumed { resent, .. }) => seen.resumed += 1 + resent,
                Output::Event(_) => {}
                Output::Wait(_) => return,
                Output::Closed => return,
            }
        }
    }

    fn feed(c: &mut Client<'_, '_, Rng>, now: Instant, seen: &mut Seen, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() {
            let n = c.handle_input(rest, now);
            rest = &rest[n..];
            drive(c, now, seen);
        }
    }

    fn session(rx: &mut [u8], tx: &mut [u8]) -> Seen {
        let mut config = Config::new(Jid::parse("juliet@example.com").unwrap(), "r0m30myr0m30");
        config.keepalive = Keepalive::Off;
        let mut c = Client::new(config, rx, tx, Rng(42));
        let now = Instant::from_millis(1);
        let mut seen = Seen::default();
        drive(&mut c, now, &mut seen);
        feed(&mut c, now, &mut seen, HEADER.as_bytes());
        feed(&mut c, now, &mut seen, b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>");
        feed(
            &mut c,
            now,
            &mut seen,
            b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        );
        feed(&mut c, now, &mut seen, HEADER.as_bytes());
        feed(&mut c, now, &mut seen, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
        feed(
            &mut c,
            now,
            &mut seen,
            b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        );
        feed(&mut c, now, &mut seen, HEADER.as_bytes());
        feed(
            &mut c,
            now,
            &mut seen,
            b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
        );
        let mut bind = [0u8; 256];
        let id = core::str::from_utf8(&seen.last_iq_id[..seen.last_iq_id_len]).unwrap();
        let parts = [
            "<iq type='result' id='",
            id,
            "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/r1</jid></bind></iq>",
        ];
        let mut n = 0;
        for p in parts {
            bind[n..n + p.len()].copy_from_slice(p.as_bytes());
            n += p.len();
        }
        feed(&mut c, now, &mut seen, &bind[..n]);
        for _ in 0..50 {
            feed(&mut c, now, &mut seen, b"<message from='romeo@example.net/o' type='chat'><body>Wherefore art thou?</body></message><iq from='example.com' id='p' type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
            c.send_message(
                Jid::parse("romeo@example.net").unwrap(),
                MessageType::Chat,
                "By yonder blessed moon",
            )
            .unwrap();
            drive(&mut c, now, &mut seen);
        }
        c.close(now).unwrap();
        drive(&mut c, now, &mut seen);
        feed(&mut c, now, &mut seen, b"</stream:stream>");
        seen
    }

    /// Stream management: enable, acks both ways, a lost connection,
    /// resumption with a resend, the exported state imported into a new
    /// client.
    #[cfg(feature = "stream-management")]
    fn sm_session(
        rx: &mut [u8],
        tx: &mut [u8],
        queue: &mut [u8],
        blob: &mut [u8],
    ) -> (Seen, usize) {
        use picoxmpp::client::{SmConfig, TlsPolicy};
        let mut config = Config::new(Jid::parse("juliet@example.com").unwrap(), "r0m30myr0m30");
        config.keepalive = Keepalive::Off;
        config.tls = TlsPolicy::InsecureAllowPlaintext;
        config.allow_plain_without_tls = true;
        let mut c = Client::new(config.clone(), rx, tx, Rng(42));
        c.enable_stream_management(queue, SmConfig::default());
        let now = Instant::from_millis(1);
        let mut seen = Seen::default();
        let login = |c: &mut Client<'_, '_, Rng>, seen: &mut Seen| {
            drive(c, now, seen);
            feed(c, now, seen, HEADER.as_bytes());
            feed(c, now, seen, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
            feed(
                c,
                now,
                seen,
                b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
            );
            feed(c, now, seen, HEADER.as_bytes());
            feed(c, now, seen, b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/></stream:features>");
        };
        login(&mut c, &mut seen);
        let mut bind = [0u8; 256];
        let id = core::str::from_utf8(&seen.last_iq_id[..seen.last_iq_id_len]).unwrap();
        let parts = [
            "<iq type='result' id='",
            id,
            "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/r1</jid></bind></iq>",
        ];
        let mut n = 0;
        for p in parts {
            bind[n..n + p.len()].copy_from_slice(p.as_bytes());
            n += p.len();
        }
        feed(&mut c, now, &mut seen, &bind[..n]);
        feed(
            &mut c,
            now,
            &mut seen,
            b"<enabled xmlns='urn:xmpp:sm:3' id='a-b-c' resume='true' max='60'/>",
        );
        c.set_active(false).unwrap();
        for _ in 0..20 {
            feed(&mut c, now, &mut seen, b"<message from='romeo@example.net/o' type='chat'><body>Wherefore art thou?</body></message><r xmlns='urn:xmpp:sm:3'/>");
            c.send_message(
                Jid::parse("romeo@example.net").unwrap(),
                MessageType::Chat,
                "By yonder blessed moon",
            )
            .unwrap();
            drive(&mut c, now, &mut seen);
        }
        feed(&mut c, now, &mut seen, b"<a xmlns='urn:xmpp:sm:3' h='18'/>");
        assert_eq!(c.unacked(), 2);
        assert!(c.connection_lost(now));
        login(&mut c, &mut seen);
        feed(
            &mut c,
            now,
            &mut seen,
            b"<resumed xmlns='urn:xmpp:sm:3' previd='a-b-c' h='19'/>",
        );
        let n = c.export_resumable(blob).unwrap();
        (seen, n)
    }

    #[cfg(feature = "stream-management")]
    #[test]
    fn stream_management_allocates_nothing() {
        let mut rx = [0u8; 2048];
        let mut tx = [0u8; 1024];
        let mut queue = [0u8; 4096];
        let mut blob = [0u8; 1024];
        let ((seen, n), allocs) = watched(|| sm_session(&mut rx, &mut tx, &mut queue, &mut blob));
        assert_eq!(allocs, 0, "the client allocated");
        assert_eq!(seen.messages, 20);
        // One resumption, one stanza sent again.
        assert_eq!(seen.resumed, 2);
        let mut rx = [0u8; 2048];
        let mut tx = [0u8; 1024];
        let mut queue = [0u8; 1024];
        let (unacked, allocs) = watched(|| {
            let mut config = Config::new(Jid::parse("juliet@example.com").unwrap(), "r0m30myr0m30");
            config.keepalive = Keepalive::Off;
            let mut c = Client::new(config, &mut rx, &mut tx, Rng(7));
            c.enable_stream_management(&mut queue, picoxmpp::client::SmConfig::default());
            c.import_resumable(&blob[..n]).unwrap();
            c.unacked()
        });
        assert_eq!(allocs, 0, "import allocated");
        assert_eq!(unacked, 1);
    }

    #[test]
    fn a_whole_client_session_allocates_nothing() {
        let mut rx = [0u8; 2048];
        let mut tx = [0u8; 1024];
        let (seen, allocs) = watched(|| session(&mut rx, &mut tx));
        assert_eq!(allocs, 0, "the client allocated");
        assert!(seen.ready && seen.closed);
        assert_eq!(seen.messages, 50);
        // 3 headers, starttls, auth, bind, 50 × (pong + message), presence, close.
        assert_eq!(seen.sent_units, 3 + 1 + 1 + 1 + 100 + 2);
        // The size is guarded when the crate is built (client/footprint.rs,
        // where the target and the breakdown are); this shows it.
        println!(
            "Client state: {} bytes on this target ({}-bit), besides a {}-byte receive and {}-byte transmit buffer and the RNG ({} bytes here)",
            core::mem::size_of::<Client<'static, 'static, Rng>>() - core::mem::size_of::<Rng>(),
            usize::BITS,
            rx.len(),
            tx.len(),
            core::mem::size_of::<Rng>(),
        );
    }
}

mod server_side {
    //! The receiving side allocates nothing either: our client against our
    //! server, both in stack buffers, through STARTTLS, SCRAM-SHA-1,
    //! bind, a stamped message up, a delivered one down, and the close.

    use super::watched;
    use picoxmpp::client::{self, Client, Keepalive, TlsBinding};
    use picoxmpp::jid::Jid;
    use picoxmpp::sasl::scram::HashFunction;
    use picoxmpp::sasl::scram_server::StoredKeys;
    use picoxmpp::sasl::Mechanism;
    use picoxmpp::server::{self, Accounts, Server};
    use picoxmpp::stanza::MessageType;
    use picoxmpp::time::Instant;

    use super::session::Rng;

    struct One(StoredKeys);
    impl Accounts for One {
        fn scram_keys(&mut self, username: &str, hash: HashFunction) -> Option<StoredKeys> {
            (username == "juliet" && hash == self.0.hash()).then(|| self.0.clone())
        }
    }

    /// A pipe of fixed size.
    struct Pipe {
        buf: [u8; 8192],
        len: usize,
    }
    impl Pipe {
        fn push(&mut self, b: &[u8]) {
            self.buf[self.len..self.len + b.len()].copy_from_slice(b);
            self.len += b.len();
        }
        fn take(&mut self, n: usize) {
            self.buf.copy_within(n..self.len, 0);
            self.len -= n;
        }
    }

    #[derive(Default, Debug)]
    struct Counts {
        stanzas_up: usize,
        stamped_ok: bool,
        messages_down: usize,
        client_ready: bool,
        server_closed: bool,
    }

    #[test]
    fn server_session_allocates_nothing() {
        let keys = StoredKeys::derive(HashFunction::Sha1, "r0m30", b"salt", 4096).unwrap();
        let (counts, allocs) = watched(|| {
            let (mut crx, mut ctx, mut srx, mut stx) =
                ([0u8; 4096], [0u8; 4096], [0u8; 4096], [0u8; 4096]);
            let mut cc =
                client::Config::new(Jid::parse("juliet@example.com/balcony").unwrap(), "r0m30");
            cc.keepalive = Keepalive::Off;
            let mut c = Client::new(cc, &mut crx, &mut ctx, Rng(1));
            let mut sc = server::Config::new("example.com");
            sc.mechanisms = &[Mechanism::ScramSha1];
            let mut s = Server::new(sc, &mut srx, &mut stx, Rng(2), One(keys));
            let mut c2s = Pipe {
                buf: [0; 8192],
                len: 0,
            };
            let mut s2c = Pipe {
                buf: [0; 8192],
                len: 0,
            };
            let mut counts = Counts::default();
            let now = Instant::from_millis(5);
            let mut stamped = [0u8; 512];
            let (mut ctls, mut stls, mut sent, mut delivered, mut closing) =
                (false, false, false, false, false);
            for _ in 0..10_000 {
                loop {
                    match c.poll(now) {
                        Ok(client::Output::Transmit(b)) => c2s.push(b),
                        Ok(client::Output::StartTls) => ctls = true,
                        Ok(client::Output::Event(client::Event::Ready { .. })) => {
                            counts.client_ready = true
                        }
                        Ok(client::Output::Event(client::Event::Message(_))) => {
                            counts.messages_down += 1
                        }
                        Ok(client::Output::Event(_)) => {}
                        Ok(_) | Err(_) => break,
                    }
                }
                loop {
                    match s.poll(now) {
                        server::Output::Transmit(b) => s2c.push(b),
                        server::Output::StartTls => stls = true,
                        server::Output::Event(server::Event::Stanza(st)) => {
                            counts.stanzas_up += 1;
                            let n = st.write_stamped(&mut stamped).unwrap();
                            counts.stamped_ok |= stamped[..n]
                                .starts_with(b"<message from='juliet@example.com/balcony'");
                        }
                        server::Output::Event(server::Event::Closed(_)) => {
                            counts.server_closed = true
                        }
                        server::Output::Event(_) => {}
                        _ => break,
                    }
                }
                if ctls && stls && c2s.len == 0 && s2c.len == 0 {
                    c.tls_established(TlsBinding::None);
                    s.tls_established();
                    (ctls, stls) = (false, false);
                    continue;
                }
                if c.is_ready() && !sent {
                    c.send_message(
                        Jid::parse("romeo@example.com").unwrap(),
                        MessageType::Chat,
                        "Wherefore?",
                    )
                    .unwrap();
                    sent = true;
                    continue;
                }
                if counts.stanzas_up > 0 && !delivered {
                    s.deliver(b"<message from='romeo@example.com/orchard' type='chat'><body>Here</body></message>").unwrap();
                    delivered = true;
                    continue;
                }
                if counts.messages_down > 0 && !closing {
                    c.close(now).unwrap();
                    closing = true;
                    continue;
                }
                let n = s.handle_input(&c2s.buf[..c2s.len], now);
                c2s.take(n);
                let m = c.handle_input(&s2c.buf[..s2c.len], now);
                s2c.take(m);
                if n == 0 && m == 0 {
                    break;
                }
            }
            counts
        });
        assert_eq!(allocs, 0, "the server side allocated: {counts:?}");
        assert!(counts.client_ready, "{counts:?}");
        assert_eq!(counts.messages_down, 1, "{counts:?}");
        // The message, then the unavailable presence of the close.
        assert_eq!(counts.stanzas_up, 2, "{counts:?}");
        assert!(counts.stamped_ok && counts.server_closed, "{counts:?}");
    }
}
