//! The client's own memory, besides the caller's buffers, checked when the
//! crate is built: growing it is a decision, not an accident.
//!
//! The target is 1 KiB on a Cortex-M (thumbv7em-none-eabihf). Where the
//! bytes go on that target (and why they are not fewer):
//!
//! | part | bytes |
//! |---|---|
//! | XML parser: 16 open-element offsets, 16 prefix declarations, the stream header's namespace scope, positions | 488 |
//! | one slot for the channel-binding data, then the SASL exchange, then the SCRAM salted password to cache and the bound JID (up to [`MAX_BOUND_JID_LEN`](super::MAX_BOUND_JID_LEN) bytes) | 340 |
//! | the caller's [`Config`](super::Config), kept by value | 192 |
//! | four pending iq requests (id serial, addressee tag, deadline) and the tag key | 120 |
//! | the transmit queue's unit lengths | 96 |
//! | queued events, the failure, timers, counters, flags | 148 |
//!
//! A `see-other-host` value is kept in the receive buffer once the session
//! is over. The caller's RNG is kept by value and adds its own size; the
//! guard below counts a zero-sized one (a handle to a hardware generator).

use super::Client;
use core::mem::size_of;

/// An RNG that takes no room, for measuring.
struct HandleRng;

/// The client state measured when this guard was last moved, on a 32-bit
/// target (thumbv7em-none-eabihf).
#[cfg(target_pointer_width = "32")]
const MAX_STATE: usize = 1928;
/// The same on a 64-bit target (x86-64).
#[cfg(target_pointer_width = "64")]
const MAX_STATE: usize = 2216;

#[cfg(any(target_pointer_width = "32", target_pointer_width = "64"))]
const _: () = assert!(size_of::<Client<'static, 'static, HandleRng>>() <= MAX_STATE);
