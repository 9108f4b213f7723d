//! The SASL failure conditions of RFC 6120 §6.5: the child of the
//! `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>` element a server
//! sends when an exchange fails.

use core::fmt;

/// A defined SASL failure condition of RFC 6120 §6.5, in section order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SaslFailure {
    /// §6.5.1: the server acknowledges the client's `<abort/>`.
    Aborted,
    /// §6.5.2: the account is temporarily disabled.
    AccountDisabled,
    /// §6.5.3: the credentials have expired.
    CredentialsExpired,
    /// §6.5.4: the mechanism needs encryption (TLS) first.
    EncryptionRequired,
    /// §6.5.5: the base64 data was badly encoded.
    IncorrectEncoding,
    /// §6.5.6: the authzid is malformed or not allowed for this user.
    InvalidAuthzid,
    /// §6.5.7: the mechanism is not supported, or the `mechanism` attribute
    /// is missing.
    InvalidMechanism,
    /// §6.5.8: the request is malformed (e.g. an empty initial response
    /// where one is needed, or too long).
    MalformedRequest,
    /// §6.5.9: the mechanism is weaker than this account allows.
    MechanismTooWeak,
    /// §6.5.10: the credentials are wrong (also for unknown users).
    NotAuthorized,
    /// §6.5.11: a temporary error on the server; the client may retry.
    TemporaryAuthFailure,
}

impl SaslFailure {
    /// Every condition, in RFC 6120 §6.5 order.
    pub const ALL: [SaslFailure; 11] = [
        Self::Aborted,
        Self::AccountDisabled,
        Self::CredentialsExpired,
        Self::EncryptionRequired,
        Self::IncorrectEncoding,
        Self::InvalidAuthzid,
        Self::InvalidMechanism,
        Self::MalformedRequest,
        Self::MechanismTooWeak,
        Self::NotAuthorized,
        Self::TemporaryAuthFailure,
    ];

    /// The element name used on the wire, e.g. `"not-authorized"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aborted => "aborted",
            Self::AccountDisabled => "account-disabled",
            Self::CredentialsExpired => "credentials-expired",
            Self::EncryptionRequired => "encryption-required",
            Self::IncorrectEncoding => "incorrect-encoding",
            Self::InvalidAuthzid => "invalid-authzid",
            Self::InvalidMechanism => "invalid-mechanism",
            Self::MalformedRequest => "malformed-request",
            Self::MechanismTooWeak => "mechanism-too-weak",
            Self::NotAuthorized => "not-authorized",
            Self::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }

    /// The condition named `name` on the wire, if it is a defined one.
    ///
    /// `None` for a name RFC 6120 §6.5 does not define; nothing marks such
    /// a failure as temporary, so a caller treats it as final.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// Whether retrying the same credentials later may succeed: only
    /// `temporary-auth-failure` says so (RFC 6120 §6.5.11).
    pub const fn is_temporary(self) -> bool {
        matches!(self, Self::TemporaryAuthFailure)
    }
}

impl fmt::Display for SaslFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in SaslFailure::ALL {
            assert_eq!(SaslFailure::from_name(c.as_str()), Some(c));
        }
        assert_eq!(
            SaslFailure::from_name("temporary-auth-failure"),
            Some(SaslFailure::TemporaryAuthFailure)
        );
        assert_eq!(SaslFailure::from_name("Not-Authorized"), None);
        assert_eq!(SaslFailure::from_name(""), None);
        assert!(SaslFailure::TemporaryAuthFailure.is_temporary());
        assert!(!SaslFailure::NotAuthorized.is_temporary());
    }
}
