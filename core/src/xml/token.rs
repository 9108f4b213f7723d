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

/// UTF-8 and XML 1.0 §2.2 `Char` check of received bytes, in bulk.
///
/// Both rules hold everywhere in a stream, in markup and in text, so the
/// parser checks each byte once as it arrives, with vector instructions
/// where the target has them, and tokens need no further check.
///
/// Returns how many leading bytes are good (a UTF-8 sequence cut off by the
/// end of `b` is left for the next call) and the first fault, if any.
/// Broken UTF-8 is `unsupported-encoding` (RFC 6120 §4.9.3.22: "has
/// otherwise improperly encoded the stream (e.g., by violating the rules of
/// the UTF-8 encoding)"); a code point outside `Char` is `not-well-formed`
/// (XML 1.0 §2.2 is a well-formedness rule).
pub(crate) fn check_chars(b: &[u8]) -> (usize, Option<TokErr>) {
    let (good, utf8_fault) = match simdutf8::compat::from_utf8(b) {
        Ok(_) => (b.len(), None),
        Err(e) => {
            let at = e.valid_up_to();
            (
                at,
                e.error_len()
                    .map(|_| TokErr::new(Cond::UnsupportedEncoding, "invalid UTF-8", at)),
            )
        }
    };
    let text = &b[..good];
    let not_char = |i| {
        (
            i,
            Some(TokErr::new(
                Cond::NotWellFormed,
                "character not allowed in XML",
                i,
            )),
        )
    };
    // C0 controls other than tab, line feed, carriage return: 32 bytes per
    // branch while none is flagged, byte by byte in a flagged block.
    let mut ctrl = None;
    let mut i = 0;
    while i < text.len() {
        if let Some(block) = text.get(i..i + 32) {
            let mut any = 0;
            for chunk in block.chunks_exact(8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                let w = u64::from_le_bytes(w);
                any |= w.wrapping_sub(LO * 0x20) & !w & HI;
            }
            if any == 0 {
                i += 32;
                continue;
            }
        }
        let end = text.len().min(i + 32);
        if let Some(j) = text[i..end]
            .iter()
            .position(|c| *c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'))
        {
            ctrl = Some(i + j);
            break;
        }
        i = end;
    }
    // U+FFFE and U+FFFF (EF BF BE, EF BF BF), before the first control:
    // the earliest fault is the one reported.
    let before = ctrl.unwrap_or(text.len());
    for i in memchr::memchr_iter(0xEF, &text[..before]) {
        if text.get(i + 1) == Some(&0xBF) && text.get(i + 2).is_some_and(|c| *c >= 0xBE) {
            return not_char(i);
        }
    }
    if let Some(i) = ctrl {
        return not_char(i);
    }
    (good, utf8_fault)
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

/// Scans character data from `b[from]` to the next `<`, checking the
/// references and `]]>` (searched back to `start`, where the text run
/// began) on the way. `b` ends where the checked bytes end.
pub(crate) fn scan_text(b: &[u8], start: usize, from: usize) -> Result<Scan, TokErr> {
    let mut i = from;
    loop {
        let Some(k) = memchr::memchr3(b'<', b'&', b'>', b.get(i..).unwrap_or_default()) else {
            return Ok(Scan::More(b.len(), 0));
        };
        i += k;
        match b[i] {
            b'<' => return Ok(Scan::Found(i)),
            b'>' => {
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
            _ => match scan_reference(b, i)? {
                Some(n) => i += n,
                None => return Ok(Scan::More(i, 0)),
            },
        }
    }
}

/// Finds the `>` closing a tag from `b[from]`, outside quoted attribute
/// values (`quote` is the quote the scan resumes inside, or 0).
pub(crate) fn scan_tag(b: &[u8], from: usize, mut quote: u8) -> Scan {
    let mut i = from;
    loop {
        let rest = b.get(i..).unwrap_or_default();
        let found = if quote == 0 {
            memchr::memchr3(b'>', b'\'', b'"', rest)
        } else {
            memchr::memchr(quote, rest)
        };
        let Some(k) = found else {
            return Scan::More(b.len(), quote);
        };
        i += k;
        match b[i] {
            b'>' if quote == 0 => return Scan::Found(i),
            c if quote == 0 => quote = c,
            _ => quote = 0,
        }
        i += 1;
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

/// ASCII bytes that may continue a name (XML 1.0 §2.3), as a table: the
/// name scanner is on the hot path of every tag.
static NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        // ':' is a name character too, but the scanner handles it apart
        // to note where the prefix ends.
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        i += 1;
    }
    t
};

#[inline]
fn is_ascii_name_byte(b: u8) -> bool {
    NAME_BYTE[b as usize] || b == b':'
}

/// A qualified name split into (prefix, local part), or `None` when it is
/// a `Name` but not a `QName` (Namespaces in XML §3-§4).
pub(crate) type QName<'a> = Option<(Option<&'a [u8]>, &'a [u8])>;

/// Scans an XML `Name` (XML 1.0 §2.3) at the start of `s`, splitting it as
/// a qualified name on the way: ASCII name characters take a table-driven
/// fast path, others the full rule. `None` when no name starts here.
#[cfg_attr(not(feature = "small"), inline(always))]
fn scan_name(s: &[u8]) -> Option<(usize, QName<'_>)> {
    let mut end = match s.first()? {
        c if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => 1,
        _ => match first_char(s) {
            Some((c, n)) if is_name_start_char(c) => n,
            _ => return None,
        },
    };
    let mut colon = (s[0] == b':').then_some(0);
    let mut colons = colon.is_some() as u8;
    loop {
        while end < s.len() && NAME_BYTE[s[end] as usize] {
            end += 1;
        }
        match s.get(end) {
            Some(b':') => {
                colon = colon.or(Some(end));
                colons = colons.saturating_add(1);
                end += 1;
            }
            Some(b) if *b >= 0x80 => match first_char(&s[end..]) {
                Some((c, n)) if is_name_char(c) => end += n,
                _ => break,
            },
            _ => break,
        }
    }
    let q = &s[..end];
    let split = match colon {
        None => Some((None, q)),
        Some(c) if colons == 1 && c > 0 && c + 1 < end => {
            let local = &q[c + 1..];
            first_char(local)
                .filter(|(ch, _)| is_name_start_char(*ch))
                .map(|_| (Some(&q[..c]), local))
        }
        Some(_) => None,
    };
    Some((end, split))
}

/// An XML `Name` (XML 1.0 §2.3).
pub(crate) fn name(s: &[u8]) -> PResult<'_, &[u8]> {
    match scan_name(s) {
        Some((n, _)) => Ok((&s[n..], &s[..n])),
        None => mismatch(s, "expected a name"),
    }
}

/// Splits a qualified name into (prefix, local part), checking Namespaces in
/// XML §3 (`QName ::= (NCName ':')? NCName`).
pub(crate) fn split_qname(q: &[u8]) -> QName<'_> {
    match scan_name(q) {
        Some((n, split)) if n == q.len() => split,
        _ => None,
    }
}

/// One attribute: name, raw (still escaped) value between the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawAttr<'a> {
    pub name: &'a [u8],
    /// `name` split as a qualified name.
    pub qname: QName<'a>,
    pub value: &'a [u8],
}

/// Why [`att_value`] failed when its closing quote is missing: the parser
/// then knows the `>` it took for the end of the tag is inside the value.
pub(crate) const UNTERMINATED_VALUE: &str = "unterminated attribute value";

/// `AttValue` (XML 1.0 §3.1 production 10): a quoted value without `<`,
/// whose references are checked.
#[cfg_attr(not(feature = "small"), inline(always))]
fn att_value(s: &[u8]) -> PResult<'_, &[u8]> {
    let Some(&q) = s.first().filter(|q| matches!(q, b'\'' | b'"')) else {
        return fail(s, Cond::NotWellFormed, "attribute value not quoted");
    };
    let body = &s[1..];
    let mut i = 0;
    loop {
        match memchr::memchr3(q, b'<', b'&', &body[i..]).map(|k| i + k) {
            Some(j) if body[j] == q => return Ok((&body[j + 1..], &body[..j])),
            Some(j) if body[j] == b'&' => match reference(&body[j..]) {
                Ok((rest, _)) => i = body.len() - rest.len(),
                Err(nom::Err::Error(e)) => return fail(e.rest, e.cond, e.reason),
                Err(e) => return Err(e),
            },
            Some(j) => return fail(&body[j..], Cond::NotWellFormed, "'<' in attribute value"),
            None => return fail(s, Cond::NotWellFormed, UNTERMINATED_VALUE),
        }
    }
}

/// The next attribute of an attributes text (`(S Attribute)* S?`), or
/// `None` at its end. Every tag goes through here, so the white space and
/// `=` around the value are matched by hand rather than by combinators.
pub(crate) fn next_attribute(s: &[u8]) -> PResult<'_, Option<RawAttr<'_>>> {
    let skip_space = |mut i: usize| {
        while s.get(i).is_some_and(|b| is_xml_space(*b)) {
            i += 1;
        }
        i
    };
    let i = skip_space(0);
    if i == s.len() {
        return Ok((&[], None));
    }
    if i == 0 {
        return fail(
            s,
            Cond::NotWellFormed,
            "attributes not separated by white space",
        );
    }
    let Some((len, qname)) = scan_name(&s[i..]) else {
        return fail(&s[i..], Cond::NotWellFormed, "expected an attribute name");
    };
    let n = &s[i..i + len];
    let j = skip_space(i + len);
    if s.get(j) != Some(&b'=') {
        return fail(&s[j..], Cond::NotWellFormed, "attribute without '='");
    }
    let k = skip_space(j + 1);
    let (rest, v) = att_value(&s[k..])?;
    Ok((
        rest,
        Some(RawAttr {
            name: n,
            qname,
            value: v,
        }),
    ))
}

/// The head of a start tag: its name, the text holding the attributes
/// (walked by [`next_attribute`]), and whether it is an empty-element tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartTag<'a> {
    pub name: &'a [u8],
    /// `name` split as a qualified name.
    pub qname: QName<'a>,
    /// Everything between the name and the closing `>` / `/>`.
    pub attrs: &'a [u8],
    pub empty: bool,
}

/// Splits a whole start tag `<name attrs... >` or `.../>` into its name and
/// attributes text. The attributes are checked by walking them.
#[cfg_attr(not(feature = "small"), inline(always))]
pub(crate) fn start_tag(s: &[u8]) -> PResult<'_, StartTag<'_>> {
    let Some(rest) = s.strip_prefix(b"<") else {
        return mismatch(s, "expected a start tag");
    };
    let Some((len, qname)) = scan_name(rest) else {
        return fail(rest, Cond::NotWellFormed, "expected an element name");
    };
    let (n, rest) = rest.split_at(len);
    let (attrs, empty) = match rest {
        [a @ .., b'/', b'>'] => (a, true),
        [a @ .., b'>'] => (a, false),
        _ => return fail(rest, Cond::NotWellFormed, "malformed start tag"),
    };
    Ok((
        &[],
        StartTag {
            name: n,
            qname,
            attrs,
            empty,
        },
    ))
}

/// Parses a whole end tag `</name S?>` and returns the name.
#[cfg_attr(not(feature = "small"), inline(always))]
pub(crate) fn end_tag(s: &[u8]) -> PResult<'_, &[u8]> {
    let Some(rest) = s.strip_prefix(b"</") else {
        return mismatch(s, "expected an end tag");
    };
    let Some((len, _)) = scan_name(rest) else {
        return fail(rest, Cond::NotWellFormed, "expected an element name");
    };
    let mut i = len;
    while rest.get(i).is_some_and(|b| is_xml_space(*b)) {
        i += 1;
    }
    match rest.get(i) {
        Some(b'>') => Ok((&rest[i + 1..], &rest[..len])),
        _ => fail(&rest[i..], Cond::NotWellFormed, "malformed end tag"),
    }
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
#[cfg_attr(not(feature = "small"), inline(always))]
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

    fn ok(b: &[u8]) -> bool {
        check_chars(b) == (b.len(), None)
    }

    fn fault(b: &[u8]) -> TokErr {
        check_chars(b).1.expect("a fault")
    }

    #[test]
    fn chars() {
        assert!(ok(
            b"hello \t\r\n world, \xC3\xA9 \xF0\x9F\x98\x80 and more ascii text"
        ));
        assert_eq!(fault(b"0123456789\x01").at, 10);
        assert!(ok(b"01234567\x7F"));
        assert_eq!(fault(b"ab\xEF\xBF\xBE").cond, Cond::NotWellFormed);
        assert!(ok(b"ab\xEF\xBF\xBD"));
        // The earliest fault wins, whatever its kind.
        assert_eq!(fault(b"<aa\xEF\xBF\xBFa\x00").at, 3);
        assert_eq!(fault(b"<a\x01a\xEF\xBF\xBF").at, 2);
        // A sequence cut off at the end waits for its bytes.
        assert_eq!(check_chars(b"abc\xC3"), (3, None));
        assert!(ok(b"\xEF\xBB\xBFabcdefgh"));
        // Overlong forms, surrogates, beyond U+10FFFF, stray continuation.
        for bad in [
            &b"\xC0\xAF"[..],
            b"\xE0\x80\xAF",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\x80",
            b"\xF8",
        ] {
            assert_eq!(fault(bad).cond, Cond::UnsupportedEncoding, "{bad:?}");
        }
        // Agrees with the standard library on every 2-byte sequence.
        for a in 0u8..=255 {
            for b in 0u8..=255 {
                let s = [b'x', a, b, b'y'];
                let std_ok = core::str::from_utf8(&s)
                    .map(|t| t.chars().all(is_xml_char))
                    .unwrap_or(false);
                assert_eq!(ok(&s), std_ok, "{s:?}");
            }
        }
        // And on the 3- and 4-byte forms around every boundary.
        for lead in 0xE0u8..=0xF7 {
            for b1 in 0u8..=255 {
                for b2 in [
                    0x41u8, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBD, 0xBE, 0xBF, 0xC0,
                ] {
                    for b3 in [0x80u8, 0xBF, 0x41] {
                        let s = [lead, b1, b2, b3, b'.'];
                        let std_ok = core::str::from_utf8(&s)
                            .map(|t| t.chars().all(is_xml_char))
                            .unwrap_or(false);
                        assert_eq!(ok(&s), std_ok, "{s:?}");
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
        // Waiting inside a reference, refusing early what can no longer
        // become right.
        assert_eq!(text(b"ab&am"), Ok(Scan::More(2, 0)));
        assert_eq!(
            text(b"&averyveryveryveryverylongentityname")
                .unwrap_err()
                .cond,
            Cond::RestrictedXml
        );
        assert_eq!(scan_tag(b"<a b='>' c=\"'\">", 1, 0), Scan::Found(14));
        assert_eq!(scan_tag(b"<a b='x", 1, 0), Scan::More(7, b'\''));
        assert!(check_attributes(b" b='<'", |_| Ok(())).is_err());
        assert!(check_attributes(b" b='&amp;&#x3c;'", |_| Ok(())).is_ok());
        assert_eq!(
            check_attributes(b" b='&nbsp;'", |_| Ok(()))
                .unwrap_err()
                .cond,
            Cond::RestrictedXml
        );
        assert!(check_attributes(b" &amp;", |_| Ok(())).is_err());
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
