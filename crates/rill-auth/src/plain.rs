//! SASL/PLAIN (RFC 4616) as Kafka's `PlainSaslServer` serves it: one message
//! `[authzid] NUL username NUL password`, checked against the listener's JAAS users
//! (`user_<name>="<password>"`). The password comparison takes the same time whatever the
//! password and whether the user exists.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::sasl::{SaslError, SaslSettings, SaslStep};

/// Kafka's message for an unknown user or a wrong password.
const INVALID: &str = "Authentication failed: Invalid username or password";

/// The three fields of a PLAIN message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PlainMessage {
    /// The authorization id; empty or equal to `username`.
    pub authzid: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Splits a PLAIN message the way Kafka does: exactly three NUL-separated fields, read as
/// UTF-8 (invalid sequences replaced, as Java's decoder does).
pub(crate) fn parse(token: &[u8]) -> Result<PlainMessage, SaslError> {
    let text = String::from_utf8_lossy(token);
    let fields: Vec<&str> = text.splitn(4, '\0').collect();
    if fields.len() != 3 {
        return Err(SaslError::AuthenticationFailed(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            fields.len().min(4)
        )));
    }
    Ok(PlainMessage {
        authzid: fields[0].to_string(),
        username: fields[1].to_string(),
        password: fields[2].to_string(),
    })
}

/// The PLAIN message for `username` and `password` (the client side).
pub(crate) fn encode(username: &str, password: &str) -> Vec<u8> {
    format!("\0{username}\0{password}").into_bytes()
}

/// Checks one PLAIN message against `settings.plain_users`.
pub(crate) fn authenticate(token: &[u8], settings: &SaslSettings) -> Result<SaslStep, SaslError> {
    let msg = parse(token)?;
    if msg.username.is_empty() {
        return Err(SaslError::AuthenticationFailed(
            "Authentication failed: username not specified".into(),
        ));
    }
    if msg.password.is_empty() {
        return Err(SaslError::AuthenticationFailed(
            "Authentication failed: password not specified".into(),
        ));
    }
    let expected = settings.plain_users.get(&msg.username);
    // Compare digests so neither the length nor the existence of the password shows in the
    // time taken.
    let given = Sha256::digest(msg.password.as_bytes());
    let stored = Sha256::digest(expected.map_or(&b""[..], |p| p.as_bytes()));
    let matches: bool = given.ct_eq(&stored).into();
    if expected.is_none() || !matches {
        return Err(SaslError::AuthenticationFailed(INVALID.into()));
    }
    if !msg.authzid.is_empty() && msg.authzid != msg.username {
        return Err(SaslError::AuthenticationFailed(
            "Authentication failed: Client requested an authorization id that is different from username".into(),
        ));
    }
    Ok(SaslStep::Done {
        response: Vec::new(),
        principal: msg.username,
        expires_at_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SaslSettings {
        let mut s = SaslSettings::default();
        s.plain_users.insert("alice".into(), "alice-secret".into());
        s
    }

    fn failure(token: &[u8]) -> String {
        match authenticate(token, &settings()) {
            Err(SaslError::AuthenticationFailed(m)) => m,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_right_password_with_or_without_authzid() {
        for token in [&b"\0alice\0alice-secret"[..], b"alice\0alice\0alice-secret"] {
            let step = authenticate(token, &settings()).unwrap();
            assert_eq!(
                step,
                SaslStep::Done {
                    response: vec![],
                    principal: "alice".into(),
                    expires_at_ms: None
                }
            );
        }
    }

    #[test]
    fn refuses_like_kafka() {
        assert_eq!(failure(b"\0alice\0wrong"), INVALID);
        assert_eq!(failure(b"\0bob\0alice-secret"), INVALID);
        assert_eq!(
            failure(b"\0\0x"),
            "Authentication failed: username not specified"
        );
        assert_eq!(
            failure(b"\0alice\0"),
            "Authentication failed: password not specified"
        );
        assert!(failure(b"bob\0alice\0alice-secret").contains("authorization id"));
        assert_eq!(
            failure(b"alice-secret"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 1"
        );
        assert_eq!(
            failure(b"a\0b\0c\0d"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 4"
        );
    }

    #[test]
    fn encode_parses_back() {
        let m = parse(&encode("alice", "pw")).unwrap();
        assert_eq!(
            (m.authzid.as_str(), m.username.as_str(), m.password.as_str()),
            ("", "alice", "pw")
        );
    }
}
