//! Stream management (XEP-0198) and client state indication (XEP-0352)
//! against the in-memory server of `sm_server/`: enable, acks both ways,
//! ack requests by count and by time, counters wrapping at 2^32, refused
//! acks, back-pressure, resumption with partial resend, failed resumption,
//! the exported state, and a fault-injection run that cuts the connection
//! a hundred times, anywhere, and checks that nothing is lost or doubled.

mod sm_server;

use picoxmpp::client::{
    Client, ClientError, Config, Event, Keepalive, OnFailedResume, Output, SmConfig, TlsBinding,
    TlsPolicy,
};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp::time::Instant;
use sm_server::{Options, Server};
use std::time::Duration;

struct Rng(u64);
impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // xorshift64*: deterministic, which is all a test needs.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
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

/// What the client reported, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Ready(String),
    Resumed(String, u32),
    Rebound(String, u32),
    Unacked(String),
    Message(String),
    Err(ClientError),
    Closed,
}

fn config() -> Config<'static> {
    let mut c = Config::new(Jid::parse("juliet@example.com").unwrap(), "secret");
    c.tls = TlsPolicy::InsecureAllowPlaintext;
    c.allow_plain_without_tls = true;
    c.keepalive = Keepalive::Off;
    c
}

fn sm_config() -> SmConfig {
    SmConfig {
        resume: true,
        max: Some(600),
        request_every: 0,
        request_after: None,
        on_failed_resume: OnFailedResume::HandBack,
    }
}

/// The client, the server and the wire between them.
struct Link {
    client: Client<'static, 'static, Rng>,
    server: Server,
    now: Instant,
    events: Vec<Ev>,
    /// Units the client transmitted, as text.
    sent: Vec<String>,
    /// Times the client waited for the server after transmitting.
    round_trips: u32,
}

fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

impl Link {
    fn new(opts: Options, sm: Option<SmConfig>, queue: usize) -> Self {
        let mut client = Client::new(config(), leak(4096), leak(1024), Rng(0x9e37_79b9));
        if let Some(sm) = sm {
            client.enable_stream_management(leak(queue), sm);
        }
        Link {
            client,
            server: Server::new(opts),
            now: Instant::from_millis(1_000),
            events: Vec::new(),
            sent: Vec::new(),
            round_trips: 0,
        }
    }

    /// Polls the client until it waits; its bytes go to the server.
    fn drain_client(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.client.poll(self.now) {
                Ok(Output::Transmit(b)) => {
                    any = true;
                    self.sent.push(String::from_utf8(b.to_vec()).unwrap());
                    let b = b.to_vec();
                    self.server.receive(&b);
                }
                Ok(Output::StartTls) => self.client.tls_established(TlsBinding::None),
                Ok(Output::Event(e)) => {
                    any = true;
                    self.events.push(own(e))
                }
                Ok(Output::Wait(_)) => return any,
                Ok(Output::Closed) => return any,
                Err(e) => {
                    self.events.push(Ev::Err(e));
                    return any;
                }
            }
        }
    }

    /// Runs both sides until neither has anything to say.
    fn run(&mut self) {
        for _ in 0..100_000 {
            let client_spoke = self.drain_client();
            let out = self.server.take_output();
            if out.is_empty() {
                if !client_spoke {
                    return;
                }
                continue;
            }
            let up = self
                .events
                .iter()
                .any(|e| matches!(e, Ev::Ready(_) | Ev::Resumed(..) | Ev::Rebound(..)));
            if !up {
                self.round_trips += 1;
            }
            let mut rest = &out[..];
            while !rest.is_empty() {
                let n = self.client.handle_input(rest, self.now);
                rest = &rest[n..];
                self.drain_client();
                if n == 0 {
                    panic!("receive buffer full");
                }
            }
        }
        panic!("no quiescence");
    }

    /// Feeds raw server bytes to the client.
    fn inject(&mut self, s: &str) {
        self.client.handle_input(s.as_bytes(), self.now);
        self.run();
    }

    fn cut(&mut self) -> bool {
        self.server.drop_connection();
        self.client.connection_lost(self.now)
    }

    fn send(&mut self, body: &str) -> Result<(), ClientError> {
        self.client
            .send_message(
                Jid::parse("romeo@example.net").unwrap(),
                MessageType::Chat,
                body,
            )
            .map(|_| ())
    }

    fn last_error(&self) -> Option<&ClientError> {
        self.events.iter().rev().find_map(|e| match e {
            Ev::Err(e) => Some(e),
            _ => None,
        })
    }
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Ready { jid } => Ev::Ready(jid.to_string()),
        Event::Resumed { jid, resent } => Ev::Resumed(jid.to_string(), resent),
        Event::Rebound { jid, unacked } => Ev::Rebound(jid.to_string(), unacked),
        Event::Unacked(b) => Ev::Unacked(String::from_utf8(b.to_vec()).unwrap()),
        Event::Message(m) => Ev::Message(m.body().map(|b| b.to_string()).unwrap_or_default()),
        Event::Closed => Ev::Closed,
        other => panic!("unexpected {other:?}"),
    }
}

fn ready(opts: Options, sm: SmConfig, queue: usize) -> Link {
    let mut l = Link::new(opts, Some(sm), queue);
    l.run();
    assert_eq!(l.events, [Ev::Ready("juliet@example.com/r1".into())]);
    l.events.clear();
    l
}

fn body_of(unit: &str) -> &str {
    unit.split("<body>")
        .nth(1)
        .and_then(|r| r.split("</body>").next())
        .unwrap_or("")
}

#[test]
fn enable_is_sent_after_bind_and_counts_both_ways() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    assert!(l
        .sent
        .contains(&"<enable xmlns='urn:xmpp:sm:3' resume='true' max='600'/>".into()));
    // The enable follows the bind request without waiting for <enabled/>.
    assert!(l.client.is_resumable());
    for i in 0..3 {
        l.send(&format!("m{i}")).unwrap();
    }
    l.run();
    assert_eq!(l.server.delivered, ["m0", "m1", "m2"]);
    assert_eq!(l.client.unacked(), 3);
    // The server's <r/> is answered with the count of handled stanzas.
    l.server.push_message("from hub 1");
    l.server.push_message("from hub 2");
    l.run();
    l.inject("<r xmlns='urn:xmpp:sm:3'/>");
    assert!(l.sent.contains(&"<a xmlns='urn:xmpp:sm:3' h='2'/>".into()));
    assert_eq!(l.server.session.as_ref().unwrap().unacked.len(), 0);
    assert_eq!(l.client.sm_counters(), (2, 0));
    // An ack frees the queue.
    l.inject("<a xmlns='urn:xmpp:sm:3' h='2'/>");
    assert_eq!(l.client.unacked(), 1);
    l.inject("<a xmlns='urn:xmpp:sm:3' h='3'/>");
    assert_eq!(l.client.unacked(), 0);
    assert_eq!(l.client.sm_counters(), (2, 3));
    // An ack repeated is no error.
    l.inject("<a xmlns='urn:xmpp:sm:3' h='3'/>");
    assert_eq!(l.last_error(), None);
}

#[test]
fn without_server_support_stanzas_flow_as_before() {
    let opts = Options {
        sm: false,
        ..Options::default()
    };
    let mut l = ready(opts, sm_config(), 4096);
    assert!(!l.sent.iter().any(|s| s.starts_with("<enable")));
    l.send("plain").unwrap();
    l.run();
    assert_eq!(l.server.delivered, ["plain"]);
    assert_eq!(l.client.unacked(), 0);
    assert!(!l.client.is_resumable());
    assert!(l.client.request_ack().is_err());
}

#[test]
fn ack_requests_by_count() {
    let sm = SmConfig {
        request_every: 3,
        ..sm_config()
    };
    let mut l = ready(Options::default(), sm, 4096);
    let r = |l: &Link| l.sent.iter().filter(|s| s.starts_with("<r ")).count();
    for i in 0..2 {
        l.send(&format!("m{i}")).unwrap();
    }
    l.run();
    assert_eq!(r(&l), 0);
    l.send("m2").unwrap();
    l.run();
    // The request follows the third stanza; the server's answer empties
    // the queue.
    assert_eq!(r(&l), 1);
    let last = l.sent.iter().rposition(|s| s.starts_with("<r ")).unwrap();
    assert_eq!(body_of(&l.sent[last - 1]), "m2");
    assert_eq!(l.client.unacked(), 0);
    for i in 3..9 {
        l.send(&format!("m{i}")).unwrap();
    }
    l.run();
    assert_eq!(r(&l), 3);
}

#[test]
fn ack_requests_by_time() {
    let sm = SmConfig {
        request_after: Some(Duration::from_millis(500)),
        ..sm_config()
    };
    let mut l = ready(Options::default(), sm, 4096);
    l.send("m0").unwrap();
    l.run();
    assert_eq!(l.client.unacked(), 1);
    // The deadline is the next thing the client waits for.
    assert_eq!(
        l.client.next_deadline(),
        Some(l.now + Duration::from_millis(500))
    );
    l.now = l.now + Duration::from_millis(499);
    l.run();
    assert!(!l.sent.iter().any(|s| s.starts_with("<r ")));
    l.now = l.now + Duration::from_millis(1);
    l.run();
    assert!(l.sent.iter().any(|s| s.starts_with("<r ")));
    assert_eq!(l.client.unacked(), 0);
    // Nothing unacked: no timer.
    assert_eq!(l.client.next_deadline(), None);
}

#[test]
fn ack_above_the_sent_count_is_a_stream_error() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    l.send("m0").unwrap();
    l.run();
    l.inject("<a xmlns='urn:xmpp:sm:3' h='2'/>");
    assert_eq!(
        l.last_error(),
        Some(&ClientError::HandledCountTooHigh { h: 2, sent: 1 })
    );
    assert!(l.sent.iter().any(|s| s
        == "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><handled-count-too-high xmlns='urn:xmpp:sm:3' h='2' send-count='1'/></stream:error>"));
    assert_eq!(l.sent.last().unwrap(), "</stream:stream>");
}

#[test]
fn ack_going_backwards_or_malformed_is_a_stream_error() {
    for bad in [
        "<a xmlns='urn:xmpp:sm:3' h='0'/>",
        "<a xmlns='urn:xmpp:sm:3' h='-1'/>",
        "<a xmlns='urn:xmpp:sm:3' h='4294967296'/>",
        "<a xmlns='urn:xmpp:sm:3'/>",
    ] {
        let mut l = ready(Options::default(), sm_config(), 4096);
        for i in 0..3 {
            l.send(&format!("m{i}")).unwrap();
        }
        l.run();
        l.inject("<a xmlns='urn:xmpp:sm:3' h='2'/>");
        assert_eq!(l.last_error(), None);
        l.inject(bad);
        assert!(
            matches!(l.last_error(), Some(ClientError::Protocol(_))),
            "{bad}: {:?}",
            l.last_error()
        );
        assert!(l.sent.iter().any(|s| s
            == "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"));
    }
}

#[test]
fn counters_wrap_at_2_pow_32() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    // Start both sides near the end of the space, through the exported
    // state (the only way to set the counters).
    let near = u32::MAX - 1;
    let mut blob = vec![0u8; 4096];
    let n = l.client.export_resumable(&mut blob).unwrap();
    blob.truncate(n);
    blob[1..5].copy_from_slice(&near.to_le_bytes());
    blob[5..9].copy_from_slice(&near.to_le_bytes());
    fix_crc(&mut blob);
    let mut l2 = Link::new(Options::default(), Some(sm_config()), 4096);
    l2.client.import_resumable(&blob).unwrap();
    assert_eq!(l2.client.sm_counters(), (near, near));
    // The server side agrees: the session it knows has those counts.
    l2.server.session = l.server.session.take();
    {
        let s = l2.server.session.as_mut().unwrap();
        s.h_in = near;
        s.acked = near;
    }
    l2.run();
    assert!(
        matches!(&l2.events[..], [Ev::Resumed(_, 0)]),
        "{:?}",
        l2.events
    );
    for i in 0..4 {
        l2.send(&format!("w{i}")).unwrap();
    }
    l2.run();
    for _ in 0..4 {
        l2.server.push_message("in");
    }
    l2.run();
    l2.inject("<r xmlns='urn:xmpp:sm:3'/>");
    // Outbound: near + 4 wraps to 2; inbound likewise.
    assert!(l2.sent.contains(&"<a xmlns='urn:xmpp:sm:3' h='2'/>".into()));
    assert_eq!(l2.server.session.as_ref().unwrap().h_in, 2);
    l2.inject("<a xmlns='urn:xmpp:sm:3' h='1'/>");
    assert_eq!(l2.client.unacked(), 1);
    l2.inject("<a xmlns='urn:xmpp:sm:3' h='2'/>");
    assert_eq!(l2.client.unacked(), 0);
    assert_eq!(l2.client.sm_counters(), (2, 2));
    // Still an error to go past the sent count across the wrap.
    l2.inject("<a xmlns='urn:xmpp:sm:3' h='3'/>");
    assert_eq!(
        l2.last_error(),
        Some(&ClientError::HandledCountTooHigh { h: 3, sent: 2 })
    );
}

fn fix_crc(blob: &mut [u8]) {
    let n = blob.len() - 4;
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&blob[..n]);
    blob[n..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn a_full_queue_is_back_pressure_not_loss() {
    let mut l = ready(Options::default(), sm_config(), 600);
    let mut accepted = 0;
    let err = loop {
        match l.send(&format!("reading {accepted}")) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100);
    };
    assert!(matches!(err, ClientError::UnackedQueueFull { .. }), "{err}");
    assert!(err.is_recoverable());
    // The client asked for an ack; the server's answer makes room.
    l.run();
    assert!(l.sent.iter().any(|s| s.starts_with("<r ")));
    assert_eq!(l.client.unacked(), 0);
    l.send(&format!("reading {accepted}")).unwrap();
    l.run();
    let expected: Vec<String> = (0..=accepted).map(|i| format!("reading {i}")).collect();
    assert_eq!(l.server.delivered, expected);
}

#[test]
fn a_queue_full_of_application_stanzas_still_answers_the_server() {
    let mut l = ready(Options::default(), sm_config(), 1024);
    let mut accepted = 0;
    while l.send(&format!("reading {accepted}")).is_ok() {
        accepted += 1;
    }
    assert!(accepted >= 5);
    // To the last byte the application may have: empty messages.
    let tiny = |w: &mut picoxmpp::xml::Writer<'_>| {
        w.start_element("message")?;
        w.end_element("message")
    };
    while l.client.send_raw(tiny).is_ok() {
        accepted += 1;
    }
    // XEP-0199: the server's ping arrives before any ack; the answer fits
    // in the room the core keeps, and is counted like any stanza.
    l.inject("<iq type='get' id='p1' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_eq!(l.last_error(), None);
    assert!(l
        .sent
        .contains(&"<iq type='result' to='example.com' id='p1'/>".to_string()));
    l.client.request_ack().unwrap();
    l.run();
    assert_eq!(l.client.unacked(), 0);
    assert_eq!(l.client.sm_counters().1, accepted + 1);
}

#[test]
fn resume_resends_only_what_the_server_did_not_handle() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    for i in 0..5 {
        l.send(&format!("m{i}")).unwrap();
    }
    l.run();
    // The server handled all five but its ack never came; then three more
    // go out and are lost on the wire: the client keeps all eight.
    l.server.push_message("before");
    l.inject("");
    for i in 5..8 {
        l.send(&format!("m{i}")).unwrap();
    }
    // Transmitted into the void.
    while let Ok(Output::Transmit(_)) = l.client.poll(l.now) {}
    assert_eq!(l.client.unacked(), 8);
    assert!(l.cut());
    l.server.push_message("while away");
    l.run();
    assert_eq!(
        l.events,
        [
            Ev::Message("before".into()),
            Ev::Resumed("juliet@example.com/r1".into(), 3),
            Ev::Message("while away".into()),
        ]
    );
    let resume = l.sent.iter().find(|s| s.starts_with("<resume")).unwrap();
    assert_eq!(
        resume,
        "<resume xmlns='urn:xmpp:sm:3' h='1' previd='sm-1'/>"
    );
    assert_eq!(
        l.server.delivered,
        ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]
    );
    assert_eq!(l.server.binds, 1);
    assert_eq!(l.server.resumes, 1);
    l.run();
    l.client.request_ack().unwrap();
    l.run();
    assert_eq!(l.client.unacked(), 0);
    assert_eq!(l.client.sm_counters(), (2, 8));
}

#[test]
fn failed_resume_rebinds_and_hands_back() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    for i in 0..4 {
        l.send(&format!("m{i}")).unwrap();
    }
    // Two reach the server, whose ack is lost; two never leave.
    for _ in 0..2 {
        let Ok(Output::Transmit(b)) = l.client.poll(l.now) else {
            panic!()
        };
        let b = b.to_vec();
        l.server.receive(&b);
    }
    l.server.take_output();
    l.server.opts.fail_resume = Some(Some(1));
    assert!(l.cut());
    l.events.clear();
    l.run();
    // XEP-0198 §5: the h in <failed/> acknowledges m0; the rest comes back.
    assert_eq!(l.events[0], Ev::Rebound("juliet@example.com/r2".into(), 3));
    assert_eq!(l.events.len(), 4, "{:?}", l.events);
    let handed: Vec<&str> = l
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Unacked(u) => Some(body_of(u)),
            _ => None,
        })
        .collect();
    assert_eq!(handed, ["m1", "m2", "m3"]);
    assert_eq!(l.client.unacked(), 0);
    assert_eq!(l.server.binds, 2);
    // The new session has stream management again.
    assert!(l.client.is_resumable());
    l.send("after").unwrap();
    l.run();
    assert_eq!(l.server.delivered, ["m0", "m1", "after"]);
}

#[test]
fn failed_resume_can_resend_instead() {
    let sm = SmConfig {
        on_failed_resume: OnFailedResume::Resend,
        ..sm_config()
    };
    let mut l = ready(Options::default(), sm, 4096);
    for i in 0..3 {
        l.send(&format!("m{i}")).unwrap();
    }
    while let Ok(Output::Transmit(_)) = l.client.poll(l.now) {}
    l.server.opts.fail_resume = Some(None);
    l.cut();
    l.run();
    assert_eq!(l.events, [Ev::Rebound("juliet@example.com/r2".into(), 0)]);
    assert_eq!(l.server.delivered, ["m0", "m1", "m2"]);
    assert_eq!(l.client.unacked(), 3);
}

#[test]
fn no_resume_past_max_or_without_an_id() {
    // The server's max (1 s here) has passed: no <resume/> at all.
    let opts = Options {
        max: Some(1),
        ..Options::default()
    };
    let mut l = ready(opts, sm_config(), 4096);
    l.send("m0").unwrap();
    while let Ok(Output::Transmit(_)) = l.client.poll(l.now) {}
    assert!(l.cut());
    l.now = l.now + Duration::from_millis(1_001);
    l.run();
    assert!(!l.sent.iter().any(|s| s.starts_with("<resume")));
    assert_eq!(l.events[0], Ev::Rebound("juliet@example.com/r2".into(), 1));
    // The server did not offer resumption.
    let opts = Options {
        resume: false,
        ..Options::default()
    };
    let mut l = ready(opts, sm_config(), 4096);
    assert!(!l.client.is_resumable());
    l.send("m0").unwrap();
    while let Ok(Output::Transmit(_)) = l.client.poll(l.now) {}
    assert!(!l.cut());
    l.run();
    assert!(!l.sent.iter().any(|s| s.starts_with("<resume")));
    assert_eq!(l.events[0], Ev::Rebound("juliet@example.com/r2".into(), 1));
}

#[test]
fn a_connection_lost_before_the_first_bind_is_no_lost_session() {
    let mut l = Link::new(Options::default(), Some(sm_config()), 4096);
    // Cut after the client's first header, before anything was bound.
    let Ok(Output::Transmit(_)) = l.client.poll(l.now) else {
        panic!()
    };
    assert!(!l.cut());
    l.run();
    assert_eq!(l.events, [Ev::Ready("juliet@example.com/r1".into())]);
}

#[test]
fn location_and_max_are_kept() {
    let opts = Options {
        location: Some("[2001:db8::1]:5223".into()),
        ..Options::default()
    };
    let l = ready(opts, sm_config(), 4096);
    assert_eq!(l.client.resume_location(), Some("[2001:db8::1]:5223"));
}

#[test]
fn client_state_indication() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    assert_eq!(l.client.set_active(false), Ok(true));
    l.run();
    assert_eq!(l.server.active, Some(false));
    assert_eq!(l.client.set_active(true), Ok(true));
    l.run();
    assert_eq!(l.server.active, Some(true));
    // CSI nonzas are not stanzas: nothing to acknowledge.
    assert_eq!(l.client.unacked(), 0);
    let opts = Options {
        csi: false,
        ..Options::default()
    };
    let mut l = ready(opts, sm_config(), 4096);
    assert_eq!(l.client.set_active(false), Ok(false));
}

#[test]
fn exported_state_resumes_in_a_new_client() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    for i in 0..3 {
        l.send(&format!("m{i}")).unwrap();
    }
    l.run();
    l.server.push_message("x");
    l.run();
    l.send("m3").unwrap();
    while let Ok(Output::Transmit(_)) = l.client.poll(l.now) {}
    let mut blob = vec![0u8; 4096];
    let n = l.client.export_resumable(&mut blob).unwrap();
    blob.truncate(n);
    // A device reboots: a new client, the same server.
    let mut l2 = Link::new(Options::default(), Some(sm_config()), 4096);
    l2.server = std::mem::replace(&mut l.server, Server::new(Options::default()));
    l2.server.drop_connection();
    l2.client.import_resumable(&blob).unwrap();
    assert!(l2.client.is_resumable());
    assert_eq!(l2.client.unacked(), 4);
    l2.run();
    assert_eq!(l2.events, [Ev::Resumed("juliet@example.com/r1".into(), 1)]);
    assert_eq!(l2.server.delivered, ["m0", "m1", "m2", "m3"]);
    // Export, import, export: the same bytes.
    let mut l3 = Link::new(Options::default(), Some(sm_config()), 4096);
    l3.client.import_resumable(&blob).unwrap();
    let mut again = vec![0u8; 4096];
    let m = l3.client.export_resumable(&mut again).unwrap();
    assert_eq!(&again[..m], &blob[..]);
    // Too small an output buffer is an error, not a panic.
    assert!(l3.client.export_resumable(&mut again[..n - 1]).is_err());
}

#[test]
fn corrupted_state_is_refused() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    l.send("m0").unwrap();
    l.run();
    let mut blob = vec![0u8; 4096];
    let n = l.client.export_resumable(&mut blob).unwrap();
    blob.truncate(n);
    let fresh = || {
        let mut c = Client::new(config(), leak(4096), leak(1024), Rng(1));
        c.enable_stream_management(leak(4096), sm_config());
        c
    };
    let refused = |b: &[u8]| {
        let mut c = fresh();
        let r = c.import_resumable(b);
        assert!(
            matches!(r, Err(ClientError::InvalidResumeState(_))),
            "{r:?}"
        );
        assert!(!c.is_resumable() && c.unacked() == 0);
    };
    // Every truncation, every flipped bit.
    for cut in 0..blob.len() {
        refused(&blob[..cut]);
    }
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut b = blob.clone();
            b[i] ^= 1 << bit;
            refused(&b);
        }
    }
    // Structurally wrong with a valid checksum.
    let mut b = blob.clone();
    b[0] = 2;
    fix_crc(&mut b);
    refused(&b);
    let mut b = blob.clone();
    b.insert(b.len() - 4, 0);
    fix_crc(&mut b);
    refused(&b);
    // Another account's session.
    let mut c = Client::new(
        Config::new(Jid::parse("romeo@example.net").unwrap(), "x"),
        leak(4096),
        leak(1024),
        Rng(1),
    );
    c.enable_stream_management(leak(4096), sm_config());
    assert!(c.import_resumable(&blob).is_err());
    // A queue too small for the stanzas.
    let mut c = Client::new(config(), leak(4096), leak(1024), Rng(1));
    c.enable_stream_management(leak(16), sm_config());
    assert!(c.import_resumable(&blob).is_err());
    // A transmit buffer with no room for the bound JID, which is kept at
    // its end, or for the stanzas beside it.
    for tx in [8, 48] {
        let mut c = Client::new(config(), leak(4096), leak(tx), Rng(1));
        c.enable_stream_management(leak(4096), sm_config());
        let r = c.import_resumable(&blob);
        assert!(
            matches!(r, Err(ClientError::InvalidResumeState(_))),
            "{r:?}"
        );
    }
    // Without stream management, or after the first poll.
    let mut c = Client::new(config(), leak(4096), leak(1024), Rng(1));
    assert!(c.import_resumable(&blob).is_err());
    let mut c = fresh();
    let _ = c.poll(Instant::ZERO);
    assert!(c.import_resumable(&blob).is_err());
    // Random garbage, with a valid checksum, never panics.
    let mut rng = Rng(42);
    for len in 0..400 {
        let mut g: Vec<u8> = (0..len)
            .map(|_| rand_core::RngCore::next_u32(&mut rng) as u8)
            .collect();
        if len > 4 {
            g[0] = 1;
            fix_crc(&mut g);
        }
        let _ = fresh().import_resumable(&g);
    }
    // The original still loads.
    fresh().import_resumable(&blob).unwrap();
}

#[test]
fn polite_close_ends_the_session_after_the_queue_drains() {
    let mut l = ready(Options::default(), sm_config(), 4096);
    l.server.push_message("hello");
    l.run();
    for i in 0..3 {
        l.send(&format!("m{i}")).unwrap();
    }
    l.client.close(l.now).unwrap();
    l.run();
    let close = l.sent.iter().position(|s| s == "</stream:stream>").unwrap();
    assert!(l.sent[..close].iter().any(|s| body_of(s) == "m2"));
    // XEP-0198 §4: what was received is acknowledged before the close.
    assert!(l.sent[..close].contains(&"<a xmlns='urn:xmpp:sm:3' h='1'/>".to_string()));
    assert!(l.sent[close - 1].starts_with("<presence type='unavailable'"));
    assert_eq!(l.events.last(), Some(&Ev::Closed));
    assert!(!l.client.is_resumable());
}

/// Round trips from the first byte to ready, fresh and resumed, over
/// STARTTLS and over direct TLS (XEP-0368), with SASL PLAIN (SCRAM adds
/// one; the TLS handshake is the adapter's and not counted).
fn round_trips(direct: bool) -> (u32, u32) {
    let opts = Options {
        starttls: !direct,
        ..Options::default()
    };
    let mut l = Link::new(opts, Some(sm_config()), 4096);
    if direct {
        l.client.tls_established(TlsBinding::None);
    }
    l.run();
    assert!(matches!(l.events[..], [Ev::Ready(_)]));
    let fresh = l.round_trips;
    l.cut();
    if direct {
        l.client.tls_established(TlsBinding::None);
    }
    l.round_trips = 0;
    l.events.clear();
    l.run();
    assert!(matches!(l.events[..], [Ev::Resumed(..)]), "{:?}", l.events);
    (fresh, l.round_trips)
}

#[test]
fn round_trips_fresh_and_resumed() {
    // Header, STARTTLS, header, auth, header, then bind or resume; the
    // <enable/> follows the bind without a wait.
    assert_eq!(round_trips(false), (6, 6));
    // Direct TLS saves the STARTTLS exchange and one header.
    assert_eq!(round_trips(true), (4, 4));
    println!(
        "round trips to ready (fresh, resumed): STARTTLS {:?}, direct TLS {:?}",
        round_trips(false),
        round_trips(true)
    );
}

/// The fault-injection run: 10,000 messages, the connection cut 100 times
/// at random byte offsets in either direction (mid-stanza, between a
/// stanza and its ack, during negotiation and resumption). The server gets
/// every message once, in order; so does the client, of the server's.
#[test]
fn nothing_lost_nothing_doubled_across_100_cuts() {
    const MESSAGES: usize = 10_000;
    const CUTS: usize = 100;
    let sm = SmConfig {
        request_every: 8,
        request_after: Some(Duration::from_millis(50)),
        ..sm_config()
    };
    let opts = Options {
        request_every: 3,
        ..Options::default()
    };
    let mut l = Link::new(opts, Some(sm), 2048);
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut next = |n: u64| rand_core::RngCore::next_u64(&mut rng) % n;
    // Byte offsets of the cuts in the combined traffic, both directions.
    let mut budget = 2_000 + next(4_000);
    let mut to_client = 0usize;
    let mut cuts = 0;
    let mut queued = 0;
    let mut server_sent = 0;
    let mut rounds = 0u64;
    let mut received: Vec<String> = Vec::new();
    let mut events = Vec::new();
    let mut in_flight_c2s: Vec<u8> = Vec::new();
    let mut in_flight_s2c: Vec<u8> = Vec::new();
    let (mut resumed, mut rebound, mut ready_events) = (0, 0, 0);
    // Cuts inside an element, and cuts while the server had handled
    // stanzas whose ack the client had not seen.
    let (mut mid_element, mut handled_not_acked) = (0, 0);
    let mut resent = 0u64;
    loop {
        rounds += 1;
        assert!(rounds < 10_000_000, "no progress");
        l.now = l.now + Duration::from_millis(1);
        // The application: a few messages per round, when there is room.
        if l.client.is_ready() {
            for _ in 0..next(4) {
                if queued == MESSAGES {
                    break;
                }
                match l.send(&format!("n{queued}")) {
                    Ok(()) => queued += 1,
                    Err(ClientError::UnackedQueueFull { .. }) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            if server_sent < MESSAGES / 10 && next(10) == 0 {
                l.server.push_message(&format!("s{server_sent}"));
                server_sent += 1;
            }
        }
        // Client output onto the wire.
        let mut spoke = false;
        loop {
            match l.client.poll(l.now) {
                Ok(Output::Transmit(b)) => {
                    in_flight_c2s.extend_from_slice(b);
                    spoke = true;
                }
                Ok(Output::StartTls) => l.client.tls_established(TlsBinding::None),
                Ok(Output::Event(e)) => {
                    match own(e) {
                        Ev::Message(m) => received.push(m),
                        Ev::Resumed(_, n) => {
                            resumed += 1;
                            resent += u64::from(n);
                        }
                        Ev::Rebound(..) => rebound += 1,
                        Ev::Ready(_) => ready_events += 1,
                        other => events.push(other),
                    }
                    spoke = true;
                }
                Ok(Output::Wait(_)) | Ok(Output::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        // The wire delivers a random amount each way; a cut may fall in it.
        let mut cut_now = false;
        for dir in 0..2 {
            let buf = if dir == 0 {
                &mut in_flight_c2s
            } else {
                &mut in_flight_s2c
            };
            if buf.is_empty() {
                continue;
            }
            let mut n = buf.len().min(1 + next(600) as usize);
            if cuts < CUTS && (n as u64) >= budget {
                n = budget as usize;
                cut_now = true;
            }
            budget = budget.saturating_sub(n as u64);
            let chunk: Vec<u8> = buf.drain(..n).collect();
            if cut_now && chunk.last() != Some(&b'>') {
                mid_element += 1;
            }
            if cut_now {
                let server_h = l.server.session.as_ref().map_or(0, |s| s.h_in);
                if server_h != l.client.sm_counters().1 {
                    handled_not_acked += 1;
                }
            }
            if dir == 0 {
                l.server.receive(&chunk);
            } else {
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let k = l.client.handle_input(rest, l.now);
                    rest = &rest[k..];
                    assert!(k > 0, "the client's receive buffer is drained every round");
                }
                to_client += n;
            }
            if cut_now {
                break;
            }
        }
        in_flight_s2c.extend(l.server.take_output());
        if cut_now {
            in_flight_c2s.clear();
            in_flight_s2c.clear();
            l.server.drop_connection();
            // Events the client produced before noticing are already read.
            l.client.connection_lost(l.now);
            cuts += 1;
            budget = 500 + next(9_000);
            continue;
        }
        let done = queued == MESSAGES
            && l.client.unacked() == 0
            && in_flight_c2s.is_empty()
            && in_flight_s2c.is_empty()
            && !spoke;
        if done {
            if l.server.delivered.len() == MESSAGES {
                break;
            }
            l.client.request_ack().unwrap();
        }
    }
    assert_eq!(cuts, CUTS);
    assert!(events.is_empty(), "{events:?}");
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("n{i}")).collect();
    assert_eq!(l.server.delivered.len(), MESSAGES, "lost or doubled");
    assert!(l.server.delivered == expected, "out of order or doubled");
    // The server's messages to the client: every one once (the run may end
    // before the last few are acknowledged, never before delivered).
    let expected_in: Vec<String> = (0..received.len()).map(|i| format!("s{i}")).collect();
    assert_eq!(received, expected_in);
    assert!(received.len() + 3 >= server_sent);
    // Every cut was survived by resumption; none needed a fresh bind.
    assert_eq!((ready_events, rebound), (1, 0));
    assert!(resumed > 0);
    assert!(mid_element > 10 && handled_not_acked > 10);
    assert_eq!(l.server.binds, 1);
    println!(
        "{MESSAGES} messages, {CUTS} cuts ({mid_element} inside an element, \
         {handled_not_acked} between a stanza and its ack): {resumed} resumptions, \
         {resent} stanzas resent, {} bytes to the client",
        to_client
    );
}
