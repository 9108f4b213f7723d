//! XMPP addresses (JIDs), RFC 7622.
//!
//! A JID has the form `[localpart "@"] domainpart ["/" resourcepart]`. This
//! module offers two forms of it:
//!
//! - [`Jid`], a borrowed view of a `&str`: parsing it copies nothing;
//! - [`JidBuf`], an owned copy in a fixed-capacity [`heapless::String`], with
//!   the part boundaries kept as small integers. Its default capacity,
//!   [`MAX_JID_LEN`] (3071 bytes), holds every valid JID; a smaller `N` saves
//!   memory and refuses longer JIDs with [`JidError::CapacityExceeded`].
//!
//! ```
//! use picoxmpp::jid::{Jid, JidBuf};
//!
//! let jid = Jid::parse("juliet@example.com/balcony")?;
//! assert_eq!(jid.local(), Some("juliet"));
//! assert_eq!(jid.domain(), "example.com");
//! assert_eq!(jid.resource(), Some("balcony"));
//! assert!(jid.is_full());
//!
//! // The resourcepart starts at the first '/', and may contain '/' and '@'.
//! let room = Jid::parse("room@conference.example.org/nick/with@signs")?;
//! assert_eq!(room.resource(), Some("nick/with@signs"));
//!
//! // Localpart and domainpart compare ASCII-case-insensitively, and a
//! // trailing dot on the domainpart is stripped.
//! let owned: JidBuf = JidBuf::from_parts(Some("Juliet"), "EXAMPLE.com.", None)?;
//! assert_eq!(owned.as_str(), "Juliet@EXAMPLE.com");
//! assert_eq!(owned, jid.bare());
//! assert_eq!(jid.bare().to_string(), "juliet@example.com");
//!
//! assert!(Jid::parse("\"juliet\"@example.com").is_err());
//! # Ok::<(), picoxmpp::jid::JidError>(())
//! ```
//!
//! # Parsing
//!
//! As RFC 7622 §3.1 says, the first `/` ends the bare part and everything
//! after it is the resourcepart (which may itself contain `/` and `@`); in
//! the bare part, the first `@` ends the localpart. Each part present must be
//! 1 to 1023 bytes ([`MAX_PART_LEN`]) of UTF-8: an `@` with nothing before it,
//! a `/` with nothing after it, or an empty domainpart is an error.
//!
//! # How much of PRECIS and IDNA is done
//!
//! RFC 7622 prepares the localpart with the PRECIS `UsernameCaseMapped`
//! profile (RFC 8265), the resourcepart with `OpaqueString` (RFC 8265), and
//! the domainpart with IDNA2008 (RFC 5890–5892, usually with UTS #46
//! mapping). Doing that fully needs Unicode tables (derived properties,
//! case folding, normalization, bidi classes, width mappings) far too large
//! for a microcontroller, so this module does only the cheap, table-free
//! part of it.
//!
//! Done:
//!
//! - **Lengths**: each part 1..=1023 bytes; each ASCII domain label at most
//!   63 bytes ([`MAX_DOMAIN_LABEL_LEN`]).
//! - **Localpart**: refuses the characters RFC 7622 §3.3.1 excludes,
//!   `"` `&` `'` `/` `:` `<` `>` `@`, and also every control character
//!   (Unicode `Cc`: U+0000–U+001F, U+007F–U+009F) and every white-space
//!   character (Unicode `White_Space`, so ASCII space and U+00A0, U+3000, …),
//!   which `UsernameCaseMapped` disallows too.
//! - **Resourcepart**: refuses control characters (Unicode `Cc`), as
//!   `OpaqueString` does. Spaces are allowed anywhere, even leading (RFC 7622
//!   erratum 4560).
//! - **Domainpart**: one trailing dot is stripped (RFC 7622 §3.2); what is
//!   left is either an IPv6 literal in brackets (`[::1]`, checked with
//!   [`core::net::Ipv6Addr`]'s parser; no zone identifier, no `IPvFuture`),
//!   an IPv4 literal (a name made only of digits and dots must be one, checked
//!   with [`core::net::Ipv4Addr`]'s parser; without the `ip-literal-domains`
//!   feature both kinds are refused), or dot-separated non-empty
//!   labels. A label holds ASCII letters, digits, `-` and `_` (the underscore
//!   is not LDH, but is accepted for leniency with deployed service names),
//!   does not start or end with `-`, and may hold non-ASCII characters
//!   (U-labels are taken as they are) other than control characters,
//!   white space and the ideographic and fullwidth full stops
//!   (U+3002, U+FF0E, U+FF61), which IDNA2008 disallows. The 63-byte label
//!   limit is checked on ASCII labels only, since the limit of a U-label
//!   applies to its A-label form.
//! - **Comparison** ([`PartialEq`], [`Eq`], [`Hash`], between `Jid` and
//!   `JidBuf` both ways): localpart and domainpart compare ASCII-case-
//!   insensitively, after the trailing dot of the domainpart is stripped;
//!   the resourcepart compares byte for byte.
//!
//! Not done:
//!
//! - Unicode case mapping: `Σ@example.com` and `σ@example.com` are
//!   different JIDs here (PRECIS makes them equal); non-ASCII letters of a
//!   domain label are not lower-cased either.
//! - Unicode normalization (NFC), width mapping (fullwidth to ASCII), the
//!   mapping of non-ASCII spaces to U+0020 in the resourcepart.
//! - The PRECIS rules that need character tables: a localpart such as
//!   `henryⅣ@example.com` (compatibility character) or `♚@example.com`
//!   (symbol), which RFC 7622 §3.5 lists as invalid, is accepted; so are
//!   unassigned code points and default-ignorable characters.
//! - The bidi rule (RFC 5893) and the IDNA2008 contextual rules.
//! - IDNA A-label/U-label conversion: `xn--bcher-kva.example` and
//!   `bücher.example` are different domainparts here.
//! - Canonical forms of IP literals: `[::1]` and `[0::1]` differ here.
//!
//! Within those limits two JIDs that compare equal here are equal under
//! RFC 7622, but some JIDs that RFC 7622 deems equal (or invalid) are not
//! seen as such. A JID that the server returns, such as the full JID from
//! resource binding, is trusted as canonical: it is stored as received.

use core::fmt::{self, Write as _};
use core::hash::{Hash, Hasher};
#[cfg(feature = "ip-literal-domains")]
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// Largest size of each of the localpart, domainpart and resourcepart, in
/// bytes of UTF-8 (RFC 7622 §3.1).
pub const MAX_PART_LEN: usize = 1023;

/// Largest size of a whole JID in bytes: three parts of [`MAX_PART_LEN`]
/// bytes, plus the `@` and the `/`. The default capacity of [`JidBuf`].
pub const MAX_JID_LEN: usize = 3 * MAX_PART_LEN + 2;

/// Largest size of one ASCII label of the domainpart, in bytes (RFC 1035).
pub const MAX_DOMAIN_LABEL_LEN: usize = 63;

/// Why a string is not a valid JID, or does not fit a [`JidBuf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JidError {
    /// An `@` with nothing before it.
    EmptyLocal,
    /// The localpart is longer than [`MAX_PART_LEN`] bytes.
    LocalTooLong,
    /// The localpart holds a character that RFC 7622 §3.3.1 excludes, a
    /// control character or white space.
    ForbiddenCharInLocal,
    /// No domainpart (after the trailing dot, if any, is stripped).
    EmptyDomain,
    /// The domainpart is longer than [`MAX_PART_LEN`] bytes.
    DomainTooLong,
    /// An ASCII label of the domainpart is longer than
    /// [`MAX_DOMAIN_LABEL_LEN`] bytes.
    DomainLabelTooLong,
    /// The domainpart has an empty label (two dots in a row, a leading dot,
    /// or two trailing dots) or a label that starts or ends with `-`.
    InvalidDomain,
    /// The domainpart holds a character not allowed in a domain name.
    ForbiddenCharInDomain,
    /// A bracketed IPv6 literal that does not parse, or an all-numeric
    /// domainpart that is not an IPv4 address.
    InvalidIpLiteral,
    /// A `/` with nothing after it.
    EmptyResource,
    /// The resourcepart is longer than [`MAX_PART_LEN`] bytes.
    ResourceTooLong,
    /// The resourcepart holds a control character.
    ForbiddenCharInResource,
    /// The JID is valid but longer than the capacity of the [`JidBuf`].
    CapacityExceeded,
}

impl fmt::Display for JidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyLocal => "empty localpart before '@'",
            Self::LocalTooLong => "localpart longer than 1023 bytes",
            Self::ForbiddenCharInLocal => "forbidden character in localpart",
            Self::EmptyDomain => "empty domainpart",
            Self::DomainTooLong => "domainpart longer than 1023 bytes",
            Self::DomainLabelTooLong => "domain label longer than 63 bytes",
            Self::InvalidDomain => "empty domain label or label starting or ending with '-'",
            Self::ForbiddenCharInDomain => "forbidden character in domainpart",
            Self::InvalidIpLiteral => "invalid IP address literal in domainpart",
            Self::EmptyResource => "empty resourcepart after '/'",
            Self::ResourceTooLong => "resourcepart longer than 1023 bytes",
            Self::ForbiddenCharInResource => "control character in resourcepart",
            Self::CapacityExceeded => "JID longer than the buffer's capacity",
        })
    }
}

impl core::error::Error for JidError {}

// ---------------------------------------------------------------------------
// Validation of the parts.

/// Characters the localpart may not hold: RFC 7622 §3.3.1's list, control
/// characters and white space.
fn is_forbidden_in_local(c: char) -> bool {
    matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@')
        || c.is_control()
        || c.is_whitespace()
}

fn check_local(local: &str) -> Result<(), JidError> {
    if local.is_empty() {
        return Err(JidError::EmptyLocal);
    }
    if local.len() > MAX_PART_LEN {
        return Err(JidError::LocalTooLong);
    }
    if local.chars().any(is_forbidden_in_local) {
        return Err(JidError::ForbiddenCharInLocal);
    }
    Ok(())
}

fn check_resource(resource: &str) -> Result<(), JidError> {
    if resource.is_empty() {
        return Err(JidError::EmptyResource);
    }
    if resource.len() > MAX_PART_LEN {
        return Err(JidError::ResourceTooLong);
    }
    if resource.chars().any(char::is_control) {
        return Err(JidError::ForbiddenCharInResource);
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), JidError> {
    if label.is_empty() {
        return Err(JidError::InvalidDomain);
    }
    let mut ascii = true;
    for c in label.chars() {
        let allowed = if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        } else {
            ascii = false;
            !(c.is_control()
                || c.is_whitespace()
                || matches!(c, '\u{3002}' | '\u{FF0E}' | '\u{FF61}'))
        };
        if !allowed {
            return Err(JidError::ForbiddenCharInDomain);
        }
    }
    if ascii && label.len() > MAX_DOMAIN_LABEL_LEN {
        return Err(JidError::DomainLabelTooLong);
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(JidError::InvalidDomain);
    }
    Ok(())
}

/// An IPv6 address as RFC 7622 §3.2 takes it (RFC 3986 `IPv6address`).
#[cfg(feature = "ip-literal-domains")]
fn is_ipv6(addr: &str) -> bool {
    addr.parse::<Ipv6Addr>().is_ok()
}

/// An IPv4 address in dotted-decimal form (RFC 3986 `IPv4address`).
#[cfg(feature = "ip-literal-domains")]
fn is_ipv4(addr: &str) -> bool {
    addr.parse::<Ipv4Addr>().is_ok()
}

/// Without `ip-literal-domains` no IP literal is accepted: a device that
/// only ever talks to named servers keeps `core::net`'s parsers out of its
/// flash, and refuses what it cannot check.
#[cfg(not(feature = "ip-literal-domains"))]
fn is_ipv6(_: &str) -> bool {
    false
}

/// See [`is_ipv6`]: refused without `ip-literal-domains`.
#[cfg(not(feature = "ip-literal-domains"))]
fn is_ipv4(_: &str) -> bool {
    false
}

/// `s` around the first `b` (an ASCII byte), as `str::split_once` with a
/// char pattern, without its searcher's code.
fn split_once(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|c| c == b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Checks a domainpart and returns it without its trailing dot.
fn check_domain(domain: &str) -> Result<&str, JidError> {
    let domain = match domain.as_bytes().last() {
        Some(b'.') => domain.get(..domain.len() - 1).unwrap_or_default(),
        _ => domain,
    };
    if domain.is_empty() {
        return Err(JidError::EmptyDomain);
    }
    if domain.len() > MAX_PART_LEN {
        return Err(JidError::DomainTooLong);
    }
    if let Some(inner) = domain.strip_prefix('[') {
        let addr = inner.strip_suffix(']').ok_or(JidError::InvalidIpLiteral)?;
        return match is_ipv6(addr) {
            true => Ok(domain),
            false => Err(JidError::InvalidIpLiteral),
        };
    }
    let mut all_numeric = true;
    let mut rest = domain;
    loop {
        let (label, tail) = match split_once(rest, b'.') {
            Some((label, tail)) => (label, Some(tail)),
            None => (rest, None),
        };
        check_label(label)?;
        all_numeric &= label.bytes().all(|b| b.is_ascii_digit());
        match tail {
            Some(tail) => rest = tail,
            None => break,
        }
    }
    if all_numeric && !is_ipv4(domain) {
        return Err(JidError::InvalidIpLiteral);
    }
    Ok(domain)
}

// ---------------------------------------------------------------------------
// Comparison helpers shared by `Jid` and `JidBuf`.

fn eq_parts(a: &Jid<'_>, b: &Jid<'_>) -> bool {
    let local_eq = match (a.local(), b.local()) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        (None, None) => true,
        _ => false,
    };
    local_eq && a.domain().eq_ignore_ascii_case(b.domain()) && a.resource() == b.resource()
}

/// Feeds `s` to `state`, ASCII-lower-cased, followed by a terminator byte
/// that UTF-8 never holds.
fn hash_folded<H: Hasher>(s: &str, state: &mut H) {
    let mut chunk = [0u8; 64];
    let mut n = 0;
    for b in s.bytes() {
        if n == chunk.len() {
            state.write(&chunk);
            n = 0;
        }
        if let Some(slot) = chunk.get_mut(n) {
            *slot = b.to_ascii_lowercase();
        }
        n += 1;
    }
    state.write(chunk.get(..n).unwrap_or(&[]));
    state.write_u8(0xff);
}

/// Feeds the JID as RFC 7622 compares it. Each part ends in 0xFF, a byte
/// UTF-8 never has, so distinct JIDs feed distinct bytes: the keyed tags of
/// `client/iq.rs` rely on it.
fn hash_parts<H: Hasher>(jid: &Jid<'_>, state: &mut H) {
    match jid.local() {
        Some(local) => {
            state.write_u8(1);
            hash_folded(local, state);
        }
        None => state.write_u8(0),
    }
    hash_folded(jid.domain(), state);
    match jid.resource() {
        Some(resource) => {
            state.write_u8(1);
            state.write(resource.as_bytes());
            state.write_u8(0xff);
        }
        None => state.write_u8(0),
    }
}

// ---------------------------------------------------------------------------
// Jid

/// A JID borrowed from a string: its parts are slices of that string.
///
/// Made by [`Jid::parse`] (or `TryFrom<&str>`), or from a [`JidBuf`] by
/// [`JidBuf::as_jid`]. Equality and hashing follow RFC 7622's comparison as
/// far as the [module documentation](self) says.
#[derive(Clone, Copy)]
pub struct Jid<'a> {
    full: &'a str,
    // Offsets into `full` rather than three more slices: a JID is kept
    // and passed around in 16 bytes instead of 32 on a 32-bit target.
    // Every part is at most 1023 bytes (RFC 7622 §3), so they fit.
    /// End of the localpart (its `@`); 0 when there is none (a localpart
    /// is never empty).
    local_end: u16,
    /// Start of the domainpart.
    domain_start: u16,
    /// End of the domainpart, before a trailing dot.
    domain_end: u16,
    /// Start of the resourcepart (after its `/`); 0 when there is none.
    resource_start: u16,
}

impl<'a> Jid<'a> {
    /// Parses and checks a JID; see the [module documentation](self) for the
    /// rules.
    ///
    /// ```
    /// use picoxmpp::jid::{Jid, JidError};
    ///
    /// let jid = Jid::parse("example.com/foobar")?;
    /// assert_eq!((jid.local(), jid.domain(), jid.resource()), (None, "example.com", Some("foobar")));
    /// assert_eq!(Jid::parse("@example.com").unwrap_err(), JidError::EmptyLocal);
    /// # Ok::<(), JidError>(())
    /// ```
    pub fn parse(s: &'a str) -> Result<Self, JidError> {
        let (bare, resource) = match split_once(s, b'/') {
            Some((bare, resource)) => (bare, Some(resource)),
            None => (s, None),
        };
        let (local, domain) = match split_once(bare, b'@') {
            Some((local, domain)) => (Some(local), domain),
            None => (None, bare),
        };
        let mut local_end = 0;
        if let Some(local) = local {
            check_local(local)?;
            local_end = local.len();
        }
        let domain_start = bare.len() - domain.len();
        let domain = check_domain(domain)?;
        let mut resource_start = 0;
        if let Some(resource) = resource {
            check_resource(resource)?;
            resource_start = bare.len() + 1;
        }
        // The checks above bound every part to 1023 bytes.
        Ok(Jid {
            full: s,
            local_end: local_end as u16,
            domain_start: domain_start as u16,
            domain_end: (domain_start + domain.len()) as u16,
            resource_start: resource_start as u16,
        })
    }

    /// The text this JID was parsed from, exactly (so with the domainpart's
    /// trailing dot, if it had one; [`Display`](fmt::Display) writes the
    /// JID without it).
    pub fn as_str(&self) -> &'a str {
        self.full
    }

    /// The localpart, if there is one.
    pub fn local(&self) -> Option<&'a str> {
        match self.local_end {
            0 => None,
            end => self.full.get(..usize::from(end)),
        }
    }

    /// The domainpart, without a trailing dot.
    pub fn domain(&self) -> &'a str {
        self.full
            .get(usize::from(self.domain_start)..usize::from(self.domain_end))
            .unwrap_or_default()
    }

    /// The resourcepart, if there is one.
    pub fn resource(&self) -> Option<&'a str> {
        match self.resource_start {
            0 => None,
            start => self.full.get(usize::from(start)..),
        }
    }

    /// Whether this JID has no resourcepart.
    pub fn is_bare(&self) -> bool {
        self.resource_start == 0
    }

    /// Whether this JID has a resourcepart.
    pub fn is_full(&self) -> bool {
        self.resource_start != 0
    }

    /// This JID without its resourcepart.
    pub fn bare(&self) -> Jid<'a> {
        let full = match self.resource_start {
            0 => self.full,
            start => self.full.get(..usize::from(start) - 1).unwrap_or_default(),
        };
        Jid {
            full,
            resource_start: 0,
            ..*self
        }
    }

    /// The JID made of this JID's domainpart alone (the server's address).
    pub fn domain_jid(&self) -> Jid<'a> {
        let domain = self.domain();
        Jid {
            full: domain,
            local_end: 0,
            domain_start: 0,
            domain_end: domain.len() as u16,
            resource_start: 0,
        }
    }
}

impl fmt::Debug for Jid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jid")
            .field("full", &self.full)
            .field("local", &self.local())
            .field("domain", &self.domain())
            .field("resource", &self.resource())
            .finish()
    }
}

impl fmt::Display for Jid<'_> {
    /// Writes the JID as `local@domain/resource`, the domainpart without its
    /// trailing dot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(local) = self.local() {
            f.write_str(local)?;
            f.write_char('@')?;
        }
        f.write_str(self.domain())?;
        if let Some(resource) = self.resource() {
            f.write_char('/')?;
            f.write_str(resource)?;
        }
        Ok(())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Jid<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        if let Some(local) = self.local() {
            defmt::write!(f, "{=str}@", local);
        }
        defmt::write!(f, "{=str}", self.domain());
        if let Some(resource) = self.resource() {
            defmt::write!(f, "/{=str}", resource);
        }
    }
}

impl<'b> PartialEq<Jid<'b>> for Jid<'_> {
    fn eq(&self, other: &Jid<'b>) -> bool {
        eq_parts(self, other)
    }
}

impl Eq for Jid<'_> {}

impl Hash for Jid<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(self, state);
    }
}

impl<'a> TryFrom<&'a str> for Jid<'a> {
    type Error = JidError;

    fn try_from(s: &'a str) -> Result<Self, JidError> {
        Jid::parse(s)
    }
}

impl<'a, const N: usize> From<&'a JidBuf<N>> for Jid<'a> {
    fn from(jid: &'a JidBuf<N>) -> Self {
        jid.as_jid()
    }
}

impl<const N: usize> PartialEq<JidBuf<N>> for Jid<'_> {
    fn eq(&self, other: &JidBuf<N>) -> bool {
        eq_parts(self, &other.as_jid())
    }
}

// ---------------------------------------------------------------------------
// JidBuf

/// An owned JID in a fixed-capacity buffer of `N` bytes.
///
/// The buffer holds `local@domain/resource` (the domainpart without a
/// trailing dot) and the lengths of the localpart and domainpart. The default
/// `N`, [`MAX_JID_LEN`], holds every valid JID; with a smaller `N`, making a
/// longer JID fails with [`JidError::CapacityExceeded`].
///
/// ```
/// use picoxmpp::jid::{Jid, JidBuf, JidError};
///
/// let bound: JidBuf<64> = JidBuf::parse("juliet@example.com/4db06f06")?;
/// assert_eq!(bound.resource(), Some("4db06f06"));
/// assert_eq!(bound.as_jid(), Jid::parse("juliet@example.com/4db06f06")?);
/// assert_eq!(JidBuf::<8>::parse("juliet@example.com").unwrap_err(), JidError::CapacityExceeded);
/// # Ok::<(), JidError>(())
/// ```
#[derive(Clone)]
pub struct JidBuf<const N: usize = MAX_JID_LEN> {
    buf: heapless::String<N>,
    /// Length of the localpart; 0 when there is none (it is never empty).
    local_len: u16,
    /// Length of the domainpart.
    domain_len: u16,
}

fn push<const N: usize>(buf: &mut heapless::String<N>, s: &str) -> Result<(), JidError> {
    buf.push_str(s).map_err(|_| JidError::CapacityExceeded)
}

impl<const N: usize> JidBuf<N> {
    /// Parses and checks a JID (as [`Jid::parse`]) and copies it.
    pub fn parse(s: &str) -> Result<Self, JidError> {
        Self::try_from_jid(Jid::parse(s)?)
    }

    /// Builds a JID from its parts, checking each as [`Jid::parse`] would.
    /// A trailing dot on `domain` is stripped.
    ///
    /// ```
    /// use picoxmpp::jid::{JidBuf, JidError};
    ///
    /// let jid: JidBuf = JidBuf::from_parts(Some("juliet"), "example.com", Some("a/b"))?;
    /// assert_eq!(jid.as_str(), "juliet@example.com/a/b");
    /// let err = JidBuf::<64>::from_parts(Some("a@b"), "example.com", None).unwrap_err();
    /// assert_eq!(err, JidError::ForbiddenCharInLocal);
    /// # Ok::<(), JidError>(())
    /// ```
    pub fn from_parts(
        local: Option<&str>,
        domain: &str,
        resource: Option<&str>,
    ) -> Result<Self, JidError> {
        if let Some(local) = local {
            check_local(local)?;
        }
        let domain = check_domain(domain)?;
        if let Some(resource) = resource {
            check_resource(resource)?;
        }
        Self::build(local, domain, resource)
    }

    /// Copies a parsed JID; fails only if it does not fit in `N` bytes.
    pub fn try_from_jid(jid: Jid<'_>) -> Result<Self, JidError> {
        Self::build(jid.local(), jid.domain(), jid.resource())
    }

    /// Assembles checked parts.
    fn build(local: Option<&str>, domain: &str, resource: Option<&str>) -> Result<Self, JidError> {
        let mut buf = heapless::String::new();
        let mut local_len = 0;
        if let Some(local) = local {
            push(&mut buf, local)?;
            push(&mut buf, "@")?;
            local_len = u16::try_from(local.len()).map_err(|_| JidError::LocalTooLong)?;
        }
        push(&mut buf, domain)?;
        let domain_len = u16::try_from(domain.len()).map_err(|_| JidError::DomainTooLong)?;
        if let Some(resource) = resource {
            push(&mut buf, "/")?;
            push(&mut buf, resource)?;
        }
        Ok(JidBuf {
            buf,
            local_len,
            domain_len,
        })
    }

    fn domain_start(&self) -> usize {
        match self.local_len {
            0 => 0,
            n => usize::from(n) + 1,
        }
    }

    fn domain_end(&self) -> usize {
        self.domain_start() + usize::from(self.domain_len)
    }

    /// The JID as text: `local@domain/resource`, without a trailing dot on
    /// the domainpart.
    pub fn as_str(&self) -> &str {
        self.buf.as_str()
    }

    /// A borrowed view of this JID.
    pub fn as_jid(&self) -> Jid<'_> {
        let domain_start = self.domain_start();
        let domain_end = self.domain_end();
        Jid {
            full: self.as_str(),
            local_end: self.local_len,
            // Parts are at most 1023 bytes (checked when built).
            domain_start: domain_start as u16,
            domain_end: domain_end as u16,
            resource_start: match self.as_str().len() > domain_end {
                true => domain_end as u16 + 1,
                false => 0,
            },
        }
    }

    /// The localpart, if there is one.
    pub fn local(&self) -> Option<&str> {
        match self.local_len {
            0 => None,
            n => self.as_str().get(..usize::from(n)),
        }
    }

    /// The domainpart, without a trailing dot.
    pub fn domain(&self) -> &str {
        self.as_str()
            .get(self.domain_start()..self.domain_end())
            .unwrap_or_default()
    }

    /// The resourcepart, if there is one.
    pub fn resource(&self) -> Option<&str> {
        self.as_str()
            .get(self.domain_end() + 1..)
            .filter(|resource| !resource.is_empty())
    }

    /// Whether this JID has no resourcepart.
    pub fn is_bare(&self) -> bool {
        self.resource().is_none()
    }

    /// Whether this JID has a resourcepart.
    pub fn is_full(&self) -> bool {
        self.resource().is_some()
    }

    /// A borrowed view of this JID without its resourcepart.
    pub fn bare(&self) -> Jid<'_> {
        self.as_jid().bare()
    }

    /// An owned copy of this JID without its resourcepart.
    pub fn to_bare(&self) -> Self {
        let mut bare = self.clone();
        let end = self.domain_end();
        if bare.buf.is_char_boundary(end) {
            bare.buf.truncate(end);
        }
        bare
    }

    /// This JID's bare part with `resource` as its resourcepart (replacing
    /// the one it has, if any).
    pub fn with_resource(&self, resource: &str) -> Result<Self, JidError> {
        check_resource(resource)?;
        Self::build(self.local(), self.domain(), Some(resource))
    }
}

impl<const N: usize> fmt::Display for JidBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for JidBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JidBuf").field(&self.as_str()).finish()
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for JidBuf<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

impl<const N: usize, const M: usize> PartialEq<JidBuf<M>> for JidBuf<N> {
    fn eq(&self, other: &JidBuf<M>) -> bool {
        eq_parts(&self.as_jid(), &other.as_jid())
    }
}

impl<const N: usize> Eq for JidBuf<N> {}

impl<'b, const N: usize> PartialEq<Jid<'b>> for JidBuf<N> {
    fn eq(&self, other: &Jid<'b>) -> bool {
        eq_parts(&self.as_jid(), other)
    }
}

impl<const N: usize> Hash for JidBuf<N> {
    /// Hashes as the equal [`Jid`] does.
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(&self.as_jid(), state);
    }
}

impl<const N: usize> FromStr for JidBuf<N> {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Self, JidError> {
        Self::parse(s)
    }
}

impl<const N: usize> TryFrom<Jid<'_>> for JidBuf<N> {
    type Error = JidError;

    fn try_from(jid: Jid<'_>) -> Result<Self, JidError> {
        Self::try_from_jid(jid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;
    use std::format;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    fn parts(s: &str) -> (Option<&str>, &str, Option<&str>) {
        let jid = Jid::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"));
        (jid.local(), jid.domain(), jid.resource())
    }

    fn err(s: &str) -> JidError {
        match Jid::parse(s) {
            Ok(jid) => panic!("{s:?} should not parse, got {jid:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn rfc7622_valid_examples() {
        // RFC 7622 §3.5, examples 1 to 15.
        let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            ("juliet@example.com", Some("juliet"), "example.com", None),
            (
                "juliet@example.com/foo",
                Some("juliet"),
                "example.com",
                Some("foo"),
            ),
            (
                "juliet@example.com/foo bar",
                Some("juliet"),
                "example.com",
                Some("foo bar"),
            ),
            (
                "juliet@example.com/foo@bar",
                Some("juliet"),
                "example.com",
                Some("foo@bar"),
            ),
            (
                "foo\\20bar@example.com",
                Some("foo\\20bar"),
                "example.com",
                None,
            ),
            (
                "fussball@example.com",
                Some("fussball"),
                "example.com",
                None,
            ),
            ("fußball@example.com", Some("fußball"), "example.com", None),
            ("π@example.com", Some("π"), "example.com", None),
            ("Σ@example.com/foo", Some("Σ"), "example.com", Some("foo")),
            ("σ@example.com/foo", Some("σ"), "example.com", Some("foo")),
            ("ς@example.com/foo", Some("ς"), "example.com", Some("foo")),
            ("king@example.com/♚", Some("king"), "example.com", Some("♚")),
            ("example.com", None, "example.com", None),
            ("example.com/foobar", None, "example.com", Some("foobar")),
            (
                "a.example.com/b@example.net",
                None,
                "a.example.com",
                Some("b@example.net"),
            ),
        ];
        for &(s, local, domain, resource) in cases {
            assert_eq!(parts(s), (local, domain, resource), "{s}");
            let jid = Jid::parse(s).unwrap();
            assert_eq!(jid.as_str(), s);
            assert_eq!(jid.to_string(), s);
            assert_eq!(jid.is_full(), resource.is_some());
            assert_eq!(jid.is_bare(), resource.is_none());
        }
    }

    #[test]
    fn rfc7622_invalid_examples() {
        // RFC 7622 §3.5, examples 16 to 23.
        assert_eq!(
            err("\"juliet\"@example.com"),
            JidError::ForbiddenCharInLocal
        );
        assert_eq!(err("foo bar@example.com"), JidError::ForbiddenCharInLocal);
        assert_eq!(err("@example.com/"), JidError::EmptyLocal);
        assert_eq!(err("juliet@"), JidError::EmptyDomain);
        assert_eq!(err("/foobar"), JidError::EmptyDomain);
        // Example 18 was withdrawn by erratum 4560: a leading space is valid
        // in a resourcepart.
        assert_eq!(parts("juliet@example.com/ foo").2, Some(" foo"));
        // Examples 20 and 21 need the PRECIS tables: accepted here, as the
        // module documentation says.
        assert_eq!(parts("henryⅣ@example.com").0, Some("henryⅣ"));
        assert_eq!(parts("♚@example.com").0, Some("♚"));
    }

    #[test]
    fn splitting_rules() {
        assert_eq!(parts("a@b/c@d/e"), (Some("a"), "b", Some("c@d/e")));
        assert_eq!(parts("b/c@d"), (None, "b", Some("c@d")));
        assert_eq!(parts("a@b//"), (Some("a"), "b", Some("/")));
        assert_eq!(err(""), JidError::EmptyDomain);
        assert_eq!(err("@"), JidError::EmptyLocal);
        assert_eq!(err("/"), JidError::EmptyDomain);
        assert_eq!(err("a@"), JidError::EmptyDomain);
        assert_eq!(err("a@/r"), JidError::EmptyDomain);
        assert_eq!(err("a@example.com/"), JidError::EmptyResource);
        assert_eq!(err("example.com/"), JidError::EmptyResource);
        assert_eq!(err("a@b@example.com"), JidError::ForbiddenCharInDomain);
    }

    #[test]
    fn localpart_characters() {
        for c in [
            '"', '&', '\'', ':', '<', '>', ' ', '\0', '\t', '\n', '\u{1f}', '\u{7f}',
        ] {
            let s = format!("a{c}b@example.com");
            assert_eq!(err(&s), JidError::ForbiddenCharInLocal, "{s:?}");
        }
        // Non-ASCII white space and C1 controls are refused too.
        for c in ['\u{85}', '\u{a0}', '\u{2003}', '\u{3000}', '\u{9f}'] {
            let s = format!("a{c}b@example.com");
            assert_eq!(err(&s), JidError::ForbiddenCharInLocal, "{s:?}");
        }
        // '/' cannot reach the localpart: it starts the resourcepart.
        assert_eq!(parts("a/b@example.com"), (None, "a", Some("b@example.com")));
        for ok in [
            "a.b",
            "a+tag",
            "a_b-c",
            "0123",
            "a\\40b",
            "a#b!$%*=?^{|}~",
            "日本",
        ] {
            let s = format!("{ok}@example.com");
            assert_eq!(parts(&s).0, Some(ok));
        }
    }

    #[test]
    fn resourcepart_characters() {
        assert_eq!(parts("a@example.com/ x ").2, Some(" x "));
        assert_eq!(parts("a@example.com/\"&'<>:").2, Some("\"&'<>:"));
        assert_eq!(parts("a@example.com/\u{a0}").2, Some("\u{a0}"));
        for c in ['\0', '\t', '\r', '\n', '\u{7f}', '\u{80}', '\u{9f}'] {
            let s = format!("a@example.com/x{c}");
            assert_eq!(err(&s), JidError::ForbiddenCharInResource, "{s:?}");
        }
    }

    #[test]
    fn domainpart_rules() {
        for ok in [
            "localhost",
            "conference.example.org",
            "xn--bcher-kva.example",
            "bücher.example",
            "例え.テスト",
            "my_service.example.com",
            "a-b.example",
            "3com.com",
            "example.123",
            #[cfg(feature = "ip-literal-domains")]
            "127.0.0.1",
            #[cfg(feature = "ip-literal-domains")]
            "[::1]",
            #[cfg(feature = "ip-literal-domains")]
            "[2001:DB8::1]",
            #[cfg(feature = "ip-literal-domains")]
            "[::ffff:192.0.2.1]",
        ] {
            assert_eq!(parts(ok).1, ok);
            let with_local = format!("u@{ok}/r");
            assert_eq!(parts(&with_local), (Some("u"), ok, Some("r")));
        }
        let cases: &[(&str, JidError)] = &[
            (".", JidError::EmptyDomain),
            ("..", JidError::InvalidDomain),
            ("example..com", JidError::InvalidDomain),
            (".example.com", JidError::InvalidDomain),
            ("example.com..", JidError::InvalidDomain),
            ("-example.com", JidError::InvalidDomain),
            ("example-.com", JidError::InvalidDomain),
            ("exa mple.com", JidError::ForbiddenCharInDomain),
            ("example.com:5222", JidError::ForbiddenCharInDomain),
            ("exam\u{0}ple.com", JidError::ForbiddenCharInDomain),
            ("exam\u{85}ple.com", JidError::ForbiddenCharInDomain),
            ("exam\u{3000}ple.com", JidError::ForbiddenCharInDomain),
            ("example\u{3002}com", JidError::ForbiddenCharInDomain),
            ("example\u{ff0e}com", JidError::ForbiddenCharInDomain),
            ("a\"b", JidError::ForbiddenCharInDomain),
            ("a<b", JidError::ForbiddenCharInDomain),
            ("::1", JidError::ForbiddenCharInDomain),
            ("example.com]", JidError::ForbiddenCharInDomain),
            ("[::1", JidError::InvalidIpLiteral),
            ("[]", JidError::InvalidIpLiteral),
            ("[127.0.0.1]", JidError::InvalidIpLiteral),
            ("[::1%eth0]", JidError::InvalidIpLiteral),
            ("[::g]", JidError::InvalidIpLiteral),
            ("[::1]x", JidError::InvalidIpLiteral),
            ("256.0.0.1", JidError::InvalidIpLiteral),
            ("1.2.3", JidError::InvalidIpLiteral),
            ("12345", JidError::InvalidIpLiteral),
        ];
        for &(domain, expected) in cases {
            assert_eq!(err(domain), expected, "{domain:?}");
            assert_eq!(err(&format!("u@{domain}/r")), expected, "{domain:?}");
        }
        // Labels of 63 and 64 bytes.
        let label63 = "a".repeat(63);
        let label64 = "a".repeat(64);
        assert_eq!(parts(&format!("{label63}.example")).1.len(), 63 + 8);
        assert_eq!(
            err(&format!("{label64}.example")),
            JidError::DomainLabelTooLong
        );
        // The limit is not applied to U-labels (their A-label may be shorter).
        let ulabel = "ü".repeat(40);
        assert_eq!(parts(&format!("{ulabel}.example")).1.len(), 80 + 8);
    }

    /// Without `ip-literal-domains`, every IP literal is refused, well
    /// formed or not, since none can be checked.
    #[cfg(not(feature = "ip-literal-domains"))]
    #[test]
    fn ip_literals_refused_without_the_feature() {
        for domain in [
            "127.0.0.1",
            "[::1]",
            "[2001:DB8::1]",
            "10.0.0.1.",
            "256.0.0.1",
        ] {
            assert_eq!(err(domain), JidError::InvalidIpLiteral, "{domain:?}");
            assert_eq!(err(&format!("u@{domain}/r")), JidError::InvalidIpLiteral);
        }
        // Names are untouched.
        assert_eq!(parts("u@example.123/r").1, "example.123");
    }

    #[test]
    fn trailing_dot() {
        let jid = Jid::parse("juliet@example.com./balcony").unwrap();
        assert_eq!(jid.domain(), "example.com");
        assert_eq!(jid.as_str(), "juliet@example.com./balcony");
        assert_eq!(jid.to_string(), "juliet@example.com/balcony");
        assert_eq!(jid.bare().as_str(), "juliet@example.com.");
        assert_eq!(jid.domain_jid().as_str(), "example.com");
        let plain = Jid::parse("juliet@example.com/balcony").unwrap();
        assert_eq!(jid, plain);
        assert_eq!(hash_of(&jid), hash_of(&plain));
        assert_eq!(parts("example.com."), (None, "example.com", None));
        #[cfg(feature = "ip-literal-domains")]
        assert_eq!(parts("127.0.0.1."), (None, "127.0.0.1", None));
        let buf: JidBuf = JidBuf::parse("juliet@example.com./balcony").unwrap();
        assert_eq!(buf.as_str(), "juliet@example.com/balcony");
        assert_eq!(buf, plain);
        let buf: JidBuf = JidBuf::from_parts(None, "example.com.", None).unwrap();
        assert_eq!(buf.as_str(), "example.com");
    }

    #[test]
    fn length_limits() {
        let x1023 = "x".repeat(1023);
        let x1024 = "x".repeat(1024);
        // 16 labels of 63 bytes and 15 dots: 1023 bytes.
        let domain1023 = std::vec![label(63); 16].join(".");
        assert_eq!(domain1023.len(), 1023);
        let domain1024 = format!("{domain1023}a");
        let domain1025 = format!("a{domain1024}");

        assert_eq!(
            parts(&format!("{x1023}@example.com")).0.map(str::len),
            Some(1023)
        );
        assert_eq!(err(&format!("{x1024}@example.com")), JidError::LocalTooLong);
        assert_eq!(
            parts(&format!("example.com/{x1023}")).2.map(str::len),
            Some(1023)
        );
        assert_eq!(
            err(&format!("example.com/{x1024}")),
            JidError::ResourceTooLong
        );
        assert_eq!(parts(&domain1023).1.len(), 1023);
        assert_eq!(err(&domain1024), JidError::DomainTooLong);
        assert_eq!(err(&domain1025), JidError::DomainTooLong);
        // The trailing dot does not count.
        assert_eq!(parts(&format!("{domain1023}.")).1.len(), 1023);
        // Multi-byte characters count in bytes: 512 'é' are 1024 bytes.
        assert_eq!(
            err(&format!("{}@example.com", "é".repeat(512))),
            JidError::LocalTooLong
        );
        assert_eq!(
            err(&format!("example.com/{}", "é".repeat(512))),
            JidError::ResourceTooLong
        );

        // The longest JID fits the default JidBuf exactly.
        let longest = format!("{x1023}@{domain1023}/{x1023}");
        assert_eq!(longest.len(), MAX_JID_LEN);
        let buf: JidBuf = JidBuf::parse(&longest).unwrap();
        assert_eq!(buf.as_str(), longest);
        assert_eq!(buf.local(), Some(x1023.as_str()));
        assert_eq!(buf.domain(), domain1023);
        assert_eq!(buf.resource(), Some(x1023.as_str()));
        assert_eq!(
            JidBuf::<{ MAX_JID_LEN - 1 }>::parse(&longest).unwrap_err(),
            JidError::CapacityExceeded
        );
    }

    fn label(n: usize) -> String {
        "a".repeat(n)
    }

    #[test]
    fn case_insensitive_comparison() {
        let a = Jid::parse("Juliet@Example.COM/Balcony").unwrap();
        let b = Jid::parse("juliet@example.com/Balcony").unwrap();
        let c = Jid::parse("juliet@example.com/balcony").unwrap();
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_ne!(a, c, "resourceparts compare exactly");
        assert_ne!(
            Jid::parse("a@example.com").unwrap(),
            Jid::parse("example.com").unwrap()
        );
        assert_ne!(
            Jid::parse("example.com").unwrap(),
            Jid::parse("example.com/r").unwrap()
        );
        assert_ne!(
            Jid::parse("a@example.com").unwrap(),
            Jid::parse("b@example.com").unwrap()
        );
        assert_ne!(
            Jid::parse("a@example.com").unwrap(),
            Jid::parse("a@example.org").unwrap()
        );
        // Case mapping is ASCII only (not PRECIS): documented limitation.
        assert_ne!(
            Jid::parse("Σ@example.com").unwrap(),
            Jid::parse("σ@example.com").unwrap()
        );
        assert_ne!(
            Jid::parse("fußball@example.com").unwrap(),
            Jid::parse("fussball@example.com").unwrap()
        );
        // IPv6 literals compare as text, hex digits case-insensitively.
        #[cfg(feature = "ip-literal-domains")]
        assert_eq!(Jid::parse("[::A]").unwrap(), Jid::parse("[::a]").unwrap());
        // Jid and JidBuf compare both ways and hash alike.
        let buf: JidBuf<64> = JidBuf::parse("JULIET@example.com/Balcony").unwrap();
        assert_eq!(buf, a);
        assert_eq!(a, buf);
        assert_ne!(buf, c);
        assert_ne!(c, buf);
        assert_eq!(hash_of(&buf), hash_of(&a));
        let other: JidBuf<128> = JidBuf::parse("juliet@EXAMPLE.com/Balcony").unwrap();
        assert_eq!(buf, other);
        assert_eq!(other, buf);
        // Part boundaries matter to the hash, not only the bytes.
        let x = Jid::parse("ab@c").unwrap();
        let y = Jid::parse("a@bc").unwrap();
        assert_ne!(x, y);
        assert_ne!(hash_of(&x), hash_of(&y));
    }

    #[test]
    fn bare_and_domain_jid() {
        let jid = Jid::parse("juliet@example.com/balcony/2").unwrap();
        let bare = jid.bare();
        assert_eq!(bare.as_str(), "juliet@example.com");
        assert_eq!(
            (bare.local(), bare.domain(), bare.resource()),
            (Some("juliet"), "example.com", None)
        );
        assert!(bare.is_bare());
        assert_eq!(bare.bare().as_str(), "juliet@example.com");
        let domain = jid.domain_jid();
        assert_eq!(domain.as_str(), "example.com");
        assert_eq!(domain, Jid::parse("EXAMPLE.com").unwrap());
    }

    #[test]
    fn jidbuf_round_trip() {
        for s in [
            "juliet@example.com",
            "juliet@example.com/foo bar",
            "example.com",
            "example.com/foobar",
            "a.example.com/b@example.net",
            #[cfg(feature = "ip-literal-domains")]
            "π@[::1]/♚",
        ] {
            let jid = Jid::parse(s).unwrap();
            let buf: JidBuf = JidBuf::parse(s).unwrap();
            assert_eq!(buf.as_str(), s);
            assert_eq!(buf.to_string(), s);
            assert_eq!(format!("{buf:?}"), format!("JidBuf({s:?})"));
            assert_eq!(
                (buf.local(), buf.domain(), buf.resource()),
                (jid.local(), jid.domain(), jid.resource())
            );
            assert_eq!(
                (buf.is_bare(), buf.is_full()),
                (jid.is_bare(), jid.is_full())
            );
            assert_eq!(buf.as_jid().as_str(), s);
            assert_eq!(JidBuf::<64>::try_from_jid(jid).unwrap(), jid);
            assert_eq!(JidBuf::<64>::try_from(jid).unwrap(), buf);
            assert_eq!(s.parse::<JidBuf<64>>().unwrap(), buf);
            assert_eq!(Jid::try_from(s).unwrap(), buf);
            assert_eq!(Jid::from(&buf), jid);
            let rebuilt: JidBuf =
                JidBuf::from_parts(jid.local(), jid.domain(), jid.resource()).unwrap();
            assert_eq!(rebuilt.as_str(), s);
            assert_eq!(buf.to_bare().as_str(), jid.bare().as_str());
            assert_eq!(buf.to_bare().resource(), None);
            assert_eq!(buf.bare(), jid.bare());
            let clone = buf.clone();
            assert_eq!(clone.as_str(), s);
        }
    }

    #[test]
    fn jidbuf_with_resource_and_from_parts() {
        let bare: JidBuf<64> = JidBuf::from_parts(Some("juliet"), "example.com", None).unwrap();
        let full = bare.with_resource("balcony").unwrap();
        assert_eq!(full.as_str(), "juliet@example.com/balcony");
        let other = full.with_resource("a/b@c").unwrap();
        assert_eq!(other.as_str(), "juliet@example.com/a/b@c");
        assert_eq!(other.resource(), Some("a/b@c"));
        assert_eq!(full.with_resource("").unwrap_err(), JidError::EmptyResource);
        assert_eq!(
            full.with_resource("x\n").unwrap_err(),
            JidError::ForbiddenCharInResource
        );
        let domain_only: JidBuf<16> = JidBuf::from_parts(None, "example.com", None).unwrap();
        assert_eq!(
            domain_only.with_resource("r").unwrap().as_str(),
            "example.com/r"
        );
        assert_eq!(
            domain_only.with_resource("rrrrr").unwrap_err(),
            JidError::CapacityExceeded
        );

        type Buf = JidBuf<64>;
        assert_eq!(
            Buf::from_parts(Some(""), "example.com", None).unwrap_err(),
            JidError::EmptyLocal
        );
        assert_eq!(
            Buf::from_parts(Some("a@b"), "example.com", None).unwrap_err(),
            JidError::ForbiddenCharInLocal
        );
        assert_eq!(
            Buf::from_parts(Some("a/b"), "example.com", None).unwrap_err(),
            JidError::ForbiddenCharInLocal
        );
        assert_eq!(
            Buf::from_parts(None, "", None).unwrap_err(),
            JidError::EmptyDomain
        );
        assert_eq!(
            Buf::from_parts(None, "a/b", None).unwrap_err(),
            JidError::ForbiddenCharInDomain
        );
        assert_eq!(
            Buf::from_parts(None, "a@b", None).unwrap_err(),
            JidError::ForbiddenCharInDomain
        );
        assert_eq!(
            Buf::from_parts(None, "example.com", Some("")).unwrap_err(),
            JidError::EmptyResource
        );
        assert_eq!(
            Buf::from_parts(None, "example.com", Some("a/b@c"))
                .unwrap()
                .resource(),
            Some("a/b@c")
        );
    }

    #[test]
    fn capacity() {
        assert_eq!(
            JidBuf::<11>::parse("example.com").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(
            JidBuf::<10>::parse("example.com").unwrap_err(),
            JidError::CapacityExceeded
        );
        assert_eq!(
            JidBuf::<0>::parse("a").unwrap_err(),
            JidError::CapacityExceeded
        );
        assert_eq!(
            JidBuf::<13>::parse("a@example.com/r").unwrap_err(),
            JidError::CapacityExceeded
        );
        assert_eq!(
            JidBuf::<14>::parse("a@example.com/r").unwrap_err(),
            JidError::CapacityExceeded
        );
        assert_eq!(
            JidBuf::<15>::parse("a@example.com/r").unwrap().resource(),
            Some("r")
        );
        // An invalid JID reports why it is invalid, not the capacity.
        assert_eq!(
            JidBuf::<4>::parse("@example.com").unwrap_err(),
            JidError::EmptyLocal
        );
        // The trailing dot is not stored.
        assert_eq!(
            JidBuf::<11>::parse("example.com.").unwrap().as_str(),
            "example.com"
        );
    }

    #[test]
    fn error_display() {
        let all = [
            JidError::EmptyLocal,
            JidError::LocalTooLong,
            JidError::ForbiddenCharInLocal,
            JidError::EmptyDomain,
            JidError::DomainTooLong,
            JidError::DomainLabelTooLong,
            JidError::InvalidDomain,
            JidError::ForbiddenCharInDomain,
            JidError::InvalidIpLiteral,
            JidError::EmptyResource,
            JidError::ResourceTooLong,
            JidError::ForbiddenCharInResource,
            JidError::CapacityExceeded,
        ];
        let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
        for (i, text) in texts.iter().enumerate() {
            assert!(!text.is_empty());
            assert!(texts.iter().skip(i + 1).all(|t| t != text), "{text}");
        }
        let _: &dyn core::error::Error = &JidError::EmptyLocal;
    }

    /// Strings made mostly of the characters that matter to the parser.
    fn jidish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[a-zA-Z0-9]{1,6}",
            1 => Just("@".to_string()),
            1 => Just("/".to_string()),
            1 => Just(".".to_string()),
            1 => "[\\[\\]:\\-_ \"&'<>\\\\]",
            1 => "[\\x00-\\x1f\\x7f]",
            1 => "[ßΣσπ♚ü日\u{a0}\u{85}\u{3002}]",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    fn check_round_trip(s: &str) {
        let Ok(jid) = Jid::parse(s) else {
            assert!(JidBuf::<{ MAX_JID_LEN }>::parse(s).is_err());
            return;
        };
        let shown = jid.to_string();
        let again = Jid::parse(&shown).expect("Display output re-parses");
        assert_eq!(again, jid);
        assert_eq!(again.to_string(), shown);
        assert_eq!(hash_of(&again), hash_of(&jid));
        let buf: JidBuf = JidBuf::parse(s).expect("fits the default capacity");
        assert_eq!(buf.as_str(), shown);
        assert_eq!(buf, jid);
        assert_eq!(hash_of(&buf), hash_of(&jid));
        let rebuilt: JidBuf =
            JidBuf::from_parts(jid.local(), jid.domain(), jid.resource()).unwrap();
        assert_eq!(rebuilt.as_str(), shown);
        assert_eq!(jid.bare(), buf.to_bare());
        assert!(jid.bare().is_bare());
        assert_eq!(Jid::parse(jid.bare().as_str()).unwrap(), jid.bare());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Jid::parse(&s);
            let _ = JidBuf::<8>::parse(&s);
            check_round_trip(&s);
        }

        #[test]
        fn parse_never_panics_jidish(s in jidish()) {
            check_round_trip(&s);
        }

        #[test]
        fn from_parts_never_panics(
            local in proptest::option::of(jidish()),
            domain in jidish(),
            resource in proptest::option::of(jidish()),
        ) {
            if let Ok(buf) = JidBuf::<32>::from_parts(local.as_deref(), &domain, resource.as_deref()) {
                let jid = Jid::parse(buf.as_str()).unwrap();
                prop_assert_eq!(jid.as_str(), buf.as_str());
                prop_assert_eq!(jid.local(), buf.local());
                prop_assert_eq!(jid.domain(), buf.domain());
                prop_assert_eq!(jid.resource(), buf.resource());
            }
        }

        #[test]
        fn ascii_case_changes_keep_equality(
            local in proptest::option::of("[a-zA-Z0-9._]{1,10}"),
            labels in proptest::collection::vec("[a-zA-Z][a-zA-Z0-9]{0,8}", 1..4),
            resource in proptest::option::of("[a-zA-Z ]{1,10}"),
            trailing_dot in any::<bool>(),
        ) {
            let domain = labels.join(".");
            let mut s = String::new();
            if let Some(local) = &local {
                s.push_str(local);
                s.push('@');
            }
            s.push_str(&domain);
            if trailing_dot {
                s.push('.');
            }
            if let Some(resource) = &resource {
                s.push('/');
                s.push_str(resource);
            }
            let (bare, res) = s.split_once('/').map_or((s.as_str(), None), |(b, r)| (b, Some(r)));
            let mut shouted = bare.to_ascii_uppercase();
            if let Some(res) = res {
                shouted.push('/');
                shouted.push_str(res);
            }
            let a = Jid::parse(&s).unwrap();
            let b = Jid::parse(&shouted).unwrap();
            prop_assert_eq!(a, b);
            prop_assert_eq!(hash_of(&a), hash_of(&b));
            let buf: JidBuf<64> = JidBuf::parse(&shouted).unwrap();
            prop_assert_eq!(&buf, &a);
            prop_assert_eq!(&a, &buf);
            prop_assert_eq!(hash_of(&buf), hash_of(&a));
            if let Some(res) = res {
                let changed = format!("{bare}/{}", res.to_ascii_uppercase());
                let c = Jid::parse(&changed).unwrap();
                prop_assert_eq!(a == c, res == res.to_ascii_uppercase());
            }
        }
    }
}
