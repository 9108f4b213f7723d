//! Stream management on the receiving side (XEP-0198), without
//! resumption: `<enable/>` after binding, the count of stanzas handled
//! each way, `<r/>` answered with `<a h=/>`, the client's `<a/>` checked.
//! Resumption is not offered: `<enabled/>` carries no `resume`, and
//! `<resume/>` fails with `item-not-found` (XEP-0198 §5).

use super::{Accounts, Server, Step};
use crate::error::StreamErrorCondition;
use crate::stream::ns;
use crate::xml::Writer;
use core::fmt::Write as _;

/// The counters of XEP-0198 §4, once enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmCounters {
    /// Stanzas received from the client (the `h` this side reports).
    pub inbound: u32,
    /// Stanzas sent to the client.
    pub outbound: u32,
    /// The last `h` the client acknowledged.
    pub acked: u32,
}

impl<R, A> Server<'_, '_, R, A>
where
    R: rand_core::RngCore + rand_core::CryptoRng,
    A: Accounts,
{
    /// An element in the `urn:xmpp:sm:3` namespace.
    pub(super) fn on_sm(&mut self, bound: bool) -> Step {
        let Some(el) = self.parser.current() else {
            return Step::Continue;
        };
        let name = el.name();
        let mut h_buf = [0u8; 12];
        let h = el
            .attr("h")
            .and_then(|h| h.decode_into(&mut h_buf).ok())
            .and_then(|h| h.parse::<u32>().ok());
        match (name, self.sm) {
            // XEP-0198 §3: after binding, once.
            ("enable", None) if bound && self.config.stream_management => {
                self.sm = Some(SmCounters::default());
                self.sm_unit("enabled", None);
            }
            ("enable", _) => self.sm_failed("unexpected-request"),
            // XEP-0198 §5: no resumption here.
            ("resume", _) => self.sm_failed("item-not-found"),
            // XEP-0198 §4: the count of stanzas handled so far.
            ("r", Some(c)) => self.sm_unit("a", Some(c.inbound)),
            ("a", Some(mut c)) => match h {
                // XEP-0198 §4: never more than was sent (modulo 2^32).
                Some(h) if c.outbound.wrapping_sub(h) <= u32::MAX / 2 => {
                    c.acked = h;
                    self.sm = Some(c);
                }
                _ => self.stream_error(StreamErrorCondition::UndefinedCondition),
            },
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
        Step::Continue
    }

    /// Counts one stanza sent to the client.
    pub(super) fn sm_sent(&mut self) {
        if let Some(c) = &mut self.sm {
            c.outbound = c.outbound.wrapping_add(1);
        }
    }

    /// `<name xmlns='urn:xmpp:sm:3' [h='n']/>`.
    fn sm_unit(&mut self, name: &'static str, h: Option<u32>) {
        let mut count = heapless::String::<10>::new();
        if let Some(h) = h {
            let _ = write!(count, "{h}");
        }
        let sent = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element(name)?;
            w.ns(ns::SM)?;
            if h.is_some() {
                w.attr("h", &count)?;
            }
            w.end_element(name)?;
            w.finish()
        });
        if sent.is_err() {
            self.stream_error(StreamErrorCondition::ResourceConstraint);
        }
    }

    /// `<failed xmlns='urn:xmpp:sm:3'>` with a stanza error condition.
    fn sm_failed(&mut self, condition: &'static str) {
        let sent = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("failed")?;
            w.ns(ns::SM)?;
            w.start_element(condition)?;
            w.ns(crate::stanza::NS_STANZAS)?;
            w.end_element(condition)?;
            w.end_element("failed")?;
            w.finish()
        });
        if sent.is_err() {
            self.stream_error(StreamErrorCondition::ResourceConstraint);
        }
    }
}
