//! The value-level pieces of configuration shared by the broker, cluster and topic configs:
//! the error type, number and boolean parsing, listeners. A leaf: it imports no other config
//! module, so `config`, `cluster_config` and `topic_config` depend on it and not on each
//! other in a circle.

use std::net::SocketAddr;

/// A configuration mistake, reported at startup or to an admin request.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A value that cannot be parsed or is out of range.
    #[error("invalid value '{value}' for '{key}': {reason}")]
    InvalidValue {
        /// The config name.
        key: String,
        /// The rejected value.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
    /// A topic config default (`log.retention.ms`, ...) that Kafka would refuse, with
    /// Kafka's message (from [`crate::topic_config::TopicConfigError`]; a string here so this
    /// module stays a leaf).
    #[error("{0}")]
    TopicDefault(String),
    /// A properties file line that is not `key=value`.
    #[error("line {line} of the properties file is not 'key=value': '{text}'")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// The line's text.
        text: String,
    },
}

/// One listener: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name (`PLAINTEXT`).
    pub name: String,
    /// Host clients are told (advertised) or bound (listeners).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Listener {
    /// The socket address to bind.
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] when the host is not an IP address or `localhost`.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        let host = if self.host == "localhost" {
            "127.0.0.1"
        } else {
            &self.host
        };
        let ip = host
            .parse()
            .map_err(|_| invalid("listeners", &self.host, "host must be an IP address"))?;
        Ok(SocketAddr::new(ip, self.port))
    }
}

/// The error for a bad value of `key`.
pub(crate) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses an integer config value within `[min, max]`.
///
/// # Errors
/// [`ConfigError::InvalidValue`] when not an integer or out of range.
pub fn parse_int(key: &str, value: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "expected an integer"))?;
    if n < min || n > max {
        return Err(invalid(key, value, format!("must be in [{min}, {max}]")));
    }
    Ok(n)
}

/// Parses `true`/`false`.
///
/// # Errors
/// [`ConfigError::InvalidValue`] for anything else.
pub fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

/// Parses every listener of a `NAME://host:port[,...]` list.
///
/// # Errors
/// [`ConfigError::InvalidValue`] when an entry's form is wrong.
pub fn parse_listeners(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    value
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|e| parse_listener(key, e))
        .collect()
}

/// Parses the first listener of a `NAME://host:port[,...]` list.
///
/// # Errors
/// [`ConfigError::InvalidValue`] when the form is wrong.
pub fn parse_listener(key: &str, value: &str) -> Result<Listener, ConfigError> {
    let first = value.split(',').next().unwrap_or("").trim();
    let (name, rest) = first
        .split_once("://")
        .ok_or_else(|| invalid(key, value, "expected NAME://host:port"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| invalid(key, value, "expected NAME://host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(key, value, "port must be 0-65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(Listener {
        name: name.to_string(),
        host: if host.is_empty() { "0.0.0.0" } else { host }.to_string(),
        port,
    })
}
