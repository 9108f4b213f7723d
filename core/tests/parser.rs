//! The stream parser against transcripts: RFC 6120 and RFC 6121 examples as
//! byte strings, each fed whole and byte by byte with the same result, and
//! one test per refusal asserting its exact condition.

mod common;

use common::*;
use picoxmpp::error::StreamErrorCondition as C;
use picoxmpp::xml::{ContentNamespace, Event, Limits, StreamParser};

/// RFC 6120 §9.1 and §9.2: what a server sends a client through a whole
/// session (the client side of TLS, SASL and bind), stanzas of RFC 6120 §8
/// and RFC 6121, and the close.
const SESSION: &str = "<stream:features>
  <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>
    <required/>
  </starttls>
</stream:features>
<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
<stream:features>
  <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>
    <mechanism>SCRAM-SHA-1-PLUS</mechanism>
    <mechanism>SCRAM-SHA-1</mechanism>
    <mechanism>PLAIN</mechanism>
  </mechanisms>
</stream:features>
<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQWlHZ3hRcUl5M3dwR2tnUT09</challenge>
<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289</success>
<iq id='yhc13a95' type='result'>
  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>
    <jid>juliet@im.example.com/balcony</jid>
  </bind>
</iq>
<message from='romeo@example.net/orchard' id='ju2ba41c' to='juliet@im.example.com/balcony' type='chat' xml:lang='en'>
  <body>Neither, fair saint, if either thee dislike.</body>
</message>
<iq from='im.example.com' id='rg1' to='juliet@im.example.com/balcony' type='error'>
  <ping xmlns='urn:xmpp:ping'/>
  <error by='im.example.com' type='cancel'>
    <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
    <text xml:lang='en' xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Some special application diagnostic information!</text>
    <special xmlns='http://example.org/xmpp/errors'/>
  </error>
</iq>
<iq id='bv1bs71f' to='juliet@example.com/chamber' type='result'>
  <query xmlns='jabber:iq:roster' ver='ver11'>
    <item jid='romeo@example.net' name='Romeo' subscription='both'>
      <group>Friends</group>
    </item>
    <item jid='mercutio@example.com' name='Mercutio' subscription='from'/>
    <item jid='benvolio@example.net' name='Benvolio' subscription='none'/>
  </query>
</iq>
<presence from='romeo@example.net/orchard' xml:lang='en'>
  <show>dnd</show>
  <status>Wooing Juliet</status>
  <status xml:lang='cs'>Dvo&#x0159;&#x00ED;m se Julii</status>
  <priority>1</priority>
</presence>
<message from='juliet@example.com/balcony' id='b4vs9km4' to='romeo@example.net' type='chat' xml:lang='en'>
  <subject>I implore you!</subject>
  <subject xml:lang='cs'>&#x00DA;p&#x011B;nliv&#x011B; pros&#x00ED;m!</subject>
  <body>Wherefore art thou, Romeo?</body>
  <body xml:lang='cs'>Pro&#x010D;e&#x017E; jsi ty, Romeo?</body>
  <thread parent='e0ffe42b28561960c6b12b944a092794b9683a38'>0e3141cd80894871a68e6fe6b1ec56fa</thread>
</message>
<presence id='xk3h1v69' to='juliet@example.com' type='subscribe'/>
<iq from='juliet@example.com/balcony' id='a78b4q6ha463' type='set'>
  <query xmlns='jabber:iq:roster'>
    <item jid='nurse@example.com' subscription='remove'/>
  </query>
</iq>
<iq from='juliet@example.com/balcony' id='f1' type='get'><query xmlns='jabber:iq:filter'><rule>&lt;&amp;&gt;&apos;&quot;</rule></query></iq>
<stream:error>
  <not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>
</stream:error>
</stream:stream>";

#[test]
fn rfc_session_whole_and_byte_by_byte() {
    let input = stream(SESSION);
    let (events, err) = run_both(&input, 4096, None);
    assert_eq!(err, None);
    // Also in odd chunk sizes.
    for chunks in [&[2usize][..], &[3, 7, 1], &[64], &[1000, 1]] {
        assert_eq!(
            run_chunked(&input, 4096, None, chunks),
            (events.clone(), None)
        );
    }
    assert_eq!(
        events[0],
        Ev::Open {
            to: Some("juliet@im.example.com".into()),
            from: Some("im.example.com".into()),
            id: Some("t7AMCin9zjMNwQKDnplntZPIDEI=".into()),
            version: Some("1.0".into()),
        }
    );
    assert_eq!(events.len(), 17);
    assert_eq!(events[16], Ev::Close);
    let el = |i: usize| match &events[i] {
        Ev::El(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    let features = el(1);
    assert_eq!(
        (features.name.as_str(), features.ns.as_str()),
        ("features", "http://etherx.jabber.org/streams")
    );
    assert_eq!(features.children[0].name, "starttls");
    assert_eq!(features.children[0].ns, "urn:ietf:params:xml:ns:xmpp-tls");
    assert_eq!(
        features.children[0].children[0].ns,
        "urn:ietf:params:xml:ns:xmpp-tls"
    );
    let mechs: Vec<_> = el(3).children[0]
        .children
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(mechs, ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"]);
    let bind = el(6);
    assert_eq!(bind.ns, "jabber:client");
    assert_eq!(
        bind.children[0].children[0].text,
        "juliet@im.example.com/balcony"
    );
    let err = el(8);
    let cond = &err.children[1].children[0];
    assert_eq!(
        (cond.name.as_str(), cond.ns.as_str()),
        ("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas")
    );
    assert_eq!(
        err.children[1].children[2].ns,
        "http://example.org/xmpp/errors"
    );
    let presence = el(10);
    assert_eq!(presence.children[2].text, "Dvořím se Julii");
    assert_eq!(
        presence.children[2].attrs,
        [("xml:lang".to_string(), "cs".to_string())]
    );
    let msg = el(11);
    assert_eq!(msg.children[1].text, "Úpěnlivě prosím!");
    assert_eq!(msg.children[3].text, "Proče\u{17e} jsi ty, Romeo?");
    assert_eq!(
        msg.children[4].attrs[0].1,
        "e0ffe42b28561960c6b12b944a092794b9683a38"
    );
    assert_eq!(el(14).children[0].children[0].text, "<&>'\"");
    assert_eq!(el(15).name, "error");
}

#[test]
fn typed_stream_header() {
    let mut buf = [0u8; 1024];
    let mut p = StreamParser::new(&mut buf);
    p.feed(common::HEADER.as_bytes());
    match p.next().unwrap() {
        Some(Event::StreamOpen(h)) => {
            assert_eq!(h.content_namespace(), ContentNamespace::Client);
            assert_eq!(h.version_number(), Some((1, 0)));
            assert!(h.lang().unwrap().eq_str("en"));
            assert!(h.to().unwrap().eq_str("juliet@im.example.com"));
        }
        other => panic!("{other:?}"),
    }
    assert!(p.is_open());
    let (ev, err) = run_both(
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'><db:result from='a' to='b'>key</db:result>",
        1024,
        None,
    );
    assert_eq!(err, None);
    match &ev[1] {
        Ev::El(t) => assert_eq!(
            (t.name.as_str(), t.ns.as_str(), t.text.as_str()),
            ("result", "jabber:server:dialback", "key")
        ),
        other => panic!("{other:?}"),
    }
    for (ns, want) in [
        ("jabber:component:accept", ContentNamespace::ComponentAccept),
        ("jabber:server", ContentNamespace::Server),
    ] {
        let mut buf = [0u8; 256];
        let mut p = StreamParser::new(&mut buf);
        p.feed(
            format!("<stream:stream xmlns='{ns}' xmlns:stream='http://etherx.jabber.org/streams'>")
                .as_bytes(),
        );
        match p.next().unwrap() {
            Some(Event::StreamOpen(h)) => {
                assert_eq!(h.content_namespace(), want);
                assert_eq!(h.version_number(), None);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn keepalives_bom_and_restart() {
    // A byte-order mark, whitespace keepalives between stanzas (RFC 6120
    // §4.6.1), a restart after SASL with the new header already buffered.
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend(stream(
        " \n <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
    ));
    input.extend(b"<?xml version='1.0'?>");
    input.extend(
        common::HEADER
            .as_bytes()
            .strip_prefix(b"<?xml version='1.0'?>")
            .unwrap(),
    );
    input.extend(b"\n\n<iq type='result' id='x'/>\t</stream:stream>\n");
    let mut buf = [0u8; 1024];
    let mut p = StreamParser::new(&mut buf);
    assert_eq!(p.feed(&input), input.len());
    assert!(matches!(p.next(), Ok(Some(Event::StreamOpen(_)))));
    match p.next() {
        Ok(Some(Event::Element(e))) => assert!(e.is("success", "urn:ietf:params:xml:ns:xmpp-sasl")),
        other => panic!("{other:?}"),
    }
    // Without the restart the second header is a nested <stream:stream>;
    // with it, a new stream.
    p.restart();
    assert!(matches!(p.next(), Ok(Some(Event::StreamOpen(_)))));
    match p.next() {
        Ok(Some(Event::Element(e))) => {
            assert!(e.is("iq", "jabber:client"));
            assert!(e.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(p.next(), Ok(Some(Event::StreamClose))));
    assert!(matches!(p.next(), Ok(None)));
    assert_eq!(p.buffered(), 0);
}

#[test]
fn prefixes_cdata_and_views() {
    let input = stream(
        "<message xmlns:x='urn:x' x:a='1'><x:outer xmlns:y='urn:y'><y:inner/><plain xmlns=''>t</plain></x:outer>\
         <body>a<![CDATA[<b>&amp;]]>c&#13;d\r\ne\rf</body><stream:error/></message>",
    );
    let (ev, err) = run_both(&input, 4096, None);
    assert_eq!(err, None);
    let Ev::El(m) = &ev[1] else { panic!() };
    assert_eq!(m.attrs, [("x:a".to_string(), "1".to_string())]);
    let outer = &m.children[0];
    assert_eq!((outer.name.as_str(), outer.ns.as_str()), ("outer", "urn:x"));
    assert_eq!(outer.children[0].ns, "urn:y");
    assert_eq!(
        (
            outer.children[1].ns.as_str(),
            outer.children[1].text.as_str()
        ),
        ("", "t")
    );
    // CDATA is character data; line ends are normalized, a character
    // reference to CR is kept (XML 1.0 §2.11).
    assert_eq!(m.children[1].text, "a<b>&amp;c\rd\ne\nf");
    assert_eq!(m.children[2].ns, "http://etherx.jabber.org/streams");

    // '>' is allowed in attribute values: the tag ends at the first '>'
    // outside them.
    let (ev, err) = run_both(
        &stream("<iq a='x>y' b=\"'>'\" c='/>'><q d='>'/></iq>"),
        4096,
        None,
    );
    assert_eq!(err, None);
    let Ev::El(iq) = &ev[1] else { panic!() };
    let vals: Vec<_> = iq.attrs.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(vals, ["x>y", "'>'", "/>"]);
    assert_eq!(iq.children[0].attrs[0].1, ">");

    // Attribute value normalization (XML 1.0 §3.3.3).
    let (ev, _) = run_both(
        &stream("<iq a='x\ty\nz\r\nw&#10;v' id='&apos;'/>"),
        4096,
        None,
    );
    let Ev::El(iq) = &ev[1] else { panic!() };
    assert_eq!(iq.attrs[0].1, "x y z w\nv");
    assert_eq!(iq.attrs[1].1, "'");
}

#[test]
fn view_accessors() {
    let mut buf = [0u8; 1024];
    let mut p = StreamParser::new(&mut buf);
    p.feed(&stream(
        "<message to='a@b'><body>hi &amp; bye</body><x xmlns='urn:x'><y/></x>tail</message>",
    ));
    p.next().unwrap();
    let Ok(Some(Event::Element(m))) = p.next() else {
        panic!()
    };
    assert_eq!(m.qname(), "message");
    assert_eq!(m.prefix(), None);
    assert!(m.attr("to").unwrap().eq_str("a@b"));
    assert_eq!(m.attr("to").unwrap().as_str(), Some("a@b"));
    assert!(m.attr("from").is_none());
    let body = m.child("body", "jabber:client").unwrap();
    assert_eq!(body.text().as_str(), None);
    assert_eq!(body.text().raw(), "hi &amp; bye");
    assert_eq!(body.as_str(), "<body>hi &amp; bye</body>");
    assert!(m.child("body", "urn:x").is_none());
    let x = m.child("x", "urn:x").unwrap();
    assert_eq!(x.children().next().unwrap().namespace(), "urn:x");
    assert_eq!(m.text().to_string(), "tail");
    assert_eq!(m.children().count(), 2);
    assert!(m.as_str().starts_with("<message") && m.as_str().ends_with("</message>"));
    assert_eq!(
        m.lookup_prefix("stream"),
        Some("http://etherx.jabber.org/streams")
    );
}

// ---------------------------------------------------------------------------
// RFC 6120 §11.1: restricted XML

#[test]
fn restricted_xml() {
    let cases: &[&[u8]] = &[
        b"<!-- hello --><stream:stream>",
        b"<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'y'>]>",
        b"<?xml version='1.0'?><?php echo 1; ?>",
        b"<!ENTITY x 'y'>",
    ];
    for c in cases {
        assert_eq!(
            condition(c),
            C::RestrictedXml,
            "{}",
            String::from_utf8_lossy(c)
        );
    }
    for body in [
        "<message><!-- comment --></message>",
        "<!-- comment at stream level -->",
        "<message><?pi data?></message>",
        "<?xml version='1.0'?>",
        "<message><body>&nbsp;</body></message>",
        "<message to='&custom;'/>",
        "<message><!DOCTYPE x></message>",
    ] {
        assert_eq!(condition(&stream(body)), C::RestrictedXml, "{body}");
    }
}

// ---------------------------------------------------------------------------
// RFC 6120 §4.9.3: well-formedness, namespaces, encoding

#[test]
fn not_well_formed() {
    for body in [
        "<message></presence>",
        "<message><body></message>",
        "<message></stream:stream>",
        "</message>",
        "<message a='1' a='2'/>",
        "<message a='1' b:c='2'/>",
        "<x:message/>",
        "<message><x:body/></message>",
        "<xmlns:message/>",
        "<message xmlns:p=''/>",
        "<message xmlns:xml='urn:not-xml'/>",
        "<message>\u{1}</message>",
        "<message a='\u{1}'/>",
        "<message>&#0;</message>",
        "<message>&#x1;</message>",
        "<message>&#xFFFE;</message>",
        "<message>\u{FFFF}</message>",
        "<message>a & b</message>",
        "<message>&amp</message>",
        "<message>]]></message>",
        "<message a=b/>",
        "<message a='<'/>",
        "<message a='1'b='2'/>",
        "<1message/>",
        "<message><![CDATX[x]]></message>",
        "<message/></stream:stream><message/>",
        "<message/></stream:stream>text",
        "<message/></stream:other>",
    ] {
        assert_eq!(condition(&stream(body)), C::NotWellFormed, "{body}");
    }
    assert_eq!(condition(b"hello"), C::NotWellFormed);
    assert_eq!(condition(b"<?xml version='2.0'?>"), C::NotWellFormed);
}

#[test]
fn unsupported_encoding() {
    // RFC 6120 §4.9.3.22: "violating the rules of the UTF-8 encoding".
    assert_eq!(
        condition(
            &stream("<message><body>\u{e9}</body></message>")
                .iter()
                .map(|&b| if b == 0xC3 { 0xC0 } else { b })
                .collect::<Vec<_>>()
        ),
        C::UnsupportedEncoding
    );
    let mut bad = stream("<message><body>");
    bad.extend(b"\xFF\xFE</body></message>");
    assert_eq!(condition(&bad), C::UnsupportedEncoding);
    let mut bad = stream("<message to='");
    bad.extend(b"\xE2\x82'/>");
    assert_eq!(condition(&bad), C::UnsupportedEncoding);
    // RFC 6120 §11.6: UTF-8 only.
    assert_eq!(
        condition(b"<?xml version='1.0' encoding='ISO-8859-1'?>"),
        C::UnsupportedEncoding
    );
}

#[test]
fn stream_header_refusals() {
    let ns = "xmlns:stream='http://etherx.jabber.org/streams'";
    // RFC 6120 §4.9.3.2: the stream element needs its prefix.
    assert_eq!(
        condition(b"<stream xmlns='http://etherx.jabber.org/streams'>"),
        C::BadNamespacePrefix
    );
    assert_eq!(
        condition(format!("<foo:stream xmlns='jabber:client' {ns}>").as_bytes()),
        C::BadNamespacePrefix
    );
    // RFC 6120 §4.9.3.10: wrong stream namespace, unsupported content
    // namespace.
    assert_eq!(condition(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.namespace.example.org/'>"), C::InvalidNamespace);
    assert_eq!(
        condition(format!("<stream:stream xmlns='jabber:wrong' {ns}>").as_bytes()),
        C::InvalidNamespace
    );
    assert_eq!(
        condition(format!("<stream:stream {ns}>").as_bytes()),
        C::InvalidNamespace
    );
    assert_eq!(
        condition(format!("<stream:features xmlns='jabber:client' {ns}>").as_bytes()),
        C::BadFormat
    );
    // Stream-level declarations besides `stream`: two are kept (and bind
    // their prefixes in every stanza), with 64 bytes of names in all; more
    // is policy-violation, never a prefix silently unbound.
    let header = |decls: &str, body: &str| {
        format!("<stream:stream xmlns='jabber:server' {ns} {decls}>{body}").into_bytes()
    };
    let two = "xmlns:db='jabber:server:dialback' xmlns:x='urn:x'";
    let used = "<db:result from='a' to='b'>k</db:result><x:y/>";
    assert_eq!(run_both(&header(two, used), 1024, None).1, None);
    assert_eq!(
        condition(&header(&format!("{two} xmlns:z='urn:z'"), "")),
        C::PolicyViolation
    );
    let long = format!("xmlns:db='urn:{}'", "n".repeat(60));
    assert_eq!(condition(&header(&long, "")), C::PolicyViolation);
    // Text at stream level (RFC 6120 §4.9.3.1).
    assert_eq!(condition(&stream("hello")), C::BadFormat);
    assert_eq!(condition(&stream("<message/> x")), C::BadFormat);
    assert_eq!(condition(&stream("<![CDATA[x]]>")), C::BadFormat);
}

// ---------------------------------------------------------------------------
// Limits: policy-violation (RFC 6120 §4.9.3.14)

/// A parser made with a smaller depth capacity keeps its limit at that
/// capacity, whatever the limits ask, and refuses deeper stanzas with
/// policy-violation like any other limit.
#[test]
fn depth_capacity_caps_the_depth_limit() {
    let stream = |body: &str| {
        format!("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>{body}")
    };
    let limits = Limits::for_buffer(1024);
    for (body, ok) in [
        ("<a><b><c/></b></a>", true),
        ("<a><b><c><d/></c></b></a>", false),
    ] {
        let mut buf = [0u8; 1024];
        let mut p = StreamParser::<3>::with_capacity(&mut buf, limits);
        assert_eq!(p.limits().max_depth, 3);
        p.feed(stream(body).as_bytes());
        assert!(matches!(p.next(), Ok(Some(Event::StreamOpen(_)))));
        match p.next() {
            Ok(Some(Event::Element(_))) if ok => {}
            Err(e) if !ok => assert_eq!(e.condition, C::PolicyViolation),
            other => panic!("{body}: {other:?}"),
        }
        // The default capacity follows the limits.
        let mut buf = [0u8; 1024];
        let mut p = StreamParser::with_limits(&mut buf, limits);
        assert_eq!(p.limits().max_depth, limits.max_depth);
        p.feed(stream(body).as_bytes());
        assert!(matches!(p.next(), Ok(Some(Event::StreamOpen(_)))));
        assert!(matches!(p.next(), Ok(Some(Event::Element(_)))), "{body}");
    }
}

#[test]
fn limits() {
    // A short header, so that only the stanzas meet the limit.
    let short = |body: &str| {
        let mut v = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".to_vec();
        v.extend_from_slice(body.as_bytes());
        v
    };
    let limits = Limits {
        max_stanza_bytes: 100,
        max_depth: 3,
        max_attributes: 4,
    };
    let small = short("<message><body>short</body></message>");
    assert_eq!(run_both(&small, 1024, Some(limits)).1, None);
    let big = short(&format!(
        "<message><body>{}</body></message>",
        "x".repeat(200)
    ));
    let (_, err) = run_both(&big, 1024, Some(limits));
    assert_eq!(err.unwrap().condition, C::PolicyViolation);
    let long_tag = short(&format!("<message to='{}'/>", "x".repeat(200)));
    assert_eq!(
        run_both(&long_tag, 1024, Some(limits)).1.unwrap().condition,
        C::PolicyViolation
    );
    let deep = short("<a><b><c><d/></c></b></a>");
    assert_eq!(
        run_both(&deep, 1024, Some(limits)).1.unwrap().condition,
        C::PolicyViolation
    );
    let ok_deep = short("<a><b><c/></b></a>");
    assert_eq!(run_both(&ok_deep, 1024, Some(limits)).1, None);
    let attrs = short("<a b='1' c='2' d='3' e='4' f='5'/>");
    assert_eq!(
        run_both(&attrs, 1024, Some(limits)).1.unwrap().condition,
        C::PolicyViolation
    );
    // Prefixed declarations in scope at once: MAX_PREFIX_DECLS, then
    // policy-violation (across nesting levels too), never a silent drop.
    let decls = |n: usize, nested: bool| {
        let d: Vec<String> = (0..n).map(|i| format!("xmlns:p{i}='urn:x:{i}'")).collect();
        if nested {
            let (a, b) = d.split_at(n / 2);
            short(&format!("<a {}><b {}/></a>", a.join(" "), b.join(" ")))
        } else {
            short(&format!("<a {}/>", d.join(" ")))
        }
    };
    for nested in [false, true] {
        let ok = decls(picoxmpp::xml::MAX_PREFIX_DECLS, nested);
        assert_eq!(run_both(&ok, 1024, None).1, None);
        let over = decls(picoxmpp::xml::MAX_PREFIX_DECLS + 1, nested);
        assert_eq!(
            run_both(&over, 1024, None).1.unwrap().condition,
            C::PolicyViolation
        );
    }
    let four = short("<a b='1' c='2' d='3' e='4'/>");
    assert_eq!(run_both(&four, 1024, Some(limits)).1, None);
    // A stream header larger than the limit.
    let header = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{}'>",
        "x".repeat(200)
    );
    assert_eq!(
        run_both(header.as_bytes(), 1024, Some(limits))
            .1
            .unwrap()
            .condition,
        C::PolicyViolation
    );
    // A limit above the buffer size: the buffer is the limit.
    let loose = Limits {
        max_stanza_bytes: 1 << 20,
        ..limits
    };
    let (_, err) = run_both(
        &short(&format!("<message>{}</message>", "y".repeat(600))),
        512,
        Some(loose),
    );
    assert_eq!(err.unwrap().condition, C::PolicyViolation);
    // An endless run of whitespace keepalives is consumed, not buffered.
    let mut ws = short("");
    ws.extend(std::iter::repeat_n(b' ', 100_000));
    ws.extend(b"<message/>");
    let (ev, err) = run_both(&ws, 256, Some(limits));
    assert_eq!((ev.len(), err), (2, None));
}

#[test]
fn stanzas_larger_than_half_the_buffer_stream_through() {
    // Many stanzas, each just under the buffer size, in awkward chunks: the
    // buffer must be compacted, never reported full.
    let body = "z".repeat(900);
    let mut s = String::new();
    for i in 0..20 {
        s.push_str(&format!("<message id='{i}'><body>{body}</body></message>"));
    }
    let input = stream(&s);
    for chunks in [&[1usize][..], &[700], &[999, 3], &[usize::MAX]] {
        let (ev, err) = run_chunked(&input, 1024, None, chunks);
        assert_eq!((ev.len(), err), (21, None), "{chunks:?}");
    }
}

#[test]
fn error_offsets_point_at_the_fault() {
    let input = stream("<message><body>ok</body><bad a='1' a='2'/></message>");
    let (_, err) = run_both(&input, 4096, None);
    let e = err.unwrap();
    let at = common::HEADER.len() + "<message><body>ok</body><bad a='1' ".len();
    assert_eq!((e.condition, e.offset), (C::NotWellFormed, at as u64));
    assert_eq!(e.reason, "duplicate attribute");
    assert!(e.to_string().contains("not-well-formed"));
}

// ---------------------------------------------------------------------------
// Regressions found by fuzzing (fuzz/corpus/parse_stream/regress-*)

#[test]
fn the_earliest_bad_character_is_reported() {
    // U+FFFF, then a NUL in the same read: the U+FFFF must not be handed
    // out inside the message.
    let mut input = stream("<message><body>\u{FFFF}</body></message>");
    input.push(0);
    let (events, err) = run_both(&input, 4096, None);
    assert_eq!(events.len(), 1, "only the stream header");
    let e = err.unwrap();
    assert_eq!(
        (e.condition, e.offset),
        (
            C::NotWellFormed,
            (common::HEADER.len() + "<message><body>".len()) as u64
        )
    );
}

#[test]
fn oversized_elements_are_policy_violations_whatever_follows() {
    let short =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    let limits = Limits {
        max_stanza_bytes: 128,
        max_depth: 8,
        max_attributes: 20,
    };
    for tail in [
        "</bodx></message>",
        "&bogus;</body></message>",
        "<!x",
        "<?pi?>",
        "</body></message>",
    ] {
        let input = format!("{short}<message><body>{}{tail}", "x".repeat(120));
        let (_, err) = run_both(input.as_bytes(), 1024, Some(limits));
        assert_eq!(err.unwrap().condition, C::PolicyViolation, "{tail}");
    }
}

#[test]
fn markup_starting_at_the_last_allowed_byte() {
    // The stream header must fit the limit too, so the limits start above
    // its 84 bytes; each stanza puts a `<` exactly at offset `max`.
    let short =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    for max in 90..100 {
        let limits = Limits {
            max_stanza_bytes: max,
            max_depth: 8,
            max_attributes: 8,
        };
        for tail in [
            "</a>",
            "<b/></a>",
            "<!-- --></a>",
            "<?p?></a>",
            "<![CDATA[x]]></a>",
        ] {
            for shift in [0usize, 1, 2] {
                let input = format!("{short}<a>{}{tail}", "x".repeat(max - 3 - shift));
                let (_, err) = run_both(input.as_bytes(), 256, Some(limits));
                let e = err.expect("every stanza here is too large or restricted");
                assert!(
                    matches!(e.condition, C::PolicyViolation | C::RestrictedXml),
                    "{max} {tail}: {e}"
                );
            }
        }
    }
}
