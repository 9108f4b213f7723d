//! The firmware of embedded-example/ on an emulated Cortex-M4F (QEMU's
//! MPS2 AN386) against Prosody, its UART0 bridged to 127.0.0.1:5222: a
//! watcher (bob, with the std adapter) must see the device's presence,
//! then every reading in order, then its unavailable presence, and the
//! firmware must exit 0 (it does only after a polite close).
//!
//! Run by tests/embedded/run-qemu.sh, which builds the firmware against
//! the servers' CA and sets PICOXMPP_FW_ELF and PICOXMPP_FW_READINGS;
//! ignored otherwise, like the other tests that need real servers.

mod interop_common;

use interop_common::{config, leak_buf, tls_settings, unique_resource, PROSODY};
use picoxmpp::client::Event;
use picoxmpp::stanza::PresenceType;
use picoxmpp_std::{Connection, Next};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the watcher saw from the device.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Presence { status: Option<String> },
    Unavailable,
    Message(String),
    Other,
}

const DEVICE: &str = "alice@localhost";

fn own(e: Event<'_>) -> Seen {
    let from_device = |from: Option<picoxmpp::xml::Text<'_>>| {
        from.is_some_and(|f| f.to_string().starts_with(&format!("{DEVICE}/")))
    };
    match e {
        Event::Presence(p) if from_device(p.from()) => match p.presence_type() {
            Some(PresenceType::Unavailable) => Seen::Unavailable,
            Some(PresenceType::Available) => Seen::Presence {
                status: p.status().map(|s| s.to_string()),
            },
            _ => Seen::Other,
        },
        Event::Message(m) if from_device(m.from()) => {
            Seen::Message(m.body().map(|b| b.to_string()).unwrap_or_default())
        }
        _ => Seen::Other,
    }
}

#[test]
#[ignore = "needs Prosody (servers-up.sh with XMPP_EXPAT_NODEFER=1), QEMU and the firmware: tests/embedded/run-qemu.sh"]
fn firmware_reports_presence_and_readings_in_order() {
    let elf = std::env::var("PICOXMPP_FW_ELF")
        .expect("PICOXMPP_FW_ELF: the firmware image (tests/embedded/run-qemu.sh builds it)");
    let readings: usize = std::env::var("PICOXMPP_FW_READINGS")
        .expect("PICOXMPP_FW_READINGS: the number of readings the firmware was built for")
        .parse()
        .expect("a number");
    let defmt_out =
        std::env::var("PICOXMPP_FW_LOG").unwrap_or_else(|_| "/tmp/picoxmpp-fw.defmt".into());

    // The watcher is online before the device boots.
    let jid = format!("bob@localhost/{}", unique_resource("watcher"));
    let mut watcher = Connection::connect(
        ("127.0.0.1", PROSODY.starttls),
        leak_buf(64 * 1024),
        leak_buf(16 * 1024),
        config(&jid, "bob-pass"),
        &tls_settings(false),
    )
    .expect("the watcher connects to Prosody");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match watcher.next_event_until(deadline, |e| matches!(e, Event::Ready { .. })) {
            Ok(Next::Event(true)) => break,
            Ok(Next::Event(false)) => {}
            other => panic!("the watcher did not log in: {other:?}"),
        }
    }
    watcher.client().set_presence(None, None, 0).unwrap();
    let _ = watcher.next_event_until(Instant::now(), |_| ());

    let started = Instant::now();
    let mut qemu = Command::new("qemu-system-arm")
        .args(["-M", "mps2-an386", "-nographic", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-serial", &format!("tcp:127.0.0.1:{}", PROSODY.starttls)])
        .args(["-kernel", &elf])
        .stdout(std::fs::File::create(&defmt_out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("qemu-system-arm starts");

    // Readings come every second or so; the TLS handshake and SCRAM take
    // a few seconds on the emulated core.
    let limit = Duration::from_secs(30 + 3 * readings as u64);
    let mut seen = Vec::new();
    let mut exited = None;
    let mut exited_at = None;
    let mut watcher_failed = None;
    while started.elapsed() < limit {
        match watcher.next_event_until(Instant::now() + Duration::from_millis(100), own) {
            Ok(Next::Event(Seen::Other)) | Ok(Next::Timeout) => {}
            Ok(Next::Event(s)) => seen.push(s),
            other => {
                watcher_failed = Some(format!("{other:?}"));
                break;
            }
        }
        if exited.is_none() {
            exited = qemu.try_wait().unwrap();
            if exited.is_some() {
                exited_at = Some(Instant::now());
            }
        }
        // After the firmware is gone, what the server still routes comes
        // within a moment.
        if exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            break;
        }
    }
    // From the start of QEMU to its exit (or to giving up).
    let run_time = exited_at.unwrap_or_else(Instant::now) - started;
    if exited.is_none() {
        // Ours, by its PID: it did not finish in time.
        let _ = qemu.kill();
    }
    // Reaps it (or returns the status try_wait saw).
    let _ = qemu.wait();
    let _ = watcher.close();
    println!(
        "firmware run under QEMU: {:.1} s, exit {exited:?}",
        run_time.as_secs_f64()
    );
    println!("watcher saw: {seen:#?}");
    if let Some(e) = watcher_failed {
        panic!("the watcher's session ended: {e}; saw {seen:?}");
    }

    let exit = exited
        .unwrap_or_else(|| panic!("the firmware did not finish within {limit:?}; saw {seen:?}"));
    assert!(exit.success(), "the firmware failed ({exit}); saw {seen:?}");
    // Presence first, its status the first reading; then each reading in
    // order, exactly once; then the polite close's unavailable presence.
    let Some(Seen::Presence {
        status: Some(status),
    }) = seen.first()
    else {
        panic!("no presence with a status first: {seen:?}")
    };
    assert!(
        status.starts_with(&format!("temperature, reading 0/{readings}: ")),
        "{status}"
    );
    let bodies: Vec<&str> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Message(b) => Some(b.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies.len(), readings, "{seen:?}");
    for (i, body) in bodies.iter().enumerate() {
        let prefix = format!("reading {}/{readings}: ", i + 1);
        assert!(
            body.starts_with(&prefix) && body.ends_with(" C"),
            "reading {}: {body:?}",
            i + 1
        );
    }
    assert_eq!(seen.last(), Some(&Seen::Unavailable), "{seen:?}");
    assert_eq!(
        seen.iter()
            .filter(|s| matches!(s, Seen::Presence { .. }))
            .count(),
        1,
        "{seen:?}"
    );
}
