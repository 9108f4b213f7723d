//! UART0 of the MPS2 boards: an Arm CMSDK APB UART (Arm DDI 0479C §4.3),
//! polled, as an `embedded_io` byte stream. Under QEMU,
//! `-serial tcp:HOST:PORT` bridges it to a TCP connection.

use core::ptr::{read_volatile, write_volatile};

const BASE: usize = 0x4000_4000;
const DATA: *mut u32 = BASE as *mut u32;
const STATE: *mut u32 = (BASE + 0x04) as *mut u32;
const CTRL: *mut u32 = (BASE + 0x08) as *mut u32;
const BAUDDIV: *mut u32 = (BASE + 0x10) as *mut u32;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// The UART, owned once by the firmware.
pub struct Uart(());

/// The UART never fails: a full transmitter waits, a full receiver holds
/// the sender back (QEMU stops reading the socket).
#[derive(Debug, defmt::Format)]
pub enum Never {}

impl embedded_io::Error for Never {
    fn kind(&self) -> embedded_io::ErrorKind {
        match *self {}
    }
}

impl core::fmt::Display for Never {
    fn fmt(&self, _: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {}
    }
}

impl core::error::Error for Never {}

fn state() -> u32 {
    // SAFETY: STATE is the UART0 status register of the MPS2 memory map,
    // always readable.
    unsafe { read_volatile(STATE) }
}

/// Whether a received byte waits in the receive register.
pub fn rx_ready() -> bool {
    state() & STATE_RX_FULL != 0
}

impl Uart {
    /// Enables UART0 for transmit and receive. Call once.
    pub fn take() -> Self {
        // SAFETY: UART0's registers on the MPS2 memory map; nothing else
        // uses them, and the divider is the smallest the CMSDK UART accepts
        // (QEMU does not model the bit rate).
        unsafe {
            write_volatile(BAUDDIV, 16);
            write_volatile(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        }
        Uart(())
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Never;
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Never> {
        Ok(rx_ready())
    }
}

impl embedded_io::Read for Uart {
    /// Waits for one byte, then takes what else is already there.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Never> {
        let mut n = 0;
        for slot in buf.iter_mut() {
            if n > 0 && !rx_ready() {
                break;
            }
            while !rx_ready() {}
            // SAFETY: DATA is UART0's data register; reading takes the byte.
            *slot = unsafe { read_volatile(DATA) } as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Never> {
        for &b in buf {
            while state() & STATE_TX_FULL != 0 {}
            // SAFETY: DATA is UART0's data register; the transmitter has room.
            unsafe { write_volatile(DATA, u32::from(b)) };
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Never> {
        while state() & STATE_TX_FULL != 0 {}
        Ok(())
    }
}
