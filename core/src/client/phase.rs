//! State that only one phase of the session needs, kept in one place so
//! the phases share its memory: the channel-binding data between TLS and
//! SASL, the SASL exchange itself, then what the exchange left for the
//! caller. No two of them are ever needed at once: the channel-binding
//! data is copied into the SCRAM state when SASL starts (RFC 5802 §6), and
//! SASL runs once per stream. The bound JID is not here: a resumed session
//! (XEP-0198 §5) keeps it while a new connection runs TLS and SASL again.

use super::negotiation::SaslState;
use crate::sasl::scram::SaltedPassword;
use heapless::Vec;

/// Longest channel-binding data kept (a SHA-512 certificate hash).
pub(crate) const MAX_CB_LEN: usize = 64;

#[derive(Debug)]
// Kept inline on purpose: there is no allocator to box the SCRAM state.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PhaseState<'c> {
    /// Nothing held.
    Empty,
    /// TLS is up: the channel-binding data the adapter extracted, for
    /// SCRAM-*-PLUS.
    Tls {
        /// `tls-exporter` (RFC 9266), or empty.
        exporter: Vec<u8, MAX_CB_LEN, u8>,
        /// `tls-server-end-point` (RFC 5929 §4), or empty.
        endpoint: Vec<u8, MAX_CB_LEN, u8>,
    },
    /// The SASL exchange (RFC 6120 §6.4).
    Sasl(SaslState<'c>),
    /// SASL succeeded (RFC 6120 §6.4.6).
    Authenticated {
        /// The SCRAM salted password computed in this login, for the
        /// caller to cache.
        salted: Option<SaltedPassword>,
    },
}

impl PhaseState<'_> {
    /// The channel-binding data: `tls-exporter`, `tls-server-end-point`
    /// (empty when the adapter gave none or SASL has started).
    pub(crate) fn channel_binding(&self) -> (&[u8], &[u8]) {
        match self {
            PhaseState::Tls { exporter, endpoint } => (exporter, endpoint),
            _ => (&[], &[]),
        }
    }

    /// Keeps the channel-binding data the adapter gave; data longer than
    /// [`MAX_CB_LEN`] is none (the -PLUS mechanisms are then not chosen).
    pub(crate) fn set_channel_binding(&mut self, exporter: Option<&[u8]>, endpoint: Option<&[u8]>) {
        let keep = |d: Option<&[u8]>| d.and_then(|d| Vec::from_slice(d).ok()).unwrap_or_default();
        *self = PhaseState::Tls {
            exporter: keep(exporter),
            endpoint: keep(endpoint),
        };
    }

    /// The SCRAM salted password computed in this login, once
    /// authenticated.
    pub(crate) fn salted_password(&self) -> Option<&SaltedPassword> {
        match self {
            PhaseState::Authenticated { salted } => salted.as_ref(),
            _ => None,
        }
    }
}
