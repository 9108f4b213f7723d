//! `<stream:error/>` (RFC 6120 §4.9).

use super::ns;
use crate::error::StreamErrorCondition;
use crate::xml::{Element, Text, NS_STREAM};

/// A checked `<stream:error/>` from the peer.
#[derive(Debug, Clone, Copy)]
pub struct StreamError<'a> {
    el: Element<'a>,
}

impl<'a> StreamError<'a> {
    /// The stream error `el` is, if it is `<stream:error/>`.
    pub fn from_element(el: Element<'a>) -> Option<Self> {
        el.is("error", NS_STREAM).then_some(StreamError { el })
    }

    /// The element underneath.
    pub fn element(&self) -> Element<'a> {
        self.el
    }

    /// The defined condition; `undefined-condition` when there is none or
    /// an unknown one (RFC 6120 §4.9.2: exactly one is required).
    pub fn condition(&self) -> StreamErrorCondition {
        self.el
            .children()
            .filter(|c| c.namespace() == ns::STREAMS && c.name() != "text")
            .find_map(|c| StreamErrorCondition::from_name(c.name()))
            .unwrap_or(StreamErrorCondition::UndefinedCondition)
    }

    /// The descriptive text (RFC 6120 §4.9.2), if any.
    pub fn text(&self) -> Option<Text<'a>> {
        self.el.child("text", ns::STREAMS).map(|t| t.text())
    }

    /// For `see-other-host`, the host (and port) to reconnect to (RFC 6120
    /// §4.9.3.19), as sent: a domain, IPv4 or bracketed IPv6 address,
    /// optionally with `:port`.
    pub fn see_other_host(&self) -> Option<Text<'a>> {
        let t = self.el.child("see-other-host", ns::STREAMS)?.text();
        (!t.is_empty()).then_some(t)
    }

    /// The application-specific condition element, if any.
    pub fn application_condition(&self) -> Option<Element<'a>> {
        self.el.children().find(|c| c.namespace() != ns::STREAMS)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChannelBindingType, StreamFeatures};
    use super::*;
    use crate::xml::{Event, StreamParser};
    use std::string::ToString;
    use std::vec::Vec;

    const HEADER: &str =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

    fn with_element(xml: &str, f: impl FnOnce(Element<'_>)) {
        let mut buf = [0u8; 4096];
        let mut p = StreamParser::new(&mut buf);
        p.feed(HEADER.as_bytes());
        p.feed(xml.as_bytes());
        p.next().unwrap();
        match p.next() {
            Ok(Some(Event::Element(el))) => f(el),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stream_errors_rfc6120_4_9() {
        with_element(
            "<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>[2001:41D0:1:A49b::1]:9222</see-other-host></stream:error>",
            |el| {
                let e = StreamError::from_element(el).unwrap();
                assert_eq!(e.condition(), StreamErrorCondition::SeeOtherHost);
                assert_eq!(e.see_other_host().unwrap().to_string(), "[2001:41D0:1:A49b::1]:9222");
            },
        );
        with_element(
            "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>Replaced by new connection</text>\
             <escape-your-data xmlns='http://example.org/ns'/></stream:error>",
            |el| {
                let e = StreamError::from_element(el).unwrap();
                assert_eq!(e.condition(), StreamErrorCondition::Conflict);
                assert_eq!(e.text().unwrap().to_string(), "Replaced by new connection");
                assert_eq!(e.application_condition().unwrap().name(), "escape-your-data");
                assert!(e.see_other_host().is_none());
            },
        );
        with_element("<stream:error/>", |el| {
            assert_eq!(
                StreamError::from_element(el).unwrap().condition(),
                StreamErrorCondition::UndefinedCondition
            );
        });
        with_element("<error/>", |el| {
            assert!(StreamError::from_element(el).is_none())
        });
    }

    #[test]
    fn features_of_real_servers() {
        // Prosody 0.12 before TLS, then after TLS, then after SASL.
        with_element(
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
            |el| {
                let f = StreamFeatures::from_element(el).unwrap();
                assert_eq!(f.starttls(), Some(true));
                assert!(!f.has_sasl() && !f.bind() && !f.is_empty());
            },
        );
        with_element(
            "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>\
             <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
            |el| {
                let f = StreamFeatures::from_element(el).unwrap();
                let m: Vec<_> = f.mechanisms().map(|m| m.to_string()).collect();
                assert_eq!(m, ["SCRAM-SHA-1", "PLAIN"]);
                assert_eq!(f.starttls(), None);
                assert!(f.channel_binding_types().is_none());
            },
        );
        with_element(
            "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><required/></bind>\
             <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>\
             <sm xmlns='urn:xmpp:sm:2'/><sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/>\
             <ver xmlns='urn:xmpp:features:rosterver'/></stream:features>",
            |el| {
                let f = StreamFeatures::from_element(el).unwrap();
                assert!(
                    f.bind()
                        && f.stream_management()
                        && f.client_state_indication()
                        && f.roster_versioning()
                );
                assert_eq!(f.session(), Some(false));
                assert_eq!(f.max_stanza_bytes(), None);
            },
        );
        // Prosody 13: -PLUS, XEP-0440 list, XEP-0478 limits.
        with_element(
            "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
             <mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-1-PLUS</mechanism>\
             <mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
             <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/>\
             <channel-binding type='tls-server-end-point'/><channel-binding type='bogus'/></sasl-channel-binding>\
             <limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>262144</max-bytes><idle-seconds>840</idle-seconds></limits>\
             </stream:features>",
            |el| {
                let f = StreamFeatures::from_element(el).unwrap();
                assert_eq!(f.mechanisms().count(), 5);
                let cb: Vec<_> = f.channel_binding_types().unwrap().collect();
                assert_eq!(cb, [ChannelBindingType::TlsExporter, ChannelBindingType::TlsServerEndPoint]);
                assert_eq!(f.max_stanza_bytes(), Some(262144));
                assert_eq!(f.idle_seconds(), Some(840));
            },
        );
        with_element("<stream:features/>", |el| {
            assert!(StreamFeatures::from_element(el).unwrap().is_empty())
        });
        with_element(
            "<stream:features><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>\
             <limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>lots</max-bytes></limits></stream:features>",
            |el| {
                let f = StreamFeatures::from_element(el).unwrap();
                assert_eq!(f.session(), Some(true));
                assert_eq!(f.max_stanza_bytes(), None);
            },
        );
    }
}
