//! The SASL mechanisms this crate knows, and the client's choice among those
//! a server offers (RFC 6120 §6.3.3, §6.4.1).

use core::fmt;

use super::channel_binding::{ChannelBinding, ChannelBindingType, ChannelBindingTypes};
use super::scram::HashFunction;
use super::{Gs2CbindFlag, SaslError};

/// A SASL mechanism, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mechanism {
    /// `SCRAM-SHA-512-PLUS`: SCRAM with SHA-512 and channel binding.
    ScramSha512Plus,
    /// `SCRAM-SHA-256-PLUS` (RFC 7677): SCRAM with SHA-256 and channel
    /// binding.
    ScramSha256Plus,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802): SCRAM with SHA-1 and channel binding.
    ScramSha1Plus,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-1` (RFC 5802), mandatory to implement in XMPP (RFC 6120
    /// §13.8).
    ScramSha1,
    /// `DIGEST-MD5` (RFC 2831), historic since RFC 6331: chosen only with
    /// the `legacy-digest-md5` feature, and only when no SCRAM mechanism
    /// can be. It does not send the password in the clear, so it comes
    /// before PLAIN.
    DigestMd5,
    /// `PLAIN` (RFC 4616): the password in the clear, so only over TLS.
    Plain,
    /// `EXTERNAL` (RFC 4422 Appendix A, XEP-0178): the TLS client
    /// certificate authenticates.
    External,
    /// `ANONYMOUS` (RFC 4505): no credentials; the server assigns a JID.
    Anonymous,
}

impl Mechanism {
    /// Every mechanism, in the order [`choose`] prefers them.
    pub const ALL: [Mechanism; 10] = [
        Self::ScramSha512Plus,
        Self::ScramSha256Plus,
        Self::ScramSha1Plus,
        Self::ScramSha512,
        Self::ScramSha256,
        Self::ScramSha1,
        Self::DigestMd5,
        Self::Plain,
        Self::External,
        Self::Anonymous,
    ];

    /// The registered name, as in `<mechanism/>` and the `mechanism`
    /// attribute of `<auth/>`, e.g. `"SCRAM-SHA-1-PLUS"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ScramSha512Plus => "SCRAM-SHA-512-PLUS",
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Self::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::DigestMd5 => "DIGEST-MD5",
            Self::Plain => "PLAIN",
            Self::External => "EXTERNAL",
            Self::Anonymous => "ANONYMOUS",
        }
    }

    /// The mechanism registered as `name`. RFC 4422 §3.1 names are
    /// upper-case, and matched exactly.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The SCRAM mechanism with hash `hash`, with or without channel binding.
    pub const fn scram(hash: HashFunction, plus: bool) -> Self {
        match (hash, plus) {
            (HashFunction::Sha1, false) => Self::ScramSha1,
            (HashFunction::Sha1, true) => Self::ScramSha1Plus,
            (HashFunction::Sha256, false) => Self::ScramSha256,
            (HashFunction::Sha256, true) => Self::ScramSha256Plus,
            (HashFunction::Sha512, false) => Self::ScramSha512,
            (HashFunction::Sha512, true) => Self::ScramSha512Plus,
        }
    }

    /// The hash of a SCRAM mechanism; `None` for the others.
    pub const fn scram_hash(self) -> Option<HashFunction> {
        match self {
            Self::ScramSha512Plus | Self::ScramSha512 => Some(HashFunction::Sha512),
            Self::ScramSha256Plus | Self::ScramSha256 => Some(HashFunction::Sha256),
            Self::ScramSha1Plus | Self::ScramSha1 => Some(HashFunction::Sha1),
            Self::DigestMd5 | Self::Plain | Self::External | Self::Anonymous => None,
        }
    }

    /// Whether this is a SCRAM mechanism.
    pub const fn is_scram(self) -> bool {
        self.scram_hash().is_some()
    }

    /// Whether this is a -PLUS mechanism, which binds to the TLS channel.
    pub const fn is_plus(self) -> bool {
        matches!(
            self,
            Self::ScramSha512Plus | Self::ScramSha256Plus | Self::ScramSha1Plus
        )
    }

    /// Whether this build can run the mechanism: SCRAM-SHA-256 needs the
    /// `scram-sha256` feature, SCRAM-SHA-512 the `scram-sha512` feature,
    /// DIGEST-MD5 the `legacy-digest-md5` feature.
    pub const fn is_supported(self) -> bool {
        match (self, self.scram_hash()) {
            (Self::DigestMd5, _) => cfg!(feature = "legacy-digest-md5"),
            (_, Some(h)) => h.is_supported(),
            (_, None) => true,
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the client can do and allows, the input of [`choose`] besides the
/// server's offer.
///
/// Build it with `..Capabilities::default()`, which allows nothing: every
/// way to authenticate is an explicit opt-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capabilities<'a> {
    /// The stream is protected by TLS. Without it PLAIN is refused (unless
    /// [`plain_without_tls`](Self::plain_without_tls)) and no channel
    /// binding is used.
    pub tls: bool,
    /// The channel-binding data the TLS adapter obtained, in the order the
    /// client prefers them (`tls-exporter` first is the usual choice). Empty
    /// when the adapter can give none: no -PLUS mechanism is then chosen.
    pub channel_bindings: &'a [ChannelBinding<'a>],
    /// When the server sends no XEP-0440 list of channel-binding types,
    /// assume it supports `tls-exporter`. Set it on TLS 1.3 sessions, where
    /// RFC 9266 §3 makes `tls-exporter` the default type; without it the
    /// server is assumed to support only `tls-unique`, the RFC 5929 default
    /// a server predating RFC 9266 implements (which a client here cannot
    /// use, so no -PLUS is chosen and the flag is `n`).
    pub assume_tls_exporter: bool,
    /// A password, or a salted password cached from an earlier login, is
    /// available: SCRAM, DIGEST-MD5 and PLAIN are possible. A cached salted
    /// password is for one hash only; with no password beside it, restrict
    /// [`allowed`](Self::allowed) to the SCRAM mechanisms of that hash.
    pub password: bool,
    /// A TLS client certificate is configured: EXTERNAL is possible.
    pub external: bool,
    /// Anonymous login is wanted: ANONYMOUS is possible.
    pub anonymous: bool,
    /// Allow PLAIN on a stream without TLS, which sends the password in the
    /// clear (RFC 4616 §6: not without adequate data security).
    pub plain_without_tls: bool,
    /// If set, only these mechanisms may be chosen (one entry forces it),
    /// still in the preference order of [`Mechanism::ALL`]. The other rules
    /// still apply: a forced PLAIN still needs TLS or `plain_without_tls`.
    pub allowed: Option<&'a [Mechanism]>,
}

/// The outcome of [`choose`]: the mechanism, and for SCRAM the GS2 flag and
/// channel-binding data to start it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Choice<'a> {
    /// The mechanism to name in `<auth/>`.
    pub mechanism: Mechanism,
    /// For SCRAM, the channel-binding flag: [`Gs2CbindFlag::Bound`] exactly
    /// when `mechanism` is a -PLUS one. [`Gs2CbindFlag::NotSupported`] for
    /// the other mechanisms.
    pub cbind: Gs2CbindFlag<'a>,
}

/// Chooses the strongest mechanism that the server offers and the client
/// accepts, in the order of [`Mechanism::ALL`]: SCRAM-SHA-512-PLUS,
/// SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-512, SCRAM-SHA-256,
/// SCRAM-SHA-1, DIGEST-MD5, PLAIN, EXTERNAL, ANONYMOUS. Mechanisms this
/// build lacks ([`Mechanism::is_supported`]) are skipped: DIGEST-MD5
/// without the `legacy-digest-md5` feature.
///
/// - `offered`: the `<mechanism/>` names of the server's `<mechanisms/>`
///   feature (RFC 6120 §6.4.1); unknown names are skipped.
/// - `server_bindings`: the types of the server's XEP-0440
///   `<sasl-channel-binding/>` feature, or `None` if it sent none (see
///   [`Capabilities::assume_tls_exporter`] for what is assumed then).
///
/// A -PLUS mechanism is chosen only when the client has channel-binding
/// data of a type the server supports. A SCRAM mechanism without -PLUS gets
/// the flag `y` when the client has channel-binding data but the server
/// offered no -PLUS mechanism at all (RFC 5802 §6, downgrade detection),
/// and `n` otherwise: when the server does offer -PLUS but of no type the
/// client can bind with, `y` would make it fail the exchange.
///
/// The error, [`SaslError::NoAcceptableMechanism`], says why the likeliest
/// candidate was refused.
pub fn choose<'m, 'a>(
    offered: impl IntoIterator<Item = &'m str>,
    server_bindings: Option<ChannelBindingTypes>,
    caps: &Capabilities<'a>,
) -> Result<Choice<'a>, SaslError> {
    let mut offered_set = 0u16;
    // Any -PLUS name counts, known or not (say SCRAM-SHA3-512-PLUS): it
    // shows the server supports channel binding, so `y` would fail.
    let mut any_plus = false;
    for name in offered {
        any_plus |= name.ends_with("-PLUS");
        if let Some(m) = Mechanism::from_name(name) {
            offered_set |= m.bit();
        }
    }

    let server_types = server_bindings.unwrap_or(if caps.assume_tls_exporter {
        ChannelBindingTypes::EMPTY.with(ChannelBindingType::TlsExporter)
    } else {
        ChannelBindingTypes::EMPTY.with(ChannelBindingType::TlsUnique)
    });
    let bindings = if caps.tls { caps.channel_bindings } else { &[] };
    let binding = bindings
        .iter()
        .find(|b| server_types.contains(b.kind()))
        .copied();
    let flag_without_plus = if !bindings.is_empty() && !any_plus {
        Gs2CbindFlag::NotOffered
    } else {
        Gs2CbindFlag::NotSupported
    };

    let mut plain_refused = false;
    for m in Mechanism::ALL {
        if offered_set & m.bit() == 0 || !m.is_supported() {
            continue;
        }
        if let Some(allowed) = caps.allowed {
            if !allowed.contains(&m) {
                continue;
            }
        }
        let cbind = match m {
            _ if m.is_plus() => match binding {
                Some(b) if caps.password => Gs2CbindFlag::Bound(b),
                _ => continue,
            },
            _ if m.is_scram() && caps.password => flag_without_plus,
            // RFC 6331 made DIGEST-MD5 historic; it is still better than
            // PLAIN, which sends the password itself.
            Mechanism::DigestMd5 if caps.password => Gs2CbindFlag::NotSupported,
            Mechanism::Plain if caps.password => {
                // RFC 4616 §6: PLAIN sends the password as it is, so not
                // without a security layer, unless explicitly configured.
                if !caps.tls && !caps.plain_without_tls {
                    plain_refused = true;
                    continue;
                }
                Gs2CbindFlag::NotSupported
            }
            Mechanism::External if caps.external => Gs2CbindFlag::NotSupported,
            Mechanism::Anonymous if caps.anonymous => Gs2CbindFlag::NotSupported,
            _ => continue,
        };
        return Ok(Choice {
            mechanism: m,
            cbind,
        });
    }

    let reason = if plain_refused {
        "PLAIN is offered, but refused without TLS"
    } else if offered_set == 0 {
        "the server offered no mechanism this client knows"
    } else {
        "no offered mechanism is built in, allowed, and has its credentials configured"
    };
    Err(SaslError::NoAcceptableMechanism { reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChannelBindingType::*;
    use Mechanism::*;

    const EXPORTER: [u8; 32] = [7; 32];
    const END_POINT: [u8; 32] = [9; 32];
    const BOTH: [ChannelBinding<'static>; 2] = [
        ChannelBinding::TlsExporter(&EXPORTER),
        ChannelBinding::TlsServerEndPoint(&END_POINT),
    ];
    const EXPORTER_ONLY: [ChannelBinding<'static>; 1] = [ChannelBinding::TlsExporter(&EXPORTER)];

    fn password_tls(bindings: &'static [ChannelBinding<'static>]) -> Capabilities<'static> {
        Capabilities {
            tls: true,
            channel_bindings: bindings,
            password: true,
            ..Capabilities::default()
        }
    }

    fn types(list: &[ChannelBindingType]) -> Option<ChannelBindingTypes> {
        Some(
            list.iter()
                .fold(ChannelBindingTypes::EMPTY, |s, t| s.with(*t)),
        )
    }

    /// The first of `list` this build supports (feature flags).
    fn strongest(list: &[Mechanism]) -> Mechanism {
        *list.iter().find(|m| m.is_supported()).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
            assert_eq!(m.is_plus(), m.name().ends_with("-PLUS"));
            assert_eq!(m.is_scram(), m.name().starts_with("SCRAM-"));
            if let Some(h) = m.scram_hash() {
                assert_eq!(Mechanism::scram(h, m.is_plus()), m);
            }
        }
        assert_eq!(Mechanism::from_name("scram-sha-1"), None);
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
        assert_eq!(Mechanism::from_name("digest-md5"), None);
        for t in ChannelBindingType::ALL {
            assert_eq!(ChannelBindingType::from_name(t.name()), Some(t));
        }
        let set = ChannelBindingTypes::from_names(["tls-exporter", "bogus", "tls-unique"]);
        assert!(set.contains(TlsExporter) && set.contains(TlsUnique));
        assert!(!set.contains(TlsServerEndPoint));
        assert!(ChannelBindingTypes::from_names([]).is_empty());
    }

    #[test]
    fn prosody_0_12() {
        // Prosody 0.12 over TLS: no -PLUS, no XEP-0440. The client has
        // tls-exporter data, so it flags `y` to detect a stripped -PLUS.
        let c = choose(["SCRAM-SHA-1", "PLAIN"], None, &password_tls(&BOTH)).unwrap();
        assert_eq!(c.mechanism, ScramSha1);
        assert_eq!(c.cbind, Gs2CbindFlag::NotOffered);
        // A client without channel-binding data says `n`.
        let c = choose(["SCRAM-SHA-1", "PLAIN"], None, &password_tls(&[])).unwrap();
        assert_eq!(c.cbind, Gs2CbindFlag::NotSupported);
    }

    #[test]
    fn ejabberd_23_01_tls_unique_only() {
        // -PLUS offered, but only with tls-unique: a tls-exporter client
        // cannot bind, and must say `n` (not `y`: the server supports
        // channel binding and would fail the exchange).
        let offer = ["PLAIN", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"];
        for bindings in [None, types(&[TlsUnique])] {
            let c = choose(offer, bindings, &password_tls(&EXPORTER_ONLY)).unwrap();
            assert_eq!(c.mechanism, ScramSha1);
            assert_eq!(c.cbind, Gs2CbindFlag::NotSupported);
        }
        // Unless the adapter, on TLS 1.3, assumes tls-exporter without a list.
        let caps = Capabilities {
            assume_tls_exporter: true,
            ..password_tls(&EXPORTER_ONLY)
        };
        let c = choose(offer, None, &caps).unwrap();
        assert_eq!(c.mechanism, ScramSha1Plus);
        assert_eq!(c.cbind, Gs2CbindFlag::Bound(EXPORTER_ONLY[0]));
        // An explicit list wins over the assumption.
        let c = choose(offer, types(&[TlsUnique]), &caps).unwrap();
        assert_eq!(c.mechanism, ScramSha1);
    }

    #[test]
    fn prosody_13_and_ejabberd_24_12() {
        let prosody_13 = [
            "SCRAM-SHA-1",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256",
            "SCRAM-SHA-256-PLUS",
            "PLAIN",
        ];
        let ejabberd_24_12 = [
            "SCRAM-SHA-512-PLUS",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-512",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "PLAIN",
            "X-OAUTH2",
        ];
        let list = types(&[TlsServerEndPoint, TlsExporter]);
        let caps = password_tls(&BOTH);

        let c = choose(prosody_13, list, &caps).unwrap();
        assert_eq!(c.mechanism, strongest(&[ScramSha256Plus, ScramSha1Plus]));
        assert_eq!(c.cbind, Gs2CbindFlag::Bound(BOTH[0]));
        let c = choose(ejabberd_24_12, list, &caps).unwrap();
        assert_eq!(
            c.mechanism,
            strongest(&[ScramSha512Plus, ScramSha256Plus, ScramSha1Plus])
        );
        assert_eq!(c.cbind, Gs2CbindFlag::Bound(BOTH[0]));

        // The client's order of bindings decides among the server's types.
        let c = choose(
            ejabberd_24_12,
            types(&[TlsServerEndPoint]),
            &password_tls(&BOTH),
        )
        .unwrap();
        assert_eq!(c.cbind, Gs2CbindFlag::Bound(BOTH[1]));

        // Without channel-binding data: the strongest plain SCRAM, flag `n`
        // because the server offered -PLUS.
        let c = choose(ejabberd_24_12, list, &password_tls(&[])).unwrap();
        assert_eq!(
            c.mechanism,
            strongest(&[ScramSha512, ScramSha256, ScramSha1])
        );
        assert_eq!(c.cbind, Gs2CbindFlag::NotSupported);
    }

    #[test]
    fn unknown_plus_name_forbids_y() {
        let c = choose(
            ["SCRAM-SHA3-512-PLUS", "SCRAM-SHA-1"],
            None,
            &password_tls(&BOTH),
        )
        .unwrap();
        assert_eq!(c.mechanism, ScramSha1);
        assert_eq!(c.cbind, Gs2CbindFlag::NotSupported);
    }

    #[test]
    fn plain_needs_tls() {
        let no_tls = Capabilities {
            password: true,
            ..Capabilities::default()
        };
        let e = choose(["PLAIN"], None, &no_tls).unwrap_err();
        assert_eq!(
            e,
            SaslError::NoAcceptableMechanism {
                reason: "PLAIN is offered, but refused without TLS"
            }
        );
        assert_eq!(e.fault(), super::super::Fault::Server);
        // SCRAM is fine without TLS.
        let c = choose(["PLAIN", "SCRAM-SHA-1"], None, &no_tls).unwrap();
        assert_eq!(c.mechanism, ScramSha1);
        // Explicitly allowed.
        let c = choose(
            ["PLAIN"],
            None,
            &Capabilities {
                plain_without_tls: true,
                ..no_tls
            },
        )
        .unwrap();
        assert_eq!(c.mechanism, Plain);
        // Over TLS, PLAIN is the last resort among the password mechanisms.
        let c = choose(["PLAIN", "EXTERNAL"], None, &password_tls(&[])).unwrap();
        assert_eq!(c.mechanism, Plain);
        // Channel-binding data on a stream without TLS is ignored.
        let c = choose(
            ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"],
            types(&[TlsExporter]),
            &Capabilities {
                channel_bindings: &BOTH,
                ..no_tls
            },
        )
        .unwrap();
        assert_eq!(c.mechanism, ScramSha1);
        assert_eq!(c.cbind, Gs2CbindFlag::NotSupported);
    }

    #[test]
    fn external_and_anonymous_only_when_configured() {
        let offer = ["EXTERNAL", "ANONYMOUS"];
        let e = choose(offer, None, &password_tls(&BOTH)).unwrap_err();
        assert!(matches!(e, SaslError::NoAcceptableMechanism { .. }));
        let c = choose(
            offer,
            None,
            &Capabilities {
                tls: true,
                external: true,
                anonymous: true,
                ..Capabilities::default()
            },
        )
        .unwrap();
        assert_eq!(c.mechanism, External);
        let c = choose(
            offer,
            None,
            &Capabilities {
                anonymous: true,
                ..Capabilities::default()
            },
        )
        .unwrap();
        assert_eq!(c.mechanism, Anonymous);
        // With a password, SCRAM wins over EXTERNAL.
        let c = choose(
            ["EXTERNAL", "SCRAM-SHA-1"],
            None,
            &Capabilities {
                external: true,
                ..password_tls(&[])
            },
        )
        .unwrap();
        assert_eq!(c.mechanism, ScramSha1);
    }

    #[test]
    fn allow_list() {
        let offer = [
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "PLAIN",
        ];
        let forced = [ScramSha1];
        let c = choose(
            offer,
            types(&[TlsExporter]),
            &Capabilities {
                allowed: Some(&forced),
                ..password_tls(&BOTH)
            },
        )
        .unwrap();
        assert_eq!(c.mechanism, ScramSha1);
        // The server does support -PLUS, so `n`.
        assert_eq!(c.cbind, Gs2CbindFlag::NotSupported);

        let forced = [Plain];
        let e = choose(
            offer,
            None,
            &Capabilities {
                allowed: Some(&forced),
                password: true,
                ..Capabilities::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, SaslError::NoAcceptableMechanism { .. }));

        let none: [Mechanism; 0] = [];
        assert!(choose(
            offer,
            None,
            &Capabilities {
                allowed: Some(&none),
                ..password_tls(&[])
            }
        )
        .is_err());
    }

    #[test]
    fn nothing_known() {
        assert_eq!(
            choose(["CRAM-MD5", "X-OAUTH2"], None, &password_tls(&[])),
            Err(SaslError::NoAcceptableMechanism {
                reason: "the server offered no mechanism this client knows"
            })
        );
        assert!(choose([], None, &password_tls(&[])).is_err());
        // Credentials missing.
        assert!(choose(["SCRAM-SHA-1", "PLAIN"], None, &Capabilities::default()).is_err());
    }

    #[test]
    fn feature_flags() {
        let offer = [
            "SCRAM-SHA-512-PLUS",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-512",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
        ];
        let with_cb = choose(offer, types(&[TlsExporter]), &password_tls(&BOTH))
            .unwrap()
            .mechanism;
        let without_cb = choose(offer, None, &password_tls(&[])).unwrap().mechanism;
        if cfg!(feature = "scram-sha512") {
            assert_eq!((with_cb, without_cb), (ScramSha512Plus, ScramSha512));
        } else if cfg!(feature = "scram-sha256") {
            assert_eq!((with_cb, without_cb), (ScramSha256Plus, ScramSha256));
        } else {
            assert_eq!((with_cb, without_cb), (ScramSha1Plus, ScramSha1));
        }
        assert_eq!(ScramSha512.is_supported(), cfg!(feature = "scram-sha512"));
        assert_eq!(
            ScramSha256Plus.is_supported(),
            cfg!(feature = "scram-sha256")
        );
        assert!(ScramSha1.is_supported() && Plain.is_supported());
        assert_eq!(
            DigestMd5.is_supported(),
            cfg!(feature = "legacy-digest-md5")
        );
        // A server offering only what is not built in.
        let only_512 = choose(["SCRAM-SHA-512"], None, &password_tls(&[]));
        assert_eq!(only_512.is_ok(), cfg!(feature = "scram-sha512"));
    }

    #[test]
    fn digest_md5_is_legacy() {
        // Old servers (Openfire before 4.x, ejabberd 2.x) offer these.
        let offer = ["DIGEST-MD5", "PLAIN", "SCRAM-SHA-1"];
        let caps = password_tls(&[]);
        // Never over SCRAM, with or without the feature.
        assert_eq!(choose(offer, None, &caps).unwrap().mechanism, ScramSha1);
        let c = choose(["PLAIN", "DIGEST-MD5"], None, &caps).unwrap();
        let only = choose(["DIGEST-MD5"], None, &caps);
        if cfg!(feature = "legacy-digest-md5") {
            // Over PLAIN, and without TLS too: no password in the clear.
            assert_eq!(c.mechanism, DigestMd5);
            assert_eq!(c.cbind, Gs2CbindFlag::NotSupported);
            assert_eq!(only.unwrap().mechanism, DigestMd5);
            let no_tls = Capabilities {
                password: true,
                ..Capabilities::default()
            };
            let c = choose(["PLAIN", "DIGEST-MD5"], None, &no_tls).unwrap();
            assert_eq!(c.mechanism, DigestMd5);
        } else {
            assert_eq!(c.mechanism, Plain);
            assert_eq!(
                only,
                Err(SaslError::NoAcceptableMechanism {
                    reason: "no offered mechanism is built in, allowed, and has its credentials configured"
                })
            );
        }
        // A password is needed.
        assert!(choose(["DIGEST-MD5"], None, &Capabilities::default()).is_err());
        // The allow-list can keep it out.
        let forced = [Plain];
        let c = choose(
            ["DIGEST-MD5", "PLAIN"],
            None,
            &Capabilities {
                allowed: Some(&forced),
                ..caps
            },
        )
        .unwrap();
        assert_eq!(c.mechanism, Plain);
    }
}
