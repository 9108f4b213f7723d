//! The PLAIN mechanism (RFC 4616): one message, the password as it is.
//!
//! Only over TLS: [`choose`](super::choose) refuses it otherwise, unless
//! explicitly allowed. The server answers `<success/>` or `<failure/>`; there
//! is nothing for the client to check.

use super::{Out, SaslError};

/// Writes the PLAIN message (RFC 4616 §2) into `out` and returns its length:
///
/// ```text
/// message = [authzid] UTF8NUL authcid UTF8NUL passwd
/// ```
///
/// - `authzid`: the identity to act as, if not the one `authcid` implies
///   (RFC 6120 §6.3.8: usually `None`);
/// - `authcid`: the username, in XMPP the localpart (RFC 6120 §6.3.7);
/// - `password`: the password.
///
/// The fields are written as they are: RFC 4616 §2 has the server prepare
/// them. `authcid` and `password` must not be empty, and no field may
/// contain NUL, the separator.
///
/// ```
/// use picoxmpp::sasl::plain;
///
/// let mut out = [0u8; 64];
/// let n = plain::initial_response(&mut out, None, "juliet", "r0m30myr0m30")?;
/// assert_eq!(&out[..n], b"\0juliet\0r0m30myr0m30");
/// # Ok::<(), picoxmpp::sasl::SaslError>(())
/// ```
pub fn initial_response(
    out: &mut [u8],
    authzid: Option<&str>,
    authcid: &str,
    password: &str,
) -> Result<usize, SaslError> {
    // authcid = 1*SAFE, passwd = 1*SAFE, SAFE excludes NUL (RFC 4616 §2).
    let check = |field: &'static str, value: &str, may_be_empty: bool| {
        if value.contains('\0') {
            Err(SaslError::InvalidInput {
                field,
                reason: "contains NUL, the PLAIN separator",
            })
        } else if value.is_empty() && !may_be_empty {
            Err(SaslError::InvalidInput {
                field,
                reason: "empty",
            })
        } else {
            Ok(())
        }
    };
    check("authzid", authzid.unwrap_or_default(), true)?;
    check("authcid", authcid, false)?;
    check("password", password, false)?;

    let mut w = Out::new(out);
    w.put(authzid.unwrap_or_default().as_bytes());
    w.put(b"\0");
    w.put(authcid.as_bytes());
    w.put(b"\0");
    w.put(password.as_bytes());
    Ok(w.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BufferTooSmall;

    #[test]
    fn rfc_4616_examples() {
        // RFC 4616 §4: "tim" with password "tanstaaftanstaaf", no authzid,
        // and "Ursel" acting as "Kurt" with password "xipj3plmq".
        let mut out = [0u8; 64];
        let n = initial_response(&mut out, None, "tim", "tanstaaftanstaaf").unwrap();
        assert_eq!(&out[..n], b"\0tim\0tanstaaftanstaaf");
        let n = initial_response(&mut out, Some("Ursel"), "Kurt", "xipj3plmq").unwrap();
        assert_eq!(&out[..n], b"Ursel\0Kurt\0xipj3plmq");
        // UTF-8 goes through unchanged.
        let n = initial_response(&mut out, None, "d\u{e9}j\u{e0}", "\u{1F511}").unwrap();
        assert_eq!(&out[..n], "\0d\u{e9}j\u{e0}\0\u{1F511}".as_bytes());
    }

    #[test]
    fn refused_fields() {
        let mut out = [0u8; 64];
        for (authzid, authcid, password, field) in [
            (None, "", "pw", "authcid"),
            (None, "tim", "", "password"),
            (None, "t\0m", "pw", "authcid"),
            (None, "tim", "p\0w", "password"),
            (Some("a\0"), "tim", "pw", "authzid"),
        ] {
            match initial_response(&mut out, authzid, authcid, password) {
                Err(SaslError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
        // An empty authzid is the same as none.
        let n = initial_response(&mut out, Some(""), "tim", "pw").unwrap();
        assert_eq!(&out[..n], b"\0tim\0pw");
    }

    #[test]
    fn buffer_too_small() {
        let mut out = [0u8; 8];
        assert_eq!(
            initial_response(&mut out, None, "tim", "tanstaaftanstaaf"),
            Err(SaslError::BufferTooSmall(BufferTooSmall { needed: 21 }))
        );
        let mut out = [0u8; 21];
        assert_eq!(
            initial_response(&mut out, None, "tim", "tanstaaftanstaaf"),
            Ok(21)
        );
    }
}
