//! The blocking driver, over [`embedded_io::Read`] + [`Write`] +
//! [`ReadReady`].

use super::{io_log, step, Clock, Error, Progress, Step};
use crate::client::{Client, Event};
use crate::time::Instant;
use embedded_io::{Read, ReadReady, Write};

/// Carries a session over a blocking byte stream.
///
/// The transport must say whether a read would block
/// ([`ReadReady`]): the driver reads only then, so the core's deadlines are
/// met without a read timeout. In between it calls the idle hook
/// ([`set_idle`](Self::set_idle); by default a spin-loop hint; a firmware
/// may wait for an interrupt there).
///
/// ```no_run
/// use picoxmpp::client::{Client, Config, Event, TlsBinding};
/// use picoxmpp::io::{blocking::Driver, Error, Progress};
/// use picoxmpp::{jid::Jid, stanza::MessageType, time::Instant};
///
/// fn report<T, R>(transport: T, now: fn() -> Instant, rng: R) -> Result<(), Error<T::Error>>
/// where
///     T: embedded_io::Read + embedded_io::Write + embedded_io::ReadReady,
///     R: rand_core::RngCore + rand_core::CryptoRng,
/// {
///     let (mut rx, mut tx) = ([0u8; 2048], [0u8; 1024]);
///     let mut config = Config::new(Jid::parse("sensor@example.com").unwrap(), "secret");
///     // Only for this sketch, which has no TLS stack: STARTTLS if offered.
///     config.tls = picoxmpp::client::TlsPolicy::InsecureAllowPlaintext;
///     let mut client = Client::new(config, &mut rx, &mut tx, rng);
///     let mut driver = Driver::new(transport, now);
///     let mut ready = false;
///     loop {
///         match driver.poll(&mut client, None, |event| ready |= matches!(event, Event::Ready { .. }))? {
///             Progress::Event if ready => {
///                 ready = false;
///                 client.set_presence(None, Some("21.5 °C"), 0)?;
///                 let watcher = Jid::parse("watcher@example.com").unwrap();
///                 client.send_message(watcher, MessageType::Chat, "21.5")?;
///                 client.close(now())?;
///             }
///             Progress::StartTls => {
///                 // Wrap `driver.into_parts().0` in TLS, then:
///                 client.tls_established(TlsBinding::None);
///             }
///             Progress::Event | Progress::Deadline => {}
///             Progress::Closed => return Ok(()),
///         }
///     }
/// }
/// ```
pub struct Driver<T, C> {
    transport: T,
    clock: C,
    idle: fn(),
}

impl<T, C> Driver<T, C>
where
    T: Read + Write + ReadReady,
    C: Clock,
{
    /// A driver over `transport`, reading time from `clock`.
    pub fn new(transport: T, clock: C) -> Self {
        Driver {
            transport,
            clock,
            idle: core::hint::spin_loop,
        }
    }

    /// What to run while nothing is readable and no deadline has passed
    /// (e.g. `cortex_m::asm::wfi` when an interrupt marks received bytes
    /// and clock ticks).
    pub fn set_idle(&mut self, idle: fn()) {
        self.idle = idle;
    }

    /// The transport, e.g. to read its statistics.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The transport and the clock back, e.g. to wrap the transport in TLS
    /// after [`Progress::StartTls`].
    pub fn into_parts(self) -> (T, C) {
        (self.transport, self.clock)
    }

    /// Now, on the driver's clock.
    pub fn now(&mut self) -> Instant {
        self.clock.now()
    }

    /// Moves bytes and time until something for the caller: one event
    /// (given to `on_event`), STARTTLS, `until` passing, or the end of the
    /// session. Each transmit unit is written whole, then the transport is
    /// flushed (RFC 6120 §4 units; servers stall on stream headers split
    /// over many writes).
    pub fn poll<R>(
        &mut self,
        client: &mut Client<'_, '_, R>,
        until: Option<Instant>,
        on_event: impl FnOnce(Event<'_>),
    ) -> Result<Progress, Error<T::Error>>
    where
        R: rand_core::RngCore + rand_core::CryptoRng,
    {
        let mut on_event = Some(on_event);
        loop {
            let now = self.clock.now();
            let wake = match step(client.poll(now)?, now, until, &mut on_event) {
                Step::Write(unit) => {
                    write_unit(&mut self.transport, unit)?;
                    continue;
                }
                Step::Stop(progress) => return Ok(progress),
                Step::Wait(wake) => wake,
            };
            // Wait for bytes or the earliest deadline.
            loop {
                if self.transport.read_ready().map_err(Error::Transport)? {
                    let buf = client.receive_buffer();
                    if buf.is_empty() {
                        return Err(Error::ReceiveBufferFull);
                    }
                    let n = self.transport.read(buf).map_err(Error::Transport)?;
                    if n == 0 {
                        io_log!(debug, "picoxmpp: the transport reached its end");
                        return Err(Error::ConnectionClosed);
                    }
                    io_log!(trace, "picoxmpp: read {} bytes", n);
                    client.commit(n, self.clock.now());
                    break;
                }
                if wake.is_some_and(|w| self.clock.now() >= w) {
                    // The core checks its timers at the next poll.
                    break;
                }
                (self.idle)();
            }
        }
    }
}

/// Writes one unit whole and flushes it.
fn write_unit<T: Write>(transport: &mut T, mut unit: &[u8]) -> Result<(), Error<T::Error>> {
    while !unit.is_empty() {
        match transport.write(unit).map_err(Error::Transport)? {
            0 => return Err(Error::WriteZero),
            n => unit = unit.get(n..).unwrap_or_default(),
        }
    }
    transport.flush().map_err(Error::Transport)
}
