//! The receiving side: our client against our server in memory (no
//! sockets, simulated time, the TLS handshake simulated as an instant), and
//! scripted clients that break the rules. Every session runs with the bytes
//! carried whole and one at a time, with the same outcome.

use picoxmpp::client::{self, Client, ClientError, Keepalive, TlsBinding, TlsPolicy};
use picoxmpp::error::StreamErrorCondition;
use picoxmpp::jid::Jid;
use picoxmpp::sasl::scram::HashFunction;
use picoxmpp::sasl::scram_server::StoredKeys;
use picoxmpp::sasl::{Mechanism, SaslFailure};
use picoxmpp::server::{self, Accounts, BindPolicy, CloseReason, Server, TlsMode};
use picoxmpp::stanza::{ErrorCondition, MessageType};
use picoxmpp::time::Instant;
use std::collections::HashMap;
use std::time::Duration;

mod server_common;
use server_common::{keys, TestRng};

/// The account store: the keys above, and a bind policy per resource.
#[derive(Default)]
struct Store {
    policies: HashMap<String, BindPolicy>,
    bound: Vec<String>,
}

impl Accounts for Store {
    fn scram_keys(&mut self, username: &str, hash: HashFunction) -> Option<StoredKeys> {
        keys().get(&(username.to_string(), hash)).cloned()
    }
    fn bind(&mut self, jid: Jid<'_>) -> BindPolicy {
        let p = jid
            .resource()
            .and_then(|r| self.policies.get(r).copied())
            .unwrap_or(BindPolicy::Accept);
        if p == BindPolicy::Accept {
            self.bound.push(jid.to_string());
        }
        p
    }
}

/// What either side did, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    // Client side.
    Ready(String),
    Message {
        from: String,
        body: String,
    },
    ClientErr(ClientError),
    ClientClosed,
    // Server side.
    Authenticated(String, Mechanism),
    AuthFailed(SaslFailure, u8),
    Bound(String),
    Resumed(String, u32),
    /// A stanza handed up, written stamped.
    Stanza(String),
    ServerClosed(CloseReason),
}

type TestClient = Client<'static, 'static, TestRng>;
type TestServer = Server<'static, 'static, TestRng, Store>;

fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

/// A client and a server joined by two in-memory pipes.
struct Pair {
    client: TestClient,
    server: TestServer,
    now: Instant,
    /// Bytes carried per step.
    chunk: usize,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    client_tls: bool,
    server_tls: bool,
    client_done: bool,
    server_done: bool,
    seen: Vec<Seen>,
    /// Everything the server wrote.
    server_wrote: String,
    /// `tls-exporter` data each side gets at the handshake.
    client_exporter: Option<&'static [u8]>,
    server_exporter: Option<&'static [u8]>,
    /// What an attacker on the wire does to the server's units.
    tamper: fn(&str) -> String,
}

fn client_config(jid: &'static str, password: &'static str) -> client::Config<'static> {
    let mut c = client::Config::new(Jid::parse(jid).unwrap(), password);
    c.keepalive = Keepalive::Off;
    c
}

impl Pair {
    fn new(
        c: client::Config<'static>,
        s: server::Config<'static>,
        store: Store,
        chunk: usize,
    ) -> Self {
        Pair {
            client: Client::new(c, leak(4096), leak(4096), TestRng(1)),
            server: Server::new(s, leak(4096), leak(4096), TestRng(2), store),
            now: Instant::from_millis(1_000),
            chunk,
            c2s: Vec::new(),
            s2c: Vec::new(),
            client_tls: false,
            server_tls: false,
            client_done: false,
            server_done: false,
            seen: Vec::new(),
            server_wrote: String::new(),
            client_exporter: None,
            server_exporter: None,
            tamper: |u| u.to_string(),
        }
    }

    fn poll_client(&mut self) -> bool {
        let mut progress = false;
        while !self.client_done {
            match self.client.poll(self.now) {
                Ok(client::Output::Transmit(b)) => self.c2s.extend_from_slice(b),
                Ok(client::Output::StartTls) => self.client_tls = true,
                Ok(client::Output::Event(e)) => match e {
                    client::Event::Ready { jid } => self.seen.push(Seen::Ready(jid.to_string())),
                    client::Event::Message(m) => self.seen.push(Seen::Message {
                        from: m.from().map(|f| f.to_string()).unwrap_or_default(),
                        body: m.body().map(|b| b.to_string()).unwrap_or_default(),
                    }),
                    client::Event::Closed => self.seen.push(Seen::ClientClosed),
                    _ => {}
                },
                Ok(client::Output::Wait(_)) => return progress,
                Ok(client::Output::Closed) => self.client_done = true,
                Err(e) => {
                    self.seen.push(Seen::ClientErr(e));
                    self.client_done = true;
                }
            }
            progress = true;
        }
        progress
    }

    fn poll_server(&mut self) -> bool {
        let mut progress = false;
        while !self.server_done {
            match self.server.poll(self.now) {
                server::Output::Transmit(b) => {
                    let unit = std::str::from_utf8(b).unwrap();
                    self.server_wrote.push_str(unit);
                    self.s2c.extend_from_slice((self.tamper)(unit).as_bytes())
                }
                server::Output::StartTls => self.server_tls = true,
                server::Output::Event(e) => {
                    let s = match e {
                        server::Event::Authenticated {
                            username,
                            mechanism,
                        } => Seen::Authenticated(username.to_string(), mechanism),
                        server::Event::AuthFailed {
                            condition,
                            failures,
                        } => Seen::AuthFailed(condition, failures),
                        server::Event::Bound { jid } => Seen::Bound(jid.to_string()),
                        server::Event::Stanza(s) => {
                            let mut buf = vec![0u8; s.stamped_len()];
                            let n = s.write_stamped(&mut buf).unwrap();
                            assert_eq!(n, buf.len());
                            Seen::Stanza(String::from_utf8(buf).unwrap())
                        }
                        server::Event::Resumed { jid, resend } => {
                            Seen::Resumed(jid.to_string(), resend)
                        }
                        server::Event::Closed(r) => Seen::ServerClosed(r),
                    };
                    self.seen.push(s);
                }
                server::Output::Wait(_) => return progress,
                server::Output::Closed => self.server_done = true,
            }
            progress = true;
        }
        progress
    }

    /// Carries up to `chunk` bytes each way; `true` if any moved.
    fn carry(&mut self) -> bool {
        let mut moved = false;
        if !self.c2s.is_empty() && !self.server_done && !self.server_tls {
            let n = self.chunk.min(self.c2s.len());
            let taken = self.server.handle_input(&self.c2s[..n], self.now);
            self.c2s.drain(..taken);
            moved |= taken > 0;
        }
        if !self.s2c.is_empty() && !self.client_done && !self.client_tls {
            let n = self.chunk.min(self.s2c.len());
            let taken = self.client.handle_input(&self.s2c[..n], self.now);
            self.s2c.drain(..taken);
            moved |= taken > 0;
        }
        moved
    }

    /// Runs until nothing moves.
    fn run(&mut self) {
        for _ in 0..1_000_000 {
            let mut progress = self.poll_client() | self.poll_server();
            // The handshake, once both sides are at it and nothing else is
            // in flight.
            if self.client_tls && self.server_tls && self.c2s.is_empty() && self.s2c.is_empty() {
                self.client.tls_established(match self.client_exporter {
                    Some(e) => TlsBinding::Exporter(e),
                    None => TlsBinding::None,
                });
                self.server.tls_established();
                if let Some(e) = self.server_exporter {
                    self.server.tls_exporter(e);
                }
                self.client_tls = false;
                self.server_tls = false;
                progress = true;
            }
            progress |= self.carry();
            if !progress {
                return;
            }
        }
        panic!("the pair never settles");
    }

    fn take(&mut self) -> Vec<Seen> {
        std::mem::take(&mut self.seen)
    }
}

/// Runs `f` with the bytes carried whole and one at a time; both runs must
/// see the same.
fn both_ways(f: impl Fn(usize) -> Vec<Seen>) -> Vec<Seen> {
    let whole = f(usize::MAX);
    let bytewise = f(1);
    assert_eq!(whole, bytewise, "whole and byte by byte differ");
    whole
}

fn bound_pair(
    c: client::Config<'static>,
    s: server::Config<'static>,
    chunk: usize,
) -> (Pair, Vec<Seen>) {
    let mut p = Pair::new(c, s, Store::default(), chunk);
    p.run();
    let seen = p.take();
    (p, seen)
}

fn ready_jid(seen: &[Seen]) -> String {
    seen.iter()
        .find_map(|s| match s {
            Seen::Ready(j) => Some(j.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("not ready: {seen:?}"))
}

/// STARTTLS, SCRAM with the hash `forced`, bind, a message each way
/// (stamped on the way up), polite close.
fn scram_session(forced: &'static [Mechanism], chunk: usize) -> Vec<Seen> {
    let mut c = client_config("alice@example.com/phone", "alice-pass");
    c.mechanisms = Some(forced);
    let (mut p, mut seen) = bound_pair(c, server::Config::new("example.com"), chunk);
    assert!(p.client.is_tls() && p.server.is_tls());
    p.client
        .send_message(
            Jid::parse("bob@example.com").unwrap(),
            MessageType::Chat,
            "hi <bob> & all",
        )
        .unwrap();
    p.run();
    p.server
        .deliver(b"<message from='bob@example.com/desk' to='alice@example.com/phone' type='chat'><body>hello</body></message>")
        .unwrap();
    p.run();
    p.client.close(p.now).unwrap();
    p.run();
    seen.extend(p.take());
    // Message ids are random; keep the rest.
    seen.iter()
        .map(|s| match s {
            Seen::Stanza(x) => Seen::Stanza(strip_id(x)),
            s => s.clone(),
        })
        .collect()
}

fn strip_id(s: &str) -> String {
    match s.find(" id='") {
        Some(i) => {
            let end = s[i + 5..].find('\'').unwrap() + i + 6;
            format!("{}{}", &s[..i], &s[end..])
        }
        None => s.to_string(),
    }
}

fn expected_scram_session(m: Mechanism) -> Vec<Seen> {
    vec![
        Seen::Authenticated("alice".into(), m),
        Seen::Bound("alice@example.com/phone".into()),
        Seen::Ready("alice@example.com/phone".into()),
        Seen::Stanza(
            "<message from='alice@example.com/phone' to='bob@example.com' type='chat'>\
             <body>hi &lt;bob&gt; &amp; all</body></message>"
                .into(),
        ),
        Seen::Message {
            from: "bob@example.com/desk".into(),
            body: "hello".into(),
        },
        // RFC 6121 §4.5.1: unavailable presence before the close.
        Seen::Stanza("<presence from='alice@example.com/phone' type='unavailable'/>".into()),
        Seen::ServerClosed(CloseReason::Polite),
        Seen::ClientClosed,
    ]
}

#[cfg(feature = "scram-sha256")]
#[test]
fn scram_sha256_over_starttls() {
    let seen = both_ways(|chunk| scram_session(&[Mechanism::ScramSha256], chunk));
    assert_eq!(seen, expected_scram_session(Mechanism::ScramSha256));
}

#[test]
fn scram_sha1_over_starttls() {
    let seen = both_ways(|chunk| scram_session(&[Mechanism::ScramSha1], chunk));
    assert_eq!(seen, expected_scram_session(Mechanism::ScramSha1));
}

#[test]
fn plain_over_starttls() {
    let seen = both_ways(|chunk| {
        let mut c = client_config("bob@example.com", "bob-pass");
        c.mechanisms = Some(&[Mechanism::Plain]);
        bound_pair(c, server::Config::new("example.com"), chunk).1
    });
    assert_eq!(seen[0], Seen::Authenticated("bob".into(), Mechanism::Plain));
    // No resource asked for: the server assigns one (RFC 6120 §7.6.1).
    let jid = ready_jid(&seen);
    assert!(jid.starts_with("bob@example.com/") && jid.len() > "bob@example.com/".len());
    assert_eq!(seen[1], Seen::Bound(jid));
}

#[test]
fn plain_is_not_offered_without_tls() {
    let mut s = server::Config::new("example.com");
    s.tls = TlsMode::Off;
    let mut c = client_config("bob@example.com", "bob-pass");
    c.tls = TlsPolicy::InsecureAllowPlaintext;
    c.allow_plain_without_tls = true;
    c.mechanisms = Some(&[Mechanism::Plain]);
    let (p, seen) = bound_pair(c, s, usize::MAX);
    assert!(
        !p.server_wrote.contains("<mechanism>PLAIN</mechanism>"),
        "{}",
        p.server_wrote
    );
    assert_eq!(
        seen,
        vec![
            Seen::ClientErr(ClientError::NoAcceptableMechanism),
            Seen::ServerClosed(CloseReason::Polite)
        ]
    );
}

#[test]
fn wrong_password_and_unknown_user() {
    for (jid, password, mechanism) in [
        ("alice@example.com", "wrong", Mechanism::ScramSha1),
        #[cfg(feature = "scram-sha256")]
        ("alice@example.com", "wrong", Mechanism::ScramSha256),
        ("alice@example.com", "wrong", Mechanism::Plain),
        ("mallory@example.com", "x", Mechanism::ScramSha1),
        ("mallory@example.com", "x", Mechanism::Plain),
    ] {
        let seen = both_ways(|chunk| {
            let mut c = client_config(jid, password);
            c.mechanisms = Some(std::slice::from_ref(Box::leak(Box::new(mechanism))));
            bound_pair(c, server::Config::new("example.com"), chunk).1
        });
        assert_eq!(
            seen,
            vec![
                Seen::AuthFailed(SaslFailure::NotAuthorized, 1),
                Seen::ClientErr(ClientError::AuthenticationFailed(
                    SaslFailure::NotAuthorized
                )),
                Seen::ServerClosed(CloseReason::Polite),
            ],
            "{jid} {mechanism}"
        );
    }
}

#[test]
fn bind_conflict_policies() {
    // Refused: the client reports the conflict (RFC 6120 §7.7.2.2).
    let mut store = Store::default();
    store.policies.insert("phone".into(), BindPolicy::Conflict);
    let mut p = Pair::new(
        client_config("alice@example.com/phone", "alice-pass"),
        server::Config::new("example.com"),
        store,
        usize::MAX,
    );
    p.run();
    assert!(p.take().contains(&Seen::ClientErr(ClientError::BindFailed(
        ErrorCondition::Conflict
    ))));
    assert!(p.server.accounts().bound.is_empty());

    // Another resource assigned instead.
    let mut store = Store::default();
    store
        .policies
        .insert("phone".into(), BindPolicy::AssignOther);
    let mut p = Pair::new(
        client_config("alice@example.com/phone", "alice-pass"),
        server::Config::new("example.com"),
        store,
        1,
    );
    p.run();
    let seen = p.take();
    let jid = ready_jid(&seen);
    assert!(jid.starts_with("alice@example.com/") && jid != "alice@example.com/phone");
    assert_eq!(p.server.accounts().bound, vec![jid.clone()]);
    assert_eq!(p.server.jid().unwrap().to_string(), jid);
}

#[test]
fn spoofed_from_is_invalid_from() {
    let seen = both_ways(|chunk| {
        let (mut p, _) = bound_pair(
            client_config("alice@example.com/phone", "alice-pass"),
            server::Config::new("example.com"),
            chunk,
        );
        // Its own addresses are fine (RFC 6120 §8.1.2.1) and get stamped.
        p.client
            .send_raw(|w| {
                w.start_element("presence")?;
                w.attr("from", "alice@example.com")?;
                w.end_element("presence")
            })
            .unwrap();
        p.run();
        p.client
            .send_raw(|w| {
                w.start_element("message")?;
                w.attr("from", "bob@example.com/desk")?;
                w.attr("to", "carol@example.com")?;
                w.end_element("message")
            })
            .unwrap();
        p.run();
        p.take()
    });
    assert_eq!(
        seen,
        vec![
            Seen::Stanza("<presence from='alice@example.com/phone'/>".into()),
            Seen::ServerClosed(CloseReason::ErrorSent(StreamErrorCondition::InvalidFrom)),
            Seen::ClientErr(ClientError::StreamError(StreamErrorCondition::InvalidFrom)),
        ]
    );
}

#[test]
fn server_answers_ping_and_closes_with_conflict() {
    let (mut p, _) = bound_pair(
        {
            let mut c = client_config("alice@example.com/phone", "alice-pass");
            c.keepalive = Keepalive::Ping {
                idle: Duration::from_secs(60),
                timeout: Duration::from_secs(10),
            };
            c
        },
        server::Config::new("example.com"),
        usize::MAX,
    );
    // Idle long enough for the client's XEP-0199 ping: the server answers
    // it itself, and the client stays up past the ping timeout.
    p.now = p.now + Duration::from_secs(61);
    p.run();
    p.now = p.now + Duration::from_secs(20);
    p.run();
    assert!(p.client.is_ready(), "{:?}", p.seen);
    assert!(p
        .server_wrote
        .contains("<iq type='result' from='example.com' id="));
    // A new session took the resource: the adapter ends this one.
    p.server.close_with_error(StreamErrorCondition::Conflict);
    p.run();
    assert_eq!(
        p.take(),
        vec![
            Seen::ServerClosed(CloseReason::ErrorSent(StreamErrorCondition::Conflict)),
            Seen::ClientErr(ClientError::StreamError(StreamErrorCondition::Conflict)),
        ]
    );
}

#[test]
fn bounce_answers_with_a_stanza_error() {
    let (mut p, _) = bound_pair(
        client_config("alice@example.com/phone", "alice-pass"),
        server::Config::new("example.com"),
        usize::MAX,
    );
    p.client
        .send_iq(
            Some(Jid::parse("bob@example.com/gone").unwrap()),
            picoxmpp::stanza::IqType::Get,
            |w| {
                w.start_element("query")?;
                w.ns("jabber:iq:version")?;
                w.end_element("query")
            },
            p.now,
        )
        .unwrap();
    p.poll_client();
    p.carry();
    // The adapter finds no such session and bounces (RFC 6120 §8.5.3.2.1
    // for an iq to an unavailable full JID).
    match p.server.poll(p.now) {
        server::Output::Event(server::Event::Stanza(s)) => {
            assert_eq!(s.to().unwrap().to_string(), "bob@example.com/gone");
        }
        other => panic!("{other:?}"),
    }
    p.server.bounce(ErrorCondition::ServiceUnavailable).unwrap();
    p.run();
    assert!(
        p.server_wrote.contains(
            "<iq type='error' from='bob@example.com/gone' to='alice@example.com/phone' id="
        ),
        "{}",
        p.server_wrote
    );
}

// -- scripted clients that break the rules --------------------------------

const OPEN: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// Feeds `input` to a fresh server in pieces of `chunk`, polling at each;
/// returns what it wrote (stream ids replaced by `ID`) and its events.
fn scripted(config: server::Config<'static>, input: &str, chunk: usize) -> (String, Vec<Seen>) {
    let mut p = Pair::new(
        client_config("alice@example.com", "x"),
        config,
        Store::default(),
        chunk,
    );
    p.client_done = true;
    p.c2s = input.as_bytes().to_vec();
    while !p.server_done {
        let progress = p.poll_server() | p.carry();
        if !progress {
            break;
        }
    }
    let id = p.server.stream_id().to_string();
    (p.server_wrote.replace(&id, "ID"), p.take())
}

fn scripted_both(config: impl Fn() -> server::Config<'static>, input: &str) -> (String, Vec<Seen>) {
    let whole = scripted(config(), input, usize::MAX);
    assert_eq!(
        whole,
        scripted(config(), input, 1),
        "whole and byte by byte differ"
    );
    whole
}

fn plaintext() -> server::Config<'static> {
    let mut c = server::Config::new("example.com");
    c.tls = TlsMode::Off;
    c.allow_plain_without_tls = true;
    c
}

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='ID' version='1.0' xml:lang='en'>";

fn stream_error(condition: &str) -> String {
    format!(
        "<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
    )
}

#[test]
fn features_by_state() {
    let (out, _) = scripted_both(|| server::Config::new("example.com"), OPEN);
    assert_eq!(
        out,
        format!("{HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
    );
    let (out, _) = scripted_both(plaintext, OPEN);
    // SCRAM-SHA-256 only when built in.
    let sha256 = if cfg!(feature = "scram-sha256") {
        "<mechanism>SCRAM-SHA-256</mechanism>"
    } else {
        ""
    };
    let expected = format!(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         {sha256}<mechanism>SCRAM-SHA-1</mechanism>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    );
    assert!(out.ends_with(&expected), "{out}");
    let optional = || {
        let mut c = server::Config::new("example.com");
        c.tls = TlsMode::Optional;
        c
    };
    let (out, _) = scripted_both(optional, OPEN);
    assert!(
        out.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms"),
        "{out}"
    );
    assert!(!out.contains("PLAIN"));
}

#[test]
fn legacy_session_and_bind_after_plain() {
    let cfg = || {
        let mut c = plaintext();
        c.legacy_session = true;
        c
    };
    // \0bob\0bob-pass
    let input = format!(
        "{OPEN}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBib2ItcGFzcw==</auth>\
         {OPEN}<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>\
         <iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>\
         <iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>\
         </stream:stream>"
    );
    let (out, seen) = scripted_both(cfg, &input);
    assert!(
        out.contains("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
        "{out}"
    );
    assert!(out.contains(
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/>\
         <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"
    ));
    assert!(out.contains("<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bob@example.com/r</jid></bind></iq>"));
    assert!(out.contains("<iq type='result' id='s1'/>"));
    assert!(out.contains("<iq type='error' id='b2'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"), "{out}");
    assert!(out.ends_with("</stream:stream>"));
    assert_eq!(
        seen,
        vec![
            Seen::Authenticated("bob".into(), Mechanism::Plain),
            Seen::Bound("bob@example.com/r".into()),
            Seen::ServerClosed(CloseReason::Polite),
        ]
    );
}

#[test]
fn bad_input_gets_its_stream_error() {
    let auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBib2ItcGFzcw==</auth>";
    let bound = format!(
        "{OPEN}{auth}{OPEN}<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    );
    let cases: Vec<(String, &str)> = vec![
        // RFC 6120 §4.9.3.10 / §11: not XML.
        (format!("{OPEN}<message><body></message>"), "not-well-formed"),
        ("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".into(), "invalid-namespace"),
        ("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='elsewhere.example' version='1.0'>".into(), "host-unknown"),
        ("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com'>".into(), "unsupported-version"),
        // §4.9.3.12: stanzas before authentication.
        (format!("{OPEN}<message to='bob@example.com'><body>hi</body></message>"), "not-authorized"),
        // §4.9.3.24: not a stanza here.
        (format!("{OPEN}<enable xmlns='urn:xmpp:sm:3'/>"), "unsupported-stanza-type"),
        // §7.1: nothing but bind between authentication and binding.
        (format!("{OPEN}{auth}{OPEN}<message to='x@example.com'/>"), "not-authorized"),
        // §8.1.2.1 once bound.
        (format!("{bound}<message from='alice@example.com/x' to='x@example.com'/>"), "invalid-from"),
        (format!("{bound}<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>"), "invalid-xml"),
        (format!("{bound}<foo xmlns='urn:example'/>"), "unsupported-stanza-type"),
        // §11.1: restricted XML.
        (format!("{OPEN}<!-- hi -->"), "restricted-xml"),
    ];
    for (input, condition) in cases {
        let (out, seen) = scripted_both(plaintext, &input);
        assert!(out.ends_with(&stream_error(condition)), "{input}\n=> {out}");
        assert!(
            out.starts_with("<?xml version='1.0'?><stream:stream "),
            "{out}"
        );
        assert_eq!(
            seen.last(),
            Some(&Seen::ServerClosed(CloseReason::ErrorSent(
                StreamErrorCondition::from_name(condition).unwrap()
            ))),
            "{input}"
        );
    }
    // A stanza larger than the receive buffer: policy-violation, bounded.
    let big = format!(
        "{bound}<message to='bob@example.com'><body>{}</body></message>",
        "x".repeat(5000)
    );
    let (out, _) = scripted(plaintext(), &big, usize::MAX);
    assert!(out.ends_with(&stream_error("policy-violation")), "{out}");
}

#[test]
fn sasl_failures_are_counted_then_the_stream_closes() {
    let fail =
        |c: &str| format!("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{c}/></failure>");
    let input = format!(
        "{OPEN}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-UNKNOWN'>AA==</auth>\
         <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!notbase64</auth>\
         <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'/>\
         <abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    );
    let cfg = || {
        let mut c = plaintext();
        c.max_auth_failures = 3;
        c
    };
    let (out, seen) = scripted_both(cfg, &input);
    let expected_tail = format!(
        "{}{}<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{}{}",
        fail("invalid-mechanism"),
        fail("incorrect-encoding"),
        fail("aborted"),
        stream_error("policy-violation")
    );
    assert!(out.ends_with(&expected_tail), "{out}");
    assert_eq!(
        seen,
        vec![
            Seen::AuthFailed(SaslFailure::InvalidMechanism, 1),
            Seen::AuthFailed(SaslFailure::IncorrectEncoding, 2),
            Seen::AuthFailed(SaslFailure::Aborted, 3),
            Seen::ServerClosed(CloseReason::ErrorSent(
                StreamErrorCondition::PolicyViolation
            )),
        ]
    );
    // With TLS required, SASL before STARTTLS is encryption-required.
    let (out, _) = scripted_both(
        || server::Config::new("example.com"),
        &format!("{OPEN}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1hLHI9eHl6</auth>"),
    );
    assert!(out.ends_with(&fail("encryption-required")), "{out}");
}

#[test]
fn a_line_break_before_the_restarted_header_is_fine() {
    // As go-xmpp writes it: each element ends with a line break, and the
    // new stream after SASL starts with the XML declaration.
    let input = format!(
        "{OPEN}\n<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBib2ItcGFzcw==</auth>\n{OPEN}\n\
         <iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>\n"
    );
    let (out, seen) = scripted_both(plaintext, &input);
    assert!(out.contains("<jid>bob@example.com/"), "{out}");
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn starttls_followed_by_a_line_break_proceeds() {
    let input = format!("{OPEN}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n");
    let (out, seen) = scripted(server::Config::new("example.com"), &input, usize::MAX);
    assert!(
        out.ends_with("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
        "{out}"
    );
    assert!(seen.is_empty());
}

#[test]
fn starttls_with_data_behind_it_is_refused() {
    let input = format!("{OPEN}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message/>");
    let (out, seen) = scripted(server::Config::new("example.com"), &input, usize::MAX);
    assert!(
        out.ends_with("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"),
        "{out}"
    );
    assert_eq!(seen, vec![Seen::ServerClosed(CloseReason::Polite)]);
}

#[test]
fn plaintext_taken_before_the_handshake_is_refused() {
    let mut p = Pair::new(
        client_config("alice@example.com", "x"),
        server::Config::new("example.com"),
        Store::default(),
        usize::MAX,
    );
    p.client_done = true;
    p.c2s = format!("{OPEN}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").into_bytes();
    p.run();
    assert!(p.server_tls, "{}", p.server_wrote);
    // In the clear, after <proceed/>, before the handshake is done.
    let injected = format!("{OPEN}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBib2ItcGFzcw==</auth>");
    assert_eq!(
        p.server.handle_input(injected.as_bytes(), p.now),
        injected.len()
    );
    p.server.tls_established();
    p.server_tls = false;
    p.run();
    assert!(
        p.server_wrote.ends_with(&stream_error("policy-violation")),
        "{}",
        p.server_wrote
    );
    assert!(!p.server_wrote.contains("<success"));
    assert_eq!(
        p.take(),
        vec![Seen::ServerClosed(CloseReason::ErrorSent(
            StreamErrorCondition::PolicyViolation
        ))]
    );
}

#[test]
fn negotiation_timeout_is_connection_timeout() {
    let mut p = Pair::new(
        client_config("alice@example.com", "x"),
        server::Config::new("example.com"),
        Store::default(),
        usize::MAX,
    );
    p.client_done = true;
    p.c2s = OPEN.as_bytes().to_vec();
    p.run();
    let deadline = match p.server.poll(p.now) {
        server::Output::Wait(Some(d)) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(deadline, p.now + Duration::from_secs(30));
    p.now = deadline;
    p.run();
    assert!(p
        .server_wrote
        .ends_with(&stream_error("connection-timeout")));
    assert_eq!(
        p.take(),
        vec![Seen::ServerClosed(CloseReason::ErrorSent(
            StreamErrorCondition::ConnectionTimeout
        ))]
    );
}

#[test]
fn client_stream_error_ends_the_session() {
    let input = format!(
        "{OPEN}<stream:error><reset xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    );
    let (out, seen) = scripted_both(plaintext, &input);
    assert!(out.ends_with("</stream:features></stream:stream>"));
    assert_eq!(
        seen,
        vec![Seen::ServerClosed(CloseReason::ErrorReceived(
            StreamErrorCondition::Reset
        ))]
    );
}

#[test]
fn stream_management_counts_and_acknowledges() {
    let sm = |x: &str| x.replace("SM", "xmlns='urn:xmpp:sm:3'");
    let bound = format!(
        "{OPEN}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBib2ItcGFzcw==</auth>\
         {OPEN}{}<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        sm("<enable SM/>")
    );
    // Before binding: refused (XEP-0198 §3); after: enabled, counted.
    let input = format!(
        "{bound}{}<message to='alice@example.com'/><iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>\
         {}<presence/>{}{}{}",
        sm("<enable SM/>"),
        sm("<r SM/>"),
        sm("<r SM/>"),
        // One stanza (the ping's answer) went out: h=1 is fine, h=2 is not.
        sm("<a SM h='1'/>"),
        sm("<a SM h='2'/>"),
    );
    let (out, seen) = scripted_both(plaintext, &input);
    let expected = [
        "<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
        "<enabled xmlns='urn:xmpp:sm:3'/>",
        "<iq type='result' id='p'/>",
        "<a xmlns='urn:xmpp:sm:3' h='2'/>",
        "<a xmlns='urn:xmpp:sm:3' h='3'/>",
    ];
    let mut at = 0;
    for e in expected {
        let i = out[at..]
            .find(e)
            .unwrap_or_else(|| panic!("{e} not after {at} in {out}"));
        at += i + e.len();
    }
    // XEP-0198 §4: more than was sent.
    assert!(
        out.ends_with(
            "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             <handled-count-too-high xmlns='urn:xmpp:sm:3' h='2' send-count='1'/></stream:error></stream:stream>"
        ),
        "{out}"
    );
    assert_eq!(
        seen.last(),
        Some(&Seen::ServerClosed(CloseReason::ErrorSent(
            StreamErrorCondition::UndefinedCondition
        )))
    );
    // Resumption is not offered by default: `<enabled/>` has no id, and a
    // `<resume/>` (instead of binding) finds nothing; after binding it is
    // out of place.
    let login = format!(
        "{OPEN}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGJvYgBib2ItcGFzcw==</auth>{OPEN}"
    );
    let (out, _) = scripted_both(
        plaintext,
        &format!("{login}{}", sm("<resume SM h='0' previd='x'/>")),
    );
    assert!(out.ends_with("<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"), "{out}");
    let (out, _) = scripted_both(
        plaintext,
        &format!("{bound}{}", sm("<resume SM h='0' previd='x'/>")),
    );
    assert!(out.ends_with("<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"), "{out}");
}

/// SCRAM-*-PLUS with `tls-exporter` (RFC 5802 §6, RFC 9266): both sides
/// bound to the same TLS channel log in; different channels (a man in
/// the middle) fail; -PLUS stripped from the offer is detected (`y`).
#[test]
fn scram_plus_with_tls_exporter() {
    let plus = if cfg!(feature = "scram-sha256") {
        Mechanism::ScramSha256Plus
    } else {
        Mechanism::ScramSha1Plus
    };
    let run = |client: &'static [u8], server: &'static [u8], tamper: fn(&str) -> String, chunk| {
        let mut p = Pair::new(
            client_config("alice@example.com/phone", "alice-pass"),
            server::Config::new("example.com"),
            Store::default(),
            chunk,
        );
        p.client_exporter = Some(client);
        p.server_exporter = Some(server);
        p.tamper = tamper;
        p.run();
        (p.take(), p.server_wrote)
    };
    let same = both_ways(|chunk| run(&[7; 32], &[7; 32], |u| u.to_string(), chunk).0);
    assert_eq!(same[0], Seen::Authenticated("alice".into(), plus));
    assert_eq!(ready_jid(&same), "alice@example.com/phone");
    let (_, wrote) = run(&[7; 32], &[7; 32], |u| u.to_string(), usize::MAX);
    assert!(wrote.contains(
        "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>"
    ), "{wrote}");

    // Another channel on each side: the proof does not verify.
    let (seen, _) = run(&[7; 32], &[8; 32], |u| u.to_string(), usize::MAX);
    assert_eq!(
        seen[0],
        Seen::AuthFailed(SaslFailure::NotAuthorized, 1),
        "{seen:?}"
    );

    // -PLUS removed from the offer on the way: the client says `y`, the
    // server knows it offered -PLUS.
    let strip = |u: &str| {
        u.replace("<mechanism>SCRAM-SHA-256-PLUS</mechanism>", "")
            .replace("<mechanism>SCRAM-SHA-1-PLUS</mechanism>", "")
            .replace(
                "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>",
                "",
            )
    };
    let (seen, _) = run(&[7; 32], &[7; 32], strip, usize::MAX);
    assert_eq!(
        seen[0],
        Seen::AuthFailed(SaslFailure::NotAuthorized, 1),
        "{seen:?}"
    );
}

#[test]
fn a_silent_bound_session_times_out() {
    let mut s = server::Config::new("example.com");
    s.idle_timeout = Some(Duration::from_secs(300));
    let (mut p, _) = bound_pair(
        client_config("alice@example.com/phone", "alice-pass"),
        s,
        usize::MAX,
    );
    // Traffic keeps it up...
    p.now = p.now + Duration::from_secs(299);
    p.client
        .send_message(
            Jid::parse("bob@example.com").unwrap(),
            MessageType::Chat,
            "still here",
        )
        .unwrap();
    p.run();
    p.now = p.now + Duration::from_secs(299);
    p.run();
    assert!(p.server.is_ready());
    // ...silence does not.
    p.now = p.now + Duration::from_secs(1);
    p.run();
    let seen = p.take();
    assert!(
        seen.contains(&Seen::ServerClosed(CloseReason::ErrorSent(
            StreamErrorCondition::ConnectionTimeout
        ))),
        "{seen:?}"
    );
    assert!(seen.contains(&Seen::ClientErr(ClientError::StreamError(
        StreamErrorCondition::ConnectionTimeout
    ))));
}
