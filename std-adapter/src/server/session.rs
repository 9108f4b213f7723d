//! One client connection of the built-in server: a session thread owns the
//! core [`Server`](picoxmpp::server::Server), the TLS state and the write
//! half of the socket; a reader thread moves raw bytes from the socket into
//! the session's bounded queue, where other sessions' deliveries arrive
//! too. Reads block only the reader, writes only this session: a client
//! that stops reading fills its own queue, and senders then get an error
//! instead of waiting.

use super::router::{Action, Router};
use super::{AccountStore, Shared};
use picoxmpp::error::StreamErrorCondition;
use picoxmpp::jid::Jid;
use picoxmpp::sasl::scram::HashFunction;
use picoxmpp::sasl::scram_server::StoredKeys;
use picoxmpp::server::{Accounts, BindPolicy, CloseReason, Event, Output, Server};
use picoxmpp::time::Instant;
use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

/// What arrives on a session's queue.
#[derive(Debug)]
pub(crate) enum Input {
    /// Bytes from the socket.
    Bytes(Vec<u8>),
    /// The client closed the connection (or it broke).
    Eof,
    /// A stanza routed to this client.
    Deliver(Arc<[u8]>),
    /// End the session with this stream error (another session took the
    /// resource, the server stops).
    Kick(StreamErrorCondition),
}

/// The account store and the router, as the core sees them.
struct SessionAccounts {
    store: Arc<AccountStore>,
    router: Arc<Router>,
    id: u64,
    me: SyncSender<Input>,
}

impl Accounts for SessionAccounts {
    fn scram_keys(&mut self, username: &str, hash: HashFunction) -> Option<StoredKeys> {
        self.store.keys(username, hash)
    }

    fn bind(&mut self, jid: Jid<'_>) -> BindPolicy {
        // RFC 6120 §7.7.2.2: the new session wins; the old one is ended
        // with `conflict` by the router.
        self.router.register(jid.as_str(), self.id, self.me.clone());
        BindPolicy::Accept
    }
}

/// Runs one connection to its end.
pub(crate) fn run(shared: Arc<Shared>, tcp: TcpStream, id: u64) {
    let (tx, rx) = std::sync::mpsc::sync_channel(shared.limits.queue);
    let reader = match tcp.try_clone() {
        Ok(r) => r,
        Err(_) => return,
    };
    let feed = tx.clone();
    let chunk = shared.limits.read_chunk;
    let reader_thread = std::thread::Builder::new()
        .name(format!("xmpp-read-{id}"))
        .stack_size(64 * 1024)
        .spawn(move || read_loop(reader, feed, chunk));
    if reader_thread.is_err() {
        return;
    }
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_write_timeout(Some(shared.limits.write_timeout));
    let accounts = SessionAccounts {
        store: shared.accounts.clone(),
        router: shared.router.clone(),
        id,
        me: tx,
    };
    let mut rx_buf = vec![0u8; shared.limits.stanza];
    let mut tx_buf = vec![0u8; shared.limits.stanza + 1024];
    let mut config = picoxmpp::server::Config::new(&shared.domain);
    config.mechanisms = &shared.mechanisms;
    config.idle_timeout = Some(shared.limits.idle);
    let core = Server::new(config, &mut rx_buf, &mut tx_buf, rand_core::OsRng, accounts);
    let mut s = Session {
        core,
        tcp,
        tls: None,
        tls_config: shared.tls.clone(),
        epoch: StdInstant::now(),
        pending: Vec::new(),
        router: shared.router.clone(),
        log: shared.log,
        bound: None,
    };
    s.run(&rx);
    if let Some(jid) = &s.bound {
        shared.router.unregister(jid, id);
    }
    let _ = s.tcp.shutdown(std::net::Shutdown::Both);
}

/// Moves socket bytes into the queue; blocks when the queue is full (the
/// client's own backpressure).
fn read_loop(mut tcp: TcpStream, feed: SyncSender<Input>, chunk: usize) {
    let mut buf = vec![0u8; chunk];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = feed.send(Input::Eof);
                return;
            }
            Ok(n) => {
                if feed.send(Input::Bytes(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}

struct Session<'b> {
    core: Server<'b, 'b, rand_core::OsRng, SessionAccounts>,
    tcp: TcpStream,
    tls: Option<ServerConnection>,
    tls_config: Arc<rustls::ServerConfig>,
    epoch: StdInstant,
    /// Plaintext received but not yet taken by the core.
    pending: Vec<u8>,
    router: Arc<Router>,
    log: bool,
    bound: Option<String>,
}

impl Session<'_> {
    fn now(&self) -> Instant {
        Instant::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    fn run(&mut self, rx: &Receiver<Input>) {
        loop {
            let deadline = match self.drain() {
                Ok(Some(d)) => d,
                Ok(None) | Err(_) => return,
            };
            let input = match deadline {
                Some(d) => {
                    let wait = d.as_millis().saturating_sub(self.now().as_millis());
                    match rx.recv_timeout(Duration::from_millis(wait.max(1))) {
                        Ok(i) => i,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                None => match rx.recv() {
                    Ok(i) => i,
                    Err(_) => return,
                },
            };
            let r = match input {
                Input::Bytes(b) => self.received(&b),
                Input::Eof => return,
                Input::Deliver(stanza) => self.deliver(&stanza),
                Input::Kick(condition) => {
                    self.core.close_with_error(condition);
                    Ok(())
                }
            };
            if r.is_err() {
                return;
            }
        }
    }

    /// Bytes from the socket: through TLS if it is on, then to the core.
    fn received(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.tls {
            None => self.pending.extend_from_slice(bytes),
            Some(tls) => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    tls.read_tls(&mut rest)?;
                    tls.process_new_packets().map_err(io::Error::other)?;
                    let mut plain = [0u8; 4096];
                    loop {
                        match tls.reader().read(&mut plain) {
                            Ok(0) => break,
                            Ok(n) => self.pending.extend_from_slice(&plain[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                while tls.wants_write() {
                    tls.write_tls(&mut self.tcp)?;
                }
                if !tls.is_handshaking() && !self.core.is_tls() {
                    // RFC 6120 §5.4.3.3: the handshake is done.
                    self.core.tls_established();
                    // RFC 9266: tls-exporter, for SCRAM-*-PLUS, on TLS 1.3
                    // only (without it, the -PLUS mechanisms are not offered).
                    if tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
                        let mut cb = [0u8; 32];
                        if tls
                            .export_keying_material(&mut cb, b"EXPORTER-Channel-Binding", None)
                            .is_ok()
                        {
                            self.core.tls_exporter(&cb);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Polls the core until it waits, feeding it the pending plaintext;
    /// `None` once the session is over.
    fn drain(&mut self) -> io::Result<Option<Option<Instant>>> {
        loop {
            let now = self.now();
            let mut actions = Vec::new();
            let wait = match self.core.poll(now) {
                Output::Transmit(unit) => {
                    let unit = unit.to_vec();
                    self.write(&unit)?;
                    continue;
                }
                Output::StartTls => {
                    if !self.pending.is_empty() {
                        // Plaintext behind `<starttls/>` that the core has
                        // not even taken yet: injected ahead of TLS (RFC
                        // 6120 §5.4.3.3); drop the connection.
                        return Ok(None);
                    }
                    self.tls = Some(
                        ServerConnection::new(self.tls_config.clone()).map_err(io::Error::other)?,
                    );
                    continue;
                }
                Output::Event(e) => {
                    match e {
                        Event::Stanza(s) => actions = self.router.route(&s),
                        Event::Bound { jid } => {
                            self.bound = Some(jid.to_string());
                            if self.log {
                                eprintln!("serve: {jid} bound");
                            }
                        }
                        Event::AuthFailed {
                            condition,
                            failures,
                        } => {
                            if self.log {
                                eprintln!("serve: authentication failed ({condition}), {failures} on this stream");
                            }
                            // Throttle guessing: each failure costs the
                            // client more time (RFC 6120 §6.4.5).
                            std::thread::sleep(Duration::from_millis(250 * u64::from(failures)));
                        }
                        Event::Closed(reason) => {
                            if self.log && reason != CloseReason::Polite {
                                eprintln!("serve: session closed: {reason:?}");
                            }
                        }
                        Event::Authenticated { .. } | Event::Resumed { .. } => {}
                    }
                    None
                }
                Output::Wait(deadline) => Some(deadline),
                Output::Closed => return Ok(None),
            };
            for a in actions {
                match a {
                    Action::ToSelf(bytes) => self.deliver(&bytes)?,
                    Action::Bounce(condition) => {
                        let _ = self.core.bounce(condition);
                    }
                }
            }
            if let Some(deadline) = wait {
                if self.pending.is_empty() {
                    return Ok(Some(deadline));
                }
                let n = self.core.handle_input(&self.pending, now);
                self.pending.drain(..n);
                if n == 0 {
                    // The core takes nothing while it waits for TLS.
                    return Ok(Some(deadline));
                }
            }
        }
    }

    /// Queues a stanza for this client, writing out what is queued first
    /// when the transmit queue is full. Refused only when the session is
    /// not bound or is closing, when there is nobody to give it to.
    fn deliver(&mut self, stanza: &[u8]) -> io::Result<()> {
        loop {
            match self.core.deliver(stanza) {
                Err(picoxmpp::server::ServerError::TransmitBufferFull { .. }) => {
                    // A full queue is not empty, so the core hands out a
                    // unit first.
                    let now = self.now();
                    match self.core.poll(now) {
                        Output::Transmit(unit) => {
                            let unit = unit.to_vec();
                            self.write(&unit)?;
                        }
                        _ => return Ok(()),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Writes one unit (through TLS when on), in one go.
    fn write(&mut self, unit: &[u8]) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) if !tls.is_handshaking() => {
                tls.writer().write_all(unit)?;
                while tls.wants_write() {
                    tls.write_tls(&mut self.tcp)?;
                }
                Ok(())
            }
            _ => self.tcp.write_all(unit),
        }
    }
}
