//! A SASL listener's settings, loaded when the server binds: the enabled mechanisms, PLAIN
//! users from `listener.name.<listener>.plain.sasl.jaas.config`, the OAUTHBEARER validator
//! with its JWKS (`sasl.oauthbearer.jwks.endpoint.url`: a file or an http(s) endpoint, see
//! [`super::jwks_source`]), re-authentication
//! (`connections.max.reauth.ms`) and the largest frame before authentication
//! (`sasl.server.max.receive.size`); and where a connection's SASL exchange stands.

use std::sync::{Arc, RwLock};

use rill_auth::jaas::JaasConfig;
use rill_auth::oauth_validator::OAuthValidator;
use rill_auth::sasl::{SaslServer, SaslSettings};

use super::jwks_source::{self, JwksSource};
use super::{enabled_mechanisms, listener_value};
use crate::config_value::{invalid, parse_int, ConfigError};
use crate::listener_security::ListenerSpec;

/// A SASL listener's settings.
#[derive(Debug)]
pub struct SaslListener {
    /// `sasl.enabled.mechanisms`.
    pub mechanisms: Vec<String>,
    /// `sasl.server.max.receive.size`: the largest frame before authentication.
    pub max_receive_size: usize,
    /// `connections.max.reauth.ms` (0: sessions do not expire unless a token does).
    pub reauth_ms: i64,
    /// PLAIN users, the OAUTHBEARER validator, the fake-salt key (replaced whole when the
    /// JWKS is reloaded).
    settings: RwLock<Arc<SaslSettings>>,
    /// The OAUTHBEARER validator's JWKS source and settings, and when the set in use was
    /// loaded.
    jwks: Option<(OAuthParams, std::sync::Mutex<JwksLoaded>)>,
}

/// When the JWK set in use was loaded, and when to fetch an endpoint's set again.
#[derive(Debug)]
struct JwksLoaded {
    /// A file's modification time when read.
    file_mtime: Option<std::time::SystemTime>,
    /// An endpoint: when the next fetch is due.
    next_fetch: std::time::Instant,
    /// An endpoint: the wait after the next failed fetch (doubles up to the maximum).
    backoff: std::time::Duration,
}

/// What the OAUTHBEARER validator is built from.
#[derive(Debug, Clone)]
struct OAuthParams {
    /// Where the JWK set comes from.
    source: JwksSource,
    /// `sasl.oauthbearer.jwks.endpoint.refresh.ms`.
    refresh: std::time::Duration,
    /// `sasl.oauthbearer.jwks.endpoint.retry.backoff.ms` and `...max.ms`.
    backoff: (std::time::Duration, std::time::Duration),
    /// `sasl.oauthbearer.expected.audience`.
    audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`.
    issuer: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name`.
    sub: String,
    /// `sasl.oauthbearer.clock.skew.seconds`.
    skew: i64,
}

impl OAuthParams {
    /// The validator for the set in `jwks`.
    fn validator(&self, jwks: &str) -> Result<OAuthValidator, String> {
        OAuthValidator::from_jwks_json(
            jwks,
            self.audience.clone(),
            self.issuer.clone(),
            self.sub.clone(),
            self.skew,
        )
        .map_err(|e| e.to_string())
    }

    /// Reads the set now (an endpoint from a thread of its own): the validator and when it
    /// was loaded.
    fn load_now(&self) -> Result<(OAuthValidator, JwksLoaded), String> {
        let now = std::time::Instant::now();
        let (text, file_mtime) = match &self.source {
            JwksSource::File(path) => (read_jwks_file(path)?, mtime(path)),
            JwksSource::Http(endpoint) => (jwks_source::fetch_blocking(endpoint)?, None),
        };
        Ok((
            self.validator(&text)?,
            JwksLoaded {
                file_mtime,
                next_fetch: now + self.refresh,
                backoff: self.backoff.0,
            },
        ))
    }
}

/// The JWK set in the file at `path`.
fn read_jwks_file(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the JWKS {}: {e}", path.display()))
}

/// A file's modification time.
fn mtime(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Where a connection's SASL exchange stands.
#[derive(Debug, Default)]
pub enum SaslPhase {
    /// No exchange in progress.
    #[default]
    Idle,
    /// A handshake chose a mechanism; `SaslAuthenticate` tokens (or, after a v0 handshake,
    /// raw tokens) go to `server`.
    Exchanging {
        /// The mechanism's state machine.
        server: Box<SaslServer>,
        /// Raw tokens (a v0 handshake) instead of SaslAuthenticate requests.
        raw: bool,
        /// Whether this re-authenticates an authenticated session (KIP-368).
        reauth: bool,
    },
}

/// The JAAS config of `mechanism` on `listener`, if set.
fn jaas_for(
    get: &impl Fn(&str) -> String,
    listener: &ListenerSpec,
    mechanism: &str,
) -> Result<Option<JaasConfig>, ConfigError> {
    let key = format!(
        "{}{}.sasl.jaas.config",
        listener.config_prefix(),
        mechanism.to_ascii_lowercase()
    );
    let value = get(&key);
    if value.trim().is_empty() {
        return Ok(None);
    }
    JaasConfig::parse(&value)
        .map(Some)
        .map_err(|e| invalid(&key, "(hidden)", e.to_string()))
}

/// A random key (fake SCRAM salts for unknown users are derived from it).
fn random_key() -> Vec<u8> {
    let mut k = uuid::Uuid::new_v4().as_bytes().to_vec();
    k.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    k
}

impl SaslListener {
    /// Loads `listener`'s SASL settings.
    ///
    /// # Errors
    /// A mechanism Rill cannot serve, PLAIN without users, OAUTHBEARER without a readable
    /// JWKS, a bad JAAS config or number.
    pub fn from_config(
        listener: &ListenerSpec,
        get: &impl Fn(&str) -> String,
    ) -> Result<SaslListener, ConfigError> {
        let mechanisms = enabled_mechanisms(listener, get)?;
        let value = |k: &str| listener_value(get, listener, k).trim().to_string();
        let max_receive_size = parse_int(
            "sasl.server.max.receive.size",
            &value("sasl.server.max.receive.size"),
            1,
            i64::from(i32::MAX),
        )? as usize;
        let reauth_ms = parse_int(
            "connections.max.reauth.ms",
            &value("connections.max.reauth.ms"),
            0,
            i64::MAX,
        )?;
        let mut settings = SaslSettings {
            fake_salt_key: random_key(),
            ..SaslSettings::default()
        };
        let mut jwks = None;
        for m in &mechanisms {
            let jaas = jaas_for(get, listener, m)?;
            match m.as_str() {
                "PLAIN" => {
                    let users = jaas.map(|j| j.plain_users()).unwrap_or_default();
                    if users.is_empty() {
                        return Err(invalid(
                            &format!("{}plain.sasl.jaas.config", listener.config_prefix()),
                            "",
                            format!(
                                "listener {} enables PLAIN but names no user: set it to \
                                 org.apache.kafka.common.security.plain.PlainLoginModule \
                                 required user_<name>=\"<password>\" ...;",
                                listener.name
                            ),
                        ));
                    }
                    settings.plain_users = users;
                }
                "OAUTHBEARER" => {
                    let url = value("sasl.oauthbearer.jwks.endpoint.url");
                    let key = "sasl.oauthbearer.jwks.endpoint.url";
                    if url.is_empty() {
                        return Err(invalid(
                            key,
                            "",
                            format!(
                                "listener {} enables OAUTHBEARER: Rill validates tokens against \
                                 a JWKS only (Kafka's unsecured validator is not served)",
                                listener.name
                            ),
                        ));
                    }
                    let source = JwksSource::parse(&url, truststore_pem(&value)?)
                        .map_err(|r| invalid(key, &url, r))?;
                    let params = oauth_params(source, &value)?;
                    let (validator, loaded) =
                        params.load_now().map_err(|r| invalid(key, &url, r))?;
                    settings.oauth = Some(validator);
                    jwks = Some((params, std::sync::Mutex::new(loaded)));
                }
                _ => {}
            }
        }
        Ok(SaslListener {
            mechanisms,
            max_receive_size,
            reauth_ms,
            settings: RwLock::new(Arc::new(settings)),
            jwks,
        })
    }

    /// Reloads the OAUTHBEARER keys when their source has new ones: a JWKS file that changed
    /// since it was read, or an endpoint whose refresh is due (every
    /// `sasl.oauthbearer.jwks.endpoint.refresh.ms`, and after a token named a key the set
    /// lacks; a failed fetch is retried after the backoff). Returns whether new keys are in
    /// use.
    ///
    /// # Errors
    /// The new set does not load: the old keys stay.
    pub async fn refresh_jwks(&self) -> Result<bool, String> {
        let Some((params, loaded)) = &self.jwks else {
            return Ok(false);
        };
        let now = std::time::Instant::now();
        let text = match &params.source {
            JwksSource::File(path) => {
                let changed = mtime(path);
                if lock(loaded).file_mtime == changed {
                    return Ok(false);
                }
                let text = read_jwks_file(path)?;
                lock(loaded).file_mtime = changed;
                text
            }
            JwksSource::Http(endpoint) => {
                let key_missed = self
                    .settings()
                    .oauth
                    .as_ref()
                    .is_some_and(|v| v.take_key_miss());
                {
                    let mut l = lock(loaded);
                    if key_missed {
                        // Soon, but no sooner than the backoff: a client sending tokens for
                        // unknown keys must not make the broker hammer the endpoint.
                        l.next_fetch = l.next_fetch.min(now + l.backoff);
                    }
                    if now < l.next_fetch {
                        return Ok(false);
                    }
                }
                match endpoint.fetch().await {
                    Ok(text) => {
                        let mut l = lock(loaded);
                        l.next_fetch = now + params.refresh;
                        l.backoff = params.backoff.0;
                        text
                    }
                    Err(e) => {
                        let mut l = lock(loaded);
                        l.next_fetch = now + l.backoff;
                        l.backoff = (l.backoff * 2).min(params.backoff.1);
                        return Err(e);
                    }
                }
            }
        };
        let validator = params.validator(&text)?;
        let mut g = self.settings.write().unwrap_or_else(|p| p.into_inner());
        let mut next = SaslSettings::clone(&g);
        next.oauth = Some(validator);
        *g = Arc::new(next);
        Ok(true)
    }

    /// The settings new exchanges use.
    pub fn settings(&self) -> Arc<SaslSettings> {
        match self.settings.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// A mutex's guard, poisoned or not.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The listener's truststore (PEM), for an https JWKS endpoint.
fn truststore_pem(value: &impl Fn(&str) -> String) -> Result<Option<Vec<u8>>, ConfigError> {
    let location = value("ssl.truststore.location");
    if !location.is_empty() {
        return std::fs::read(&location)
            .map(Some)
            .map_err(|e| invalid("ssl.truststore.location", &location, e.to_string()));
    }
    let inline = value("ssl.truststore.certificates");
    Ok((!inline.is_empty()).then(|| inline.into_bytes()))
}

/// A duration setting in milliseconds.
fn millis(value: &impl Fn(&str) -> String, key: &str) -> Result<std::time::Duration, ConfigError> {
    let ms = parse_int(key, &value(key), 1, i64::MAX)?;
    Ok(std::time::Duration::from_millis(ms as u64))
}

/// The OAUTHBEARER validator's inputs: the JWKS `source` and the listener's
/// `sasl.oauthbearer.*` settings.
fn oauth_params(
    source: JwksSource,
    value: &impl Fn(&str) -> String,
) -> Result<OAuthParams, ConfigError> {
    let audience: Vec<String> = value("sasl.oauthbearer.expected.audience")
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    let issuer = Some(value("sasl.oauthbearer.expected.issuer")).filter(|i| !i.is_empty());
    let sub = value("sasl.oauthbearer.sub.claim.name");
    let skew = value("sasl.oauthbearer.clock.skew.seconds")
        .parse::<i64>()
        .map_err(|_| {
            invalid(
                "sasl.oauthbearer.clock.skew.seconds",
                &value("sasl.oauthbearer.clock.skew.seconds"),
                "must be an integer",
            )
        })?;
    Ok(OAuthParams {
        source,
        refresh: millis(value, "sasl.oauthbearer.jwks.endpoint.refresh.ms")?,
        backoff: (
            millis(value, "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms")?,
            millis(value, "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms")?,
        ),
        audience,
        issuer,
        sub,
        skew,
    })
}
