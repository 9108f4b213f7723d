//! Load on the built-in server (`picoxmpp serve`'s code): N clients on
//! loopback (500 by default), all logged in at once (STARTTLS, SCRAM), each
//! sending M messages (100) to the next one's full JID. Reports whether
//! every message arrived, how long it took, and the server's memory: its
//! resident set before the clients and at its peak (VmHWM), so the peak
//! per connection. A report, not a timed test; it fails (exit 1) only if
//! a message is lost or bounced.
//!
//! ```text
//! cargo bench -p picoxmpp-tests --bench serve_load
//! PICOXMPP_LOAD_CLIENTS=100 PICOXMPP_LOAD_MESSAGES=10 cargo bench -p picoxmpp-tests --bench serve_load
//! ```
//!
//! The server runs in a child process (this program again, with
//! `PICOXMPP_LOAD_ROLE=server`), so its memory is its own.

use picoxmpp::client::{ClientError, Config, Event, Keepalive};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp_std::server::{AccountStore, ServeConfig, TlsIdentity};
use picoxmpp_std::{Connection, Error, Next, TlsSettings};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn password(i: usize) -> String {
    format!("load-pass-{i}")
}

/// The child: accounts, a self-signed certificate, the server; prints the
/// port and the certificate, then serves until its stdin closes.
fn server(clients: usize) {
    let mut accounts = AccountStore::new();
    for i in 0..clients {
        accounts
            .add(&format!("user{i}"), &password(i), 4096)
            .unwrap();
    }
    let identity = TlsIdentity::self_signed("localhost").unwrap();
    let pem = identity.cert_pem().replace('\n', "|");
    let running = ServeConfig::new("localhost", accounts, identity)
        .bind("127.0.0.1:0")
        .unwrap();
    println!("port {}", running.local_addr().port());
    println!("cert {pem}");
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    running.stop();
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[derive(Default)]
struct Totals {
    received: AtomicUsize,
    bounced: AtomicUsize,
    failed: AtomicUsize,
}

fn client(
    i: usize,
    n: usize,
    messages: usize,
    port: u16,
    tls: &TlsSettings,
    start: &Barrier,
    totals: &Totals,
) -> Result<(), String> {
    let jid = format!("user{i}@localhost/load");
    let to = format!("user{}@localhost/load", (i + 1) % n);
    let pw = password(i);
    let mut config = Config::new(Jid::parse(&jid).unwrap(), &pw);
    config.keepalive = Keepalive::Off;
    config.negotiation_timeout = Duration::from_secs(120);
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 8 * 1024]);
    let conn = Connection::connect(("127.0.0.1", port), &mut rx, &mut tx, config, tls);
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            start.wait();
            return Err(format!("{jid}: {e}"));
        }
    };
    let ready = loop {
        match conn.next_event(|e| matches!(e, Event::Ready { .. })) {
            Ok(Some(true)) => break Ok(()),
            Ok(Some(false)) => {}
            Ok(None) => break Err(format!("{jid}: closed before ready")),
            Err(e) => break Err(format!("{jid}: {e}")),
        }
    };
    // Everybody bound before anybody sends: the recipients exist.
    start.wait();
    ready?;
    let to = Jid::parse(&to).unwrap();
    let received = std::cell::Cell::new(0);
    let count = |e: Event<'_>| match e {
        Event::Message(m) if m.element().attr("type").is_some_and(|t| t == "error") => {
            totals.bounced.fetch_add(1, Ordering::Relaxed);
        }
        Event::Message(_) => {
            received.set(received.get() + 1);
            totals.received.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    };
    for k in 0..messages {
        let body = format!("reading {k} from user{i}");
        loop {
            match conn.client().send_message(to, MessageType::Chat, &body) {
                Ok(_) => break,
                Err(ClientError::TransmitBufferFull { .. }) => {
                    // Write what is queued (and take what came meanwhile).
                    while let Next::Event(()) = conn
                        .next_event_until(Instant::now(), count)
                        .map_err(|e| format!("{jid}: {e}"))?
                    {}
                }
                Err(e) => return Err(format!("{jid}: {e}")),
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.get() < messages {
        match conn.next_event_until(deadline, count) {
            Ok(Next::Event(())) => {}
            Ok(Next::Timeout) => {
                return Err(format!("{jid}: {} of {messages} arrived", received.get()))
            }
            Ok(Next::Closed) => return Err(format!("{jid}: closed")),
            Err(Error::Client(e)) => return Err(format!("{jid}: {e}")),
            Err(e) => return Err(format!("{jid}: {e}")),
        }
    }
    conn.close().map_err(|e| format!("{jid}: {e}"))?;
    Ok(())
}

fn main() {
    let clients = env_usize("PICOXMPP_LOAD_CLIENTS", 500);
    let messages = env_usize("PICOXMPP_LOAD_MESSAGES", 100);
    if std::env::var("PICOXMPP_LOAD_ROLE").as_deref() == Ok("server") {
        server(clients);
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is expected.
    let me = std::env::current_exe().unwrap();
    let mut child = Command::new(me)
        .env("PICOXMPP_LOAD_ROLE", "server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut port, mut pem) = (0u16, String::new());
    for _ in 0..2 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if let Some(p) = line.trim().strip_prefix("port ") {
            port = p.parse().unwrap();
        } else if let Some(c) = line.trim_end().strip_prefix("cert ") {
            pem = c.replace('|', "\n");
        }
    }
    let tls = TlsSettings::new()
        .without_public_roots()
        .add_ca_pem(pem.as_bytes())
        .unwrap();
    let (baseline, _) = memory(child.id());
    println!(
        "serve_load: {clients} clients, {messages} messages each, server pid {} on 127.0.0.1:{port}",
        child.id()
    );
    let start = Arc::new(Barrier::new(clients + 1));
    let totals = Arc::new(Totals::default());
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (tls, start, totals) = (tls.clone(), start.clone(), totals.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let r = client(i, clients, messages, port, &tls, &start, &totals);
                    if let Err(e) = &r {
                        totals.failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("serve_load: {e}");
                    }
                })
                .unwrap()
        })
        .collect();
    start.wait();
    let logged_in = started.elapsed();
    let (rss_bound, _) = memory(child.id());
    let sending = Instant::now();
    for t in threads {
        let _ = t.join();
    }
    let exchange = sending.elapsed();
    let (_, hwm) = memory(child.id());
    // VmHWM is the peak of VmRSS; take the larger in case of rounding.
    let peak = hwm.max(rss_bound);
    drop(child.stdin.take());
    let _ = child.wait();

    let received = totals.received.load(Ordering::Relaxed);
    let bounced = totals.bounced.load(Ordering::Relaxed);
    let failed = totals.failed.load(Ordering::Relaxed);
    let expected = clients * messages;
    println!(
        "serve_load: all {clients} logged in (STARTTLS, SCRAM-SHA-256-PLUS, bind) in {:.2} s",
        logged_in.as_secs_f64()
    );
    println!(
        "serve_load: {received} of {expected} messages delivered, {bounced} bounced, {failed} clients failed, in {:.2} s ({:.0} messages/s)",
        exchange.as_secs_f64(),
        received as f64 / exchange.as_secs_f64().max(1e-9)
    );
    println!(
        "serve_load: server memory: {baseline} KiB before the clients, {rss_bound} KiB with {clients} sessions bound, {peak} KiB at the peak (VmHWM): {:.1} KiB per connection at the peak",
        (peak.saturating_sub(baseline)) as f64 / clients as f64
    );
    if received != expected || bounced != 0 || failed != 0 {
        eprintln!("serve_load: messages were lost");
        std::process::exit(1);
    }
}
