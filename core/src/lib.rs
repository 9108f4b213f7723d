//! picoxmpp: an XMPP library for embedded and systems code.
//!
//! `#![no_std]`, no allocator, sans-IO: bytes go in, bytes and events come
//! out; the caller owns the buffers, the clock and the RNG. Sockets, TLS
//! and timers belong to the adapters (`picoxmpp-std`, or a firmware's own
//! loop); the loop an adapter writes is on [`client::Client`].
//!
//! The layers, bottom up:
//!
//! - [`xml`]: the streaming restricted-XML parser and writer of RFC 6120
//!   §11, handing out each top-level element as a checked view;
//! - [`jid`]: addresses (RFC 7622);
//! - [`stanza`] and [`stream`]: typed views of stanzas, stream features and
//!   errors (RFC 6120, RFC 6121);
//! - [`sasl`]: SCRAM (RFC 5802, RFC 7677) with channel binding, PLAIN;
//! - [`client`]: the session state machine, from stream open to close;
//! - [`server`]: the receiving side of the same session, for a device or
//!   gateway that accepts connections, and for tests;
//! - [`time`]: the caller's clock as numbers; [`error`]: the RFC 6120
//!   stream error conditions;
//! - `io` (features `embedded-io`, `embedded-io-async`): drivers that carry
//!   a session over the I/O traits of microcontroller network stacks.
//!
//! Features: `std` (vector instructions found at run time),
//! `ip-literal-domains` (on by default; off, JIDs with IP literal domains
//! are refused and `core::net`'s parsers stay out of the flash),
//! `stream-management` (on by default: XEP-0198; off, `<sm/>` offers are
//! ignored and its code stays out of the flash), `small` (flash over
//! speed: the XML scanner's hot paths are not forced inline), `defmt`
//! (formatting for firmware logs), `scram-sha256` and `scram-sha512` (on
//! by default; off, SCRAM-SHA-1 alone keeps the firmware small), and
//! `legacy-digest-md5` (off by default: DIGEST-MD5, RFC 2831, historic
//! since RFC 6331, for old servers only; never chosen over SCRAM),
//! `embedded-io` and `embedded-io-async` (the drivers of `io`), `log`
//! (the drivers log through the log crate; through defmt with `defmt`).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod client;
mod decimal;
pub mod error;
#[cfg(any(feature = "embedded-io", feature = "embedded-io-async"))]
pub mod io;
pub mod jid;
pub mod sasl;
pub mod server;
pub mod stanza;
pub mod stream;
pub mod time;
pub mod xml;
