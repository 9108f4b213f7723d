//! Complete tokens to checked pieces: the grammar of XML 1.0 as far as
//! RFC 6120 §11 lets it into a stream.
//!
//! The stream parser finds where a token ends (a cheap byte search); the
//! functions here then check the whole token once: UTF-8, the characters
//! XML 1.0 §2.2 allows, names, attributes and references. The same grammar
//! serves the element views, which re-read tokens that were already checked
//! and so can treat any failure as "nothing there" instead of panicking.

use crate::error::StreamErrorCondition as Cond;
use crate::xml::chars::{is_name_char, is_name_start_char, is_xml_char, is_xml_space};
use nom::bytes::complete::{tag, take_till, take_while, take_while1};
use nom::character::complete::{char as ch, one_of};
use nom::combinator::opt;
use nom::error::{ErrorKind, ParseError};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// A refusal found inside one token: the condition, the rule, and the byte
/// offset inside the token where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokErr {
    pub cond: Cond,
    pub reason: &'static str,
    pub at: usize,
}

impl TokErr {
    pub(crate) const fn new(cond: Cond, reason: &'static str, at: usize) -> Self {
        TokErr { cond, reason, at }
    }
}

/// nom's error type for this grammar: where it failed and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PErr<'a> {
    pub rest: &'a str,
    pub cond: Cond,
    pub reason: &'static str,
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(rest: &'a str, _kind: ErrorKind) -> Self {
        PErr {
            rest,
            cond: Cond::NotWellFormed,
            reason: "malformed markup",
        }
    }
    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn fail<'a, T>(rest: &'a str, cond: Cond, reason: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr { rest, cond, reason }))
}

/// Offset of `rest` inside `whole` (both slices of the same token).
fn offset_in(whole: &str, rest: &str) -> usize {
    (rest.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

fn to_tok_err(whole: &str, e: nom::Err<PErr<'_>>) -> TokErr {
    match e {
        nom::Err::Error(p) | nom::Err::Failure(p) => {
            TokErr::new(p.cond, p.reason, offset_in(whole, p.rest))
        }
        nom::Err::Incomplete(_) => {
            TokErr::new(Cond::NotWellFormed, "truncated markup", whole.len())
        }
    }
}

// ---------------------------------------------------------------------------
// Characters

const HI: u64 = 0x8080_8080_8080_8080;
const LO: u64 = 0x0101_0101_0101_0101;

/// UTF-8 and XML 1.0 §2.2 `Char` check of a whole token.
///
/// Broken UTF-8 is `unsupported-encoding` (RFC 6120 §4.9.3.22: "has
/// otherwise improperly encoded the stream (e.g., by violating the rules of
/// the UTF-8 encoding)"); a code point outside `Char` is `not-well-formed`
/// (XML 1.0 §2.2 is a well-formedness rule).
pub(crate) fn check_chars(b: &[u8]) -> Result<&str, TokErr> {
    let s = match core::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) => {
            return Err(TokErr::new(
                Cond::UnsupportedEncoding,
                "invalid UTF-8",
                e.valid_up_to(),
            ))
        }
    };
    // Fast path: eight bytes at a time while none is a control byte
    // (< 0x20) or the lead byte 0xEF of U+FFFE/U+FFFF.
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let w = u64::from_le_bytes(w);
            let ctrl = w.wrapping_sub(LO * 0x20) & !w & HI;
            let x = w ^ (LO * 0xEF);
            let ef = x.wrapping_sub(LO) & !x & HI;
            if ctrl | ef == 0 {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(bytes.len());
        while i < end {
            let c = bytes[i];
            if c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r') {
                return Err(TokErr::new(
                    Cond::NotWellFormed,
                    "character not allowed in XML",
                    i,
                ));
            }
            if c == 0xEF
                && bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
            {
                return Err(TokErr::new(
                    Cond::NotWellFormed,
                    "character not allowed in XML",
                    i,
                ));
            }
            i += 1;
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// References (XML 1.0 §4.1) and character data (§2.4)

/// The replacement of one reference, as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reference {
    /// One of the five predefined entities (XML 1.0 §4.6), as its text.
    Predefined(&'static str),
    /// A character reference.
    Char(char),
}

/// Parses one reference at the start of `s` (which begins with `&`).
///
/// RFC 6120 §11.1: only the predefined entities and character references
/// may appear; any other entity reference is `restricted-xml`.
pub(crate) fn reference(s: &str) -> PResult<'_, Reference> {
    let (rest, _) = ch('&').parse(s)?;
    if let Some(r) = rest.strip_prefix('#') {
        let (r, radix) = match r.strip_prefix('x') {
            Some(h) => (h, 16u32),
            None => (r, 10u32),
        };
        let digits_len = r
            .bytes()
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        let (digits, rest) = r.split_at(digits_len);
        let rest = match rest.strip_prefix(';') {
            Some(rest) if !digits.is_empty() => rest,
            _ => return fail(s, Cond::NotWellFormed, "malformed character reference"),
        };
        let value = digits.chars().try_fold(0u32, |acc, c| {
            acc.checked_mul(radix)?.checked_add(c.to_digit(radix)?)
        });
        return match value.and_then(char::from_u32) {
            Some(c) if is_xml_char(c) => Ok((rest, Reference::Char(c))),
            _ => fail(
                s,
                Cond::NotWellFormed,
                "character reference to a character not allowed in XML",
            ),
        };
    }
    let (rest, name) = take_while1(is_name_char)
        .parse(rest)
        .or_else(|_: nom::Err<PErr<'_>>| {
            fail(s, Cond::NotWellFormed, "'&' not starting a reference")
        })?;
    let (rest, _) = ch(';').parse(rest).or_else(|_: nom::Err<PErr<'_>>| {
        fail(s, Cond::NotWellFormed, "unterminated entity reference")
    })?;
    let text = match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => {
            return fail(
                s,
                Cond::RestrictedXml,
                "entity reference other than the predefined five",
            )
        }
    };
    Ok((rest, Reference::Predefined(text)))
}

/// Checks character data between markup (already [`check_chars`]-checked):
/// every `&` starts a valid reference, and `]]>` does not occur (XML 1.0
/// §2.4).
pub(crate) fn check_char_data(s: &str) -> Result<(), TokErr> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr2(b'&', b'>', b.get(from..).unwrap_or_default()) {
        let at = from + i;
        if b[at] == b'&' {
            let tail = s.get(at..).unwrap_or_default();
            match reference(tail) {
                Ok((rest, _)) => from = s.len() - rest.len(),
                Err(e) => return Err(to_tok_err(s, e)),
            }
        } else {
            if at >= 2 && &b[at - 2..at] == b"]]" {
                return Err(TokErr::new(
                    Cond::NotWellFormed,
                    "']]>' in character data",
                    at - 2,
                ));
            }
            from = at + 1;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Names and tags (XML 1.0 §2.3, §3.1; Namespaces in XML §3-§4)

fn is_space_char(c: char) -> bool {
    c.is_ascii() && is_xml_space(c as u8)
}

fn space0(s: &str) -> PResult<'_, &str> {
    take_while(is_space_char).parse(s)
}

fn space1(s: &str) -> PResult<'_, &str> {
    take_while1(is_space_char).parse(s)
}

/// An XML `Name` (XML 1.0 §2.3; colons are checked by [`split_qname`]):
/// ASCII name characters take a fast path, others the full rule.
fn qname(s: &str) -> PResult<'_, &str> {
    let first = match s.chars().next() {
        Some(c) if is_name_start_char(c) => c.len_utf8(),
        _ => {
            return Err(nom::Err::Error(PErr {
                rest: s,
                cond: Cond::NotWellFormed,
                reason: "expected a name",
            }))
        }
    };
    let tail = s.as_bytes().get(first..).unwrap_or_default();
    let ascii = tail
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':')));
    let mut end = first + ascii.unwrap_or(tail.len());
    // Non-ASCII name characters: continue with the full rule.
    if s.as_bytes().get(end).is_some_and(|b| *b >= 0x80) {
        let tail = s.get(end..).unwrap_or_default();
        let more = tail
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(tail.len(), |(i, _)| i);
        end += more;
    }
    Ok((
        s.get(end..).unwrap_or_default(),
        s.get(..end).unwrap_or_default(),
    ))
}

/// Splits a qualified name into (prefix, local part), checking Namespaces in
/// XML §3 (`QName ::= (NCName ':')? NCName`).
pub(crate) fn split_qname(q: &str) -> Option<(Option<&str>, &str)> {
    match q.split_once(':') {
        None => Some((None, q)),
        Some((p, l)) if !p.is_empty() && !l.is_empty() && !l.contains(':') => {
            // The local part must be able to start a name.
            let first = l.chars().next()?;
            (is_name_start_char(first)).then_some((Some(p), l))
        }
        Some(_) => None,
    }
}

/// One attribute: name, raw (still escaped) value between the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawAttr<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

fn att_value(s: &str) -> PResult<'_, &str> {
    let (rest, q) = one_of("'\"").parse(s)?;
    let (rest, v) = take_till(|c: char| c == q || c == '<').parse(rest)?;
    match rest.as_bytes().first() {
        Some(b'<') => fail(rest, Cond::NotWellFormed, "'<' in attribute value"),
        Some(_) => Ok((rest.get(1..).unwrap_or_default(), v)),
        None => fail(s, Cond::NotWellFormed, "unterminated attribute value"),
    }
}

/// `S Attribute` (XML 1.0 §3.1 production 41 preceded by its space).
pub(crate) fn attribute(s: &str) -> PResult<'_, RawAttr<'_>> {
    let (rest, _) = space1(s)?;
    let (rest, n) = qname(rest)?;
    let (rest, _) =
        delimited(space0, ch('='), space0)
            .parse(rest)
            .or_else(|_: nom::Err<PErr<'_>>| {
                fail(rest, Cond::NotWellFormed, "attribute without '='")
            })?;
    let (rest, v) = att_value(rest).map_err(|e| match e {
        nom::Err::Error(p) => nom::Err::Failure(PErr {
            reason: "attribute value not quoted",
            ..p
        }),
        other => other,
    })?;
    Ok((rest, RawAttr { name: n, value: v }))
}

/// The checked head of a start tag: its name, the text holding the
/// attributes, and whether it is an empty-element tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartTag<'a> {
    pub name: &'a str,
    /// Everything between the name and the closing `>` / `/>`.
    pub attrs: &'a str,
    pub empty: bool,
}

/// Parses a whole start tag `<name attrs... >` or `.../>`: the name and
/// where the attributes are; [`Attrs`] walks them.
pub(crate) fn start_tag(s: &str) -> PResult<'_, StartTag<'_>> {
    let (rest, _) = ch('<').parse(s)?;
    let (rest, n) = qname(rest).or_else(|_: nom::Err<PErr<'_>>| {
        fail(rest, Cond::NotWellFormed, "expected an element name")
    })?;
    let attrs_start = rest;
    let mut cur = rest;
    loop {
        match attribute(cur) {
            Ok((r, _)) => cur = r,
            Err(nom::Err::Error(_)) => break,
            Err(e) => return Err(e),
        }
    }
    let attrs = attrs_start
        .get(..attrs_start.len() - cur.len())
        .unwrap_or_default();
    let (cur, _) = space0(cur)?;
    let (rest, empty) = match cur.as_bytes() {
        [b'/', b'>', ..] => (cur.get(2..).unwrap_or_default(), true),
        [b'>', ..] => (cur.get(1..).unwrap_or_default(), false),
        _ => return fail(cur, Cond::NotWellFormed, "malformed start tag"),
    };
    Ok((
        rest,
        StartTag {
            name: n,
            attrs,
            empty,
        },
    ))
}

/// Parses a whole end tag `</name S?>` and returns the name.
pub(crate) fn end_tag(s: &str) -> PResult<'_, &str> {
    let (rest, n) = preceded(tag("</"), qname).parse(s)?;
    let (rest, _) = space0(rest)?;
    let (rest, _) = ch('>')
        .parse(rest)
        .or_else(|_: nom::Err<PErr<'_>>| fail(rest, Cond::NotWellFormed, "malformed end tag"))?;
    Ok((rest, n))
}

/// Iterates over the attributes text of a [`StartTag`].
///
/// On checked input it yields every attribute; on anything else it stops
/// (the parser uses [`Attrs::check`] to learn why).
#[derive(Debug, Clone)]
pub(crate) struct Attrs<'a> {
    rest: &'a str,
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(attrs: &'a str) -> Self {
        Attrs { rest: attrs }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = RawAttr<'a>;
    fn next(&mut self) -> Option<RawAttr<'a>> {
        match attribute(self.rest) {
            Ok((rest, a)) => {
                self.rest = rest;
                Some(a)
            }
            Err(_) => {
                self.rest = "";
                None
            }
        }
    }
}

/// The XML declaration (XML 1.0 §2.8 `XMLDecl`), the only processing-
/// instruction-like construct RFC 6120 §11.1 lets through, and only at the
/// start of a stream.
///
/// An encoding other than UTF-8 is `unsupported-encoding` (RFC 6120 §11.6).
pub(crate) fn xml_decl(s: &str) -> PResult<'_, ()> {
    let (rest, _) = tag("<?xml").parse(s)?;
    let (rest, _) =
        preceded(space1, tag("version"))
            .parse(rest)
            .or_else(|_: nom::Err<PErr<'_>>| {
                fail(rest, Cond::NotWellFormed, "XML declaration without version")
            })?;
    let (rest, _) = delimited(space0, ch('='), space0).parse(rest)?;
    let (rest, v) = att_value(rest)?;
    if !(v.starts_with("1.") && v.len() > 2 && v.bytes().skip(2).all(|b| b.is_ascii_digit())) {
        return fail(rest, Cond::NotWellFormed, "unsupported XML version");
    }
    let (rest, enc) = opt(preceded(
        (space1, tag("encoding"), delimited(space0, ch('='), space0)),
        att_value,
    ))
    .parse(rest)?;
    if let Some(e) = enc {
        if !e.eq_ignore_ascii_case("utf-8") {
            return fail(rest, Cond::UnsupportedEncoding, "encoding other than UTF-8");
        }
    }
    let (rest, sd) = opt(preceded(
        (
            space1,
            tag("standalone"),
            delimited(space0, ch('='), space0),
        ),
        att_value,
    ))
    .parse(rest)?;
    if let Some(sd) = sd {
        if sd != "yes" && sd != "no" {
            return fail(rest, Cond::NotWellFormed, "bad standalone value");
        }
    }
    let (rest, _) = space0(rest)?;
    let (rest, _) = tag("?>").parse(rest).or_else(|_: nom::Err<PErr<'_>>| {
        fail(rest, Cond::NotWellFormed, "malformed XML declaration")
    })?;
    Ok((rest, ()))
}

/// Runs a whole-token parser and maps its failure to a [`TokErr`]; the
/// token must be consumed entirely.
pub(crate) fn complete<'a, T>(
    s: &'a str,
    p: impl FnOnce(&'a str) -> PResult<'a, T>,
) -> Result<T, TokErr> {
    match p(s) {
        Ok(("", v)) => Ok(v),
        Ok((rest, _)) => Err(TokErr::new(
            Cond::NotWellFormed,
            "junk after markup",
            offset_in(s, rest),
        )),
        Err(e) => Err(to_tok_err(s, e)),
    }
}

/// Checks attribute values: references valid and RFC 6120 §11.1-allowed.
pub(crate) fn check_att_value(v: &str) -> Result<(), TokErr> {
    let b = v.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'&', b.get(from..).unwrap_or_default()) {
        let at = from + i;
        match reference(v.get(at..).unwrap_or_default()) {
            Ok((rest, _)) => from = v.len() - rest.len(),
            Err(e) => return Err(to_tok_err(v, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars() {
        assert!(check_chars(b"hello \t\r\n world, \xC3\xA9 \xF0\x9F\x98\x80").is_ok());
        assert_eq!(check_chars(b"0123456789\x01").unwrap_err().at, 10);
        assert_eq!(
            check_chars(b"ab\xEF\xBF\xBE").unwrap_err().cond,
            Cond::NotWellFormed
        );
        assert_eq!(check_chars(b"ab\xEF\xBF\xBD").unwrap(), "ab\u{FFFD}");
        assert_eq!(
            check_chars(b"abc\xC3").unwrap_err().cond,
            Cond::UnsupportedEncoding
        );
        assert_eq!(
            check_chars(b"\xEF\xBB\xBFabcdefgh").unwrap(),
            "\u{FEFF}abcdefgh"
        );
    }

    #[test]
    fn references() {
        assert_eq!(
            reference("&lt;x").unwrap(),
            ("x", Reference::Predefined("<"))
        );
        assert_eq!(reference("&#233;").unwrap().1, Reference::Char('é'));
        assert_eq!(reference("&#x1F600;").unwrap().1, Reference::Char('😀'));
        assert!(reference("&#0;").is_err());
        assert!(reference("&#xD800;").is_err());
        assert!(reference("&#99999999999;").is_err());
        let e = check_char_data("a &nbsp; b").unwrap_err();
        assert_eq!((e.cond, e.at), (Cond::RestrictedXml, 2));
        assert_eq!(
            check_char_data("a & b").unwrap_err().cond,
            Cond::NotWellFormed
        );
        assert_eq!(
            check_char_data("a ]]> b").unwrap_err().cond,
            Cond::NotWellFormed
        );
        assert!(check_char_data("a ] ]> &amp; &#10; > b").is_ok());
    }

    #[test]
    fn tags() {
        let t = complete("<message to='a@b' type=\"chat\">", start_tag).unwrap();
        assert_eq!((t.name, t.empty), ("message", false));
        let attrs: std::vec::Vec<_> = Attrs::new(t.attrs).collect();
        assert_eq!(attrs.len(), 2);
        assert_eq!(
            attrs[1],
            RawAttr {
                name: "type",
                value: "chat"
            }
        );
        let t = complete("<br\n/>", start_tag).unwrap();
        assert!(t.empty && t.attrs.is_empty());
        assert!(complete("<a b='1'c='2'>", start_tag).is_err());
        assert!(complete("<a b=1>", start_tag).is_err());
        assert!(complete("<a b='<'>", start_tag).is_err());
        assert!(complete("<1a>", start_tag).is_err());
        assert_eq!(
            complete("</stream:stream >", end_tag).unwrap(),
            "stream:stream"
        );
        assert!(complete("</a b>", end_tag).is_err());
        assert!(complete("<?xml version='1.0' encoding='UTF-8'?>", xml_decl).is_ok());
        assert_eq!(
            complete("<?xml version='1.0' encoding='latin1'?>", xml_decl)
                .unwrap_err()
                .cond,
            Cond::UnsupportedEncoding
        );
        assert_eq!(
            split_qname("stream:features"),
            Some((Some("stream"), "features"))
        );
        assert_eq!(split_qname("a:b:c"), None);
        assert_eq!(split_qname("a:"), None);
        assert_eq!(split_qname(":a"), None);
        assert_eq!(split_qname("a:1"), None);
    }
}
