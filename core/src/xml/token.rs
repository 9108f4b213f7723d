//! Complete tokens to checked pieces: the grammar of XML 1.0 as far as
//! RFC 6120 §11 lets it into a stream.
//!
//! The stream parser finds where a token ends (a cheap byte search); the
//! functions here then check the whole token once: UTF-8, the characters
//! XML 1.0 §2.2 allows, names, attributes and references. The grammar works
//! on bytes, so the hot path never converts to `str`; the element views
//! re-read tokens that were already checked and treat any failure as
//! "nothing there" instead of panicking.

use crate::error::StreamErrorCondition as Cond;
use crate::xml::chars::{is_name_char, is_name_start_char, is_xml_char, is_xml_space};
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::char as ch;
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
    pub rest: &'a [u8],
    pub cond: Cond,
    pub reason: &'static str,
}

impl<'a> ParseError<&'a [u8]> for PErr<'a> {
    fn from_error_kind(rest: &'a [u8], _kind: ErrorKind) -> Self {
        PErr {
            rest,
            cond: Cond::NotWellFormed,
            reason: "malformed markup",
        }
    }
    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, PErr<'a>>;

fn fail<'a, T>(rest: &'a [u8], cond: Cond, reason: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr { rest, cond, reason }))
}

/// A recoverable mismatch: the caller may try something else here.
fn mismatch<'a, T>(rest: &'a [u8], reason: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Error(PErr {
        rest,
        cond: Cond::NotWellFormed,
        reason,
    }))
}

/// Turns a recoverable mismatch into a definite failure with `reason`.
fn must<'a, T>(r: PResult<'a, T>, at: &'a [u8], reason: &'static str) -> PResult<'a, T> {
    r.or_else(|e| match e {
        nom::Err::Error(_) => fail(at, Cond::NotWellFormed, reason),
        other => Err(other),
    })
}

/// Offset of `rest` inside `whole` (both slices of the same token).
pub(crate) fn offset_in(whole: &[u8], rest: &[u8]) -> usize {
    (rest.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

fn to_tok_err(whole: &[u8], e: nom::Err<PErr<'_>>) -> TokErr {
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

/// UTF-8 and XML 1.0 §2.2 `Char` check of a whole token, in one pass.
///
/// Broken UTF-8 is `unsupported-encoding` (RFC 6120 §4.9.3.22: "has
/// otherwise improperly encoded the stream (e.g., by violating the rules of
/// the UTF-8 encoding)"); a code point outside `Char` is `not-well-formed`
/// (XML 1.0 §2.2 is a well-formedness rule).
pub(crate) fn check_chars(b: &[u8]) -> Result<(), TokErr> {
    let bad_utf8 = |i| Err(TokErr::new(Cond::UnsupportedEncoding, "invalid UTF-8", i));
    let not_char = |i| {
        Err(TokErr::new(
            Cond::NotWellFormed,
            "character not allowed in XML",
            i,
        ))
    };
    let mut i = 0;
    while i < b.len() {
        // Fast path: eight printable ASCII bytes at a time. The lowest
        // flagged byte of the word is exact (borrows only run upwards).
        if let Some(chunk) = b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let w = u64::from_le_bytes(w);
            let flagged = (w | w.wrapping_sub(LO * 0x20) & !w) & HI;
            if flagged == 0 {
                i += 8;
                continue;
            }
            i += (flagged.trailing_zeros() / 8) as usize;
        }
        let c = b[i];
        if c < 0x80 {
            if c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r') {
                return not_char(i);
            }
            i += 1;
            continue;
        }
        // RFC 3629 §4: the well-formed UTF-8 byte sequences.
        let cont = |k: usize, lo: u8, hi: u8| b.get(i + k).is_some_and(|x| (lo..=hi).contains(x));
        let len = match c {
            0xC2..=0xDF if cont(1, 0x80, 0xBF) => 2,
            0xE0 if cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) => 3,
            0xED if cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) => 3,
            0xE1..=0xEC | 0xEE..=0xEF if cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) => {
                // U+FFFE and U+FFFF are not XML characters.
                if c == 0xEF && b[i + 1] == 0xBF && b[i + 2] >= 0xBE {
                    return not_char(i);
                }
                3
            }
            0xF0 if cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) => 4,
            0xF1..=0xF3 if cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) => 4,
            0xF4 if cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) => 4,
            _ => return bad_utf8(i),
        };
        i += len;
    }
    Ok(())
}

/// The first character of `b` (known to be UTF-8) and its length.
#[inline]
fn first_char(b: &[u8]) -> Option<(char, usize)> {
    let len = match *b.first()? {
        c @ 0x00..=0x7F => return Some((c as char, 1)),
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    };
    let c = core::str::from_utf8(b.get(..len)?).ok()?.chars().next()?;
    Some((c, len))
}

/// Validates the UTF-8 sequence starting at `b[i]` (a byte >= 0x80) and
/// its code point; `Ok(None)` when the bytes end inside a sequence that may
/// still turn out valid.
#[inline]
fn utf8_seq(b: &[u8], i: usize) -> Result<Option<usize>, TokErr> {
    let c = b[i];
    let need = match c {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return Err(TokErr::new(Cond::UnsupportedEncoding, "invalid UTF-8", i)),
    };
    let avail = (b.len() - i).min(need);
    let (lo1, hi1) = match c {
        0xE0 => (0xA0, 0xBF),
        0xED => (0x80, 0x9F),
        0xF0 => (0x90, 0xBF),
        0xF4 => (0x80, 0x8F),
        _ => (0x80, 0xBF),
    };
    for k in 1..avail {
        let (lo, hi) = if k == 1 { (lo1, hi1) } else { (0x80, 0xBF) };
        if !(lo..=hi).contains(&b[i + k]) {
            return Err(TokErr::new(Cond::UnsupportedEncoding, "invalid UTF-8", i));
        }
    }
    if avail < need {
        return Ok(None);
    }
    // U+FFFE and U+FFFF are not XML characters (XML 1.0 §2.2).
    if c == 0xEF && b[i + 1] == 0xBF && b[i + 2] >= 0xBE {
        return Err(TokErr::new(
            Cond::NotWellFormed,
            "character not allowed in XML",
            i,
        ));
    }
    Ok(Some(need))
}

/// Byte classes for the scanners: 0 is a byte that needs no attention.
const PLAIN: u8 = 0;
const LT: u8 = 1;
const GT: u8 = 2;
const AMP: u8 = 3;
const QUOTE: u8 = 4;
const CTRL: u8 = 5;
const HIGH: u8 = 6;

const fn classes() -> [u8; 256] {
    let mut t = [PLAIN; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b'\t' | b'\n' | b'\r' => PLAIN,
            0..=0x1F => CTRL,
            b'<' => LT,
            b'>' => GT,
            b'&' => AMP,
            b'\'' | b'"' => QUOTE,
            0x80..=0xFF => HIGH,
            _ => PLAIN,
        };
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

/// Where a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The terminator (`<` for text, `>` for a tag) is at this index.
    Found(usize),
    /// The bytes ran out; resume at this index (with this quote state).
    More(usize, u8),
}

/// A reference at `b[i]`: its length, or `None` when the bytes may end
/// inside it. References are short, so waiting re-reads at most a few
/// bytes.
fn scan_reference(b: &[u8], i: usize) -> Result<Option<usize>, TokErr> {
    const LONGEST: usize = 32; // any predefined entity, and character references with some leading zeros
    let window = &b[i..b.len().min(i + LONGEST)];
    match memchr::memchr(b';', window) {
        Some(k) => match reference(&window[..=k]) {
            Ok(([], _)) => Ok(Some(k + 1)),
            Ok(_) => Err(TokErr::new(Cond::NotWellFormed, "malformed reference", i)),
            Err(e) => {
                let t = to_tok_err(window, e);
                Err(TokErr { at: i + t.at, ..t })
            }
        },
        // No ';' yet. Every verdict depends only on bytes that every
        // split of the input delivers, so it does not depend on the split.
        None => {
            let body = &window[1..];
            let prefix_ok = match body {
                [b'#', b'x', hex @ ..] => hex.iter().all(u8::is_ascii_hexdigit),
                [b'#', dec @ ..] => dec.iter().all(u8::is_ascii_digit),
                _ => body.iter().all(|b| is_ascii_name_byte(*b) || *b >= 0x80),
            };
            if !prefix_ok {
                // The first byte that cannot continue a reference decides.
                return Err(match reference(window) {
                    Err(e) => TokErr {
                        at: i,
                        ..to_tok_err(window, e)
                    },
                    Ok(_) => TokErr::new(Cond::NotWellFormed, "malformed reference", i),
                });
            }
            if window.len() < LONGEST {
                Ok(None)
            } else if body.first() == Some(&b'#') {
                Err(TokErr::new(
                    Cond::NotWellFormed,
                    "malformed character reference",
                    i,
                ))
            } else {
                Err(TokErr::new(
                    Cond::RestrictedXml,
                    "entity reference other than the predefined five",
                    i,
                ))
            }
        }
    }
}

/// Scans character data from `b[from]` to the next `<`, checking on the
/// way UTF-8, XML characters, references and `]]>` (which is searched back
/// to `start`, where the text run began). Each byte is looked at once.
pub(crate) fn scan_text(b: &[u8], start: usize, from: usize) -> Result<Scan, TokErr> {
    let mut i = from;
    loop {
        while i < b.len() && CLASS[b[i] as usize] == PLAIN {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return Ok(Scan::More(i, 0));
        };
        match CLASS[c as usize] {
            LT => return Ok(Scan::Found(i)),
            GT => {
                // XML 1.0 §2.4: "]]>" may not appear in character data.
                if i >= start + 2 && &b[i - 2..i] == b"]]" {
                    return Err(TokErr::new(
                        Cond::NotWellFormed,
                        "']]>' in character data",
                        i - 2,
                    ));
                }
                i += 1;
            }
            AMP => match scan_reference(b, i)? {
                Some(n) => i += n,
                None => return Ok(Scan::More(i, 0)),
            },
            CTRL => {
                return Err(TokErr::new(
                    Cond::NotWellFormed,
                    "character not allowed in XML",
                    i,
                ))
            }
            HIGH => match utf8_seq(b, i)? {
                Some(n) => i += n,
                None => return Ok(Scan::More(i, 0)),
            },
            _ => i += 1, // quotes are plain in text
        }
    }
}

/// Scans a tag from `b[from]` to its closing `>`, outside quoted values
/// (`quote` is the quote the scan resumes inside, or 0), checking UTF-8,
/// XML characters and the references in values on the way. A `<` anywhere
/// in a tag, or a `&` outside a value, is refused here.
pub(crate) fn scan_tag(b: &[u8], from: usize, mut quote: u8) -> Result<Scan, TokErr> {
    let mut i = from;
    loop {
        while i < b.len() && CLASS[b[i] as usize] == PLAIN {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return Ok(Scan::More(i, quote));
        };
        match CLASS[c as usize] {
            GT if quote == 0 => return Ok(Scan::Found(i)),
            GT => i += 1,
            QUOTE => {
                if quote == 0 {
                    quote = c;
                } else if quote == c {
                    quote = 0;
                }
                i += 1;
            }
            LT if quote == 0 => {
                return Err(TokErr::new(Cond::NotWellFormed, "'<' inside a tag", i))
            }
            LT => {
                return Err(TokErr::new(
                    Cond::NotWellFormed,
                    "'<' in attribute value",
                    i,
                ))
            }
            AMP if quote == 0 => {
                return Err(TokErr::new(Cond::NotWellFormed, "'&' inside a tag", i))
            }
            AMP => match scan_reference(b, i)? {
                Some(n) => i += n,
                None => return Ok(Scan::More(i, quote)),
            },
            CTRL => {
                return Err(TokErr::new(
                    Cond::NotWellFormed,
                    "character not allowed in XML",
                    i,
                ))
            }
            _ => match utf8_seq(b, i)? {
                Some(n) => i += n,
                None => return Ok(Scan::More(i, quote)),
            },
        }
    }
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
pub(crate) fn reference(s: &[u8]) -> PResult<'_, Reference> {
    let (rest, _) = ch('&').parse(s)?;
    if let Some(r) = rest.strip_prefix(b"#") {
        let (r, radix) = match r.strip_prefix(b"x") {
            Some(h) => (h, 16u32),
            None => (r, 10u32),
        };
        let digits_len = r
            .iter()
            .take_while(|b| (**b as char).is_digit(radix))
            .count();
        let (digits, rest) = r.split_at(digits_len);
        let rest = match rest.strip_prefix(b";") {
            Some(rest) if !digits.is_empty() => rest,
            _ => return fail(s, Cond::NotWellFormed, "malformed character reference"),
        };
        let value = digits.iter().try_fold(0u32, |acc, c| {
            acc.checked_mul(radix)?
                .checked_add((*c as char).to_digit(radix)?)
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
    let (rest, name) = must(name(rest), s, "'&' not starting a reference")?;
    let Some(rest) = rest.strip_prefix(b";") else {
        return fail(s, Cond::NotWellFormed, "unterminated entity reference");
    };
    let text = match name {
        b"lt" => "<",
        b"gt" => ">",
        b"amp" => "&",
        b"apos" => "'",
        b"quot" => "\"",
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

// ---------------------------------------------------------------------------
// Names and tags (XML 1.0 §2.3, §3.1; Namespaces in XML §3-§4)

fn space0(s: &[u8]) -> PResult<'_, &[u8]> {
    take_while(is_xml_space).parse(s)
}

fn space1(s: &[u8]) -> PResult<'_, &[u8]> {
    take_while1(is_xml_space).parse(s)
}

fn is_ascii_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':')
}

/// An XML `Name` (XML 1.0 §2.3; colons are checked by [`split_qname`]):
/// ASCII name characters take a fast path, others the full rule.
pub(crate) fn name(s: &[u8]) -> PResult<'_, &[u8]> {
    let first = match s.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => 1,
        _ => match first_char(s) {
            Some((c, n)) if is_name_start_char(c) => n,
            _ => return mismatch(s, "expected a name"),
        },
    };
    let mut end = first
        + s.get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| is_ascii_name_byte(**b))
            .count();
    while let Some((c, n)) = s
        .get(end..)
        .filter(|r| r.first().is_some_and(|b| *b >= 0x80))
        .and_then(first_char)
    {
        if !is_name_char(c) {
            break;
        }
        end += n;
        end += s
            .get(end..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| is_ascii_name_byte(**b))
            .count();
    }
    Ok((
        s.get(end..).unwrap_or_default(),
        s.get(..end).unwrap_or_default(),
    ))
}

/// Splits a qualified name into (prefix, local part), checking Namespaces in
/// XML §3 (`QName ::= (NCName ':')? NCName`).
pub(crate) fn split_qname(q: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let Some(i) = memchr::memchr(b':', q) else {
        return Some((None, q));
    };
    let (p, l) = (&q[..i], &q[i + 1..]);
    if p.is_empty() || l.is_empty() || l.contains(&b':') {
        return None;
    }
    let (c, _) = first_char(l)?;
    is_name_start_char(c).then_some((Some(p), l))
}

/// One attribute: name, raw (still escaped) value between the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawAttr<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// `AttValue` (XML 1.0 §3.1 production 10): a quoted value without `<`.
fn att_value(s: &[u8]) -> PResult<'_, &[u8]> {
    let Some(&q) = s.first().filter(|q| matches!(q, b'\'' | b'"')) else {
        return fail(s, Cond::NotWellFormed, "attribute value not quoted");
    };
    let body = &s[1..];
    match memchr::memchr2(q, b'<', body) {
        Some(i) if body[i] == q => Ok((&body[i + 1..], &body[..i])),
        Some(i) => fail(&body[i..], Cond::NotWellFormed, "'<' in attribute value"),
        None => fail(s, Cond::NotWellFormed, "unterminated attribute value"),
    }
}

/// The next attribute of an attributes text (`(S Attribute)* S?`), or
/// `None` at its end.
pub(crate) fn next_attribute(s: &[u8]) -> PResult<'_, Option<RawAttr<'_>>> {
    let (rest, sp) = space0(s)?;
    if rest.is_empty() {
        return Ok((rest, None));
    }
    if sp.is_empty() {
        return fail(
            rest,
            Cond::NotWellFormed,
            "attributes not separated by white space",
        );
    }
    let (rest, n) = must(name(rest), rest, "expected an attribute name")?;
    let (rest, _) = must(
        delimited(space0, ch('='), space0).parse(rest),
        rest,
        "attribute without '='",
    )?;
    let (rest, v) = att_value(rest)?;
    Ok((rest, Some(RawAttr { name: n, value: v })))
}

/// The head of a start tag: its name, the text holding the attributes
/// (walked by [`next_attribute`]), and whether it is an empty-element tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartTag<'a> {
    pub name: &'a [u8],
    /// Everything between the name and the closing `>` / `/>`.
    pub attrs: &'a [u8],
    pub empty: bool,
}

/// Splits a whole start tag `<name attrs... >` or `.../>` into its name and
/// attributes text. The attributes are checked by walking them.
pub(crate) fn start_tag(s: &[u8]) -> PResult<'_, StartTag<'_>> {
    let (rest, _) = ch('<').parse(s)?;
    let (rest, n) = must(name(rest), rest, "expected an element name")?;
    let (attrs, empty) = match rest {
        [a @ .., b'/', b'>'] => (a, true),
        [a @ .., b'>'] => (a, false),
        _ => return fail(rest, Cond::NotWellFormed, "malformed start tag"),
    };
    Ok((
        &[],
        StartTag {
            name: n,
            attrs,
            empty,
        },
    ))
}

/// Parses a whole end tag `</name S?>` and returns the name.
pub(crate) fn end_tag(s: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, n) = preceded(tag(&b"</"[..]), name).parse(s)?;
    let (rest, _) = space0(rest)?;
    let (rest, _) = must(ch('>').parse(rest), rest, "malformed end tag")?;
    Ok((rest, n))
}

/// Iterates over the attributes text of a checked [`StartTag`]; stops at
/// anything unexpected.
#[derive(Debug, Clone)]
pub(crate) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(attrs: &'a [u8]) -> Self {
        Attrs { rest: attrs }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = RawAttr<'a>;
    fn next(&mut self) -> Option<RawAttr<'a>> {
        match next_attribute(self.rest) {
            Ok((rest, a)) => {
                self.rest = rest;
                a
            }
            Err(_) => {
                self.rest = &[];
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
pub(crate) fn xml_decl(s: &[u8]) -> PResult<'_, ()> {
    let eq = || delimited(space0, ch('='), space0);
    let (rest, _) = tag(&b"<?xml"[..]).parse(s)?;
    let (rest, _) = must(
        preceded(space1, tag(&b"version"[..])).parse(rest),
        rest,
        "XML declaration without version",
    )?;
    let (rest, _) = eq().parse(rest)?;
    let (rest, v) = att_value(rest)?;
    if !(v.len() > 2 && v.starts_with(b"1.") && v[2..].iter().all(u8::is_ascii_digit)) {
        return fail(rest, Cond::NotWellFormed, "unsupported XML version");
    }
    let (rest, enc) =
        opt(preceded((space1, tag(&b"encoding"[..]), eq()), att_value)).parse(rest)?;
    if enc.is_some_and(|e| !e.eq_ignore_ascii_case(b"utf-8")) {
        return fail(rest, Cond::UnsupportedEncoding, "encoding other than UTF-8");
    }
    let (rest, sd) =
        opt(preceded((space1, tag(&b"standalone"[..]), eq()), att_value)).parse(rest)?;
    if sd.is_some_and(|sd| sd != b"yes" && sd != b"no") {
        return fail(rest, Cond::NotWellFormed, "bad standalone value");
    }
    let (rest, _) = space0(rest)?;
    let (rest, _) = must(
        tag(&b"?>"[..]).parse(rest),
        rest,
        "malformed XML declaration",
    )?;
    Ok((rest, ()))
}

/// Runs a whole-token parser and maps its failure to a [`TokErr`]; the
/// token must be consumed entirely.
pub(crate) fn complete<'a, T>(
    s: &'a [u8],
    p: impl FnOnce(&'a [u8]) -> PResult<'a, T>,
) -> Result<T, TokErr> {
    match p(s) {
        Ok(([], v)) => Ok(v),
        Ok((rest, _)) => Err(TokErr::new(
            Cond::NotWellFormed,
            "junk after markup",
            offset_in(s, rest),
        )),
        Err(e) => Err(to_tok_err(s, e)),
    }
}

/// Walks a start tag's attributes strictly, reporting the first fault.
pub(crate) fn check_attributes<'a>(
    attrs: &'a [u8],
    mut each: impl FnMut(RawAttr<'a>) -> Result<(), TokErr>,
) -> Result<(), TokErr> {
    let mut rest = attrs;
    loop {
        match next_attribute(rest) {
            Ok((_, None)) => return Ok(()),
            Ok((r, Some(a))) => {
                each(a)?;
                rest = r;
            }
            Err(e) => return Err(to_tok_err(attrs, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars() {
        assert!(
            check_chars(b"hello \t\r\n world, \xC3\xA9 \xF0\x9F\x98\x80 and more ascii text")
                .is_ok()
        );
        assert_eq!(check_chars(b"0123456789\x01").unwrap_err().at, 10);
        assert!(check_chars(b"01234567\x7F").is_ok());
        assert_eq!(
            check_chars(b"ab\xEF\xBF\xBE").unwrap_err().cond,
            Cond::NotWellFormed
        );
        assert!(check_chars(b"ab\xEF\xBF\xBD").is_ok());
        assert_eq!(
            check_chars(b"abc\xC3").unwrap_err().cond,
            Cond::UnsupportedEncoding
        );
        assert!(check_chars(b"\xEF\xBB\xBFabcdefgh").is_ok());
        // Overlong forms, surrogates, beyond U+10FFFF, stray continuation.
        for bad in [
            &b"\xC0\xAF"[..],
            b"\xE0\x80\xAF",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\x80",
            b"\xF8",
        ] {
            assert_eq!(
                check_chars(bad).unwrap_err().cond,
                Cond::UnsupportedEncoding,
                "{bad:?}"
            );
        }
        // Agrees with the standard library on every 2-byte sequence.
        for a in 0u8..=255 {
            for b in 0u8..=255 {
                let s = [b'x', a, b, b'y'];
                let ours = check_chars(&s).map_err(|e| e.cond);
                let std_ok = core::str::from_utf8(&s)
                    .map(|t| t.chars().all(is_xml_char))
                    .unwrap_or(false);
                assert_eq!(ours.is_ok(), std_ok, "{s:?}");
            }
        }
        // And on the 3- and 4-byte forms around every boundary.
        for lead in 0xE0u8..=0xF7 {
            for b1 in 0u8..=255 {
                for b2 in [
                    0x41u8, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBD, 0xBE, 0xBF, 0xC0,
                ] {
                    for b3 in [0x80u8, 0xBF, 0x41] {
                        let s = [lead, b1, b2, b3];
                        let std_ok = core::str::from_utf8(&s)
                            .map(|t| t.chars().all(is_xml_char))
                            .unwrap_or(false);
                        assert_eq!(check_chars(&s).is_ok(), std_ok, "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn references() {
        assert_eq!(
            reference(b"&lt;x").unwrap(),
            (&b"x"[..], Reference::Predefined("<"))
        );
        assert_eq!(reference(b"&#233;").unwrap().1, Reference::Char('é'));
        assert_eq!(reference(b"&#x1F600;").unwrap().1, Reference::Char('😀'));
        assert!(reference(b"&#0;").is_err());
        assert!(reference(b"&#xD800;").is_err());
        assert!(reference(b"&#99999999999;").is_err());
        let text = |b: &[u8]| scan_text(b, 0, 0);
        let e = text(b"a &nbsp; b<").unwrap_err();
        assert_eq!((e.cond, e.at), (Cond::RestrictedXml, 2));
        assert_eq!(text(b"a & b<").unwrap_err().cond, Cond::NotWellFormed);
        assert_eq!(text(b"a ]]> b<").unwrap_err().cond, Cond::NotWellFormed);
        assert_eq!(text(b"a ] ]> &amp; &#10; > b<"), Ok(Scan::Found(22)));
        // Waiting inside a reference or a UTF-8 sequence, refusing early
        // what can no longer become right.
        assert_eq!(text(b"ab&am"), Ok(Scan::More(2, 0)));
        assert_eq!(text(b"ab\xC3"), Ok(Scan::More(2, 0)));
        assert_eq!(
            text(b"ab\xC3\x28").unwrap_err().cond,
            Cond::UnsupportedEncoding
        );
        assert_eq!(
            text(b"&averyveryveryveryverylongentityname")
                .unwrap_err()
                .cond,
            Cond::RestrictedXml
        );
        assert_eq!(scan_tag(b"<a b='>' c=\"'\">", 1, 0), Ok(Scan::Found(14)));
        assert_eq!(scan_tag(b"<a b='x", 1, 0), Ok(Scan::More(7, b'\'')));
        assert_eq!(
            scan_tag(b"<a b='<'>", 1, 0).unwrap_err().reason,
            "'<' in attribute value"
        );
        assert_eq!(
            scan_tag(b"<a &amp;>", 1, 0).unwrap_err().reason,
            "'&' inside a tag"
        );
    }

    fn attrs_of(t: &StartTag<'_>) -> std::vec::Vec<(std::string::String, std::string::String)> {
        let mut v = std::vec::Vec::new();
        check_attributes(t.attrs, |a| {
            v.push((
                std::string::String::from_utf8(a.name.to_vec()).unwrap(),
                std::string::String::from_utf8(a.value.to_vec()).unwrap(),
            ));
            Ok(())
        })
        .map(|_| v)
        .unwrap_or_default()
    }

    #[test]
    fn tags() {
        let t = complete(b"<message to='a@b' type=\"chat\">", start_tag).unwrap();
        assert_eq!((t.name, t.empty), (&b"message"[..], false));
        assert_eq!(attrs_of(&t)[1], ("type".into(), "chat".into()));
        let t = complete(b"<br\n/>", start_tag).unwrap();
        assert!(t.empty && t.attrs == b"\n");
        assert!(check_attributes(b" b='1'c='2'", |_| Ok(())).is_err());
        assert!(check_attributes(b" b=1", |_| Ok(())).is_err());
        assert!(check_attributes(b" b='<'", |_| Ok(())).is_err());
        assert!(check_attributes(b"b='1'", |_| Ok(())).is_err());
        assert!(check_attributes(b" b = '1' \n", |_| Ok(())).is_ok());
        assert!(complete(b"<1a>", start_tag).is_err());
        assert_eq!(
            complete(b"</stream:stream >", end_tag).unwrap(),
            b"stream:stream"
        );
        assert_eq!(
            complete("<é名-x>".as_bytes(), start_tag).unwrap().name,
            "é名-x".as_bytes()
        );
        assert!(complete(b"</a b>", end_tag).is_err());
        assert!(complete(b"<?xml version='1.0' encoding='UTF-8'?>", xml_decl).is_ok());
        assert_eq!(
            complete(b"<?xml version='1.0' encoding='latin1'?>", xml_decl)
                .unwrap_err()
                .cond,
            Cond::UnsupportedEncoding
        );
        assert_eq!(
            split_qname(b"stream:features"),
            Some((Some(&b"stream"[..]), &b"features"[..]))
        );
        assert_eq!(split_qname(b"a:b:c"), None);
        assert_eq!(split_qname(b"a:"), None);
        assert_eq!(split_qname(b":a"), None);
        assert_eq!(split_qname(b"a:1"), None);
    }
}
