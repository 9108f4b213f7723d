//! Routing between the sessions of the built-in server (RFC 6120 §8.5,
//! RFC 6121 §8.5), presence broadcast and subscriptions (RFC 6121 §3, §4),
//! and the roster (RFC 6121 §2), kept in memory per account.
//!
//! Deliberately simple: one domain, no offline storage (a message nobody
//! can take is bounced with `service-unavailable`, never dropped), no
//! privacy lists, every available resource gets messages to the bare JID.

use super::session::Input;
use picoxmpp::error::StreamErrorCondition;
use picoxmpp::jid::Jid;
use picoxmpp::server::Inbound;
use picoxmpp::stanza::{ErrorCondition, IqType, PresenceType, Stanza};
use picoxmpp::xml::{WriteError, Writer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};

/// jabber:iq:roster.
const NS_ROSTER: &str = "jabber:iq:roster";

/// What the session does after routing a stanza.
#[derive(Debug)]
pub(crate) enum Action {
    /// Queue these bytes on this very session.
    ToSelf(Arc<[u8]>),
    /// Answer the stanza with this error (RFC 6120 §8.3).
    Bounce(ErrorCondition),
}

/// RFC 6121 §2.1.2.5 subscription states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Sub {
    /// The user receives the contact's presence.
    to: bool,
    /// The contact receives the user's presence.
    from: bool,
}

impl Sub {
    fn as_str(self) -> &'static str {
        match (self.to, self.from) {
            (true, true) => "both",
            (true, false) => "to",
            (false, true) => "from",
            (false, false) => "none",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Item {
    name: Option<String>,
    sub: Sub,
    /// A subscription request of the user's is pending (`ask`).
    ask: bool,
}

struct Session {
    id: u64,
    tx: SyncSender<Input>,
    /// The last available presence it broadcast, stamped.
    presence: Option<Arc<[u8]>>,
}

#[derive(Default)]
struct Inner {
    /// By full JID.
    sessions: HashMap<String, Session>,
    /// By account bare JID, then contact bare JID.
    rosters: HashMap<String, BTreeMap<String, Item>>,
    /// Subscription requests not yet seen: by addressee, the requesters.
    pending: HashMap<String, BTreeSet<String>>,
    pushes: u64,
}

/// The routing table, shared by every session of a server.
pub(crate) struct Router {
    domain: String,
    accounts: Arc<super::AccountStore>,
    inner: Mutex<Inner>,
}

/// Builds one stanza with the core's writer.
pub(crate) fn build(
    f: impl FnOnce(&mut Writer<'_>) -> Result<(), WriteError>,
) -> Option<Arc<[u8]>> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut w = Writer::new(&mut buf);
    f(&mut w).ok()?;
    let n = w.finish().ok()?;
    buf.truncate(n);
    Some(buf.into())
}

fn presence(from: &str, to: &str, kind: &'static str) -> Option<Arc<[u8]>> {
    build(|w| {
        w.start_element("presence")?;
        w.attr("from", from)?;
        w.attr("to", to)?;
        w.attr("type", kind)?;
        w.end_element("presence")
    })
}

fn bare_of(full: &str) -> &str {
    full.split_once('/').map_or(full, |(b, _)| b)
}

impl Router {
    pub(crate) fn new(domain: &str, accounts: Arc<super::AccountStore>) -> Self {
        Router {
            domain: domain.to_owned(),
            accounts,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds `full` to session `id`. RFC 6120 §7.7.2.2: an existing
    /// session with the same resource is replaced; it ends with
    /// `conflict`.
    pub(crate) fn register(&self, full: &str, id: u64, tx: SyncSender<Input>) {
        let old = self.lock().sessions.insert(
            full.to_owned(),
            Session {
                id,
                tx,
                presence: None,
            },
        );
        if let Some(old) = old {
            let _ = old.tx.try_send(Input::Kick(StreamErrorCondition::Conflict));
        }
    }

    /// Ends every bound session with `condition`.
    pub(crate) fn kick_all(&self, condition: StreamErrorCondition) {
        for s in self.lock().sessions.values() {
            let _ = s.tx.try_send(Input::Kick(condition));
        }
    }

    /// Session `id` bound to `full` is over: unavailable presence to whom
    /// saw it available (RFC 6121 §4.5.2).
    pub(crate) fn unregister(&self, full: &str, id: u64) {
        let mut inner = self.lock();
        if inner.sessions.get(full).is_some_and(|s| s.id == id) {
            let was_available = inner
                .sessions
                .remove(full)
                .and_then(|s| s.presence)
                .is_some();
            if was_available {
                let bare = bare_of(full).to_owned();
                for to in presence_audience(&inner, &bare, full) {
                    if let Some(p) = presence(full, &to, "unavailable") {
                        send(&inner, &to, &p);
                    }
                }
            }
        }
    }

    /// Routes one stanza from the session bound to `from`.
    pub(crate) fn route(&self, s: &Inbound<'_>) -> Vec<Action> {
        let from = s.from().to_string();
        let mut out = Vec::new();
        let Some(stanza) = s.stanza() else {
            return out;
        };
        let is_error = s.kind() == Some("error");
        let to = s.to();
        // Another domain: no server-to-server here (RFC 6120 §8.3.3.13).
        if to.is_some_and(|t| !t.domain().eq_ignore_ascii_case(&self.domain)) {
            if !is_error {
                out.push(Action::Bounce(ErrorCondition::RemoteServerNotFound));
            }
            return out;
        }
        let stamped = stamp(s);
        match stanza {
            Stanza::Message(_) => self.message(&from, to, &stamped, is_error, &mut out),
            Stanza::Presence(p) => match p.presence_type() {
                Some(kind) => self.presence(&from, to, kind, &stamped, &mut out),
                // RFC 6120 §8.3.3.1: a type RFC 6121 §4.7.1 does not know.
                None if !is_error => out.push(Action::Bounce(ErrorCondition::BadRequest)),
                None => {}
            },
            Stanza::Iq(iq) => self.iq(&from, to, iq, &stamped, &mut out),
        }
        out
    }

    fn message(
        &self,
        from: &str,
        to: Option<Jid<'_>>,
        stamped: &Arc<[u8]>,
        is_error: bool,
        out: &mut Vec<Action>,
    ) {
        let inner = self.lock();
        let to = match to {
            Some(t) => t.to_string(),
            // RFC 6120 §8.1.1.1: no `to` is the sender's own account.
            None => bare_of(from).to_owned(),
        };
        let local = Jid::parse(&to)
            .ok()
            .and_then(|j| j.local().map(str::to_owned));
        let delivered = match &local {
            None => false,
            Some(_) if to.contains('/') && inner.sessions.contains_key(&to) => {
                try_send(&inner, &to, stamped)
            }
            Some(local) if self.accounts.contains(local) => {
                // RFC 6121 §8.5.2.1.1 (simplified): every available
                // resource; a connected one if none announced presence.
                let bare = bare_of(&to);
                let targets = resources(&inner, bare, true);
                let targets = if targets.is_empty() {
                    resources(&inner, bare, false)
                } else {
                    targets
                };
                targets
                    .iter()
                    .map(|t| try_send(&inner, t, stamped))
                    .fold(false, |a, b| a | b)
            }
            Some(_) => false,
        };
        if !delivered && !is_error {
            // RFC 6121 §8.5.2.2.1, §8.5.4: nobody can take it, and nothing
            // is stored: the sender learns it.
            out.push(Action::Bounce(ErrorCondition::ServiceUnavailable));
        }
    }

    fn presence(
        &self,
        from: &str,
        to: Option<Jid<'_>>,
        kind: PresenceType,
        stamped: &Arc<[u8]>,
        out: &mut Vec<Action>,
    ) {
        let bare = bare_of(from).to_owned();
        let mut inner = self.lock();
        let Some(to) = to else {
            // RFC 6121 §4.2, §4.5: broadcast to the subscribers and the
            // account's other resources.
            match kind {
                PresenceType::Available => {
                    let initial = inner
                        .sessions
                        .get(from)
                        .is_some_and(|s| s.presence.is_none());
                    if let Some(s) = inner.sessions.get_mut(from) {
                        s.presence = Some(stamped.clone());
                    }
                    for to in presence_audience(&inner, &bare, from) {
                        send(&inner, &to, stamped);
                    }
                    if initial {
                        // RFC 6121 §4.2.2: the contacts' presence, and the
                        // subscription requests that waited (§3.1.3).
                        for contact in subscribed_to(&inner, &bare) {
                            for (full, s) in &inner.sessions {
                                if bare_of(full) == contact {
                                    if let Some(p) = &s.presence {
                                        out.push(Action::ToSelf(p.clone()));
                                    }
                                }
                            }
                        }
                        for requester in inner.pending.remove(&bare).unwrap_or_default() {
                            if let Some(p) = presence(&requester, &bare, "subscribe") {
                                out.push(Action::ToSelf(p));
                            }
                        }
                    }
                }
                PresenceType::Unavailable => {
                    if let Some(s) = inner.sessions.get_mut(from) {
                        s.presence = None;
                    }
                    for to in presence_audience(&inner, &bare, from) {
                        send(&inner, &to, stamped);
                    }
                }
                _ => {}
            }
            return;
        };
        let contact = to.bare().to_string();
        let contact_exists = to.local().is_some_and(|l| self.accounts.contains(l));
        match kind {
            PresenceType::Subscribe
            | PresenceType::Subscribed
            | PresenceType::Unsubscribe
            | PresenceType::Unsubscribed => {
                if !contact_exists || contact == bare {
                    return;
                }
                self.subscription(&mut inner, &bare, &contact, kind);
            }
            // Directed presence, probes, errors: to that resource, or the
            // account's (RFC 6121 §4.6); presence is never bounced.
            _ => {
                let targets = if to.is_full() {
                    vec![to.to_string()]
                } else {
                    resources(&inner, &contact, false)
                };
                for t in targets {
                    send(&inner, &t, stamped);
                }
            }
        }
    }

    /// RFC 6121 §3: the four subscription stanzas, from `user` about
    /// `contact`, with the roster pushes both sides get.
    fn subscription(&self, inner: &mut Inner, user: &str, contact: &str, kind: PresenceType) {
        let Some(name) = kind.as_str() else {
            return;
        };
        let mut deliver_presences_of: Option<(String, String)> = None;
        let mut unavailable_of: Option<(String, String)> = None;
        {
            let mine = inner
                .rosters
                .entry(user.to_owned())
                .or_default()
                .entry(contact.to_owned())
                .or_default();
            match kind {
                PresenceType::Subscribe => mine.ask = !mine.sub.to,
                PresenceType::Subscribed => mine.sub.from = true,
                PresenceType::Unsubscribe => {
                    mine.sub.to = false;
                    mine.ask = false;
                }
                _ => mine.sub.from = false,
            }
        }
        {
            let theirs = inner
                .rosters
                .entry(contact.to_owned())
                .or_default()
                .entry(user.to_owned())
                .or_default();
            match kind {
                PresenceType::Subscribed => {
                    theirs.sub.to = true;
                    theirs.ask = false;
                    deliver_presences_of = Some((user.to_owned(), contact.to_owned()));
                }
                PresenceType::Unsubscribe => {
                    theirs.sub.from = false;
                    unavailable_of = Some((contact.to_owned(), user.to_owned()));
                }
                PresenceType::Unsubscribed => {
                    theirs.sub.to = false;
                    theirs.ask = false;
                    unavailable_of = Some((user.to_owned(), contact.to_owned()));
                }
                _ => {}
            }
        }
        // Addressed from the bare JID (RFC 6121 §3.1.2).
        if let Some(p) = presence(user, contact, name) {
            let targets = resources(inner, contact, true);
            if targets.is_empty() && kind == PresenceType::Subscribe {
                inner
                    .pending
                    .entry(contact.to_owned())
                    .or_default()
                    .insert(user.to_owned());
            }
            for t in targets {
                send(inner, &t, &p);
            }
        }
        if kind == PresenceType::Subscribed {
            if let Some(set) = inner.pending.get_mut(user) {
                set.remove(contact);
            }
        }
        for (account, other) in [(user, contact), (contact, user)] {
            self.push(inner, account, other);
        }
        if let Some((of, to)) = deliver_presences_of {
            let presences: Vec<Arc<[u8]>> = inner
                .sessions
                .iter()
                .filter(|(full, _)| bare_of(full) == of)
                .filter_map(|(_, s)| s.presence.clone())
                .collect();
            for t in resources(inner, &to, true) {
                for p in &presences {
                    send(inner, &t, p);
                }
            }
        }
        if let Some((of, to)) = unavailable_of {
            let fulls: Vec<String> = resources(inner, &of, true);
            for t in resources(inner, &to, true) {
                for f in &fulls {
                    if let Some(p) = presence(f, &t, "unavailable") {
                        send(inner, &t, &p);
                    }
                }
            }
        }
    }

    /// RFC 6121 §2.1.6: a roster push of `contact`'s item to every
    /// session of `account`.
    fn push(&self, inner: &mut Inner, account: &str, contact: &str) {
        inner.pushes += 1;
        let id = format!("push{}", inner.pushes);
        let item = inner
            .rosters
            .get(account)
            .and_then(|r| r.get(contact))
            .cloned();
        for t in resources(inner, account, false) {
            let p = build(|w| {
                w.start_element("iq")?;
                w.attr("type", "set")?;
                w.attr("to", &t)?;
                w.attr("id", &id)?;
                w.start_element("query")?;
                w.ns(NS_ROSTER)?;
                write_item(w, contact, item.as_ref())?;
                w.end_element("query")?;
                w.end_element("iq")
            });
            if let Some(p) = p {
                send(inner, &t, &p);
            }
        }
    }

    fn iq(
        &self,
        from: &str,
        to: Option<Jid<'_>>,
        iq: picoxmpp::stanza::Iq<'_>,
        stamped: &Arc<[u8]>,
        out: &mut Vec<Action>,
    ) {
        let request = iq.iq_type().is_some_and(|t| t.is_request());
        let bare = bare_of(from).to_owned();
        let for_account = to.is_none_or(|t| t.is_bare() && t.as_str() == bare);
        if for_account && request {
            if let Some(q) = iq.payload("query", NS_ROSTER) {
                return self.roster(from, &bare, iq, q, out);
            }
            out.push(Action::Bounce(ErrorCondition::ServiceUnavailable));
            return;
        }
        let Some(to) = to else {
            return;
        };
        let inner = self.lock();
        // RFC 6121 §8.5.3.1: to a connected resource; otherwise (and for
        // a bare JID or the domain, which answer for themselves here)
        // service-unavailable to a request, nothing to an answer.
        let delivered = to.is_full()
            && inner.sessions.contains_key(to.as_str())
            && try_send(&inner, to.as_str(), stamped);
        if !delivered && request {
            out.push(Action::Bounce(ErrorCondition::ServiceUnavailable));
        }
    }

    /// RFC 6121 §2.1.3 (get), §2.3 (set), §2.5 (remove).
    fn roster(
        &self,
        from: &str,
        bare: &str,
        iq: picoxmpp::stanza::Iq<'_>,
        query: picoxmpp::xml::Element<'_>,
        out: &mut Vec<Action>,
    ) {
        let id = iq.id().map(|i| i.to_string()).unwrap_or_default();
        let mut inner = self.lock();
        if iq.iq_type() == Some(IqType::Get) {
            let items: Vec<(String, Item)> = inner
                .rosters
                .get(bare)
                .map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let result = build(|w| {
                w.start_element("iq")?;
                w.attr("type", "result")?;
                w.attr("to", from)?;
                w.attr("id", &id)?;
                w.start_element("query")?;
                w.ns(NS_ROSTER)?;
                for (jid, item) in &items {
                    write_item(w, jid, Some(item))?;
                }
                w.end_element("query")?;
                w.end_element("iq")
            });
            match result {
                Some(r) => out.push(Action::ToSelf(r)),
                None => out.push(Action::Bounce(ErrorCondition::ResourceConstraint)),
            }
            return;
        }
        // RFC 6121 §2.3.3: exactly one item, with a valid JID.
        let mut items = query.children().filter(|c| c.name() == "item");
        let (Some(item), None) = (items.next(), items.next()) else {
            out.push(Action::Bounce(ErrorCondition::BadRequest));
            return;
        };
        let jid = item.attr("jid").map(|j| j.to_string()).unwrap_or_default();
        let Ok(contact) = Jid::parse(&jid).map(|j| j.bare().to_string()) else {
            out.push(Action::Bounce(ErrorCondition::BadRequest));
            return;
        };
        let remove = item.attr("subscription").is_some_and(|s| s == "remove");
        if remove {
            inner
                .rosters
                .entry(bare.to_owned())
                .or_default()
                .remove(&contact);
        } else {
            let name = item.attr("name").map(|n| n.to_string());
            inner
                .rosters
                .entry(bare.to_owned())
                .or_default()
                .entry(contact.clone())
                .or_default()
                .name = name;
        }
        if let Some(r) = build(|w| {
            w.start_element("iq")?;
            w.attr("type", "result")?;
            w.attr("to", from)?;
            w.attr("id", &id)?;
            w.end_element("iq")
        }) {
            out.push(Action::ToSelf(r));
        }
        self.push(&mut inner, bare, &contact);
    }
}

/// `<item jid= name= subscription= ask=/>`; a missing item is a removal.
fn write_item(w: &mut Writer<'_>, jid: &str, item: Option<&Item>) -> Result<(), WriteError> {
    w.start_element("item")?;
    w.attr("jid", jid)?;
    match item {
        Some(item) => {
            if let Some(n) = &item.name {
                w.attr("name", n)?;
            }
            w.attr("subscription", item.sub.as_str())?;
            if item.ask {
                w.attr("ask", "subscribe")?;
            }
        }
        None => w.attr("subscription", "remove")?,
    }
    w.end_element("item")
}

/// The stanza stamped with its sender's full JID.
fn stamp(s: &Inbound<'_>) -> Arc<[u8]> {
    let mut buf = vec![0u8; s.stamped_len()];
    let n = s.write_stamped(&mut buf).unwrap_or(0);
    buf.truncate(n);
    buf.into()
}

/// The full JIDs of `bare`'s sessions (available ones only, or all).
fn resources(inner: &Inner, bare: &str, available: bool) -> Vec<String> {
    inner
        .sessions
        .iter()
        .filter(|(full, s)| bare_of(full) == bare && (!available || s.presence.is_some()))
        .map(|(full, _)| full.clone())
        .collect()
}

/// Whom `full`'s presence goes to: the available resources of contacts
/// with a `from` or `both` subscription, and the account's other
/// resources.
fn presence_audience(inner: &Inner, bare: &str, full: &str) -> Vec<String> {
    let mut out: Vec<String> = resources(inner, bare, true)
        .into_iter()
        .filter(|r| r != full)
        .collect();
    if let Some(roster) = inner.rosters.get(bare) {
        for (contact, item) in roster {
            if item.sub.from {
                out.extend(resources(inner, contact, true));
            }
        }
    }
    out
}

/// The contacts whose presence `bare` receives.
fn subscribed_to(inner: &Inner, bare: &str) -> Vec<String> {
    inner
        .rosters
        .get(bare)
        .map(|r| {
            r.iter()
                .filter(|(_, i)| i.sub.to)
                .map(|(c, _)| c.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Hands `bytes` to the session of `full`; `false` if it is gone or its
/// queue is full (a slow client: the sender is told, nobody waits).
fn try_send(inner: &Inner, full: &str, bytes: &Arc<[u8]>) -> bool {
    match inner.sessions.get(full) {
        Some(s) => match s.tx.try_send(Input::Deliver(bytes.clone())) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        },
        None => false,
    }
}

fn send(inner: &Inner, full: &str, bytes: &Arc<[u8]>) {
    let _ = try_send(inner, full, bytes);
}
