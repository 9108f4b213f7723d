//! The scripted server's end of a connection, shared by the integration
//! tests: plain TCP, then TLS on the same socket.
#![allow(dead_code)]

use rustls::{ServerConfig, ServerConnection};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
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
