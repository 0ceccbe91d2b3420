//! Validation of topic configs with Kafka's rules and messages.
//!
//! Kafka parses a value by its type (`ConfigDef.parseType`), then runs the validator, and
//! finally checks the configs together (`LogConfig.validate`): the compaction lags must be in
//! order, and `remote.storage.enable=true` needs tiered storage, which Rill (like a Kafka broker
//! with `remote.log.storage.system.enable=false`) does not have. Every refusal is
//! INVALID_CONFIG with the message the Java controller sends.

use std::collections::BTreeMap;

use super::defs::{topic_config_def, ConfigKind, TopicConfigDef};

/// A topic config Kafka would refuse, with Kafka's message as its `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicConfigError {
    /// A name that is no topic config (Kafka's `LogConfig.validateNames`).
    #[error("Unknown topic config name: {name}")]
    Unknown {
        /// The name given.
        name: String,
    },
    /// A value of the wrong type or out of range (Kafka's `ConfigException`).
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    InvalidValue {
        /// The config name.
        name: String,
        /// The value as Kafka prints it (parsed when the type check passed).
        value: String,
        /// Kafka's reason.
        reason: String,
    },
    /// Configs given without a value.
    #[error("Null value not supported for topic configs: {names}")]
    NullValue {
        /// The names, comma-separated.
        names: String,
    },
    /// `min.compaction.lag.ms` above `max.compaction.lag.ms`.
    #[error("conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})")]
    CompactionLagConflict {
        /// `min.compaction.lag.ms`.
        min: i64,
        /// `max.compaction.lag.ms`.
        max: i64,
    },
    /// `remote.storage.enable=true`: Rill has no tiered storage.
    #[error("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")]
    RemoteStorageDisabled,
}

impl From<TopicConfigError> for crate::config_value::ConfigError {
    fn from(e: TopicConfigError) -> Self {
        crate::config_value::ConfigError::TopicDefault(e.to_string())
    }
}

fn invalid(name: &str, value: impl Into<String>, reason: impl Into<String>) -> TopicConfigError {
    TopicConfigError::InvalidValue {
        name: name.to_string(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn not_a_number(name: &str, raw: &str, type_name: &str) -> TopicConfigError {
    invalid(name, raw, format!("Not a number of type {type_name}"))
}

/// Checks `n` against optional bounds with `Range`'s messages.
fn check_range(
    name: &str,
    n: i64,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(), TopicConfigError> {
    if let Some(min) = min.filter(|&m| n < m) {
        return Err(invalid(
            name,
            n.to_string(),
            format!("Value must be at least {min}"),
        ));
    }
    if let Some(max) = max.filter(|&m| n > m) {
        return Err(invalid(
            name,
            n.to_string(),
            format!("Value must be no more than {max}"),
        ));
    }
    Ok(())
}

/// Java's `Double.toString` for the values a ratio takes (`0.5`, `2.0`).
fn java_double(d: f64) -> String {
    if d.fract() == 0.0 && d.abs() < 1e7 {
        format!("{d:.1}")
    } else {
        d.to_string()
    }
}

/// The items of a LIST value as Kafka splits it: trimmed, empty for an empty string, else
/// split at commas (with surrounding blanks), keeping empty items.
pub fn list_items(value: &str) -> Vec<&str> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split(',').map(str::trim).collect()
    }
}

/// Parses a boolean as Kafka does (any case, trimmed).
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Validates one value against its definition.
///
/// # Errors
/// [`TopicConfigError::InvalidValue`] with Kafka's reason.
pub fn validate_value(def: &TopicConfigDef, value: &str) -> Result<(), TopicConfigError> {
    let name = def.name;
    let trimmed = value.trim();
    match def.kind {
        ConfigKind::Long { min, max } => {
            let n: i64 = trimmed
                .parse()
                .map_err(|_| not_a_number(name, value, "LONG"))?;
            check_range(name, n, min, max)
        }
        ConfigKind::Int { min, max } => {
            let n: i32 = trimmed
                .parse()
                .map_err(|_| not_a_number(name, value, "INT"))?;
            check_range(name, i64::from(n), min, max)
        }
        ConfigKind::GzipLevel => {
            let n: i32 = trimmed
                .parse()
                .map_err(|_| not_a_number(name, value, "INT"))?;
            if n > 9 || (n < 1 && n != -1) {
                return Err(invalid(
                    name,
                    n.to_string(),
                    "Value must be between 1 and 9 or equal to -1",
                ));
            }
            Ok(())
        }
        ConfigKind::Double { min, max } => {
            let d: f64 = trimmed
                .parse()
                .ok()
                .filter(|d: &f64| !d.is_nan())
                .ok_or_else(|| not_a_number(name, value, "DOUBLE"))?;
            let bound = |b: f64| java_double(b).trim_end_matches(".0").to_string();
            if d < min {
                return Err(invalid(
                    name,
                    java_double(d),
                    format!("Value must be at least {}", bound(min)),
                ));
            }
            if d > max {
                return Err(invalid(
                    name,
                    java_double(d),
                    format!("Value must be no more than {}", bound(max)),
                ));
            }
            Ok(())
        }
        ConfigKind::Bool => parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| invalid(name, value, "Expected value to be either true or false")),
        ConfigKind::Enum(allowed) => {
            if allowed.contains(&trimmed) {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    trimmed,
                    format!("String must be one of: {}", allowed.join(", ")),
                ))
            }
        }
        ConfigKind::List(allowed) => {
            for item in list_items(value) {
                if !allowed.contains(&item) {
                    return Err(invalid(
                        name,
                        item,
                        format!("String must be one of: {}", allowed.join(", ")),
                    ));
                }
            }
            Ok(())
        }
        ConfigKind::ReplicaList => {
            let items = list_items(value);
            let pair = |s: &str| {
                s.is_empty()
                    || s.split_once(':').is_some_and(|(p, b)| {
                        !p.is_empty()
                            && !b.is_empty()
                            && p.bytes().all(|c| c.is_ascii_digit())
                            && b.bytes().all(|c| c.is_ascii_digit())
                    })
            };
            if items.iter().all(|s| pair(s)) || items.concat() == "*" {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    format!("[{}]", items.join(", ")),
                    format!(
                        "{name} must be the literal '*' or a list of replicas in the following format: \
                         [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                    ),
                ))
            }
        }
    }
}

/// Validates one topic config by name.
///
/// # Errors
/// [`TopicConfigError::Unknown`] or [`TopicConfigError::InvalidValue`].
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), TopicConfigError> {
    let def = topic_config_def(name).ok_or_else(|| TopicConfigError::Unknown {
        name: name.to_string(),
    })?;
    validate_value(def, value)
}

/// Validates a topic's overrides as Kafka's controller does: null values, names, each value,
/// then the checks across configs (given the effective values `effective`).
///
/// # Errors
/// The first [`TopicConfigError`], in Kafka's order.
pub fn validate_overrides(
    overrides: &BTreeMap<String, Option<String>>,
    effective: impl Fn(&str) -> Option<String>,
) -> Result<(), TopicConfigError> {
    let nulls: Vec<&str> = overrides
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(TopicConfigError::NullValue {
            names: nulls.join(","),
        });
    }
    if let Some(name) = overrides.keys().find(|k| topic_config_def(k).is_none()) {
        return Err(TopicConfigError::Unknown { name: name.clone() });
    }
    for (k, v) in overrides {
        validate_topic_config(k, v.as_deref().unwrap_or_default())?;
    }
    check_across(effective)
}

/// The checks across configs, on effective values.
///
/// # Errors
/// [`TopicConfigError::CompactionLagConflict`], [`TopicConfigError::RemoteStorageDisabled`].
pub fn check_across(effective: impl Fn(&str) -> Option<String>) -> Result<(), TopicConfigError> {
    let long = |k: &str| effective(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let (Some(min), Some(max)) = (long("min.compaction.lag.ms"), long("max.compaction.lag.ms")) {
        if min > max {
            return Err(TopicConfigError::CompactionLagConflict { min, max });
        }
    }
    if effective("remote.storage.enable").and_then(|v| parse_bool(&v)) == Some(true) {
        return Err(TopicConfigError::RemoteStorageDisabled);
    }
    Ok(())
}

/// A valid value as Kafka shows it (`ConfigDef.convertToString` of the parsed value): numbers
/// and booleans normalised, list items joined with commas, doubles as Java prints them.
pub fn display_value(def: &TopicConfigDef, value: &str) -> String {
    let trimmed = value.trim();
    match def.kind {
        ConfigKind::Long { .. } | ConfigKind::Int { .. } | ConfigKind::GzipLevel => trimmed
            .parse::<i64>()
            .map_or_else(|_| trimmed.to_string(), |n| n.to_string()),
        ConfigKind::Double { .. } => trimmed
            .parse::<f64>()
            .map_or_else(|_| trimmed.to_string(), java_double),
        ConfigKind::Bool => {
            parse_bool(value).map_or_else(|| trimmed.to_string(), |b| b.to_string())
        }
        ConfigKind::Enum(_) => trimmed.to_string(),
        ConfigKind::List(_) | ConfigKind::ReplicaList => list_items(value).join(","),
    }
}
