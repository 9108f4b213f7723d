//! Stream management on the receiving side (XEP-0198): `<enable/>` after
//! binding, the count of stanzas handled each way, `<r/>` answered with
//! `<a h=/>`, the client's `<a/>` checked, and resumption (§5): a
//! resumption id from the caller's RNG, and `<resume/>` on a new stream
//! answered from the detached state the adapter keeps (the core holds one
//! session; [`Accounts::resume`] finds the others).

use super::{Accounts, Queued, Server, ServerError, State, Step, MAX_BOUND_JID_LEN};
use crate::error::StreamErrorCondition;
use crate::jid::JidBuf;
use crate::stream::ns;
use crate::xml::Writer;
use core::fmt::Write as _;

/// Longest resumption id (XEP-0198 §5 `id`/`previd`) this side makes or
/// accepts.
pub const MAX_RESUMPTION_ID_LEN: usize = 32;

/// Length of the resumption ids this side makes: 20 characters of a
/// 32-letter alphabet, 100 bits from the caller's RNG, not guessable.
const RESUMPTION_ID_LEN: usize = 20;

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

/// What the adapter kept of a session whose connection dropped, for
/// [`Accounts::resume`]: read from [`Server::jid`] and
/// [`Server::stream_management`] when the connection was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    /// The session's full JID.
    pub jid: JidBuf<MAX_BOUND_JID_LEN>,
    /// Stanzas received from the client ([`SmCounters::inbound`]).
    pub inbound: u32,
    /// Stanzas sent to the client ([`SmCounters::outbound`]): the client's
    /// `h` may not be above it.
    pub outbound: u32,
}

impl<R, A> Server<'_, '_, R, A>
where
    R: rand_core::RngCore + rand_core::CryptoRng,
    A: Accounts,
{
    /// Asks the client for an acknowledgement (XEP-0198 §4 `<r/>`), e.g.
    /// every so many stanzas, or before the adapter trims its copy of
    /// what was delivered.
    pub fn request_ack(&mut self) -> Result<(), ServerError> {
        self.ready()?;
        if self.sm.is_none() {
            return Err(ServerError::InvalidInput(
                "stream management is not enabled",
            ));
        }
        self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("r")?;
            w.ns(ns::SM)?;
            w.end_element("r")?;
            w.finish()
        })
    }

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
        let wants_resume = el.attr("resume").is_some_and(|r| r == "true" || r == "1");
        let mut previd_buf = [0u8; MAX_RESUMPTION_ID_LEN];
        let previd_len = el
            .attr("previd")
            .and_then(|p| p.decode_into(&mut previd_buf).ok())
            .map(str::len);
        match (name, self.sm) {
            // XEP-0198 §3: after binding, once.
            ("enable", None) if bound && self.config.stream_management => {
                self.sm = Some(SmCounters::default());
                let resumable = wants_resume && self.config.resumption.is_some();
                if resumable {
                    self.sm_id = self.random_token(RESUMPTION_ID_LEN);
                }
                self.sm_enabled(resumable);
            }
            ("enable", _) => self.sm_failed("unexpected-request"),
            // XEP-0198 §5: instead of binding, on a new stream.
            ("resume", _) if bound || !self.config.stream_management => {
                self.sm_failed("unexpected-request")
            }
            ("resume", _) => match (previd_len, h) {
                (Some(n), Some(h)) => {
                    let previd = previd_buf;
                    let previd = core::str::from_utf8(&previd[..n]).unwrap_or_default();
                    self.on_resume(previd, h);
                }
                _ => self.sm_failed("bad-request"),
            },
            // XEP-0198 §4: the count of stanzas handled so far.
            ("r", Some(c)) => self.sm_unit("a", Some(c.inbound)),
            ("a", Some(mut c)) => match h {
                Some(h) if !too_high(h, c.outbound) => {
                    c.acked = h;
                    self.sm = Some(c);
                }
                Some(h) => self.handled_count_too_high(h, c.outbound),
                None => self.stream_error(StreamErrorCondition::UndefinedCondition),
            },
            _ => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
        Step::Continue
    }

    /// XEP-0198 §5: `<resume previd='' h=''/>` after authentication.
    fn on_resume(&mut self, previd: &str, h: u32) {
        let username = self.username.clone();
        let detached = match self.config.resumption {
            Some(_) => self.accounts.resume(&username, previd),
            None => None,
        };
        // Only a session of this very account (the adapter's answer is
        // checked, too).
        let Some(d) = detached.filter(|d| d.jid.local() == Some(username.as_str())) else {
            self.sm_failed("item-not-found");
            return;
        };
        if too_high(h, d.outbound) {
            self.handled_count_too_high(h, d.outbound);
            return;
        }
        // XEP-0198 §5: what the client did not handle goes out again and
        // is counted again, from its `h` on.
        let resend = d.outbound.wrapping_sub(h);
        let mut count = heapless::String::<10>::new();
        let _ = write!(count, "{}", d.inbound);
        let sent = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("resumed")?;
            w.ns(ns::SM)?;
            w.attr("previd", previd)?;
            w.attr("h", &count)?;
            w.end_element("resumed")?;
            w.finish()
        });
        if sent.is_err() {
            self.stream_error(StreamErrorCondition::ResourceConstraint);
            return;
        }
        self.sm_id.clear();
        let _ = self.sm_id.push_str(previd);
        self.sm = Some(SmCounters {
            inbound: d.inbound,
            outbound: h,
            acked: h,
        });
        self.bound = Some(d.jid);
        self.state = State::Ready;
        let _ = self.queued.push_back(Queued::Resumed(resend));
    }

    /// Counts one stanza sent to the client.
    pub(super) fn sm_sent(&mut self) {
        if let Some(c) = &mut self.sm {
            c.outbound = c.outbound.wrapping_add(1);
        }
    }

    /// `<enabled/>`, with the resumption id and `max` when resumable.
    fn sm_enabled(&mut self, resumable: bool) {
        let mut max = heapless::String::<10>::new();
        if let Some(d) = self.config.resumption {
            let _ = write!(max, "{}", d.as_secs().min(u64::from(u32::MAX)));
        }
        let id = self.sm_id.clone();
        let sent = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("enabled")?;
            w.ns(ns::SM)?;
            if resumable {
                w.attr("resume", "true")?;
                w.attr("id", &id)?;
                w.attr("max", &max)?;
            }
            w.end_element("enabled")?;
            w.finish()
        });
        if sent.is_err() {
            self.stream_error(StreamErrorCondition::ResourceConstraint);
        }
    }

    /// XEP-0198 §4: the client acknowledged more than was sent; the stream
    /// ends with `undefined-condition` and `<handled-count-too-high/>`.
    fn handled_count_too_high(&mut self, h: u32, sent: u32) {
        let (mut h_text, mut sent_text) =
            (heapless::String::<10>::new(), heapless::String::<10>::new());
        let _ = write!(h_text, "{h}");
        let _ = write!(sent_text, "{sent}");
        if !self.header_sent {
            let _ = self.send_header(None);
        }
        let condition = StreamErrorCondition::UndefinedCondition;
        let _ = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("stream:error")?;
            w.start_element(condition.as_str())?;
            w.ns(ns::STREAMS)?;
            w.end_element(condition.as_str())?;
            w.start_element("handled-count-too-high")?;
            w.ns(ns::SM)?;
            w.attr("h", &h_text)?;
            w.attr("send-count", &sent_text)?;
            w.end_element("handled-count-too-high")?;
            w.end_element("stream:error")?;
            w.finish()
        });
        let _ = self.queue(crate::xml::StreamHeaderBuilder::write_close);
        self.finish(super::CloseReason::ErrorSent(condition));
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

    /// `<failed xmlns='urn:xmpp:sm:3'>` with a stanza error condition
    /// (no `h`: there is no session whose count it would be).
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

/// XEP-0198 §4: an `h` beyond what was sent (counters wrap at 2^32, so
/// "beyond" is within half the range ahead).
fn too_high(h: u32, sent: u32) -> bool {
    sent.wrapping_sub(h) > u32::MAX / 2
}
