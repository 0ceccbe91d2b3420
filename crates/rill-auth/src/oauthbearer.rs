//! SASL/OAUTHBEARER (RFC 7628), the server side, as Kafka's `OAuthBearerSaslServer`.
//!
//! The client's initial response is
//! `n,[a=<authzid>],\x01auth=Bearer <jwt>\x01[<key>=<value>\x01]*\x01`. A token the validator
//! refuses is answered with the challenge `{"status":"invalid_token"}`; the client then
//! sends `\x01` and the exchange fails with that JSON as the error message. Extensions
//! (`key=value` besides `auth`) are checked for form and otherwise ignored, as Kafka does
//! without an extensions callback.

use std::collections::BTreeMap;

use crate::oauth_validator::ValidatedToken;
use crate::sasl::{SaslError, SaslSettings, SaslStep};

/// The mechanism name, for Kafka's generic failure message.
const NAME: &str = "OAUTHBEARER";

/// The challenge Kafka sends for a token its validator refused.
pub(crate) const INVALID_TOKEN_JSON: &str = r#"{"status":"invalid_token"}"#;

/// SASL's separator in OAUTHBEARER messages (`%x01`, control-A).
pub(crate) const SEPARATOR: char = '\x01';

/// A parsed client initial response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientInitialResponse {
    /// The authorization id as sent (still escaped, as Kafka compares it), empty if absent.
    pub authzid: String,
    /// The compact JWT.
    pub token: String,
    /// The other `key=value` pairs.
    pub extensions: BTreeMap<String, String>,
}

fn is_saslname(s: &str) -> bool {
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        let tail = &rest[i..];
        if !(tail.starts_with("=2C") || tail.starts_with("=3D")) {
            return false;
        }
        rest = &tail[3..];
    }
    !s.is_empty() && s.bytes().all(|b| (0x01..=0x7f).contains(&b) && b != b',')
}

fn is_value(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// `auth=<scheme> <token>`: the scheme must be `Bearer` (any case), the token JWT characters.
fn bearer_token(auth: &str) -> Option<String> {
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let scheme_ok = scheme.eq_ignore_ascii_case("bearer");
    let token_ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (scheme_ok && token_ok).then(|| token.to_string())
}

impl ClientInitialResponse {
    /// Parses an initial response; `None` if it does not have Kafka's form.
    pub(crate) fn parse(msg: &str) -> Option<Self> {
        let rest = msg.strip_prefix("n,")?;
        let (authz, rest) = rest.split_once(',')?;
        let authzid = if authz.is_empty() {
            String::new()
        } else {
            let a = authz.strip_prefix("a=")?;
            is_saslname(a).then(|| a.to_string())?
        };
        let body = rest.strip_prefix(SEPARATOR)?.strip_suffix(SEPARATOR)?;
        let mut pairs = BTreeMap::new();
        if !body.is_empty() {
            for kv in body.strip_suffix(SEPARATOR)?.split(SEPARATOR) {
                let (k, v) = kv.split_once('=')?;
                if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) || !is_value(v) {
                    return None;
                }
                pairs.insert(k.to_string(), v.to_string());
            }
        }
        let token = bearer_token(&pairs.remove("auth")?)?;
        Some(ClientInitialResponse {
            authzid,
            token,
            extensions: pairs,
        })
    }

    /// The initial response for `token` and `authzid` (the client side).
    pub(crate) fn encode(token: &str, authzid: &str) -> Vec<u8> {
        let authz = if authzid.is_empty() {
            String::new()
        } else {
            format!("a={}", crate::scram_message::escape_saslname(authzid))
        };
        format!("n,{authz},{SEPARATOR}auth=Bearer {token}{SEPARATOR}{SEPARATOR}").into_bytes()
    }
}

/// One OAUTHBEARER exchange on the server.
#[derive(Debug, Default)]
pub(crate) struct OAuthBearerServer {
    /// The JSON error sent as a challenge; the next token fails the exchange with it.
    error_sent: Option<String>,
    /// Why the token was refused, for the broker's log.
    pub(crate) failure_reason: Option<String>,
}

impl OAuthBearerServer {
    /// A server waiting for the client's initial response.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Answers the initial response, or fails after an error challenge.
    pub(crate) fn step(
        &mut self,
        token: &[u8],
        settings: &SaslSettings,
        now_ms: i64,
    ) -> Result<SaslStep, SaslError> {
        if let Some(json) = self.error_sent.take() {
            return Err(SaslError::AuthenticationFailed(json));
        }
        let text = String::from_utf8_lossy(token);
        let response = ClientInitialResponse::parse(&text)
            .ok_or_else(|| SaslError::invalid_credentials(NAME))?;
        let validated = match &settings.oauth {
            None => Err("no OAUTHBEARER token validator is configured".to_string()),
            Some(v) => v
                .validate(&response.token, now_ms)
                .map_err(|e| e.to_string()),
        };
        let ValidatedToken {
            principal,
            expires_at_ms,
        } = match validated {
            Ok(t) => t,
            Err(reason) => {
                self.failure_reason = Some(reason);
                self.error_sent = Some(INVALID_TOKEN_JSON.to_string());
                return Ok(SaslStep::Challenge(INVALID_TOKEN_JSON.as_bytes().to_vec()));
            }
        };
        if !response.authzid.is_empty() && response.authzid != principal {
            return Err(SaslError::AuthenticationFailed(format!(
                "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({principal})",
                response.authzid
            )));
        }
        Ok(SaslStep::Done {
            response: Vec::new(),
            principal,
            expires_at_ms: Some(expires_at_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_initial_responses_like_kafka() {
        let r = ClientInitialResponse::parse("n,,\x01auth=Bearer a.b.c\x01\x01").unwrap();
        assert_eq!(r.token, "a.b.c");
        assert_eq!(r.authzid, "");
        let r = ClientInitialResponse::parse(
            "n,a=alice,\x01traceId=123\x01auth=bearer  x-y_z.1\x01\x01",
        )
        .unwrap();
        assert_eq!((r.authzid.as_str(), r.token.as_str()), ("alice", "x-y_z.1"));
        assert_eq!(r.extensions.get("traceId").map(String::as_str), Some("123"));
        let encoded = ClientInitialResponse::encode("a.b.c", "");
        assert_eq!(encoded, b"n,,\x01auth=Bearer a.b.c\x01\x01");
        for bad in [
            "",
            "n,,\x01\x01",
            "n,,\x01auth=Bearer a.b.c\x01",
            "n,,auth=Bearer a.b.c\x01\x01",
            "y,,\x01auth=Bearer a.b.c\x01\x01",
            "n,,\x01auth=Basic a.b.c\x01\x01",
            "n,,\x01auth=Bearer a/b\x01\x01",
            "n,,\x01auth=Bearera.b.c\x01\x01",
            "n,,\x01x1=2\x01auth=Bearer a.b.c\x01\x01",
            "n,a=,\x01auth=Bearer a.b.c\x01\x01",
            "n,a=x=4,\x01auth=Bearer a.b.c\x01\x01",
        ] {
            assert!(ClientInitialResponse::parse(bad).is_none(), "{bad:?}");
        }
    }
}
