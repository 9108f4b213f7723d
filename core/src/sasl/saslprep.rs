//! The table-free part of SASLprep (RFC 4013): mapping and prohibited
//! output. The parent module's docs say exactly what is and is not done.
//!
//! Preparation never makes a string longer: the characters mapped to space
//! are all two bytes or more in UTF-8, and the others map to nothing. The
//! result is produced as a `char` iterator, so nothing is copied.

/// Checks `s` and returns its prepared form as characters, or why it is
/// refused.
pub(crate) fn prepare(s: &str) -> Result<impl Iterator<Item = char> + Clone + '_, &'static str> {
    let mut any = false;
    for c in s.chars().filter_map(map) {
        if let Some(reason) = prohibited(c) {
            return Err(reason);
        }
        any = true;
    }
    if !any {
        return Err("empty after SASLprep");
    }
    Ok(s.chars().filter_map(map))
}

/// Whether the prepared form of an already [`prepare`]d `s` is `s` itself,
/// so its bytes can be used as they are.
pub(crate) fn is_unchanged(s: &str) -> bool {
    s.is_ascii()
}

/// RFC 4013 §2.1: B.1 characters map to nothing, C.1.2 non-ASCII spaces to
/// U+0020. U+200B is in both tables; B.1 is applied first, as most
/// implementations do, so it maps to nothing.
fn map(c: char) -> Option<char> {
    match c {
        // RFC 3454 table B.1.
        '\u{00AD}'
        | '\u{034F}'
        | '\u{1806}'
        | '\u{180B}'..='\u{180D}'
        | '\u{200B}'..='\u{200D}'
        | '\u{2060}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' => None,
        // RFC 3454 table C.1.2.
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => Some(' '),
        _ => Some(c),
    }
}

/// RFC 4013 §2.3: the prohibited output tables of RFC 3454 (C.1.2 is mapped
/// away before, and C.5 surrogates cannot occur in a `str`).
fn prohibited(c: char) -> Option<&'static str> {
    let u = u32::from(c);
    match c {
        // C.2.1 and the C0/C1 part of C.2.2.
        '\u{0000}'..='\u{001F}' | '\u{007F}'..='\u{009F}' => Some("control character"),
        // C.2.2.
        '\u{06DD}'
        | '\u{070F}'
        | '\u{180E}'
        | '\u{200C}'
        | '\u{200D}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{2060}'..='\u{2063}'
        | '\u{FFF9}'..='\u{FFFC}'
        | '\u{1D173}'..='\u{1D17A}' => Some("control character"),
        // C.3.
        '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}' => {
            Some("private-use character")
        }
        // C.4: U+FDD0..U+FDEF and the last two code points of every plane.
        '\u{FDD0}'..='\u{FDEF}' => Some("non-character code point"),
        _ if u & 0xFFFE == 0xFFFE => Some("non-character code point"),
        // C.6 (U+FFF9..U+FFFC are caught above).
        '\u{FFFD}' => Some("character inappropriate for plain text"),
        // C.7.
        '\u{2FF0}'..='\u{2FFB}' => Some("character inappropriate for canonical representation"),
        // C.8 (also covers the U+206A..U+206F of C.2.2).
        '\u{0340}'
        | '\u{0341}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{206A}'..='\u{206F}' => Some("display-changing character"),
        // C.9.
        '\u{E0001}' | '\u{E0020}'..='\u{E007F}' => Some("tagging character"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn prep(s: &str) -> Result<String, &'static str> {
        prepare(s).map(Iterator::collect)
    }

    #[test]
    fn rfc_4013_examples() {
        // RFC 4013 §3, the examples table doing without normalization:
        // 1. SOFT HYPHEN mapped to nothing.
        assert_eq!(prep("I\u{00AD}X").unwrap(), "IX");
        // 2. no transformation.
        assert_eq!(prep("user").unwrap(), "user");
        // 3. case preserved.
        assert_eq!(prep("USER").unwrap(), "USER");
        // 6. prohibited character.
        assert_eq!(prep("\u{0007}"), Err("control character"));
        // (4, 5 need NFKC; 7, bidi, is not checked.)
    }

    #[test]
    fn ascii_is_unchanged() {
        let all: String = (' '..='~').collect();
        assert_eq!(prep(&all).unwrap(), all);
        assert!(is_unchanged(&all));
        assert!(!is_unchanged("caf\u{e9}"));
    }

    #[test]
    fn mapping() {
        assert_eq!(prep("a\u{00A0}b\u{3000}c\u{2003}d").unwrap(), "a b c d");
        assert_eq!(prep("a\u{200B}b\u{FEFF}c\u{FE0F}").unwrap(), "abc");
        assert_eq!(prep("\u{00AD}"), Err("empty after SASLprep"));
        assert_eq!(prep(""), Err("empty after SASLprep"));
        // Prepared text is never longer.
        for s in ["\u{00A0}", "\u{1680}", "\u{2000}", "\u{205F}", "\u{3000}"] {
            assert!(prep(s).unwrap().len() < s.len());
        }
    }

    #[test]
    fn prohibited_output() {
        for c in [
            '\0',
            '\n',
            '\u{7F}',
            '\u{85}',
            '\u{2028}',
            '\u{E000}',
            '\u{10FFFD}',
            '\u{FDD0}',
            '\u{FFFE}',
            '\u{1FFFF}',
            '\u{FFFD}',
            '\u{2FF0}',
            '\u{202E}',
            '\u{200E}',
            '\u{E0041}',
            '\u{1D173}',
        ] {
            let mut s = String::from("ok");
            s.push(c);
            assert!(prep(&s).is_err(), "{c:?} accepted");
        }
        for c in [
            '\u{e9}',
            '\u{3b1}',
            '\u{4e2d}',
            '\u{1F600}',
            '\u{FFFC}', /* C.2.2 */
        ] {
            let mut s = String::from("ok");
            s.push(c);
            assert_eq!(prep(&s).is_ok(), c != '\u{FFFC}', "{c:?}");
        }
    }
}
