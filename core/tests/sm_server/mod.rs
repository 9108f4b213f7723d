//! An in-memory XMPP server with stream management (XEP-0198), for the
//! client's tests: PLAIN login (optionally after STARTTLS), bind,
//! `<enable/>`, acks both ways, resumption. Its session outlives the
//! connection, as a server's does until `max`.
#![allow(dead_code)]

use picoxmpp::xml::{Event, StreamParser};
use std::collections::VecDeque;

pub const HEADER: &str = "<?xml version='1.0'?><stream:stream from='example.com' id='s1' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// The server's half of a stream management session.
#[derive(Debug, Default)]
pub struct Session {
    pub id: String,
    /// Client stanzas handled (the server's `h`).
    pub h_in: u32,
    /// Server stanzas not yet acknowledged by the client, with the count
    /// acknowledged.
    pub unacked: VecDeque<String>,
    pub acked: u32,
    pub jid: String,
}

/// What the server does; the tests change these.
#[derive(Debug, Clone)]
pub struct Options {
    pub sm: bool,
    pub csi: bool,
    pub starttls: bool,
    /// `resume='true'` in `<enabled/>`.
    pub resume: bool,
    pub location: Option<String>,
    pub max: Option<u32>,
    /// Answer `<resume/>` with `<failed/>` (the session timed out), with
    /// `h` when set.
    pub fail_resume: Option<Option<u32>>,
    /// Send `<r/>` after this many stanzas to the client.
    pub request_every: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sm: true,
            csi: true,
            starttls: false,
            resume: true,
            location: None,
            max: Some(300),
            fail_resume: None,
            request_every: 0,
        }
    }
}

pub struct Server {
    pub opts: Options,
    pub session: Option<Session>,
    /// Bodies of the client's messages, in the order handled.
    pub delivered: Vec<String>,
    /// Everything the client sent, unit by unit as parsed (names).
    pub received: Vec<String>,
    /// CSI state last set.
    pub active: Option<bool>,
    /// How many sessions were bound and resumed.
    pub binds: u32,
    pub resumes: u32,
    parser: StreamParser<'static>,
    tls: bool,
    authed: bool,
    /// SM is on for this connection.
    attached: bool,
    unrequested: u32,
    pub out: Vec<u8>,
}

impl Server {
    pub fn new(opts: Options) -> Self {
        let buf: &'static mut [u8] = Box::leak(vec![0u8; 16384].into_boxed_slice());
        Server {
            opts,
            session: None,
            delivered: Vec::new(),
            received: Vec::new(),
            active: None,
            binds: 0,
            resumes: 0,
            parser: StreamParser::new(buf),
            tls: false,
            authed: false,
            attached: false,
            unrequested: 0,
            out: Vec::new(),
        }
    }

    /// The connection is gone: the stream with it, the session stays.
    pub fn drop_connection(&mut self) {
        self.parser.reset();
        self.tls = false;
        self.authed = false;
        self.attached = false;
        self.unrequested = 0;
        self.out.clear();
    }

    /// Takes the bytes for the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Sends a message to the client (counted, kept until acknowledged).
    pub fn push_message(&mut self, body: &str) {
        let jid = self
            .session
            .as_ref()
            .map(|s| s.jid.clone())
            .unwrap_or_default();
        let m = format!(
            "<message from='sensor-hub@example.com' to='{jid}' type='chat'><body>{body}</body></message>"
        );
        if !self.attached {
            // Detached: kept for the resumption (XEP-0198 §5).
            if let Some(s) = self.session.as_mut().filter(|s| !s.id.is_empty()) {
                s.unacked.push_back(m);
            }
            return;
        }
        self.out.extend_from_slice(m.as_bytes());
        {
            if let Some(s) = self.session.as_mut() {
                s.unacked.push_back(m);
            }
            self.unrequested += 1;
            if self.opts.request_every > 0 && self.unrequested >= self.opts.request_every {
                self.unrequested = 0;
                self.out.extend_from_slice(b"<r xmlns='urn:xmpp:sm:3'/>");
            }
        }
    }

    /// Takes bytes from the client; returns what it consumed (all of it,
    /// unless the stream failed).
    pub fn receive(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = self.parser.feed(data);
            data = &data[n..];
            loop {
                let ev = match self.parser.next() {
                    Ok(Some(e)) => e,
                    Ok(None) => break,
                    Err(e) => panic!("the client sent bad XML: {e:?}"),
                };
                match ev {
                    Event::StreamOpen(_) => self.on_open(),
                    Event::StreamClose => self.out.extend_from_slice(b"</stream:stream>"),
                    Event::Element(_) => self.on_element(),
                }
            }
            if n == 0 {
                panic!("server buffer full");
            }
        }
    }

    fn on_open(&mut self) {
        self.out.extend_from_slice(HEADER.as_bytes());
        let f = if !self.tls && self.opts.starttls {
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>".to_string()
        } else if !self.authed {
            "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>".to_string()
        } else {
            format!(
                "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>{}{}</stream:features>",
                if self.opts.sm { "<sm xmlns='urn:xmpp:sm:3'/>" } else { "" },
                if self.opts.csi { "<csi xmlns='urn:xmpp:csi:0'/>" } else { "" },
            )
        };
        self.out.extend_from_slice(f.as_bytes());
    }

    fn on_element(&mut self) {
        let Some(el) = self.parser.current() else {
            return;
        };
        let name = el.name().to_string();
        let attr = |k: &str| el.attr(k).map(|t| t.to_string());
        self.received.push(name.clone());
        match name.as_str() {
            "starttls" => {
                self.out
                    .extend_from_slice(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
                self.tls = true;
                self.parser.restart();
            }
            "auth" => {
                self.out
                    .extend_from_slice(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
                self.authed = true;
                self.parser.restart();
            }
            "enable" if self.opts.sm => {
                let id = format!("sm-{}", self.binds);
                let resume = self.opts.resume && attr("resume").as_deref() == Some("true");
                let mut a = format!("<enabled xmlns='urn:xmpp:sm:3' id='{id}'");
                if resume {
                    a.push_str(" resume='true'");
                    if let Some(l) = &self.opts.location {
                        a.push_str(&format!(" location='{l}'"));
                    }
                    if let Some(m) = self.opts.max {
                        a.push_str(&format!(" max='{m}'"));
                    }
                }
                a.push_str("/>");
                self.out.extend_from_slice(a.as_bytes());
                let s = self.session.get_or_insert_with(Session::default);
                s.id = if resume { id } else { String::new() };
                s.h_in = 0;
                s.acked = 0;
                s.unacked.clear();
                self.attached = true;
            }
            "resume" => {
                let previd = attr("previd").unwrap_or_default();
                let h: u32 = attr("h").unwrap().parse().unwrap();
                let ok = self.opts.fail_resume.is_none()
                    && self
                        .session
                        .as_ref()
                        .is_some_and(|s| !s.id.is_empty() && s.id == previd);
                if !ok {
                    let mut f = String::from("<failed xmlns='urn:xmpp:sm:3'");
                    if let Some(Some(h)) = self.opts.fail_resume {
                        f.push_str(&format!(" h='{h}'"));
                    }
                    f.push_str(
                        "><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
                    );
                    self.out.extend_from_slice(f.as_bytes());
                    self.session = None;
                    return;
                }
                self.resumes += 1;
                let s = self.session.as_mut().unwrap();
                Self::ack(s, h);
                self.out.extend_from_slice(
                    format!(
                        "<resumed xmlns='urn:xmpp:sm:3' previd='{previd}' h='{}'/>",
                        s.h_in
                    )
                    .as_bytes(),
                );
                // XEP-0198 §5: resend what the client did not handle.
                for m in &s.unacked {
                    self.out.extend_from_slice(m.as_bytes());
                }
                self.attached = true;
            }
            "r" => {
                let h = self.session.as_ref().map_or(0, |s| s.h_in);
                self.out
                    .extend_from_slice(format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>").as_bytes());
            }
            "a" => {
                let h: u32 = attr("h").unwrap().parse().unwrap();
                Self::ack(self.session.as_mut().unwrap(), h);
            }
            "active" | "inactive" => self.active = Some(name == "active"),
            "message" | "presence" | "iq" => {
                if self.attached {
                    let s = self.session.as_mut().unwrap();
                    s.h_in = s.h_in.wrapping_add(1);
                }
                if name == "message" {
                    let body = el
                        .child("body", "jabber:client")
                        .map(|b| b.text().to_string());
                    self.delivered.push(body.unwrap_or_default());
                } else if name == "iq"
                    && el
                        .child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
                        .is_some()
                {
                    self.binds += 1;
                    let jid = format!("juliet@example.com/r{}", self.binds);
                    let id = attr("id").unwrap();
                    self.out.extend_from_slice(
                        format!("<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>{jid}</jid></bind></iq>").as_bytes(),
                    );
                    self.session.get_or_insert_with(Session::default).jid = jid;
                }
            }
            _ => {}
        }
    }

    fn ack(s: &mut Session, h: u32) {
        let n = h.wrapping_sub(s.acked);
        assert!(n as usize <= s.unacked.len(), "client acked too much");
        for _ in 0..n {
            s.unacked.pop_front();
        }
        s.acked = h;
    }
}
