//! The embedded-io drivers against an in-memory server: a scripted peer
//! that answers each unit the client writes, on a simulated clock. The same
//! session runs over the blocking and the async driver, with the server's
//! bytes delivered whole and one byte per read.
#![cfg(all(feature = "embedded-io", feature = "embedded-io-async"))]

use picoxmpp::client::{Client, Config, Event, Keepalive, TlsBinding};
use picoxmpp::io::{self, Progress};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp::time::Instant;
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

const SERVER_HEADER: &str = "<?xml version='1.0'?><stream:stream from='example.com' id='s1' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
const STARTTLS_FEATURES: &str = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
const SASL_FEATURES: &str = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
const BIND_FEATURES: &str = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><required/></bind></stream:features>";

/// A deterministic stand-in for the caller's CryptoRng.
struct TestRng(u64);
impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
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
impl rand_core::CryptoRng for TestRng {}

/// The simulated clock: every reading advances it by one millisecond, so a
/// driver that waits for a deadline sees it come.
#[derive(Clone, Default)]
struct SimClock(Rc<Cell<u64>>);
impl SimClock {
    fn reader(&self) -> impl FnMut() -> Instant {
        let c = self.0.clone();
        move || {
            c.set(c.get() + 1);
            Instant::from_millis(c.get())
        }
    }
    fn get(&self) -> u64 {
        self.0.get()
    }
}

type Step = Box<dyn FnMut(&str) -> String>;

/// The server's side: each flushed unit from the client is checked by the
/// next step, whose answer becomes readable, `chunk` bytes per read.
struct Peer {
    steps: VecDeque<Step>,
    unit: Vec<u8>,
    units: Rc<std::cell::RefCell<Vec<String>>>,
    to_client: VecDeque<u8>,
    chunk: usize,
    /// The connection ends once the script is done.
    eof_after_script: bool,
}

impl Peer {
    fn new(steps: Vec<Step>, chunk: usize) -> Self {
        Peer {
            steps: steps.into(),
            unit: Vec::new(),
            units: Default::default(),
            to_client: VecDeque::new(),
            chunk,
            eof_after_script: false,
        }
    }
    fn flushed(&mut self) {
        let unit = String::from_utf8(std::mem::take(&mut self.unit)).unwrap();
        if unit.is_empty() {
            return;
        }
        self.units.borrow_mut().push(unit.clone());
        if let Some(mut step) = self.steps.pop_front() {
            self.to_client.extend(step(&unit).into_bytes());
        }
    }
    fn ready(&self) -> bool {
        !self.to_client.is_empty() || (self.eof_after_script && self.steps.is_empty())
    }
    fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.chunk).min(self.to_client.len());
        for b in buf.iter_mut().take(n) {
            *b = self.to_client.pop_front().unwrap();
        }
        n
    }
}

impl embedded_io::ErrorType for Peer {
    type Error = std::convert::Infallible;
}
impl embedded_io::Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        assert!(self.ready(), "a blocking read when nothing is readable");
        Ok(self.take(buf))
    }
}
impl embedded_io::ReadReady for Peer {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.ready())
    }
}
impl embedded_io::Write for Peer {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        // Accept a few bytes at a time: the driver must finish the unit.
        let n = buf.len().min(7);
        self.unit.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.flushed();
        Ok(())
    }
}
impl embedded_io_async::Read for Peer {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // Readable only when bytes are there: pending otherwise (the
        // driver's timer must win then).
        core::future::poll_fn(|cx| {
            if self.ready() {
                std::task::Poll::Ready(Ok(self.take(buf)))
            } else {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await
    }
}
impl embedded_io_async::Write for Peer {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        embedded_io::Write::write(self, buf)
    }
    async fn flush(&mut self) -> Result<(), Self::Error> {
        embedded_io::Write::flush(self)
    }
}

fn expect(prefix: &'static str, reply: impl Into<String>) -> Step {
    let reply = reply.into();
    Box::new(move |unit: &str| {
        assert!(unit.starts_with(prefix), "expected {prefix}..., got {unit}");
        reply.clone()
    })
}

/// RFC 6120 §9 shortened: STARTTLS, PLAIN, bind; then the server pings
/// (XEP-0199) and the client reports; then the polite close.
fn script() -> Vec<Step> {
    vec![
        expect("<?xml", format!("{SERVER_HEADER}{STARTTLS_FEATURES}")),
        expect(
            "<starttls",
            "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        ),
        expect("<?xml", format!("{SERVER_HEADER}{SASL_FEATURES}")),
        expect(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>",
            "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        ),
        expect("<?xml", format!("{SERVER_HEADER}{BIND_FEATURES}")),
        Box::new(|unit: &str| {
            assert!(
                unit.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'"),
                "{unit}"
            );
            let id = unit
                .split("id='")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap();
            format!("<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>sensor@example.com/r1</jid></bind></iq>")
        }),
        expect(
            "<presence><status>21.5 C</status></presence>",
            "<iq from='example.com' id='ping1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
        ),
        expect("<iq type='result' to='example.com' id='ping1'/>", ""),
        expect("<message to='watcher@example.com' type='chat' id='", ""),
        expect("<presence type='unavailable'/>", ""),
        expect("</stream:stream>", "</stream:stream>"),
    ]
}

fn config() -> Config<'static> {
    let mut c = Config::new(Jid::parse("sensor@example.com").unwrap(), "pw");
    c.keepalive = Keepalive::Off;
    c
}

/// What the caller saw, in order.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    StartTls,
    Ready(String),
    Deadline,
    Closed,
}

fn ready_jid(e: Event<'_>) -> Option<String> {
    match e {
        Event::Ready { jid } => Some(jid.as_str().to_owned()),
        _ => None,
    }
}

/// The application on top of either driver: presence once ready, one
/// reading at its own deadline, then the polite close.
struct Reporter {
    clock: SimClock,
    reading_due: Option<Instant>,
    seen: Vec<Seen>,
}

impl Reporter {
    fn new(clock: SimClock) -> Self {
        Reporter {
            clock,
            reading_due: None,
            seen: Vec::new(),
        }
    }

    /// Reacts to where the driver stopped; true once the session is over.
    fn react(
        &mut self,
        progress: Progress,
        ready: Option<String>,
        client: &mut Client<'_, '_, TestRng>,
        now: Instant,
    ) -> bool {
        match progress {
            Progress::StartTls => self.seen.push(Seen::StartTls),
            Progress::Event => {
                if let Some(jid) = ready {
                    self.seen.push(Seen::Ready(jid));
                    client.set_presence(None, Some("21.5 C"), 0).unwrap();
                    // The reading goes out at the caller's deadline.
                    self.reading_due = Some(Instant::from_millis(self.clock.get() + 500));
                }
            }
            Progress::Deadline => {
                self.seen.push(Seen::Deadline);
                assert!(self.clock.get() >= self.reading_due.unwrap().as_millis());
                self.reading_due = None;
                let watcher = Jid::parse("watcher@example.com").unwrap();
                client
                    .send_message(watcher, MessageType::Chat, "21.5")
                    .unwrap();
                client.close(now).unwrap();
            }
            Progress::Closed => {
                self.seen.push(Seen::Closed);
                return true;
            }
        }
        false
    }
}

fn blocking_session(chunk: usize) -> (Vec<Seen>, Vec<String>) {
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 1024]);
    let mut client = Client::new(config(), &mut rx, &mut tx, TestRng(3));
    let peer = Peer::new(script(), chunk);
    let units = peer.units.clone();
    let clock = SimClock::default();
    let mut driver = io::blocking::Driver::new(peer, clock.reader());
    let mut app = Reporter::new(clock);
    loop {
        let mut ready = None;
        let progress = driver
            .poll(&mut client, app.reading_due, |e| ready = ready_jid(e))
            .unwrap();
        if progress == Progress::StartTls {
            // The TLS layer would wrap the transport here.
            let (peer, clock) = driver.into_parts();
            client.tls_established(TlsBinding::None);
            driver = io::blocking::Driver::new(peer, clock);
        }
        let now = driver.now();
        if app.react(progress, ready, &mut client, now) {
            break;
        }
    }
    let units = units.borrow().clone();
    (app.seen, units)
}

#[test]
fn blocking_driver_carries_a_session() {
    let (seen, units) = blocking_session(usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::StartTls,
            Seen::Ready("sensor@example.com/r1".into()),
            Seen::Deadline,
            Seen::Closed
        ]
    );
    // Every step of the script ran, each unit in one flush.
    assert_eq!(units.len(), script().len());
    assert_eq!(blocking_session(1), (seen, units));
}

#[test]
fn blocking_driver_reports_a_vanished_connection() {
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 1024]);
    let mut client = Client::new(config(), &mut rx, &mut tx, TestRng(3));
    let mut steps = script();
    steps.truncate(1);
    let mut peer = Peer::new(steps, usize::MAX);
    peer.eof_after_script = true;
    let clock = SimClock::default();
    let mut driver = io::blocking::Driver::new(peer, clock.reader());
    let r = loop {
        match driver.poll(&mut client, None, |_| {}) {
            Ok(Progress::Event) => {}
            other => break other,
        }
    };
    assert_eq!(r, Err(io::Error::ConnectionClosed));
}

/// The core's keepalive deadline is honoured while nothing arrives: the
/// driver wakes up and the ping goes out (XEP-0199 §4.2).
#[test]
fn blocking_driver_wakes_for_the_core_deadlines() {
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 1024]);
    let mut c = config();
    c.keepalive = Keepalive::Ping {
        idle: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
    };
    let mut client = Client::new(c, &mut rx, &mut tx, TestRng(3));
    let mut steps = script();
    steps.truncate(6);
    steps.push(Box::new(|unit: &str| {
        assert!(unit.contains("<ping xmlns='urn:xmpp:ping'/>"), "{unit}");
        String::new() // no answer: the connection counts as dead
    }));
    let peer = Peer::new(steps, usize::MAX);
    let units = peer.units.clone();
    let clock = SimClock::default();
    let mut driver = io::blocking::Driver::new(peer, clock.reader());
    let err = loop {
        match driver.poll(&mut client, None, |_| {}) {
            Ok(Progress::StartTls) => client.tls_established(TlsBinding::None),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(matches!(err, io::Error::Client(e) if e.fault() == picoxmpp::client::Fault::Transport));
    assert!(units.borrow().last().unwrap().contains("urn:xmpp:ping"));
    // Idle 2 s, then 1 s for the answer.
    assert!(clock.get() >= 3_000, "{}", clock.get());
}

/// Polls a future to completion; the peer and the timer never need a
/// real waker (they are ready or wake themselves at once).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..10_000_000 {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("the future never completed");
}

fn async_session(chunk: usize) -> (Vec<Seen>, Vec<String>) {
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 1024]);
    let mut client = Client::new(config(), &mut rx, &mut tx, TestRng(3));
    let peer = Peer::new(script(), chunk);
    let units = peer.units.clone();
    let clock = SimClock::default();
    // The timer: pending until the simulated clock reaches `at`.
    let timer_clock = clock.clone();
    let timer = move |at: Instant| {
        let c = timer_clock.clone();
        core::future::poll_fn(move |cx| {
            c.0.set(c.0.get() + 1);
            if c.get() >= at.as_millis() {
                std::task::Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
    };
    let mut driver = io::asynch::Driver::new(peer, clock.reader(), timer);
    let mut app = Reporter::new(clock);
    block_on(async {
        loop {
            let mut ready = None;
            let progress = driver
                .poll(&mut client, app.reading_due, |e| ready = ready_jid(e))
                .await
                .unwrap();
            if progress == Progress::StartTls {
                let (peer, clock, timer) = driver.into_parts();
                client.tls_established(TlsBinding::None);
                driver = io::asynch::Driver::new(peer, clock, timer);
            }
            let now = driver.now();
            if app.react(progress, ready, &mut client, now) {
                break;
            }
        }
    });
    let units = units.borrow().clone();
    (app.seen, units)
}

#[test]
fn async_driver_carries_the_same_session() {
    let (seen, units) = async_session(usize::MAX);
    assert_eq!(seen, blocking_session(usize::MAX).0);
    assert_eq!(units.len(), script().len());
    assert_eq!(async_session(1), (seen, units));
}
