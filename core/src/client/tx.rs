//! The transmit queue: whole top-level units (a stream header, a nonza, a
//! stanza) serialized back to back in the caller's transmit buffer, handed
//! out one unit at a time.
//!
//! One unit per transmit matters: Prosody and ejabberd (with Debian's expat
//! and its CVE-2023-52425 fix) stall when a stream header arrives in many
//! small TCP segments, so the adapter must be able to write each unit in
//! one call.
//!
//! Each unit is kept after its length ([`LEN`] bytes, little endian) in the
//! caller's buffer rather than in a table of the client's: the client stays
//! small, and the number of units waiting is bounded by the buffer alone.
//!
//! The client also keeps the JID the server bound at the end of the same
//! buffer ([`TxQueue::keep`]): it must outlive a lost connection
//! (XEP-0198 §5) and is read far less often than units are queued, so it
//! costs the client no table of its own, and the largest unit is the
//! buffer less its length.

use crate::error::BufferTooSmall;
use crate::xml::WriteError;

/// Bytes of the length written before each unit.
const LEN: usize = 4;

pub(crate) struct TxQueue<'b> {
    buf: &'b mut [u8],
    /// First byte (the length) of the oldest queued unit.
    start: usize,
    /// End of the queued bytes.
    end: usize,
    /// The front unit was handed out; drop it at the next `pop_sent`.
    handed_out: bool,
    /// Length of the bytes kept at the end of the buffer (see
    /// [`keep`](Self::keep)); units never reach them.
    kept: u16,
}

/// Why a unit could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// Not enough room now: `needed` bytes; draining the queue may help.
    Full { needed: usize },
    /// The unit can never be written (bad name or character).
    Write(WriteError),
}

impl<'b> TxQueue<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        TxQueue {
            buf,
            start: 0,
            end: 0,
            handed_out: false,
            kept: 0,
        }
    }

    /// The part of the buffer units may use.
    fn units_end(&self) -> usize {
        self.buf.len() - usize::from(self.kept)
    }

    /// Keeps `bytes` at the end of the buffer until the next `keep`,
    /// whatever is queued or cleared meanwhile; `false` (and nothing kept)
    /// when the units queued now leave no room for them.
    pub(crate) fn keep(&mut self, bytes: &[u8]) -> bool {
        self.compact();
        let Ok(n) = u16::try_from(bytes.len()) else {
            return false;
        };
        let Some(at) = self.buf.len().checked_sub(bytes.len()) else {
            return false;
        };
        if at < self.end {
            return false;
        }
        self.buf[at..].copy_from_slice(bytes);
        self.kept = n;
        true
    }

    /// The bytes given to [`keep`](Self::keep) (empty at first).
    pub(crate) fn kept(&self) -> &[u8] {
        self.buf.get(self.units_end()..).unwrap_or_default()
    }

    /// Moves the queued bytes to the front of the buffer, after the unit
    /// handed out last time is dropped.
    fn compact(&mut self) {
        // A unit handed out earlier is gone by now: its slice borrowed the
        // queue, so the caller has finished with it.
        self.pop_sent();
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// The length of the unit whose length starts at `at`.
    fn len_at(&self, at: usize) -> usize {
        let mut n = [0u8; LEN];
        n.copy_from_slice(&self.buf[at..at + LEN]);
        u32::from_le_bytes(n) as usize
    }

    /// Serializes one unit with `write` (which returns the bytes it wrote,
    /// or the size it needs).
    pub(crate) fn push(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<(), QueueError> {
        self.compact();
        // No room for the length: the writer still says what it needs.
        let units_end = self.units_end();
        let room = self
            .buf
            .get_mut(self.end + LEN..units_end)
            .unwrap_or_default();
        let fits = !room.is_empty();
        match write(room) {
            Ok(n) if !fits => Err(QueueError::Full { needed: n }),
            Ok(n) => {
                self.buf[self.end..self.end + LEN].copy_from_slice(&(n as u32).to_le_bytes());
                self.end += LEN + n;
                Ok(())
            }
            Err(WriteError::BufferTooSmall(BufferTooSmall { needed })) => {
                Err(QueueError::Full { needed })
            }
            Err(e) => Err(QueueError::Write(e)),
        }
    }

    /// Drops the unit handed out last time, if any: the caller has written
    /// it.
    pub(crate) fn pop_sent(&mut self) {
        if self.handed_out {
            self.handed_out = false;
            if !self.is_empty() {
                self.start += LEN + self.len_at(self.start);
            }
            if self.is_empty() {
                self.start = 0;
                self.end = 0;
            }
        }
    }

    /// The oldest unit, marked as handed out.
    pub(crate) fn front(&mut self) -> Option<&[u8]> {
        if self.is_empty() {
            return None;
        }
        let n = self.len_at(self.start);
        self.handed_out = true;
        self.buf.get(self.start + LEN..self.start + LEN + n)
    }

    /// Forgets everything queued (the connection is gone), not what is
    /// kept.
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.handed_out = false;
    }

    /// Whether nothing waits to be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The largest unit the transmit buffer can hold (its size, less the
    /// length kept before the unit and the bytes kept at its end).
    pub(crate) fn capacity(&self) -> usize {
        self.units_end().saturating_sub(LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(q: &mut TxQueue<'_>, s: &str) -> Result<(), QueueError> {
        q.push(|b| match b.get_mut(..s.len()) {
            Some(d) => {
                d.copy_from_slice(s.as_bytes());
                Ok(s.len())
            }
            None => Err(WriteError::BufferTooSmall(BufferTooSmall {
                needed: s.len(),
            })),
        })
    }

    #[test]
    fn units_come_out_whole_and_in_order() {
        let mut buf = [0u8; 16 + 2 * LEN];
        let mut q = TxQueue::new(&mut buf);
        put(&mut q, "<a/>").unwrap();
        put(&mut q, "<bb/>").unwrap();
        assert_eq!(q.front(), Some(&b"<a/>"[..]));
        // Until the caller comes back, the same unit stays in front.
        assert_eq!(q.front(), Some(&b"<a/>"[..]));
        q.pop_sent();
        put(&mut q, "<ccc/>").unwrap();
        assert_eq!(q.front(), Some(&b"<bb/>"[..]));
        q.pop_sent();
        assert_eq!(q.front(), Some(&b"<ccc/>"[..]));
        q.pop_sent();
        assert!(q.is_empty() && q.front().is_none());
        // A unit larger than the room left reports what it needs.
        put(&mut q, "0123456789").unwrap();
        assert_eq!(
            put(&mut q, "0123456789"),
            Err(QueueError::Full { needed: 10 })
        );
    }

    #[test]
    fn as_many_units_wait_as_the_buffer_holds() {
        // The lengths live in the buffer: no table caps the count.
        let mut buf = [0u8; 40 * (4 + LEN)];
        let mut q = TxQueue::new(&mut buf);
        for _ in 0..40 {
            put(&mut q, "<a/>").unwrap();
        }
        assert_eq!(put(&mut q, "<a/>"), Err(QueueError::Full { needed: 4 }));
        for _ in 0..40 {
            assert_eq!(q.front(), Some(&b"<a/>"[..]));
            q.pop_sent();
        }
        assert!(q.is_empty());
        // A unit needs its length's room too.
        let mut small = [0u8; 6];
        let mut q = TxQueue::new(&mut small);
        assert_eq!(q.capacity(), 6 - LEN);
        assert_eq!(put(&mut q, "<a/>"), Err(QueueError::Full { needed: 4 }));
        put(&mut q, "ab").unwrap();
        assert_eq!(q.front(), Some(&b"ab"[..]));
    }

    #[test]
    fn kept_bytes_survive_units_and_clearing_and_shrink_the_room() {
        let mut buf = [0u8; 16];
        let mut q = TxQueue::new(&mut buf);
        assert_eq!(q.kept(), b"");
        put(&mut q, "<a/>").unwrap();
        assert!(q.keep(b"j@d/r"));
        assert_eq!(q.capacity(), 16 - 5 - LEN);
        // 4 + 4 queued, 5 kept: 3 left, too few for a length and a unit.
        assert_eq!(put(&mut q, "<b/>"), Err(QueueError::Full { needed: 4 }));
        assert_eq!(q.front(), Some(&b"<a/>"[..]));
        q.pop_sent();
        put(&mut q, "<bb/>").unwrap();
        // No room while units use it; nothing changes then.
        assert!(!q.keep(b"0123456789"));
        assert_eq!(q.kept(), b"j@d/r");
        assert_eq!(q.front(), Some(&b"<bb/>"[..]));
        q.clear();
        assert_eq!(q.kept(), b"j@d/r");
        assert!(q.keep(b"0123456789"));
        assert_eq!(q.kept(), b"0123456789");
        assert!(q.keep(b""));
        assert_eq!(q.capacity(), 16 - LEN);
    }
}
