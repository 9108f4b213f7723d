//! When and where to reconnect after a session or an attempt failed:
//! exponential backoff with full jitter, `see-other-host` redirects
//! (RFC 6120 §4.9.3.19), and the errors that no retry can cure.
//!
//! [`Policy::next_step`] is the decision, a pure function of the error,
//! the attempt number and an injected RNG. [`Reconnect`] keeps the count
//! across attempts and resets it once a session has held for a while; the
//! caller passes the time in, and sleeps itself. Nothing here reads a
//! clock or sleeps.
//!
//! A blocking bot that keeps its session up:
//!
//! ```no_run
//! use picoxmpp::client::Config;
//! use picoxmpp::jid::Jid;
//! use picoxmpp_std::reconnect::{Policy, Reconnect, Step};
//! use picoxmpp_std::srv::{self, Target};
//! use picoxmpp_std::{Connection, TlsSettings};
//! use rand_core::OsRng;
//! use std::time::Instant;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jid = Jid::parse("juliet@example.com")?;
//! let mut reconnect = Reconnect::new(Policy::default());
//! let mut redirect: Option<Target> = None;
//! loop {
//!     let targets = match redirect.take() {
//!         Some(t) => vec![t],
//!         None => srv::candidates(jid.domain(), None, &mut OsRng),
//!     };
//!     let mut failure = None;
//!     for target in targets {
//!         let (mut rx, mut tx) = (vec![0u8; 16 * 1024], vec![0u8; 4 * 1024]);
//!         let tls = match target.direct_tls {
//!             true => TlsSettings::new().direct_tls(),
//!             false => TlsSettings::new(),
//!         };
//!         let config = Config::new(jid.clone(), "secret");
//!         let mut conn = match Connection::connect(&target, &mut rx, &mut tx, config, &tls) {
//!             Ok(conn) => conn,
//!             Err(e) => { failure = Some((e, None)); continue; }
//!         };
//!         // ... on Event::Ready: reconnect.session_ready(Instant::now());
//!         let err = loop {
//!             match conn.next_event(|_event| ()) {
//!                 Ok(Some(())) => {}
//!                 Ok(None) => return Ok(()), // closed politely
//!                 Err(e) => break e,
//!             }
//!         };
//!         let host = conn.client().see_other_host().map(str::to_owned);
//!         failure = Some((err, host));
//!         break;
//!     }
//!     let Some((err, host)) = failure else { return Err("service not available".into()) };
//!     match reconnect.failed(&err, host.as_deref(), Instant::now(), &mut OsRng) {
//!         Step::Retry(after) => std::thread::sleep(after),
//!         Step::FollowSeeOtherHost(target) => redirect = Some(target),
//!         Step::GiveUp(reason) => return Err(format!("{reason}: {err}").into()),
//!     }
//! }
//! # }
//! ```

use crate::error::Error;
use crate::srv::{self, Target};
use picoxmpp::client::{ClientError, Fault};
use picoxmpp::error::StreamErrorCondition;
use picoxmpp::sasl::SaslFailure;
use rand_core::RngCore;
use std::fmt;
use std::time::{Duration, Instant};

/// Exponential backoff with full jitter: before retry `n` (1, 2, ...),
/// a delay drawn uniformly from `0..=min(max, base × factorⁿ⁻¹)`.
///
/// Full jitter spreads the clients of a server that restarts over the
/// whole window instead of bringing them back in waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first delay.
    pub base: Duration,
    /// How much the ceiling grows per attempt.
    pub factor: u32,
    /// The largest ceiling.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s, doubling, at most 5 minutes.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            factor: 2,
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The largest delay before retry `attempt` (counted from 1; 0 is
    /// taken as 1): `base × factor^(attempt-1)`, at most `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let mut ceiling = self.base;
        for _ in 1..attempt {
            if ceiling >= self.max {
                break;
            }
            ceiling = ceiling.saturating_mul(self.factor);
        }
        ceiling.min(self.max)
    }

    /// The delay before retry `attempt`: uniform in `0..=ceiling(attempt)`,
    /// to the nanosecond.
    pub fn delay(&self, attempt: u32, rng: &mut impl RngCore) -> Duration {
        let ceiling = self.ceiling(attempt);
        // u64 nanoseconds reach 584 years: saturating is only for show.
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(srv::below(rng, nanos.saturating_add(1)))
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Connect again (resolve the domain again) after this delay.
    Retry(Duration),
    /// Connect to this host now (RFC 6120 §4.9.3.19), with the same
    /// `to` domain, TLS policy and certificate name as before. Without a
    /// port in the error, 5222 with STARTTLS; with one, STARTTLS too
    /// (the RFC has no way to say direct TLS): a caller that knows better
    /// sets [`Target::direct_tls`].
    FollowSeeOtherHost(Target),
    /// Stop: reconnecting cannot help.
    GiveUp(GiveUpReason),
}

/// Why [`Step::GiveUp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The server refused the credentials (RFC 6120 §6.5), no SASL
    /// mechanism was acceptable, or SASL failed on the client's side
    /// (including a server signature that does not match: RFC 5802 §5).
    /// Retrying would only risk locking the account.
    Authentication,
    /// The server's certificate is not valid for the domain, or TLS
    /// cannot be agreed on.
    Certificate,
    /// TLS is required and the server does not offer it: what a STARTTLS
    /// stripping attack looks like (RFC 6120 §5.3.1).
    TlsNotOffered,
    /// The server says it does not serve this domain (`host-unknown`,
    /// `host-gone`, RFC 6120 §4.9.3.5–6).
    HostNotServed,
    /// Another session took over this resource (`conflict`, RFC 6120
    /// §4.9.3.3): reconnecting would take it back, and the two sessions
    /// would evict each other forever.
    Conflict,
    /// The settings cannot work ([`Error::Config`]), or the error is a
    /// refused command or a caller's mistake, not a failed session.
    Local,
    /// [`Policy::max_attempts`] failures in a row.
    AttemptsExhausted,
    /// [`Policy::max_redirects`] `see-other-host` redirects in a row.
    TooManyRedirects,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GiveUpReason::Authentication => "authentication failed",
            GiveUpReason::Certificate => "the server's certificate or TLS is not acceptable",
            GiveUpReason::TlsNotOffered => "the server does not offer TLS",
            GiveUpReason::HostNotServed => "the server does not serve this domain",
            GiveUpReason::Conflict => "another session replaced this one",
            GiveUpReason::Local => "not a failure reconnecting can cure",
            GiveUpReason::AttemptsExhausted => "too many failed attempts",
            GiveUpReason::TooManyRedirects => "too many see-other-host redirects",
        })
    }
}

/// How to reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The delays between attempts.
    pub backoff: Backoff,
    /// Give up after this many failures in a row (`None`: never).
    pub max_attempts: Option<u32>,
    /// Give up after this many `see-other-host` redirects in a row
    /// (servers that send a client back and forth).
    pub max_redirects: u32,
    /// A session that was ready at least this long resets the count: a
    /// server that accepts and drops at once still backs off.
    pub stable_after: Duration,
}

impl Default for Policy {
    /// [`Backoff::default`], retrying forever, 5 redirects in a row, a
    /// session counts as successful after 60 s.
    fn default() -> Self {
        Policy {
            backoff: Backoff::default(),
            max_attempts: None,
            max_redirects: 5,
            stable_after: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// What to do after failure number `attempt` in a row (from 1):
    /// `see_other_host` is what the client recorded
    /// ([`Client::see_other_host`](picoxmpp::client::Client::see_other_host)),
    /// if the connection got that far.
    ///
    /// - Fatal, whatever the attempt: authentication failures (except
    ///   `temporary-auth-failure`, which RFC 6120 §6.5.11 says to retry
    ///   later), no acceptable mechanism, SASL errors, TLS not offered,
    ///   certificate errors, `host-unknown`/`host-gone`, `conflict`,
    ///   configuration errors and refused commands.
    /// - `see-other-host` with a host that parses: follow it at once.
    /// - Anything else (timeouts, I/O, the server closing the stream,
    ///   other stream errors, a `see-other-host` without a usable host):
    ///   retry after [`Backoff::delay`], unless `max_attempts` is reached.
    pub fn next_step(
        &self,
        error: &Error,
        see_other_host: Option<&str>,
        attempt: u32,
        rng: &mut impl RngCore,
    ) -> Step {
        if let Some(reason) = fatal(error) {
            return Step::GiveUp(reason);
        }
        if self.max_attempts.is_some_and(|max| attempt >= max) {
            return Step::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        if let Error::Client(ClientError::StreamError(StreamErrorCondition::SeeOtherHost)) = error {
            if let Some(target) = see_other_host.and_then(|h| Target::parse(h, srv::DEFAULT_PORT)) {
                return Step::FollowSeeOtherHost(target);
            }
        }
        Step::Retry(self.backoff.delay(attempt, rng))
    }
}

/// Why `error` cannot be cured by reconnecting, if it cannot.
fn fatal(error: &Error) -> Option<GiveUpReason> {
    use GiveUpReason as R;
    match error {
        Error::Io(_) | Error::Timeout(_) => None,
        Error::Config(_) => Some(R::Local),
        Error::Tls(e) => match e {
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType
            | rustls::Error::PeerIncompatible(_) => Some(R::Certificate),
            // A broken record or an alert mid-stream: the network or the
            // server, maybe better next time.
            _ => None,
        },
        Error::Client(e) => match e {
            ClientError::AuthenticationFailed(SaslFailure::TemporaryAuthFailure) => None,
            ClientError::AuthenticationFailed(_)
            | ClientError::NoAcceptableMechanism
            | ClientError::Sasl(_) => Some(R::Authentication),
            ClientError::TlsNotOffered => Some(R::TlsNotOffered),
            ClientError::StreamError(
                StreamErrorCondition::HostUnknown | StreamErrorCondition::HostGone,
            ) => Some(R::HostNotServed),
            ClientError::StreamError(StreamErrorCondition::Conflict) => Some(R::Conflict),
            // Refused commands and buffers the caller sized: the same
            // next time.
            e if matches!(e.fault(), Fault::Local | Fault::Resource) => Some(R::Local),
            _ => None,
        },
    }
}

/// The reconnection state of one account: failures in a row, redirects in
/// a row, and when the current session became ready.
#[derive(Debug, Clone)]
pub struct Reconnect {
    policy: Policy,
    failures: u32,
    redirects: u32,
    ready_since: Option<Instant>,
}

impl Reconnect {
    /// No failure yet.
    pub fn new(policy: Policy) -> Self {
        Reconnect {
            policy,
            failures: 0,
            redirects: 0,
            ready_since: None,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The session became ready at `now` (the client's `Event::Ready`).
    /// If it holds for [`Policy::stable_after`], the next failure starts
    /// the count afresh.
    pub fn session_ready(&mut self, now: Instant) {
        self.ready_since = Some(now);
    }

    /// Forgets all failures, as after a stable session.
    pub fn reset(&mut self) {
        self.failures = 0;
        self.redirects = 0;
        self.ready_since = None;
    }

    /// The session, or an attempt at one, failed with `error` at `now`:
    /// what to do ([`Policy::next_step`], with the count kept here).
    pub fn failed(
        &mut self,
        error: &Error,
        see_other_host: Option<&str>,
        now: Instant,
        rng: &mut impl RngCore,
    ) -> Step {
        if let Some(since) = self.ready_since.take() {
            if now.saturating_duration_since(since) >= self.policy.stable_after {
                self.reset();
            }
        }
        self.failures = self.failures.saturating_add(1);
        let step = self
            .policy
            .next_step(error, see_other_host, self.failures, rng);
        if let Step::FollowSeeOtherHost(_) = step {
            self.redirects += 1;
            if self.redirects > self.policy.max_redirects {
                return Step::GiveUp(GiveUpReason::TooManyRedirects);
            }
        } else {
            self.redirects = 0;
        }
        step
    }
}

/// The state of a connection that reconnects by itself: the policy's
/// count, when to dial again, and where.
pub(crate) struct Reconnecting {
    pub(crate) state: Reconnect,
    /// When to dial again, after a failure.
    pub(crate) at: Option<Instant>,
    /// A `see-other-host` to follow (RFC 6120 §4.9.3.19).
    redirect: Option<Target>,
    /// Connections made again so far.
    pub(crate) count: u32,
    /// The failure that caused the last reconnection.
    pub(crate) last_failure: Option<Error>,
}

impl Reconnecting {
    pub(crate) fn new(policy: Policy) -> Self {
        Reconnecting {
            state: Reconnect::new(policy),
            at: None,
            redirect: None,
            count: 0,
            last_failure: None,
        }
    }

    /// The session failed with `e` at `now`: schedules the next attempt,
    /// or gives `e` back when the policy gives up.
    pub(crate) fn schedule(
        &mut self,
        e: Error,
        see_other_host: Option<&str>,
        now: Instant,
    ) -> Result<(), Error> {
        match self
            .state
            .failed(&e, see_other_host, now, &mut rand_core::OsRng)
        {
            Step::GiveUp(_) => return Err(e),
            Step::Retry(after) => self.at = Some(now + after),
            Step::FollowSeeOtherHost(target) => {
                self.redirect = Some(target);
                self.at = Some(now);
            }
        }
        self.last_failure = Some(e);
        Ok(())
    }

    /// Where to dial first, before the addresses of the first connection
    /// (`addrs`): a `see-other-host` target, else the server's XEP-0198
    /// `location` (with the first address's port when it names none).
    pub(crate) fn preferred_target(
        &mut self,
        resume_location: Option<&str>,
        addrs: &[std::net::SocketAddr],
    ) -> Option<Target> {
        self.at = None;
        if let Some(t) = self.redirect.take() {
            return Some(t);
        }
        let port = addrs.first().map_or(srv::DEFAULT_PORT, |a| a.port());
        resume_location.and_then(|l| Target::parse(l, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picoxmpp::sasl::SaslError;
    use std::io;

    use crate::test_rng::SplitMix;

    fn client(e: ClientError) -> Error {
        Error::Client(e)
    }

    fn stream(c: StreamErrorCondition) -> Error {
        client(ClientError::StreamError(c))
    }

    fn step(error: &Error, host: Option<&str>, attempt: u32) -> Step {
        Policy::default().next_step(error, host, attempt, &mut SplitMix(1))
    }

    fn is_retry(s: &Step) -> bool {
        matches!(s, Step::Retry(_))
    }

    #[test]
    fn ceiling_doubles_from_the_base_up_to_the_cap() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=12).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.ceiling(0), b.ceiling(1));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn ceiling_is_configurable_and_saturates() {
        let b = Backoff {
            base: Duration::from_millis(250),
            factor: 3,
            max: Duration::from_secs(10),
        };
        let ms: Vec<u128> = (1..=6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ms, [250, 750, 2250, 6750, 10_000, 10_000]);
        let huge = Backoff {
            base: Duration::from_secs(u64::MAX / 2),
            factor: 1000,
            max: Duration::MAX,
        };
        assert_eq!(huge.ceiling(10), Duration::MAX);
    }

    #[test]
    fn jitter_stays_within_zero_and_the_ceiling_and_fills_it() {
        let b = Backoff::default();
        let mut rng = SplitMix(42);
        for attempt in 1..=12 {
            let ceiling = b.ceiling(attempt);
            let draws: Vec<Duration> = (0..2000).map(|_| b.delay(attempt, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= ceiling), "attempt {attempt}");
            // Full jitter: both ends of the window are reached.
            assert!(draws.iter().any(|d| *d < ceiling / 10), "attempt {attempt}");
            assert!(
                draws.iter().any(|d| *d > ceiling * 9 / 10),
                "attempt {attempt}"
            );
            // Uniform: the mean is near half the ceiling.
            let mean = draws.iter().sum::<Duration>() / 2000;
            let half = ceiling.as_secs_f64() / 2.0;
            assert!(
                (mean.as_secs_f64() - half).abs() < half * 0.1,
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let b = Backoff::default();
        let a: Vec<_> = (1..8).map(|n| b.delay(n, &mut SplitMix(9))).collect();
        let c: Vec<_> = (1..8).map(|n| b.delay(n, &mut SplitMix(9))).collect();
        assert_eq!(a, c);
    }

    #[test]
    fn transport_failures_are_retried() {
        let retried = [
            Error::Io(io::ErrorKind::ConnectionRefused.into()),
            Error::Io(io::ErrorKind::UnexpectedEof.into()),
            Error::Timeout("the TCP connection"),
            client(ClientError::Timeout("the negotiation to finish")),
            client(ClientError::ClosedByServer),
            client(ClientError::StartTlsFailed),
            client(ClientError::Protocol("an element out of place")),
            client(ClientError::AuthenticationFailed(
                SaslFailure::TemporaryAuthFailure,
            )),
            stream(StreamErrorCondition::SystemShutdown),
            stream(StreamErrorCondition::ConnectionTimeout),
            stream(StreamErrorCondition::InternalServerError),
            stream(StreamErrorCondition::PolicyViolation),
            Error::Tls(rustls::Error::DecryptError),
        ];
        for e in &retried {
            let s = step(e, None, 1);
            assert!(
                matches!(s, Step::Retry(d) if d <= Duration::from_secs(1)),
                "{e}: {s:?}"
            );
        }
    }

    #[test]
    fn authentication_failures_are_fatal() {
        let fatal = [
            client(ClientError::AuthenticationFailed(
                SaslFailure::NotAuthorized,
            )),
            client(ClientError::AuthenticationFailed(
                SaslFailure::AccountDisabled,
            )),
            client(ClientError::AuthenticationFailed(
                SaslFailure::CredentialsExpired,
            )),
            client(ClientError::NoAcceptableMechanism),
            client(ClientError::Sasl(SaslError::ServerSignatureMismatch)),
        ];
        for e in &fatal {
            assert_eq!(
                step(e, None, 1),
                Step::GiveUp(GiveUpReason::Authentication),
                "{e}"
            );
        }
    }

    #[test]
    fn tls_and_certificate_failures_are_fatal() {
        assert_eq!(
            step(&client(ClientError::TlsNotOffered), None, 1),
            Step::GiveUp(GiveUpReason::TlsNotOffered)
        );
        let cert = Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            step(&cert, None, 1),
            Step::GiveUp(GiveUpReason::Certificate)
        );
        let name = Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        ));
        assert_eq!(
            step(&name, None, 1),
            Step::GiveUp(GiveUpReason::Certificate)
        );
    }

    #[test]
    fn local_mistakes_and_unserved_domains_are_fatal() {
        let local = [
            Error::Config("no such CA file".into()),
            client(ClientError::InvalidInput("domain")),
            client(ClientError::NotReady),
            client(ClientError::TooLarge { size: 10, limit: 5 }),
        ];
        for e in &local {
            assert_eq!(step(e, None, 1), Step::GiveUp(GiveUpReason::Local), "{e}");
        }
        for c in [
            StreamErrorCondition::HostUnknown,
            StreamErrorCondition::HostGone,
        ] {
            assert_eq!(
                step(&stream(c), None, 1),
                Step::GiveUp(GiveUpReason::HostNotServed)
            );
        }
        assert_eq!(
            step(&stream(StreamErrorCondition::Conflict), None, 1),
            Step::GiveUp(GiveUpReason::Conflict)
        );
    }

    #[test]
    fn see_other_host_is_followed_to_the_recorded_host() {
        let e = stream(StreamErrorCondition::SeeOtherHost);
        let cases = [
            (
                "other.example.com",
                Target::starttls("other.example.com", 5222),
            ),
            (
                "other.example.com:5299",
                Target::starttls("other.example.com", 5299),
            ),
            ("192.0.2.7", Target::starttls("192.0.2.7", 5222)),
            ("[2001:db8::7]:5223", Target::starttls("2001:db8::7", 5223)),
        ];
        for (host, target) in cases {
            assert_eq!(step(&e, Some(host), 1), Step::FollowSeeOtherHost(target));
        }
        // No host recorded, or nonsense: as any other stream error.
        assert!(is_retry(&step(&e, None, 1)));
        assert!(is_retry(&step(&e, Some("not a host"), 1)));
        // The host only counts with see-other-host.
        let other = stream(StreamErrorCondition::Reset);
        assert!(is_retry(&step(&other, Some("other.example.com"), 1)));
    }

    #[test]
    fn attempts_are_limited_when_asked() {
        let policy = Policy {
            max_attempts: Some(3),
            ..Policy::default()
        };
        let e = client(ClientError::ClosedByServer);
        let mut rng = SplitMix(5);
        assert!(is_retry(&policy.next_step(&e, None, 1, &mut rng)));
        assert!(is_retry(&policy.next_step(&e, None, 2, &mut rng)));
        assert_eq!(
            policy.next_step(&e, None, 3, &mut rng),
            Step::GiveUp(GiveUpReason::AttemptsExhausted)
        );
        // Unlimited by default.
        assert!(is_retry(&step(&e, None, 1_000_000)));
    }

    #[test]
    fn reconnect_grows_the_backoff_until_a_stable_session_resets_it() {
        let policy = Policy {
            backoff: Backoff {
                base: Duration::from_secs(1),
                factor: 2,
                max: Duration::from_secs(300),
            },
            ..Policy::default()
        };
        let mut r = Reconnect::new(policy);
        let e = Error::Io(io::ErrorKind::ConnectionReset.into());
        let t0 = Instant::now();
        let mut rng = SplitMix(11);
        for n in 1..=5 {
            let Step::Retry(d) = r.failed(&e, None, t0, &mut rng) else {
                panic!("retry expected")
            };
            assert_eq!(r.failures(), n);
            assert!(d <= policy.backoff.ceiling(n));
        }
        // Ready, but dropped after 10 s: not stable, the count goes on.
        r.session_ready(t0);
        r.failed(&e, None, t0 + Duration::from_secs(10), &mut rng);
        assert_eq!(r.failures(), 6);
        // Ready for two minutes: the next failure is the first again.
        let t1 = t0 + Duration::from_secs(20);
        r.session_ready(t1);
        r.failed(&e, None, t1 + Duration::from_secs(120), &mut rng);
        assert_eq!(r.failures(), 1);
        r.reset();
        assert_eq!(r.failures(), 0);
    }

    #[test]
    fn redirect_loops_end() {
        let mut r = Reconnect::new(Policy {
            max_redirects: 2,
            ..Policy::default()
        });
        let e = stream(StreamErrorCondition::SeeOtherHost);
        let now = Instant::now();
        let mut rng = SplitMix(2);
        for _ in 0..2 {
            let s = r.failed(&e, Some("a.example.com"), now, &mut rng);
            assert!(matches!(s, Step::FollowSeeOtherHost(_)), "{s:?}");
        }
        assert_eq!(
            r.failed(&e, Some("a.example.com"), now, &mut rng),
            Step::GiveUp(GiveUpReason::TooManyRedirects)
        );
        // Another kind of failure in between starts the redirect count over.
        let mut r = Reconnect::new(Policy {
            max_redirects: 1,
            ..Policy::default()
        });
        let io = Error::Io(io::ErrorKind::ConnectionReset.into());
        assert!(matches!(
            r.failed(&e, Some("a"), now, &mut rng),
            Step::FollowSeeOtherHost(_)
        ));
        assert!(is_retry(&r.failed(&io, None, now, &mut rng)));
        assert!(matches!(
            r.failed(&e, Some("a"), now, &mut rng),
            Step::FollowSeeOtherHost(_)
        ));
    }
}
