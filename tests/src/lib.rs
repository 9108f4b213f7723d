//! Test support for picoxmpp: a deterministic generator of realistic XMPP
//! streams ([`streamgen`]) for tests, fuzz seeds and the comparative parsing
//! benchmark (`benches/parse.rs`), and a reader that simulates a socket
//! ([`ChunkedReader`]).
#![warn(missing_docs)]

use std::io;

pub mod streamgen;

pub use streamgen::{generate, generate_stream, GeneratedStream};

/// The most bytes one read from a socket hands out in the benchmark.
pub const CHUNK: usize = 16 * 1024;

/// A [`io::Read`] over a byte slice that hands out at most `chunk` bytes per
/// call, the way a socket returns whatever has arrived. Wrap it in a
/// [`io::BufReader`] to get what a parser reading from a socket sees.
#[derive(Clone, Debug)]
pub struct ChunkedReader<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl<'a> ChunkedReader<'a> {
    /// A reader over `data` handing out at most `chunk` (> 0) bytes a read.
    pub fn new(data: &'a [u8], chunk: usize) -> Self {
        assert!(chunk > 0, "chunk must not be empty");
        Self { data, chunk }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.data
    }

    /// Hands out the next chunk without copying it: at most `chunk` and
    /// at most `max` bytes, empty at the end. The bytes count as read.
    pub fn next_chunk(&mut self, max: usize) -> &'a [u8] {
        let n = self.data.len().min(self.chunk).min(max);
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }
}

impl io::Read for ChunkedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self.next_chunk(buf.len());
        buf[..chunk.len()].copy_from_slice(chunk);
        Ok(chunk.len())
    }
}

#[cfg(test)]
mod tests {
    use super::streamgen::{self, generate, generate_stream, STREAM_CLOSE, STREAM_HEADER_START};
    use super::{ChunkedReader, CHUNK};
    use std::io::{BufRead, BufReader, Read};

    fn socket(bytes: &[u8]) -> BufReader<ChunkedReader<'_>> {
        BufReader::with_capacity(CHUNK, ChunkedReader::new(bytes, CHUNK))
    }

    /// Parses the whole stream with quick-xml, decoding every text, entity
    /// and attribute value; returns the names of the depth-1 elements.
    fn quick_xml_stanzas(bytes: &[u8]) -> Vec<String> {
        use quick_xml::events::Event;
        use quick_xml::XmlVersion;
        let mut reader = quick_xml::Reader::from_reader(socket(bytes));
        let mut buf = Vec::new();
        let mut depth = 0usize;
        let mut names = Vec::new();
        let mut text = String::new();
        loop {
            let ev = reader.read_event_into(&mut buf).expect("well-formed XML");
            match &ev {
                Event::Start(e) | Event::Empty(e) => {
                    if depth == 1 {
                        names.push(e.name().as_ref().to_owned());
                    }
                    for a in e.attributes() {
                        let a = a.expect("attribute");
                        let v = a.normalized_value(XmlVersion::Explicit1_0);
                        text.push_str(&v.expect("attribute value"));
                    }
                    if matches!(ev, Event::Start(_)) {
                        depth += 1;
                    }
                }
                Event::End(_) => depth -= 1,
                Event::Text(t) => text.push_str(t),
                Event::GeneralRef(r) => {
                    if r.is_char_ref() {
                        let c = r.resolve_char_ref().expect("character reference");
                        text.push(c.expect("a character"));
                    } else {
                        let c = match &**r {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "apos" => '\'',
                            "quot" => '"',
                            other => panic!("undefined entity {other}"),
                        };
                        text.push(c);
                    }
                }
                Event::Decl(_) => {}
                Event::Eof => break,
                other => panic!("unexpected event {other:?}"),
            }
            buf.clear();
        }
        assert_eq!(depth, 0);
        assert!(text.contains("Tom & Jerry"));
        names
    }

    /// Parses the whole stream with rxml (strict: namespaces, characters,
    /// names) and returns the depth-1 elements as minidom trees.
    fn minidom_stanzas(bytes: &[u8]) -> Vec<minidom::Element> {
        let mut reader = rxml::RawReader::new(socket(bytes));
        let mut tree = minidom::tree_builder::TreeBuilder::new();
        let mut stanzas = Vec::new();
        while let Some(ev) = reader.read().expect("well-formed XMPP stream") {
            let end = matches!(ev, rxml::RawEvent::ElementFoot(_));
            tree.process_event(ev).expect("namespace-well-formed");
            if end && tree.depth() == 1 {
                stanzas.push(tree.unshift_child().expect("a stanza"));
            }
        }
        assert!(tree.root.is_some(), "stream closed");
        stanzas
    }

    #[test]
    fn deterministic_and_sized() {
        let a = generate(200_000, 7);
        let b = generate(200_000, 7);
        let c = generate(200_000, 8);
        assert_eq!(a, b);
        assert_ne!(a.bytes, c.bytes);
        assert!(a.bytes.len() >= 200_000 && a.bytes.len() < 204_000);
        assert_eq!(generate_stream(200_000, 7), a.bytes);
        assert!(a.bytes.starts_with(STREAM_HEADER_START.as_bytes()));
        assert!(a.bytes.ends_with(STREAM_CLOSE.as_bytes()));
        assert_eq!(a.stanzas, a.messages + a.presences + a.iqs);
        assert_eq!(streamgen::count_stanzas(&a.bytes), a.stanzas);
        let mean = a.mean_stanza_len();
        assert!((250.0..=350.0).contains(&mean), "mean stanza {mean} bytes");
    }

    #[test]
    fn well_formed_for_quick_xml() {
        for seed in [1, 2, 3] {
            let s = generate(1_000_000, seed);
            let names = quick_xml_stanzas(&s.bytes);
            assert_eq!(names.len(), s.stanzas);
            let count = |n: &str| names.iter().filter(|x| *x == n).count();
            assert_eq!(count("message"), s.messages);
            assert_eq!(count("presence"), s.presences);
            assert_eq!(count("iq"), s.iqs);
        }
    }

    #[test]
    fn text_mix() {
        let s = generate(1_000_000, 4);
        let text = std::str::from_utf8(&s.bytes).expect("UTF-8");
        for needle in [
            "&amp;",
            "&lt;",
            "&gt;",
            "&apos;",
            "&quot;",
            "&#233;",
            "&#x1F600;",
        ] {
            assert!(text.contains(needle), "no {needle}");
        }
        for needle in ["é", "Привет", "日本語", "😀", "\n<", "> <"] {
            assert!(text.contains(needle), "no {needle:?}");
        }
        // Share of <body> values with references or non-ASCII: 10-40%
        // (each kind is 10-20% on its own).
        let bodies: Vec<&str> = text
            .split("<body>")
            .skip(1)
            .map(|b| &b[..b.find("</body>").unwrap()])
            .collect();
        let share = |f: &dyn Fn(&str) -> bool| {
            bodies.iter().filter(|b| f(b)).count() as f64 / bodies.len() as f64
        };
        let escaped = share(&|b| b.contains('&'));
        let unicode = share(&|b| !b.is_ascii());
        assert!((0.10..=0.20).contains(&escaped), "escaped {escaped}");
        assert!((0.10..=0.25).contains(&unicode), "unicode {unicode}");
    }

    #[test]
    fn valid_for_xmpp_parsers() {
        use xmpp_parsers::{
            caps::Caps, chatstates::ChatState, disco::DiscoInfoResult, iq::Iq, iq::IqPayload,
            message::Message, ping::Ping, presence::Presence, roster::Roster, stanza_id::OriginId,
        };
        let s = generate(1_000_000, 5);
        let stanzas = minidom_stanzas(&s.bytes);
        assert_eq!(stanzas.len(), s.stanzas);
        let (mut pings, mut rosters, mut discos, mut caps, mut states, mut origins) =
            (0, 0, 0, 0, 0, 0);
        for el in stanzas {
            let xml = String::from(&el);
            match el.name() {
                "message" => {
                    let m = Message::try_from(el).unwrap_or_else(|e| panic!("{e}: {xml}"));
                    for p in m.payloads {
                        if p.is("origin-id", "urn:xmpp:sid:0") {
                            OriginId::try_from(p).expect("origin-id");
                            origins += 1;
                        } else if p.has_ns("http://jabber.org/protocol/chatstates") {
                            ChatState::try_from(p).expect("chat state");
                            states += 1;
                        }
                    }
                }
                "presence" => {
                    let p = Presence::try_from(el).unwrap_or_else(|e| panic!("{e}: {xml}"));
                    for p in p.payloads {
                        if p.is("c", "http://jabber.org/protocol/caps") {
                            Caps::try_from(p).expect("caps");
                            caps += 1;
                        }
                    }
                }
                "iq" => {
                    let iq = Iq::try_from(el).unwrap_or_else(|e| panic!("{e}: {xml}"));
                    let payload = match iq.into_payload() {
                        IqPayload::Get(p) | IqPayload::Set(p) | IqPayload::Result(Some(p)) => p,
                        _ => continue,
                    };
                    if payload.is("ping", "urn:xmpp:ping") {
                        Ping::try_from(payload).expect("ping");
                        pings += 1;
                    } else if payload.is("query", "jabber:iq:roster") {
                        Roster::try_from(payload).unwrap_or_else(|e| panic!("{e}: {xml}"));
                        rosters += 1;
                    } else {
                        DiscoInfoResult::try_from(payload).unwrap_or_else(|e| panic!("{e}: {xml}"));
                        discos += 1;
                    }
                }
                other => panic!("unexpected stanza {other}"),
            }
        }
        for n in [pings, rosters, discos, caps, states, origins] {
            assert!(n > 10);
        }
    }

    #[test]
    fn stanzas_alone() {
        let stanzas = streamgen::generate_stanzas(100, 9);
        assert_eq!(stanzas.len(), 100);
        let joined: String = stanzas.concat();
        let stream = format!("{STREAM_HEADER_START}x' version='1.0'>{joined}{STREAM_CLOSE}");
        assert_eq!(quick_xml_stanzas(stream.as_bytes()).len(), 100);
    }

    #[test]
    fn chunked_reader_hands_out_chunks() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut r = ChunkedReader::new(&data, 30);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 30);
        assert_eq!(r.read(&mut buf[..10]).unwrap(), 10);
        assert_eq!(r.remaining().len(), 60);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[40..]);
        let mut br = BufReader::with_capacity(64, ChunkedReader::new(&data, 30));
        assert_eq!(br.fill_buf().unwrap().len(), 30);
    }
}

/// The Rust examples in README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
