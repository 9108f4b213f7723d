//! What the command prints on standard output: one line per stanza or
//! roster item, `key=value` pairs (quoted when they need it, as logfmt
//! does), or one JSON object per line.

use picoxmpp::client::Event;
use picoxmpp::stanza::PresenceType;
use picoxmpp::xml::Element;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// jabber:iq:roster (RFC 6121 §2).
const NS_ROSTER: &str = "jabber:iq:roster";

/// A message or presence, copied out of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// RFC 6121 §5.
    Message {
        from: Option<String>,
        to: Option<String>,
        id: Option<String>,
        /// `normal` when absent (RFC 6121 §5.2.2).
        kind: &'static str,
        body: Option<String>,
    },
    /// RFC 6121 §4.
    Presence {
        from: Option<String>,
        to: Option<String>,
        id: Option<String>,
        /// `available` when absent (RFC 6121 §4.7.1).
        kind: &'static str,
        show: Option<&'static str>,
        status: Option<String>,
        priority: i8,
    },
}

impl Incoming {
    /// The stanza of `event`, if it is a message or presence.
    pub(crate) fn of(event: &Event<'_>) -> Option<Incoming> {
        let text = |t: Option<picoxmpp::xml::Text<'_>>| t.map(|t| t.to_string());
        match event {
            Event::Message(m) => Some(Incoming::Message {
                from: text(m.from()),
                to: text(m.to()),
                id: text(m.id()),
                kind: m.message_type().as_str(),
                body: text(m.body()),
            }),
            Event::Presence(p) => Some(Incoming::Presence {
                from: text(p.from()),
                to: text(p.to()),
                id: text(p.id()),
                kind: p
                    .presence_type()
                    .map_or("unknown", |t| t.as_str().unwrap_or("available")),
                show: p
                    .show()
                    .map(|s| s.as_str())
                    .filter(|_| p.presence_type() == Some(PresenceType::Available)),
                status: text(p.status()),
                priority: p.priority(),
            }),
            _ => None,
        }
    }

    /// `message from=... type=... body=...` or
    /// `presence from=... type=... show=... status=...`.
    pub(crate) fn line(&self) -> String {
        let mut out = String::new();
        match self {
            Incoming::Message {
                from, kind, body, ..
            } => {
                out.push_str("message");
                pair(&mut out, "from", from.as_deref().unwrap_or(""));
                pair(&mut out, "type", kind);
                pair(&mut out, "body", body.as_deref().unwrap_or(""));
            }
            Incoming::Presence {
                from,
                kind,
                show,
                status,
                ..
            } => {
                out.push_str("presence");
                pair(&mut out, "from", from.as_deref().unwrap_or(""));
                pair(&mut out, "type", kind);
                pair(&mut out, "show", show.unwrap_or(""));
                pair(&mut out, "status", status.as_deref().unwrap_or(""));
            }
        }
        out
    }

    /// One JSON object, absent values as `null`.
    pub(crate) fn json(&self) -> Value {
        match self {
            Incoming::Message {
                from,
                to,
                id,
                kind,
                body,
            } => json!({
                "kind": "message", "from": from, "to": to, "id": id,
                "type": kind, "body": body,
            }),
            Incoming::Presence {
                from,
                to,
                id,
                kind,
                show,
                status,
                priority,
            } => json!({
                "kind": "presence", "from": from, "to": to, "id": id,
                "type": kind, "show": show, "status": status, "priority": priority,
            }),
        }
    }
}

/// One roster item (RFC 6121 §2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RosterItem {
    pub(crate) jid: String,
    pub(crate) name: Option<String>,
    /// `none` when absent (RFC 6121 §2.1.2.5).
    pub(crate) subscription: String,
    pub(crate) groups: Vec<String>,
}

impl RosterItem {
    /// The items of a roster `<query/>` result (RFC 6121 §2.1.4); an
    /// item without a `jid` is skipped.
    pub(crate) fn all_of(query: Option<Element<'_>>) -> Vec<RosterItem> {
        let Some(query) = query.filter(|q| q.is("query", NS_ROSTER)) else {
            return Vec::new();
        };
        query
            .children()
            .filter(|item| item.is("item", NS_ROSTER))
            .filter_map(|item| {
                Some(RosterItem {
                    jid: item.attr("jid")?.to_string(),
                    name: item.attr("name").map(|n| n.to_string()),
                    subscription: item
                        .attr("subscription")
                        .map_or_else(|| "none".to_owned(), |s| s.to_string()),
                    groups: item
                        .children()
                        .filter(|g| g.is("group", NS_ROSTER))
                        .map(|g| g.text().to_string())
                        .collect(),
                })
            })
            .collect()
    }

    /// `item jid=... name=... subscription=... groups=a,b`.
    pub(crate) fn line(&self) -> String {
        let mut out = String::from("item");
        pair(&mut out, "jid", &self.jid);
        pair(&mut out, "name", self.name.as_deref().unwrap_or(""));
        pair(&mut out, "subscription", &self.subscription);
        pair(&mut out, "groups", &self.groups.join(","));
        out
    }
}

/// Appends ` key=value`, the value quoted (with `\"`, `\\`, `\n`...) when
/// it has spaces, quotes, `=` or control characters, so that one stanza
/// stays one line.
fn pair(out: &mut String, key: &str, value: &str) {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=' || c == '\\');
    if plain || value.is_empty() {
        let _ = write!(out, " {key}={value}");
    } else {
        let _ = write!(out, " {key}=\"{}\"", value.escape_debug());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_what_needs_it() {
        let m = Incoming::Message {
            from: Some("romeo@example.net/orchard".into()),
            to: None,
            id: None,
            kind: "chat",
            body: Some("Art thou \"not\" Romeo,\nand a Montague?".into()),
        };
        assert_eq!(
            m.line(),
            "message from=romeo@example.net/orchard type=chat \
             body=\"Art thou \\\"not\\\" Romeo,\\nand a Montague?\""
        );
        let p = Incoming::Presence {
            from: Some("nurse@example.com/chamber".into()),
            to: None,
            id: None,
            kind: "available",
            show: Some("away"),
            status: None,
            priority: 0,
        };
        assert_eq!(
            p.line(),
            "presence from=nurse@example.com/chamber type=available show=away status="
        );
        assert_eq!(p.json()["show"], "away");
        assert_eq!(p.json()["status"], Value::Null);
    }

    #[test]
    fn roster_item_line() {
        let item = RosterItem {
            jid: "romeo@example.net".into(),
            name: Some("Romeo Montague".into()),
            subscription: "both".into(),
            groups: vec!["Friends".into(), "Lovers".into()],
        };
        assert_eq!(
            item.line(),
            "item jid=romeo@example.net name=\"Romeo Montague\" subscription=both \
             groups=Friends,Lovers"
        );
    }
}
