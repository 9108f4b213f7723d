//! Stanza errors (RFC 6120 §8.3).

use crate::xml::{Element, Text};

/// The stanza errors namespace (RFC 6120 §8.3.2).
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// The error `type` (RFC 6120 §8.3.2): what the sender may do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry: the error cannot be remedied.
    Cancel,
    /// Proceed: the condition was only a warning.
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting: the error is temporary.
    Wait,
}

impl ErrorType {
    /// The value on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

/// The defined stanza error conditions of RFC 6120 §8.3.3, in section
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCondition {
    /// §8.3.3.1
    BadRequest,
    /// §8.3.3.2
    Conflict,
    /// §8.3.3.3
    FeatureNotImplemented,
    /// §8.3.3.4
    Forbidden,
    /// §8.3.3.5 (the element may carry a new address)
    Gone,
    /// §8.3.3.6
    InternalServerError,
    /// §8.3.3.7
    ItemNotFound,
    /// §8.3.3.8
    JidMalformed,
    /// §8.3.3.9
    NotAcceptable,
    /// §8.3.3.10
    NotAllowed,
    /// §8.3.3.11
    NotAuthorized,
    /// §8.3.3.12
    PolicyViolation,
    /// §8.3.3.13
    RecipientUnavailable,
    /// §8.3.3.14 (the element may carry the alternate address)
    Redirect,
    /// §8.3.3.15
    RegistrationRequired,
    /// §8.3.3.16
    RemoteServerNotFound,
    /// §8.3.3.17
    RemoteServerTimeout,
    /// §8.3.3.18
    ResourceConstraint,
    /// §8.3.3.19
    ServiceUnavailable,
    /// §8.3.3.20
    SubscriptionRequired,
    /// §8.3.3.21
    UndefinedCondition,
    /// §8.3.3.22
    UnexpectedRequest,
}

impl ErrorCondition {
    /// Every condition, in section order.
    pub const ALL: [ErrorCondition; 22] = [
        Self::BadRequest,
        Self::Conflict,
        Self::FeatureNotImplemented,
        Self::Forbidden,
        Self::Gone,
        Self::InternalServerError,
        Self::ItemNotFound,
        Self::JidMalformed,
        Self::NotAcceptable,
        Self::NotAllowed,
        Self::NotAuthorized,
        Self::PolicyViolation,
        Self::RecipientUnavailable,
        Self::Redirect,
        Self::RegistrationRequired,
        Self::RemoteServerNotFound,
        Self::RemoteServerTimeout,
        Self::ResourceConstraint,
        Self::ServiceUnavailable,
        Self::SubscriptionRequired,
        Self::UndefinedCondition,
        Self::UnexpectedRequest,
    ];

    /// The element name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Conflict => "conflict",
            Self::FeatureNotImplemented => "feature-not-implemented",
            Self::Forbidden => "forbidden",
            Self::Gone => "gone",
            Self::InternalServerError => "internal-server-error",
            Self::ItemNotFound => "item-not-found",
            Self::JidMalformed => "jid-malformed",
            Self::NotAcceptable => "not-acceptable",
            Self::NotAllowed => "not-allowed",
            Self::NotAuthorized => "not-authorized",
            Self::PolicyViolation => "policy-violation",
            Self::RecipientUnavailable => "recipient-unavailable",
            Self::Redirect => "redirect",
            Self::RegistrationRequired => "registration-required",
            Self::RemoteServerNotFound => "remote-server-not-found",
            Self::RemoteServerTimeout => "remote-server-timeout",
            Self::ResourceConstraint => "resource-constraint",
            Self::ServiceUnavailable => "service-unavailable",
            Self::SubscriptionRequired => "subscription-required",
            Self::UndefinedCondition => "undefined-condition",
            Self::UnexpectedRequest => "unexpected-request",
        }
    }

    /// The condition named `name`, if defined.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The `type` RFC 6120 §8.3.3 recommends with this condition.
    pub const fn default_type(self) -> ErrorType {
        match self {
            Self::BadRequest | Self::JidMalformed | Self::NotAcceptable | Self::PolicyViolation => {
                ErrorType::Modify
            }
            Self::Forbidden
            | Self::NotAuthorized
            | Self::RegistrationRequired
            | Self::SubscriptionRequired => ErrorType::Auth,
            Self::RecipientUnavailable
            | Self::RemoteServerTimeout
            | Self::ResourceConstraint
            | Self::UnexpectedRequest => ErrorType::Wait,
            Self::Redirect => ErrorType::Modify,
            _ => ErrorType::Cancel,
        }
    }
}

/// A checked `<error/>` child of a stanza (RFC 6120 §8.3.2).
#[derive(Debug, Clone, Copy)]
pub struct StanzaError<'a> {
    el: Element<'a>,
}

impl<'a> StanzaError<'a> {
    /// The error child of `stanza` (in the stanza's namespace), if any.
    pub(crate) fn of(stanza: &Element<'a>) -> Option<Self> {
        stanza
            .child("error", stanza.namespace())
            .map(|el| StanzaError { el })
    }

    /// The element underneath.
    pub fn element(&self) -> Element<'a> {
        self.el
    }

    /// The error type; `None` when absent or undefined.
    pub fn error_type(&self) -> Option<ErrorType> {
        let t = self.el.attr("type")?;
        [
            ErrorType::Auth,
            ErrorType::Cancel,
            ErrorType::Continue,
            ErrorType::Modify,
            ErrorType::Wait,
        ]
        .into_iter()
        .find(|e| t.eq_str(e.as_str()))
    }

    /// The defined condition; `undefined-condition` when the element has
    /// none or an unknown one (RFC 6120 §8.3.2: exactly one is required).
    pub fn condition(&self) -> ErrorCondition {
        self.el
            .children()
            .filter(|c| c.namespace() == NS_STANZAS && c.name() != "text")
            .find_map(|c| ErrorCondition::from_name(c.name()))
            .unwrap_or(ErrorCondition::UndefinedCondition)
    }

    /// The new address carried by `gone` or `redirect` (RFC 6120 §8.3.3.5,
    /// §8.3.3.14).
    pub fn alternate_address(&self) -> Option<Text<'a>> {
        let c = self.condition();
        if !matches!(c, ErrorCondition::Gone | ErrorCondition::Redirect) {
            return None;
        }
        let el = self.el.child(c.as_str(), NS_STANZAS)?;
        let t = el.text();
        (!t.is_empty()).then_some(t)
    }

    /// The descriptive text (RFC 6120 §8.3.2), if any.
    pub fn text(&self) -> Option<Text<'a>> {
        self.el.child("text", NS_STANZAS).map(|t| t.text())
    }

    /// `by`: the entity that created the error.
    pub fn by(&self) -> Option<Text<'a>> {
        self.el.attr("by")
    }

    /// The application-specific condition element, if any (RFC 6120
    /// §8.3.2: a child in another namespace).
    pub fn application_condition(&self) -> Option<Element<'a>> {
        self.el.children().find(|c| c.namespace() != NS_STANZAS)
    }
}

/// Writes the `<error/>` child of an error stanza (RFC 6120 §8.3.2): the
/// condition's default type and the condition element.
pub(crate) fn write_error(
    w: &mut crate::xml::Writer<'_>,
    condition: ErrorCondition,
) -> Result<(), crate::xml::WriteError> {
    w.start_element("error")?;
    w.attr("type", condition.default_type().as_str())?;
    w.start_element(condition.as_str())?;
    w.ns(NS_STANZAS)?;
    w.end_element(condition.as_str())?;
    w.end_element("error")
}
