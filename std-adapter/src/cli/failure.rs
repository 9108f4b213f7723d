//! Why the command failed, as an exit code and a message that says what to
//! do about it.

use crate::error::Error;
use picoxmpp::client::ClientError;
use picoxmpp::error::StreamErrorCondition;
use rustls::CertificateError;
use std::io;

/// The command did what it was asked.
pub const EXIT_OK: u8 = 0;
/// The arguments cannot work (clap's own code for its errors).
pub const EXIT_USAGE: u8 = 2;
/// The server refused the credentials, or SASL could not complete.
pub const EXIT_AUTH: u8 = 3;
/// No connection: TCP, DNS, TLS (certificates included), or a connection
/// that died.
pub const EXIT_CONNECTION: u8 = 4;
/// Any other XMPP failure: a stream error, resource binding, an error or
/// no answer to a request.
pub const EXIT_PROTOCOL: u8 = 5;

/// A failed run.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad arguments, reported as clap reports its own (exit 2).
    Usage(clap::Error),
    /// Anything else: the exit code and the message for standard error.
    Exit { code: u8, message: String },
}

impl Failure {
    pub(crate) fn exit(code: u8, message: impl Into<String>) -> Failure {
        Failure::Exit {
            code,
            message: message.into(),
        }
    }
}

/// What the error messages refer to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// The account's domain: the name the certificate must carry.
    pub(crate) domain: String,
    /// Where the command connects, as `host:port`.
    pub(crate) target: String,
    /// Where a `see-other-host` stream error redirected to.
    pub(crate) see_other_host: Option<String>,
}

/// The exit code and advice for a connection error.
pub(crate) fn of_error(e: &Error, cx: &Context) -> Failure {
    let target = &cx.target;
    match e {
        Error::Io(io) => {
            let advice = match io.kind() {
                io::ErrorKind::ConnectionRefused => {
                    "check --server HOST[:PORT] and that the server is running"
                }
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
                    "the server dropped the connection; try again, or run with -v to see where"
                }
                _ => "check --server HOST[:PORT] and the network",
            };
            Failure::exit(
                EXIT_CONNECTION,
                format!("connection to {target} failed ({io}): {advice}"),
            )
        }
        Error::Tls(rustls::Error::InvalidCertificate(cert)) => {
            let advice = match cert {
                CertificateError::UnknownIssuer => {
                    "for a server with a private CA, pass the CA certificate with --ca-file PATH"
                        .to_owned()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => format!(
                    "the certificate must name the JID's domain {:?}; check --jid",
                    cx.domain
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the certificate has expired: the server's operator must renew it (or the \
                     clock here is wrong)"
                        .to_owned()
                }
                _ => "the server's certificate cannot be trusted".to_owned(),
            };
            Failure::exit(
                EXIT_CONNECTION,
                format!("TLS: invalid certificate from {target} ({cert:?}): {advice}"),
            )
        }
        Error::Tls(tls) => Failure::exit(
            EXIT_CONNECTION,
            format!("TLS with {target} failed ({tls}): if the server speaks TLS at once, use --direct-tls; otherwise leave it out"),
        ),
        Error::Timeout(what) => Failure::exit(
            EXIT_CONNECTION,
            format!("timed out waiting for {what} with {target}: check --server and the network"),
        ),
        Error::Config(what) => Failure::exit(EXIT_USAGE, format!("{what}: check the options")),
        Error::Client(c) => of_client_error(c, cx),
    }
}

fn of_client_error(e: &ClientError, cx: &Context) -> Failure {
    let (code, message) = match e {
        ClientError::AuthenticationFailed(f) => (
            EXIT_AUTH,
            format!(
                "authentication failed ({}): check PICOXMPP_JID and the password \
                 (PICOXMPP_PASSWORD or --password-file)",
                f.as_str()
            ),
        ),
        ClientError::NoAcceptableMechanism => (
            EXIT_AUTH,
            "authentication failed: the server offers no SASL mechanism picoxmpp may use \
             (PLAIN only over TLS); ask the server's operator for SCRAM"
                .to_owned(),
        ),
        ClientError::Sasl(s) => (
            EXIT_AUTH,
            format!("authentication failed: the server's SASL answer is refused ({s})"),
        ),
        ClientError::TlsNotOffered => (
            EXIT_CONNECTION,
            format!(
                "{} does not offer STARTTLS, and picoxmpp does not log in without TLS: if it \
                 speaks TLS at once, use --direct-tls (and its port in --server)",
                cx.target
            ),
        ),
        ClientError::StartTlsFailed => (
            EXIT_CONNECTION,
            "the server refused STARTTLS: try --direct-tls, or another server".to_owned(),
        ),
        ClientError::Timeout(what) => (
            EXIT_CONNECTION,
            format!("timed out waiting for {what}: the server or the network is too slow or gone"),
        ),
        ClientError::ClosedByServer => (
            EXIT_CONNECTION,
            "the server closed the stream: run with -v to see why".to_owned(),
        ),
        ClientError::StreamError(condition) => {
            let advice = match condition {
                StreamErrorCondition::HostUnknown => format!(
                    "the server does not serve {:?}: check the JID's domain and --server",
                    cx.domain
                ),
                StreamErrorCondition::SeeOtherHost => match &cx.see_other_host {
                    Some(host) => {
                        format!("the server redirects to {host}: retry with --server {host}")
                    }
                    None => "the server redirects elsewhere: run with -v to see where".to_owned(),
                },
                StreamErrorCondition::Conflict => {
                    "another session with this resource replaced this one: use another --resource"
                        .to_owned()
                }
                StreamErrorCondition::SystemShutdown => {
                    "the server is shutting down: try again later".to_owned()
                }
                _ => "run with -v to see the exchange".to_owned(),
            };
            (
                EXIT_PROTOCOL,
                format!("the server ended the stream ({condition}): {advice}"),
            )
        }
        ClientError::BindFailed(condition) => (
            EXIT_PROTOCOL,
            format!(
                "resource binding failed ({}): try another --resource",
                condition.as_str()
            ),
        ),
        ClientError::TooLarge { .. } => (EXIT_PROTOCOL, format!("{e}: send a shorter text")),
        other => (EXIT_PROTOCOL, format!("XMPP: {other}")),
    };
    Failure::exit(code, message)
}
