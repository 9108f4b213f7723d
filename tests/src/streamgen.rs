//! Deterministic generator of realistic server-to-client XMPP streams.
//!
//! The output looks like what a client reads from its server after stream
//! negotiation: an XML declaration, the `<stream:stream>` header, then a
//! sequence of `<message/>`, `<presence/>` and `<iq/>` stanzas (about 300
//! bytes each on average) with the payloads real clients see — chat states
//! (XEP-0085), origin ids (XEP-0359), entity capabilities (XEP-0115), MUC
//! presences, roster results and pushes (RFC 6121), pings (XEP-0199) and
//! disco#info results (XEP-0030) — separated now and then by whitespace
//! keepalives, and finally `</stream:stream>`.
//!
//! Between 10 and 20 percent of the text and attribute values carry entity
//! or character references (`&amp;`, `&lt;`, `&gt;`, `&apos;`, `&quot;`,
//! `&#233;`, `&#x1F600;`) and about as many carry non-ASCII UTF-8 (accented
//! Latin, Greek, Cyrillic, CJK, emoji). Every stanza is valid for
//! `xmpp-parsers`, so typed parsers can be benchmarked on the same input.
//!
//! The generator uses its own small PRNG (SplitMix64): the same
//! `(target_bytes, seed)` always yields the same bytes, on every platform.

/// The XML declaration and stream header that open every generated stream,
/// up to (not including) the value of the `id` attribute.
pub const STREAM_HEADER_START: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='";

/// The tag that closes every generated stream.
pub const STREAM_CLOSE: &str = "</stream:stream>";

/// The full JID the generated stream is addressed to (the `to` of most
/// stanzas).
pub const CLIENT_JID: &str = "romeo@example.com/orchard.Xk3f";

/// A generated stream and what it contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedStream {
    /// The whole stream, from the XML declaration to `</stream:stream>`.
    pub bytes: Vec<u8>,
    /// Number of top-level stanzas (children of `<stream:stream>`).
    pub stanzas: usize,
    /// How many of the stanzas are `<message/>`.
    pub messages: usize,
    /// How many of the stanzas are `<presence/>`.
    pub presences: usize,
    /// How many of the stanzas are `<iq/>`.
    pub iqs: usize,
}

impl GeneratedStream {
    /// Mean size of a stanza in bytes, including the whitespace keepalives
    /// around it but not the stream header and footer.
    pub fn mean_stanza_len(&self) -> f64 {
        let overhead = STREAM_HEADER_START.len() + STREAM_CLOSE.len();
        if self.stanzas == 0 {
            return 0.0;
        }
        self.bytes.len().saturating_sub(overhead) as f64 / self.stanzas as f64
    }
}

/// Generates a stream of at least `target_bytes` bytes (it stops after the
/// first stanza that reaches the target, so it overshoots by less than one
/// stanza plus the closing tag), seeded by `seed`.
pub fn generate(target_bytes: usize, seed: u64) -> GeneratedStream {
    let mut g = Generator::new(seed);
    g.out.reserve(target_bytes + 4096);
    g.stream_header();
    while g.out.len() + STREAM_CLOSE.len() < target_bytes {
        g.stanza();
        g.keepalive();
    }
    g.out.push_str(STREAM_CLOSE);
    GeneratedStream {
        bytes: g.out.into_bytes(),
        stanzas: g.messages + g.presences + g.iqs,
        messages: g.messages,
        presences: g.presences,
        iqs: g.iqs,
    }
}

/// Generates a stream of about `target_bytes` bytes; see [`generate`], which
/// also tells how many stanzas it holds.
pub fn generate_stream(target_bytes: usize, seed: u64) -> Vec<u8> {
    generate(target_bytes, seed).bytes
}

/// Generates `count` stanzas, each as its own string (no stream header, no
/// keepalives): handy as fuzz seeds or as test vectors for a stanza parser.
/// The namespace `jabber:client` is not declared on them: they are meant to
/// be read inside a stream that declares it.
pub fn generate_stanzas(count: usize, seed: u64) -> Vec<String> {
    let mut g = Generator::new(seed);
    (0..count)
        .map(|_| {
            g.out.clear();
            g.stanza();
            g.out.clone()
        })
        .collect()
}

/// Counts the top-level elements (stanzas) of a stream as produced by
/// [`generate`], with a small scanner that trusts the input to be
/// well-formed. It knows the generator's output: no comments, no CDATA, no
/// `>` inside attribute values.
pub fn count_stanzas(stream: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut count = 0;
    let mut i = 0;
    while let Some(off) = stream[i..].iter().position(|&b| b == b'<') {
        let start = i + off;
        let Some(len) = stream[start..].iter().position(|&b| b == b'>') else {
            break;
        };
        let tag = &stream[start..=start + len];
        i = start + len + 1;
        match tag.get(1) {
            Some(b'?') | Some(b'!') => {}
            Some(b'/') => depth = depth.saturating_sub(1),
            _ => {
                if depth == 1 {
                    count += 1;
                }
                if !tag.ends_with(b"/>") {
                    depth += 1;
                }
            }
        }
    }
    count
}

/// SplitMix64: tiny, fast, good enough for test data, identical everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the", "a", "to", "and", "of", "in", "is", "it", "you", "that", "for", "on", "are", "with",
    "be", "this", "have", "at", "we", "not", "but", "can", "so", "just", "was", "meeting",
    "tomorrow", "today", "lunch", "coffee", "later", "thanks", "sure", "ok", "maybe", "call",
    "server", "build", "release", "patch", "review", "train", "weekend", "photo", "link",
    "message", "please", "check", "sounds", "good", "great", "idea", "running", "late", "back",
    "home", "office", "again", "soon", "tonight", "ticket", "branch", "deploy", "works", "now",
    "fixed", "bug", "weird", "test", "failing", "green", "merge", "question", "answer",
];

/// Non-ASCII fragments, written as UTF-8.
const UNICODE: &[&str] = &[
    "café",
    "naïve",
    "crème brûlée",
    "Grüße aus München",
    "São Paulo",
    "Zürich",
    "Привет, как дела?",
    "спасибо",
    "日本語のテキスト",
    "你好，世界",
    "안녕하세요",
    "ελληνικά",
    "😀",
    "🎉👍",
    "señor",
    "Ærøskøbing",
];

/// Fragments carrying entity or character references (already escaped).
const ESCAPED: &[&str] = &[
    "Tom &amp; Jerry",
    "1 &lt; 2",
    "&lt;3",
    "x &gt; y",
    "it&apos;s",
    "&quot;quoted&quot;",
    "caf&#233;",
    "&#x1F600;",
    "R&amp;D",
    "&#1055;&#1088;&#1080;&#1074;&#1077;&#1090;",
    "a &amp;&amp; b",
    "&#x4E2D;&#x6587;",
];

const CONTACTS: &[&str] = &[
    "juliet",
    "mercutio",
    "benvolio",
    "tybalt",
    "nurse",
    "laurence",
    "paris",
    "capulet",
    "montague",
    "balthasar",
    "rosaline",
    "escalus",
    "zoë",
    "андрей",
    "李雷",
    "josé",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "jabber.example.net",
    "xmpp.example.de",
    "chat.example.fr",
];

const RESOURCES: &[&str] = &[
    "Conversations.",
    "gajim.",
    "Dino.",
    "Psi+.",
    "phone.",
    "laptop.",
    "Téléphone.",
    "ноутбук.",
    "Monal-iOS.",
];

const ROOMS: &[&str] = &["verona", "balcony", "dev", "random", "café", "crypt"];

const NICKS: &[&str] = &[
    "Juliet",
    "Mercutio",
    "Friar Laurence",
    "Tybalt",
    "Benvolio",
    "Zoë",
    "Андрей",
    "李雷",
    "Rosaline",
];

const CAPS_NODES: &[&str] = &[
    "https://conversations.im",
    "https://gajim.org",
    "https://dino.im",
    "http://psi-plus.com",
    "https://monal-im.org",
];

const SHOWS: &[&str] = &["away", "chat", "dnd", "xa"];

const GROUPS: &[&str] = &[
    "Friends",
    "Family",
    "Work",
    "Montagues",
    "Capulets",
    "Verona &amp; Mantua",
    "Amis",
    "Друзья",
];

const DISCO_FEATURES: &[&str] = &[
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/muc",
    "urn:xmpp:ping",
    "urn:xmpp:receipts",
    "urn:xmpp:sid:0",
    "jabber:iq:version",
    "urn:xmpp:time",
    "urn:xmpp:jingle:1",
];

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Who an `<iq/>` comes from.
#[derive(Clone, Copy)]
enum IqFrom {
    /// The server (`from='example.com'`).
    Server,
    /// A contact's full JID.
    Contact,
    /// The client's own account: roster results and pushes carry no `from`.
    Account,
}

struct Generator {
    rng: SplitMix64,
    out: String,
    messages: usize,
    presences: usize,
    iqs: usize,
    roster_ver: usize,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            out: String::new(),
            messages: 0,
            presences: 0,
            iqs: 0,
            roster_ver: 1,
        }
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn alnum(&mut self, len: usize) {
        for _ in 0..len {
            let c = ALNUM[self.rng.below(ALNUM.len())];
            self.out.push(c as char);
        }
    }

    fn hex(&mut self, len: usize) {
        for _ in 0..len {
            let c = b"0123456789abcdef"[self.rng.below(16)];
            self.out.push(c as char);
        }
    }

    /// A random UUID-looking id (XEP-0359 origin ids usually are UUIDs).
    fn uuid(&mut self) {
        for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
            if i > 0 {
                self.out.push('-');
            }
            self.hex(n);
        }
    }

    /// Base64 of 20 random bytes: the shape of a SHA-1 caps `ver`.
    fn sha1_base64(&mut self) {
        // 20 random bytes and a zero: the last group then encodes with zero
        // trailing bits, as canonical base64 of 20 bytes must.
        let mut bytes = [0u8; 21];
        for b in bytes[..20].iter_mut() {
            *b = self.rng.next_u64() as u8;
        }
        for chunk in bytes.chunks(3) {
            let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
            for shift in [18, 12, 6, 0] {
                self.out.push(BASE64[(n >> shift) as usize & 63] as char);
            }
        }
        // 20 bytes encode to 27 characters plus one '=' of padding.
        self.out.pop();
        self.out.push('=');
    }

    fn stanza_id(&mut self) {
        let len = self.rng.range(8, 16);
        self.alnum(len);
    }

    fn bare_jid(&mut self) {
        let contact = *self.rng.pick(CONTACTS);
        let domain = *self.rng.pick(DOMAINS);
        self.push(contact);
        self.out.push('@');
        self.push(domain);
    }

    fn full_jid(&mut self) {
        self.bare_jid();
        self.out.push('/');
        let res = *self.rng.pick(RESOURCES);
        self.push(res);
        self.alnum(4);
    }

    fn room_jid(&mut self) {
        let room = *self.rng.pick(ROOMS);
        self.push(room);
        self.push("@conference.example.com");
    }

    /// Some prose of `min..=max` words; about 15% of values get a non-ASCII
    /// fragment and about 15% an escaped one.
    fn text(&mut self, min: usize, max: usize) {
        let words = self.rng.range(min, max);
        let unicode_at = if self.rng.chance(15) {
            Some(self.rng.below(words))
        } else {
            None
        };
        let escaped_at = if self.rng.chance(15) {
            Some(self.rng.below(words))
        } else {
            None
        };
        for i in 0..words {
            if i > 0 {
                self.out.push(' ');
            }
            if Some(i) == unicode_at {
                let s = *self.rng.pick(UNICODE);
                self.push(s);
            } else if Some(i) == escaped_at {
                let s = *self.rng.pick(ESCAPED);
                self.push(s);
            } else {
                let s = *self.rng.pick(WORDS);
                self.push(s);
            }
        }
        if self.rng.chance(30) {
            let end = *self.rng.pick(&[".", "!", "?", " :)", "..."]);
            self.push(end);
        }
    }

    fn stream_header(&mut self) {
        self.push(STREAM_HEADER_START);
        self.alnum(16);
        self.push("' version='1.0' xml:lang='en'>");
    }

    fn keepalive(&mut self) {
        if self.rng.chance(5) {
            let ka = *self.rng.pick(&["\n", " ", "\n\n", "\r\n", "\t"]);
            self.push(ka);
        }
    }

    fn stanza(&mut self) {
        match self.rng.below(100) {
            0..=54 => {
                self.messages += 1;
                self.message();
            }
            55..=84 => {
                self.presences += 1;
                self.presence();
            }
            _ => {
                self.iqs += 1;
                self.iq();
            }
        }
    }

    fn message(&mut self) {
        let kind = self.rng.below(10);
        let groupchat = kind >= 8;
        let normal = kind == 7;
        self.push("<message type='");
        self.push(if groupchat {
            "groupchat"
        } else if normal {
            "normal"
        } else {
            "chat"
        });
        self.push("' from='");
        if groupchat {
            self.room_jid();
            self.out.push('/');
            let nick = *self.rng.pick(NICKS);
            self.push(nick);
        } else {
            self.full_jid();
        }
        self.push("' to='");
        self.push(CLIENT_JID);
        self.push("' id='");
        self.stanza_id();
        self.push("'>");

        // A tenth of one-to-one chat messages are bare chat state
        // notifications, as clients send while typing.
        let notification = !groupchat && !normal && self.rng.chance(10);
        if notification {
            let state = *self.rng.pick(&["composing", "paused"]);
            self.push("<");
            self.push(state);
            self.push(" xmlns='http://jabber.org/protocol/chatstates'/>");
        } else {
            if (groupchat || normal) && self.rng.chance(15) {
                self.push("<subject>");
                self.text(2, 6);
                self.push("</subject>");
            }
            self.push("<body>");
            self.text(3, 30);
            self.push("</body>");
            if !groupchat && self.rng.chance(40) {
                self.push("<thread>");
                self.hex(32);
                self.push("</thread>");
            }
            if !groupchat && self.rng.chance(60) {
                self.push("<active xmlns='http://jabber.org/protocol/chatstates'/>");
            }
        }
        if self.rng.chance(50) {
            self.push("<origin-id xmlns='urn:xmpp:sid:0' id='");
            self.uuid();
            self.push("'/>");
        }
        if groupchat && self.rng.chance(50) {
            self.push("<stanza-id xmlns='urn:xmpp:sid:0' by='");
            self.room_jid();
            self.push("' id='");
            self.uuid();
            self.push("'/>");
        }
        self.push("</message>");
    }

    fn caps(&mut self) {
        self.push("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='");
        let node = *self.rng.pick(CAPS_NODES);
        self.push(node);
        self.push("' ver='");
        self.sha1_base64();
        self.push("'/>");
    }

    fn presence(&mut self) {
        let muc = self.rng.chance(25);
        let unavailable = self.rng.chance(10);
        self.push("<presence from='");
        if muc {
            self.room_jid();
            self.out.push('/');
            let nick = *self.rng.pick(NICKS);
            self.push(nick);
        } else {
            self.full_jid();
        }
        self.push("' to='");
        self.push(CLIENT_JID);
        if self.rng.chance(50) {
            self.push("' id='");
            self.stanza_id();
        }
        if unavailable {
            self.push("' type='unavailable'>");
        } else {
            self.push("'>");
            if self.rng.chance(60) {
                self.push("<show>");
                let show = *self.rng.pick(SHOWS);
                self.push(show);
                self.push("</show>");
            }
        }
        if self.rng.chance(50) {
            self.push("<status>");
            self.text(1, 8);
            self.push("</status>");
        }
        if !unavailable {
            self.push("<priority>");
            let prio = *self.rng.pick(&["0", "1", "5", "10", "-1", "50"]);
            self.push(prio);
            self.push("</priority>");
            self.caps();
        }
        if muc {
            let (affiliation, role) = *self.rng.pick(&[
                ("member", "participant"),
                ("none", "participant"),
                ("owner", "moderator"),
                ("admin", "moderator"),
                ("none", "visitor"),
            ]);
            self.push("<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='");
            self.push(affiliation);
            self.push("' role='");
            self.push(if unavailable { "none" } else { role });
            self.push("'/></x>");
        }
        self.push("</presence>");
    }

    fn iq_open(&mut self, kind: &str, from: IqFrom) {
        self.push("<iq type='");
        self.push(kind);
        match from {
            IqFrom::Server => self.push("' from='example.com"),
            IqFrom::Contact => {
                self.push("' from='");
                self.full_jid();
            }
            IqFrom::Account => {}
        }
        self.push("' to='");
        self.push(CLIENT_JID);
        self.push("' id='");
        self.stanza_id();
        self.out.push('\'');
    }

    fn roster_item(&mut self) {
        self.push("<item jid='");
        self.bare_jid();
        self.push("'");
        if self.rng.chance(85) {
            self.push(" name='");
            if self.rng.chance(20) {
                let s = *self.rng.pick(ESCAPED);
                self.push(s);
            } else {
                let s = *self.rng.pick(NICKS);
                self.push(s);
            }
            self.push("'");
        }
        let sub = *self
            .rng
            .pick(&["both", "both", "both", "to", "from", "none"]);
        self.push(" subscription='");
        self.push(sub);
        self.push("'");
        let groups = self.rng.below(3);
        if groups == 0 {
            self.push("/>");
            return;
        }
        self.push(">");
        for _ in 0..groups {
            self.push("<group>");
            let g = *self.rng.pick(GROUPS);
            self.push(g);
            self.push("</group>");
        }
        self.push("</item>");
    }

    fn iq(&mut self) {
        match self.rng.below(100) {
            // XEP-0199 ping from the server, and a pong from a contact.
            0..=34 => {
                self.iq_open("get", IqFrom::Server);
                self.push("><ping xmlns='urn:xmpp:ping'/></iq>");
            }
            35..=54 => {
                self.iq_open("result", IqFrom::Contact);
                self.push("/>");
            }
            // XEP-0030 disco#info result (for caps).
            55..=74 => {
                self.iq_open("result", IqFrom::Contact);
                self.push("><query xmlns='http://jabber.org/protocol/disco#info' node='");
                let node = *self.rng.pick(CAPS_NODES);
                self.push(node);
                self.out.push('#');
                self.sha1_base64();
                self.push("'><identity category='client' type='");
                let ty = *self.rng.pick(&["pc", "phone", "bot"]);
                self.push(ty);
                self.push("' name='");
                let name = *self
                    .rng
                    .pick(&["Conversations", "Gajim", "Dino", "Psi+", "Monal"]);
                self.push(name);
                self.push("'/><feature var='http://jabber.org/protocol/disco#info'/>");
                let n = self.rng.range(2, 5);
                let first = self.rng.below(DISCO_FEATURES.len());
                for i in 0..n {
                    self.push("<feature var='");
                    self.push(DISCO_FEATURES[(first + i) % DISCO_FEATURES.len()]);
                    self.push("'/>");
                }
                self.push("</query></iq>");
            }
            // RFC 6121 roster result (small) and roster pushes.
            75..=84 => {
                self.iq_open("result", IqFrom::Account);
                self.push("><query xmlns='jabber:iq:roster' ver='ver");
                self.roster_ver += 1;
                let ver = self.roster_ver.to_string();
                self.push(&ver);
                self.push("'>");
                let n = self.rng.range(1, 4);
                for _ in 0..n {
                    self.roster_item();
                }
                self.push("</query></iq>");
            }
            _ => {
                self.iq_open("set", IqFrom::Account);
                self.push("><query xmlns='jabber:iq:roster' ver='ver");
                self.roster_ver += 1;
                let ver = self.roster_ver.to_string();
                self.push(&ver);
                self.push("'>");
                self.roster_item();
                self.push("</query></iq>");
            }
        }
    }
}
