// Invariant: for arbitrary bytes split at arbitrary points, either every
// event (stream open, each top-level element, stream close) is produced
// identically to the unsplit run and the run ends the same way, or the same
// stream error is produced (same condition and offset, and same events
// before it); and never a panic.
//
// "Identically" means the owned descriptions below are equal: for elements
// the raw bytes and a full walk of the view (names, namespaces, prefixes,
// decoded attributes and text, children, prefix lookups); for the header
// its typed accessors. "Ends the same way" means: the same error, or (input
// exhausted) the same `is_open()` and `buffered()`. Walking the views also
// checks that the accessors never panic and agree with each other; an
// error must be returned again by every later `next()`; `feed` must take
// at least one byte after `next()` returned `Ok(None)` (the parser reports
// `policy-violation` before one incomplete element fills its buffer).
//
// Input layout (HEADER = 6 control bytes, then the stream):
//   [0..2]  receive buffer size: 64 + (u16 little-endian % 4033), 64..=4096
//   [2]     custom limits (if [3] bit 7): bits 0-4 max_stanza_bytes
//           (0: usize::MAX, 1..=16: size * k / 16, else: size), bits 5-7
//           max_depth (1, 2, 4, 8, 16, 24, 32, 64; the parser caps at 32)
//   [3]     bit 7: use `StreamParser::with_limits`, else `StreamParser::new`;
//           bits 0-5: max_attributes (0..=63; the parser caps at 32)
//   [4]     bits 0-1: chunk-size mode of the split run (1..=3 bytes,
//           1..=17, 1..=300, or a mix of single bytes and chunks up to twice
//           the buffer); bits 2-7 and [5]: PRNG seed (chunk sizes, and
//           `feed` versus `receive_buffer` + `commit`)
//   [6..]   the stream
//
// Both runs call `restart()` right after an element whose local name is
// `success` or `proceed` (as a client does after SASL and STARTTLS), so the
// restart path is reached; the events up to there are identical, so both
// runs restart at the same point of the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picoxmpp::error::{StreamErrorCondition, XmlError};
use picoxmpp::xml::{ContentNamespace, Element, Event, Limits, StreamHeader, StreamParser, Text};

const HEADER: usize = 6;

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER {
        return;
    }
    let (ctl, stream) = data.split_at(HEADER);
    let buf_len = 64 + (u16::from_le_bytes([ctl[0], ctl[1]]) as usize % 4033);
    let limits = (ctl[3] & 0x80 != 0).then(|| Limits {
        max_stanza_bytes: match ctl[2] & 0x1f {
            0 => usize::MAX,
            k @ 1..=16 => (buf_len * k as usize / 16).max(1),
            _ => buf_len,
        },
        max_depth: [1, 2, 4, 8, 16, 24, 32, 64][(ctl[2] >> 5) as usize],
        max_attributes: (ctl[3] & 0x3f) as usize,
    });
    let seed = (u64::from(ctl[4] >> 2) << 8 | u64::from(ctl[5])) ^ 0x9e37_79b9_7f4a_7c15;
    let mode = ctl[4] & 3;

    let whole = run(stream, buf_len, limits, None);
    let split = run(stream, buf_len, limits, Some((Rng(seed), mode)));
    if whole.events != split.events || whole.end != split.end {
        let first = whole
            .events
            .iter()
            .zip(&split.events)
            .position(|(a, b)| a != b);
        panic!(
            "split run differs from the unsplit run\n\
             buffer {buf_len}, limits {limits:?}, chunk mode {mode}, seed {seed:#x}\n\
             unsplit: {} events, end {:?} ({:?})\n\
             split:   {} events, end {:?} ({:?})\n\
             first differing event: {first:?}\n\
             unsplit event there: {:#?}\n\
             split event there:   {:#?}",
            whole.events.len(),
            whole.end,
            whole.reason,
            split.events.len(),
            split.end,
            split.reason,
            first.map(|i| &whole.events[i]),
            first.map(|i| &split.events[i]),
        );
    }
});

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in 1..=n.
    fn upto(&mut self, n: usize) -> usize {
        1 + (self.next() % n as u64) as usize
    }
}

#[derive(Debug, PartialEq)]
enum End {
    /// The stream error: condition and offset (the reason is kept apart,
    /// for the report only).
    Error(StreamErrorCondition, u64),
    /// The input ran out without an error.
    Exhausted { is_open: bool, buffered: usize },
}

struct Outcome {
    events: Vec<Ev>,
    end: End,
    reason: Option<&'static str>,
}

/// One run: the unsplit one (`split` is `None`: every feed offers all the
/// remaining bytes, the parser takes what fits) or a split one.
fn run(
    stream: &[u8],
    buf_len: usize,
    limits: Option<Limits>,
    mut split: Option<(Rng, u8)>,
) -> Outcome {
    let mut buf = vec![0u8; buf_len];
    let mut p = match limits {
        None => StreamParser::new(&mut buf),
        Some(l) => StreamParser::with_limits(&mut buf, l),
    };
    let want = limits.unwrap_or(Limits::for_buffer(buf_len));
    assert_eq!(
        p.limits(),
        Limits {
            max_stanza_bytes: want.max_stanza_bytes,
            max_depth: want.max_depth.min(32),
            max_attributes: want.max_attributes.min(32),
        }
    );
    let mut events = Vec::new();
    let mut pos = 0;
    // End of the chunk being delivered (a feed may take only part of it).
    let mut chunk_end = 0;
    loop {
        // Drain.
        loop {
            let mut restart = false;
            match p.next() {
                Ok(Some(Event::StreamOpen(h))) => events.push(Ev::Open(header_desc(&h))),
                Ok(Some(Event::Element(el))) => {
                    restart = matches!(el.name(), "success" | "proceed");
                    events.push(Ev::Element(el_desc(&el)));
                }
                Ok(Some(Event::StreamClose)) => events.push(Ev::Close),
                Ok(None) => break,
                Err(e) => return failed(p, e, events, &stream[pos..]),
            }
            if restart {
                p.restart();
            }
        }
        assert_eq!(p.error(), None);
        if pos == stream.len() {
            let end = End::Exhausted {
                is_open: p.is_open(),
                buffered: p.buffered(),
            };
            let _ = format!("{p:?}");
            assert!(!p.receive_buffer().is_empty(), "no room after Ok(None)");
            return Outcome {
                events,
                end,
                reason: None,
            };
        }
        // Deliver the next bytes.
        let mut use_commit = false;
        if pos >= chunk_end {
            chunk_end = match &mut split {
                None => stream.len(),
                Some((rng, mode)) => {
                    let n = match mode {
                        0 => rng.upto(3),
                        1 => rng.upto(17),
                        2 => rng.upto(300),
                        _ if rng.next() % 4 == 0 => 1,
                        _ => rng.upto(2 * buf_len),
                    };
                    (pos + n).min(stream.len())
                }
            };
        }
        if let Some((rng, _)) = &mut split {
            use_commit = rng.next() & 1 == 1;
        }
        let bytes = &stream[pos..chunk_end];
        let taken = if use_commit {
            let rx = p.receive_buffer();
            let n = rx.len().min(bytes.len());
            rx[..n].copy_from_slice(&bytes[..n]);
            p.commit(n);
            n
        } else {
            p.feed(bytes)
        };
        assert!(
            taken > 0,
            "next() returned Ok(None) but the receive buffer is full \
             ({} bytes offered, {p:?})",
            bytes.len()
        );
        pos += taken;
    }
}

/// After an error: every later call returns it, even with more input.
fn failed(mut p: StreamParser<'_>, e: XmlError, events: Vec<Ev>, rest: &[u8]) -> Outcome {
    assert_eq!(p.error(), Some(e));
    assert!(!p.is_open());
    assert!(matches!(p.next(), Err(e2) if e2 == e), "error not sticky");
    p.feed(rest);
    assert!(matches!(p.next(), Err(e2) if e2 == e), "error not sticky after feed");
    let _ = format!("{p:?} {e}");
    Outcome {
        events,
        end: End::Error(e.condition, e.offset),
        reason: Some(e.reason),
    }
}

// ---------------------------------------------------------------------------
// Owned descriptions of events, built by walking the views

#[derive(Debug, PartialEq)]
enum Ev {
    Open(HeaderDesc),
    Element(ElDesc),
    Close,
}

#[derive(Debug, PartialEq)]
struct HeaderDesc {
    raw: Vec<u8>,
    to: Option<TextDesc>,
    from: Option<TextDesc>,
    id: Option<TextDesc>,
    lang: Option<TextDesc>,
    version: Option<TextDesc>,
    version_number: Option<(u16, u16)>,
    content_namespace: ContentNamespace,
    attrs: Vec<AttrDesc>,
}

#[derive(Debug, PartialEq)]
struct ElDesc {
    raw: Vec<u8>,
    qname: String,
    name: String,
    prefix: Option<String>,
    namespace: String,
    attrs: Vec<AttrDesc>,
    text: TextDesc,
    is_empty: bool,
    stream_prefix: Option<String>,
    children: Vec<ElDesc>,
}

#[derive(Debug, PartialEq)]
struct AttrDesc {
    name: String,
    is_declaration: bool,
    /// The namespace the attribute's prefix resolves to (elements only).
    prefix_ns: Option<String>,
    value: TextDesc,
}

#[derive(Debug, PartialEq)]
struct TextDesc {
    raw: String,
    decoded: String,
    chars: usize,
}

fn text_desc(t: Text<'_>) -> TextDesc {
    let decoded = t.to_string();
    let mut chunks = String::new();
    for c in t.chunks() {
        chunks.push_str(c.as_str());
        let _ = format!("{c:?}");
    }
    assert_eq!(chunks, decoded, "chunks and Display disagree");
    assert_eq!(t.chars().collect::<String>(), decoded, "chars disagree");
    let chars = t.chars().count();
    assert_eq!(chars, decoded.chars().count());
    assert_eq!(t.decoded_len(), decoded.len());
    assert_eq!(t.is_empty(), decoded.is_empty());
    assert!(t.eq_str(&decoded));
    assert!(t == decoded.as_str());
    if let Some(s) = t.as_str() {
        assert_eq!(s, decoded, "as_str disagrees with the decoded text");
        assert_eq!(s, t.raw());
    }
    let mut out = vec![0u8; decoded.len()];
    assert_eq!(t.decode_into(&mut out), Ok(decoded.as_str()));
    if !decoded.is_empty() {
        let mut small = vec![0u8; decoded.len() - 1];
        assert_eq!(
            t.decode_into(&mut small).map_err(|e| e.needed),
            Err(decoded.len())
        );
    }
    let _ = format!("{t:?}");
    TextDesc {
        raw: t.raw().to_string(),
        decoded,
        chars,
    }
}

fn header_desc(h: &StreamHeader<'_>) -> HeaderDesc {
    let raw = h.as_bytes();
    assert!(raw.starts_with(b"<") && raw.ends_with(b">"), "{raw:?}");
    let attrs = h
        .attrs()
        .map(|a| {
            assert!(h.attr(a.name) == Some(a.value), "attr() misses {}", a.name);
            AttrDesc {
                name: a.name.to_string(),
                is_declaration: a.is_namespace_declaration(),
                prefix_ns: None,
                value: text_desc(a.value),
            }
        })
        .collect();
    let _ = format!("{h:?}");
    HeaderDesc {
        raw: raw.to_vec(),
        to: h.to().map(text_desc),
        from: h.from().map(text_desc),
        id: h.id().map(text_desc),
        lang: h.lang().map(text_desc),
        version: h.version().map(text_desc),
        version_number: h.version_number(),
        content_namespace: h.content_namespace(),
        attrs,
    }
}

fn el_desc(el: &Element<'_>) -> ElDesc {
    let raw = el.as_bytes();
    // The parser checked the element whole: the view must read it.
    assert!(raw.starts_with(b"<") && raw.ends_with(b">"), "{raw:?}");
    assert_eq!(el.as_str().as_bytes(), raw, "checked element not UTF-8");
    let qname = el.qname();
    assert!(!qname.is_empty(), "checked element without a name");
    let name = el.name();
    let prefix = el.prefix();
    match prefix {
        Some(p) => {
            assert_eq!(format!("{p}:{name}"), qname);
            // Every prefix was bound when the parser checked it.
            let ns = el.lookup_prefix(p);
            assert!(ns.is_some(), "element prefix {p} does not resolve");
            assert_eq!(ns, Some(el.namespace()));
        }
        None => assert_eq!(name, qname),
    }
    let namespace = el.namespace();
    assert!(el.is(name, namespace));
    let attrs = el
        .attrs()
        .map(|a| {
            assert!(el.attr(a.name) == Some(a.value), "attr() misses {}", a.name);
            let prefix_ns = match a.prefix() {
                Some(p) if p != "xmlns" => {
                    assert_eq!(format!("{p}:{}", a.local_name()), a.name);
                    let ns = el.lookup_prefix(p);
                    assert!(ns.is_some(), "attribute prefix {p} does not resolve");
                    ns.map(str::to_string)
                }
                _ => None,
            };
            AttrDesc {
                name: a.name.to_string(),
                is_declaration: a.is_namespace_declaration(),
                prefix_ns,
                value: text_desc(a.value),
            }
        })
        .collect();
    let text = text_desc(el.text());
    let is_empty = el.is_empty();
    let children: Vec<ElDesc> = el
        .children()
        .map(|c| {
            assert!(
                el.child(c.name(), c.namespace()).is_some(),
                "child() misses a child"
            );
            el_desc(&c)
        })
        .collect();
    if is_empty {
        assert!(children.is_empty() && text.decoded.is_empty());
    }
    let _ = format!("{el:?}");
    ElDesc {
        raw: raw.to_vec(),
        qname: qname.to_string(),
        name: name.to_string(),
        prefix: prefix.map(str::to_string),
        namespace: namespace.to_string(),
        attrs,
        text,
        is_empty,
        stream_prefix: el.lookup_prefix("stream").map(str::to_string),
        children,
    }
}
