//! Broker configuration with Kafka's names and defaults.
//!
//! Configuration comes from a `server.properties` file (`key=value` lines, `#` comments) and
//! `--override key=value` flags, later ones winning. Unknown keys are warned about and kept
//! out of the typed [`BrokerConfig`]; a known key with a bad value is a [`ConfigError`].
//! Topic-level configs live in [`crate::topic_config`].

use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) use crate::config_value::invalid;
pub use crate::config_value::{
    parse_bool, parse_int, parse_listener, parse_listeners, ConfigError, Listener,
};

/// The broker's typed configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`: this broker's id.
    pub node_id: i32,
    /// The inter-broker listener's bind address (on a controller-only node, which serves no
    /// Kafka clients, the controller listener); every client listener is in `listeners`.
    pub listener: Listener,
    /// `advertised.listeners`: what Metadata tells clients (defaults to `listeners`).
    pub advertised_listener: Listener,
    /// Every listener with its security protocol and advertised endpoint, and the
    /// inter-broker one (whose addresses `listener` and `advertised_listener` are).
    pub listeners: crate::listener_security::ListenerSet,
    /// `log.dirs` (or `log.dir`): the data directory.
    pub log_dir: PathBuf,
    /// `num.partitions`: partitions of an auto-created topic or a CreateTopics with -1.
    pub num_partitions: u32,
    /// `default.replication.factor`.
    pub default_replication_factor: u16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `socket.request.max.bytes`: largest request frame accepted.
    pub socket_request_max_bytes: u32,
    /// `queued.max.request.bytes`: request bytes all connections together may hold between
    /// reading a request and finishing its handling; `None` (-1) means no limit. A connection
    /// alone may hold at most `min(this, socket.request.max.bytes)`.
    pub queued_max_request_bytes: Option<u64>,
    /// `fetch.max.bytes`: the most record bytes one Fetch response carries (the first batch
    /// is returned whole even when larger, as KIP-74 says).
    pub fetch_max_bytes: u64,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.segment.recycle.enable` (Rill's own): rolls write over segment files retention
    /// retired instead of new files (`rill_log::recycle`).
    pub segment_recycle: bool,
    /// Every known key with its effective value, for DescribeConfigs on the broker resource
    /// and for topic config defaults. Keys given explicitly are in `explicit`.
    pub values: BTreeMap<String, String>,
    /// Keys that came from the file or an override (shown as STATIC_BROKER_CONFIG).
    pub explicit: BTreeMap<String, String>,
    /// Dynamic broker configs (AlterConfigs on the BROKER resource, kept in the metadata log)
    /// that provide topic config defaults, with their source (this broker's own or the
    /// cluster-wide default). Empty in the static config; filled by
    /// [`BrokerConfig::with_dynamic`], and ahead of `explicit` for topic defaults.
    pub dynamic: BTreeMap<String, (String, crate::topic_config::ConfigSource)>,
    /// Quorum membership, controller listener, rack, liveness timeouts.
    pub cluster: crate::cluster_config::ClusterConfig,
    /// Replica fetcher settings (`replica.fetch.*`).
    pub fetcher: FetcherConfig,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// The log cleaner's `log.cleaner.*` settings.
    pub cleaner: crate::cleaner::CleanerSettings,
}

/// Broker-level keys we know, with Kafka's defaults (Rill's where they differ: `log.dirs`,
/// `listeners`, and `log.flush.interval.messages` = 1, which is fsync group commit).
pub const BROKER_DEFAULTS: &[(&str, &str)] = &[
    ("node.id", "1"),
    ("process.roles", "broker,controller"),
    ("listeners", "PLAINTEXT://127.0.0.1:9092"),
    ("advertised.listeners", ""),
    ("controller.listener.names", "CONTROLLER"),
    (
        "listener.security.protocol.map",
        crate::listener_security::DEFAULT_PROTOCOL_MAP,
    ),
    ("inter.broker.listener.name", ""),
    ("security.inter.broker.protocol", "PLAINTEXT"),
    // Listener security (`listener.name.<listener>.<key>` overrides each per listener).
    ("ssl.keystore.type", "PEM"),
    ("ssl.keystore.location", ""),
    ("ssl.keystore.password", ""),
    ("ssl.key.password", ""),
    ("ssl.keystore.certificate.chain", ""),
    ("ssl.keystore.key", ""),
    ("ssl.truststore.type", "PEM"),
    ("ssl.truststore.location", ""),
    ("ssl.truststore.password", ""),
    ("ssl.truststore.certificates", ""),
    ("ssl.client.auth", "none"),
    ("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
    ("ssl.protocol", "TLSv1.3"),
    ("ssl.cipher.suites", ""),
    ("ssl.principal.mapping.rules", "DEFAULT"),
    ("ssl.endpoint.identification.algorithm", "https"),
    // Rill's own: how often certificate files are checked for changes (0: never).
    ("ssl.reload.check.interval.ms", "10000"),
    ("authorizer.class.name", ""),
    ("super.users", ""),
    ("allow.everyone.if.no.acl.found", "false"),
    ("quota.window.num", "11"),
    ("quota.window.size.seconds", "1"),
    ("controller.quota.window.num", "11"),
    ("controller.quota.window.size.seconds", "1"),
    ("client.quota.callback.class", ""),
    ("sasl.enabled.mechanisms", "GSSAPI"),
    ("sasl.mechanism.inter.broker.protocol", "GSSAPI"),
    ("sasl.mechanism.controller.protocol", "GSSAPI"),
    ("sasl.server.max.receive.size", "524288"),
    ("connections.max.reauth.ms", "0"),
    ("sasl.oauthbearer.jwks.endpoint.url", ""),
    ("sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000"),
    ("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", "100"),
    (
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        "10000",
    ),
    ("sasl.oauthbearer.expected.audience", ""),
    ("sasl.oauthbearer.expected.issuer", ""),
    ("sasl.oauthbearer.sub.claim.name", "sub"),
    ("sasl.oauthbearer.scope.claim.name", "scope"),
    ("sasl.oauthbearer.clock.skew.seconds", "30"),
    (ADMIN_LISTEN_KEY, ADMIN_LISTEN_DEFAULT),
    // The admin listener's security (admin_http/settings.rs): empty = decided from whether
    // the Kafka listeners are secured.
    ("admin.authentication", ""),
    ("admin.ssl.enabled", ""),
    ("admin.health.open", ""),
    ("admin.metrics.open", ""),
    ("admin.ssl.keystore.type", ""),
    ("admin.ssl.keystore.location", ""),
    ("admin.ssl.keystore.password", ""),
    ("admin.ssl.key.password", ""),
    ("admin.ssl.keystore.certificate.chain", ""),
    ("admin.ssl.keystore.key", ""),
    ("admin.ssl.truststore.type", ""),
    ("admin.ssl.truststore.location", ""),
    ("admin.ssl.truststore.password", ""),
    ("admin.ssl.truststore.certificates", ""),
    ("admin.ssl.client.auth", ""),
    ("admin.ssl.enabled.protocols", ""),
    ("admin.ssl.cipher.suites", ""),
    ("controller.quorum.voters", ""),
    ("broker.rack", ""),
    ("broker.heartbeat.interval.ms", "2000"),
    ("broker.session.timeout.ms", "9000"),
    ("cluster.id", ""),
    ("log.dirs", "./rill-data"),
    ("num.partitions", "1"),
    ("default.replication.factor", "1"),
    ("auto.create.topics.enable", "true"),
    ("delete.topic.enable", "true"),
    ("message.max.bytes", "1048588"),
    ("socket.request.max.bytes", "104857600"),
    ("queued.max.request.bytes", "268435456"),
    ("fetch.max.bytes", "57671680"),
    ("log.retention.ms", "604800000"),
    ("log.retention.bytes", "-1"),
    ("log.segment.bytes", "1073741824"),
    ("log.roll.ms", "604800000"),
    ("log.index.interval.bytes", "4096"),
    ("log.index.size.max.bytes", "10485760"),
    ("log.flush.interval.messages", "1"),
    ("log.flush.interval.ms", "9223372036854775807"),
    ("log.message.timestamp.type", "CreateTime"),
    ("log.cleanup.policy", "delete"),
    ("log.roll.jitter.ms", "0"),
    ("log.segment.delete.delay.ms", "60000"),
    ("log.preallocate", "false"),
    ("log.cleaner.delete.retention.ms", "86400000"),
    ("log.cleaner.min.compaction.lag.ms", "0"),
    ("log.cleaner.max.compaction.lag.ms", "9223372036854775807"),
    ("log.cleaner.min.cleanable.ratio", "0.5"),
    ("log.cleaner.enable", "true"),
    ("log.cleaner.threads", "1"),
    ("log.cleaner.backoff.ms", "15000"),
    ("log.cleaner.dedupe.buffer.size", "134217728"),
    // Kafka's Double.MAX_VALUE: no limit.
    (
        "log.cleaner.io.max.bytes.per.second",
        "1.7976931348623157E308",
    ),
    ("log.cleaner.io.buffer.size", "524288"),
    ("log.cleaner.io.buffer.load.factor", "0.9"),
    ("log.message.timestamp.before.max.ms", "9223372036854775807"),
    ("log.message.timestamp.after.max.ms", "3600000"),
    ("log.message.downconversion.enable", "true"),
    ("log.local.retention.ms", "-2"),
    ("log.local.retention.bytes", "-2"),
    ("log.retention.check.interval.ms", "300000"),
    ("log.segment.recycle.enable", "true"),
    ("min.insync.replicas", "1"),
    ("compression.type", "producer"),
    ("compression.gzip.level", "-1"),
    ("compression.lz4.level", "9"),
    ("compression.zstd.level", "3"),
    ("unclean.leader.election.enable", "false"),
    ("replica.lag.time.max.ms", "30000"),
    ("replica.fetch.max.bytes", "1048576"),
    ("replica.fetch.response.max.bytes", "10485760"),
    ("replica.fetch.wait.max.ms", "500"),
    ("replica.fetch.backoff.ms", "1000"),
    ("auto.leader.rebalance.enable", "true"),
    ("leader.imbalance.check.interval.seconds", "300"),
    ("offsets.topic.num.partitions", "50"),
    ("offsets.topic.replication.factor", "3"),
    ("offsets.topic.segment.bytes", "104857600"),
    ("offsets.topic.compression.codec", "0"),
    ("group.initial.rebalance.delay.ms", "3000"),
    ("group.min.session.timeout.ms", "6000"),
    ("group.max.session.timeout.ms", "1800000"),
    ("group.max.size", "2147483647"),
    ("offsets.retention.minutes", "10080"),
    ("offsets.retention.check.interval.ms", "600000"),
    ("offset.metadata.max.bytes", "4096"),
    ("transaction.state.log.num.partitions", "50"),
    ("transaction.state.log.replication.factor", "3"),
    ("transaction.state.log.min.isr", "2"),
    ("transaction.state.log.segment.bytes", "104857600"),
    ("transaction.max.timeout.ms", "900000"),
    ("transactional.id.expiration.ms", "604800000"),
    (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "10000",
    ),
    (
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        "3600000",
    ),
    ("transaction.partition.verification.enable", "true"),
];

/// Keys Kafka spells in more than one way, mapped to the one we keep.
const ALIASES: &[(&str, &str)] = &[
    ("log.dir", "log.dirs"),
    ("broker.id", "node.id"),
    ("log.retention.hours", "log.retention.ms"),
    ("log.retention.minutes", "log.retention.ms"),
    ("log.roll.hours", "log.roll.ms"),
    ("log.roll.jitter.hours", "log.roll.jitter.ms"),
];

/// Parses `server.properties` text into key/value pairs.
///
/// # Errors
/// [`ConfigError::BadLine`] for a non-empty, non-comment line without `=`.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            return Err(ConfigError::BadLine {
                line: i + 1,
                text: raw.to_string(),
            });
        };
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// Replica fetcher settings (Kafka's names).
#[derive(Debug, Clone, Copy)]
pub struct FetcherConfig {
    /// `replica.fetch.max.bytes`: per partition.
    pub partition_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`: per response.
    pub response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms`: long-poll time.
    pub max_wait_ms: i32,
    /// `replica.fetch.backoff.ms`: pause after an error.
    pub backoff_ms: u64,
}

/// The config key of the admin HTTP listener (console, /metrics, /health, /api/v1).
pub const ADMIN_LISTEN_KEY: &str = "admin.listen";
/// Its default.
pub const ADMIN_LISTEN_DEFAULT: &str = "127.0.0.1:9644";
/// Parses `admin.listen`: `host:port` (an IP address or `localhost`), or empty / `none` to
/// run no admin listener.
///
/// # Errors
/// [`ConfigError::InvalidValue`] for anything else.
pub fn parse_admin_listen(
    value: &str,
) -> std::result::Result<Option<std::net::SocketAddr>, ConfigError> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let invalid = |reason: &str| ConfigError::InvalidValue {
        key: ADMIN_LISTEN_KEY.into(),
        value: value.into(),
        reason: reason.into(),
    };
    let v = v.strip_prefix("http://").unwrap_or(v);
    let (host, port) = v
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected host:port (or none)"))?;
    let port: u16 = port.parse().map_err(|_| invalid("port must be 0-65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if host == "localhost" {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse()
            .map_err(|_| invalid("host must be an IP address or localhost"))?
    };
    Ok(Some(std::net::SocketAddr::new(ip, port)))
}

impl BrokerConfig {
    /// Builds the config from key/value pairs (file first, then overrides), warning about
    /// unknown keys through `warn`.
    ///
    /// # Errors
    /// [`ConfigError`] for the first bad value.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
        mut warn: impl FnMut(&str),
    ) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<String, String> = BROKER_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut explicit = BTreeMap::new();
        for (key, value) in pairs {
            let (key, value) = normalize(&key, &value)?;
            if !values.contains_key(&key)
                && !crate::topic_config::is_broker_synonym(&key)
                && !crate::security::is_listener_key(&key)
            {
                warn(&format!("unknown config '{key}' ignored"));
                continue;
            }
            values.insert(key.clone(), value.clone());
            explicit.insert(key, value);
        }
        let get = |k: &str| values.get(k).cloned().unwrap_or_default();
        let listeners =
            crate::listener_security::resolve_listeners(&get, &|k: &str| explicit.contains_key(k))?;
        let all_listeners: Vec<Listener> = listeners.all.iter().map(|l| l.bind.clone()).collect();
        let cluster = crate::cluster_config::parse_cluster_config(get, &all_listeners)?;
        // A controller-only node serves no Kafka clients: its "client" listener is the
        // controller's, named for identity only and never served as Kafka.
        let (listener, advertised) = match (
            listeners.inter_broker_listener(),
            &cluster.controller_listener,
        ) {
            (Some(l), _) => (l.bind.clone(), l.advertised.clone()),
            (None, Some(c)) if !cluster.roles.broker => (c.clone(), c.clone()),
            _ => {
                return Err(invalid(
                    "listeners",
                    &get("listeners"),
                    "no client listener",
                ))
            }
        };
        for l in listeners.clients() {
            l.bind.bind_addr()?;
        }
        listener.bind_addr()?;
        parse_admin_listen(&get(ADMIN_LISTEN_KEY))?;
        crate::security::check_security_config(&listeners, &get)?;
        crate::authz::Authz::from_config(&get)?;
        crate::quota::ClientQuotas::from_config(&get)?;
        if parse_admin_listen(&get(ADMIN_LISTEN_KEY))?.is_some() {
            crate::admin_http::settings::AdminSecurity::from_config(&listeners, &get)?;
        }
        let config = BrokerConfig {
            dynamic: BTreeMap::new(),
            cluster,
            node_id: parse_int("node.id", &get("node.id"), 0, i64::from(i32::MAX))? as i32,
            listener,
            advertised_listener: advertised,
            listeners,
            log_dir: PathBuf::from(get("log.dirs").split(',').next().unwrap_or("").trim()),
            num_partitions: parse_int("num.partitions", &get("num.partitions"), 1, 100_000)? as u32,
            default_replication_factor: parse_int(
                "default.replication.factor",
                &get("default.replication.factor"),
                1,
                i64::from(i16::MAX),
            )? as u16,
            auto_create_topics: parse_bool(
                "auto.create.topics.enable",
                &get("auto.create.topics.enable"),
            )?,
            delete_topic_enable: parse_bool("delete.topic.enable", &get("delete.topic.enable"))?,
            socket_request_max_bytes: parse_int(
                "socket.request.max.bytes",
                &get("socket.request.max.bytes"),
                1024,
                i64::from(i32::MAX),
            )? as u32,
            queued_max_request_bytes: match parse_int(
                "queued.max.request.bytes",
                &get("queued.max.request.bytes"),
                -1,
                i64::MAX,
            )? {
                -1 => None,
                n if n < 1024 => {
                    return Err(invalid(
                        "queued.max.request.bytes",
                        &get("queued.max.request.bytes"),
                        "must be -1 (no limit) or at least 1024",
                    ))
                }
                n => Some(n as u64),
            },
            fetch_max_bytes: parse_int(
                "fetch.max.bytes",
                &get("fetch.max.bytes"),
                1024,
                i64::from(i32::MAX),
            )? as u64,
            retention_check_interval_ms: parse_int(
                "log.retention.check.interval.ms",
                &get("log.retention.check.interval.ms"),
                1,
                i64::MAX,
            )? as u64,
            segment_recycle: parse_bool(
                "log.segment.recycle.enable",
                &get("log.segment.recycle.enable"),
            )?,
            fetcher: FetcherConfig {
                partition_max_bytes: parse_int(
                    "replica.fetch.max.bytes",
                    &get("replica.fetch.max.bytes"),
                    1024,
                    i64::from(i32::MAX),
                )? as i32,
                response_max_bytes: parse_int(
                    "replica.fetch.response.max.bytes",
                    &get("replica.fetch.response.max.bytes"),
                    1024,
                    i64::from(i32::MAX),
                )? as i32,
                max_wait_ms: parse_int(
                    "replica.fetch.wait.max.ms",
                    &get("replica.fetch.wait.max.ms"),
                    0,
                    i64::from(i32::MAX),
                )? as i32,
                backoff_ms: parse_int(
                    "replica.fetch.backoff.ms",
                    &get("replica.fetch.backoff.ms"),
                    0,
                    3_600_000,
                )? as u64,
            },
            replica_lag_time_max_ms: parse_int(
                "replica.lag.time.max.ms",
                &get("replica.lag.time.max.ms"),
                1,
                i64::MAX / 4,
            )?,
            cleaner: crate::cleaner::CleanerSettings::parse(get)?,
            values,
            explicit,
        };
        if config.log_dir.as_os_str().is_empty() {
            return Err(invalid("log.dirs", "", "a directory is required"));
        }
        // Topic defaults must be valid too: check them now, not at the first topic.
        crate::topic_config::TopicConfig::resolve(&BTreeMap::new(), &config)?;
        Ok(config)
    }

    /// The effective value of a broker key.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// This config with the dynamic broker configs of `image` that provide topic defaults
    /// (this node's own over the cluster-wide ones), or itself when there are none.
    pub fn with_dynamic(&self, image: &rill_meta::MetadataImage) -> std::borrow::Cow<'_, Self> {
        let dynamic = crate::dynamic_config::topic_defaults(image, self.node_id);
        if dynamic.is_empty() {
            std::borrow::Cow::Borrowed(self)
        } else {
            let mut c = self.clone();
            c.dynamic = dynamic;
            std::borrow::Cow::Owned(c)
        }
    }
}

/// Maps aliases (`log.dir`, `log.retention.hours`, ...) to the key we keep, converting units.
fn normalize(key: &str, value: &str) -> Result<(String, String), ConfigError> {
    let Some((_, target)) = ALIASES.iter().find(|(alias, _)| *alias == key) else {
        return Ok((key.to_string(), value.to_string()));
    };
    let factor = if key.ends_with(".hours") {
        3_600_000
    } else if key.ends_with(".minutes") {
        60_000
    } else {
        1
    };
    if factor == 1 {
        return Ok((target.to_string(), value.to_string()));
    }
    let n = parse_int(key, value, -1, i64::MAX / factor)?;
    let ms = if n < 0 { -1 } else { n * factor };
    Ok((target.to_string(), ms.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::from_pairs(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            |_| {},
        )
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = build(&[]).unwrap();
        assert_eq!(c.listener.port, 9092);
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.log_dir, PathBuf::from("./rill-data"));
    }

    #[test]
    fn properties_file_and_aliases() {
        let pairs = parse_properties(
            "# c\nlisteners=PLAINTEXT://127.0.0.1:19092\nlog.dir = /tmp/x\nlog.retention.hours=2\n",
        )
        .unwrap();
        let c = BrokerConfig::from_pairs(pairs, |_| {}).unwrap();
        assert_eq!(c.listener.port, 19092);
        assert_eq!(c.log_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.value("log.retention.ms"), Some("7200000"));
    }

    #[test]
    fn segment_recycling_is_on_by_default_and_reaches_topic_configs() {
        let on = build(&[]).unwrap();
        assert!(on.segment_recycle);
        let t = crate::topic_config::TopicConfig::resolve(&BTreeMap::new(), &on).unwrap();
        assert!(t.log.recycle_segments);
        let off = build(&[("log.segment.recycle.enable", "false")]).unwrap();
        let t = crate::topic_config::TopicConfig::resolve(&BTreeMap::new(), &off).unwrap();
        assert!(!t.log.recycle_segments);
        assert!(build(&[("log.segment.recycle.enable", "sometimes")]).is_err());
    }

    #[test]
    fn bad_values_are_errors_and_unknown_keys_warn() {
        assert!(build(&[("num.partitions", "zero")]).is_err());
        assert!(build(&[("listeners", "127.0.0.1")]).is_err());
        assert!(build(&[("auto.create.topics.enable", "yes")]).is_err());
        assert!(build(&[("log.segment.bytes", "1")]).is_err());
        assert!(build(&[("fetch.max.bytes", "1000")]).is_err());
        assert!(build(&[("queued.max.request.bytes", "0")]).is_err());
        assert!(build(&[("queued.max.request.bytes", "-2")]).is_err());
        let c = build(&[("queued.max.request.bytes", "-1")]).unwrap();
        assert_eq!(c.queued_max_request_bytes, None);
        let c = build(&[]).unwrap();
        assert_eq!(c.queued_max_request_bytes, Some(256 << 20));
        assert_eq!(c.fetch_max_bytes, 57_671_680);
        let mut warned = Vec::new();
        BrokerConfig::from_pairs([("no.such.key".into(), "1".into())], |w| {
            warned.push(w.to_string())
        })
        .unwrap();
        assert_eq!(warned.len(), 1);
        assert!(parse_properties("just words").is_err());
    }

    #[test]
    fn admin_listen_values() {
        assert_eq!(
            parse_admin_listen("127.0.0.1:9644").unwrap(),
            Some("127.0.0.1:9644".parse().unwrap())
        );
        assert_eq!(
            parse_admin_listen("localhost:0").unwrap(),
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_admin_listen("[::1]:9644").unwrap(),
            Some("[::1]:9644".parse().unwrap())
        );
        assert_eq!(parse_admin_listen("").unwrap(), None);
        assert_eq!(parse_admin_listen("none").unwrap(), None);
        assert!(parse_admin_listen("9644").is_err());
        assert!(parse_admin_listen("example.com:9644").is_err());
        assert!(parse_admin_listen("127.0.0.1:99999").is_err());
    }
}
