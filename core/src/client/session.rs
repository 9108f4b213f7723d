//! What happens to stanzas once the stream is negotiated (RFC 6120 §8,
//! RFC 6121): events for the application, answers to iq requests the
//! client tracks, and the iq requests the core answers itself.

use super::{iq::Purpose, Client, ClientError, Event, IqId, State, Step, NS_PING};
use crate::jid::Jid;
use crate::stanza::{ErrorCondition, Iq, IqType, Message, Presence, Stanza};
use crate::time::Instant;
use crate::xml::Element;

/// What the current element becomes for the caller.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    Message,
    Presence,
    IqRequest,
    IqResult(IqId),
    IqError(IqId),
    #[cfg(feature = "roster")]
    RosterPush,
}

/// The event for the current element `el`.
pub(super) fn element_event<'a>(el: Element<'a>, kind: Kind) -> Event<'a> {
    match kind {
        Kind::Message => Event::Message(Message::new(el)),
        Kind::Presence => Event::Presence(Presence::new(el)),
        Kind::IqRequest => Event::IqRequest(Iq::new(el)),
        Kind::IqResult(id) => Event::IqResult {
            id,
            payload: Iq::new(el).payload_element(),
        },
        Kind::IqError(id) => Event::IqError {
            id,
            error: Iq::new(el).error(),
        },
        #[cfg(feature = "roster")]
        Kind::RosterPush => Event::RosterPush(Iq::new(el).payload_element().unwrap_or(el)),
    }
}

/// Longest `from` or `id` the core copies to answer a request itself.
const MAX_REPLY_FIELD: usize = 512;

impl<'b, 'c, R: rand_core::RngCore + rand_core::CryptoRng> Client<'b, 'c, R> {
    /// A stanza (or stray nonza) after authentication.
    // Out of line: its copies of `id` and `from` stay off the stack of
    // the negotiation (`Client::on_element`).
    #[inline(never)]
    pub(super) fn on_stanza(&mut self, now: Instant) -> Result<Step, ClientError> {
        let Some(el) = self.parser.current() else {
            return Ok(Step::Continue);
        };
        let Some(stanza) = Stanza::from_element(el) else {
            // A nonza this client did not ask for (RFC 6120 §4.9.3.24 lets
            // a receiver refuse it; ignoring it is kinder and safe).
            return Ok(Step::Continue);
        };
        // XEP-0198 §4: every stanza received counts as handled.
        self.sm.count_inbound();
        let iq = match stanza {
            Stanza::Message(_) if self.state == State::Ready || self.state == State::Closing => {
                return Ok(Step::Element(Kind::Message));
            }
            Stanza::Presence(_) if self.state == State::Ready || self.state == State::Closing => {
                return Ok(Step::Element(Kind::Presence));
            }
            Stanza::Iq(iq) => iq,
            // RFC 6120 §7.1: no stanzas before binding; some servers send
            // them anyway, and a client loses nothing by ignoring them.
            _ => return Ok(Step::Continue),
        };
        let mut id_buf = [0u8; MAX_REPLY_FIELD];
        let mut from_buf = [0u8; MAX_REPLY_FIELD];
        let id = iq.id().and_then(|t| t.decode_into(&mut id_buf).ok());
        let from = iq.from().and_then(|t| t.decode_into(&mut from_buf).ok());
        let kind = iq.iq_type();
        match kind {
            Some(IqType::Result | IqType::Error) => {
                let is_error = kind == Some(IqType::Error);
                let Some(id) = id else {
                    return Ok(Step::Continue);
                };
                let from_jid = match from {
                    Some(f) => match Jid::parse(f) {
                        Ok(j) => Some(j),
                        Err(_) => return Ok(Step::Continue),
                    },
                    None => None,
                };
                let own = super::bound_jid(&self.tx).unwrap_or(self.config.jid);
                // RFC 6120 §8.1.2.1: only the addressee may answer; an
                // answer with an unknown id or from anyone else is dropped.
                let Some(pending) = self.iqs.take_answer(&self.id_prefix, id, from_jid, own) else {
                    return Ok(Step::Continue);
                };
                match pending.purpose {
                    Purpose::Application => {
                        let id = super::iq::format_id(&self.id_prefix, pending.serial);
                        Ok(Step::Element(match is_error {
                            true => Kind::IqError(id),
                            false => Kind::IqResult(id),
                        }))
                    }
                    // Any answer, even an error, proves the link alive (and
                    // taking it from the table ends the ping).
                    Purpose::Keepalive => Ok(Step::Continue),
                    Purpose::Bind => self.on_bind_answer(now),
                    Purpose::Session if is_error => {
                        let cond = iq
                            .error()
                            .map(|e| e.condition())
                            .unwrap_or(ErrorCondition::UndefinedCondition);
                        Err(self.fail(ClientError::BindFailed(cond)))
                    }
                    Purpose::Session => {
                        self.become_ready(now);
                        Ok(Step::Continue)
                    }
                }
            }
            Some(kind @ (IqType::Get | IqType::Set)) => {
                if self.state != State::Ready {
                    return Ok(Step::Continue);
                }
                let Some(id) = id else {
                    return Ok(Step::Continue);
                };
                // The condition of the error answer, when there is one.
                let condition = 'answer: {
                    // RFC 6120 §8.2.3 rule 6: exactly one payload.
                    let single = {
                        let mut payloads = iq.payloads();
                        match (payloads.next(), payloads.next()) {
                            (Some(payload), None) => Some(payload),
                            _ => None,
                        }
                    };
                    let Some(payload) = single else {
                        break 'answer ErrorCondition::BadRequest;
                    };
                    let (name, ns) = (payload.name(), payload.namespace());
                    if kind == IqType::Get && name == "ping" && ns == NS_PING {
                        // XEP-0199 §4.1: answer with an empty result.
                        self.queue_iq("result", from, id, &mut |_| Ok(()))?;
                        return Ok(Step::Continue);
                    }
                    #[cfg(feature = "disco-info")]
                    if kind == IqType::Get && name == "query" && ns == super::NS_DISCO_INFO {
                        let identity = self.config.identity;
                        let features = self.config.features;
                        self.queue_iq("result", from, id, &mut |w| {
                            // XEP-0030 §3.1: identities and features.
                            w.start_element("query")?;
                            w.ns(super::NS_DISCO_INFO)?;
                            w.start_element("identity")?;
                            w.attr("category", identity.category)?;
                            w.attr("type", identity.kind)?;
                            w.attr("name", identity.name)?;
                            w.end_element("identity")?;
                            for f in [super::NS_DISCO_INFO, NS_PING]
                                .iter()
                                .chain(features.iter())
                            {
                                w.start_element("feature")?;
                                w.attr("var", f)?;
                                w.end_element("feature")?;
                            }
                            w.end_element("query")
                        })?;
                        return Ok(Step::Continue);
                    }
                    // Without the feature no roster is requested, so the
                    // server owes no push (RFC 6121 §2.1.6: pushes go to
                    // interested resources): one is answered as any
                    // unhandled request.
                    #[cfg(feature = "roster")]
                    if kind == IqType::Set && name == "query" && ns == super::NS_ROSTER {
                        // RFC 6121 §2.1.6: a push is valid only from the
                        // account itself (no from, or the bare JID); from
                        // anyone else it is a spoofing attempt.
                        let own_bare = self.config.jid.bare();
                        let legit = match from {
                            None => true,
                            Some(f) => Jid::parse(f).is_ok_and(|j| j == own_bare),
                        };
                        if !legit {
                            break 'answer ErrorCondition::ServiceUnavailable;
                        }
                        self.queue_iq("result", from, id, &mut |_| Ok(()))?;
                        return Ok(Step::Element(Kind::RosterPush));
                    }
                    if self.config.iq_namespaces.contains(&ns) {
                        return Ok(Step::Element(Kind::IqRequest));
                    }
                    // RFC 6120 §8.4: a request nobody handles is answered
                    // service-unavailable.
                    ErrorCondition::ServiceUnavailable
                };
                self.queue_iq_error(from, id, condition)?;
                Ok(Step::Continue)
            }
            None => {
                // RFC 6120 §8.2.3: no valid type is a bad request, unless it
                // might be a response (never answer those).
                if let Some(id) = id {
                    if !self.iqs.contains(&self.id_prefix, id) && self.state == State::Ready {
                        self.queue_iq_error(from, id, ErrorCondition::BadRequest)?;
                    }
                }
                Ok(Step::Continue)
            }
        }
    }
}
