//! A SASL listener's settings, loaded when the server binds: the enabled mechanisms, PLAIN
//! users from `listener.name.<listener>.plain.sasl.jaas.config`, the OAUTHBEARER validator
//! with its JWKS (`sasl.oauthbearer.jwks.endpoint.url`, a `file:` URL or path), re-authentication
//! (`connections.max.reauth.ms`) and the largest frame before authentication
//! (`sasl.server.max.receive.size`); and where a connection's SASL exchange stands.

use std::sync::{Arc, RwLock};

use rill_auth::jaas::JaasConfig;
use rill_auth::oauth_validator::OAuthValidator;
use rill_auth::sasl::{SaslServer, SaslSettings};

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
    /// The OAUTHBEARER validator's JWKS file and settings, and the file's time when loaded.
    jwks: Option<(OAuthParams, std::sync::Mutex<Option<std::time::SystemTime>>)>,
}

/// What the OAUTHBEARER validator is built from.
#[derive(Debug, Clone)]
struct OAuthParams {
    /// The JWKS file.
    path: std::path::PathBuf,
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
    fn load(&self) -> Result<OAuthValidator, String> {
        let jwks = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read the JWKS {}: {e}", self.path.display()))?;
        OAuthValidator::from_jwks_json(
            &jwks,
            self.audience.clone(),
            self.issuer.clone(),
            self.sub.clone(),
            self.skew,
        )
        .map_err(|e| e.to_string())
    }
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

/// The path of a JWKS URL Rill can read (`file:/path`, `file:///path`, or a path).
fn jwks_path(url: &str) -> Result<std::path::PathBuf, String> {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("file://") {
        return Ok(rest.into());
    }
    if let Some(rest) = url.strip_prefix("file:") {
        return Ok(rest.into());
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err(
            "Rill reads the JWKS from a file (file:/path/jwks.json) so far; fetch it there \
             (a cron job or sidecar) or use a file: URL"
                .into(),
        );
    }
    Ok(url.into())
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
                    let path = jwks_path(&url).map_err(|r| invalid(key, &url, r))?;
                    let params = oauth_params(path, &value).map_err(|r| invalid(key, &url, r))?;
                    let loaded_at = mtime(&params.path);
                    settings.oauth = Some(params.load().map_err(|r| invalid(key, &url, r))?);
                    jwks = Some((params, std::sync::Mutex::new(loaded_at)));
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

    /// Reloads the OAUTHBEARER keys if the JWKS file changed since they were loaded (key
    /// rotation). Returns whether new keys are in use.
    ///
    /// # Errors
    /// The changed file does not load: the old keys stay.
    pub fn reload_jwks(&self) -> Result<bool, String> {
        let Some((params, loaded_at)) = &self.jwks else {
            return Ok(false);
        };
        let now = mtime(&params.path);
        let mut at = loaded_at.lock().unwrap_or_else(|p| p.into_inner());
        if *at == now {
            return Ok(false);
        }
        let validator = params.load()?;
        *at = now;
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

/// The OAUTHBEARER validator's inputs: the JWKS at `path` and the listener's
/// `sasl.oauthbearer.*` settings.
fn oauth_params(
    path: std::path::PathBuf,
    value: &impl Fn(&str) -> String,
) -> Result<OAuthParams, String> {
    let audience: Vec<String> = value("sasl.oauthbearer.expected.audience")
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    let issuer = Some(value("sasl.oauthbearer.expected.issuer")).filter(|i| !i.is_empty());
    let sub = value("sasl.oauthbearer.sub.claim.name");
    let skew = value("sasl.oauthbearer.clock.skew.seconds")
        .parse::<i64>()
        .map_err(|_| "sasl.oauthbearer.clock.skew.seconds must be an integer".to_string())?;
    Ok(OAuthParams {
        path,
        audience,
        issuer,
        sub,
        skew,
    })
}
