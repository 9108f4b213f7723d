//! Outgoing iq requests awaiting their response (RFC 6120 §8.2.3): each
//! get or set is tracked until its result or error arrives from the entity
//! it was sent to, or its deadline passes.
//!
//! A tracked request is small on purpose (a microcontroller keeps
//! [`MAX_PENDING_IQS`] of them): its id is kept as the counter the client
//! numbered it with, and its addressee as a keyed hash ([`JidTag`]) instead
//! of a copy of the JID.

use crate::jid::Jid;
use crate::time::Instant;
use core::fmt;
use core::hash::{Hash, Hasher};
use heapless::{String, Vec};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The most iq requests that may be outstanding at once.
pub const MAX_PENDING_IQS: usize = 4;
/// Half the longest bare JID the client writes as its stream's `from`
/// (RFC 6120 §4.7.1). It does not limit where
/// [`send_iq`](super::Client::send_iq) may send: the addressee of a
/// tracked request is kept as a keyed hash, whatever its length.
pub const MAX_TRACKED_JID_LEN: usize = 96;
/// Longest iq id this crate generates.
pub const MAX_ID_LEN: usize = 24;

/// The id of an iq this client sent, as returned by the command that sent
/// it and carried by the event that answers it.
pub type IqId = String<MAX_ID_LEN>;

/// Length of the ids' random prefix.
pub(crate) const ID_PREFIX_LEN: usize = 6;

/// The id numbered `serial`: the session's random prefix, then the number
/// (a prefix per session keeps an answer meant for an earlier connection
/// from matching a request of this one).
pub(crate) fn format_id(prefix: &[u8; ID_PREFIX_LEN], serial: u32) -> IqId {
    let mut id = IqId::new();
    // Cannot fail: the prefix is ASCII, and 6 + 10 digits fit in
    // MAX_ID_LEN.
    for &b in prefix {
        let _ = id.push(char::from(b));
    }
    let _ = id.push_str(crate::decimal::Decimal::new(serial).as_str());
    id
}

/// The number in `id`, if `id` is exactly what [`format_id`] makes of it:
/// the prefix, then the serial in decimal without sign or leading zero.
fn parse_id(prefix: &[u8; ID_PREFIX_LEN], id: &str) -> Option<u32> {
    let digits = id.as_bytes().strip_prefix(prefix.as_slice())?;
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    let mut serial: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        serial = serial.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    Some(serial)
}

/// Length of a [`JidTag`]'s hash, in bytes.
const TAG_LEN: usize = 8;
/// Length of the session's hash key, in bytes.
const TAG_KEY_LEN: usize = 16;

/// The addressee of a request, as a keyed hash of the JID (HMAC-SHA-1
/// truncated to 64 bits) rather than the JID itself: 9 bytes instead of up
/// to 3071.
///
/// Why this is as good as the JID for RFC 6120 §8.1.2.1 (only the
/// addressee may answer): the hash covers the JID as RFC 7622 compares it
/// (`Jid`'s `Hash`, whose parts end in 0xFF, a byte UTF-8 never has, so
/// distinct JIDs feed distinct bytes), so equal JIDs give equal tags. Two
/// different JIDs give equal tags only by a collision, and the key is drawn
/// from the caller's cryptographic RNG when the client is made and never
/// leaves it: a peer who wants its answer taken for someone else's cannot
/// compute tags, so it can only guess, with odds of 2^-64 per forged
/// stanza (and it must guess the request's id as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JidTag {
    hash: [u8; TAG_LEN],
    /// The JID had no resource: a bare JID request may be answered by the
    /// server on the account's behalf, from the bare JID.
    bare: bool,
}

/// The session's key for [`JidTag`]s.
#[derive(Clone)]
pub(crate) struct TagKey([u8; TAG_KEY_LEN]);

impl TagKey {
    pub(crate) fn random<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Self {
        // Word by word rather than `fill_bytes`: a CryptoRng's words are as
        // good, and the session's first `fill_bytes` stays the SCRAM nonce
        // (which scripted test RNGs rely on).
        let mut key = [0u8; TAG_KEY_LEN];
        for chunk in key.chunks_mut(8) {
            let word = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        TagKey(key)
    }

    pub(crate) fn tag(&self, jid: Jid<'_>) -> JidTag {
        JidTag {
            hash: self.hash(jid),
            bare: jid.is_bare(),
        }
    }

    fn hash(&self, jid: Jid<'_>) -> [u8; TAG_LEN] {
        struct MacHasher(Hmac<Sha1>);
        impl Hasher for MacHasher {
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
            fn finish(&self) -> u64 {
                // Unused: the tag is the MAC, taken below.
                0
            }
        }
        // Cannot fail: HMAC takes keys of any length.
        let Ok(mac) = Hmac::<Sha1>::new_from_slice(&self.0) else {
            return [0; TAG_LEN];
        };
        let mut h = MacHasher(mac);
        jid.hash(&mut h);
        let full = h.0.finalize().into_bytes();
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&full[..TAG_LEN]);
        out
    }
}

impl fmt::Debug for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secret: a peer who learnt it could forge answers.
        f.write_str("TagKey(..)")
    }
}

/// One outstanding request.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The number in its id (see [`format_id`]).
    pub serial: u32,
    /// Who must answer: the `to` of the request, or `None` for the
    /// account's server (RFC 6120 §8.2.3: an iq without `to` is answered
    /// by the server, from the bare JID, the domain, or no `from` at all).
    pub to: Option<JidTag>,
    pub deadline: Instant,
    /// What the session does with the answer.
    pub purpose: Purpose,
}

/// Why an iq was sent: the session's own requests are handled inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Purpose {
    /// The application's request: its answer becomes an event.
    Application,
    /// Resource binding (RFC 6120 §7).
    Bind,
    /// Legacy session establishment.
    Session,
    /// Keepalive ping to the server (XEP-0199 §4.2).
    Keepalive,
}

/// A [`Pending`] as the table keeps it: in byte arrays, so that four of
/// them take 84 bytes rather than the 96 of the aligned struct.
#[derive(Debug, Clone)]
struct Packed {
    serial: [u8; 4],
    deadline: [u8; 8],
    hash: [u8; TAG_LEN],
    /// [`Purpose`] in bits 0-1, then whether there is a `to`, and whether
    /// it is bare.
    flags: u8,
}

const HAS_TO: u8 = 4;
const TO_BARE: u8 = 8;

impl Packed {
    fn serial(&self) -> u32 {
        u32::from_le_bytes(self.serial)
    }

    fn deadline(&self) -> Instant {
        Instant::from_millis(u64::from_le_bytes(self.deadline))
    }

    fn to(&self) -> Option<JidTag> {
        (self.flags & HAS_TO != 0).then_some(JidTag {
            hash: self.hash,
            bare: self.flags & TO_BARE != 0,
        })
    }
}

impl From<&Pending> for Packed {
    fn from(p: &Pending) -> Packed {
        let to = p.to.unwrap_or(JidTag {
            hash: [0; TAG_LEN],
            bare: false,
        });
        let mut flags = p.purpose as u8;
        if p.to.is_some() {
            flags |= HAS_TO;
        }
        if to.bare {
            flags |= TO_BARE;
        }
        Packed {
            serial: p.serial.to_le_bytes(),
            deadline: p.deadline.as_millis().to_le_bytes(),
            hash: to.hash,
            flags,
        }
    }
}

impl From<Packed> for Pending {
    fn from(p: Packed) -> Pending {
        Pending {
            serial: p.serial(),
            to: p.to(),
            deadline: p.deadline(),
            purpose: match p.flags & 3 {
                0 => Purpose::Application,
                1 => Purpose::Bind,
                2 => Purpose::Session,
                _ => Purpose::Keepalive,
            },
        }
    }
}

#[derive(Debug)]
pub(crate) struct PendingIqs {
    key: TagKey,
    items: Vec<Packed, MAX_PENDING_IQS, u8>,
}

impl PendingIqs {
    /// An empty table whose tags are keyed from `rng`.
    pub(crate) fn new<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Self {
        PendingIqs {
            key: TagKey::random(rng),
            items: Vec::new(),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.items.is_full()
    }

    /// The tag `to` is tracked under.
    pub(crate) fn tag(&self, to: Jid<'_>) -> JidTag {
        self.key.tag(to)
    }

    /// Adds a request; the caller checked [`is_full`](Self::is_full).
    pub(crate) fn insert(&mut self, p: Pending) {
        let _ = self.items.push(Packed::from(&p));
    }

    /// Takes the request `id` (ids start with `prefix`) if `from` may
    /// answer it (RFC 6120 §8.1.2.1: a response from anyone else is not an
    /// answer). `own` is the account's JID.
    pub(crate) fn take_answer(
        &mut self,
        prefix: &[u8; ID_PREFIX_LEN],
        id: &str,
        from: Option<Jid<'_>>,
        own: Jid<'_>,
    ) -> Option<Pending> {
        let serial = parse_id(prefix, id)?;
        let key = &self.key;
        let i = self.items.iter().position(|p| {
            p.serial() == serial
                && match (&p.to(), from) {
                    // Sent to the server: answered without from, or from the
                    // bare JID or the domain.
                    (None, None) => true,
                    (None, Some(f)) => f == own.bare() || f == own.domain_jid() || f == own,
                    // Sent to someone: answered by them (a bare JID request
                    // may be answered by the server on its behalf, without
                    // a resource, which compares equal).
                    (Some(to), Some(f)) => {
                        to.hash == key.hash(f) || (to.bare && to.hash == key.hash(f.bare()))
                    }
                    (Some(to), None) => to.bare && to.hash == key.hash(own.bare()),
                }
        })?;
        Some(self.items.swap_remove(i).into())
    }

    /// Whether `id` is outstanding at all (from anyone).
    pub(crate) fn contains(&self, prefix: &[u8; ID_PREFIX_LEN], id: &str) -> bool {
        parse_id(prefix, id).is_some_and(|s| self.items.iter().any(|p| p.serial() == s))
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.items.iter().map(Packed::deadline).min()
    }

    /// Takes one request whose deadline has passed.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Pending> {
        let i = self.items.iter().position(|p| p.deadline() <= now)?;
        Some(self.items.swap_remove(i).into())
    }

    /// Whether a request of `purpose` is outstanding.
    pub(crate) fn has(&self, purpose: Purpose) -> bool {
        self.items.iter().any(|p| p.flags & 3 == purpose as u8)
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl rand_core::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for b in d {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for Counter {}

    fn jid(s: &str) -> Jid<'_> {
        Jid::parse(s).unwrap()
    }

    #[test]
    fn ids_round_trip_and_nothing_else_matches() {
        let prefix = *b"abcdef";
        assert_eq!(format_id(&prefix, 42).as_str(), "abcdef42");
        assert_eq!(parse_id(&prefix, "abcdef42"), Some(42));
        assert_eq!(
            parse_id(&prefix, "abcdef4294967295"),
            Some(u32::MAX),
            "the largest serial fits"
        );
        assert_eq!(parse_id(&prefix, "abcdef0"), Some(0));
        for other in [
            "abcdef042",
            "abcdef00",
            "abcdef4294967296",
            "abcdef99999999999",
            "abcdef4x",
            "abcdef+42",
            "abcdeg42",
            "abcdef",
            "abcdef42 ",
            "42",
        ] {
            assert_eq!(parse_id(&prefix, other), None, "{other}");
        }
    }

    #[test]
    fn tags_follow_jid_comparison_and_depend_on_the_key() {
        let key = TagKey::random(&mut Counter(0));
        let t = key.tag(jid("Romeo@Example.net/orchard"));
        // RFC 7622: local and domain compare without case, resource with.
        assert_eq!(t, key.tag(jid("romeo@example.NET/orchard")));
        assert_ne!(t, key.tag(jid("romeo@example.net/Orchard")));
        assert_ne!(t, key.tag(jid("romeo@example.net")));
        assert_ne!(t, key.tag(jid("romeo@example.net/orchard2")));
        // Parts cannot trade bytes: `a@b.c` is not `a.b@c`.
        assert_ne!(key.tag(jid("ab@c")), key.tag(jid("a@bc")));
        assert!(key.tag(jid("romeo@example.net")).bare);
        let other = TagKey::random(&mut Counter(100));
        assert_ne!(t, other.tag(jid("Romeo@Example.net/orchard")));
    }

    #[test]
    fn the_table_keeps_every_field() {
        let key = TagKey::random(&mut Counter(3));
        for (i, purpose) in [
            Purpose::Application,
            Purpose::Bind,
            Purpose::Session,
            Purpose::Keepalive,
        ]
        .into_iter()
        .enumerate()
        {
            for to in [None, Some(jid("a@b.c")), Some(jid("a@b.c/d"))] {
                let p = Pending {
                    serial: u32::MAX - i as u32,
                    to: to.map(|j| key.tag(j)),
                    deadline: Instant::from_millis(u64::MAX - 7),
                    purpose,
                };
                let back = Pending::from(Packed::from(&p));
                assert_eq!(
                    (back.serial, back.to, back.deadline, back.purpose),
                    (p.serial, p.to, p.deadline, p.purpose)
                );
            }
        }
    }

    #[test]
    fn only_the_addressee_answers() {
        let own = jid("juliet@example.com/balcony");
        let prefix = *b"qwerty";
        let mut iqs = PendingIqs::new(&mut Counter(7));
        let add = |iqs: &mut PendingIqs, serial, to: Option<&str>| {
            let to = to.map(|t| iqs.tag(jid(t)));
            iqs.insert(Pending {
                serial,
                to,
                deadline: Instant::from_millis(1000),
                purpose: Purpose::Application,
            })
        };
        add(&mut iqs, 1, Some("romeo@example.net/orchard"));
        add(&mut iqs, 2, Some("romeo@example.net"));
        add(&mut iqs, 3, None);
        let id = |s| format_id(&prefix, s);
        // A stranger, or the right JID with the wrong id, answers nothing.
        let mallory = Some(jid("mallory@example.net/orchard"));
        assert!(iqs.take_answer(&prefix, &id(1), mallory, own).is_none());
        assert!(iqs.take_answer(&prefix, &id(9), mallory, own).is_none());
        assert!(iqs.take_answer(&prefix, &id(1), None, own).is_none());
        let r = iqs.take_answer(&prefix, &id(1), Some(jid("ROMEO@example.net/orchard")), own);
        assert_eq!(r.map(|p| p.serial), Some(1));
        // A bare JID request: answered by the full JID's bare part.
        assert!(iqs
            .take_answer(&prefix, &id(2), Some(jid("romeo@example.net/x")), own)
            .is_some());
        // To the server: from the domain, the bare JID, or nobody.
        assert!(iqs.contains(&prefix, &id(3)));
        assert!(iqs.take_answer(&prefix, &id(3), mallory, own).is_none());
        assert!(iqs
            .take_answer(&prefix, &id(3), Some(jid("example.com")), own)
            .is_some());
        assert!(!iqs.contains(&prefix, &id(3)));
    }
}
