//! Stream negotiation, receiving side, top to bottom in the order of RFC
//! 6120: answer the stream header (§4.7), list the features the stream's
//! state allows (§4.3), STARTTLS (§5.4), SASL (§6.4), restart, bind (§7).
//!
//! Every transition of the negotiation is in this file.

use super::{
    Accounts, BindPolicy, CloseReason, Queued, Sasl, Server, State, Step, TlsMode,
    MAX_BOUND_JID_LEN,
};
use crate::error::StreamErrorCondition;
use crate::jid::JidBuf;
use crate::sasl::scram_server::{self, ScramServer, SERVER_NONCE_LEN};
use crate::sasl::{Mechanism, SaslFailure};
use crate::stanza::{ErrorCondition, IqType};
use crate::stream::{ns, StreamError};
use crate::time::Instant;
use crate::xml::{self, ContentNamespace, StreamHeaderBuilder, Writer};

/// Largest SASL payload accepted, decoded (a SCRAM client-final-message
/// with a SHA-512 proof is under 200 bytes).
const MAX_SASL_DATA: usize = 512;

/// Longest `id` attribute echoed in answers.
pub(super) const MAX_ID_LEN: usize = 128;

/// How many made-up resources are tried before giving up with `conflict`.
const RESOURCE_ATTEMPTS: usize = 4;

impl<R, A> Server<'_, '_, R, A>
where
    R: rand_core::RngCore + rand_core::CryptoRng,
    A: Accounts,
{
    /// Reads one event of the client's stream and acts on it.
    pub(super) fn step(&mut self, now: Instant) -> Step {
        let event = match self.parser.next() {
            Ok(Some(e)) => e,
            Ok(None) => return Step::Wait,
            Err(e) => {
                // RFC 6120 §4.9.1.1 / §11: the condition the parser found
                // (not-well-formed, restricted-xml, policy-violation for a
                // stanza larger than the buffer...).
                self.stream_error(e.condition);
                return Step::Continue;
            }
        };
        match event {
            xml::Event::StreamOpen(header) => {
                // RFC 6120 §4.7.5: only XMPP 1.0 streams have features.
                let version_ok = header.version_number().is_some_and(|(major, _)| major >= 1);
                let ns_ok = header.content_namespace() == ContentNamespace::Client;
                // RFC 6120 §4.7.2: `to` names the service; another domain
                // is host-unknown (§4.9.3.6). A missing `to` means ours.
                let to_ok = header.to().is_none_or(|t| {
                    t.as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(self.config.domain))
                });
                // The client's `from`, echoed as our `to` (§4.7.2).
                let mut from_buf = [0u8; MAX_BOUND_JID_LEN];
                let from_len = header
                    .from()
                    .and_then(|f| f.decode_into(&mut from_buf).ok())
                    .filter(|f| crate::jid::Jid::parse(f).is_ok())
                    .map(str::len);
                let from = from_len.and_then(|n| core::str::from_utf8(&from_buf[..n]).ok());
                if self.state != State::AwaitHeader {
                    self.stream_error(StreamErrorCondition::InvalidXml);
                } else if !version_ok {
                    self.stream_error(StreamErrorCondition::UnsupportedVersion);
                } else if !ns_ok {
                    self.stream_error(StreamErrorCondition::InvalidNamespace);
                } else if !to_ok {
                    self.stream_error(StreamErrorCondition::HostUnknown);
                } else if self.send_header(from).is_ok() && self.send_features().is_ok() {
                    self.state = State::Negotiating;
                } else {
                    self.stream_error(StreamErrorCondition::ResourceConstraint);
                }
                Step::Continue
            }
            xml::Event::StreamClose => {
                // RFC 6120 §4.4: close ours in turn (unless it is out).
                if self.state != State::Closing {
                    let _ = self.queue(StreamHeaderBuilder::write_close);
                }
                self.finish(CloseReason::Polite);
                Step::Continue
            }
            xml::Event::Element(_) => self.on_element(now),
        }
    }

    /// RFC 6120 §4.7: our response stream header, with a fresh id.
    pub(super) fn send_header(&mut self, to: Option<&str>) -> Result<(), super::ServerError> {
        self.stream_id = self.random_token(16);
        let id = self.stream_id.clone();
        let mut header = StreamHeaderBuilder::new(ContentNamespace::Client.as_str())
            .from(self.config.domain)
            .id(&id)
            .lang(self.config.lang);
        if let Some(to) = to {
            header = header.to(to);
        }
        self.header_sent = true;
        self.queue(|b| header.write_to(b))
    }

    /// The features the stream's state allows (RFC 6120 §4.3.2).
    fn send_features(&mut self) -> Result<(), super::ServerError> {
        let starttls =
            !self.tls && matches!(self.config.tls, TlsMode::Required | TlsMode::Optional);
        // RFC 6120 §5.3.1: with TLS mandatory-to-negotiate, it is the only
        // feature until it is done.
        let sasl = !(self.authenticated || starttls && self.config.tls == TlsMode::Required);
        let required = self.config.tls == TlsMode::Required;
        let bind = self.authenticated;
        let session = bind && self.config.legacy_session;
        let sm = bind && self.config.stream_management;
        let mut offered = [Mechanism::Plain; 8];
        let mut n = 0;
        for &m in self.config.mechanisms {
            if self.offers(m) && n < offered.len() {
                offered[n] = m;
                n += 1;
            }
        }
        let offered = &offered[..n];
        // XEP-0440: which channel binding the -PLUS mechanisms use.
        let cb_list = sasl && offered.iter().any(|m| m.is_plus());
        self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("stream:features")?;
            if starttls {
                w.start_element("starttls")?;
                w.ns(ns::TLS)?;
                if required {
                    w.start_element("required")?;
                    w.end_element("required")?;
                }
                w.end_element("starttls")?;
            }
            if sasl {
                w.start_element("mechanisms")?;
                w.ns(ns::SASL)?;
                for m in offered {
                    w.start_element("mechanism")?;
                    w.text(m.name())?;
                    w.end_element("mechanism")?;
                }
                w.end_element("mechanisms")?;
            }
            if cb_list {
                w.start_element("sasl-channel-binding")?;
                w.ns(ns::SASL_CB)?;
                w.start_element("channel-binding")?;
                w.attr("type", "tls-exporter")?;
                w.end_element("channel-binding")?;
                w.end_element("sasl-channel-binding")?;
            }
            if bind {
                w.start_element("bind")?;
                w.ns(ns::BIND)?;
                w.end_element("bind")?;
            }
            if sm {
                // XEP-0198 §2: offered with bind, enabled after it.
                w.start_element("sm")?;
                w.ns(ns::SM)?;
                w.end_element("sm")?;
            }
            if session {
                // RFC 6121 Appendix E: `<optional/>` tells new clients to
                // skip it.
                w.start_element("session")?;
                w.ns(ns::SESSION)?;
                w.start_element("optional")?;
                w.end_element("optional")?;
                w.end_element("session")?;
            }
            w.end_element("stream:features")?;
            w.finish()
        })
    }

    /// Whether mechanism `m` can be offered on this stream.
    fn offers(&self, m: Mechanism) -> bool {
        match m {
            // RFC 6120 §13.9.4: PLAIN only under TLS.
            Mechanism::Plain => self.tls || self.config.allow_plain_without_tls,
            // RFC 5802 §6: -PLUS needs the channel-binding data.
            m if m.is_plus() => m.is_scram() && m.is_supported() && !self.cb_exporter.is_empty(),
            m => m.is_scram() && m.is_supported(),
        }
    }

    fn on_element(&mut self, now: Instant) -> Step {
        let Some(el) = self.parser.current() else {
            return Step::Continue;
        };
        // RFC 6120 §4.9: the client ended the stream with an error.
        if let Some(e) = StreamError::from_element(el) {
            let condition = e.condition();
            let _ = self.queue(StreamHeaderBuilder::write_close);
            self.finish(CloseReason::ErrorReceived(condition));
            return Step::Continue;
        }
        let (name, namespace) = (el.name(), el.namespace());
        match (self.state, namespace) {
            (State::Ready, _) => self.on_stanza(now),
            (State::Negotiating, ns::TLS) if name == "starttls" => self.on_starttls(),
            (State::Negotiating, ns::SASL) if name == "auth" => self.on_auth(),
            (State::Sasl, ns::SASL) if name == "response" => self.on_response(),
            (State::Sasl, ns::SASL) if name == "abort" => {
                // RFC 6120 §6.4.4: acknowledged with `<aborted/>`.
                self.sasl_failure(SaslFailure::Aborted);
                Step::Continue
            }
            // XEP-0198 §3: only once bound.
            (State::Negotiating, ns::SM) if self.authenticated => self.on_sm(false),
            (State::Negotiating, "jabber:client") if name == "iq" && self.authenticated => {
                self.on_bind()
            }
            (_, "jabber:client") if matches!(name, "message" | "presence" | "iq") => {
                // RFC 6120 §4.9.3.12: stanzas before authentication (and,
                // §7.1, before binding) are not-authorized.
                self.stream_error(StreamErrorCondition::NotAuthorized);
                Step::Continue
            }
            _ => {
                // RFC 6120 §4.9.3.24: a first-level element this state
                // does not support.
                self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
                Step::Continue
            }
        }
    }

    /// RFC 6120 §5.4.2.3: `<proceed/>`, then TLS.
    fn on_starttls(&mut self) -> Step {
        if self.tls || !matches!(self.config.tls, TlsMode::Required | TlsMode::Optional) {
            self.stream_error(StreamErrorCondition::UnsupportedStanzaType);
            return Step::Continue;
        }
        // RFC 6120 §5.4.3.3: anything the client sent after `<starttls/>`
        // would be plaintext injected ahead of the handshake; §5.4.2.2:
        // the answer to failure is `<failure/>` and a closed stream.
        // Whitespace is allowed (some clients end each element with a
        // line break): reading on consumes it.
        let clean = matches!(self.parser.next(), Ok(None)) && self.parser.buffered() == 0;
        if !clean {
            let _ = self.queue(|b| {
                let mut w = Writer::new(b);
                w.start_element("failure")?;
                w.ns(ns::TLS)?;
                w.end_element("failure")?;
                w.finish()
            });
            let _ = self.queue(StreamHeaderBuilder::write_close);
            self.finish(CloseReason::Polite);
            return Step::Continue;
        }
        let proceed = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("proceed")?;
            w.ns(ns::TLS)?;
            w.end_element("proceed")?;
            w.finish()
        });
        match proceed {
            Ok(()) => self.state = State::StartTls,
            Err(_) => self.stream_error(StreamErrorCondition::ResourceConstraint),
        }
        Step::Continue
    }

    /// RFC 6120 §6.4.2: `<auth mechanism='...'>` with the initial response.
    fn on_auth(&mut self) -> Step {
        let Some(el) = self.parser.current() else {
            return Step::Continue;
        };
        let mut name_buf = [0u8; 32];
        let mechanism = el
            .attr("mechanism")
            .and_then(|m| m.decode_into(&mut name_buf).ok())
            .and_then(Mechanism::from_name)
            .filter(|&m| self.config.mechanisms.contains(&m) && m.is_supported());
        let Some(mechanism) = mechanism else {
            // RFC 6120 §6.5.7.
            self.sasl_failure(SaslFailure::InvalidMechanism);
            return Step::Continue;
        };
        if !self.offers(mechanism) {
            // RFC 6120 §6.5.4: PLAIN (or anything) before TLS when TLS is
            // required; -PLUS is never offered.
            let condition = match mechanism {
                Mechanism::Plain if !self.tls => SaslFailure::EncryptionRequired,
                _ => SaslFailure::InvalidMechanism,
            };
            self.sasl_failure(condition);
            return Step::Continue;
        }
        if self.config.tls == TlsMode::Required && !self.tls {
            self.sasl_failure(SaslFailure::EncryptionRequired);
            return Step::Continue;
        }
        let mut data = [0u8; MAX_SASL_DATA];
        let payload = match sasl_payload(&el, &mut data) {
            Ok(p) => p,
            Err(f) => {
                self.sasl_failure(f);
                return Step::Continue;
            }
        };
        match payload {
            // RFC 6120 §6.4.2: no initial response: an empty challenge
            // asks for it.
            None => {
                if self.send_sasl("challenge", None).is_err() {
                    self.stream_error(StreamErrorCondition::ResourceConstraint);
                } else {
                    self.sasl = Sasl::AwaitInitial(mechanism);
                    self.state = State::Sasl;
                }
            }
            Some(n) => {
                let data = data;
                self.initial_response(mechanism, &data[..n]);
            }
        }
        Step::Continue
    }

    /// The initial response of `mechanism` (in `<auth/>` or the first
    /// `<response/>`).
    fn initial_response(&mut self, mechanism: Mechanism, data: &[u8]) {
        if mechanism == Mechanism::Plain {
            let verdict = self.verify_plain(data);
            match verdict {
                Ok(()) => self.sasl_success(mechanism, None),
                Err(f) => self.sasl_failure(f),
            }
            return;
        }
        let Some(hash) = mechanism.scram_hash() else {
            self.sasl_failure(SaslFailure::InvalidMechanism);
            return;
        };
        let first = match scram_server::parse_client_first(data) {
            Ok(f) => f,
            Err(f) => {
                self.sasl_failure(f);
                return;
            }
        };
        // RFC 6120 §6.3.8: an authzid other than the account itself is
        // not allowed here.
        if first
            .authzid
            .is_some_and(|a| !self.authzid_is_self(a, first.username.as_str()))
        {
            self.sasl_failure(SaslFailure::InvalidAuthzid);
            return;
        }
        let keys = self.accounts.scram_keys(&first.username, hash);
        let username = first.username.clone();
        let mut random = [0u8; SERVER_NONCE_LEN];
        self.rng.fill_bytes(&mut random);
        let plus_offered = self
            .config
            .mechanisms
            .iter()
            .any(|&m| m.is_plus() && self.offers(m));
        let mut scram = ScramServer::new(hash).with_channel_binding(
            mechanism.is_plus(),
            plus_offered,
            &self.cb_exporter,
        );
        let mut out = [0u8; MAX_SASL_DATA];
        match scram.server_first(data, keys, &random, &mut out) {
            Ok(n) => {
                if self.send_sasl("challenge", Some(&out[..n])).is_err() {
                    self.stream_error(StreamErrorCondition::ResourceConstraint);
                    return;
                }
                self.username = username;
                self.sasl = Sasl::Scram(mechanism, scram);
                self.state = State::Sasl;
            }
            Err(f) => self.sasl_failure(f),
        }
    }

    /// RFC 4616: PLAIN, verified against the stored SCRAM keys.
    fn verify_plain(&mut self, data: &[u8]) -> Result<(), SaslFailure> {
        let (authzid, user, password) = scram_server::parse_plain(data)?;
        if authzid.is_some_and(|a| !self.authzid_is_self(a.as_bytes(), user)) {
            return Err(SaslFailure::InvalidAuthzid);
        }
        let keys = [
            crate::sasl::scram::HashFunction::Sha256,
            crate::sasl::scram::HashFunction::Sha1,
            crate::sasl::scram::HashFunction::Sha512,
        ]
        .into_iter()
        .filter(|h| h.is_supported())
        .find_map(|h| self.accounts.scram_keys(user, h));
        match keys {
            Some(k) if k.verify_password(password) => {
                self.username.clear();
                self.username
                    .push_str(user)
                    .map_err(|_| SaslFailure::NotAuthorized)
            }
            _ => Err(SaslFailure::NotAuthorized),
        }
    }

    fn authzid_is_self(&self, authzid: &[u8], user: &str) -> bool {
        let Ok(a) = core::str::from_utf8(authzid) else {
            return false;
        };
        a == user
            || a.split_once('@')
                .is_some_and(|(l, d)| l == user && d.eq_ignore_ascii_case(self.config.domain))
    }

    /// RFC 6120 §6.4.3: the client's answer to a challenge.
    fn on_response(&mut self) -> Step {
        let Some(el) = self.parser.current() else {
            return Step::Continue;
        };
        let mut data = [0u8; MAX_SASL_DATA];
        let n = match sasl_payload(&el, &mut data) {
            Ok(p) => p.unwrap_or(0),
            Err(f) => {
                self.sasl_failure(f);
                return Step::Continue;
            }
        };
        let data = &data[..n];
        match core::mem::replace(&mut self.sasl, Sasl::None) {
            Sasl::AwaitInitial(m) => self.initial_response(m, data),
            Sasl::Scram(m, mut scram) => {
                let mut out = [0u8; MAX_SASL_DATA];
                match scram.client_final(data, &mut out) {
                    Ok(len) => self.sasl_success(m, Some(&out[..len])),
                    Err(f) => self.sasl_failure(f),
                }
            }
            Sasl::None => self.stream_error(StreamErrorCondition::UnsupportedStanzaType),
        }
        Step::Continue
    }

    /// RFC 6120 §6.4.6: `<success/>` (with SCRAM's server-final-message as
    /// additional data), then the stream restarts.
    fn sasl_success(&mut self, mechanism: Mechanism, additional: Option<&[u8]>) {
        if self.send_sasl("success", additional).is_err() {
            self.stream_error(StreamErrorCondition::ResourceConstraint);
            return;
        }
        self.sasl = Sasl::None;
        self.authenticated = true;
        self.parser.restart();
        self.header_sent = false;
        self.state = State::AwaitHeader;
        let _ = self.queued.push_back(Queued::Authenticated(mechanism));
    }

    /// RFC 6120 §6.4.5: `<failure/>` with the condition; the client may
    /// try again, a configurable number of times.
    fn sasl_failure(&mut self, condition: SaslFailure) {
        self.sasl = Sasl::None;
        self.username.clear();
        self.auth_failures = self.auth_failures.saturating_add(1);
        let sent = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("failure")?;
            w.ns(ns::SASL)?;
            w.start_element(condition.as_str())?;
            w.end_element(condition.as_str())?;
            w.end_element("failure")?;
            w.finish()
        });
        let _ = self.queued.push_back(Queued::AuthFailed(condition));
        if sent.is_err() {
            self.stream_error(StreamErrorCondition::ResourceConstraint);
        } else if self.auth_failures >= self.config.max_auth_failures.max(1) {
            // RFC 6120 §6.4.5: retries are limited; past the limit the
            // stream is closed with a stream error.
            self.stream_error(StreamErrorCondition::PolicyViolation);
        } else {
            self.state = State::Negotiating;
        }
    }

    /// Sends `<name xmlns=SASL>` with `data` in base64 (`=` when empty,
    /// RFC 6120 §6.4.2; nothing at all when `None`).
    fn send_sasl(
        &mut self,
        name: &'static str,
        data: Option<&[u8]>,
    ) -> Result<(), super::ServerError> {
        self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element(name)?;
            w.ns(ns::SASL)?;
            if let Some(d) = data {
                let mut text = [0u8; crate::sasl::base64_len(MAX_SASL_DATA)];
                let t = match d.len() {
                    0 => "=",
                    _ => {
                        use base64::Engine as _;
                        let n = base64::engine::general_purpose::STANDARD
                            .encode_slice(d, &mut text)
                            .map_err(|_| crate::xml::WriteError::Unbalanced)?;
                        core::str::from_utf8(&text[..n]).unwrap_or_default()
                    }
                };
                w.text(t)?;
            }
            w.end_element(name)?;
            w.finish()
        })
    }

    /// RFC 6120 §7.6: the bind request after authentication.
    fn on_bind(&mut self) -> Step {
        let Some(el) = self.parser.current() else {
            return Step::Continue;
        };
        let mut id_buf = [0u8; MAX_ID_LEN];
        let id = el
            .attr("id")
            .and_then(|i| i.decode_into(&mut id_buf).ok().map(str::len));
        let is_set = el.attr("type").is_some_and(|t| t == IqType::Set.as_str());
        let bind = el.child("bind", ns::BIND);
        let mut res_buf = [0u8; 256];
        let requested = bind
            .and_then(|b| b.child("resource", ns::BIND))
            .map(|r| r.text().decode_into(&mut res_buf).map(|s| s.len()));
        let (Some(id_len), true, Some(_)) = (id, is_set, bind) else {
            // RFC 6120 §7.1: nothing but binding before it is done.
            self.stream_error(StreamErrorCondition::NotAuthorized);
            return Step::Continue;
        };
        let id = core::str::from_utf8(&id_buf[..id_len]).unwrap_or_default();
        let mut id_copy = [0u8; MAX_ID_LEN];
        id_copy[..id.len()].copy_from_slice(id.as_bytes());
        let id = core::str::from_utf8(&id_copy[..id_len]).unwrap_or_default();
        let requested = match requested {
            None => None,
            Some(Ok(n)) => core::str::from_utf8(&res_buf[..n])
                .ok()
                .filter(|r| !r.is_empty()),
            // RFC 6120 §7.7.2.1: a resource that cannot be processed.
            Some(Err(_)) => {
                self.iq_error(id, ErrorCondition::BadRequest);
                return Step::Continue;
            }
        };
        let user = self.username.clone();
        let domain = self.config.domain;
        let mut chosen: Option<JidBuf<MAX_BOUND_JID_LEN>> = None;
        // RFC 6120 §7.6.1: with no resource asked for the server makes one
        // up; §7.7.2.2: so it may when the one asked for is taken.
        let mut assign = requested.is_none();
        if let Some(r) = requested {
            let Ok(j) = JidBuf::from_parts(Some(&user), domain, Some(r)) else {
                // RFC 6120 §7.7.2.1: not a valid resourcepart.
                self.iq_error(id, ErrorCondition::BadRequest);
                return Step::Continue;
            };
            match self.accounts.bind(j.as_jid()) {
                BindPolicy::Accept => chosen = Some(j),
                BindPolicy::Conflict => {}
                BindPolicy::AssignOther => assign = true,
            }
        }
        if assign {
            for _ in 0..RESOURCE_ATTEMPTS {
                let r: heapless::String<16> = self.random_token(12);
                let Ok(j) = JidBuf::from_parts(Some(&user), domain, Some(&r)) else {
                    break;
                };
                if self.accounts.bind(j.as_jid()) == BindPolicy::Accept {
                    chosen = Some(j);
                    break;
                }
            }
        }
        let Some(jid) = chosen else {
            self.iq_error(id, ErrorCondition::Conflict);
            return Step::Continue;
        };
        let full = jid.as_str();
        let sent = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("iq")?;
            w.attr("type", "result")?;
            w.attr("id", id)?;
            w.start_element("bind")?;
            w.ns(ns::BIND)?;
            w.start_element("jid")?;
            w.text(full)?;
            w.end_element("jid")?;
            w.end_element("bind")?;
            w.end_element("iq")?;
            w.finish()
        });
        if sent.is_err() {
            self.stream_error(StreamErrorCondition::ResourceConstraint);
            return Step::Continue;
        }
        self.bound = Some(jid);
        self.state = State::Ready;
        let _ = self.queued.push_back(Queued::Bound);
        Step::Continue
    }

    /// An iq error answer (RFC 6120 §8.3) to `id`, from the server.
    pub(super) fn iq_error(&mut self, id: &str, condition: ErrorCondition) {
        let sent = self.queue(|b| {
            let mut w = Writer::new(b);
            w.start_element("iq")?;
            w.attr("type", "error")?;
            w.attr("id", id)?;
            crate::stanza::error::write_error(&mut w, condition)?;
            w.end_element("iq")?;
            w.finish()
        });
        match sent {
            Ok(()) => self.sm_sent(),
            Err(_) => self.stream_error(StreamErrorCondition::ResourceConstraint),
        }
    }
}

/// The base64 payload of `<auth/>` or `<response/>`, decoded into `out`:
/// `None` when the element is empty (no data), `Some(0)` for `=` (RFC
/// 6120 §6.4.2), `incorrect-encoding` (§6.5.5) for bad base64,
/// `malformed-request` (§6.5.8) when too long.
fn sasl_payload(el: &xml::Element<'_>, out: &mut [u8]) -> Result<Option<usize>, SaslFailure> {
    let mut text = [0u8; crate::sasl::base64_len(MAX_SASL_DATA)];
    let t = el
        .text()
        .decode_into(&mut text)
        .map_err(|_| SaslFailure::MalformedRequest)?
        .trim();
    if el.children().next().is_some() {
        return Err(SaslFailure::MalformedRequest);
    }
    match t {
        "" => Ok(None),
        "=" => Ok(Some(0)),
        t => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode_slice(t, out)
                .map(Some)
                .map_err(|e| match e {
                    base64::DecodeSliceError::OutputSliceTooSmall => SaslFailure::MalformedRequest,
                    base64::DecodeSliceError::DecodeError(_) => SaslFailure::IncorrectEncoding,
                })
        }
    }
}
