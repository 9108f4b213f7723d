//! The scripted server's end of a connection, shared by the integration
//! tests: plain TCP, then TLS on the same socket; the Prosody-like script
//! the blocking and the async connection tests run on it, and their
//! client-side helpers.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use picoxmpp::client::{Config, Event, Keepalive};
use picoxmpp::jid::Jid;
use picoxmpp_std::TlsSettings;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the server waits for the client before the test fails.
pub const SERVER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's end of one connection: plain TCP, then TLS on it.
pub struct Peer {
    pub tcp: TcpStream,
    pub tls: Option<ServerConnection>,
    pub pending: Vec<u8>,
}

impl Peer {
    pub fn new(tcp: TcpStream) -> Self {
        tcp.set_read_timeout(Some(SERVER_READ_TIMEOUT)).unwrap();
        Peer {
            tcp,
            tls: None,
            pending: Vec::new(),
        }
    }

    pub fn send(&mut self, s: &str) {
        match &mut self.tls {
            Some(tls) => rustls::Stream::new(tls, &mut self.tcp).write_all(s.as_bytes()),
            None => self.tcp.write_all(s.as_bytes()),
        }
        .unwrap();
    }

    /// Reads until `marker` has arrived; returns everything up to it,
    /// included, and keeps the rest.
    pub fn recv_until(&mut self, marker: &str) -> String {
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            if let Some(i) = text.find(marker) {
                let end = i + marker.len();
                self.pending.drain(..end);
                return text[..end].to_owned();
            }
            let mut buf = [0u8; 4096];
            let n = match &mut self.tls {
                Some(tls) => rustls::Stream::new(tls, &mut self.tcp).read(&mut buf),
                None => self.tcp.read(&mut buf),
            }
            .unwrap_or_else(|e| panic!("waiting for {marker:?} after {text:?}: {e}"));
            assert!(n > 0, "connection closed while waiting for {marker:?}");
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// The client's stream header.
    pub fn recv_header(&mut self) -> String {
        self.recv_until("<stream:stream");
        self.recv_until(">")
    }

    /// The server side of the TLS handshake on the same TCP stream.
    pub fn start_tls(&mut self, config: Arc<ServerConfig>) -> Result<(), rustls::Error> {
        // RFC 6120 §5.4.3.3: nothing may follow <starttls/> in plaintext.
        assert!(self.pending.is_empty(), "plaintext after <starttls/>");
        let mut tls = ServerConnection::new(config).unwrap();
        while tls.is_handshaking() {
            if let Err(e) = tls.complete_io(&mut self.tcp) {
                let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                return Err(inner
                    .cloned()
                    .unwrap_or(rustls::Error::General(e.to_string())));
            }
        }
        self.tls = Some(tls);
        Ok(())
    }

    pub fn tls(&self) -> &ServerConnection {
        self.tls.as_ref().expect("TLS is on")
    }
}

/// Text between `start` and the next `end` in `s`.
pub fn between<'s>(s: &'s str, start: &str, end: &str) -> &'s str {
    let from = s
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {s:?}"))
        + start.len();
    let len = s[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{end:?} in {s:?}"));
    &s[from..from + len]
}

// -- the Prosody-like script ---------------------------------------------------

pub const PASSWORD: &str = "r0m30myr0m30";
pub const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='c2s-1' from='example.com' \
    version='1.0' xml:lang='en'>";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

// -- the test server ---------------------------------------------------------

/// A self-signed ECDSA P-256 certificate for `name`.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    pub key: Vec<u8>,
    pub pem: String,
}

pub fn test_cert(name: &str) -> TestCert {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    TestCert {
        der: ck.cert.der().clone(),
        key: ck.signing_key.serialize_der(),
        pem: ck.cert.pem(),
    }
}

pub fn server_config(cert: &TestCert, tls12_only: bool, alpn: bool) -> Arc<ServerConfig> {
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
pub fn serve(script: impl FnOnce(Peer) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
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
pub struct Script {
    /// TLS from the first byte (XEP-0368), with ALPN `xmpp-client`.
    pub direct: bool,
    /// The server speaks TLS 1.2 only (no `tls-exporter`).
    pub tls12_only: bool,
    /// The XEP-0440 channel-binding types offered.
    pub cb_types: &'static [&'static str],
    /// The type the client must use, checked against the server's data.
    pub expect_cb: &'static str,
    /// Whether the password is accepted and the session goes on to bind,
    /// a message each way and the close; otherwise `<not-authorized/>`
    /// once the channel binding is checked.
    pub accept: bool,
}

pub const TLS13: Script = Script {
    direct: false,
    tls12_only: false,
    cb_types: &["tls-exporter", "tls-server-end-point"],
    expect_cb: "tls-exporter",
    accept: true,
};

/// The Prosody-like session: STARTTLS (or direct TLS), SCRAM-SHA-1-PLUS,
/// bind, a message each way, the close.
pub fn prosody(mut peer: Peer, tls: Arc<ServerConfig>, cert_der: &[u8], script: Script) {
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

pub fn config() -> Config<'static> {
    let mut c = Config::new(Jid::parse("juliet@example.com").unwrap(), PASSWORD);
    c.keepalive = Keepalive::Off;
    c.negotiation_timeout = Duration::from_secs(10);
    c
}

/// Trusts `cert` through a CA file, as for a private server.
pub fn trusting(cert: &TestCert, file: &str) -> TlsSettings {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
    std::fs::write(&path, &cert.pem).unwrap();
    TlsSettings::new().add_ca_file(&path).unwrap()
}

/// What the client saw, owned.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Ready(String),
    Message { from: String, body: String },
    Closed,
    Other(String),
}

pub fn own(event: Event<'_>) -> Seen {
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

/// Joins the server first, so that its assertion failures are reported
/// rather than the client's view of the dropped connection.
pub fn join(server: JoinHandle<()>) {
    if let Err(panic) = server.join() {
        std::panic::resume_unwind(panic);
    }
}

pub fn full_session() -> Vec<Seen> {
    vec![
        Seen::Ready("juliet@example.com/balcony".into()),
        Seen::Message {
            from: "romeo@example.net/orchard".into(),
            body: "Art thou not Romeo, and a Montague?".into(),
        },
        Seen::Closed,
    ]
}

/// The server's half for the handshake-failure tests: STARTTLS, then a
/// handshake the client must abort with an alert.
pub fn refused_handshake(mut peer: Peer, tls: Arc<ServerConfig>) {
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
