//! The subcommands, each a short session on one [`Connection`]: connect,
//! wait until ready, do the one thing, close politely (RFC 6121 §4.5.1,
//! RFC 6120 §4.4).

use super::failure::{of_error, Context, Failure, EXIT_CONNECTION, EXIT_PROTOCOL};
use super::output::{Incoming, RosterItem};
use super::target::targets;
use super::transcript::Transcript;
use super::{usage, Cli, Command, PASSWORD_ENV};
use crate::srv::{self, Target};
use crate::{Connection, Error, Next, TlsSettings};
use clap::error::ErrorKind;
use picoxmpp::client::{ClientError, Config, Event};
use picoxmpp::jid::Jid;
use picoxmpp::stanza::{IqType, MessageType};
use std::io::{self, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// XEP-0199 ping.
const NS_PING: &str = "urn:xmpp:ping";
/// How often a command that stays online looks for Ctrl-C.
const TICK: Duration = Duration::from_millis(200);
/// How long the connection and the negotiation may take.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The receive buffer bounds the largest stanza that can arrive; the
/// transmit buffer the largest that can be sent.
const RX_SIZE: usize = 64 * 1024;
const TX_SIZE: usize = 16 * 1024;

/// Set by Ctrl-C (SIGINT) or SIGTERM: go offline politely.
static STOP: AtomicBool = AtomicBool::new(false);

const DANGER_WARNING: &str = "\
picoxmpp: WARNING: --danger-accept-invalid-certs: the server's certificate is NOT checked.
picoxmpp: WARNING: anyone between here and the server can read and change this session,
picoxmpp: WARNING: the password included. For a private server, use --ca-file PATH instead.";

/// Why a session stopped early.
enum Stop {
    /// The connection failed; mapped to an exit code with the context.
    Connection(Error),
    /// Already decided.
    Failure(Failure),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Connection(e)
    }
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        Stop::Connection(Error::Client(e))
    }
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failure(f)
    }
}

/// Runs the command `cli` asks for.
pub(crate) fn run(cli: &Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve { .. } => return super::serve::serve(cli),
        Command::Adduser { .. } => return super::serve::adduser(cli),
        Command::Demo { .. } => return super::demo::run(cli),
        _ => {}
    }
    let jid = account_jid(cli)?;
    let password = password(cli)?;
    let tls = tls_settings(cli)?;
    let account = Jid::parse(&jid).map_err(|e| {
        usage(
            ErrorKind::ValueValidation,
            format!("{jid:?} is not a JID: {e:?}"),
        )
    })?;
    let targets = targets(
        cli.server.as_deref(),
        account.domain(),
        cli.direct_tls,
        srv::lookup,
    );
    let mut cx = Context {
        domain: account.domain().to_owned(),
        target: targets
            .iter()
            .map(Target::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        see_other_host: None,
    };
    let (tcp, target) = connect_first(&targets, &cx)?;
    cx.target = target.to_string();
    // Each SRV target says whether it speaks TLS at once (XEP-0368).
    let tls = if target.direct_tls {
        tls.direct_tls()
    } else {
        tls
    };

    let mut config = Config::new(account, &password);
    config.negotiation_timeout = NEGOTIATION_TIMEOUT;
    let (mut rx, mut tx) = (vec![0u8; RX_SIZE], vec![0u8; TX_SIZE]);
    let mut conn =
        Connection::new(tcp, &mut rx, &mut tx, config, &tls).map_err(|e| of_error(&e, &cx))?;
    if cli.verbose {
        let mut transcript = Transcript::default();
        conn.set_tap(move |direction, bytes| {
            let mut stderr = io::stderr().lock();
            for line in transcript.lines(direction, bytes) {
                let _ = writeln!(stderr, "{line}");
            }
        });
    }
    session(&mut conn, cli).map_err(|stop| match stop {
        Stop::Connection(e) => {
            cx.see_other_host = conn.client().see_other_host().map(str::to_owned);
            of_error(&e, &cx)
        }
        Stop::Failure(f) => f,
    })
}

fn session(conn: &mut Connection<'_>, cli: &Cli) -> Result<(), Stop> {
    let bound = wait_ready(conn)?;
    match &cli.command {
        Command::Send { to, text } => {
            conn.client()
                .send_message(parse_jid(to)?, MessageType::Chat, text)?;
            conn.close()?;
        }
        Command::Presence {
            show,
            status,
            priority,
            duration,
        } => {
            conn.client()
                .set_presence(show.map(Into::into), status.as_deref(), *priority)?;
            stop_on_ctrl_c();
            eprintln!("picoxmpp: online as {bound}; Ctrl-C to go offline");
            let deadline = duration.map(|d| Instant::now() + d);
            if !stay_online(conn, deadline, |_| Ok(()))? {
                return Err(ClientError::ClosedByServer.into());
            }
        }
        Command::Listen { json } => {
            // RFC 6121 §4.2: initial presence, so that the server routes
            // messages and the contacts' presence to this resource.
            conn.client().set_presence(None, None, 0)?;
            stop_on_ctrl_c();
            eprintln!("picoxmpp: listening as {bound}; Ctrl-C to stop");
            let print = |incoming: Incoming| {
                let line = if *json {
                    incoming.json().to_string()
                } else {
                    incoming.line()
                };
                writeln!(io::stdout().lock(), "{line}")
            };
            if !stay_online(conn, None, print)? {
                eprintln!("picoxmpp: the server closed the stream");
            }
        }
        Command::Ping { target } => ping(conn, target.as_deref(), cli)?,
        Command::Roster => {
            let now = conn.now();
            let id = conn.client().request_roster(None, now)?;
            let answer = conn.next_event_while(|event| match event {
                Event::IqResult { id: i, payload } if i == id => {
                    Some(Ok(RosterItem::all_of(payload)))
                }
                Event::IqError { id: i, error } if i == id => Some(Err(error
                    .map_or("undefined-condition", |e| e.condition().as_str())
                    .to_owned())),
                Event::IqTimeout { id: i } if i == id => Some(Err("no answer".to_owned())),
                _ => None,
            })?;
            match answer {
                Ok(items) => {
                    let mut stdout = io::stdout().lock();
                    for item in items {
                        let _ = writeln!(stdout, "{}", item.line());
                    }
                }
                Err(why) => {
                    return Err(Failure::exit(
                        EXIT_PROTOCOL,
                        format!("the server refused the roster request ({why})"),
                    )
                    .into())
                }
            }
            conn.close()?;
        }
        // Handled in `run`, without a session.
        Command::Demo { .. } | Command::Serve { .. } | Command::Adduser { .. } => {}
    }
    Ok(())
}

/// XEP-0199 §4.2 (the server) or §4.1 (another entity): one ping, the
/// round trip measured from the write to the answer.
fn ping(conn: &mut Connection<'_>, to: Option<&str>, cli: &Cli) -> Result<(), Stop> {
    // XEP-0199 §4.2: a ping to the server names it in `to`, and the
    // answer comes from it (an iq without `to` would be answered for the
    // account, from its bare JID).
    let name = match to {
        Some(j) => j.to_owned(),
        None => conn
            .client()
            .jid()
            .map(|j| j.domain().to_owned())
            .unwrap_or_default(),
    };
    let to = parse_jid(&name)?;
    let now = conn.now();
    let id = conn.client().send_iq(
        Some(to),
        IqType::Get,
        |w| {
            w.start_element("ping")?;
            w.ns(NS_PING)?;
            w.end_element("ping")
        },
        now,
    )?;
    let start = Instant::now();
    let answer = conn.next_event_while(|event| match event {
        Event::IqResult { id: i, .. } if i == id => Some(Ok(())),
        Event::IqError { id: i, error } if i == id => Some(Err(Some(
            error
                .map_or("undefined-condition", |e| e.condition().as_str())
                .to_owned(),
        ))),
        Event::IqTimeout { id: i } if i == id => Some(Err(None)),
        _ => None,
    })?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let result = match answer {
        Ok(()) => {
            let _ = writeln!(io::stdout().lock(), "pong from {name}: {ms:.3} ms");
            Ok(())
        }
        // XEP-0199 §3: an entity without ping support answers with an
        // error, which still proves it is there.
        Err(Some(condition)) => {
            let _ = writeln!(
                io::stdout().lock(),
                "error from {name}: {ms:.3} ms ({condition})"
            );
            Err(Failure::exit(
                EXIT_PROTOCOL,
                format!("{name} answered the ping with an error ({condition}): it is reachable but does not support XEP-0199, or refuses"),
            ))
        }
        Err(None) => Err(Failure::exit(
            EXIT_PROTOCOL,
            format!(
                "no answer from {name} in time: it is offline or does not exist{}",
                if cli.verbose {
                    ""
                } else {
                    " (run with -v to see the exchange)"
                }
            ),
        )),
    };
    conn.close()?;
    result.map_err(Stop::Failure)
}

/// Runs the session until Ctrl-C or `deadline` (then closes politely:
/// `true`) or until the server closes the stream (`false`), handing each
/// message and presence to `on`. A failed `on` (standard output closed)
/// stops as Ctrl-C does.
fn stay_online(
    conn: &mut Connection<'_>,
    deadline: Option<Instant>,
    mut on: impl FnMut(Incoming) -> io::Result<()>,
) -> Result<bool, Stop> {
    loop {
        if STOP.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            conn.close()?;
            return Ok(true);
        }
        let tick = Instant::now() + TICK;
        let until = deadline.map_or(tick, |d| d.min(tick));
        match conn.next_event_until(until, |event| Incoming::of(&event)) {
            Ok(Next::Event(Some(incoming))) => {
                if on(incoming).is_err() {
                    STOP.store(true, Ordering::SeqCst);
                }
            }
            Ok(Next::Event(None) | Next::Timeout) => {}
            Ok(Next::Closed) => return Ok(false),
            // RFC 6120 §4.4: the server closed its stream; the core has
            // answered with ours.
            Err(Error::Client(ClientError::ClosedByServer)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits for the session to be bound; returns the full JID.
fn wait_ready(conn: &mut Connection<'_>) -> Result<String, Stop> {
    conn.next_event_while(|event| match event {
        Event::Ready { jid } => Some(jid.to_string()),
        _ => None,
    })
}

/// Waiting for one event.
trait NextEventWhile {
    /// Runs the session until `f` makes something of an event; the
    /// session ending first is a protocol failure.
    fn next_event_while<T>(&mut self, f: impl FnMut(Event<'_>) -> Option<T>) -> Result<T, Stop>;
}

impl NextEventWhile for Connection<'_> {
    fn next_event_while<T>(
        &mut self,
        mut f: impl FnMut(Event<'_>) -> Option<T>,
    ) -> Result<T, Stop> {
        loop {
            match self.next_event(&mut f)? {
                Some(Some(t)) => return Ok(t),
                Some(None) => {}
                None => {
                    return Err(Failure::exit(
                        EXIT_PROTOCOL,
                        "the session ended before the answer came: run with -v to see why",
                    )
                    .into())
                }
            }
        }
    }
}

/// Ctrl-C (and SIGTERM) set [`STOP`]; a second one exits at once.
fn stop_on_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

fn parse_jid(s: &str) -> Result<Jid<'_>, Failure> {
    Jid::parse(s).map_err(|e| {
        usage(
            ErrorKind::ValueValidation,
            format!("{s:?} is not a JID: {e:?}"),
        )
    })
}

/// `--jid` (or PICOXMPP_JID), with `--resource` in place of its own.
fn account_jid(cli: &Cli) -> Result<String, Failure> {
    let jid = cli.jid.as_deref().ok_or_else(|| {
        usage(
            ErrorKind::MissingRequiredArgument,
            "no account: pass --jid USER@DOMAIN or set PICOXMPP_JID",
        )
    })?;
    let jid = match &cli.resource {
        Some(r) => format!("{}/{r}", parse_jid(jid)?.bare()),
        None => jid.to_owned(),
    };
    parse_jid(&jid)?;
    Ok(jid)
}

/// The password: `--password-file` (its content without the final line
/// break), else PICOXMPP_PASSWORD. Never an argument: any user on the
/// machine can read a process's arguments.
pub(super) fn password(cli: &Cli) -> Result<String, Failure> {
    if let Some(path) = &cli.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            usage(
                ErrorKind::Io,
                format!("cannot read --password-file {}: {e}", path.display()),
            )
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            return Err(usage(
                ErrorKind::InvalidValue,
                format!("--password-file {} is empty", path.display()),
            ));
        }
        return Ok(text.to_owned());
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(p) if !p.is_empty() => Ok(p),
        Err(std::env::VarError::NotUnicode(_)) => Err(usage(
            ErrorKind::InvalidUtf8,
            format!("{PASSWORD_ENV} is not valid UTF-8"),
        )),
        _ => Err(usage(
            ErrorKind::MissingRequiredArgument,
            format!(
                "no password: set {PASSWORD_ENV}, or pass --password-file PATH \
                 (the password itself is never an argument)"
            ),
        )),
    }
}

pub(super) fn tls_settings(cli: &Cli) -> Result<TlsSettings, Failure> {
    let mut tls = TlsSettings::new();
    if let Some(path) = &cli.ca_file {
        tls = tls.add_ca_file(path).map_err(|e| {
            let why = match e {
                Error::Io(io) => io.to_string(),
                other => other.to_string(),
            };
            usage(
                ErrorKind::InvalidValue,
                format!("--ca-file {}: {why}", path.display()),
            )
        })?;
    }
    if cli.danger_accept_invalid_certs {
        eprintln!("{DANGER_WARNING}");
        tls = tls.danger_accept_invalid_certs();
    }
    Ok(tls)
}

/// A TCP connection to the first target that answers, in order, and that
/// target (RFC 6120 §3.2.1: try the next on failure).
fn connect_first(targets: &[Target], cx: &Context) -> Result<(TcpStream, Target), Failure> {
    let mut last = None;
    for t in targets {
        let addrs = match (t.host.as_str(), t.port).to_socket_addrs() {
            Ok(a) => a,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, NEGOTIATION_TIMEOUT) {
                Ok(tcp) => return Ok((tcp, t.clone())),
                Err(e) => last = Some(e),
            }
        }
    }
    let why = last.map_or_else(|| "no address".to_owned(), |e| e.to_string());
    Err(Failure::exit(
        EXIT_CONNECTION,
        format!(
            "connection to {} failed ({why}): check the JID's domain, --server HOST[:PORT] and that the server is running",
            cx.target
        ),
    ))
}
