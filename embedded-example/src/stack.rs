//! Stack measurement by painting: every free word between the end of the
//! static data and the stack pointer gets a pattern at boot; the lowest
//! word that lost it marks the deepest the stack went.

use core::ptr::{addr_of, read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The deepest use measured before the last repainting.
static DEEPEST: AtomicUsize = AtomicUsize::new(0);
static PAINTED: AtomicBool = AtomicBool::new(false);

const PAINT: u32 = 0xACE0_BA5E;
/// Left untouched below the stack pointer while painting: the painting
/// function's own frame.
const MARGIN: usize = 256;

extern "C" {
    /// cortex-m-rt: the first free address after .bss and .uninit.
    static __sheap: u32;
    /// cortex-m-rt: the initial stack pointer, the top of RAM.
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker symbols are taken.
    (addr_of!(__sheap) as usize, addr_of!(_stack_start) as usize)
}

/// Paints the free stack area: first thing in `main`, and again to
/// measure a later phase on its own ([`peak`]); [`deepest`] keeps the
/// whole run's figure.
pub fn paint() {
    if PAINTED.swap(true, Ordering::Relaxed) {
        DEEPEST.fetch_max(peak(), Ordering::Relaxed);
    }
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize - MARGIN;
    let mut p = bottom;
    while p < sp {
        // SAFETY: [__sheap, sp - MARGIN) is RAM nobody uses yet: no heap,
        // and the stack lives above sp.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The deepest the stack has been since the last [`paint`], in bytes.
pub fn peak() -> usize {
    let (bottom, top) = bounds();
    let mut p = bottom;
    // SAFETY: reads words of RAM between the end of .bss and the top.
    while p < top && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// The deepest the stack has been since boot, in bytes.
pub fn deepest() -> usize {
    DEEPEST.load(Ordering::Relaxed).max(peak())
}
