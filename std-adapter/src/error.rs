//! Why a connection failed, by layer: the socket, TLS, the XMPP session,
//! or time.

use picoxmpp::client::ClientError;
use std::fmt;
use std::io;

/// Why a [`Connection`](crate::Connection) failed or could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed, or the server closed the TCP connection
    /// (`UnexpectedEof`).
    Io(io::Error),
    /// TLS failed: the handshake (an untrusted certificate, a wrong name),
    /// or a record later.
    Tls(rustls::Error),
    /// The XMPP session failed (the core's error: a stream error, failed
    /// authentication, a negotiation timeout...), or a command was refused.
    Client(ClientError),
    /// Something the adapter waits for took too long: the TCP connection
    /// or the TLS handshake. (Timeouts of the XMPP session are
    /// [`ClientError::Timeout`].)
    Timeout(&'static str),
    /// The settings cannot work: a bad CA file, an invalid server name.
    Config(String),
}

impl Error {
    /// The error inside an `io::Error` from rustls' stream functions: TLS
    /// errors come wrapped in `InvalidData`.
    pub(crate) fn from_io(e: io::Error) -> Error {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => Error::Tls(tls.clone()),
            None => Error::Io(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "connection: {e}"),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Client(e) => write!(f, "XMPP: {e}"),
            Error::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Error::Config(what) => write!(f, "configuration: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Client(e) => Some(e),
            Error::Timeout(_) | Error::Config(_) => None,
        }
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        Error::Client(e)
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::from_io(e)
    }
}

/// The error of a call on a connection whose transport failed or was shut
/// down earlier.
pub(crate) fn not_connected() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "the connection failed or was shut down earlier",
    ))
}

/// The error of a connect whose address resolved to no socket address.
pub(crate) fn resolved_to_nothing() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "the address resolved to nothing",
    ))
}

/// The error when the core's receive buffer has no room: it reports
/// `policy-violation` before that can happen, so this is a core bug.
pub(crate) fn receive_buffer_full() -> Error {
    Error::Io(std::io::Error::other("the receive buffer is full"))
}
