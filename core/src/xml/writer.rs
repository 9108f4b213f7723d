//! Elements to bytes in a caller buffer: a streaming [`Writer`], a borrowed
//! tree [`ElementBuilder`], and the stream header and close of RFC 6120 §4.7
//! ([`StreamHeaderBuilder`], [`StreamHeaderBuilder::write_close`]).
//!
//! Nothing allocates. When the buffer runs out the writer goes on counting
//! without writing, so a failed write reports the exact size it needs
//! ([`WriteError::BufferTooSmall`]); a truncated output is never reported as
//! success. Names are checked, text and attribute values go through the one
//! escaping routine ([`escape`](fn@super::escape)), characters XML 1.0 cannot
//! carry are refused, and the element structure is checked, so what comes
//! out is well-formed (with two caveats: the streaming [`Writer`] does not
//! notice a repeated attribute name, and namespace prefixes are not checked
//! for being declared).
//!
//! Attribute values are always delimited by single quotes.
//!
//! ```
//! use picoxmpp::xml::{ElementBuilder, Node};
//!
//! let body = [Node::Text("Wherefore art thou?")];
//! let children = [Node::Element(ElementBuilder::new("body").children(&body))];
//! let message = ElementBuilder::new("message")
//!     .ns("jabber:client")
//!     .attrs(&[("to", "juliet@example.com"), ("type", "chat")])
//!     .children(&children);
//!
//! let mut buf = [0u8; 256];
//! let n = message.write_to(&mut buf)?;
//! assert_eq!(
//!     &buf[..n],
//!     b"<message to='juliet@example.com' type='chat' xmlns='jabber:client'>\
//!       <body>Wherefore art thou?</body></message>"
//! );
//! assert_eq!(message.len()?, n);
//! # Ok::<(), picoxmpp::xml::WriteError>(())
//! ```

use core::fmt;

use super::chars::{is_ncname, is_qname};
use super::escape::{escape_at, put};
use super::{NS_STREAM, NS_XML, NS_XMLNS};
use crate::error::BufferTooSmall;

/// How many elements a [`Writer`] can have open at once.
const MAX_DEPTH: usize = 32;

/// Why the writer refused to produce output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WriteError {
    /// The output does not fit in the buffer; `needed` is its full size.
    /// Retrying with a buffer of that size succeeds.
    BufferTooSmall(BufferTooSmall),
    /// A text node or attribute value holds a character XML 1.0 §2.2 does
    /// not allow (most C0 controls, U+FFFE, U+FFFF). No escape can carry
    /// it (XML 1.0 §4.1, WFC: Legal Character).
    InvalidChar,
    /// An element or attribute name is not a qualified name (Namespaces in
    /// XML §4), or a namespace declaration is one that Namespaces in XML §3
    /// forbids (prefix `xmlns`, `xml` bound elsewhere, the `xml` or `xmlns`
    /// namespace bound to another prefix, an empty prefixed binding).
    InvalidName,
    /// More than [`Writer::MAX_DEPTH`] elements open at once.
    TooDeep,
    /// An end tag that does not match the innermost open element, or
    /// [`Writer::finish`] with elements still open (XML 1.0 §3, WFC: Element
    /// Type Match).
    Unbalanced,
    /// An attribute or namespace declaration where no start tag is open:
    /// after the element's content has begun, or outside any element.
    Misplaced,
    /// An [`ElementBuilder`] names the same attribute twice (XML 1.0 §3.1,
    /// WFC: Unique Att Spec), counting its `ns` as `xmlns`.
    DuplicateAttribute,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall(e) => e.fmt(f),
            Self::InvalidChar => f.write_str("character not allowed in XML 1.0"),
            Self::InvalidName => f.write_str("invalid XML name or namespace declaration"),
            Self::TooDeep => f.write_str("elements nested too deeply"),
            Self::Unbalanced => f.write_str("start and end tags do not match"),
            Self::Misplaced => f.write_str("attribute outside a start tag"),
            Self::DuplicateAttribute => f.write_str("attribute given twice"),
        }
    }
}

impl From<BufferTooSmall> for WriteError {
    fn from(e: BufferTooSmall) -> Self {
        Self::BufferTooSmall(e)
    }
}

impl core::error::Error for WriteError {}

/// A streaming XML writer over a caller buffer.
///
/// Each call appends to the buffer. When the buffer is full the writer
/// keeps counting without writing, and [`finish`](Self::finish) then
/// reports [`WriteError::BufferTooSmall`] with the size the whole output
/// needs; only `finish` returning `Ok(n)` means `buf[..n]` is the output.
///
/// Any other error is returned by the call that caused it and is sticky:
/// every later call, and `finish`, returns it again.
///
/// Element names given to [`start_element`](Self::start_element) are kept
/// (to check the matching end tag), so they must live as long as the
/// buffer borrow `'b`; string literals always do.
///
/// Depth 0 is wherever the output goes: a stanza writer is typically at
/// depth 1 of the stream, inside `<stream:stream>`, so several top-level
/// elements and top-level text (such as the whitespace keepalive of
/// RFC 6120 §4.6) are allowed.
///
/// ```
/// use picoxmpp::xml::Writer;
///
/// let mut buf = [0u8; 64];
/// let mut w = Writer::new(&mut buf);
/// w.start_element("presence")?;
/// w.attr("type", "unavailable")?;
/// w.end_element("presence")?;
/// let n = w.finish()?;
/// assert_eq!(&buf[..n], b"<presence type='unavailable'/>");
/// # Ok::<(), picoxmpp::xml::WriteError>(())
/// ```
pub struct Writer<'b> {
    buf: &'b mut [u8],
    /// Bytes produced so far; past `buf.len()` once the buffer ran out.
    pos: usize,
    /// The open elements, innermost last: `open[..depth]`. A plain array
    /// rather than a `heapless::Vec`, which has drop glue and would keep
    /// `buf` borrowed until the writer goes out of scope.
    open: [&'b str; MAX_DEPTH],
    /// How many elements are open.
    depth: usize,
    /// Whether the innermost start tag still awaits its `>` (or `/>`), so
    /// attributes may still be added.
    in_start_tag: bool,
    /// The first error other than running out of room.
    error: Option<WriteError>,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("capacity", &self.buf.len())
            .field("pos", &self.pos)
            .field("open", &self.open.get(..self.depth))
            .field("in_start_tag", &self.in_start_tag)
            .field("error", &self.error)
            .finish()
    }
}

impl<'b> Writer<'b> {
    /// How many elements can be open at once; one more is
    /// [`WriteError::TooDeep`].
    pub const MAX_DEPTH: usize = MAX_DEPTH;

    /// A writer that appends to `buf` from its start.
    ///
    /// An empty buffer makes a writer that only measures: `finish` then
    /// reports the size in [`WriteError::BufferTooSmall`].
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            open: [""; MAX_DEPTH],
            depth: 0,
            in_start_tag: false,
            error: None,
        }
    }

    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Opens element `name` (a qualified name, e.g. `message` or
    /// `stream:features`). Attributes may follow until content is written.
    ///
    /// # Errors
    ///
    /// [`WriteError::InvalidName`] if `name` is not a qualified name or has
    /// the prefix `xmlns` (Namespaces in XML §3); [`WriteError::TooDeep`] if
    /// [`MAX_DEPTH`](Self::MAX_DEPTH) elements are already open.
    pub fn start_element(&mut self, name: &'b str) -> Result<(), WriteError> {
        self.guard(|w| {
            if !is_element_name(name) {
                return Err(WriteError::InvalidName);
            }
            let slot = w.open.get_mut(w.depth).ok_or(WriteError::TooDeep)?;
            *slot = name;
            w.depth += 1;
            w.close_start_tag();
            w.put(b"<");
            w.put(name.as_bytes());
            w.in_start_tag = true;
            Ok(())
        })
    }

    /// Adds attribute `name='value'` to the open start tag, escaping the
    /// value.
    ///
    /// `xmlns` and `xmlns:p` are namespace declarations and get the checks
    /// of [`ns`](Self::ns) and [`ns_prefixed`](Self::ns_prefixed).
    ///
    /// # Errors
    ///
    /// [`WriteError::Misplaced`] if no start tag is open;
    /// [`WriteError::InvalidName`] if `name` is not a qualified name;
    /// [`WriteError::InvalidChar`] if `value` holds a character XML 1.0
    /// cannot carry.
    pub fn attr(&mut self, name: &str, value: &str) -> Result<(), WriteError> {
        self.guard(|w| {
            if name == "xmlns" {
                return w.ns_inner(value);
            }
            if let Some(("xmlns", prefix)) = name.split_once(':') {
                return w.ns_prefixed_inner(prefix, value);
            }
            if !w.in_start_tag {
                return Err(WriteError::Misplaced);
            }
            if !is_qname(name) {
                return Err(WriteError::InvalidName);
            }
            w.write_attr(b"", name, value)
        })
    }

    /// Declares the default namespace: `xmlns='uri'` on the open start tag.
    ///
    /// # Errors
    ///
    /// [`WriteError::Misplaced`] if no start tag is open;
    /// [`WriteError::InvalidName`] if `uri` is the `xml` or `xmlns`
    /// namespace, which Namespaces in XML §3 forbids as the default;
    /// [`WriteError::InvalidChar`] as for [`attr`](Self::attr).
    pub fn ns(&mut self, uri: &str) -> Result<(), WriteError> {
        self.guard(|w| w.ns_inner(uri))
    }

    /// Declares a prefix: `xmlns:prefix='uri'` on the open start tag.
    ///
    /// # Errors
    ///
    /// [`WriteError::Misplaced`] if no start tag is open;
    /// [`WriteError::InvalidName`] if `prefix` is not an `NCName`, or the
    /// binding is one Namespaces in XML §3 forbids: prefix `xmlns`; prefix
    /// `xml` bound to anything but its own namespace; another prefix bound
    /// to the `xml` or `xmlns` namespace; or an empty `uri` (Namespaces in
    /// XML 1.0 has no prefix undeclaring); [`WriteError::InvalidChar`] as
    /// for [`attr`](Self::attr).
    pub fn ns_prefixed(&mut self, prefix: &str, uri: &str) -> Result<(), WriteError> {
        self.guard(|w| w.ns_prefixed_inner(prefix, uri))
    }

    /// Writes character data, escaped, closing the open start tag first.
    /// Empty text writes nothing (so an element may still end as `<a/>`).
    ///
    /// # Errors
    ///
    /// [`WriteError::InvalidChar`] if `text` holds a character XML 1.0
    /// cannot carry.
    pub fn text(&mut self, text: &str) -> Result<(), WriteError> {
        self.guard(|w| {
            if text.is_empty() {
                return Ok(());
            }
            w.close_start_tag();
            w.escaped(text, false)
        })
    }

    /// Closes the innermost open element, which must be `name`: as `/>` if
    /// it has no content yet, else with `</name>`.
    ///
    /// # Errors
    ///
    /// [`WriteError::Unbalanced`] if no element is open or the innermost
    /// one is not `name`.
    pub fn end_element(&mut self, name: &str) -> Result<(), WriteError> {
        self.guard(|w| {
            let innermost = w.depth.checked_sub(1).ok_or(WriteError::Unbalanced)?;
            if w.open.get(innermost) != Some(&name) {
                return Err(WriteError::Unbalanced);
            }
            w.depth = innermost;
            if w.in_start_tag {
                w.in_start_tag = false;
                w.put(b"/>");
            } else {
                w.put(b"</");
                w.put(name.as_bytes());
                w.put(b">");
            }
            Ok(())
        })
    }

    /// Ends the writing and returns how many bytes of the buffer hold the
    /// output.
    ///
    /// # Errors
    ///
    /// The sticky error of an earlier call, if any; else
    /// [`WriteError::Unbalanced`] if elements are still open; else
    /// [`WriteError::BufferTooSmall`] with the full size if the output did
    /// not fit. The buffer's contents are unspecified after an error.
    pub fn finish(self) -> Result<usize, WriteError> {
        self.finish_inner(false)
    }

    /// [`finish`](Self::finish), optionally leaving elements open (for the
    /// stream header, whose element stays open for the whole stream).
    fn finish_inner(self, allow_open: bool) -> Result<usize, WriteError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !allow_open && self.depth != 0 {
            return Err(WriteError::Unbalanced);
        }
        if self.pos > self.buf.len() {
            return Err(BufferTooSmall { needed: self.pos }.into());
        }
        Ok(self.pos)
    }

    /// Runs one public operation: refuses if an error is already recorded,
    /// and records the error the operation returns, so that an ignored
    /// `Result` cannot lead to `finish` reporting broken output as success.
    fn guard(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let result = op(self);
        if let Err(e) = result {
            self.error = Some(e);
        }
        result
    }

    /// Records `e` as the sticky error and returns it.
    fn fail(&mut self, e: WriteError) -> Result<(), WriteError> {
        self.error.get_or_insert(e);
        Err(e)
    }

    fn put(&mut self, bytes: &[u8]) {
        self.pos = put(self.buf, self.pos, bytes);
    }

    fn escaped(&mut self, s: &str, attribute: bool) -> Result<(), WriteError> {
        self.pos = escape_at(s, attribute, self.buf, self.pos)?;
        Ok(())
    }

    fn close_start_tag(&mut self) {
        if self.in_start_tag {
            self.in_start_tag = false;
            self.put(b">");
        }
    }

    /// Writes ` {prefix}{name}='{escaped value}'`.
    fn write_attr(&mut self, prefix: &[u8], name: &str, value: &str) -> Result<(), WriteError> {
        self.put(b" ");
        self.put(prefix);
        self.put(name.as_bytes());
        self.put(b"='");
        self.escaped(value, true)?;
        self.put(b"'");
        Ok(())
    }

    fn ns_inner(&mut self, uri: &str) -> Result<(), WriteError> {
        if !self.in_start_tag {
            return Err(WriteError::Misplaced);
        }
        // Namespaces in XML §3: the xml namespace "MUST NOT be declared as
        // the default namespace", nor may the xmlns namespace.
        if uri == NS_XML || uri == NS_XMLNS {
            return Err(WriteError::InvalidName);
        }
        self.write_attr(b"", "xmlns", uri)
    }

    fn ns_prefixed_inner(&mut self, prefix: &str, uri: &str) -> Result<(), WriteError> {
        if !self.in_start_tag {
            return Err(WriteError::Misplaced);
        }
        // Namespaces in XML 1.0 §3: NSC "Reserved Prefixes and Namespace
        // Names", and "in a namespace declaration for a prefix ... the
        // attribute value MUST NOT be empty" (1.0 has no undeclaring, and
        // XMPP uses XML 1.0, RFC 6120 §11.8).
        let allowed = match prefix {
            "xmlns" => false,
            "xml" => uri == NS_XML,
            _ => is_ncname(prefix) && !uri.is_empty() && uri != NS_XML && uri != NS_XMLNS,
        };
        if !allowed {
            return Err(WriteError::InvalidName);
        }
        self.write_attr(b"xmlns:", prefix, uri)
    }
}

/// An element name: a qualified name (Namespaces in XML §4) whose prefix is
/// not `xmlns` ("Element names MUST NOT have the prefix xmlns", §3).
fn is_element_name(name: &str) -> bool {
    is_qname(name) && !matches!(name.split_once(':'), Some(("xmlns", _)))
}

/// A child of an [`ElementBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node<'a> {
    /// A child element.
    Element(ElementBuilder<'a>),
    /// Character data, escaped when written.
    Text(&'a str),
}

/// An element to write, as a tree of borrowed slices: no allocation.
///
/// Written as `<name attrs... xmlns='ns'>children...</name>`, or
/// `<name attrs... xmlns='ns'/>` when it has no children (empty text
/// children count as none). Attributes are written in the order given, then
/// the namespace declaration.
///
/// Child arrays built with non-`const` calls (such as
/// [`ElementBuilder::new`]) need a `let` of their own, since a temporary
/// would not live long enough:
///
/// ```
/// use picoxmpp::xml::{ElementBuilder, Node};
///
/// let body = [Node::Text("Wherefore art thou?")];
/// let children = [Node::Element(ElementBuilder::new("body").children(&body))];
/// let message = ElementBuilder::new("message")
///     .ns("jabber:client")
///     .attrs(&[("to", "juliet@example.com"), ("type", "chat")])
///     .children(&children);
///
/// let mut buf = [0u8; 256];
/// let n = message.write_to(&mut buf)?;
/// assert_eq!(
///     &buf[..n],
///     b"<message to='juliet@example.com' type='chat' xmlns='jabber:client'>\
///       <body>Wherefore art thou?</body></message>"
/// );
/// # Ok::<(), picoxmpp::xml::WriteError>(())
/// ```
///
/// The constructors are `const fn`, so whole stanzas can also be `const`
/// items, where every nested array is promoted to a constant:
///
/// ```
/// use picoxmpp::xml::{ElementBuilder, Node};
///
/// const PING: ElementBuilder<'static> = ElementBuilder::new("iq")
///     .ns("jabber:client")
///     .attrs(&[("id", "p1"), ("type", "get")])
///     .children(&[Node::Element(ElementBuilder::new("ping").ns("urn:xmpp:ping"))]);
///
/// let mut buf = [0u8; 128];
/// let n = PING.write_to(&mut buf)?;
/// assert_eq!(
///     &buf[..n],
///     b"<iq id='p1' type='get' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>"
/// );
/// # Ok::<(), picoxmpp::xml::WriteError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementBuilder<'a> {
    /// The element's qualified name.
    pub name: &'a str,
    /// The default namespace to declare on it (`xmlns='...'`), if any.
    pub ns: Option<&'a str>,
    /// Its attributes, `(qualified name, unescaped value)`, in output order.
    pub attrs: &'a [(&'a str, &'a str)],
    /// Its content, in order.
    pub children: &'a [Node<'a>],
}

impl<'a> ElementBuilder<'a> {
    /// An element `name` with no namespace declaration, attributes or
    /// children.
    pub const fn new(name: &'a str) -> Self {
        Self {
            name,
            ns: None,
            attrs: &[],
            children: &[],
        }
    }

    /// Declares `uri` as the element's default namespace.
    pub const fn ns(mut self, uri: &'a str) -> Self {
        self.ns = Some(uri);
        self
    }

    /// Sets the attributes, `(qualified name, unescaped value)`.
    pub const fn attrs(mut self, attrs: &'a [(&'a str, &'a str)]) -> Self {
        self.attrs = attrs;
        self
    }

    /// Sets the children.
    pub const fn children(mut self, children: &'a [Node<'a>]) -> Self {
        self.children = children;
        self
    }

    /// Writes the element, with its whole subtree, to `w`.
    ///
    /// # Errors
    ///
    /// Those of the [`Writer`] calls it makes, and
    /// [`WriteError::DuplicateAttribute`]. Running out of room is only
    /// reported by [`Writer::finish`].
    pub fn write<'b>(&self, w: &mut Writer<'b>) -> Result<(), WriteError>
    where
        'a: 'b,
    {
        w.start_element(self.name)?;
        for (i, &(name, value)) in self.attrs.iter().enumerate() {
            // XML 1.0 §3.1, WFC: Unique Att Spec. Quadratic, but attribute
            // lists are short, and nothing needs to be stored.
            let earlier = self.attrs.get(..i).unwrap_or_default();
            if earlier.iter().any(|&(n, _)| n == name) || (name == "xmlns" && self.ns.is_some()) {
                return w.fail(WriteError::DuplicateAttribute);
            }
            w.attr(name, value)?;
        }
        if let Some(uri) = self.ns {
            w.ns(uri)?;
        }
        for child in self.children {
            match child {
                // Recursion is bounded: `start_element` refuses to go past
                // `Writer::MAX_DEPTH`.
                Node::Element(e) => e.write(w)?,
                Node::Text(t) => w.text(t)?,
            }
        }
        w.end_element(self.name)
    }

    /// Writes the element to the start of `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// As for [`write`](Self::write), and [`WriteError::BufferTooSmall`]
    /// with the exact size if it does not fit.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, WriteError> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        w.finish()
    }

    /// The exact size of the serialized element, in bytes.
    ///
    /// # Errors
    ///
    /// As for [`write`](Self::write): an element that cannot be written has
    /// no size.
    #[allow(clippy::len_without_is_empty)] // An element is never empty.
    pub fn len(&self) -> Result<usize, WriteError> {
        measure(self.write_to(&mut []))
    }
}

/// Turns the result of writing into an empty buffer into the size needed.
fn measure(result: Result<usize, WriteError>) -> Result<usize, WriteError> {
    match result {
        Err(WriteError::BufferTooSmall(BufferTooSmall { needed })) => Ok(needed),
        other => other,
    }
}

/// The stream header of RFC 6120 §4.7: an optional XML declaration and the
/// `<stream:stream ...>` start tag, which stays open for the whole stream.
///
/// Written as `<?xml version='1.0'?>` (if [`xml_declaration`]) then
/// `<stream:stream xmlns='{content_ns}'
/// xmlns:stream='http://etherx.jabber.org/streams'` followed by `from`,
/// `id`, `to`, `version` and `xml:lang`, each only if set, and `>`.
///
/// [`xml_declaration`]: Self::xml_declaration
///
/// ```
/// use picoxmpp::xml::StreamHeaderBuilder;
///
/// let header = StreamHeaderBuilder::new("jabber:client")
///     .from("juliet@im.example.com")
///     .to("im.example.com")
///     .lang("en");
/// let mut buf = [0u8; 256];
/// let n = header.write_to(&mut buf)?;
/// assert_eq!(
///     &buf[..n],
///     &b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
///        xmlns:stream='http://etherx.jabber.org/streams' \
///        from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en'>"[..]
/// );
/// # Ok::<(), picoxmpp::xml::WriteError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeaderBuilder<'a> {
    /// `to`: the intended recipient's address (RFC 6120 §4.7.2).
    pub to: Option<&'a str>,
    /// `from`: the sender's address (RFC 6120 §4.7.1).
    pub from: Option<&'a str>,
    /// `id`: the stream id, sent by the receiving entity only (RFC 6120
    /// §4.7.3).
    pub id: Option<&'a str>,
    /// `version`: `"1.0"` for RFC 6120 streams (§4.7.5); `None` omits it.
    pub version: Option<&'a str>,
    /// `xml:lang`: the default language of the stream's text (§4.7.4).
    pub lang: Option<&'a str>,
    /// The content namespace, declared as the default namespace (RFC 6120
    /// §4.8.2): `"jabber:client"` or `"jabber:server"`.
    pub content_ns: &'a str,
    /// Whether to send the XML declaration first, as RFC 6120 §11.5 says an
    /// entity SHOULD before the initial stream header.
    pub xml_declaration: bool,
}

impl<'a> StreamHeaderBuilder<'a> {
    /// A header for content namespace `content_ns`, with `version='1.0'`
    /// and the XML declaration, and no other attribute.
    pub const fn new(content_ns: &'a str) -> Self {
        Self {
            to: None,
            from: None,
            id: None,
            version: Some("1.0"),
            lang: None,
            content_ns,
            xml_declaration: true,
        }
    }

    /// Sets `to`.
    pub const fn to(mut self, to: &'a str) -> Self {
        self.to = Some(to);
        self
    }

    /// Sets `from`.
    pub const fn from(mut self, from: &'a str) -> Self {
        self.from = Some(from);
        self
    }

    /// Sets `id`.
    pub const fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets or (with `None`) omits `version`.
    pub const fn version(mut self, version: Option<&'a str>) -> Self {
        self.version = version;
        self
    }

    /// Sets `xml:lang`.
    pub const fn lang(mut self, lang: &'a str) -> Self {
        self.lang = Some(lang);
        self
    }

    /// Whether to write the XML declaration first.
    pub const fn xml_declaration(mut self, yes: bool) -> Self {
        self.xml_declaration = yes;
        self
    }

    /// Writes the header to the start of `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// [`WriteError::InvalidChar`] if a value holds a character XML 1.0
    /// cannot carry; [`WriteError::InvalidName`] if `content_ns` is the
    /// `xml` or `xmlns` namespace; [`WriteError::BufferTooSmall`] with the
    /// exact size if it does not fit.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, WriteError> {
        let mut w = Writer::new(buf);
        if self.xml_declaration {
            // XML 1.0 §2.8; no encoding declaration, as UTF-8 is the
            // default and the only encoding of XMPP (RFC 6120 §11.6).
            w.put(b"<?xml version='1.0'?>");
        }
        w.start_element("stream:stream")?;
        w.ns(self.content_ns)?;
        w.ns_prefixed("stream", NS_STREAM)?;
        let attrs = [
            ("from", self.from),
            ("id", self.id),
            ("to", self.to),
            ("version", self.version),
            ("xml:lang", self.lang),
        ];
        for (name, value) in attrs {
            if let Some(value) = value {
                w.attr(name, value)?;
            }
        }
        w.close_start_tag();
        w.finish_inner(true)
    }

    /// The exact size of the header, in bytes.
    ///
    /// # Errors
    ///
    /// As for [`write_to`](Self::write_to), except that it never reports
    /// [`WriteError::BufferTooSmall`].
    #[allow(clippy::len_without_is_empty)] // A header is never empty.
    pub fn len(&self) -> Result<usize, WriteError> {
        measure(self.write_to(&mut []))
    }

    /// Writes the stream close tag `</stream:stream>` (RFC 6120 §4.4),
    /// which ends the element this header opened, to the start of `buf`
    /// and returns its length, 16.
    ///
    /// ```
    /// use picoxmpp::xml::StreamHeaderBuilder;
    ///
    /// let mut buf = [0u8; 16];
    /// let n = StreamHeaderBuilder::write_close(&mut buf)?;
    /// assert_eq!(&buf[..n], b"</stream:stream>");
    /// # Ok::<(), picoxmpp::xml::WriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`WriteError::BufferTooSmall`] (needing 16 bytes) if `buf` is
    /// shorter.
    pub fn write_close(buf: &mut [u8]) -> Result<usize, WriteError> {
        const CLOSE: &[u8] = b"</stream:stream>";
        let needed = put(buf, 0, CLOSE);
        if needed > buf.len() {
            return Err(BufferTooSmall { needed }.into());
        }
        Ok(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec;
    use std::vec::Vec as StdVec;

    fn too_small(needed: usize) -> WriteError {
        WriteError::BufferTooSmall(BufferTooSmall { needed })
    }

    /// Checks that `f` produces `expected` in a buffer of exactly its size,
    /// and `BufferTooSmall` with exactly that size for every shorter one.
    fn check_every_size(expected: &[u8], f: impl Fn(&mut [u8]) -> Result<usize, WriteError>) {
        for len in 0..expected.len() {
            let mut buf = vec![0u8; len];
            assert_eq!(
                f(&mut buf),
                Err(too_small(expected.len())),
                "buffer of {len}"
            );
        }
        let mut buf = vec![0u8; expected.len()];
        assert_eq!(f(&mut buf), Ok(expected.len()));
        assert_eq!(buf, expected, "{}", String::from_utf8_lossy(&buf));
        // And a larger buffer leaves the rest alone.
        let mut buf = vec![0xAAu8; expected.len() + 3];
        assert_eq!(f(&mut buf), Ok(expected.len()));
        assert_eq!(&buf[..expected.len()], expected);
        assert_eq!(&buf[expected.len()..], &[0xAA; 3]);
    }

    fn write(e: &ElementBuilder<'_>) -> Result<String, WriteError> {
        let mut buf = [0u8; 1024];
        let n = e.write_to(&mut buf)?;
        assert_eq!(e.len(), Ok(n));
        Ok(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn empty_elements() {
        assert_eq!(write(&ElementBuilder::new("a")).unwrap(), "<a/>");
        assert_eq!(
            write(&ElementBuilder::new("a").attrs(&[("x", "1")])).unwrap(),
            "<a x='1'/>"
        );
        assert_eq!(
            write(&ElementBuilder::new("a").ns("urn:a")).unwrap(),
            "<a xmlns='urn:a'/>"
        );
        assert_eq!(
            write(&ElementBuilder::new("a").children(&[Node::Text("")])).unwrap(),
            "<a/>"
        );
        assert_eq!(
            write(&ElementBuilder::new("a").children(&[Node::Text(" ")])).unwrap(),
            "<a> </a>"
        );
    }

    #[test]
    fn message_example() {
        let body = [Node::Text("Wherefore art thou?")];
        let children = [Node::Element(ElementBuilder::new("body").children(&body))];
        let message = ElementBuilder::new("message")
            .ns("jabber:client")
            .attrs(&[("to", "juliet@example.com"), ("type", "chat")])
            .children(&children);
        let expected: &[u8] =
            b"<message to='juliet@example.com' type='chat' xmlns='jabber:client'>\
            <body>Wherefore art thou?</body></message>";
        check_every_size(expected, |buf| message.write_to(buf));
        assert_eq!(message.len(), Ok(expected.len()));
    }

    #[test]
    fn nested_builder() {
        let items = [
            Node::Element(ElementBuilder::new("item").attrs(&[("jid", "a@b"), ("name", "A & B")])),
            Node::Text("\n"),
            Node::Element(
                ElementBuilder::new("item")
                    .attrs(&[("jid", "c@d")])
                    .children(&[Node::Text("x<y")]),
            ),
        ];
        let query = [Node::Element(
            ElementBuilder::new("query")
                .ns("jabber:iq:roster")
                .children(&items),
        )];
        let iq = ElementBuilder::new("iq")
            .ns("jabber:client")
            .attrs(&[("type", "result"), ("id", "r'1\""), ("xml:lang", "en")])
            .children(&query);
        let expected: &[u8] =
            b"<iq type='result' id='r&apos;1&quot;' xml:lang='en' xmlns='jabber:client'>\
            <query xmlns='jabber:iq:roster'><item jid='a@b' name='A &amp; B'/>\n\
            <item jid='c@d'>x&lt;y</item></query></iq>";
        check_every_size(expected, |buf| iq.write_to(buf));
    }

    #[test]
    fn const_builder() {
        const FEATURES: ElementBuilder<'static> =
            ElementBuilder::new("stream:features").children(&[Node::Element(
                ElementBuilder::new("starttls")
                    .ns("urn:ietf:params:xml:ns:xmpp-tls")
                    .children(&[Node::Element(ElementBuilder::new("required"))]),
            )]);
        assert_eq!(
            write(&FEATURES).unwrap(),
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
             <required/></starttls></stream:features>"
        );
    }

    #[test]
    fn streaming_writer() {
        let expected: &[u8] =
            b" <a xmlns='urn:x' xmlns:p='urn:p' p:k='v&#x9;&#xA;&#xD;'>t\n\t&#xD;\
            <p:b/><c/>\xF0\x9F\x98\x80</a>\n<d/>";
        check_every_size(expected, |buf| {
            let mut w = Writer::new(buf);
            w.text(" ")?;
            w.start_element("a")?;
            w.ns("urn:x")?;
            w.ns_prefixed("p", "urn:p")?;
            w.attr("p:k", "v\t\n\r")?;
            w.text("t\n\t\r")?;
            w.start_element("p:b")?;
            assert_eq!(w.depth(), 2);
            w.end_element("p:b")?;
            w.start_element("c")?;
            w.text("")?;
            w.end_element("c")?;
            w.text("\u{1F600}")?;
            w.end_element("a")?;
            w.text("\n")?;
            w.start_element("d")?;
            w.end_element("d")?;
            assert_eq!(w.depth(), 0);
            w.finish()
        });
    }

    #[test]
    fn attribute_spellings_of_namespace_declarations() {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        w.start_element("a").unwrap();
        w.attr("xmlns", "urn:a").unwrap();
        w.attr("xmlns:b", "urn:b").unwrap();
        w.ns_prefixed("xml", NS_XML).unwrap();
        w.end_element("a").unwrap();
        let n = w.finish().unwrap();
        assert_eq!(
            &buf[..n],
            b"<a xmlns='urn:a' xmlns:b='urn:b' xmlns:xml='http://www.w3.org/XML/1998/namespace'/>"
        );
    }

    #[test]
    fn stream_header() {
        let header = StreamHeaderBuilder::new("jabber:client")
            .to("im.example.com")
            .lang("en");
        let expected: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' to='im.example.com' version='1.0' xml:lang='en'>";
        check_every_size(expected, |buf| header.write_to(buf));
        assert_eq!(header.len(), Ok(expected.len()));

        let response = StreamHeaderBuilder::new("jabber:server")
            .from("im.example.com")
            .id("++TR84Sm6A3hnt3Q065SnAbbk3Y=")
            .to("juliet@im.example.com")
            .lang("en")
            .xml_declaration(false);
        let expected: &[u8] = b"<stream:stream xmlns='jabber:server' \
            xmlns:stream='http://etherx.jabber.org/streams' from='im.example.com' \
            id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' to='juliet@im.example.com' version='1.0' xml:lang='en'>";
        check_every_size(expected, |buf| response.write_to(buf));

        let bare = StreamHeaderBuilder::new("jabber:client")
            .version(None)
            .xml_declaration(false);
        let expected: &[u8] = b"<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams'>";
        check_every_size(expected, |buf| bare.write_to(buf));

        // Values are escaped; invalid ones refused.
        let mut buf = [0u8; 256];
        let n = StreamHeaderBuilder::new("jabber:client")
            .to("a'b")
            .xml_declaration(false)
            .write_to(&mut buf)
            .unwrap();
        assert!(buf[..n].ends_with(b" to='a&apos;b' version='1.0'>"));
        let bad = StreamHeaderBuilder::new("jabber:client").to("a\u{0}");
        assert_eq!(bad.write_to(&mut buf), Err(WriteError::InvalidChar));
        assert_eq!(bad.len(), Err(WriteError::InvalidChar));
        let bad = StreamHeaderBuilder::new(NS_XML);
        assert_eq!(bad.write_to(&mut buf), Err(WriteError::InvalidName));
    }

    #[test]
    fn stream_close() {
        check_every_size(b"</stream:stream>", StreamHeaderBuilder::write_close);
    }

    #[test]
    fn unbalanced() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.end_element("a"), Err(WriteError::Unbalanced));
        // Sticky: later calls and finish report it too.
        assert_eq!(w.start_element("a"), Err(WriteError::Unbalanced));
        assert_eq!(w.finish(), Err(WriteError::Unbalanced));

        let mut w = Writer::new(&mut buf);
        w.start_element("a").unwrap();
        w.start_element("b").unwrap();
        assert_eq!(w.end_element("a"), Err(WriteError::Unbalanced));
        assert_eq!(w.finish(), Err(WriteError::Unbalanced));

        let mut w = Writer::new(&mut buf);
        w.start_element("a").unwrap();
        assert_eq!(w.finish(), Err(WriteError::Unbalanced));

        // Unbalanced wins over too small: a bigger buffer would not help.
        let mut w = Writer::new(&mut []);
        w.start_element("a").unwrap();
        assert_eq!(w.finish(), Err(WriteError::Unbalanced));

        // Prefix matters.
        let mut w = Writer::new(&mut buf);
        w.start_element("p:a").unwrap();
        assert_eq!(w.end_element("a"), Err(WriteError::Unbalanced));
    }

    #[test]
    fn too_deep() {
        const NAMES: [&str; 2] = ["a", "b"];
        let mut buf = [0u8; 1024];
        let mut w = Writer::new(&mut buf);
        for i in 0..Writer::MAX_DEPTH {
            w.start_element(NAMES[i % 2]).unwrap();
        }
        assert_eq!(w.depth(), Writer::MAX_DEPTH);
        assert_eq!(w.start_element("c"), Err(WriteError::TooDeep));
        assert_eq!(w.finish(), Err(WriteError::TooDeep));

        let mut w = Writer::new(&mut buf);
        for i in 0..Writer::MAX_DEPTH {
            w.start_element(NAMES[i % 2]).unwrap();
        }
        for i in (0..Writer::MAX_DEPTH).rev() {
            w.end_element(NAMES[i % 2]).unwrap();
        }
        assert!(w.finish().is_ok());

        // A builder chain one deeper than allowed: `chain[k]` is k + 1
        // levels deep. Leaked, as each level borrows the one below.
        let mut e = ElementBuilder::new("x");
        let mut chain = StdVec::new();
        chain.push(e);
        for _ in 0..Writer::MAX_DEPTH {
            let child: &'static [Node<'static>] =
                std::boxed::Box::leak(std::boxed::Box::new([Node::Element(e)]));
            e = ElementBuilder::new("x").children(child);
            chain.push(e);
        }
        let deepest_ok = chain[Writer::MAX_DEPTH - 1];
        assert!(write(&deepest_ok).is_ok());
        let too_deep = chain[Writer::MAX_DEPTH];
        assert_eq!(too_deep.write_to(&mut buf), Err(WriteError::TooDeep));
        assert_eq!(too_deep.len(), Err(WriteError::TooDeep));
    }

    #[test]
    fn invalid_names() {
        for name in [
            "", "1a", "a:b:c", ":a", "a:", "a b", "xmlns:a", "a>", "<a", "a'",
        ] {
            let mut buf = [0u8; 64];
            let mut w = Writer::new(&mut buf);
            assert_eq!(
                w.start_element(name),
                Err(WriteError::InvalidName),
                "{name:?}"
            );
            assert_eq!(w.finish(), Err(WriteError::InvalidName));
            assert_eq!(
                ElementBuilder::new(name).len(),
                Err(WriteError::InvalidName)
            );
        }
        // `xmlns` alone is an allowed element name (only the prefix is
        // reserved), and so is a name in the xml prefix.
        assert_eq!(write(&ElementBuilder::new("xmlns")).unwrap(), "<xmlns/>");

        for attr in ["", "1a", "a:b:c", "a b", "a=", "a'"] {
            let attrs = [(attr, "v")];
            let e = ElementBuilder::new("a").attrs(&attrs);
            assert_eq!(write(&e), Err(WriteError::InvalidName), "{attr:?}");
        }

        let bad_ns: [(&str, &str); 8] = [
            ("xmlns", "urn:x"),
            ("xml", "urn:x"),
            ("p", NS_XML),
            ("p", NS_XMLNS),
            ("p", ""),
            ("", "urn:x"),
            ("a:b", "urn:x"),
            ("1", "urn:x"),
        ];
        for (prefix, uri) in bad_ns {
            let mut buf = [0u8; 128];
            let mut w = Writer::new(&mut buf);
            w.start_element("a").unwrap();
            assert_eq!(
                w.ns_prefixed(prefix, uri),
                Err(WriteError::InvalidName),
                "{prefix:?}"
            );
            let mut w = Writer::new(&mut buf);
            w.start_element("a").unwrap();
            let name = std::format!("xmlns:{prefix}");
            assert_eq!(w.attr(&name, uri), Err(WriteError::InvalidName), "{name:?}");
        }
        for uri in [NS_XML, NS_XMLNS] {
            let mut buf = [0u8; 128];
            let mut w = Writer::new(&mut buf);
            w.start_element("a").unwrap();
            assert_eq!(w.ns(uri), Err(WriteError::InvalidName));
        }
        // The default namespace may be undeclared.
        assert_eq!(
            write(&ElementBuilder::new("a").ns("")).unwrap(),
            "<a xmlns=''/>"
        );
    }

    #[test]
    fn invalid_chars() {
        for bad in ["\u{0}", "\u{1F}", "\u{FFFE}", "a\u{FFFF}b"] {
            let text = [Node::Text(bad)];
            let e = ElementBuilder::new("a").children(&text);
            assert_eq!(write(&e), Err(WriteError::InvalidChar));
            assert_eq!(e.len(), Err(WriteError::InvalidChar));
            let attrs = [("x", bad)];
            let e = ElementBuilder::new("a").attrs(&attrs);
            assert_eq!(write(&e), Err(WriteError::InvalidChar));
            // Even when the buffer is already too small: the content is
            // wrong whatever the size.
            assert_eq!(e.write_to(&mut [0u8; 2]), Err(WriteError::InvalidChar));
            let e = ElementBuilder::new("a").ns(bad);
            assert_eq!(write(&e), Err(WriteError::InvalidChar));
        }
    }

    #[test]
    fn misplaced_attributes() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.attr("a", "b"), Err(WriteError::Misplaced));

        let mut w = Writer::new(&mut buf);
        w.start_element("a").unwrap();
        w.text("t").unwrap();
        assert_eq!(w.attr("x", "y"), Err(WriteError::Misplaced));
        assert_eq!(w.finish(), Err(WriteError::Misplaced));

        let mut w = Writer::new(&mut buf);
        w.start_element("a").unwrap();
        w.start_element("b").unwrap();
        w.end_element("b").unwrap();
        assert_eq!(w.ns("urn:x"), Err(WriteError::Misplaced));
        let mut w = Writer::new(&mut buf);
        w.start_element("a").unwrap();
        w.end_element("a").unwrap();
        assert_eq!(w.ns_prefixed("p", "urn:x"), Err(WriteError::Misplaced));
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.attr("xmlns", "urn:x"), Err(WriteError::Misplaced));
    }

    #[test]
    fn duplicate_attributes() {
        let e = ElementBuilder::new("a").attrs(&[("x", "1"), ("y", "2"), ("x", "3")]);
        assert_eq!(write(&e), Err(WriteError::DuplicateAttribute));
        let e = ElementBuilder::new("a")
            .ns("urn:a")
            .attrs(&[("xmlns", "urn:b")]);
        assert_eq!(write(&e), Err(WriteError::DuplicateAttribute));
        let e = ElementBuilder::new("a").attrs(&[("xmlns", "urn:b")]);
        assert_eq!(write(&e).unwrap(), "<a xmlns='urn:b'/>");
        // Sticky in the writer too.
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            ElementBuilder::new("a")
                .attrs(&[("x", ""), ("x", "")])
                .write(&mut w),
            Err(WriteError::DuplicateAttribute)
        );
        assert_eq!(w.finish(), Err(WriteError::DuplicateAttribute));
    }

    #[test]
    fn display() {
        assert_eq!(
            std::format!("{}", too_small(7)),
            "output buffer too small: 7 bytes needed"
        );
        for e in [
            WriteError::InvalidChar,
            WriteError::InvalidName,
            WriteError::TooDeep,
            WriteError::Unbalanced,
            WriteError::Misplaced,
            WriteError::DuplicateAttribute,
        ] {
            assert!(!std::format!("{e}").is_empty());
        }
        assert_eq!(WriteError::from(BufferTooSmall { needed: 3 }), too_small(3));
    }

    /// One streaming call, for the property test.
    #[derive(Debug, Clone)]
    enum Op {
        Start(String),
        Attr(String, String),
        Ns(String),
        NsPrefixed(String, String),
        Text(String),
        End(String),
        EndTop,
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[abp]{1,2}",
            1 => "[ab:x1 ]{0,4}",
            1 => Just(String::from("p:a")),
            1 => Just(String::from("xmlns")),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[a&<>'\"\r\n\t é\u{1F600}]{0,6}",
            1 => any::<String>(),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            name().prop_map(Op::Start),
            (name(), value()).prop_map(|(n, v)| Op::Attr(n, v)),
            value().prop_map(Op::Ns),
            (name(), value()).prop_map(|(p, v)| Op::NsPrefixed(p, v)),
            value().prop_map(Op::Text),
            name().prop_map(Op::End),
            Just(Op::EndTop),
            Just(Op::EndTop),
        ]
    }

    /// Runs `ops` into `buf`, ignoring the results of the calls, and
    /// closes what is still open so that most runs produce a complete
    /// document. With `tidy`, calls that would be misplaced are skipped and
    /// end tags always match, so that runs get far without a sticky error.
    fn run(ops: &[Op], buf: &mut [u8], tidy: bool) -> Result<usize, WriteError> {
        let mut w = Writer::new(buf);
        let mut names: StdVec<&str> = StdVec::new();
        let mut in_tag = false;
        for op in ops {
            let _ = match op {
                Op::Start(n) => w.start_element(n).map(|()| {
                    names.push(n);
                    in_tag = true;
                }),
                Op::Attr(..) | Op::Ns(_) | Op::NsPrefixed(..) if tidy && !in_tag => Ok(()),
                Op::Attr(n, v) => w.attr(n, v),
                Op::Ns(u) => w.ns(u),
                Op::NsPrefixed(p, u) => w.ns_prefixed(p, u),
                Op::Text(t) => w.text(t).map(|()| in_tag &= t.is_empty()),
                Op::End(n) if !tidy => w.end_element(n).map(|()| {
                    names.pop();
                    in_tag = false;
                }),
                Op::End(_) | Op::EndTop => match names.pop() {
                    Some(n) => w.end_element(n).map(|()| in_tag = false),
                    None => Ok(()),
                },
            };
        }
        while let Some(n) = names.pop() {
            let _ = w.end_element(n);
        }
        w.finish()
    }

    proptest! {
        #[test]
        fn writer_never_panics_and_sizes_are_exact(
            ops in proptest::collection::vec(op(), 0..24),
            len in 0usize..128,
            tidy in any::<bool>(),
        ) {
            let mut big = vec![0u8; 1 << 16];
            let full = run(&ops, &mut big, tidy);
            let mut small = vec![0u8; len];
            let got = run(&ops, &mut small, tidy);
            match full {
                Ok(n) if n <= len => {
                    prop_assert_eq!(got, Ok(n));
                    prop_assert_eq!(&small[..n], &big[..n]);
                }
                Ok(n) => {
                    prop_assert_eq!(got, Err(too_small(n)));
                    // And exactly `n` suffices.
                    let mut exact = vec![0u8; n];
                    prop_assert_eq!(run(&ops, &mut exact, tidy), Ok(n));
                    prop_assert_eq!(&exact[..], &big[..n]);
                }
                Err(e) => prop_assert_eq!(got, Err(e)),
            }
            if let Ok(n) = full {
                prop_assert!(core::str::from_utf8(&big[..n]).is_ok());
            }
        }

        #[test]
        fn builder_never_panics(
            name in name(),
            attrs in proptest::collection::vec((name(), value()), 0..4),
            ns in proptest::option::of(value()),
            texts in proptest::collection::vec(value(), 0..4),
            len in 0usize..64,
        ) {
            let attrs: StdVec<(&str, &str)> = attrs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let children: StdVec<Node<'_>> = texts.iter().map(|t| Node::Text(t)).collect();
            let inner = [Node::Element(ElementBuilder::new(&name).attrs(&attrs).children(&children))];
            let mut e = ElementBuilder::new("outer").attrs(&attrs).children(&inner);
            if let Some(ns) = &ns {
                e = e.ns(ns);
            }
            let mut buf = vec![0u8; len];
            match (e.write_to(&mut buf), e.len()) {
                (Ok(n), Ok(m)) => prop_assert_eq!(n, m),
                (Err(WriteError::BufferTooSmall(BufferTooSmall { needed })), Ok(m)) => {
                    prop_assert_eq!(needed, m);
                    prop_assert!(needed > len);
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }
    }
}
