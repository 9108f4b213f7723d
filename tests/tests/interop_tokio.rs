//! Interop tests of the std adapter's tokio connection
//! ([`picoxmpp_std::AsyncConnection`], feature `tokio`) against the real
//! servers of `tests/interop/servers-up.sh`: Prosody and ejabberd on
//! loopback, accounts alice, bob and carol (`<name>-pass`) on `localhost`,
//! of whichever generation runs. The blocking `Connection` has the same
//! behaviours (and more) in `interop.rs`.
//!
//! Every test is `#[ignore]`d, so `cargo test --workspace` needs no server:
//!
//! ```text
//! sudo bash tests/interop/servers-up.sh
//! cargo test -p picoxmpp-tests --test interop_tokio -- --ignored --test-threads=1
//! sudo bash tests/interop/servers-down.sh
//! ```
//!
//! `PICOXMPP_INTEROP_CA` names the CA certificate (default
//! `/tmp/picoxmpp-servers/certs/localhost.crt`). A server that does not
//! answer fails the test: it is never skipped.
//!
//! The helpers are a copy of the minimum of `interop.rs` (that file keeps
//! its own), with `.await` where those block.

use picoxmpp::client::{ClientError, Config, Event, IqId};
use picoxmpp::jid::Jid;
use picoxmpp::sasl::Mechanism;
use picoxmpp::stanza::{IqType, MessageType, PresenceType};
use picoxmpp::xml::Element;
use picoxmpp_std::{AsyncConnection, Direction, Error, Next};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

mod interop_common;
use interop_common::*;

/// Opens a connection to `server` (STARTTLS or direct TLS port). Failing
/// to reach the server is a test failure.
async fn open(server: Server, direct: bool, config: Config<'static>) -> AsyncConnection<'static> {
    let port = if direct {
        server.direct
    } else {
        server.starttls
    };
    // The connection borrows its buffers and config: leaked, they live as
    // long as the test process.
    AsyncConnection::connect(
        ("127.0.0.1", port),
        leak_buf(64 * 1024),
        leak_buf(16 * 1024),
        config,
        &tls_settings(direct),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{} on 127.0.0.1:{port}: {e}. Is it running? Start it with \
             `bash tests/interop/servers-up.sh` (as root)",
            server.name
        )
    })
}

// -- what a session saw, owned ------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct RosterItem {
    jid: String,
    name: Option<String>,
    subscription: Option<String>,
    ask: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Ready(String),
    Message {
        from: String,
        kind: MessageType,
        body: Option<String>,
    },
    Presence {
        from: String,
        kind: Option<PresenceType>,
    },
    IqResult {
        id: String,
        roster: Vec<RosterItem>,
    },
    IqError {
        id: String,
        condition: String,
    },
    IqTimeout(String),
    RosterPush(Vec<RosterItem>),
    Closed,
    Other(String),
}

fn roster_items(query: &Element<'_>) -> Vec<RosterItem> {
    if !query.is("query", NS_ROSTER) {
        return Vec::new();
    }
    query
        .children()
        .filter(|c| c.is("item", NS_ROSTER))
        .map(|c| RosterItem {
            jid: c.attr("jid").map(|t| t.to_string()).unwrap_or_default(),
            name: c.attr("name").map(|t| t.to_string()),
            subscription: c.attr("subscription").map(|t| t.to_string()),
            ask: c.attr("ask").map(|t| t.to_string()),
        })
        .collect()
}

fn own(event: Event<'_>) -> Seen {
    match event {
        Event::Ready { jid } => Seen::Ready(jid.to_string()),
        Event::Message(m) => Seen::Message {
            from: m.from().map(|f| f.to_string()).unwrap_or_default(),
            kind: m.message_type(),
            body: m.body().map(|b| b.to_string()),
        },
        Event::Presence(p) => Seen::Presence {
            from: p.from().map(|f| f.to_string()).unwrap_or_default(),
            kind: p.presence_type(),
        },
        Event::IqResult { id, payload } => Seen::IqResult {
            id: id.as_str().to_owned(),
            roster: payload.as_ref().map(roster_items).unwrap_or_default(),
        },
        Event::IqError { id, error } => Seen::IqError {
            id: id.as_str().to_owned(),
            condition: error
                .map(|e| e.condition().as_str().to_owned())
                .unwrap_or_else(|| "(no error element)".to_owned()),
        },
        Event::IqTimeout { id } => Seen::IqTimeout(id.as_str().to_owned()),
        Event::RosterPush(query) => Seen::RosterPush(roster_items(&query)),
        Event::Closed => Seen::Closed,
        other => Seen::Other(format!("{other:?}")),
    }
}

// -- transcripts ---------------------------------------------------------------

/// What went over a connection, in plaintext (the tap sees inside TLS).
#[derive(Clone, Default)]
struct Transcript(Arc<Mutex<Vec<Chunk>>>);

/// When (since the connection opened), which way, and what.
type Chunk = (Duration, Direction, Vec<u8>);

impl Transcript {
    /// Taps `conn`, from before its first poll.
    fn attach(conn: &mut AsyncConnection<'static>) -> Transcript {
        let t = Transcript::default();
        let log = t.0.clone();
        let start = std::time::Instant::now();
        conn.set_tap(move |dir, bytes| {
            log.lock()
                .unwrap()
                .push((start.elapsed(), dir, bytes.to_vec()))
        });
        t
    }

    /// The units the client sent, each whole.
    fn sent(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, d, _)| *d == Direction::Sent)
            .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    /// Everything received, concatenated.
    fn received(&self) -> String {
        let bytes: Vec<u8> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, d, _)| *d == Direction::Received)
            .flat_map(|(_, _, b)| b.iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The whole exchange, one line a chunk, SASL payloads left out.
    fn render(&self) -> String {
        let mut out = String::from("transcript (C: client, S: server):\n");
        for (t, dir, bytes) in self.0.lock().unwrap().iter() {
            let who = if *dir == Direction::Sent { "C" } else { "S" };
            let text = redact_sasl(&String::from_utf8_lossy(bytes));
            let _ = writeln!(out, "  {:>6} ms {who}: {text}", t.as_millis());
        }
        out
    }

    /// The SCRAM mechanisms of the RFC 6120 SASL offer after TLS (not
    /// SASL2's), and whether a XEP-0440 list names a channel-binding type
    /// this client has.
    fn sasl_offer(&self) -> (Vec<String>, bool) {
        let received = self.received();
        let mut mechanisms = Vec::new();
        let mut rest = received.as_str();
        while let Some(i) = rest.find("<mechanisms ") {
            rest = &rest[i..];
            let end = rest.find("</mechanisms>").unwrap_or(rest.len());
            let open = &rest[..rest.find('>').unwrap_or(0)];
            if open.contains("urn:ietf:params:xml:ns:xmpp-sasl") {
                mechanisms = texts_of(&rest[..end], "mechanism");
                break;
            }
            rest = &rest[end..];
        }
        let usable_cb = received.find("urn:xmpp:sasl-cb:0").is_some_and(|from| {
            let list = &received[from..];
            let list = &list[..list.find("</sasl-channel-binding>").unwrap_or(list.len())];
            list.contains("tls-exporter") || list.contains("tls-server-end-point")
        });
        (mechanisms, usable_cb)
    }

    /// The mechanisms of the `<auth/>` elements the client sent.
    fn auths(&self) -> Vec<String> {
        self.sent()
            .iter()
            .filter_map(|u| auth_mechanism(u))
            .collect()
    }
}

/// Replaces the base64 of SASL elements with `…`.
fn redact_sasl(text: &str) -> String {
    let mut out = text.to_owned();
    for name in ["auth", "response", "challenge", "success"] {
        let open = format!("<{name} ");
        let close = format!("</{name}>");
        let mut from = 0;
        while let Some(i) = out[from..].find(&open).map(|i| i + from) {
            let Some(gt) = out[i..].find('>').map(|g| g + i + 1) else {
                break;
            };
            let Some(end) = out[gt..].find(&close).map(|e| e + gt) else {
                break;
            };
            out.replace_range(gt..end, "…");
            from = gt;
        }
    }
    out
}

/// The values of `<tag>…</tag>` in `text`.
fn texts_of(text: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(rest[..j].to_owned());
        rest = &rest[j..];
    }
    out
}

/// The mechanism named by an `<auth/>` the client sent.
fn auth_mechanism(unit: &str) -> Option<String> {
    let rest = &unit[unit.find("<auth ")?..];
    let rest = &rest[rest.find("mechanism=")? + "mechanism=".len()..];
    let quote = rest.chars().next()?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].to_owned())
}

/// The SCRAM hash of a mechanism name, for ordering: higher is stronger.
fn scram_strength(name: &str) -> u8 {
    match name.trim_end_matches("-PLUS") {
        "SCRAM-SHA-512" => 3,
        "SCRAM-SHA-256" => 2,
        "SCRAM-SHA-1" => 1,
        _ => 0,
    }
}

// -- a session under test -------------------------------------------------------

/// A connection, the events it received that no wait consumed yet, and
/// everything it saw (for failure messages).
struct Session {
    label: String,
    conn: AsyncConnection<'static>,
    jid: String,
    inbox: Vec<Seen>,
    log: Vec<(Duration, Seen)>,
    transcript: Transcript,
    started: Instant,
    closed: bool,
}

impl Session {
    /// Connects and runs the negotiation to `Event::Ready`.
    async fn login(server: Server, direct: bool, jid: &str) -> Session {
        match Session::try_login(server, direct, jid, None).await {
            Ok(s) => s,
            Err((e, seen, transcript)) => panic!(
                "{}:{jid}: login failed: {e:?}, saw {seen:?}\n{}",
                server.name,
                transcript.render()
            ),
        }
    }

    /// Connects and runs the negotiation, allowing only `mechanisms` if
    /// set. A failure gives the error, the events seen before it and the
    /// transcript.
    async fn try_login(
        server: Server,
        direct: bool,
        jid: &str,
        mechanisms: Option<&[Mechanism]>,
    ) -> Result<Session, (Error, Vec<Seen>, Transcript)> {
        let user = jid.split('@').next().unwrap_or_default();
        let password = format!("{user}-pass");
        let started = Instant::now();
        let mut conn = open(server, direct, config_with(jid, &password, mechanisms)).await;
        let transcript = Transcript::attach(&mut conn);
        let deadline = started + WAIT;
        let mut seen = Vec::new();
        let ready = loop {
            match conn.next_event_until(deadline, own).await {
                Ok(Next::Event(Seen::Ready(jid))) => break jid,
                Ok(Next::Event(e)) => seen.push(e),
                Ok(Next::Timeout) => panic!(
                    "{}:{jid}: not ready within {WAIT:?}; saw {seen:?}\n{}",
                    server.name,
                    transcript.render()
                ),
                Ok(Next::Closed) => panic!(
                    "{}:{jid}: closed before ready; saw {seen:?}\n{}",
                    server.name,
                    transcript.render()
                ),
                Err(e) => return Err((e, seen, transcript)),
            }
        };
        Ok(Session {
            label: format!("{}:{jid}", server.name),
            conn,
            jid: ready,
            log: seen.iter().map(|e| (Duration::ZERO, e.clone())).collect(),
            inbox: seen,
            transcript,
            started,
            closed: false,
        })
    }

    fn bare(&self) -> String {
        self.jid.split('/').next().unwrap_or_default().to_owned()
    }

    /// Drives the connection until events arrive (then takes those the
    /// core already has) or `slice` passes, collecting events.
    async fn pump(&mut self, slice: Duration) {
        if self.closed {
            tokio::time::sleep(slice.min(Duration::from_millis(5))).await;
            return;
        }
        let mut until = Instant::now() + slice;
        loop {
            match self.conn.next_event_until(until, own).await {
                Ok(Next::Event(seen)) => {
                    self.log.push((self.started.elapsed(), seen.clone()));
                    if seen == Seen::Closed {
                        self.closed = true;
                    }
                    self.inbox.push(seen);
                    // Only the events already parsed from now on.
                    until = Instant::now();
                }
                Ok(Next::Timeout) => return,
                Ok(Next::Closed) => {
                    self.closed = true;
                    return;
                }
                Err(e) => panic!(
                    "{}: the session failed: {e:?}\n{}",
                    self.label,
                    self.history()
                ),
            }
        }
    }

    /// Writes what commands queued (a deadline already past reads nothing).
    async fn flush(&mut self) {
        self.pump(Duration::ZERO).await;
    }

    fn history(&self) -> String {
        let mut s = format!("events of {} ({}):\n", self.label, self.jid);
        for (t, e) in &self.log {
            let _ = writeln!(s, "  {:>6} ms  {e:?}", t.as_millis());
        }
        s.push_str(&self.transcript.render());
        s
    }

    /// Takes the first event of the inbox `f` accepts.
    fn take<T>(&mut self, f: &mut impl FnMut(&Seen) -> Option<T>) -> Option<T> {
        let i = self.inbox.iter().position(|e| f(e).is_some())?;
        let e = self.inbox.remove(i);
        f(&e)
    }

    /// Waits (at most [`WAIT`]) for an event `f` accepts on this session,
    /// driving `others` in turn (their events stay in their inboxes).
    async fn wait<T>(
        &mut self,
        others: &mut [&mut Session],
        what: &str,
        mut f: impl FnMut(&Seen) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(t) = self.take(&mut f) {
                return t;
            }
            if Instant::now() >= deadline || self.closed {
                let mut msg = format!(
                    "{}: no {what} within {WAIT:?}\n{}",
                    self.label,
                    self.history()
                );
                for o in others.iter() {
                    msg.push_str(&o.history());
                }
                panic!("{msg}");
            }
            self.pump(SLICE).await;
            if let Some(t) = self.take(&mut f) {
                return t;
            }
            for o in others.iter_mut() {
                o.pump(OTHERS_SLICE).await;
            }
        }
    }

    /// Sends an iq and waits for its answer (result, error or timeout),
    /// driving `others` in turn.
    async fn iq_answer(
        &mut self,
        others: &mut [&mut Session],
        what: &str,
        send: impl FnOnce(&mut AsyncConnection<'static>) -> Result<IqId, ClientError>,
    ) -> Seen {
        let id = send(&mut self.conn).unwrap_or_else(|e| panic!("{}: {what}: {e}", self.label));
        let id = id.as_str().to_owned();
        self.flush().await;
        self.wait(
            others,
            &format!("answer to {what} (id {id})"),
            |e| match e {
                Seen::IqResult { id: i, .. } | Seen::IqError { id: i, .. } | Seen::IqTimeout(i)
                    if *i == id =>
                {
                    Some(e.clone())
                }
                _ => None,
            },
        )
        .await
    }

    /// Sends an iq and waits for its result; an error or timeout fails.
    async fn iq_result(
        &mut self,
        what: &str,
        send: impl FnOnce(&mut AsyncConnection<'static>) -> Result<IqId, ClientError>,
    ) -> Seen {
        self.iq_result_with(&mut [], what, send).await
    }

    /// [`Session::iq_result`], driving `others` in turn.
    async fn iq_result_with(
        &mut self,
        others: &mut [&mut Session],
        what: &str,
        send: impl FnOnce(&mut AsyncConnection<'static>) -> Result<IqId, ClientError>,
    ) -> Seen {
        let answer = self.iq_answer(others, what, send).await;
        match answer {
            Seen::IqResult { .. } => answer,
            other => panic!("{}: {what}: {other:?}\n{}", self.label, self.history()),
        }
    }

    async fn roster(&mut self) -> Vec<RosterItem> {
        let now = self.conn.now();
        match self
            .iq_result("roster get", |c| c.client().request_roster(None, now))
            .await
        {
            Seen::IqResult { roster, .. } => roster,
            _ => unreachable!(),
        }
    }

    async fn remove_roster_item(&mut self, jid: &str) {
        let now = self.conn.now();
        let j = Jid::parse(jid).unwrap();
        self.iq_result(&format!("roster remove {jid}"), |c| {
            c.client().set_roster_item(j, None, true, now)
        })
        .await;
    }

    /// Removes `jid` from the roster if it is there (clean slate, whatever
    /// an earlier run left).
    async fn forget(&mut self, jid: &str) {
        if self.roster().await.iter().any(|i| i.jid == jid) {
            self.remove_roster_item(jid).await;
            self.wait(&mut [], "roster push of the removal", |e| match e {
                Seen::RosterPush(items) if items.iter().any(|i| i.jid == jid) => Some(()),
                _ => None,
            })
            .await;
        }
    }

    async fn initial_presence(&mut self) {
        self.conn
            .client()
            .set_presence(None, None, 0)
            .unwrap_or_else(|e| panic!("{}: presence: {e}", self.label));
        self.flush().await;
    }

    /// Closes politely and checks the session ends.
    async fn close(mut self) {
        let t = Instant::now();
        self.conn
            .close()
            .await
            .unwrap_or_else(|e| panic!("{}: close: {e:?}\n{}", self.label, self.history()));
        if std::env::var_os("PICOXMPP_INTEROP_TRANSCRIPT").is_some() {
            println!("{}", self.history());
        }
        assert!(
            self.conn.tls().is_none(),
            "{}: TLS still up after close",
            self.label
        );
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "{}: the server took {:?} to close its stream",
            self.label,
            t.elapsed()
        );
    }
}

// -- the tests, for any server ---------------------------------------------------

fn alice(resource: &str) -> String {
    format!("alice@{DOMAIN}/{resource}")
}

fn bob(resource: &str) -> String {
    format!("bob@{DOMAIN}/{resource}")
}

/// STARTTLS, then the strongest SCRAM offered (with channel binding when
/// the server names a usable type), bind, ready.
async fn starttls_scram_login(server: Server) {
    let t = Instant::now();
    let mut s = Session::login(server, false, &alice(&unique_resource("starttls"))).await;
    let elapsed = t.elapsed();
    assert!(s.conn.client().is_tls());
    let version = s.conn.tls().expect("TLS").protocol_version();
    let (offered, usable_cb) = s.transcript.sasl_offer();
    let auths = s.transcript.auths();
    let context = format!(
        "{}: offered {offered:?} (usable channel binding listed: {usable_cb}), sent {auths:?}\n{}",
        server.name,
        s.transcript.render()
    );
    assert_eq!(auths.len(), 1, "{context}");
    let used = &auths[0];
    let strongest = offered
        .iter()
        .map(|m| scram_strength(m))
        .max()
        .expect("the server offers SCRAM");
    assert!(strongest > 0, "{context}");
    assert_eq!(scram_strength(used), strongest, "{context}");
    let plus_offered = offered
        .iter()
        .any(|m| m.ends_with("-PLUS") && scram_strength(m) == strongest);
    assert_eq!(
        used.ends_with("-PLUS"),
        plus_offered && usable_cb,
        "{context}"
    );
    assert!(s.jid.starts_with("alice@localhost/"), "{}", s.jid);
    println!(
        "{} (tokio): STARTTLS {version:?}, offered {offered:?}, used {used}, ready as {} in {} ms",
        server.name,
        s.jid,
        elapsed.as_millis()
    );
    s.close().await;
}

async fn direct_tls_login(server: Server) {
    let t = Instant::now();
    let s = Session::login(server, true, &alice(&unique_resource("direct"))).await;
    let elapsed = t.elapsed();
    let tls = s.conn.tls().expect("TLS");
    println!(
        "{} (tokio): direct TLS {:?}, ready as {} in {} ms",
        server.name,
        tls.protocol_version(),
        s.jid,
        elapsed.as_millis()
    );
    assert!(s.jid.starts_with("alice@localhost/"), "{}", s.jid);
    s.close().await;
}

/// A wrong password: `AuthenticationFailed` after one `<auth/>`, no retry.
async fn wrong_password(server: Server) {
    for direct in [false, true] {
        let jid = alice(&unique_resource("wrongpw"));
        let t = Instant::now();
        let mut conn = open(server, direct, config(&jid, "not-alice-pass")).await;
        let transcript = Transcript::attach(&mut conn);
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        let err = loop {
            match conn.next_event_until(deadline, own).await {
                Ok(Next::Event(e)) => seen.push(e),
                Ok(other) => panic!(
                    "{}: {other:?} without an error; saw {seen:?}\n{}",
                    server.name,
                    transcript.render()
                ),
                Err(e) => break e,
            }
        };
        let context = format!(
            "{} (direct TLS: {direct}): {err:?}, saw {seen:?}\n{}",
            server.name,
            transcript.render()
        );
        assert!(
            matches!(err, Error::Client(ClientError::AuthenticationFailed(_))),
            "{context}"
        );
        assert!(seen.is_empty(), "{context}");
        assert!(
            matches!(
                conn.client().error(),
                Some(ClientError::AuthenticationFailed(_))
            ),
            "{context}"
        );
        match conn.next_event(own).await {
            Err(Error::Client(ClientError::AuthenticationFailed(_))) | Err(Error::Io(_)) => {}
            other => panic!("after the failure: {other:?}\n{context}"),
        }
        assert_eq!(transcript.auths().len(), 1, "{context}");
        assert!(
            transcript.received().contains("<not-authorized"),
            "{context}"
        );
        println!(
            "{} (tokio, direct TLS: {direct}): wrong password refused with {err} in {} ms",
            server.name,
            t.elapsed().as_millis()
        );
    }
}

async fn messages_both_ways(server: Server) {
    let mut a = Session::login(server, false, &alice(&unique_resource("msg"))).await;
    let mut b = Session::login(server, true, &bob(&unique_resource("msg"))).await;
    let t = Instant::now();
    for round in 0..3 {
        let text = format!("hello bob, round {round} <&> 'quoted' \u{e9} (tokio)");
        let to = Jid::parse(&b.jid).unwrap();
        a.conn
            .client()
            .send_message(to, MessageType::Chat, &text)
            .unwrap();
        a.flush().await;
        let got_from = b
            .wait(&mut [&mut a], "alice's message", |e| match e {
                Seen::Message {
                    from,
                    kind: MessageType::Chat,
                    body: Some(body),
                } if *body == text => Some(from.clone()),
                _ => None,
            })
            .await;
        assert_eq!(got_from, a.jid);

        let reply = format!("hello alice, round {round} (tokio)");
        let to = Jid::parse(&a.jid).unwrap();
        b.conn
            .client()
            .send_message(to, MessageType::Chat, &reply)
            .unwrap();
        b.flush().await;
        let got_from = a
            .wait(&mut [&mut b], "bob's reply", |e| match e {
                Seen::Message {
                    from,
                    body: Some(body),
                    ..
                } if *body == reply => Some(from.clone()),
                _ => None,
            })
            .await;
        assert_eq!(got_from, b.jid);
    }
    println!(
        "{} (tokio): 3 round trips of messages in {} ms",
        server.name,
        t.elapsed().as_millis()
    );
    a.close().await;
    b.close().await;
}

/// XEP-0198 through a proxy that cuts the connection again and again, as
/// `stream_management_survives_cuts` of `interop.rs`, over tokio.
async fn stream_management_survives_cuts(server: Server) {
    let mut bob = Session::login(server, true, &bob(&unique_resource("sm"))).await;
    let proxy = CuttingProxy::start(server.starttls, 6_000, 30_000, 0x5eed);
    let jid = alice(&unique_resource("sm"));
    let mut conn = AsyncConnection::connect(
        proxy.addr,
        leak_buf(64 * 1024),
        leak_buf(16 * 1024),
        config(&jid, "alice-pass"),
        &tls_settings(false),
    )
    .await
    .unwrap();
    conn.client()
        .enable_stream_management(leak_buf(SM_QUEUE), sm_config());
    conn.reconnect_automatically(sm_policy());
    let mut seen: Vec<Up> = Vec::new();
    let mut failures = Vec::new();
    let tag = unique_resource("sm");
    let to = Jid::parse(leak(bob.jid.clone())).unwrap();
    let t = Instant::now();
    let mut sent = 0;
    let mut got: Vec<String> = Vec::new();
    let take_bob = |bob: &mut Session, got: &mut Vec<String>| {
        while let Some(body) = bob.take(&mut |e| match e {
            Seen::Message { body: Some(b), .. } if b.starts_with(&tag) => Some(b.clone()),
            _ => None,
        }) {
            got.push(body);
        }
    };
    let mut cutting = true;
    loop {
        let done = sent == SM_MESSAGES && conn.client().unacked() == 0;
        if done && cutting {
            proxy.stop_cutting();
            cutting = false;
        }
        // After the last cut, until bob has all and alice has come back
        // after each cut (one just before may not be noticed yet).
        if done && got.len() == SM_MESSAGES && conn.reconnections() >= proxy.cuts() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{}: stuck at {sent} sent, {} unacked, {} received, {} cuts, saw {seen:?}",
            server.name,
            conn.client().unacked(),
            got.len(),
            proxy.cuts()
        );
        let before = sent;
        while sent < SM_MESSAGES && sent < before + 20 {
            let body = format!("{tag} {sent}");
            match conn.client().send_message(to, MessageType::Chat, &body) {
                Ok(_) => sent += 1,
                Err(ClientError::NotReady | ClientError::UnackedQueueFull { .. }) => break,
                Err(e) => panic!("{}: {e}", server.name),
            }
        }
        let until = Instant::now() + Duration::from_millis(if sent > before { 0 } else { 10 });
        loop {
            match conn.next_event_until(until, up).await {
                Ok(Next::Event(Up::Other)) => {}
                Ok(Next::Event(e)) => {
                    if let Some(f) = conn.last_failure() {
                        failures.push(format!("{e:?} after {f}"));
                    }
                    seen.push(e);
                }
                Ok(_) => break,
                Err(e) => panic!("{}: alice failed: {e}; saw {seen:?}", server.name),
            }
        }
        bob.pump(Duration::from_millis(1)).await;
        take_bob(&mut bob, &mut got);
    }
    check_sm_run(
        &format!("{} (tokio)", server.name),
        &tag,
        &got,
        &seen,
        &failures,
        (proxy.cuts(), conn.reconnections()),
        t.elapsed(),
    );
    conn.close().await.unwrap();
    bob.close().await;
}

async fn ping_server(server: Server) {
    let mut s = Session::login(server, false, &alice(&unique_resource("ping"))).await;
    for to in [Some(DOMAIN), None] {
        let t = Instant::now();
        let now = s.conn.now();
        s.iq_result("XEP-0199 ping", |c| {
            c.client().send_iq(
                to.map(|d| Jid::parse(d).unwrap()),
                IqType::Get,
                |w| {
                    w.start_element("ping")?;
                    w.ns("urn:xmpp:ping")?;
                    w.end_element("ping")
                },
                now,
            )
        })
        .await;
        println!(
            "{} (tokio): ping to {to:?} answered in {} us",
            server.name,
            t.elapsed().as_micros()
        );
    }
    s.close().await;
}

async fn roster_round_trip(server: Server) {
    let mut s = Session::login(server, false, &alice(&unique_resource("roster"))).await;
    let carol = format!("carol@{DOMAIN}");
    s.forget(&carol).await;
    let name = format!("Carol {}", unique_resource("name"));

    // Set: the result, and the push (RFC 6121 §2.3.2).
    let now = s.conn.now();
    let j = Jid::parse(&carol).unwrap();
    s.iq_result("roster set", |c| {
        c.client().set_roster_item(j, Some(&name), false, now)
    })
    .await;
    let pushed = s
        .wait(&mut [], "roster push of the new item", |e| match e {
            Seen::RosterPush(items) => items.iter().find(|i| i.jid == carol).cloned(),
            _ => None,
        })
        .await;
    assert_eq!(pushed.name.as_deref(), Some(name.as_str()));

    // Get: the item is there, with its name.
    let roster = s.roster().await;
    let item = roster
        .iter()
        .find(|i| i.jid == carol)
        .unwrap_or_else(|| panic!("{carol} not in {roster:?}"));
    assert_eq!(item.name.as_deref(), Some(name.as_str()));
    assert_eq!(item.subscription.as_deref().unwrap_or("none"), "none");

    // Remove: the result, a push with subscription='remove', and gone.
    s.remove_roster_item(&carol).await;
    let removed = s
        .wait(&mut [], "roster push of the removal", |e| match e {
            Seen::RosterPush(items) => items.iter().find(|i| i.jid == carol).cloned(),
            _ => None,
        })
        .await;
    assert_eq!(removed.subscription.as_deref(), Some("remove"));
    let roster = s.roster().await;
    assert!(roster.iter().all(|i| i.jid != carol), "{roster:?}");
    println!(
        "{} (tokio): roster set/get/remove of {carol} done",
        server.name
    );
    s.close().await;
}

/// Alice subscribes to bob, bob approves, alice sees bob's presence: then
/// bob closes politely and alice sees him unavailable. The rosters are
/// cleaned before and after.
async fn polite_close_seen_as_unavailable(server: Server) {
    let mut a = Session::login(server, false, &alice(&unique_resource("close"))).await;
    let mut b = Session::login(server, false, &bob(&unique_resource("close"))).await;
    let (alice_bare, bob_bare) = (a.bare(), b.bare());
    a.forget(&bob_bare).await;
    b.forget(&alice_bare).await;
    a.initial_presence().await;
    b.initial_presence().await;

    a.conn
        .client()
        .send_presence_to(Jid::parse(&bob_bare).unwrap(), PresenceType::Subscribe)
        .unwrap();
    a.flush().await;
    b.wait(&mut [&mut a], "alice's subscription request", |e| match e {
        Seen::Presence {
            from,
            kind: Some(PresenceType::Subscribe),
        } if *from == alice_bare => Some(()),
        _ => None,
    })
    .await;
    b.conn
        .client()
        .send_presence_to(Jid::parse(&alice_bare).unwrap(), PresenceType::Subscribed)
        .unwrap();
    b.flush().await;
    let bob_full = b.jid.clone();
    a.wait(&mut [&mut b], "bob's available presence", |e| match e {
        Seen::Presence {
            from,
            kind: Some(PresenceType::Available),
        } if *from == bob_full => Some(()),
        _ => None,
    })
    .await;

    let t = Instant::now();
    b.close().await;
    a.wait(&mut [], "bob's unavailable presence", |e| match e {
        Seen::Presence {
            from,
            kind: Some(PresenceType::Unavailable),
        } if *from == bob_full => Some(()),
        _ => None,
    })
    .await;
    println!(
        "{} (tokio): bob's close seen by alice as unavailable in {} ms",
        server.name,
        t.elapsed().as_millis()
    );
    // Clean the rosters with a fresh bob session.
    let mut b = Session::login(server, false, &bob(&unique_resource("cleanup"))).await;
    a.forget(&bob_bare).await;
    b.forget(&alice_bare).await;
    a.close().await;
    b.close().await;
}

/// The SASL offer of RFC 6120 after TLS (not SASL2's, which Prosody 13
/// and ejabberd 24.12 also send, with FAST mechanisms besides), and the
/// XEP-0440 channel-binding types, if listed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SaslOffer {
    mechanisms: Vec<String>,
    cb_types: Option<Vec<String>>,
}

impl SaslOffer {
    fn of(transcript: &Transcript) -> SaslOffer {
        let received = transcript.received();
        let mut mechanisms = Vec::new();
        let mut rest = received.as_str();
        while let Some(i) = rest.find("<mechanisms ") {
            rest = &rest[i..];
            let end = rest.find("</mechanisms>").unwrap_or(rest.len());
            let open = &rest[..rest.find('>').unwrap_or(0)];
            if open.contains("urn:ietf:params:xml:ns:xmpp-sasl") {
                mechanisms = texts_of(&rest[..end], "mechanism");
                break;
            }
            rest = &rest[end..];
        }
        let cb_types = received.find("urn:xmpp:sasl-cb:0").map(|from| {
            let list = &received[from..];
            let list = &list[..list.find("</sasl-channel-binding>").unwrap_or(list.len())];
            list.split("type=")
                .skip(1)
                .filter_map(|t| t.get(1..).and_then(|t| t.split(['\'', '"']).next()))
                .map(str::to_owned)
                .collect()
        });
        SaslOffer {
            mechanisms,
            cb_types,
        }
    }

    fn offers(&self, m: Mechanism) -> bool {
        self.mechanisms.iter().any(|n| n == m.name())
    }

    fn lists(&self, cb_type: &str) -> bool {
        self.cb_types
            .as_ref()
            .is_some_and(|l| l.iter().any(|t| t == cb_type))
    }
}

impl Transcript {
    /// The GS2 header of the SCRAM client-first message in the `<auth/>`
    /// the client sent: `n`, `y` or `p=<channel-binding type>`.
    fn gs2_header(&self) -> Option<String> {
        let sent = self.sent();
        let unit = sent.iter().find(|u| auth_mechanism(u).is_some())?;
        let rest = &unit[unit.find("<auth ")?..];
        let rest = &rest[rest.find('>')? + 1..];
        let payload = base64_decode(&rest[..rest.find("</auth>")?])?;
        let payload = String::from_utf8(payload).ok()?;
        Some(payload.split(',').next()?.to_owned())
    }
}

/// Standard base64 (RFC 4648 §4), padding optional; `None` if malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim().bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

async fn bind_resources(server: Server) {
    // A chosen resource: the server may alter it (RFC 6120 §7.6.1), not the
    // account.
    let s = Session::login(server, false, &format!("alice@{DOMAIN}/picotest")).await;
    let (bare, resource) = s.jid.split_once('/').expect("a full JID");
    assert_eq!(bare, "alice@localhost");
    assert!(!resource.is_empty());
    println!(
        "{}: asked for resource picotest, bound {} ({})",
        server.name,
        s.jid,
        if resource == "picotest" {
            "as asked"
        } else {
            "altered by the server"
        }
    );
    s.close().await;

    // No resource: the server assigns one.
    let s = Session::login(server, false, &format!("alice@{DOMAIN}")).await;
    let (bare, resource) = s.jid.split_once('/').expect("a full JID");
    assert_eq!(bare, "alice@localhost");
    assert!(!resource.is_empty());
    println!("{}: server-assigned resource: {}", server.name, s.jid);
    s.close().await;
}

/// Alice subscribes to bob, bob approves: alice sees the roster push and
/// bob's presence. Returns both sessions, subscribed.
async fn subscribe(server: Server, test: &str) -> (Session, Session) {
    let mut a = Session::login(server, false, &alice(&unique_resource(test))).await;
    let mut b = Session::login(
        server,
        false,
        &format!("bob@{DOMAIN}/{}", unique_resource(test)),
    )
    .await;
    let (alice_bare, bob_bare) = (a.bare(), b.bare());
    a.forget(&bob_bare).await;
    b.forget(&alice_bare).await;
    a.initial_presence().await;
    b.initial_presence().await;

    // RFC 6121 §3.1.1-3.1.2: the request, and the push with ask='subscribe'.
    a.conn
        .client()
        .send_presence_to(Jid::parse(&bob_bare).unwrap(), PresenceType::Subscribe)
        .unwrap();
    a.flush().await;
    let pending = a
        .wait(
            &mut [&mut b],
            "roster push of the pending subscription",
            |e| match e {
                Seen::RosterPush(items) => items.iter().find(|i| i.jid == bob_bare).cloned(),
                _ => None,
            },
        )
        .await;
    assert_eq!(pending.ask.as_deref(), Some("subscribe"), "{pending:?}");

    // §3.1.3: bob gets the request from alice's bare JID.
    b.wait(&mut [&mut a], "alice's subscription request", |e| match e {
        Seen::Presence {
            from,
            kind: Some(PresenceType::Subscribe),
        } if *from == alice_bare => Some(()),
        _ => None,
    })
    .await;

    // §3.1.4-3.1.6: bob approves; alice's roster says to, and she gets
    // bob's current presence.
    b.conn
        .client()
        .send_presence_to(Jid::parse(&alice_bare).unwrap(), PresenceType::Subscribed)
        .unwrap();
    b.flush().await;
    let approved = a
        .wait(&mut [&mut b], "roster push of the approval", |e| match e {
            Seen::RosterPush(items) => items
                .iter()
                .find(|i| i.jid == bob_bare && i.subscription.as_deref() == Some("to"))
                .cloned(),
            _ => None,
        })
        .await;
    assert_eq!(approved.ask, None, "{approved:?}");
    let bob_full = b.jid.clone();
    a.wait(&mut [&mut b], "bob's available presence", |e| match e {
        Seen::Presence {
            from,
            kind: Some(PresenceType::Available),
        } if *from == bob_full => Some(()),
        _ => None,
    })
    .await;
    (a, b)
}

/// Removes the subscription both ways (rosters as before the test).
async fn unsubscribe(a: &mut Session, b: &mut Session) {
    let (alice_bare, bob_bare) = (a.bare(), b.bare());
    a.forget(&bob_bare).await;
    b.forget(&alice_bare).await;
}

async fn presence_subscription(server: Server) {
    let t = Instant::now();
    let (mut a, mut b) = subscribe(server, "sub").await;
    println!(
        "{}: subscription request, approval, roster pushes and presence in {} ms",
        server.name,
        t.elapsed().as_millis()
    );
    unsubscribe(&mut a, &mut b).await;
    a.close().await;
    b.close().await;
}

/// Writes an XEP-0199 ping payload.
fn ping_payload(w: &mut picoxmpp::xml::Writer<'_>) -> Result<(), picoxmpp::xml::WriteError> {
    w.start_element("ping")?;
    w.ns("urn:xmpp:ping")?;
    w.end_element("ping")
}

/// `from` pings `to`'s full JID and gets a result, `to` driven meanwhile.
async fn ping_peer(server: Server, from: &mut Session, to: &mut Session) {
    let target = to.jid.clone();
    let t = Instant::now();
    let now = from.conn.now();
    let answer = from
        .iq_result_with(&mut [to], &format!("ping to {target}"), |c| {
            c.client().send_iq(
                Some(Jid::parse(&target).unwrap()),
                IqType::Get,
                ping_payload,
                now,
            )
        })
        .await;
    println!(
        "{}: {} pinged {target}: {answer:?} in {} ms",
        server.name,
        from.jid,
        t.elapsed().as_millis()
    );
}

/// XEP-0199 pings between two clients, both ways: each core answers the
/// other's ping while its connection is driven (short turns, alternately).
async fn ping_both_ways(server: Server) {
    let mut a = Session::login(server, false, &alice(&unique_resource("c2cping"))).await;
    let mut b = Session::login(
        server,
        true,
        &format!("bob@{DOMAIN}/{}", unique_resource("c2cping")),
    )
    .await;
    ping_peer(server, &mut a, &mut b).await;
    ping_peer(server, &mut b, &mut a).await;
    a.close().await;
    b.close().await;
}

/// An iq get in a namespace bob's client does not handle (no
/// `Config::iq_namespaces`): bob's core answers service-unavailable
/// (RFC 6120 §8.4), alice gets `Event::IqError` with that condition.
async fn unknown_iq_service_unavailable(server: Server) {
    let mut a = Session::login(server, false, &alice(&unique_resource("unknowniq"))).await;
    let mut b = Session::login(
        server,
        false,
        &format!("bob@{DOMAIN}/{}", unique_resource("unknowniq")),
    )
    .await;
    let target = b.jid.clone();
    let t = Instant::now();
    let now = a.conn.now();
    let answer = a
        .iq_answer(&mut [&mut b], "jabber:iq:version to bob", |c| {
            c.client().send_iq(
                Some(Jid::parse(&target).unwrap()),
                IqType::Get,
                |w| {
                    w.start_element("query")?;
                    w.ns("jabber:iq:version")?;
                    w.end_element("query")
                },
                now,
            )
        })
        .await;
    match &answer {
        Seen::IqError { condition, .. } if condition == "service-unavailable" => {}
        other => panic!(
            "{}: expected service-unavailable, got {other:?}\n{}{}",
            server.name,
            a.history(),
            b.history()
        ),
    }
    println!(
        "{}: unknown iq to {target} answered {answer:?} in {} ms",
        server.name,
        t.elapsed().as_millis()
    );
    a.close().await;
    b.close().await;
}

/// PLAIN forced with `Config::mechanisms`, over TLS (STARTTLS and direct):
/// one `<auth mechanism='PLAIN'>`, ready.
async fn plain_over_tls(server: Server) {
    for direct in [false, true] {
        let jid = alice(&unique_resource("plain"));
        let t = Instant::now();
        let s = match Session::try_login(server, direct, &jid, Some(&[Mechanism::Plain])).await {
            Ok(s) => s,
            Err((e, seen, transcript)) => panic!(
                "{}:{jid} (direct TLS: {direct}): PLAIN login failed: {e:?}, saw {seen:?}\n{}",
                server.name,
                transcript.render()
            ),
        };
        let sent = s.transcript.sent();
        let auths: Vec<String> = sent.iter().filter_map(|u| auth_mechanism(u)).collect();
        let context = format!(
            "{}:{jid} (direct TLS: {direct}): sent {auths:?}\n{}",
            server.name,
            s.transcript.render()
        );
        assert_eq!(auths, ["PLAIN"], "{context}");
        assert!(
            sent.iter()
                .any(|u| u.contains("mechanism='PLAIN'") || u.contains("mechanism=\"PLAIN\"")),
            "{context}"
        );
        assert!(s.conn.tls().is_some(), "{context}");
        assert!(s.jid.starts_with("alice@localhost/"), "{context}");
        println!(
            "{} (direct TLS: {direct}): PLAIN over {:?}, ready as {} in {} ms",
            server.name,
            s.conn.tls().and_then(|t| t.protocol_version()),
            s.jid,
            t.elapsed().as_millis()
        );
        s.close().await;
    }
}

// -- SASL: the offer, each hash, each channel binding ----------------------------

/// The SCRAM mechanisms (RFC 6120 SASL, after TLS) and XEP-0440 types each
/// server offers in each generation, as the script configures it (PLAIN
/// too, not compared). Sorted.
fn expected_offer(
    server: Server,
    generation: Generation,
) -> (Vec<&'static str>, Option<Vec<&'static str>>) {
    let (mut scram, cb): (Vec<&str>, Option<Vec<&str>>) = match (server.name, generation) {
        // No tls-exporter in 0.12, no -PLUS.
        ("prosody", Generation::Previous) => (vec!["SCRAM-SHA-1"], None),
        // -PLUS for tls-unique only, and no list (see starttls_scram_login).
        ("ejabberd", Generation::Previous) => (vec!["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"], None),
        // Passwords stored in clear: each hash it has (no SHA-512).
        ("prosody", Generation::Current) => (
            vec![
                "SCRAM-SHA-1",
                "SCRAM-SHA-1-PLUS",
                "SCRAM-SHA-256",
                "SCRAM-SHA-256-PLUS",
            ],
            Some(vec!["tls-exporter", "tls-server-end-point"]),
        ),
        ("ejabberd", Generation::Current) => (
            vec![
                "SCRAM-SHA-1",
                "SCRAM-SHA-1-PLUS",
                "SCRAM-SHA-256",
                "SCRAM-SHA-256-PLUS",
                "SCRAM-SHA-512",
                "SCRAM-SHA-512-PLUS",
            ],
            Some(vec!["tls-exporter", "tls-server-end-point"]),
        ),
        (other, _) => panic!("no expectations for {other}"),
    };
    scram.sort_unstable();
    (scram, cb)
}

/// The server offers what its generation offers: the SCRAM mechanisms
/// and the XEP-0440 list, on the STARTTLS and the direct TLS port.
async fn offer_matches_generation(server: Server) {
    let generation = generation();
    let (scram, cb) = expected_offer(server, generation);
    for direct in [false, true] {
        let s = Session::login(server, direct, &alice(&unique_resource("offer"))).await;
        let offer = SaslOffer::of(&s.transcript);
        let mut got: Vec<&str> = offer
            .mechanisms
            .iter()
            .map(String::as_str)
            .filter(|m| m.starts_with("SCRAM-"))
            .collect();
        got.sort_unstable();
        let mut got_cb: Option<Vec<&str>> = offer
            .cb_types
            .as_ref()
            .map(|l| l.iter().map(String::as_str).collect());
        if let Some(l) = got_cb.as_mut() {
            l.sort_unstable();
        }
        let context = format!(
            "{} (direct TLS: {direct}) for the {generation:?} generation: offered {offer:?}; \
             wrong generation? (XMPP_GENERATION of servers-up.sh, PICOXMPP_INTEROP_GENERATION)\n{}",
            server.name,
            s.transcript.render()
        );
        assert_eq!(got, scram, "{context}");
        assert_eq!(got_cb, cb, "{context}");
        assert!(offer.offers(Mechanism::Plain), "{context}");
        println!(
            "{} ({generation:?}, direct TLS: {direct}): offers {:?}, channel-binding types {:?}",
            server.name, offer.mechanisms, offer.cb_types
        );
        s.close().await;
    }
}

/// Logs in on `jid` with only `mechanism` allowed: it succeeds when
/// `usable`, with that mechanism and GS2 header `gs2`; otherwise the
/// client refuses before any `<auth/>` (NoAcceptableMechanism), it never
/// falls back to another mechanism.
async fn forced_login(
    server: Server,
    direct: bool,
    jid: &str,
    mechanism: Mechanism,
    usable: impl FnOnce(&SaslOffer) -> Option<&'static str>,
) -> Option<Session> {
    let t = Instant::now();
    let result = Session::try_login(server, direct, jid, Some(&[mechanism])).await;
    let elapsed = t.elapsed();
    let transcript = match &result {
        Ok(s) => s.transcript.clone(),
        Err((_, _, t)) => t.clone(),
    };
    let offer = SaslOffer::of(&transcript);
    let expected = usable(&offer);
    let auths: Vec<String> = transcript
        .sent()
        .iter()
        .filter_map(|u| auth_mechanism(u))
        .collect();
    let context = format!(
        "{}:{jid} (direct TLS: {direct}), only {mechanism} allowed: offered {offer:?}, sent \
         {auths:?}, expected {expected:?}\n{}",
        server.name,
        transcript.render()
    );
    match (result, expected) {
        (Ok(s), Some(gs2)) => {
            assert_eq!(auths, [mechanism.name()], "{context}");
            assert_eq!(transcript.gs2_header().as_deref(), Some(gs2), "{context}");
            assert!(
                s.jid
                    .starts_with(&format!("{}/", jid.split('/').next().unwrap())),
                "{context}"
            );
            let tls = s.conn.tls().and_then(|t| t.protocol_version());
            println!(
                "{} (direct TLS: {direct}): {mechanism} ({gs2}) over {tls:?}, ready as {} in {} ms",
                server.name,
                s.jid,
                elapsed.as_millis()
            );
            Some(s)
        }
        (Err((Error::Client(ClientError::NoAcceptableMechanism), seen, _)), None) => {
            assert!(auths.is_empty(), "{context}");
            assert!(seen.is_empty(), "{context}");
            println!(
                "{} (direct TLS: {direct}): {mechanism} not usable here (offered: {}), refused \
                 by the client before any <auth/>",
                server.name,
                offer.offers(mechanism)
            );
            None
        }
        (Ok(_), None) => panic!("logged in, but should have refused\n{context}"),
        (Err((e, seen, _)), _) => panic!("{e:?}, saw {seen:?}\n{context}"),
    }
}

const SCRAM_HASHES: [(Mechanism, Mechanism); 3] = [
    (Mechanism::ScramSha1, Mechanism::ScramSha1Plus),
    (Mechanism::ScramSha256, Mechanism::ScramSha256Plus),
    (Mechanism::ScramSha512, Mechanism::ScramSha512Plus),
];

/// Each of SCRAM-SHA-1, -256 and -512 without channel binding, forced
/// with `Config::mechanisms`: a login where the server offers it (flag `n`
/// when it offers some -PLUS, `y` when none, RFC 5802 §6), a refusal by
/// the client where it does not.
async fn scram_each_hash(server: Server) {
    let mut done = Vec::new();
    for (m, _) in SCRAM_HASHES {
        let jid = alice(&unique_resource("hash"));
        let s = forced_login(server, false, &jid, m, |offer| {
            let any_plus = offer.mechanisms.iter().any(|n| n.ends_with("-PLUS"));
            offer.offers(m).then_some(if any_plus { "n" } else { "y" })
        })
        .await;
        if let Some(s) = s {
            done.push(m.name());
            s.close().await;
        }
    }
    assert!(done.contains(&"SCRAM-SHA-1"), "{done:?}");
    if generation() == Generation::Current {
        assert!(done.contains(&"SCRAM-SHA-256"), "{done:?}");
    }
}

/// Each SCRAM-*-PLUS forced, on both ports (TLS 1.3): it binds
/// tls-exporter (RFC 9266) where the server offers it and lists that type
/// (XEP-0440); elsewhere the client refuses it (ejabberd 23.01 offers
/// SCRAM-SHA-1-PLUS for tls-unique only, without a list).
async fn scram_plus_tls_exporter(server: Server) {
    let mut done = Vec::new();
    for direct in [false, true] {
        for (_, plus) in SCRAM_HASHES {
            let jid = alice(&unique_resource("exporter"));
            let s = forced_login(server, direct, &jid, plus, |offer| {
                (offer.offers(plus) && offer.lists("tls-exporter")).then_some("p=tls-exporter")
            })
            .await;
            if let Some(s) = s {
                assert!(
                    s.conn
                        .channel_bindings()
                        .is_some_and(|b| b.exporter.is_some()),
                    "TLS 1.3 expected"
                );
                done.push((direct, plus.name()));
                s.close().await;
            }
        }
    }
    if generation() == Generation::Current {
        assert!(done.contains(&(false, "SCRAM-SHA-256-PLUS")), "{done:?}");
        assert!(done.contains(&(true, "SCRAM-SHA-256-PLUS")), "{done:?}");
    } else {
        assert!(done.is_empty(), "{done:?}");
    }
}

/// The TLS 1.2 host of the current generation (`tls12.localhost`): no
/// tls-exporter there, so every SCRAM-*-PLUS binds tls-server-end-point
/// (RFC 5929), forced one by one and chosen freely. The std adapter
/// always allows TLS 1.3 (`TlsSettings` has no version setting), so the
/// server's host restricts the version. The previous generation has no
/// such host: nothing to run there.
async fn scram_plus_tls_server_end_point(server: Server) {
    if generation() == Generation::Previous {
        println!(
            "{}: previous generation, no TLS 1.2 host; tls-server-end-point is tested on the \
             current one",
            server.name
        );
        return;
    }
    let host = format!("tls12.{DOMAIN}");
    let mut done = Vec::new();
    for (_, plus) in SCRAM_HASHES {
        let jid = format!("alice@{host}/{}", unique_resource("endpoint"));
        let s = forced_login(server, false, &jid, plus, |offer| {
            (offer.offers(plus) && offer.lists("tls-server-end-point"))
                .then_some("p=tls-server-end-point")
        })
        .await;
        if let Some(s) = s {
            let b = s.conn.channel_bindings().expect("TLS");
            assert!(b.exporter.is_none(), "TLS 1.2 expected on {host}");
            assert!(b.server_end_point.is_some());
            done.push(plus.name());
            s.close().await;
        }
    }
    assert!(done.contains(&"SCRAM-SHA-1-PLUS"), "{done:?}");
    assert!(done.contains(&"SCRAM-SHA-256-PLUS"), "{done:?}");
    // Unforced: the strongest -PLUS, with tls-server-end-point.
    let s = Session::login(
        server,
        false,
        &format!("alice@{host}/{}", unique_resource("endpoint")),
    )
    .await;
    let auth = s.transcript.sent().iter().find_map(|u| auth_mechanism(u));
    let gs2 = s.transcript.gs2_header();
    let strongest = if server.name == "ejabberd" {
        "SCRAM-SHA-512-PLUS"
    } else {
        "SCRAM-SHA-256-PLUS"
    };
    assert_eq!(
        auth.as_deref(),
        Some(strongest),
        "{}",
        s.transcript.render()
    );
    assert_eq!(
        gs2.as_deref(),
        Some("p=tls-server-end-point"),
        "{}",
        s.transcript.render()
    );
    println!(
        "{}: unforced on {host}: {strongest} (p=tls-server-end-point)",
        server.name
    );
    s.close().await;
}

/// A channel binding that does not match is refused by the server. No
/// client-side hook changes the binding data (the adapter hands the core
/// what rustls gives), so the mismatch is made on the server side:
/// `badcb.localhost` (Prosody, current generation, TLS 1.2) expects a
/// tls-server-end-point hash that is not its certificate's, as a server
/// behind a TLS-terminating interceptor would. Each -PLUS fails with one
/// `<auth/>`; the same account without channel binding logs in.
async fn wrong_channel_binding_refused(server: Server) {
    if generation() == Generation::Previous {
        println!(
            "{}: previous generation, no channel binding to get wrong",
            server.name
        );
        return;
    }
    let host = format!("badcb.{DOMAIN}");
    for m in [
        None,
        Some(Mechanism::ScramSha1Plus),
        Some(Mechanism::ScramSha256Plus),
    ] {
        let jid = format!("alice@{host}/{}", unique_resource("badcb"));
        let t = Instant::now();
        let only = m.map(|m| [m]);
        let result = Session::try_login(server, false, &jid, only.as_ref().map(|m| &m[..])).await;
        let (err, seen, transcript) = match result {
            Ok(s) => panic!(
                "{}: logged in with a wrong channel binding\n{}",
                server.name,
                s.history()
            ),
            Err(e) => e,
        };
        let auths: Vec<String> = transcript
            .sent()
            .iter()
            .filter_map(|u| auth_mechanism(u))
            .collect();
        let context = format!(
            "{}:{jid}, allowed {m:?}: {err:?}, saw {seen:?}, sent {auths:?}\n{}",
            server.name,
            transcript.render()
        );
        assert!(
            matches!(err, Error::Client(ClientError::AuthenticationFailed(_))),
            "{context}"
        );
        assert_eq!(auths.len(), 1, "{context}");
        assert!(auths[0].ends_with("-PLUS"), "{context}");
        if let Some(m) = m {
            assert_eq!(auths[0], m.name(), "{context}");
        }
        assert_eq!(
            transcript.gs2_header().as_deref(),
            Some("p=tls-server-end-point"),
            "{context}"
        );
        assert!(transcript.received().contains("<failure"), "{context}");
        println!(
            "{}: {} with a wrong tls-server-end-point refused: {err} in {} ms",
            server.name,
            auths[0],
            t.elapsed().as_millis()
        );
    }
    // The account and password are right: without channel binding it works.
    let jid = format!("alice@{host}/{}", unique_resource("badcb"));
    let s = forced_login(server, false, &jid, Mechanism::ScramSha256, |_| Some("n")).await;
    s.expect("logged in").close().await;
}

macro_rules! interop_tokio_tests {
    ($module:ident, $server:expr $(, $extra:item)*) => {
        mod $module {
            use super::*;

            $($extra)*

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn starttls_scram_login() {
                super::starttls_scram_login($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn direct_tls_login() {
                super::direct_tls_login($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn wrong_password_fails_without_retry() {
                super::wrong_password($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn messages_both_ways() {
                super::messages_both_ways($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn stream_management_survives_cuts() {
                super::stream_management_survives_cuts($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn ping_server() {
                super::ping_server($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn roster_set_get_remove() {
                super::roster_round_trip($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn polite_close_seen_as_unavailable() {
                super::polite_close_seen_as_unavailable($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn offer_matches_generation() {
                super::offer_matches_generation($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn scram_each_hash_forced() {
                super::scram_each_hash($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn scram_plus_tls_exporter() {
                super::scram_plus_tls_exporter($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn scram_plus_tls_server_end_point() {
                super::scram_plus_tls_server_end_point($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn bind_chosen_and_assigned_resource() {
                super::bind_resources($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn presence_subscription() {
                super::presence_subscription($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn plain_over_tls() {
                super::plain_over_tls($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn ping_both_ways() {
                super::ping_both_ways($server).await;
            }

            #[tokio::test]
            #[ignore = "needs the servers of tests/interop/servers-up.sh"]
            async fn unknown_iq_service_unavailable() {
                super::unknown_iq_service_unavailable($server).await;
            }
        }
    };
}

interop_tokio_tests!(
    prosody,
    PROSODY,
    // ejabberd computes tls-server-end-point from its certificate: no
    // configuration makes it expect a wrong one.
    #[tokio::test]
    #[ignore = "needs the servers of tests/interop/servers-up.sh"]
    async fn wrong_channel_binding_refused() {
        super::wrong_channel_binding_refused(PROSODY).await;
    }
);
interop_tokio_tests!(ejabberd, EJABBERD);
