//! `<presence/>` (RFC 6121 §4, RFC 6120 §8.2.2).

use super::{common_accessors, first_text, localized};
use crate::xml::{Element, Text};

/// The `type` of a presence (RFC 6121 §4.7.1, RFC 6120 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PresenceType {
    /// No `type`: the sender is available.
    Available,
    /// An error (RFC 6120 §8.3).
    Error,
    /// A request for the recipient's current presence (server-generated).
    Probe,
    /// A subscription request (RFC 6121 §3.1).
    Subscribe,
    /// A subscription approval (RFC 6121 §3.1.3).
    Subscribed,
    /// The sender is no longer available.
    Unavailable,
    /// An unsubscription (RFC 6121 §3.3).
    Unsubscribe,
    /// A subscription cancellation (RFC 6121 §3.2).
    Unsubscribed,
}

impl PresenceType {
    /// The value on the wire; `None` for available (no attribute).
    pub const fn as_str(self) -> Option<&'static str> {
        Some(match self {
            PresenceType::Available => return None,
            PresenceType::Error => "error",
            PresenceType::Probe => "probe",
            PresenceType::Subscribe => "subscribe",
            PresenceType::Subscribed => "subscribed",
            PresenceType::Unavailable => "unavailable",
            PresenceType::Unsubscribe => "unsubscribe",
            PresenceType::Unsubscribed => "unsubscribed",
        })
    }

    const ALL: [PresenceType; 7] = [
        PresenceType::Error,
        PresenceType::Probe,
        PresenceType::Subscribe,
        PresenceType::Subscribed,
        PresenceType::Unavailable,
        PresenceType::Unsubscribe,
        PresenceType::Unsubscribed,
    ];
}

/// Availability detail (RFC 6121 §4.7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Show {
    /// Temporarily away.
    Away,
    /// Actively interested in chatting.
    Chat,
    /// Busy: do not disturb.
    Dnd,
    /// Away for an extended period.
    Xa,
}

impl Show {
    /// The value on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Show::Away => "away",
            Show::Chat => "chat",
            Show::Dnd => "dnd",
            Show::Xa => "xa",
        }
    }
}

/// A checked `<presence/>`.
#[derive(Debug, Clone, Copy)]
pub struct Presence<'a> {
    el: Element<'a>,
}

impl<'a> Presence<'a> {
    pub(crate) fn new(el: Element<'a>) -> Self {
        Presence { el }
    }

    common_accessors!();

    /// The type; `None` when it has a value RFC 6121 does not define
    /// (RFC 6121 §4.7.1: such a presence is to be ignored or refused).
    pub fn presence_type(&self) -> Option<PresenceType> {
        let Some(t) = self.el.attr("type") else {
            return Some(PresenceType::Available);
        };
        PresenceType::ALL
            .into_iter()
            .find(|p| p.as_str().is_some_and(|s| t.eq_str(s)))
    }

    /// `<show/>`; `None` when absent or not one of the four values.
    pub fn show(&self) -> Option<Show> {
        let ns = self.el.namespace();
        let show = self.el.child("show", ns)?.text();
        [Show::Away, Show::Chat, Show::Dnd, Show::Xa]
            .into_iter()
            .find(|s| show.eq_str(s.as_str()))
    }

    /// The status text (RFC 6121 §4.7.2.2), the one without `xml:lang`
    /// first.
    pub fn status(&self) -> Option<Text<'a>> {
        first_text(&self.el, "status")
    }

    /// Every status with its `xml:lang`.
    pub fn statuses(&self) -> impl Iterator<Item = (Option<Text<'a>>, Text<'a>)> + 'a {
        localized(&self.el, "status")
    }

    /// `<priority/>` (RFC 6121 §4.7.2.3): -128..=127, 0 when absent or
    /// not an integer in range.
    pub fn priority(&self) -> i8 {
        let ns = self.el.namespace();
        let Some(p) = self.el.child("priority", ns) else {
            return 0;
        };
        let mut buf = [0u8; 8];
        p.text()
            .decode_into(&mut buf)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}
