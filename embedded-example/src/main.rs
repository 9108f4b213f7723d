//! A sensor that reports to an XMPP server: `#![no_std]`, `#![no_main]`,
//! no allocator, for a Cortex-M4F (`thumbv7em-none-eabihf`), run on an
//! emulated MPS2 AN386 board whose UART0 is bridged to the server's TCP
//! port (see `tests/embedded/run-qemu.sh`).
//!
//! The session: STARTTLS with TLS 1.3 by embedded-tls (the server
//! certificate verified against the CA built in), SCRAM-SHA-1, resource
//! binding, presence with the first reading as status (broadcast, and
//! directed to the watcher), then one `<message/>` per reading to the
//! watcher at an interval, XEP-0199 pings answered by the core, and a
//! polite close after the last reading. The exit status (semihosting) is 0
//! only if every reading went out and the stream closed both ways. The
//! deepest stack use is measured by painting and logged at the end.
//!
//! # The RNG: no entropy on this board
//!
//! The emulated board has no entropy source. The ChaCha20 RNG (TLS key
//! share, SCRAM nonce) is seeded from 32 bytes drawn when the image is
//! built: each image differs, but every boot of the same image repeats the
//! same "random" numbers, which is NOT secure. A real board must seed it
//! from a hardware TRNG (the RNG peripheral of an STM32, nRF or RP2040,
//! an ESP32's RNG, an ATECC secure element) at every boot.
//!
//! Build-time settings (environment): `PICOXMPP_FW_CA` (the CA, required
//! with TLS), `PICOXMPP_FW_JID` (default `alice@localhost/sensor`),
//! `PICOXMPP_FW_PASSWORD` (`alice-pass`), `PICOXMPP_FW_WATCHER`
//! (`bob@localhost`), `PICOXMPP_FW_READINGS` (5), `PICOXMPP_FW_INTERVAL_MS`
//! (1000).
#![no_std]
#![no_main]

mod clock;
mod stack;
#[cfg(feature = "tls")]
mod tls;
mod uart;

use core::fmt::Write as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use defmt_semihosting as _;
use heapless::String;
use picoxmpp::client::{Client, Config, Event};
use picoxmpp::io::{blocking::Driver, Progress};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::MessageType;
use picoxmpp::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

defmt::timestamp!("{=u32:ms}", clock::millis());

/// The receive buffer: the largest stanza the device accepts. 2 KiB holds
/// everything a server sends in this session (features, SASL, bind,
/// pings, disco).
const RX_LEN: usize = 2048;
/// Units waiting to be written.
const TX_LEN: usize = 1024;
/// TLS records: 2 KiB of plaintext (the maximum fragment length the
/// firmware asks for, RFC 6066 §4) plus the record overhead (RFC 8446
/// §5.2: header, content type, AEAD tag; embedded-tls reserves 128 bytes).
#[cfg(feature = "tls")]
const TLS_READ_LEN: usize = 2048 + embedded_tls::TLS_RECORD_OVERHEAD;
#[cfg(feature = "tls")]
const TLS_WRITE_LEN: usize = 2048;

const JID: &str = match option_env!("PICOXMPP_FW_JID") {
    Some(j) => j,
    None => "alice@localhost/sensor",
};
const PASSWORD: &str = match option_env!("PICOXMPP_FW_PASSWORD") {
    Some(p) => p,
    None => "alice-pass",
};
const WATCHER: &str = match option_env!("PICOXMPP_FW_WATCHER") {
    Some(w) => w,
    None => "bob@localhost",
};

fn setting(value: Option<&str>, default: u32) -> u32 {
    value.and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[entry]
fn main() -> ! {
    stack::paint();
    let Some(cp) = cortex_m::Peripherals::take() else {
        exit(EXIT_FAILURE)
    };
    clock::start(cp.SYST);
    defmt::warn!(
        "NO ENTROPY SOURCE on this board: the RNG is seeded from a constant built into the image, \
         so every boot repeats its TLS key share and SCRAM nonce. NOT SECURE: a real board must \
         seed it from a hardware TRNG."
    );
    let ok = session();
    defmt::info!("stack peak, whole run: {=usize} bytes", stack::deepest());
    exit(if ok { EXIT_SUCCESS } else { EXIT_FAILURE })
}

fn exit(code: debug::ExitStatus) -> ! {
    debug::exit(code);
    loop {
        cortex_m::asm::wfi();
    }
}

/// The readings: a simulated temperature sensor (the emulated board has
/// none), in hundredths of a degree.
fn read_sensor(n: u32) -> i32 {
    2_000 + 25 * n as i32 - 40 * (n % 3) as i32
}

fn format_reading<const N: usize>(prefix: &str, n: u32, total: u32) -> String<N> {
    let c = read_sensor(n);
    let mut s = String::new();
    let _ = write!(s, "{prefix}{n}/{total}: {}.{:02} C", c / 100, c % 100);
    s
}

/// The application: presence once bound, then readings at its own
/// deadlines, then the close.
struct Sensor {
    watcher: Jid<'static>,
    total: u32,
    interval_ms: u32,
    sent: u32,
    next_due: Option<Instant>,
    closing: bool,
}

/// What an event meant to the application.
enum Seen {
    Ready,
    Other,
}

impl Sensor {
    fn on_event(&mut self, event: Event<'_>) -> Seen {
        match event {
            Event::Ready { jid } => {
                defmt::info!("bound as {=str}", jid.as_str());
                return Seen::Ready;
            }
            Event::Message(_) => defmt::info!("a message arrived"),
            Event::Closed => defmt::info!("stream closed both ways"),
            _ => {}
        }
        Seen::Other
    }

    /// Presence with the first reading, broadcast (RFC 6121 §4.2) and
    /// directed to the watcher (RFC 6121 §4.6), who need not be
    /// subscribed.
    fn announce<R>(&mut self, client: &mut Client<'_, '_, R>, now: Instant) -> Result<(), ()>
    where
        R: rand_core::RngCore + rand_core::CryptoRng,
    {
        let status: String<48> = format_reading("temperature, reading ", 0, self.total);
        client.set_presence(None, Some(&status), 0).map_err(log)?;
        let watcher = self.watcher.as_str();
        client
            .send_raw(|w| {
                w.start_element("presence")?;
                w.attr("to", watcher)?;
                w.start_element("status")?;
                w.text(&status)?;
                w.end_element("status")?;
                w.end_element("presence")
            })
            .map_err(log)?;
        defmt::info!("presence sent: {=str}", status.as_str());
        self.next_due = Some(now + core::time::Duration::from_millis(self.interval_ms.into()));
        Ok(())
    }

    /// The next reading to the watcher; the close after the last.
    fn report<R>(&mut self, client: &mut Client<'_, '_, R>, now: Instant) -> Result<(), ()>
    where
        R: rand_core::RngCore + rand_core::CryptoRng,
    {
        if self.sent == self.total {
            self.next_due = None;
            self.closing = true;
            defmt::info!("closing the session");
            return client.close(now).map_err(log);
        }
        self.sent += 1;
        let body: String<48> = format_reading("reading ", self.sent, self.total);
        client
            .send_message(self.watcher, MessageType::Chat, &body)
            .map_err(log)?;
        defmt::info!("sent {=str}", body.as_str());
        self.next_due = Some(now + core::time::Duration::from_millis(self.interval_ms.into()));
        Ok(())
    }
}

fn log<E: defmt::Format>(e: E) {
    defmt::error!("{}", e);
}

/// Where a leg of the session (before TLS, after it) ended.
enum Stop {
    StartTls,
    Closed,
}

/// Drives the session over one transport until STARTTLS or the end.
fn run<T, R>(
    driver: &mut Driver<T, fn() -> Instant>,
    client: &mut Client<'_, '_, R>,
    app: &mut Sensor,
) -> Result<Stop, ()>
where
    T: embedded_io::Read + embedded_io::Write + embedded_io::ReadReady,
    T::Error: defmt::Format,
    R: rand_core::RngCore + rand_core::CryptoRng,
{
    loop {
        let mut seen = Seen::Other;
        let due = app.next_due;
        match driver
            .poll(client, due, |e| seen = app.on_event(e))
            .map_err(log)?
        {
            Progress::StartTls => return Ok(Stop::StartTls),
            Progress::Closed => return Ok(Stop::Closed),
            Progress::Event => {
                if let Seen::Ready = seen {
                    if client.salted_password().is_some() {
                        defmt::info!("SCRAM salted password available for Config::scram_cache");
                    }
                    app.announce(client, driver.now())?;
                }
            }
            Progress::Deadline => app.report(client, driver.now())?,
        }
    }
}

/// The whole session; true if every reading went out and the stream
/// closed both ways.
fn session() -> bool {
    let (Ok(jid), Ok(watcher)) = (Jid::parse(JID), Jid::parse(WATCHER)) else {
        defmt::error!("bad JID in the build settings");
        return false;
    };
    let mut app = Sensor {
        watcher,
        total: setting(option_env!("PICOXMPP_FW_READINGS"), 5),
        interval_ms: setting(option_env!("PICOXMPP_FW_INTERVAL_MS"), 1000),
        sent: 0,
        next_due: None,
        closing: false,
    };
    let (Some(rx), Some(tx)) = (
        cortex_m::singleton!(: [u8; RX_LEN] = [0; RX_LEN]),
        cortex_m::singleton!(: [u8; TX_LEN] = [0; TX_LEN]),
    ) else {
        return false;
    };
    let seed = *include_bytes!(concat!(env!("OUT_DIR"), "/seed.bin"));
    let mut rng = ChaCha20Rng::from_seed(seed);
    #[allow(unused_mut)]
    let mut config = Config::new(jid, PASSWORD);
    #[cfg(not(feature = "tls"))]
    {
        config.tls = picoxmpp::client::TlsPolicy::InsecureAllowPlaintext;
    }
    let client_rng =
        ChaCha20Rng::from_rng(&mut rng).unwrap_or_else(|_| ChaCha20Rng::from_seed(seed));
    let mut client = Client::new(config, rx, tx, client_rng);
    defmt::info!(
        "connecting as {=str}, {=u32} readings every {=u32} ms to {=str}",
        JID,
        app.total,
        app.interval_ms,
        WATCHER
    );

    let mut driver: Driver<_, fn() -> Instant> = Driver::new(uart::Uart::take(), clock::now);
    let stop = run(&mut driver, &mut client, &mut app);
    let closed = match stop {
        Ok(Stop::Closed) => true,
        Ok(Stop::StartTls) => secure_leg(driver, &mut client, &mut app, &mut rng),
        Err(()) => false,
    };
    let ok = closed && app.closing && app.sent == app.total;
    if ok {
        defmt::info!("done: {=u32} readings reported", app.sent);
    } else {
        defmt::error!("session failed after {=u32} readings", app.sent);
    }
    ok
}

/// The TLS handshake over the UART (RFC 6120 §5.4.3.3), then the rest of
/// the session over it.
#[cfg(feature = "tls")]
fn secure_leg<R>(
    driver: Driver<uart::Uart, fn() -> Instant>,
    client: &mut Client<'_, '_, R>,
    app: &mut Sensor,
    rng: &mut ChaCha20Rng,
) -> bool
where
    R: rand_core::RngCore + rand_core::CryptoRng,
{
    let (Some(read_buf), Some(write_buf)) = (
        cortex_m::singleton!(: [u8; TLS_READ_LEN] = [0; TLS_READ_LEN]),
        cortex_m::singleton!(: [u8; TLS_WRITE_LEN] = [0; TLS_WRITE_LEN]),
    ) else {
        return false;
    };
    let (uart, clock) = driver.into_parts();
    // Each phase measured on its own: painted again before the next.
    defmt::info!(
        "stack peak, boot and XMPP to STARTTLS: {=usize} bytes",
        stack::peak()
    );
    stack::paint();
    let started = clock::millis();
    let domain = Jid::parse(JID).map(|j| j.domain()).unwrap_or("localhost");
    let stream = match tls::connect(uart, domain, rng, read_buf, write_buf) {
        Ok(s) => s,
        Err(e) => {
            defmt::error!("TLS handshake failed: {}", e);
            return false;
        }
    };
    defmt::info!(
        "TLS 1.3 up in {=u32} ms, server certificate verified for {=str}",
        clock::millis() - started,
        domain
    );
    defmt::info!("stack peak, TLS handshake: {=usize} bytes", stack::peak());
    stack::paint();
    client.tls_established(picoxmpp::client::TlsBinding::None);
    let mut driver = Driver::new(stream, clock);
    let closed = matches!(run(&mut driver, client, app), Ok(Stop::Closed));
    defmt::info!("stack peak, XMPP over TLS: {=usize} bytes", stack::peak());
    closed
}

/// Without TLS (the size-report build) a server that requires it cannot
/// be used.
#[cfg(not(feature = "tls"))]
fn secure_leg<R>(
    _: Driver<uart::Uart, fn() -> Instant>,
    _: &mut Client<'_, '_, R>,
    _: &mut Sensor,
    _: &mut ChaCha20Rng,
) -> bool
where
    R: rand_core::RngCore + rand_core::CryptoRng,
{
    defmt::error!("the server requires TLS and this image has none");
    false
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(EXIT_FAILURE)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("hard fault at pc {=u32:#x}", frame.pc());
    exit(EXIT_FAILURE)
}
