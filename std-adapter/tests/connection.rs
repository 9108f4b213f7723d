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
use common::{
    config, full_session, join, own, prosody, refused_handshake, serve, server_config, test_cert,
    trusting, Script, Seen, HEADER, NS_SASL, TLS13,
};
use picoxmpp::client::ClientError;
use picoxmpp::jid::Jid;
use picoxmpp::sasl::SaslFailure;
use picoxmpp::stanza::MessageType;
use picoxmpp_std::{Connection, Error, Next, TlsSettings};
use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

// -- the client side -----------------------------------------------------------

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
