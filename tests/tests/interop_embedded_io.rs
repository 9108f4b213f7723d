//! The firmware's stack on the host, against Prosody: the core's blocking
//! embedded-io driver over a std TCP stream (embedded-io-adapters), TLS 1.3
//! by embedded-tls after STARTTLS, verifying the test CA (ECDSA P-256), and
//! SCRAM-SHA-1. The device logs in with its password, then again with only
//! the salted password the first login left (`Config::scram_cache`), and a
//! watcher (std adapter) receives what it sends.
//!
//! Ignored by default: needs `bash tests/interop/servers-up.sh` (run by
//! .ci/run in its interop block).

mod interop_common;

use embedded_io_adapters::std::FromStd;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsConfig, TlsConnection, TlsContext, TlsError,
    TlsVerifier,
};
use embedded_tls::pki::CertVerifier;
use embedded_tls::NoClock;
use interop_common::{
    ca_path, config, config_with, generation, leak_buf, tls_settings, unique_resource, Generation,
    PROSODY,
};
use picoxmpp::client::{Client, ClientError, Config, Event, TlsBinding};
use picoxmpp::io::{blocking::Driver, Progress};
use picoxmpp::jid::Jid;
use picoxmpp::sasl::scram::SaltedPassword;
use picoxmpp::sasl::{Mechanism, SaslError};
use picoxmpp::stanza::MessageType;
use picoxmpp::time::Instant;
use picoxmpp_std::{Connection, Next};
use rand_core::OsRng;
use rustls_pki_types::pem::PemObject;
use std::net::TcpStream;
use std::time::Duration;

/// A std TCP stream as embedded-io, with the readiness check the blocking
/// driver needs ([`readable`]).
struct Tcp {
    io: FromStd<TcpStream>,
    probe: TcpStream,
}

impl Tcp {
    fn connect(port: u16) -> Tcp {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("Prosody on 127.0.0.1");
        s.set_nodelay(true).unwrap();
        let probe = s.try_clone().unwrap();
        Tcp {
            io: FromStd::new(s),
            probe,
        }
    }

    fn readable(&self) -> bool {
        readable(&self.probe)
    }
}

/// Whether a read of `socket` would return at once: a peek in
/// non-blocking mode, which is switched off again at once (the mode
/// belongs to the socket, shared with the clone that reads).
fn readable(socket: &TcpStream) -> bool {
    socket.set_nonblocking(true).unwrap();
    let r = socket.peek(&mut [0u8; 1]);
    socket.set_nonblocking(false).unwrap();
    match r {
        Ok(_) => true, // bytes, or the end of the stream (a read returns 0)
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock, // the read reports it
    }
}

impl embedded_io::ErrorType for Tcp {
    type Error = std::io::Error;
}
impl embedded_io::Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.io.read(buf)
    }
}
impl embedded_io::Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.io.write(buf)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.io.flush()
    }
}
impl embedded_io::ReadReady for Tcp {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.readable())
    }
}

struct Provider<'a> {
    verifier: CertVerifier<'a, Aes128GcmSha256, NoClock, 4096>,
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = p256::ecdsa::DerSignature;
    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        OsRng
    }
    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// The TLS stream, readable when embedded-tls holds decrypted bytes or
/// the socket holds ciphertext (embedded-tls reads one record at a time).
struct Tls<'a> {
    tls: TlsConnection<'a, Tcp, Aes128GcmSha256>,
    probe: TcpStream,
    more: bool,
}

impl embedded_io::ErrorType for Tls<'_> {
    type Error = TlsError;
}
impl embedded_io::Read for Tls<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        let n = self.tls.read(buf)?;
        self.more = n == buf.len();
        Ok(n)
    }
}
impl embedded_io::Write for Tls<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.tls.write(buf)
    }
    fn flush(&mut self) -> Result<(), TlsError> {
        self.tls.flush()
    }
}
impl embedded_io::ReadReady for Tls<'_> {
    fn read_ready(&mut self) -> Result<bool, TlsError> {
        Ok(self.more || readable(&self.probe))
    }
}

fn clock() -> Instant {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    Instant::from_millis(start.elapsed().as_millis() as u64)
}

/// What one device session did.
struct Outcome {
    jid: String,
    salted: Option<SaltedPassword>,
    tls: bool,
}

/// The device's part, the same over both drivers: once bound, presence
/// and the message to `watcher`, then the polite close. True once the
/// session is over.
fn react(
    progress: Progress,
    ready: Option<String>,
    jid: &mut Option<String>,
    client: &mut Client<'_, '_, OsRng>,
    watcher: Jid<'_>,
    body: &str,
) -> bool {
    match progress {
        Progress::Event => {
            if let Some(j) = ready {
                *jid = Some(j);
                client.set_presence(None, Some("on the host"), 0).unwrap();
                client
                    .send_message(watcher, MessageType::Chat, body)
                    .unwrap();
                client.close(clock()).unwrap();
            }
            false
        }
        Progress::Closed => true,
        Progress::Deadline => panic!("no polite close within 15 s"),
        Progress::StartTls => panic!("STARTTLS twice"),
    }
}

/// A whole device session over the embedded stack: STARTTLS, TLS by
/// embedded-tls, SASL, bind, presence, a message to `watcher`, close. A
/// session the client refuses or fails gives its error.
fn device_session(config: Config<'_>, watcher: &str, body: &str) -> Result<Outcome, ClientError> {
    let (mut rx, mut tx) = (vec![0u8; 2048], vec![0u8; 1024]);
    let mut client = Client::new(config, &mut rx, &mut tx, OsRng);
    let tcp = Tcp::connect(PROSODY.starttls);
    let probe = tcp.probe.try_clone().unwrap();
    let mut plain = Driver::new(tcp, clock as fn() -> Instant);
    // Stream header, features, <starttls/>, <proceed/>: nothing to report
    // before TLS (RFC 6120 §5.4.2).
    let before_tls = plain.poll(&mut client, None, |e| panic!("an event before TLS: {e:?}"));
    assert!(
        matches!(before_tls, Ok(Progress::StartTls)),
        "{before_tls:?}"
    );
    let ca = rustls_pki_types::CertificateDer::from_pem_file(ca_path()).expect("the test CA (PEM)");
    let (mut read_buf, mut write_buf) = (vec![0u8; 16_640], vec![0u8; 4096]);
    let (tcp, clock) = plain.into_parts();
    let mut tls = TlsConnection::new(tcp, &mut read_buf, &mut write_buf);
    tls.open(TlsContext::new(
        &TlsConfig::new().with_server_name("localhost"),
        Provider {
            verifier: CertVerifier::new(Certificate::X509(ca.as_ref())),
        },
    ))
    .expect("TLS 1.3 handshake with embedded-tls, the server certificate verified");
    client.tls_established(TlsBinding::None);
    let mut driver = Driver::new(
        Tls {
            tls,
            probe,
            more: false,
        },
        clock,
    );
    let deadline = clock() + Duration::from_secs(15);
    let mut jid = None;
    let watcher = Jid::parse(watcher).unwrap();
    loop {
        let mut ready = None;
        let progress = driver
            .poll(&mut client, Some(deadline), |e| {
                if let Event::Ready { jid } = e {
                    ready = Some(jid.as_str().to_owned());
                }
            })
            .map_err(|e| match e {
                picoxmpp::io::Error::Client(e) => e,
                other => panic!("the transport failed: {other:?}"),
            })?;
        if react(progress, ready, &mut jid, &mut client, watcher, body) {
            break;
        }
    }
    Ok(Outcome {
        jid: jid.expect("bound before the close"),
        salted: client.salted_password().cloned(),
        tls: client.is_tls(),
    })
}

/// The watcher (bob, with the std adapter), logged in; and its full JID.
fn watcher(tag: &str) -> (Connection<'static>, String) {
    let bob = format!("bob@localhost/{}", unique_resource(tag));
    let mut watcher = Connection::connect(
        ("127.0.0.1", PROSODY.starttls),
        leak_buf(64 * 1024),
        leak_buf(16 * 1024),
        config(&bob, "bob-pass"),
        &tls_settings(false),
    )
    .expect("the watcher connects");
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !matches!(
        watcher.next_event_until(until, |e| matches!(e, Event::Ready { .. })),
        Ok(Next::Event(true))
    ) {
        assert!(
            std::time::Instant::now() < until,
            "the watcher did not log in"
        );
    }
    (watcher, bob)
}

/// The bodies of the next `n` messages the watcher receives (fewer if
/// they do not come within 10 s); then closes it.
fn bodies(watcher: &mut Connection<'static>, n: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while bodies.len() < n && std::time::Instant::now() < until {
        if let Ok(Next::Event(Some(b))) = watcher.next_event_until(until, |e| match e {
            Event::Message(m) => m.body().map(|b| b.to_string()),
            _ => None,
        }) {
            bodies.push(b);
        }
    }
    let _ = watcher.close();
    bodies
}

#[test]
#[ignore = "needs Prosody: bash tests/interop/servers-up.sh"]
fn embedded_stack_logs_in_with_password_then_with_the_cached_salted_password() {
    let (mut watcher, bob) = watcher("embedded-io-watcher");

    const SCRAM_SHA1: &[Mechanism] = &[Mechanism::ScramSha1];
    let device = format!("alice@localhost/{}", unique_resource("embedded-io"));
    let first = device_session(
        config_with(&device, "alice-pass", Some(SCRAM_SHA1)),
        &bob,
        "first, with the password",
    )
    .expect("login with the password");
    assert!(first.tls);
    assert!(first.jid.starts_with("alice@localhost/"), "{}", first.jid);
    let salted = first
        .salted
        .expect("SCRAM-SHA-1 leaves a salted password to cache");

    // The second login: no password at all, only the cache.
    let mut c = config_with(&device, "unused", Some(SCRAM_SHA1));
    c.password = None;
    let leaked: &'static SaltedPassword = Box::leak(Box::new(salted.clone()));
    c.scram_cache = Some(leaked);
    let second = device_session(c, &bob, "second, with the cached salted password");
    let expected: &[&str] = match generation() {
        // Prosody 0.12 stores the salted password: the same salt each time,
        // so the cache logs in without the password.
        Generation::Previous => {
            let second = second.expect("login with the cached salted password");
            assert!(second.tls);
            assert!(second.jid.starts_with("alice@localhost/"), "{}", second.jid);
            &[
                "first, with the password",
                "second, with the cached salted password",
            ]
        }
        // The current generation stores passwords in clear here
        // (servers-up.sh) and salts every exchange afresh: the cache cannot
        // match, and the client says it needs the password.
        Generation::Current => {
            assert_eq!(
                second.err(),
                Some(ClientError::Sasl(SaslError::PasswordNeeded))
            );
            let third = device_session(
                config_with(&device, "alice-pass", Some(SCRAM_SHA1)),
                &bob,
                "third, with the password again",
            )
            .expect("login with the password");
            assert_ne!(third.salted, Some(salted), "the salt did not change");
            &["first, with the password", "third, with the password again"]
        }
    };

    // The messages reached the watcher, in order.
    assert_eq!(bodies(&mut watcher, expected.len()), expected);
}

/// The async driver over tokio's TCP (embedded-io-adapters) and
/// embedded-tls's async connection, timed by tokio's sleep.
async fn device_session_async(config: Config<'_>, watcher: &str, body: &str) -> Outcome {
    use embedded_io_adapters::tokio_1::FromTokio;
    use picoxmpp::io::asynch::Driver as AsyncDriver;

    let (mut rx, mut tx) = (vec![0u8; 2048], vec![0u8; 1024]);
    let mut client = Client::new(config, &mut rx, &mut tx, OsRng);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", PROSODY.starttls))
        .await
        .expect("Prosody on 127.0.0.1");
    tcp.set_nodelay(true).unwrap();
    let sleep = |at: Instant| {
        let now = clock();
        tokio::time::sleep(Duration::from_millis(
            at.as_millis().saturating_sub(now.as_millis()),
        ))
    };
    let mut plain = AsyncDriver::new(FromTokio::new(tcp), clock as fn() -> Instant, sleep);
    let before_tls = plain
        .poll(&mut client, None, |e| panic!("an event before TLS: {e:?}"))
        .await;
    assert!(
        matches!(before_tls, Ok(Progress::StartTls)),
        "{before_tls:?}"
    );
    let ca = rustls_pki_types::CertificateDer::from_pem_file(ca_path()).expect("the test CA (PEM)");
    let (mut read_buf, mut write_buf) = (vec![0u8; 16_640], vec![0u8; 4096]);
    let (tcp, clock, sleep) = plain.into_parts();
    let mut tls = embedded_tls::TlsConnection::new(tcp, &mut read_buf, &mut write_buf);
    tls.open(embedded_tls::TlsContext::new(
        &TlsConfig::new().with_server_name("localhost"),
        Provider {
            verifier: CertVerifier::new(Certificate::X509(ca.as_ref())),
        },
    ))
    .await
    .expect("TLS 1.3 handshake with embedded-tls (async), the server certificate verified");
    client.tls_established(TlsBinding::None);
    let mut driver = AsyncDriver::new(tls, clock, sleep);
    let deadline = clock() + Duration::from_secs(15);
    let watcher = Jid::parse(watcher).unwrap();
    let mut jid = None;
    loop {
        let mut ready = None;
        let progress = driver
            .poll(&mut client, Some(deadline), |e| {
                if let Event::Ready { jid } = e {
                    ready = Some(jid.as_str().to_owned());
                }
            })
            .await
            .unwrap_or_else(|e| panic!("the session failed: {e:?}"));
        if react(progress, ready, &mut jid, &mut client, watcher, body) {
            break;
        }
    }
    Outcome {
        jid: jid.expect("bound before the close"),
        salted: client.salted_password().cloned(),
        tls: client.is_tls(),
    }
}

#[test]
#[ignore = "needs Prosody: bash tests/interop/servers-up.sh"]
fn embedded_stack_async_driver_over_tokio() {
    let (mut watcher, bob) = watcher("embedded-io-async-watcher");
    let device = format!("alice@localhost/{}", unique_resource("embedded-io-async"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(device_session_async(
        config_with(&device, "alice-pass", Some(&[Mechanism::ScramSha1])),
        &bob,
        "over the async driver",
    ));
    assert!(outcome.tls);
    assert!(
        outcome.jid.starts_with("alice@localhost/"),
        "{}",
        outcome.jid
    );
    assert!(outcome.salted.is_some());
    assert_eq!(bodies(&mut watcher, 1), ["over the async driver"]);
}
