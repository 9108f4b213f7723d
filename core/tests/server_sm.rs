//! Stream management (XEP-0198) between our own client and our own
//! server, in memory, on simulated time: enable with resumption, acks both
//! ways, resumption on a new connection from the state the adapter kept
//! (only what was not handled goes out again), failed resumption (unknown
//! id, another account's id), a client `h` above what was sent, and a
//! fault-injection run that cuts the connection at random byte offsets and
//! checks that every message arrives once and in order, both ways.

use picoxmpp::client::{self, Client, ClientError, Keepalive, OnFailedResume, SmConfig, TlsPolicy};
use picoxmpp::jid::{Jid, JidBuf};
use picoxmpp::sasl::scram::HashFunction;
use picoxmpp::sasl::scram_server::StoredKeys;
use picoxmpp::server::{self, Accounts, Detached, Server, ServerError, TlsMode};
use picoxmpp::stanza::MessageType;
use picoxmpp::time::Instant;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

mod server_common;
use server_common::{keys, TestRng};

/// A session whose connection dropped, as the adapter keeps it: the
/// state for [`Accounts::resume`] and a copy of what was delivered and
/// not yet acknowledged (oldest first).
#[derive(Clone)]
struct Kept {
    username: String,
    state: Detached,
    unacked: VecDeque<Vec<u8>>,
}

/// Detached sessions by resumption id, shared by every connection.
type Detachments = Rc<RefCell<HashMap<String, Kept>>>;

struct Store {
    detached: Detachments,
}

impl Accounts for Store {
    fn scram_keys(&mut self, username: &str, hash: HashFunction) -> Option<StoredKeys> {
        keys().get(&(username.to_string(), hash)).cloned()
    }
    fn resume(&mut self, username: &str, previd: &str) -> Option<Detached> {
        let kept = self.detached.borrow();
        let k = kept.get(previd)?;
        (k.username == username).then(|| k.state.clone())
    }
}

type TestServer = Server<'static, 'static, TestRng, Store>;

fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

/// What the client reported, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Ready(String),
    Resumed(String, u32),
    Rebound(String, u32),
    Unacked(String),
    Err(ClientError),
}

fn server_config() -> server::Config<'static> {
    let mut c = server::Config::new("example.com");
    c.tls = TlsMode::Off;
    c.allow_plain_without_tls = true;
    c.resumption = Some(Duration::from_secs(300));
    c
}

fn sm_config(on_failed_resume: OnFailedResume) -> SmConfig {
    SmConfig {
        resume: true,
        max: Some(600),
        request_every: 5,
        request_after: None,
        on_failed_resume,
    }
}

fn body_of(unit: &str) -> Option<String> {
    let rest = unit.split("<body>").nth(1)?;
    Some(rest.split("</body>").next()?.to_string())
}

/// One account's client, the server connections it makes one after the
/// other, and the adapter's side of routing around them.
struct Pair {
    user: &'static str,
    client: Client<'static, 'static, TestRng>,
    server: TestServer,
    detached: Detachments,
    connections: u64,
    now: Instant,
    /// Largest number of bytes carried each way per step.
    chunk: usize,
    c2s: VecDeque<u8>,
    s2c: VecDeque<u8>,
    /// Stanzas for the client, waiting for a bound session.
    outbox: VecDeque<Vec<u8>>,
    /// Delivered to the live session and not acknowledged yet.
    unacked: VecDeque<Vec<u8>>,
    delivered_since_request: u32,
    /// Bodies of the client's messages the server handed up.
    inbox: Vec<String>,
    /// Bodies of the messages the client reported.
    received: Vec<String>,
    events: Vec<Ev>,
    /// `resend` of each `Resumed` event on the server side.
    server_resends: Vec<u32>,
    binds: u32,
}

impl Pair {
    fn new(user: &'static str, on_failed_resume: OnFailedResume, chunk: usize) -> Self {
        Self::with_store(user, on_failed_resume, chunk, Rc::default())
    }

    fn with_store(
        user: &'static str,
        on_failed_resume: OnFailedResume,
        chunk: usize,
        detached: Detachments,
    ) -> Self {
        let jid: &'static str = Box::leak(format!("{user}@example.com").into_boxed_str());
        let password: &'static str = Box::leak(format!("{user}-pass").into_boxed_str());
        let mut c = client::Config::new(Jid::parse(jid).unwrap(), password);
        c.tls = TlsPolicy::InsecureAllowPlaintext;
        c.allow_plain_without_tls = true;
        c.keepalive = Keepalive::Off;
        let mut client = Client::new(c, leak(4096), leak(4096), TestRng(7));
        client.enable_stream_management(leak(16 * 1024), sm_config(on_failed_resume));
        let server = Self::connection(&detached, user, 0);
        Pair {
            user,
            client,
            server,
            detached,
            connections: 0,
            now: Instant::from_millis(1_000),
            chunk,
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            outbox: VecDeque::new(),
            unacked: VecDeque::new(),
            delivered_since_request: 0,
            inbox: Vec::new(),
            received: Vec::new(),
            events: Vec::new(),
            server_resends: Vec::new(),
            binds: 0,
        }
    }

    fn connection(detached: &Detachments, user: &str, n: u64) -> TestServer {
        let store = Store {
            detached: detached.clone(),
        };
        Server::new(
            server_config(),
            leak(4096),
            leak(16 * 1024),
            TestRng(1_000 * user.len() as u64 + n),
            store,
        )
    }

    fn poll_client(&mut self) -> bool {
        let mut progress = false;
        loop {
            match self.client.poll(self.now) {
                Ok(client::Output::Transmit(b)) => self.c2s.extend(b),
                Ok(client::Output::Event(e)) => match e {
                    client::Event::Ready { jid } => self.events.push(Ev::Ready(jid.to_string())),
                    client::Event::Resumed { jid, resent } => {
                        self.events.push(Ev::Resumed(jid.to_string(), resent))
                    }
                    client::Event::Rebound { jid, unacked } => {
                        self.events.push(Ev::Rebound(jid.to_string(), unacked))
                    }
                    client::Event::Unacked(b) => self
                        .events
                        .push(Ev::Unacked(String::from_utf8(b.to_vec()).unwrap())),
                    client::Event::Message(m) => self
                        .received
                        .push(m.body().map(|b| b.to_string()).unwrap_or_default()),
                    _ => {}
                },
                Ok(client::Output::Wait(_) | client::Output::Closed) => return progress,
                Ok(client::Output::StartTls) => panic!("no TLS here"),
                Err(e) => {
                    self.events.push(Ev::Err(e));
                    return progress;
                }
            }
            progress = true;
        }
    }

    fn poll_server(&mut self) -> bool {
        let mut progress = false;
        loop {
            let mut resumed = None;
            match self.server.poll(self.now) {
                server::Output::Transmit(b) => self.s2c.extend(b),
                server::Output::Event(server::Event::Stanza(s)) => {
                    let mut buf = vec![0u8; s.stamped_len()];
                    s.write_stamped(&mut buf).unwrap();
                    let unit = String::from_utf8(buf).unwrap();
                    assert!(unit.contains(&format!("from='{}@example.com/", self.user)));
                    self.inbox.push(body_of(&unit).unwrap());
                }
                server::Output::Event(server::Event::Bound { .. }) => self.binds += 1,
                server::Output::Event(server::Event::Resumed { resend, .. }) => {
                    resumed = Some(resend)
                }
                server::Output::Event(_) => {}
                server::Output::Wait(_) | server::Output::Closed => {
                    progress |= self.pump_outbox();
                    return progress;
                }
                server::Output::StartTls => panic!("no TLS here"),
            }
            if let Some(resend) = resumed {
                self.on_resumed(resend);
            }
            progress = true;
        }
    }

    /// The adapter's answer to `Resumed`: the stanzas the client did not
    /// handle go out again, first.
    fn on_resumed(&mut self, resend: u32) {
        self.server_resends.push(resend);
        let id = self.server.resumption_id().unwrap().to_string();
        let kept = self.detached.borrow_mut().remove(&id).unwrap();
        let mut unacked = kept.unacked;
        assert!(unacked.len() >= resend as usize, "the copy lacks stanzas");
        while unacked.len() > resend as usize {
            unacked.pop_front();
        }
        while let Some(s) = unacked.pop_back() {
            self.outbox.push_front(s);
        }
        self.unacked.clear();
    }

    /// Hands the outbox to the live session while it takes them, asking
    /// for an ack every 5 stanzas; trims the copy to what is unacked.
    fn pump_outbox(&mut self) -> bool {
        let mut progress = false;
        if let Some(c) = self.server.stream_management() {
            let unacked = c.outbound.wrapping_sub(c.acked) as usize;
            while self.unacked.len() > unacked {
                self.unacked.pop_front();
            }
        }
        if !self.server.is_ready() {
            return false;
        }
        while let Some(s) = self.outbox.front() {
            match self.server.deliver(s) {
                Ok(()) => {
                    let s = self.outbox.pop_front().unwrap();
                    self.unacked.push_back(s);
                    progress = true;
                    self.delivered_since_request += 1;
                    if self.delivered_since_request >= 5 {
                        self.server.request_ack().unwrap();
                        self.delivered_since_request = 0;
                    }
                }
                Err(ServerError::TransmitBufferFull { .. }) => break,
                Err(e) => panic!("deliver: {e}"),
            }
        }
        progress
    }

    /// Carries up to `chunk` bytes each way.
    fn carry(&mut self, limit: usize) -> bool {
        let mut moved = false;
        let n = limit.min(self.c2s.len());
        if n > 0 {
            let bytes: Vec<u8> = self.c2s.iter().take(n).copied().collect();
            let taken = self.server.handle_input(&bytes, self.now);
            self.c2s.drain(..taken);
            moved |= taken > 0;
        }
        let n = limit.min(self.s2c.len());
        if n > 0 {
            let bytes: Vec<u8> = self.s2c.iter().take(n).copied().collect();
            let taken = self.client.handle_input(&bytes, self.now);
            self.s2c.drain(..taken);
            moved |= taken > 0;
        }
        moved
    }

    fn step(&mut self) -> bool {
        let progress = self.poll_client() | self.poll_server();
        progress | self.carry(self.chunk)
    }

    fn run(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never settles");
    }

    /// The connection drops, with whatever was in flight lost: the adapter
    /// keeps the session if it can be resumed; the client notices.
    fn cut(&mut self) -> bool {
        self.c2s.clear();
        self.s2c.clear();
        if let (Some(id), Some(jid), Some(c)) = (
            self.server.resumption_id(),
            self.server.jid(),
            self.server.stream_management(),
        ) {
            let unacked = c.outbound.wrapping_sub(c.acked) as usize;
            while self.unacked.len() > unacked {
                self.unacked.pop_front();
            }
            let kept = Kept {
                username: self.user.to_string(),
                state: Detached {
                    jid: JidBuf::try_from_jid(jid).unwrap(),
                    inbound: c.inbound,
                    outbound: c.outbound,
                },
                unacked: std::mem::take(&mut self.unacked),
            };
            self.detached.borrow_mut().insert(id.to_string(), kept);
        }
        self.connections += 1;
        self.server = Self::connection(&self.detached, self.user, self.connections);
        self.delivered_since_request = 0;
        self.now = self.now + Duration::from_millis(10);
        self.client.connection_lost(self.now)
    }

    fn send(&mut self, body: &str) -> Result<(), ClientError> {
        self.client
            .send_message(
                Jid::parse("bob@example.com").unwrap(),
                MessageType::Chat,
                body,
            )
            .map(|_| ())
    }

    fn push_to_client(&mut self, body: &str) {
        let unit = format!(
            "<message from='bob@example.com/desk' to='{}@example.com' type='chat'><body>{body}</body></message>",
            self.user
        );
        self.outbox.push_back(unit.into_bytes());
    }
}

/// Runs `f` with the bytes carried whole and one at a time; both runs
/// must give the same.
fn both_ways<T: PartialEq + std::fmt::Debug>(f: impl Fn(usize) -> T) -> T {
    let whole = f(usize::MAX);
    assert_eq!(whole, f(1), "whole and byte by byte differ");
    whole
}

#[test]
fn enable_offers_resumption_and_acks_flow_both_ways() {
    let seen = both_ways(|chunk| {
        let mut p = Pair::new("alice", OnFailedResume::HandBack, chunk);
        p.run();
        let id = p.server.resumption_id().map(str::to_string);
        assert!(p.client.is_resumable());
        for i in 0..12 {
            p.send(&format!("c{i}")).unwrap();
            p.push_to_client(&format!("s{i}"));
        }
        p.run();
        let c = p.server.stream_management().unwrap();
        (
            p.events.clone(),
            id,
            p.inbox.clone(),
            p.received.clone(),
            (c.inbound, c.outbound, c.acked),
            p.client.sm_counters(),
            p.client.unacked(),
            p.unacked.len(),
        )
    });
    let (events, id, inbox, received, server, client, client_unacked, server_unacked) = seen;
    let jid = match &events[..] {
        [Ev::Ready(j)] => j.clone(),
        other => panic!("{other:?}"),
    };
    assert!(jid.starts_with("alice@example.com/"));
    // A resumption id of 20 characters from the RNG.
    assert_eq!(id.map(|i| i.len()), Some(20));
    let want: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    assert_eq!(inbox, want);
    let want: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    assert_eq!(received, want);
    // The server asked every 5 stanzas: 10 acknowledged, 2 still out.
    assert_eq!(server, (12, 12, 10));
    assert_eq!(server_unacked, 2);
    // The client handled 12; it asked every 5 too: 10 acknowledged.
    assert_eq!(client, (12, 10));
    assert_eq!(client_unacked, 2);
}

#[test]
fn a_cut_connection_is_resumed_with_only_the_unhandled_resent() {
    let seen = both_ways(|chunk| {
        let mut p = Pair::new("alice", OnFailedResume::HandBack, chunk);
        p.run();
        for i in 0..7 {
            p.send(&format!("c{i}")).unwrap();
            p.push_to_client(&format!("s{i}"));
        }
        p.run();
        // Two more each way that the other side never sees.
        for i in 7..9 {
            p.send(&format!("c{i}")).unwrap();
            p.push_to_client(&format!("s{i}"));
        }
        p.poll_client();
        p.poll_server();
        assert!(p.cut());
        // While detached, one more for the client.
        p.push_to_client("s9");
        p.run();
        (
            p.events.clone(),
            p.inbox.clone(),
            p.received.clone(),
            p.server_resends.clone(),
            p.binds,
        )
    });
    let (events, inbox, received, resends, binds) = seen;
    let jid = match &events[0] {
        Ev::Ready(j) => j.clone(),
        other => panic!("{other:?}"),
    };
    // The server had handled 7 of the client's 9 (c7 and c8 were lost on
    // the wire): 2 go out again; the client had handled 7 of the server's
    // 9: s7 and s8 go out again, then s9, kept while detached.
    assert_eq!(events[1..], [Ev::Resumed(jid, 2)]);
    assert_eq!(resends, [2]);
    assert_eq!(binds, 1, "resumed, not bound again");
    let want: Vec<String> = (0..9).map(|i| format!("c{i}")).collect();
    assert_eq!(inbox, want, "none lost, none doubled");
    let want: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    assert_eq!(received, want, "none lost, none doubled");
}

#[test]
fn an_unknown_id_fails_and_the_client_binds_afresh() {
    for policy in [OnFailedResume::HandBack, OnFailedResume::Resend] {
        let seen = both_ways(|chunk| {
            let mut p = Pair::new("alice", policy, chunk);
            p.run();
            for i in 0..7 {
                p.send(&format!("c{i}")).unwrap();
            }
            p.poll_client();
            p.carry(usize::MAX);
            p.poll_server();
            // The connection drops, and the server forgot the session
            // (expired, restarted).
            p.cut();
            p.detached.borrow_mut().clear();
            p.run();
            (
                p.events.clone(),
                p.inbox.clone(),
                p.binds,
                p.server_resends.clone(),
            )
        });
        let (events, inbox, binds, resends) = seen;
        assert_eq!(binds, 2);
        assert!(resends.is_empty());
        let Ev::Rebound(_, n) = &events[1] else {
            panic!("{events:?}")
        };
        // The server's ack (h=5, asked for after c4) was lost with the
        // connection: none of the 7 was acknowledged.
        let want: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
        match policy {
            OnFailedResume::HandBack => {
                assert_eq!(*n, 7);
                let handed: Vec<_> = events[2..]
                    .iter()
                    .map(|e| match e {
                        Ev::Unacked(u) => body_of(u).unwrap(),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(handed, want);
                // Handled before the cut, just not acknowledged.
                assert_eq!(inbox, want);
            }
            OnFailedResume::Resend => {
                assert_eq!((*n, events.len()), (0, 2));
                // Resent on the new session: they arrive twice, the risk
                // XEP-0198 §5 warns of (the server had handled them).
                assert_eq!(inbox, [want.clone(), want].concat());
            }
        }
    }
}

#[test]
fn another_accounts_session_is_item_not_found() {
    let shared: Detachments = Rc::default();
    let mut bob = Pair::with_store("bob", OnFailedResume::HandBack, usize::MAX, shared.clone());
    bob.run();
    let bob_jid = bob.server.jid().unwrap().to_string();
    bob.cut();
    let mut alice = Pair::with_store("alice", OnFailedResume::HandBack, usize::MAX, shared);
    alice.run();
    // The id alice presents names a session of bob's: once as the store
    // records it (the store refuses), once with the store wrongly
    // answering for alice (the core refuses: the JID is bob's).
    for username in ["bob", "alice"] {
        let id = alice.server.resumption_id().unwrap().to_string();
        alice.cut();
        {
            let mut kept = alice.detached.borrow_mut();
            let k = kept.get_mut(&id).unwrap();
            k.username = username.to_string();
            k.state.jid = JidBuf::parse(&bob_jid).unwrap();
        }
        alice.run();
        assert!(
            matches!(alice.events.last(), Some(Ev::Rebound(_, 0))),
            "{:?}",
            alice.events
        );
        assert!(alice
            .server
            .jid()
            .unwrap()
            .as_str()
            .starts_with("alice@example.com/"));
        // Still kept: it was not resumed.
        assert!(alice.detached.borrow().contains_key(&id));
    }
    assert_eq!(alice.binds, 3);
    assert!(alice.server_resends.is_empty());
}

/// 2,000 messages each way, 30 cuts at random byte offsets (inside
/// elements too), random amounts carried per step: every message arrives
/// exactly once and in order, by resumption only.
#[test]
fn fault_injection_every_message_once_and_in_order() {
    for (seed, max_chunk, messages, cuts) in [(0x5eed_u64, 700, 2_000, 30), (7, 1, 300, 10)] {
        let mut rng = TestRng(seed);
        let mut next = |n: u64| rand_core::RngCore::next_u64(&mut rng) % n;
        let mut p = Pair::new("alice", OnFailedResume::HandBack, max_chunk);
        p.run();
        let (mut sent, mut pushed, mut done_cuts, mut mid_element) = (0, 0, 0, 0);
        // Cuts of a session the client had up (others fall while it is
        // resuming).
        let mut live_cuts = 0;
        let mut budget = 2_000 + next(8_000);
        for _ in 0..10_000_000 {
            if sent < messages && next(3) == 0 && p.send(&format!("c{sent}")).is_ok() {
                sent += 1;
            }
            if pushed < messages && next(3) == 0 {
                p.push_to_client(&format!("s{pushed}"));
                pushed += 1;
            }
            let mut progress = p.poll_client() | p.poll_server();
            let limit = 1 + next(max_chunk as u64) as usize;
            let in_flight = (p.c2s.len() + p.s2c.len()) as u64;
            if done_cuts < cuts && in_flight > 0 && budget <= in_flight {
                // The cut falls inside what is in flight: the first bytes
                // arrive, the rest are lost.
                let k = budget as usize;
                let to_server = k.min(p.c2s.len());
                let to_client = k - to_server;
                let last = if to_client > 0 {
                    p.s2c.get(to_client - 1)
                } else {
                    p.c2s.get(to_server.saturating_sub(1))
                };
                if last != Some(&b'>') {
                    mid_element += 1;
                }
                let mut to_server: VecDeque<u8> = p.c2s.drain(..).take(to_server).collect();
                let mut to_client: VecDeque<u8> = p.s2c.drain(..).take(to_client).collect();
                // What either side says from now on is lost.
                while !to_server.is_empty() || !to_client.is_empty() {
                    std::mem::swap(&mut p.c2s, &mut to_server);
                    std::mem::swap(&mut p.s2c, &mut to_client);
                    p.carry(usize::MAX);
                    std::mem::swap(&mut p.c2s, &mut to_server);
                    std::mem::swap(&mut p.s2c, &mut to_client);
                    p.poll_client();
                    p.poll_server();
                }
                live_cuts += usize::from(p.client.is_ready());
                assert!(p.cut(), "resumable");
                done_cuts += 1;
                budget = 2_000 + next(8_000);
                continue;
            }
            budget = budget.saturating_sub(in_flight.min(limit as u64 * 2));
            progress |= p.carry(limit);
            if !progress && sent == messages && pushed == messages {
                if p.inbox.len() == messages && p.received.len() == messages {
                    break;
                }
                // Quiet, but not everything is through: ask.
                if p.client.is_ready() {
                    p.client.request_ack().unwrap();
                }
                if p.server.is_ready() {
                    p.server.request_ack().unwrap();
                }
            }
        }
        assert_eq!(done_cuts, cuts);
        let want: Vec<String> = (0..messages).map(|i| format!("c{i}")).collect();
        assert!(
            p.inbox == want,
            "client to server: lost, doubled or out of order"
        );
        let want: Vec<String> = (0..messages).map(|i| format!("s{i}")).collect();
        if p.received != want {
            let first = (0..).find(|&i| p.received.get(i) != want.get(i)).unwrap();
            panic!(
                "server to client: lost, doubled or out of order from {first}: {:?} (of {}), events {:?}, resends {:?}",
                &p.received[first.saturating_sub(3)..(first + 5).min(p.received.len())],
                p.received.len(),
                p.events,
                p.server_resends
            );
        }
        // Every cut was survived by resumption, never a new bind.
        assert_eq!(p.binds, 1);
        let resumed = p
            .events
            .iter()
            .filter(|e| matches!(e, Ev::Resumed(..)))
            .count();
        let client_resent: u32 = p
            .events
            .iter()
            .map(|e| match e {
                Ev::Resumed(_, n) => *n,
                _ => 0,
            })
            .sum();
        assert!(
            p.events
                .iter()
                .all(|e| matches!(e, Ev::Ready(_) | Ev::Resumed(..))),
            "{:?}",
            p.events
        );
        // Each session cut while up came back by resumption, once.
        assert_eq!(resumed, live_cuts);
        assert!(live_cuts * 3 > cuts, "{live_cuts} of {cuts}");
        if max_chunk > 1 {
            assert!(mid_element > 5, "{mid_element} cuts inside an element");
        }
        println!(
            "{messages} messages each way, {cuts} cuts ({mid_element} inside an element, \
             {live_cuts} of a session up): {resumed} resumptions, {client_resent} stanzas resent by the client, {} by the server",
            p.server_resends.iter().sum::<u32>()
        );
    }
}

/// The raw exchange: `<resume/>` against a kept session whose counters
/// wrapped at 2^32, and a client `h` above what was sent.
#[test]
fn resume_counts_modulo_2_32_and_refuses_a_count_too_high() {
    const OPEN: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
    let login = format!(
        "{OPEN}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGFsaWNlLXBhc3M=</auth>{OPEN}"
    );
    let run = |attrs: &str, chunk: usize| {
        let detached: Detachments = Rc::default();
        detached.borrow_mut().insert(
            "k1".into(),
            Kept {
                username: "alice".into(),
                state: Detached {
                    jid: JidBuf::parse("alice@example.com/phone").unwrap(),
                    inbound: 7,
                    // Three sent since the counter wrapped.
                    outbound: 2,
                },
                unacked: VecDeque::new(),
            },
        );
        let mut server = Pair::connection(&detached, "alice", 0);
        let input = format!("{login}<resume xmlns='urn:xmpp:sm:3' {attrs}/>");
        let (mut out, mut events) = (String::new(), Vec::new());
        for piece in input.as_bytes().chunks(chunk) {
            let mut rest = piece;
            while !rest.is_empty() {
                let n = server.handle_input(rest, Instant::from_millis(5));
                rest = &rest[n..];
                loop {
                    match server.poll(Instant::from_millis(5)) {
                        server::Output::Transmit(b) => {
                            out.push_str(std::str::from_utf8(b).unwrap())
                        }
                        server::Output::Event(server::Event::Resumed { jid, resend }) => {
                            events.push(format!("resumed {jid} {resend}"))
                        }
                        server::Output::Event(server::Event::Closed(r)) => {
                            events.push(format!("{r:?}"))
                        }
                        server::Output::Event(_) => {}
                        _ => break,
                    }
                }
            }
        }
        let c = server.stream_management();
        (out, events, c)
    };
    let both = |attrs: &str| {
        let whole = run(attrs, usize::MAX);
        assert_eq!(whole, run(attrs, 1), "whole and byte by byte differ");
        whole
    };
    // h = 2^32 - 1: the client handled all but the last two.
    let (out, events, c) = both("previd='k1' h='4294967295'");
    assert!(
        out.ends_with("<resumed xmlns='urn:xmpp:sm:3' previd='k1' h='7'/>"),
        "{out}"
    );
    assert_eq!(events, ["resumed alice@example.com/phone 3"]);
    let c = c.unwrap();
    assert_eq!((c.inbound, c.outbound, c.acked), (7, u32::MAX, u32::MAX));
    // h = 3: more than the 2 sent.
    let (out, events, _) = both("previd='k1' h='3'");
    assert!(out.ends_with(
        "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
         <handled-count-too-high xmlns='urn:xmpp:sm:3' h='3' send-count='2'/></stream:error></stream:stream>"
    ), "{out}");
    assert_eq!(events, ["ErrorSent(UndefinedCondition)"]);
    // An unknown id; no h.
    let failed = |c: &str| {
        format!("<failed xmlns='urn:xmpp:sm:3'><{c} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>")
    };
    let (out, events, _) = both("previd='k2' h='0'");
    assert!(out.ends_with(&failed("item-not-found")), "{out}");
    assert!(events.is_empty());
    let (out, events, _) = both("previd='k1'");
    assert!(out.ends_with(&failed("bad-request")), "{out}");
    assert!(events.is_empty());
}
