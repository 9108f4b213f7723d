use super::*;
use crate::xml::{Event, StreamParser};
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

const HEADER: &str =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/// Parses `stanza` after a stream header and hands its view to `f`.
fn with_stanza(stanza: &str, f: impl FnOnce(Stanza<'_>)) {
    let mut buf = [0u8; 4096];
    let mut p = StreamParser::new(&mut buf);
    p.feed(HEADER.as_bytes());
    p.feed(stanza.as_bytes());
    assert!(matches!(p.next(), Ok(Some(Event::StreamOpen(_)))));
    match p.next() {
        Ok(Some(Event::Element(el))) => f(Stanza::from_element(el).expect("a stanza")),
        other => panic!("{other:?}"),
    }
}

fn s(t: Option<Text<'_>>) -> Option<String> {
    t.map(|t| t.to_string())
}

#[test]
fn message_rfc6121_5_2() {
    // RFC 6121 §5.2.3-§5.2.5 examples, merged.
    with_stanza(
        "<message from='juliet@example.com/balcony' id='b4vs9km4' to='romeo@example.net' type='chat' xml:lang='en'>\
         <subject>I implore you!</subject>\
         <subject xml:lang='cs'>&#x00DA;p&#x011B;nliv&#x011B; pros&#x00ED;m!</subject>\
         <body xml:lang='cs'>Pro&#x010D;e&#x017E; jsi ty, Romeo?</body>\
         <body>Wherefore art thou, Romeo?</body>\
         <thread parent='e0ffe42b28561960c6b12b944a092794b9683a38'>0e3141cd80894871a68e6fe6b1ec56fa</thread>\
         <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        |st| {
            let Stanza::Message(m) = st else { panic!() };
            assert_eq!(m.message_type(), MessageType::Chat);
            assert_eq!(s(m.body()).as_deref(), Some("Wherefore art thou, Romeo?"));
            assert_eq!(s(m.subject()).as_deref(), Some("I implore you!"));
            let bodies: Vec<_> = m.bodies().map(|(l, b)| (s(l), b.to_string())).collect();
            assert_eq!(bodies[0], (Some("cs".into()), "Proče\u{17e} jsi ty, Romeo?".into()));
            assert_eq!(m.subjects().count(), 2);
            assert_eq!(s(m.thread()).as_deref(), Some("0e3141cd80894871a68e6fe6b1ec56fa"));
            assert_eq!(s(m.thread_parent()).as_deref(), Some("e0ffe42b28561960c6b12b944a092794b9683a38"));
            assert_eq!(s(m.from()).as_deref(), Some("juliet@example.com/balcony"));
            assert_eq!(s(m.lang()).as_deref(), Some("en"));
            assert!(m.payload("active", "http://jabber.org/protocol/chatstates").is_some());
            assert!(m.error().is_none());
        },
    );
    for (attr, want) in [
        ("", MessageType::Normal),
        ("type='headline'", MessageType::Headline),
        ("type='bogus'", MessageType::Normal),
    ] {
        with_stanza(&format!("<message {attr}/>"), |st| {
            let Stanza::Message(m) = st else { panic!() };
            assert_eq!(m.message_type(), want);
            assert!(m.body().is_none());
        });
    }
}

#[test]
fn presence_rfc6121_4_7() {
    with_stanza(
        "<presence from='romeo@example.net/orchard' xml:lang='en'><show>dnd</show>\
         <status>Wooing Juliet</status><status xml:lang='cs'>Dvo&#x0159;&#x00ED;m se Julii</status>\
         <priority> -5 </priority></presence>",
        |st| {
            let Stanza::Presence(p) = st else { panic!() };
            assert_eq!(p.presence_type(), Some(PresenceType::Available));
            assert_eq!(p.show(), Some(Show::Dnd));
            assert_eq!(s(p.status()).as_deref(), Some("Wooing Juliet"));
            assert_eq!(p.statuses().count(), 2);
            assert_eq!(p.priority(), -5);
        },
    );
    for (ty, want) in [
        ("subscribe", Some(PresenceType::Subscribe)),
        ("subscribed", Some(PresenceType::Subscribed)),
        ("unsubscribe", Some(PresenceType::Unsubscribe)),
        ("unsubscribed", Some(PresenceType::Unsubscribed)),
        ("probe", Some(PresenceType::Probe)),
        ("unavailable", Some(PresenceType::Unavailable)),
        ("error", Some(PresenceType::Error)),
        ("available", None),
    ] {
        with_stanza(
            &format!("<presence type='{ty}'><priority>300</priority><show>busy</show></presence>"),
            |st| {
                let Stanza::Presence(p) = st else { panic!() };
                assert_eq!(p.presence_type(), want, "{ty}");
                assert_eq!(p.priority(), 0, "out of range reads as 0");
                assert_eq!(p.show(), None);
            },
        );
    }
}

#[test]
fn iq_and_stanza_error_rfc6120_8_3() {
    with_stanza(
        "<iq from='im.example.com' id='rg1' to='juliet@im.example.com/balcony' type='error'>\
         <ping xmlns='urn:xmpp:ping'/>\
         <error by='im.example.com' type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xml:lang='en' xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Some special application diagnostic information!</text>\
         <special xmlns='http://example.org/xmpp/errors'/></error></iq>",
        |st| {
            let Stanza::Iq(iq) = st else { panic!() };
            assert_eq!(iq.iq_type(), Some(IqType::Error));
            assert!(!IqType::Error.is_request());
            assert_eq!(iq.payload_element().unwrap().name(), "ping");
            assert_eq!(iq.payload_count(), 1);
            let e = iq.error().unwrap();
            assert_eq!(e.error_type(), Some(ErrorType::Cancel));
            assert_eq!(e.condition(), ErrorCondition::ServiceUnavailable);
            assert_eq!(s(e.text()).as_deref(), Some("Some special application diagnostic information!"));
            assert_eq!(s(e.by()).as_deref(), Some("im.example.com"));
            assert_eq!(e.application_condition().unwrap().name(), "special");
            assert!(e.alternate_address().is_none());
        },
    );
    with_stanza(
        "<message type='error' id='sj2b371v' from='romeo@example.net'><error by='example.net' type='cancel'>\
         <gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>xmpp:romeo@afterlife.example.net</gone></error></message>",
        |st| {
            let Stanza::Message(m) = st else { panic!() };
            let e = m.error().unwrap();
            assert_eq!(e.condition(), ErrorCondition::Gone);
            assert_eq!(s(e.alternate_address()).as_deref(), Some("xmpp:romeo@afterlife.example.net"));
        },
    );
    with_stanza(
        "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/><x xmlns='urn:x'/></iq>",
        |st| {
            let Stanza::Iq(iq) = st else { panic!() };
            assert_eq!(iq.iq_type(), Some(IqType::Get));
            assert_eq!(iq.payload_count(), 2);
            assert_eq!(
                iq.payload_element().unwrap().namespace(),
                "jabber:iq:roster"
            );
            assert_eq!(s(st.id()).as_deref(), Some("1"));
        },
    );
    with_stanza("<iq type='fetch'/>", |st| {
        let Stanza::Iq(iq) = st else { panic!() };
        assert_eq!(iq.iq_type(), None);
    });
    with_stanza(
        "<iq type='error'><error><bogus xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        |st| {
            let Stanza::Iq(iq) = st else { panic!() };
            let e = iq.error().unwrap();
            assert_eq!(e.condition(), ErrorCondition::UndefinedCondition);
            assert_eq!(e.error_type(), None);
        },
    );
}

#[test]
fn conditions_round_trip() {
    for c in ErrorCondition::ALL {
        assert_eq!(ErrorCondition::from_name(c.as_str()), Some(c));
    }
    assert_eq!(
        ErrorCondition::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        22
    );
    assert_eq!(ErrorCondition::Forbidden.default_type(), ErrorType::Auth);
    assert_eq!(
        ErrorCondition::ServiceUnavailable.default_type(),
        ErrorType::Cancel
    );
    assert_eq!(
        ErrorCondition::RemoteServerTimeout.default_type(),
        ErrorType::Wait
    );
    assert_eq!(ErrorCondition::BadRequest.default_type(), ErrorType::Modify);
}

#[test]
fn nonzas_are_not_stanzas() {
    let mut buf = [0u8; 1024];
    let mut p = StreamParser::new(&mut buf);
    p.feed(HEADER.as_bytes());
    p.feed(b"<stream:features/><message xmlns='urn:other'/>");
    p.next().unwrap();
    for _ in 0..2 {
        match p.next() {
            Ok(Some(Event::Element(el))) => assert!(
                Stanza::from_element(el).is_none(),
                "{}",
                el.as_str().to_string()
            ),
            other => panic!("{other:?}"),
        }
    }
}
