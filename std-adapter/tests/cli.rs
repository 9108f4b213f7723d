//! The `picoxmpp` command, run as a subprocess against a scripted XMPP
//! server in a thread on 127.0.0.1: STARTTLS with a self-signed
//! certificate the command trusts through `--ca-file`, PLAIN, bind, then
//! what each subcommand does, checked on the server's side, and the exit
//! codes and messages on the command's.

mod common;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{between, Peer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const JID: &str = "juliet@example.com";
const PASSWORD: &str = "r0m30myr0m30";
const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='c2s-1' from='example.com' \
    version='1.0' xml:lang='en'>";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// How long the command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

// -- the test server (after tests/connection.rs) ------------------------------

impl Peer {
    /// RFC 6120 §9.1: stream, STARTTLS, PLAIN. `true` when the password
    /// is right and the session goes on to bind; otherwise the server
    /// answers `<not-authorized/>` and the stream ends.
    fn negotiate(&mut self, tls: Arc<ServerConfig>) -> bool {
        let header = self.recv_header();
        assert!(header.contains("to='example.com'"), "{header}");
        self.send(HEADER);
        self.send(
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
             <required/></starttls></stream:features>",
        );
        self.recv_until("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        self.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        self.start_tls(tls).unwrap();

        self.recv_header();
        self.send(HEADER);
        self.send(&format!(
            "<stream:features><mechanisms xmlns='{NS_SASL}'>\
             <mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        ));
        let auth = self.recv_until("</auth>");
        assert!(auth.contains("mechanism='PLAIN'"), "{auth}");
        let payload = B64.decode(between(&auth, ">", "</auth>")).unwrap();
        if payload != plain(PASSWORD).as_bytes() {
            self.send(&format!(
                "<failure xmlns='{NS_SASL}'><not-authorized/></failure>"
            ));
            self.recv_until("</stream:stream>");
            self.send("</stream:stream>");
            return false;
        }
        self.send(&format!("<success xmlns='{NS_SASL}'/>"));

        // RFC 6120 §7: bind on the restarted stream.
        self.recv_header();
        self.send(HEADER);
        self.send(
            "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
        );
        let bind = self.recv_until("</iq>");
        let id = between(&bind, "id='", "'").to_owned();
        self.send(&format!(
            "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <jid>juliet@example.com/balcony</jid></bind></iq>"
        ));
        true
    }

    /// RFC 6120 §4.4, RFC 6121 §4.5.1: the client goes offline and closes;
    /// the server closes in turn.
    fn expect_polite_close(&mut self) {
        let close = self.recv_until("</stream:stream>");
        assert!(close.contains("<presence type='unavailable'/>"), "{close}");
        self.send("</stream:stream>");
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            let _ = tls.complete_io(&mut self.tcp);
        }
    }
}

/// The PLAIN message of RFC 4616 for the test account.
fn plain(password: &str) -> String {
    format!("\0juliet\0{password}")
}

/// A server on 127.0.0.1 with a self-signed certificate for example.com,
/// and the CA file that trusts it.
struct Server {
    addr: SocketAddr,
    ca: PathBuf,
    handle: JoinHandle<()>,
}

impl Server {
    /// Runs `script` on the first connection.
    fn start(name: &str, script: impl FnOnce(Peer, Arc<ServerConfig>) + Send + 'static) -> Server {
        let ck = rcgen::generate_simple_self_signed(vec!["example.com".to_owned()]).unwrap();
        let ca = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli-{name}-{}.pem", std::process::id()));
        std::fs::write(&ca, ck.cert.pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let der: CertificateDer<'static> = ck.cert.der().clone();
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            script(Peer::new(tcp), config);
        });
        Server { addr, ca, handle }
    }

    /// The options that reach this server as the test account.
    fn args(&self) -> Vec<String> {
        vec![
            "--jid".into(),
            JID.into(),
            "--server".into(),
            self.addr.to_string(),
            "--ca-file".into(),
            self.ca.display().to_string(),
        ]
    }

    /// Joins the server thread, so that its assertion failures are
    /// reported rather than the command's view of them.
    fn join(self) {
        let _ = std::fs::remove_file(&self.ca);
        if let Err(panic) = self.handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

// -- the command ---------------------------------------------------------------

/// How a run of the command ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn command(args: &[String], password: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_picoxmpp"));
    cmd.args(args)
        .env_remove("PICOXMPP_JID")
        .env_remove("PICOXMPP_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = password {
        cmd.env("PICOXMPP_PASSWORD", p);
    }
    cmd
}

/// Reads a pipe to its end in a thread.
fn drain(pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(pipe).read_to_string(&mut s);
        s
    })
}

/// Waits for `child`, killing it after [`COMMAND_TIMEOUT`].
fn wait(mut child: Child, stdout: JoinHandle<String>, stderr: JoinHandle<String>) -> Run {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "picoxmpp still running after {COMMAND_TIMEOUT:?}; stderr: {}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs the command to its end with `args`, the password in the
/// environment if given.
fn picoxmpp(args: &[String], password: Option<&str>) -> Run {
    let mut child = command(args, password).spawn().unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    wait(child, stdout, stderr)
}

fn with(mut base: Vec<String>, more: &[&str]) -> Vec<String> {
    base.extend(more.iter().map(|s| s.to_string()));
    base
}

// -- tests ---------------------------------------------------------------------

#[test]
fn send_delivers_the_message_and_closes() {
    let server = Server::start("send", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        let message = peer.recv_until("</message>");
        assert!(message.starts_with("<message "), "{message}");
        assert!(message.contains("to='romeo@example.net'"), "{message}");
        assert!(message.contains("type='chat'"), "{message}");
        // The text is escaped once, by the core's writer.
        assert!(
            message.ends_with("<body>Wherefore art thou, Romeo? &lt;3 &amp; more</body></message>"),
            "{message}"
        );
        peer.expect_polite_close();
    });
    let args = with(
        server.args(),
        &[
            "send",
            "romeo@example.net",
            "Wherefore art thou, Romeo? <3 & more",
        ],
    );
    let run = picoxmpp(&args, Some(PASSWORD));
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn a_wrong_password_exits_3_and_says_what_to_check() {
    let server = Server::start("auth", |mut peer, tls| {
        assert!(!peer.negotiate(tls));
        peer.finish();
    });
    let args = with(server.args(), &["send", "romeo@example.net", "hi"]);
    let run = picoxmpp(&args, Some("wrong"));
    server.join();
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stderr.contains(
            "authentication failed (not-authorized): check PICOXMPP_JID and the password"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_port_exits_4() {
    // A port that was just free: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let args: Vec<String> = ["--jid", JID, "--server", &addr.to_string(), "ping"]
        .map(String::from)
        .to_vec();
    let run = picoxmpp(&args, Some(PASSWORD));
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(run.stderr.contains(&addr.to_string()), "{}", run.stderr);
    assert!(run.stderr.contains("--server"), "{}", run.stderr);
}

#[test]
fn an_untrusted_certificate_exits_4_and_points_to_ca_file() {
    let server = Server::start("untrusted", |mut peer, tls| {
        peer.recv_header();
        peer.send(HEADER);
        peer.send(
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
             <required/></starttls></stream:features>",
        );
        peer.recv_until("/>");
        peer.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        // The command aborts the handshake with an alert.
        assert!(peer.start_tls(tls).is_err());
    });
    // No --ca-file: Mozilla's roots do not include the test certificate.
    let args: Vec<String> = ["--jid", JID, "--server", &server.addr.to_string(), "roster"]
        .map(String::from)
        .to_vec();
    let run = picoxmpp(&args, Some(PASSWORD));
    server.join();
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(run.stderr.contains("--ca-file"), "{}", run.stderr);
}

#[test]
fn no_password_is_a_usage_error_naming_picoxmpp_password() {
    let args: Vec<String> = [
        "--jid",
        JID,
        "--server",
        "127.0.0.1:1",
        "send",
        "romeo@example.net",
        "hi",
    ]
    .map(String::from)
    .to_vec();
    let run = picoxmpp(&args, None);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("PICOXMPP_PASSWORD"), "{}", run.stderr);
    // Nor can the password be given as an argument.
    let run = picoxmpp(&with(args, &["--password", PASSWORD]), None);
    assert_eq!(run.code, Some(2), "{run:?}");
}

#[test]
fn the_password_file_is_read() {
    let server = Server::start("password-file", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        peer.recv_until("</message>");
        peer.expect_polite_close();
    });
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-password-{}", std::process::id()));
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let args = with(
        server.args(),
        &[
            "--password-file",
            &file.display().to_string(),
            "send",
            "romeo@example.net",
            "hi",
        ],
    );
    // The file wins over the environment.
    let run = picoxmpp(&args, Some("wrong"));
    let _ = std::fs::remove_file(&file);
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn listen_json_prints_the_message_and_exits_when_the_server_closes() {
    let server = Server::start("listen", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        // RFC 6121 §4.2: initial presence first.
        let presence = peer.recv_until("/>");
        assert_eq!(presence, "<presence/>");
        peer.send(
            "<message from='romeo@example.net/orchard' to='juliet@example.com/balcony' \
             type='chat' id='m1'><body>Art thou not Romeo,\nand a Montague?</body></message>\
             <presence from='nurse@example.com/chamber'><show>away</show></presence>",
        );
        peer.send("</stream:stream>");
        // The command closes its stream in turn.
        peer.recv_until("</stream:stream>");
        peer.finish();
    });
    let args = with(server.args(), &["listen", "--json"]);
    let run = picoxmpp(&args, Some(PASSWORD));
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(lines[0]["kind"], "message");
    assert_eq!(lines[0]["from"], "romeo@example.net/orchard");
    assert_eq!(lines[0]["type"], "chat");
    assert_eq!(lines[0]["body"], "Art thou not Romeo,\nand a Montague?");
    assert_eq!(lines[1]["kind"], "presence");
    assert_eq!(lines[1]["type"], "available");
    assert_eq!(lines[1]["show"], "away");
    assert_eq!(lines[1]["status"], serde_json::Value::Null);
}

#[cfg(unix)]
#[test]
fn listen_prints_lines_and_goes_offline_politely_on_ctrl_c() {
    let server = Server::start("ctrl-c", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        peer.recv_until("<presence/>");
        peer.send(
            "<message from='romeo@example.net/orchard' type='chat' id='m1'>\
             <body>Good night</body></message>",
        );
        peer.expect_polite_close();
    });
    let args = with(server.args(), &["listen"]);
    let mut child = command(&args, Some(PASSWORD)).spawn().unwrap();
    let stderr = drain(child.stderr.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        "message from=romeo@example.net/orchard type=chat body=\"Good night\"\n"
    );
    // Ctrl-C.
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let run = wait(child, drain(stdout), stderr);
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn presence_for_a_second_then_offline() {
    let server = Server::start("presence", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        let presence = peer.recv_until("</presence>");
        assert_eq!(
            presence,
            "<presence><show>dnd</show><status>Parting is such sweet sorrow</status>\
             <priority>-1</priority></presence>"
        );
        let online = Instant::now();
        peer.expect_polite_close();
        let elapsed = online.elapsed();
        assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
    });
    let args = with(
        server.args(),
        &[
            "presence",
            "--show",
            "dnd",
            "--status",
            "Parting is such sweet sorrow",
            "--priority",
            "-1",
            "--for",
            "1",
        ],
    );
    let run = picoxmpp(&args, Some(PASSWORD));
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn ping_prints_the_round_trip() {
    let server = Server::start("ping", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        let ping = peer.recv_until("</iq>");
        assert!(ping.contains("type='get'"), "{ping}");
        assert!(ping.contains("to='example.com'"), "{ping}");
        assert!(ping.contains("<ping xmlns='urn:xmpp:ping'/>"), "{ping}");
        let id = between(&ping, "id='", "'").to_owned();
        // XEP-0199 §4.2.
        peer.send(&format!("<iq from='example.com' type='result' id='{id}'/>"));
        peer.expect_polite_close();
    });
    let args = with(server.args(), &["ping"]);
    let run = picoxmpp(&args, Some(PASSWORD));
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
    let line = run.stdout.trim_end();
    let ms = line
        .strip_prefix("pong from example.com: ")
        .and_then(|rest| rest.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(ms.parse::<f64>().unwrap() >= 0.0, "{line}");
}

#[test]
fn roster_prints_the_items() {
    let server = Server::start("roster", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        let get = peer.recv_until("</iq>");
        assert!(get.contains("<query xmlns='jabber:iq:roster'/>"), "{get}");
        let id = between(&get, "id='", "'").to_owned();
        // RFC 6121 §2.1.4.
        peer.send(&format!(
            "<iq type='result' id='{id}'><query xmlns='jabber:iq:roster' ver='ver11'>\
             <item jid='romeo@example.net' name='Romeo' subscription='both'>\
             <group>Friends</group><group>Lovers</group></item>\
             <item jid='mercutio@example.com' subscription='from'/>\
             <item jid='benvolio@example.net' name='Benvolio Montague'/>\
             </query></iq>"
        ));
        peer.expect_polite_close();
    });
    let args = with(server.args(), &["roster"]);
    let run = picoxmpp(&args, Some(PASSWORD));
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        "item jid=romeo@example.net name=Romeo subscription=both groups=Friends,Lovers\n\
         item jid=mercutio@example.com name= subscription=from groups=\n\
         item jid=benvolio@example.net name=\"Benvolio Montague\" subscription=none groups=\n"
    );
}

#[test]
fn verbose_prints_the_transcript_without_the_password() {
    let server = Server::start("verbose", |mut peer, tls| {
        assert!(peer.negotiate(tls));
        peer.recv_until("</message>");
        peer.expect_polite_close();
    });
    let args = with(server.args(), &["-v", "send", "romeo@example.net", "hi"]);
    let run = picoxmpp(&args, Some(PASSWORD));
    server.join();
    assert_eq!(run.code, Some(0), "{run:?}");
    let t = &run.stderr;
    for expected in [
        "C: <stream:stream",
        "S: <stream:features><starttls",
        "S: <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        "C: <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</auth>",
        "S: <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        "S: <iq type='result'",
        "<body>hi</body></message>",
        "C: <presence type='unavailable'/>",
        "C: </stream:stream>",
        "S: </stream:stream>",
    ] {
        assert!(t.contains(expected), "{expected:?} in {t}");
    }
    assert!(!t.contains(&B64.encode(plain(PASSWORD))), "{t}");
    assert!(!t.contains(PASSWORD), "{t}");
}
