//! Decimal numbers as text, for the attributes and ids the client writes
//! (XEP-0198 `h`, RFC 6121 `<priority/>`, iq ids), without `core::fmt`:
//! its formatting machinery costs a microcontroller kilobytes of flash for
//! what is a division loop.

/// A number written out in decimal, held inline.
pub(crate) struct Decimal {
    digits: [u8; 11],
    start: usize,
}

impl Decimal {
    /// `n` in decimal, as `{n}` writes it.
    pub(crate) fn new(n: u32) -> Self {
        Self::signed(false, n)
    }

    /// `n` in decimal, with `-` when negative, as `{n}` writes it.
    pub(crate) fn from_i32(n: i32) -> Self {
        Self::signed(n < 0, n.unsigned_abs())
    }

    fn signed(negative: bool, mut n: u32) -> Self {
        let mut digits = [0u8; 11];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if negative {
            start -= 1;
            digits[start] = b'-';
        }
        Decimal { digits, start }
    }

    /// The digits (and sign).
    pub(crate) fn as_str(&self) -> &str {
        let digits = self.digits.get(self.start..).unwrap_or_default();
        core::str::from_utf8(digits).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::Decimal;
    use std::string::ToString;

    #[test]
    fn writes_what_display_writes() {
        for n in [0, 1, 9, 10, 99, 100, 4_294_967_295, 1_000_000_007] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
        for n in [0, -1, 1, -128, 127, i32::MIN, i32::MAX, -10] {
            assert_eq!(Decimal::from_i32(n).as_str(), n.to_string());
        }
    }
}
