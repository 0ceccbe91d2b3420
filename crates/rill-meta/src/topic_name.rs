//! Kafka's topic naming rules: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.

use crate::{MetaError, Result};

/// Longest legal topic name, as Kafka's `Topic.MAX_NAME_LENGTH`.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Names starting with this are internal topics (`__consumer_offsets`, ...).
pub const INTERNAL_TOPIC_PREFIX: &str = "__";

/// Checks a topic name against Kafka's rules.
///
/// # Errors
/// [`MetaError::InvalidTopicName`] naming the rule the name breaks.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(MetaError::InvalidTopicName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_naming_rules() {
        for ok in ["a", "orders", "my.topic_v2-x", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "has space",
            "ümlaut",
            "a/b",
            &"x".repeat(250),
        ] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }
}
