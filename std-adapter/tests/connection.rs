//! The blocking connection against a scripted XMPP server in a thread on
//! 127.0.0.1, which answers as Prosody does: STARTTLS required, then the
//! rustls server side of the handshake on the same socket, SCRAM-SHA-1-PLUS
//! and PLAIN with the XEP-0440 channel-binding list, bind, a message, the
//! close. The server checks the channel binding the client sends against
//! its own view of the TLS session, so a passing SCRAM-*-PLUS exchange
//! proves the adapter extracted the right data.
//!
//! Not tested here: that each unit the core transmits leaves in one write
//! (the reads of the other side cannot show how the bytes were written);
//! `Transport::write_unit` in `src/connection.rs` documents it.

mod common;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{between, Peer};
use hmac::{Hmac, Mac};
use picoxmpp::client::{ClientError, Config, Event, Keepalive};
use picoxmpp::jid::Jid;
use picoxmpp::sasl::SaslFailure;
use picoxmpp::stanza::MessageType;
use picoxmpp_std::{Connection, Error, Next, TlsSettings};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use sha1::{Digest, Sha1};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PASSWORD: &str = "r0m30myr0m30";
const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='c2s-1' from='example.com' \
    version='1.0' xml:lang='en'>";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

// -- the test server ---------------------------------------------------------

/// A self-signed ECDSA P-256 certificate for `name`.
struct TestCert {
    der: CertificateDer<'static>,
    key: Vec<u8>,
    pem: String,
}

fn test_cert(name: &str) -> TestCert {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    TestCert {
        der: ck.cert.der().clone(),
        key: ck.signing_key.serialize_der(),
        pem: ck.cert.pem(),
    }
}

fn server_config(cert: &TestCert, tls12_only: bool, alpn: bool) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider);
    let builder = if tls12_only {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
    let mut config = builder
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], key)
        .unwrap();
    if alpn {
        config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    }
    Arc::new(config)
}

/// Runs `script` on the first connection to a fresh listener on
/// 127.0.0.1.
fn serve(script: impl FnOnce(Peer) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        script(Peer::new(tcp));
    });
    (addr, handle)
}

/// What the server does in the scripted session.
#[derive(Clone, Copy)]
struct Script {
    /// TLS from the first byte (XEP-0368), with ALPN `xmpp-client`.
    direct: bool,
    /// The server speaks TLS 1.2 only (no `tls-exporter`).
    tls12_only: bool,
    /// The XEP-0440 channel-binding types offered.
    cb_types: &'static [&'static str],
    /// The type the client must use, checked against the server's data.
    expect_cb: &'static str,
    /// Whether the password is accepted and the session goes on to bind,
    /// a message each way and the close; otherwise `<not-authorized/>`
    /// once the channel binding is checked.
    accept: bool,
}

const TLS13: Script = Script {
    direct: false,
    tls12_only: false,
    cb_types: &["tls-exporter", "tls-server-end-point"],
    expect_cb: "tls-exporter",
    accept: true,
};

/// The Prosody-like session: STARTTLS (or direct TLS), SCRAM-SHA-1-PLUS,
/// bind, a message each way, the close.
fn prosody(mut peer: Peer, tls: Arc<ServerConfig>, cert_der: &[u8], script: Script) {
    // RFC 6120 §9.1: stream, STARTTLS, TLS negotiation.
    if script.direct {
        peer.start_tls(tls).unwrap();
        assert_eq!(peer.tls().alpn_protocol(), Some(&b"xmpp-client"[..]));
    } else {
        let header = peer.recv_header();
        assert!(header.contains("to='example.com'"), "{header}");
        peer.send(HEADER);
        peer.send(
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
             <required/></starttls></stream:features>",
        );
        peer.recv_until("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        peer.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        peer.start_tls(tls).unwrap();
    }
    let expected_version = if script.tls12_only {
        rustls::ProtocolVersion::TLSv1_2
    } else {
        rustls::ProtocolVersion::TLSv1_3
    };
    assert_eq!(peer.tls().protocol_version(), Some(expected_version));

    // RFC 6120 §9.1.3: SASL over the new stream.
    peer.recv_header();
    peer.send(HEADER);
    let cb: String = script
        .cb_types
        .iter()
        .map(|t| format!("<channel-binding type='{t}'/>"))
        .collect();
    peer.send(&format!(
        "<stream:features><mechanisms xmlns='{NS_SASL}'>\
         <mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
         <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>{cb}</sasl-channel-binding>\
         </stream:features>"
    ));
    let auth = peer.recv_until("</auth>");
    assert!(auth.contains("mechanism='SCRAM-SHA-1-PLUS'"), "{auth}");
    let client_first = B64.decode(between(&auth, ">", "</auth>")).unwrap();
    let client_first = String::from_utf8(client_first).unwrap();
    // RFC 5802 §7: the GS2 header names the channel-binding type.
    let gs2_header = format!("p={},,", script.expect_cb);
    let client_first_bare = client_first
        .strip_prefix(&gs2_header)
        .unwrap_or_else(|| panic!("GS2 header of {client_first:?}"));
    let client_nonce = field(client_first_bare, "r=");

    let salt = b"QSXCR+Q6sek8bf92";
    let iterations = 4096;
    let nonce = format!("{client_nonce}3rfcNHYJY1ZVvWVs7j");
    let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
    peer.send(&format!(
        "<challenge xmlns='{NS_SASL}'>{}</challenge>",
        B64.encode(&server_first)
    ));
    let response = peer.recv_until("</response>");
    let client_final = B64.decode(between(&response, ">", "</response>")).unwrap();
    let client_final = String::from_utf8(client_final).unwrap();
    let (without_proof, proof) = client_final.split_once(",p=").unwrap();

    // RFC 5802 §7 and RFC 9266 / RFC 5929: c= is the GS2 header and the
    // channel-binding data, which the server computes on its own side of
    // the TLS session.
    let binding: Vec<u8> = match script.expect_cb {
        "tls-exporter" => peer
            .tls()
            .export_keying_material([0u8; 32], EXPORTER_LABEL, None)
            .unwrap()
            .to_vec(),
        // RFC 5929 §4.1: the test certificate is signed with
        // ecdsa-with-SHA256, so SHA-256 of its DER.
        "tls-server-end-point" => sha2::Sha256::digest(cert_der).to_vec(),
        other => panic!("unexpected binding type {other}"),
    };
    let c = B64
        .decode(field(&client_final, "c="))
        .expect("c= is base64");
    assert_eq!(
        c,
        [gs2_header.as_bytes(), &binding].concat(),
        "c= of {client_final}"
    );
    assert_eq!(field(&client_final, "r="), nonce);

    if !script.accept {
        peer.send(&format!(
            "<failure xmlns='{NS_SASL}'><not-authorized/></failure>"
        ));
        peer.recv_until("</stream:stream>");
        peer.send("</stream:stream>");
        return;
    }

    // RFC 5802 §3: the proof, then the server signature.
    let salted = pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(PASSWORD.as_bytes(), salt, iterations);
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha1::digest(client_key);
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let expected_proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect();
    assert_eq!(B64.decode(proof).unwrap(), expected_proof, "client proof");
    let server_signature = hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes());
    peer.send(&format!(
        "<success xmlns='{NS_SASL}'>{}</success>",
        B64.encode(format!("v={}", B64.encode(server_signature)))
    ));

    // RFC 6120 §9.1.4: resource binding on the restarted stream.
    peer.recv_header();
    peer.send(HEADER);
    peer.send(
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
    );
    let bind = peer.recv_until("</iq>");
    let id = between(&bind, "id='", "'");
    peer.send(&format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <jid>juliet@example.com/balcony</jid></bind></iq>"
    ));

    // RFC 6120 §9.1.5: a message each way.
    peer.send(
        "<message from='romeo@example.net/orchard' to='juliet@example.com/balcony' \
         type='chat' id='m1'><body>Art thou not Romeo, and a Montague?</body></message>",
    );
    let reply = peer.recv_until("</message>");
    assert!(reply.contains("to='romeo@example.net/orchard'"), "{reply}");
    assert!(
        reply.contains("<body>Neither, fair saint</body>"),
        "{reply}"
    );

    // RFC 6120 §4.4: the client closes, the server answers.
    let close = peer.recv_until("</stream:stream>");
    assert!(close.contains("type='unavailable'"), "{close}");
    peer.send("</stream:stream>");
    if let Some(tls) = &mut peer.tls {
        tls.send_close_notify();
        let _ = tls.complete_io(&mut peer.tcp);
    }
}

/// The value of a SCRAM attribute (RFC 5802 §5.1) in `message`.
fn field<'m>(message: &'m str, key: &str) -> &'m str {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(key))
        .unwrap_or_else(|| panic!("{key} in {message:?}"))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

// -- the client side -----------------------------------------------------------

fn config() -> Config<'static> {
    let mut c = Config::new(Jid::parse("juliet@example.com").unwrap(), PASSWORD);
    c.keepalive = Keepalive::Off;
    c.negotiation_timeout = Duration::from_secs(10);
    c
}

/// Trusts `cert` through a CA file, as for a private server.
fn trusting(cert: &TestCert, file: &str) -> TlsSettings {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
    std::fs::write(&path, &cert.pem).unwrap();
    TlsSettings::new().add_ca_file(&path).unwrap()
}

/// What the client saw, owned.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Ready(String),
    Message { from: String, body: String },
    Closed,
    Other(String),
}

fn own(event: Event<'_>) -> Seen {
    match event {
        Event::Ready { jid } => Seen::Ready(jid.to_string()),
        Event::Message(m) => Seen::Message {
            from: m.from().map(|f| f.to_string()).unwrap_or_default(),
            body: m.body().map(|b| b.to_string()).unwrap_or_default(),
        },
        Event::Closed => Seen::Closed,
        other => Seen::Other(format!("{other:?}")),
    }
}

/// Runs a whole session as an application would: answers the message,
/// then closes. Returns what it saw, or the error.
fn run_client(addr: SocketAddr, tls: &TlsSettings) -> Result<Vec<Seen>, Error> {
    let (mut rx, mut tx) = (vec![0u8; 8192], vec![0u8; 4096]);
    let mut conn = Connection::connect(addr, &mut rx, &mut tx, config(), tls)?;
    let mut seen = Vec::new();
    while let Some(event) = conn.next_event(own)? {
        let answer = match &event {
            Seen::Message { from, .. } => Some(from.clone()),
            _ => None,
        };
        if let Seen::Ready(_) = event {
            assert!(conn.tls().is_some(), "ready without TLS");
            assert!(conn.channel_bindings().is_some());
        }
        seen.push(event);
        if let Some(from) = answer {
            let to = Jid::parse(&from).unwrap();
            conn.client()
                .send_message(to, MessageType::Chat, "Neither, fair saint")?;
            // A deadline already past: written, nothing read.
            let flushed = conn.next_event_until(Instant::now(), own)?;
            assert_eq!(flushed, Next::Timeout);
            conn.close()?;
            seen.push(Seen::Closed);
            // Shut down: TLS and TCP are gone.
            assert!(conn.tls().is_none());
            break;
        }
    }
    Ok(seen)
}

/// Joins the server first, so that its assertion failures are reported
/// rather than the client's view of the dropped connection.
fn join(server: JoinHandle<()>) {
    if let Err(panic) = server.join() {
        std::panic::resume_unwind(panic);
    }
}

fn full_session() -> Vec<Seen> {
    vec![
        Seen::Ready("juliet@example.com/balcony".into()),
        Seen::Message {
            from: "romeo@example.net/orchard".into(),
            body: "Art thou not Romeo, and a Montague?".into(),
        },
        Seen::Closed,
    ]
}

// -- tests -------------------------------------------------------------------

#[test]
fn starttls_scram_sha1_plus_with_tls_exporter_then_bind_message_close() {
    let cert = test_cert("example.com");
    let tls = server_config(&cert, false, false);
    let der = cert.der.to_vec();
    let (addr, server) = serve(move |peer| prosody(peer, tls, &der, TLS13));
    let settings = trusting(&cert, "ca-exporter.pem");
    let result = run_client(addr, &settings);
    join(server);
    assert_eq!(result.unwrap(), full_session());
}

#[test]
fn tls12_binds_with_tls_server_end_point() {
    let cert = test_cert("example.com");
    let der = cert.der.to_vec();
    let tls = server_config(&cert, true, false);
    let (addr, server) = serve(move |peer| {
        prosody(
            peer,
            tls,
            &der,
            Script {
                tls12_only: true,
                expect_cb: "tls-server-end-point",
                ..TLS13
            },
        )
    });
    let settings = trusting(&cert, "ca-end-point.pem");
    let result = run_client(addr, &settings);
    join(server);
    assert_eq!(result.unwrap(), full_session());
}

#[test]
fn direct_tls_with_alpn_then_authentication_failure() {
    let cert = test_cert("example.com");
    let tls = server_config(&cert, false, true);
    let script = Script {
        direct: true,
        accept: false,
        ..TLS13
    };
    let der = cert.der.to_vec();
    let (addr, server) = serve(move |peer| prosody(peer, tls, &der, script));
    let settings = trusting(&cert, "ca-direct.pem").direct_tls();
    let result = run_client(addr, &settings);
    join(server);
    match result {
        Err(Error::Client(ClientError::AuthenticationFailed(SaslFailure::NotAuthorized))) => {}
        other => panic!("expected not-authorized, got {other:?}"),
    }
}

#[test]
fn no_starttls_offered_fails_with_tls_not_offered() {
    let (addr, server) = serve(|mut peer| {
        peer.recv_header();
        peer.send(HEADER);
        // A stripped offer: SASL without STARTTLS.
        peer.send(&format!(
            "<stream:features><mechanisms xmlns='{NS_SASL}'>\
             <mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        ));
        // The client closes the stream rather than go on in plaintext.
        peer.recv_until("</stream:stream>");
    });
    let result = run_client(addr, &TlsSettings::new());
    join(server);
    match result {
        Err(Error::Client(ClientError::TlsNotOffered)) => {}
        other => panic!("expected TlsNotOffered, got {other:?}"),
    }
}

/// The server's half for the handshake-failure tests: STARTTLS, then a
/// handshake the client must abort with an alert.
fn refused_handshake(mut peer: Peer, tls: Arc<ServerConfig>) {
    peer.recv_header();
    peer.send(HEADER);
    peer.send(
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
         <required/></starttls></stream:features>",
    );
    peer.recv_until("/>");
    peer.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    match peer.start_tls(tls) {
        Err(rustls::Error::AlertReceived(_)) => {}
        other => panic!("expected the client's alert, got {other:?}"),
    }
}

#[test]
fn untrusted_certificate_fails_the_handshake() {
    let cert = test_cert("example.com");
    let tls = server_config(&cert, false, false);
    let (addr, server) = serve(move |peer| refused_handshake(peer, tls));
    // No CA given: Mozilla's roots do not include the test certificate.
    let result = run_client(addr, &TlsSettings::new());
    join(server);
    match result {
        Err(Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))) => {}
        other => panic!("expected an unknown issuer, got {other:?}"),
    }
}

#[test]
fn certificate_for_another_name_fails_the_handshake() {
    let cert = test_cert("localhost");
    let tls = server_config(&cert, false, false);
    let (addr, server) = serve(move |peer| refused_handshake(peer, tls));
    // Trusted, but the account's domain is example.com.
    let result = run_client(addr, &trusting(&cert, "ca-localhost.pem"));
    join(server);
    match result {
        Err(Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        ))) => {}
        other => panic!("expected a name mismatch, got {other:?}"),
    }
}

#[test]
fn server_name_override_and_danger_accept_invalid_certs() {
    // The name override: a certificate for localhost, account on
    // example.com.
    let cert = test_cert("localhost");
    let tls = server_config(&cert, false, false);
    let script = Script {
        accept: false,
        ..TLS13
    };
    let der = cert.der.to_vec();
    let (addr, server) = serve(move |peer| prosody(peer, tls, &der, script));
    let settings = trusting(&cert, "ca-override.pem").server_name("localhost");
    let result = run_client(addr, &settings);
    join(server);
    assert!(matches!(
        result,
        Err(Error::Client(ClientError::AuthenticationFailed(_)))
    ));

    // No verification at all: the untrusted certificate is accepted.
    let cert = test_cert("example.com");
    let tls = server_config(&cert, false, false);
    let der = cert.der.to_vec();
    let (addr, server) = serve(move |peer| prosody(peer, tls, &der, script));
    let result = run_client(addr, &TlsSettings::new().danger_accept_invalid_certs());
    join(server);
    assert!(matches!(
        result,
        Err(Error::Client(ClientError::AuthenticationFailed(_)))
    ));
}

#[test]
fn a_silent_server_times_out_the_negotiation() {
    let (addr, server) = serve(|mut peer| {
        peer.recv_header();
        // Say nothing until the client gives up.
        let mut buf = [0u8; 64];
        let _ = peer.tcp.read(&mut buf);
    });
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 2048]);
    let mut config = config();
    config.negotiation_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let mut conn =
        Connection::connect(addr, &mut rx, &mut tx, config, &TlsSettings::new()).unwrap();
    let result = conn.next_event(own);
    let elapsed = start.elapsed();
    drop(conn);
    join(server);
    match result {
        Err(Error::Client(ClientError::Timeout(_))) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn a_stalled_handshake_times_out() {
    let (addr, server) = serve(|mut peer| {
        peer.recv_header();
        peer.send(HEADER);
        peer.send(
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\
             </stream:features>",
        );
        peer.recv_until("/>");
        peer.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        // Read the ClientHello, never answer it.
        let mut buf = [0u8; 4096];
        while matches!(peer.tcp.read(&mut buf), Ok(n) if n > 0) {}
    });
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 2048]);
    let mut config = config();
    config.negotiation_timeout = Duration::from_millis(500);
    let mut conn =
        Connection::connect(addr, &mut rx, &mut tx, config, &TlsSettings::new()).unwrap();
    let result = conn.next_event(own);
    drop(conn);
    join(server);
    match result {
        Err(Error::Timeout("the TLS handshake")) => {}
        other => panic!("expected a handshake timeout, got {other:?}"),
    }
}

#[test]
fn next_event_until_returns_at_the_callers_deadline() {
    let (addr, server) = serve(|mut peer| {
        peer.recv_header();
        let mut buf = [0u8; 64];
        let _ = peer.tcp.read(&mut buf);
    });
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 2048]);
    let mut conn =
        Connection::connect(addr, &mut rx, &mut tx, config(), &TlsSettings::new()).unwrap();
    let start = Instant::now();
    let next = conn
        .next_event_until(start + Duration::from_millis(100), own)
        .unwrap();
    assert_eq!(next, Next::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(conn.now().as_millis() >= 100);
    drop(conn);
    join(server);
}
