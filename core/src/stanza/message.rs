//! `<message/>` (RFC 6121 §5, RFC 6120 §8.2.1).

use super::{common_accessors, first_text, localized};
use crate::xml::{Element, Text};

/// The `type` of a message (RFC 6121 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageType {
    /// One-to-one chat.
    Chat,
    /// An error (RFC 6120 §8.3).
    Error,
    /// Multi-user chat.
    Groupchat,
    /// An alert or notice; no reply expected.
    Headline,
    /// A standalone message; the default when `type` is absent.
    Normal,
}

impl MessageType {
    /// The value on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Error => "error",
            MessageType::Groupchat => "groupchat",
            MessageType::Headline => "headline",
            MessageType::Normal => "normal",
        }
    }
}

/// A checked `<message/>`.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    el: Element<'a>,
}

impl<'a> Message<'a> {
    pub(crate) fn new(el: Element<'a>) -> Self {
        Message { el }
    }

    common_accessors!();

    /// The type. Absent means `normal`; RFC 6121 §5.2.2 also asks to treat
    /// an unknown value as `normal`.
    pub fn message_type(&self) -> MessageType {
        let Some(t) = self.el.attr("type") else {
            return MessageType::Normal;
        };
        [
            MessageType::Chat,
            MessageType::Error,
            MessageType::Groupchat,
            MessageType::Headline,
        ]
        .into_iter()
        .find(|m| t.eq_str(m.as_str()))
        .unwrap_or(MessageType::Normal)
    }

    /// The body (RFC 6121 §5.2.3), the one without `xml:lang` first.
    pub fn body(&self) -> Option<Text<'a>> {
        first_text(&self.el, "body")
    }

    /// Every body with its `xml:lang`.
    pub fn bodies(&self) -> impl Iterator<Item = (Option<Text<'a>>, Text<'a>)> + 'a {
        localized(&self.el, "body")
    }

    /// The subject (RFC 6121 §5.2.4), the one without `xml:lang` first.
    pub fn subject(&self) -> Option<Text<'a>> {
        first_text(&self.el, "subject")
    }

    /// Every subject with its `xml:lang`.
    pub fn subjects(&self) -> impl Iterator<Item = (Option<Text<'a>>, Text<'a>)> + 'a {
        localized(&self.el, "subject")
    }

    /// The thread identifier (RFC 6121 §5.2.5).
    pub fn thread(&self) -> Option<Text<'a>> {
        let ns = self.el.namespace();
        self.el.child("thread", ns).map(|t| t.text())
    }

    /// The parent thread identifier (RFC 6121 §5.2.5).
    pub fn thread_parent(&self) -> Option<Text<'a>> {
        let ns = self.el.namespace();
        self.el.child("thread", ns).and_then(|t| t.attr("parent"))
    }
}
