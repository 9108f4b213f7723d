//! The async connection (the `tokio` feature) against the scripted XMPP
//! server of `tests/connection.rs`: the same Prosody-like script in a std
//! thread on 127.0.0.1 (STARTTLS or direct TLS, SCRAM-SHA-1-PLUS with the
//! channel binding checked against the server's own view of the TLS
//! session, bind, a message, the close), the client side in a
//! `#[tokio::test]`. Same scenarios, same expectations: the two adapters
//! run the same core, and neither decides anything about XMPP.
#![cfg(feature = "tokio")]

mod common;
use common::{
    config, full_session, join, own, prosody, refused_handshake, serve, server_config, test_cert,
    trusting, Script, Seen, HEADER, NS_SASL, TLS13,
};
use picoxmpp::client::ClientError;
use picoxmpp::jid::Jid;
use picoxmpp::sasl::SaslFailure;
use picoxmpp::stanza::MessageType;
use picoxmpp_std::{AsyncConnection, Error, Next, TlsSettings};
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

// -- the client side -----------------------------------------------------------

/// Runs a whole session as an application would: answers the message,
/// then closes. Returns what it saw, or the error.
async fn run_client(addr: SocketAddr, tls: &TlsSettings) -> Result<Vec<Seen>, Error> {
    let (mut rx, mut tx) = (vec![0u8; 8192], vec![0u8; 4096]);
    let mut conn = AsyncConnection::connect(addr, &mut rx, &mut tx, config(), tls).await?;
    let mut seen = Vec::new();
    while let Some(event) = conn.next_event(own).await? {
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
            let flushed = conn.next_event_until(Instant::now(), own).await?;
            assert_eq!(flushed, Next::Timeout);
            conn.close().await?;
            seen.push(Seen::Closed);
            // Shut down: TLS and TCP are gone.
            assert!(conn.tls().is_none());
            break;
        }
    }
    Ok(seen)
}

// -- tests -------------------------------------------------------------------

#[tokio::test]
async fn starttls_scram_sha1_plus_with_tls_exporter_then_bind_message_close() {
    let cert = test_cert("example.com");
    let tls = server_config(&cert, false, false);
    let der = cert.der.to_vec();
    let (addr, server) = serve(move |peer| prosody(peer, tls, &der, TLS13));
    let settings = trusting(&cert, "tokio-ca-exporter.pem");
    // On a spawned task: the session's futures are Send.
    let result = tokio::spawn(async move { run_client(addr, &settings).await })
        .await
        .unwrap();
    join(server);
    assert_eq!(result.unwrap(), full_session());
}

#[tokio::test]
async fn tls12_binds_with_tls_server_end_point() {
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
    let settings = trusting(&cert, "tokio-ca-end-point.pem");
    let result = run_client(addr, &settings).await;
    join(server);
    assert_eq!(result.unwrap(), full_session());
}

#[tokio::test]
async fn direct_tls_with_alpn_then_authentication_failure() {
    let cert = test_cert("example.com");
    let tls = server_config(&cert, false, true);
    let script = Script {
        direct: true,
        accept: false,
        ..TLS13
    };
    let der = cert.der.to_vec();
    let (addr, server) = serve(move |peer| prosody(peer, tls, &der, script));
    let settings = trusting(&cert, "tokio-ca-direct.pem").direct_tls();
    let result = run_client(addr, &settings).await;
    join(server);
    match result {
        Err(Error::Client(ClientError::AuthenticationFailed(SaslFailure::NotAuthorized))) => {}
        other => panic!("expected not-authorized, got {other:?}"),
    }
}

#[tokio::test]
async fn no_starttls_offered_fails_with_tls_not_offered() {
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
    let result = run_client(addr, &TlsSettings::new()).await;
    join(server);
    match result {
        Err(Error::Client(ClientError::TlsNotOffered)) => {}
        other => panic!("expected TlsNotOffered, got {other:?}"),
    }
}

#[tokio::test]
async fn untrusted_certificate_fails_the_handshake() {
    let cert = test_cert("example.com");
    let tls = server_config(&cert, false, false);
    let (addr, server) = serve(move |peer| refused_handshake(peer, tls));
    // No CA given: Mozilla's roots do not include the test certificate.
    let result = run_client(addr, &TlsSettings::new()).await;
    join(server);
    match result {
        Err(Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))) => {}
        other => panic!("expected an unknown issuer, got {other:?}"),
    }
}

#[tokio::test]
async fn certificate_for_another_name_fails_the_handshake() {
    let cert = test_cert("localhost");
    let tls = server_config(&cert, false, false);
    let (addr, server) = serve(move |peer| refused_handshake(peer, tls));
    // Trusted, but the account's domain is example.com.
    let result = run_client(addr, &trusting(&cert, "tokio-ca-localhost.pem")).await;
    join(server);
    match result {
        Err(Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        ))) => {}
        other => panic!("expected a name mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn server_name_override_and_danger_accept_invalid_certs() {
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
    let settings = trusting(&cert, "tokio-ca-override.pem").server_name("localhost");
    let result = run_client(addr, &settings).await;
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
    let result = run_client(addr, &TlsSettings::new().danger_accept_invalid_certs()).await;
    join(server);
    assert!(matches!(
        result,
        Err(Error::Client(ClientError::AuthenticationFailed(_)))
    ));
}

#[tokio::test]
async fn a_silent_server_times_out_the_negotiation() {
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
    let mut conn = AsyncConnection::connect(addr, &mut rx, &mut tx, config, &TlsSettings::new())
        .await
        .unwrap();
    let result = conn.next_event(own).await;
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

#[tokio::test]
async fn a_stalled_handshake_times_out() {
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
    let mut conn = AsyncConnection::connect(addr, &mut rx, &mut tx, config, &TlsSettings::new())
        .await
        .unwrap();
    let result = conn.next_event(own).await;
    drop(conn);
    join(server);
    match result {
        Err(Error::Timeout("the TLS handshake")) => {}
        other => panic!("expected a handshake timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn next_event_until_returns_at_the_callers_deadline() {
    let (addr, server) = serve(|mut peer| {
        peer.recv_header();
        let mut buf = [0u8; 64];
        let _ = peer.tcp.read(&mut buf);
    });
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 2048]);
    let mut conn = AsyncConnection::connect(addr, &mut rx, &mut tx, config(), &TlsSettings::new())
        .await
        .unwrap();
    let start = Instant::now();
    let next = conn
        .next_event_until(start + Duration::from_millis(100), own)
        .await
        .unwrap();
    assert_eq!(next, Next::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(conn.now().as_millis() >= 100);
    drop(conn);
    join(server);
}

#[tokio::test]
async fn a_wait_cancelled_by_select_leaves_the_connection_usable() {
    let (addr, server) = serve(|mut peer| {
        peer.recv_header();
        let mut buf = [0u8; 64];
        let _ = peer.tcp.read(&mut buf);
    });
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 2048]);
    let mut conn = AsyncConnection::connect(addr, &mut rx, &mut tx, config(), &TlsSettings::new())
        .await
        .unwrap();
    // The header goes out, then the wait for the server's is dropped.
    tokio::select! {
        r = conn.next_event(own) => panic!("the silent server gave {r:?}"),
        () = tokio::time::sleep(Duration::from_millis(50)) => {}
    }
    // Cancelling a read lost nothing: the connection still waits.
    let next = conn
        .next_event_until(Instant::now() + Duration::from_millis(50), own)
        .await
        .unwrap();
    assert_eq!(next, Next::Timeout);
    drop(conn);
    join(server);
}
