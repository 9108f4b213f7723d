//! The transmit queue: whole top-level units (a stream header, a nonza, a
//! stanza) serialized back to back in the caller's transmit buffer, handed
//! out one unit at a time.
//!
//! One unit per transmit matters: Prosody and ejabberd (with Debian's expat
//! and its CVE-2023-52425 fix) stall when a stream header arrives in many
//! small TCP segments, so the adapter must be able to write each unit in
//! one call.

use crate::error::BufferTooSmall;
use crate::xml::WriteError;
use heapless::Deque;

/// How many units may wait in the queue at once.
pub(crate) const MAX_UNITS: usize = 16;

pub(crate) struct TxQueue<'b> {
    buf: &'b mut [u8],
    /// First byte of the oldest queued unit.
    start: usize,
    /// End of the queued bytes.
    end: usize,
    /// Lengths of the queued units, oldest first.
    units: Deque<u32, MAX_UNITS>,
    /// The front unit was handed out; drop it at the next `pop_sent`.
    handed_out: bool,
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
            units: Deque::new(),
            handed_out: false,
        }
    }

    /// Serializes one unit with `write` (which returns the bytes it wrote,
    /// or the size it needs).
    pub(crate) fn push(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<(), QueueError> {
        // A unit handed out earlier is gone by now: its slice borrowed the
        // queue, so the caller has finished with it.
        self.pop_sent();
        if self.units.is_full() {
            return Err(QueueError::Full { needed: 0 });
        }
        if self.start > 0 {
            // Move the queued bytes to the front to make room.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        match write(&mut self.buf[self.end..]) {
            Ok(n) => {
                self.end += n;
                // Cannot fail: checked `is_full` above.
                let _ = self.units.push_back(n as u32);
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
            if let Some(n) = self.units.pop_front() {
                self.start += n as usize;
            }
            if self.units.is_empty() {
                self.start = 0;
                self.end = 0;
            }
        }
    }

    /// The oldest unit, marked as handed out.
    pub(crate) fn front(&mut self) -> Option<&[u8]> {
        let n = *self.units.front()? as usize;
        self.handed_out = true;
        self.buf.get(self.start..self.start + n)
    }

    /// Forgets everything queued (the connection is gone).
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.units.clear();
        self.handed_out = false;
    }

    /// Whether nothing waits to be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The size of the transmit buffer: no unit can be larger.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
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
        let mut buf = [0u8; 16];
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
}
