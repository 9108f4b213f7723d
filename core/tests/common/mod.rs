//! Test helpers: run a byte stream through the parser in given chunks and
//! collect owned copies of the events.
#![allow(dead_code)]

use picoxmpp::error::{StreamErrorCondition, XmlError};
use picoxmpp::xml::{Element, Event, Limits, StreamParser};

/// An owned element tree: name, namespace, attributes (decoded), the direct
/// text (decoded), children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub name: String,
    pub ns: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Tree>,
}

impl Tree {
    pub fn from_view(el: &Element<'_>) -> Tree {
        let mut text = String::new();
        for c in el.text().chunks() {
            text.push_str(c.as_str());
        }
        // The other text accessors agree with the chunks.
        assert_eq!(el.text().to_string(), text);
        assert_eq!(el.text().chars().collect::<String>(), text);
        assert_eq!(el.text().decoded_len(), text.len());
        assert!(el.text().eq_str(&text));
        let mut buf = vec![0u8; text.len()];
        assert_eq!(el.text().decode_into(&mut buf).unwrap(), text);
        if !text.is_empty() {
            let mut small = vec![0u8; text.len() - 1];
            assert_eq!(
                el.text().decode_into(&mut small).unwrap_err().needed,
                text.len()
            );
        }
        Tree {
            name: el.name().to_string(),
            ns: el.namespace().to_string(),
            attrs: el
                .attrs()
                .filter(|a| !a.is_namespace_declaration())
                .map(|a| (a.name.to_string(), a.value.to_string()))
                .collect(),
            text,
            children: el.children().map(|c| Tree::from_view(&c)).collect(),
        }
    }
}

/// An owned event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Open {
        to: Option<String>,
        from: Option<String>,
        id: Option<String>,
        version: Option<String>,
    },
    El(Tree),
    Close,
}

/// Everything the parser produced for `input`, fed in chunks of the sizes
/// `chunks` yields (cycled), and the error it stopped with, if any.
pub fn run_chunked(
    input: &[u8],
    buf_len: usize,
    limits: Option<Limits>,
    chunks: &[usize],
) -> (Vec<Ev>, Option<XmlError>) {
    let mut buf = vec![0u8; buf_len];
    let mut p = match limits {
        Some(l) => StreamParser::with_limits(&mut buf, l),
        None => StreamParser::new(&mut buf),
    };
    let mut out = Vec::new();
    let mut rest = input;
    let mut k = 0;
    loop {
        loop {
            match p.next() {
                Ok(Some(ev)) => out.push(own(&ev)),
                Ok(None) => break,
                Err(e) => {
                    // The parser stays failed.
                    assert_eq!(p.next().unwrap_err(), e);
                    p.feed(b"<a/>");
                    assert_eq!(p.next().unwrap_err(), e);
                    return (out, Some(e));
                }
            }
        }
        if rest.is_empty() {
            return (out, None);
        }
        let want = chunks[k % chunks.len()].max(1);
        k += 1;
        let n = p.feed(&rest[..want.min(rest.len())]);
        assert!(n > 0, "receive buffer full after next() returned None");
        rest = &rest[n..];
    }
}

pub fn own(ev: &Event<'_>) -> Ev {
    match ev {
        Event::StreamOpen(h) => Ev::Open {
            to: h.to().map(|t| t.to_string()),
            from: h.from().map(|t| t.to_string()),
            id: h.id().map(|t| t.to_string()),
            version: h.version().map(|t| t.to_string()),
        },
        Event::Element(e) => Ev::El(Tree::from_view(e)),
        Event::StreamClose => Ev::Close,
    }
}

/// Runs `input` whole and byte by byte and checks both give the same.
pub fn run_both(
    input: &[u8],
    buf_len: usize,
    limits: Option<Limits>,
) -> (Vec<Ev>, Option<XmlError>) {
    let whole = run_chunked(input, buf_len, limits, &[usize::MAX]);
    let bytes = run_chunked(input, buf_len, limits, &[1]);
    assert_eq!(
        whole.0, bytes.0,
        "events differ between whole and byte-by-byte"
    );
    assert_eq!(
        whole.1.map(|e| (e.condition, e.reason, e.offset)),
        bytes.1.map(|e| (e.condition, e.reason, e.offset)),
        "errors differ between whole and byte-by-byte"
    );
    whole
}

/// The condition `input` fails with (whole and byte by byte agree).
pub fn condition(input: &[u8]) -> StreamErrorCondition {
    let (_, err) = run_both(input, 4096, None);
    err.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)))
        .condition
}

pub const HEADER: &str = "<?xml version='1.0'?><stream:stream from='im.example.com' id='t7AMCin9zjMNwQKDnplntZPIDEI=' to='juliet@im.example.com' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// `HEADER` + `body`.
pub fn stream(body: &str) -> Vec<u8> {
    let mut v = HEADER.as_bytes().to_vec();
    v.extend_from_slice(body.as_bytes());
    v
}
