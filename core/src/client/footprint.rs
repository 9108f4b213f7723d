//! The client's own memory, besides the caller's buffers, checked when the
//! crate is built: growing it is a decision, not an accident.
//!
//! The target is 1 KiB on a Cortex-M (thumbv7em-none-eabihf). Where the
//! bytes go on that target with the default features (SCRAM-SHA-1, -256,
//! -512), and why they are not fewer:
//!
//! | part | bytes |
//! |---|---|
//! | XML parser: 16 open-element offsets (68), [`MAX_PREFIX_DECLS`](crate::xml::MAX_PREFIX_DECLS) prefix declarations (68), the stream header's namespace scope in a 64-byte pool (72), positions and limits (136) | 344 |
//! | one slot for the channel-binding data, then the SASL exchange, then the SCRAM salted password to cache (156 with SCRAM-SHA-1 alone) | 212 |
//! | stream management: counters, timers, its policy, the caller's queue (the resumption id and `location` live in that queue's first [`SM_NAMES_LEN`](super::SM_NAMES_LEN) bytes) | 128 |
//! | the caller's [`Config`](super::Config), its durations kept as milliseconds and its JID as offsets (84 without `disco-info`'s identity and features) | 116 |
//! | four pending iq requests (id serial, addressee tag, deadline, purpose, packed in 21 bytes each) and the tag key | 101 |
//! | the failure | 32 |
//! | timers (an absent one is the clock's last millisecond), the XEP-0478 limit, the iq id counter and prefix, state and flags | 50 |
//! | queued events (5 bytes each) | 21 |
//! | the transmit queue (each unit's length lives before it in the caller's buffer) | 20 |
//!
//! The JID the server bound is kept at the end of the caller's transmit
//! buffer (`tx.rs`), across a lost connection for resumption (XEP-0198
//! §5): the largest unit is the buffer less the JID's length.
//! A `see-other-host` value is kept in the receive buffer once the session
//! is over. The caller's RNG is kept by value and adds its own size; the
//! guard below counts a zero-sized one (a handle to a hardware generator).

use super::Client;
use core::mem::size_of;

/// An RNG that takes no room, for measuring.
struct HandleRng;

/// The client state measured when this guard was last moved, on a 32-bit
/// target (thumbv7em-none-eabihf), with the default features (936
/// without them).
#[cfg(target_pointer_width = "32")]
const MAX_STATE: usize = 1024;
/// The same on a 64-bit target (x86-64; 1,168 without the default
/// features).
#[cfg(target_pointer_width = "64")]
const MAX_STATE: usize = 1272;

#[cfg(any(target_pointer_width = "32", target_pointer_width = "64"))]
const _: () = assert!(size_of::<Client<'static, 'static, HandleRng>>() <= MAX_STATE);
