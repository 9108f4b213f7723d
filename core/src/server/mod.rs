//! The receiving side of a client-to-server session (RFC 6120): a sans-IO
//! state machine that answers a client's stream, negotiates STARTTLS, SASL
//! and resource binding, then hands the client's stanzas up for routing,
//! stamped with its full JID.
//!
//! Same shape as [`client`](crate::client): the adapter owns the socket,
//! the TLS library, the clock, the RNG and the account store (through
//! [`Accounts`]); the [`Server`] owns its state and works in the caller's
//! buffers. Negotiation lives in `negotiation.rs`, top to bottom in RFC
//! order; what happens once the session is bound lives in `session.rs`;
//! stream management (XEP-0198: acknowledgements and resumption) in
//! `sm.rs`.
//!
//! One [`Server`] is one client connection; routing between connections
//! is the adapter's job: it gets each stanza as [`Event::Stanza`], writes
//! it with [`Inbound::write_stamped`], and hands the bytes to the
//! recipient's [`Server::deliver`].

mod negotiation;
mod session;
mod sm;

pub use session::Inbound;
pub use sm::{Detached, SmCounters, MAX_RESUMPTION_ID_LEN};

use crate::client::tx::{QueueError, TxQueue};
use crate::error::StreamErrorCondition;
use crate::jid::{Jid, JidBuf};
use crate::sasl::scram::HashFunction;
use crate::sasl::scram_server::{ScramServer, StoredKeys, MAX_USERNAME_LEN};
use crate::sasl::{Mechanism, SaslFailure};
use crate::stanza::ErrorCondition;
use crate::time::Instant;
use crate::xml::{StreamParser, WriteError, Writer};
use core::fmt;
use core::time::Duration;
use heapless::{Deque, String};

/// Longest full JID the server binds (RFC 6120 §7.6.1 allows 3071 bytes;
/// accounts and resources here are short).
pub const MAX_BOUND_JID_LEN: usize = 192;

/// How the stream is protected (RFC 6120 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TlsMode {
    /// STARTTLS offered as mandatory-to-negotiate (RFC 6120 §5.3.1):
    /// nothing else is offered until it is done.
    Required,
    /// STARTTLS offered alongside SASL; a client may go on in plaintext.
    Optional,
    /// The adapter accepted the connection with TLS already (XEP-0368) and
    /// calls [`Server::tls_established`] before the first poll.
    Direct,
    /// No TLS at all: only for tests and closed networks.
    Off,
}

/// The configuration of a session.
#[derive(Debug, Clone)]
pub struct Config<'c> {
    /// The domain this server serves: the only `to` a stream may name.
    pub domain: &'c str,
    /// Transport security.
    pub tls: TlsMode,
    /// The SASL mechanisms offered, in preference order. Supported:
    /// SCRAM-SHA-1, -256, -512, their -PLUS (with `tls-exporter`, once
    /// the adapter gives [`Server::tls_exporter`]) and PLAIN; others are
    /// skipped.
    pub mechanisms: &'c [Mechanism],
    /// Whether PLAIN may be offered on a stream without TLS (never by
    /// default: it sends the password in the clear).
    pub allow_plain_without_tls: bool,
    /// Whether to offer the legacy session establishment of RFC 3921 §3 as
    /// optional (RFC 6121 Appendix E), for old clients that ask for it.
    pub legacy_session: bool,
    /// How many failed SASL attempts a stream may make before it is closed
    /// (RFC 6120 §6.4.5: a configurable number, between 2 and 5).
    pub max_auth_failures: u8,
    /// Whether to offer stream management (XEP-0198) after binding.
    pub stream_management: bool,
    /// Offer resumption (XEP-0198 §5) for this long (`max`, in whole
    /// seconds) after a connection drops: the adapter keeps the detached
    /// session's state and answers [`Accounts::resume`]. `None`: no
    /// resumption (`<resume/>` fails with `item-not-found`).
    pub resumption: Option<Duration>,
    /// `xml:lang` of the stream (RFC 6120 §4.7.4).
    pub lang: &'c str,
    /// How long the whole negotiation may take, from the first poll to
    /// bound.
    pub negotiation_timeout: Duration,
    /// How long to wait for the client's `</stream:stream>` after ours.
    pub close_timeout: Duration,
    /// How long a bound session may stay silent (not a byte, not even a
    /// whitespace keepalive) before it ends with `connection-timeout`
    /// (RFC 6120 §4.9.3.4, §4.6.4); `None`: forever.
    pub idle_timeout: Option<Duration>,
}

impl<'c> Config<'c> {
    /// Defaults for `domain`: STARTTLS required, SCRAM-SHA-256 and
    /// SCRAM-SHA-1 (with -PLUS when channel binding is there) and PLAIN
    /// (over TLS), 3 failed attempts, stream management offered,
    /// 30 s negotiation, 5 s close.
    pub fn new(domain: &'c str) -> Self {
        Config {
            domain,
            tls: TlsMode::Required,
            mechanisms: &DEFAULT_MECHANISMS,
            allow_plain_without_tls: false,
            legacy_session: false,
            max_auth_failures: 3,
            stream_management: true,
            resumption: None,
            lang: "en",
            negotiation_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            idle_timeout: None,
        }
    }
}

/// What [`Config::new`] offers: SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS
/// (once the adapter gives [`Server::tls_exporter`]), SCRAM-SHA-256 (when
/// built in), SCRAM-SHA-1, PLAIN.
pub const DEFAULT_MECHANISMS: [Mechanism; 5] = [
    Mechanism::ScramSha256Plus,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1,
    Mechanism::Plain,
];

/// What the adapter decides when a client binds a resource already in use
/// (RFC 6120 §7.7.2.2 lets the server choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BindPolicy {
    /// Bind it. If another session had it, the adapter ends that one
    /// (with [`Server::close_with_error`] and `conflict`).
    Accept,
    /// Refuse with the `conflict` stanza error.
    Conflict,
    /// Bind another resource the server makes up instead.
    AssignOther,
}

/// The account store, as the server sees it.
pub trait Accounts {
    /// The SCRAM keys of `username` for `hash`, or `None` when there is no
    /// such account (or no keys for that hash). PLAIN is verified with
    /// any of the account's keys.
    fn scram_keys(&mut self, username: &str, hash: HashFunction) -> Option<StoredKeys>;

    /// Whether `jid` (a full JID of an authenticated account) may be
    /// bound. The adapter may record the binding here; the session reports
    /// it with [`Event::Bound`].
    fn bind(&mut self, jid: Jid<'_>) -> BindPolicy {
        let _ = jid;
        BindPolicy::Accept
    }

    /// XEP-0198 §5: a client authenticated as `username` asks to resume
    /// the session it knew as `previd` (what
    /// [`Server::resumption_id`] said). Answer with that session's state
    /// when `previd` names a detached session of this very account, still
    /// within its time; `None` otherwise (`item-not-found`). Keep the
    /// state until [`Event::Resumed`]: a resumption can still fail (a
    /// client `h` larger than what was sent).
    fn resume(&mut self, username: &str, previd: &str) -> Option<Detached> {
        let _ = (username, previd);
        None
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerError {
    /// The session is not bound yet.
    NotReady,
    /// The session is closed or closing.
    Closed,
    /// The transmit buffer has no room for this now: drain it (poll) and
    /// retry.
    TransmitBufferFull {
        /// Size of the unit.
        needed: usize,
    },
    /// The unit is larger than the transmit buffer can ever hold.
    TooLarge {
        /// The unit's size.
        size: usize,
        /// The buffer's size.
        limit: usize,
    },
    /// Nothing to answer, or a value XML cannot carry.
    InvalidInput(&'static str),
}

impl ServerError {
    /// Whether retrying after draining the transmit buffer can help.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, ServerError::TransmitBufferFull { .. })
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::NotReady => f.write_str("the session is not bound yet"),
            ServerError::Closed => f.write_str("the session is closed"),
            ServerError::TransmitBufferFull { needed } => {
                write!(f, "the transmit buffer is full ({needed} bytes needed)")
            }
            ServerError::TooLarge { size, limit } => {
                write!(f, "{size} bytes exceed the transmit buffer of {limit}")
            }
            ServerError::InvalidInput(what) => write!(f, "invalid input: {what}"),
        }
    }
}

impl core::error::Error for ServerError {}

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseReason {
    /// Both streams were closed with `</stream:stream>` (RFC 6120 §4.4),
    /// or the client did not answer ours in time.
    Polite,
    /// This side sent a stream error (RFC 6120 §4.9): the client's input
    /// broke the rules, or the adapter asked.
    ErrorSent(StreamErrorCondition),
    /// The client sent a stream error.
    ErrorReceived(StreamErrorCondition),
}

/// What the adapter must do next.
#[derive(Debug)]
pub enum Output<'a> {
    /// Write these bytes, all of them, then poll again: one whole unit.
    Transmit(&'a [u8]),
    /// `<proceed/>` is out: run the server side of the TLS handshake now,
    /// then call [`Server::tls_established`].
    StartTls,
    /// Something happened.
    Event(Event<'a>),
    /// Nothing to do until bytes arrive or this instant passes.
    Wait(Option<Instant>),
    /// The session is over; drop the connection.
    Closed,
}

/// Something that happened in the session.
#[derive(Debug)]
pub enum Event<'a> {
    /// SASL succeeded for this account (RFC 6120 §6.4.6).
    Authenticated {
        /// The account's username (the JID's localpart).
        username: &'a str,
        /// The mechanism used.
        mechanism: Mechanism,
    },
    /// A SASL attempt failed with this condition (RFC 6120 §6.5);
    /// `failures` counts the attempts of this stream so far, for the
    /// adapter to throttle.
    AuthFailed {
        /// What was sent in `<failure/>`.
        condition: SaslFailure,
        /// Failed attempts on this stream.
        failures: u8,
    },
    /// A resource was bound (RFC 6120 §7.6.1): stanzas flow from now on.
    Bound {
        /// The full JID.
        jid: Jid<'a>,
    },
    /// A detached session was resumed on this connection (XEP-0198 §5):
    /// `<resumed/>` is out. The adapter now delivers again, oldest first,
    /// the last `resend` stanzas it had delivered to the detached session
    /// (those the client says it did not handle), before anything new;
    /// the detached state is no longer needed.
    Resumed {
        /// The session's full JID, as before.
        jid: Jid<'a>,
        /// How many stanzas go out again.
        resend: u32,
    },
    /// A stanza from the client, to route or answer.
    Stanza(Inbound<'a>),
    /// The session is over.
    Closed(CloseReason),
}

/// Events that borrow nothing but the session's own fields.
#[derive(Debug, Clone, Copy)]
enum Queued {
    Authenticated(Mechanism),
    AuthFailed(SaslFailure),
    Bound,
    Resumed(u32),
    Closed(CloseReason),
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the client's stream header (first, or after a restart).
    AwaitHeader,
    /// Features sent; waiting for `<starttls/>`, `<auth/>` or the bind iq.
    Negotiating,
    /// A SASL exchange is under way (RFC 6120 §6.4).
    Sasl,
    /// `<proceed/>` queued: the adapter must run TLS.
    StartTls,
    /// Waiting for the adapter's TLS handshake.
    AwaitTls,
    /// Bound: stanzas flow.
    Ready,
    /// Our `</stream:stream>` sent; waiting for the client's.
    Closing,
    /// Over (the last units may still be going out).
    Closed,
}

/// The SASL exchange in progress.
#[derive(Debug)]
// Kept inline on purpose: there is no allocator to box the SCRAM state.
#[allow(clippy::large_enum_variant)]
enum Sasl {
    None,
    /// `<auth/>` came without an initial response: an empty challenge was
    /// sent, the response is the initial one (RFC 6120 §6.4.2).
    AwaitInitial(Mechanism),
    Scram(Mechanism, ScramServer),
}

/// One client connection, receiving side (see the [module docs](self)).
///
/// Methods, as on [`Client`](crate::client::Client): getters; inputs
/// ([`receive_buffer`](Self::receive_buffer) + [`commit`](Self::commit),
/// [`tls_established`](Self::tls_established)); commands
/// ([`deliver`](Self::deliver), [`send`](Self::send),
/// [`bounce`](Self::bounce), [`close`](Self::close)); and
/// [`poll`](Self::poll), to call after each until it says to wait:
///
/// ```no_run
/// use picoxmpp::server::{Accounts, Config, Output, Server};
/// use picoxmpp::time::Instant;
/// use std::io::{Read, Write};
/// # struct Rng;
/// # impl rand_core::RngCore for Rng {
/// #     fn next_u32(&mut self) -> u32 { 4 }
/// #     fn next_u64(&mut self) -> u64 { 4 }
/// #     fn fill_bytes(&mut self, d: &mut [u8]) { d.fill(4) }
/// #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { d.fill(4); Ok(()) }
/// # }
/// # impl rand_core::CryptoRng for Rng {}
/// # struct Store;
/// # impl Accounts for Store {
/// #     fn scram_keys(&mut self, _: &str, _: picoxmpp::sasl::scram::HashFunction)
/// #         -> Option<picoxmpp::sasl::scram_server::StoredKeys> { None }
/// # }
/// # fn now() -> Instant { Instant::ZERO }
/// # fn main() -> std::io::Result<()> {
/// let (mut rx, mut tx) = ([0u8; 4096], [0u8; 4096]);
/// let mut server = Server::new(Config::new("example.com"), &mut rx, &mut tx, Rng, Store);
/// let (mut socket, _) = std::net::TcpListener::bind("127.0.0.1:5222")?.accept()?;
/// loop {
///     match server.poll(now()) {
///         Output::Transmit(unit) => socket.write_all(unit)?,
///         Output::StartTls => todo!("TLS handshake, then server.tls_established()"),
///         Output::Event(event) => println!("{event:?}"), // route stanzas here
///         Output::Wait(_deadline) => {
///             let n = socket.read(server.receive_buffer())?;
///             server.commit(n, now());
///         }
///         Output::Closed => break,
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Server<'b, 'c, R, A> {
    config: Config<'c>,
    rng: R,
    accounts: A,
    parser: StreamParser<'b>,
    tx: TxQueue<'b>,
    state: State,
    tls: bool,
    /// Our header for the current stream is out.
    header_sent: bool,
    stream_id: String<16>,
    sasl: Sasl,
    /// `tls-exporter` channel-binding data (RFC 9266), from the adapter.
    cb_exporter: heapless::Vec<u8, { crate::sasl::scram_server::MAX_BINDING_LEN }>,
    username: String<MAX_USERNAME_LEN>,
    authenticated: bool,
    auth_failures: u8,
    bound: Option<JidBuf<MAX_BOUND_JID_LEN>>,
    /// XEP-0198 counters, once the client enabled stream management.
    sm: Option<SmCounters>,
    /// The resumption id (XEP-0198 §5), empty when not resumable.
    sm_id: String<MAX_RESUMPTION_ID_LEN>,
    started: Option<Instant>,
    /// When the last bytes arrived.
    last_rx: Option<Instant>,
    close_deadline: Option<Instant>,
    queued: Deque<Queued, 4>,
    /// The input after the current element is no longer read: the session
    /// failed or the client closed.
    done_reading: bool,
}

impl<'b, 'c, R, A> Server<'b, 'c, R, A>
where
    R: rand_core::RngCore + rand_core::CryptoRng,
    A: Accounts,
{
    /// A session for `config`, working in `rx` (its size bounds the largest
    /// stanza accepted; larger ones get `policy-violation`) and `tx`,
    /// drawing stream ids, nonces and resources from `rng` and credentials
    /// from `accounts`.
    pub fn new(
        config: Config<'c>,
        rx: &'b mut [u8],
        tx: &'b mut [u8],
        rng: R,
        accounts: A,
    ) -> Self {
        Server {
            config,
            rng,
            accounts,
            parser: StreamParser::new(rx),
            tx: TxQueue::new(tx),
            state: State::AwaitHeader,
            tls: false,
            header_sent: false,
            stream_id: String::new(),
            sasl: Sasl::None,
            cb_exporter: heapless::Vec::new(),
            username: String::new(),
            authenticated: false,
            auth_failures: 0,
            bound: None,
            sm: None,
            sm_id: String::new(),
            started: None,
            last_rx: None,
            close_deadline: None,
            queued: Deque::new(),
            done_reading: false,
        }
    }

    // -- getters ---------------------------------------------------------

    /// The bound full JID, once bound.
    pub fn jid(&self) -> Option<Jid<'_>> {
        self.bound.as_ref().map(|j| j.as_jid())
    }

    /// The authenticated username, once authenticated.
    pub fn username(&self) -> Option<&str> {
        self.authenticated.then_some(self.username.as_str())
    }

    /// Whether stanzas flow.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Whether the stream is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Failed SASL attempts on this connection, for throttling.
    pub fn auth_failures(&self) -> u8 {
        self.auth_failures
    }

    /// The XEP-0198 counters, once the client enabled stream management.
    pub fn stream_management(&self) -> Option<SmCounters> {
        self.sm
    }

    /// The resumption id of the session (XEP-0198 §5), once enabled with
    /// resumption or resumed: the key under which the adapter keeps the
    /// session when its connection drops.
    pub fn resumption_id(&self) -> Option<&str> {
        (!self.sm_id.is_empty()).then_some(self.sm_id.as_str())
    }

    /// The id of the current stream (RFC 6120 §4.7.3).
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// The account store.
    pub fn accounts(&mut self) -> &mut A {
        &mut self.accounts
    }

    // -- input -------------------------------------------------------------

    /// The free part of the receive buffer: read bytes into it, then call
    /// [`commit`](Self::commit).
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        self.parser.receive_buffer()
    }

    /// `n` bytes were read into [`receive_buffer`](Self::receive_buffer);
    /// 0 means nothing arrived (timers are checked at the next poll).
    pub fn commit(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.parser.commit(n);
            self.last_rx = Some(now);
        }
    }

    /// Copies as much of `data` as fits into the receive buffer and
    /// commits it; returns how many bytes were taken.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> usize {
        let n = self.parser.feed(data);
        if n > 0 {
            self.last_rx = Some(now);
        }
        n
    }

    /// The adapter finished the TLS handshake (after [`Output::StartTls`],
    /// or before the first poll with [`TlsMode::Direct`]).
    pub fn tls_established(&mut self) {
        self.tls = true;
        if self.state == State::AwaitTls {
            // Bytes taken before the handshake finished came in the clear
            // after `<proceed/>`: injected ahead of TLS (RFC 6120
            // §5.4.3.3), never part of the protected stream.
            let injected = self.parser.buffered() > 0;
            // RFC 6120 §5.4.3.3: a fresh stream over the TLS layer.
            self.parser.restart();
            self.header_sent = false;
            self.state = State::AwaitHeader;
            if injected {
                self.stream_error(StreamErrorCondition::PolicyViolation);
            }
        }
    }

    /// The `tls-exporter` channel-binding data of the TLS connection (RFC
    /// 9266: 32 bytes exported with label "EXPORTER-Channel-Binding" and no
    /// context, TLS 1.3 only), given after
    /// [`tls_established`](Self::tls_established): the -PLUS mechanisms of
    /// [`Config::mechanisms`] are offered from then on, and XEP-0440 says
    /// which type. Longer than 64 bytes: ignored.
    pub fn tls_exporter(&mut self, data: &[u8]) {
        self.cb_exporter = heapless::Vec::from_slice(data).unwrap_or_default();
    }

    // -- commands ------------------------------------------------------------

    /// Queues a stanza routed to this client, already serialized (e.g. by
    /// [`Inbound::write_stamped`] on the sender's session): one whole
    /// element in `jabber:client`.
    pub fn deliver(&mut self, stanza: &[u8]) -> Result<(), ServerError> {
        self.ready()?;
        self.queue(|b| match b.get_mut(..stanza.len()) {
            Some(dst) => {
                dst.copy_from_slice(stanza);
                Ok(stanza.len())
            }
            None => Err(crate::error::BufferTooSmall {
                needed: stanza.len(),
            }
            .into()),
        })?;
        self.sm_sent();
        Ok(())
    }

    /// Queues a stanza the caller writes (a roster result, a presence
    /// probe answer...).
    pub fn send(
        &mut self,
        write: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
    ) -> Result<(), ServerError> {
        self.ready()?;
        self.queue(|b| {
            let mut w = Writer::new(b);
            write(&mut w)?;
            w.finish()
        })?;
        self.sm_sent();
        Ok(())
    }

    /// Answers the stanza of the last [`Event::Stanza`] with a stanza error
    /// (RFC 6120 §8.3): e.g. `service-unavailable` for a recipient that is
    /// not there. Valid until the next poll; an error stanza is never
    /// answered (RFC 6120 §8.3.1).
    pub fn bounce(&mut self, condition: ErrorCondition) -> Result<(), ServerError> {
        self.ready()?;
        self.bounce_current(condition)
    }

    /// Ends the session politely: `</stream:stream>`, then waits for the
    /// client's (RFC 6120 §4.4).
    pub fn close(&mut self, now: Instant) {
        if matches!(self.state, State::Closing | State::Closed) {
            return;
        }
        let _ = self.queue(crate::xml::StreamHeaderBuilder::write_close);
        self.state = State::Closing;
        self.close_deadline = Some(now + self.config.close_timeout);
    }

    /// Ends the session with a stream error (RFC 6120 §4.9): `conflict`
    /// when a new session took the resource, `system-shutdown`...
    pub fn close_with_error(&mut self, condition: StreamErrorCondition) {
        if self.state != State::Closed {
            self.stream_error(condition);
        }
    }

    // -- output ------------------------------------------------------------

    /// What to do next: bytes first, then events, then how long to wait.
    pub fn poll(&mut self, now: Instant) -> Output<'_> {
        self.tx.pop_sent();
        loop {
            if !self.tx.is_empty() {
                return Output::Transmit(self.tx.front().unwrap_or_default());
            }
            if let Some(q) = self.queued.pop_front() {
                if matches!(q, Queued::Bound | Queued::Resumed(_)) && self.bound.is_none() {
                    continue;
                }
                return Output::Event(match q {
                    Queued::Authenticated(mechanism) => Event::Authenticated {
                        username: &self.username,
                        mechanism,
                    },
                    Queued::AuthFailed(condition) => Event::AuthFailed {
                        condition,
                        failures: self.auth_failures,
                    },
                    Queued::Bound => match self.bound.as_ref() {
                        Some(j) => Event::Bound { jid: j.as_jid() },
                        None => Event::Closed(CloseReason::Polite),
                    },
                    Queued::Resumed(resend) => match self.bound.as_ref() {
                        Some(j) => Event::Resumed {
                            jid: j.as_jid(),
                            resend,
                        },
                        None => Event::Closed(CloseReason::Polite),
                    },
                    Queued::Closed(reason) => Event::Closed(reason),
                });
            }
            match self.state {
                State::Closed => return Output::Closed,
                State::StartTls => {
                    self.state = State::AwaitTls;
                    return Output::StartTls;
                }
                State::AwaitTls => return Output::Wait(self.negotiation_deadline()),
                _ => {}
            }
            self.started.get_or_insert(now);
            if self.check_timers(now) {
                continue;
            }
            if self.done_reading {
                return Output::Wait(self.next_deadline());
            }
            match self.step(now) {
                Step::Continue => continue,
                Step::Wait => return Output::Wait(self.next_deadline()),
                Step::Stanza => {
                    return match self.inbound() {
                        Some(s) => Output::Event(Event::Stanza(s)),
                        None => Output::Wait(None),
                    }
                }
            }
        }
    }

    /// The next instant at which the session has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.negotiation_deadline(),
            self.close_deadline,
            self.idle_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // -- internals -------------------------------------------------------

    fn ready(&self) -> Result<(), ServerError> {
        match self.state {
            State::Ready => Ok(()),
            State::Closing | State::Closed => Err(ServerError::Closed),
            _ => Err(ServerError::NotReady),
        }
    }

    fn negotiation_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Ready | State::Closing | State::Closed => None,
            _ => self.started.map(|s| s + self.config.negotiation_timeout),
        }
    }

    fn idle_deadline(&self) -> Option<Instant> {
        match (self.state, self.config.idle_timeout, self.last_rx) {
            (State::Ready, Some(idle), Some(t)) => Some(t + idle),
            _ => None,
        }
    }

    /// Runs what is due; `true` when something changed.
    fn check_timers(&mut self, now: Instant) -> bool {
        if self.idle_deadline().is_some_and(|d| now >= d) {
            // RFC 6120 §4.9.3.4: no traffic from the client for too long.
            self.stream_error(StreamErrorCondition::ConnectionTimeout);
            return true;
        }
        if self.negotiation_deadline().is_some_and(|d| now >= d) {
            // RFC 6120 §4.9.3.4: connection-timeout for a peer that took
            // too long.
            self.stream_error(StreamErrorCondition::ConnectionTimeout);
            return true;
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            // RFC 6120 §4.4: no answer to our close in time; over anyway.
            self.close_deadline = None;
            self.finish(CloseReason::Polite);
            return true;
        }
        false
    }

    /// Queues one unit.
    fn queue(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<(), ServerError> {
        let capacity = self.tx.capacity();
        self.tx.push(write).map_err(|e| queue_error(e, capacity))
    }

    /// Queues our stream error and close, sending our header first if the
    /// client never got one (RFC 6120 §4.9.1.2), and ends the session
    /// (RFC 6120 §4.9.1.1: the stream is closed right after the error).
    fn stream_error(&mut self, condition: StreamErrorCondition) {
        if !self.header_sent {
            let _ = self.send_header(None);
        }
        let _ = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("stream:error")?;
            w.start_element(condition.as_str())?;
            w.ns(crate::stream::ns::STREAMS)?;
            w.end_element(condition.as_str())?;
            w.end_element("stream:error")?;
            w.finish()
        });
        let _ = self.queue(crate::xml::StreamHeaderBuilder::write_close);
        self.finish(CloseReason::ErrorSent(condition));
    }

    /// The session is over: nothing more is read.
    fn finish(&mut self, reason: CloseReason) {
        self.done_reading = true;
        self.close_deadline = None;
        self.state = State::Closed;
        let _ = self.queued.push_back(Queued::Closed(reason));
    }

    /// A random string from an unambiguous alphabet, for stream ids and
    /// assigned resources.
    fn random_token<const N: usize>(&mut self, len: usize) -> String<N> {
        const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut s = String::new();
        for _ in 0..len.min(N) {
            let c = ALPHABET[(self.rng.next_u32() % 32) as usize];
            let _ = s.push(char::from(c));
        }
        s
    }
}

/// What one step of input became.
enum Step {
    Continue,
    Wait,
    /// The current element is a stanza to hand up.
    Stanza,
}

fn queue_error(e: QueueError, capacity: usize) -> ServerError {
    match e {
        QueueError::Full { needed } if needed > capacity => ServerError::TooLarge {
            size: needed,
            limit: capacity,
        },
        QueueError::Full { needed } => ServerError::TransmitBufferFull { needed },
        QueueError::Write(_) => ServerError::InvalidInput("a value XML cannot carry"),
    }
}
