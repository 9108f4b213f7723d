//! Outgoing iq requests awaiting their response (RFC 6120 §8.2.3): each
//! get or set is tracked until its result or error arrives from the entity
//! it was sent to, or its deadline passes.

use crate::jid::{Jid, JidBuf};
use crate::time::Instant;
use heapless::{String, Vec};

/// The most iq requests that may be outstanding at once.
pub const MAX_PENDING_IQS: usize = 4;
/// Longest address an iq may be sent to: its answer must be checked
/// against it, so it is kept (RFC 6120 §8.1.2.1).
pub const MAX_TRACKED_JID_LEN: usize = 96;
/// Longest iq id this crate generates.
pub const MAX_ID_LEN: usize = 24;

/// The id of an iq this client sent, as returned by the command that sent
/// it and carried by the event that answers it.
pub type IqId = String<MAX_ID_LEN>;

/// One outstanding request.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub id: IqId,
    /// Who must answer: the `to` of the request, or `None` for the
    /// account's server (RFC 6120 §8.2.3: an iq without `to` is answered
    /// by the server, from the bare JID, the domain, or no `from` at all).
    pub to: Option<JidBuf<MAX_TRACKED_JID_LEN>>,
    pub deadline: Instant,
    /// What the session does with the answer.
    pub purpose: Purpose,
}

/// Why an iq was sent: the session's own requests are handled inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Default)]
pub(crate) struct PendingIqs {
    items: Vec<Pending, MAX_PENDING_IQS>,
}

impl PendingIqs {
    pub(crate) fn is_full(&self) -> bool {
        self.items.is_full()
    }

    /// Adds a request; the caller checked [`is_full`](Self::is_full).
    pub(crate) fn insert(&mut self, p: Pending) {
        let _ = self.items.push(p);
    }

    /// Takes the request `id` if `from` may answer it (RFC 6120 §8.1.2.1:
    /// a response from anyone else is not an answer). `own` is the
    /// account's bare JID and `domain` its server.
    pub(crate) fn take_answer(
        &mut self,
        id: &str,
        from: Option<Jid<'_>>,
        own: Jid<'_>,
    ) -> Option<Pending> {
        let i = self.items.iter().position(|p| {
            p.id.as_str() == id
                && match (&p.to, from) {
                    // Sent to the server: answered without from, or from the
                    // bare JID or the domain.
                    (None, None) => true,
                    (None, Some(f)) => f == own.bare() || f == own.domain_jid() || f == own,
                    // Sent to someone: answered by them (a bare JID request
                    // may be answered by the server on its behalf, without
                    // a resource, which compares equal).
                    (Some(to), Some(f)) => {
                        *to == f || (to.as_jid().is_bare() && to.as_jid() == f.bare())
                    }
                    (Some(to), None) => to.as_jid() == own.bare(),
                }
        })?;
        Some(self.items.swap_remove(i))
    }

    /// Whether `id` is outstanding at all (from anyone).
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.items.iter().any(|p| p.id.as_str() == id)
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.items.iter().map(|p| p.deadline).min()
    }

    /// Takes one request whose deadline has passed.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Pending> {
        let i = self.items.iter().position(|p| p.deadline <= now)?;
        Some(self.items.swap_remove(i))
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}
