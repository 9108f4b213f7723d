//! The size profile of picoxmpp's core on a Cortex-M4F: a minimal client
//! that negotiates (SCRAM-SHA-1, bind), then sends presence, a message and
//! an iq, with bytes from and to UART0 so that nothing is optimised away.
//! Not meant to run: tests/embedded/footprint.sh measures its sections
//! and symbols (opt-level "z", LTO).
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::{read_volatile, write_volatile};
use cortex_m_rt::entry;
use picoxmpp::client::{Client, Config, Event, Output, TlsBinding};
use picoxmpp::jid::Jid;
use picoxmpp::sasl::Mechanism;
use picoxmpp::stanza::{IqType, MessageType};
use picoxmpp::time::Instant;

/// A stand-in RNG (xorshift): the profile measures the core, not an RNG.
/// Never use it for real nonces.
struct Xorshift(u32);

impl rand_core::RngCore for Xorshift {
    fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_u32(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Xorshift {}

type Profiled = Client<'static, 'static, Xorshift>;

/// Not used by the program: its symbol size is `size_of::<Client>()` for
/// this target, which the footprint report reads with `nm`.
#[used]
#[no_mangle]
static mut PICOXMPP_CLIENT_SIZE_PROBE: MaybeUninit<Profiled> = MaybeUninit::uninit();

const UART_DATA: *mut u32 = 0x4000_4000 as *mut u32;
const UART_STATE: *mut u32 = 0x4000_4004 as *mut u32;

fn read(buf: &mut [u8]) -> usize {
    let mut n = 0;
    // SAFETY: UART0's registers on the MPS2 memory map.
    while n < buf.len() && unsafe { read_volatile(UART_STATE) } & 2 != 0 {
        buf[n] = unsafe { read_volatile(UART_DATA) } as u8;
        n += 1;
    }
    n
}

fn write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: UART0's data register.
        unsafe { write_volatile(UART_DATA, u32::from(b)) };
    }
}

fn now() -> Instant {
    // SAFETY: SysTick's current value register, as a stand-in clock.
    Instant::from_millis(u64::from(unsafe {
        read_volatile(0xE000_E018 as *const u32)
    }))
}

#[entry]
fn main() -> ! {
    static MECHANISMS: [Mechanism; 1] = [Mechanism::ScramSha1];
    let mut rx = [0u8; 2048];
    let mut tx = [0u8; 1024];
    let Ok(jid) = Jid::parse("sensor@example.com/probe") else {
        halt()
    };
    let mut config = Config::new(jid, "secret");
    config.mechanisms = Some(&MECHANISMS);
    let mut client = Client::new(config, &mut rx, &mut tx, Xorshift(0x1234_5678));
    loop {
        let mut ready = false;
        match client.poll(now()) {
            Ok(Output::Transmit(unit)) => write(unit),
            Ok(Output::StartTls) => client.tls_established(TlsBinding::None),
            Ok(Output::Event(e)) => ready = matches!(e, Event::Ready { .. }),
            Ok(Output::Wait(_)) => {
                let n = read(client.receive_buffer());
                client.commit(n, now());
            }
            Ok(Output::Closed) | Err(_) => break,
        }
        if ready {
            let to = Jid::parse("watcher@example.com").unwrap_or(jid);
            let _ = client.set_presence(None, Some("21.5 C"), 0);
            let _ = client.send_message(to, MessageType::Chat, "21.5");
            let _ = client.send_iq(
                Some(to),
                IqType::Get,
                |w| {
                    w.start_element("ping")?;
                    w.ns("urn:xmpp:ping")?;
                    w.end_element("ping")
                },
                now(),
            );
            let _ = client.close(now());
        }
    }
    halt()
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    halt()
}
