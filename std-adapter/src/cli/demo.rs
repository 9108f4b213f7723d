//! `picoxmpp demo`: the main job. A "device" goes online, lets a
//! "watcher" subscribe to its presence, sends it three readings, pings its
//! server and goes offline; the watcher prints what arrives. By default
//! both talk to the built-in server ([`crate::server`]) on a free loopback
//! port, with fresh accounts and a self-signed certificate; `--server`
//! uses a real server. `-v` prints the XML of both sessions.

use super::commands::tls_settings;
use super::failure::{Failure, EXIT_CONNECTION, EXIT_PROTOCOL};
use super::transcript::Transcript;
use super::{Cli, Command};
use crate::server::{AccountStore, ServeConfig, TlsIdentity};
use crate::{Connection, Direction, Error, Next, TlsSettings};
use picoxmpp::client::{Config, Event};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::{IqType, MessageType, PresenceType};
use std::io::Write as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The readings the device sends.
pub(crate) const READINGS: [&str; 3] = [
    "temperature 21.5 C",
    "temperature 21.7 C",
    "temperature 21.6 C",
];
/// How long the whole demo may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// One side of the demo.
struct Side {
    name: &'static str,
    jid: String,
    password: String,
}

pub(super) fn run(cli: &Cli) -> Result<(), Failure> {
    let Command::Demo {
        device,
        watcher,
        device_password_env,
        watcher_password_env,
    } = &cli.command
    else {
        return Ok(());
    };
    let (addr, tls, _server, device, watcher) = match &cli.server {
        Some(server) => {
            let pw = |env: &str| {
                std::env::var(env).map_err(|_| {
                    super::usage(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        format!("with --server, the passwords come from {device_password_env} and {watcher_password_env} ({env} is not set)"),
                    )
                })
            };
            let addr = if server.contains(':') && !server.ends_with(']') {
                server.clone()
            } else {
                format!("{server}:5222")
            };
            let d = Side {
                name: "device",
                jid: device.clone(),
                password: pw(device_password_env)?,
            };
            let w = Side {
                name: "watcher",
                jid: watcher.clone(),
                password: pw(watcher_password_env)?,
            };
            (addr, tls_settings(cli)?, None, d, w)
        }
        None => {
            // Fresh accounts with random passwords, a self-signed
            // certificate the clients trust, a free loopback port.
            let mut accounts = AccountStore::new();
            let secret = || {
                let mut b = [0u8; 12];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            };
            let d = Side {
                name: "device",
                jid: "device@localhost/sensor".into(),
                password: secret(),
            };
            let w = Side {
                name: "watcher",
                jid: "watcher@localhost/console".into(),
                password: secret(),
            };
            for s in [&d, &w] {
                let local = s.jid.split('@').next().unwrap_or_default();
                accounts
                    .add(local, &s.password, 4096)
                    .map_err(|e| Failure::exit(EXIT_PROTOCOL, e))?;
            }
            let identity = TlsIdentity::self_signed("localhost")
                .map_err(|e| Failure::exit(EXIT_CONNECTION, format!("certificate: {e}")))?;
            let cert = identity.cert_der().cloned();
            let running = ServeConfig::new("localhost", accounts, identity)
                .bind("127.0.0.1:0")
                .map_err(|e| Failure::exit(EXIT_CONNECTION, format!("built-in server: {e}")))?;
            let mut tls = TlsSettings::new().without_public_roots();
            if let Some(c) = cert {
                tls = tls
                    .add_ca_der(c)
                    .map_err(|e| Failure::exit(EXIT_CONNECTION, e.to_string()))?;
            }
            println!("demo: built-in server for localhost on {} (self-signed certificate, two fresh accounts)", running.local_addr());
            (running.local_addr().to_string(), tls, Some(running), d, w)
        }
    };
    let verbose = cli.verbose;
    let device_bare = bare(&device.jid);
    let watcher_bare = bare(&watcher.jid);
    let (ready_tx, ready_rx) = mpsc::channel();
    let watcher_thread = {
        let addr = addr.clone();
        let tls = tls.clone();
        std::thread::spawn(move || watch(&addr, &tls, &watcher, &device_bare, verbose, ready_tx))
    };
    // The device starts once the watcher is online and has asked.
    let ready = ready_rx.recv_timeout(DEADLINE);
    let device_result = match ready {
        Ok(()) => report(&addr, &tls, &device, &watcher_bare, verbose),
        Err(_) => Err(Failure::exit(
            EXIT_PROTOCOL,
            "the watcher did not come online",
        )),
    };
    let watched = watcher_thread
        .join()
        .unwrap_or_else(|_| Err(Failure::exit(EXIT_PROTOCOL, "the watcher failed")));
    device_result?;
    let received = watched?;
    println!("demo: {received} of {} readings arrived", READINGS.len());
    if received != READINGS.len() {
        return Err(Failure::exit(EXIT_PROTOCOL, "readings were lost"));
    }
    Ok(())
}

fn bare(jid: &str) -> String {
    Jid::parse(jid)
        .map(|j| j.bare().to_string())
        .unwrap_or_default()
}

fn failure(who: &str, e: Error) -> Failure {
    Failure::exit(EXIT_CONNECTION, format!("{who}: {e}"))
}

/// Connects `side`, printing its XML with `-v`, and waits until bound.
fn connect<'a>(
    addr: &str,
    tls: &TlsSettings,
    side: &'a Side,
    verbose: bool,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
) -> Result<Connection<'a>, Failure> {
    let jid = Jid::parse(&side.jid)
        .map_err(|e| Failure::exit(EXIT_PROTOCOL, format!("{}: {e:?}", side.jid)))?;
    let mut config = Config::new(jid, &side.password);
    config.negotiation_timeout = Duration::from_secs(15);
    let mut conn =
        Connection::connect(addr, rx, tx, config, tls).map_err(|e| failure(side.name, e))?;
    if verbose {
        let mut transcript = Transcript::default();
        let name = side.name;
        conn.set_tap(move |direction: Direction, bytes: &[u8]| {
            let mut out = std::io::stdout().lock();
            for line in transcript.lines(direction, bytes) {
                let _ = writeln!(out, "  {name:>7} | {line}");
            }
        });
    }
    loop {
        match conn.next_event(|e| match e {
            Event::Ready { jid } => Some(jid.to_string()),
            _ => None,
        }) {
            Ok(Some(Some(jid))) => {
                println!("{}: online as {jid}", side.name);
                return Ok(conn);
            }
            Ok(Some(None)) => {}
            Ok(None) => {
                return Err(Failure::exit(
                    EXIT_PROTOCOL,
                    format!("{}: the server closed the stream", side.name),
                ))
            }
            Err(e) => return Err(failure(side.name, e)),
        }
    }
}

/// The watcher: online, asks for the device's presence, prints what
/// arrives until the device goes offline; returns the readings received.
fn watch(
    addr: &str,
    tls: &TlsSettings,
    side: &Side,
    device: &str,
    verbose: bool,
    ready: mpsc::Sender<()>,
) -> Result<usize, Failure> {
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 8 * 1024]);
    let mut conn = connect(addr, tls, side, verbose, &mut rx, &mut tx)?;
    let device_jid =
        Jid::parse(device).map_err(|e| Failure::exit(EXIT_PROTOCOL, format!("{e:?}")))?;
    // RFC 6121 §3.1.1: a subscription request, then initial presence.
    conn.client()
        .send_presence_to(device_jid, PresenceType::Subscribe)
        .and_then(|()| conn.client().set_presence(None, Some("watching"), 0))
        .map_err(|e| failure(side.name, e.into()))?;
    conn.next_event_until(Instant::now(), |_| ())
        .map_err(|e| failure(side.name, e))?;
    let _ = ready.send(());
    let deadline = Instant::now() + DEADLINE;
    let mut readings = 0;
    let mut device_seen = false;
    loop {
        let next = conn.next_event_until(deadline, |e| match e {
            Event::Message(m) => {
                let from = m.from().map(|f| f.to_string()).unwrap_or_default();
                let body = m.body().map(|b| b.to_string());
                Some((from, body, None))
            }
            Event::Presence(p) => {
                let from = p.from().map(|f| f.to_string()).unwrap_or_default();
                Some((from, None, Some(p.presence_type())))
            }
            _ => None,
        });
        match next.map_err(|e| failure(side.name, e))? {
            Next::Event(Some((from, Some(body), _))) if bare(&from) == device => {
                println!("watcher: reading from {from}: {body}");
                readings += 1;
            }
            Next::Event(Some((from, None, Some(kind)))) if bare(&from) == device => match kind {
                Some(PresenceType::Available) => {
                    device_seen = true;
                    println!("watcher: {from} is online");
                }
                Some(PresenceType::Unavailable) if device_seen => {
                    println!("watcher: {from} went offline");
                    break;
                }
                Some(PresenceType::Subscribed) => {
                    println!("watcher: {device} accepted the subscription")
                }
                _ => {}
            },
            Next::Event(_) => {}
            Next::Timeout => {
                println!("watcher: timed out");
                break;
            }
            Next::Closed => break,
        }
    }
    conn.close().map_err(|e| failure(side.name, e))?;
    println!("watcher: offline");
    Ok(readings)
}

/// The device: online with a reading as status, accepts the watcher's
/// subscription, sends the readings, pings the server, goes offline.
fn report(
    addr: &str,
    tls: &TlsSettings,
    side: &Side,
    watcher: &str,
    verbose: bool,
) -> Result<(), Failure> {
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 8 * 1024]);
    let mut conn = connect(addr, tls, side, verbose, &mut rx, &mut tx)?;
    let err = |e: picoxmpp::client::ClientError| failure(side.name, e.into());
    let watcher_jid =
        Jid::parse(watcher).map_err(|e| Failure::exit(EXIT_PROTOCOL, format!("{e:?}")))?;
    conn.client()
        .set_presence(None, Some(READINGS[0]), 0)
        .map_err(err)?;
    // The watcher's request waited on the server; approve it (RFC 6121
    // §3.1.4), once, or go on after a while if it was approved before.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let next = conn
            .next_event_until(deadline, |e| match e {
                Event::Presence(p) if p.presence_type() == Some(PresenceType::Subscribe) => {
                    p.from().map(|f| bare(&f.to_string()))
                }
                _ => None,
            })
            .map_err(|e| failure(side.name, e))?;
        match next {
            Next::Event(Some(from)) if from == watcher => {
                println!("device: {watcher} asks for my presence: accepted");
                conn.client()
                    .send_presence_to(watcher_jid, PresenceType::Subscribed)
                    .map_err(err)?;
                break;
            }
            Next::Event(_) => {}
            Next::Timeout | Next::Closed => break,
        }
    }
    for reading in READINGS {
        conn.client()
            .send_message(watcher_jid, MessageType::Chat, reading)
            .map_err(err)?;
        println!("device: sent {reading}");
    }
    // XEP-0199: a ping to the server, and its answer.
    let now = conn.now();
    let domain = Jid::parse(watcher_jid.domain())
        .map_err(|e| Failure::exit(EXIT_PROTOCOL, format!("{e:?}")))?;
    let id = conn
        .client()
        .send_iq(
            Some(domain),
            IqType::Get,
            |w| {
                w.start_element("ping")?;
                w.ns("urn:xmpp:ping")?;
                w.end_element("ping")
            },
            now,
        )
        .map_err(err)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let next = conn
            .next_event_until(deadline, |e| match e {
                Event::IqResult { id: got, .. } if got == id => Some(true),
                Event::IqError { id: got, .. } if got == id => Some(false),
                _ => None,
            })
            .map_err(|e| failure(side.name, e))?;
        match next {
            Next::Event(Some(true)) => {
                println!("device: the server answered the ping");
                break;
            }
            Next::Event(Some(false)) => {
                return Err(Failure::exit(
                    EXIT_PROTOCOL,
                    "device: the ping got an error",
                ))
            }
            Next::Event(None) => {}
            Next::Timeout | Next::Closed => {
                return Err(Failure::exit(
                    EXIT_PROTOCOL,
                    "device: no answer to the ping",
                ))
            }
        }
    }
    conn.close().map_err(|e| failure(side.name, e))?;
    println!("device: offline");
    Ok(())
}
