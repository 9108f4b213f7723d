//! SASL authentication (RFC 6120 §6, RFC 4422): the client halves of
//! SCRAM (RFC 5802, RFC 7677) with channel binding (RFC 5929, RFC 9266,
//! XEP-0440) and PLAIN (RFC 4616), the choice between the mechanisms a server
//! offers, and the `<failure/>` conditions of RFC 6120 §6.5. With the
//! `legacy-digest-md5` feature, also DIGEST-MD5 (RFC 2831, historic since
//! RFC 6331) in the `digest_md5` module, for old servers; never chosen over SCRAM.
//!
//! Everything here works on the *decoded* SASL messages: the XML layer takes
//! the base64 text out of `<challenge/>` and `<success/>` and decodes it, and
//! base64-encodes what goes into `<auth/>` and `<response/>` (RFC 6120
//! §6.4.2). Nothing allocates: messages are written into caller buffers, and
//! the state a SCRAM exchange keeps between messages is a fixed-size value.
//!
//! The order of an exchange, as RFC 6120 §6.4 and RFC 5802 §5 give it:
//!
//! 1. [`choose`] a [`Mechanism`] from the server's `<mechanisms/>` list and
//!    its XEP-0440 `<sasl-channel-binding/>` list;
//! 2. for SCRAM, [`client_first`](scram::ScramClient::client_first) gives the
//!    initial response for `<auth/>`;
//!    [`handle_server_first`](scram::ScramClient::handle_server_first) takes
//!    the first `<challenge/>` and gives the `<response/>`;
//!    [`handle_server_final`](scram::ScramClient::handle_server_final) takes
//!    the additional data of `<success/>` and checks the server's signature;
//!    for PLAIN, [`plain::initial_response`] is the whole exchange.
//!
//! # Example: the RFC 5802 §5 exchange
//!
//! ```
//! use picoxmpp::sasl::{choose, Capabilities, Mechanism};
//! use picoxmpp::sasl::scram::{AnyScramClient, Credentials};
//!
//! // Prosody 0.12 offers these; the client has a password, over TLS.
//! let caps = Capabilities { tls: true, password: true, ..Capabilities::default() };
//! let choice = choose(["SCRAM-SHA-1", "PLAIN"], None, &caps)?;
//! assert_eq!(choice.mechanism, Mechanism::ScramSha1);
//!
//! let mut scram = AnyScramClient::new(choice.mechanism, choice.cbind)?;
//! let mut out = [0u8; 256];
//!
//! // 18 bytes from the caller's RNG become the 24-character client nonce;
//! // these are the RFC's, so that the messages match its transcript.
//! let nonce = [
//!     127, 41, 40, 249, 221, 165, 109, 177, 96, 56, 212, 111, 246, 169, 49, 117, 172, 11,
//! ];
//! let n = scram.client_first(&mut out, "user", None, &nonce)?;
//! assert_eq!(&out[..n], b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
//!
//! let server_first = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
//! let n = scram.handle_server_first(&mut out, server_first, Credentials::Password("pencil"))?;
//! assert_eq!(
//!     &out[..n],
//!     &b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="[..],
//! );
//!
//! // Mutual authentication: the server proves it knew the salted password.
//! scram.handle_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")?;
//! assert!(scram.is_done());
//!
//! // PBKDF2 ran, so there is a salted password to keep for the next login.
//! let cache = scram.salted_password_to_cache().expect("computed this time");
//! assert_eq!(cache.iterations(), 4096);
//! # Ok::<(), picoxmpp::sasl::SaslError>(())
//! ```
//!
//! # SASLprep
//!
//! RFC 5802 §5.1 prepares the SCRAM username and password with SASLprep
//! (RFC 4013, a stringprep profile, RFC 3454). Its normalization and bidi
//! steps need Unicode tables far too large for a microcontroller, so only the
//! table-free part is done:
//!
//! - **Mapping** (RFC 4013 §2.1): the characters "commonly mapped to nothing"
//!   (RFC 3454 table B.1: U+00AD, U+034F, U+1806, U+180B–U+180D,
//!   U+200B–U+200D, U+2060, U+FE00–U+FE0F, U+FEFF) are removed; the other
//!   non-ASCII spaces (table C.1.2: U+00A0, U+1680, U+2000–U+200A, U+202F,
//!   U+205F, U+3000) become U+0020. U+200B is in both tables; it is removed.
//! - **Prohibited output** (RFC 4013 §2.3, tables C.2.1–C.9): ASCII and
//!   non-ASCII control characters, private use, non-characters,
//!   characters inappropriate for plain text or canonical representation,
//!   display-changing and tagging characters are refused, and so is a
//!   string that maps to nothing at all.
//! - **Not done**: NFKC normalization (RFC 4013 §2.2), so non-ASCII input
//!   must already be in NFKC to match what the server stored (text typed on
//!   a keyboard is NFC, which differs from NFKC only for compatibility
//!   characters such as ligatures, fullwidth forms and superscripts); the
//!   bidirectional rule (§2.4); the check for unassigned code points
//!   (§2.5, which applies to stored strings, not to these queries).
//!
//! An ASCII string made of printable characters and spaces passes unchanged,
//! as full SASLprep would leave it.
//!
//! The SCRAM authzid and the PLAIN fields are not prepared: the authzid is a
//! JID, prepared by RFC 7622 rules, and RFC 4616 §2 leaves preparation of
//! PLAIN's fields to the server.

use core::fmt;

use crate::error::BufferTooSmall;

mod channel_binding;
#[cfg(feature = "legacy-digest-md5")]
pub mod digest_md5;
mod failure;
mod mechanism;
pub mod plain;
mod saslprep;
pub mod scram;
pub mod scram_server;

pub use channel_binding::{
    ChannelBinding, ChannelBindingType, ChannelBindingTypes, Gs2CbindFlag, MAX_CHANNEL_BINDING_LEN,
};
pub use failure::SaslFailure;
pub use mechanism::{choose, Capabilities, Choice, Mechanism};

/// Who caused a [`SaslError`], so an adapter knows whether retrying or
/// changing its own configuration can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fault {
    /// The server sent something RFC 5802 forbids, failed to prove itself,
    /// asked for more work than allowed, or offered nothing acceptable. The
    /// client aborts the exchange (RFC 6120 §6.4.4: `<abort/>`), or, if the
    /// server already sent `<success/>`, closes the stream.
    Server,
    /// The caller used the API wrongly or passed unusable credentials; the
    /// exchange state is unchanged, so the call can be repeated once fixed.
    Local,
    /// A buffer or a fixed capacity was too small; the state is unchanged,
    /// so the call can be repeated with room enough.
    Resource,
}

/// Why a SASL step failed.
///
/// Errors the server caused ([`Fault::Server`]) end a SCRAM exchange: every
/// later call on it returns [`SaslError::OutOfOrder`]. Errors the caller
/// caused ([`Fault::Local`], [`Fault::Resource`]) leave it as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SaslError {
    // ----- the server is at fault -----
    /// A server message does not follow the RFC 5802 §7 grammar (or, for
    /// DIGEST-MD5, RFC 2831 §2.1): a missing or misplaced attribute, bad
    /// base64, a bad number.
    MalformedServerMessage {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// The server-first-message starts with `m=`: RFC 5802 §5.1 says a
    /// client that does not support the mandatory extension MUST fail.
    MandatoryExtension,
    /// The server nonce does not start with the client nonce, or adds
    /// nothing to it (RFC 5802 §5.1: the client MUST verify both).
    NonceMismatch,
    /// The salt is longer than [`scram::MAX_SALT_LEN`] bytes.
    SaltTooLong,
    /// The iteration count is below [`scram::MIN_ITERATIONS`] (RFC 7677 §4:
    /// at least 4096), which makes a stolen verifier cheap to attack.
    IterationCountTooLow {
        /// What the server asked for.
        iterations: u32,
    },
    /// The iteration count is above the client's ceiling (see
    /// [`scram::ScramClient::with_max_iterations`]): the server would have
    /// the client burn its CPU.
    IterationCountTooHigh {
        /// What the server asked for (saturated at `u32::MAX`).
        iterations: u32,
        /// The client's ceiling.
        max: u32,
    },
    /// The `v=` verifier is not the ServerSignature this client computed
    /// (or DIGEST-MD5's `rspauth` is not the one expected, RFC 2831
    /// §2.1.3): the server does not know the (salted) password, or the
    /// exchange was tampered with (RFC 5802 §5: mutual authentication
    /// failed).
    ServerSignatureMismatch,
    /// The server-final-message is `e=`: the server refused the exchange.
    ServerError(scram::ServerErrorValue),
    /// No offered mechanism is both supported and acceptable under the
    /// client's [`Capabilities`].
    NoAcceptableMechanism {
        /// Why the likeliest candidate was refused.
        reason: &'static str,
    },

    // ----- the caller is at fault -----
    /// A call that the exchange's current state does not allow.
    OutOfOrder {
        /// The call that was made.
        call: &'static str,
        /// What the state allows instead.
        expected: &'static str,
    },
    /// A username, password, authzid, nonce or channel binding the caller
    /// passed cannot be used.
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Only a cached salted password was given, and it was computed for
    /// another hash, salt or iteration count than the server now uses: the
    /// password is needed to compute a new one.
    PasswordNeeded,

    // ----- a buffer or capacity is too small -----
    /// The output buffer is too small; the error says the size needed.
    BufferTooSmall(BufferTooSmall),
    /// The client-first-message does not fit in the exchange's fixed
    /// capacity (the `N` of [`scram::ScramClient`]).
    CapacityExceeded {
        /// Bytes the client-first-message needs.
        needed: usize,
        /// The capacity.
        capacity: usize,
    },
}

impl SaslError {
    /// Who caused this error.
    pub const fn fault(&self) -> Fault {
        match self {
            Self::MalformedServerMessage { .. }
            | Self::MandatoryExtension
            | Self::NonceMismatch
            | Self::SaltTooLong
            | Self::IterationCountTooLow { .. }
            | Self::IterationCountTooHigh { .. }
            | Self::ServerSignatureMismatch
            | Self::ServerError(_)
            | Self::NoAcceptableMechanism { .. } => Fault::Server,
            Self::OutOfOrder { .. } | Self::InvalidInput { .. } | Self::PasswordNeeded => {
                Fault::Local
            }
            Self::BufferTooSmall(_) | Self::CapacityExceeded { .. } => Fault::Resource,
        }
    }
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedServerMessage { reason } => {
                write!(f, "server sent a malformed SASL message: {reason}")
            }
            Self::MandatoryExtension => {
                f.write_str("server requires an unsupported SCRAM extension (m=)")
            }
            Self::NonceMismatch => f.write_str("server nonce does not extend the client nonce"),
            Self::SaltTooLong => write!(
                f,
                "server salt is longer than {} bytes",
                scram::MAX_SALT_LEN
            ),
            Self::IterationCountTooLow { iterations } => write!(
                f,
                "server iteration count {iterations} is below {}",
                scram::MIN_ITERATIONS
            ),
            Self::IterationCountTooHigh { iterations, max } => write!(
                f,
                "server iteration count {iterations} is above the client's ceiling {max}"
            ),
            Self::ServerSignatureMismatch => {
                f.write_str("server signature does not match: the server did not authenticate")
            }
            Self::ServerError(e) => write!(f, "server refused the SCRAM exchange: {e}"),
            Self::NoAcceptableMechanism { reason } => {
                write!(f, "no acceptable SASL mechanism offered: {reason}")
            }
            Self::OutOfOrder { call, expected } => {
                write!(f, "{call} called out of order; expected {expected}")
            }
            Self::InvalidInput { field, reason } => write!(f, "invalid {field}: {reason}"),
            Self::PasswordNeeded => f.write_str(
                "the cached salted password does not match the server's salt and \
                 iteration count, and no password was given",
            ),
            Self::BufferTooSmall(e) => e.fmt(f),
            Self::CapacityExceeded { needed, capacity } => write!(
                f,
                "client-first-message needs {needed} bytes, capacity is {capacity}"
            ),
        }
    }
}

impl core::error::Error for SaslError {}

impl From<BufferTooSmall> for SaslError {
    fn from(e: BufferTooSmall) -> Self {
        Self::BufferTooSmall(e)
    }
}

/// Writes into a caller buffer, counting what does not fit so the error can
/// say the full size needed (as the XML writer does).
pub(crate) struct Out<'o> {
    buf: &'o mut [u8],
    pos: usize,
}

impl<'o> Out<'o> {
    pub(crate) fn new(buf: &'o mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    /// Standard base64 with padding, the encoding RFC 5802 §7 uses.
    pub(crate) fn put_base64(&mut self, bytes: &[u8]) {
        self.put_base64_chain(bytes, &[]);
    }

    /// The base64 encoding of `a` followed by `b`, without copying them
    /// together first.
    pub(crate) fn put_base64_chain(&mut self, a: &[u8], b: &[u8]) {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        let len = base64_len(a.len() + b.len());
        let end = self.pos.saturating_add(len);
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            // Three bytes at a time encode to four characters exactly, so
            // the groups can be encoded one by one; `dst` has room for all,
            // so the encoder never fails.
            let mut quads = dst.chunks_exact_mut(4);
            let mut group = [0u8; 3];
            let mut n = 0;
            for &byte in a.iter().chain(b) {
                group[n] = byte;
                n += 1;
                if n == 3 {
                    if let Some(q) = quads.next() {
                        let _ = engine.encode_slice(group, q);
                    }
                    n = 0;
                }
            }
            if n > 0 {
                if let Some(q) = quads.next() {
                    let _ = engine.encode_slice(&group[..n], q);
                }
            }
        }
        self.pos = end;
    }

    /// Bytes written so far (or that would have been).
    pub(crate) fn len(&self) -> usize {
        self.pos
    }

    /// What has been written, if it all fit.
    pub(crate) fn written(&self) -> Option<&[u8]> {
        self.buf.get(..self.pos)
    }

    pub(crate) fn finish(self) -> Result<usize, BufferTooSmall> {
        if self.pos <= self.buf.len() {
            Ok(self.pos)
        } else {
            Err(BufferTooSmall { needed: self.pos })
        }
    }
}

/// Length of the padded base64 encoding of `n` bytes.
pub(crate) const fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}
