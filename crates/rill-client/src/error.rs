//! The client's error type: what went wrong, with the fields a caller needs to react, and a
//! message that says what to do about it.

use kafka_protocol::ResponseError;

/// Result alias of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a Kafka-protocol broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A TCP connection could not be opened.
    #[error("cannot reach {addr}: {error}; is `rill serve` (or the Kafka broker) running there, and is --bootstrap-server / RILL_BROKERS right?")]
    Connect {
        /// The address tried.
        addr: String,
        /// The socket error.
        error: std::io::Error,
    },
    /// An open connection failed or was closed by the broker.
    #[error("connection to {addr} failed: {reason}; the broker may have stopped or closed the connection (see its log)")]
    ConnectionLost {
        /// The broker's address.
        addr: String,
        /// What happened.
        reason: String,
    },
    /// No answer in time.
    #[error("{api} request to {addr} timed out after {timeout_ms} ms; the broker is overloaded or unreachable")]
    Timeout {
        /// The broker's address.
        addr: String,
        /// The API called.
        api: String,
        /// The timeout.
        timeout_ms: u64,
    },
    /// A request could not be encoded or a response decoded.
    #[error("cannot {what} {api} v{version}: {reason}")]
    Codec {
        /// "encode" or "decode".
        what: &'static str,
        /// The API.
        api: String,
        /// The version used.
        version: i16,
        /// The codec's complaint.
        reason: String,
    },
    /// The broker and this client share no version of an API.
    #[error("broker {addr} does not support {api} in a version this client speaks (broker {broker_min}..={broker_max}, client {client_min}..={client_max}); upgrade the broker or the client")]
    UnsupportedVersion {
        /// The broker's address.
        addr: String,
        /// The API.
        api: String,
        /// Lowest version the broker serves (-1: not at all).
        broker_min: i16,
        /// Highest version the broker serves (-1: not at all).
        broker_max: i16,
        /// Lowest version this client speaks.
        client_min: i16,
        /// Highest version this client speaks.
        client_max: i16,
    },
    /// The broker answered with a Kafka error code.
    #[error("{context}: {} (Kafka error {code}){}{}", error_name(*code), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(), hint(*code))]
    Kafka {
        /// What was being done (e.g. "create topic orders").
        context: String,
        /// The Kafka error code.
        code: i16,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// A topic is not in the cluster's metadata.
    #[error("topic '{topic}' does not exist; create it with `rill topics create {topic}`")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// A partition number out of the topic's range.
    #[error("topic '{topic}' has no partition {partition} (it has {count})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        count: usize,
    },
    /// The broker sent something this client cannot make sense of.
    #[error("protocol error from {addr}: {reason}")]
    Protocol {
        /// The broker's address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// A batch was not acknowledged within the producer's `delivery.timeout.ms` (retries
    /// included); its records are not known to be written.
    #[error("records for {topic}-{partition} were not acknowledged within delivery.timeout.ms ({timeout_ms} ms); {}", last_error.as_deref().map_or_else(|| "no answer came from the partition's leader".to_string(), |e| format!("the last attempt failed: {e}")))]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The delivery timeout.
        timeout_ms: u64,
        /// The last attempt's error, if an attempt failed.
        last_error: Option<String>,
    },
    /// A bad argument from the caller.
    #[error("{0}")]
    Invalid(String),
    /// A client security setting (`security.protocol`, `ssl.*`, `sasl.*`) is wrong.
    #[error("client setting {key}: {reason}")]
    Config {
        /// The property (Kafka's name, e.g. `ssl.ca.location`).
        key: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The TLS handshake with a broker failed.
    #[error("TLS handshake with {addr} failed: {reason}; check that the listener speaks SSL/SASL_SSL, that ssl.ca.location holds the CA that signed the broker's certificate, and that the certificate names the host you connect to (or set ssl.endpoint.identification.algorithm= to skip the name check)")]
    Tls {
        /// The broker's address.
        addr: String,
        /// rustls's or the socket's complaint.
        reason: String,
    },
    /// SASL authentication failed on the client's side (the broker's answer did not check
    /// out, e.g. a SCRAM server signature that does not prove it knows the credential).
    /// Refusals by the broker are [`ClientError::Kafka`] with its code and message.
    #[error("SASL {mechanism} authentication with {addr} failed: {reason}")]
    Authentication {
        /// The broker's address.
        addr: String,
        /// The SASL mechanism.
        mechanism: String,
        /// What went wrong.
        reason: String,
    },
}

impl ClientError {
    /// Whether retrying (after a metadata refresh and a backoff) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => is_retriable_code(*code),
            ClientError::ConnectionLost { .. } | ClientError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// The Kafka error code, when the broker sent one.
    pub fn kafka_code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Builds a [`ClientError::Kafka`] when `code` is not 0.
    ///
    /// # Errors
    /// The Kafka error, with `context`.
    pub fn check(code: i16, context: impl FnOnce() -> String, message: Option<&str>) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        Err(ClientError::Kafka {
            context: context(),
            code,
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        })
    }
}

/// Whether a Kafka error code is retriable (Kafka's `RetriableException` set).
pub fn is_retriable_code(code: i16) -> bool {
    ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable())
}

/// Kafka's name for an error code, e.g. `TOPIC_ALREADY_EXISTS`.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(e) => {
            let debug = format!("{e:?}");
            let mut out = String::new();
            for (i, c) in debug.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
        None => format!("UNKNOWN_ERROR_{code}"),
    }
}

fn hint(code: i16) -> &'static str {
    match code {
        3 => "; check the topic name, or create it with `rill topics create`",
        36 => "; it exists already (use `rill topics describe` to see it)",
        37 | 38 => "; check --partitions / --replication-factor",
        15 | 14 => "; the group coordinator is not ready (does this broker serve consumer groups?)",
        25 => "; the group has no such member (its generation ended)",
        35 => "; the broker does not serve this request version",
        41 => "; the broker has no controller yet; retry shortly",
        58 => "; check sasl.username / sasl.password (or sasl.jaas.config) and sasl.mechanism",
        33 => "; set sasl.mechanism to one the listener enables (sasl.enabled.mechanisms)",
        34 => "; the broker did not expect this SASL message (a client/broker mismatch)",
        6 | 5 => "; the partition has no reachable leader; retry shortly",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_spelling() {
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert!(is_retriable_code(6));
        assert!(!is_retriable_code(36));
    }
}
