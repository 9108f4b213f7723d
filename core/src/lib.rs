//! picoxmpp: an XMPP library for embedded and systems code.
//!
//! `#![no_std]`, no allocator, sans-IO: bytes go in, bytes and events come
//! out. This crate holds the protocol: the streaming restricted-XML parser
//! and writer ([`xml`]), addresses ([`jid`]) and the RFC 6120 stream error
//! conditions ([`error`]). Sockets, TLS and clocks belong to the adapters.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod client;
pub mod error;
pub mod jid;
pub mod sasl;
pub mod stanza;
pub mod stream;
pub mod time;
pub mod xml;
