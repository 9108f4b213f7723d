//! An async connection for tokio (the `tokio` feature): the core
//! [`Client`] driven over tokio's [`TcpStream`], with tokio-rustls when the
//! core asks for TLS.
//!
//! The same loop as the blocking [`Connection`](crate::Connection), with
//! `.await` where that one blocks: units the core transmits go to the
//! socket, bytes from the socket go into the core's receive buffer, a read
//! waits until the core's next deadline at most, and `Output::StartTls`
//! runs the handshake on the same socket. The TLS configuration and the
//! channel-binding data come from [`crate::tls`], as for the blocking
//! connection; every XMPP decision is the core's. With
//! [`AsyncConnection::reconnect_automatically`] it dials again after a
//! failure and the core resumes the session (XEP-0198), as the blocking
//! one does.
//!
//! An echo bot:
//!
//! ```no_run
//! use picoxmpp::client::{Config, Event};
//! use picoxmpp::jid::Jid;
//! use picoxmpp::stanza::MessageType;
//! use picoxmpp_std::{AsyncConnection, TlsSettings};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 4 * 1024]);
//!     let config = Config::new(Jid::parse("juliet@example.com")?, "secret");
//!     let tls = TlsSettings::new(); // Mozilla's roots, STARTTLS
//!     let mut conn =
//!         AsyncConnection::connect(("example.com", 5222), &mut rx, &mut tx, config, &tls).await?;
//!     // An event borrows the receive buffer: copy out what the answer needs.
//!     while let Some(echo) = conn
//!         .next_event(|event| match event {
//!             Event::Message(m) => Some((m.from()?.to_string(), m.body()?.to_string())),
//!             _ => None,
//!         })
//!         .await?
//!     {
//!         if let Some((from, body)) = echo {
//!             conn.client().send_message(Jid::parse(&from)?, MessageType::Chat, &body)?;
//!         }
//!     }
//!     Ok(())
//! }
//! ```

use crate::connection::{Direction, Next};
use crate::error::Error;
use crate::reconnect::{Policy, Reconnecting};
use crate::tls::{ChannelBindings, TlsSettings};
use picoxmpp::client::{Client, Config, Event, Output, TlsPolicy};
use picoxmpp::time::Instant;
use rand_core::OsRng;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::time::Instant as TokioInstant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The observer of [`AsyncConnection::set_tap`].
type Tap<'a> = Box<dyn FnMut(Direction, &[u8]) + Send + 'a>;

/// One XMPP session over TCP (and TLS), driven by `async` calls on a tokio
/// runtime (either flavour).
///
/// As the blocking [`Connection`](crate::Connection): it works in the
/// caller's buffers `rx` and `tx` and borrows them, and the [`Config`],
/// for `'a`. Events come out of [`next_event`](Self::next_event), which
/// hands each one to a closure because an [`Event`] borrows the receive
/// buffer; commands go through [`client`](Self::client) between events,
/// and what they queue is written by the next `next_event*` call.
///
/// Each unit the core transmits is written with one `write_all` (under
/// TLS, followed by one flush of its records), with `TCP_NODELAY` set:
/// Prosody and ejabberd stall when a stream header arrives in many small
/// writes.
///
/// Time is the core's [`Instant`]: milliseconds since the connection was
/// created, on tokio's clock ([`tokio::time::Instant`]), so a runtime
/// with paused time drives the core's timers too.
///
/// Cancelling: a `next_event*` future dropped while it waits for the
/// server loses nothing (tokio's and tokio-rustls' reads are cancel-safe),
/// so `tokio::select!` over it is fine; one dropped while it writes a unit
/// or runs the TLS handshake would leave half of it on the wire, so the
/// connection is shut down then and every later call fails.
/// [`next_event_until`](Self::next_event_until) waits with a deadline
/// without cancelling anything.
pub struct AsyncConnection<'a> {
    client: Client<'a, 'a, OsRng>,
    transport: Transport,
    tls_config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    bindings: Option<ChannelBindings>,
    negotiation_timeout: Duration,
    epoch: TokioInstant,
    tap: Option<Tap<'a>>,
    /// Where the connection went, to dial again.
    addrs: Vec<SocketAddr>,
    direct_tls: bool,
    reconnect: Option<Reconnecting>,
    /// [`close`](Self::close) was called: no reconnecting any more.
    closing: bool,
}

impl<'a> AsyncConnection<'a> {
    /// Connects to `addr` (each of its addresses in turn, each within
    /// [`Config::negotiation_timeout`]), then as [`new`](Self::new).
    pub async fn connect(
        addr: impl ToSocketAddrs,
        rx: &'a mut [u8],
        tx: &'a mut [u8],
        config: Config<'a>,
        tls: &TlsSettings,
    ) -> Result<Self, Error> {
        let mut last = None;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
            .await
            .map_err(Error::Io)?
            .collect();
        for (i, addr) in addrs.iter().enumerate() {
            match tokio::time::timeout(config.negotiation_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    let mut conn = Self::new(tcp, rx, tx, config, tls).await?;
                    // Reconnection tries this address first, then the others.
                    conn.addrs = addrs[i..].iter().chain(&addrs[..i]).copied().collect();
                    return Ok(conn);
                }
                Ok(Err(e)) => last = Some(Error::Io(e)),
                Err(_) => last = Some(Error::Timeout("the TCP connection")),
            }
        }
        Err(last.unwrap_or_else(crate::error::resolved_to_nothing))
    }

    /// A session on a connected `tcp`. With direct TLS
    /// ([`TlsSettings::direct_tls`]) the handshake runs here, before the
    /// first poll, and [`Config::tls`] becomes [`TlsPolicy::Direct`];
    /// otherwise TLS starts when the core asks (STARTTLS). The
    /// certificate is checked for the account's domain unless
    /// [`TlsSettings::server_name`] says otherwise.
    pub async fn new(
        tcp: TcpStream,
        rx: &'a mut [u8],
        tx: &'a mut [u8],
        mut config: Config<'a>,
        tls: &TlsSettings,
    ) -> Result<Self, Error> {
        let epoch = TokioInstant::now();
        tcp.set_nodelay(true).map_err(Error::Io)?;
        let (tls_config, server_name) = tls.client_config(config.jid.domain())?;
        if tls.is_direct() {
            config.tls = TlsPolicy::Direct;
        }
        let negotiation_timeout = config.negotiation_timeout;
        let addrs = tcp.peer_addr().into_iter().collect();
        let mut conn = AsyncConnection {
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
            conn.start_tls().await?;
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
            Transport::Tls(tls) => Some(tls.get_ref().1),
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

    /// As [`Connection::reconnect_automatically`](crate::Connection::reconnect_automatically):
    /// after a failure, dial again under `policy` (the waits on tokio's
    /// timer) and let the core resume the session; the application sees
    /// [`Event::Resumed`] or [`Event::Rebound`].
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
    /// made of it, or `None` once the session is over. Waits as long as
    /// the core waits (its timers, e.g. keepalive, run meanwhile).
    ///
    /// `f` cannot issue commands (the event borrows the client's receive
    /// buffer): copy out what an answer needs, and answer after.
    pub async fn next_event<T>(
        &mut self,
        f: impl FnOnce(Event<'_>) -> T,
    ) -> Result<Option<T>, Error> {
        match self.drive(None, f).await? {
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
    pub async fn next_event_until<T>(
        &mut self,
        deadline: TokioInstant,
        f: impl FnOnce(Event<'_>) -> T,
    ) -> Result<Next<T>, Error> {
        self.drive(Some(deadline), f).await
    }

    /// Closes the session politely ([`Client::close`]: unavailable
    /// presence, `</stream:stream>`, and a bounded wait for the server's)
    /// and runs it to the end. Events that arrive meanwhile are dropped.
    /// Between two connections of [`reconnect_automatically`](Self::reconnect_automatically)
    /// there is nothing to close; stanzas the server has not acknowledged
    /// stay in the client ([`Client::unacked`], [`Client::export_resumable`]).
    pub async fn close(&mut self) -> Result<(), Error> {
        self.closing = true;
        if self.reconnect.as_ref().is_some_and(|r| r.at.is_some()) {
            // Between connections: nothing to close.
            return Ok(());
        }
        let now = self.now();
        self.client.close(now)?;
        while self.next_event(|_| ()).await?.is_some() {}
        Ok(())
    }

    /// The adapter loop of the [`Client`] docs.
    async fn drive<T>(
        &mut self,
        until: Option<TokioInstant>,
        f: impl FnOnce(Event<'_>) -> T,
    ) -> Result<Next<T>, Error> {
        // A failure goes to the reconnection policy, when there is one.
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => {
                        self.on_failure(e.into()).await?;
                        continue;
                    }
                }
            };
        }
        loop {
            if let Some(at) = self.reconnect.as_ref().and_then(|r| r.at) {
                let at = TokioInstant::from_std(at);
                tokio::time::sleep_until(until.map_or(at, |u| u.min(at))).await;
                if TokioInstant::now() < at {
                    return Ok(Next::Timeout);
                }
                attempt!(self.redial().await);
            }
            let now = self.now();
            match attempt!(self.client.poll(now)) {
                Output::Transmit(unit) => {
                    if let Some(tap) = &mut self.tap {
                        tap(Direction::Sent, unit);
                    }
                    // The core counts the unit as sent at the next poll: a
                    // unit cut short (an error, or this future dropped
                    // mid-write) must not be followed by the next, so the
                    // transport is out of place until the unit is whole.
                    let mut transport = mem::replace(&mut self.transport, Transport::Failed);
                    attempt!(transport.write_unit(unit).await);
                    self.transport = transport;
                }
                Output::StartTls => attempt!(self.start_tls().await),
                Output::Event(event) => {
                    if let (
                        Event::Ready { .. } | Event::Resumed { .. } | Event::Rebound { .. },
                        Some(r),
                    ) = (&event, &mut self.reconnect)
                    {
                        r.state.session_ready(std::time::Instant::now());
                    }
                    return Ok(Next::Event(f(event)));
                }
                Output::Wait(deadline) => {
                    let mut wake = deadline.map(|d| self.at(d));
                    if let Some(until) = until {
                        if until <= TokioInstant::now() {
                            return Ok(Next::Timeout);
                        }
                        wake = Some(wake.map_or(until, |w| w.min(until)));
                    }
                    let buf = self.client.receive_buffer();
                    let n = attempt!(self.transport.read(buf, wake).await);
                    if let Some(tap) = &mut self.tap {
                        tap(Direction::Received, &buf[..n]);
                    }
                    // A read that timed out commits 0: the core checks its
                    // timers at the next poll.
                    let now = self.now();
                    self.client.commit(n, now);
                }
                Output::Closed => {
                    self.transport.shutdown().await;
                    return Ok(Next::Closed);
                }
            }
        }
    }

    /// The connection or the session failed with `e`: `Ok` when a
    /// reconnection is scheduled, the error when there is none to try.
    async fn on_failure(&mut self, e: Error) -> Result<(), Error> {
        let Some(r) = self.reconnect.as_mut().filter(|_| !self.closing) else {
            return Err(e);
        };
        r.schedule(e, self.client.see_other_host(), std::time::Instant::now())?;
        self.transport.shutdown().await;
        let now = self.now();
        self.client.connection_lost(now);
        Ok(())
    }

    /// Dials again: a `see-other-host` target, the server's resumption
    /// `location`, then the addresses of the first connection.
    async fn redial(&mut self) -> Result<(), Error> {
        let Some(r) = self.reconnect.as_mut() else {
            return Ok(());
        };
        let mut addrs: Vec<SocketAddr> = Vec::new();
        if let Some(t) = r.preferred_target(self.client.resume_location(), &self.addrs) {
            if let Ok(found) = tokio::net::lookup_host((t.host.as_str(), t.port)).await {
                addrs.extend(found);
            }
        }
        addrs.extend(self.addrs.iter().copied());
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.negotiation_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    tcp.set_nodelay(true).map_err(Error::Io)?;
                    self.transport = Transport::Tcp(tcp);
                    if let Some(r) = self.reconnect.as_mut() {
                        r.count += 1;
                    }
                    if self.direct_tls {
                        self.start_tls().await?;
                    }
                    return Ok(());
                }
                Ok(Err(e)) => last = Some(Error::Io(e)),
                Err(_) => last = Some(Error::Timeout("the TCP connection")),
            }
        }
        Err(last.unwrap_or_else(crate::error::resolved_to_nothing))
    }

    /// A core instant on tokio's clock.
    fn at(&self, t: Instant) -> TokioInstant {
        self.epoch + Duration::from_millis(t.as_millis())
    }

    /// Runs the TLS handshake on the TCP stream (STARTTLS, RFC 6120
    /// §5.4.3.3: in place, on the same connection; or direct TLS) and
    /// hands the core the channel-binding data. A failed handshake leaves
    /// the connection unusable.
    async fn start_tls(&mut self) -> Result<(), Error> {
        let Transport::Tcp(tcp) = mem::replace(&mut self.transport, Transport::Failed) else {
            return Err(Error::Io(io::Error::other(
                "TLS asked for on a connection that is not plain TCP",
            )));
        };
        // The core's negotiation deadline bounds the handshake; before the
        // first poll (direct TLS) it has not started, so the same span from
        // now.
        let deadline = match self.client.next_deadline() {
            Some(d) => self.at(d),
            None => TokioInstant::now() + self.negotiation_timeout,
        };
        let connector = TlsConnector::from(self.tls_config.clone());
        let handshake = connector.connect(self.server_name.clone(), tcp);
        let tls = match tokio::time::timeout_at(deadline, handshake).await {
            Ok(Ok(tls)) => tls,
            // rustls' errors come wrapped in an io::Error.
            Ok(Err(e)) => return Err(Error::from_io(e)),
            Err(_) => return Err(Error::Timeout("the TLS handshake")),
        };
        let bindings = ChannelBindings::of(tls.get_ref().1);
        self.client.tls_established(bindings.as_binding());
        self.bindings = Some(bindings);
        self.transport = Transport::Tls(Box::new(tls));
        Ok(())
    }
}

/// The byte pipe under the core.
enum Transport {
    /// Plain TCP: before STARTTLS, or with
    /// [`TlsPolicy::InsecureAllowPlaintext`] on a server without it.
    Tcp(TcpStream),
    /// TLS over the same TCP stream.
    Tls(Box<TlsStream<TcpStream>>),
    /// A TLS handshake or a write failed (or was cancelled), or the
    /// connection was shut down.
    Failed,
}

impl Transport {
    /// Writes one unit the core transmits, whole: one `write_all` (under
    /// TLS, rustls takes it whole unless it is over its 64 KiB buffer
    /// limit, and its records go out together), then a flush.
    async fn write_unit(&mut self, unit: &[u8]) -> Result<(), Error> {
        match self {
            Transport::Tcp(tcp) => tcp.write_all(unit).await.map_err(Error::Io),
            Transport::Tls(tls) => {
                tls.write_all(unit).await.map_err(Error::from_io)?;
                tls.flush().await.map_err(Error::from_io)
            }
            Transport::Failed => Err(crate::error::not_connected()),
        }
    }

    /// Reads into `buf` until `deadline` at most (`None`: no limit). 0
    /// when it timed out; the server closing the connection is an error.
    async fn read(
        &mut self,
        buf: &mut [u8],
        deadline: Option<TokioInstant>,
    ) -> Result<usize, Error> {
        if buf.is_empty() {
            // The core never asks this (its parser refuses an element that
            // fills the buffer); a read into nothing would look like EOF.
            return Err(crate::error::receive_buffer_full());
        }
        let stream: &mut (dyn AsyncRead + Unpin + Send) = match self {
            Transport::Tcp(tcp) => tcp,
            Transport::Tls(tls) => &mut **tls,
            Transport::Failed => return Err(crate::error::not_connected()),
        };
        let read = stream.read(buf);
        let r = match deadline {
            // A deadline already past still takes what has arrived.
            Some(deadline) => match tokio::time::timeout_at(deadline, read).await {
                Ok(r) => r,
                Err(_) => return Ok(0),
            },
            None => read.await,
        };
        match r {
            Ok(0) => Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ))),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(Error::from_io(e)),
        }
    }

    /// Ends TLS (`close_notify`) and TCP; errors do not matter any more.
    async fn shutdown(&mut self) {
        match mem::replace(self, Transport::Failed) {
            Transport::Tcp(mut tcp) => {
                let _ = tcp.shutdown().await;
            }
            // close_notify, then the TCP write half.
            Transport::Tls(mut tls) => {
                let _ = tls.shutdown().await;
            }
            Transport::Failed => {}
        }
    }
}
