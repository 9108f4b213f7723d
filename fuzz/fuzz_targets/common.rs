//! What the fuzz targets share: a deterministic RNG, a server stream
//! header, and the check that a transmitted unit is well-formed.
#![allow(dead_code)]

use picoxmpp::xml::{Event, StreamParser};

pub struct Rng(pub u64);
impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^ (z >> 27)
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        d.iter_mut().for_each(|b| *b = self.next_u32() as u8)
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl rand_core::CryptoRng for Rng {}

pub const SERVER_HEADER: &[u8] = b"<stream:stream from='example.com' id='s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// Checks that one transmitted unit is well-formed XML on its own.
pub fn check_unit(unit: &[u8]) {
    if unit.iter().all(|b| b.is_ascii_whitespace()) && !unit.is_empty() {
        return; // a whitespace keepalive
    }
    let mut buf = [0u8; 8192];
    let mut p = StreamParser::new(&mut buf);
    let is_header = unit.starts_with(b"<?xml") || unit.starts_with(b"<stream:stream");
    if !is_header {
        p.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
        assert!(matches!(p.next(), Ok(Some(Event::StreamOpen(_)))));
    }
    assert_eq!(p.feed(unit), unit.len(), "unit larger than the check buffer");
    let mut events = 0;
    loop {
        match p.next() {
            Ok(Some(_)) => events += 1,
            Ok(None) => break,
            Err(e) => panic!("the client sent bad XML ({e}): {}", String::from_utf8_lossy(unit)),
        }
    }
    assert_eq!(events, 1, "not exactly one unit: {}", String::from_utf8_lossy(unit));
}
