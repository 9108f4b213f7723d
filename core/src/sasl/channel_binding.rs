//! Channel binding (RFC 5056): the data that ties a SCRAM-*-PLUS exchange to
//! the TLS session under it, the types of it a server supports (XEP-0440),
//! and the GS2 channel-binding flag of RFC 5802 §7.

use core::fmt;

/// The largest channel-binding data accepted, in bytes: `tls-exporter` is
/// 32 bytes (RFC 9266 §2) and `tls-server-end-point` a certificate hash of
/// at most 64 (SHA-512, RFC 5929 §4.1).
pub const MAX_CHANNEL_BINDING_LEN: usize = 64;

/// A channel-binding type named in the IANA registry of RFC 5056, as a
/// server lists it in XEP-0440 `<sasl-channel-binding/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChannelBindingType {
    /// `tls-exporter` (RFC 9266): keying material exported from the TLS
    /// session; the default for TLS 1.3.
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929 §4): a hash of the server's
    /// certificate; works with any TLS version, but binds only the
    /// certificate, not the session.
    TlsServerEndPoint,
    /// `tls-unique` (RFC 5929 §3): the first Finished message. Only defined
    /// up to TLS 1.2 and unsafe without extended master secret; this crate
    /// recognises the name, but a client cannot bind with it.
    TlsUnique,
}

impl ChannelBindingType {
    /// Every type, in the order a client prefers them.
    pub const ALL: [ChannelBindingType; 3] =
        [Self::TlsExporter, Self::TlsServerEndPoint, Self::TlsUnique];

    /// The registered name, e.g. `"tls-exporter"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TlsExporter => "tls-exporter",
            Self::TlsServerEndPoint => "tls-server-end-point",
            Self::TlsUnique => "tls-unique",
        }
    }

    /// The type registered as `name`; names are case-sensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    const fn bit(self) -> u8 {
        match self {
            Self::TlsExporter => 1,
            Self::TlsServerEndPoint => 2,
            Self::TlsUnique => 4,
        }
    }
}

impl fmt::Display for ChannelBindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`ChannelBindingType`]s: what a server supports, from its
/// XEP-0440 `<sasl-channel-binding/>` list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelBindingTypes(u8);

impl ChannelBindingTypes {
    /// No type.
    pub const EMPTY: Self = Self(0);

    /// This set with `t` added.
    #[must_use]
    pub const fn with(self, t: ChannelBindingType) -> Self {
        Self(self.0 | t.bit())
    }

    /// Adds `t`.
    pub fn insert(&mut self, t: ChannelBindingType) {
        self.0 |= t.bit();
    }

    /// Whether `t` is in the set.
    pub const fn contains(self, t: ChannelBindingType) -> bool {
        self.0 & t.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set of the known names among `names` (the `type` attributes of
    /// XEP-0440 `<channel-binding/>` elements); unknown names are skipped.
    pub fn from_names<'n>(names: impl IntoIterator<Item = &'n str>) -> Self {
        names
            .into_iter()
            .filter_map(ChannelBindingType::from_name)
            .fold(Self::EMPTY, Self::with)
    }
}

/// Channel-binding data of one type, as the TLS adapter obtained it after
/// the handshake (RFC 5929, RFC 9266).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChannelBinding<'a> {
    /// `tls-exporter` (RFC 9266 §2): 32 bytes exported with the label
    /// `EXPORTER-Channel-Binding` and an empty context.
    TlsExporter(&'a [u8]),
    /// `tls-server-end-point` (RFC 5929 §4.1): the hash of the server's
    /// certificate, with the certificate's signature hash (SHA-256 when that
    /// is MD5 or SHA-1).
    TlsServerEndPoint(&'a [u8]),
}

impl<'a> ChannelBinding<'a> {
    /// The type of this data.
    pub const fn kind(&self) -> ChannelBindingType {
        match self {
            Self::TlsExporter(_) => ChannelBindingType::TlsExporter,
            Self::TlsServerEndPoint(_) => ChannelBindingType::TlsServerEndPoint,
        }
    }

    /// The registered name of the type, as it goes in the GS2 header
    /// (`p=tls-exporter`).
    pub const fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The data itself.
    pub const fn data(&self) -> &'a [u8] {
        match self {
            Self::TlsExporter(d) | Self::TlsServerEndPoint(d) => d,
        }
    }
}

/// The GS2 channel-binding flag that opens a SCRAM client-first-message
/// (RFC 5802 §7 `gs2-cbind-flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Gs2CbindFlag<'a> {
    /// `n`: this client cannot bind to the channel (no TLS, no data, or
    /// none of a type the server supports).
    #[default]
    NotSupported,
    /// `y`: this client could bind, but the server offered no -PLUS
    /// mechanism. RFC 5802 §6: a server that does support channel binding
    /// then fails the exchange, which detects a downgrade by an attacker who
    /// stripped the -PLUS names from the offer.
    NotOffered,
    /// `p=<cb-name>`: a -PLUS mechanism, bound with this data.
    Bound(ChannelBinding<'a>),
}
