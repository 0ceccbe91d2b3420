//! The server side of a SASL exchange, as Kafka's `SaslServerAuthenticator` drives it: one
//! [`SaslServer`] per authentication (a re-authentication, KIP-368, makes a fresh one), fed
//! each `SaslAuthenticate` token in turn until it answers [`SaslStep::Done`] or fails.
//!
//! Pure: the caller passes the clock (`now_ms`), the server nonce and the credential store;
//! nothing here blocks, spawns or draws randomness. Every token is capped at
//! [`MAX_TOKEN_BYTES`]. A server is `Send` and used by one connection at a time.

use std::collections::BTreeMap;
use std::fmt;

use crate::oauth_validator::OAuthValidator;
use crate::oauthbearer::OAuthBearerServer;
use crate::plain;
use crate::scram::ScramServer;
use crate::scram_credential::{ScramCredential, ScramMechanism};

/// The largest SASL token accepted from a peer (Kafka's `sasl.server.max.receive.size` is
/// 512 KiB for the whole request; no legitimate token of these mechanisms comes near 64 KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The SASL mechanisms Rill serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512` (RFC 5802, RFC 7677).
    Scram(ScramMechanism),
    /// `OAUTHBEARER` (RFC 7628) with JWT access tokens (KIP-768).
    OAuthBearer,
}

impl SaslMechanism {
    /// Every mechanism Rill serves.
    pub const ALL: [SaslMechanism; 4] = [
        SaslMechanism::Plain,
        SaslMechanism::Scram(ScramMechanism::Sha256),
        SaslMechanism::Scram(ScramMechanism::Sha512),
        SaslMechanism::OAuthBearer,
    ];

    /// The SASL name (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`).
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism named `name` (case-sensitive, as SASL names are), if Rill serves it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Where the SCRAM credentials live (the metadata image in the broker, a map in tests).
pub trait CredentialLookup {
    /// The credential of `user` for `mechanism`, or `None` if there is none.
    fn scram(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential>;
}

impl CredentialLookup for BTreeMap<(String, ScramMechanism), ScramCredential> {
    fn scram(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.get(&(user.to_string(), mechanism)).cloned()
    }
}

/// The listener's static SASL configuration (from its JAAS entries and OAuth settings).
#[derive(Clone, Default)]
pub struct SaslSettings {
    /// PLAIN users and their passwords (`user_<name>="<password>"` in the JAAS config).
    pub plain_users: BTreeMap<String, String>,
    /// The OAUTHBEARER token validator; `None` fails every OAUTHBEARER exchange.
    pub oauth: Option<OAuthValidator>,
    /// A secret drawn once per broker start: an unknown SCRAM user is answered with the salt
    /// `HMAC(key, mechanism ‖ user)`, stable across attempts, so a client cannot tell it from
    /// a real user before the final message. Empty still works but lets someone who knows
    /// this scheme tell unknown users apart.
    pub fake_salt_key: Vec<u8>,
}

impl fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslSettings")
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .field("oauth", &self.oauth)
            .field("fake_salt_key", &"<redacted>")
            .finish()
    }
}

/// What the server answers a token with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this challenge (`auth_bytes` of `SaslAuthenticate`) and wait for the next token.
    Challenge(Vec<u8>),
    /// Authenticated: send `response` (possibly empty) as the last `auth_bytes`.
    Done {
        /// The last server message (SCRAM's `v=<signature>`, empty for PLAIN and OAUTHBEARER).
        response: Vec<u8>,
        /// The authenticated user name; the caller forms Kafka's `User:<name>` principal.
        principal: String,
        /// When the credential stops being valid (OAUTHBEARER's token `exp`), in ms since
        /// the epoch; bounds `session_lifetime_ms` for re-authentication (KIP-368).
        expires_at_ms: Option<i64>,
    },
}

/// Why a SASL exchange failed; each maps to one Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The mechanism is unknown or not enabled on this listener (`UNSUPPORTED_SASL_MECHANISM`).
    #[error("Unsupported SASL mechanism {0}")]
    UnsupportedMechanism(String),
    /// The peer's credentials or messages were refused (`SASL_AUTHENTICATION_FAILED`); the
    /// text is the error message sent to the client.
    #[error("{0}")]
    AuthenticationFailed(String),
    /// A token arrived when none was expected (`ILLEGAL_SASL_STATE`).
    #[error("{0}")]
    IllegalState(String),
}

impl SaslError {
    /// Kafka's error code: 33 `UNSUPPORTED_SASL_MECHANISM`, 58 `SASL_AUTHENTICATION_FAILED`,
    /// 34 `ILLEGAL_SASL_STATE`.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            SaslError::UnsupportedMechanism(_) => 33,
            SaslError::AuthenticationFailed(_) => 58,
            SaslError::IllegalState(_) => 34,
        }
    }

    /// Kafka's answer to a malformed message or wrong credentials for `mechanism` (what
    /// `SaslServerAuthenticator` sends for a `SaslException`).
    pub(crate) fn invalid_credentials(mechanism: &str) -> Self {
        SaslError::AuthenticationFailed(format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
        ))
    }
}

/// Where one authentication stands.
enum State {
    Plain,
    Scram(Box<ScramServer>),
    OAuthBearer(OAuthBearerServer),
    Done,
    Failed,
}

/// The server side of one SASL authentication.
pub struct SaslServer {
    /// The negotiated mechanism.
    mechanism: SaslMechanism,
    /// Where the exchange stands; `Done` and `Failed` refuse further tokens.
    state: State,
    /// Why the OAUTHBEARER token was refused, for the broker's log.
    failure_reason: Option<String>,
}

impl fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslServer")
            .field("mechanism", &self.mechanism.name())
            .finish_non_exhaustive()
    }
}

impl SaslServer {
    /// A server for `mechanism`, which must be one Rill serves and one of `enabled` (the
    /// listener's `sasl.enabled.mechanisms`).
    ///
    /// # Errors
    /// [`SaslError::UnsupportedMechanism`] otherwise.
    pub fn new(mechanism: &str, enabled: &[String]) -> Result<Self, SaslError> {
        let unsupported = || SaslError::UnsupportedMechanism(mechanism.to_string());
        if !enabled.iter().any(|m| m == mechanism) {
            return Err(unsupported());
        }
        let mech = SaslMechanism::from_name(mechanism).ok_or_else(unsupported)?;
        let state = match mech {
            SaslMechanism::Plain => State::Plain,
            SaslMechanism::Scram(m) => State::Scram(Box::new(ScramServer::new(m))),
            SaslMechanism::OAuthBearer => State::OAuthBearer(OAuthBearerServer::new()),
        };
        Ok(SaslServer {
            mechanism: mech,
            state,
            failure_reason: None,
        })
    }

    /// The negotiated mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// Whether the exchange ended successfully.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Why the token was refused when OAUTHBEARER answered `{"status":"invalid_token"}`
    /// (for the broker's log: the client is told no more than that).
    pub fn failure_reason(&self) -> Option<&str> {
        self.failure_reason.as_deref()
    }

    /// Feeds the client's next token. `now_ms` is the wall clock (token expiry);
    /// `server_nonce` is fresh printable random text for SCRAM (ignored by the others).
    ///
    /// # Errors
    /// [`SaslError::AuthenticationFailed`] for refused credentials or malformed or oversized
    /// tokens; [`SaslError::IllegalState`] for a token after the exchange ended or failed, or
    /// an unusable `server_nonce`. After an error every later step fails.
    pub fn step(
        &mut self,
        token: &[u8],
        settings: &SaslSettings,
        creds: &dyn CredentialLookup,
        now_ms: i64,
        server_nonce: &str,
    ) -> Result<SaslStep, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        if token.len() > MAX_TOKEN_BYTES && !matches!(state, State::Done | State::Failed) {
            return Err(SaslError::AuthenticationFailed(format!(
                "SASL token of {} bytes is over the limit of {MAX_TOKEN_BYTES} bytes",
                token.len()
            )));
        }
        let step = match state {
            State::Done | State::Failed => {
                return Err(SaslError::IllegalState(format!(
                    "Unexpected SASL token for mechanism {} after the exchange ended",
                    self.mechanism.name()
                )))
            }
            State::Plain => plain::authenticate(token, settings)?,
            State::Scram(mut s) => {
                let step = s.step(token, settings, creds, server_nonce)?;
                self.state = State::Scram(s);
                step
            }
            State::OAuthBearer(mut s) => {
                let step = s.step(token, settings, now_ms);
                if let Some(reason) = s.failure_reason.take() {
                    self.failure_reason = Some(reason);
                }
                let step = step?;
                self.state = State::OAuthBearer(s);
                step
            }
        };
        if matches!(step, SaslStep::Done { .. }) {
            self.state = State::Done;
        }
        Ok(step)
    }
}
