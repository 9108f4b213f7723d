//! The std adapter for picoxmpp: the sans-IO core driven over
//! `std::net::TcpStream` and rustls.
//!
//! The adapter moves bytes, time and TLS between a socket and the core
//! [`Client`](picoxmpp::client::Client); every XMPP decision is the
//! core's. It has the blocking [`Connection`] and, with the `tokio`
//! feature, the same over tokio (`AsyncConnection`): STARTTLS or direct
//! TLS, certificates verified against Mozilla's roots or a CA file,
//! `tls-exporter` and `tls-server-end-point` channel binding for
//! SCRAM-*-PLUS. Beside them: DNS SRV ordering ([`srv`]), the
//! reconnection policy ([`reconnect`]) and the `picoxmpp` command
//! ([`cli`]). [`Connection::reconnect_automatically`] keeps a session up
//! across broken connections, resuming it (XEP-0198).
//!
//! An echo bot:
//!
//! ```no_run
//! use picoxmpp::client::{Config, Event};
//! use picoxmpp::jid::Jid;
//! use picoxmpp::stanza::MessageType;
//! use picoxmpp_std::{Connection, TlsSettings};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 4 * 1024]);
//! let config = Config::new(Jid::parse("juliet@example.com")?, "secret");
//! let tls = TlsSettings::new(); // Mozilla's roots, STARTTLS
//! let mut conn = Connection::connect(("example.com", 5222), &mut rx, &mut tx, config, &tls)?;
//! // An event borrows the receive buffer: copy out what the answer needs.
//! while let Some(echo) = conn.next_event(|event| match event {
//!     Event::Message(m) => Some((m.from()?.to_string(), m.body()?.to_string())),
//!     _ => None,
//! })? {
//!     if let Some((from, body)) = echo {
//!         conn.client().send_message(Jid::parse(&from)?, MessageType::Chat, &body)?;
//!     }
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod connection;
pub mod error;
pub mod reconnect;
pub mod server;
pub mod srv;
pub mod tls;
#[cfg(feature = "tokio")]
#[path = "tokio.rs"]
pub mod tokio_connection;

#[cfg(test)]
mod test_rng;

pub use connection::{Connection, Direction, Next};
pub use error::Error;
pub use picoxmpp;
/// The rustls this crate is built with: its types appear in
/// [`Error::Tls`], [`TlsSettings::add_ca_der`] and [`Connection::tls`].
pub use rustls;
pub use tls::{ChannelBindings, TlsSettings};
#[cfg(feature = "tokio")]
pub use tokio_connection::AsyncConnection;
