//! The parser, the views, the writer and the JID code allocate nothing: a
//! counting global allocator sees no allocation on this thread while a whole
//! stream is written, parsed (byte by byte and whole) and read through.

use picoxmpp::jid::{Jid, JidBuf};
use picoxmpp::xml::{ElementBuilder, Event, Node, StreamHeaderBuilder, StreamParser};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(|w| w.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(|w| w.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watched<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, ALLOCATIONS.load(Ordering::SeqCst) - before)
}

/// Writes a stream of `n` messages into `out`; returns its length.
fn write_stream(out: &mut [u8], n: usize) -> usize {
    let mut len = StreamHeaderBuilder::new("jabber:client")
        .from("example.com")
        .id("s1")
        .write_to(out)
        .unwrap();
    for i in 0..n {
        let body = [Node::Text(if i % 2 == 0 {
            "Wherefore art thou, <Romeo> & 😀?"
        } else {
            "Dvořím se\r\nJulii"
        })];
        let kids = [
            Node::Element(ElementBuilder::new("body").children(&body)),
            Node::Element(
                ElementBuilder::new("active").ns("http://jabber.org/protocol/chatstates"),
            ),
        ];
        let msg = ElementBuilder::new("message")
            .attrs(&[
                ("to", "romeo@example.net/orchard"),
                ("type", "chat"),
                ("id", "o'1"),
            ])
            .children(&kids);
        len += msg.write_to(&mut out[len..]).unwrap();
        len += picoxmpp::xml::escape(" ", false, &mut out[len..]).unwrap();
    }
    len + StreamHeaderBuilder::write_close(&mut out[len..]).unwrap()
}

/// Parses `input` in chunks of `chunk` bytes and reads every view.
fn parse_all(buf: &mut [u8], input: &[u8], chunk: usize) -> (usize, usize) {
    let mut p = StreamParser::new(buf);
    let (mut elements, mut text_bytes) = (0, 0);
    let mut rest = input;
    let mut scratch = [0u8; 256];
    loop {
        while let Some(ev) = p.next().unwrap() {
            match ev {
                Event::StreamOpen(h) => assert!(h.id().unwrap().eq_str("s1")),
                Event::Element(el) => {
                    elements += 1;
                    assert_eq!(el.namespace(), "jabber:client");
                    for a in el.attrs() {
                        text_bytes += a.value.decode_into(&mut scratch).unwrap().len();
                    }
                    let to = el.attr("to").unwrap();
                    let to = to.decode_into(&mut scratch).unwrap();
                    assert!(Jid::parse(to).unwrap().is_full());
                    for c in el.children() {
                        text_bytes += c.text().chars().count();
                        text_bytes += c.namespace().len();
                    }
                }
                Event::StreamClose => {}
            }
        }
        if rest.is_empty() {
            return (elements, text_bytes);
        }
        let n = p.feed(&rest[..chunk.min(rest.len())]);
        rest = &rest[n..];
    }
}

#[test]
fn parser_writer_and_jids_allocate_nothing() {
    let mut out = vec![0u8; 1 << 16];
    let mut rx = vec![0u8; 2048];
    let ((len, jids), allocs) = watched(|| {
        let len = write_stream(&mut out, 100);
        let jid: JidBuf<64> =
            JidBuf::from_parts(Some("juliet"), "example.com", Some("balcony")).unwrap();
        (
            len,
            jid.as_jid().bare() == Jid::parse("Juliet@Example.com").unwrap(),
        )
    });
    assert_eq!(allocs, 0, "writer or JIDs allocated");
    assert!(jids);
    let input = out[..len].to_vec();
    for chunk in [1, 7, 1500, usize::MAX] {
        let ((elements, text), allocs) = watched(|| parse_all(&mut rx, &input, chunk));
        assert_eq!(allocs, 0, "parser allocated with chunks of {chunk}");
        assert_eq!(elements, 100);
        assert!(text > 0);
    }
    // The counter itself works.
    let (_, allocs) = watched(|| std::hint::black_box(vec![1u8; 10]));
    assert_eq!(allocs, 1);
}
