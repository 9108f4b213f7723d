//! Cross-client interop: picoxmpp's blocking `Connection` (std adapter)
//! and slixmpp (Python, PyPI) exchange messages through Prosody, as
//! `tests/interop/servers-up.sh` sets it up (STARTTLS on 127.0.0.1:5222,
//! domain `localhost`). picoxmpp logs in as alice; slixmpp, run by
//! `tests/interop/slix_peer.py` with `python3` from `PATH`, as carol.
//!
//! Every test is `#[ignore]`d, so `cargo test --workspace` needs neither
//! a server nor Python:
//!
//! ```text
//! python3 -m pip install --quiet slixmpp==1.17.0
//! sudo bash tests/interop/servers-up.sh
//! cargo test -p picoxmpp-tests --test interop_slixmpp -- --ignored --test-threads=1
//! sudo bash tests/interop/servers-down.sh
//! ```
//!
//! `PICOXMPP_INTEROP_CA` names the CA certificate (default
//! `/tmp/picoxmpp-servers/certs/localhost.crt`); the script verifies the
//! server with it too. A server that does not answer, a missing `python3`
//! or a missing slixmpp fails the test: it is never skipped.

use picoxmpp::client::{Config, Event, Keepalive};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp_std::{Connection, Next, TlsSettings};
use std::time::{Duration, Instant};

mod slix_peer;
use slix_peer::{unique_resource, Peer, PEER_WAIT};

const DEFAULT_CA: &str = "/tmp/picoxmpp-servers/certs/localhost.crt";
const DOMAIN: &str = "localhost";
/// Prosody's STARTTLS port.
const PORT: u16 = 5222;
/// How long picoxmpp waits for any single expected event.
const WAIT: Duration = Duration::from_secs(10);

fn ca_path() -> String {
    std::env::var("PICOXMPP_INTEROP_CA").unwrap_or_else(|_| DEFAULT_CA.to_owned())
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_buf(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

// -- picoxmpp's side --------------------------------------------------------------

/// A message as picoxmpp saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Ready(String),
    Message { from: String, body: Option<String> },
    Other(String),
}

fn own(event: Event<'_>) -> Seen {
    match event {
        Event::Ready { jid } => Seen::Ready(jid.to_string()),
        Event::Message(m) => Seen::Message {
            from: m.from().map(|f| f.to_string()).unwrap_or_default(),
            body: m.body().map(|b| b.to_string()),
        },
        other => Seen::Other(format!("{other:?}")),
    }
}

/// alice, logged in with picoxmpp's blocking connection (STARTTLS,
/// Prosody), ready; and her full JID.
fn alice_login(test: &str) -> (Connection<'static>, String, Vec<Seen>) {
    let jid = format!("alice@{DOMAIN}/pico-{}", unique_resource(test));
    let mut config = Config::new(Jid::parse(leak(jid.clone())).unwrap(), "alice-pass");
    config.keepalive = Keepalive::Off;
    config.negotiation_timeout = Duration::from_secs(15);
    config.close_timeout = Duration::from_secs(5);
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
    let mut conn = Connection::connect(
        ("127.0.0.1", PORT),
        leak_buf(64 * 1024),
        leak_buf(16 * 1024),
        config,
        &tls,
    )
    .unwrap_or_else(|e| {
        panic!(
            "prosody on 127.0.0.1:{PORT}: {e}. Is it running? Start it with \
             `bash tests/interop/servers-up.sh` (as root)"
        )
    });
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match conn.next_event_until(deadline, own) {
            Ok(Next::Event(Seen::Ready(full))) => return (conn, full, seen),
            Ok(Next::Event(e)) => seen.push(e),
            other => panic!("{jid}: not ready within {WAIT:?}: {other:?}, saw {seen:?}"),
        }
    }
}

/// Drives `conn` for `slice`, collecting events into `seen`.
fn pump(conn: &mut Connection<'static>, seen: &mut Vec<Seen>, slice: Duration) {
    let mut until = Instant::now() + slice;
    loop {
        match conn.next_event_until(until, own) {
            Ok(Next::Event(e)) => {
                seen.push(e);
                until = Instant::now();
            }
            Ok(Next::Timeout) => return,
            other => panic!("alice's session ended: {other:?}; saw {seen:?}"),
        }
    }
}

/// (a) slixmpp (carol) sends alice a chat message: picoxmpp receives it,
/// from carol's full JID, body intact.
#[test]
#[ignore = "needs the servers of tests/interop/servers-up.sh and slixmpp"]
fn picoxmpp_receives_from_slixmpp() {
    let t = Instant::now();
    let (mut conn, alice, mut seen) = alice_login("from-slix");
    let body = format!(
        "hello alice, from slixmpp <&> 'quoted' \u{e9} {}",
        unique_resource("body")
    );
    let mut peer = Peer::spawn(PORT, &ca_path(), &["send", &alice, &body]);
    let carol = peer.expect("ready ", PEER_WAIT, || {
        pump(&mut conn, &mut seen, Duration::ZERO)
    });
    peer.expect("sent", PEER_WAIT, || {
        pump(&mut conn, &mut seen, Duration::ZERO)
    });
    let deadline = Instant::now() + WAIT;
    let from = loop {
        let found = seen.iter().find_map(|e| match e {
            Seen::Message {
                from,
                body: Some(b),
            } if *b == body => Some(from.clone()),
            _ => None,
        });
        if let Some(from) = found {
            break from;
        }
        assert!(
            Instant::now() < deadline,
            "alice ({alice}): no message from slixmpp ({carol}) within {WAIT:?}; saw {seen:?}"
        );
        pump(&mut conn, &mut seen, Duration::from_millis(50));
    };
    assert_eq!(from, carol, "the sender is slixmpp's full JID");
    peer.finish();
    conn.close().expect("alice's close");
    println!(
        "picoxmpp ({alice}) received slixmpp's ({carol}) message in {} ms (Python start \
         included)",
        t.elapsed().as_millis()
    );
}

/// (b) picoxmpp (alice) sends carol a chat message once slixmpp says it
/// is ready: slixmpp receives it, from alice's full JID, body intact.
#[test]
#[ignore = "needs the servers of tests/interop/servers-up.sh and slixmpp"]
fn slixmpp_receives_from_picoxmpp() {
    let t = Instant::now();
    let mut peer = Peer::spawn(PORT, &ca_path(), &["receive"]);
    let carol = peer.expect("ready ", PEER_WAIT, || {});
    let (mut conn, alice, mut seen) = alice_login("to-slix");
    let body = format!(
        "hello carol, from picoxmpp <&> 'quoted' \u{e9} {}",
        unique_resource("body")
    );
    conn.client()
        .send_message(
            Jid::parse(&carol).expect("slixmpp's JID"),
            MessageType::Chat,
            &body,
        )
        .expect("send_message");
    pump(&mut conn, &mut seen, Duration::ZERO);
    let received = peer.expect("received ", WAIT + Duration::from_secs(5), || {
        pump(&mut conn, &mut seen, Duration::ZERO)
    });
    let got: serde_json::Value = serde_json::from_str(&received)
        .unwrap_or_else(|e| panic!("slix_peer.py printed {received:?}: {e}"));
    assert_eq!(got["body"].as_str(), Some(body.as_str()), "{got}");
    assert_eq!(got["from"].as_str(), Some(alice.as_str()), "{got}");
    peer.finish();
    conn.close().expect("alice's close");
    println!(
        "slixmpp ({carol}) received picoxmpp's ({alice}) message in {} ms (Python start \
         included)",
        t.elapsed().as_millis()
    );
}
