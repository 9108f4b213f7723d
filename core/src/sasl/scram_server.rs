//! The SCRAM server (RFC 5802 §5, §7; RFC 7677): verifying a client from
//! stored keys, never from the password.
//!
//! A server keeps, per account and hash, what RFC 5802 §3 calls the
//! authentication information: the salt, the iteration count, StoredKey =
//! H(ClientKey) and ServerKey = HMAC(SaltedPassword, "Server Key")
//! ([`StoredKeys`]). Whoever reads them cannot log in with them (the
//! client proof needs ClientKey, which StoredKey only hashes). PLAIN is
//! verified from the same data: the password is salted and hashed again
//! and the result compared with StoredKey ([`StoredKeys::verify_password`]).
//!
//! [`ScramServer`] is the exchange, with no allocation:
//!
//! | call | input | output |
//! |---|---|---|
//! | [`parse_client_first`] | client-first-message, from `<auth/>` | the username, to look the keys up |
//! | [`server_first`](ScramServer::server_first) | the same message, the keys, random bytes | server-first-message, for `<challenge/>` |
//! | [`client_final`](ScramServer::client_final) | client-final-message, from `<response/>` | server-final-message, for `<success/>` |
//!
//! Every failure is the RFC 6120 §6.5 condition to send in `<failure/>`.
//! Channel binding (-PLUS, RFC 5802 §6) is `tls-exporter` (RFC 9266) only,
//! set with [`ScramServer::with_channel_binding`]; without it a flag `p` is
//! refused, and `y` is refused when -PLUS was offered (a downgrade).

use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::scram::sealed::Sealed;
#[cfg(feature = "scram-sha256")]
use super::scram::Sha256;
#[cfg(feature = "scram-sha512")]
use super::scram::Sha512;
use super::scram::{HashFunction, SaltedPassword, Sha1, MAX_SALT_LEN, MIN_ITERATIONS};
use super::{base64_len, Out, SaslError, SaslFailure};

/// The longest hash output (SHA-512).
const MAX_HASH_LEN: usize = 64;

/// The longest SCRAM username kept (after `=2C`/`=3D` decoding): an XMPP
/// localpart (RFC 7622 §3.3 allows 1023 bytes; accounts here are short).
pub const MAX_USERNAME_LEN: usize = 128;

/// The longest client nonce accepted.
pub const MAX_CLIENT_NONCE_LEN: usize = 64;

/// How many random bytes the server adds to the nonce (RFC 5802 §5.1:
/// enough to be unique; 18 bytes make 24 base64 characters).
pub const SERVER_NONCE_LEN: usize = 18;

/// Room for AuthMessage's first two parts (client-first-message-bare and
/// server-first-message), kept between the two steps.
const AUTH_CAPACITY: usize = 512;

/// The authentication information of one account for one hash (RFC 5802
/// §3): what a server stores instead of the password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKeys {
    hash: HashFunction,
    iterations: u32,
    salt_len: u8,
    salt: [u8; MAX_SALT_LEN],
    stored_key: [u8; MAX_HASH_LEN],
    server_key: [u8; MAX_HASH_LEN],
}

impl core::fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredKeys")
            .field("hash", &self.hash)
            .field("iterations", &self.iterations)
            .field("salt", &self.salt())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$h` bound to the hash type named by `$hash`, or
/// evaluates `$none` for a hash not built in.
macro_rules! with_hash {
    ($hash:expr, $h:ident => $body:expr, $none:expr) => {
        match $hash {
            HashFunction::Sha1 => {
                type $h = Sha1;
                $body
            }
            #[cfg(feature = "scram-sha256")]
            HashFunction::Sha256 => {
                type $h = Sha256;
                $body
            }
            #[cfg(feature = "scram-sha512")]
            HashFunction::Sha512 => {
                type $h = Sha512;
                $body
            }
            #[allow(unreachable_patterns)]
            _ => $none,
        }
    };
}

impl StoredKeys {
    /// Keys restored from storage: `stored_key` and `server_key` must be
    /// `hash.output_len()` bytes, `salt` 1 to [`MAX_SALT_LEN`] bytes and
    /// `iterations` at least [`MIN_ITERATIONS`] (RFC 7677 §4).
    pub fn new(
        hash: HashFunction,
        salt: &[u8],
        iterations: u32,
        stored_key: &[u8],
        server_key: &[u8],
    ) -> Result<Self, SaslError> {
        let invalid = |field, reason| SaslError::InvalidInput { field, reason };
        if !hash.is_supported() {
            return Err(invalid(
                "hash",
                "not built in (see the scram-sha* features)",
            ));
        }
        if stored_key.len() != hash.output_len() || server_key.len() != hash.output_len() {
            return Err(invalid("stored keys", "key length is not the hash's"));
        }
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(invalid("salt", "not 1 to MAX_SALT_LEN bytes"));
        }
        if iterations < MIN_ITERATIONS {
            return Err(invalid("iteration count", "below 4096 (RFC 7677 §4)"));
        }
        let mut k = StoredKeys {
            hash,
            iterations,
            salt_len: salt.len() as u8,
            salt: [0; MAX_SALT_LEN],
            stored_key: [0; MAX_HASH_LEN],
            server_key: [0; MAX_HASH_LEN],
        };
        k.salt[..salt.len()].copy_from_slice(salt);
        k.stored_key[..stored_key.len()].copy_from_slice(stored_key);
        k.server_key[..server_key.len()].copy_from_slice(server_key);
        Ok(k)
    }

    /// The keys of a salted password (RFC 5802 §3): StoredKey =
    /// H(HMAC(SaltedPassword, "Client Key")), ServerKey =
    /// HMAC(SaltedPassword, "Server Key").
    pub fn from_salted_password(salted: &SaltedPassword) -> Result<Self, SaslError> {
        let key = salted.key();
        let mut stored = [0u8; MAX_HASH_LEN];
        let mut server = [0u8; MAX_HASH_LEN];
        let n = with_hash!(salted.hash(), H => {
            let client_key = H::hmac(key, b"Client Key");
            let s = H::hash(client_key.as_ref());
            stored[..s.as_ref().len()].copy_from_slice(s.as_ref());
            let k = H::hmac(key, b"Server Key");
            server[..k.as_ref().len()].copy_from_slice(k.as_ref());
            k.as_ref().len()
        }, return Err(SaslError::InvalidInput { field: "hash", reason: "not built in" }));
        Self::new(
            salted.hash(),
            salted.salt(),
            salted.iterations(),
            &stored[..n],
            &server[..n],
        )
    }

    /// Derives the keys from a password (prepared with SASLprep), for
    /// provisioning an account: PBKDF2 runs `iterations` times.
    pub fn derive(
        hash: HashFunction,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, SaslError> {
        Self::from_salted_password(&SaltedPassword::compute(hash, password, salt, iterations)?)
    }

    /// The hash.
    pub const fn hash(&self) -> HashFunction {
        self.hash
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt[..usize::from(self.salt_len)]
    }

    /// The iteration count.
    pub const fn iterations(&self) -> u32 {
        self.iterations
    }

    /// StoredKey = H(ClientKey).
    pub fn stored_key(&self) -> &[u8] {
        &self.stored_key[..self.hash.output_len()]
    }

    /// ServerKey = HMAC(SaltedPassword, "Server Key").
    pub fn server_key(&self) -> &[u8] {
        &self.server_key[..self.hash.output_len()]
    }

    /// Whether `password` is the one these keys were derived from (for
    /// PLAIN, RFC 4616): salts and hashes it as RFC 5802 §3 does and
    /// compares the StoredKey in constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        match Self::derive(self.hash, password, self.salt(), self.iterations) {
            Ok(k) => bool::from(k.stored_key().ct_eq(self.stored_key())),
            Err(_) => false,
        }
    }
}

/// The GS2 channel-binding flag of a client-first-message (RFC 5802 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gs2Flag<'m> {
    /// `n`: the client cannot bind.
    NotSupported,
    /// `y`: the client could bind, but thinks the server cannot.
    NotOffered,
    /// `p=`: bound to this channel-binding type.
    Bound(&'m [u8]),
}

/// What a client-first-message says (RFC 5802 §7), checked.
#[derive(Debug, Clone)]
pub struct ClientFirst<'m> {
    /// The channel-binding flag.
    pub cbind: Gs2Flag<'m>,
    /// The GS2 header, `n,,` or `y,,` with an optional `a=` authzid.
    pub gs2_header: &'m [u8],
    /// The authorization identity, still SCRAM-encoded (`=2C`, `=3D`).
    pub authzid: Option<&'m [u8]>,
    /// The username, decoded.
    pub username: heapless::String<MAX_USERNAME_LEN>,
    /// The client nonce.
    pub nonce: &'m [u8],
    /// client-first-message-bare: what goes into AuthMessage.
    pub bare: &'m [u8],
}

/// Parses a client-first-message (RFC 5802 §7):
///
/// ```text
/// client-first-message = gs2-header client-first-message-bare
/// gs2-header = gs2-cbind-flag "," [ authzid ] ","
/// client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
/// ```
///
/// An `m=` mandatory extension (RFC 5802 §5.1) is refused; whether the
/// channel-binding flag fits the mechanism is for
/// [`ScramServer::server_first`] to say.
pub fn parse_client_first(msg: &[u8]) -> Result<ClientFirst<'_>, SaslFailure> {
    let malformed = SaslFailure::MalformedRequest;
    let mut parts = msg.splitn(3, |&b| b == b',');
    let flag = parts.next().ok_or(malformed)?;
    let authzid = parts.next().ok_or(malformed)?;
    let bare = parts.next().ok_or(malformed)?;
    let cbind = match flag {
        b"n" => Gs2Flag::NotSupported,
        b"y" => Gs2Flag::NotOffered,
        [b'p', b'=', name @ ..] if !name.is_empty() => Gs2Flag::Bound(name),
        _ => return Err(malformed),
    };
    let authzid = match authzid {
        [] => None,
        [b'a', b'=', rest @ ..] if !rest.is_empty() => Some(rest),
        _ => return Err(malformed),
    };
    let gs2_header = &msg[..msg.len() - bare.len()];
    if bare.starts_with(b"m=") {
        return Err(malformed);
    }
    let mut fields = bare.split(|&b| b == b',');
    let user = fields
        .next()
        .and_then(|f| f.strip_prefix(b"n="))
        .ok_or(malformed)?;
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix(b"r="))
        .ok_or(malformed)?;
    // nonce = printable characters but ",": 0x21..0x7e.
    if nonce.is_empty()
        || nonce.len() > MAX_CLIENT_NONCE_LEN
        || nonce
            .iter()
            .any(|&b| !(0x21..=0x7e).contains(&b) || b == b',')
    {
        return Err(malformed);
    }
    let username = decode_saslname(user).ok_or(malformed)?;
    if username.is_empty() {
        return Err(malformed);
    }
    Ok(ClientFirst {
        cbind,
        gs2_header,
        authzid,
        username,
        nonce,
        bare,
    })
}

/// `saslname` of RFC 5802 §7: UTF-8 where `,` and `=` are written `=2C`
/// and `=3D`.
fn decode_saslname(s: &[u8]) -> Option<heapless::String<MAX_USERNAME_LEN>> {
    let s = core::str::from_utf8(s).ok()?;
    let mut out = heapless::String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['=', ',']) {
        out.push_str(&rest[..i]).ok()?;
        let c = match rest.get(i..i + 3)? {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        };
        out.push(c).ok()?;
        rest = &rest[i + 3..];
    }
    out.push_str(rest).ok()?;
    Some(out)
}

/// Where a server exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramServerState {
    /// Waiting for the client-first-message.
    Initial,
    /// server-first-message sent; waiting for the client-final-message.
    WaitingClientFinal,
    /// The client proved it knows the password.
    Done,
    /// The exchange failed.
    Failed,
}

/// One SCRAM exchange, server side (see the [module docs](self)).
pub struct ScramServer {
    hash: HashFunction,
    state: ScramServerState,
    keys: Option<StoredKeys>,
    /// client-first-message-bare "," server-first-message.
    auth: heapless::Vec<u8, AUTH_CAPACITY>,
    /// Where, in `auth`, the combined nonce starts and ends.
    nonce: (u16, u16),
    /// The GS2 header, for the `c=` check.
    gs2: heapless::Vec<u8, 128>,
    /// A -PLUS mechanism: the `tls-exporter` data the client must bind to.
    plus: bool,
    /// Whether -PLUS was offered on this stream (a `y` flag is then a
    /// downgrade, RFC 5802 §6).
    plus_offered: bool,
    binding: heapless::Vec<u8, MAX_BINDING_LEN>,
}

/// The longest channel-binding data kept (`tls-exporter`: 32 bytes).
pub const MAX_BINDING_LEN: usize = 64;

impl core::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScramServer")
            .field("hash", &self.hash)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ScramServer {
    /// An exchange for SCRAM with `hash`.
    pub const fn new(hash: HashFunction) -> Self {
        ScramServer {
            hash,
            state: ScramServerState::Initial,
            keys: None,
            auth: heapless::Vec::new(),
            nonce: (0, 0),
            gs2: heapless::Vec::new(),
            plus: false,
            plus_offered: false,
            binding: heapless::Vec::new(),
        }
    }

    /// Channel binding (RFC 5802 §6, RFC 9266): `plus` for a -PLUS
    /// mechanism, bound to `tls_exporter` (the 32 bytes of the TLS 1.3
    /// exporter with label "EXPORTER-Channel-Binding"); `plus_offered` when
    /// -PLUS mechanisms were offered on this stream, which makes a `y` flag
    /// a detected downgrade. Data longer than [`MAX_BINDING_LEN`] makes
    /// every -PLUS exchange fail.
    pub fn with_channel_binding(
        mut self,
        plus: bool,
        plus_offered: bool,
        tls_exporter: &[u8],
    ) -> Self {
        self.plus = plus;
        self.plus_offered = plus_offered;
        self.binding = heapless::Vec::from_slice(tls_exporter).unwrap_or_default();
        self
    }

    /// Where the exchange is.
    pub const fn state(&self) -> ScramServerState {
        self.state
    }

    /// Answers the client-first-message `client_first` with the
    /// server-first-message, written to `out` (its length returned).
    ///
    /// `keys` are the account's keys for this hash, or `None` for an
    /// unknown account: the exchange then goes on with made-up keys and
    /// fails at the proof, so the answer does not tell which accounts
    /// exist (RFC 5802 §9, RFC 6120 §6.5.10). `random` (at least 12
    /// bytes, from a cryptographic RNG) makes the server's part of the
    /// nonce.
    pub fn server_first(
        &mut self,
        client_first: &[u8],
        keys: Option<StoredKeys>,
        random: &[u8; SERVER_NONCE_LEN],
        out: &mut [u8],
    ) -> Result<usize, SaslFailure> {
        if self.state != ScramServerState::Initial {
            return Err(self.fail(SaslFailure::MalformedRequest));
        }
        let first = parse_client_first(client_first).map_err(|f| self.fail(f))?;
        // RFC 5802 §6: the flag must fit the mechanism; `y` when -PLUS was
        // offered means someone removed it from the offer.
        let flag_ok = match first.cbind {
            Gs2Flag::Bound(name) => {
                self.plus && name == b"tls-exporter" && !self.binding.is_empty()
            }
            Gs2Flag::NotOffered => !self.plus && !self.plus_offered,
            Gs2Flag::NotSupported => !self.plus,
        };
        if !flag_ok {
            return Err(self.fail(SaslFailure::NotAuthorized));
        }
        let keys = match keys {
            Some(k) if k.hash == self.hash => k,
            // Salted with the random bytes, and keys no client proof can
            // match (H(ClientKey) = 0 would need a preimage).
            _ => StoredKeys {
                hash: self.hash,
                iterations: MIN_ITERATIONS,
                salt_len: 16,
                salt: {
                    let mut s = [0; MAX_SALT_LEN];
                    s[..16].copy_from_slice(&random[..16]);
                    s
                },
                stored_key: [0; MAX_HASH_LEN],
                server_key: [0; MAX_HASH_LEN],
            },
        };
        // server-first-message = "r=" c-nonce s-nonce ",s=" salt ",i=" count
        let mut server_nonce = [0u8; base64_len(SERVER_NONCE_LEN)];
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(random, &mut server_nonce);
        let mut count = heapless::String::<10>::new();
        let _ = core::fmt::write(&mut count, format_args!("{}", keys.iterations));
        let mut msg = [0u8; AUTH_CAPACITY];
        let mut w = Out::new(&mut msg);
        w.put(b"r=");
        w.put(first.nonce);
        w.put(&server_nonce);
        w.put(b",s=");
        w.put_base64(keys.salt());
        w.put(b",i=");
        w.put(count.as_bytes());
        let Some(server_first) = w.written() else {
            return Err(self.fail(SaslFailure::MalformedRequest));
        };
        let nonce_start = first.bare.len() + 1 + 2;
        let nonce_end = nonce_start + first.nonce.len() + server_nonce.len();
        self.auth.clear();
        let fits = self.auth.extend_from_slice(first.bare).is_ok()
            && self.auth.push(b',').is_ok()
            && self.auth.extend_from_slice(server_first).is_ok()
            && self.gs2.extend_from_slice(first.gs2_header).is_ok();
        let dst = out.get_mut(..server_first.len());
        let (true, Some(dst)) = (fits, dst) else {
            return Err(self.fail(SaslFailure::MalformedRequest));
        };
        dst.copy_from_slice(server_first);
        self.nonce = (nonce_start as u16, nonce_end as u16);
        self.keys = Some(keys);
        self.state = ScramServerState::WaitingClientFinal;
        Ok(server_first.len())
    }

    /// Checks the client-final-message (RFC 5802 §5.1, §7):
    ///
    /// ```text
    /// client-final-message = channel-binding "," nonce ["," extensions] "," proof
    /// ```
    ///
    /// and, when the proof verifies, writes the server-final-message
    /// (`v=` ServerSignature) to `out` and returns its length.
    pub fn client_final(&mut self, msg: &[u8], out: &mut [u8]) -> Result<usize, SaslFailure> {
        if self.state != ScramServerState::WaitingClientFinal {
            return Err(self.fail(SaslFailure::MalformedRequest));
        }
        let r = self.verify(msg, out);
        self.state = match r {
            Ok(_) => ScramServerState::Done,
            Err(_) => ScramServerState::Failed,
        };
        r
    }

    fn verify(&self, msg: &[u8], out: &mut [u8]) -> Result<usize, SaslFailure> {
        let malformed = SaslFailure::MalformedRequest;
        let keys = self.keys.as_ref().ok_or(malformed)?;
        let proof_at = find(msg, b",p=").ok_or(malformed)?;
        let without_proof = &msg[..proof_at];
        let proof_b64 = &msg[proof_at + 3..];
        let mut fields = without_proof.split(|&b| b == b',');
        let cbind = fields
            .next()
            .and_then(|f| f.strip_prefix(b"c="))
            .ok_or(malformed)?;
        let nonce = fields
            .next()
            .and_then(|f| f.strip_prefix(b"r="))
            .ok_or(malformed)?;
        // RFC 5802 §5.1, §7: c= is the base64 of the GS2 header, followed
        // by the channel-binding data for -PLUS; r= the nonce of
        // server-first.
        let mut expected_cb = [0u8; base64_len(128 + MAX_BINDING_LEN)];
        let mut w = Out::new(&mut expected_cb);
        w.put_base64_chain(&self.gs2, if self.plus { &self.binding } else { &[] });
        let n = w.finish().map_err(|_| malformed)?;
        if cbind != &expected_cb[..n] {
            return Err(SaslFailure::NotAuthorized);
        }
        let (ns, ne) = (usize::from(self.nonce.0), usize::from(self.nonce.1));
        if self.auth.get(ns..ne) != Some(nonce) {
            return Err(SaslFailure::NotAuthorized);
        }
        let mut proof = [0u8; MAX_HASH_LEN];
        if proof_b64.len() > base64_len(MAX_HASH_LEN) {
            return Err(malformed);
        }
        let plen = base64::engine::general_purpose::STANDARD
            .decode_slice(proof_b64, &mut proof)
            .map_err(|_| SaslFailure::IncorrectEncoding)?;
        if plen != self.hash.output_len() {
            return Err(SaslFailure::NotAuthorized);
        }
        with_hash!(self.hash, H => {
            // AuthMessage = client-first-message-bare "," server-first-message
            //               "," client-final-message-without-proof
            let mut mac = H::mac(keys.stored_key());
            for part in [&self.auth[..], b",", without_proof] {
                H::mac_update(&mut mac, part);
            }
            let client_signature = H::mac_finish(mac);
            // ClientKey = ClientProof XOR ClientSignature; H(ClientKey)
            // must be StoredKey, compared in constant time.
            let mut client_key = H::ZERO;
            for ((k, p), s) in client_key.as_mut().iter_mut().zip(&proof).zip(client_signature.as_ref()) {
                *k = p ^ s;
            }
            let stored = H::hash(client_key.as_ref());
            if !bool::from(stored.as_ref().ct_eq(keys.stored_key())) {
                return Err(SaslFailure::NotAuthorized);
            }
            let mut mac = H::mac(keys.server_key());
            for part in [&self.auth[..], b",", without_proof] {
                H::mac_update(&mut mac, part);
            }
            let server_signature = H::mac_finish(mac);
            let mut w = Out::new(out);
            w.put(b"v=");
            w.put_base64(server_signature.as_ref());
            w.finish().map_err(|_| malformed)
        }, Err(SaslFailure::InvalidMechanism))
    }

    fn fail(&mut self, f: SaslFailure) -> SaslFailure {
        self.state = ScramServerState::Failed;
        f
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a PLAIN message (RFC 4616 §2): `[authzid] NUL authcid NUL
/// passwd`; returns `(authzid, authcid, password)`.
pub fn parse_plain(msg: &[u8]) -> Result<(Option<&str>, &str, &str), SaslFailure> {
    let s = core::str::from_utf8(msg).map_err(|_| SaslFailure::MalformedRequest)?;
    let mut parts = s.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslFailure::MalformedRequest);
    };
    if authcid.is_empty() || password.is_empty() {
        return Err(SaslFailure::MalformedRequest);
    }
    Ok(((!authzid.is_empty()).then_some(authzid), authcid, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::scram::{Credentials, ScramSha1};
    use crate::sasl::Gs2CbindFlag;

    fn b64(s: &str) -> std::vec::Vec<u8> {
        let mut v = std::vec::Vec::new();
        base64::engine::general_purpose::STANDARD
            .decode_vec(s, &mut v)
            .unwrap();
        v
    }

    /// RFC 5802 §5: user "user", password "pencil", salt
    /// QSXCR+Q6sek8bf92, 4096 iterations: our client against our server,
    /// and the keys verify PLAIN too.
    #[test]
    fn rfc5802_example_round_trip() {
        let keys = StoredKeys::derive(HashFunction::Sha1, "pencil", &b64("QSXCR+Q6sek8bf92"), 4096)
            .unwrap();
        for (password, ok) in [("pencil", true), ("pencil2", false)] {
            let mut server = ScramServer::new(HashFunction::Sha1);
            let mut client = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
            let (mut a, mut b) = ([0u8; 256], [0u8; 256]);
            let n = client
                .client_first(&mut a, "user", None, b"fyko+d2lbbFgONRv9qkxdawL")
                .unwrap();
            let client_nonce = std::vec::Vec::from(&a[b"n,,n=user,r=".len()..n]);
            let m = server
                .server_first(&a[..n], Some(keys.clone()), &[7; SERVER_NONCE_LEN], &mut b)
                .unwrap();
            let sf = std::str::from_utf8(&b[..m]).unwrap();
            assert!(sf.as_bytes()[2..].starts_with(&client_nonce), "{sf}");
            assert!(sf.ends_with(",s=QSXCR+Q6sek8bf92,i=4096"), "{sf}");
            let n = client
                .handle_server_first(&mut a, &b[..m], Credentials::Password(password))
                .unwrap();
            let r = server.client_final(&a[..n], &mut b);
            if ok {
                let m = r.unwrap();
                client.handle_server_final(&b[..m]).unwrap();
                assert_eq!(server.state(), ScramServerState::Done);
            } else {
                assert_eq!(r, Err(SaslFailure::NotAuthorized));
                assert_eq!(server.state(), ScramServerState::Failed);
            }
        }
        assert!(keys.verify_password("pencil"));
        assert!(!keys.verify_password("pencil "));
    }

    #[test]
    fn unknown_user_fails_only_at_the_proof() {
        let mut server = ScramServer::new(HashFunction::Sha1);
        let mut out = [0u8; 256];
        let n = server
            .server_first(
                b"n,,n=nobody,r=abcdefghijklmnop",
                None,
                &[1; SERVER_NONCE_LEN],
                &mut out,
            )
            .unwrap();
        assert!(out[..n].starts_with(b"r=abcdefghijklmnop"));
        let mut client_final = std::vec::Vec::from(&b"c=biws,r="[..]);
        client_final.extend_from_slice(out[2..n].split(|&b| b == b',').next().unwrap());
        client_final.extend_from_slice(b",p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(
            server.client_final(&client_final, &mut out),
            Err(SaslFailure::NotAuthorized)
        );
    }

    #[test]
    fn client_first_grammar() {
        let first = parse_client_first(b"y,a=admin,n=a=2Cb,r=xyz").unwrap();
        assert_eq!(first.username.as_str(), "a,b");
        assert_eq!(first.authzid, Some(&b"admin"[..]));
        assert_eq!(first.gs2_header, b"y,a=admin,");
        assert_eq!(
            parse_client_first(b"p=tls-exporter,,n=u,r=x")
                .unwrap()
                .cbind,
            Gs2Flag::Bound(b"tls-exporter")
        );
        for bad in [
            &b"p=,,n=u,r=x"[..],
            b"n,,m=ext,n=u,r=x",
            b"n,,n=,r=x",
            b"n,,n=u",
            b"n,,n=u,r=",
            b"x,,n=u,r=x",
            b"n,,n=u=XY,r=x",
            b"n",
        ] {
            assert_eq!(
                parse_client_first(bad).map(|_| ()),
                Err(SaslFailure::MalformedRequest),
                "{}",
                std::string::String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn plain_parsing() {
        assert_eq!(
            parse_plain(b"\0juliet\0secret"),
            Ok((None, "juliet", "secret"))
        );
        assert_eq!(
            parse_plain(b"juliet@example.com\0juliet\0secret"),
            Ok((Some("juliet@example.com"), "juliet", "secret"))
        );
        assert_eq!(
            parse_plain(b"juliet\0secret"),
            Err(SaslFailure::MalformedRequest)
        );
        assert_eq!(
            parse_plain(b"\0\0secret"),
            Err(SaslFailure::MalformedRequest)
        );
    }

    #[test]
    fn saslname_decoding() {
        assert_eq!(decode_saslname(b"a=2Cb=3Dc").unwrap().as_str(), "a,b=c");
        assert!(decode_saslname(b"a=2").is_none());
        assert!(decode_saslname(b"a,b").is_none());
    }
}
