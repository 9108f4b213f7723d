//! Differential test of picoxmpp's streaming parser against quick-xml's
//! `NsReader` on generated XMPP streams.
//!
//! Every top-level stanza is turned into an owned [`Tree`] (local name,
//! resolved namespace, attributes without namespace declarations, decoded
//! direct text, children) once from picoxmpp's [`Element`] views and once
//! from quick-xml's events, and the two lists must be equal. picoxmpp is fed
//! in chunks of pseudo-random sizes through a large and a small receive
//! buffer (the small one forces frequent compaction).
//!
//! A second comparison rewrites the generated stanzas with literal CR,
//! CRLF, LF and tabs in text and attribute values, references to those
//! characters and CDATA sections, which the generator never writes, to
//! compare line-end (XML 1.0 §2.11) and attribute-value (§3.3.3)
//! normalization.
//!
//! A last test mutates streams in ways quick-xml also rejects and checks
//! that picoxmpp rejects them as `not-well-formed`, at the same stanza.

use picoxmpp::error::{StreamErrorCondition, XmlError};
use picoxmpp::xml::{Element, Event, StreamParser};
use picoxmpp_tests::generate;
use picoxmpp_tests::streamgen::SplitMix64;
use quick_xml::events::{BytesStart, Event as QEvent};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;

/// An element as both parsers must see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tree {
    /// Local name.
    name: String,
    /// Resolved namespace name ("" for none).
    ns: String,
    /// Attributes other than namespace declarations, qualified names as
    /// written, decoded and normalized values, in document order.
    attrs: Vec<(String, String)>,
    /// Character data directly inside the element, decoded.
    text: String,
    children: Vec<Tree>,
}

const SEEDS: [u64; 8] = [1, 2, 3, 42, 1234, 0xDEAD_BEEF, 7_777_777, u64::MAX];
const STREAM_BYTES: usize = 300_000;
/// Receive buffers: roomy, and small enough to compact all the time (every
/// generated stanza still fits: the largest are about 700 bytes).
const BUFFERS: [usize; 2] = [8 * 1024, 1024];

// ---------------------------------------------------------------------------
// picoxmpp

fn pico_tree(el: &Element<'_>) -> Tree {
    Tree {
        name: el.name().to_string(),
        ns: el.namespace().to_string(),
        attrs: el
            .attrs()
            .filter(|a| !a.is_namespace_declaration())
            .map(|a| (a.name.to_string(), a.value.to_string()))
            .collect(),
        text: el.text().to_string(),
        children: el.children().map(|c| pico_tree(&c)).collect(),
    }
}

#[derive(Debug, Default)]
struct PicoRun {
    stanzas: Vec<Tree>,
    opened: usize,
    closed: usize,
    error: Option<XmlError>,
}

/// Chunk sizes as a socket might hand them out: 1..=3000 bytes, and a
/// single byte one time in ten.
fn chunk_len(rng: &mut SplitMix64) -> usize {
    if rng.chance(10) {
        1
    } else {
        rng.range(1, 3000)
    }
}

/// Hands out every event the parser has; stops at the first error.
fn drain(parser: &mut StreamParser<'_>, run: &mut PicoRun) -> Result<(), XmlError> {
    while let Some(ev) = parser.next()? {
        match ev {
            Event::StreamOpen(_) => run.opened += 1,
            Event::Element(el) => run.stanzas.push(pico_tree(&el)),
            Event::StreamClose => run.closed += 1,
        }
    }
    Ok(())
}

/// Parses `bytes` with picoxmpp in a `buf_len`-byte receive buffer, fed in
/// chunks whose sizes come from `chunk_seed`.
fn run_picoxmpp(bytes: &[u8], buf_len: usize, chunk_seed: u64) -> PicoRun {
    let mut buf = vec![0u8; buf_len];
    let mut parser = StreamParser::new(&mut buf);
    let mut rng = SplitMix64::new(chunk_seed);
    let mut run = PicoRun::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = chunk_len(&mut rng).min(rest.len());
        let (mut chunk, tail) = rest.split_at(len);
        rest = tail;
        while !chunk.is_empty() {
            let n = parser.feed(chunk);
            // After next() returned Ok(None) the receive buffer is never
            // full, so every feed makes progress.
            assert!(n > 0, "feed took nothing at stream byte {}", {
                bytes.len() - rest.len() - chunk.len()
            });
            chunk = &chunk[n..];
            if let Err(e) = drain(&mut parser, &mut run) {
                run.error = Some(e);
                return run;
            }
        }
    }
    run
}

// ---------------------------------------------------------------------------
// quick-xml

#[derive(Debug, Default)]
struct QuickRun {
    stanzas: Vec<Tree>,
    /// Byte range of each stanza in the stream.
    spans: Vec<(u64, u64)>,
    closed: bool,
    error: Option<String>,
}

fn resolved_ns(ns: ResolveResult<'_>) -> Result<String, String> {
    match ns {
        ResolveResult::Bound(ns) => Ok(ns.0.to_string()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => Err(format!("unbound namespace prefix {p:?}")),
    }
}

/// A tree with no children yet from a start tag: namespace declarations
/// dropped, values unescaped and normalized (XML 1.0 §3.3.3: literal tab,
/// LF, CR and CRLF become spaces, character references are kept).
fn quick_open(ns: String, e: &BytesStart<'_>) -> Result<Tree, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("attribute: {e}"))?;
        let key = a.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(XmlVersion::Explicit1_0)
            .map_err(|e| format!("attribute value: {e}"))?;
        attrs.push((key.to_string(), value.into_owned()));
    }
    Ok(Tree {
        name: e.local_name().as_ref().to_string(),
        ns,
        attrs,
        ..Tree::default()
    })
}

/// Parses the whole stream with quick-xml. Depth-1 elements are stanzas;
/// an undefined entity or an unbound prefix counts as an error, as a read
/// error does.
fn run_quick_xml(bytes: &[u8]) -> QuickRun {
    let mut run = QuickRun::default();
    if let Err(e) = quick_xml_into(bytes, &mut run) {
        run.error = Some(e);
    }
    run
}

fn quick_xml_into(bytes: &[u8], run: &mut QuickRun) -> Result<(), String> {
    let mut reader = NsReader::from_reader(bytes);
    let mut buf = Vec::new();
    // Open elements below the stream root; `depth` counts the root too.
    let mut stack: Vec<Tree> = Vec::new();
    let mut depth = 0usize;
    let mut stanza_start = 0u64;
    loop {
        buf.clear();
        let before = reader.buffer_position();
        let (ns, ev) = match reader.read_resolved_event_into(&mut buf) {
            Ok(x) => x,
            Err(e) => return Err(format!("read error at {}: {e}", reader.error_position())),
        };
        let ns = resolved_ns(ns);
        let after = reader.buffer_position();
        match ev {
            QEvent::Start(e) if depth == 0 => {
                ns?;
                assert_eq!(e.name().as_ref(), "stream:stream");
                depth = 1;
            }
            QEvent::Start(e) => {
                if depth == 1 {
                    stanza_start = before;
                }
                stack.push(quick_open(ns?, &e)?);
                depth += 1;
            }
            QEvent::Empty(e) => {
                if depth == 0 {
                    return Err("empty stream root".into());
                }
                let tree = quick_open(ns?, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(tree),
                    None => {
                        run.stanzas.push(tree);
                        run.spans.push((before, after));
                    }
                }
            }
            QEvent::End(_) => {
                depth = depth.checked_sub(1).ok_or("end tag outside the root")?;
                if depth == 0 {
                    run.closed = true;
                    continue;
                }
                let tree = stack.pop().expect("an open element");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(tree),
                    None => {
                        run.stanzas.push(tree);
                        run.spans.push((stanza_start, after));
                    }
                }
            }
            // XML 1.0 §2.11 line ends ("\r\n" and "\r" to "\n").
            QEvent::Text(t) => match stack.last_mut() {
                Some(top) => top.text.push_str(&t.xml10_content()),
                None => {
                    if !t.xml10_content().chars().all(|c| " \t\r\n".contains(c)) {
                        return Err("character data at stream level".into());
                    }
                }
            },
            QEvent::CData(t) => match stack.last_mut() {
                Some(top) => top.text.push_str(&t.xml10_content()),
                None => return Err("CDATA at stream level".into()),
            },
            QEvent::GeneralRef(r) => {
                let top = stack.last_mut().ok_or("reference at stream level")?;
                if r.is_char_ref() {
                    let c = r
                        .resolve_char_ref()
                        .map_err(|e| format!("character reference: {e}"))?
                        .ok_or("character reference")?;
                    top.text.push(c);
                } else {
                    let s = quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("undefined entity {:?}", &*r))?;
                    top.text.push_str(s);
                }
            }
            QEvent::Decl(_) => {}
            QEvent::Eof => {
                if depth != 0 {
                    return Err("stream not closed".into());
                }
                return Ok(());
            }
            other => return Err(format!("unexpected event {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Tests

/// Appends all text, and all attribute values, of `t` and its descendants.
fn collect(t: &Tree, texts: &mut String, values: &mut String) {
    texts.push_str(&t.text);
    t.attrs.iter().for_each(|(_, v)| values.push_str(v));
    t.children.iter().for_each(|c| collect(c, texts, values));
}

fn chunk_seed(seed: u64, buf_len: usize) -> u64 {
    seed ^ 0x5EED_C4A2_0000_0000 ^ buf_len as u64
}

#[test]
fn same_trees_as_quick_xml() {
    for seed in SEEDS {
        let s = generate(STREAM_BYTES, seed);
        // The generator writes "\r" only in keepalives between stanzas and
        // no tab, LF or CR inside stanzas at all: line-end and attribute
        // value normalization are compared by the "roughened" test below.
        let quick = run_quick_xml(&s.bytes);
        assert_eq!(quick.error, None, "seed {seed}: quick-xml failed");
        assert!(quick.closed, "seed {seed}: quick-xml saw no stream close");
        assert_eq!(quick.stanzas.len(), s.stanzas, "seed {seed}: quick-xml");
        // The comparison covers decoded references in text and attributes.
        let (mut texts, mut values) = (String::new(), String::new());
        quick
            .stanzas
            .iter()
            .for_each(|t| collect(t, &mut texts, &mut values));
        for c in ['&', '<', '>', '\'', '"', 'é', '😀', 'П'] {
            assert!(texts.contains(c), "seed {seed}: no {c:?} in text");
        }
        assert!(values.contains('é') && values.contains('&'), "seed {seed}");
        let largest = quick.spans.iter().map(|(a, b)| b - a).max().unwrap();
        for buf_len in BUFFERS {
            assert!(largest as usize <= buf_len, "seed {seed}: stanza too big");
            let pico = run_picoxmpp(&s.bytes, buf_len, chunk_seed(seed, buf_len));
            let ctx = format!("seed {seed}, buffer {buf_len}");
            assert_eq!(pico.error, None, "{ctx}: picoxmpp failed");
            assert_eq!((pico.opened, pico.closed), (1, 1), "{ctx}");
            assert_eq!(pico.stanzas.len(), s.stanzas, "{ctx}: picoxmpp");
            for (i, (p, q)) in pico.stanzas.iter().zip(&quick.stanzas).enumerate() {
                let (from, to) = quick.spans[i];
                assert_eq!(
                    p,
                    q,
                    "{ctx}, stanza {i} (left picoxmpp, right quick-xml): {}",
                    String::from_utf8_lossy(&s.bytes[from as usize..to as usize])
                );
            }
        }
    }
}

/// Rewrites one generated stanza with what the generator never writes:
/// literal CR, CRLF, LF and tab in character data and attribute values,
/// character references to them (which must survive normalization), and
/// CDATA sections (whose content is not unescaped).
fn roughen(stanza: &str, rng: &mut SplitMix64) -> String {
    const BREAKS: &[&str] = &["\r\n", "\r", "\n", "\t", " ", "\r\r\n"];
    const REFS: &[&str] = &["&#9;", "&#10;", "&#13;", "&#xD;&#xA;", "&#32;"];
    let mut out = String::with_capacity(stanza.len() * 2);
    let mut rest = stanza;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            // A tag: the generator writes no '>' in attribute values.
            let end = rest.find('>').expect("a whole tag") + 1;
            let (mut quote, mut in_ref, mut ns_decl) = (None, false, false);
            for c in rest[..end].chars() {
                out.push(c);
                in_ref = (in_ref || c == '&') && c != ';';
                match (quote, c) {
                    // Namespace names are left alone: picoxmpp deliberately
                    // refuses references in them (`invalid-namespace`: it
                    // compares them as written), quick-xml accepts them.
                    (None, '\'' | '"') => {
                        let name = out[..out.len() - 2].rsplit(' ').next();
                        quote = Some(c);
                        ns_decl = name.is_some_and(|n| n.starts_with("xmlns"));
                    }
                    (Some(_), _) if ns_decl => quote = quote.filter(|&q| q != c),
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), ' ') => {
                        out.pop();
                        out.push_str(BREAKS[rng.below(BREAKS.len())]);
                    }
                    (Some(_), c) if !in_ref && c.is_ascii_alphanumeric() && rng.chance(3) => {
                        out.push_str(REFS[rng.below(REFS.len())]);
                    }
                    _ => {}
                }
            }
            rest = &rest[end..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let mut text = String::new();
            for c in rest[..end].chars() {
                match c {
                    ' ' if rng.chance(50) => text.push_str(BREAKS[rng.below(BREAKS.len())]),
                    ' ' if rng.chance(10) => text.push_str(REFS[rng.below(REFS.len())]),
                    c => text.push(c),
                }
            }
            if !text.contains('&') && rng.chance(20) {
                out.push_str("<![CDATA[");
                out.push_str(&text);
                out.push_str("]]>");
            } else if text.contains('&') && rng.chance(20) {
                // Escapes in CDATA stay as written; "]]" is not its end.
                out.push_str("<![CDATA[");
                out.push_str(&text);
                out.push_str(" ]] ]]>");
            } else {
                out.push_str(&text);
            }
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn same_trees_with_line_ends_and_cdata() {
    for seed in [11, 12, 13] {
        let s = generate(100_000, seed);
        let spans = run_quick_xml(&s.bytes).spans;
        let mut rng = SplitMix64::new(seed);
        let mut bytes = s.bytes[..spans[0].0 as usize].to_vec();
        for (i, &(from, to)) in spans.iter().enumerate() {
            let stanza = std::str::from_utf8(&s.bytes[from as usize..to as usize]).unwrap();
            bytes.extend_from_slice(roughen(stanza, &mut rng).as_bytes());
            let next = spans.get(i + 1).map_or(s.bytes.len(), |n| n.0 as usize);
            bytes.extend_from_slice(&s.bytes[to as usize..next]);
        }

        let quick = run_quick_xml(&bytes);
        assert_eq!(quick.error, None, "seed {seed}: quick-xml failed");
        assert_eq!(quick.stanzas.len(), s.stanzas, "seed {seed}: quick-xml");
        let (mut texts, mut values) = (String::new(), String::new());
        quick
            .stanzas
            .iter()
            .for_each(|t| collect(t, &mut texts, &mut values));
        for c in ['\r', '\n', '\t'] {
            assert!(
                texts.contains(c) && values.contains(c),
                "seed {seed}: {c:?}"
            );
        }
        assert!(
            texts.contains("&amp;") && texts.contains("]]"),
            "seed {seed}"
        );
        for buf_len in BUFFERS {
            let pico = run_picoxmpp(&bytes, buf_len, chunk_seed(seed, buf_len));
            let ctx = format!("seed {seed} roughened, buffer {buf_len}");
            assert_eq!(pico.error, None, "{ctx}: picoxmpp failed");
            assert_eq!(pico.stanzas.len(), s.stanzas, "{ctx}: picoxmpp");
            for (i, (p, q)) in pico.stanzas.iter().zip(&quick.stanzas).enumerate() {
                let (from, to) = quick.spans[i];
                assert_eq!(
                    p,
                    q,
                    "{ctx}, stanza {i} (left picoxmpp, right quick-xml): {:?}",
                    String::from_utf8_lossy(&bytes[from as usize..to as usize])
                );
            }
        }
    }
}

/// The mutated stanza, or `None` when the mutation does not apply to it.
type Mutation = fn(&str) -> Option<String>;

fn replace_last(s: &str, from: &str, to: &str) -> Option<String> {
    let i = s.rfind(from)?;
    Some(format!("{}{to}{}", &s[..i], &s[i + from.len()..]))
}

/// A space after the first `&` of a reference in character data or (with
/// `in_attr`) in an attribute value: `&amp;` becomes `& amp;`.
fn bare_ampersand(s: &str, in_attr: bool) -> Option<String> {
    // The generator writes no literal `'` in text and no `>` in values.
    let i = s
        .match_indices('&')
        .map(|(i, _)| i)
        .find(|&i| (s[..i].rfind('\'') > s[..i].rfind('>')) == in_attr)?;
    Some(format!("{}& {}", &s[..i], &s[i + 1..]))
}

const MUTATIONS: &[(&str, Mutation)] = &[
    ("mismatched stanza end tag", |s| {
        replace_last(s, "</message>", "</mesage>")
    }),
    ("mismatched child end tag", |s| {
        replace_last(s, "</body>", "</bdy>")
    }),
    ("duplicate attribute", |s| {
        let rest = s.strip_prefix("<message ")?;
        Some(format!("<message type='chat' {rest}"))
    }),
    ("bare ampersand in text", |s| bare_ampersand(s, false)),
    ("bare ampersand in an attribute", |s| {
        bare_ampersand(s, true)
    }),
    ("unbound prefix", |s| {
        let s = s.replacen("<body>", "<x:body>", 1);
        replace_last(&s, "</body>", "</x:body>")
    }),
    ("unterminated character reference", |s| {
        replace_last(s, "&#233;", "&#233 ")
    }),
];

#[test]
fn same_rejections_as_quick_xml() {
    for seed in [5, 6, 7] {
        let s = generate(100_000, seed);
        let quick = run_quick_xml(&s.bytes);
        assert_eq!(quick.error, None, "seed {seed}");
        let mut rng = SplitMix64::new(seed);
        for &(what, mutate) in MUTATIONS {
            // The first stanza the mutation applies to, from a random one.
            let first = rng.below(quick.spans.len() / 2);
            let Some((idx, mutated)) = (first..quick.spans.len()).find_map(|i| {
                let (from, to) = quick.spans[i];
                let stanza = std::str::from_utf8(&s.bytes[from as usize..to as usize]).unwrap();
                mutate(stanza).map(|m| (i, m))
            }) else {
                panic!("seed {seed}: no stanza for mutation {what}");
            };
            let (from, to) = quick.spans[idx];
            let (from, to) = (from as usize, to as usize);
            let mut bytes = s.bytes[..from].to_vec();
            bytes.extend_from_slice(mutated.as_bytes());
            bytes.extend_from_slice(&s.bytes[to..]);
            let ctx = format!("seed {seed}, {what} in stanza {idx}: {mutated}");

            let q = run_quick_xml(&bytes);
            assert!(q.error.is_some(), "{ctx}: quick-xml accepted it");
            assert_eq!(q.stanzas.len(), idx, "{ctx}: quick-xml");

            for buf_len in BUFFERS {
                let p = run_picoxmpp(&bytes, buf_len, chunk_seed(seed, buf_len));
                let ctx = format!("{ctx} (buffer {buf_len}; quick-xml: {:?})", q.error);
                let err = p
                    .error
                    .unwrap_or_else(|| panic!("{ctx}: picoxmpp accepted it"));
                assert_eq!(
                    err.condition,
                    StreamErrorCondition::NotWellFormed,
                    "{ctx}: {err}"
                );
                let end = from + mutated.len();
                assert!(
                    (from as u64..end as u64).contains(&err.offset),
                    "{ctx}: {err} outside the stanza at {from}..{end}"
                );
                assert_eq!(p.stanzas.len(), idx, "{ctx}: picoxmpp");
                assert_eq!(p.stanzas, q.stanzas, "{ctx}: stanzas before the error");
            }
        }
    }
}
