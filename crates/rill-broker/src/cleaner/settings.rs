//! The broker's `log.cleaner.*` settings (Kafka's names and defaults), parsed and validated.
//!
//! The topic-level synonyms (`log.cleaner.min.cleanable.ratio`,
//! `log.cleaner.{min,max}.compaction.lag.ms`, `log.cleaner.delete.retention.ms`) are topic
//! config defaults, resolved per topic by [`crate::topic_config`]; this holds what the cleaner
//! threads themselves use.

use crate::config_value::{invalid, parse_bool, parse_int, ConfigError};

/// What the cleaner threads run with.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerSettings {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.threads` (0 runs no cleaner).
    pub threads: usize,
    /// `log.cleaner.backoff.ms`: the sleep when no log is cleanable.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: offset map memory of all threads together.
    pub dedupe_buffer_bytes: u64,
    /// `log.cleaner.io.max.bytes.per.second` (shared by all threads; infinite = no limit).
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.io.buffer.size` (accepted; the cleaner sizes its buffers by batch).
    pub io_buffer_bytes: u64,
    /// `log.cleaner.io.buffer.load.factor`: how full the offset map may get.
    pub load_factor: f64,
}

impl Default for CleanerSettings {
    fn default() -> Self {
        CleanerSettings {
            enable: true,
            threads: 1,
            backoff_ms: 15_000,
            dedupe_buffer_bytes: 128 << 20,
            io_max_bytes_per_second: f64::INFINITY,
            io_buffer_bytes: 512 << 10,
            load_factor: 0.9,
        }
    }
}

/// Most offset map memory one thread gets (Kafka caps a thread's map at `Int.MaxValue`).
const MAX_MAP_BYTES_PER_THREAD: u64 = i32::MAX as u64;

impl CleanerSettings {
    /// Parses the settings from the broker's effective values (`get` returns the value of a
    /// key, defaults included).
    ///
    /// # Errors
    /// [`ConfigError::InvalidValue`] for a value Kafka would refuse.
    pub fn parse(get: impl Fn(&str) -> String) -> Result<Self, ConfigError> {
        let threads =
            parse_int("log.cleaner.threads", &get("log.cleaner.threads"), 0, 64)? as usize;
        let dedupe = parse_int(
            "log.cleaner.dedupe.buffer.size",
            &get("log.cleaner.dedupe.buffer.size"),
            0,
            i64::MAX,
        )? as u64;
        if threads > 0 && dedupe / (threads as u64) < 1 << 16 {
            return Err(invalid(
                "log.cleaner.dedupe.buffer.size",
                &dedupe.to_string(),
                "must give each cleaner thread at least 65536 bytes",
            ));
        }
        let rate_s = get("log.cleaner.io.max.bytes.per.second");
        let rate: f64 = rate_s.trim().parse().map_err(|_| {
            invalid(
                "log.cleaner.io.max.bytes.per.second",
                &rate_s,
                "expected a number",
            )
        })?;
        if rate.is_nan() || rate <= 0.0 {
            return Err(invalid(
                "log.cleaner.io.max.bytes.per.second",
                &rate_s,
                "must be greater than 0",
            ));
        }
        let lf_s = get("log.cleaner.io.buffer.load.factor");
        let load_factor: f64 = lf_s.trim().parse().map_err(|_| {
            invalid(
                "log.cleaner.io.buffer.load.factor",
                &lf_s,
                "expected a number",
            )
        })?;
        if !(load_factor > 0.0 && load_factor < 1.0) {
            return Err(invalid(
                "log.cleaner.io.buffer.load.factor",
                &lf_s,
                "must be between 0 and 1 (exclusive)",
            ));
        }
        Ok(CleanerSettings {
            enable: parse_bool("log.cleaner.enable", &get("log.cleaner.enable"))?,
            threads,
            backoff_ms: parse_int(
                "log.cleaner.backoff.ms",
                &get("log.cleaner.backoff.ms"),
                0,
                i64::MAX,
            )? as u64,
            dedupe_buffer_bytes: dedupe,
            // Kafka's default, Double.MAX_VALUE, means no limit.
            io_max_bytes_per_second: if rate >= f64::MAX {
                f64::INFINITY
            } else {
                rate
            },
            io_buffer_bytes: parse_int(
                "log.cleaner.io.buffer.size",
                &get("log.cleaner.io.buffer.size"),
                0,
                i64::from(i32::MAX),
            )? as u64,
            load_factor,
        })
    }

    /// Whether cleaner threads run at all.
    pub fn runs(&self) -> bool {
        self.enable && self.threads > 0
    }

    /// One thread's offset map memory: the buffer divided among the threads, as Kafka does.
    pub fn dedupe_bytes_per_thread(&self) -> usize {
        let per = self.dedupe_buffer_bytes / (self.threads.max(1) as u64);
        per.min(MAX_MAP_BYTES_PER_THREAD) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(over: &[(&str, &str)]) -> Result<CleanerSettings, ConfigError> {
        let mut m: HashMap<&str, &str> = crate::config::BROKER_DEFAULTS.iter().copied().collect();
        m.extend(over.iter().copied());
        CleanerSettings::parse(|k| m.get(k).map(|v| v.to_string()).unwrap_or_default())
    }

    #[test]
    fn kafka_defaults_parse_to_an_unlimited_single_thread() {
        let s = parse(&[]).expect("defaults");
        assert_eq!(s, CleanerSettings::default());
        assert!(s.runs());
        assert_eq!(s.dedupe_bytes_per_thread(), 128 << 20);
    }

    #[test]
    fn buffer_is_divided_among_threads_and_bad_values_are_refused() {
        let s = parse(&[
            ("log.cleaner.threads", "4"),
            ("log.cleaner.io.max.bytes.per.second", "1048576"),
        ])
        .expect("valid");
        assert_eq!(s.dedupe_bytes_per_thread(), 32 << 20);
        assert_eq!(s.io_max_bytes_per_second, 1048576.0);
        assert!(parse(&[("log.cleaner.threads", "-1")]).is_err());
        assert!(parse(&[("log.cleaner.io.buffer.load.factor", "1.5")]).is_err());
        assert!(parse(&[("log.cleaner.io.max.bytes.per.second", "0")]).is_err());
        assert!(parse(&[("log.cleaner.dedupe.buffer.size", "1000")]).is_err());
        assert!(parse(&[("log.cleaner.enable", "maybe")]).is_err());
        assert!(!parse(&[("log.cleaner.enable", "false")])
            .expect("valid")
            .runs());
    }
}
