//! Admin listener credentials: the `Authorization` header parsed ([`parse_authorization`],
//! pure), HTTP Basic checked against the SCRAM users of the metadata image
//! ([`verify_basic`]: the password salted with each stored credential's salt and iterations,
//! its stored key compared in constant time), bearer tokens validated by the OAUTHBEARER
//! validator of a Kafka listener (same JWKS, issuer, audience, clock skew and subject claim).
//!
//! Cost control ([`Authenticator`]): password checks (a PBKDF2 each) run on the blocking
//! pool, at most [`MAX_VERIFYING`] at once and [`MAX_WAITING`] waiting (more: 503 at once);
//! a success is remembered (an HMAC of user and password under a per-process key, at most
//! [`MAX_REMEMBERED`] entries, dropped whole when full) so the console's polling does not
//! salt the password every few seconds. Nothing is kept for failures.
//!
//! Thread-safety: [`Authenticator`] is shared by every request (a semaphore, a counter and a
//! mutex).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use rill_auth::ScramMechanism;
use rill_meta::MetadataImage;

use super::settings::{AdminSecurity, Authentication};
use crate::broker::Broker;
use crate::security::sasl::SaslListener;

/// Password checks running at once (each is one or two PBKDF2 runs).
pub const MAX_VERIFYING: usize = 2;
/// Password checks waiting for a turn; beyond this a request is answered 503 at once (a
/// flood of guesses cannot queue without bound; remembered logins skip the queue).
pub const MAX_WAITING: usize = 64;
/// Successful Basic logins remembered.
pub const MAX_REMEMBERED: usize = 256;
/// Credentials from an `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: a SCRAM user's name and password.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A bearer token (an OAUTHBEARER JWT).
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, <hidden>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<hidden>)"),
        }
    }
}

/// Why a request is not authenticated (all answered 401, the node starting 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("authentication required: send Authorization: Basic (a SCRAM user's name and password) or Bearer (an OAUTHBEARER token)")]
    Missing,
    /// The header does not parse.
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    /// A scheme other than Basic or Bearer.
    #[error("unsupported authorization scheme: use Basic or Bearer")]
    Scheme,
    /// No such user, or the wrong password.
    #[error("authentication failed: wrong user name or password")]
    BadPassword,
    /// A bearer token, and no Kafka listener enables OAUTHBEARER.
    #[error("bearer tokens are not accepted: no Kafka listener enables OAUTHBEARER")]
    BearerDisabled,
    /// The token did not validate.
    #[error("invalid token: {0}")]
    BadToken(String),
    /// The broker is not open yet: the users are not known.
    #[error("the node is starting: users are not loaded yet")]
    Starting,
    /// Too many password checks are waiting.
    #[error("too many authentications in progress: retry later")]
    Busy,
}

/// Parses an `Authorization` header value.
///
/// # Errors
/// [`AuthError::Scheme`] for a scheme other than Basic or Bearer, [`AuthError::Malformed`]
/// for bad base64, non-UTF-8 text, no `:` or an empty user or token.
pub fn parse_authorization(value: &[u8]) -> Result<Credentials, AuthError> {
    let text = std::str::from_utf8(value).map_err(|_| AuthError::Malformed("not text"))?;
    let (scheme, rest) = text.trim().split_once(' ').ok_or(AuthError::Scheme)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| AuthError::Malformed("Basic credentials are not base64"))?;
        let pair = String::from_utf8(raw)
            .map_err(|_| AuthError::Malformed("Basic credentials are not UTF-8"))?;
        let (user, password) = pair
            .split_once(':')
            .ok_or(AuthError::Malformed("Basic credentials need user:password"))?;
        if user.is_empty() {
            return Err(AuthError::Malformed("empty user name"));
        }
        Ok(Credentials::Basic {
            user: user.to_string(),
            password: password.to_string(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(AuthError::Malformed("empty bearer token"));
        }
        Ok(Credentials::Bearer(rest.to_string()))
    } else {
        Err(AuthError::Scheme)
    }
}

/// Checks `password` against `user`'s SCRAM-SHA-256 and SCRAM-SHA-512 credentials: the
/// mechanism and stored key that matched, or `None`. A user without credentials costs one
/// PBKDF2 of the minimum rounds all the same, so timing does not tell which users exist.
pub fn verify_basic(
    image: &MetadataImage,
    user: &str,
    password: &str,
) -> Option<(ScramMechanism, Vec<u8>)> {
    let mut any = false;
    for m in ScramMechanism::ALL {
        if let Some(c) = crate::scram_users::stored_credential(image, user, m) {
            any = true;
            if c.verify_password(password) {
                return Some((m, c.stored_key));
            }
        }
    }
    if !any {
        let _ = ScramMechanism::Sha256.salted_password(
            password.as_bytes(),
            b"rill-admin-no-such-user",
            rill_auth::scram_credential::MIN_ITERATIONS,
        );
    }
    None
}

/// A successful Basic login: the user, and the mechanism and stored key its password
/// matched (a changed or removed credential no longer matches).
type Remembered = (String, ScramMechanism, Vec<u8>);

/// The admin listener's authentication state.
pub struct Authenticator {
    /// The `admin.*` settings.
    pub security: AdminSecurity,
    /// The Kafka listener whose OAUTHBEARER validator checks bearer tokens.
    oauth: Option<Arc<SaslListener>>,
    /// Bounds the password checks running at once.
    verifying: tokio::sync::Semaphore,
    /// Password checks waiting or running.
    queued: std::sync::atomic::AtomicUsize,
    /// Key of the remembered-login HMACs (random per process).
    key: Vec<u8>,
    /// Successful Basic logins by HMAC(user, password).
    remembered: Mutex<HashMap<Vec<u8>, Remembered>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("security", &self.security)
            .field("bearer", &self.oauth.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator::new(
            AdminSecurity {
                security_on: false,
                authentication: Authentication::None,
                tls: None,
                borrowed_from: None,
                health_open: true,
                metrics_open: true,
            },
            None,
        )
    }
}

impl Authenticator {
    /// An authenticator for `security`; bearer tokens are checked by `oauth`'s validator.
    pub fn new(security: AdminSecurity, oauth: Option<Arc<SaslListener>>) -> Self {
        let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Authenticator {
            security,
            oauth,
            verifying: tokio::sync::Semaphore::new(MAX_VERIFYING),
            queued: std::sync::atomic::AtomicUsize::new(0),
            key,
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// Whether bearer tokens can be checked.
    pub fn accepts_bearer(&self) -> bool {
        self.oauth.is_some()
    }

    /// The principal `credentials` prove.
    ///
    /// # Errors
    /// The [`AuthError`] saying why not.
    pub async fn principal(
        &self,
        broker: Option<Arc<Broker>>,
        credentials: Credentials,
    ) -> Result<String, AuthError> {
        match credentials {
            Credentials::Bearer(token) => {
                let listener = self.oauth.as_ref().ok_or(AuthError::BearerDisabled)?;
                let settings = listener.settings();
                let validator = settings.oauth.as_ref().ok_or(AuthError::BearerDisabled)?;
                validator
                    .validate(&token, crate::clock::now_ms())
                    .map(|t| format!("User:{}", t.principal))
                    .map_err(|e| AuthError::BadToken(e.to_string()))
            }
            Credentials::Basic { user, password } => {
                let broker = broker.ok_or(AuthError::Starting)?;
                let image = broker.image();
                let mut id = user.as_bytes().to_vec();
                id.push(0);
                id.extend_from_slice(password.as_bytes());
                let id = ScramMechanism::Sha256.hmac(&self.key, &id);
                if self.still_valid(&image, &id) {
                    return Ok(format!("User:{user}"));
                }
                let _queued = QueueSlot::take(&self.queued).ok_or(AuthError::Busy)?;
                let _permit = self
                    .verifying
                    .acquire()
                    .await
                    .map_err(|_| AuthError::Starting)?;
                let u = user.clone();
                let matched =
                    tokio::task::spawn_blocking(move || verify_basic(&image, &u, &password))
                        .await
                        .ok()
                        .flatten()
                        .ok_or(AuthError::BadPassword)?;
                let mut r = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
                if r.len() >= MAX_REMEMBERED {
                    r.clear();
                }
                r.insert(id, (user.clone(), matched.0, matched.1));
                Ok(format!("User:{user}"))
            }
        }
    }

    /// Whether the login remembered under `id` still matches the stored credential.
    fn still_valid(&self, image: &MetadataImage, id: &[u8]) -> bool {
        let r = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        r.get(id).is_some_and(|(user, m, key)| {
            image
                .scram_credential(user, m.code())
                .is_some_and(|c| c.stored_key.0 == *key)
        })
    }
}

/// A place among the password checks waiting or running, given back when dropped.
struct QueueSlot<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> QueueSlot<'a> {
    /// A place, unless [`MAX_WAITING`] are taken.
    fn take(count: &'a std::sync::atomic::AtomicUsize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WAITING).then_some(n + 1)
            })
            .ok()
            .map(|_| QueueSlot(count))
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use rill_auth::ScramCredential;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_and_bearer_parse() {
        let h = format!("Basic {}", b64("alice:pa:ss word"));
        assert_eq!(
            parse_authorization(h.as_bytes()),
            Ok(Credentials::Basic {
                user: "alice".into(),
                password: "pa:ss word".into()
            })
        );
        let h = format!("basic   {}", b64("bob:"));
        assert!(matches!(
            parse_authorization(h.as_bytes()),
            Ok(Credentials::Basic { password, .. }) if password.is_empty()
        ));
        assert_eq!(
            parse_authorization(b"Bearer a.b.c"),
            Ok(Credentials::Bearer("a.b.c".into()))
        );
    }

    #[test]
    fn bad_headers_are_refused_without_panics() {
        for bad in [
            &b"Basic"[..],
            b"Basic !!!",
            b"Bearer ",
            b"Digest x",
            b"",
            b"\xff\xfe",
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad:?}");
        }
        let no_colon = format!("Basic {}", b64("alice"));
        assert_eq!(
            parse_authorization(no_colon.as_bytes()),
            Err(AuthError::Malformed("Basic credentials need user:password"))
        );
        let empty_user = format!("Basic {}", b64(":pw"));
        assert!(parse_authorization(empty_user.as_bytes()).is_err());
        let not_utf8 = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', b'x'])
        );
        assert!(parse_authorization(not_utf8.as_bytes()).is_err());
    }

    #[test]
    fn passwords_verify_against_either_mechanism() {
        let mut image = MetadataImage::default();
        let c = ScramCredential::from_password(
            ScramMechanism::Sha512,
            "secret",
            b"0123456789abcdef".to_vec(),
            4096,
        );
        image
            .apply(&rill_meta::MetadataRecord::UserScramCredentialUpserted {
                name: "alice".into(),
                mechanism: 2,
                salt: rill_meta::SecretBytes(c.salt.clone()),
                stored_key: rill_meta::SecretBytes(c.stored_key.clone()),
                server_key: rill_meta::SecretBytes(c.server_key.clone()),
                iterations: 4096,
            })
            .unwrap();
        assert_eq!(
            verify_basic(&image, "alice", "secret").map(|m| m.0),
            Some(ScramMechanism::Sha512)
        );
        assert!(verify_basic(&image, "alice", "Secret").is_none());
        assert!(verify_basic(&image, "bob", "secret").is_none());
    }

    #[test]
    fn the_queue_of_password_checks_is_bounded() {
        let count = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<_> = (0..MAX_WAITING)
            .map(|_| QueueSlot::take(&count).unwrap())
            .collect();
        assert!(QueueSlot::take(&count).is_none());
        drop(slots);
        assert!(QueueSlot::take(&count).is_some());
        assert_eq!(count.load(std::sync::atomic::Ordering::Acquire), 0);
    }
}
