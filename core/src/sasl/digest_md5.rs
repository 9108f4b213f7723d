//! The DIGEST-MD5 client (RFC 2831), for old servers that offer nothing
//! better. RFC 6331 made the mechanism historic, so it is built only with
//! the `legacy-digest-md5` feature, and [`choose`](super::choose) never
//! prefers it over SCRAM. It does not send the password in the clear, which
//! puts it above PLAIN; it has no channel binding, and an eavesdropper can
//! test passwords against a recorded exchange.
//!
//! Only authentication is done (`qop=auth`): no integrity or
//! confidentiality layer, which XMPP leaves to TLS (RFC 6120 §6.3.4).
//!
//! [`DigestMd5Client`] is the exchange's state machine. It allocates
//! nothing: the digest-response is written into a caller buffer, and
//! between calls it keeps only the `rspauth` it expects (32 bytes). The
//! exchange is server-first: `<auth/>` carries no initial response.
//!
//! The calls, in order:
//!
//! | call | input | output |
//! |---|---|---|
//! | [`handle_challenge`](DigestMd5Client::handle_challenge) | the first `<challenge/>` (realm, nonce, qop, charset, algorithm); credentials, digest-uri, cnonce | the digest-response, for `<response/>` |
//! | [`handle_rspauth`](DigestMd5Client::handle_rspauth) | the second `<challenge/>`: `rspauth=` | `Ok(())` once the server has proven it knows the password; answer with an empty `<response/>` |
//! | [`handle_success`](DigestMd5Client::handle_success) | the additional data of `<success/>`: empty, or `rspauth=` from a server that sends it there (RFC 6120 §6.3.10) | `Ok(())` once the server has proven itself |
//!
//! A call out of this order is an error, never a panic, and so is every
//! malformed server message. After an error the server caused, the exchange
//! is over ([`DigestMd5State::Failed`]).
//!
//! # Example: the RFC 2831 §4 exchange
//!
//! ```
//! use picoxmpp::sasl::digest_md5::{Credentials, DigestMd5Client, DigestUri};
//!
//! let mut client = DigestMd5Client::new();
//! let mut out = [0u8; 512];
//! let challenge = br#"realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8"#;
//! let credentials = Credentials { username: "chris", password: "secret", realm: None };
//! // The RFC's example is for IMAP; XMPP uses `DigestUri::xmpp(domain)`.
//! let uri = DigestUri { serv_type: "imap", host: "elwood.innosoft.com" };
//! let n = client.handle_challenge(&mut out, challenge, &credentials, uri, "OA6MHXh6VqTrRk")?;
//! assert_eq!(
//!     &out[..n],
//!     &br#"charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,qop=auth"#[..],
//! );
//!
//! // Mutual authentication: the server proves it knew the password.
//! client.handle_rspauth(b"rspauth=ea40f60335c427b5527b84dbabcdfffd")?;
//! assert!(client.is_done());
//! # Ok::<(), picoxmpp::sasl::SaslError>(())
//! ```

use core::fmt;

use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;

use super::{Out, SaslError};

/// The longest first challenge accepted: RFC 2831 §2.1.1 says "the size of
/// a digest-challenge MUST be less than 2048 bytes".
pub const MAX_CHALLENGE_LEN: usize = 2047;

/// The longest nonce accepted, in bytes once unescaped (servers send 16 to
/// 64).
pub const MAX_NONCE_LEN: usize = 256;

/// The longest realm accepted, in bytes once unescaped: a domain name.
pub const MAX_REALM_LEN: usize = 256;

/// The longest cnonce accepted, in characters.
pub const MAX_CNONCE_LEN: usize = 64;

/// The random bytes [`DigestMd5Client::handle_challenge_with_rng`] draws
/// for the cnonce: 144 bits, 24 base64 characters.
pub const CNONCE_RANDOM_LEN: usize = 18;

/// RFC 2831 §2.1.2: "The size of a digest-response MUST be less than 4096
/// bytes."
const MAX_RESPONSE_LEN: usize = 4095;

/// The nonce count: each nonce is used once, for this one response
/// (RFC 2831 §2.1.2.1).
const NC: &[u8] = b"00000001";

/// The length of a hex-encoded MD5 digest (`32LHEX`).
const HEX_LEN: usize = 32;

/// The `digest-uri` of RFC 2831 §2.1.2: `serv-type "/" host`, the service
/// and the server the client wants. In XMPP, `xmpp/` and the domain
/// (RFC 3920 §6.1 rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DigestUri<'a> {
    /// The registered service name, `xmpp` for XMPP.
    pub serv_type: &'a str,
    /// The server's host name: in XMPP the domain of the JID.
    pub host: &'a str,
}

impl<'a> DigestUri<'a> {
    /// `xmpp/<domain>`, the digest-uri of an XMPP client.
    pub const fn xmpp(domain: &'a str) -> Self {
        Self {
            serv_type: "xmpp",
            host: domain,
        }
    }
}

/// What proves the client's identity in
/// [`handle_challenge`](DigestMd5Client::handle_challenge): A1 is computed
/// from the username, the realm and the password (RFC 2831 §2.1.2.1).
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The username: in XMPP the localpart of the JID (RFC 6120 §6.3.7).
    /// Sent as it is; RFC 2831 does not prepare it.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// The realm to authenticate in. `None`: the first realm the server
    /// offers, or the digest-uri's host if it offers none (what XMPP
    /// servers use). `Some("")` sends no realm (RFC 2831 §2.1.2: the
    /// realm-value is then empty).
    pub realm: Option<&'a str>,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// Where a [`DigestMd5Client`] is in the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DigestMd5State {
    /// Next: [`handle_challenge`](DigestMd5Client::handle_challenge).
    WaitingChallenge,
    /// Next: [`handle_rspauth`](DigestMd5Client::handle_rspauth), or
    /// [`handle_success`](DigestMd5Client::handle_success) with the
    /// `rspauth` in it.
    WaitingRspauth,
    /// The server is authenticated; only
    /// [`handle_success`](DigestMd5Client::handle_success) remains.
    Done,
    /// The exchange failed; nothing more to do.
    Failed,
}

#[derive(Clone, Copy)]
enum State {
    WaitingChallenge,
    WaitingRspauth { expected: [u8; HEX_LEN] },
    Done { expected: [u8; HEX_LEN] },
    Failed,
}

/// A DIGEST-MD5 client exchange (RFC 2831 §2.1), authentication only.
///
/// See [the module docs](self) for the order of calls and an example.
#[derive(Clone)]
pub struct DigestMd5Client {
    state: State,
}

impl Default for DigestMd5Client {
    fn default() -> Self {
        Self::new()
    }
}

impl DigestMd5Client {
    /// A new exchange, waiting for the server's first challenge.
    pub const fn new() -> Self {
        Self {
            state: State::WaitingChallenge,
        }
    }

    // ----- getters -----

    /// Where the exchange is.
    pub fn state(&self) -> DigestMd5State {
        match self.state {
            State::WaitingChallenge => DigestMd5State::WaitingChallenge,
            State::WaitingRspauth { .. } => DigestMd5State::WaitingRspauth,
            State::Done { .. } => DigestMd5State::Done,
            State::Failed => DigestMd5State::Failed,
        }
    }

    /// Whether the server has proven it knows the password: only then may
    /// the client take the `<success/>` as real.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done { .. })
    }

    // ----- the exchange, in RFC 2831 §2.1 order -----

    /// Takes the digest-challenge (the decoded first `<challenge/>`),
    /// writes the digest-response into `out`, and returns its length.
    ///
    /// The challenge must name a nonce once, `algorithm=md5-sess` once,
    /// a `qop` list with `auth` (or none: RFC 2831 §2.1.1 makes `auth` the
    /// default), and at most one `charset`, `utf-8` (RFC 2831 §2.1.1).
    /// Unknown directives are skipped. The response answers with
    /// `qop=auth`, `nc=00000001` and `digest-uri`.
    ///
    /// `cnonce` is the client nonce: 1 to [`MAX_CNONCE_LEN`] printable
    /// ASCII characters other than `"` and `\`, made from a cryptographic
    /// RNG, and never used twice: the base64 encoding of
    /// [`CNONCE_RANDOM_LEN`] random bytes, as
    /// [`handle_challenge_with_rng`](Self::handle_challenge_with_rng) does.
    pub fn handle_challenge(
        &mut self,
        out: &mut [u8],
        challenge: &[u8],
        credentials: &Credentials<'_>,
        digest_uri: DigestUri<'_>,
        cnonce: &str,
    ) -> Result<usize, SaslError> {
        let r = self.challenge(out, challenge, credentials, digest_uri, cnonce);
        self.settle(r)
    }

    /// [`handle_challenge`](Self::handle_challenge), with
    /// [`CNONCE_RANDOM_LEN`] bytes of cnonce drawn from `rng`, which must be
    /// a cryptographic RNG: a predictable cnonce lets a server that is not
    /// the real one replay an exchange.
    pub fn handle_challenge_with_rng<R: rand_core::RngCore + rand_core::CryptoRng>(
        &mut self,
        out: &mut [u8],
        challenge: &[u8],
        credentials: &Credentials<'_>,
        digest_uri: DigestUri<'_>,
        rng: &mut R,
    ) -> Result<usize, SaslError> {
        let mut random = [0u8; CNONCE_RANDOM_LEN];
        rng.fill_bytes(&mut random);
        let mut text = [0u8; super::base64_len(CNONCE_RANDOM_LEN)];
        let mut w = Out::new(&mut text);
        w.put_base64(&random);
        let cnonce = w
            .written()
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default();
        self.handle_challenge(out, challenge, credentials, digest_uri, cnonce)
    }

    /// Takes the second challenge, `rspauth=` (RFC 2831 §2.1.3), and checks
    /// it in constant time against the one computed from the password.
    ///
    /// `Ok(())` means the server knows the password: the client answers
    /// with an empty `<response/>` and may then accept the `<success/>`.
    /// A mismatch is [`SaslError::ServerSignatureMismatch`].
    pub fn handle_rspauth(&mut self, challenge: &[u8]) -> Result<(), SaslError> {
        let r = match self.state {
            State::WaitingRspauth { expected } => {
                check_rspauth(challenge, &expected).map(|()| ((), State::Done { expected }))
            }
            _ => Err(self.out_of_order("handle_rspauth")),
        };
        self.settle(r)
    }

    /// Takes the additional data of `<success/>` (RFC 6120 §6.4.6): empty
    /// after [`handle_rspauth`](Self::handle_rspauth), or the `rspauth=`
    /// from a server that skips the second challenge and sends it here.
    ///
    /// `Ok(())` means the client may take the `<success/>` as real. A
    /// `<success/>` before the server proved itself is refused: RFC 2831
    /// §2.1.3 is mutual authentication, and a server that never sends
    /// `rspauth` may be an impostor that does not know the password.
    pub fn handle_success(&mut self, additional_data: &[u8]) -> Result<(), SaslError> {
        let r = match self.state {
            State::WaitingRspauth { .. } if additional_data.is_empty() => Err(malformed(
                "<success/> before the server proved itself with rspauth",
            )),
            State::WaitingRspauth { expected } | State::Done { expected } => {
                if additional_data.is_empty() {
                    Ok(((), State::Done { expected }))
                } else {
                    check_rspauth(additional_data, &expected)
                        .map(|()| ((), State::Done { expected }))
                }
            }
            _ => Err(self.out_of_order("handle_success")),
        };
        self.settle(r)
    }

    // ----- transitions -----

    /// Records the outcome of a step: a new state on success, the end of
    /// the exchange on a server error, no change on a local error.
    fn settle<T>(&mut self, r: Result<(T, State), SaslError>) -> Result<T, SaslError> {
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

    fn challenge(
        &self,
        out: &mut [u8],
        challenge: &[u8],
        credentials: &Credentials<'_>,
        uri: DigestUri<'_>,
        cnonce: &str,
    ) -> Result<(usize, State), SaslError> {
        let State::WaitingChallenge = self.state else {
            return Err(self.out_of_order("handle_challenge"));
        };
        // The caller's mistakes first, so they never end the exchange.
        let cnonce = cnonce.as_bytes();
        if cnonce.is_empty()
            || cnonce.len() > MAX_CNONCE_LEN
            || !cnonce
                .iter()
                .all(|&b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(invalid(
                "cnonce",
                "not 1 to MAX_CNONCE_LEN printable ASCII characters other than \" and \\",
            ));
        }
        if credentials.username.is_empty() {
            return Err(invalid("username", "empty"));
        }
        // RFC 2831 §2.1.2: these are quoted-strings, which hold no CTL.
        for (field, value) in [
            ("username", credentials.username),
            ("realm", credentials.realm.unwrap_or_default()),
            ("digest-uri", uri.serv_type),
            ("digest-uri", uri.host),
        ] {
            if value.chars().any(char::is_control) {
                return Err(invalid(field, "contains a control character"));
            }
        }
        if uri.serv_type.is_empty() || uri.host.is_empty() || uri.serv_type.contains('/') {
            return Err(invalid("digest-uri", "not serv-type \"/\" host"));
        }

        let c = parse_challenge(challenge)?;
        let mut nonce_buf = [0u8; MAX_NONCE_LEN];
        let nonce = c
            .nonce
            .unescape_into(&mut nonce_buf)
            .ok_or(malformed("nonce longer than MAX_NONCE_LEN"))?;
        if nonce.is_empty() {
            return Err(malformed("empty nonce"));
        }
        let mut realm_buf = [0u8; MAX_REALM_LEN];
        let realm = match (credentials.realm, c.realm) {
            (Some(r), _) => Text::Str(r),
            (None, Some(r)) => {
                // The parser let no CTL into a quoted-string.
                let bytes = r
                    .unescape_into(&mut realm_buf)
                    .ok_or(malformed("realm longer than MAX_REALM_LEN"))?;
                match c.utf8 {
                    true => Text::Str(
                        core::str::from_utf8(bytes)
                            .map_err(|_| malformed("realm is not UTF-8 (charset=utf-8)"))?,
                    ),
                    false => Text::Latin1(bytes),
                }
            }
            (None, None) => Text::Str(uri.host),
        };

        // RFC 2831 §2.1.1: without charset=utf-8, everything is ISO 8859-1.
        if !c.utf8 {
            for (field, t) in [
                ("username", Text::Str(credentials.username)),
                ("password", Text::Str(credentials.password)),
                ("realm", realm),
                ("digest-uri", Text::Str(uri.host)),
                ("digest-uri", Text::Str(uri.serv_type)),
            ] {
                if !t.is_latin1() {
                    return Err(invalid(
                        field,
                        "not ISO 8859-1, and the server did not announce charset=utf-8",
                    ));
                }
            }
        }

        // RFC 2831 §2.1.2.1:
        //   A1 = { H( { username-value, ":", realm-value, ":", passwd } ),
        //          ":", nonce-value, ":", cnonce-value }
        let mut h = Md5::new();
        Text::Str(credentials.username).hash_folded(&mut h, c.utf8);
        h.update(b":");
        realm.hash_folded(&mut h, c.utf8);
        h.update(b":");
        Text::Str(credentials.password).hash_folded(&mut h, c.utf8);
        let secret = h.finalize();
        let mut h = Md5::new();
        for part in [&secret[..], b":", nonce, b":", cnonce] {
            h.update(part);
        }
        let ha1 = hex(&h.finalize().into());
        let ctx = Kd {
            ha1: &ha1,
            nonce,
            cnonce,
            uri,
            utf8: c.utf8,
        };
        // A2 = { "AUTHENTICATE:", digest-uri-value } for the response,
        // A2 = { ":", digest-uri-value } for rspauth (RFC 2831 §2.1.3).
        let response = ctx.kd(b"AUTHENTICATE:");
        let expected = ctx.kd(b":");

        let mut w = Out::new(out);
        if c.utf8 {
            w.put(b"charset=utf-8,");
        }
        w.put(b"username=\"");
        Text::Str(credentials.username).put_escaped(&mut w, c.utf8);
        w.put(b"\",");
        if !realm.is_empty() {
            w.put(b"realm=\"");
            realm.put_escaped(&mut w, c.utf8);
            w.put(b"\",");
        }
        w.put(b"nonce=\"");
        put_escaped_bytes(&mut w, nonce);
        w.put(b"\",nc=");
        w.put(NC);
        w.put(b",cnonce=\"");
        w.put(cnonce);
        w.put(b"\",digest-uri=\"");
        Text::Str(uri.serv_type).put_escaped(&mut w, c.utf8);
        w.put(b"/");
        Text::Str(uri.host).put_escaped(&mut w, c.utf8);
        w.put(b"\",response=");
        w.put(&response);
        w.put(b",qop=auth");
        if w.len() > MAX_RESPONSE_LEN {
            return Err(invalid(
                "username",
                "makes the digest-response 4096 bytes or longer (RFC 2831 §2.1.2)",
            ));
        }
        let n = w.finish()?;
        Ok((n, State::WaitingRspauth { expected }))
    }

    fn out_of_order(&self, call: &'static str) -> SaslError {
        let expected = match self.state {
            State::WaitingChallenge => "handle_challenge",
            State::WaitingRspauth { .. } => "handle_rspauth or handle_success",
            State::Done { .. } => "handle_success",
            State::Failed => "nothing: the exchange failed",
        };
        SaslError::OutOfOrder { call, expected }
    }
}

impl fmt::Debug for DigestMd5Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The expected rspauth stays out of logs.
        f.debug_struct("DigestMd5Client")
            .field("state", &self.state())
            .finish()
    }
}

/// What KD (RFC 2831 §2.1.2.1) needs besides A2's prefix.
struct Kd<'a> {
    ha1: &'a [u8; HEX_LEN],
    nonce: &'a [u8],
    cnonce: &'a [u8],
    uri: DigestUri<'a>,
    utf8: bool,
}

impl Kd<'_> {
    /// HEX( KD( HEX(H(A1)), { nonce-value, ":" nc-value, ":",
    ///     cnonce-value, ":", qop-value, ":", HEX(H(A2)) }))
    /// with KD(k, s) = H({k, ":", s}) and A2 = { prefix, digest-uri-value }.
    fn kd(&self, a2_prefix: &[u8]) -> [u8; HEX_LEN] {
        let mut h = Md5::new();
        h.update(a2_prefix);
        Text::Str(self.uri.serv_type).hash_wire(&mut h, self.utf8);
        h.update(b"/");
        Text::Str(self.uri.host).hash_wire(&mut h, self.utf8);
        let ha2 = hex(&h.finalize().into());
        let mut h = Md5::new();
        for part in [
            &self.ha1[..],
            b":",
            self.nonce,
            b":",
            NC,
            b":",
            self.cnonce,
            b":auth:",
            &ha2,
        ] {
            h.update(part);
        }
        hex(&h.finalize().into())
    }
}

fn hex(digest: &[u8; 16]) -> [u8; HEX_LEN] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; HEX_LEN];
    for (pair, &b) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

/// `rspauth=` checked against `expected` in constant time.
fn check_rspauth(msg: &[u8], expected: &[u8; HEX_LEN]) -> Result<(), SaslError> {
    // response-auth = "rspauth" "=" response-value (RFC 2831 §2.1.3); some
    // servers quote it or add directives, which are skipped.
    let mut rspauth = None;
    for d in Directives::new(msg) {
        let d = d?;
        if d.name.eq_ignore_ascii_case(b"rspauth") {
            if rspauth.is_some() {
                return Err(malformed("more than one rspauth"));
            }
            rspauth = Some(d);
        }
    }
    let rspauth = rspauth.ok_or(malformed("no rspauth"))?;
    let mut got = [0u8; HEX_LEN];
    // 32LHEX: a value of another length cannot match; its length is no
    // secret.
    let got = rspauth
        .unescape_into(&mut got)
        .filter(|g| g.len() == HEX_LEN)
        .ok_or(SaslError::ServerSignatureMismatch)?;
    let mut lower = [0u8; HEX_LEN];
    for (l, g) in lower.iter_mut().zip(got) {
        *l = g.to_ascii_lowercase();
    }
    if !bool::from(lower.ct_eq(expected)) {
        return Err(SaslError::ServerSignatureMismatch);
    }
    Ok(())
}

/// Text for a quoted-string or a hash: the caller's strings, or a realm
/// from a server without `charset=utf-8`, in ISO 8859-1.
#[derive(Clone, Copy)]
enum Text<'a> {
    Str(&'a str),
    Latin1(&'a [u8]),
}

impl<'a> Text<'a> {
    fn chars(self) -> impl Iterator<Item = char> + Clone + 'a {
        let (s, b) = match self {
            Self::Str(s) => (s, &[][..]),
            Self::Latin1(b) => ("", b),
        };
        s.chars().chain(b.iter().map(|&b| char::from(b)))
    }

    fn is_empty(self) -> bool {
        self.chars().next().is_none()
    }

    fn is_latin1(self) -> bool {
        self.chars().all(|c| u32::from(c) <= 0xff)
    }

    /// The bytes on the wire: UTF-8 with `charset=utf-8`, ISO 8859-1
    /// without (checked before, so no character is lost).
    fn hash_wire(self, h: &mut Md5, utf8: bool) {
        for c in self.chars() {
            put_char(c, utf8, |b| h.update(b));
        }
    }

    /// RFC 2831 §2.1.2.1: with charset=utf-8, a username, realm or
    /// password whose characters are all in ISO 8859-1 is hashed in ISO
    /// 8859-1, as the server stored it.
    fn hash_folded(self, h: &mut Md5, utf8: bool) {
        self.hash_wire(h, utf8 && !self.is_latin1());
    }

    /// The inside of a quoted-string: `"` and `\` escaped (RFC 2616 §2.2).
    fn put_escaped(self, w: &mut Out<'_>, utf8: bool) {
        for c in self.chars() {
            if matches!(c, '"' | '\\') {
                w.put(b"\\");
            }
            put_char(c, utf8, |b| w.put(b));
        }
    }
}

fn put_char(c: char, utf8: bool, mut put: impl FnMut(&[u8])) {
    if utf8 {
        put(c.encode_utf8(&mut [0; 4]).as_bytes());
    } else {
        // Only ISO 8859-1 characters get here.
        put(&[u8::try_from(u32::from(c)).unwrap_or(b'?')]);
    }
}

fn put_escaped_bytes(w: &mut Out<'_>, bytes: &[u8]) {
    for &b in bytes {
        if matches!(b, b'"' | b'\\') {
            w.put(b"\\");
        }
        w.put(&[b]);
    }
}

/// The directives of the digest-challenge the client uses.
struct Challenge<'m> {
    nonce: Directive<'m>,
    realm: Option<Directive<'m>>,
    utf8: bool,
}

/// digest-challenge = 1#( realm | nonce | qop-options | stale | maxbuf |
///                        charset | algorithm | cipher-opts | auth-param )
/// (RFC 2831 §2.1.1), with its rules on how often each may appear.
fn parse_challenge(msg: &[u8]) -> Result<Challenge<'_>, SaslError> {
    if msg.len() > MAX_CHALLENGE_LEN {
        return Err(malformed("challenge of 2048 bytes or more"));
    }
    let mut nonce = None;
    let mut realm = None;
    let mut qop = None;
    let mut charset = None;
    let mut algorithm = None;
    for d in Directives::new(msg) {
        let d = d?;
        let name = d.name;
        if name.eq_ignore_ascii_case(b"nonce") {
            once(&mut nonce, d, "more than one nonce")?;
        } else if name.eq_ignore_ascii_case(b"realm") {
            // Several realms may be offered; the first is taken.
            realm.get_or_insert(d);
        } else if name.eq_ignore_ascii_case(b"qop") {
            once(&mut qop, d, "more than one qop")?;
        } else if name.eq_ignore_ascii_case(b"charset") {
            once(&mut charset, d, "more than one charset")?;
        } else if name.eq_ignore_ascii_case(b"algorithm") {
            once(&mut algorithm, d, "more than one algorithm")?;
        }
        // stale, maxbuf, cipher and auth-params do not matter for qop=auth.
    }
    let nonce = nonce.ok_or(malformed("no nonce"))?;
    // RFC 2831 §2.1.1: without qop-options, "auth" is the default.
    if qop.is_some_and(|q| !q.list_contains(b"auth")) {
        return Err(malformed("qop does not offer auth"));
    }
    let utf8 = match charset {
        None => false,
        Some(c) if c.is(b"utf-8") => true,
        Some(_) => return Err(malformed("charset is not utf-8")),
    };
    match algorithm {
        Some(a) if a.is(b"md5-sess") => {}
        Some(_) => return Err(malformed("algorithm is not md5-sess")),
        None => return Err(malformed("no algorithm")),
    }
    Ok(Challenge { nonce, realm, utf8 })
}

/// RFC 2831 §2.1.1: nonce, qop, charset and algorithm "MUST appear
/// exactly once" or "at most once"; the client aborts on a second one.
fn once<'m>(
    slot: &mut Option<Directive<'m>>,
    d: Directive<'m>,
    twice: &'static str,
) -> Result<(), SaslError> {
    match slot.replace(d) {
        Some(_) => Err(malformed(twice)),
        None => Ok(()),
    }
}

/// One `name=value` of a directive list; the value is a token or the
/// inside of a quoted-string, still escaped.
#[derive(Clone, Copy)]
struct Directive<'m> {
    name: &'m [u8],
    value: &'m [u8],
    quoted: bool,
}

impl Directive<'_> {
    /// The value's bytes, with the quoted-pairs of a quoted-string undone.
    fn unescaped(&self) -> impl Iterator<Item = u8> + '_ {
        let quoted = self.quoted;
        let mut escaped = false;
        self.value.iter().filter_map(move |&b| {
            if quoted && !escaped && b == b'\\' {
                escaped = true;
                return None;
            }
            escaped = false;
            Some(b)
        })
    }

    /// The unescaped value, if it fits in `buf`.
    fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let mut n = 0;
        for b in self.unescaped() {
            *buf.get_mut(n)? = b;
            n += 1;
        }
        buf.get(..n)
    }

    /// Whether the value is `want`, ASCII case aside.
    fn is(&self, want: &[u8]) -> bool {
        let mut got = self.unescaped();
        want.iter()
            .all(|w| got.next().is_some_and(|g| g.eq_ignore_ascii_case(w)))
            && got.next().is_none()
    }

    /// Whether the value, a comma-separated list (`1#qop-value`), holds
    /// `want`, ASCII case and white space aside.
    fn list_contains(&self, want: &[u8]) -> bool {
        let mut item = [0u8; 16];
        let mut len = 0;
        let mut too_long = false;
        for b in self.unescaped().chain(core::iter::once(b',')) {
            if b == b',' {
                if !too_long && item[..len].trim_ascii().eq_ignore_ascii_case(want) {
                    return true;
                }
                len = 0;
                too_long = false;
            } else if let Some(slot) = item.get_mut(len) {
                *slot = b;
                len += 1;
            } else {
                too_long = true;
            }
        }
        false
    }
}

/// The directives of a list, `#( token "=" ( token | quoted-string ) )`
/// (RFC 2831 §7.1, RFC 2616 §2.1-§2.2), with linear white space around
/// the elements and empty elements allowed. Stops at the first error.
struct Directives<'m> {
    rest: &'m [u8],
}

impl<'m> Directives<'m> {
    fn new(msg: &'m [u8]) -> Self {
        Self { rest: msg }
    }

    fn parse(&mut self) -> Result<Option<Directive<'m>>, SaslError> {
        let s = self.rest;
        let mut i = skip(s, 0, |b| is_lws(b) || b == b',');
        if i == s.len() {
            return Ok(None);
        }
        let start = i;
        i = skip(s, i, is_token);
        let name = &s[start..i];
        if name.is_empty() {
            return Err(malformed("a directive does not start with a name"));
        }
        i = skip(s, i, is_lws);
        if s.get(i) != Some(&b'=') {
            return Err(malformed("a directive without ="));
        }
        i = skip(s, i + 1, is_lws);
        let (value, quoted);
        if s.get(i) == Some(&b'"') {
            i += 1;
            let start = i;
            loop {
                match s.get(i) {
                    None => return Err(malformed("an unterminated quoted string")),
                    Some(b'"') => break,
                    Some(b'\\') => {
                        match s.get(i + 1) {
                            Some(&b) if !is_ctl(b) => {}
                            Some(_) => return Err(malformed("a control character")),
                            None => return Err(malformed("an unterminated quoted string")),
                        }
                        i += 2;
                    }
                    Some(&b) if is_ctl(b) => return Err(malformed("a control character")),
                    Some(_) => i += 1,
                }
            }
            value = &s[start..i];
            quoted = true;
            i += 1;
        } else {
            // A token; tolerant of the `/` and `=` of unquoted base64.
            let start = i;
            i = skip(s, i, |b| {
                (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b'\\' | b',')
            });
            value = &s[start..i];
            quoted = false;
            if value.is_empty() {
                return Err(malformed("a directive without a value"));
            }
        }
        i = skip(s, i, is_lws);
        match s.get(i) {
            None => self.rest = &[],
            Some(b',') => self.rest = &s[i + 1..],
            Some(_) => return Err(malformed("directives not separated by commas")),
        }
        Ok(Some(Directive {
            name,
            value,
            quoted,
        }))
    }
}

impl<'m> Iterator for Directives<'m> {
    type Item = Result<Directive<'m>, SaslError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.parse();
        if r.is_err() {
            self.rest = &[];
        }
        r.transpose()
    }
}

/// The first index from `i` on whose byte is not `pred`.
fn skip(s: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while s.get(i).is_some_and(|&b| pred(b)) {
        i += 1;
    }
    i
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// CTL, but horizontal tab, which TEXT allows (RFC 2616 §2.2).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// token = 1*<any CHAR except CTLs or separators> (RFC 2616 §2.2).
fn is_token(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !b"()<>@,;:\\\"/[]?={}".contains(&b)
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
    use crate::sasl::Fault;
    use std::format;
    use std::string::String;
    use std::vec::Vec;
    // proptest's prop_oneof! expects the std prelude.
    use std::vec;

    const RFC2831_CHALLENGE: &[u8] = br#"realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8"#;
    const RFC2831_RESPONSE: &[u8] = br#"charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,qop=auth"#;
    const RFC2831_RSPAUTH: &[u8] = b"rspauth=ea40f60335c427b5527b84dbabcdfffd";
    const CHRIS: Credentials<'static> = Credentials {
        username: "chris",
        password: "secret",
        realm: None,
    };
    const IMAP: DigestUri<'static> = DigestUri {
        serv_type: "imap",
        host: "elwood.innosoft.com",
    };
    const CNONCE: &str = "OA6MHXh6VqTrRk";

    fn respond(challenge: &[u8]) -> (DigestMd5Client, Result<Vec<u8>, SaslError>) {
        respond_as(challenge, &CHRIS, IMAP)
    }

    fn respond_as(
        challenge: &[u8],
        credentials: &Credentials<'_>,
        uri: DigestUri<'_>,
    ) -> (DigestMd5Client, Result<Vec<u8>, SaslError>) {
        let mut c = DigestMd5Client::new();
        let mut out = [0u8; 1024];
        let r = c
            .handle_challenge(&mut out, challenge, credentials, uri, CNONCE)
            .map(|n| out[..n].to_vec());
        (c, r)
    }

    /// The value of `name=` in a digest-response.
    fn field(response: &[u8], name: &str) -> String {
        let s = core::str::from_utf8(response).unwrap();
        let prefix = format!("{name}=");
        s.split(',')
            .find_map(|d| d.strip_prefix(&prefix))
            .unwrap()
            .trim_matches('"')
            .into()
    }

    #[test]
    fn rfc_2831_section_4() {
        let (mut c, r) = respond(RFC2831_CHALLENGE);
        assert_eq!(r.unwrap(), RFC2831_RESPONSE);
        assert_eq!(c.state(), DigestMd5State::WaitingRspauth);
        assert!(!c.is_done());
        c.handle_rspauth(RFC2831_RSPAUTH).unwrap();
        assert_eq!(c.state(), DigestMd5State::Done);
        assert!(c.is_done());
        // RFC 6120 §6.4.6: then <success/>, with no additional data.
        c.handle_success(b"").unwrap();
        assert!(c.is_done());
    }

    #[test]
    fn rspauth_in_success() {
        // Openfire skips the second challenge and puts rspauth into
        // <success/>.
        let (mut c, _) = respond(RFC2831_CHALLENGE);
        c.handle_success(RFC2831_RSPAUTH).unwrap();
        assert!(c.is_done());
        // Sent again in <success/> after the challenge: checked again.
        let (mut c, _) = respond(RFC2831_CHALLENGE);
        c.handle_rspauth(RFC2831_RSPAUTH).unwrap();
        c.handle_success(RFC2831_RSPAUTH).unwrap();
        let (mut c, _) = respond(RFC2831_CHALLENGE);
        c.handle_rspauth(RFC2831_RSPAUTH).unwrap();
        assert_eq!(
            c.handle_success(b"rspauth=00000000000000000000000000000000"),
            Err(SaslError::ServerSignatureMismatch)
        );
    }

    #[test]
    fn success_without_rspauth_is_refused() {
        let (mut c, _) = respond(RFC2831_CHALLENGE);
        let e = c.handle_success(b"").unwrap_err();
        assert!(matches!(e, SaslError::MalformedServerMessage { .. }));
        assert_eq!(e.fault(), Fault::Server);
        assert_eq!(c.state(), DigestMd5State::Failed);
        // Nor before the first challenge.
        let mut c = DigestMd5Client::new();
        assert!(matches!(
            c.handle_success(b""),
            Err(SaslError::OutOfOrder {
                call: "handle_success",
                expected: "handle_challenge"
            })
        ));
    }

    #[test]
    fn wrong_rspauth() {
        for bad in [
            &b"rspauth=ea40f60335c427b5527b84dbabcdfffe"[..],
            b"rspauth=ea40f60335c427b5527b84dbabcdfff",
            b"rspauth=ea40f60335c427b5527b84dbabcdfffdd",
            b"rspauth=d388dad90d4bbd760a152321f2143af7",
            b"rspauth=\"\"",
        ] {
            let (mut c, _) = respond(RFC2831_CHALLENGE);
            assert_eq!(
                c.handle_rspauth(bad),
                Err(SaslError::ServerSignatureMismatch),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(c.state(), DigestMd5State::Failed);
            assert!(matches!(
                c.handle_rspauth(RFC2831_RSPAUTH),
                Err(SaslError::OutOfOrder { .. })
            ));
        }
        // Upper-case hex, quotes and white space are tolerated.
        for good in [
            &b"rspauth=EA40F60335C427B5527B84DBABCDFFFD"[..],
            b" rspauth = \"ea40f60335c427b5527b84dbabcdfffd\" ",
            b"rspauth=ea40f60335c427b5527b84dbabcdfffd,x-extra=1",
        ] {
            let (mut c, _) = respond(RFC2831_CHALLENGE);
            c.handle_rspauth(good).unwrap();
        }
        // No rspauth, or two, or garbage.
        for bad in [
            &b""[..],
            b"realm=\"x\"",
            b"rspauth=ea40f60335c427b5527b84dbabcdfffd,rspauth=ea40f60335c427b5527b84dbabcdfffd",
            b"rspauth",
            b"\xff\x00",
        ] {
            let (mut c, _) = respond(RFC2831_CHALLENGE);
            assert!(matches!(
                c.handle_rspauth(bad),
                Err(SaslError::MalformedServerMessage { .. })
            ));
        }
    }

    #[test]
    fn hostile_challenges() {
        let bad: &[(&[u8], &str)] = &[
            (b"", "no nonce"),
            (b"realm=\"x\",qop=\"auth\",algorithm=md5-sess", "no nonce"),
            (
                b"nonce=\"a\",nonce=\"b\",algorithm=md5-sess",
                "more than one nonce",
            ),
            (b"nonce=\"\",algorithm=md5-sess", "empty nonce"),
            (
                b"nonce=\"a\",qop=\"auth-int,auth-conf\",algorithm=md5-sess",
                "qop does not offer auth",
            ),
            (
                b"nonce=\"a\",qop=\"authx\",algorithm=md5-sess",
                "qop does not offer auth",
            ),
            (
                b"nonce=\"a\",qop=\"auth\",qop=\"auth\",algorithm=md5-sess",
                "more than one qop",
            ),
            (b"nonce=\"a\"", "no algorithm"),
            (b"nonce=\"a\",algorithm=md5", "algorithm is not md5-sess"),
            (
                b"nonce=\"a\",algorithm=md5-sess,algorithm=md5-sess",
                "more than one algorithm",
            ),
            (
                b"nonce=\"a\",algorithm=md5-sess,charset=iso-8859-1",
                "charset is not utf-8",
            ),
            (
                b"nonce=\"a\",algorithm=md5-sess,charset=utf-8,charset=utf-8",
                "more than one charset",
            ),
            (b"nonce=\"a", "an unterminated quoted string"),
            (b"nonce=\"a\\", "an unterminated quoted string"),
            (b"nonce=\"a\nb\",algorithm=md5-sess", "a control character"),
            (b"nonce=\"a\" x=1", "directives not separated by commas"),
            (b"nonce", "a directive without ="),
            (b"=x", "a directive does not start with a name"),
            (b"nonce=,algorithm=md5-sess", "a directive without a value"),
            (b"\xff\xfe\x00", "a directive does not start with a name"),
            (
                b"nonce=\"a\",algorithm=md5-sess,charset=utf-8,realm=\"\xff\"",
                "realm is not UTF-8 (charset=utf-8)",
            ),
        ];
        for (challenge, reason) in bad {
            let (c, r) = respond(challenge);
            let shown = String::from_utf8_lossy(challenge);
            assert_eq!(
                r,
                Err(SaslError::MalformedServerMessage { reason }),
                "{shown}"
            );
            assert_eq!(c.state(), DigestMd5State::Failed, "{shown}");
        }
    }

    #[test]
    fn oversized_values() {
        let long = "n".repeat(MAX_NONCE_LEN + 1);
        let (_, r) = respond(format!("nonce=\"{long}\",algorithm=md5-sess").as_bytes());
        assert_eq!(
            r,
            Err(malformed("nonce longer than MAX_NONCE_LEN")),
            "nonce"
        );
        // The longest nonce is fine.
        let (_, r) = respond(format!("nonce=\"{}\",algorithm=md5-sess", &long[1..]).as_bytes());
        assert!(r.is_ok());
        let long = "r".repeat(MAX_REALM_LEN + 1);
        let (_, r) = respond(format!("nonce=\"a\",realm=\"{long}\",algorithm=md5-sess").as_bytes());
        assert_eq!(r, Err(malformed("realm longer than MAX_REALM_LEN")));
        let big = format!("nonce=\"a\",algorithm=md5-sess,x=\"{}\"", "x".repeat(2048));
        let (_, r) = respond(big.as_bytes());
        assert_eq!(r, Err(malformed("challenge of 2048 bytes or more")));
        // A qop list with a long item still finds auth.
        let qop = format!(
            "nonce=\"a\",qop=\"{},auth\",algorithm=md5-sess",
            "x".repeat(100)
        );
        assert!(respond(qop.as_bytes()).1.is_ok());
    }

    #[test]
    fn tolerated_forms() {
        // Prosody 0.9 and ejabberd send this shape; directive names and
        // values are case-insensitive, lists may have empty elements and
        // white space, unknown directives are skipped, qop defaults to auth.
        for challenge in [
            &b"nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",charset=utf-8,algorithm=md5-sess,realm=\"elwood.innosoft.com\""[..],
            b" ,REALM = \"elwood.innosoft.com\" ,, Nonce=\"OA6MG9tEQGm2hh\",qop=\"auth-int, auth\",maxbuf=65536,cipher=\"rc4\",stale=true,Charset=UTF-8,algorithm=\"MD5-sess\",x-unknown=\"\\\"\", ",
            b"realm=\"elwood.innosoft.com\",realm=\"other\",nonce=OA6MG9tEQGm2hh,algorithm=md5-sess,charset=utf-8",
            b"realm=\"elwood.\\innosoft.com\",nonce=\"OA6\\MG9tEQGm2hh\",algorithm=md5-sess,charset=utf-8",
        ] {
            let (_, r) = respond(challenge);
            assert_eq!(
                r.unwrap(),
                RFC2831_RESPONSE,
                "{}",
                String::from_utf8_lossy(challenge)
            );
        }
    }

    #[test]
    fn realm_choices() {
        // No realm offered: the host (what XMPP servers use), sent back.
        let (_, r) = respond(b"nonce=\"OA6MG9tEQGm2hh\",algorithm=md5-sess,charset=utf-8");
        assert_eq!(r.unwrap(), RFC2831_RESPONSE);
        // An explicit realm wins over the server's.
        let creds = Credentials {
            realm: Some("elwood.innosoft.com"),
            ..CHRIS
        };
        let (_, r) = respond_as(
            b"realm=\"other\",nonce=\"OA6MG9tEQGm2hh\",algorithm=md5-sess,charset=utf-8",
            &creds,
            IMAP,
        );
        assert_eq!(r.unwrap(), RFC2831_RESPONSE);
        // An empty realm is not sent, and hashed as empty.
        let creds = Credentials {
            realm: Some(""),
            ..CHRIS
        };
        let (_, r) = respond_as(RFC2831_CHALLENGE, &creds, IMAP);
        let r = r.unwrap();
        assert!(!r.windows(6).any(|w| w == b"realm="));
        assert_ne!(field(&r, "response"), field(RFC2831_RESPONSE, "response"));
    }

    #[test]
    fn escaping_and_charsets() {
        // A quote and a backslash in the username are escaped on the wire.
        let creds = Credentials {
            username: "a\"b\\c",
            ..CHRIS
        };
        let (_, r) = respond_as(RFC2831_CHALLENGE, &creds, IMAP);
        let r = r.unwrap();
        assert!(r.starts_with(br#"charset=utf-8,username="a\"b\\c","#));

        // RFC 2831 §2.1.2.1: with charset=utf-8, a username in ISO 8859-1
        // is hashed in ISO 8859-1; so the answer is the same as without
        // charset, where it is sent in ISO 8859-1 too.
        let creds = Credentials {
            username: "jürgen",
            password: "pässword",
            ..CHRIS
        };
        let (_, utf8) = respond_as(RFC2831_CHALLENGE, &creds, IMAP);
        let utf8 = utf8.unwrap();
        assert!(utf8.starts_with("charset=utf-8,username=\"jürgen\"".as_bytes()));
        let latin1_challenge =
            br#"realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess"#;
        let (_, latin1) = respond_as(latin1_challenge, &creds, IMAP);
        let latin1 = latin1.unwrap();
        assert!(latin1.starts_with(b"username=\"j\xfcrgen\""));
        assert_eq!(
            field(&utf8, "response"),
            field(
                &String::from_utf8_lossy(&latin1).into_owned().into_bytes(),
                "response"
            )
        );
        // Beyond ISO 8859-1: hashed as UTF-8 with charset, refused without.
        let creds = Credentials {
            username: "юля",
            ..CHRIS
        };
        assert!(respond_as(RFC2831_CHALLENGE, &creds, IMAP).1.is_ok());
        let (c, r) = respond_as(latin1_challenge, &creds, IMAP);
        assert!(matches!(
            r,
            Err(SaslError::InvalidInput {
                field: "username",
                ..
            })
        ));
        // The caller's mistake leaves the exchange as it was.
        assert_eq!(c.state(), DigestMd5State::WaitingChallenge);
        // A realm from a server without charset is ISO 8859-1, sent back as
        // it came.
        let (_, r) = respond(b"realm=\"caf\xe9\",nonce=\"n\",algorithm=md5-sess");
        assert!(r.unwrap().windows(13).any(|w| w == b"realm=\"caf\xe9\","));
    }

    #[test]
    fn local_errors_keep_the_state() {
        let mut c = DigestMd5Client::new();
        let mut out = [0u8; 1024];
        for cnonce in ["", "a b", "a\"b", "a\\b", "é", &"x".repeat(65)] {
            assert!(matches!(
                c.handle_challenge(&mut out, RFC2831_CHALLENGE, &CHRIS, IMAP, cnonce),
                Err(SaslError::InvalidInput {
                    field: "cnonce",
                    ..
                })
            ));
        }
        let no_user = Credentials {
            username: "",
            ..CHRIS
        };
        let ctl_user = Credentials {
            username: "a\nb",
            ..CHRIS
        };
        for creds in [no_user, ctl_user] {
            assert!(matches!(
                c.handle_challenge(&mut out, RFC2831_CHALLENGE, &creds, IMAP, CNONCE),
                Err(SaslError::InvalidInput {
                    field: "username",
                    ..
                })
            ));
        }
        for uri in [
            DigestUri::xmpp(""),
            DigestUri {
                serv_type: "",
                host: "h",
            },
            DigestUri {
                serv_type: "a/b",
                host: "h",
            },
        ] {
            assert!(matches!(
                c.handle_challenge(&mut out, RFC2831_CHALLENGE, &CHRIS, uri, CNONCE),
                Err(SaslError::InvalidInput {
                    field: "digest-uri",
                    ..
                })
            ));
        }
        // Too small a buffer says what it needs; a retry with room works.
        let mut small = [0u8; 16];
        let e = c
            .handle_challenge(&mut small, RFC2831_CHALLENGE, &CHRIS, IMAP, CNONCE)
            .unwrap_err();
        assert_eq!(
            e,
            SaslError::BufferTooSmall(crate::error::BufferTooSmall {
                needed: RFC2831_RESPONSE.len()
            })
        );
        assert_eq!(e.fault(), Fault::Resource);
        assert_eq!(c.state(), DigestMd5State::WaitingChallenge);
        let n = c
            .handle_challenge(&mut out, RFC2831_CHALLENGE, &CHRIS, IMAP, CNONCE)
            .unwrap();
        assert_eq!(&out[..n], RFC2831_RESPONSE);
        // A second challenge call is out of order, and changes nothing.
        assert!(matches!(
            c.handle_challenge(&mut out, RFC2831_CHALLENGE, &CHRIS, IMAP, CNONCE),
            Err(SaslError::OutOfOrder {
                call: "handle_challenge",
                ..
            })
        ));
        assert_eq!(c.state(), DigestMd5State::WaitingRspauth);
        c.handle_rspauth(RFC2831_RSPAUTH).unwrap();
    }

    #[test]
    fn xmpp_with_rng() {
        struct Counter(u8);
        impl rand_core::RngCore for Counter {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                for b in dest {
                    *b = self.0;
                    self.0 = self.0.wrapping_add(1);
                }
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        impl rand_core::CryptoRng for Counter {}

        let mut c = DigestMd5Client::default();
        let mut out = [0u8; 512];
        let creds = Credentials {
            username: "juliet",
            password: "r0m30",
            realm: None,
        };
        let n = c
            .handle_challenge_with_rng(
                &mut out,
                b"nonce=\"abc\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
                &creds,
                DigestUri::xmpp("example.com"),
                &mut Counter(0),
            )
            .unwrap();
        let r = &out[..n];
        // base64 of the bytes 0..18.
        assert_eq!(field(r, "cnonce"), "AAECAwQFBgcICQoLDA0ODxAR");
        assert_eq!(field(r, "digest-uri"), "xmpp/example.com");
        assert_eq!(field(r, "realm"), "example.com");
        assert_eq!(field(r, "response").len(), 32);
        let shown = format!("{c:?}");
        assert_eq!(shown, "DigestMd5Client { state: WaitingRspauth }");
        let creds = format!("{creds:?}");
        assert!(!creds.contains("r0m30"), "{creds}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        // Total: any bytes, as either challenge, give a result, never a
        // panic; the exchange then only succeeds on the real rspauth.
        #[test]
        fn never_panics(
            first in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            second in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let (mut c, r) = respond(&first);
            if r.is_ok() {
                let _ = c.handle_rspauth(&second);
            }
            let _ = c.handle_success(&second);
            let (mut c, _) = respond(RFC2831_CHALLENGE);
            proptest::prop_assert!(c.handle_rspauth(&second).is_err());
        }

        // Structured: directive lists made of the grammar's pieces.
        #[test]
        fn directive_soup_never_panics(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::Just("nonce="), proptest::prelude::Just("realm="),
                    proptest::prelude::Just("qop="), proptest::prelude::Just("charset="),
                    proptest::prelude::Just("algorithm="), proptest::prelude::Just("rspauth="),
                    proptest::prelude::Just("\""), proptest::prelude::Just("\\"),
                    proptest::prelude::Just(","), proptest::prelude::Just(" "),
                    proptest::prelude::Just("auth"), proptest::prelude::Just("utf-8"),
                    proptest::prelude::Just("md5-sess"), proptest::prelude::Just("x"),
                ],
                0..40,
            ),
        ) {
            let msg: String = parts.concat();
            let (mut c, r) = respond(msg.as_bytes());
            if r.is_ok() {
                proptest::prop_assert_eq!(c.state(), DigestMd5State::WaitingRspauth);
                proptest::prop_assert!(c.handle_rspauth(msg.as_bytes()).is_err());
            }
        }
    }
}
