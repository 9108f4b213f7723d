//! The SCRAM client (RFC 5802 §5, §7; RFC 7677), with channel binding
//! (-PLUS, RFC 5802 §6, RFC 9266), generic over the hash.
//!
//! [`ScramClient`] is the exchange's state machine. It allocates nothing:
//! each call writes its message into a caller buffer and returns its length,
//! and between calls it keeps only what RFC 5802 needs later, in a value of
//! fixed size: the client nonce (the client-first-message is rebuilt from
//! it and the borrowed username when the AuthMessage is computed, so no
//! copy of it waits for the server), then the expected ServerSignature. [`AnyScramClient`] picks the hash at run time, from
//! [`choose`](super::choose)'s result.
//!
//! The calls, in order:
//!
//! | call | input | output |
//! |---|---|---|
//! | [`client_first`](ScramClient::client_first) | username, authzid, random bytes | client-first-message, for `<auth/>` |
//! | [`handle_server_first`](ScramClient::handle_server_first) | server-first-message, from `<challenge/>`; password or cached salted password | client-final-message, for `<response/>` |
//! | [`handle_server_final`](ScramClient::handle_server_final) | server-final-message, from `<success/>` | `Ok(())` once the server has proven it knows the salted password |
//!
//! A call out of this order is an error, never a panic, and so is every
//! malformed server message. After an error the server caused, the exchange
//! is over ([`ScramState::Failed`]).
//!
//! # Caching the salted password
//!
//! SaltedPassword = Hi(password, salt, i) is PBKDF2 with thousands of
//! iterations: about a second on a small microcontroller. The salt and
//! iteration count only change when the server's stored credentials do, so
//! after a login that computed it,
//! [`salted_password_to_cache`](ScramClient::salted_password_to_cache) gives
//! the [`SaltedPassword`] (with its salt and count) to keep, and the next
//! login passes it as [`Credentials::SaltedPassword`] or
//! [`Credentials::CachedOrPassword`]. Anyone holding it can log in as the
//! user on this server (though not learn the password), so store it as
//! carefully as the password.

use core::fmt;

use base64::Engine as _;
use hmac::digest::Digest as _;
use subtle::ConstantTimeEq as _;

use super::channel_binding::{ChannelBindingType, MAX_CHANNEL_BINDING_LEN};
use super::{base64_len, saslprep, Gs2CbindFlag, Mechanism, Out, SaslError};
use crate::error::BufferTooSmall;

/// The smallest iteration count accepted: RFC 7677 §4 (and RFC 5802 §5.1
/// for SHA-1) asks for at least 4096.
pub const MIN_ITERATIONS: u32 = 4096;

/// The default ceiling on the iteration count, so a hostile server cannot
/// have the client spend minutes in PBKDF2. Deployed servers use 4096
/// (ejabberd, Openfire) to 10 000 (Prosody); change it with
/// [`ScramClient::with_max_iterations`].
pub const DEFAULT_MAX_ITERATIONS: u32 = 100_000;

/// The longest salt accepted, in bytes (servers use 10 to 32).
pub const MAX_SALT_LEN: usize = 64;

/// The fewest random bytes accepted for the client nonce: 96 bits, so a
/// nonce is never guessed or repeated.
pub const MIN_NONCE_LEN: usize = 12;

/// The random bytes [`ScramClient::client_first_with_rng`] draws for the
/// client nonce: 144 bits, 24 base64 characters, as in RFC 5802 §5.
pub const NONCE_LEN: usize = 18;

/// The most random bytes accepted for the client nonce (64 base64
/// characters).
pub const MAX_NONCE_LEN: usize = 48;

/// The default capacity `N` of [`ScramClient`]: room for the
/// client-first-message, on the stack while it is written and while it is
/// rebuilt for the AuthMessage (RFC 5802 §3), never kept. It holds
/// the GS2 header (up to 24 bytes without authzid), `n=`, the escaped
/// username and the nonce (up to 67 bytes with `,r=`): a username of up to
/// about 160 bytes.
pub const DEFAULT_CAPACITY: usize = 256;

/// The largest output of the hashes built in (SHA-512's, SHA-256's or
/// SHA-1's): a [`SaltedPassword`] keeps no longer a key, so a client built
/// for SCRAM-SHA-1 alone keeps 20 bytes, not 64.
#[cfg(feature = "scram-sha512")]
const MAX_HASH_LEN: usize = 64;
#[cfg(all(feature = "scram-sha256", not(feature = "scram-sha512")))]
const MAX_HASH_LEN: usize = 32;
#[cfg(not(any(feature = "scram-sha256", feature = "scram-sha512")))]
const MAX_HASH_LEN: usize = 20;

/// A hash function SCRAM can use: the `H()` of RFC 5802 §2.2, named as in
/// the mechanism names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HashFunction {
    /// SHA-1 (RFC 5802).
    Sha1,
    /// SHA-256 (RFC 7677).
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HashFunction {
    /// The name as in the mechanism names, e.g. `"SHA-256"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
        }
    }

    /// The output length in bytes, also the length of every SCRAM key.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// Whether this build has the hash: SHA-256 needs the `scram-sha256`
    /// feature, SHA-512 the `scram-sha512` feature.
    pub const fn is_supported(self) -> bool {
        match self {
            Self::Sha1 => true,
            Self::Sha256 => cfg!(feature = "scram-sha256"),
            Self::Sha512 => cfg!(feature = "scram-sha512"),
        }
    }
}

impl fmt::Display for HashFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hash a [`ScramClient`] can be built on: [`Sha1`], [`Sha256`] (feature
/// `scram-sha256`), [`Sha512`] (feature `scram-sha512`). Sealed.
pub trait ScramHash: sealed::Sealed {
    /// Which hash this is.
    const HASH: HashFunction;
}

/// SHA-1, for SCRAM-SHA-1(-PLUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha1;

/// SHA-256, for SCRAM-SHA-256(-PLUS).
#[cfg(feature = "scram-sha256")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256;

/// SHA-512, for SCRAM-SHA-512(-PLUS).
#[cfg(feature = "scram-sha512")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha512;

pub(crate) mod sealed {
    /// The primitives of RFC 5802 §2.2, implemented once per hash.
    pub trait Sealed {
        /// `[u8; output length]`.
        type Key: Copy + AsRef<[u8]> + AsMut<[u8]>;
        const ZERO: Self::Key;
        type Mac: Clone;
        type Digest: Default;
        fn mac(key: &[u8]) -> Self::Mac;
        fn mac_update(mac: &mut Self::Mac, data: &[u8]);
        fn mac_finish(mac: Self::Mac) -> Self::Key;
        fn digest_update(d: &mut Self::Digest, data: &[u8]);
        fn digest_finish(d: Self::Digest) -> Self::Key;
        /// Hi(str, salt, i) of RFC 5802 §2.2: PBKDF2 with HMAC-H.
        fn hi(password: &[u8], salt: &[u8], iterations: u32) -> Self::Key;

        /// HMAC(key, str).
        fn hmac(key: &[u8], data: &[u8]) -> Self::Key {
            let mut m = Self::mac(key);
            Self::mac_update(&mut m, data);
            Self::mac_finish(m)
        }

        /// H(str).
        fn hash(data: &[u8]) -> Self::Key {
            let mut d = Self::Digest::default();
            Self::digest_update(&mut d, data);
            Self::digest_finish(d)
        }
    }
}

macro_rules! scram_hash {
    ($marker:ty, $hash:expr, $digest:ty, $len:expr) => {
        impl ScramHash for $marker {
            const HASH: HashFunction = $hash;
        }

        impl sealed::Sealed for $marker {
            type Key = [u8; $len];
            const ZERO: Self::Key = [0; $len];
            type Mac = hmac::Hmac<$digest>;
            type Digest = $digest;

            fn mac(key: &[u8]) -> Self::Mac {
                use hmac::Mac as _;
                // HMAC takes keys of any length (RFC 2104 §2: longer ones
                // are hashed), so this never fails.
                match Self::Mac::new_from_slice(key) {
                    Ok(m) => m,
                    Err(_) => unreachable!("HMAC accepts keys of any length"),
                }
            }

            fn mac_update(mac: &mut Self::Mac, data: &[u8]) {
                hmac::Mac::update(mac, data);
            }

            fn mac_finish(mac: Self::Mac) -> Self::Key {
                hmac::Mac::finalize(mac).into_bytes().into()
            }

            fn digest_update(d: &mut Self::Digest, data: &[u8]) {
                d.update(data);
            }

            fn digest_finish(d: Self::Digest) -> Self::Key {
                d.finalize().into()
            }

            fn hi(password: &[u8], salt: &[u8], iterations: u32) -> Self::Key {
                let mut key = Self::ZERO;
                pbkdf2::pbkdf2_hmac::<$digest>(password, salt, iterations, &mut key);
                key
            }
        }
    };
}

scram_hash!(Sha1, HashFunction::Sha1, sha1::Sha1, 20);
#[cfg(feature = "scram-sha256")]
scram_hash!(Sha256, HashFunction::Sha256, sha2::Sha256, 32);
#[cfg(feature = "scram-sha512")]
scram_hash!(Sha512, HashFunction::Sha512, sha2::Sha512, 64);

/// SaltedPassword = Hi(Normalize(password), salt, i) (RFC 5802 §3), with
/// the hash, salt and iteration count it was computed for: what a client
/// caches to skip PBKDF2 on the next login.
///
/// Its [`Debug`] output hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SaltedPassword {
    hash: HashFunction,
    iterations: u32,
    salt_len: u8,
    salt: [u8; MAX_SALT_LEN],
    key: [u8; MAX_HASH_LEN],
}

impl SaltedPassword {
    /// A salted password restored from storage: `hash` must be built in
    /// (see the `scram-sha*` features), `key` `hash.output_len()` bytes,
    /// `salt` 1 to [`MAX_SALT_LEN`] bytes, `iterations` not 0.
    pub fn new(
        hash: HashFunction,
        salt: &[u8],
        iterations: u32,
        key: &[u8],
    ) -> Result<Self, SaslError> {
        if key.len() != hash.output_len() {
            return Err(invalid("salted password", "key length is not the hash's"));
        }
        // As `compute`: a hash not built in can never be used, and its key
        // may be longer than MAX_HASH_LEN.
        let built_in = match hash {
            HashFunction::Sha1 => true,
            HashFunction::Sha256 => cfg!(feature = "scram-sha256"),
            HashFunction::Sha512 => cfg!(feature = "scram-sha512"),
        };
        if !built_in || key.len() > MAX_HASH_LEN {
            return Err(invalid(
                "hash",
                "not built in (see the scram-sha* features)",
            ));
        }
        let mut sp = Self::empty(hash, salt, iterations)?;
        sp.key[..key.len()].copy_from_slice(key);
        Ok(sp)
    }

    /// Computes Hi(password, salt, iterations) with `hash`, preparing the
    /// password with SASLprep as [the module docs](super#saslprep) say:
    /// for provisioning a device ahead of its first login.
    pub fn compute(
        hash: HashFunction,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, SaslError> {
        match hash {
            HashFunction::Sha1 => Self::compute_with::<Sha1>(password, salt, iterations),
            #[cfg(feature = "scram-sha256")]
            HashFunction::Sha256 => Self::compute_with::<Sha256>(password, salt, iterations),
            #[cfg(feature = "scram-sha512")]
            HashFunction::Sha512 => Self::compute_with::<Sha512>(password, salt, iterations),
            #[allow(unreachable_patterns)]
            _ => Err(invalid(
                "hash",
                "not built in (see the scram-sha* features)",
            )),
        }
    }

    fn compute_with<H: ScramHash>(
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, SaslError> {
        let mut sp = Self::empty(H::HASH, salt, iterations)?;
        let prepared = saslprep::prepare(password).map_err(|reason| invalid("password", reason))?;
        let key = if saslprep::is_unchanged(password) {
            H::hi(password.as_bytes(), salt, iterations)
        } else {
            // The prepared password is the HMAC key. It is never longer
            // than the input; if it fits in 128 bytes it is used as it is,
            // otherwise it is longer than every block size here (64, 128),
            // and RFC 2104 §2 replaces such a key by its hash, which can be
            // computed without holding the whole key.
            let mut buf = [0u8; 128];
            let mut len = 0;
            let mut fits = true;
            for c in prepared.clone() {
                let n = c.len_utf8();
                match buf.get_mut(len..len + n) {
                    Some(dst) => {
                        c.encode_utf8(dst);
                        len += n;
                    }
                    None => {
                        fits = false;
                        break;
                    }
                }
            }
            if fits {
                H::hi(&buf[..len], salt, iterations)
            } else {
                let mut d = H::Digest::default();
                for c in prepared {
                    H::digest_update(&mut d, c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                H::hi(H::digest_finish(d).as_ref(), salt, iterations)
            }
        };
        sp.key[..H::HASH.output_len()].copy_from_slice(key.as_ref());
        Ok(sp)
    }

    fn empty(hash: HashFunction, salt: &[u8], iterations: u32) -> Result<Self, SaslError> {
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(invalid("salt", "not 1 to MAX_SALT_LEN bytes"));
        }
        if iterations == 0 {
            return Err(invalid("iteration count", "zero"));
        }
        let mut sp = Self {
            hash,
            iterations,
            salt_len: salt.len() as u8,
            salt: [0; MAX_SALT_LEN],
            key: [0; MAX_HASH_LEN],
        };
        sp.salt[..salt.len()].copy_from_slice(salt);
        Ok(sp)
    }

    /// The hash it was computed with.
    pub const fn hash(&self) -> HashFunction {
        self.hash
    }

    /// The salt it was computed with.
    pub fn salt(&self) -> &[u8] {
        &self.salt[..usize::from(self.salt_len)]
    }

    /// The iteration count it was computed with.
    pub const fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The key itself, `hash().output_len()` bytes: secret.
    pub fn key(&self) -> &[u8] {
        &self.key[..self.hash.output_len()]
    }

    fn matches(&self, hash: HashFunction, salt: &[u8], iterations: u32) -> bool {
        self.hash == hash && self.salt() == salt && self.iterations == iterations
    }
}

impl fmt::Debug for SaltedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaltedPassword")
            .field("hash", &self.hash)
            .field("salt", &self.salt())
            .field("iterations", &self.iterations)
            .field("key", &"<hidden>")
            .finish()
    }
}

/// What proves the client's identity in
/// [`handle_server_first`](ScramClient::handle_server_first).
#[derive(Clone, Copy)]
pub enum Credentials<'a> {
    /// The password, prepared with SASLprep (see [the module
    /// docs](super#saslprep)); PBKDF2 runs.
    Password(&'a str),
    /// Only a cached salted password; if the server's hash, salt or
    /// iteration count differ from it, the call fails with
    /// [`SaslError::PasswordNeeded`] (and can be repeated with the password).
    SaltedPassword(&'a SaltedPassword),
    /// A cached salted password, and the password to recompute it if it no
    /// longer matches what the server sends.
    CachedOrPassword {
        /// The cached salted password.
        cached: &'a SaltedPassword,
        /// The password.
        password: &'a str,
    },
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.write_str(match self {
            Self::Password(_) => "Credentials::Password(<hidden>)",
            Self::SaltedPassword(_) => "Credentials::SaltedPassword(<hidden>)",
            Self::CachedOrPassword { .. } => "Credentials::CachedOrPassword(<hidden>)",
        })
    }
}

/// The `server-error-value` of an `e=` server-final-message (RFC 5802 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerErrorValue {
    /// `invalid-encoding`
    InvalidEncoding,
    /// `extensions-not-supported`
    ExtensionsNotSupported,
    /// `invalid-proof`: wrong password, in practice.
    InvalidProof,
    /// `channel-bindings-dont-match`
    ChannelBindingsDontMatch,
    /// `server-does-support-channel-binding`: the client sent `y`, but the
    /// server does support channel binding; a downgrade attack, or a client
    /// that did not see the -PLUS offer.
    ServerDoesSupportChannelBinding,
    /// `channel-binding-not-supported`
    ChannelBindingNotSupported,
    /// `unsupported-channel-binding-type`
    UnsupportedChannelBindingType,
    /// `unknown-user`
    UnknownUser,
    /// `invalid-username-encoding`
    InvalidUsernameEncoding,
    /// `no-resources`
    NoResources,
    /// `other-error`
    OtherError,
    /// A value RFC 5802 does not define (`server-error-value-ext`).
    Unrecognized,
}

impl ServerErrorValue {
    const DEFINED: [ServerErrorValue; 11] = [
        Self::InvalidEncoding,
        Self::ExtensionsNotSupported,
        Self::InvalidProof,
        Self::ChannelBindingsDontMatch,
        Self::ServerDoesSupportChannelBinding,
        Self::ChannelBindingNotSupported,
        Self::UnsupportedChannelBindingType,
        Self::UnknownUser,
        Self::InvalidUsernameEncoding,
        Self::NoResources,
        Self::OtherError,
    ];

    /// The value as on the wire; `"unrecognized"` for
    /// [`Unrecognized`](Self::Unrecognized).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidEncoding => "invalid-encoding",
            Self::ExtensionsNotSupported => "extensions-not-supported",
            Self::InvalidProof => "invalid-proof",
            Self::ChannelBindingsDontMatch => "channel-bindings-dont-match",
            Self::ServerDoesSupportChannelBinding => "server-does-support-channel-binding",
            Self::ChannelBindingNotSupported => "channel-binding-not-supported",
            Self::UnsupportedChannelBindingType => "unsupported-channel-binding-type",
            Self::UnknownUser => "unknown-user",
            Self::InvalidUsernameEncoding => "invalid-username-encoding",
            Self::NoResources => "no-resources",
            Self::OtherError => "other-error",
            Self::Unrecognized => "unrecognized",
        }
    }

    /// The value named by `name`; [`Unrecognized`](Self::Unrecognized) for
    /// any other bytes.
    pub fn from_name(name: &[u8]) -> Self {
        Self::DEFINED
            .iter()
            .copied()
            .find(|v| v.as_str().as_bytes() == name)
            .unwrap_or(Self::Unrecognized)
    }
}

impl fmt::Display for ServerErrorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a [`ScramClient`] is in the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ScramState {
    /// Next: [`client_first`](ScramClient::client_first).
    Initial,
    /// Next: [`handle_server_first`](ScramClient::handle_server_first).
    WaitingServerFirst,
    /// Next: [`handle_server_final`](ScramClient::handle_server_final).
    WaitingServerFinal,
    /// The server is authenticated; nothing more to do.
    Done,
    /// The exchange failed; nothing more to do.
    Failed,
}

/// The GS2 flag, copied out of the caller's [`Gs2CbindFlag`]: `None`:
/// `n`; `Some(None)`: `y`; `Some(Some(t))`: `p=t`.
type Cbind = Option<Option<ChannelBindingType>>;

/// The channel-binding data, copied out of the caller's [`Gs2CbindFlag`] so
/// the client borrows nothing. Only the states before the client-final
/// message keep it (RFC 5802 §5.1: it goes into `c=`, then is done with),
/// so it shares their room with the keys of the later ones.
#[derive(Clone, Copy)]
struct CbData {
    len: u8,
    data: [u8; MAX_CHANNEL_BINDING_LEN],
}

impl CbData {
    fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }
}

/// The longest client nonce, in base64 characters.
const MAX_NONCE_B64: usize = base64_len(MAX_NONCE_LEN);

enum State<'u, H: ScramHash> {
    Initial {
        cb: CbData,
    },
    WaitingServerFirst {
        cb: CbData,
        /// What the client-first-message is rebuilt from: the username
        /// and authzid as given (borrowed, not copied) and the client
        /// nonce.
        username: &'u str,
        authzid: Option<&'u str>,
        nonce: [u8; MAX_NONCE_B64],
        nonce_len: u8,
    },
    WaitingServerFinal {
        server_signature: H::Key,
        salted: SaltedPassword,
        fresh: bool,
    },
    Done {
        salted: SaltedPassword,
        fresh: bool,
    },
    Failed,
}

/// A SCRAM client exchange (RFC 5802 §5) with hash `H`, for a
/// client-first-message of up to `N` bytes (see [`DEFAULT_CAPACITY`]). It
/// borrows the username (and authzid) given to
/// [`client_first`](Self::client_first) for `'u`, until the server's first
/// message is handled.
///
/// See [the module docs](self) for the order of calls, and
/// [`super`] for a whole exchange.
pub struct ScramClient<'u, H: ScramHash, const N: usize = DEFAULT_CAPACITY> {
    max_iterations: u32,
    cbind: Cbind,
    state: State<'u, H>,
}

impl<H: ScramHash> ScramClient<'_, H> {
    /// A new exchange with the default capacity, with channel-binding flag
    /// `cbind` (from [`Choice::cbind`](super::Choice::cbind)):
    /// [`Gs2CbindFlag::Bound`] makes it SCRAM-*-PLUS.
    ///
    /// Fails if the channel-binding data is empty or longer than
    /// [`MAX_CHANNEL_BINDING_LEN`] (64) bytes.
    pub fn new(cbind: Gs2CbindFlag<'_>) -> Result<Self, SaslError> {
        Self::with_capacity(cbind)
    }
}

impl<'u, H: ScramHash, const N: usize> ScramClient<'u, H, N> {
    /// [`new`](ScramClient::new), with the capacity `N` of the type
    /// (`ScramClient::<Sha1, 512>::with_capacity(cbind)`).
    pub fn with_capacity(cbind: Gs2CbindFlag<'_>) -> Result<Self, SaslError> {
        let mut flag = None;
        let mut cb = CbData {
            len: 0,
            data: [0; MAX_CHANNEL_BINDING_LEN],
        };
        match cbind {
            Gs2CbindFlag::NotSupported => {}
            Gs2CbindFlag::NotOffered => flag = Some(None),
            Gs2CbindFlag::Bound(b) => {
                let data = b.data();
                if data.is_empty() || data.len() > MAX_CHANNEL_BINDING_LEN {
                    return Err(invalid("channel binding", "not 1 to 64 bytes of data"));
                }
                flag = Some(Some(b.kind()));
                cb.len = data.len() as u8;
                cb.data[..data.len()].copy_from_slice(data);
            }
        }
        Ok(Self {
            max_iterations: DEFAULT_MAX_ITERATIONS,
            cbind: flag,
            state: State::Initial { cb },
        })
    }

    /// Sets the ceiling on the server's iteration count (default
    /// [`DEFAULT_MAX_ITERATIONS`]); a server asking for more is refused with
    /// [`SaslError::IterationCountTooHigh`].
    #[must_use]
    pub fn with_max_iterations(mut self, max: u32) -> Self {
        self.max_iterations = max;
        self
    }

    // ----- getters -----

    /// The mechanism this exchange runs, to name in `<auth/>`.
    pub fn mechanism(&self) -> Mechanism {
        Mechanism::scram(H::HASH, matches!(self.cbind, Some(Some(_))))
    }

    /// Where the exchange is.
    pub fn state(&self) -> ScramState {
        match self.state {
            State::Initial { .. } => ScramState::Initial,
            State::WaitingServerFirst { .. } => ScramState::WaitingServerFirst,
            State::WaitingServerFinal { .. } => ScramState::WaitingServerFinal,
            State::Done { .. } => ScramState::Done,
            State::Failed => ScramState::Failed,
        }
    }

    /// Whether the exchange succeeded, the server included: only then may
    /// the client take the `<success/>` as real (RFC 5802 §5: mutual
    /// authentication).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done { .. })
    }

    /// The salted password to cache for the next login: `Some` once the
    /// exchange succeeded and PBKDF2 ran in it (no cached one was given, or
    /// it no longer matched), `None` otherwise.
    pub fn salted_password_to_cache(&self) -> Option<&SaltedPassword> {
        match &self.state {
            State::Done {
                salted,
                fresh: true,
            } => Some(salted),
            _ => None,
        }
    }

    // ----- the exchange, in RFC 5802 §5 order -----

    /// Writes the client-first-message into `out` and returns its length.
    ///
    /// - `username`: the SCRAM username, in XMPP the localpart (RFC 6120
    ///   §6.3.7); prepared with SASLprep, then `,` and `=` are escaped as
    ///   `=2C` and `=3D` (RFC 5802 §5.1).
    /// - `authzid`: the identity to act as, if not the one the username
    ///   implies (RFC 6120 §6.3.8: usually `None`); escaped the same way.
    /// - `nonce`: [`MIN_NONCE_LEN`] to [`MAX_NONCE_LEN`] bytes from a
    ///   cryptographic RNG, base64-encoded into the client nonce (18 bytes
    ///   give 24 characters), which is thus printable and free of `,` as
    ///   RFC 5802 §7 requires.
    pub fn client_first(
        &mut self,
        out: &mut [u8],
        username: &'u str,
        authzid: Option<&'u str>,
        nonce: &[u8],
    ) -> Result<usize, SaslError> {
        let State::Initial { cb } = self.state else {
            return Err(self.out_of_order("client_first"));
        };
        if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) {
            return Err(invalid("nonce", "not MIN_NONCE_LEN to MAX_NONCE_LEN bytes"));
        }
        if let Some(a) = authzid {
            // RFC 5802 §7: saslname is 1*(value-safe-char / "=2C" / "=3D"),
            // and value-safe-char excludes NUL.
            if a.is_empty() || a.contains('\0') {
                return Err(invalid("authzid", "empty or contains NUL"));
            }
        }
        let mut encoded = [0u8; MAX_NONCE_B64];
        let nonce_len = base64::engine::general_purpose::STANDARD
            .encode_slice(nonce, &mut encoded)
            .map_err(|_| invalid("nonce", "not MIN_NONCE_LEN to MAX_NONCE_LEN bytes"))?;

        let mut first = [0u8; N];
        let (len, _) = self.write_first(&mut first, username, authzid, &encoded[..nonce_len])?;
        let dst = out.get_mut(..len).ok_or(BufferTooSmall { needed: len })?;
        dst.copy_from_slice(&first[..len]);
        self.state = State::WaitingServerFirst {
            cb,
            username,
            authzid,
            nonce: encoded,
            // At most MAX_NONCE_B64 (64).
            nonce_len: nonce_len as u8,
        };
        Ok(len)
    }

    /// Writes the client-first-message with client nonce `nonce` (base64)
    /// into `first`; returns its length and where the bare message starts.
    fn write_first(
        &self,
        first: &mut [u8; N],
        username: &str,
        authzid: Option<&str>,
        nonce: &[u8],
    ) -> Result<(usize, usize), SaslError> {
        let username = saslprep::prepare(username).map_err(|reason| invalid("username", reason))?;
        let mut w = Out::new(first);
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        match self.cbind {
            None => w.put(b"n"),
            Some(None) => w.put(b"y"),
            Some(Some(t)) => {
                w.put(b"p=");
                w.put(t.name().as_bytes());
            }
        }
        w.put(b",");
        if let Some(a) = authzid {
            w.put(b"a=");
            put_saslname(&mut w, a.chars());
        }
        w.put(b",");
        let bare_at = w.len();
        // client-first-message-bare = username "," nonce ["," extensions]
        w.put(b"n=");
        put_saslname(&mut w, username);
        w.put(b",r=");
        w.put(nonce);
        let len = w.finish().map_err(|e| SaslError::CapacityExceeded {
            needed: e.needed,
            capacity: N,
        })?;
        Ok((len, bare_at))
    }

    /// [`client_first`](Self::client_first), with [`NONCE_LEN`] bytes of
    /// nonce drawn from `rng`, which must be a cryptographic RNG: a
    /// predictable nonce lets an attacker replay an exchange.
    pub fn client_first_with_rng<R: rand_core::RngCore + rand_core::CryptoRng>(
        &mut self,
        out: &mut [u8],
        username: &'u str,
        authzid: Option<&'u str>,
        rng: &mut R,
    ) -> Result<usize, SaslError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        self.client_first(out, username, authzid, &nonce)
    }

    /// Takes the server-first-message (the decoded `<challenge/>`), writes
    /// the client-final-message into `out`, and returns its length.
    ///
    /// Checks, as RFC 5802 §5.1 asks, that the server nonce extends the
    /// client's, refuses a mandatory extension (`m=`), a salt longer than
    /// [`MAX_SALT_LEN`] and an iteration count outside [`MIN_ITERATIONS`]
    /// to the ceiling, all before spending time on PBKDF2.
    pub fn handle_server_first(
        &mut self,
        out: &mut [u8],
        server_first: &[u8],
        credentials: Credentials<'_>,
    ) -> Result<usize, SaslError> {
        let r = self.server_first(out, server_first, credentials);
        self.settle(r)
    }

    /// Takes the server-final-message (the decoded additional data of
    /// `<success/>`) and checks the server's signature in constant time.
    ///
    /// `Ok(())` means the server knows the salted password: the client may
    /// now accept the `<success/>`. A `<success/>` without this message, or
    /// an error here, means the client MUST NOT consider itself
    /// authenticated (RFC 5802 §5, RFC 6120 §6.3.10).
    pub fn handle_server_final(&mut self, server_final: &[u8]) -> Result<(), SaslError> {
        let r = self.server_final(server_final);
        self.settle(r)
    }

    // ----- transitions -----

    /// Records the outcome of a step: a new state on success, the end of
    /// the exchange on a server error, no change on a local error.
    fn settle<T>(&mut self, r: Result<(T, State<'u, H>), SaslError>) -> Result<T, SaslError> {
        match r {
            Ok((t, next)) => {
                self.state = next;
                Ok(t)
            }
            Err(e) => {
                if e.fault() == super::Fault::Server {
                    self.state = State::Failed;
                }
                Err(e)
            }
        }
    }

    fn server_first(
        &self,
        out: &mut [u8],
        server_first: &[u8],
        credentials: Credentials<'_>,
    ) -> Result<(usize, State<'u, H>), SaslError> {
        let State::WaitingServerFirst {
            cb,
            username,
            authzid,
            nonce,
            nonce_len,
        } = &self.state
        else {
            return Err(self.out_of_order("handle_server_first"));
        };
        let client_nonce = nonce.get(..usize::from(*nonce_len)).unwrap_or_default();
        // The client-first-message again, exactly as sent: the same inputs
        // through the same code.
        let mut first = [0u8; N];
        let (len, bare_at) = self.write_first(&mut first, username, *authzid, client_nonce)?;
        let (gs2_header, bare) = first[..len].split_at(bare_at);

        let msg = parse_server_first(server_first)?;
        // RFC 5802 §5.1: the client MUST verify that the nonce starts with
        // its own, and the server's part keeps it fresh.
        if !msg.nonce.starts_with(client_nonce) || msg.nonce.len() == client_nonce.len() {
            return Err(SaslError::NonceMismatch);
        }
        if msg.salt_b64.len() > base64_len(MAX_SALT_LEN) {
            return Err(SaslError::SaltTooLong);
        }
        let mut salt = [0u8; MAX_SALT_LEN];
        let salt_len =
            match base64::engine::general_purpose::STANDARD.decode_slice(msg.salt_b64, &mut salt) {
                Ok(0) => return Err(malformed("empty salt")),
                Ok(n) => n,
                Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                    return Err(SaslError::SaltTooLong)
                }
                Err(base64::DecodeSliceError::DecodeError(_)) => {
                    return Err(malformed("salt is not valid base64"))
                }
            };
        let salt = &salt[..salt_len];
        if msg.iterations < MIN_ITERATIONS {
            return Err(SaslError::IterationCountTooLow {
                iterations: msg.iterations,
            });
        }
        if msg.iterations > self.max_iterations {
            return Err(SaslError::IterationCountTooHigh {
                iterations: msg.iterations,
                max: self.max_iterations,
            });
        }

        // client-final-message-without-proof = channel-binding "," nonce
        // client-final-message = ... "," proof
        let cb_data = cb.data();
        let without_proof_len =
            2 + base64_len(gs2_header.len() + cb_data.len()) + 3 + msg.nonce.len();
        let needed = without_proof_len + 3 + base64_len(H::HASH.output_len());
        if out.len() < needed {
            return Err(BufferTooSmall { needed }.into());
        }

        // Only now, with a sound message and room for the answer, PBKDF2.
        let (salted, fresh) = match credentials {
            Credentials::SaltedPassword(c) if c.matches(H::HASH, salt, msg.iterations) => {
                (c.clone(), false)
            }
            Credentials::SaltedPassword(_) => return Err(SaslError::PasswordNeeded),
            Credentials::CachedOrPassword { cached, .. }
                if cached.matches(H::HASH, salt, msg.iterations) =>
            {
                (cached.clone(), false)
            }
            Credentials::Password(password) | Credentials::CachedOrPassword { password, .. } => (
                SaltedPassword::compute_with::<H>(password, salt, msg.iterations)?,
                true,
            ),
        };
        let salted_key = salted.key();

        // RFC 5802 §3.
        let client_key = H::hmac(salted_key, b"Client Key");
        let stored_key = H::hash(client_key.as_ref());
        let server_key = H::hmac(salted_key, b"Server Key");

        let mut w = Out::new(out);
        w.put(b"c=");
        w.put_base64_chain(gs2_header, cb_data);
        w.put(b",r=");
        w.put(msg.nonce);
        let without_proof = w.written().unwrap_or_default();

        // AuthMessage = client-first-message-bare + "," +
        //               server-first-message + "," +
        //               client-final-message-without-proof
        let mut client_mac = H::mac(stored_key.as_ref());
        for part in [bare, b",", server_first, b",", without_proof] {
            H::mac_update(&mut client_mac, part);
        }
        let mut server_mac = H::mac(server_key.as_ref());
        for part in [bare, b",", server_first, b",", without_proof] {
            H::mac_update(&mut server_mac, part);
        }
        let client_signature = H::mac_finish(client_mac);
        let server_signature = H::mac_finish(server_mac);

        // ClientProof = ClientKey XOR ClientSignature
        let mut proof = client_key;
        for (p, s) in proof.as_mut().iter_mut().zip(client_signature.as_ref()) {
            *p ^= s;
        }
        w.put(b",p=");
        w.put_base64(proof.as_ref());
        let n = w.finish()?;
        Ok((
            n,
            State::WaitingServerFinal {
                server_signature,
                salted,
                fresh,
            },
        ))
    }

    fn server_final(&self, server_final: &[u8]) -> Result<((), State<'u, H>), SaslError> {
        let State::WaitingServerFinal {
            server_signature,
            salted,
            fresh,
        } = &self.state
        else {
            return Err(self.out_of_order("handle_server_final"));
        };
        // server-final-message = (server-error / verifier) ["," extensions]
        let head = server_final
            .split(|&b| b == b',')
            .next()
            .unwrap_or_default();
        if let Some(value) = head.strip_prefix(b"e=") {
            return Err(SaslError::ServerError(ServerErrorValue::from_name(value)));
        }
        let Some(verifier) = head.strip_prefix(b"v=") else {
            return Err(malformed("server-final-message has neither v= nor e="));
        };
        if verifier.len() > base64_len(MAX_HASH_LEN) {
            return Err(SaslError::ServerSignatureMismatch);
        }
        let mut got = [0u8; MAX_HASH_LEN];
        let n = base64::engine::general_purpose::STANDARD
            .decode_slice(verifier, &mut got)
            .map_err(|_| malformed("verifier is not valid base64"))?;
        // RFC 5802 §5: the client MUST verify the ServerSignature; compared
        // in constant time so timing tells an attacker nothing.
        if !bool::from(got[..n].ct_eq(server_signature.as_ref())) {
            return Err(SaslError::ServerSignatureMismatch);
        }
        Ok((
            (),
            State::Done {
                salted: salted.clone(),
                fresh: *fresh,
            },
        ))
    }

    fn out_of_order(&self, call: &'static str) -> SaslError {
        let expected = match self.state {
            State::Initial { .. } => "client_first",
            State::WaitingServerFirst { .. } => "handle_server_first",
            State::WaitingServerFinal { .. } => "handle_server_final",
            State::Done { .. } => "nothing: the exchange succeeded",
            State::Failed => "nothing: the exchange failed",
        };
        SaslError::OutOfOrder { call, expected }
    }
}

impl<H: ScramHash, const N: usize> fmt::Debug for ScramClient<'_, H, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys and the salted password stay out of logs.
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism())
            .field("state", &self.state())
            .field("max_iterations", &self.max_iterations)
            .finish()
    }
}

/// A [`ScramClient`] whose hash is chosen at run time, from the mechanism
/// [`choose`](super::choose) picked. Its methods are those of
/// [`ScramClient`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyScramClient<'u, const N: usize = DEFAULT_CAPACITY> {
    /// SCRAM-SHA-1(-PLUS).
    Sha1(ScramClient<'u, Sha1, N>),
    /// SCRAM-SHA-256(-PLUS).
    #[cfg(feature = "scram-sha256")]
    Sha256(ScramClient<'u, Sha256, N>),
    /// SCRAM-SHA-512(-PLUS).
    #[cfg(feature = "scram-sha512")]
    Sha512(ScramClient<'u, Sha512, N>),
}

macro_rules! any {
    ($self:expr, $c:ident => $e:expr) => {
        match $self {
            AnyScramClient::Sha1($c) => $e,
            #[cfg(feature = "scram-sha256")]
            AnyScramClient::Sha256($c) => $e,
            #[cfg(feature = "scram-sha512")]
            AnyScramClient::Sha512($c) => $e,
        }
    };
}

impl AnyScramClient<'_> {
    /// A new exchange for `mechanism` with the default capacity. Fails if
    /// `mechanism` is not a SCRAM one built in, or if `cbind` does not fit
    /// it: [`Gs2CbindFlag::Bound`] exactly for the -PLUS mechanisms.
    pub fn new(mechanism: Mechanism, cbind: Gs2CbindFlag<'_>) -> Result<Self, SaslError> {
        Self::with_capacity(mechanism, cbind)
    }
}

impl<'u, const N: usize> AnyScramClient<'u, N> {
    /// [`new`](AnyScramClient::new), with the capacity `N` of the type.
    pub fn with_capacity(mechanism: Mechanism, cbind: Gs2CbindFlag<'_>) -> Result<Self, SaslError> {
        if mechanism.is_plus() != matches!(cbind, Gs2CbindFlag::Bound(_)) {
            return Err(invalid(
                "channel binding",
                "Bound is needed by, and only by, -PLUS mechanisms",
            ));
        }
        match mechanism.scram_hash() {
            Some(HashFunction::Sha1) => Ok(Self::Sha1(ScramClient::with_capacity(cbind)?)),
            #[cfg(feature = "scram-sha256")]
            Some(HashFunction::Sha256) => Ok(Self::Sha256(ScramClient::with_capacity(cbind)?)),
            #[cfg(feature = "scram-sha512")]
            Some(HashFunction::Sha512) => Ok(Self::Sha512(ScramClient::with_capacity(cbind)?)),
            #[allow(unreachable_patterns)]
            Some(_) => Err(invalid(
                "mechanism",
                "not built in (see the scram-sha* features)",
            )),
            None => Err(invalid("mechanism", "not a SCRAM mechanism")),
        }
    }

    /// See [`ScramClient::with_max_iterations`].
    #[must_use]
    pub fn with_max_iterations(self, max: u32) -> Self {
        match self {
            Self::Sha1(c) => Self::Sha1(c.with_max_iterations(max)),
            #[cfg(feature = "scram-sha256")]
            Self::Sha256(c) => Self::Sha256(c.with_max_iterations(max)),
            #[cfg(feature = "scram-sha512")]
            Self::Sha512(c) => Self::Sha512(c.with_max_iterations(max)),
        }
    }

    /// See [`ScramClient::mechanism`].
    pub fn mechanism(&self) -> Mechanism {
        any!(self, c => c.mechanism())
    }

    /// See [`ScramClient::state`].
    pub fn state(&self) -> ScramState {
        any!(self, c => c.state())
    }

    /// See [`ScramClient::is_done`].
    pub fn is_done(&self) -> bool {
        any!(self, c => c.is_done())
    }

    /// See [`ScramClient::salted_password_to_cache`].
    pub fn salted_password_to_cache(&self) -> Option<&SaltedPassword> {
        any!(self, c => c.salted_password_to_cache())
    }

    /// See [`ScramClient::client_first`].
    pub fn client_first(
        &mut self,
        out: &mut [u8],
        username: &'u str,
        authzid: Option<&'u str>,
        nonce: &[u8],
    ) -> Result<usize, SaslError> {
        any!(self, c => c.client_first(out, username, authzid, nonce))
    }

    /// See [`ScramClient::client_first_with_rng`].
    pub fn client_first_with_rng<R: rand_core::RngCore + rand_core::CryptoRng>(
        &mut self,
        out: &mut [u8],
        username: &'u str,
        authzid: Option<&'u str>,
        rng: &mut R,
    ) -> Result<usize, SaslError> {
        any!(self, c => c.client_first_with_rng(out, username, authzid, rng))
    }

    /// See [`ScramClient::handle_server_first`].
    pub fn handle_server_first(
        &mut self,
        out: &mut [u8],
        server_first: &[u8],
        credentials: Credentials<'_>,
    ) -> Result<usize, SaslError> {
        any!(self, c => c.handle_server_first(out, server_first, credentials))
    }

    /// See [`ScramClient::handle_server_final`].
    pub fn handle_server_final(&mut self, server_final: &[u8]) -> Result<(), SaslError> {
        any!(self, c => c.handle_server_final(server_final))
    }
}

/// SCRAM-SHA-1(-PLUS), RFC 5802.
pub type ScramSha1<'u> = ScramClient<'u, Sha1>;
/// SCRAM-SHA-256(-PLUS), RFC 7677.
#[cfg(feature = "scram-sha256")]
pub type ScramSha256<'u> = ScramClient<'u, Sha256>;
/// SCRAM-SHA-512(-PLUS).
#[cfg(feature = "scram-sha512")]
pub type ScramSha512<'u> = ScramClient<'u, Sha512>;

/// The attributes of a server-first-message.
struct ServerFirst<'m> {
    nonce: &'m [u8],
    salt_b64: &'m [u8],
    iterations: u32,
}

/// server-first-message = [reserved-mext ","] nonce "," salt ","
///                        iteration-count ["," extensions]   (RFC 5802 §7)
fn parse_server_first(msg: &[u8]) -> Result<ServerFirst<'_>, SaslError> {
    // RFC 5802 §5.1: "m" is reserved for a mandatory extension; a client
    // that does not support it MUST fail the exchange.
    if msg.starts_with(b"m=") {
        return Err(SaslError::MandatoryExtension);
    }
    let mut attrs = msg.split(|&b| b == b',');
    let nonce = attr(attrs.next(), b"r=", "missing nonce (r=)")?;
    // nonce = "r=" c-nonce [s-nonce]; both printable: %x21-2B / %x2D-7E.
    if !nonce.iter().all(|&b| (0x21..=0x7E).contains(&b)) {
        return Err(malformed("nonce is not printable ASCII"));
    }
    let salt_b64 = attr(attrs.next(), b"s=", "missing salt (s=)")?;
    let count = attr(attrs.next(), b"i=", "missing iteration count (i=)")?;
    let iterations = parse_posit_number(count)?;
    // extensions = attr-val *("," attr-val); attr-val = ALPHA "=" value.
    // Their meaning is unknown here, so they are skipped.
    for ext in attrs {
        match ext {
            [a, b'=', ..] if a.is_ascii_alphabetic() => {}
            _ => return Err(malformed("extension is not attr=value")),
        }
    }
    Ok(ServerFirst {
        nonce,
        salt_b64,
        iterations,
    })
}

fn attr<'m>(
    part: Option<&'m [u8]>,
    name: &[u8],
    missing: &'static str,
) -> Result<&'m [u8], SaslError> {
    part.and_then(|p| p.strip_prefix(name))
        .ok_or(SaslError::MalformedServerMessage { reason: missing })
}

/// posit-number = %x31-39 *DIGIT; saturates at `u32::MAX`, which is above
/// every ceiling.
fn parse_posit_number(s: &[u8]) -> Result<u32, SaslError> {
    match s.first() {
        Some(b'1'..=b'9') => {}
        _ => return Err(malformed("iteration count is not a positive number")),
    }
    let mut n: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(malformed("iteration count is not a positive number"));
        }
        n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    Ok(n)
}

/// Writes a saslname (RFC 5802 §5.1): `,` as `=2C`, `=` as `=3D`.
fn put_saslname(w: &mut Out<'_>, chars: impl Iterator<Item = char>) {
    for c in chars {
        match c {
            ',' => w.put(b"=2C"),
            '=' => w.put(b"=3D"),
            _ => w.put(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

fn malformed(reason: &'static str) -> SaslError {
    SaslError::MalformedServerMessage { reason }
}

fn invalid(field: &'static str, reason: &'static str) -> SaslError {
    SaslError::InvalidInput { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::ChannelBinding;
    use std::string::String;
    use std::vec::Vec;

    const RFC5802_NONCE: [u8; 18] = [
        127, 41, 40, 249, 221, 165, 109, 177, 96, 56, 212, 111, 246, 169, 49, 117, 172, 11,
    ];
    const RFC5802_SERVER_FIRST: &[u8] =
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const RFC5802_CLIENT_FINAL: &[u8] =
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const RFC5802_SERVER_FINAL: &[u8] = b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    fn b64(bytes: &[u8]) -> String {
        let mut buf = [0u8; 512];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(bytes, &mut buf)
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn unb64(text: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let n = base64::engine::general_purpose::STANDARD
            .decode_slice(text, &mut buf)
            .unwrap();
        buf[..n].to_vec()
    }

    /// A client that has sent the RFC 5802 client-first-message.
    fn rfc5802_client() -> ScramSha1<'static> {
        let mut c = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
        let mut out = [0u8; 64];
        let n = c
            .client_first(&mut out, "user", None, &RFC5802_NONCE)
            .unwrap();
        assert_eq!(&out[..n], b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        c
    }

    #[test]
    fn rfc_5802_section_5() {
        let mut c = rfc5802_client();
        assert_eq!(c.state(), ScramState::WaitingServerFirst);
        assert_eq!(c.mechanism(), Mechanism::ScramSha1);
        let mut out = [0u8; 128];
        let n = c
            .handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil"),
            )
            .unwrap();
        assert_eq!(&out[..n], RFC5802_CLIENT_FINAL);
        assert_eq!(c.state(), ScramState::WaitingServerFinal);
        assert_eq!(c.salted_password_to_cache(), None);
        c.handle_server_final(RFC5802_SERVER_FINAL).unwrap();
        assert!(c.is_done());
        let sp = c.salted_password_to_cache().unwrap();
        assert_eq!(sp.hash(), HashFunction::Sha1);
        assert_eq!(sp.salt(), &unb64(b"QSXCR+Q6sek8bf92")[..]);
        assert_eq!(sp.iterations(), 4096);
        assert_eq!(sp.key().len(), 20);
        // Extensions after the verifier are allowed and skipped.
        let mut c = rfc5802_client();
        c.handle_server_first(
            &mut out,
            RFC5802_SERVER_FIRST,
            Credentials::Password("pencil"),
        )
        .unwrap();
        c.handle_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=future")
            .unwrap();
    }

    #[cfg(feature = "scram-sha256")]
    #[test]
    fn rfc_7677_section_3() {
        let nonce = unb64(b"rOprNGfwEbeRWgbNEkqO");
        let mut c = ScramSha256::new(Gs2CbindFlag::NotSupported).unwrap();
        assert_eq!(c.mechanism(), Mechanism::ScramSha256);
        let mut out = [0u8; 160];
        let n = c.client_first(&mut out, "user", None, &nonce).unwrap();
        assert_eq!(&out[..n], b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let n = c
            .handle_server_first(
                &mut out,
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                Credentials::Password("pencil"),
            )
            .unwrap();
        assert_eq!(
            &out[..n],
            &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
               p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="[..]
        );
        c.handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(c.is_done());
    }

    /// The server's half of RFC 5802 §3: from the stored credentials and the
    /// AuthMessage, the ClientProof it expects and its ServerSignature.
    fn server_side<H: ScramHash>(
        password: &str,
        salt: &[u8],
        iterations: u32,
        auth_message: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let sp = SaltedPassword::compute(H::HASH, password, salt, iterations).unwrap();
        let client_key = H::hmac(sp.key(), b"Client Key");
        let stored_key = H::hash(client_key.as_ref());
        let server_key = H::hmac(sp.key(), b"Server Key");
        let client_signature = H::hmac(stored_key.as_ref(), auth_message);
        let proof = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        (
            proof,
            H::hmac(server_key.as_ref(), auth_message).as_ref().to_vec(),
        )
    }

    /// A whole exchange against [`server_side`]; returns the `c=` value
    /// decoded.
    fn round_trip<H: ScramHash>(
        cbind: Gs2CbindFlag<'_>,
        username: &str,
        authzid: Option<&str>,
        password: &str,
    ) -> Vec<u8> {
        let mut c = ScramClient::<H>::new(cbind).unwrap();
        let mut out = [0u8; 256];
        let nonce = [0x5a; 18];
        let n = c.client_first(&mut out, username, authzid, &nonce).unwrap();
        let client_first = out[..n].to_vec();
        let bare_at = client_first.windows(3).position(|w| w == b",n=").unwrap() + 1;
        let bare = &client_first[bare_at..];
        let client_nonce = b64(&nonce);
        let salt = b"0123456789abcdef";
        let server_first = std::format!("r={client_nonce}s3rv3r,s={},i=4096,x=ignored", b64(salt));

        let n = c
            .handle_server_first(
                &mut out,
                server_first.as_bytes(),
                Credentials::Password(password),
            )
            .unwrap();
        let client_final = out[..n].to_vec();
        let p_at = client_final.windows(3).position(|w| w == b",p=").unwrap();
        let without_proof = &client_final[..p_at];
        let mut auth_message = bare.to_vec();
        auth_message.push(b',');
        auth_message.extend_from_slice(server_first.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(without_proof);
        let (proof, server_signature) = server_side::<H>(password, salt, 4096, &auth_message);
        assert_eq!(unb64(&client_final[p_at + 3..]), proof);
        let nonce_attr = std::format!(",r={client_nonce}s3rv3r");
        assert!(without_proof.ends_with(nonce_attr.as_bytes()));

        let server_final = std::format!("v={}", b64(&server_signature));
        c.handle_server_final(server_final.as_bytes()).unwrap();
        assert!(c.is_done());
        assert_eq!(c.salted_password_to_cache().unwrap().hash(), H::HASH);

        assert!(without_proof.starts_with(b"c="));
        let c_end = without_proof.iter().position(|&b| b == b',').unwrap();
        unb64(&without_proof[2..c_end])
    }

    #[test]
    fn round_trips() {
        assert_eq!(
            round_trip::<Sha1>(Gs2CbindFlag::NotSupported, "user", None, "pencil"),
            b"n,,"
        );
        #[cfg(feature = "scram-sha256")]
        assert_eq!(
            round_trip::<Sha256>(Gs2CbindFlag::NotOffered, "user", None, "pencil"),
            b"y,,"
        );
        #[cfg(feature = "scram-sha512")]
        {
            assert_eq!(
                round_trip::<Sha512>(Gs2CbindFlag::NotSupported, "user", None, "pencil"),
                b"n,,"
            );
            // A long password, longer than SHA-512's block.
            let long: String = core::iter::repeat_n('x', 300).collect();
            round_trip::<Sha512>(Gs2CbindFlag::NotSupported, "user", None, &long);
        }
    }

    #[test]
    fn gs2_headers_and_channel_binding_data() {
        let exporter = [0xE5; 32];
        let end_point = [0x3C; 48];
        // c= is base64(gs2-header + cb-data) (RFC 5802 §7).
        let c = round_trip::<Sha1>(
            Gs2CbindFlag::Bound(ChannelBinding::TlsExporter(&exporter)),
            "user",
            None,
            "pencil",
        );
        let mut want = b"p=tls-exporter,,".to_vec();
        want.extend_from_slice(&exporter);
        assert_eq!(c, want);

        let c = round_trip::<Sha1>(
            Gs2CbindFlag::Bound(ChannelBinding::TlsServerEndPoint(&end_point)),
            "user",
            Some("juliet@example.com"),
            "pencil",
        );
        let mut want = b"p=tls-server-end-point,a=juliet@example.com,".to_vec();
        want.extend_from_slice(&end_point);
        assert_eq!(c, want);

        assert_eq!(
            round_trip::<Sha1>(Gs2CbindFlag::NotOffered, "user", Some("a,b=c"), "pencil"),
            b"y,a=a=2Cb=3Dc,"
        );

        // The client-first-message itself.
        let mut c =
            ScramSha1::new(Gs2CbindFlag::Bound(ChannelBinding::TlsExporter(&exporter))).unwrap();
        assert_eq!(c.mechanism(), Mechanism::ScramSha1Plus);
        let mut out = [0u8; 128];
        let n = c
            .client_first(&mut out, "user", None, &RFC5802_NONCE)
            .unwrap();
        assert_eq!(
            &out[..n],
            b"p=tls-exporter,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        let mut c = ScramSha1::new(Gs2CbindFlag::NotOffered).unwrap();
        let n = c
            .client_first(&mut out, "user", Some("admin@example.com"), &RFC5802_NONCE)
            .unwrap();
        assert_eq!(
            &out[..n],
            b"y,a=admin@example.com,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
    }

    #[test]
    fn channel_binding_data_bounds() {
        let too_long = [1u8; 65];
        for data in [&too_long[..], &[][..]] {
            assert!(matches!(
                ScramSha1::new(Gs2CbindFlag::Bound(ChannelBinding::TlsExporter(data))),
                Err(SaslError::InvalidInput {
                    field: "channel binding",
                    ..
                })
            ));
        }
        assert!(
            ScramSha1::new(Gs2CbindFlag::Bound(ChannelBinding::TlsServerEndPoint(
                &[1; 64]
            )))
            .is_ok()
        );
    }

    #[test]
    fn username_prepared_and_escaped() {
        let mut out = [0u8; 128];
        let mut c = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
        let n = c
            .client_first(&mut out, "a,b=c\u{00A0}d\u{00AD}", None, &RFC5802_NONCE)
            .unwrap();
        assert_eq!(&out[..n], b"n,,n=a=2Cb=3Dc d,r=fyko+d2lbbFgONRv9qkxdawL");
        // Refused usernames leave the client as it was.
        for bad in ["", "\u{00AD}", "us\ner", "\u{E000}"] {
            let mut c = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
            assert!(matches!(
                c.client_first(&mut out, bad, None, &RFC5802_NONCE),
                Err(SaslError::InvalidInput {
                    field: "username",
                    ..
                })
            ));
            assert_eq!(c.state(), ScramState::Initial);
        }
        for bad in ["", "a\0b"] {
            let mut c = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
            assert!(matches!(
                c.client_first(&mut out, "user", Some(bad), &RFC5802_NONCE),
                Err(SaslError::InvalidInput {
                    field: "authzid",
                    ..
                })
            ));
        }
    }

    /// A counter posing as a cryptographic RNG, for a reproducible nonce.
    struct CountingRng(u8);

    impl rand_core::RngCore for CountingRng {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core::CryptoRng for CountingRng {}

    #[test]
    fn nonce_from_rng() {
        let mut out = [0u8; 64];
        let mut c = AnyScramClient::new(Mechanism::ScramSha1, Gs2CbindFlag::NotSupported).unwrap();
        let n = c
            .client_first_with_rng(&mut out, "user", None, &mut CountingRng(0))
            .unwrap();
        let want: Vec<u8> = (1..=18).collect();
        assert_eq!(
            &out[..n],
            std::format!("n,,n=user,r={}", b64(&want)).as_bytes()
        );
        assert_eq!(n, "n,,n=user,r=".len() + 24);
    }

    #[test]
    fn nonce_bounds() {
        let mut out = [0u8; 128];
        let mut c = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
        for len in [0, MIN_NONCE_LEN - 1, MAX_NONCE_LEN + 1] {
            assert!(matches!(
                c.client_first(&mut out, "user", None, &[7; 64][..len]),
                Err(SaslError::InvalidInput { field: "nonce", .. })
            ));
        }
        let n = c
            .client_first(&mut out, "user", None, &[0xFB; MAX_NONCE_LEN])
            .unwrap();
        assert_eq!(n, "n,,n=user,r=".len() + 64);
        assert!(!out[12..n].contains(&b','));
    }

    #[test]
    fn buffers_too_small_are_retried() {
        let mut small = [0u8; 10];
        let mut c = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
        assert_eq!(
            c.client_first(&mut small, "user", None, &RFC5802_NONCE),
            Err(SaslError::BufferTooSmall(BufferTooSmall { needed: 36 }))
        );
        assert_eq!(c.state(), ScramState::Initial);
        let mut out = [0u8; 36];
        assert_eq!(
            c.client_first(&mut out, "user", None, &RFC5802_NONCE),
            Ok(36)
        );

        let mut out = [0u8; 81];
        assert_eq!(
            c.handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil")
            ),
            Err(SaslError::BufferTooSmall(BufferTooSmall { needed: 82 }))
        );
        assert_eq!(c.state(), ScramState::WaitingServerFirst);
        let mut out = [0u8; 82];
        let n = c
            .handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil"),
            )
            .unwrap();
        assert_eq!(&out[..n], RFC5802_CLIENT_FINAL);

        // The capacity for the client-first-message.
        let mut c = ScramClient::<Sha1, 32>::with_capacity(Gs2CbindFlag::NotSupported).unwrap();
        let mut out = [0u8; 128];
        assert_eq!(
            c.client_first(&mut out, "user", None, &RFC5802_NONCE),
            Err(SaslError::CapacityExceeded {
                needed: 36,
                capacity: 32
            })
        );
        let mut c = ScramClient::<Sha1, 36>::with_capacity(Gs2CbindFlag::NotSupported).unwrap();
        assert_eq!(
            c.client_first(&mut out, "user", None, &RFC5802_NONCE),
            Ok(36)
        );
    }

    #[test]
    fn cached_salted_password() {
        let mut out = [0u8; 128];
        let mut c = rfc5802_client();
        c.handle_server_first(
            &mut out,
            RFC5802_SERVER_FIRST,
            Credentials::Password("pencil"),
        )
        .unwrap();
        c.handle_server_final(RFC5802_SERVER_FINAL).unwrap();
        let cached = c.salted_password_to_cache().unwrap().clone();

        // The cached key gives the same proof, and nothing new to cache.
        let mut c = rfc5802_client();
        let n = c
            .handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::SaltedPassword(&cached),
            )
            .unwrap();
        assert_eq!(&out[..n], RFC5802_CLIENT_FINAL);
        c.handle_server_final(RFC5802_SERVER_FINAL).unwrap();
        assert!(c.is_done());
        assert_eq!(c.salted_password_to_cache(), None);

        // Stored and restored, as a device would.
        let restored = SaltedPassword::new(
            cached.hash(),
            cached.salt(),
            cached.iterations(),
            cached.key(),
        )
        .unwrap();
        assert_eq!(restored, cached);
        assert_eq!(
            SaltedPassword::compute(HashFunction::Sha1, "pencil", cached.salt(), 4096).unwrap(),
            cached
        );
        let shown = std::format!("{cached:?}");
        assert!(shown.contains("<hidden>") && !shown.contains(&std::format!("{:?}", cached.key())));

        // The server changed its salt: the cache alone is not enough; the
        // call can be repeated with the password.
        let new_salt = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=AAECAwQFBgcICQ==,i=4096";
        let mut c = rfc5802_client();
        assert_eq!(
            c.handle_server_first(
                &mut out,
                new_salt.as_bytes(),
                Credentials::SaltedPassword(&cached)
            ),
            Err(SaslError::PasswordNeeded)
        );
        assert_eq!(c.state(), ScramState::WaitingServerFirst);
        c.handle_server_first(
            &mut out,
            new_salt.as_bytes(),
            Credentials::CachedOrPassword {
                cached: &cached,
                password: "pencil",
            },
        )
        .unwrap();
        // A cache for another iteration count or hash does not match either.
        let mut c = rfc5802_client();
        let other_count =
            SaltedPassword::new(HashFunction::Sha1, cached.salt(), 4097, cached.key()).unwrap();
        assert_eq!(
            c.handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::SaltedPassword(&other_count)
            ),
            Err(SaslError::PasswordNeeded)
        );
        // A key of a hash not built in is refused, never a panic.
        let sha512 = SaltedPassword::new(HashFunction::Sha512, cached.salt(), 4096, &[0; 64]);
        assert_eq!(sha512.is_ok(), cfg!(feature = "scram-sha512"));
        let sha256 = SaltedPassword::new(HashFunction::Sha256, cached.salt(), 4096, &[0; 32]);
        assert_eq!(sha256.is_ok(), cfg!(feature = "scram-sha256"));
        if let Ok(other_hash) = sha256 {
            assert_eq!(
                c.handle_server_first(
                    &mut out,
                    RFC5802_SERVER_FIRST,
                    Credentials::SaltedPassword(&other_hash)
                ),
                Err(SaslError::PasswordNeeded)
            );
        }
        // CachedOrPassword with a matching cache uses it.
        let n = c
            .handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::CachedOrPassword {
                    cached: &cached,
                    password: "wrong",
                },
            )
            .unwrap();
        assert_eq!(&out[..n], RFC5802_CLIENT_FINAL);

        // Restoring checks lengths.
        assert!(SaltedPassword::new(HashFunction::Sha1, b"salt", 4096, &[0; 32]).is_err());
        assert!(SaltedPassword::new(HashFunction::Sha1, b"", 4096, &[0; 20]).is_err());
        assert!(SaltedPassword::new(HashFunction::Sha1, &[0; 65], 4096, &[0; 20]).is_err());
        assert!(SaltedPassword::new(HashFunction::Sha1, b"salt", 0, &[0; 20]).is_err());
    }

    #[test]
    fn password_prepared() {
        let salt = b"salt-salt-salt";
        let key = |p: &str| {
            SaltedPassword::compute(HashFunction::Sha1, p, salt, 4096)
                .unwrap()
                .key()
                .to_vec()
        };
        assert_eq!(key("pen\u{00A0}cil"), key("pen cil"));
        assert_eq!(key("pen\u{00AD}cil\u{200B}"), key("pencil"));
        // Past 128 bytes the prepared key is hashed first (RFC 2104 §2),
        // which is what HMAC does with the ASCII spelling.
        let mut long: String = core::iter::repeat_n('y', 200).collect();
        let ascii = long.clone();
        long.push('\u{00AD}');
        assert_eq!(key(&long), key(&ascii));
        let mut mid: String = core::iter::repeat_n('y', 100).collect();
        let ascii_mid = std::format!("{mid} ");
        mid.push('\u{3000}');
        assert_eq!(key(&mid), key(&ascii_mid));
        for bad in ["", "\u{00AD}", "pen\u{7}cil", "\u{FFFE}"] {
            assert!(matches!(
                SaltedPassword::compute(HashFunction::Sha1, bad, salt, 4096),
                Err(SaslError::InvalidInput {
                    field: "password",
                    ..
                })
            ));
        }
        // A refused password leaves the exchange waiting.
        let mut c = rfc5802_client();
        let mut out = [0u8; 128];
        assert!(matches!(
            c.handle_server_first(&mut out, RFC5802_SERVER_FIRST, Credentials::Password("\0")),
            Err(SaslError::InvalidInput {
                field: "password",
                ..
            })
        ));
        assert_eq!(c.state(), ScramState::WaitingServerFirst);
    }

    /// Feeds a hostile server-first-message; the exchange must end.
    fn hostile_first(server_first: &[u8], client: ScramSha1) -> SaslError {
        let mut c = client;
        let mut out = [0u8; 256];
        let e = c
            .handle_server_first(&mut out, server_first, Credentials::Password("pencil"))
            .unwrap_err();
        assert_eq!(e.fault(), crate::sasl::Fault::Server, "{e:?}");
        assert_eq!(c.state(), ScramState::Failed);
        // Once failed, every call is refused.
        assert!(matches!(
            c.handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil")
            ),
            Err(SaslError::OutOfOrder { .. })
        ));
        assert!(matches!(
            c.handle_server_final(RFC5802_SERVER_FINAL),
            Err(SaslError::OutOfOrder { .. })
        ));
        e
    }

    #[test]
    fn hostile_server_first() {
        let nonce = "fyko+d2lbbFgONRv9qkxdawL";
        let good_rest = ",s=QSXCR+Q6sek8bf92,i=4096";
        let case = |text: String| hostile_first(text.as_bytes(), rfc5802_client());

        // Nonce not extending ours, or not extending at all.
        assert_eq!(
            case(std::format!("r=Xyko+d2lbbFgONRv9qkxdawL3rfc{good_rest}")),
            SaslError::NonceMismatch
        );
        assert_eq!(
            case(std::format!("r={nonce}{good_rest}")),
            SaslError::NonceMismatch
        );
        assert_eq!(
            case(std::format!("r=fyko+d2lbbFgONRv9qkxdaw{good_rest}")),
            SaslError::NonceMismatch
        );
        // Iteration counts.
        assert_eq!(
            case(std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=4095")),
            SaslError::IterationCountTooLow { iterations: 4095 }
        );
        assert_eq!(
            case(std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=100001")),
            SaslError::IterationCountTooHigh {
                iterations: 100_001,
                max: DEFAULT_MAX_ITERATIONS
            }
        );
        assert_eq!(
            case(std::format!(
                "r={nonce}x,s=QSXCR+Q6sek8bf92,i=99999999999999"
            )),
            SaslError::IterationCountTooHigh {
                iterations: u32::MAX,
                max: DEFAULT_MAX_ITERATIONS
            }
        );
        let mut out = [0u8; 64];
        let mut strict = ScramSha1::new(Gs2CbindFlag::NotSupported)
            .unwrap()
            .with_max_iterations(5000);
        strict
            .client_first(&mut out, "user", None, &RFC5802_NONCE)
            .unwrap();
        assert_eq!(
            hostile_first(
                std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=5001").as_bytes(),
                strict
            ),
            SaslError::IterationCountTooHigh {
                iterations: 5001,
                max: 5000
            }
        );
        // Salt.
        for salt in [
            "QSXCR+Q6sek8bf9",
            "QSXCR+Q6sek8bf9!",
            "QSXC=R+Q6sek8bf92",
            "QR==",
            "QQ",
        ] {
            let e = case(std::format!("r={nonce}x,s={salt},i=4096"));
            assert!(
                matches!(e, SaslError::MalformedServerMessage { .. }),
                "{salt}: {e:?}"
            );
        }
        assert_eq!(
            case(std::format!("r={nonce}x,s=,i=4096")),
            SaslError::MalformedServerMessage {
                reason: "empty salt"
            }
        );
        assert_eq!(
            case(std::format!("r={nonce}x,s={},i=4096", b64(&[1; 65]))),
            SaslError::SaltTooLong
        );
        assert_eq!(
            case(std::format!("r={nonce}x,s={},i=4096", b64(&[1; 66]))),
            SaslError::SaltTooLong
        );
        // Missing, misplaced or malformed attributes.
        for text in [
            String::new(),
            std::format!("r={nonce}x"),
            std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92"),
            std::format!("s=QSXCR+Q6sek8bf92,r={nonce}x,i=4096"),
            std::format!("r={nonce}x,i=4096,s=QSXCR+Q6sek8bf92"),
            std::format!("R={nonce}x{good_rest}"),
            std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i="),
            std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=04096"),
            std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=4096x"),
            std::format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=-4096"),
            std::format!("r={nonce}x{good_rest},"),
            std::format!("r={nonce}x{good_rest},=x"),
            std::format!("r={nonce}x{good_rest},1=x"),
            std::format!("r={nonce} x{good_rest}"),
            std::format!("r={nonce}\u{e9}{good_rest}"),
        ] {
            let e = case(text.clone());
            assert!(
                matches!(e, SaslError::MalformedServerMessage { .. }),
                "{text}: {e:?}"
            );
        }
        // A mandatory extension.
        assert_eq!(
            case(std::format!("m=foo,r={nonce}x{good_rest}")),
            SaslError::MandatoryExtension
        );
        // Optional extensions are fine.
        let mut c = rfc5802_client();
        let mut out = [0u8; 128];
        c.handle_server_first(
            &mut out,
            std::format!("r={nonce}x{good_rest},z=zz,y=").as_bytes(),
            Credentials::Password("pencil"),
        )
        .unwrap();
    }

    /// A client waiting for the RFC 5802 server-final-message.
    fn rfc5802_waiting_final() -> ScramSha1<'static> {
        let mut c = rfc5802_client();
        let mut out = [0u8; 128];
        c.handle_server_first(
            &mut out,
            RFC5802_SERVER_FIRST,
            Credentials::Password("pencil"),
        )
        .unwrap();
        c
    }

    #[test]
    fn hostile_server_final() {
        let cases: [(&[u8], SaslError); 9] = [
            (
                b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ",
                malformed("verifier is not valid base64"),
            ),
            (
                b"v=AmF9pqV8S7suAoZWja4dJRkFsKQ=",
                SaslError::ServerSignatureMismatch,
            ),
            (
                b"v=rmF9pqV8S7suAoZWja4dJRkF",
                SaslError::ServerSignatureMismatch,
            ),
            (b"v=", SaslError::ServerSignatureMismatch),
            (
                b"e=invalid-proof",
                SaslError::ServerError(ServerErrorValue::InvalidProof),
            ),
            (
                b"e=server-does-support-channel-binding,x=1",
                SaslError::ServerError(ServerErrorValue::ServerDoesSupportChannelBinding),
            ),
            (
                b"e=made-up-error",
                SaslError::ServerError(ServerErrorValue::Unrecognized),
            ),
            (b"", malformed("server-final-message has neither v= nor e=")),
            (
                b"x=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
                malformed("server-final-message has neither v= nor e="),
            ),
        ];
        for (msg, want) in cases {
            let mut c = rfc5802_waiting_final();
            assert_eq!(c.handle_server_final(msg), Err(want));
            assert_eq!(c.state(), ScramState::Failed);
            assert!(!c.is_done());
            assert_eq!(c.salted_password_to_cache(), None);
            assert!(matches!(
                c.handle_server_final(RFC5802_SERVER_FINAL),
                Err(SaslError::OutOfOrder { .. })
            ));
        }
        let long = [b'A'; 200];
        let mut msg = b"v=".to_vec();
        msg.extend_from_slice(&long);
        let mut c = rfc5802_waiting_final();
        assert_eq!(
            c.handle_server_final(&msg),
            Err(SaslError::ServerSignatureMismatch)
        );
    }

    #[test]
    fn server_error_values() {
        for v in ServerErrorValue::DEFINED {
            assert_eq!(ServerErrorValue::from_name(v.as_str().as_bytes()), v);
        }
        assert_eq!(
            ServerErrorValue::from_name(b"unrecognized"),
            ServerErrorValue::Unrecognized
        );
    }

    #[test]
    fn out_of_order_calls() {
        let mut out = [0u8; 128];
        let mut c = ScramSha1::new(Gs2CbindFlag::NotSupported).unwrap();
        assert_eq!(
            c.handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil")
            ),
            Err(SaslError::OutOfOrder {
                call: "handle_server_first",
                expected: "client_first"
            })
        );
        assert_eq!(
            c.handle_server_final(RFC5802_SERVER_FINAL),
            Err(SaslError::OutOfOrder {
                call: "handle_server_final",
                expected: "client_first"
            })
        );
        // Local misuse does not end the exchange.
        assert_eq!(c.state(), ScramState::Initial);
        c.client_first(&mut out, "user", None, &RFC5802_NONCE)
            .unwrap();
        assert_eq!(
            c.client_first(&mut out, "user", None, &RFC5802_NONCE),
            Err(SaslError::OutOfOrder {
                call: "client_first",
                expected: "handle_server_first"
            })
        );
        assert!(matches!(
            c.handle_server_final(RFC5802_SERVER_FINAL),
            Err(SaslError::OutOfOrder { .. })
        ));
        let n = c
            .handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil"),
            )
            .unwrap();
        assert_eq!(&out[..n], RFC5802_CLIENT_FINAL);
        assert!(matches!(
            c.handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil")
            ),
            Err(SaslError::OutOfOrder { .. })
        ));
        c.handle_server_final(RFC5802_SERVER_FINAL).unwrap();
        assert_eq!(
            c.handle_server_final(RFC5802_SERVER_FINAL),
            Err(SaslError::OutOfOrder {
                call: "handle_server_final",
                expected: "nothing: the exchange succeeded"
            })
        );
        assert!(c.is_done());
        assert!(c.salted_password_to_cache().is_some());
    }

    #[test]
    fn any_scram_client() {
        let exporter = [1u8; 32];
        let bound = Gs2CbindFlag::Bound(ChannelBinding::TlsExporter(&exporter));
        for m in Mechanism::ALL {
            let cbind = if m.is_plus() {
                bound
            } else {
                Gs2CbindFlag::NotSupported
            };
            let c = AnyScramClient::new(m, cbind);
            if m.is_scram() && m.is_supported() {
                let c = c.unwrap();
                assert_eq!(c.mechanism(), m);
                assert_eq!(c.state(), ScramState::Initial);
            } else {
                assert!(matches!(c, Err(SaslError::InvalidInput { .. })), "{m}");
            }
        }
        assert!(AnyScramClient::new(Mechanism::ScramSha1Plus, Gs2CbindFlag::NotOffered).is_err());
        assert!(AnyScramClient::new(Mechanism::ScramSha1, bound).is_err());

        let mut c = AnyScramClient::new(Mechanism::ScramSha1, Gs2CbindFlag::NotSupported)
            .unwrap()
            .with_max_iterations(4096);
        let mut out = [0u8; 128];
        c.client_first(&mut out, "user", None, &RFC5802_NONCE)
            .unwrap();
        let n = c
            .handle_server_first(
                &mut out,
                RFC5802_SERVER_FIRST,
                Credentials::Password("pencil"),
            )
            .unwrap();
        assert_eq!(&out[..n], RFC5802_CLIENT_FINAL);
        c.handle_server_final(RFC5802_SERVER_FINAL).unwrap();
        assert!(c.is_done());
        assert!(c.salted_password_to_cache().is_some());
    }

    #[test]
    fn sizes() {
        use core::mem::size_of;
        std::println!("SaltedPassword: {}", size_of::<SaltedPassword>());
        std::println!("ScramClient<Sha1>: {}", size_of::<ScramClient<Sha1>>());
        #[cfg(feature = "scram-sha256")]
        std::println!("ScramClient<Sha256>: {}", size_of::<ScramClient<Sha256>>());
        #[cfg(feature = "scram-sha512")]
        std::println!("ScramClient<Sha512>: {}", size_of::<ScramClient<Sha512>>());
        std::println!("AnyScramClient: {}", size_of::<AnyScramClient>());
        std::println!(
            "ScramClient<Sha1, 64>: {}",
            size_of::<ScramClient<Sha1, 64>>()
        );
        // No client-first-message is kept (only the nonce), so the capacity
        // does not count; the salted password to cache, the expected
        // ServerSignature and the channel-binding data do.
        assert_eq!(
            size_of::<ScramClient<Sha1, 64>>(),
            size_of::<ScramClient<Sha1>>()
        );
        assert!(
            size_of::<AnyScramClient>()
                <= size_of::<SaltedPassword>() + MAX_HASH_LEN + MAX_CHANNEL_BINDING_LEN + 16
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any bytes as a server-first-message: an error or a reply, never
        /// a panic.
        #[test]
        fn server_first_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut c = rfc5802_client().with_max_iterations(MIN_ITERATIONS);
            let mut out = [0u8; 512];
            let _ = c.handle_server_first(&mut out, &bytes, Credentials::Password("pencil"));
        }

        /// Server-first-messages that get past the nonce check, with
        /// arbitrary salt, count and extension text.
        #[test]
        fn server_first_attributes_never_panic(
            tail in "[ -~]{0,12}",
            salt in "[A-Za-z0-9+/=]{0,100}",
            count in "[0-9a-z-]{0,12}",
            ext in "(,[ -~]{0,10}){0,3}",
        ) {
            let mut c = rfc5802_client().with_max_iterations(MIN_ITERATIONS);
            let mut out = [0u8; 512];
            let msg = std::format!("r=fyko+d2lbbFgONRv9qkxdawL{tail},s={salt},i={count}{ext}");
            let _ = c.handle_server_first(&mut out, msg.as_bytes(), Credentials::Password("pencil"));
        }

        /// Any bytes as a server-final-message: an error (a forged verifier
        /// is found out), never a panic.
        #[test]
        fn server_final_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut c = rfc5802_waiting_final();
            if bytes != RFC5802_SERVER_FINAL && !bytes.starts_with(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,") {
                proptest::prop_assert!(c.handle_server_final(&bytes).is_err());
            }
        }

        #[test]
        fn server_final_verifiers_never_panic(v in "[A-Za-z0-9+/=]{0,100}") {
            let mut c = rfc5802_waiting_final();
            let msg = std::format!("v={v}");
            let r = c.handle_server_final(msg.as_bytes());
            proptest::prop_assert_eq!(r.is_ok(), v == "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
        }
    }
}
