//! `<stream:features/>` (RFC 6120 §4.3.2), and the extensions to it a
//! client negotiates or honours.

use super::ns;
pub use crate::sasl::ChannelBindingType;
use crate::xml::{Element, Text, NS_STREAM};

/// A checked `<stream:features/>`.
#[derive(Debug, Clone, Copy)]
pub struct StreamFeatures<'a> {
    el: Element<'a>,
}

impl<'a> StreamFeatures<'a> {
    /// The features `el` advertises, if it is `<stream:features/>`.
    pub fn from_element(el: Element<'a>) -> Option<Self> {
        el.is("features", NS_STREAM)
            .then_some(StreamFeatures { el })
    }

    /// The element underneath.
    pub fn element(&self) -> Element<'a> {
        self.el
    }

    /// The feature element `name` in `ns`, if advertised.
    pub fn feature(&self, name: &str, ns: &str) -> Option<Element<'a>> {
        self.el.child(name, ns)
    }

    /// Whether the features list is empty: negotiation is over (RFC 6120
    /// §4.3.5).
    pub fn is_empty(&self) -> bool {
        self.el.children().next().is_none()
    }

    /// STARTTLS offered (RFC 6120 §5.4.1): `Some(required)`.
    pub fn starttls(&self) -> Option<bool> {
        let tls = self.feature("starttls", ns::TLS)?;
        Some(tls.child("required", ns::TLS).is_some())
    }

    /// The SASL mechanism names offered (RFC 6120 §6.4.1), in server order.
    pub fn mechanisms(&self) -> impl Iterator<Item = Text<'a>> + 'a {
        self.feature("mechanisms", ns::SASL)
            .into_iter()
            .flat_map(|m| m.children())
            .filter(|c| c.is("mechanism", ns::SASL))
            .map(|c| c.text())
    }

    /// Whether SASL is offered at all.
    pub fn has_sasl(&self) -> bool {
        self.feature("mechanisms", ns::SASL).is_some()
    }

    /// The channel-binding types the server says it supports (XEP-0440), or
    /// `None` when it does not say.
    pub fn channel_binding_types(&self) -> Option<impl Iterator<Item = ChannelBindingType> + 'a> {
        let list = self.feature("sasl-channel-binding", ns::SASL_CB)?;
        Some(
            list.children()
                .filter(|c| c.is("channel-binding", ns::SASL_CB))
                .filter_map(|c| {
                    let mut buf = [0u8; 24];
                    let t = c.attr("type")?;
                    ChannelBindingType::from_name(t.decode_into(&mut buf).ok()?)
                }),
        )
    }

    /// Resource binding offered (RFC 6120 §7.2).
    pub fn bind(&self) -> bool {
        self.feature("bind", ns::BIND).is_some()
    }

    /// Legacy session establishment: `Some(required)`. RFC 6121 dropped it;
    /// servers mark it `<optional/>`, and a client only sends it when the
    /// server does not (draft-cridland-xmpp-session §2).
    pub fn session(&self) -> Option<bool> {
        let s = self.feature("session", ns::SESSION)?;
        Some(s.child("optional", ns::SESSION).is_none())
    }

    /// Stream management v3 offered (XEP-0198 §3).
    pub fn stream_management(&self) -> bool {
        self.feature("sm", ns::SM).is_some()
    }

    /// Client state indication offered (XEP-0352 §3).
    pub fn client_state_indication(&self) -> bool {
        self.feature("csi", ns::CSI).is_some()
    }

    /// Roster versioning offered (RFC 6121 §2.6.1).
    pub fn roster_versioning(&self) -> bool {
        self.feature("ver", ns::ROSTERVER).is_some()
    }

    /// The largest stanza the server accepts, in bytes (XEP-0478
    /// `<max-bytes/>`), if it says.
    pub fn max_stanza_bytes(&self) -> Option<u32> {
        self.limit("max-bytes")
    }

    /// How long the server lets the stream idle, in seconds (XEP-0478
    /// `<idle-seconds/>`), if it says.
    pub fn idle_seconds(&self) -> Option<u32> {
        self.limit("idle-seconds")
    }

    fn limit(&self, name: &str) -> Option<u32> {
        let v = self
            .feature("limits", ns::LIMITS)?
            .child(name, ns::LIMITS)?
            .text();
        let mut buf = [0u8; 16];
        let s = v.decode_into(&mut buf).ok()?.trim();
        s.parse().ok().filter(|n| *n > 0)
    }
}
