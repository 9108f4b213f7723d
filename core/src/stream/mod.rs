//! Stream-level elements of RFC 6120 §4: the features a receiving entity
//! advertises (§4.3.2) and stream errors (§4.9), as views over checked
//! elements.

mod error;
mod features;

pub use error::StreamError;
pub use features::{ChannelBindingType, StreamFeatures};

/// Namespaces of the stream features this crate reads.
pub mod ns {
    /// STARTTLS (RFC 6120 §5.4).
    pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
    /// SASL (RFC 6120 §6.4).
    pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
    /// Resource binding (RFC 6120 §7).
    pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
    /// Legacy session establishment (RFC 3921 §3, draft-cridland-xmpp-session).
    pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
    /// Stream errors (RFC 6120 §4.9.2).
    pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
    /// Stream management (XEP-0198 v3).
    pub const SM: &str = "urn:xmpp:sm:3";
    /// Client state indication (XEP-0352).
    pub const CSI: &str = "urn:xmpp:csi:0";
    /// Roster versioning (RFC 6121 §2.6).
    pub const ROSTERVER: &str = "urn:xmpp:features:rosterver";
    /// SASL channel-binding type capability (XEP-0440).
    pub const SASL_CB: &str = "urn:xmpp:sasl-cb:0";
    /// Stream limits advertisement (XEP-0478).
    pub const LIMITS: &str = "urn:xmpp:stream-limits:0";
}
