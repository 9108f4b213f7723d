//! A blocking connection: the core [`Client`] driven over a
//! [`TcpStream`], with rustls when the core asks for TLS.
//!
//! This is the loop of the [`Client`] docs and nothing more: bytes the
//! core transmits go to the socket, bytes from the socket go into the
//! core's receive buffer, the socket's read timeout is the core's next
//! deadline, and `Output::StartTls` runs the handshake. Every XMPP
//! decision (when to start TLS, which SASL mechanism and channel binding,
//! what to answer) is the core's.
//!
//! With [`Connection::reconnect_automatically`], a connection that breaks
//! is dialled again under a [`Policy`] (backoff with jitter, a cap, no
//! retry after an authentication failure) and the core resumes the session
//! (XEP-0198, after [`Client::enable_stream_management`]): the application
//! sees [`Event::Resumed`] or [`Event::Rebound`], not an error.

use crate::error::Error;
use crate::reconnect::{Policy, Reconnecting};
use crate::tls::{self, ChannelBindings, TlsSettings};
use picoxmpp::client::{Client, Config, Event, Output, TlsPolicy};
use picoxmpp::time::Instant;
use rand_core::OsRng;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io::{self, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

/// What [`Connection::next_event_until`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<T> {
    /// The core had an event; this is what the handler made of it.
    Event(T),
    /// The deadline passed first. Everything the core had queued was
    /// written before.
    Timeout,
    /// The session is over and the connection shut down.
    Closed,
}

/// Which way bytes went, for a [`Connection::set_tap`] observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A whole unit the core transmitted, before it is written.
    Sent,
    /// Bytes read from the connection (after TLS), in the chunks they came.
    Received,
}

/// The observer of [`Connection::set_tap`].
type Tap<'a> = Box<dyn FnMut(Direction, &[u8]) + Send + 'a>;

/// One XMPP session over TCP (and TLS), driven by blocking calls.
///
/// It works in the caller's buffers, `rx` (its size bounds the largest
/// stanza that can arrive) and `tx` (units waiting to be written), and
/// borrows them, and the [`Config`], for `'a`: no allocation per stanza, no
/// leak per connection.
///
/// Events come out of [`next_event`](Self::next_event), which hands each
/// one to a closure because an [`Event`] borrows the receive buffer.
/// Commands go through [`client`](Self::client), between events; what they
/// queue is written by the next `next_event*` call. Times the core wants
/// (`send_iq`'s `now`, `close`'s) come from [`now`](Self::now).
///
/// Each unit the core transmits is written with one write on the socket
/// (one `write_all`, or one set of TLS records flushed together): Prosody
/// and ejabberd stall when a stream header arrives in many small writes.
/// `TCP_NODELAY` is set, so the unit leaves at once.
///
/// Time is the core's [`Instant`]: milliseconds since the connection was
/// created, from [`std::time::Instant`].
pub struct Connection<'a> {
    client: Client<'a, 'a, OsRng>,
    transport: Transport,
    tls_config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    bindings: Option<ChannelBindings>,
    negotiation_timeout: Duration,
    epoch: StdInstant,
    tap: Option<Tap<'a>>,
    /// Where the connection went, to dial again.
    addrs: Vec<SocketAddr>,
    direct_tls: bool,
    reconnect: Option<Reconnecting>,
    /// [`close`](Self::close) was called: a failure now is no reason to
    /// reconnect.
    closing: bool,
}

impl<'a> Connection<'a> {
    /// Connects to `addr` (each of its addresses in turn, each within
    /// [`Config::negotiation_timeout`]), then as [`new`](Self::new).
    pub fn connect(
        addr: impl ToSocketAddrs,
        rx: &'a mut [u8],
        tx: &'a mut [u8],
        config: Config<'a>,
        tls: &TlsSettings,
    ) -> Result<Self, Error> {
        let mut last = None;
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(Error::Io)?.collect();
        for (i, addr) in addrs.iter().enumerate() {
            match TcpStream::connect_timeout(addr, config.negotiation_timeout) {
                Ok(tcp) => {
                    let mut conn = Self::new(tcp, rx, tx, config, tls)?;
                    // Reconnection tries this address first, then the others.
                    conn.addrs = addrs[i..].iter().chain(&addrs[..i]).copied().collect();
                    return Ok(conn);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if tls::is_timeout(&e) => Error::Timeout("the TCP connection"),
            Some(e) => Error::Io(e),
            None => crate::error::resolved_to_nothing(),
        })
    }

    /// A session on a connected `tcp`. With direct TLS
    /// ([`TlsSettings::direct_tls`]) the handshake runs here, before the
    /// first poll, and [`Config::tls`] becomes [`TlsPolicy::Direct`];
    /// otherwise TLS starts when the core asks (STARTTLS). The
    /// certificate is checked for the account's domain unless
    /// [`TlsSettings::server_name`] says otherwise.
    pub fn new(
        tcp: TcpStream,
        rx: &'a mut [u8],
        tx: &'a mut [u8],
        mut config: Config<'a>,
        tls: &TlsSettings,
    ) -> Result<Self, Error> {
        let epoch = StdInstant::now();
        tcp.set_nodelay(true).map_err(Error::Io)?;
        let (tls_config, server_name) = tls.client_config(config.jid.domain())?;
        if tls.is_direct() {
            config.tls = TlsPolicy::Direct;
        }
        let negotiation_timeout = config.negotiation_timeout;
        let addrs = tcp.peer_addr().into_iter().collect();
        let mut conn = Connection {
            client: Client::new(config, rx, tx, OsRng),
            transport: Transport::Tcp(tcp),
            tls_config,
            server_name,
            bindings: None,
            negotiation_timeout,
            epoch,
            tap: None,
            addrs,
            direct_tls: tls.is_direct(),
            reconnect: None,
            closing: false,
        };
        if tls.is_direct() {
            // XEP-0368: TLS first, then the stream, as after STARTTLS.
            conn.start_tls()?;
        }
        Ok(conn)
    }

    // -- getters ---------------------------------------------------------

    /// The core client: commands (`send_message`, `send_iq`, `close`...)
    /// and getters. What a command queues goes out at the next
    /// `next_event*` call.
    pub fn client(&mut self) -> &mut Client<'a, 'a, OsRng> {
        &mut self.client
    }

    /// Now, on the core's clock: for the commands that take `now`.
    pub fn now(&self) -> Instant {
        let ms = self.epoch.elapsed().as_millis();
        Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// The TLS session, once established: protocol version, cipher suite,
    /// ALPN, the server's certificates.
    pub fn tls(&self) -> Option<&ClientConnection> {
        match &self.transport {
            Transport::Tls { tls, .. } => Some(tls),
            _ => None,
        }
    }

    /// The channel-binding data handed to the core after the handshake.
    pub fn channel_bindings(&self) -> Option<&ChannelBindings> {
        self.bindings.as_ref()
    }

    /// Shows `tap` every unit sent and every byte received, in plaintext
    /// (inside TLS), for a transcript. It sees the SASL exchange too:
    /// redact before showing it to anyone.
    pub fn set_tap(&mut self, tap: impl FnMut(Direction, &[u8]) + Send + 'a) {
        self.tap = Some(Box::new(tap));
    }

    /// From now on, when the connection or the session fails, dial the
    /// server again under `policy` instead of returning the error, and let
    /// the core resume the session (XEP-0198 §5) or bind a new one: the
    /// application sees [`Event::Resumed`] or [`Event::Rebound`] (then
    /// [`Event::Unacked`] for each stanza handed back). Commands meanwhile
    /// are refused with `NotReady`. Errors no retry can cure (failed
    /// authentication, a certificate, `conflict`...) and
    /// [`Policy::max_attempts`] still end in an error.
    ///
    /// Without [`Client::enable_stream_management`] each reconnection is a
    /// fresh session. The server's `location` (XEP-0198 §5) is dialled
    /// first when it names one, then the addresses of the first connection.
    ///
    /// ```no_run
    /// use picoxmpp::client::{Config, Event, SmConfig};
    /// use picoxmpp::jid::Jid;
    /// use picoxmpp_std::reconnect::Policy;
    /// use picoxmpp_std::{Connection, TlsSettings};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The unacked queue bounds what may be in flight (XEP-0198).
    /// let (mut rx, mut tx, mut queue) = (vec![0u8; 16 * 1024], vec![0u8; 4 * 1024], vec![0u8; 8 * 1024]);
    /// let config = Config::new(Jid::parse("sensor@example.com")?, "secret");
    /// let mut conn = Connection::connect(("example.com", 5222), &mut rx, &mut tx, config, &TlsSettings::new())?;
    /// conn.client().enable_stream_management(&mut queue, SmConfig::default());
    /// conn.reconnect_automatically(Policy::default());
    /// while let Some(()) = conn.next_event(|event| match event {
    ///     Event::Resumed { resent, .. } => println!("back, {resent} stanzas sent again"),
    ///     Event::Rebound { unacked, .. } => println!("new session, {unacked} stanzas handed back"),
    ///     Event::Unacked(stanza) => println!("not acknowledged: {}", String::from_utf8_lossy(stanza)),
    ///     _ => {}
    /// })? {}
    /// # Ok(()) }
    /// ```
    pub fn reconnect_automatically(&mut self, policy: Policy) {
        self.reconnect = Some(Reconnecting::new(policy));
    }

    /// How many times the connection was made again.
    pub fn reconnections(&self) -> u32 {
        self.reconnect.as_ref().map_or(0, |r| r.count)
    }

    /// The failure that caused the last reconnection (for a log: the
    /// application saw `Resumed` or `Rebound`, not this error).
    pub fn last_failure(&self) -> Option<&Error> {
        self.reconnect.as_ref()?.last_failure.as_ref()
    }

    // -- driving -----------------------------------------------------------

    /// Runs the session until the core has an event and returns what `f`
    /// made of it, or `None` once the session is over. Blocks as long as
    /// the core waits (its timers, e.g. keepalive, run meanwhile).
    ///
    /// `f` cannot issue commands (the event borrows the client's receive
    /// buffer): copy out what an answer needs, and answer after.
    pub fn next_event<T>(&mut self, f: impl FnOnce(Event<'_>) -> T) -> Result<Option<T>, Error> {
        match self.drive(None, f)? {
            Next::Event(t) => Ok(Some(t)),
            // Without a deadline there is no Timeout.
            Next::Closed | Next::Timeout => Ok(None),
        }
    }

    /// As [`next_event`](Self::next_event), but returns
    /// [`Next::Timeout`] once `deadline` passes without an event: for an
    /// application with timers of its own.
    ///
    /// A deadline already past writes what is queued and returns without
    /// reading, so `next_event_until(Instant::now(), ..)` flushes what
    /// commands queued. An event the core already has still comes first
    /// (the core hands each event out only once): call again until
    /// [`Next::Timeout`].
    pub fn next_event_until<T>(
        &mut self,
        deadline: StdInstant,
        f: impl FnOnce(Event<'_>) -> T,
    ) -> Result<Next<T>, Error> {
        self.drive(Some(deadline), f)
    }

    /// Closes the session politely ([`Client::close`]: unavailable
    /// presence, `</stream:stream>`, and a bounded wait for the server's)
    /// and runs it to the end. Events that arrive meanwhile are dropped.
    /// Between two connections of [`reconnect_automatically`](Self::reconnect_automatically)
    /// there is nothing to close; stanzas the server has not acknowledged
    /// stay in the client ([`Client::unacked`], [`Client::export_resumable`]).
    pub fn close(&mut self) -> Result<(), Error> {
        self.closing = true;
        if self.reconnect.as_ref().is_some_and(|r| r.at.is_some()) {
            // Between connections: nothing to close.
            return Ok(());
        }
        let now = self.now();
        self.client.close(now)?;
        while self.next_event(|_| ())?.is_some() {}
        Ok(())
    }

    /// The adapter loop of the [`Client`] docs.
    fn drive<T>(
        &mut self,
        until: Option<StdInstant>,
        f: impl FnOnce(Event<'_>) -> T,
    ) -> Result<Next<T>, Error> {
        // A failure goes to the reconnection policy, when there is one.
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => {
                        self.on_failure(e.into())?;
                        continue;
                    }
                }
            };
        }
        loop {
            if let Some(at) = self.reconnect.as_ref().and_then(|r| r.at) {
                let wake = until.map_or(at, |u| u.min(at));
                std::thread::sleep(wake.saturating_duration_since(StdInstant::now()));
                if StdInstant::now() < at {
                    return Ok(Next::Timeout);
                }
                attempt!(self.redial());
            }
            let now = self.now();
            match attempt!(self.client.poll(now)) {
                Output::Transmit(unit) => {
                    if let Some(tap) = &mut self.tap {
                        tap(Direction::Sent, unit);
                    }
                    attempt!(self.transport.write_unit(unit))
                }
                Output::StartTls => attempt!(self.start_tls()),
                Output::Event(event) => {
                    if let (
                        Event::Ready { .. } | Event::Resumed { .. } | Event::Rebound { .. },
                        Some(r),
                    ) = (&event, &mut self.reconnect)
                    {
                        r.state.session_ready(StdInstant::now());
                    }
                    return Ok(Next::Event(f(event)));
                }
                Output::Wait(deadline) => {
                    let mut timeout = deadline.map(|d| d.saturating_duration_since(now));
                    if let Some(until) = until {
                        let left = until.saturating_duration_since(StdInstant::now());
                        if left.is_zero() {
                            return Ok(Next::Timeout);
                        }
                        timeout = Some(timeout.map_or(left, |t| t.min(left)));
                    }
                    let buf = self.client.receive_buffer();
                    let n = attempt!(self.transport.read(buf, timeout));
                    if let Some(tap) = &mut self.tap {
                        tap(Direction::Received, &buf[..n]);
                    }
                    // A read that timed out commits 0: the core checks its
                    // timers at the next poll.
                    let now = self.now();
                    self.client.commit(n, now);
                }
                Output::Closed => {
                    self.transport.shutdown();
                    return Ok(Next::Closed);
                }
            }
        }
    }

    /// The connection or the session failed with `e`: `Ok` when a
    /// reconnection is scheduled, the error when there is none to try.
    fn on_failure(&mut self, e: Error) -> Result<(), Error> {
        let Some(r) = self.reconnect.as_mut().filter(|_| !self.closing) else {
            return Err(e);
        };
        r.schedule(e, self.client.see_other_host(), StdInstant::now())?;
        self.transport.shutdown();
        let now = self.now();
        self.client.connection_lost(now);
        Ok(())
    }

    /// Dials again: a `see-other-host` target, the server's resumption
    /// `location`, then the addresses of the first connection.
    fn redial(&mut self) -> Result<(), Error> {
        let Some(r) = self.reconnect.as_mut() else {
            return Ok(());
        };
        let preferred = r.preferred_target(self.client.resume_location(), &self.addrs);
        let mut addrs: Vec<SocketAddr> = preferred
            .and_then(|t| (t.host.as_str(), t.port).to_socket_addrs().ok())
            .into_iter()
            .flatten()
            .collect();
        addrs.extend(self.addrs.iter().copied());
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.negotiation_timeout) {
                Ok(tcp) => {
                    tcp.set_nodelay(true).map_err(Error::Io)?;
                    self.transport = Transport::Tcp(tcp);
                    if let Some(r) = self.reconnect.as_mut() {
                        r.count += 1;
                    }
                    if self.direct_tls {
                        self.start_tls()?;
                    }
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if tls::is_timeout(&e) => Error::Timeout("the TCP connection"),
            Some(e) => Error::Io(e),
            None => crate::error::resolved_to_nothing(),
        })
    }

    /// Runs the TLS handshake on the TCP stream (STARTTLS, RFC 6120
    /// §5.4.3.3: in place, on the same connection; or direct TLS) and
    /// hands the core the channel-binding data. A failed handshake leaves
    /// the connection unusable.
    fn start_tls(&mut self) -> Result<(), Error> {
        let Transport::Tcp(mut tcp) = mem::replace(&mut self.transport, Transport::Failed) else {
            return Err(Error::Io(io::Error::other(
                "TLS asked for on a connection that is not plain TCP",
            )));
        };
        // The core's negotiation deadline bounds the handshake; before the
        // first poll (direct TLS) it has not started, so the same span from
        // now.
        let deadline = match self.client.next_deadline() {
            Some(d) => self.epoch + Duration::from_millis(d.as_millis()),
            None => StdInstant::now() + self.negotiation_timeout,
        };
        let tls = tls::handshake(
            &mut tcp,
            self.tls_config.clone(),
            self.server_name.clone(),
            deadline,
        )?;
        let bindings = ChannelBindings::of(&tls);
        self.client.tls_established(bindings.as_binding());
        self.bindings = Some(bindings);
        self.transport = Transport::Tls {
            tls: Box::new(tls),
            tcp,
        };
        Ok(())
    }
}

/// The byte pipe under the core.
enum Transport {
    /// Plain TCP: before STARTTLS, or with
    /// [`TlsPolicy::InsecureAllowPlaintext`] on a server without it.
    Tcp(TcpStream),
    /// TLS over the same TCP stream.
    Tls {
        tls: Box<ClientConnection>,
        tcp: TcpStream,
    },
    /// A TLS handshake failed, or the connection was shut down.
    Failed,
}

impl Transport {
    /// Writes one unit the core transmits, whole, in one write (or, under
    /// TLS, one flush of its records).
    fn write_unit(&mut self, unit: &[u8]) -> Result<(), Error> {
        match self {
            Transport::Tcp(tcp) => tcp.write_all(unit).map_err(Error::Io),
            Transport::Tls { tls, tcp } => {
                let mut rest = unit;
                while !rest.is_empty() {
                    // rustls takes all of it unless its buffer limit is
                    // reached (a unit over 64 KiB): then it goes in parts.
                    let n = tls.writer().write(rest).map_err(Error::from_io)?;
                    rest = &rest[n..];
                    let mut wrote = false;
                    while tls.wants_write() {
                        wrote |= tls.write_tls(tcp).map_err(Error::from_io)? > 0;
                    }
                    if n == 0 && !wrote {
                        return Err(Error::Io(io::ErrorKind::WriteZero.into()));
                    }
                }
                Ok(())
            }
            Transport::Failed => Err(crate::error::not_connected()),
        }
    }

    /// Reads into `buf` for at most `timeout` (`None`: no limit). 0 when
    /// it timed out; the server closing the connection is an error.
    fn read(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize, Error> {
        if buf.is_empty() {
            // The core never asks this (its parser refuses an element that
            // fills the buffer); a read into nothing would look like EOF.
            return Err(crate::error::receive_buffer_full());
        }
        // A zero timeout is an error for std: a deadline that has just
        // passed reads for a millisecond.
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        let r = match self {
            Transport::Tcp(tcp) => {
                tcp.set_read_timeout(timeout).map_err(Error::Io)?;
                tcp.read(buf)
            }
            Transport::Tls { tls, tcp } => {
                tcp.set_read_timeout(timeout).map_err(Error::Io)?;
                rustls::Stream::new(&mut **tls, tcp).read(buf)
            }
            Transport::Failed => return Err(crate::error::not_connected()),
        };
        match r {
            Ok(0) => Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ))),
            Ok(n) => Ok(n),
            Err(e) if tls::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(Error::from_io(e)),
        }
    }

    /// Ends TLS (`close_notify`) and TCP; errors do not matter any more.
    fn shutdown(&mut self) {
        match mem::replace(self, Transport::Failed) {
            Transport::Tcp(tcp) => {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            Transport::Tls { mut tls, mut tcp } => {
                tls.send_close_notify();
                while tls.wants_write() {
                    if !matches!(tls.write_tls(&mut tcp), Ok(n) if n > 0) {
                        break;
                    }
                }
                let _ = tcp.shutdown(Shutdown::Both);
            }
            Transport::Failed => {}
        }
    }
}
