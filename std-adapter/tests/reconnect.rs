//! A `Connection` that reconnects by itself: an in-process server with
//! stream management (the core tests' server, over TCP) cuts the
//! connection again and again while messages flow; the connection dials
//! again, the session is resumed each time, every message arrives once.
//! The blocking `Connection` and, with the `tokio` feature, the
//! `AsyncConnection`.

#[path = "../../core/tests/sm_server/mod.rs"]
mod sm_server;

mod common;

use picoxmpp::client::{ClientError, Config, Event, Keepalive, SmConfig, TlsPolicy};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp_std::reconnect::{Backoff, Policy};
use picoxmpp_std::{Connection, Error, TlsSettings};
use sm_server::{Options, Server};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

/// Serves connections one after the other on one server session, cutting
/// each after `cut_every` messages (half of the last output written, so
/// the cut falls inside an element), until `total` have arrived and the
/// client closed.
fn serve(
    cut_every: usize,
    total: usize,
) -> (
    std::net::SocketAddr,
    std::thread::JoinHandle<(Server, usize)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        serve_on(Options::default(), &[listener], cut_every, total, None)
    });
    (addr, handle)
}

/// A connection's byte stream: TCP, or TLS over it.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// As [`serve`]: connection `n` is accepted on `listeners[n]` (the last
/// one for the rest), within 10 s; with `tls`, TLS from the first byte
/// (XEP-0368).
fn serve_on(
    opts: Options,
    listeners: &[TcpListener],
    cut_every: usize,
    total: usize,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> (Server, usize) {
    let mut server = Server::new(opts);
    let mut cuts = 0;
    for n in 0.. {
        let listener = &listeners[n.min(listeners.len() - 1)];
        let tcp = accept_within(listener, Duration::from_secs(10));
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let killer = tcp.try_clone().unwrap();
        let mut tcp: Box<dyn ReadWrite> = match &tls {
            Some(config) => Box::new(rustls::StreamOwned::new(
                rustls::ServerConnection::new(config.clone()).unwrap(),
                tcp,
            )),
            None => Box::new(tcp),
        };
        let at_start = server.delivered.len();
        let mut buf = [0u8; 4096];
        let closed = loop {
            let n = match tcp.read(&mut buf) {
                Ok(0) | Err(_) => break true,
                Ok(n) => n,
            };
            server.receive(&buf[..n]);
            let out = server.take_output();
            let cut =
                server.delivered.len() >= at_start + cut_every && server.delivered.len() < total;
            if cut {
                let _ = tcp.write_all(&out[..out.len() / 2]);
                let _ = tcp.flush();
                let _ = killer.shutdown(Shutdown::Both);
                cuts += 1;
                break false;
            }
            if tcp.write_all(&out).and_then(|()| tcp.flush()).is_err() {
                break true;
            }
        };
        server.drop_connection();
        if closed && server.delivered.len() >= total {
            break;
        }
    }
    (server, cuts)
}

fn accept_within(listener: &TcpListener, limit: Duration) -> std::net::TcpStream {
    listener.set_nonblocking(true).unwrap();
    let until = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((tcp, _)) => {
                tcp.set_nonblocking(false).unwrap();
                return tcp;
            }
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("no connection on {:?}: {e}", listener.local_addr()),
        }
    }
}

fn config() -> Config<'static> {
    let mut c = Config::new(Jid::parse("juliet@example.com").unwrap(), "secret");
    c.tls = TlsPolicy::InsecureAllowPlaintext;
    c.allow_plain_without_tls = true;
    c.keepalive = Keepalive::Off;
    c
}

#[derive(Debug, PartialEq)]
enum Seen {
    Ready,
    Resumed,
    Rebound,
    Other,
}

fn seen(e: Event<'_>) -> Seen {
    match e {
        Event::Ready { .. } => Seen::Ready,
        Event::Resumed { .. } => Seen::Resumed,
        Event::Rebound { .. } => Seen::Rebound,
        _ => Seen::Other,
    }
}

#[test]
fn the_session_survives_repeated_cuts_by_resuming() {
    const TOTAL: usize = 300;
    let (addr, server) = serve(25, TOTAL);
    let (mut rx, mut tx, mut queue) = (vec![0u8; 8192], vec![0u8; 4096], vec![0u8; 8192]);
    let mut conn =
        Connection::connect(addr, &mut rx, &mut tx, config(), &TlsSettings::new()).unwrap();
    conn.client()
        .enable_stream_management(&mut queue, sm_config());
    conn.reconnect_automatically(policy());
    let events = send_all(&mut conn, TOTAL);
    check(server, TOTAL, conn.reconnections(), &events, 5);
}

/// Sends `total` messages through `conn`, driving it as it reconnects,
/// until all are acknowledged; closes; returns what it reported.
fn send_all(conn: &mut Connection<'_>, total: usize) -> Vec<Seen> {
    let mut events = Vec::new();
    let started = Instant::now();
    let mut sent = 0;
    while sent < total || conn.client().unacked() > 0 {
        if send_next(conn.client(), &mut sent, total, started) {
            continue;
        }
        let deadline = Instant::now() + Duration::from_millis(10);
        while let picoxmpp_std::Next::Event(e) = conn.next_event_until(deadline, seen).unwrap() {
            events.push(e);
        }
    }
    conn.close().unwrap();
    events
}

/// Sends message number `sent` if the client takes it now; `false` when
/// it must be driven first (not ready while it reconnects, or the unacked
/// queue full).
fn send_next(
    client: &mut picoxmpp::client::Client<'_, '_, rand_core::OsRng>,
    sent: &mut usize,
    total: usize,
    started: Instant,
) -> bool {
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "stuck at {sent}"
    );
    if *sent == total {
        return false;
    }
    let to = Jid::parse("romeo@example.net").unwrap();
    match client.send_message(to, MessageType::Chat, &format!("reading {sent}")) {
        Ok(_) => {
            *sent += 1;
            true
        }
        Err(ClientError::NotReady | ClientError::UnackedQueueFull { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

/// Every message once and in order, every cut survived by resumption.
fn check(
    server: std::thread::JoinHandle<(Server, usize)>,
    total: usize,
    reconnections: u32,
    events: &[Seen],
    min_cuts: usize,
) {
    let (server, cuts) = server.join().unwrap();
    let expected: Vec<String> = (0..total).map(|i| format!("reading {i}")).collect();
    assert_eq!(server.delivered, expected);
    assert!(cuts >= min_cuts, "{cuts}");
    assert_eq!(reconnections as usize, cuts);
    assert_eq!(server.binds, 1, "a fresh bind instead of a resumption");
    assert_eq!(server.resumes as usize, cuts);
    let count = |k: Seen| events.iter().filter(|e| **e == k).count();
    assert_eq!(count(Seen::Ready), 1);
    assert_eq!(count(Seen::Resumed), cuts);
    assert_eq!(count(Seen::Rebound), 0);
}

fn sm_config() -> SmConfig {
    SmConfig {
        request_every: 5,
        request_after: Some(Duration::from_millis(50)),
        ..SmConfig::default()
    }
}

fn policy() -> Policy {
    Policy {
        backoff: Backoff {
            base: Duration::from_millis(5),
            factor: 2,
            max: Duration::from_millis(20),
        },
        ..Policy::default()
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_async_session_survives_repeated_cuts_by_resuming() {
    use picoxmpp_std::AsyncConnection;
    const TOTAL: usize = 300;
    let (addr, server) = serve(25, TOTAL);
    let (mut rx, mut tx, mut queue) = (vec![0u8; 8192], vec![0u8; 4096], vec![0u8; 8192]);
    let mut conn = AsyncConnection::connect(addr, &mut rx, &mut tx, config(), &TlsSettings::new())
        .await
        .unwrap();
    conn.client()
        .enable_stream_management(&mut queue, sm_config());
    conn.reconnect_automatically(policy());
    let mut events = Vec::new();
    let started = Instant::now();
    let mut sent = 0;
    while sent < TOTAL || conn.client().unacked() > 0 {
        if send_next(conn.client(), &mut sent, TOTAL, started) {
            continue;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(10);
        while let picoxmpp_std::Next::Event(e) =
            conn.next_event_until(deadline, seen).await.unwrap()
        {
            events.push(e);
        }
    }
    conn.close().await.unwrap();
    check(server, TOTAL, conn.reconnections(), &events, 5);
}

/// XEP-0198 §5 `location`: the server asks to be resumed elsewhere; every
/// resumption goes there, not to the first address.
#[test]
fn resumption_follows_the_servers_location() {
    const TOTAL: usize = 300;
    let first = TcpListener::bind("127.0.0.1:0").unwrap();
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = first.local_addr().unwrap();
    let opts = Options {
        location: Some(elsewhere.local_addr().unwrap().to_string()),
        ..Options::default()
    };
    let server = std::thread::spawn(move || serve_on(opts, &[first, elsewhere], 60, TOTAL, None));
    let (mut rx, mut tx, mut queue) = (vec![0u8; 8192], vec![0u8; 4096], vec![0u8; 8192]);
    let mut c = config();
    c.negotiation_timeout = Duration::from_secs(5);
    let mut conn = Connection::connect(addr, &mut rx, &mut tx, c, &TlsSettings::new()).unwrap();
    conn.client()
        .enable_stream_management(&mut queue, sm_config());
    conn.reconnect_automatically(policy());
    let events = send_all(&mut conn, TOTAL);
    check(server, TOTAL, conn.reconnections(), &events, 2);
}

/// Direct TLS (XEP-0368): each new connection runs the handshake before
/// the stream, then resumes.
#[test]
fn a_direct_tls_connection_resumes_too() {
    const TOTAL: usize = 200;
    let cert = common::test_cert("example.com");
    let tls = common::server_config(&cert, false, true);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        std::thread::spawn(move || serve_on(Options::default(), &[listener], 40, TOTAL, Some(tls)));
    let (mut rx, mut tx, mut queue) = (vec![0u8; 8192], vec![0u8; 4096], vec![0u8; 8192]);
    let settings = common::trusting(&cert, "reconnect-direct.pem").direct_tls();
    let mut conn = Connection::connect(addr, &mut rx, &mut tx, config(), &settings).unwrap();
    conn.client()
        .enable_stream_management(&mut queue, sm_config());
    conn.reconnect_automatically(policy());
    let events = send_all(&mut conn, TOTAL);
    assert!(conn.tls().is_none(), "TLS still up after close");
    check(server, TOTAL, conn.reconnections(), &events, 2);
}

#[test]
fn authentication_failure_is_not_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut accepted = 0;
        listener.set_nonblocking(false).unwrap();
        let (mut tcp, _) = listener.accept().unwrap();
        accepted += 1;
        let mut buf = [0u8; 4096];
        let mut text = String::new();
        while !text.contains("</auth>") {
            let n = tcp.read(&mut buf).unwrap();
            assert!(n > 0);
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.ends_with('>') && text.contains("<stream:stream") && !text.contains("<auth") {
                tcp.write_all(format!("{}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>", sm_server::HEADER).as_bytes()).unwrap();
            }
        }
        tcp.write_all(
            b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
        )
        .unwrap();
        // No second connection comes.
        listener.set_nonblocking(true).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        accepted + usize::from(listener.accept().is_ok())
    });
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 4096]);
    let mut conn =
        Connection::connect(addr, &mut rx, &mut tx, config(), &TlsSettings::new()).unwrap();
    conn.reconnect_automatically(Policy {
        backoff: Backoff {
            base: Duration::from_millis(1),
            factor: 2,
            max: Duration::from_millis(2),
        },
        ..Policy::default()
    });
    let err = conn.next_event(|_| ()).unwrap_err();
    assert!(
        matches!(err, Error::Client(ClientError::AuthenticationFailed(_))),
        "{err}"
    );
    assert_eq!(conn.reconnections(), 0);
    assert_eq!(server.join().unwrap(), 1);
}
