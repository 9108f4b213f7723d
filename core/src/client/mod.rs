//! The initiating side of a client-to-server session (RFC 6120, RFC 6121):
//! a sans-IO state machine from stream open to polite close.
//!
//! The adapter owns the socket, the TLS library and the clock; the
//! [`Client`] owns nothing but its state and works in the caller's buffers.
//! The loop an adapter writes is on [`Client`].
//!
//! Negotiation (stream header, STARTTLS, SASL, bind) lives in
//! `negotiation.rs`, top to bottom in RFC order; what happens once the
//! session is ready lives in `session.rs`; stream management (XEP-0198:
//! acks, the unacked queue in the caller's buffer, resumption after
//! [`Client::connection_lost`], the exported state) and client state
//! indication (XEP-0352) in `sm.rs`.

mod footprint;
mod iq;
mod negotiation;
mod phase;
mod session;
mod sm;
pub(crate) mod tx;

pub use iq::{IqId, MAX_ID_LEN, MAX_PENDING_IQS, MAX_TRACKED_JID_LEN};
pub use sm::{
    OnFailedResume, SmConfig, MAX_SM_ID_LEN, RESERVED_FOR_ANSWERS, RESUME_BLOB_VERSION,
    SM_NAMES_LEN,
};

use crate::error::{StreamErrorCondition, XmlError};
use crate::jid::Jid;
use crate::stanza::{ErrorCondition, Iq, Message, Presence, Show, StanzaError};
use crate::time::{Instant, MaybeInstant};
use crate::xml::{Element, Limits, StreamParser, WriteError, Writer};
use core::fmt;
use core::time::Duration;
use iq::{Pending, PendingIqs, Purpose};
use tx::{QueueError, TxQueue};

/// `$f`, an `Option` of a `FnOnce` writer, as the `&mut dyn FnMut` the
/// `_dyn` functions take (so they are compiled once, not once per
/// writer). They call it once; a second call (never made) would write
/// nothing and fail.
macro_rules! once_dyn {
    ($f:ident) => {
        &mut |a| match $f.take() {
            Some(f) => f(a),
            None => Err(WriteError::Unbalanced),
        }
    };
}

/// How deep a stanza the client's parser tracks: the depth of
/// [`Limits::for_buffer`], which the client uses, so no level is reserved
/// that the limits never let it use.
const PARSER_DEPTH: usize = Limits::for_buffer(0).max_depth;

/// Longest bound JID the client keeps (RFC 6120 §7.6.1 allows 3071 bytes;
/// servers assign resources far shorter).
pub const MAX_BOUND_JID_LEN: usize = 192;

/// How the stream is protected (RFC 6120 §5, XEP-0368).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TlsPolicy {
    /// Negotiate STARTTLS, and stop if the server does not offer it: this
    /// is what defends against STARTTLS stripping (RFC 6120 §5.3.1).
    Required,
    /// The adapter opened the connection with TLS already (XEP-0368); no
    /// STARTTLS. The adapter calls [`Client::tls_established`] before the
    /// first poll.
    Direct,
    /// Use STARTTLS when offered, go on in plaintext when not. Only for
    /// tests and closed networks: a network attacker can strip the offer.
    InsecureAllowPlaintext,
}

/// Keeping an idle stream alive and noticing when it died (RFC 6120
/// §4.6.1, XEP-0199 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Keepalive {
    /// Nothing.
    Off,
    /// A single space after `idle` without sending anything.
    Whitespace {
        /// How long without sending before a space goes out.
        idle: Duration,
    },
    /// An XEP-0199 ping to the server after `idle` without receiving
    /// anything; no answer within `timeout` is a dead connection.
    Ping {
        /// How long without receiving before a ping goes out.
        idle: Duration,
        /// How long the answer may take.
        timeout: Duration,
    },
}

/// The identity the client answers XEP-0030 disco#info with.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'c> {
    /// The category, e.g. `client`.
    pub category: &'c str,
    /// The type, e.g. `bot`, `pc`, `phone`.
    pub kind: &'c str,
    /// A human-readable name.
    pub name: &'c str,
}

/// The configuration of a session.
///
/// The client keeps its durations in whole milliseconds, up to about 49.7
/// days; a longer one (such as [`Duration::MAX`]) means never.
#[derive(Debug, Clone)]
pub struct Config<'c> {
    /// The account: `local@domain`, optionally with the resource to ask
    /// for (RFC 6120 §7.6: the server may assign another).
    pub jid: Jid<'c>,
    /// The password, for SCRAM and PLAIN.
    pub password: Option<&'c str>,
    /// A SCRAM salted password cached from an earlier login (see
    /// [`Client::salted_password`]): no PBKDF2 when it still matches what
    /// the server sends, so a microcontroller logs in fast.
    pub scram_cache: Option<&'c crate::sasl::scram::SaltedPassword>,
    /// Transport security.
    pub tls: TlsPolicy,
    /// Whether PLAIN may be used over a stream without TLS (never by
    /// default: it sends the password in the clear).
    pub allow_plain_without_tls: bool,
    /// Whether SASL ANONYMOUS may be used.
    pub anonymous: bool,
    /// Whether SASL EXTERNAL (a client certificate, XEP-0178) may be used.
    pub external: bool,
    /// If set, only these SASL mechanisms may be chosen (still strongest
    /// first, and still under the other rules: PLAIN only over TLS...);
    /// one entry forces it. `None` allows all built in.
    pub mechanisms: Option<&'c [crate::sasl::Mechanism]>,
    /// The highest SCRAM iteration count accepted: a hostile server cannot
    /// make the client burn more CPU than this (RFC 7677 §4 asks at least
    /// 4096; the floor is fixed there).
    pub max_scram_iterations: u32,
    /// `xml:lang` of the stream (RFC 6120 §4.7.4).
    pub lang: &'c str,
    /// How long an iq request may wait for its answer.
    pub iq_timeout: Duration,
    /// How long the whole negotiation may take, from the first byte to
    /// ready.
    pub negotiation_timeout: Duration,
    /// How long to wait for the server's `</stream:stream>` after ours.
    pub close_timeout: Duration,
    /// Keepalive policy once ready.
    pub keepalive: Keepalive,
    /// The disco#info identity (XEP-0030 §3.1). Used with the
    /// `disco-info` feature (default); without it the client answers
    /// disco#info requests `service-unavailable` (RFC 6120 §8.4).
    pub identity: Identity<'c>,
    /// Features to list in disco#info besides the ones the core handles
    /// (with the `disco-info` feature, as [`identity`](Self::identity)).
    pub features: &'c [&'c str],
    /// Namespaces of iq get/set payloads the application answers; requests
    /// in any other namespace are answered `service-unavailable` by the
    /// core (RFC 6120 §8.4).
    pub iq_namespaces: &'c [&'c str],
}

impl<'c> Config<'c> {
    /// Defaults for `jid` with `password`: TLS required, PLAIN only over
    /// TLS, 30 s iq timeout, 60 s negotiation, 5 s close, pings after 60 s
    /// of silence.
    pub fn new(jid: Jid<'c>, password: &'c str) -> Self {
        Config {
            jid,
            password: Some(password),
            scram_cache: None,
            tls: TlsPolicy::Required,
            allow_plain_without_tls: false,
            anonymous: false,
            external: false,
            mechanisms: None,
            max_scram_iterations: 600_000,
            lang: "en",
            iq_timeout: Duration::from_secs(30),
            negotiation_timeout: Duration::from_secs(60),
            close_timeout: Duration::from_secs(5),
            keepalive: Keepalive::Ping {
                idle: Duration::from_secs(60),
                timeout: Duration::from_secs(30),
            },
            identity: Identity {
                category: "client",
                kind: "bot",
                name: "picoxmpp",
            },
            features: &[],
            iq_namespaces: &[],
        }
    }
}

/// A duration of the configuration as the client keeps it: milliseconds
/// in 4 bytes rather than a [`Duration`]'s 16. `u32::MAX` stands for every
/// duration from about 49.7 days up, and gives a deadline at the end of
/// time ([`Duration::MAX`] keeps meaning never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ms(u32);

impl From<Duration> for Ms {
    fn from(d: Duration) -> Ms {
        Ms(u32::try_from(crate::time::whole_millis(d)).unwrap_or(u32::MAX))
    }
}

impl core::ops::Add<Ms> for Instant {
    type Output = Instant;
    fn add(self, d: Ms) -> Instant {
        Instant::from_millis(match d.0 {
            u32::MAX => u64::MAX,
            ms => self.as_millis().saturating_add(u64::from(ms)),
        })
    }
}

/// [`Keepalive`], with its durations as the client keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeptKeepalive {
    Off,
    Whitespace { idle: Ms },
    Ping { idle: Ms, timeout: Ms },
}

/// What the client keeps of its [`Config`] (all of it: a new connection
/// negotiates again): the same fields, the durations in [`Ms`].
#[derive(Debug, Clone)]
struct Settings<'c> {
    jid: Jid<'c>,
    password: Option<&'c str>,
    scram_cache: Option<&'c crate::sasl::scram::SaltedPassword>,
    tls: TlsPolicy,
    allow_plain_without_tls: bool,
    anonymous: bool,
    external: bool,
    mechanisms: Option<&'c [crate::sasl::Mechanism]>,
    max_scram_iterations: u32,
    lang: &'c str,
    iq_timeout: Ms,
    negotiation_timeout: Ms,
    close_timeout: Ms,
    keepalive: KeptKeepalive,
    #[cfg(feature = "disco-info")]
    identity: Identity<'c>,
    #[cfg(feature = "disco-info")]
    features: &'c [&'c str],
    iq_namespaces: &'c [&'c str],
}

impl<'c> From<Config<'c>> for Settings<'c> {
    fn from(c: Config<'c>) -> Self {
        // Destructured whole: a new field of `Config` must be kept here.
        let Config {
            jid,
            password,
            scram_cache,
            tls,
            allow_plain_without_tls,
            anonymous,
            external,
            mechanisms,
            max_scram_iterations,
            lang,
            iq_timeout,
            negotiation_timeout,
            close_timeout,
            keepalive,
            identity,
            features,
            iq_namespaces,
        } = c;
        // Without disco#info answers, nothing reads them.
        #[cfg(not(feature = "disco-info"))]
        let _ = (identity, features);
        Settings {
            jid,
            password,
            scram_cache,
            tls,
            allow_plain_without_tls,
            anonymous,
            external,
            mechanisms,
            max_scram_iterations,
            lang,
            iq_timeout: iq_timeout.into(),
            negotiation_timeout: negotiation_timeout.into(),
            close_timeout: close_timeout.into(),
            keepalive: match keepalive {
                Keepalive::Off => KeptKeepalive::Off,
                Keepalive::Whitespace { idle } => KeptKeepalive::Whitespace { idle: idle.into() },
                Keepalive::Ping { idle, timeout } => KeptKeepalive::Ping {
                    idle: idle.into(),
                    timeout: timeout.into(),
                },
            },
            #[cfg(feature = "disco-info")]
            identity,
            #[cfg(feature = "disco-info")]
            features,
            iq_namespaces,
        }
    }
}

/// Who is at fault for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fault {
    /// The caller used the API wrongly or asked for something impossible.
    Local,
    /// The server (or someone between) sent something refused.
    Remote,
    /// A buffer or table the caller sized is full.
    Resource,
    /// The connection went quiet or away.
    Transport,
}

/// Why the session failed, or why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientError {
    /// The server's XML broke RFC 6120 (the condition was sent back).
    Xml(XmlError),
    /// The server ended the stream with an error (RFC 6120 §4.9). For
    /// `see-other-host`, [`Client::see_other_host`] says where to reconnect
    /// (RFC 6120 §4.9.3.19).
    StreamError(StreamErrorCondition),
    /// TLS is required but the server did not offer STARTTLS.
    TlsNotOffered,
    /// The server answered `<starttls/>` with `<failure/>` (RFC 6120
    /// §5.4.2.2).
    StartTlsFailed,
    /// No SASL mechanism both sides support is acceptable.
    NoAcceptableMechanism,
    /// The server refused authentication (RFC 6120 §6.5).
    AuthenticationFailed(crate::sasl::SaslFailure),
    /// SASL failed on the client side: the server misbehaved.
    Sasl(crate::sasl::SaslError),
    /// Resource binding failed (RFC 6120 §7.6.2).
    BindFailed(ErrorCondition),
    /// The server sent something the negotiation does not allow here.
    Protocol(&'static str),
    /// No answer in time.
    Timeout(&'static str),
    /// The server closed the stream.
    ClosedByServer,
    /// The command needs a ready session.
    NotReady,
    /// The session is closed or closing.
    Closed,
    /// The transmit buffer has no room for this now: drain it (poll) and
    /// retry. `needed` is the unit's size.
    TransmitBufferFull {
        /// Size of the unit.
        needed: usize,
    },
    /// The stanza is larger than the server accepts (XEP-0478) or than the
    /// transmit buffer can ever hold (its size, less each unit's length
    /// and the bound JID kept at its end); or, while binding, the bound
    /// JID has no room in the transmit buffer.
    TooLarge {
        /// The stanza's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many iq requests are outstanding.
    TooManyPendingIqs,
    /// A value cannot be written as XML (a character XML 1.0 forbids) or
    /// an address is not a valid JID.
    InvalidInput(&'static str),
    /// The unacked queue of stream management (XEP-0198) is full: an ack
    /// was requested; poll, and retry once the server acknowledged.
    /// Nothing was queued.
    UnackedQueueFull {
        /// Room the stanza needs.
        needed: usize,
    },
    /// The server acknowledged `h` stanzas, more than the `sent` this
    /// client sent (XEP-0198 §4 `<handled-count-too-high/>`; sent back as
    /// `undefined-condition`).
    HandledCountTooHigh {
        /// The server's count.
        h: u32,
        /// The client's count.
        sent: u32,
    },
    /// A resumable state given to [`Client::import_resumable`] is refused:
    /// damaged, of another version or account, or larger than the queue.
    InvalidResumeState(&'static str),
}

/// Longest host name kept from a `see-other-host` error.
pub const MAX_HOST_LEN: usize = 255;

impl ClientError {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            ClientError::NotReady
            | ClientError::Closed
            | ClientError::InvalidInput(_)
            | ClientError::InvalidResumeState(_) => Fault::Local,
            ClientError::TransmitBufferFull { .. }
            | ClientError::UnackedQueueFull { .. }
            | ClientError::TooLarge { .. }
            | ClientError::TooManyPendingIqs => Fault::Resource,
            ClientError::Timeout(_) | ClientError::ClosedByServer => Fault::Transport,
            _ => Fault::Remote,
        }
    }

    /// Whether the session survives this error (a refused command), as
    /// opposed to being over.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            ClientError::NotReady
                | ClientError::TransmitBufferFull { .. }
                | ClientError::UnackedQueueFull { .. }
                | ClientError::TooLarge { .. }
                | ClientError::TooManyPendingIqs
                | ClientError::InvalidInput(_)
                | ClientError::InvalidResumeState(_)
        )
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Xml(e) => write!(f, "the server sent bad XML: {e}"),
            ClientError::StreamError(condition) => {
                write!(f, "stream error from the server: {condition}")
            }
            ClientError::TlsNotOffered => {
                f.write_str("TLS is required but the server does not offer STARTTLS")
            }
            ClientError::StartTlsFailed => f.write_str("the server refused STARTTLS"),
            ClientError::NoAcceptableMechanism => {
                f.write_str("no acceptable SASL mechanism in common with the server")
            }
            ClientError::AuthenticationFailed(c) => {
                write!(f, "authentication failed: {}", c.as_str())
            }
            ClientError::Sasl(e) => write!(f, "SASL: {e}"),
            ClientError::BindFailed(c) => write!(f, "resource binding failed: {}", c.as_str()),
            ClientError::Protocol(what) => write!(f, "protocol violation by the server: {what}"),
            ClientError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            ClientError::ClosedByServer => f.write_str("the server closed the stream"),
            ClientError::NotReady => f.write_str("the session is not ready yet"),
            ClientError::Closed => f.write_str("the session is closed"),
            ClientError::TransmitBufferFull { needed } => {
                write!(
                    f,
                    "the transmit buffer is full ({needed} bytes needed): poll, then retry"
                )
            }
            ClientError::TooLarge { size, limit } => {
                write!(f, "stanza of {size} bytes exceeds the limit of {limit}")
            }
            ClientError::TooManyPendingIqs => {
                f.write_str("too many iq requests are waiting for answers")
            }
            ClientError::InvalidInput(what) => write!(f, "invalid input: {what}"),
            ClientError::UnackedQueueFull { needed } => write!(
                f,
                "the unacked queue is full ({needed} bytes needed): wait for the server's ack"
            ),
            ClientError::HandledCountTooHigh { h, sent } => write!(
                f,
                "the server acknowledged {h} stanzas but {sent} were sent"
            ),
            ClientError::InvalidResumeState(what) => {
                write!(f, "invalid resumable state: {what}")
            }
        }
    }
}

impl core::error::Error for ClientError {}

/// What the adapter must do next; see the module docs for the loop.
#[derive(Debug)]
pub enum Output<'a> {
    /// Write these bytes, all of them, in one write if possible, then poll
    /// again. It is one whole top-level unit.
    Transmit(&'a [u8]),
    /// Run the TLS handshake on the connection now (the server sent
    /// `<proceed/>`), then call [`Client::tls_established`].
    StartTls,
    /// Something happened.
    Event(Event<'a>),
    /// Nothing to do until bytes arrive or this instant passes: read into
    /// [`Client::receive_buffer`] until then, and [`Client::commit`].
    Wait(Option<Instant>),
    /// The session is over; drop the connection.
    Closed,
}

/// Something that happened in the session. Events that carry stanzas
/// borrow the receive buffer until the next poll.
#[derive(Debug)]
pub enum Event<'a> {
    /// Negotiation is done: the session is bound to `jid` (RFC 6120 §7.6.1:
    /// the resource may not be the one asked for).
    Ready {
        /// The full JID.
        jid: Jid<'a>,
    },
    /// A message.
    Message(Message<'a>),
    /// A presence.
    Presence(Presence<'a>),
    /// An iq get or set for one of [`Config::iq_namespaces`]: answer with
    /// [`Client::reply_iq`] or [`Client::reply_iq_error`].
    IqRequest(Iq<'a>),
    /// The result of an iq request this client sent.
    IqResult {
        /// The request's id.
        id: IqId,
        /// The payload, if any.
        payload: Option<Element<'a>>,
    },
    /// The error answer to an iq request this client sent.
    IqError {
        /// The request's id.
        id: IqId,
        /// The stanza error.
        error: Option<StanzaError<'a>>,
    },
    /// No answer to an iq request in time.
    IqTimeout {
        /// The request's id.
        id: IqId,
    },
    /// A roster push from the server (RFC 6121 §2.1.6), already
    /// acknowledged: the `<query/>` with its item. Only with the `roster`
    /// feature (without it, no roster is requested, so no push is due).
    RosterPush(Element<'a>),
    /// The stream is closed both ways: the session is over.
    Closed,
    /// After [`Client::connection_lost`]: the session was resumed on the
    /// new connection (XEP-0198 §5); nothing was lost, and the stanzas the
    /// server had not handled are being sent again.
    Resumed {
        /// The full JID, the same as before.
        jid: Jid<'a>,
        /// How many stanzas go out again.
        resent: u32,
    },
    /// After [`Client::connection_lost`] (or an imported state): the
    /// session could not be resumed and a new one is bound. Presence and
    /// anything that lived in the old session must be set up again.
    Rebound {
        /// The new full JID.
        jid: Jid<'a>,
        /// How many unacknowledged stanzas follow as [`Event::Unacked`]
        /// ([`OnFailedResume::HandBack`]); with
        /// [`OnFailedResume::Resend`], 0 and they are sent again.
        unacked: u32,
    },
    /// A stanza of the lost session the server never acknowledged, handed
    /// back (oldest first) as serialized XML: it may or may not have
    /// reached its recipient.
    Unacked(&'a [u8]),
}

/// Events that borrow nothing, queued until the next polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queued {
    Ready,
    Resumed,
    Rebound(u32),
    /// The serial of the iq request that timed out.
    IqTimeout(u32),
    Closed,
}

/// How many [`Queued`] events wait at most.
const MAX_QUEUED: usize = 4;

/// The [`Queued`] events waiting, oldest first, each kept as a tag byte
/// and its number: 5 bytes where the enum takes 8.
#[derive(Debug, Default)]
struct EventQueue {
    tags: [u8; MAX_QUEUED],
    numbers: [[u8; 4]; MAX_QUEUED],
    len: u8,
}

impl EventQueue {
    /// Adds `q` at the back; `false` (and nothing added) when full.
    fn push_back(&mut self, q: Queued) -> bool {
        let at = usize::from(self.len);
        if at == MAX_QUEUED {
            return false;
        }
        let (tag, n) = match q {
            Queued::Ready => (0, 0),
            Queued::Resumed => (1, 0),
            Queued::Rebound(n) => (2, n),
            Queued::IqTimeout(n) => (3, n),
            Queued::Closed => (4, 0),
        };
        self.tags[at] = tag;
        self.numbers[at] = n.to_le_bytes();
        self.len += 1;
        true
    }

    /// The oldest event.
    fn front(&self) -> Option<Queued> {
        if self.len == 0 {
            return None;
        }
        let n = u32::from_le_bytes(self.numbers[0]);
        Some(match self.tags[0] {
            0 => Queued::Ready,
            1 => Queued::Resumed,
            2 => Queued::Rebound(n),
            3 => Queued::IqTimeout(n),
            _ => Queued::Closed,
        })
    }

    /// Takes the oldest event.
    fn pop_front(&mut self) -> Option<Queued> {
        let q = self.front()?;
        // Four entries: moving them costs less than a ring's head.
        self.tags.copy_within(1.., 0);
        self.numbers.copy_within(1.., 0);
        self.len -= 1;
        Some(q)
    }

    /// Drops the events `keep` refuses, in order.
    fn retain(&mut self, keep: impl Fn(Queued) -> bool) {
        for _ in 0..self.len {
            if let Some(q) = self.pop_front() {
                if keep(q) {
                    self.push_back(q);
                }
            }
        }
    }
}

/// Where the session is. Each variant names what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet.
    Start,
    /// Our header sent; waiting for the server's.
    AwaitHeader,
    /// Waiting for `<stream:features/>`.
    AwaitFeatures,
    /// `<starttls/>` sent; waiting for `<proceed/>` (RFC 6120 §5.4.2).
    AwaitProceed,
    /// `<proceed/>` received: the adapter must run TLS.
    StartTls,
    /// Waiting for the adapter's TLS handshake.
    AwaitTls,
    /// SASL exchange under way (RFC 6120 §6.4).
    Sasl,
    /// Bind request sent (RFC 6120 §7).
    AwaitBind,
    /// Legacy session request sent.
    AwaitSession,
    /// `<resume/>` sent (XEP-0198 §5).
    AwaitResumed,
    /// Stanzas flow.
    Ready,
    /// Our `</stream:stream>` sent; waiting for the server's (RFC 6120
    /// §4.4).
    Closing,
    /// Over.
    Closed,
}

/// Channel-binding data the adapter extracted after the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsBinding<'t> {
    /// No channel binding available.
    None,
    /// `tls-exporter` (RFC 9266), TLS 1.3: 32 bytes exported with label
    /// "EXPORTER-Channel-Binding" and no context.
    Exporter(&'t [u8]),
    /// `tls-server-end-point` (RFC 5929 §4): the hash of the server
    /// certificate.
    ServerEndPoint(&'t [u8]),
    /// Both, when the adapter can give both.
    Both {
        /// `tls-exporter` data.
        exporter: &'t [u8],
        /// `tls-server-end-point` data.
        server_end_point: &'t [u8],
    },
}

/// The client: one XMPP session, as a state machine.
///
/// Methods come in four kinds (after quinn-proto): getters; inputs
/// ([`receive_buffer`](Self::receive_buffer) + [`commit`](Self::commit) or
/// [`handle_input`](Self::handle_input), [`tls_established`](Self::tls_established));
/// commands ([`send_message`](Self::send_message), [`set_presence`](Self::set_presence),
/// [`send_iq`](Self::send_iq), [`reply_iq`](Self::reply_iq), [`close`](Self::close)...);
/// and one output, [`poll`](Self::poll), to call after every input or
/// command until it says to wait. The loop an adapter writes:
///
/// ```no_run
/// use picoxmpp::client::{Client, Config, Output};
/// use picoxmpp::{jid::Jid, time::Instant};
/// use std::io::{Read, Write};
/// # struct Rng;
/// # impl rand_core::RngCore for Rng {
/// #     fn next_u32(&mut self) -> u32 { 4 }
/// #     fn next_u64(&mut self) -> u64 { 4 }
/// #     fn fill_bytes(&mut self, d: &mut [u8]) { d.fill(4) }
/// #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { d.fill(4); Ok(()) }
/// # }
/// # impl rand_core::CryptoRng for Rng {}
/// # fn now() -> Instant { Instant::ZERO }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut rx, mut tx) = ([0u8; 4096], [0u8; 2048]);
/// let config = Config::new(Jid::parse("juliet@example.com")?, "secret");
/// let mut client = Client::new(config, &mut rx, &mut tx, Rng /* a CryptoRng */);
/// let mut socket = std::net::TcpStream::connect("example.com:5222")?;
/// loop {
///     match client.poll(now())? {
///         Output::Transmit(unit) => socket.write_all(unit)?, // one whole unit per write
///         Output::StartTls => todo!("TLS handshake, then client.tls_established(binding)"),
///         Output::Event(event) => println!("{event:?}"),
///         Output::Wait(_deadline) => {
///             let n = socket.read(client.receive_buffer())?; // until the deadline at most
///             client.commit(n, now());
///         }
///         Output::Closed => break,
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Client<'b, 'c, R> {
    config: Settings<'c>,
    rng: R,
    parser: StreamParser<'b, PARSER_DEPTH>,
    tx: TxQueue<'b>,
    state: State,
    /// TLS is on (after STARTTLS or direct TLS).
    tls: bool,
    /// SASL success seen: the stream was restarted authenticated.
    authenticated: bool,
    /// Channel binding, then SASL, then the salted password and the bound
    /// JID: one at a time.
    phase: phase::PhaseState<'c>,
    iqs: PendingIqs,
    id_prefix: [u8; iq::ID_PREFIX_LEN],
    id_counter: u32,
    /// The server's XEP-0478 stanza size limit; `u32::MAX`: none (no
    /// transmit buffer is that large).
    server_max_stanza: u32,
    /// When the session started (the first poll), last byte sent and
    /// received.
    started: MaybeInstant,
    last_tx: Instant,
    last_rx: Instant,
    close_deadline: MaybeInstant,
    queued: EventQueue,
    /// The error the session failed with; every call returns it.
    failed: Option<ClientError>,
    /// Session requires the legacy session step.
    need_session: bool,
    /// Stream management (XEP-0198) and client state indication.
    sm: sm::Sm<'b>,
}

impl<'b, 'c, R: rand_core::RngCore + rand_core::CryptoRng> Client<'b, 'c, R> {
    /// A client for `config`, working in `rx` (received bytes; its size
    /// bounds the largest stanza it can receive) and `tx` (units waiting
    /// to be written, each after its 4-byte length, and once bound, the
    /// bound JID at its end: the largest unit is `tx` less both), drawing
    /// nonces and ids from `rng`.
    pub fn new(config: Config<'c>, rx: &'b mut [u8], tx: &'b mut [u8], mut rng: R) -> Self {
        let mut id_prefix = [0u8; iq::ID_PREFIX_LEN];
        const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
        for b in id_prefix.iter_mut() {
            *b = ALPHABET[(rng.next_u32() % 32) as usize];
        }
        let iqs = PendingIqs::new(&mut rng);
        Client {
            config: config.into(),
            rng,
            parser: StreamParser::with_capacity(rx, Limits::for_buffer(rx.len())),
            tx: TxQueue::new(tx),
            state: State::Start,
            tls: false,
            authenticated: false,
            phase: phase::PhaseState::Empty,
            iqs,
            id_prefix,
            id_counter: 0,
            server_max_stanza: u32::MAX,
            started: MaybeInstant::NONE,
            last_tx: Instant::ZERO,
            last_rx: Instant::ZERO,
            close_deadline: MaybeInstant::NONE,
            queued: EventQueue::default(),
            failed: None,
            need_session: false,
            sm: sm::Sm::new(),
        }
    }

    // -- getters ---------------------------------------------------------

    /// The bound full JID, once ready.
    pub fn jid(&self) -> Option<Jid<'_>> {
        self.bound()
    }

    /// Whether stanzas can be sent.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready && self.failed.is_none()
    }

    /// The SCRAM salted password of this login, once authenticated: store
    /// it and pass it as [`Config::scram_cache`] next time.
    pub fn salted_password(&self) -> Option<&crate::sasl::scram::SaltedPassword> {
        self.phase.salted_password()
    }

    /// Whether the stream is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Where to reconnect, after [`ClientError::StreamError`] with
    /// `see-other-host` (RFC 6120 §4.9.3.19): a domain, IPv4 or bracketed
    /// IPv6 address, optionally with `:port`, as the server sent it. It is
    /// kept in the receive buffer, which takes no more bytes after it.
    pub fn see_other_host(&self) -> Option<&str> {
        self.parser
            .parked()
            .and_then(|h| core::str::from_utf8(h).ok())
    }

    /// The error the session failed with, if it did.
    pub fn error(&self) -> Option<&ClientError> {
        self.failed.as_ref()
    }

    // -- input -------------------------------------------------------------

    /// The free part of the receive buffer: read bytes into it, then call
    /// [`commit`](Self::commit).
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        self.parser.receive_buffer()
    }

    /// `n` bytes were read into [`receive_buffer`](Self::receive_buffer) at
    /// `now` (0 when a read timed out: timers are checked at the next
    /// poll).
    pub fn commit(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.parser.commit(n);
            self.last_rx = now;
        }
    }

    /// Copies as much of `data` as fits into the receive buffer and commits
    /// it; returns how many bytes were taken (poll, then offer the rest).
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> usize {
        let n = self.parser.feed(data);
        if n > 0 {
            self.last_rx = now;
        }
        n
    }

    /// The adapter finished the TLS handshake (after [`Output::StartTls`],
    /// or before the first poll with [`TlsPolicy::Direct`]), with the
    /// channel-binding data it could extract.
    pub fn tls_established(&mut self, binding: TlsBinding<'_>) {
        self.tls = true;
        let (exp, end) = match binding {
            TlsBinding::None => (None, None),
            TlsBinding::Exporter(e) => (Some(e), None),
            TlsBinding::ServerEndPoint(s) => (None, Some(s)),
            TlsBinding::Both {
                exporter,
                server_end_point,
            } => (Some(exporter), Some(server_end_point)),
        };
        self.phase.set_channel_binding(exp, end);
        if self.state == State::AwaitTls {
            // RFC 6120 §5.4.3.3: a new stream over the TLS layer.
            self.parser.restart();
            self.state = State::Start;
        }
    }

    // -- commands ------------------------------------------------------------

    /// Sends a message; returns its id.
    pub fn send_message(
        &mut self,
        to: Jid<'_>,
        kind: crate::stanza::MessageType,
        body: &str,
    ) -> Result<IqId, ClientError> {
        self.ready_to_send()?;
        let id = self.next_id();
        let kind = kind.as_str();
        let to_s = to.as_str();
        self.queue_stanza(|w| {
            w.start_element("message")?;
            w.attr("to", to_s)?;
            w.attr("type", kind)?;
            w.attr("id", id.as_str())?;
            w.start_element("body")?;
            w.text(body)?;
            w.end_element("body")?;
            w.end_element("message")
        })?;
        Ok(id)
    }

    /// Sends a whole stanza the caller built (any top-level element in
    /// `jabber:client`: a message with extensions, a directed presence...).
    /// `write` gets a writer positioned at the top level.
    pub fn send_raw(
        &mut self,
        write: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
    ) -> Result<(), ClientError> {
        self.ready_to_send()?;
        self.queue_stanza(write)
    }

    /// Broadcasts presence (RFC 6121 §4.2): available with optional
    /// `show`, `status` and `priority`.
    pub fn set_presence(
        &mut self,
        show: Option<Show>,
        status: Option<&str>,
        priority: i8,
    ) -> Result<(), ClientError> {
        self.ready_to_send()?;
        let prio = crate::decimal::Decimal::from_i32(priority.into());
        self.queue_stanza(|w| {
            w.start_element("presence")?;
            if let Some(s) = show {
                w.start_element("show")?;
                w.text(s.as_str())?;
                w.end_element("show")?;
            }
            if let Some(s) = status {
                w.start_element("status")?;
                w.text(s)?;
                w.end_element("status")?;
            }
            if priority != 0 {
                w.start_element("priority")?;
                w.text(prio.as_str())?;
                w.end_element("priority")?;
            }
            w.end_element("presence")
        })
    }

    /// Sends a presence of `kind` to `to`: a subscription request or answer
    /// (RFC 6121 §3), or a directed presence.
    pub fn send_presence_to(
        &mut self,
        to: Jid<'_>,
        kind: crate::stanza::PresenceType,
    ) -> Result<(), ClientError> {
        self.ready_to_send()?;
        let to_s = to.as_str();
        self.queue_stanza(|w| {
            w.start_element("presence")?;
            w.attr("to", to_s)?;
            if let Some(t) = kind.as_str() {
                w.attr("type", t)?;
            }
            w.end_element("presence")
        })
    }

    /// Sends an iq get or set to `to` (`None`: the account's server) with a
    /// payload written by `payload`; returns its id. The answer comes back
    /// as [`Event::IqResult`], [`Event::IqError`] or [`Event::IqTimeout`].
    pub fn send_iq(
        &mut self,
        to: Option<Jid<'_>>,
        kind: crate::stanza::IqType,
        payload: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
        now: Instant,
    ) -> Result<IqId, ClientError> {
        self.ready_to_send()?;
        if !kind.is_request() {
            return Err(ClientError::InvalidInput(
                "send_iq sends get or set; answer requests with reply_iq",
            ));
        }
        self.request(to, kind, payload, now, Purpose::Application)
    }

    /// Answers an [`Event::IqRequest`] with a result: `to` and `id` are the
    /// request's `from` and `id`; `payload` writes the result's child, if
    /// any (`|_| Ok(())` for an empty result).
    pub fn reply_iq(
        &mut self,
        to: Option<&str>,
        id: &str,
        payload: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
    ) -> Result<(), ClientError> {
        self.ready_to_send()?;
        let mut payload = Some(payload);
        self.queue_iq("result", to, id, once_dyn!(payload))
    }

    /// Answers an [`Event::IqRequest`] with a stanza error (RFC 6120 §8.3).
    pub fn reply_iq_error(
        &mut self,
        to: Option<&str>,
        id: &str,
        condition: ErrorCondition,
    ) -> Result<(), ClientError> {
        self.ready_to_send()?;
        self.queue_iq_error(to, id, condition)
    }

    /// Fetches the roster (RFC 6121 §2.1.3), with the version the caller
    /// has cached if the server supports versioning (RFC 6121 §2.6).
    /// With the `roster` feature.
    #[cfg(feature = "roster")]
    pub fn request_roster(
        &mut self,
        version: Option<&str>,
        now: Instant,
    ) -> Result<IqId, ClientError> {
        self.send_iq(
            None,
            crate::stanza::IqType::Get,
            |w| {
                w.start_element("query")?;
                w.ns(NS_ROSTER)?;
                if let Some(v) = version {
                    w.attr("ver", v)?;
                }
                w.end_element("query")
            },
            now,
        )
    }

    /// Adds or updates a roster item (RFC 6121 §2.3), or removes it
    /// (`remove`, RFC 6121 §2.5). With the `roster` feature.
    #[cfg(feature = "roster")]
    pub fn set_roster_item(
        &mut self,
        jid: Jid<'_>,
        name: Option<&str>,
        remove: bool,
        now: Instant,
    ) -> Result<IqId, ClientError> {
        let j = jid.bare().as_str();
        self.send_iq(
            None,
            crate::stanza::IqType::Set,
            |w| {
                w.start_element("query")?;
                w.ns(NS_ROSTER)?;
                w.start_element("item")?;
                w.attr("jid", j)?;
                if remove {
                    w.attr("subscription", "remove")?;
                } else if let Some(n) = name {
                    w.attr("name", n)?;
                }
                w.end_element("item")?;
                w.end_element("query")
            },
            now,
        )
    }

    /// Ends the session politely (RFC 6121 §4.5.1, RFC 6120 §4.4):
    /// unavailable presence, then `</stream:stream>`, then waits (up to
    /// [`Config::close_timeout`]) for the server's.
    pub fn close(&mut self, now: Instant) -> Result<(), ClientError> {
        if let Some(e) = &self.failed {
            return Err(*e);
        }
        let was_ready = self.state == State::Ready;
        match self.state {
            State::Closing | State::Closed => return Ok(()),
            State::Ready => {
                self.queue_stanza(|w| {
                    w.start_element("presence")?;
                    w.attr("type", "unavailable")?;
                    w.end_element("presence")
                })?;
            }
            _ => {}
        }
        if was_ready && self.sm.queues() {
            // Stanzas still waiting for transmit room go out first; the
            // stream management session ends with the stream (XEP-0198
            // §5: a closed stream cannot be resumed).
            self.sm.close_pending = true;
            self.sm.forget_id();
            // XEP-0198 §4: an <a/> right before a graceful close, so the
            // server does not send again what was received.
            self.sm.want_answer = self.sm.mode == sm::Mode::Active;
        } else {
            self.queue_unit(crate::xml::StreamHeaderBuilder::write_close)?;
        }
        self.state = State::Closing;
        self.close_deadline = (now + self.config.close_timeout).into();
        Ok(())
    }

    // -- output ------------------------------------------------------------

    /// What to do next: bytes to transmit first, then events, then how long
    /// to wait. Call it after every input or command until it returns
    /// [`Output::Wait`] or [`Output::Closed`].
    pub fn poll(&mut self, now: Instant) -> Result<Output<'_>, ClientError> {
        self.tx.pop_sent();
        self.pop_handed_out();
        // A failure may have queued our stream error and close: those go
        // out first, the error is returned once they are gone.
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(_) if !self.tx.is_empty() => continue,
                    Err(e) => return Err(e),
                }
            };
        }
        loop {
            // 1. Bytes to send, even after a failure (the stream error and
            // close we queued go out first); stanzas of the unacked queue
            // move into the transmit queue as it has room.
            if self.failed.is_none() {
                self.pump(now);
            }
            if !self.tx.is_empty() {
                self.last_tx = now;
                return Ok(Output::Transmit(self.tx.front().unwrap_or_default()));
            }
            if let Some(e) = &self.failed {
                return Err(*e);
            }
            // 2. Events that borrow nothing; those of a session only while
            // one is up (after a lost connection they wait for the next).
            let up = matches!(self.state, State::Ready | State::Closing);
            let session_event =
                |q: Queued| matches!(q, Queued::Ready | Queued::Resumed | Queued::Rebound(_));
            let next = match self.queued.front() {
                Some(q) if up || !session_event(q) => self.queued.pop_front(),
                _ => None,
            };
            if let Some(q) = next {
                return Ok(match q {
                    Queued::Ready => match self.bound() {
                        Some(jid) => Output::Event(Event::Ready { jid }),
                        None => Output::Wait(None),
                    },
                    Queued::Resumed => match self.bound() {
                        Some(jid) => Output::Event(Event::Resumed {
                            jid,
                            resent: self.sm.resent,
                        }),
                        None => Output::Wait(None),
                    },
                    Queued::Rebound(unacked) => match self.bound() {
                        Some(jid) => Output::Event(Event::Rebound { jid, unacked }),
                        None => Output::Wait(None),
                    },
                    Queued::IqTimeout(serial) => Output::Event(Event::IqTimeout {
                        id: iq::format_id(&self.id_prefix, serial),
                    }),
                    Queued::Closed => {
                        self.state = State::Closed;
                        Output::Event(Event::Closed)
                    }
                });
            }
            // 2b. Stanzas of a lost session handed back.
            if sm::COMPILED && self.sm.hand_back > 0 && !self.sm.queue.is_empty() {
                return Ok(match self.next_hand_back() {
                    Some(unit) => Output::Event(Event::Unacked(unit)),
                    None => Output::Wait(None),
                });
            }
            match self.state {
                State::Closed => return Ok(Output::Closed),
                State::Start => {
                    // The negotiation timer runs from the first poll, across
                    // the restarts after TLS and SASL.
                    if !self.started.is_some() {
                        self.started = now.into();
                    }
                    if self.config.tls == TlsPolicy::Direct && !self.tls {
                        return Err(self.fail(ClientError::InvalidInput(
                            "direct TLS: call tls_established before the first poll",
                        )));
                    }
                    attempt!(self.open_stream());
                    continue;
                }
                State::StartTls => {
                    self.state = State::AwaitTls;
                    return Ok(Output::StartTls);
                }
                State::AwaitTls => return Ok(Output::Wait(self.negotiation_deadline())),
                _ => {}
            }
            // 3. Timers.
            if attempt!(self.check_timers(now)) {
                continue;
            }
            // 4. Input.
            match attempt!(self.step(now)) {
                Step::Continue => continue,
                Step::Wait => return Ok(Output::Wait(self.next_deadline())),
                Step::Element(kind) => {
                    // Every path returns here: the event borrows the
                    // receive buffer.
                    return Ok(match self.parser.current() {
                        Some(el) => Output::Event(session::element_event(el, kind)),
                        None => Output::Wait(None),
                    });
                }
            }
        }
    }

    /// The next instant at which the client has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.iqs.next_deadline();
        let mut add = |t: Option<Instant>| {
            d = match (d, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        add(self.close_deadline.get());
        add(self.negotiation_deadline());
        if self.state == State::Ready {
            add(self.keepalive_deadline());
            add(self.sm.request_deadline());
        }
        d
    }

    // -- internals -------------------------------------------------------

    /// The full JID the server bound (RFC 6120 §7.6.1), once it has. It is
    /// kept at the end of the transmit buffer (see `tx`), across a lost
    /// connection for resumption (XEP-0198 §5).
    fn bound(&self) -> Option<Jid<'_>> {
        bound_jid(&self.tx)
    }

    /// Keeps `jid` (empty: none) as the bound JID; refused when the units
    /// queued leave the transmit buffer no room for it.
    fn set_bound(&mut self, jid: &str) -> Result<(), ClientError> {
        match self.tx.keep(jid.as_bytes()) {
            true => Ok(()),
            false => Err(ClientError::TooLarge {
                size: jid.len(),
                limit: self.tx.capacity(),
            }),
        }
    }

    /// [`ready`](Self::ready), and room in the unacked queue beyond what
    /// the core keeps for its own answers (XEP-0198: a ping the server
    /// sends while the application has filled the queue is still
    /// answered).
    fn ready_to_send(&mut self) -> Result<(), ClientError> {
        self.ready()?;
        self.check_user_room()
    }

    fn ready(&self) -> Result<(), ClientError> {
        if let Some(e) = &self.failed {
            return Err(*e);
        }
        match self.state {
            State::Ready => Ok(()),
            State::Closing | State::Closed => Err(ClientError::Closed),
            _ => Err(ClientError::NotReady),
        }
    }

    fn negotiation_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Ready | State::Closing | State::Closed | State::Start => None,
            _ => self
                .started
                .get()
                .map(|s| s + self.config.negotiation_timeout),
        }
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        let (since, idle) = match self.config.keepalive {
            KeptKeepalive::Off => return None,
            KeptKeepalive::Whitespace { idle } => (self.last_tx, idle),
            // While a ping waits for its answer, its own deadline runs.
            KeptKeepalive::Ping { .. } if self.iqs.has(Purpose::Keepalive) => return None,
            KeptKeepalive::Ping { idle, .. } => (self.last_rx.max(self.last_tx), idle),
        };
        Some(since + idle)
    }

    /// Runs what is due at `now`; `true` when something was queued.
    fn check_timers(&mut self, now: Instant) -> Result<bool, ClientError> {
        if let Some(d) = self.negotiation_deadline() {
            if now >= d {
                return Err(self.fail(ClientError::Timeout("the negotiation to finish")));
            }
        }
        if let Some(d) = self.close_deadline.get() {
            if now >= d {
                // RFC 6120 §4.4: the server did not close in time; the
                // session is over all the same.
                self.close_deadline = MaybeInstant::NONE;
                let _ = self.queued.push_back(Queued::Closed);
                return Ok(true);
            }
        }
        if let Some(p) = self.iqs.take_expired(now) {
            match p.purpose {
                Purpose::Application => {
                    let _ = self.queued.push_back(Queued::IqTimeout(p.serial));
                    return Ok(true);
                }
                Purpose::Keepalive => {
                    return Err(self.fail(ClientError::Timeout(
                        "the server to answer a keepalive ping",
                    )));
                }
                Purpose::Bind | Purpose::Session => {
                    return Err(self.fail(ClientError::Timeout(
                        "the server to answer resource binding",
                    )));
                }
            }
        }
        if self.state == State::Ready && self.check_sm_timer(now) {
            return Ok(true);
        }
        if self.state == State::Ready {
            if let Some(d) = self.keepalive_deadline() {
                if now >= d {
                    match self.config.keepalive {
                        // RFC 6120 §4.6.1: whitespace between stanzas.
                        KeptKeepalive::Whitespace { .. } => {
                            self.queue_unit(|b| crate::xml::escape(" ", false, b))?
                        }
                        KeptKeepalive::Ping { timeout, .. } => {
                            // The configuration's, so no borrow of the client.
                            let to = self.config.jid.domain_jid();
                            let deadline = now + timeout;
                            self.request_until(
                                Some(to),
                                crate::stanza::IqType::Get,
                                |w| {
                                    w.start_element("ping")?;
                                    w.ns(NS_PING)?;
                                    w.end_element("ping")
                                },
                                deadline,
                                Purpose::Keepalive,
                            )?;
                        }
                        KeptKeepalive::Off => {}
                    }
                    self.last_tx = now;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Records a fatal error: every later call returns it.
    fn fail(&mut self, e: ClientError) -> ClientError {
        if self.failed.is_none() {
            self.failed = Some(e);
        }
        self.iqs.clear();
        e
    }

    /// Records a fatal error after queueing our stream error and close
    /// (RFC 6120 §4.9.1.1: the entity that detects it sends the error,
    /// then closes the stream).
    fn fail_with_stream_error(
        &mut self,
        condition: StreamErrorCondition,
        e: ClientError,
    ) -> ClientError {
        let _ = self.queue_unit(|b| {
            let mut w = Writer::new(b);
            w.start_element("stream:error")?;
            w.start_element(condition.as_str())?;
            w.ns(crate::stream::ns::STREAMS)?;
            w.end_element(condition.as_str())?;
            w.end_element("stream:error")?;
            w.finish()
        });
        let _ = self.queue_unit(crate::xml::StreamHeaderBuilder::write_close);
        self.fail(e)
    }

    fn next_id(&mut self) -> IqId {
        self.id_counter = self.id_counter.wrapping_add(1);
        iq::format_id(&self.id_prefix, self.id_counter)
    }

    /// Queues one unit written by `write` into the transmit buffer.
    fn queue_unit(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<(), ClientError> {
        let mut write = Some(write);
        self.queue_unit_dyn(once_dyn!(write))
    }

    /// [`queue_unit`](Self::queue_unit), compiled once for every writer.
    fn queue_unit_dyn(
        &mut self,
        write: &mut dyn FnMut(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<(), ClientError> {
        self.tx.push(write).map_err(|e| match e {
            QueueError::Full { needed } if needed > self.tx.capacity() => ClientError::TooLarge {
                size: needed,
                limit: self.tx.capacity(),
            },
            QueueError::Full { needed } => ClientError::TransmitBufferFull { needed },
            QueueError::Write(_) => ClientError::InvalidInput("a value XML cannot carry"),
        })
    }

    /// Queues a stanza, refusing it if the server's XEP-0478 limit says it
    /// would get the stream killed.
    fn queue_stanza(
        &mut self,
        write: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
    ) -> Result<(), ClientError> {
        let mut write = Some(write);
        self.queue_stanza_dyn(once_dyn!(write))
    }

    /// [`queue_stanza`](Self::queue_stanza), compiled once for every
    /// stanza.
    fn queue_stanza_dyn(
        &mut self,
        write: &mut dyn FnMut(&mut Writer<'_>) -> Result<(), WriteError>,
    ) -> Result<(), ClientError> {
        let limit = self.server_max_stanza as usize;
        let mut too_large = None;
        let unit = |b: &mut [u8]| {
            let mut w = Writer::new(b);
            write(&mut w)?;
            let n = w.finish()?;
            // `u32::MAX`: no limit.
            if n > limit && limit != u32::MAX as usize {
                too_large = Some((n, limit));
                // Nothing queued: report as a write error below.
                return Err(WriteError::Unbalanced);
            }
            Ok(n)
        };
        // With stream management, stanzas are counted and kept until
        // acknowledged (XEP-0198 §4).
        let session = matches!(self.state, State::Ready | State::Closing);
        let r = if session && self.sm.queues() {
            self.queue_unacked(unit)
        } else {
            self.queue_unit(unit)
        };
        if let Some((size, limit)) = too_large {
            return Err(ClientError::TooLarge { size, limit });
        }
        r
    }

    fn queue_iq_error(
        &mut self,
        to: Option<&str>,
        id: &str,
        condition: ErrorCondition,
    ) -> Result<(), ClientError> {
        self.queue_iq("error", to, id, &mut |w| {
            crate::stanza::error::write_error(w, condition)
        })
    }

    /// Queues `<iq type='kind' to='to' id='id'>`, the payload, `</iq>`:
    /// every iq the client sends, requests and answers.
    fn queue_iq(
        &mut self,
        kind: &str,
        to: Option<&str>,
        id: &str,
        payload: &mut dyn FnMut(&mut Writer<'_>) -> Result<(), WriteError>,
    ) -> Result<(), ClientError> {
        self.queue_stanza_dyn(&mut |w| {
            w.start_element("iq")?;
            w.attr("type", kind)?;
            if let Some(to) = to {
                w.attr("to", to)?;
            }
            w.attr("id", id)?;
            payload(w)?;
            w.end_element("iq")
        })
    }

    fn request(
        &mut self,
        to: Option<Jid<'_>>,
        kind: crate::stanza::IqType,
        payload: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
        now: Instant,
        purpose: Purpose,
    ) -> Result<IqId, ClientError> {
        let deadline = now + self.config.iq_timeout;
        self.request_until(to, kind, payload, deadline, purpose)
    }

    fn request_until(
        &mut self,
        to: Option<Jid<'_>>,
        kind: crate::stanza::IqType,
        payload: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
        deadline: Instant,
        purpose: Purpose,
    ) -> Result<IqId, ClientError> {
        let mut payload = Some(payload);
        self.request_dyn(to, kind, once_dyn!(payload), deadline, purpose)
    }

    /// [`request_until`](Self::request_until), compiled once for every
    /// payload.
    fn request_dyn(
        &mut self,
        to: Option<Jid<'_>>,
        kind: crate::stanza::IqType,
        payload: &mut dyn FnMut(&mut Writer<'_>) -> Result<(), WriteError>,
        deadline: Instant,
        purpose: Purpose,
    ) -> Result<IqId, ClientError> {
        if self.iqs.is_full() {
            return Err(ClientError::TooManyPendingIqs);
        }
        let tracked = to.map(|j| self.iqs.tag(j));
        let id = self.next_id();
        let serial = self.id_counter;
        self.queue_iq(kind.as_str(), to.map(|j| j.as_str()), id.as_str(), payload)?;
        self.iqs.insert(Pending {
            serial,
            to: tracked,
            deadline,
            purpose,
        });
        Ok(id)
    }
}

/// What an element read in [`Client::poll`] becomes for the caller.
#[derive(Debug, Clone)]
enum Step {
    /// Handled inside; go on.
    Continue,
    /// No complete element: wait for bytes.
    Wait,
    /// Hand the current element out as this kind of event.
    Element(session::Kind),
}

/// jabber:iq:roster (RFC 6121 §2).
#[cfg(feature = "roster")]
pub(crate) const NS_ROSTER: &str = "jabber:iq:roster";
/// XEP-0199 ping.
pub(crate) const NS_PING: &str = "urn:xmpp:ping";
/// XEP-0030 disco#info.
#[cfg(feature = "disco-info")]
pub(crate) const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// The bound JID kept in `tx` (see [`Client::set_bound`]); a function of
/// the queue alone, so the rest of the client stays free to borrow.
fn bound_jid<'t>(tx: &'t TxQueue<'_>) -> Option<Jid<'t>> {
    let kept = core::str::from_utf8(tx.kept()).ok()?;
    Jid::parse(kept).ok()
}

/// Copies `s` into `buf`, so it outlives a borrow of the client.
fn copy_str<'x>(buf: &'x mut [u8], s: &str) -> Result<&'x str, ClientError> {
    let dst = buf
        .get_mut(..s.len())
        .ok_or(ClientError::InvalidInput("address too long"))?;
    dst.copy_from_slice(s.as_bytes());
    core::str::from_utf8(dst).map_err(|_| ClientError::InvalidInput("address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_events_come_out_in_order() {
        let mut q = EventQueue::default();
        let all = [
            Queued::Ready,
            Queued::Resumed,
            Queued::Rebound(u32::MAX),
            Queued::IqTimeout(7),
            Queued::Closed,
        ];
        for round in 0..3 {
            for e in all.iter().cycle().skip(round).take(MAX_QUEUED) {
                assert!(q.push_back(*e));
            }
            assert!(!q.push_back(Queued::Closed), "full");
            assert_eq!(q.front(), Some(all[round]));
            assert_eq!(q.pop_front(), Some(all[round]));
            q.retain(|e| e != Queued::Closed);
            let left: heapless::Vec<Queued, MAX_QUEUED> =
                core::iter::from_fn(|| q.pop_front()).collect();
            let want: heapless::Vec<Queued, MAX_QUEUED> = all
                .iter()
                .cycle()
                .skip(round + 1)
                .take(MAX_QUEUED - 1)
                .copied()
                .filter(|e| *e != Queued::Closed)
                .collect();
            assert_eq!(left, want);
            assert_eq!(q.front(), None);
        }
    }

    #[test]
    fn kept_durations_are_milliseconds_and_long_ones_never_end() {
        let t = Instant::from_millis(1_000);
        assert_eq!(
            t + Ms::from(Duration::from_micros(1_500_999)),
            t + Duration::from_millis(1_500)
        );
        let day = Duration::from_secs(86_400);
        assert_eq!(t + Ms::from(day * 49), t + day * 49);
        for never in [day * 50, Duration::MAX] {
            assert_eq!(t + Ms::from(never), Instant::from_millis(u64::MAX));
        }
    }
}
