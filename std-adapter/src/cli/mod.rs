//! The `picoxmpp` command: one XMPP session from the shell, over the
//! blocking [`Connection`](crate::Connection).
//!
//! ```text
//! export PICOXMPP_JID=juliet@example.com PICOXMPP_PASSWORD=...
//! picoxmpp send romeo@example.net 'Wherefore art thou?'
//! picoxmpp presence --show away --status 'On the balcony' --for 600
//! picoxmpp listen --json
//! picoxmpp ping example.net
//! picoxmpp roster
//! ```
//!
//! The password comes from `PICOXMPP_PASSWORD` or `--password-file`, never
//! from an argument (other users can read a process's arguments). `-v`
//! prints the XML transcript on standard error, the SASL exchange
//! redacted.
//!
//! Exit codes: [`EXIT_OK`], [`EXIT_USAGE`], [`EXIT_AUTH`],
//! [`EXIT_CONNECTION`], [`EXIT_PROTOCOL`].

mod commands;
mod demo;
mod failure;
mod output;
mod serve;
mod target;
mod transcript;

pub use failure::{EXIT_AUTH, EXIT_CONNECTION, EXIT_OK, EXIT_PROTOCOL, EXIT_USAGE};

use clap::{Parser, Subcommand, ValueEnum};
use failure::Failure;
use picoxmpp::stanza::Show;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The environment variable the password is read from.
pub const PASSWORD_ENV: &str = "PICOXMPP_PASSWORD";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "picoxmpp",
    version,
    about = "Send, listen, ping and read the roster over XMPP.",
    after_help = "The password comes from PICOXMPP_PASSWORD or --password-file.\n\
                  Exit codes: 0 ok, 2 usage, 3 authentication, 4 connection or TLS, \
                  5 other XMPP errors."
)]
pub struct Cli {
    /// The account, `user@domain` (optionally `/resource`).
    #[arg(long, global = true, env = "PICOXMPP_JID", value_parser = parse_jid)]
    pub jid: Option<String>,
    /// Reads the password from this file (a final line break is dropped)
    /// instead of PICOXMPP_PASSWORD.
    #[arg(long, global = true, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Connects to this host (and port, 5222 by default) instead of
    /// looking up the JID's domain's SRV records.
    #[arg(long, global = true, value_name = "HOST[:PORT]", value_parser = target::parse_server)]
    pub server: Option<String>,
    /// TLS from the first byte (XEP-0368) instead of STARTTLS.
    #[arg(long, global = true)]
    pub direct_tls: bool,
    /// Trusts the CA certificates of this PEM file too (a private server).
    #[arg(long, global = true, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// DANGER: accepts any certificate, so anyone on the path can read the
    /// stream and the password. Only for throwaway test servers.
    #[arg(long, global = true)]
    pub danger_accept_invalid_certs: bool,
    /// The resource to ask for (the server may assign another).
    #[arg(long, global = true)]
    pub resource: Option<String>,
    /// Prints the XML transcript on standard error (SASL data redacted).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sends one chat message, then goes offline.
    Send {
        /// The recipient.
        #[arg(value_parser = parse_jid)]
        to: String,
        /// The message body.
        text: String,
    },
    /// Goes online until Ctrl-C (or for --for SECONDS).
    Presence {
        /// Availability detail.
        #[arg(long, value_enum)]
        show: Option<ShowArg>,
        /// A status text.
        #[arg(long, value_name = "TEXT")]
        status: Option<String>,
        /// The priority, -128 to 127.
        #[arg(
            long,
            value_name = "N",
            default_value_t = 0,
            allow_negative_numbers = true
        )]
        priority: i8,
        /// Goes offline after this many seconds.
        #[arg(long = "for", value_name = "SECONDS", value_parser = parse_seconds)]
        duration: Option<Duration>,
    },
    /// Goes online and prints each message and presence, one a line,
    /// until Ctrl-C or the server closes the stream.
    Listen {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Pings a JID, or the server (XEP-0199), and prints the round trip.
    Ping {
        /// Whom to ping; the account's server by default.
        #[arg(value_name = "JID", value_parser = parse_jid)]
        target: Option<String>,
    },
    /// Prints the roster: jid, name, subscription, groups.
    Roster,
    /// The main job: a device reports presence and readings to a watcher,
    /// through the built-in server on loopback (or a real one with
    /// --server); -v prints the XML of both sessions.
    Demo {
        /// The device's account, with --server.
        #[arg(long, default_value = "alice@localhost/device", value_parser = parse_jid)]
        device: String,
        /// The watcher's account, with --server.
        #[arg(long, default_value = "bob@localhost/watcher", value_parser = parse_jid)]
        watcher: String,
        /// The environment variable with the device's password, with
        /// --server.
        #[arg(long, default_value = "PICOXMPP_DEVICE_PASSWORD", value_name = "NAME")]
        device_password_env: String,
        /// The environment variable with the watcher's password, with
        /// --server.
        #[arg(long, default_value = "PICOXMPP_WATCHER_PASSWORD", value_name = "NAME")]
        watcher_password_env: String,
    },
    /// A small development server for one domain (STARTTLS required);
    /// for production use Prosody or ejabberd.
    Serve {
        /// The domain served.
        #[arg(long, default_value = "localhost")]
        domain: String,
        /// Where to listen (loopback by default).
        #[arg(long, default_value = "127.0.0.1:5222", value_name = "ADDR:PORT")]
        listen: String,
        /// The accounts file (see `adduser`).
        #[arg(long, value_name = "PATH")]
        accounts: PathBuf,
        /// The certificate chain, PEM (default: a self-signed one, made
        /// at start).
        #[arg(long, value_name = "PATH", requires = "key")]
        cert: Option<PathBuf>,
        /// The private key, PEM.
        #[arg(long, value_name = "PATH", requires = "cert")]
        key: Option<PathBuf>,
        /// Writes the certificate in use (PEM) here, for clients to trust.
        #[arg(long, value_name = "PATH")]
        write_cert: Option<PathBuf>,
        /// The SASL mechanisms to offer, comma-separated, strongest first
        /// (-PLUS with tls-exporter, over TLS 1.3).
        #[arg(long, value_delimiter = ',', value_parser = parse_mechanism,
              default_value = "SCRAM-SHA-256-PLUS,SCRAM-SHA-1-PLUS,SCRAM-SHA-256,SCRAM-SHA-1,PLAIN")]
        mechanisms: Vec<picoxmpp::sasl::Mechanism>,
    },
    /// Adds or replaces an account in the accounts file of `serve`:
    /// SCRAM stored keys (SHA-1, SHA-256), never the password; the
    /// password comes from PICOXMPP_PASSWORD or --password-file.
    Adduser {
        /// The accounts file (created if missing).
        #[arg(long, value_name = "PATH")]
        accounts: PathBuf,
        /// The username (the JID's localpart).
        user: String,
        /// The PBKDF2 iteration count (RFC 7677 §4: at least 4096).
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(4096..))]
        iterations: u32,
    },
}

/// `--show` (RFC 6121 §4.7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowArg {
    /// Temporarily away.
    Away,
    /// Free to chat.
    Chat,
    /// Do not disturb.
    Dnd,
    /// Away for a long time.
    Xa,
}

impl From<ShowArg> for Show {
    fn from(s: ShowArg) -> Show {
        match s {
            ShowArg::Away => Show::Away,
            ShowArg::Chat => Show::Chat,
            ShowArg::Dnd => Show::Dnd,
            ShowArg::Xa => Show::Xa,
        }
    }
}

/// Runs the command with the process's arguments: what `main` calls.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Runs the command with `args` (the first is the program name) and
/// returns its exit code; errors are printed on standard error.
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
    match commands::run(&cli) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(Failure::Usage(e)) => {
            let _ = e.print();
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Exit { code, message }) => {
            eprintln!("picoxmpp: {message}");
            ExitCode::from(code)
        }
    }
}

/// A usage error in clap's words, exit code 2.
fn usage(kind: clap::error::ErrorKind, message: impl std::fmt::Display) -> Failure {
    use clap::CommandFactory;
    Failure::Usage(Cli::command().error(kind, message))
}

fn parse_jid(s: &str) -> Result<String, String> {
    picoxmpp::jid::Jid::parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("not a JID ({e:?}): expected user@domain or user@domain/resource"))
}

fn parse_mechanism(s: &str) -> Result<picoxmpp::sasl::Mechanism, String> {
    use picoxmpp::sasl::Mechanism;
    match Mechanism::from_name(s) {
        Some(
            m @ (Mechanism::ScramSha256Plus
            | Mechanism::ScramSha1Plus
            | Mechanism::ScramSha256
            | Mechanism::ScramSha1
            | Mechanism::Plain),
        ) => Ok(m),
        _ => Err(format!(
            "{s:?}: the server offers SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS) or PLAIN"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "picoxmpp",
            "--jid",
            "juliet@example.com",
            "presence",
            "--show",
            "dnd",
            "--priority",
            "-1",
            "--for",
            "1.5",
            "--server",
            "[::1]:5223",
            "-v",
        ])
        .unwrap();
        assert!(cli.verbose);
        assert_eq!(cli.jid.as_deref(), Some("juliet@example.com"));
        assert_eq!(cli.server.unwrap().to_string(), "[::1]:5223");
        match cli.command {
            Command::Presence {
                show,
                priority,
                duration,
                ..
            } => {
                assert_eq!(show, Some(ShowArg::Dnd));
                assert_eq!(priority, -1);
                assert_eq!(duration, Some(Duration::from_millis(1500)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_ping_target_is_not_the_account() {
        let cli = Cli::try_parse_from(["picoxmpp", "--jid", "juliet@example.com", "ping"]).unwrap();
        assert!(matches!(cli.command, Command::Ping { target: None }));
        let cli =
            Cli::try_parse_from(["picoxmpp", "ping", "romeo@example.net", "--jid", "a@b"]).unwrap();
        assert_eq!(cli.jid.as_deref(), Some("a@b"));
        match cli.command {
            Command::Ping { target } => assert_eq!(target.as_deref(), Some("romeo@example.net")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn there_is_no_password_option() {
        let e = Cli::try_parse_from(["picoxmpp", "--password", "secret", "roster"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
