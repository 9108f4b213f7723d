//! The restricted-XML layer of RFC 6120 §11, in layers, one file each:
//!
//! - [`chars`]: the character classes of XML 1.0;
//! - `token`: complete tokens (tags, references, CDATA) to checked pieces;
//! - [`StreamParser`]: bytes arriving in any chunks to stream events, each
//!   top-level element handed out whole as a checked [`Element`] view over
//!   the caller's receive buffer;
//! - `view`: the accessors of those views, which cannot fail or panic;
//! - `escape` and `writer`: elements to bytes in a caller buffer.

pub mod chars;
mod escape;
mod parser;
mod token;
mod view;
mod writer;

pub use escape::escape;
pub use parser::{
    ContentNamespace, Event, Limits, StreamParser, MAX_ATTRIBUTES, MAX_DEPTH, MAX_PREFIX_DECLS,
};
pub use view::{
    Attribute, Attributes, Children, Element, StreamHeader, Text, TextChunk, TextChunks,
};
pub use writer::{ElementBuilder, Node, StreamHeaderBuilder, WriteError, Writer};

/// The stream namespace of RFC 6120 §4.8.1.
pub const NS_STREAM: &str = "http://etherx.jabber.org/streams";
/// The `xml` prefix's namespace, bound by definition (Namespaces in XML §3).
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of namespace declarations (Namespaces in XML §3).
pub const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";
