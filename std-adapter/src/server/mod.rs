//! A small single-domain XMPP server for development, demos and tests:
//! the core's receiving side ([`picoxmpp::server`]) over TCP and rustls,
//! with routing of messages, presence (subscriptions and rosters kept in
//! memory per account) and iq between the connected sessions.
//!
//! **Not for production**: no persistence of rosters, no offline
//! messages, no server-to-server, no stream resumption. For production use
//! Prosody or ejabberd.
//!
//! One thread per connection plus one reading its socket, each session
//! with a bounded queue and fixed buffers (see [`Limits`]); a client that
//! does not read only stalls itself: once its queue is full, stanzas to it
//! are bounced to their senders. Blocking threads rather than tokio: the
//! core is a blocking-friendly state machine, every other adapter path of
//! this crate is blocking, and a few hundred connections on loopback (the
//! load this is for) fit in threads with small stacks.
//!
//! ```no_run
//! use picoxmpp_std::server::{AccountStore, ServeConfig, TlsIdentity};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut accounts = AccountStore::new();
//! accounts.add("alice", "alice-pass", 4096)?;
//! let config = ServeConfig::new("localhost", accounts, TlsIdentity::self_signed("localhost")?);
//! let server = config.bind("127.0.0.1:5290")?; // serves in the background
//! println!("listening on {}", server.local_addr());
//! server.wait();
//! # Ok(()) }
//! ```

mod accounts;
mod router;
mod session;

pub use accounts::{AccountStore, HASHES};

use router::Router;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Per-connection bounds. A connection holds at most its two buffers
/// (`stanza` bytes each, about), its TLS state, and `queue` inputs of at
/// most `read_chunk` bytes (socket reads) or `stanza` bytes (deliveries):
/// with the defaults, 4 MiB in the worst case, about 100 KiB in practice
/// (see the load report in README.md).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest stanza accepted, in bytes (the core's receive buffer;
    /// larger ones end the stream with `policy-violation`).
    pub stanza: usize,
    /// How many inputs (socket reads, deliveries) a session's queue holds.
    pub queue: usize,
    /// Bytes per socket read.
    pub read_chunk: usize,
    /// How long a write to a client may block before the session ends.
    pub write_timeout: Duration,
    /// How long a bound client may stay silent (no stanza, no keepalive)
    /// before its session ends with `connection-timeout`: what frees the
    /// resources of a connection whose peer vanished without closing.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stanza: 16 * 1024,
            queue: 256,
            read_chunk: 4096,
            write_timeout: Duration::from_secs(10),
            idle: Duration::from_secs(15 * 60),
        }
    }
}

/// The certificate and key the server presents.
#[derive(Debug)]
pub struct TlsIdentity {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    cert_pem: String,
}

impl TlsIdentity {
    /// A self-signed certificate for `domain`, made now (rcgen): clients
    /// must be told to trust it ([`cert_pem`](Self::cert_pem)).
    pub fn self_signed(domain: &str) -> Result<Self, rcgen::Error> {
        let cert = rcgen::generate_simple_self_signed(vec![domain.to_owned()])?;
        Ok(TlsIdentity {
            cert_pem: cert.cert.pem(),
            chain: vec![cert.cert.der().clone()],
            key: rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        })
    }

    /// The certificate chain and key of two PEM files.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        use rustls::pki_types::pem::PemObject as _;
        let invalid = |what: &str, e: rustls::pki_types::pem::Error| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
        };
        let cert_pem = std::fs::read_to_string(cert.as_ref())?;
        let chain = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("certificate", e))?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key.as_ref())
            .map_err(|e| invalid("private key", e))?;
        Ok(TlsIdentity {
            chain,
            key,
            cert_pem,
        })
    }

    /// The certificate, PEM, for clients to trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The leaf certificate, DER.
    pub fn cert_der(&self) -> Option<&rustls::pki_types::CertificateDer<'static>> {
        self.chain.first()
    }
}

/// What the server serves.
#[derive(Debug)]
pub struct ServeConfig {
    /// The domain, the only one served.
    pub domain: String,
    /// The accounts.
    pub accounts: AccountStore,
    /// The TLS certificate and key (STARTTLS is required).
    pub tls: TlsIdentity,
    /// Per-connection bounds.
    pub limits: Limits,
    /// The SASL mechanisms offered, strongest first (SCRAM-SHA-256 and
    /// SCRAM-SHA-1, with -PLUS over TLS 1.3, and PLAIN, by default; PLAIN
    /// only after STARTTLS).
    pub mechanisms: Vec<picoxmpp::sasl::Mechanism>,
    /// Logs sessions on standard error.
    pub log: bool,
}

impl ServeConfig {
    /// A server for `domain` with default limits.
    pub fn new(domain: &str, accounts: AccountStore, tls: TlsIdentity) -> Self {
        ServeConfig {
            domain: domain.to_owned(),
            accounts,
            tls,
            limits: Limits::default(),
            mechanisms: picoxmpp::server::DEFAULT_MECHANISMS.to_vec(),
            log: false,
        }
    }

    /// Listens on `addr` and serves in a background thread.
    pub fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Running> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(self.tls.chain.clone(), self.tls.key.clone_key())
        .map_err(io::Error::other)?;
        let accounts = Arc::new(self.accounts);
        let shared = Arc::new(Shared {
            router: Arc::new(Router::new(&self.domain, accounts.clone())),
            domain: self.domain,
            accounts,
            tls: Arc::new(tls),
            limits: self.limits,
            mechanisms: self.mechanisms,
            log: self.log,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("xmpp-accept".into())
                .spawn(move || accept_loop(listener, shared, stop))?
        };
        Ok(Running {
            local,
            shared,
            stop,
            accept: Some(accept),
        })
    }
}

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) domain: String,
    pub(crate) accounts: Arc<AccountStore>,
    pub(crate) router: Arc<Router>,
    pub(crate) tls: Arc<rustls::ServerConfig>,
    pub(crate) limits: Limits,
    pub(crate) mechanisms: Vec<picoxmpp::sasl::Mechanism>,
    pub(crate) log: bool,
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    static IDS: AtomicU64 = AtomicU64::new(1);
    for tcp in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(tcp) = tcp else { continue };
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("xmpp-session-{id}"))
            .stack_size(256 * 1024)
            .spawn(move || session::run(shared, tcp, id));
        if spawned.is_err() {
            eprintln!("serve: cannot start a thread for a connection");
        }
    }
}

/// A server running in the background.
pub struct Running {
    local: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Running {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Ends every session with `system-shutdown` (RFC 6120 §4.9.3.17) and
    /// stops accepting connections.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Blocks until the server stops (it does not, unless the process is
    /// asked to).
    pub fn wait(mut self) {
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared
            .router
            .kick_all(picoxmpp::error::StreamErrorCondition::SystemShutdown);
        // Wake the accept loop with one last connection.
        let _ = std::net::TcpStream::connect_timeout(&self.local, Duration::from_secs(1));
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.shutdown();
        }
    }
}
