//! The incremental stream parser: bytes in any chunks to stream events.
//!
//! The parser owns no memory: it works in the caller's receive buffer, where
//! each top-level element stays in place until the caller has looked at it.
//! Each byte is searched once for the end of its token (`memchr`), and each
//! complete token is checked once (see `token`), so feeding a stream one
//! byte at a time costs the same work as feeding it whole, not quadratic.

use crate::error::{StreamErrorCondition as Cond, XmlError};
use crate::xml::chars::is_xml_space;
use crate::xml::token::{self, TokErr};
use crate::xml::view::{Element, StreamHeader};
use crate::xml::{NS_STREAM, NS_XML};
use heapless::Vec;

/// The deepest nesting of elements inside a stanza a [`StreamParser`] can
/// track by default (its `DEPTH`); [`Limits::max_depth`] is capped to it.
pub const MAX_DEPTH: usize = 32;
/// The most attributes one element may carry; [`Limits::max_attributes`]
/// is capped to it.
pub const MAX_ATTRIBUTES: usize = 32;
/// The quote state of a tag search that only looks for `>`.
const NO_QUOTE_TRACKING: u8 = 0xFF;
/// Prefixed namespace declarations (`xmlns:p='...'`) in scope at once
/// inside a stanza; one more is `policy-violation`. XMPP payloads declare
/// their namespaces as defaults (RFC 6120 §4.8.3); prefixes are rare, and
/// eight at once leave room for any stanza seen in practice while each
/// entry costs the parser's state 8 bytes.
pub const MAX_PREFIX_DECLS: usize = 8;
/// Prefixed declarations kept from the stream header (besides `stream`).
const MAX_STREAM_DECLS: usize = 2;
/// Bytes of names kept from the stream header: the stream prefix, and each
/// other declaration's prefix and namespace name. A client-to-server
/// header declares only `stream` (RFC 6120 §4.8.5, `jabber:client` being
/// the default); a server-to-server one adds `db` (XEP-0220). A header
/// whose declarations do not fit is refused with `policy-violation`.
const MAX_STREAM_NAMES: usize = 64;

/// Resource limits, set by the caller. Crossing one is the stream error
/// `policy-violation` (RFC 6120 §4.9.3.14), never unbounded memory or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Largest top-level element (stanza or nonza), in bytes, counted from
    /// its `<` to the end of its end tag. Also bounds the stream header.
    pub max_stanza_bytes: usize,
    /// Deepest nesting inside a top-level element (the element itself is
    /// depth 1). At most [`MAX_DEPTH`].
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    /// At most [`MAX_ATTRIBUTES`].
    pub max_attributes: usize,
}

impl Limits {
    /// Limits that fit a receive buffer of `len` bytes: stanzas up to the
    /// whole buffer, depth 16, 24 attributes.
    pub const fn for_buffer(len: usize) -> Self {
        Limits {
            max_stanza_bytes: len,
            max_depth: 16,
            max_attributes: 24,
        }
    }
}

/// The content namespace a stream declares as its default (RFC 6120 §4.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ContentNamespace {
    /// `jabber:client`: client-to-server streams.
    Client,
    /// `jabber:server`: server-to-server streams.
    Server,
    /// `jabber:component:accept`: external components (XEP-0114).
    ComponentAccept,
}

impl ContentNamespace {
    /// The namespace name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentNamespace::Client => "jabber:client",
            ContentNamespace::Server => "jabber:server",
            ContentNamespace::ComponentAccept => "jabber:component:accept",
        }
    }

    /// The content namespace named `ns`, if it is one of the three.
    pub fn from_name(ns: &str) -> Option<Self> {
        [Self::Client, Self::Server, Self::ComponentAccept]
            .into_iter()
            .find(|c| c.as_str() == ns)
    }
}

/// What the stream header declared, kept after its bytes are gone: the
/// scope every stanza inherits.
#[derive(Debug, Clone)]
pub(crate) struct StreamScope {
    pub default_ns: ContentNamespace,
    /// Each declaration's prefix and namespace name, then the stream
    /// prefix, back to back (UTF-8, checked when kept).
    names: Vec<u8, MAX_STREAM_NAMES, u8>,
    /// The length of each of those names, in that order.
    lens: [u8; 2 * MAX_STREAM_DECLS + 1],
    /// Declarations kept.
    decls: u8,
}

impl StreamScope {
    const fn new() -> Self {
        StreamScope {
            default_ns: ContentNamespace::Client,
            names: Vec::new(),
            lens: [0; 2 * MAX_STREAM_DECLS + 1],
            decls: 0,
        }
    }

    /// The `i`th name kept.
    fn name(&self, i: usize) -> &[u8] {
        let at: usize = self.lens[..i].iter().map(|&n| usize::from(n)).sum();
        self.names
            .get(at..at + usize::from(self.lens[i]))
            .unwrap_or_default()
    }

    /// Appends names; `false` (and nothing kept) when they do not fit.
    fn keep(&mut self, names: &[&[u8]]) -> bool {
        let first: usize = 2 * usize::from(self.decls);
        let total: usize = names.iter().map(|n| n.len()).sum();
        if first + names.len() > self.lens.len()
            || self.names.len() + total > MAX_STREAM_NAMES
            || names.iter().any(|n| core::str::from_utf8(n).is_err())
        {
            return false;
        }
        for (i, n) in names.iter().enumerate() {
            self.lens[first + i] = n.len() as u8;
            // Cannot fail: the room was checked above.
            let _ = self.names.extend_from_slice(n);
        }
        true
    }

    /// Keeps a stream-level `xmlns:prefix='ns'`.
    fn push_decl(&mut self, prefix: &[u8], ns: &[u8]) -> bool {
        let kept = usize::from(self.decls) < MAX_STREAM_DECLS && self.keep(&[prefix, ns]);
        self.decls += u8::from(kept);
        kept
    }

    /// Keeps the stream prefix, after the declarations.
    fn set_stream_prefix(&mut self, prefix: &[u8]) -> bool {
        self.keep(&[prefix])
    }

    /// The prefix the stream element uses (RFC 6120 §4.8.5).
    pub(crate) fn stream_prefix(&self) -> &[u8] {
        self.name(2 * usize::from(self.decls))
    }

    /// The prefixes declared at stream level, besides the stream's.
    fn declared(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..usize::from(self.decls)).map(|d| (self.name(2 * d), self.name(2 * d + 1)))
    }

    /// The namespace bound to `prefix` at stream level.
    pub(crate) fn lookup(&self, prefix: &[u8]) -> Option<&str> {
        if prefix == b"xml" {
            return Some(NS_XML);
        }
        if prefix == self.stream_prefix() {
            return Some(NS_STREAM);
        }
        self.declared()
            .find(|(p, _)| *p == prefix)
            .and_then(|(_, ns)| core::str::from_utf8(ns).ok())
    }
}

/// One event of the stream, borrowing the receive buffer until the next
/// call to [`StreamParser::next`].
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The peer's stream header (RFC 6120 §4.7).
    StreamOpen(StreamHeader<'a>),
    /// A whole top-level element: a stanza or a nonza, checked.
    Element(Element<'a>),
    /// The peer's `</stream:stream>` (RFC 6120 §4.4).
    StreamClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the stream header: an optional byte-order mark and XML
    /// declaration, whitespace. `fresh` while nothing has been consumed yet.
    Prolog { fresh: bool },
    /// Inside the stream root.
    Stream,
    /// The stream root was closed; only whitespace may follow.
    Closed,
    /// A stream error was found; every later call returns it.
    Failed(XmlError),
    /// The session above is over and keeps `len` bytes of its own at the
    /// start of the buffer (see [`StreamParser::park`]).
    Parked { len: usize },
}

/// An event located in the buffer, before it is turned into a borrow.
enum Found {
    Header { from: usize, to: usize },
    Element { from: usize, to: usize },
    Close,
}

/// A namespace prefix declared inside the current stanza: where its name
/// is (relative to the stanza start) and at which depth.
#[derive(Debug, Clone, Copy)]
struct PrefixDecl {
    at: u32,
    len: u16,
    depth: u8,
}

/// The incremental, validating XMPP stream parser (see the module docs).
///
/// ```
/// use picoxmpp::xml::{Event, StreamParser};
///
/// let mut buf = [0u8; 512];
/// let mut parser = StreamParser::new(&mut buf);
/// parser.feed(b"<stream:stream xmlns='jabber:client' \
///     xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\
///     <message to='juliet@example.com'><body>Art thou not Romeo, and a Montague?</body></message>");
/// assert!(matches!(parser.next(), Ok(Some(Event::StreamOpen(_)))));
/// match parser.next() {
///     Ok(Some(Event::Element(msg))) => {
///         assert_eq!((msg.name(), msg.namespace()), ("message", "jabber:client"));
///         let body = msg.child("body", "jabber:client").unwrap();
///         assert!(body.text().eq_str("Art thou not Romeo, and a Montague?"));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(parser.next(), Ok(None))); // needs more bytes
/// ```
///
/// `DEPTH` is how deep a stanza it can track at most (one `u32` per
/// level); [`Limits::max_depth`] is capped to it. A parser that never
/// needs [`MAX_DEPTH`] levels (a client with the default limits needs 16)
/// saves the rest with [`with_capacity`](Self::with_capacity).
pub struct StreamParser<'b, const DEPTH: usize = MAX_DEPTH> {
    buf: &'b mut [u8],
    /// First byte still needed; everything before it may be overwritten.
    start: usize,
    /// First byte not yet tokenized.
    pos: usize,
    /// End of the bytes received.
    end: usize,
    /// Bytes before this passed the character check (UTF-8, XML `Char`).
    checked: usize,
    /// The first byte that failed it, and why; reported when the
    /// tokenizer reaches it, so errors come in stream order.
    fault: Option<(usize, TokErr)>,
    /// How far tokens may be read: `checked`, or the fault.
    limit: usize,
    /// How far the search for the end of the token at `pos` got.
    scan: usize,
    /// Inside which quote that search is (start tags), 0 outside, or
    /// [`NO_QUOTE_TRACKING`] while the search only looks for `>`.
    quote: u8,
    /// Bytes before this may go once the caller is done with the event.
    release: Option<usize>,
    /// The last top-level element handed out, while it is still in the
    /// buffer (until the next call to `next`).
    current: Option<(usize, usize)>,
    /// Stream offset of `buf[0]`, for error reports.
    base: u64,
    phase: Phase,
    limits: Limits,
    /// Open elements inside the stream root.
    depth: usize,
    /// Start of the top-level element being read (or of the pending
    /// top-level token).
    unit: usize,
    /// The top-level element's name length and where its start tag ends
    /// (relative to `unit`), handed to its view.
    root_name_len: u32,
    root_tag_end: u32,
    /// Name offset (relative to `unit`) of each open element.
    // Lengths as u8: the capacities are small (DEPTH is at most
    // MAX_DEPTH, which `with_capacity` enforces for the limit; a larger
    // DEPTH than 255 fails to build).
    open: Vec<u32, DEPTH, u8>,
    decls: Vec<PrefixDecl, MAX_PREFIX_DECLS, u8>,
    scope: StreamScope,
    /// `<stream:stream/>`: the close is reported after the open.
    close_pending: bool,
    /// The stream was restarted: whitespace before the new header belongs
    /// to the old stream (between its elements), so an XML declaration
    /// after it still opens the new one.
    restarted: bool,
}

impl<'b> StreamParser<'b> {
    /// A parser working in `buf`, with [`Limits::for_buffer`].
    pub fn new(buf: &'b mut [u8]) -> Self {
        let limits = Limits::for_buffer(buf.len());
        Self::with_limits(buf, limits)
    }

    /// A parser working in `buf` with the given limits (depth and attribute
    /// counts are capped to [`MAX_DEPTH`] and [`MAX_ATTRIBUTES`]).
    pub fn with_limits(buf: &'b mut [u8], limits: Limits) -> Self {
        Self::with_capacity(buf, limits)
    }
}

impl<'b, const DEPTH: usize> StreamParser<'b, DEPTH> {
    /// A parser working in `buf` with the given limits, tracking up to
    /// `DEPTH` levels (`StreamParser::<16>::with_capacity(buf, limits)`);
    /// depth is capped to `DEPTH` and [`MAX_DEPTH`] (the views walk no
    /// deeper), attribute counts to [`MAX_ATTRIBUTES`].
    pub fn with_capacity(buf: &'b mut [u8], limits: Limits) -> Self {
        let limits = Limits {
            max_stanza_bytes: limits.max_stanza_bytes,
            max_depth: limits.max_depth.min(DEPTH).min(MAX_DEPTH),
            max_attributes: limits.max_attributes.min(MAX_ATTRIBUTES),
        };
        StreamParser {
            buf,
            start: 0,
            pos: 0,
            end: 0,
            checked: 0,
            fault: None,
            limit: 0,
            scan: 0,
            quote: NO_QUOTE_TRACKING,
            release: None,
            current: None,
            base: 0,
            phase: Phase::Prolog { fresh: true },
            limits,
            depth: 0,
            unit: 0,
            root_name_len: 0,
            root_tag_end: 0,
            open: Vec::new(),
            decls: Vec::new(),
            scope: StreamScope::new(),
            close_pending: false,
            restarted: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The free part of the receive buffer: read into it, then [`commit`].
    ///
    /// After [`next`] has returned `Ok(None)` it is never empty: the parser
    /// reports `policy-violation` instead of letting one incomplete element
    /// fill the whole buffer.
    ///
    /// [`commit`]: StreamParser::commit
    /// [`next`]: StreamParser::next
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        if let Phase::Parked { .. } = self.phase {
            return &mut [];
        }
        self.apply_release();
        self.compact();
        let end = self.end;
        self.buf.get_mut(end..).unwrap_or_default()
    }

    /// Marks `n` bytes written into [`receive_buffer`](Self::receive_buffer)
    /// as received. `n` larger than that buffer is a caller bug and is
    /// clamped to it.
    pub fn commit(&mut self, n: usize) {
        if let Phase::Parked { .. } = self.phase {
            return;
        }
        debug_assert!(
            self.end + n <= self.buf.len(),
            "commit past the receive buffer"
        );
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Copies as much of `data` as fits into the receive buffer and commits
    /// it; returns how many bytes were taken.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let rx = self.receive_buffer();
        let n = rx.len().min(data.len());
        rx[..n].copy_from_slice(&data[..n]);
        self.commit(n);
        n
    }

    /// Bytes received but not yet handed out as events.
    pub fn buffered(&self) -> usize {
        self.end
            - self
                .release
                .unwrap_or(self.pos)
                .max(self.start)
                .min(self.end)
    }

    /// Expects a new stream header, as after STARTTLS or SASL success (RFC
    /// 6120 §5.4.3.3, §6.4.6). Bytes already received are kept: a server
    /// may send its new header right behind `<success/>`.
    pub fn restart(&mut self) {
        self.apply_release();
        self.start = self.pos;
        if !matches!(self.phase, Phase::Failed(_) | Phase::Parked { .. }) {
            self.phase = Phase::Prolog { fresh: true };
        }
        self.depth = 0;
        self.open.clear();
        self.decls.clear();
        self.scope = StreamScope::new();
        self.close_pending = false;
        self.restarted = true;
        self.scan = self.pos;
        self.quote = NO_QUOTE_TRACKING;
    }

    /// Ends parsing for a session that is over and keeps `data` (at most
    /// the buffer's size) at the start of the buffer, where
    /// [`parked`](Self::parked) finds it: what the session must still
    /// answer about after its end (a `see-other-host` value) stays in the
    /// caller's memory instead of the session's. From then on the receive
    /// buffer is empty, nothing is committed and [`next`](Self::next)
    /// returns `Ok(None)`. Returns whether `data` fit.
    pub(crate) fn park(&mut self, data: &[u8]) -> bool {
        let Some(dst) = self.buf.get_mut(..data.len()) else {
            return false;
        };
        dst.copy_from_slice(data);
        self.phase = Phase::Parked { len: data.len() };
        self.current = None;
        self.release = None;
        true
    }

    /// What [`park`](Self::park) kept.
    pub(crate) fn parked(&self) -> Option<&[u8]> {
        match self.phase {
            Phase::Parked { len } => self.buf.get(..len),
            _ => None,
        }
    }

    /// Forgets everything, received bytes and a failure included: a new
    /// connection starts (XEP-0198 §5 resumes on one).
    pub fn reset(&mut self) {
        let buf = core::mem::take(&mut self.buf);
        *self = StreamParser::with_capacity(buf, self.limits);
    }

    /// The stream error this parser failed with, if any.
    pub fn error(&self) -> Option<XmlError> {
        match self.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the peer's stream header has been read and its root not
    /// closed yet.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Stream
    }

    /// The next event, `Ok(None)` when more bytes are needed, or the stream
    /// error the input deserves. After an error every call returns it.
    #[allow(clippy::should_implement_trait)]
    #[cfg_attr(feature = "small", inline(never))]
    pub fn next(&mut self) -> Result<Option<Event<'_>>, XmlError> {
        match self.phase {
            Phase::Failed(e) => return Err(e),
            Phase::Parked { .. } => return Ok(None),
            _ => {}
        }
        self.apply_release();
        if self.close_pending {
            self.close_pending = false;
            self.phase = Phase::Closed;
            return Ok(Some(Event::StreamClose));
        }
        let found = match self.step() {
            Ok(f) => f,
            Err(e) => {
                self.phase = Phase::Failed(e);
                return Err(e);
            }
        };
        Ok(found.map(move |f| match f {
            Found::Header { from, to } => Event::StreamOpen(StreamHeader::new(
                &self.buf[from..to],
                self.scope.default_ns,
            )),
            Found::Element { from, to } => Event::Element(Element::root(
                &self.buf[from..to],
                &self.scope,
                self.root_name_len as usize,
                self.root_tag_end as usize,
            )),
            Found::Close => Event::StreamClose,
        }))
    }

    /// The top-level element the last call to [`next`](Self::next) handed
    /// out, again: it stays in the buffer until the next call to `next`,
    /// `receive_buffer`, `feed` or `restart`. A session layer uses this to
    /// look at an element, act on it, and then hand it to its own caller.
    pub fn current(&self) -> Option<Element<'_>> {
        let (from, to) = self.current?;
        Some(Element::root(
            &self.buf[from..to],
            &self.scope,
            self.root_name_len as usize,
            self.root_tag_end as usize,
        ))
    }

    fn apply_release(&mut self) {
        self.current = None;
        if let Some(r) = self.release.take() {
            self.start = self.start.max(r);
        }
    }

    /// Moves the retained bytes to the front when that is cheap relative to
    /// what was consumed (amortized linear), or when the tail is full.
    fn compact(&mut self) {
        let keep = self.end - self.start;
        if self.start == 0 || (self.start < keep && self.end < self.buf.len()) {
            return;
        }
        let s = self.start;
        self.buf.copy_within(s..self.end, 0);
        self.base += s as u64;
        self.start = 0;
        self.pos -= s;
        self.end -= s;
        self.checked -= s;
        self.limit -= s;
        if let Some((at, _)) = &mut self.fault {
            *at -= s;
        }
        self.scan = self.scan.saturating_sub(s);
        self.unit = self.unit.saturating_sub(s);
    }

    fn err(&self, cond: Cond, reason: &'static str, at: usize) -> XmlError {
        XmlError {
            condition: cond,
            reason,
            offset: self.base + at as u64,
        }
    }

    fn tok_err(&self, e: TokErr, token_start: usize) -> XmlError {
        self.err(e.cond, e.reason, token_start + e.at)
    }

    /// Out of bytes: drop what is no longer needed, enforce the limits.
    fn need_more(&mut self) -> Result<Option<Found>, XmlError> {
        let keep = if self.depth > 0 { self.unit } else { self.pos };
        // Counted up to `limit`, the bytes every split of the input has
        // delivered at this point, so the verdict does not depend on it.
        if self.limit - keep > self.limits.max_stanza_bytes {
            return Err(self.err(
                Cond::PolicyViolation,
                "element larger than the stanza size limit",
                keep,
            ));
        }
        // Stuck at a byte that failed the character check.
        if let Some((at, e)) = self.fault {
            return Err(self.tok_err(e, at - e.at));
        }
        self.start = keep;
        self.compact();
        if self.end - self.start >= self.buf.len() {
            return Err(self.err(
                Cond::PolicyViolation,
                "element larger than the receive buffer",
                self.start,
            ));
        }
        Ok(None)
    }

    /// How far the token at `pos` may be read: the checked bytes, and no
    /// further than one byte past the stanza size limit of the element (or
    /// stream header) it belongs to. Bounding every scan there makes the
    /// verdict on an oversized element `policy-violation`, whatever it
    /// contains past the limit and however the bytes were split.
    fn bound(&self) -> usize {
        self.limit.min(
            self.unit
                .saturating_add(self.limits.max_stanza_bytes)
                .saturating_add(1),
        )
    }

    /// Runs the character check over the bytes received since the last
    /// call.
    fn check_received(&mut self) {
        if self.fault.is_none() && self.checked < self.end {
            let (good, fault) = token::check_chars(&self.buf[self.checked..self.end]);
            if let Some(e) = fault {
                self.fault = Some((self.checked + e.at, e));
            }
            self.checked += good;
        }
        self.limit = self.fault.map_or(self.checked, |(at, _)| at);
    }

    /// Tokenizes until an event is found or the bytes run out.
    fn step(&mut self) -> Result<Option<Found>, XmlError> {
        self.check_received();
        loop {
            if self.pos >= self.limit {
                return self.need_more();
            }
            let b = self.buf[self.pos];
            if b != b'<' {
                if self.depth > 0 {
                    if !self.text()? {
                        return self.need_more();
                    }
                    continue;
                }
                self.top_level_text()?;
                continue;
            }
            if self.phase == Phase::Closed {
                return Err(self.err(
                    Cond::NotWellFormed,
                    "markup after the stream was closed",
                    self.pos,
                ));
            }
            if self.depth == 0 {
                self.unit = self.pos;
            }
            let Some(&second) = self
                .buf
                .get(self.pos + 1)
                .filter(|_| self.pos + 1 < self.bound())
            else {
                return self.need_more();
            };
            let found = match second {
                b'/' => self.end_tag()?,
                b'?' => self.question_mark()?,
                b'!' => self.bang()?,
                _ => self.start_tag()?,
            };
            match found {
                Step::More => return self.need_more(),
                Step::Continue => continue,
                Step::Found(f) => return Ok(Some(f)),
            }
        }
    }

    /// Whitespace (and a byte-order mark at the very start) outside the
    /// stanzas: keepalives (RFC 6120 §4.6.1). Consumed and dropped at once.
    fn top_level_text(&mut self) -> Result<(), XmlError> {
        if self.phase == (Phase::Prolog { fresh: true }) && self.buf[self.pos] == 0xEF {
            // XML 1.0 §4.3.3 / RFC 6120 §11.6: a UTF-8 byte-order mark may
            // open the stream.
            let avail = &self.buf[self.pos..self.limit];
            let bom = b"\xEF\xBB\xBF";
            if avail.len() < 3 && bom.starts_with(avail) {
                self.scan = self.limit;
                return Ok(());
            }
            if avail.starts_with(bom) {
                self.pos += 3;
                self.start = self.pos;
                return Ok(());
            }
        }
        let n = self.buf[self.pos..self.limit]
            .iter()
            .take_while(|b| is_xml_space(**b))
            .count();
        self.pos += n;
        self.start = self.pos;
        self.scan = self.pos;
        if let Phase::Prolog { fresh: true } = self.phase {
            if n > 0 && !self.restarted {
                self.phase = Phase::Prolog { fresh: false };
            }
        }
        if self.pos < self.limit && self.buf[self.pos] != b'<' {
            return Err(match self.phase {
                Phase::Prolog { .. } => self.err(
                    Cond::NotWellFormed,
                    "text before the stream header",
                    self.pos,
                ),
                Phase::Closed => self.err(
                    Cond::NotWellFormed,
                    "text after the stream was closed",
                    self.pos,
                ),
                // RFC 6120 §4.9.3.1: XML that cannot be processed; the
                // stream's children are elements, whitespace separates them.
                _ => self.err(Cond::BadFormat, "character data at stream level", self.pos),
            });
        }
        if self.pos >= self.limit {
            // Nothing pending: the bytes before `pos` are free.
            self.scan = self.limit;
        }
        Ok(())
    }

    /// Character data inside a stanza, up to the next `<`; `false` when the
    /// run is still open at the end of the bytes.
    fn text(&mut self) -> Result<bool, XmlError> {
        let from = self.scan.max(self.pos);
        match token::scan_text(&self.buf[..self.bound()], self.pos, from) {
            Ok(token::Scan::More(i, _)) => {
                self.scan = i;
                Ok(false)
            }
            Ok(token::Scan::Found(lt)) => {
                self.pos = lt;
                self.scan = lt;
                Ok(true)
            }
            Err(e) => Err(self.tok_err(e, 0)),
        }
    }

    /// A start tag. Its end is first taken to be the next `>`, one fast
    /// search; only when an attribute value turns out to hold a `>` is the
    /// tag searched again, quote by quote (and from then on resumably).
    fn start_tag(&mut self) -> Result<Step, XmlError> {
        let from = self.scan.max(self.pos + 1);
        let gt = if self.quote == NO_QUOTE_TRACKING {
            match memchr::memchr(b'>', self.buf.get(from..self.bound()).unwrap_or_default()) {
                Some(k) => from + k,
                None => {
                    self.scan = self.bound();
                    return Ok(Step::More);
                }
            }
        } else {
            match token::scan_tag(&self.buf[..self.bound()], from, self.quote) {
                token::Scan::Found(gt) => gt,
                token::Scan::More(i, quote) => {
                    self.scan = i;
                    self.quote = quote;
                    return Ok(Step::More);
                }
            }
        };
        let tok_start = self.pos;
        let tok_end = gt + 1;
        if tok_end - self.unit > self.limits.max_stanza_bytes {
            return Err(self.err(
                Cond::PolicyViolation,
                "element larger than the stanza size limit",
                self.unit,
            ));
        }
        let r = match self.phase {
            Phase::Prolog { .. } => self.stream_header(tok_start, tok_end),
            Phase::Stream => self.stanza_start_tag(tok_start, tok_end),
            Phase::Closed => Err(self.err(
                Cond::NotWellFormed,
                "markup after the stream was closed",
                tok_start,
            )),
            Phase::Failed(e) => Err(e),
            // `next` returns before reading anything.
            Phase::Parked { .. } => {
                Err(self.err(Cond::UndefinedCondition, "the parser is parked", tok_start))
            }
        };
        match r {
            // The '>' was inside a value: find the real end.
            Err(e) if self.quote == NO_QUOTE_TRACKING && e.reason == token::UNTERMINATED_VALUE => {
                self.quote = 0;
                self.scan = tok_start + 1;
                Ok(Step::Continue)
            }
            r => {
                self.quote = NO_QUOTE_TRACKING;
                r
            }
        }
    }

    /// Checks a start tag's attributes: syntax, values, duplicates, count
    /// and namespace declarations. Calls `on_decl(prefix, value, at)` for
    /// each `xmlns` / `xmlns:p` and collects the attribute names in
    /// `names`; returns whether any name other than a declaration has a
    /// prefix (only then do prefixes need resolving). Offsets are relative
    /// to `attrs`.
    fn check_attributes<'t>(
        &self,
        attrs: &'t [u8],
        names: &mut Vec<&'t [u8], MAX_ATTRIBUTES>,
        mut on_decl: impl FnMut(Option<&'t [u8]>, &'t [u8], usize) -> Result<(), TokErr>,
    ) -> Result<bool, TokErr> {
        let max = self.limits.max_attributes;
        let mut prefixed = false;
        // A 64-bit Bloom filter of the names seen: most tags then need no
        // name comparison at all to rule out duplicates.
        let mut seen = 0u64;
        token::check_attributes(attrs, |a| {
            let at = token::offset_in(attrs, a.name);
            if names.len() >= max {
                return Err(TokErr::new(
                    Cond::PolicyViolation,
                    "too many attributes",
                    at,
                ));
            }
            let first = a.name.first().copied().unwrap_or(0) as u32;
            let last = a.name.last().copied().unwrap_or(0) as u32;
            let bit = 1u64
                << (((a.name.len() as u32).wrapping_mul(7) ^ first ^ last.rotate_left(3)) % 64);
            let maybe_seen = seen & bit != 0;
            seen |= bit;
            if maybe_seen && names.contains(&a.name) {
                // XML 1.0 §3.1, WFC: Unique Att Spec.
                return Err(TokErr::new(Cond::NotWellFormed, "duplicate attribute", at));
            }
            match a.qname {
                None => {
                    return Err(TokErr::new(
                        Cond::NotWellFormed,
                        "malformed qualified name",
                        at,
                    ))
                }
                Some((None, b"xmlns")) => on_decl(None, a.value, at)?,
                Some((Some(b"xmlns"), p)) => {
                    // Namespaces in XML §3: prefixed declarations may not be
                    // empty, and the reserved prefixes keep their bindings.
                    if a.value.is_empty()
                        || p == b"xmlns"
                        || (p == b"xml") != (a.value == NS_XML.as_bytes())
                    {
                        return Err(TokErr::new(
                            Cond::NotWellFormed,
                            "illegal namespace declaration",
                            at,
                        ));
                    }
                    on_decl(Some(p), a.value, at)?;
                }
                Some((Some(_), _)) => prefixed = true,
                Some((None, _)) => {}
            }
            // Cannot fail: the count was checked above.
            let _ = names.push(a.name);
            Ok(())
        })?;
        Ok(prefixed)
    }

    /// Checks the characters and splits a start tag; `base` is where its
    /// attributes text starts in the buffer.
    fn split_start_tag(
        &self,
        from: usize,
        to: usize,
    ) -> Result<(token::StartTag<'_>, usize), XmlError> {
        let bytes = &self.buf[from..to];
        let st = token::complete(bytes, token::start_tag).map_err(|e| self.tok_err(e, from))?;
        let base = from + token::offset_in(bytes, st.attrs);
        Ok((st, base))
    }

    fn stream_header(&mut self, tok_start: usize, tok_end: usize) -> Result<Step, XmlError> {
        let (st, base) = self.split_start_tag(tok_start, tok_end)?;
        let mut scope = StreamScope::new();
        let mut default_ns: Option<&[u8]> = None;
        let mut stream_prefix: Option<&[u8]> = None;
        let mut names = Vec::new();
        let prefixed = self
            .check_attributes(st.attrs, &mut names, |prefix, value, at| {
                if value.contains(&b'&') {
                    return Err(TokErr::new(
                        Cond::InvalidNamespace,
                        "namespace name with a reference",
                        at,
                    ));
                }
                match prefix {
                    None => default_ns = Some(value),
                    Some(p) if value == NS_STREAM.as_bytes() => stream_prefix = Some(p),
                    Some(p) => {
                        if !scope.push_decl(p, value) {
                            return Err(TokErr::new(
                                Cond::PolicyViolation,
                                "too many stream-level declarations",
                                at,
                            ));
                        }
                    }
                }
                Ok(())
            })
            .map_err(|e| self.tok_err(e, base))?;
        let name_at = tok_start + 1;
        let Some((prefix, local)) = st.qname else {
            return Err(self.err(Cond::NotWellFormed, "malformed qualified name", name_at));
        };
        // RFC 6120 §4.8.1 / §4.8.5: the stream element is qualified by
        // the stream namespace through a prefix.
        let Some(prefix) = prefix else {
            return Err(self.err(
                Cond::BadNamespacePrefix,
                "stream element without a prefix",
                name_at,
            ));
        };
        if stream_prefix != Some(prefix) {
            let bound_elsewhere = scope.declared().any(|(p, _)| p == prefix);
            return Err(if bound_elsewhere {
                self.err(
                    Cond::InvalidNamespace,
                    "stream element not in the stream namespace",
                    name_at,
                )
            } else {
                self.err(Cond::BadNamespacePrefix, "stream prefix not bound", name_at)
            });
        }
        if local != b"stream" {
            return Err(self.err(Cond::BadFormat, "the root element is not <stream>", name_at));
        }
        // RFC 6120 §4.8.2: the default namespace is the content namespace.
        let content = default_ns
            .and_then(|ns| core::str::from_utf8(ns).ok())
            .and_then(ContentNamespace::from_name);
        scope.default_ns = match content {
            Some(ns) => ns,
            None => {
                return Err(self.err(
                    Cond::InvalidNamespace,
                    "unsupported content namespace",
                    tok_start,
                ))
            }
        };
        if !scope.set_stream_prefix(prefix) {
            return Err(self.err(Cond::PolicyViolation, "stream prefix too long", name_at));
        }
        for n in names.iter().filter(|_| prefixed) {
            if let Some((Some(p), _)) = token::split_qname(n) {
                if p != b"xmlns" && scope.lookup(p).is_none() {
                    let at = base + token::offset_in(st.attrs, n);
                    return Err(self.err(Cond::NotWellFormed, "unbound namespace prefix", at));
                }
            }
        }
        let empty = st.empty;
        drop(names);
        self.close_pending = empty;
        self.scope = scope;
        self.phase = Phase::Stream;
        self.depth = 0;
        self.pos = tok_end;
        self.scan = tok_end;
        self.release = Some(tok_end);
        Ok(Step::Found(Found::Header {
            from: tok_start,
            to: tok_end,
        }))
    }

    fn stanza_start_tag(&mut self, tok_start: usize, tok_end: usize) -> Result<Step, XmlError> {
        let depth = self.depth + 1;
        if depth > self.limits.max_depth {
            return Err(self.err(
                Cond::PolicyViolation,
                "elements nested too deeply",
                tok_start,
            ));
        }
        let (st, base) = self.split_start_tag(tok_start, tok_end)?;
        let unit = self.unit;
        let in_scope = self.decls.len();
        let mut new_decls: Vec<PrefixDecl, MAX_PREFIX_DECLS> = Vec::new();
        let mut names = Vec::new();
        let prefixed = self
            .check_attributes(st.attrs, &mut names, |prefix, value, at| {
                if value.contains(&b'&') {
                    return Err(TokErr::new(
                        Cond::InvalidNamespace,
                        "namespace name with a reference",
                        at,
                    ));
                }
                if let Some(p) = prefix {
                    let p_at = base + at + "xmlns:".len() - unit;
                    let d = PrefixDecl {
                        at: p_at as u32,
                        len: p.len() as u16,
                        depth: depth as u8,
                    };
                    if p.len() > u16::MAX as usize
                        || in_scope + new_decls.len() >= MAX_PREFIX_DECLS
                        || new_decls.push(d).is_err()
                    {
                        return Err(TokErr::new(
                            Cond::PolicyViolation,
                            "too many namespace declarations",
                            at,
                        ));
                    }
                }
                Ok(())
            })
            .map_err(|e| self.tok_err(e, base))?;
        let unit_bytes = &self.buf[unit..];
        let bound = |p: &[u8]| {
            p == b"xml"
                || self.decls.iter().chain(new_decls.iter()).any(|d| {
                    unit_bytes.get(d.at as usize..d.at as usize + d.len as usize) == Some(p)
                })
                || self.scope.lookup(p).is_some()
        };
        let Some((prefix, _)) = st.qname else {
            return Err(self.err(
                Cond::NotWellFormed,
                "malformed qualified name",
                tok_start + 1,
            ));
        };
        if let Some(p) = prefix {
            // Namespaces in XML §3: "Element names MUST NOT have the prefix
            // xmlns"; §5: every other prefix must be declared.
            if p == b"xmlns" || !bound(p) {
                return Err(self.err(
                    Cond::NotWellFormed,
                    "unbound namespace prefix",
                    tok_start + 1,
                ));
            }
        }
        for n in names.iter().filter(|_| prefixed) {
            if let Some((Some(p), _)) = token::split_qname(n) {
                if p != b"xmlns" && !bound(p) {
                    let at = base + token::offset_in(st.attrs, n);
                    return Err(self.err(Cond::NotWellFormed, "unbound namespace prefix", at));
                }
            }
        }
        let empty = st.empty;
        let name_len = st.name.len() as u32;
        drop(names);
        if depth == 1 {
            self.root_name_len = name_len;
            self.root_tag_end = (tok_end - unit) as u32;
        }
        for d in &new_decls {
            // Capacity checked when the declarations were collected.
            let _ = self.decls.push(*d);
        }
        self.pos = tok_end;
        self.scan = tok_end;
        if empty {
            self.pop_decls(depth);
            if depth == 1 {
                return Ok(self.complete_unit(tok_end));
            }
            return Ok(Step::Continue);
        }
        let name_at = (tok_start + 1 - self.unit) as u32;
        // Capacity: depth <= max_depth <= DEPTH.
        let _ = self.open.push(name_at);
        self.depth = depth;
        Ok(Step::Continue)
    }

    fn pop_decls(&mut self, depth: usize) {
        while self.decls.last().is_some_and(|d| d.depth as usize >= depth) {
            self.decls.pop();
        }
    }

    fn complete_unit(&mut self, to: usize) -> Step {
        let from = self.unit;
        self.current = Some((from, to));
        self.release = Some(to);
        self.open.clear();
        self.decls.clear();
        Step::Found(Found::Element { from, to })
    }

    fn end_tag(&mut self) -> Result<Step, XmlError> {
        let from = self.scan.max(self.pos + 2);
        // No quotes in an end tag: the next '>' ends it.
        let Some(k) = memchr::memchr(b'>', self.buf.get(from..self.bound()).unwrap_or_default())
        else {
            self.scan = self.bound();
            return Ok(Step::More);
        };
        let tok_start = self.pos;
        let tok_end = from + k + 1;
        if tok_end - self.unit > self.limits.max_stanza_bytes {
            return Err(self.err(
                Cond::PolicyViolation,
                "element larger than the stanza size limit",
                self.unit,
            ));
        }
        let tag = &self.buf[tok_start..tok_end];
        let name = token::complete(tag, token::end_tag).map_err(|e| self.tok_err(e, tok_start))?;
        if self.phase != Phase::Stream {
            return Err(self.err(Cond::NotWellFormed, "end tag outside the stream", tok_start));
        }
        if self.depth == 0 {
            // RFC 6120 §4.4: the end of the stream root closes the stream.
            return match token::split_qname(name) {
                Some((Some(p), b"stream")) if p == self.scope.stream_prefix() => {
                    self.pos = tok_end;
                    self.scan = tok_end;
                    self.start = tok_end;
                    self.phase = Phase::Closed;
                    Ok(Step::Found(Found::Close))
                }
                _ => Err(self.err(
                    Cond::NotWellFormed,
                    "end tag does not match the stream root",
                    tok_start,
                )),
            };
        }
        let open_at = self.unit + self.open.last().copied().unwrap_or(0) as usize;
        let open_name = self.buf.get(open_at..open_at + name.len());
        let after = self.buf.get(open_at + name.len()).copied().unwrap_or(b'>');
        // XML 1.0 §3, WFC: Element Type Match.
        if open_name != Some(name) || !(is_xml_space(after) || after == b'/' || after == b'>') {
            return Err(self.err(
                Cond::NotWellFormed,
                "end tag does not match the start tag",
                tok_start,
            ));
        }
        self.open.pop();
        self.pop_decls(self.depth);
        self.depth -= 1;
        self.pos = tok_end;
        self.scan = tok_end;
        if self.depth == 0 {
            return Ok(self.complete_unit(tok_end));
        }
        Ok(Step::Continue)
    }

    /// `<?`: the XML declaration at the start of a stream, or a processing
    /// instruction, which RFC 6120 §11.1 forbids.
    fn question_mark(&mut self) -> Result<Step, XmlError> {
        let tok_start = self.pos;
        if self.phase != (Phase::Prolog { fresh: true }) {
            return Err(self.err(Cond::RestrictedXml, "processing instruction", tok_start));
        }
        let avail = self.buf.get(tok_start..self.bound()).unwrap_or_default();
        if avail.len() < 6 {
            return if b"<?xml ".starts_with(avail) || b"<?xml\t".starts_with(avail) {
                Ok(Step::More)
            } else {
                Err(self.err(Cond::RestrictedXml, "processing instruction", tok_start))
            };
        }
        if !(avail.starts_with(b"<?xml") && is_xml_space(avail[5])) {
            return Err(self.err(Cond::RestrictedXml, "processing instruction", tok_start));
        }
        let from = self.scan.max(tok_start + 2);
        let Some(k) = memchr::memchr(b'>', self.buf.get(from..self.bound()).unwrap_or_default())
        else {
            self.scan = self.bound();
            return Ok(Step::More);
        };
        let tok_end = from + k + 1;
        if tok_end - tok_start > self.limits.max_stanza_bytes {
            return Err(self.err(Cond::PolicyViolation, "XML declaration too long", tok_start));
        }
        let decl = &self.buf[tok_start..tok_end];
        token::complete(decl, token::xml_decl).map_err(|e| self.tok_err(e, tok_start))?;
        self.phase = Phase::Prolog { fresh: false };
        self.pos = tok_end;
        self.scan = tok_end;
        self.start = tok_end;
        Ok(Step::Continue)
    }

    /// `<!`: CDATA inside a stanza; comments and DTD declarations are
    /// refused (RFC 6120 §11.1).
    fn bang(&mut self) -> Result<Step, XmlError> {
        let tok_start = self.pos;
        let avail = self.buf.get(tok_start..self.bound()).unwrap_or_default();
        const CDATA: &[u8] = b"<![CDATA[";
        const COMMENT: &[u8] = b"<!--";
        if avail.starts_with(COMMENT) {
            return Err(self.err(Cond::RestrictedXml, "comment", tok_start));
        }
        if avail.get(2).is_some_and(|b| b.is_ascii_alphabetic()) {
            return Err(self.err(
                Cond::RestrictedXml,
                "document type or entity declaration",
                tok_start,
            ));
        }
        if avail.len() < CDATA.len() && (CDATA.starts_with(avail) || COMMENT.starts_with(avail)) {
            return Ok(Step::More);
        }
        if !avail.starts_with(CDATA) {
            return Err(self.err(
                Cond::NotWellFormed,
                "malformed markup declaration",
                tok_start,
            ));
        }
        if self.depth == 0 {
            return Err(match self.phase {
                Phase::Stream => {
                    self.err(Cond::BadFormat, "character data at stream level", tok_start)
                }
                _ => self.err(
                    Cond::NotWellFormed,
                    "CDATA section outside an element",
                    tok_start,
                ),
            });
        }
        // XML 1.0 §2.7: the section ends at the first "]]>".
        let body = tok_start + CDATA.len();
        let mut from = self.scan.max(body);
        let close = loop {
            match memchr::memchr(b'>', self.buf.get(from..self.bound()).unwrap_or_default()) {
                None => {
                    self.scan = self.bound();
                    return Ok(Step::More);
                }
                Some(k) => {
                    let gt = from + k;
                    if gt >= body + 2 && &self.buf[gt - 2..gt] == b"]]" {
                        break gt - 2;
                    }
                    from = gt + 1;
                }
            }
        };
        self.pos = close + 3;
        self.scan = self.pos;
        Ok(Step::Continue)
    }
}

/// What one tokenizing step achieved.
enum Step {
    /// The token is incomplete.
    More,
    /// A token was consumed; go on.
    Continue,
    /// An event is ready.
    Found(Found),
}

impl<const DEPTH: usize> core::fmt::Debug for StreamParser<'_, DEPTH> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamParser")
            .field("phase", &self.phase)
            .field("depth", &self.depth)
            .field("buffered", &(self.end - self.start))
            .field("capacity", &self.buf.len())
            .field("limits", &self.limits)
            .finish()
    }
}
