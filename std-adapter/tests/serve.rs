//! The built-in server with our own client, over real sockets on
//! loopback: routing, presence and subscriptions, rosters, iq between
//! sessions, conflicts, bounces, a client that stops reading, and the
//! `demo` command.

use picoxmpp::client::{ClientError, Config, Event, Keepalive};
use picoxmpp::error::StreamErrorCondition;
use picoxmpp::jid::Jid;
use picoxmpp::stanza::{ErrorCondition, IqType, MessageType, PresenceType};
use picoxmpp_std::server::{AccountStore, Limits, Running, ServeConfig, TlsIdentity};
use picoxmpp_std::{Connection, Error, Next, TlsSettings};
use std::time::{Duration, Instant};

fn start(limits: Limits) -> (Running, TlsSettings) {
    start_with(&["alice", "bob", "carol"], limits)
}

fn start_with(users: &[&str], limits: Limits) -> (Running, TlsSettings) {
    let mut accounts = AccountStore::new();
    for user in users {
        accounts.add(user, &format!("{user}-pass"), 4096).unwrap();
    }
    let identity = TlsIdentity::self_signed("localhost").unwrap();
    let tls = TlsSettings::new()
        .without_public_roots()
        .add_ca_der(identity.cert_der().unwrap().clone())
        .unwrap();
    let mut config = ServeConfig::new("localhost", accounts, identity);
    config.limits = limits;
    (config.bind("127.0.0.1:0").unwrap(), tls)
}

/// What a test looks at, owned.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Message {
        from: String,
        body: String,
    },
    MessageError {
        from: String,
        condition: Option<ErrorCondition>,
    },
    Presence {
        from: String,
        kind: Option<PresenceType>,
    },
    IqResult(String),
    IqError(String, Option<ErrorCondition>),
    Roster(String),
    Other,
}

fn own(e: Event<'_>) -> Seen {
    match e {
        Event::Message(m) if m.element().attr("type").is_some_and(|t| t == "error") => {
            Seen::MessageError {
                from: m.from().map(|f| f.to_string()).unwrap_or_default(),
                condition: m.error().map(|e| e.condition()),
            }
        }
        Event::Message(m) => Seen::Message {
            from: m.from().map(|f| f.to_string()).unwrap_or_default(),
            body: m.body().map(|b| b.to_string()).unwrap_or_default(),
        },
        Event::Presence(p) => Seen::Presence {
            from: p.from().map(|f| f.to_string()).unwrap_or_default(),
            kind: p.presence_type(),
        },
        Event::IqResult { id, payload } => match payload {
            Some(p) => Seen::Roster(format!("{}:{}", id.as_str(), p.as_str())),
            None => Seen::IqResult(id.as_str().to_owned()),
        },
        Event::IqError { id, error } => {
            Seen::IqError(id.as_str().to_owned(), error.map(|e| e.condition()))
        }
        _ => Seen::Other,
    }
}

struct Buffers {
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Buffers {
    fn new() -> Self {
        Buffers {
            rx: vec![0u8; 32 * 1024],
            tx: vec![0u8; 32 * 1024],
        }
    }
}

fn connect<'a>(
    server: &Running,
    tls: &TlsSettings,
    jid: &'a str,
    pw: &'a str,
    b: &'a mut Buffers,
) -> Result<Connection<'a>, Error> {
    let mut config = Config::new(Jid::parse(jid).unwrap(), pw);
    config.keepalive = Keepalive::Off;
    let mut conn = Connection::connect(server.local_addr(), &mut b.rx, &mut b.tx, config, tls)?;
    loop {
        match conn.next_event(|e| matches!(e, Event::Ready { .. }))? {
            Some(true) => return Ok(conn),
            Some(false) => {}
            None => return Err(Error::Client(ClientError::ClosedByServer)),
        }
    }
}

/// Events until `stop` says so or 5 s pass.
fn until(conn: &mut Connection<'_>, mut stop: impl FnMut(&Seen) -> bool) -> Vec<Seen> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    loop {
        match conn.next_event_until(deadline, own).unwrap() {
            Next::Event(Seen::Other) => {}
            Next::Event(s) => {
                let done = stop(&s);
                seen.push(s);
                if done {
                    return seen;
                }
            }
            Next::Timeout | Next::Closed => return seen,
        }
    }
}

/// Writes what commands queued.
fn flush(conn: &mut Connection<'_>) {
    while let Next::Event(_) = conn.next_event_until(Instant::now(), |_| ()).unwrap() {}
}

fn jid(s: &str) -> Jid<'_> {
    Jid::parse(s).unwrap()
}

#[test]
fn messages_presence_roster_and_iq_between_sessions() {
    let (server, tls) = start(Limits::default());
    let (mut ba, mut bb) = (Buffers::new(), Buffers::new());
    let mut alice = connect(
        &server,
        &tls,
        "alice@localhost/phone",
        "alice-pass",
        &mut ba,
    )
    .unwrap();
    let mut bob = connect(&server, &tls, "bob@localhost/desk", "bob-pass", &mut bb).unwrap();

    // Bob asks for Alice's presence and goes online; Alice, online, gets
    // the request and accepts (RFC 6121 §3.1).
    bob.client()
        .send_presence_to(jid("alice@localhost"), PresenceType::Subscribe)
        .unwrap();
    bob.client().set_presence(None, Some("at work"), 0).unwrap();
    // A round trip: once its answer is here, the server has taken bob's
    // request and presence (one session's stanzas are handled in order).
    let now = bob.now();
    bob.client().request_roster(None, now).unwrap();
    until(&mut bob, |s| matches!(s, Seen::Roster(_)));
    alice.client().set_presence(None, Some("out"), 0).unwrap();
    let seen = until(&mut alice, |s| {
        matches!(
            s,
            Seen::Presence {
                kind: Some(PresenceType::Subscribe),
                ..
            }
        )
    });
    assert_eq!(
        seen.last(),
        Some(&Seen::Presence {
            from: "bob@localhost".into(),
            kind: Some(PresenceType::Subscribe)
        })
    );
    alice
        .client()
        .send_presence_to(jid("bob@localhost"), PresenceType::Subscribed)
        .unwrap();
    flush(&mut alice);
    let seen = until(&mut bob, |s| {
        matches!(
            s,
            Seen::Presence {
                kind: Some(PresenceType::Available),
                ..
            }
        )
    });
    assert!(
        seen.contains(&Seen::Presence {
            from: "alice@localhost".into(),
            kind: Some(PresenceType::Subscribed)
        }),
        "{seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&Seen::Presence {
            from: "alice@localhost/phone".into(),
            kind: Some(PresenceType::Available)
        })
    );

    // The rosters say so (RFC 6121 §2.1.3).
    let now = bob.now();
    let id = bob.client().request_roster(None, now).unwrap();
    let seen = until(&mut bob, |s| matches!(s, Seen::Roster(_)));
    let roster = format!("{}:", id.as_str());
    assert!(
        seen.iter().any(|s| matches!(s, Seen::Roster(r) if r.starts_with(&roster) && r.contains("jid='alice@localhost' subscription='to'"))),
        "{seen:?}"
    );

    // A message to the bare JID reaches the available resource, stamped.
    bob.client()
        .send_message(jid("alice@localhost"), MessageType::Chat, "hello <alice>")
        .unwrap();
    flush(&mut bob);
    let seen = until(&mut alice, |s| matches!(s, Seen::Message { .. }));
    assert_eq!(
        seen.last(),
        Some(&Seen::Message {
            from: "bob@localhost/desk".into(),
            body: "hello <alice>".into()
        })
    );

    // An iq between full JIDs: Alice's client answers ping itself.
    let now = bob.now();
    let ping = bob
        .client()
        .send_iq(
            Some(jid("alice@localhost/phone")),
            IqType::Get,
            |w| {
                w.start_element("ping")?;
                w.ns("urn:xmpp:ping")?;
                w.end_element("ping")
            },
            now,
        )
        .unwrap();
    flush(&mut bob);
    let _ = alice
        .next_event_until(Instant::now() + Duration::from_millis(300), own)
        .unwrap();
    let seen = until(&mut bob, |s| {
        matches!(s, Seen::IqResult(_) | Seen::IqError(..))
    });
    assert_eq!(seen.last(), Some(&Seen::IqResult(ping.as_str().to_owned())));

    // Offline or unknown recipients: the sender hears it (RFC 6121
    // §8.5.2.2.1, no offline storage here).
    bob.client()
        .send_message(jid("carol@localhost"), MessageType::Chat, "anyone?")
        .unwrap();
    bob.client()
        .send_message(jid("nobody@localhost"), MessageType::Chat, "anyone?")
        .unwrap();
    bob.client()
        .send_message(jid("x@elsewhere.example"), MessageType::Chat, "anyone?")
        .unwrap();
    flush(&mut bob);
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.extend(
            until(&mut bob, |s| matches!(s, Seen::MessageError { .. }))
                .into_iter()
                .filter(|s| matches!(s, Seen::MessageError { .. })),
        );
    }
    assert_eq!(
        errors,
        vec![
            Seen::MessageError {
                from: "carol@localhost".into(),
                condition: Some(ErrorCondition::ServiceUnavailable)
            },
            Seen::MessageError {
                from: "nobody@localhost".into(),
                condition: Some(ErrorCondition::ServiceUnavailable)
            },
            Seen::MessageError {
                from: "x@elsewhere.example".into(),
                condition: Some(ErrorCondition::RemoteServerNotFound)
            },
        ]
    );

    // Alice leaves: Bob sees her go (RFC 6121 §4.5.2).
    alice.close().unwrap();
    let seen = until(&mut bob, |s| {
        matches!(
            s,
            Seen::Presence {
                kind: Some(PresenceType::Unavailable),
                ..
            }
        )
    });
    assert_eq!(
        seen.last(),
        Some(&Seen::Presence {
            from: "alice@localhost/phone".into(),
            kind: Some(PresenceType::Unavailable)
        })
    );
    bob.close().unwrap();
    server.stop();
}

#[test]
fn a_second_session_with_the_same_resource_replaces_the_first() {
    let (server, tls) = start(Limits::default());
    let (mut b1, mut b2) = (Buffers::new(), Buffers::new());
    let mut first = connect(
        &server,
        &tls,
        "alice@localhost/phone",
        "alice-pass",
        &mut b1,
    )
    .unwrap();
    let mut second = connect(
        &server,
        &tls,
        "alice@localhost/phone",
        "alice-pass",
        &mut b2,
    )
    .unwrap();
    // RFC 6120 §7.7.2.2: the older one ends with conflict.
    assert_stream_error(&mut first, StreamErrorCondition::Conflict);
    assert_eq!(
        second.client().jid().unwrap().to_string(),
        "alice@localhost/phone"
    );
    second.close().unwrap();
}

#[test]
fn wrong_password_is_not_authorized() {
    let (server, tls) = start(Limits::default());
    let mut b = Buffers::new();
    let r = connect(&server, &tls, "alice@localhost", "bob-pass", &mut b);
    assert!(
        matches!(
            r,
            Err(Error::Client(ClientError::AuthenticationFailed(
                picoxmpp::sasl::SaslFailure::NotAuthorized
            )))
        ),
        "{:?}",
        r.err()
    );
}

#[test]
fn a_client_that_does_not_read_stalls_nobody() {
    // A short queue, so it fills soon.
    let (server, tls) = start(Limits {
        queue: 4,
        ..Limits::default()
    });
    let (mut ba, mut bb, mut bc) = (Buffers::new(), Buffers::new(), Buffers::new());
    let mut alice = connect(&server, &tls, "alice@localhost/a", "alice-pass", &mut ba).unwrap();
    // Bob is connected and never reads again.
    let _bob = connect(&server, &tls, "bob@localhost/b", "bob-pass", &mut bc).unwrap();
    let mut carol = connect(&server, &tls, "carol@localhost/c", "carol-pass", &mut bb).unwrap();
    let big = "x".repeat(12 * 1024);
    let started = Instant::now();
    let mut bounced = false;
    for _ in 0..2000 {
        alice
            .client()
            .send_message(jid("bob@localhost/b"), MessageType::Chat, &big)
            .unwrap();
        // Flush what is queued, and look at what came back meanwhile.
        if let Ok(Next::Event(Seen::MessageError { condition, .. })) =
            alice.next_event_until(Instant::now() + Duration::from_millis(1), own)
        {
            assert_eq!(condition, Some(ErrorCondition::ServiceUnavailable));
            bounced = true;
            break;
        }
    }
    assert!(bounced, "bob's queue never filled");
    // Carol is served at once all the same.
    alice
        .client()
        .send_message(jid("carol@localhost/c"), MessageType::Chat, "still there?")
        .unwrap();
    flush(&mut alice);
    let seen = until(&mut carol, |s| matches!(s, Seen::Message { .. }));
    assert_eq!(
        seen.last(),
        Some(&Seen::Message {
            from: "alice@localhost/a".into(),
            body: "still there?".into()
        })
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn the_demo_command_runs_against_the_built_in_server() {
    let code = picoxmpp_std::cli::main_from(["picoxmpp", "demo"]);
    assert_eq!(code, std::process::ExitCode::from(0));
}

/// The commands themselves: `adduser` writes the accounts file, `serve`
/// serves it (its certificate written for the clients), `send` reaches a
/// client through it.
#[test]
fn adduser_serve_and_send_with_the_command() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_picoxmpp");
    let dir = std::env::temp_dir().join(format!("picoxmpp-serve-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let accounts = dir.join("accounts.txt");
    let cert = dir.join("cert.pem");
    for user in ["alice", "bob"] {
        let status = Command::new(bin)
            .args(["adduser", "--accounts"])
            .arg(&accounts)
            .arg(user)
            .env("PICOXMPP_PASSWORD", format!("{user}-pass"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let text = std::fs::read_to_string(&accounts).unwrap();
    assert!(
        text.contains("alice sha1:4096:") && !text.contains("alice-pass"),
        "{text}"
    );

    let mut serve = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--accounts"])
        .arg(&accounts)
        .arg("--write-cert")
        .arg(&cert)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split(" on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    assert!(
        line.contains("for production use Prosody or ejabberd"),
        "{line}"
    );

    let tls = TlsSettings::new()
        .without_public_roots()
        .add_ca_file(&cert)
        .unwrap();
    let mut b = Buffers::new();
    let mut config = Config::new(jid("bob@localhost/desk"), "bob-pass");
    config.keepalive = Keepalive::Off;
    let mut bob = Connection::connect(addr.as_str(), &mut b.rx, &mut b.tx, config, &tls).unwrap();
    while bob
        .next_event(|e| matches!(e, Event::Ready { .. }))
        .unwrap()
        != Some(true)
    {}

    let sent = Command::new(bin)
        .args(["--server", &addr, "--ca-file"])
        .arg(&cert)
        .args([
            "--jid",
            "alice@localhost/cli",
            "send",
            "bob@localhost/desk",
            "via serve",
        ])
        .env("PICOXMPP_PASSWORD", "alice-pass")
        .output()
        .unwrap();
    assert!(sent.status.success(), "{sent:?}");
    let seen = until(&mut bob, |s| matches!(s, Seen::Message { .. }));
    assert_eq!(
        seen.last(),
        Some(&Seen::Message {
            from: "alice@localhost/cli".into(),
            body: "via serve".into()
        })
    );
    bob.close().unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// More stanzas for one session at once than its transmit queue holds
/// units (16): the subscription requests that waited for its initial
/// presence all arrive.
#[test]
fn many_waiting_requests_all_arrive() {
    let fans: Vec<String> = (0..20).map(|i| format!("fan{i}")).collect();
    let mut users: Vec<&str> = fans.iter().map(String::as_str).collect();
    users.push("alice");
    let (server, tls) = start_with(&users, Limits::default());
    for fan in &fans {
        let mut b = Buffers::new();
        let jid = format!("{fan}@localhost/x");
        let pw = format!("{fan}-pass");
        let mut c = connect(&server, &tls, &jid, &pw, &mut b).unwrap();
        c.client()
            .send_presence_to(
                Jid::parse("alice@localhost").unwrap(),
                PresenceType::Subscribe,
            )
            .unwrap();
        c.close().unwrap();
    }
    let mut b = Buffers::new();
    let mut alice = connect(&server, &tls, "alice@localhost/phone", "alice-pass", &mut b).unwrap();
    alice.client().set_presence(None, None, 0).unwrap();
    let mut requests = 0;
    let seen = until(&mut alice, |s| {
        if matches!(
            s,
            Seen::Presence {
                kind: Some(PresenceType::Subscribe),
                ..
            }
        ) {
            requests += 1;
        }
        requests == fans.len()
    });
    assert_eq!(requests, fans.len(), "{seen:?}");
    alice.close().unwrap();
}

/// A client that goes silent is let go (its threads and buffers freed).
#[test]
fn a_silent_client_is_let_go() {
    let (server, tls) = start(Limits {
        idle: Duration::from_millis(500),
        ..Limits::default()
    });
    let mut b = Buffers::new();
    let mut alice = connect(&server, &tls, "alice@localhost/a", "alice-pass", &mut b).unwrap();
    assert_stream_error(&mut alice, StreamErrorCondition::ConnectionTimeout);
}

/// Runs `conn` until it ends (5 s at most); it must end with the server's
/// stream error `condition`.
fn assert_stream_error(conn: &mut Connection<'_>, condition: StreamErrorCondition) {
    let r = loop {
        match conn.next_event_until(Instant::now() + Duration::from_secs(5), |_| ()) {
            Ok(Next::Event(())) => {}
            other => break other,
        }
    };
    match r {
        Err(Error::Client(ClientError::StreamError(c))) if c == condition => {}
        other => panic!("expected the stream error {condition:?}, got {other:?}"),
    }
}
