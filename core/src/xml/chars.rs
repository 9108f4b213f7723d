//! Character classes of XML 1.0 (Fifth Edition) §2.2 and §2.3.
//!
//! Shared by the parser, which refuses what is not allowed, and the writer,
//! which refuses to emit it: text that XML 1.0 cannot carry (not even as a
//! character reference) must never reach the wire.

/// XML 1.0 §2.2 `Char`: `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
/// [#x10000-#x10FFFF]`. Surrogates cannot occur in a Rust `char`.
#[inline]
pub const fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML 1.0 §2.3 `S`: space, tab, carriage return, line feed.
#[inline]
pub const fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// XML 1.0 §2.3 `NameStartChar`, plus `:` which Namespaces in XML treats
/// as the prefix separator (checked separately).
#[inline]
pub const fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 §2.3 `NameChar`.
#[inline]
pub const fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `s` is a valid XML 1.0 `Name` without a colon (Namespaces in XML
/// `NCName`).
pub fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start_char(c) && c != ':' => {}
        _ => return false,
    }
    chars.all(|c| is_name_char(c) && c != ':')
}

/// Whether `s` is a valid qualified name: `NCName` or `NCName:NCName`.
pub fn is_qname(s: &str) -> bool {
    match s.split_once(':') {
        Some((p, l)) => is_ncname(p) && is_ncname(l),
        None => is_ncname(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_chars() {
        assert!(is_xml_char('\t') && is_xml_char('a') && is_xml_char('\u{1F600}'));
        assert!(!is_xml_char('\u{0}') && !is_xml_char('\u{1F}') && !is_xml_char('\u{FFFE}'));
        assert!(!is_xml_char('\u{FFFF}'));
    }

    #[test]
    fn names() {
        assert!(is_ncname("body") && is_ncname("x-1.a") && is_ncname("é"));
        assert!(!is_ncname("1a") && !is_ncname("a:b") && !is_ncname(""));
        assert!(is_qname("stream:stream") && !is_qname("a:b:c") && !is_qname(":a"));
    }
}
