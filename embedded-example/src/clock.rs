//! The clock: SysTick interrupts every millisecond on the 25 MHz core clock
//! of the MPS2 boards.

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::exception;
use picoxmpp::time::Instant;

const CORE_HZ: u32 = 25_000_000;

/// Milliseconds since [`start`]; wraps after 49 days, far beyond a session.
static MILLIS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// Starts the millisecond tick.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Milliseconds since boot.
pub fn millis() -> u32 {
    MILLIS.load(Ordering::Relaxed)
}

/// Now, as the core's [`Instant`].
pub fn now() -> Instant {
    Instant::from_millis(u64::from(millis()))
}
