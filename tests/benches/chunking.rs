//! Feeding granularity: the parser's work must be linear in the input, so a
//! large stanza fed one byte at a time costs the same per byte as fed whole
//! (only the per-call overhead differs), never quadratically more.
//!
//! One stanza (a start tag with 24 long attributes, then a long body) of
//! 16 KiB and of 64 KiB is parsed whole, in 7-byte pieces and one byte at
//! a time. The summary prints the cost per byte of each against whole, and
//! the cost per byte at 64 KiB against 16 KiB: about 1 for a linear parser,
//! about 4 for a quadratic one.
//!
//! Run with `cargo bench -p picoxmpp-tests --bench chunking`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use picoxmpp::xml::{Event, Limits, StreamParser};

const HEADER: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// The stream: a header, then one message of about `size` bytes.
fn input(size: usize) -> Vec<u8> {
    let mut v = HEADER.to_vec();
    v.extend_from_slice(b"<message");
    for i in 0..24 {
        v.extend_from_slice(format!(" a{i}='{}'", "v&amp;".repeat(100)).as_bytes());
    }
    v.extend_from_slice(b"><body>");
    while v.len() < size {
        v.extend_from_slice(
            "Wherefore art thou, Romeo? Deny thy father &amp; refuse thy name. ".as_bytes(),
        );
    }
    v.extend_from_slice(b"</body></message>");
    v
}

/// Parses `data` fed `chunk` bytes at a time; returns the elements seen.
fn parse(data: &[u8], chunk: usize) -> usize {
    let mut buf = vec![0u8; 128 * 1024];
    let limits = Limits {
        max_attributes: 32,
        ..Limits::for_buffer(buf.len())
    };
    let mut p = StreamParser::with_limits(&mut buf, limits);
    let mut rest = data;
    let mut elements = 0;
    loop {
        while let Some(ev) = p.next().expect("valid stream") {
            if let Event::Element(el) = ev {
                elements += 1;
                black_box(el.name());
            }
        }
        if rest.is_empty() {
            return elements;
        }
        let n = p.feed(&rest[..chunk.min(rest.len())]);
        rest = &rest[n..];
    }
}

const CHUNKS: [(usize, &str); 3] = [
    (usize::MAX, "whole"),
    (7, "7-byte pieces"),
    (1, "byte by byte"),
];

const SIZES: [usize; 2] = [16 * 1024, 64 * 1024];

fn bench(c: &mut Criterion) {
    for size in SIZES {
        let data = input(size);
        let mut g = c.benchmark_group(format!("feed_granularity/{}KiB", size / 1024));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        for (chunk, name) in CHUNKS {
            g.bench_function(name, |b| b.iter(|| assert_eq!(parse(&data, chunk), 1)));
        }
        g.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // A summary measured side by side in this run, interleaved rounds.
    if std::env::args().any(|a| a == "--bench") {
        let inputs: Vec<Vec<u8>> = SIZES.iter().map(|s| input(*s)).collect();
        // Seconds per byte, best of 5, by [size][chunking].
        let mut best = [[f64::MAX; 3]; 2];
        for _ in 0..5 {
            for (s, data) in inputs.iter().enumerate() {
                for (i, (chunk, _)) in CHUNKS.iter().enumerate() {
                    let t = Instant::now();
                    assert_eq!(parse(data, *chunk), 1);
                    best[s][i] = best[s][i].min(t.elapsed().as_secs_f64() / data.len() as f64);
                }
            }
        }
        println!("\nfeed_granularity: best of 5 interleaved rounds");
        for (s, data) in inputs.iter().enumerate() {
            for (i, (_, name)) in CHUNKS.iter().enumerate() {
                println!(
                    "{:>6} bytes {name:<14} {:>8.1} MB/s  {:>6.2}x the cost per byte of whole",
                    data.len(),
                    1.0 / best[s][i] / 1e6,
                    best[s][i] / best[s][0]
                );
            }
        }
        for (i, (_, name)) in CHUNKS.iter().enumerate() {
            println!(
                "{name:<14} cost per byte, 64 KiB against 16 KiB: {:.2} (linear: 1)",
                best[1][i] / best[0][i]
            );
        }
    }
}
