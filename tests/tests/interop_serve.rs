//! Clients nobody here wrote against the built-in server (the code
//! `picoxmpp serve` runs, started in process on its own free loopback
//! port, offering SCRAM-SHA-1 alone, STARTTLS required): slixmpp (PyPI)
//! and go-sendxmpp (Debian) log in with SCRAM-SHA-1 over STARTTLS, exchange
//! messages with a picoxmpp client, and see presence.
//!
//! `#[ignore]`d: they need the tools installed (`.ci/run` installs them and
//! runs these):
//!
//! ```text
//! python3 -m pip install slixmpp==1.17.0
//! apt-get install -t bookworm-backports go-sendxmpp   # 0.14: SCRAM
//! cargo test -p picoxmpp-tests --test interop_serve -- --ignored --test-threads=1
//! ```

use picoxmpp::client::{Config, Event, Keepalive};
use picoxmpp::jid::Jid;
use picoxmpp::sasl::Mechanism;
use picoxmpp::stanza::{MessageType, PresenceType};
use picoxmpp_std::server::{AccountStore, Running, ServeConfig, TlsIdentity};
use picoxmpp_std::{Connection, Next, TlsSettings};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

mod slix_peer;
use slix_peer::{unique_resource, Peer, PEER_WAIT};

const WAIT: Duration = Duration::from_secs(15);

/// The server, the TLS settings trusting its certificate, and the
/// certificate's PEM file for the other clients.
struct Served {
    server: Running,
    tls: TlsSettings,
    cert: String,
    port: u16,
}

fn serve(test: &str) -> Served {
    let mut accounts = AccountStore::new();
    for user in ["alice", "bob", "carol"] {
        accounts.add(user, &format!("{user}-pass"), 4096).unwrap();
    }
    let identity = TlsIdentity::self_signed("localhost").unwrap();
    let cert = std::env::temp_dir()
        .join(format!("picoxmpp-serve-{}.pem", unique_resource(test)))
        .to_string_lossy()
        .into_owned();
    std::fs::write(&cert, identity.cert_pem()).unwrap();
    let tls = TlsSettings::new()
        .without_public_roots()
        .add_ca_der(identity.cert_der().unwrap().clone())
        .unwrap();
    let mut config = ServeConfig::new("localhost", accounts, identity);
    // RFC 5802's mandatory hash, alone: whoever logs in used it.
    config.mechanisms = vec![Mechanism::ScramSha1];
    let server = config.bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().port();
    Served {
        server,
        tls,
        cert,
        port,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Message {
        from: String,
        body: String,
    },
    Presence {
        from: String,
        kind: Option<PresenceType>,
    },
    Other,
}

fn own(e: Event<'_>) -> Seen {
    match e {
        Event::Message(m) => Seen::Message {
            from: m.from().map(|f| f.to_string()).unwrap_or_default(),
            body: m.body().map(|b| b.to_string()).unwrap_or_default(),
        },
        Event::Presence(p) => Seen::Presence {
            from: p.from().map(|f| f.to_string()).unwrap_or_default(),
            kind: p.presence_type(),
        },
        _ => Seen::Other,
    }
}

fn leak_buf(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

fn login(s: &Served, jid: &str) -> Connection<'static> {
    let local = jid.split('@').next().unwrap();
    let password: &'static str = Box::leak(format!("{local}-pass").into_boxed_str());
    let jid: &'static str = Box::leak(jid.to_owned().into_boxed_str());
    let mut config = Config::new(Jid::parse(jid).unwrap(), password);
    config.keepalive = Keepalive::Off;
    let mut conn = Connection::connect(
        ("127.0.0.1", s.port),
        leak_buf(32 * 1024),
        leak_buf(16 * 1024),
        config,
        &s.tls,
    )
    .unwrap();
    loop {
        match conn
            .next_event(|e| matches!(e, Event::Ready { .. }))
            .unwrap()
        {
            Some(true) => return conn,
            Some(false) => {}
            None => panic!("{jid}: closed before ready"),
        }
    }
}

/// Drives `conn` for `slice`, collecting events.
fn pump(conn: &mut Connection<'static>, seen: &mut Vec<Seen>, slice: Duration) {
    let until = Instant::now() + slice;
    loop {
        match conn.next_event_until(until, own).unwrap() {
            Next::Event(Seen::Other) => {}
            Next::Event(e) => seen.push(e),
            Next::Timeout => return,
            Next::Closed => panic!("the session ended; saw {seen:?}"),
        }
    }
}

/// Pumps `conn` until `want` matches an event, or fails after WAIT. The
/// events in `seen` count too: a peer may act as soon as it is ready, so
/// what arrived while waiting for it must not be thrown away.
fn wait_for(
    conn: &mut Connection<'static>,
    seen: &mut Vec<Seen>,
    mut want: impl FnMut(&Seen) -> bool,
) -> Seen {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(i) = seen.iter().position(&mut want) {
            return seen.remove(i);
        }
        if Instant::now() >= deadline {
            break;
        }
        pump(conn, seen, Duration::from_millis(50));
    }
    panic!("not seen within {WAIT:?}; saw {seen:?}");
}

#[test]
#[ignore = "needs slixmpp (python3 -m pip install slixmpp==1.17.0)"]
fn slixmpp_logs_in_with_scram_sha1_and_exchanges_messages_and_presence() {
    let s = serve("slix");
    let mut alice = login(&s, "alice@localhost/pico");

    // slixmpp → picoxmpp.
    let body = format!("from slixmpp <&> {}", unique_resource("body"));
    let mut peer = Peer::spawn(
        s.port,
        &s.cert,
        &[
            "--mech",
            "SCRAM-SHA-1",
            "send",
            "alice@localhost/pico",
            &body,
        ],
    );
    let mut early = Vec::new();
    let carol = peer.expect("ready ", PEER_WAIT, || {
        pump(&mut alice, &mut early, Duration::from_millis(5))
    });
    assert!(carol.starts_with("carol@localhost/"), "{carol}");
    let got = wait_for(&mut alice, &mut early, |e| {
        matches!(e, Seen::Message { .. })
    });
    assert_eq!(
        got,
        Seen::Message {
            from: carol.clone(),
            body: body.clone()
        }
    );
    peer.finish();

    // picoxmpp → slixmpp: a directed presence, then a message.
    let mut peer = Peer::spawn(s.port, &s.cert, &["--mech", "SCRAM-SHA-1", "receive"]);
    let carol = peer.expect("ready ", PEER_WAIT, || {
        pump(&mut alice, &mut Vec::new(), Duration::from_millis(5))
    });
    let to = Jid::parse(&carol).unwrap();
    alice
        .client()
        .send_presence_to(to, PresenceType::Available)
        .unwrap();
    alice
        .client()
        .send_message(to, MessageType::Chat, "hello slixmpp")
        .unwrap();
    let presence = peer.expect("presence ", WAIT, || {
        pump(&mut alice, &mut Vec::new(), Duration::from_millis(5))
    });
    assert!(
        presence.contains("\"from\": \"alice@localhost/pico\"")
            && presence.contains("\"type\": \"available\""),
        "{presence}"
    );
    let received = peer.expect("received ", WAIT, || {
        pump(&mut alice, &mut Vec::new(), Duration::from_millis(5))
    });
    assert!(
        received.contains("\"from\": \"alice@localhost/pico\"")
            && received.contains("\"body\": \"hello slixmpp\""),
        "{received}"
    );
    peer.finish();
    alice.close().unwrap();
    s.server.stop();
    let _ = std::fs::remove_file(&s.cert);
}

/// go-sendxmpp, run with `--no-tls-verify` (it has no CA option; the
/// certificate is self-signed) and its own HOME.
struct Go {
    child: Child,
    lines: Receiver<String>,
}

impl Go {
    fn spawn(s: &Served, user: &str, args: &[&str], stdin: Option<&str>) -> Go {
        let home = std::env::temp_dir().join(format!("picoxmpp-go-{}", unique_resource(user)));
        std::fs::create_dir_all(&home).unwrap();
        let mut child = Command::new("go-sendxmpp")
            .env("HOME", &home)
            .args(["--suppress-root-warning", "--no-tls-verify", "--timeout", "15"])
            .args(["-u", &format!("{user}@localhost"), "-p", &format!("{user}-pass")])
            .args(["-j", &format!("127.0.0.1:{}", s.port)])
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run go-sendxmpp: {e} (apt-get install -t bookworm-backports go-sendxmpp)")
            });
        if let Some(text) = stdin {
            let mut w = child.stdin.take().unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Go { child, lines }
    }

    fn wait_success(mut self, alice: &mut Connection<'static>) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "go-sendxmpp failed: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "go-sendxmpp did not finish");
            pump(alice, &mut Vec::new(), Duration::from_millis(20));
        }
    }
}

impl Drop for Go {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
#[ignore = "needs go-sendxmpp 0.14 (bookworm-backports)"]
fn go_sendxmpp_logs_in_with_scram_sha1_and_exchanges_messages_and_presence() {
    let s = serve("go");
    let mut alice = login(&s, "alice@localhost/pico");
    alice.client().set_presence(None, Some("here"), 0).unwrap();
    // Alice subscribes to bob's presence; bob (picoxmpp for this step)
    // approves, so the server sends alice bob's presence from now on.
    alice
        .client()
        .send_presence_to(
            Jid::parse("bob@localhost").unwrap(),
            PresenceType::Subscribe,
        )
        .unwrap();
    pump(&mut alice, &mut Vec::new(), Duration::from_millis(100));
    let mut bob = login(&s, "bob@localhost/setup");
    bob.client().set_presence(None, None, 0).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !seen.iter().any(|e| {
        matches!(
            e,
            Seen::Presence {
                kind: Some(PresenceType::Subscribe),
                ..
            }
        )
    }) {
        assert!(
            Instant::now() < deadline,
            "bob never got the request: {seen:?}"
        );
        pump(&mut bob, &mut seen, Duration::from_millis(50));
    }
    bob.client()
        .send_presence_to(
            Jid::parse("alice@localhost").unwrap(),
            PresenceType::Subscribed,
        )
        .unwrap();
    bob.close().unwrap();
    let mut seen = Vec::new();
    wait_for(
        &mut alice,
        &mut seen,
        |e| matches!(e, Seen::Presence { from, kind: Some(PresenceType::Unavailable) } if from == "bob@localhost/setup"),
    );

    // go-sendxmpp as bob, listening: alice sees it come online.
    let listener = Go::spawn(&s, "bob", &["--listen"], None);
    let online = wait_for(
        &mut alice,
        &mut seen,
        |e| matches!(e, Seen::Presence { from, kind: Some(PresenceType::Available) } if from.starts_with("bob@localhost/go-sendxmpp")),
    );
    let Seen::Presence { from: go_bob, .. } = online else {
        unreachable!()
    };
    // picoxmpp → go-sendxmpp.
    alice
        .client()
        .send_message(
            Jid::parse(&go_bob).unwrap(),
            MessageType::Chat,
            "hello go-sendxmpp",
        )
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let line = loop {
        pump(&mut alice, &mut seen, Duration::from_millis(20));
        if let Ok(line) = listener.lines.try_recv() {
            if line.contains("hello go-sendxmpp") {
                break line;
            }
        }
        assert!(Instant::now() < deadline, "go-sendxmpp printed nothing");
    };
    assert!(line.contains("alice@localhost"), "{line}");
    drop(listener);

    // go-sendxmpp → picoxmpp.
    let sender = Go::spawn(
        &s,
        "bob",
        &["alice@localhost/pico"],
        Some("hello picoxmpp\n"),
    );
    let got = wait_for(&mut alice, &mut seen, |e| matches!(e, Seen::Message { .. }));
    match got {
        Seen::Message { from, body } => {
            assert!(from.starts_with("bob@localhost/go-sendxmpp"), "{from}");
            assert_eq!(body.trim_end(), "hello picoxmpp");
        }
        other => panic!("{other:?}"),
    }
    sender.wait_success(&mut alice);
    alice.close().unwrap();
    s.server.stop();
    let _ = std::fs::remove_file(&s.cert);
}
