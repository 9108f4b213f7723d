//! The bound session, receiving side: the client's stanzas checked,
//! answered when they are for the server itself (ping, legacy session),
//! and otherwise handed up for routing with `from` stamped (RFC 6120
//! §8.1.2.1).

use super::negotiation::MAX_ID_LEN;
use super::{Accounts, Server, ServerError, Step};
use crate::error::{BufferTooSmall, StreamErrorCondition};
use crate::jid::Jid;
use crate::sasl::Out;
use crate::stanza::{ErrorCondition, Stanza};
use crate::stream::ns;
use crate::time::Instant;
use crate::xml::{Element, Writer};

/// XEP-0199 ping.
const NS_PING: &str = "urn:xmpp:ping";

/// A stanza from the bound client, for the adapter to route: to another
/// session, to the account's own handlers (roster, presence), or back
/// with [`Server::bounce`].
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    element: Element<'a>,
    from: Jid<'a>,
    to: Option<Jid<'a>>,
}

impl<'a> Inbound<'a> {
    /// The stanza as received.
    pub fn element(&self) -> Element<'a> {
        self.element
    }

    /// The stanza, typed.
    pub fn stanza(&self) -> Option<Stanza<'a>> {
        Stanza::from_element(self.element)
    }

    /// The sender: the session's full JID, whatever the client wrote.
    pub fn from(&self) -> Jid<'a> {
        self.from
    }

    /// The addressee, checked as a JID; `None` when the stanza has no
    /// `to` (RFC 6120 §8.1.1.1: it is for the account itself, or, for an
    /// iq, the server).
    pub fn to(&self) -> Option<Jid<'a>> {
        self.to
    }

    /// The stanza's `type` attribute, if written without references.
    pub fn kind(&self) -> Option<&'a str> {
        self.element.attr("type").and_then(|t| t.as_str())
    }

    /// The stanza's `id`, if written without references.
    pub fn id(&self) -> Option<&'a str> {
        self.element.attr("id").and_then(|t| t.as_str())
    }

    /// How long [`write_stamped`](Self::write_stamped) output is.
    pub fn stamped_len(&self) -> usize {
        match self.write_stamped(&mut []) {
            Ok(n) => n,
            Err(e) => e.needed,
        }
    }

    /// Writes the stanza with `from` set to the sender's full JID (RFC
    /// 6120 §8.1.2.1), any `from` the client wrote replaced, the rest
    /// byte for byte: what the recipient's session
    /// [delivers](Server::deliver).
    pub fn write_stamped(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let raw = self.element.as_bytes();
        let qname = self.element.qname();
        let tag_end = start_tag_end(raw);
        let empty = tag_end >= 2 && raw.get(tag_end - 2) == Some(&b'/');
        let mut w = Out::new(out);
        w.put(b"<");
        w.put(qname.as_bytes());
        w.put(b" from='");
        let mut jid = [0u8; 6 * super::MAX_BOUND_JID_LEN];
        let n = crate::xml::escape(self.from.as_str(), true, &mut jid).unwrap_or(0);
        w.put(&jid[..n]);
        w.put(b"'");
        for a in self.element.attrs() {
            if a.name == "from" {
                continue;
            }
            // The value as received, still escaped; it holds at most one
            // kind of quote, so the other one delimits it.
            let q: &[u8] = if a.value.raw().contains('\'') {
                b"\""
            } else {
                b"'"
            };
            w.put(b" ");
            w.put(a.name.as_bytes());
            w.put(b"=");
            w.put(q);
            w.put(a.value.raw().as_bytes());
            w.put(q);
        }
        w.put(if empty { b"/>" } else { b">" });
        w.put(raw.get(tag_end..).unwrap_or_default());
        w.finish()
    }
}

/// Where the start tag of `raw` ends (after its `>`), quotes respected.
fn start_tag_end(raw: &[u8]) -> usize {
    let mut quote = None;
    for (i, &b) in raw.iter().enumerate() {
        match (quote, b) {
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), c) if c == q => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    raw.len()
}

impl<R, A> Server<'_, '_, R, A>
where
    R: rand_core::RngCore + rand_core::CryptoRng,
    A: Accounts,
{
    /// A top-level element once bound.
    pub(super) fn on_stanza(&mut self, _now: Instant) -> Step {
        let Some(el) = self.parser.current() else {
            return Step::Continue;
        };
        if el.namespace() == ns::SM {
            return self.on_sm(true);
        }
        if el.namespace() != "jabber:client" || !matches!(el.name(), "message" | "presence" | "iq")
        {
            // RFC 6120 §4.9.3.24.
            self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
            return Step::Continue;
        }
        // XEP-0198 §4: every stanza received counts as handled.
        if let Some(c) = &mut self.sm {
            c.inbound = c.inbound.wrapping_add(1);
        }
        let Some(bound) = self.bound.as_ref() else {
            self.stream_error(StreamErrorCondition::NotAuthorized);
            return Step::Continue;
        };
        // RFC 6120 §8.1.2.1: a `from` the client writes must be its own
        // address (the full JID, or the bare one); anything else is
        // invalid-from (§4.9.3.9).
        if let Some(from) = el.attr("from") {
            let own = from.eq_str(bound.as_str()) || from.eq_str(bound.bare().as_str());
            if !own {
                self.stream_error(StreamErrorCondition::InvalidFrom);
                return Step::Continue;
            }
        }
        let is_error = el.attr("type").is_some_and(|t| t == "error");
        // RFC 6120 §8.2.3: an iq needs an id and a known type; without an
        // id there is nothing to answer, so the stream ends.
        if el.name() == "iq" {
            let Some(id_len) = el.attr("id").map(|i| i.decoded_len()) else {
                self.stream_error(StreamErrorCondition::InvalidXml);
                return Step::Continue;
            };
            if id_len > MAX_ID_LEN {
                self.stream_error(StreamErrorCondition::PolicyViolation);
                return Step::Continue;
            }
            let kind = el.attr("type");
            let request = kind.is_some_and(|t| t == "get" || t == "set");
            if !request && !kind.is_some_and(|t| t == "result" || t == "error") {
                let _ = self.bounce_current(ErrorCondition::BadRequest);
                return Step::Continue;
            }
            if request && self.for_server(&el) {
                return self.server_iq();
            }
        }
        // RFC 6120 §8.3.3.8: an address that is not a JID.
        let to_ok = el
            .attr("to")
            .is_none_or(|t| t.as_str().is_some_and(|t| Jid::parse(t).is_ok()));
        if !to_ok {
            if !is_error {
                let _ = self.bounce_current(ErrorCondition::JidMalformed);
            }
            return Step::Continue;
        }
        Step::Stanza
    }

    /// Whether an iq request is addressed to the server itself: no `to`,
    /// or the domain.
    fn for_server(&self, el: &Element<'_>) -> bool {
        el.attr("to").is_none_or(|t| {
            t.as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(self.config.domain))
        })
    }

    /// Iq requests the core answers itself: XEP-0199 ping, the legacy
    /// session (RFC 3921 §3, a no-op now); a second bind is not allowed.
    /// Others (roster, disco...) go up to the adapter.
    fn server_iq(&mut self) -> Step {
        let Some(el) = self.parser.current() else {
            return Step::Continue;
        };
        let payload = el.children().next();
        let is = |name, ns| payload.is_some_and(|p| p.is(name, ns));
        let answer = if is("ping", NS_PING) || is("session", ns::SESSION) {
            Some(None)
        } else if is("bind", ns::BIND) {
            // RFC 6120 §7.7.2.3 (not-allowed): one resource per stream.
            Some(Some(ErrorCondition::NotAllowed))
        } else {
            None
        };
        let Some(error) = answer else {
            return Step::Stanza;
        };
        let mut id_buf = [0u8; MAX_ID_LEN];
        let id_len = el
            .attr("id")
            .and_then(|i| i.decode_into(&mut id_buf).ok())
            .map_or(0, str::len);
        let id = core::str::from_utf8(&id_buf[..id_len]).unwrap_or_default();
        // RFC 6120 §8.2.3: the answer comes from whom the request was to.
        let from = el.attr("to").is_some().then_some(self.config.domain);
        match error {
            Some(condition) => self.iq_error(id, condition),
            None => {
                let r = self.queue(|b| {
                    let mut w = Writer::new(b);
                    w.start_element("iq")?;
                    w.attr("type", "result")?;
                    if let Some(f) = from {
                        w.attr("from", f)?;
                    }
                    w.attr("id", id)?;
                    w.end_element("iq")?;
                    w.finish()
                });
                match r {
                    Ok(()) => self.sm_sent(),
                    Err(_) => self.stream_error(StreamErrorCondition::ResourceConstraint),
                }
            }
        }
        Step::Continue
    }

    /// The stanza handed up in the last event, with its `from` stamped.
    pub(super) fn inbound(&self) -> Option<Inbound<'_>> {
        let element = self.parser.current()?;
        let from = self.bound.as_ref()?.as_jid();
        let to = element
            .attr("to")
            .and_then(|t| t.as_str())
            .and_then(|t| Jid::parse(t).ok());
        Some(Inbound { element, from, to })
    }

    /// The error answer to the current stanza (RFC 6120 §8.3.1): same
    /// element name and id, `from` its addressee, to the sender.
    pub(super) fn bounce_current(&mut self, condition: ErrorCondition) -> Result<(), ServerError> {
        let Some(el) = self.parser.current() else {
            return Err(ServerError::InvalidInput("no stanza to answer"));
        };
        if el.attr("type").is_some_and(|t| t == "error") {
            // RFC 6120 §8.3.1: never an error for an error.
            return Err(ServerError::InvalidInput("an error stanza is not answered"));
        }
        let name: &'static str = match el.name() {
            "message" => "message",
            "presence" => "presence",
            "iq" => "iq",
            _ => return Err(ServerError::InvalidInput("not a stanza")),
        };
        let mut id_buf = [0u8; MAX_ID_LEN];
        let id = el.attr("id").and_then(|i| i.decode_into(&mut id_buf).ok());
        let mut to_buf = [0u8; super::MAX_BOUND_JID_LEN];
        let addressee = el.attr("to").and_then(|t| t.decode_into(&mut to_buf).ok());
        let sender = self.bound.as_ref().map(|b| b.as_str());
        let capacity = self.tx.capacity();
        self.tx
            .push(|b| {
                let mut w = Writer::new(b);
                w.start_element(name)?;
                w.attr("type", "error")?;
                if let Some(a) = addressee {
                    w.attr("from", a)?;
                }
                if let Some(s) = sender {
                    w.attr("to", s)?;
                }
                if let Some(id) = id {
                    w.attr("id", id)?;
                }
                crate::stanza::error::write_error(&mut w, condition)?;
                w.end_element(name)?;
                w.finish()
            })
            .map_err(|e| super::queue_error(e, capacity))?;
        self.sm_sent();
        Ok(())
    }
}
