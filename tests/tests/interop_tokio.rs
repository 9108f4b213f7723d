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

use picoxmpp::client::{ClientError, Config, Event, IqId, Keepalive};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::{IqType, MessageType, PresenceType};
use picoxmpp::xml::Element;
use picoxmpp_std::{AsyncConnection, Direction, Error, Next, TlsSettings};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const DEFAULT_CA: &str = "/tmp/picoxmpp-servers/certs/localhost.crt";
const DOMAIN: &str = "localhost";
const NS_ROSTER: &str = "jabber:iq:roster";
/// How long any single expected event may take.
const WAIT: Duration = Duration::from_secs(8);
/// How long each connection is driven before the next one's turn.
const SLICE: Duration = Duration::from_millis(40);
/// How long the other sessions are driven while one waits.
const OTHERS_SLICE: Duration = Duration::from_millis(2);

/// One server under test.
#[derive(Debug, Clone, Copy)]
struct Server {
    name: &'static str,
    /// STARTTLS port.
    starttls: u16,
    /// Direct TLS port (XEP-0368).
    direct: u16,
}

const PROSODY: Server = Server {
    name: "prosody",
    starttls: 5222,
    direct: 5223,
};

const EJABBERD: Server = Server {
    name: "ejabberd",
    starttls: 5322,
    direct: 5323,
};

fn ca_path() -> String {
    std::env::var("PICOXMPP_INTEROP_CA").unwrap_or_else(|_| DEFAULT_CA.to_owned())
}

fn tls_settings(direct: bool) -> TlsSettings {
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
fn unique_resource(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("tokio-{test}-{}-{t}-{n}", std::process::id())
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_buf(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

/// No keepalive (the tests are short), short timeouts so that a stuck
/// exchange fails rather than hangs.
fn config(jid: &str, password: &str) -> Config<'static> {
    let jid = Jid::parse(leak(jid.to_owned())).expect("a valid JID");
    let mut c = Config::new(jid, leak(password.to_owned()));
    c.keepalive = Keepalive::Off;
    c.negotiation_timeout = Duration::from_secs(15);
    c.iq_timeout = Duration::from_secs(10);
    c.close_timeout = Duration::from_secs(5);
    c
}

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
        let user = jid.split('@').next().unwrap_or_default();
        let started = Instant::now();
        let mut conn = open(server, direct, config(jid, &format!("{user}-pass"))).await;
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
                Err(e) => panic!(
                    "{}:{jid}: login failed: {e:?}, saw {seen:?}\n{}",
                    server.name,
                    transcript.render()
                ),
            }
        };
        Session {
            label: format!("{}:{jid}", server.name),
            conn,
            jid: ready,
            log: seen.iter().map(|e| (Duration::ZERO, e.clone())).collect(),
            inbox: seen,
            transcript,
            started,
            closed: false,
        }
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

    /// Sends an iq and waits for its result; an error or timeout fails.
    async fn iq_result(
        &mut self,
        what: &str,
        send: impl FnOnce(&mut AsyncConnection<'static>) -> Result<IqId, ClientError>,
    ) -> Seen {
        let id = send(&mut self.conn).unwrap_or_else(|e| panic!("{}: {what}: {e}", self.label));
        let id = id.as_str().to_owned();
        self.flush().await;
        let answer = self
            .wait(
                &mut [],
                &format!("answer to {what} (id {id})"),
                |e| match e {
                    Seen::IqResult { id: i, .. }
                    | Seen::IqError { id: i, .. }
                    | Seen::IqTimeout(i)
                        if *i == id =>
                    {
                        Some(e.clone())
                    }
                    _ => None,
                },
            )
            .await;
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

macro_rules! interop_tokio_tests {
    ($module:ident, $server:expr) => {
        mod $module {
            use super::*;

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
        }
    };
}

interop_tokio_tests!(prosody, PROSODY);
interop_tokio_tests!(ejabberd, EJABBERD);
