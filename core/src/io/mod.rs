//! Drivers that carry a [`Client`](crate::client::Client) session over an
//! `embedded-io` or `embedded-io-async`
//! byte stream: any network stack that offers those traits (embassy-net,
//! smoltcp sockets, a W5500 driver, a UART modem, embedded-tls) can carry a
//! session.
//!
//! A driver only moves bytes and time between the transport and the core:
//! it writes each [`Output::Transmit`] unit
//! whole, reads into [`Client::receive_buffer`](crate::client::Client::receive_buffer)
//! while the core waits, reads the caller's [`Clock`], and wakes up at the
//! core's deadlines. Every protocol decision stays in the core.
//!
//! - `blocking::Driver` (feature `embedded-io`): the transport also
//!   implements `embedded_io::ReadReady`, so the driver only reads when a
//!   read will not block and can honour the core's deadlines (pings, iq
//!   timeouts, the polite-close timeout) without a read timeout.
//! - `asynch::Driver` (feature `embedded-io-async`): the caller gives a
//!   `asynch::Timer` (e.g. `embassy_time::Timer::at`), and the driver races
//!   the read against it.
//!
//! Each call of `poll` runs until one of the [`Progress`] cases: one event
//! was handed to the caller's closure, STARTTLS must be run, the caller's
//! own deadline passed, or the session is over. Commands
//! ([`send_message`](crate::client::Client::send_message),
//! [`close`](crate::client::Client::close)...) go between calls.
//!
//! STARTTLS (RFC 6120 §5.4.3.3): on [`Progress::StartTls`] the caller takes
//! the plain transport back (`into_parts`), runs its TLS
//! handshake over it (e.g. wraps it in an `embedded_tls::TlsConnection`),
//! calls [`Client::tls_established`](crate::client::Client::tls_established),
//! and goes on with a driver over the TLS stream.

use crate::client::{ClientError, Event, Output};
use crate::time::Instant;
use core::fmt;

#[cfg(feature = "embedded-io-async")]
pub mod asynch;
#[cfg(feature = "embedded-io")]
pub mod blocking;

/// The caller's monotonic clock, read by the driver at every input and
/// poll. Any `FnMut() -> Instant` is one.
pub trait Clock {
    /// Now, on the caller's clock.
    fn now(&mut self) -> Instant;
}

impl<F: FnMut() -> Instant> Clock for F {
    fn now(&mut self) -> Instant {
        self()
    }
}

/// Where a driver's `poll` stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// One event went to the caller's closure: react to it (send, close...)
    /// and poll again.
    Event,
    /// The server accepted `<starttls/>` (RFC 6120 §5.4.2.3): run the TLS
    /// handshake over the transport, call
    /// [`Client::tls_established`](crate::client::Client::tls_established),
    /// and poll again with a driver over the TLS stream.
    StartTls,
    /// The caller's own deadline (the `until` argument) passed with nothing
    /// else to report: do the periodic work and poll again.
    Deadline,
    /// The session is over (the stream is closed both ways or the client
    /// gave up): drop the connection.
    Closed,
}

/// Why a driver stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The session failed or refused; see [`ClientError::fault`].
    Client(ClientError),
    /// The transport failed.
    Transport(E),
    /// The transport reached its end (a read returned 0 bytes) while the
    /// session was still open: the connection is gone (RFC 6120 §4.4 asks
    /// for a `</stream:stream>` first).
    ConnectionClosed,
    /// A write accepted no bytes: the transport cannot take the unit.
    WriteZero,
    /// The receive buffer has no free byte while the core waits for more
    /// input; the core reports an oversized stanza before this can happen,
    /// so it means a buffer far too small for the stream.
    ReceiveBufferFull,
}

impl<E> From<ClientError> for Error<E> {
    fn from(e: ClientError) -> Self {
        Error::Client(e)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Client(e) => write!(f, "{e}"),
            Error::Transport(e) => write!(f, "transport error: {e:?}"),
            Error::ConnectionClosed => f.write_str("the connection closed before the stream"),
            Error::WriteZero => f.write_str("the transport accepted no bytes"),
            Error::ReceiveBufferFull => f.write_str("the receive buffer is full"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// Logs a driver step through defmt and/or log (features `defmt`, `log`);
/// without either, it expands to nothing.
macro_rules! io_log {
    ($level:ident, $fmt:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        defmt::$level!($fmt $(, $arg)*);
        #[cfg(feature = "log")]
        log::$level!($fmt $(, $arg)*);
    }};
}
pub(crate) use io_log;

/// What a driver does with one output of the core.
enum Step<'a> {
    /// Write this unit whole, flush, and poll again.
    Write(&'a [u8]),
    /// Read until bytes arrive or this deadline passes, and poll again.
    Wait(Option<Instant>),
    /// Hand this to the caller.
    Stop(Progress),
}

/// Sorts one output of the core, the same for both drivers: an event goes
/// to `on_event` (taken the first time), and the caller's `until` joins
/// the core's own deadline.
fn step<'a, F: FnOnce(Event<'_>)>(
    output: Output<'a>,
    now: Instant,
    until: Option<Instant>,
    on_event: &mut Option<F>,
) -> Step<'a> {
    match output {
        Output::Transmit(unit) => {
            io_log!(trace, "picoxmpp: writing a unit of {} bytes", unit.len());
            Step::Write(unit)
        }
        Output::Event(event) => {
            if let Some(f) = on_event.take() {
                f(event);
            }
            Step::Stop(Progress::Event)
        }
        Output::StartTls => {
            io_log!(debug, "picoxmpp: the transport must start TLS");
            Step::Stop(Progress::StartTls)
        }
        Output::Closed => {
            io_log!(debug, "picoxmpp: session over");
            Step::Stop(Progress::Closed)
        }
        Output::Wait(_) if until.is_some_and(|u| now >= u) => Step::Stop(Progress::Deadline),
        Output::Wait(deadline) => Step::Wait(earliest(deadline, until)),
    }
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_deadline() {
        let (a, b) = (Instant::from_millis(5), Instant::from_millis(9));
        assert_eq!(earliest(Some(a), Some(b)), Some(a));
        assert_eq!(earliest(Some(b), Some(a)), Some(a));
        assert_eq!(earliest(None, Some(b)), Some(b));
        assert_eq!(earliest(Some(a), None), Some(a));
        assert_eq!(earliest(None, None), None);
    }
}
