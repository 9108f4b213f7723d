//! The async driver, over [`embedded_io_async::Read`] + [`Write`] and a
//! caller-given [`Timer`].

use super::{io_log, step, Clock, Error, Progress, Step};
use crate::client::{Client, Event};
use crate::time::Instant;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;
use embedded_io_async::{Read, Write};

/// Sleeps until an instant of the caller's clock. Any
/// `FnMut(Instant) -> impl Future<Output = ()>` is one, e.g.
/// `|at| embassy_time::Timer::at(to_embassy(at))`.
pub trait Timer {
    /// Completes once `at` has passed.
    fn sleep_until(&mut self, at: Instant) -> impl Future<Output = ()>;
}

impl<F, Fut> Timer for F
where
    F: FnMut(Instant) -> Fut,
    Fut: Future<Output = ()>,
{
    fn sleep_until(&mut self, at: Instant) -> impl Future<Output = ()> {
        self(at)
    }
}

/// Carries a session over an async byte stream.
///
/// While the core waits, the driver races a read against `timer` sleeping
/// until the earliest deadline; when the timer wins, the read future is
/// dropped. The transport's `read` must therefore be cancel-safe (no bytes
/// lost when dropped before completion), as `embedded_io_async::Read`
/// encourages and embassy-net's TCP socket is. embedded-tls's read is not:
/// it keeps a half-read record header inside the read future, so a
/// deadline that passes while a record is arriving loses bytes. Over it,
/// keep deadlines few and far apart (keepalive off or long, no short
/// `until`), or use the blocking driver, which reads only when bytes are
/// there.
///
/// ```no_run
/// use picoxmpp::client::{Client, Config, Event};
/// use picoxmpp::io::{asynch::Driver, Error, Progress};
/// use picoxmpp::{jid::Jid, time::Instant};
///
/// async fn run<T, R>(
///     transport: T,
///     now: fn() -> Instant,
///     sleep: impl picoxmpp::io::asynch::Timer,
///     rng: R,
/// ) -> Result<(), Error<T::Error>>
/// where
///     T: embedded_io_async::Read + embedded_io_async::Write,
///     R: rand_core::RngCore + rand_core::CryptoRng,
/// {
///     let (mut rx, mut tx) = ([0u8; 2048], [0u8; 1024]);
///     let config = Config::new(Jid::parse("sensor@example.com").unwrap(), "secret");
///     let mut client = Client::new(config, &mut rx, &mut tx, rng);
///     let mut driver = Driver::new(transport, now, sleep);
///     loop {
///         match driver.poll(&mut client, None, |event| { let _ = event; }).await? {
///             Progress::StartTls => todo!("TLS over driver.into_parts().0"),
///             Progress::Closed => return Ok(()),
///             Progress::Event | Progress::Deadline => {}
///         }
///     }
/// }
/// ```
pub struct Driver<T, C, S> {
    transport: T,
    clock: C,
    timer: S,
}

impl<T, C, S> Driver<T, C, S>
where
    T: Read + Write,
    C: Clock,
    S: Timer,
{
    /// A driver over `transport`, reading time from `clock` and sleeping
    /// with `timer`.
    pub fn new(transport: T, clock: C, timer: S) -> Self {
        Driver {
            transport,
            clock,
            timer,
        }
    }

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The transport, the clock and the timer back, e.g. to wrap the
    /// transport in TLS after [`Progress::StartTls`].
    pub fn into_parts(self) -> (T, C, S) {
        (self.transport, self.clock, self.timer)
    }

    /// Now, on the driver's clock.
    pub fn now(&mut self) -> Instant {
        self.clock.now()
    }

    /// Moves bytes and time until something for the caller: one event
    /// (given to `on_event`), STARTTLS, `until` passing, or the end of the
    /// session. Each transmit unit is written whole, then flushed.
    pub async fn poll<R>(
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
                    let mut unit = unit;
                    while !unit.is_empty() {
                        match self.transport.write(unit).await.map_err(Error::Transport)? {
                            0 => return Err(Error::WriteZero),
                            n => unit = unit.get(n..).unwrap_or_default(),
                        }
                    }
                    self.transport.flush().await.map_err(Error::Transport)?;
                    continue;
                }
                Step::Stop(progress) => return Ok(progress),
                Step::Wait(wake) => wake,
            };
            let buf = client.receive_buffer();
            if buf.is_empty() {
                return Err(Error::ReceiveBufferFull);
            }
            let read = {
                let mut read = pin!(self.transport.read(buf));
                let mut sleep = pin!(async {
                    match wake {
                        Some(at) => self.timer.sleep_until(at).await,
                        None => core::future::pending().await,
                    }
                });
                poll_fn(|cx| {
                    if let Poll::Ready(r) = read.as_mut().poll(cx) {
                        return Poll::Ready(Some(r));
                    }
                    sleep.as_mut().poll(cx).map(|()| None)
                })
                .await
            };
            match read {
                Some(Ok(0)) => {
                    io_log!(debug, "picoxmpp: the transport reached its end");
                    return Err(Error::ConnectionClosed);
                }
                Some(Ok(n)) => {
                    io_log!(trace, "picoxmpp: read {} bytes", n);
                    client.commit(n, self.clock.now())
                }
                Some(Err(e)) => return Err(Error::Transport(e)),
                // The deadline passed: the core checks its timers at the
                // next poll.
                None => {}
            }
        }
    }
}
