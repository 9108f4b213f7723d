//! Checked views over elements in the receive buffer.
//!
//! The parser hands out a view only after the whole element passed every
//! check, so the accessors here re-read bytes that are known to be good.
//! They are written to be total anyway: anything unexpected reads as
//! "absent", never as a panic (the smoltcp wire contract).

use crate::error::BufferTooSmall;
use crate::xml::parser::{ContentNamespace, StreamScope, MAX_DEPTH};
use crate::xml::token::{self, Attrs, Reference};
use core::fmt;

fn utf8(b: &[u8]) -> &str {
    core::str::from_utf8(b).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// A walker over checked markup

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// Character data.
    Text,
    /// A CDATA section.
    CData,
    /// A start tag; `empty` for `<x/>`.
    Start { empty: bool },
    /// An end tag.
    End,
}

/// The token starting at `pos` and the position after it.
fn next_tok(doc: &[u8], pos: usize) -> Option<(Tok, usize)> {
    let rest = doc.get(pos..)?;
    match rest {
        [] => None,
        [b'<', b'/', ..] => memchr::memchr(b'>', rest).map(|i| (Tok::End, pos + i + 1)),
        [b'<', b'!', ..] => {
            let mut from = 0;
            loop {
                let i = from + memchr::memchr(b'>', rest.get(from..)?)?;
                if i >= 2 && rest.get(i - 2..i) == Some(b"]]") {
                    return Some((Tok::CData, pos + i + 1));
                }
                from = i + 1;
            }
        }
        [b'<', ..] => {
            let mut i = 1;
            loop {
                let k = i + memchr::memchr3(b'>', b'\'', b'"', rest.get(i..)?)?;
                let c = rest[k];
                if c == b'>' {
                    let empty = k > 0 && rest[k - 1] == b'/';
                    return Some((Tok::Start { empty }, pos + k + 1));
                }
                i = k + 1 + memchr::memchr(c, rest.get(k + 1..)?)? + 1;
            }
        }
        _ => Some((
            Tok::Text,
            memchr::memchr(b'<', rest).map_or(doc.len(), |i| pos + i),
        )),
    }
}

/// The position after the element whose start tag ends at `pos` (its
/// content and end tag skipped).
fn skip_content(doc: &[u8], mut pos: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        let (tok, next) = next_tok(doc, pos)?;
        match tok {
            Tok::Start { empty: false } => depth += 1,
            Tok::End if depth == 0 => return Some(next),
            Tok::End => depth -= 1,
            _ => {}
        }
        pos = next;
    }
}

// ---------------------------------------------------------------------------
// Elements

/// A checked element: a whole top-level element (stanza or nonza) or one of
/// its descendants, borrowing the receive buffer.
///
/// Names and namespaces follow Namespaces in XML: [`name`](Self::name) is
/// the local name, [`namespace`](Self::namespace) the resolved namespace
/// name, inherited from the stream's default (`jabber:client`) when the
/// element declares none.
#[derive(Clone, Copy)]
pub struct Element<'a> {
    /// The whole top-level element.
    doc: &'a [u8],
    /// Where this element's start tag begins in `doc`.
    at: usize,
    /// The qualified name.
    qname: &'a str,
    /// Where the start tag ends (after its `>`), in `doc`.
    tag_end: usize,
    /// The default namespace in scope at this element's parent.
    inherited_ns: &'a str,
    scope: &'a StreamScope,
    /// Nesting below the top-level element (0 for it).
    depth: u8,
}

/// The parsed start tag of an element.
struct Head<'a> {
    qname: &'a str,
    attrs: &'a [u8],
    empty: bool,
    content: usize,
}

impl<'a> Element<'a> {
    /// The top-level element `doc`, whose start tag's name is `name_len`
    /// bytes long and which ends at `tag_end`: the parser knows both.
    pub(crate) fn root(
        doc: &'a [u8],
        scope: &'a StreamScope,
        name_len: usize,
        tag_end: usize,
    ) -> Self {
        Element {
            doc,
            at: 0,
            qname: utf8(doc.get(1..1 + name_len).unwrap_or_default()),
            tag_end,
            inherited_ns: scope.default_ns.as_str(),
            scope,
            depth: 0,
        }
    }

    /// The element whose start tag begins at `at`, below `parent`.
    fn at(parent: &Element<'a>, at: usize) -> Self {
        let doc = parent.doc;
        let (qname, tag_end) = match next_tok(doc, at) {
            Some((Tok::Start { .. }, end)) => {
                match token::start_tag(doc.get(at..end).unwrap_or_default()) {
                    Ok((_, st)) => (utf8(st.name), end),
                    Err(_) => ("", doc.len()),
                }
            }
            _ => ("", doc.len()),
        };
        Element {
            at,
            qname,
            tag_end,
            ..*parent
        }
    }

    fn head(&self) -> Head<'a> {
        let empty = self.tag_end >= 2 && self.doc.get(self.tag_end - 2) == Some(&b'/');
        let attrs_from = self.at + 1 + self.qname.len();
        let attrs_to = self.tag_end.saturating_sub(if empty { 2 } else { 1 });
        Head {
            qname: self.qname,
            attrs: self.doc.get(attrs_from..attrs_to).unwrap_or_default(),
            empty,
            content: self.tag_end,
        }
    }

    /// The qualified name as written, e.g. `stream:features` or `message`.
    pub fn qname(&self) -> &'a str {
        self.head().qname
    }

    /// The local name, e.g. `features` for `<stream:features>`.
    pub fn name(&self) -> &'a str {
        let q = self.qname();
        q.split_once(':').map_or(q, |(_, l)| l)
    }

    /// The namespace prefix as written, if any.
    pub fn prefix(&self) -> Option<&'a str> {
        self.qname().split_once(':').map(|(p, _)| p)
    }

    /// The default namespace this element's children inherit.
    fn default_ns(&self) -> &'a str {
        self.raw_attr("xmlns").unwrap_or(self.inherited_ns)
    }

    /// The element's namespace name (empty for no namespace, `xmlns=''`).
    pub fn namespace(&self) -> &'a str {
        match self.prefix() {
            None => self.default_ns(),
            Some(p) => self.lookup_prefix(p).unwrap_or_default(),
        }
    }

    /// Whether this is the element `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name() == name && self.namespace() == ns
    }

    /// The namespace bound to `prefix` here: on this element, on an
    /// ancestor, or on the stream header.
    pub fn lookup_prefix(&self, prefix: &str) -> Option<&'a str> {
        if let Some(ns) = self.declared_prefix(prefix) {
            return Some(ns);
        }
        // Ancestors: the last start tag at each depth before this element.
        let mut starts = [0usize; MAX_DEPTH + 1];
        let mut depth = 0usize;
        let mut pos = 0;
        while pos < self.at {
            let Some((tok, next)) = next_tok(self.doc, pos) else {
                break;
            };
            match tok {
                Tok::Start { empty } => {
                    if let Some(s) = starts.get_mut(depth) {
                        *s = pos;
                    }
                    if !empty {
                        depth += 1;
                    }
                }
                Tok::End => depth = depth.saturating_sub(1),
                _ => {}
            }
            pos = next;
        }
        for &a in starts.iter().take(depth.min(self.depth as usize)).rev() {
            let anc = Element::at(self, a);
            if let Some(ns) = anc.declared_prefix(prefix) {
                return Some(ns);
            }
        }
        self.scope.lookup(prefix.as_bytes())
    }

    fn declared_prefix(&self, prefix: &str) -> Option<&'a str> {
        Attrs::new(self.head().attrs)
            .find(|a| a.name.strip_prefix(b"xmlns:") == Some(prefix.as_bytes()))
            .map(|a| utf8(a.value))
    }

    fn raw_attr(&self, qname: &str) -> Option<&'a str> {
        Attrs::new(self.head().attrs)
            .find(|a| a.name == qname.as_bytes())
            .map(|a| utf8(a.value))
    }

    /// The value of the attribute written `qname` (e.g. `to`, `xml:lang`).
    pub fn attr(&self, qname: &str) -> Option<Text<'a>> {
        self.raw_attr(qname).map(Text::attribute)
    }

    /// All attributes, namespace declarations included, in document order.
    pub fn attrs(&self) -> Attributes<'a> {
        Attributes {
            inner: Attrs::new(self.head().attrs),
        }
    }

    /// The child elements, in document order.
    pub fn children(&self) -> Children<'a> {
        let head = self.head();
        Children {
            parent: Element {
                inherited_ns: self.default_ns(),
                depth: self.depth.saturating_add(1),
                ..*self
            },
            pos: if head.empty { None } else { Some(head.content) },
        }
    }

    /// The first child named `name` in namespace `ns`.
    pub fn child(&self, name: &str, ns: &str) -> Option<Element<'a>> {
        self.children().find(|c| c.is(name, ns))
    }

    /// Whether the element has no content at all (`<x/>` or `<x></x>`).
    pub fn is_empty(&self) -> bool {
        let head = self.head();
        head.empty || matches!(next_tok(self.doc, head.content), Some((Tok::End, _)) | None)
    }

    /// The character data directly inside this element (text of child
    /// elements excluded), with references decoded and line ends
    /// normalized (XML 1.0 §2.11) as its chunks are read.
    pub fn text(&self) -> Text<'a> {
        let head = self.head();
        if head.empty {
            return Text::content("");
        }
        let end = skip_content(self.doc, head.content).unwrap_or(self.doc.len());
        // Content ends where the end tag starts.
        let content = self.doc.get(head.content..end).unwrap_or_default();
        let close = memchr::memrchr(b'<', content).unwrap_or(content.len());
        Text::content(utf8(content.get(..close).unwrap_or_default()))
    }

    /// The element's bytes as received, from `<` to the end of its end tag.
    pub fn as_bytes(&self) -> &'a [u8] {
        let head = self.head();
        let end = if head.empty {
            head.content
        } else {
            skip_content(self.doc, head.content).unwrap_or(self.doc.len())
        };
        self.doc.get(self.at..end).unwrap_or_default()
    }

    /// The element's bytes as received, as text.
    pub fn as_str(&self) -> &'a str {
        utf8(self.as_bytes())
    }
}

impl fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("name", &self.name())
            .field("namespace", &self.namespace())
            .field("xml", &self.as_str())
            .finish()
    }
}

/// The child elements of an [`Element`].
#[derive(Debug, Clone)]
pub struct Children<'a> {
    parent: Element<'a>,
    pos: Option<usize>,
}

impl<'a> Iterator for Children<'a> {
    type Item = Element<'a>;
    fn next(&mut self) -> Option<Element<'a>> {
        let doc = self.parent.doc;
        let mut pos = self.pos?;
        loop {
            let Some((tok, next)) = next_tok(doc, pos) else {
                self.pos = None;
                return None;
            };
            match tok {
                Tok::Text | Tok::CData => pos = next,
                Tok::End => {
                    self.pos = None;
                    return None;
                }
                Tok::Start { empty } => {
                    self.pos = if empty {
                        Some(next)
                    } else {
                        skip_content(doc, next)
                    };
                    return Some(Element::at(&self.parent, pos));
                }
            }
        }
    }
}

/// One attribute of an element.
#[derive(Debug, Clone, Copy)]
pub struct Attribute<'a> {
    /// The qualified name as written.
    pub name: &'a str,
    /// The value.
    pub value: Text<'a>,
}

impl<'a> Attribute<'a> {
    /// Whether this attribute is a namespace declaration (`xmlns`,
    /// `xmlns:p`).
    pub fn is_namespace_declaration(&self) -> bool {
        self.name == "xmlns" || self.name.starts_with("xmlns:")
    }

    /// The local part of the name.
    pub fn local_name(&self) -> &'a str {
        self.name.split_once(':').map_or(self.name, |(_, l)| l)
    }

    /// The prefix of the name, if any.
    pub fn prefix(&self) -> Option<&'a str> {
        self.name.split_once(':').map(|(p, _)| p)
    }
}

/// The attributes of an element, in document order.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    inner: Attrs<'a>,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;
    fn next(&mut self) -> Option<Attribute<'a>> {
        self.inner.next().map(|a| Attribute {
            name: utf8(a.name),
            value: Text::attribute(utf8(a.value)),
        })
    }
}

// ---------------------------------------------------------------------------
// The stream header

/// The peer's stream header (RFC 6120 §4.7), as a view.
#[derive(Clone, Copy)]
pub struct StreamHeader<'a> {
    tag: &'a [u8],
    ns: ContentNamespace,
}

impl<'a> StreamHeader<'a> {
    pub(crate) fn new(tag: &'a [u8], ns: ContentNamespace) -> Self {
        StreamHeader { tag, ns }
    }

    fn attrs_text(&self) -> &'a [u8] {
        match token::start_tag(self.tag) {
            Ok((_, st)) => st.attrs,
            Err(_) => &[],
        }
    }

    /// The value of the attribute written `qname`.
    pub fn attr(&self, qname: &str) -> Option<Text<'a>> {
        Attrs::new(self.attrs_text())
            .find(|a| a.name == qname.as_bytes())
            .map(|a| Text::attribute(utf8(a.value)))
    }

    /// All attributes of the header, declarations included.
    pub fn attrs(&self) -> Attributes<'a> {
        Attributes {
            inner: Attrs::new(self.attrs_text()),
        }
    }

    /// `to` (RFC 6120 §4.7.2).
    pub fn to(&self) -> Option<Text<'a>> {
        self.attr("to")
    }

    /// `from` (RFC 6120 §4.7.1).
    pub fn from(&self) -> Option<Text<'a>> {
        self.attr("from")
    }

    /// `id` (RFC 6120 §4.7.3).
    pub fn id(&self) -> Option<Text<'a>> {
        self.attr("id")
    }

    /// `xml:lang` (RFC 6120 §4.7.4).
    pub fn lang(&self) -> Option<Text<'a>> {
        self.attr("xml:lang")
    }

    /// `version` as written (RFC 6120 §4.7.5).
    pub fn version(&self) -> Option<Text<'a>> {
        self.attr("version")
    }

    /// `version` as (major, minor); `None` when absent or not two decimal
    /// integers. RFC 6120 §4.7.5: a missing version means 0.9.
    pub fn version_number(&self) -> Option<(u16, u16)> {
        let v = self.version()?.as_str()?;
        let (a, b) = v.split_once('.')?;
        let num = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        Some((num(a)?, num(b)?))
    }

    /// The content namespace declared as the stream's default.
    pub fn content_namespace(&self) -> ContentNamespace {
        self.ns
    }

    /// The header's bytes as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.tag
    }
}

impl fmt::Debug for StreamHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamHeader")
            .field("ns", &self.ns)
            .field("xml", &utf8(self.tag))
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Text

/// Character data or an attribute value, still escaped in the buffer and
/// decoded as it is read: the five predefined entities and character
/// references are replaced, line ends normalized (XML 1.0 §2.11), and in
/// attribute values white space normalized (XML 1.0 §3.3.3).
///
/// Read it by chunks, by characters, into a caller buffer, or compare it
/// with a string; none of these allocates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Text<'a> {
    raw: &'a str,
    attr: bool,
}

impl<'a> Text<'a> {
    pub(crate) fn attribute(raw: &'a str) -> Self {
        Text { raw, attr: true }
    }

    pub(crate) fn content(raw: &'a str) -> Self {
        Text { raw, attr: false }
    }

    /// The text as received, references and markup of child elements
    /// included.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The decoded text without copying, when it needs no decoding (no
    /// references, no carriage returns, no child markup; in attributes no
    /// tabs or line feeds either).
    pub fn as_str(&self) -> Option<&'a str> {
        let b = self.raw.as_bytes();
        let special = if self.attr {
            b.iter().any(|c| matches!(c, b'&' | b'\r' | b'\n' | b'\t'))
        } else {
            memchr::memchr3(b'&', b'\r', b'<', b).is_some()
        };
        (!special).then_some(self.raw)
    }

    /// The decoded text, chunk by chunk.
    pub fn chunks(&self) -> TextChunks<'a> {
        TextChunks {
            rest: self.raw,
            attr: self.attr,
            in_cdata: false,
        }
    }

    /// The decoded text, character by character.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        self.chunks().flat_map(|c| {
            let mut i = 0;
            core::iter::from_fn(move || {
                let ch = c.as_str().get(i..)?.chars().next()?;
                i += ch.len_utf8();
                Some(ch)
            })
        })
    }

    /// Length of the decoded text in bytes.
    pub fn decoded_len(&self) -> usize {
        self.chunks().map(|c| c.as_str().len()).sum()
    }

    /// Whether the decoded text is empty.
    pub fn is_empty(&self) -> bool {
        self.chunks().all(|c| c.as_str().is_empty())
    }

    /// Decodes into `out` and returns the decoded text; if it does not fit,
    /// nothing useful is written and the error says the size needed.
    pub fn decode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, BufferTooSmall> {
        let mut n = 0;
        for c in self.chunks() {
            let s = c.as_str().as_bytes();
            match out.get_mut(n..n + s.len()) {
                Some(dst) => dst.copy_from_slice(s),
                None => {
                    return Err(BufferTooSmall {
                        needed: self.decoded_len(),
                    })
                }
            }
            n += s.len();
        }
        Ok(core::str::from_utf8(&out[..n]).unwrap_or_default())
    }

    /// Whether the decoded text equals `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        let mut rest = s.as_bytes();
        for c in self.chunks() {
            match rest.strip_prefix(c.as_str().as_bytes()) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.eq_str(other)
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.eq_str(other)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chunks().try_for_each(|c| f.write_str(c.as_str()))
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        self.chunks()
            .try_for_each(|c| write!(f, "{}", c.as_str().escape_debug()))?;
        f.write_str("\"")
    }
}

/// One piece of decoded text: a run borrowed from the buffer, or the
/// replacement of one reference.
#[derive(Clone, Copy)]
pub struct TextChunk<'a> {
    s: &'a str,
    c: [u8; 4],
    n: u8,
}

impl<'a> TextChunk<'a> {
    fn borrowed(s: &'a str) -> Self {
        TextChunk { s, c: [0; 4], n: 0 }
    }

    fn char(ch: char) -> Self {
        let mut c = [0; 4];
        let n = ch.encode_utf8(&mut c).len() as u8;
        TextChunk { s: "", c, n }
    }

    /// The chunk's text.
    pub fn as_str(&self) -> &str {
        if self.n == 0 {
            self.s
        } else {
            core::str::from_utf8(&self.c[..self.n as usize]).unwrap_or_default()
        }
    }
}

impl core::ops::Deref for TextChunk<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TextChunk<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The chunks of a [`Text`].
#[derive(Debug, Clone)]
pub struct TextChunks<'a> {
    rest: &'a str,
    attr: bool,
    in_cdata: bool,
}

impl<'a> TextChunks<'a> {
    fn advance(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }

    /// A line end at the start of `rest`: "\r\n" and "\r" read as "\n"
    /// (XML 1.0 §2.11), and as a space in attribute values (§3.3.3).
    fn line_end(&mut self) -> TextChunk<'a> {
        let n = if self.rest.starts_with("\r\n") { 2 } else { 1 };
        self.advance(n);
        TextChunk::borrowed(if self.attr { " " } else { "\n" })
    }
}

impl<'a> Iterator for TextChunks<'a> {
    type Item = TextChunk<'a>;
    fn next(&mut self) -> Option<TextChunk<'a>> {
        loop {
            let b = self.rest.as_bytes();
            let first = *b.first()?;
            if self.in_cdata {
                let close = b.windows(3).position(|w| w == b"]]>").unwrap_or(b.len());
                let stop = memchr::memchr(b'\r', &b[..close]).unwrap_or(close);
                if stop > 0 {
                    let run = self.rest.get(..stop).unwrap_or_default();
                    self.advance(stop);
                    return Some(TextChunk::borrowed(run));
                }
                if first == b'\r' {
                    return Some(self.line_end());
                }
                self.advance(3);
                self.in_cdata = false;
                continue;
            }
            match first {
                b'<' if b.starts_with(b"<![CDATA[") => {
                    self.advance(9);
                    self.in_cdata = true;
                }
                b'<' => {
                    // A child element: its text is not ours.
                    let skip = match next_tok(b, 0) {
                        Some((Tok::Start { empty: false }, end)) => skip_content(b, end),
                        Some((_, end)) => Some(end),
                        None => None,
                    };
                    self.advance(skip.unwrap_or(b.len()));
                }
                b'&' => {
                    let Ok((rest, r)) = token::reference(b) else {
                        self.rest = "";
                        return None;
                    };
                    self.advance(b.len() - rest.len());
                    return Some(match r {
                        Reference::Predefined(s) => TextChunk::borrowed(s),
                        Reference::Char(c) => TextChunk::char(c),
                    });
                }
                b'\r' => return Some(self.line_end()),
                b'\t' | b'\n' if self.attr => {
                    self.advance(1);
                    return Some(TextChunk::borrowed(" "));
                }
                _ => {
                    let stop = if self.attr {
                        b.iter()
                            .position(|c| matches!(c, b'&' | b'\r' | b'\t' | b'\n'))
                            .unwrap_or(b.len())
                    } else {
                        memchr::memchr3(b'<', b'&', b'\r', b).unwrap_or(b.len())
                    };
                    let run = self.rest.get(..stop).unwrap_or_default();
                    self.advance(stop);
                    return Some(TextChunk::borrowed(run));
                }
            }
        }
    }
}
