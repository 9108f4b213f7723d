//! The one escaping routine behind every text node and attribute value the
//! writer emits.
//!
//! All five predefined entities of XML 1.0 §4.6 are escaped everywhere, in
//! text and in attribute values alike: escaping `>` everywhere keeps `]]>`
//! out of character data (XML 1.0 §2.4), and escaping both quotes keeps an
//! attribute value safe whatever delimiter it sits in (§3.1). On top of that:
//!
//! - `\r` always becomes `&#xD;`, because XML 1.0 §2.11 end-of-line handling
//!   makes the reader turn a literal CR (or CR LF) into LF before anything
//!   else sees it; only a character reference survives;
//! - in attribute values `\t` and `\n` become `&#x9;` and `&#xA;`, because
//!   XML 1.0 §3.3.3 attribute-value normalization makes the reader turn a
//!   literal one into a space; only a character reference survives;
//! - a character outside XML 1.0 §2.2 `Char` (most C0 controls, U+FFFE,
//!   U+FFFF) cannot be carried at all, not even as a character reference
//!   (§4.1 WFC: Legal Character), so it is refused, never dropped.
//!
//! Everything else, including non-ASCII and astral characters, is copied
//! byte for byte: the stream is UTF-8 (RFC 6120 §11.6), so no reference is
//! needed for them.

use super::writer::WriteError;
use crate::error::BufferTooSmall;

/// What the escape table says about one byte.
///
/// `PLAIN` bytes are copied as they are; `1..=8` index [`REPLACEMENTS`];
/// `CHECK_EF` starts a three-byte sequence that may be U+FFFE or U+FFFF;
/// `INVALID` is a C0 control that XML 1.0 §2.2 excludes.
const PLAIN: u8 = 0;
const CHECK_EF: u8 = 0xFE;
const INVALID: u8 = 0xFF;

/// The replacement texts, indexed by the table value minus one.
const REPLACEMENTS: [&[u8]; 8] = [
    b"&amp;", b"&lt;", b"&gt;", b"&apos;", b"&quot;", b"&#xD;", b"&#x9;", b"&#xA;",
];

/// Builds the byte table for text (`attribute == false`) or attribute
/// values (`attribute == true`).
const fn table(attribute: bool) -> [u8; 256] {
    let mut t = [PLAIN; 256];
    // XML 1.0 §2.2: of the C0 controls only TAB, LF and CR are `Char`s.
    let mut b = 0;
    while b < 0x20 {
        t[b] = INVALID;
        b += 1;
    }
    t[b'&' as usize] = 1;
    t[b'<' as usize] = 2;
    t[b'>' as usize] = 3;
    t[b'\'' as usize] = 4;
    t[b'"' as usize] = 5;
    // XML 1.0 §2.11: a literal CR would be folded into LF by the reader.
    t[b'\r' as usize] = 6;
    if attribute {
        // XML 1.0 §3.3.3: a literal TAB or LF would become a space.
        t[b'\t' as usize] = 7;
        t[b'\n' as usize] = 8;
    } else {
        t[b'\t' as usize] = PLAIN;
        t[b'\n' as usize] = PLAIN;
    }
    // 0xEF leads the UTF-8 form of U+F000..=U+FFFF, which holds the two
    // noncharacters U+FFFE (EF BF BE) and U+FFFF (EF BF BF) that §2.2
    // excludes. Surrogates cannot occur in a `&str`, so nothing else in the
    // multi-byte range needs a look.
    t[0xEF] = CHECK_EF;
    t
}

static TEXT_TABLE: [u8; 256] = table(false);
static ATTR_TABLE: [u8; 256] = table(true);

/// Copies `bytes` to `out[pos..]` if they fit and returns the new position.
///
/// The position keeps growing past `out.len()`: that is how the writer
/// counts the size it would have needed. Once something did not fit, nothing
/// later can (positions only grow), so the output never has holes that a
/// caller could mistake for content.
#[inline]
pub(crate) fn put(out: &mut [u8], pos: usize, bytes: &[u8]) -> usize {
    // Saturating: only reachable with absurd inputs on small targets, and
    // then `needed` is simply reported as `usize::MAX`.
    let end = pos.saturating_add(bytes.len());
    if let Some(dst) = out.get_mut(pos..end) {
        dst.copy_from_slice(bytes);
    }
    end
}

/// The escaping core: writes the escaped form of `s` at `out[pos..]`, as
/// far as it fits, and returns the position after it, which may lie past
/// `out.len()` (see [`put`]). With an empty `out` it only counts.
///
/// Runs of plain bytes are copied whole; only the special bytes branch.
pub(crate) fn escape_at(
    s: &str,
    attribute: bool,
    out: &mut [u8],
    mut pos: usize,
) -> Result<usize, WriteError> {
    let table = if attribute { &ATTR_TABLE } else { &TEXT_TABLE };
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let class = table[usize::from(b)];
        if class == PLAIN {
            continue;
        }
        let replacement: &[u8] = match class {
            CHECK_EF => {
                // U+FFFE and U+FFFF are EF BF BE and EF BF BF; every other
                // EF sequence is an allowed character and stays in the run.
                if bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
                {
                    return Err(WriteError::InvalidChar);
                }
                continue;
            }
            INVALID => return Err(WriteError::InvalidChar),
            n => match REPLACEMENTS.get(usize::from(n) - 1) {
                Some(r) => r,
                // The table only holds the values above.
                None => return Err(WriteError::InvalidChar),
            },
        };
        pos = put(out, pos, bytes.get(run..i).unwrap_or_default());
        pos = put(out, pos, replacement);
        run = i + 1;
    }
    Ok(put(out, pos, bytes.get(run..).unwrap_or_default()))
}

/// Escapes `s` for XML 1.0 into `out` and returns the number of bytes
/// written.
///
/// With `attribute == false` the result is character data for element
/// content; with `attribute == true` it is an attribute value to put
/// between quotes (single or double: both are escaped). `&`, `<`, `>`, `'`
/// and `"` become the predefined entities, `\r` becomes `&#xD;` (XML 1.0
/// §2.11 end-of-line handling would otherwise fold it away), and in
/// attribute values `\t` and `\n` become `&#x9;` and `&#xA;` (XML 1.0
/// §3.3.3 attribute-value normalization would otherwise turn them into
/// spaces). Everything else, including any non-ASCII character, is copied
/// unchanged.
///
/// This is the same routine the [`Writer`](super::Writer) uses for every
/// text node and attribute value.
///
/// # Errors
///
/// - [`WriteError::InvalidChar`] if `s` holds a character that XML 1.0
///   §2.2 does not allow (U+0000..=U+001F other than tab, LF and CR;
///   U+FFFE; U+FFFF). Such a character cannot be written in any form.
/// - [`WriteError::BufferTooSmall`] if the escaped text does not fit in
///   `out`; its `needed` is the full escaped length, so passing an empty
///   slice measures the output. The contents of `out` are then
///   unspecified.
///
/// # Example
///
/// ```
/// use picoxmpp::xml::escape;
///
/// let mut buf = [0u8; 32];
/// let n = escape("a<b & 'c'", false, &mut buf)?;
/// assert_eq!(&buf[..n], b"a&lt;b &amp; &apos;c&apos;");
///
/// let n = escape("line 1\nline 2", true, &mut buf)?;
/// assert_eq!(&buf[..n], b"line 1&#xA;line 2");
/// # Ok::<(), picoxmpp::xml::WriteError>(())
/// ```
pub fn escape(s: &str, attribute: bool, out: &mut [u8]) -> Result<usize, WriteError> {
    let needed = escape_at(s, attribute, out, 0)?;
    if needed > out.len() {
        return Err(BufferTooSmall { needed }.into());
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn esc(s: &str, attribute: bool) -> Result<String, WriteError> {
        let mut buf = vec![0u8; s.len() * 6 + 1];
        let n = escape(s, attribute, &mut buf)?;
        buf.truncate(n);
        Ok(String::from_utf8(buf).expect("escape output is UTF-8"))
    }

    /// A minimal reader for what `escape` produces: the five entities and
    /// hexadecimal character references, then the reader-side processing
    /// of XML 1.0 §2.11 and §3.3.3 that the escaping is there to survive.
    fn unescape(s: &str, attribute: bool) -> String {
        // §2.11 end-of-line handling applies to literal characters only.
        let s = s.replace("\r\n", "\n").replace('\r', "\n");
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(c) = rest.chars().next() {
            if c == '&' {
                let end = rest.find(';').expect("reference is terminated");
                let name = &rest[1..end];
                out.push(match name {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "apos" => '\'',
                    "quot" => '"',
                    _ => {
                        let hex = name.strip_prefix("#x").expect("hex reference");
                        char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap()
                    }
                });
                rest = &rest[end + 1..];
            } else {
                // §3.3.3: literal white space in an attribute value is a space.
                let c = if attribute && matches!(c, '\t' | '\n') {
                    ' '
                } else {
                    c
                };
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }

    #[test]
    fn five_specials_in_text_and_attributes() {
        for attribute in [false, true] {
            assert_eq!(
                esc("&<>'\"", attribute).unwrap(),
                "&amp;&lt;&gt;&apos;&quot;"
            );
            assert_eq!(esc("a]]>b", attribute).unwrap(), "a]]&gt;b");
            assert_eq!(esc("x & y", attribute).unwrap(), "x &amp; y");
        }
    }

    #[test]
    fn white_space_text_vs_attribute() {
        assert_eq!(esc("a\tb\nc\rd", false).unwrap(), "a\tb\nc&#xD;d");
        assert_eq!(esc("a\tb\nc\rd", true).unwrap(), "a&#x9;b&#xA;c&#xD;d");
        assert_eq!(esc("\r\n", false).unwrap(), "&#xD;\n");
        assert_eq!(esc("\r\n", true).unwrap(), "&#xD;&#xA;");
        assert_eq!(esc(" ", true).unwrap(), " ");
    }

    #[test]
    fn non_ascii_and_astral_pass_through() {
        let s = "café Ωμέγα 日本語 \u{1F600}\u{10FFFF} \u{FFFD} \u{EFFF} \u{E000} \u{7F}\u{85}";
        assert_eq!(esc(s, false).unwrap(), s);
        assert_eq!(esc(s, true).unwrap(), s);
        assert_eq!(esc("", false).unwrap(), "");
    }

    #[test]
    fn invalid_chars_are_refused() {
        for bad in [
            "\u{0}", "\u{1}", "\u{8}", "\u{B}", "\u{C}", "\u{1F}", "\u{FFFE}", "\u{FFFF}",
        ] {
            for attribute in [false, true] {
                let s = std::format!("ok{bad}ok");
                assert_eq!(esc(&s, attribute), Err(WriteError::InvalidChar), "{s:?}");
                // Also when only counting, and when it would not fit anyway.
                assert_eq!(escape(&s, attribute, &mut []), Err(WriteError::InvalidChar));
                assert_eq!(
                    escape(bad, attribute, &mut []),
                    Err(WriteError::InvalidChar)
                );
            }
        }
    }

    #[test]
    fn too_small_reports_full_size() {
        let s = "a<b>\"c\" & d\r";
        let full = esc(s, true).unwrap();
        for len in 0..full.len() {
            let mut buf = vec![0u8; len];
            assert_eq!(
                escape(s, true, &mut buf),
                Err(WriteError::BufferTooSmall(BufferTooSmall {
                    needed: full.len()
                })),
                "len {len}"
            );
        }
        let mut buf = vec![0u8; full.len()];
        assert_eq!(escape(s, true, &mut buf), Ok(full.len()));
        assert_eq!(buf, full.as_bytes());
    }

    #[test]
    fn put_counts_past_the_end() {
        let mut buf = [0u8; 4];
        let p = put(&mut buf, 0, b"abc");
        let p = put(&mut buf, p, b"de");
        assert_eq!(p, 5);
        // Nothing is written once a piece did not fit, even if a later one
        // would have fitted at an earlier position.
        let p = put(&mut buf, p, b"f");
        assert_eq!(p, 6);
        assert_eq!(&buf, b"abc\0");
        assert_eq!(put(&mut buf, usize::MAX, b"x"), usize::MAX);
    }

    proptest! {
        #[test]
        fn round_trips(s in any::<String>(), attribute in any::<bool>(), len in 0usize..64) {
            let mut buf = vec![0u8; len];
            match escape(&s, attribute, &mut buf) {
                Err(WriteError::InvalidChar) => {
                    prop_assert!(s.chars().any(|c| !crate::xml::chars::is_xml_char(c)));
                }
                Err(WriteError::BufferTooSmall(BufferTooSmall { needed })) => {
                    prop_assert!(needed > len);
                    let out = esc(&s, attribute).unwrap();
                    prop_assert_eq!(out.len(), needed);
                }
                Ok(n) => {
                    prop_assert!(n <= len);
                    let out = core::str::from_utf8(&buf[..n]).unwrap();
                    prop_assert_eq!(unescape(out, attribute), s.clone());
                    let forbidden: &[char] = if attribute {
                        &['<', '>', '"', '\'', '\r', '\t', '\n']
                    } else {
                        &['<', '>', '"', '\'', '\r']
                    };
                    prop_assert!(!out.contains(forbidden));
                }
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        }

        #[test]
        fn round_trips_specials(
            parts in proptest::collection::vec(
                prop_oneof![Just("&"), Just("<"), Just(">"), Just("'"), Just("\""),
                            Just("\r"), Just("\n"), Just("\t"), Just("\r\n"), Just("a"),
                            Just("é"), Just("\u{1F600}"), Just("\u{F000}"), Just("\u{FFFD}")],
                0..20),
            attribute in any::<bool>(),
        ) {
            let s: String = parts.concat();
            let out = esc(&s, attribute).unwrap();
            prop_assert_eq!(unescape(&out, attribute), s.clone());
            let mut counted: Vec<u8> = Vec::new();
            prop_assert_eq!(escape_at(&s, attribute, &mut counted, 0), Ok(out.len()));
        }
    }
}
