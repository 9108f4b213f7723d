//! The embedded example for picoxmpp.
//!
//! This crate will become a `#![no_main]` firmware for `thumbv7em-none-eabihf`
//! that reports presence to an XMPP server over embedded-io and embedded-tls.
//! It does not exist yet: today it is an empty `no_std` library that proves
//! the core links without `std`.
#![no_std]

pub use picoxmpp;
