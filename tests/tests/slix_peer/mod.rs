//! `tests/interop/slix_peer.py` run as a child process: the slixmpp side
//! of the cross-client interop tests (against Prosody in
//! `interop_slixmpp.rs`, against the built-in server in `interop_serve.rs`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The slixmpp release the CI installs (`python3 -m pip install slixmpp==…`).
pub const SLIXMPP: &str = "1.17.0";
/// How long slixmpp may take to log in (Python's start included).
pub const PEER_WAIT: Duration = Duration::from_secs(30);

/// A resource no other test (or earlier run) uses.
pub fn unique_resource(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{test}-{}-{t}-{n}", std::process::id())
}

/// `tests/interop/slix_peer.py` running: its stdout line by line, its
/// stderr whole at the end. Killed if the test ends before it does.
pub struct Peer {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    out: Vec<String>,
}

impl Peer {
    /// Runs the script against 127.0.0.1:`port`, trusting the CA
    /// certificate `ca`, with `args` (options, then the mode).
    pub fn spawn(port: u16, ca: &str, args: &[&str]) -> Peer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/slix_peer.py");
        let resource = format!("slix-{}", unique_resource("peer"));
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--ca", ca])
            .args(["--resource", &resource, "--timeout", "20"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 {script}: {e} (python3 must be on PATH)")
            });
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Peer {
            child,
            lines,
            stderr: Some(stderr),
            out: Vec::new(),
        }
    }

    /// Why the script ended (or what it said so far), for a failure
    /// message: a missing slixmpp is named as such.
    pub fn failure(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                _ if Instant::now() >= deadline => break None,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let mut msg = format!(
            "slixmpp peer (tests/interop/slix_peer.py): {what}; exit status {status:?}\n\
             stdout: {:?}\nstderr:\n{stderr}",
            self.out
        );
        if status.and_then(|s| s.code()) == Some(2) || stderr.contains("No module named") {
            msg.insert_str(
                0,
                &format!(
                    "slixmpp is not installed for python3: run \
                     `python3 -m pip install slixmpp=={SLIXMPP}`\n"
                ),
            );
        }
        msg
    }

    /// The next stdout line starting with `prefix` (what follows it), within
    /// `within`; `between` runs in the meantime (picoxmpp's side).
    pub fn expect(&mut self, prefix: &str, within: Duration, mut between: impl FnMut()) -> String {
        let deadline = Instant::now() + within;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => {
                    self.out.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => between(),
                Err(RecvTimeoutError::Timeout) => {
                    let msg = self.failure(&format!("no {prefix:?} line within {within:?}"));
                    panic!("{msg}");
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let msg = self.failure(&format!("ended before a {prefix:?} line"));
                    panic!("{msg}");
                }
            }
        }
    }

    /// Waits for a successful exit.
    pub fn finish(mut self) {
        let deadline = Instant::now() + PEER_WAIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return,
                Ok(Some(_)) => {
                    let msg = self.failure("failed");
                    panic!("{msg}");
                }
                _ if Instant::now() >= deadline => {
                    let msg = self.failure(&format!("did not exit within {PEER_WAIT:?}"));
                    panic!("{msg}");
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
