//! `<iq/>` (RFC 6120 §8.2.3).

use super::common_accessors;
use crate::xml::Element;

/// The `type` of an iq (RFC 6120 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IqType {
    /// A request for information.
    Get,
    /// A request to provide data or to change state.
    Set,
    /// A successful response.
    Result,
    /// A failed response (RFC 6120 §8.3).
    Error,
}

impl IqType {
    /// The value on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    /// Whether this type asks for a response (RFC 6120 §8.2.3 rule 1).
    pub const fn is_request(self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

/// A checked `<iq/>`.
#[derive(Debug, Clone, Copy)]
pub struct Iq<'a> {
    el: Element<'a>,
}

impl<'a> Iq<'a> {
    pub(crate) fn new(el: Element<'a>) -> Self {
        Iq { el }
    }

    common_accessors!();

    /// The type; `None` when absent or undefined, which RFC 6120 §8.2.3
    /// makes a `bad-request`.
    pub fn iq_type(&self) -> Option<IqType> {
        // Decoded whole (the longest type is 6 bytes; anything longer is
        // none of them) and matched once.
        let mut buf = [0u8; 6];
        match self.el.attr("type")?.decode_into(&mut buf).ok()? {
            "get" => Some(IqType::Get),
            "set" => Some(IqType::Set),
            "result" => Some(IqType::Result),
            "error" => Some(IqType::Error),
            _ => None,
        }
    }

    /// The request or result payload: the first child that is not the
    /// stanza error (RFC 6120 §8.2.3 rules 6-7: a get or set has exactly
    /// one, a result zero or one).
    pub fn payload_element(&self) -> Option<Element<'a>> {
        self.payloads().next()
    }

    /// How many payload children there are (a get or set must have one).
    pub fn payload_count(&self) -> usize {
        self.payloads().count()
    }

    /// The children that are not the stanza error, in order.
    pub(crate) fn payloads(&self) -> impl Iterator<Item = Element<'a>> + 'a {
        let ns = self.el.namespace();
        self.el
            .children()
            .filter(move |c| !(c.name() == "error" && c.namespace() == ns))
    }
}
