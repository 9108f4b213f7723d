//! Stream management (XEP-0198 v3) and client state indication (XEP-0352).
//!
//! Outbound stanzas go through the *unacked queue*, a byte queue in a
//! buffer the caller lends with [`Client::enable_stream_management`]: each
//! stanza is serialized there once, copied into the transmit queue when it
//! has room ("pumped"), and kept until the server's `<a h=''/>` covers it.
//! A resumed stream rewinds the pump, so exactly the stanzas the server has
//! not handled go out again (XEP-0198 §5), in their order. The queue never
//! drops: when it is full, sending reports
//! [`ClientError::UnackedQueueFull`] and asks the server for an ack.
//!
//! Counters are `u32` and wrap at 2^32; they are compared with serial
//! arithmetic (XEP-0198 §4: "the value of 'h' ... MUST wrap around to 0").
//!
//! The resumable state can be exported to a byte blob (see
//! [`Client::export_resumable`] for the format) and imported into a new
//! [`Client`] after a reboot.

use super::{Client, ClientError, Queued, State, MAX_BOUND_JID_LEN};
use crate::decimal::Decimal;
use crate::error::StreamErrorCondition;
use crate::jid::Jid;
use crate::stream::ns;
use crate::time::{Instant, MaybeInstant};
use crate::xml::{StreamHeaderBuilder, WriteError, Writer};
use core::time::Duration;

/// Whether stream management is built in (feature `stream-management`).
/// Without it the checks below are constant and the compiler drops the
/// XEP-0198 code a small device never runs: `<sm/>` offers are ignored.
pub(super) const COMPILED: bool = cfg!(feature = "stream-management");

/// Longest resumption id (XEP-0198 §5 `id`) kept; Prosody sends a UUID
/// (36 bytes), ejabberd a base64 term of about 60. A longer id makes the
/// stream not resumable, never a truncated id.
pub const MAX_SM_ID_LEN: usize = 96;

/// Bytes of the unacked queue kept for the stanzas the core sends itself
/// (answers to pings and disco, errors for unhandled requests), which the
/// application cannot fill.
pub const RESERVED_FOR_ANSWERS: usize = 512;

/// Bytes at the start of the buffer lent to
/// [`Client::enable_stream_management`] that keep the resumption id and
/// the `location` (XEP-0198 §5) rather than stanzas: the session's names
/// live in the caller's memory, so a client without stream management
/// pays nothing for them. The unacked queue is the rest of the buffer.
pub const SM_NAMES_LEN: usize = 256;

/// Version byte of the blob written by [`Client::export_resumable`].
pub const RESUME_BLOB_VERSION: u8 = 1;

/// What to do with the stanzas the server never acknowledged when a
/// resumption fails (XEP-0198 §5: `<failed/>`; the session is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OnFailedResume {
    /// Hand each one back as [`super::Event::Unacked`], oldest first, after
    /// [`super::Event::Rebound`]: the application decides (a reading may be
    /// stale by now).
    HandBack,
    /// Send them again on the new session, before anything sent later. The
    /// server may then deliver some twice: XEP-0198 cannot tell which of
    /// them the lost session handled.
    Resend,
}

/// The stream management policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SmConfig {
    /// Ask for resumption (XEP-0198 §5 `resume='true'`).
    pub resume: bool,
    /// The preferred longest resumption time, in seconds (`max`); the
    /// server has the last word.
    pub max: Option<u32>,
    /// Send `<r/>` after this many stanzas without one (0: never by count).
    pub request_every: u32,
    /// Send `<r/>` when a stanza has gone this long without one.
    pub request_after: Option<Duration>,
    /// The fate of unacknowledged stanzas when resumption fails.
    pub on_failed_resume: OnFailedResume,
}

impl Default for SmConfig {
    /// Resumption on, an ack request every 5 stanzas or after 2 s, hand
    /// back on failure.
    fn default() -> Self {
        SmConfig {
            resume: true,
            max: None,
            request_every: 5,
            request_after: Some(Duration::from_secs(2)),
            on_failed_resume: OnFailedResume::HandBack,
        }
    }
}

/// Stanzas serialized back to back, each after its length (`u32` little
/// endian), in the caller's buffer. `[start, pumped)` went to the transmit
/// queue and wait for an ack; `[pumped, end)` wait for transmit room.
pub(crate) struct UnackedQueue<'b> {
    buf: &'b mut [u8],
    start: usize,
    pumped: usize,
    end: usize,
    /// Stanzas in `[start, pumped)` and in `[pumped, end)`.
    sent_units: u32,
    waiting_units: u32,
}

const LEN: usize = 4;

impl<'b> UnackedQueue<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        UnackedQueue {
            buf,
            start: 0,
            pumped: 0,
            end: 0,
            sent_units: 0,
            waiting_units: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn len_at(&self, at: usize) -> usize {
        let mut n = [0u8; LEN];
        n.copy_from_slice(&self.buf[at..at + LEN]);
        u32::from_le_bytes(n) as usize
    }

    /// Appends one stanza written by `write`; `Err(needed)` when there is
    /// no room (`needed` counts the length prefix).
    fn push(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<usize, PushError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.pumped -= self.start;
            self.end -= self.start;
            self.start = 0;
        }
        let Some(room) = self.buf.get_mut(self.end + LEN..) else {
            return Err(PushError::Full(LEN + 1));
        };
        match write(room) {
            Ok(n) => {
                self.buf[self.end..self.end + LEN].copy_from_slice(&(n as u32).to_le_bytes());
                self.end += LEN + n;
                self.waiting_units += 1;
                Ok(n)
            }
            Err(WriteError::BufferTooSmall(b)) => Err(PushError::Full(b.needed + LEN)),
            Err(e) => Err(PushError::Write(e)),
        }
    }

    /// Removes the newest stanza (refused after it was written).
    fn pop_back_waiting(&mut self, n: usize) {
        self.end -= n + LEN;
        self.waiting_units -= 1;
    }

    /// The next stanza to pump.
    fn next_waiting(&self) -> Option<&[u8]> {
        if self.waiting_units == 0 {
            return None;
        }
        let n = self.len_at(self.pumped);
        self.buf.get(self.pumped + LEN..self.pumped + LEN + n)
    }

    fn mark_pumped(&mut self) {
        let n = self.len_at(self.pumped);
        self.pumped += LEN + n;
        self.waiting_units -= 1;
        self.sent_units += 1;
    }

    /// The oldest stanza, sent or not.
    fn front(&self) -> Option<&[u8]> {
        if self.is_empty() {
            return None;
        }
        let n = self.len_at(self.start);
        self.buf.get(self.start + LEN..self.start + LEN + n)
    }

    fn pop_front(&mut self) {
        if self.is_empty() {
            return;
        }
        let n = self.len_at(self.start);
        if self.sent_units > 0 {
            self.sent_units -= 1;
        } else {
            self.waiting_units -= 1;
            self.pumped += LEN + n;
        }
        self.start += LEN + n;
        if self.is_empty() {
            self.start = 0;
            self.pumped = 0;
            self.end = 0;
        }
    }

    /// Everything sent goes back to waiting: a resumed stream sends it
    /// again.
    fn rewind(&mut self) {
        self.pumped = self.start;
        self.waiting_units += self.sent_units;
        self.sent_units = 0;
    }

    fn mark_all_sent(&mut self) {
        self.pumped = self.end;
        self.sent_units += self.waiting_units;
        self.waiting_units = 0;
    }

    fn clear(&mut self) {
        *self = UnackedQueue::new(core::mem::take(&mut self.buf));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sent_units == 0 && self.waiting_units == 0
    }

    /// Bytes free, once compacted.
    fn free(&self) -> usize {
        self.buf.len() - (self.end - self.start)
    }

    fn units(&self) -> u32 {
        self.sent_units + self.waiting_units
    }

    /// The queued stanzas, oldest first.
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = self.start;
        let end = self.end;
        core::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let n = self.len_at(at);
            let unit = self.buf.get(at + LEN..at + LEN + n)?;
            at += LEN + n;
            Some(unit)
        })
    }
}

enum PushError {
    Full(usize),
    Write(WriteError),
}

/// Where stream management is on this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Not in use: stanzas go straight to the transmit queue.
    Off,
    /// `<enable/>` sent: outbound stanzas count from here (XEP-0198 §4).
    Requested,
    /// `<enabled/>` received: inbound stanzas count too.
    Active,
}

/// The stream management state of a [`Client`]: a few counters, the
/// resumption id and the caller's queue.
pub(crate) struct Sm<'b> {
    pub(crate) queue: UnackedQueue<'b>,
    pub(crate) config: Option<SmConfig>,
    pub(crate) mode: Mode,
    /// The server offered `<sm/>` (and `<csi/>`) on this stream.
    pub(crate) offered: bool,
    pub(crate) csi: bool,
    /// The resumption id, then the `location` (XEP-0198 §5), in the
    /// first [`SM_NAMES_LEN`] bytes of the caller's buffer: `id_len` bytes
    /// of id, then location up to `names_len`. No id: not resumable.
    names: &'b mut [u8],
    names_len: u16,
    id_len: u8,
    /// The server's `max`, in seconds.
    max: Option<u32>,
    /// When the connection was lost, for `max`.
    lost_at: MaybeInstant,
    /// Stanzas received and handled (XEP-0198 §4 `h`, inbound).
    h_in: u32,
    /// The last `h` the server acknowledged (outbound).
    acked: u32,
    /// Stanzas sent since the last `<r/>`, and since when.
    unrequested: u32,
    unrequested_since: MaybeInstant,
    /// An `<r/>` or an `<a/>` is due but did not fit the transmit queue.
    want_request: bool,
    pub(crate) want_answer: bool,
    /// Stanzas still to hand back after a failed resumption, once the new
    /// session is bound (`to_hand_back` until then).
    pub(crate) hand_back: u32,
    to_hand_back: u32,
    /// The front stanza was handed out as an event: drop it at the next
    /// poll.
    pub(crate) handed_out: bool,
    /// Stanzas resent on this resumption, for the event.
    pub(crate) resent: u32,
    /// A session existed before this connection (lost, or imported): the
    /// next one is `Resumed` or `Rebound`, not a first `Ready`.
    pub(crate) had_session: bool,
    /// `close` waits for the queue to drain before `</stream:stream>`.
    pub(crate) close_pending: bool,
}

impl<'b> Sm<'b> {
    pub(crate) fn new() -> Self {
        Sm {
            queue: UnackedQueue::new(&mut []),
            config: None,
            mode: Mode::Off,
            offered: false,
            csi: false,
            names: &mut [],
            names_len: 0,
            id_len: 0,
            max: None,
            lost_at: MaybeInstant::NONE,
            h_in: 0,
            acked: 0,
            unrequested: 0,
            unrequested_since: MaybeInstant::NONE,
            want_request: false,
            want_answer: false,
            hand_back: 0,
            to_hand_back: 0,
            handed_out: false,
            resent: 0,
            had_session: false,
            close_pending: false,
        }
    }

    /// Counts an inbound stanza (XEP-0198 §4: from `<enabled/>` on).
    pub(crate) fn count_inbound(&mut self) {
        if self.mode == Mode::Active {
            self.h_in = self.h_in.wrapping_add(1);
        }
    }

    /// Whether stanzas of a ready session go through the unacked queue.
    pub(crate) fn queues(&self) -> bool {
        COMPILED && (self.mode != Mode::Off || !self.queue.is_empty())
    }

    /// Outbound stanzas counted so far (`acked` plus those in flight).
    fn sent(&self) -> u32 {
        self.acked.wrapping_add(self.queue.sent_units)
    }

    /// Forgets the session: nothing left to resume.
    fn forget(&mut self) {
        self.names_len = 0;
        self.id_len = 0;
        self.max = None;
        self.h_in = 0;
        self.acked = 0;
        self.unrequested = 0;
        self.unrequested_since = MaybeInstant::NONE;
        self.want_request = false;
        self.want_answer = false;
    }

    /// The session cannot be resumed any more (a polite close).
    pub(crate) fn forget_id(&mut self) {
        self.names_len = 0;
        self.id_len = 0;
    }

    fn resumable(&self) -> bool {
        self.id_len > 0
    }

    fn id(&self) -> &str {
        self.names
            .get(..usize::from(self.id_len))
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    fn location(&self) -> Option<&str> {
        self.names
            .get(usize::from(self.id_len)..usize::from(self.names_len))
            .and_then(|b| core::str::from_utf8(b).ok())
            .filter(|l| !l.is_empty())
    }

    /// Keeps `id` and `location`; an id too long to keep whole makes the
    /// session not resumable, a location too long is not kept.
    fn set_names(&mut self, id: &str, location: Option<&str>) {
        self.names_len = 0;
        self.id_len = 0;
        let Some(dst) = self.names.get_mut(..id.len()) else {
            return;
        };
        if id.len() > MAX_SM_ID_LEN {
            return;
        }
        dst.copy_from_slice(id.as_bytes());
        self.id_len = id.len() as u8;
        self.names_len = id.len() as u16;
        let end = id.len() + location.map_or(0, str::len);
        if let (Some(l), Some(dst)) = (location, self.names.get_mut(id.len()..end)) {
            dst.copy_from_slice(l.as_bytes());
            self.names_len = end as u16;
        }
    }

    /// When an ack request falls due by time.
    pub(crate) fn request_deadline(&self) -> Option<Instant> {
        if !COMPILED {
            return None;
        }
        let after = self.config?.request_after?;
        match self.mode {
            Mode::Off => None,
            _ => self.unrequested_since.get().map(|t| t + after),
        }
    }

    /// XEP-0198 §4 `<a h=''/>`: acknowledges up to `h`. Going backwards, or
    /// past what was sent, is an error.
    fn ack(&mut self, h: u32) -> Result<(), AckError> {
        let delta = h.wrapping_sub(self.acked);
        if delta > self.queue.sent_units {
            // Serial arithmetic (RFC 1982 §3.2): a step of more than half
            // the space is a step back.
            return Err(if delta > u32::MAX / 2 {
                AckError::Backwards
            } else {
                AckError::TooHigh
            });
        }
        for _ in 0..delta {
            self.queue.pop_front();
        }
        self.acked = h;
        Ok(())
    }
}

enum AckError {
    Backwards,
    TooHigh,
}

/// The `h` attribute, a `u32` in decimal (XEP-0198 §4: xs:unsignedInt).
fn attr_u32(el: &crate::xml::Element<'_>, name: &str) -> Option<Result<u32, ()>> {
    let t = el.attr(name)?;
    let mut buf = [0u8; 16];
    Some(
        t.decode_into(&mut buf)
            .map_err(|_| ())
            .and_then(|s| s.parse::<u32>().map_err(|_| ())),
    )
}

fn attr_true(el: &crate::xml::Element<'_>, name: &str) -> bool {
    el.attr(name)
        .and_then(|t| t.as_str())
        .is_some_and(|v| v == "true" || v == "1")
}

impl<'b, 'c, R: rand_core::RngCore + rand_core::CryptoRng> Client<'b, 'c, R> {
    // -- public API ------------------------------------------------------

    /// Turns on stream management (XEP-0198) for this client. The first
    /// [`SM_NAMES_LEN`] bytes of `queue` keep the resumption id and
    /// `location`; the rest keeps unacknowledged stanzas (its size bounds
    /// how much may be in flight). Call it before the first poll; it stays
    /// on across [`connection_lost`](Self::connection_lost). Without it,
    /// or when the server does not offer `<sm/>`, stanzas are sent as
    /// before.
    #[cfg(feature = "stream-management")]
    pub fn enable_stream_management(&mut self, queue: &'b mut [u8], config: SmConfig) {
        let (names, queue) = queue.split_at_mut(SM_NAMES_LEN.min(queue.len()));
        self.sm.names = names;
        self.sm.names_len = 0;
        self.sm.id_len = 0;
        self.sm.queue = UnackedQueue::new(queue);
        self.sm.config = Some(config);
    }

    /// The connection broke at `now`: the client forgets the stream and
    /// starts over at the next poll, on the adapter's new connection
    /// (after [`tls_established`](Self::tls_established) for direct TLS).
    /// Returns whether it will try to resume the session (XEP-0198 §5: a
    /// resumption id, within the server's `max`); otherwise it binds
    /// afresh, and stanzas not acknowledged are handed back or resent
    /// ([`SmConfig::on_failed_resume`]). A session closed with
    /// [`close`](Self::close) starts afresh.
    pub fn connection_lost(&mut self, now: Instant) -> bool {
        self.parser.reset();
        self.tx.clear();
        self.state = State::Start;
        self.tls = false;
        self.phase = super::phase::PhaseState::Empty;
        self.authenticated = false;
        self.started = MaybeInstant::NONE;
        self.close_deadline = MaybeInstant::NONE;
        // Events not handed out yet stay: a session resumed (or bound)
        // and lost before the application heard of it still happened.
        self.queued.retain(|q| q != Queued::Closed);
        self.failed = None;
        self.need_session = false;
        self.server_max_stanza = u32::MAX;
        // The answers to the application's requests may still come on the
        // resumed stream; the session's own requests died with this one.
        let mut keep = heapless::Vec::<_, { super::MAX_PENDING_IQS }>::new();
        while let Some(p) = self.iqs.take_expired(Instant::from_millis(u64::MAX)) {
            if p.purpose == super::iq::Purpose::Application {
                let _ = keep.push(p);
            }
        }
        for p in keep {
            self.iqs.insert(p);
        }
        let sm = &mut self.sm;
        sm.offered = false;
        sm.csi = false;
        sm.want_request = false;
        sm.want_answer = false;
        sm.unrequested = 0;
        sm.unrequested_since = MaybeInstant::NONE;
        sm.resent = 0;
        if sm.handed_out {
            sm.handed_out = false;
            sm.queue.pop_front();
        }
        sm.hand_back = 0;
        sm.to_hand_back = 0;
        sm.close_pending = false;
        sm.mode = Mode::Off;
        // What the old stream sent stays marked sent until the server says
        // what it handled (`<resumed h=''/>`) or the session is gone.
        sm.lost_at = now.into();
        // A connection lost before the first bind lost no session: the
        // next one is a first `Ready`.
        sm.had_session |= !self.tx.kept().is_empty() || !sm.queue.is_empty();
        sm.resumable()
    }

    /// Where the server asked to be reconnected to for resumption
    /// (XEP-0198 §5 `location`), as it sent it: a host, optionally with
    /// `:port`.
    pub fn resume_location(&self) -> Option<&str> {
        self.sm.location()
    }

    /// Whether the session can be resumed after a lost connection.
    pub fn is_resumable(&self) -> bool {
        self.sm.resumable()
    }

    /// Stanzas not yet acknowledged by the server (sent or waiting).
    pub fn unacked(&self) -> u32 {
        self.sm.queue.units()
    }

    /// Stream management counters: (stanzas handled inbound, outbound
    /// stanzas the server acknowledged), both modulo 2^32.
    pub fn sm_counters(&self) -> (u32, u32) {
        (self.sm.h_in, self.sm.acked)
    }

    /// Asks the server for an ack now (`<r/>`, XEP-0198 §4).
    pub fn request_ack(&mut self) -> Result<(), ClientError> {
        self.ready()?;
        if self.sm.mode == Mode::Off {
            return Err(ClientError::InvalidInput("stream management is not on"));
        }
        self.sm.want_request = true;
        Ok(())
    }

    /// XEP-0352: tells the server the user is active (`true`) or not, so
    /// it may hold back unimportant traffic. `Ok(false)` when the server
    /// does not offer client state indication.
    pub fn set_active(&mut self, active: bool) -> Result<bool, ClientError> {
        self.ready()?;
        if !self.sm.csi {
            return Ok(false);
        }
        let name = if active { "active" } else { "inactive" };
        self.queue_nonza(name, ns::CSI, None)?;
        Ok(true)
    }

    /// Writes the resumable state into `out` and returns its length: what a
    /// device keeps across a reboot to resume with
    /// [`import_resumable`](Self::import_resumable).
    ///
    /// Format, version 1 (integers little endian):
    ///
    /// | bytes | field |
    /// |---|---|
    /// | 1 | version, 1 |
    /// | 4 | `h` inbound |
    /// | 4 | last `h` acknowledged by the server |
    /// | 4 | the server's `max` in seconds, `0xFFFFFFFF` if none |
    /// | 1 + n | resumption id (length, UTF-8), n ≤ [`MAX_SM_ID_LEN`] |
    /// | 1 + n | bound full JID (length, UTF-8) |
    /// | 1 + n | `location` (length, UTF-8; 0: none) |
    /// | 4 | number of unacknowledged stanzas |
    /// | (4 + n) each | each stanza, oldest first: length, then the XML |
    /// | 4 | CRC-32C (Castagnoli) of everything before |
    ///
    /// An empty id means nothing to resume: the stanzas are then handed
    /// back or resent at the next login.
    pub fn export_resumable(&self, out: &mut [u8]) -> Result<usize, ClientError> {
        let sm = &self.sm;
        let mut w = BlobWriter { out, at: 0 };
        let jid = self.bound().map(|j| j.as_str()).unwrap_or_default();
        w.put(&[RESUME_BLOB_VERSION])?;
        w.put(&sm.h_in.to_le_bytes())?;
        w.put(&sm.acked.to_le_bytes())?;
        w.put(&sm.max.unwrap_or(u32::MAX).to_le_bytes())?;
        for s in [sm.id(), jid, sm.location().unwrap_or_default()] {
            w.put(&[s.len() as u8])?;
            w.put(s.as_bytes())?;
        }
        w.put(&sm.queue.units().to_le_bytes())?;
        for unit in sm.queue.iter() {
            w.put(&(unit.len() as u32).to_le_bytes())?;
            w.put(unit)?;
        }
        let crc = CRC.checksum(&w.out[..w.at]);
        w.put(&crc.to_le_bytes())?;
        Ok(w.at)
    }

    /// Loads a state written by [`export_resumable`](Self::export_resumable),
    /// after [`enable_stream_management`](Self::enable_stream_management)
    /// and before the first poll. Everything is checked; a blob that is
    /// damaged, of another version, or too large for the queue is refused
    /// with [`ClientError::InvalidResumeState`] and changes nothing.
    pub fn import_resumable(&mut self, blob: &[u8]) -> Result<(), ClientError> {
        let bad = ClientError::InvalidResumeState;
        if self.state != State::Start || self.started.is_some() {
            return Err(bad("import before the first poll"));
        }
        if self.sm.config.is_none() {
            return Err(bad("stream management is not enabled"));
        }
        let Some((body, crc)) = blob.split_last_chunk::<4>() else {
            return Err(bad("truncated"));
        };
        if body.first() != Some(&RESUME_BLOB_VERSION) {
            return Err(bad("unknown version"));
        }
        if CRC.checksum(body) != u32::from_le_bytes(*crc) {
            return Err(bad("checksum mismatch"));
        }
        let mut r = BlobReader { data: &body[1..] };
        let h_in = r.u32()?;
        let acked = r.u32()?;
        let max = Some(r.u32()?).filter(|m| *m != u32::MAX);
        let id = r.str()?;
        let jid = r.str()?;
        let location = r.str()?;
        if id.len() > MAX_SM_ID_LEN || id.len() + location.len() > self.sm.names.len() {
            return Err(bad("id or location too long"));
        }
        if id.is_empty() && !location.is_empty() {
            return Err(bad("a location without an id"));
        }
        // No JID only with nothing to resume; else a full JID of this
        // account, as a bind would have given.
        let jid_ok = (jid.is_empty() && id.is_empty())
            || Jid::parse(jid).is_ok_and(|j| {
                j.is_full() && j.bare() == self.config.jid.bare() && jid.len() <= MAX_BOUND_JID_LEN
            });
        if !jid_ok {
            return Err(bad("not a full JID of this account"));
        }
        // The bound JID is kept at the end of the transmit buffer.
        if jid.len() > self.tx.capacity() {
            return Err(bad("a JID larger than the transmit buffer"));
        }
        let capacity = self.tx.capacity() - jid.len();
        let count = r.u32()?;
        // Check every stanza before touching the queue.
        let units_start = r.data;
        let mut total = 0usize;
        for _ in 0..count {
            let n = r.u32()? as usize;
            let unit = r.take(n)?;
            if unit.first() != Some(&b'<') || unit.last() != Some(&b'>') {
                return Err(bad("a stanza that is not an element"));
            }
            if n > capacity {
                return Err(bad("a stanza larger than the transmit buffer"));
            }
            total += LEN + n;
        }
        if !r.data.is_empty() {
            return Err(bad("trailing bytes"));
        }
        if total > self.sm.queue.capacity() {
            return Err(bad("more stanzas than the queue holds"));
        }
        let sm = &mut self.sm;
        sm.queue.clear();
        let mut r = BlobReader { data: units_start };
        for _ in 0..count {
            let n = r.u32()? as usize;
            let unit = r.take(n)?;
            let _ = sm.queue.push(|b| {
                b.get_mut(..n)
                    .map(|d| d.copy_from_slice(unit))
                    .map(|()| n)
                    .ok_or(WriteError::Unbalanced)
            });
        }
        // The old stream may have sent any of them: the server's h says.
        sm.queue.mark_all_sent();
        sm.forget();
        sm.had_session = true;
        sm.set_names(id, Some(location));
        sm.max = max;
        sm.h_in = h_in;
        sm.acked = acked;
        sm.lost_at = MaybeInstant::NONE;
        // Cannot fail: nothing is queued before the first poll, and the
        // stanzas were checked to fit beside it.
        let _ = self.set_bound(jid);
        Ok(())
    }

    // -- inside the session ------------------------------------------------

    /// Refuses an application stanza when the unacked queue has less room
    /// than the core keeps for its own answers (a quarter of the queue, at
    /// most [`RESERVED_FOR_ANSWERS`] bytes), and asks for an ack.
    pub(super) fn check_user_room(&mut self) -> Result<(), ClientError> {
        let in_use = matches!(self.state, State::Ready | State::Closing) && self.sm.queues();
        let reserve = RESERVED_FOR_ANSWERS.min(self.sm.queue.capacity() / 4);
        if !in_use || self.sm.queue.free() > reserve {
            return Ok(());
        }
        if self.sm.mode != Mode::Off {
            self.sm.want_request = true;
        }
        Err(ClientError::UnackedQueueFull {
            needed: reserve + 1,
        })
    }

    /// Queues a stanza in the unacked queue; refuses it when full.
    pub(super) fn queue_unacked(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<(), ClientError> {
        match self.sm.queue.push(write) {
            Ok(n) if n > self.tx.capacity() => {
                self.sm.queue.pop_back_waiting(n);
                Err(ClientError::TooLarge {
                    size: n,
                    limit: self.tx.capacity(),
                })
            }
            Ok(_) => Ok(()),
            Err(PushError::Full(needed)) if needed > self.sm.queue.capacity() => {
                Err(ClientError::TooLarge {
                    size: needed,
                    limit: self.sm.queue.capacity(),
                })
            }
            Err(PushError::Full(needed)) => {
                // Back-pressure: ask the server to acknowledge, which frees
                // room (XEP-0198 §4).
                if self.sm.mode != Mode::Off {
                    self.sm.want_request = true;
                }
                Err(ClientError::UnackedQueueFull { needed })
            }
            Err(PushError::Write(WriteError::Unbalanced)) => Err(ClientError::InvalidInput(
                "a stanza larger than the server's limit",
            )),
            Err(PushError::Write(_)) => Err(ClientError::InvalidInput("a value XML cannot carry")),
        }
    }

    /// Moves waiting stanzas into the transmit queue while it has room, and
    /// sends the `<r/>` and `<a/>` that are due. `true` when something was
    /// queued.
    pub(super) fn pump(&mut self, now: Instant) -> bool {
        if !COMPILED {
            return false;
        }
        let mut any = false;
        if self.sm.want_answer {
            let h = self.sm.h_in;
            if self.queue_ack_nonza("a", Some(h)) {
                self.sm.want_answer = false;
                any = true;
            }
        }
        if self.sm.hand_back > 0 || !matches!(self.state, State::Ready | State::Closing) {
            return any;
        }
        while let Some(unit) = self.sm.queue.next_waiting() {
            let n = unit.len();
            let pushed = self.tx.push(|b| match b.get_mut(..n) {
                Some(d) => {
                    d.copy_from_slice(unit);
                    Ok(n)
                }
                None => Err(WriteError::BufferTooSmall(crate::error::BufferTooSmall {
                    needed: n,
                })),
            });
            if pushed.is_err() {
                break;
            }
            any = true;
            self.sm.queue.mark_pumped();
            if self.sm.mode == Mode::Off {
                // No stream management on this stream: sent is gone.
                self.sm.queue.pop_front();
                continue;
            }
            self.sm.unrequested = self.sm.unrequested.wrapping_add(1);
            if !self.sm.unrequested_since.is_some() {
                self.sm.unrequested_since = now.into();
            }
            let every = self.sm.config.map_or(0, |c| c.request_every);
            if every > 0 && self.sm.unrequested >= every && !self.send_request() {
                // Right behind the stanza that made it due, or as soon as
                // there is room.
                self.sm.want_request = true;
            }
        }
        if self.sm.want_request && self.sm.mode != Mode::Off {
            any |= self.send_request();
        }
        if self.sm.close_pending
            && self.sm.queue.waiting_units == 0
            && self.queue_unit(StreamHeaderBuilder::write_close).is_ok()
        {
            self.sm.close_pending = false;
            any = true;
        }
        any
    }

    /// `<r/>` (XEP-0198 §4); `false` when the transmit queue is full.
    fn send_request(&mut self) -> bool {
        if !self.queue_ack_nonza("r", None) {
            return false;
        }
        self.sm.want_request = false;
        self.sm.unrequested = 0;
        self.sm.unrequested_since = MaybeInstant::NONE;
        true
    }

    /// The ack-request timer (`SmConfig::request_after`).
    pub(super) fn check_sm_timer(&mut self, now: Instant) -> bool {
        match self.sm.request_deadline() {
            Some(d) if now >= d && !self.sm.want_request => {
                self.sm.want_request = true;
                true
            }
            _ => false,
        }
    }

    /// `<r/>` or `<a h=''/>`; `false` when the transmit queue has no room
    /// now.
    fn queue_ack_nonza(&mut self, name: &str, h: Option<u32>) -> bool {
        let hs = h.map(Decimal::new);
        let h = hs.as_ref().map(Decimal::as_str);
        self.queue_nonza(name, ns::SM, h.map(|h| ("h", h))).is_ok()
    }

    fn queue_nonza(
        &mut self,
        name: &str,
        xmlns: &str,
        attr: Option<(&str, &str)>,
    ) -> Result<(), ClientError> {
        self.queue_unit(|b| {
            let mut w = Writer::new(b);
            w.start_element(name)?;
            w.ns(xmlns)?;
            if let Some((k, v)) = attr {
                w.attr(k, v)?;
            }
            w.end_element(name)?;
            w.finish()
        })
    }

    /// After authentication: resume if there is a session to resume and
    /// the server offers stream management. `true` when `<resume/>` went
    /// out.
    pub(super) fn try_resume(&mut self, now: Instant) -> Result<bool, ClientError> {
        if !COMPILED || !self.sm.had_session {
            return Ok(false);
        }
        let expired = match (self.sm.lost_at.get(), self.sm.max) {
            (Some(t), Some(max)) => now > t + Duration::from_secs(u64::from(max)),
            _ => false,
        };
        if !self.sm.resumable() || !self.sm.offered || expired {
            // XEP-0198 §5: past `max` the server has dropped the session;
            // asking costs a round trip for a certain `<failed/>`.
            self.resume_failed();
            return Ok(false);
        }
        let hs = Decimal::new(self.sm.h_in);
        let mut idb = [0u8; MAX_SM_ID_LEN];
        let id = super::copy_str(&mut idb, self.sm.id())?;
        self.queue_unit(|b| {
            let mut w = Writer::new(b);
            w.start_element("resume")?;
            w.ns(ns::SM)?;
            w.attr("h", hs.as_str())?;
            w.attr("previd", id)?;
            w.end_element("resume")?;
            w.finish()
        })?;
        self.state = State::AwaitResumed;
        Ok(true)
    }

    /// The session could not be resumed: what it had is gone; the
    /// unacknowledged stanzas wait for the new one.
    fn resume_failed(&mut self) {
        self.sm.forget();
        self.sm.queue.rewind();
        let _ = self.set_bound("");
        if self.sm.config.map(|c| c.on_failed_resume) == Some(OnFailedResume::HandBack) {
            // Handed back after the `Rebound` event.
            self.sm.to_hand_back = self.sm.queue.units();
        }
    }

    /// Right after binding: `<enable/>` when offered (XEP-0198 §3). The
    /// session is ready at once; stanzas sent from here are counted.
    pub(super) fn enable_after_bind(&mut self) -> Result<(), ClientError> {
        if !COMPILED {
            return Ok(());
        }
        let Some(config) = self.sm.config.filter(|_| self.sm.offered) else {
            return Ok(());
        };
        let max = config.max.map(Decimal::new);
        self.queue_unit(|b| {
            let mut w = Writer::new(b);
            w.start_element("enable")?;
            w.ns(ns::SM)?;
            if config.resume {
                w.attr("resume", "true")?;
                if let Some(max) = &max {
                    w.attr("max", max.as_str())?;
                }
            }
            w.end_element("enable")?;
            w.finish()
        })?;
        self.sm.mode = Mode::Requested;
        Ok(())
    }

    /// The event after binding: `Ready` on a first login, `Rebound` when a
    /// session was lost.
    pub(super) fn ready_event(&mut self) -> Queued {
        if core::mem::take(&mut self.sm.had_session) {
            self.sm.lost_at = MaybeInstant::NONE;
            self.sm.hand_back = core::mem::take(&mut self.sm.to_hand_back);
            Queued::Rebound(self.sm.hand_back)
        } else {
            Queued::Ready
        }
    }

    /// A top-level element in the XEP-0198 namespace.
    pub(super) fn on_sm(&mut self, now: Instant) -> Result<super::Step, ClientError> {
        use super::Step;
        let Some(el) = self.parser.current() else {
            return Ok(Step::Continue);
        };
        let name = el.name();
        match (name, self.state) {
            ("r", State::Ready | State::Closing) if self.sm.mode != Mode::Off => {
                // XEP-0198 §4: answer with what was handled.
                self.sm.want_answer = true;
                Ok(Step::Continue)
            }
            ("a", State::Ready | State::Closing) if self.sm.mode != Mode::Off => {
                let h = match attr_u32(&el, "h") {
                    Some(Ok(h)) => h,
                    _ => return Err(self.sm_error(None, "an <a/> without a valid h")),
                };
                self.apply_ack(h)?;
                Ok(Step::Continue)
            }
            ("enabled", State::Ready | State::Closing) if self.sm.mode == Mode::Requested => {
                self.sm.mode = Mode::Active;
                let resume = self.sm.config.is_some_and(|c| c.resume) && attr_true(&el, "resume");
                let mut idb = [0u8; MAX_SM_ID_LEN];
                let mut locb = [0u8; SM_NAMES_LEN];
                let id = el.attr("id").and_then(|t| t.decode_into(&mut idb).ok());
                let location = el
                    .attr("location")
                    .and_then(|t| t.decode_into(&mut locb).ok());
                match id.filter(|_| resume) {
                    Some(id) => self.sm.set_names(id, location),
                    None => self.sm.set_names("", None),
                }
                self.sm.max = match attr_u32(&el, "max") {
                    Some(Ok(m)) => Some(m),
                    _ => None,
                };
                Ok(Step::Continue)
            }
            ("failed", State::Ready | State::Closing) if self.sm.mode == Mode::Requested => {
                // XEP-0198 §3: no stream management on this stream. What
                // was sent since <enable/> went out as on any stream.
                while self.sm.queue.sent_units > 0 {
                    self.sm.queue.pop_front();
                }
                self.sm.mode = Mode::Off;
                self.sm.forget();
                Ok(Step::Continue)
            }
            ("resumed", State::AwaitResumed) => {
                let mut buf = [0u8; MAX_SM_ID_LEN];
                let previd = el.attr("previd").and_then(|t| t.decode_into(&mut buf).ok());
                if previd != Some(self.sm.id()) {
                    return Err(self.sm_error(None, "<resumed/> for another session"));
                }
                let h = match attr_u32(&el, "h") {
                    Some(Ok(h)) => h,
                    _ => return Err(self.sm_error(None, "a <resumed/> without a valid h")),
                };
                // XEP-0198 §5: everything after h is sent again, in order.
                self.apply_ack(h)?;
                self.sm.resent = self.sm.queue.units();
                self.sm.queue.rewind();
                self.sm.mode = Mode::Active;
                self.sm.lost_at = MaybeInstant::NONE;
                self.sm.had_session = false;
                self.state = State::Ready;
                self.last_rx = now;
                self.last_tx = now;
                let _ = self.queued.push_back(Queued::Resumed);
                Ok(Step::Continue)
            }
            ("failed", State::AwaitResumed) => {
                // XEP-0198 §5 (v1.6): the server may say what it handled
                // of the old session; without h, nothing is known.
                if let Some(Ok(h)) = attr_u32(&el, "h") {
                    self.apply_ack(h)?;
                }
                self.resume_failed();
                self.bind(now)
            }
            _ => Err(self.protocol_sm("a stream management element out of place")),
        }
    }

    fn apply_ack(&mut self, h: u32) -> Result<(), ClientError> {
        match self.sm.ack(h) {
            Ok(()) => Ok(()),
            Err(AckError::TooHigh) => {
                let sent = self.sm.sent();
                Err(self.sm_error(
                    Some((h, sent)),
                    "the server acknowledged more stanzas than were sent",
                ))
            }
            Err(AckError::Backwards) => {
                Err(self.sm_error(None, "the server's acknowledgement went backwards"))
            }
        }
    }

    fn protocol_sm(&mut self, what: &'static str) -> ClientError {
        self.fail_with_stream_error(
            StreamErrorCondition::UnsupportedStanzaType,
            ClientError::Protocol(what),
        )
    }

    /// XEP-0198 §4: a bad count is `undefined-condition`, with
    /// `<handled-count-too-high/>` when the count is above what was sent.
    fn sm_error(&mut self, too_high: Option<(u32, u32)>, what: &'static str) -> ClientError {
        let counts = too_high.map(|(h, sent)| (Decimal::new(h), Decimal::new(sent)));
        let cond = StreamErrorCondition::UndefinedCondition.as_str();
        let _ = self.queue_unit(|b| {
            let mut w = Writer::new(b);
            w.start_element("stream:error")?;
            w.start_element(cond)?;
            w.ns(ns::STREAMS)?;
            w.end_element(cond)?;
            if let Some((hs, ss)) = &counts {
                w.start_element("handled-count-too-high")?;
                w.ns(ns::SM)?;
                w.attr("h", hs.as_str())?;
                w.attr("send-count", ss.as_str())?;
                w.end_element("handled-count-too-high")?;
            }
            w.end_element("stream:error")?;
            w.finish()
        });
        let _ = self.queue_unit(StreamHeaderBuilder::write_close);
        let e = match too_high {
            Some((h, sent)) => ClientError::HandledCountTooHigh { h, sent },
            None => ClientError::Protocol(what),
        };
        self.sm.forget();
        self.fail(e)
    }

    /// Pops the stanza handed out as [`super::Event::Unacked`] last time.
    pub(super) fn pop_handed_out(&mut self) {
        if COMPILED && self.sm.handed_out {
            self.sm.handed_out = false;
            self.sm.queue.pop_front();
        }
    }

    /// The next stanza to hand back, marked as handed out.
    pub(super) fn next_hand_back(&mut self) -> Option<&[u8]> {
        if self.sm.hand_back == 0 || self.sm.queue.is_empty() {
            self.sm.hand_back = 0;
            return None;
        }
        self.sm.hand_back -= 1;
        self.sm.handed_out = true;
        self.sm.queue.front()
    }
}

/// CRC-32C: the blob's guard against a torn or corrupted store.
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

struct BlobWriter<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl BlobWriter<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), ClientError> {
        let dst = self
            .out
            .get_mut(self.at..self.at + b.len())
            .ok_or(ClientError::InvalidInput("the blob buffer is too small"))?;
        dst.copy_from_slice(b);
        self.at += b.len();
        Ok(())
    }
}

struct BlobReader<'d> {
    data: &'d [u8],
}

impl<'d> BlobReader<'d> {
    fn take(&mut self, n: usize) -> Result<&'d [u8], ClientError> {
        if n > self.data.len() {
            return Err(ClientError::InvalidResumeState("truncated"));
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, ClientError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn str(&mut self) -> Result<&'d str, ClientError> {
        let n = self.take(1)?[0] as usize;
        core::str::from_utf8(self.take(n)?)
            .map_err(|_| ClientError::InvalidResumeState("a string that is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream management state stays small: the queue and the names
    /// are the caller's.
    #[test]
    fn state_is_compact() {
        let n = core::mem::size_of::<Sm<'static>>();
        std::println!("stream management state: {n} bytes");
        assert!(n <= 192, "{n}");
    }
}
