//! Stream error conditions (RFC 6120 §4.9.3) and the XML layer's error type.
//!
//! Every refusal of remote input maps to the condition the receiving entity
//! puts on the wire, so an adapter can answer `<stream:error/>` without
//! translating anything.

use core::fmt;

/// The defined stream error conditions of RFC 6120 §4.9.3, in section order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StreamErrorCondition {
    /// §4.9.3.1: XML that cannot be processed.
    BadFormat,
    /// §4.9.3.2: an unsupported namespace prefix, or none where one is needed.
    BadNamespacePrefix,
    /// §4.9.3.3: a new stream conflicts with an existing one.
    Conflict,
    /// §4.9.3.4: no traffic for too long.
    ConnectionTimeout,
    /// §4.9.3.5: the `to` domain is no longer served.
    HostGone,
    /// §4.9.3.6: the `to` domain is not served.
    HostUnknown,
    /// §4.9.3.7: a stanza lacks a required `to` or `from`.
    ImproperAddressing,
    /// §4.9.3.8: the server is misconfigured or failed internally.
    InternalServerError,
    /// §4.9.3.9: the `from` address is not the authorized one.
    InvalidFrom,
    /// §4.9.3.10: wrong stream namespace or unsupported content namespace.
    InvalidNamespace,
    /// §4.9.3.11: XML that fails validation.
    InvalidXml,
    /// §4.9.3.12: data before authentication where it is not allowed.
    NotAuthorized,
    /// §4.9.3.13: XML that is not namespace-well-formed.
    NotWellFormed,
    /// §4.9.3.14: a local policy, such as a size limit, was violated.
    PolicyViolation,
    /// §4.9.3.15: a remote connection needed for the stream failed.
    RemoteConnectionFailed,
    /// §4.9.3.16: the stream must be reset (e.g. new security context).
    Reset,
    /// §4.9.3.17: the server lacks resources to serve the stream.
    ResourceConstraint,
    /// §4.9.3.18: XML features that RFC 6120 §11.1 forbids.
    RestrictedXml,
    /// §4.9.3.19: connect to another host, named in the error's text.
    SeeOtherHost,
    /// §4.9.3.20: the server is shutting down.
    SystemShutdown,
    /// §4.9.3.21: none of the other conditions applies.
    UndefinedCondition,
    /// §4.9.3.22: an unsupported encoding, or broken UTF-8.
    UnsupportedEncoding,
    /// §4.9.3.23: a mandatory-to-negotiate feature is not supported.
    UnsupportedFeature,
    /// §4.9.3.24: a first-level child that is not supported.
    UnsupportedStanzaType,
    /// §4.9.3.25: the stream `version` is not supported.
    UnsupportedVersion,
}

impl StreamErrorCondition {
    /// Every condition, in RFC 6120 §4.9.3 order.
    pub const ALL: [StreamErrorCondition; 25] = [
        Self::BadFormat,
        Self::BadNamespacePrefix,
        Self::Conflict,
        Self::ConnectionTimeout,
        Self::HostGone,
        Self::HostUnknown,
        Self::ImproperAddressing,
        Self::InternalServerError,
        Self::InvalidFrom,
        Self::InvalidNamespace,
        Self::InvalidXml,
        Self::NotAuthorized,
        Self::NotWellFormed,
        Self::PolicyViolation,
        Self::RemoteConnectionFailed,
        Self::Reset,
        Self::ResourceConstraint,
        Self::RestrictedXml,
        Self::SeeOtherHost,
        Self::SystemShutdown,
        Self::UndefinedCondition,
        Self::UnsupportedEncoding,
        Self::UnsupportedFeature,
        Self::UnsupportedStanzaType,
        Self::UnsupportedVersion,
    ];

    /// The element name used on the wire, e.g. `"not-well-formed"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadFormat => "bad-format",
            Self::BadNamespacePrefix => "bad-namespace-prefix",
            Self::Conflict => "conflict",
            Self::ConnectionTimeout => "connection-timeout",
            Self::HostGone => "host-gone",
            Self::HostUnknown => "host-unknown",
            Self::ImproperAddressing => "improper-addressing",
            Self::InternalServerError => "internal-server-error",
            Self::InvalidFrom => "invalid-from",
            Self::InvalidNamespace => "invalid-namespace",
            Self::InvalidXml => "invalid-xml",
            Self::NotAuthorized => "not-authorized",
            Self::NotWellFormed => "not-well-formed",
            Self::PolicyViolation => "policy-violation",
            Self::RemoteConnectionFailed => "remote-connection-failed",
            Self::Reset => "reset",
            Self::ResourceConstraint => "resource-constraint",
            Self::RestrictedXml => "restricted-xml",
            Self::SeeOtherHost => "see-other-host",
            Self::SystemShutdown => "system-shutdown",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnsupportedEncoding => "unsupported-encoding",
            Self::UnsupportedFeature => "unsupported-feature",
            Self::UnsupportedStanzaType => "unsupported-stanza-type",
            Self::UnsupportedVersion => "unsupported-version",
        }
    }

    /// The condition named `name` on the wire, if it is a defined one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for StreamErrorCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the XML layer refused the remote byte stream.
///
/// `condition` is what goes on the wire; `reason` says, for logs and tests,
/// which rule was broken; `offset` counts bytes from the start of the stream
/// (after the last [restart](crate::xml::StreamParser::restart)) to where the
/// offending construct begins, or to where the limit was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct XmlError {
    /// The RFC 6120 §4.9.3 condition this error becomes on the wire.
    pub condition: StreamErrorCondition,
    /// A short, fixed description of the broken rule.
    pub reason: &'static str,
    /// Stream offset of the offending construct.
    pub offset: u64,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (at byte {})",
            self.condition, self.reason, self.offset
        )
    }
}

impl core::error::Error for XmlError {}

/// A caller-provided output buffer was too small; the output is not usable.
///
/// `needed` is the total size the output requires, so the caller can retry
/// with a buffer of at least that many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall {
    /// Bytes the whole output needs.
    pub needed: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "output buffer too small: {} bytes needed", self.needed)
    }
}

impl core::error::Error for BufferTooSmall {}
