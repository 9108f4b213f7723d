//! Stream negotiation, client side, top to bottom in the order of RFC 6120:
//! open the stream (§4.7), read the features (§4.3), STARTTLS (§5.4), SASL
//! (§6.4), restart, bind (§7), legacy session when required, ready.
//!
//! Every transition of the negotiation is in this file.

use super::phase::PhaseState;
use super::{iq::Purpose, Client, ClientError, Queued, State, Step, TlsPolicy, MAX_HOST_LEN};
use crate::error::StreamErrorCondition;
use crate::jid::Jid;
use crate::sasl::{self, Capabilities, ChannelBinding, ChannelBindingTypes, Mechanism};
use crate::stanza::{IqType, Stanza};
use crate::stream::{ns, StreamError, StreamFeatures};
use crate::time::Instant;
use crate::xml::{self, ContentNamespace, StreamHeaderBuilder, Writer};
use heapless::String;

/// Where the SASL exchange is (RFC 6120 §6.4).
#[derive(Debug)]
// Kept inline on purpose: there is no allocator to box the SCRAM state.
#[allow(clippy::large_enum_variant)]
pub(crate) enum SaslState<'c> {
    /// Not started, or over.
    None,
    /// A mechanism whose only step was the initial response (PLAIN,
    /// EXTERNAL, ANONYMOUS): waiting for `<success/>` or `<failure/>`.
    Single,
    /// A SCRAM exchange.
    Scram(sasl::scram::AnyScramClient<'c>),
    /// A DIGEST-MD5 exchange (RFC 2831): two challenges, then success.
    #[cfg(feature = "legacy-digest-md5")]
    DigestMd5(sasl::digest_md5::DigestMd5Client),
}

/// What the features offer, copied out of the element.
struct Offer {
    starttls: Option<bool>,
    sasl: bool,
    mechanisms: heapless::Vec<Mechanism, { Mechanism::ALL.len() }>,
    any_plus: bool,
    cb_types: Option<ChannelBindingTypes>,
    bind: bool,
    session_required: bool,
    max_stanza: Option<u32>,
}

impl<'b, 'c, R: rand_core::RngCore + rand_core::CryptoRng> Client<'b, 'c, R> {
    /// RFC 6120 §4.7: opens (or, after TLS and SASL, reopens) the stream.
    pub(super) fn open_stream(&mut self) -> Result<(), ClientError> {
        let domain = self.config.jid.domain();
        // §4.7.1: `from` only once the stream is protected, where it does
        // not leak the account to an eavesdropper.
        let bare = self.config.jid.bare().as_str();
        let from = match self.tls {
            true if bare.len() > super::MAX_TRACKED_JID_LEN * 2 => {
                return Err(ClientError::InvalidInput("address too long"));
            }
            true => Some(bare),
            false => None,
        };
        let lang = self.config.lang;
        let mut header = StreamHeaderBuilder::new(ContentNamespace::Client.as_str())
            .to(domain)
            .lang(lang);
        if let Some(f) = from {
            header = header.from(f);
        }
        self.queue_unit(|b| header.write_to(b))?;
        self.state = State::AwaitHeader;
        Ok(())
    }

    /// Reads one element or stream event and acts on it.
    pub(super) fn step(&mut self, now: Instant) -> Result<Step, ClientError> {
        let event = match self.parser.next() {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(Step::Wait),
            Err(e) => {
                // RFC 6120 §4.9.1.1: tell the server what it did wrong.
                let cond = e.condition;
                return Err(self.fail_with_stream_error(cond, ClientError::Xml(e)));
            }
        };
        match event {
            xml::Event::StreamOpen(header) => {
                if self.state != State::AwaitHeader {
                    return Err(self.protocol("a stream header in the middle of the stream"));
                }
                // RFC 6120 §4.7.5: version 1.0 is needed for features.
                if header.version_number().is_none_or(|(major, _)| major < 1) {
                    return Err(self.fail_with_stream_error(
                        StreamErrorCondition::UnsupportedVersion,
                        ClientError::Protocol("the server does not speak XMPP 1.0"),
                    ));
                }
                if header.content_namespace() != ContentNamespace::Client {
                    return Err(self.fail_with_stream_error(
                        StreamErrorCondition::InvalidNamespace,
                        ClientError::Protocol("the server's stream is not jabber:client"),
                    ));
                }
                self.state = State::AwaitFeatures;
                Ok(Step::Continue)
            }
            xml::Event::StreamClose => self.on_stream_close(),
            xml::Event::Element(_) => self.on_element(now),
        }
    }

    /// RFC 6120 §4.4: the server closed its stream.
    fn on_stream_close(&mut self) -> Result<Step, ClientError> {
        if self.state == State::Closing {
            self.close_deadline = crate::time::MaybeInstant::NONE;
            let _ = self.queued.push_back(Queued::Closed);
            return Ok(Step::Continue);
        }
        // Close ours in turn, then report.
        let _ = self.queue_unit(StreamHeaderBuilder::write_close);
        Err(self.fail(ClientError::ClosedByServer))
    }

    fn protocol(&mut self, what: &'static str) -> ClientError {
        // A negotiation element out of place is not a stanza the server may
        // send here (RFC 6120 §4.9.3.24 covers unknown first-level
        // children; an out-of-order known one is a policy matter).
        self.fail_with_stream_error(
            StreamErrorCondition::UnsupportedStanzaType,
            ClientError::Protocol(what),
        )
    }

    // The phases below are kept out of line (`inline(never)`): inlined, the
    // buffers of each (SASL messages, JIDs) add up in this one frame, on
    // the stack of every element of the session.
    fn on_element(&mut self, now: Instant) -> Result<Step, ClientError> {
        let Some(el) = self.parser.current() else {
            return Ok(Step::Continue);
        };
        // RFC 6120 §4.9: a stream error ends the stream in any state.
        if let Some(se) = StreamError::from_element(el) {
            let condition = se.condition();
            let mut host = String::<MAX_HOST_LEN>::new();
            if let Some(h) = se.see_other_host() {
                if h.chunks().all(|c| host.push_str(c.as_str()).is_ok()) {
                    // The session is over: the host waits for the caller
                    // in the receive buffer, which nothing reads any more.
                    self.parser.park(host.as_bytes());
                }
            }
            let _ = self.queue_unit(StreamHeaderBuilder::write_close);
            return Err(self.fail(ClientError::StreamError(condition)));
        }
        if super::sm::COMPILED && el.namespace() == ns::SM && self.authenticated {
            return self.on_sm(now);
        }
        match self.state {
            State::AwaitFeatures => self.on_features(now),
            State::AwaitProceed => {
                if el.is("proceed", ns::TLS) {
                    // RFC 6120 §5.4.3.3: bytes after <proceed/> would be
                    // plaintext injected before the handshake.
                    if self.parser.buffered() > 0 {
                        return Err(self.protocol("data after <proceed/>"));
                    }
                    self.state = State::StartTls;
                    Ok(Step::Continue)
                } else if el.is("failure", ns::TLS) {
                    // RFC 6120 §5.4.2.2: the server closes the stream.
                    let _ = self.queue_unit(StreamHeaderBuilder::write_close);
                    Err(self.fail(ClientError::StartTlsFailed))
                } else {
                    Err(self.protocol("expected <proceed/> or <failure/>"))
                }
            }
            State::Sasl => self.on_sasl(),
            _ => self.on_stanza(now),
        }
    }

    #[inline(never)]
    fn on_features(&mut self, now: Instant) -> Result<Step, ClientError> {
        let Some(el) = self.parser.current() else {
            return Ok(Step::Continue);
        };
        let Some(f) = StreamFeatures::from_element(el) else {
            return Err(self.protocol("expected <stream:features/>"));
        };
        let mut offer = Offer {
            starttls: f.starttls(),
            sasl: f.has_sasl(),
            mechanisms: heapless::Vec::new(),
            any_plus: false,
            cb_types: None,
            bind: f.bind(),
            session_required: f.session() == Some(true),
            max_stanza: f.max_stanza_bytes(),
        };
        for m in f.mechanisms() {
            let mut name = [0u8; 32];
            let Ok(name) = m.decode_into(&mut name) else {
                continue;
            };
            offer.any_plus |= name.ends_with("-PLUS");
            if let Some(m) = Mechanism::from_name(name) {
                let _ = offer.mechanisms.push(m);
            }
        }
        offer.cb_types = f.channel_binding_types().map(|types| {
            let mut set = ChannelBindingTypes::EMPTY;
            for t in types {
                set.insert(t);
            }
            set
        });
        if let Some(max) = offer.max_stanza {
            self.server_max_stanza = max;
        }
        self.sm.offered = super::sm::COMPILED && f.stream_management();
        self.sm.csi = f.client_state_indication();

        // 1. TLS (RFC 6120 §5.3.1): first, when the stream is not
        //    protected yet.
        if !self.tls {
            match (offer.starttls, self.config.tls) {
                (Some(_), TlsPolicy::Required | TlsPolicy::InsecureAllowPlaintext) => {
                    self.queue_unit(|b| {
                        let mut w = Writer::new(b);
                        w.start_element("starttls")?;
                        w.ns(ns::TLS)?;
                        w.end_element("starttls")?;
                        w.finish()
                    })?;
                    self.state = State::AwaitProceed;
                    return Ok(Step::Continue);
                }
                (None, TlsPolicy::Required | TlsPolicy::Direct) => {
                    // The offer may have been stripped by an attacker.
                    let _ = self.queue_unit(StreamHeaderBuilder::write_close);
                    return Err(self.fail(ClientError::TlsNotOffered));
                }
                (Some(true), TlsPolicy::Direct) | (None, TlsPolicy::InsecureAllowPlaintext) => {}
                (Some(false), TlsPolicy::Direct) => {}
            }
        }
        // 2. SASL (RFC 6120 §6), before anything else once TLS is done.
        if !self.authenticated {
            if !offer.sasl {
                return Err(self.protocol("no SASL offered"));
            }
            return self.start_sasl(&offer);
        }
        // 3. Resume the lost session (XEP-0198 §5), in place of binding;
        //    or bind (RFC 6120 §7).
        if offer.bind {
            self.need_session = offer.session_required;
            if self.try_resume(now)? {
                return Ok(Step::Continue);
            }
            return self.bind(now);
        }
        Err(self.protocol("no resource binding offered after authentication"))
    }

    /// RFC 6120 §6.4.2: picks the mechanism and sends `<auth/>` with the
    /// initial response.
    #[inline(never)]
    fn start_sasl(&mut self, offer: &Offer) -> Result<Step, ClientError> {
        let mut bindings: heapless::Vec<ChannelBinding<'_>, 2> = heapless::Vec::new();
        let (exporter, endpoint) = self.phase.channel_binding();
        if !exporter.is_empty() {
            let _ = bindings.push(ChannelBinding::TlsExporter(exporter));
        }
        if !endpoint.is_empty() {
            let _ = bindings.push(ChannelBinding::TlsServerEndPoint(endpoint));
        }
        let caps = Capabilities {
            tls: self.tls,
            channel_bindings: &bindings,
            // No XEP-0440 list: do not guess. RFC 9266 makes tls-exporter
            // the TLS 1.3 default, but servers that predate it (ejabberd
            // 23.01) offer -PLUS for tls-unique only and fail the exchange;
            // SCRAM without -PLUS (flag `n`, since -PLUS is offered) works
            // everywhere, and servers that support tls-exporter say so.
            assume_tls_exporter: false,
            password: self.config.password.is_some() || self.config.scram_cache.is_some(),
            external: self.config.external,
            anonymous: self.config.anonymous,
            plain_without_tls: self.config.allow_plain_without_tls,
            allowed: self.config.mechanisms,
        };
        // A cached salted password without the password serves only the
        // SCRAM mechanisms of its hash.
        let cache_only;
        let caps = match (self.config.password, self.config.scram_cache) {
            (None, Some(cached)) if caps.allowed.is_none() => {
                let h = cached.hash();
                cache_only = [Mechanism::scram(h, true), Mechanism::scram(h, false)];
                Capabilities {
                    allowed: Some(&cache_only),
                    ..caps
                }
            }
            _ => caps,
        };
        let mut names: heapless::Vec<&str, { Mechanism::ALL.len() + 1 }> =
            offer.mechanisms.iter().map(|m| m.name()).collect();
        if offer.any_plus && !offer.mechanisms.iter().any(|m| m.is_plus()) {
            // A -PLUS this client does not know still counts (RFC 5802 §6).
            let _ = names.push("X-UNKNOWN-PLUS");
        }
        let choice = match sasl::choose(names.iter().copied(), offer.cb_types, &caps) {
            Ok(c) => c,
            Err(_) => {
                drop(bindings);
                let _ = self.queue_unit(StreamHeaderBuilder::write_close);
                return Err(self.fail(ClientError::NoAcceptableMechanism));
            }
        };
        let mechanism = choice.mechanism;
        // The initial response, then base64 (RFC 6120 §6.4.2).
        let mut raw = [0u8; 512];
        let (len, state) = match mechanism {
            Mechanism::Plain => {
                let password = self.config.password.unwrap_or_default();
                let user = self.config.jid.local().unwrap_or_default();
                let n = sasl::plain::initial_response(&mut raw, None, user, password)
                    .map_err(ClientError::Sasl)?;
                (Some(n), SaslState::Single)
            }
            // XEP-0178 §6: an empty response; the server takes the identity
            // from the certificate.
            Mechanism::External | Mechanism::Anonymous => (Some(0), SaslState::Single),
            // RFC 2831 §2.1: the server speaks first, so no initial response
            // at all (an empty `<auth/>`, not `=`, which RFC 6120 §6.4.2
            // makes an initial response of zero bytes).
            #[cfg(feature = "legacy-digest-md5")]
            Mechanism::DigestMd5 => (
                None,
                SaslState::DigestMd5(sasl::digest_md5::DigestMd5Client::new()),
            ),
            _ => {
                // RFC 5802 §5.1: a fresh nonce from a cryptographic RNG
                // (18 bytes: 24 base64 characters).
                let mut nonce = [0u8; 18];
                self.rng.fill_bytes(&mut nonce);
                let user = self.config.jid.local().unwrap_or_default();
                let mut scram = sasl::scram::AnyScramClient::new(mechanism, choice.cbind)
                    .map_err(ClientError::Sasl)?
                    .with_max_iterations(self.config.max_scram_iterations);
                let n = scram
                    .client_first(&mut raw, user, None, &nonce)
                    .map_err(ClientError::Sasl)?;
                (Some(n), SaslState::Scram(scram))
            }
        };
        drop(bindings);
        self.phase = PhaseState::Sasl(state);
        self.send_sasl("auth", Some(mechanism.name()), len.map(|n| &raw[..n]))?;
        self.state = State::Sasl;
        Ok(Step::Continue)
    }

    /// Sends `<auth/>` or `<response/>` with `data` base64-encoded; an
    /// empty response is `=` (RFC 6120 §6.4.2), no response at all (`None`)
    /// an empty element.
    fn send_sasl(
        &mut self,
        name: &'static str,
        mechanism: Option<&str>,
        data: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        if data.is_some_and(|d| d.len() > MAX_SASL_MESSAGE) {
            return Err(ClientError::InvalidInput("SASL message too long"));
        }
        self.queue_unit(|b| {
            let mut w = Writer::new(b);
            w.start_element(name)?;
            w.ns(ns::SASL)?;
            if let Some(m) = mechanism {
                w.attr("mechanism", m)?;
            }
            match data {
                None => {}
                Some([]) => w.text("=")?,
                // Base64 in pieces of whole 3-byte groups, which encode
                // the same as the whole: no buffer for the encoded text.
                Some(data) => {
                    use base64::Engine as _;
                    for piece in data.chunks(B64_PIECE) {
                        let mut b64 = [0u8; B64_PIECE / 3 * 4];
                        let n = base64::engine::general_purpose::STANDARD
                            .encode_slice(piece, &mut b64)
                            .unwrap_or_default();
                        w.text(core::str::from_utf8(&b64[..n]).unwrap_or_default())?;
                    }
                }
            }
            w.end_element(name)?;
            w.finish()
        })
    }

    /// RFC 6120 §6.4.3-§6.4.6: challenges, success, failure.
    #[inline(never)]
    fn on_sasl(&mut self) -> Result<Step, ClientError> {
        let Some(el) = self.parser.current() else {
            return Ok(Step::Continue);
        };
        if el.namespace() != ns::SASL {
            return Err(self.protocol("a stanza during SASL"));
        }
        let mut decoded = [0u8; 700];
        let name = el.name();
        let data = match decode_b64(&el, &mut decoded) {
            Ok(d) => d,
            Err(()) => {
                // RFC 6120 §6.4.5 incorrect-encoding is the server's word;
                // a client aborts (§6.4.5) and gives up.
                return Err(self.abort_sasl(ClientError::Protocol("SASL data that is not base64")));
            }
        };
        let mut out = [0u8; 512];
        let mut no_sasl = SaslState::None;
        let sasl = match &mut self.phase {
            PhaseState::Sasl(s) => s,
            _ => &mut no_sasl,
        };
        match (name, sasl) {
            ("challenge", SaslState::Scram(scram)) => {
                let credentials = match (self.config.scram_cache, self.config.password) {
                    (Some(cached), Some(password)) => {
                        sasl::scram::Credentials::CachedOrPassword { cached, password }
                    }
                    (Some(cached), None) => sasl::scram::Credentials::SaltedPassword(cached),
                    (None, password) => {
                        sasl::scram::Credentials::Password(password.unwrap_or_default())
                    }
                };
                let n = match scram.handle_server_first(&mut out, data, credentials) {
                    Ok(n) => n,
                    Err(e) => return Err(self.abort_sasl(ClientError::Sasl(e))),
                };
                self.send_sasl("response", None, Some(&out[..n]))?;
                Ok(Step::Continue)
            }
            // RFC 2831 §2.1: the first challenge asks for the
            // digest-response; the second carries rspauth, which must
            // verify (mutual authentication, §2.1.3), and gets an empty
            // response.
            #[cfg(feature = "legacy-digest-md5")]
            ("challenge", SaslState::DigestMd5(digest)) => {
                use sasl::digest_md5::{Credentials, DigestMd5State, DigestUri};
                let r = if digest.state() == DigestMd5State::WaitingChallenge {
                    let credentials = Credentials {
                        username: self.config.jid.local().unwrap_or_default(),
                        password: self.config.password.unwrap_or_default(),
                        // The challenge's realm, or the domain if none.
                        realm: None,
                    };
                    let uri = DigestUri::xmpp(self.config.jid.domain());
                    digest
                        .handle_challenge_with_rng(&mut out, data, &credentials, uri, &mut self.rng)
                        .map(Some)
                } else {
                    digest.handle_rspauth(data).map(|()| None)
                };
                match r {
                    Ok(n) => {
                        self.send_sasl("response", None, n.map(|n| &out[..n]))?;
                        Ok(Step::Continue)
                    }
                    Err(e) => Err(self.abort_sasl(ClientError::Sasl(e))),
                }
            }
            ("success", state) => {
                // RFC 6120 §6.4.6: additional data with success; for SCRAM
                // it carries the server signature, which must verify
                // (mutual authentication, RFC 5802 §5).
                let mut salted = None;
                let verified = match state {
                    SaslState::Scram(scram) => {
                        let r = scram.handle_server_final(data).map_err(ClientError::Sasl);
                        if r.is_ok() {
                            salted = scram.salted_password_to_cache().cloned();
                        }
                        r
                    }
                    // Empty after the rspauth challenge, or the rspauth
                    // itself from a server that skips that challenge.
                    #[cfg(feature = "legacy-digest-md5")]
                    SaslState::DigestMd5(digest) => {
                        digest.handle_success(data).map_err(ClientError::Sasl)
                    }
                    SaslState::Single => Ok(()),
                    SaslState::None => Err(ClientError::Protocol("unsolicited <success/>")),
                };
                if let Err(e) = verified {
                    let _ = self.queue_unit(StreamHeaderBuilder::write_close);
                    return Err(self.fail(e));
                }
                self.phase = PhaseState::Authenticated { salted };
                self.authenticated = true;
                // RFC 6120 §6.4.6: restart the stream; bytes that already
                // arrived belong to the new one.
                self.parser.restart();
                self.open_stream()?;
                Ok(Step::Continue)
            }
            ("failure", _) => {
                let condition = el
                    .children()
                    .find_map(|c| {
                        (c.namespace() == ns::SASL)
                            .then(|| sasl::SaslFailure::from_name(c.name()))
                            .flatten()
                    })
                    .unwrap_or(sasl::SaslFailure::NotAuthorized);
                self.phase = PhaseState::Empty;
                // RFC 6120 §6.4.5: the client may retry; a library with one
                // set of credentials does not, it reports.
                let _ = self.queue_unit(StreamHeaderBuilder::write_close);
                Err(self.fail(ClientError::AuthenticationFailed(condition)))
            }
            ("challenge", _) => Err(self.abort_sasl(ClientError::Protocol(
                "a challenge this mechanism does not have",
            ))),
            _ => Err(self.protocol("unexpected SASL element")),
        }
    }

    /// RFC 6120 §6.4.5: `<abort/>`, then the error.
    fn abort_sasl(&mut self, e: ClientError) -> ClientError {
        let _ = self.queue_unit(|b| {
            let mut w = Writer::new(b);
            w.start_element("abort")?;
            w.ns(ns::SASL)?;
            w.end_element("abort")?;
            w.finish()
        });
        let _ = self.queue_unit(StreamHeaderBuilder::write_close);
        self.phase = PhaseState::Empty;
        self.fail(e)
    }

    /// RFC 6120 §7.6.1: asks for the configured resource, or lets the
    /// server assign one.
    #[inline(never)]
    pub(super) fn bind(&mut self, now: Instant) -> Result<Step, ClientError> {
        // The caller's JID, not a borrow of `self`: no copy needed.
        let resource = self.config.jid.resource();
        self.request(
            None,
            IqType::Set,
            |w| {
                w.start_element("bind")?;
                w.ns(ns::BIND)?;
                if let Some(r) = resource {
                    w.start_element("resource")?;
                    w.text(r)?;
                    w.end_element("resource")?;
                }
                w.end_element("bind")
            },
            now,
            Purpose::Bind,
        )?;
        self.state = State::AwaitBind;
        Ok(Step::Continue)
    }

    /// The answer to the bind request (RFC 6120 §7.6.2): the full JID, or
    /// the error.
    #[inline(never)]
    pub(super) fn on_bind_answer(&mut self, now: Instant) -> Result<Step, ClientError> {
        let Some(el) = self.parser.current() else {
            return Ok(Step::Continue);
        };
        let Some(Stanza::Iq(iq)) = Stanza::from_element(el) else {
            return Err(self.protocol("expected the bind result"));
        };
        if iq.iq_type() == Some(IqType::Error) {
            let cond = iq
                .error()
                .map(|e| e.condition())
                .unwrap_or(crate::stanza::ErrorCondition::UndefinedCondition);
            return Err(self.fail(ClientError::BindFailed(cond)));
        }
        let jid = iq
            .payload("bind", ns::BIND)
            .and_then(|b| b.child("jid", ns::BIND))
            .map(|j| j.text());
        let mut buf = [0u8; super::MAX_BOUND_JID_LEN];
        let bound = jid
            .and_then(|t| t.decode_into(&mut buf).ok())
            .and_then(|s| Jid::parse(s).ok())
            .filter(|j| j.is_full());
        let Some(bound) = bound else {
            return Err(self.fail(ClientError::Protocol(
                "the bind result carries no valid full JID",
            )));
        };
        // RFC 6120 §7.6.1: the server may alter the resource, not the
        // account.
        if bound.bare() != self.config.jid.bare() {
            return Err(self.fail(ClientError::Protocol("the server bound another account")));
        }
        if let Err(e) = self.set_bound(bound.as_str()) {
            return Err(self.fail(e));
        }
        if self.need_session {
            self.request(
                None,
                IqType::Set,
                |w| {
                    w.start_element("session")?;
                    w.ns(ns::SESSION)?;
                    w.end_element("session")
                },
                now,
                Purpose::Session,
            )?;
            self.state = State::AwaitSession;
        } else {
            self.become_ready(now);
        }
        Ok(Step::Continue)
    }

    pub(super) fn become_ready(&mut self, now: Instant) {
        self.state = State::Ready;
        self.last_rx = now;
        self.last_tx = now;
        // XEP-0198 §3: enable right after binding. Without room for it the
        // stream goes on without stream management.
        let _ = self.enable_after_bind();
        let event = self.ready_event();
        let _ = self.queued.push_back(event);
    }
}

/// Longest SASL message sent (decoded), as the 700-byte base64 text it
/// was first bounded by.
const MAX_SASL_MESSAGE: usize = 525;
/// Bytes base64-encoded at a time (a multiple of 3).
const B64_PIECE: usize = 48;

/// The base64 payload of a SASL element, decoded (`=` is empty, RFC 6120
/// §6.4.2) in place in `buf`: decoded bytes never overtake the text being
/// read (3 for every 4), so one buffer serves both.
fn decode_b64<'o>(el: &xml::Element<'_>, buf: &'o mut [u8]) -> Result<&'o [u8], ()> {
    let text = el.text().decode_into(buf).map_err(|_| ())?;
    let t = text.trim();
    if t.is_empty() || t == "=" {
        return Ok(&[]);
    }
    let start = text.len() - text.trim_start().len();
    let end = start + t.len();
    if t.len() % 4 != 0 {
        return Err(());
    }
    use base64::Engine as _;
    let mut n = 0;
    let mut at = start;
    while at < end {
        let mut group = [0u8; 4];
        group.copy_from_slice(buf.get(at..at + 4).ok_or(())?);
        let last = at + 4 == end;
        // Padding only in the last group (RFC 4648 §4).
        if !last && group.contains(&b'=') {
            return Err(());
        }
        let mut out = [0u8; 3];
        let k = base64::engine::general_purpose::STANDARD
            .decode_slice(group, &mut out)
            .map_err(|_| ())?;
        buf.get_mut(n..n + k).ok_or(())?.copy_from_slice(&out[..k]);
        n += k;
        at += 4;
    }
    buf.get(..n).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::decode_b64;
    use crate::xml::{Event, StreamParser};
    use base64::Engine as _;

    /// `decode_b64` on `<challenge>{text}</challenge>` after a stream header.
    fn decode(text: &str) -> Result<std::vec::Vec<u8>, ()> {
        let mut rx = [0u8; 2048];
        let mut p = StreamParser::new(&mut rx);
        let input = std::format!(
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{text}</challenge>"
        );
        let n = input.len();
        p.receive_buffer()[..n].copy_from_slice(input.as_bytes());
        p.commit(n);
        assert!(matches!(p.next(), Ok(Some(Event::StreamOpen(_)))));
        assert!(matches!(p.next(), Ok(Some(Event::Element(_)))));
        let el = p.current().unwrap();
        let mut buf = [0u8; 700];
        decode_b64(&el, &mut buf).map(|d| d.to_vec())
    }

    #[test]
    fn sasl_payloads_decode_in_place() {
        let b64 = base64::engine::general_purpose::STANDARD;
        for len in [1, 2, 3, 4, 5, 47, 48, 49, 100, 512, 525] {
            let data: std::vec::Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let text = b64.encode(&data);
            assert_eq!(decode(&text), Ok(data.clone()), "{len}");
            // White space around the text is not part of it (but takes
            // room in the buffer); a character reference is decoded first.
            if len < 525 {
                assert_eq!(decode(&std::format!("\n  {text} \n")), Ok(data.clone()));
            }
            let text = text.replacen('A', "&#65;", 1);
            assert_eq!(decode(&text), Ok(data), "{len}");
        }
        assert_eq!(decode(""), Ok(std::vec![]));
        assert_eq!(decode("="), Ok(std::vec![]));
        // Not base64: bad characters, padding inside, missing padding, a
        // text longer than the buffer.
        for bad in ["AB$D", "AB==AAAA", "ABC", "QQ", "Q===", &"A".repeat(704)] {
            assert_eq!(decode(bad), Err(()), "{bad:?}");
        }
    }
}
