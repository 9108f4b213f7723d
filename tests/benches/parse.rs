//! Comparative streaming-parse benchmark: picoxmpp against the Rust XML and
//! XMPP parsers people would otherwise use.
//!
//! Every entry parses the same generated server-to-client stream (about 20 MB
//! by default, 1 MB when run as a test, `PICOXMPP_BENCH_BYTES` to choose, as
//! in `PICOXMPP_BENCH_BYTES=2_000_000`), fed as from a socket that
//! hands out at most 16 KiB per read, counts the top-level stanzas and checks
//! the count against the generator's. After criterion's own report a summary
//! table gives MB/s, stanzas/s and how many times faster picoxmpp is.
//!
//! Run with `cargo bench -p picoxmpp-tests --bench parse`; criterion options
//! (a filter, `--sample-size`, `--measurement-time`) go after `--`.

use std::hint::black_box;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use picoxmpp_tests::{generate, ChunkedReader, GeneratedStream, CHUNK};

/// Name of the criterion group (and of its directory under
/// `target/criterion`).
const GROUP: &str = "parse_stream";

/// Default size of the generated stream, in bytes.
const DEFAULT_BYTES: usize = 20_000_000;

/// Default size when the benchmark only runs as a test (`cargo test
/// --benches`: one pass per entry, nothing measured).
const TEST_MODE_BYTES: usize = 1_000_000;

/// Seed of the generated stream: fixed, so runs compare.
const SEED: u64 = 0x5EED_0FC0_FFEE;

/// A benchmark entry: its criterion id and the function that parses a whole
/// stream and returns the number of stanzas it saw.
struct Entry {
    id: &'static str,
    parse: fn(&[u8]) -> usize,
}

const PICOXMPP: &str = "picoxmpp";

const ENTRIES: &[Entry] = &[
    Entry {
        id: PICOXMPP,
        parse: parse_picoxmpp,
    },
    Entry {
        id: "quick-xml Reader (raw)",
        parse: parse_quick_xml_raw,
    },
    Entry {
        id: "quick-xml NsReader",
        parse: parse_quick_xml_ns,
    },
    Entry {
        id: "rxml",
        parse: parse_rxml,
    },
    Entry {
        id: "minidom",
        parse: parse_minidom,
    },
    Entry {
        id: "xmpp-parsers",
        parse: parse_xmpp_parsers,
    },
];

/// The stream under test, generated once.
fn stream() -> &'static GeneratedStream {
    static STREAM: OnceLock<GeneratedStream> = OnceLock::new();
    STREAM.get_or_init(|| {
        let bytes = match std::env::var("PICOXMPP_BENCH_BYTES") {
            Ok(v) => v
                .replace('_', "")
                .parse()
                .expect("PICOXMPP_BENCH_BYTES must be a number of bytes"),
            Err(_) if measuring() => DEFAULT_BYTES,
            Err(_) => TEST_MODE_BYTES,
        };
        let s = generate(bytes, SEED);
        eprintln!(
            "{GROUP}: {} bytes, {} stanzas ({} message, {} presence, {} iq), {:.0} bytes/stanza, \
             fed in chunks of {} bytes",
            s.bytes.len(),
            s.stanzas,
            s.messages,
            s.presences,
            s.iqs,
            s.mean_stanza_len(),
            CHUNK
        );
        s
    })
}

/// The socket the std-based parsers read from: at most [`CHUNK`] bytes per
/// read, copied into a `BufReader` of that size.
fn socket(bytes: &[u8]) -> BufReader<ChunkedReader<'_>> {
    BufReader::with_capacity(CHUNK, ChunkedReader::new(bytes, CHUNK))
}

/// picoxmpp: a fixed 64 KiB buffer; each socket read is copied straight into
/// the parser's receive buffer, then every complete event is drained.
fn parse_picoxmpp(bytes: &[u8]) -> usize {
    use picoxmpp::xml::{Event, Limits, StreamParser};
    let mut buf = vec![0u8; 64 * 1024];
    let limits = Limits::for_buffer(buf.len());
    let mut parser = StreamParser::with_limits(&mut buf[..], limits);
    let mut input = ChunkedReader::new(bytes, CHUNK);
    let mut stanzas = 0;
    let mut closed = false;
    while !input.remaining().is_empty() {
        let rx: &mut [u8] = parser.receive_buffer();
        assert!(!rx.is_empty(), "picoxmpp receive buffer full");
        let chunk = input.next_chunk(rx.len());
        rx[..chunk.len()].copy_from_slice(chunk);
        parser.commit(chunk.len());
        while let Some(ev) = parser.next().expect("valid stream") {
            match ev {
                Event::StreamOpen(_) => {}
                Event::Element(el) => {
                    stanzas += 1;
                    black_box(el.name());
                }
                Event::StreamClose => closed = true,
            }
        }
    }
    assert!(closed, "picoxmpp saw no </stream:stream>");
    stanzas
}

/// quick-xml `Reader` over the socket, events into one reused `Vec`, depth
/// tracked to count the children of the root. Names are looked at, no
/// attribute or text is decoded (quick-xml still checks UTF-8 and end tags).
fn parse_quick_xml_raw(bytes: &[u8]) -> usize {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(socket(bytes));
    let mut buf = Vec::with_capacity(1024);
    let mut depth = 0usize;
    let mut stanzas = 0;
    loop {
        match reader.read_event_into(&mut buf).expect("valid stream") {
            Event::Start(e) => {
                if depth == 1 {
                    stanzas += 1;
                    black_box(e.local_name());
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 1 => {
                stanzas += 1;
                black_box(e.local_name());
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    assert_eq!(depth, 0, "quick-xml: stream not closed");
    stanzas
}

/// quick-xml `NsReader`: as the raw reader, plus namespace resolution of
/// every element name.
fn parse_quick_xml_ns(bytes: &[u8]) -> usize {
    use quick_xml::events::Event;
    let mut reader = quick_xml::NsReader::from_reader(socket(bytes));
    let mut buf = Vec::with_capacity(1024);
    let mut depth = 0usize;
    let mut stanzas = 0;
    loop {
        let (ns, ev) = reader
            .read_resolved_event_into(&mut buf)
            .expect("valid stream");
        match ev {
            Event::Start(e) => {
                if depth == 1 {
                    stanzas += 1;
                    black_box((ns, e.local_name()));
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 1 => {
                stanzas += 1;
                black_box((ns, e.local_name()));
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    assert_eq!(depth, 0, "quick-xml: stream not closed");
    stanzas
}

/// rxml `Reader` (namespace-resolving pull parser; attributes are decoded
/// into its `AttrMap`, text into `String`s) over the socket.
fn parse_rxml(bytes: &[u8]) -> usize {
    use rxml::Event;
    let mut reader = rxml::Reader::new(socket(bytes));
    let mut depth = 0usize;
    let mut stanzas = 0;
    while let Some(ev) = reader.read().expect("valid stream") {
        match ev {
            Event::StartElement(_, name, attrs) => {
                if depth == 1 {
                    stanzas += 1;
                    black_box((name, attrs));
                }
                depth += 1;
            }
            Event::EndElement(_) => depth -= 1,
            ev => {
                black_box(ev);
            }
        }
    }
    assert_eq!(depth, 0, "rxml: stream not closed");
    stanzas
}

/// Builds each stanza into a `minidom::Element` the way xmpp-rs did over a
/// stream: rxml `RawReader` events into minidom's `TreeBuilder`, whose root
/// is the stream element; when an element closes at depth 1, the stanza is
/// taken off the root with `unshift_child` and handed to `sink`.
fn for_each_minidom_stanza(bytes: &[u8], mut sink: impl FnMut(minidom::Element)) {
    use minidom::tree_builder::TreeBuilder;
    let mut reader = rxml::RawReader::new(socket(bytes));
    let mut tree = TreeBuilder::new();
    while let Some(ev) = reader.read().expect("valid stream") {
        let foot = matches!(ev, rxml::RawEvent::ElementFoot(_));
        tree.process_event(ev)
            .expect("namespace-well-formed stream");
        if foot && tree.depth() == 1 {
            sink(tree.unshift_child().expect("a stanza"));
        }
    }
    assert!(tree.root.is_some(), "minidom: stream not closed");
}

/// minidom: one `Element` tree per stanza (see
/// [`for_each_minidom_stanza`]).
fn parse_minidom(bytes: &[u8]) -> usize {
    let mut stanzas = 0;
    for_each_minidom_stanza(bytes, |el| {
        stanzas += 1;
        black_box(el);
    });
    stanzas
}

/// xmpp-parsers: each minidom stanza converted to the typed `Message`,
/// `Presence` or `Iq` (payloads stay `Element`s, as in xmpp-rs); counts the
/// successful conversions.
fn parse_xmpp_parsers(bytes: &[u8]) -> usize {
    use xmpp_parsers::{iq::Iq, message::Message, presence::Presence};
    let mut stanzas = 0;
    for_each_minidom_stanza(bytes, |el| {
        let ok = match el.name() {
            "message" => Message::try_from(el).map(|m| drop(black_box(m))).is_ok(),
            "presence" => Presence::try_from(el).map(|p| drop(black_box(p))).is_ok(),
            "iq" => Iq::try_from(el).map(|i| drop(black_box(i))).is_ok(),
            _ => false,
        };
        stanzas += usize::from(ok);
    });
    stanzas
}

fn parse_stream(c: &mut Criterion) {
    let s = stream();
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Bytes(s.bytes.len() as u64));
    // Each iteration takes tens to hundreds of milliseconds: equal-sized
    // samples keep the run short.
    group.sampling_mode(SamplingMode::Flat);
    for entry in ENTRIES {
        group.bench_function(entry.id, |b| {
            b.iter(|| {
                let n = (entry.parse)(black_box(&s.bytes));
                assert_eq!(n, s.stanzas, "{}: wrong stanza count", entry.id);
                n
            })
        });
    }
    group.finish();
}

/// Modest defaults so the whole group takes a couple of minutes on two
/// cores; command-line options still override them.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse_stream
}

fn main() {
    let started = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        print_summary(started);
    }
}

/// Whether this run measures: `cargo bench` passes `--bench`, while
/// `cargo test --benches` runs each entry once with nothing to summarize.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Where criterion writes its results, found the way criterion finds it.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    let from_metadata = std::env::var_os("CARGO").and_then(|cargo| {
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(PathBuf::from(meta["target_directory"].as_str()?))
    });
    match from_metadata {
        Some(target) => target.join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

/// Mean time of one iteration in nanoseconds, from criterion's
/// `new/estimates.json`, if this run wrote it.
fn mean_ns(dir: &Path, id: &str, started: SystemTime) -> Option<f64> {
    let path = dir.join(GROUP).join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < started {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn print_summary(started: SystemTime) {
    let s = stream();
    let dir = criterion_dir();
    let results: Vec<(&str, Option<f64>)> = ENTRIES
        .iter()
        .map(|e| (e.id, mean_ns(&dir, e.id, started)))
        .collect();
    let pico = results
        .iter()
        .find(|(id, _)| *id == PICOXMPP)
        .and_then(|(_, t)| *t);
    println!();
    println!(
        "{GROUP}: {} bytes, {} stanzas, {} bytes per read; criterion's mean estimates, \
         MB = 10^6 bytes, picoxmpp/entry = ratio of throughputs",
        s.bytes.len(),
        s.stanzas,
        CHUNK
    );
    println!(
        "{:<24} {:>12} {:>10} {:>14} {:>16}",
        "entry", "time/iter", "MB/s", "stanzas/s", "picoxmpp/entry"
    );
    for (id, t) in results {
        let Some(ns) = t else {
            println!("{id:<24} {:>12}", "not run");
            continue;
        };
        let secs = ns / 1e9;
        let ratio = match pico {
            Some(p) => format!("{:.2}x", ns / p),
            None => "-".to_owned(),
        };
        println!(
            "{:<24} {:>9.1} ms {:>10.1} {:>14.0} {:>16}",
            id,
            secs * 1e3,
            s.bytes.len() as f64 / secs / 1e6,
            s.stanzas as f64 / secs,
            ratio
        );
    }
}
