//! The std adapter for picoxmpp.
//!
//! This crate will carry the blocking and tokio connections that drive the
//! core client over TCP and rustls, DNS SRV resolution, reconnection and the
//! `picoxmpp` command. None of that exists yet; today it only re-exports the
//! core crate so that std users have one dependency to name.

pub use picoxmpp;
