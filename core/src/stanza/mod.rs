//! Typed views of the three stanzas of RFC 6120 §8 and their errors.
//!
//! Each view wraps a checked [`Element`] and reads it on demand: nothing is
//! copied, nothing can fail or panic once the element exists. Values the
//! RFCs do not define read as the documented default, never as an error:
//! the session layer decides what to refuse.

pub(crate) mod error;
mod iq;
mod message;
mod presence;

pub use error::{ErrorCondition, ErrorType, StanzaError, NS_STANZAS};
pub use iq::{Iq, IqType};
pub use message::{Message, MessageType};
pub use presence::{Presence, PresenceType, Show};

use crate::xml::{Element, Text};

/// The client and server content namespaces (RFC 6120 §4.8.2) in which the
/// three stanza names are stanzas.
const CONTENT_NAMESPACES: [&str; 3] = ["jabber:client", "jabber:server", "jabber:component:accept"];

/// A stanza: `<message/>`, `<presence/>` or `<iq/>` in a content namespace.
#[derive(Debug, Clone, Copy)]
pub enum Stanza<'a> {
    /// A message (RFC 6121 §5).
    Message(Message<'a>),
    /// A presence (RFC 6121 §4).
    Presence(Presence<'a>),
    /// An info/query (RFC 6120 §8.2.3).
    Iq(Iq<'a>),
}

impl<'a> Stanza<'a> {
    /// The stanza `el` is, or `None` for any other top-level element
    /// (a nonza such as `<stream:features/>`).
    pub fn from_element(el: Element<'a>) -> Option<Self> {
        if !CONTENT_NAMESPACES.contains(&el.namespace()) {
            return None;
        }
        match el.name() {
            "message" => Some(Stanza::Message(Message::new(el))),
            "presence" => Some(Stanza::Presence(Presence::new(el))),
            "iq" => Some(Stanza::Iq(Iq::new(el))),
            _ => None,
        }
    }

    /// The element underneath.
    pub fn element(&self) -> Element<'a> {
        match self {
            Stanza::Message(m) => m.element(),
            Stanza::Presence(p) => p.element(),
            Stanza::Iq(i) => i.element(),
        }
    }

    /// `to` (RFC 6120 §8.1.1).
    pub fn to(&self) -> Option<Text<'a>> {
        self.element().attr("to")
    }

    /// `from` (RFC 6120 §8.1.2).
    pub fn from(&self) -> Option<Text<'a>> {
        self.element().attr("from")
    }

    /// `id` (RFC 6120 §8.1.3).
    pub fn id(&self) -> Option<Text<'a>> {
        self.element().attr("id")
    }
}

/// The attributes and helpers all three stanza views share (RFC 6120 §8.1).
macro_rules! common_accessors {
    () => {
        /// The element underneath, for extension payloads and raw access.
        pub fn element(&self) -> crate::xml::Element<'a> {
            self.el
        }

        /// `to` (RFC 6120 §8.1.1).
        pub fn to(&self) -> Option<crate::xml::Text<'a>> {
            self.el.attr("to")
        }

        /// `from` (RFC 6120 §8.1.2).
        pub fn from(&self) -> Option<crate::xml::Text<'a>> {
            self.el.attr("from")
        }

        /// `id` (RFC 6120 §8.1.3).
        pub fn id(&self) -> Option<crate::xml::Text<'a>> {
            self.el.attr("id")
        }

        /// `xml:lang` (RFC 6120 §8.1.5).
        pub fn lang(&self) -> Option<crate::xml::Text<'a>> {
            self.el.attr("xml:lang")
        }

        /// The stanza error, when the stanza is of type `error` (RFC 6120
        /// §8.3) and carries one.
        pub fn error(&self) -> Option<crate::stanza::StanzaError<'a>> {
            crate::stanza::StanzaError::of(&self.el)
        }

        /// The first child named `name` in namespace `ns`: an extension
        /// payload such as `<ping xmlns='urn:xmpp:ping'/>`.
        pub fn payload(&self, name: &str, ns: &str) -> Option<crate::xml::Element<'a>> {
            self.el.child(name, ns)
        }
    };
}
pub(crate) use common_accessors;

/// The child elements of `el` named `name` in `el`'s own namespace, with
/// their `xml:lang` (RFC 6120 §8.1.5: several may differ only by it).
fn localized<'a>(
    el: &Element<'a>,
    name: &'static str,
) -> impl Iterator<Item = (Option<Text<'a>>, Text<'a>)> + 'a {
    let ns = el.namespace();
    el.children()
        .filter(move |c| c.name() == name && c.namespace() == ns)
        .map(|c| (c.attr("xml:lang"), c.text()))
}

/// The text of the first child named `name` in `el`'s namespace, preferring
/// one without `xml:lang` (which takes the stanza's language).
fn first_text<'a>(el: &Element<'a>, name: &'static str) -> Option<Text<'a>> {
    let mut first = None;
    for (lang, text) in localized(el, name) {
        if lang.is_none() {
            return Some(text);
        }
        first = first.or(Some(text));
    }
    first
}

#[cfg(test)]
mod tests;
