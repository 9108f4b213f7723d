//! `-v`: the XML transcript, from the bytes the connection writes and
//! reads (inside TLS), one top-level unit a line, `C:` for the client and
//! `S:` for the server as in the RFC 6120 examples.
//!
//! The SASL exchange is redacted: `<auth>` and `<response>` carry the
//! password (PLAIN) or a proof of it (SCRAM), and `<success>` carries the
//! SCRAM server signature, which, with the challenge, allows the same
//! offline guessing as the proof. Their text becomes `[redacted]`.

use crate::connection::Direction;
use std::borrow::Cow;

/// Elements whose text is replaced by `[redacted]` (RFC 6120 §6.4: the
/// SASL data that depends on the password).
const REDACTED: &[&str] = &["auth", "response", "success"];

/// Splits each direction's bytes into top-level units and renders them.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    sent: Splitter,
    received: Splitter,
}

impl Transcript {
    /// The lines for `bytes` going `direction`: one per unit completed.
    pub(crate) fn lines(&mut self, direction: Direction, bytes: &[u8]) -> Vec<String> {
        let (prefix, splitter) = match direction {
            Direction::Sent => ("C: ", &mut self.sent),
            Direction::Received => ("S: ", &mut self.received),
        };
        if direction == Direction::Sent
            && !bytes.is_empty()
            && bytes.iter().all(u8::is_ascii_whitespace)
        {
            // RFC 6120 §4.6.1: a whitespace keepalive is a unit of its own.
            return vec![format!("{prefix}(whitespace keepalive)")];
        }
        splitter.buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(unit) = splitter.next_unit() {
            let text = String::from_utf8_lossy(&unit);
            lines.push(format!("{prefix}{}", redact(&text)));
            if direction == Direction::Received && local_name(&text) == "proceed" {
                // RFC 6120 §5.4.3.3: TLS starts on the same connection.
                lines.push("   (TLS handshake)".to_owned());
            }
        }
        lines
    }
}

/// Bytes of one direction not yet rendered.
#[derive(Debug, Default)]
struct Splitter {
    buf: Vec<u8>,
}

impl Splitter {
    /// Takes the next complete unit off the buffer; whitespace between
    /// units is dropped.
    fn next_unit(&mut self) -> Option<Vec<u8>> {
        let start = self
            .buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.buf.len());
        self.buf.drain(..start);
        if self.buf.is_empty() {
            return None;
        }
        let len = unit_len(&self.buf)?;
        Some(self.buf.drain(..len).collect())
    }
}

/// The length of the first complete top-level unit of `b` (which does not
/// start with whitespace): an XML declaration, a stream header or close,
/// or a whole element. `None` while it is incomplete.
fn unit_len(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'<') {
        // Text at the stream level is not XMPP; show it up to the next tag.
        return Some(b.iter().position(|&c| c == b'<').unwrap_or(b.len()));
    }
    if b.starts_with(b"<?") {
        return find(b, b"?>").map(|i| i + 2);
    }
    let mut depth = 0usize;
    let mut i = 0;
    loop {
        let rest = b.get(i..).filter(|r| !r.is_empty())?;
        if rest[0] != b'<' {
            i += rest.iter().position(|&c| c == b'<')?;
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            i += find(rest, b"]]>")? + 3;
            continue;
        }
        let end = tag_end(rest)?;
        let tag = &rest[..=end];
        i += end + 1;
        if tag.starts_with(b"</") {
            depth = depth.saturating_sub(1);
        } else if tag.ends_with(b"/>") {
            // Empty element: no change.
        } else if depth == 0 && is_stream_header(tag) {
            // RFC 6120 §4.2: the header opens the stream, closed much later.
            return Some(i);
        } else {
            depth += 1;
        }
        if depth == 0 {
            return Some(i);
        }
    }
}

/// The index of the `>` that ends the tag at the start of `b`, skipping
/// quoted attribute values.
fn tag_end(b: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &c) in b.iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_stream_header(tag: &[u8]) -> bool {
    local_name(&String::from_utf8_lossy(tag)) == "stream"
}

/// The local name of the element a unit starts with (`stream` for
/// `<stream:stream ...>`).
fn local_name(unit: &str) -> &str {
    let name = unit.trim_start_matches('<').trim_start_matches('/');
    let end = name
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(name.len());
    let qname = &name[..end];
    qname.rsplit(':').next().unwrap_or(qname)
}

/// The unit with the text of a SASL element that depends on the password
/// replaced by `[redacted]`.
fn redact(unit: &str) -> Cow<'_, str> {
    if unit.starts_with("</") || !REDACTED.contains(&local_name(unit)) {
        return Cow::Borrowed(unit);
    }
    let Some(open_end) = tag_end(unit.as_bytes()) else {
        // An incomplete tag is never handed out; be safe anyway.
        return Cow::Owned("<[redacted]".to_owned());
    };
    if unit[..=open_end].ends_with("/>") {
        return Cow::Borrowed(unit);
    }
    match unit.rfind("</") {
        Some(close) if close > open_end + 1 => Cow::Owned(format!(
            "{}[redacted]{}",
            &unit[..=open_end],
            &unit[close..]
        )),
        Some(_) => Cow::Borrowed(unit),
        None => Cow::Owned(format!("{}[redacted]", &unit[..=open_end])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='example.com'>\
        <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
        <mechanism>PLAIN</mechanism></mechanisms></stream:features> \
        <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1wTkVMdC9z</success>\
        <message from='a@b' title='x > y'><body>1 &lt; 2<![CDATA[</body>]]></body></message>\
        </stream:stream>";

    const EXPECTED: [&str; 6] = [
        "S: <?xml version='1.0'?>",
        "S: <stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='example.com'>",
        "S: <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
        "S: <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>[redacted]</success>",
        "S: <message from='a@b' title='x > y'><body>1 &lt; 2<![CDATA[</body>]]></body></message>",
        "S: </stream:stream>",
    ];

    #[test]
    fn received_stream_whole() {
        let mut t = Transcript::default();
        assert_eq!(t.lines(Direction::Received, SERVER.as_bytes()), EXPECTED);
    }

    #[test]
    fn received_stream_byte_by_byte() {
        let mut t = Transcript::default();
        let lines: Vec<String> = SERVER
            .as_bytes()
            .iter()
            .flat_map(|b| t.lines(Direction::Received, &[*b]))
            .collect();
        assert_eq!(lines, EXPECTED);
    }

    #[test]
    fn sasl_payloads_are_redacted() {
        let mut t = Transcript::default();
        // base64("\0juliet\0r0m30myr0m30"), RFC 4616.
        let auth = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
            AGp1bGlldAByMG0zMG15cjBtMzA=</auth>";
        assert_eq!(
            t.lines(Direction::Sent, auth),
            [
                "C: <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
              [redacted]</auth>"
            ]
        );
        let response = b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdz</response>";
        assert_eq!(
            t.lines(Direction::Sent, response),
            ["C: <response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>[redacted]</response>"]
        );
        // Nothing to hide in an empty response or a challenge.
        let empty = "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
        assert_eq!(
            t.lines(Direction::Sent, empty.as_bytes()),
            [format!("C: {empty}")]
        );
    }

    #[test]
    fn keepalive_and_tls_marker() {
        let mut t = Transcript::default();
        assert_eq!(
            t.lines(Direction::Sent, b" "),
            ["C: (whitespace keepalive)"]
        );
        assert_eq!(
            t.lines(
                Direction::Received,
                b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
            ),
            [
                "S: <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
                "   (TLS handshake)"
            ]
        );
    }
}
