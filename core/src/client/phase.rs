//! State that only one phase of the session needs, kept in one place so
//! the phases share its memory: the channel-binding data between TLS and
//! SASL, the SASL exchange itself, and, once the stream ended with
//! `see-other-host`, where to reconnect. No two of them are ever needed at
//! once: the channel-binding data is copied into the SCRAM state when SASL
//! starts (RFC 5802 §6), SASL runs once, and a stream error ends the
//! session (RFC 6120 §4.9).

use super::negotiation::SaslState;
use super::MAX_HOST_LEN;
use heapless::{String, Vec};

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
    /// The host a `see-other-host` stream error named (RFC 6120
    /// §4.9.3.19).
    SeeOtherHost(String<MAX_HOST_LEN, u8>),
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

    /// Where to reconnect, after `see-other-host`.
    pub(crate) fn see_other_host(&self) -> Option<&str> {
        match self {
            PhaseState::SeeOtherHost(h) => Some(h),
            _ => None,
        }
    }
}
