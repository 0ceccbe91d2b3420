//! Which version of each API this client speaks, and the choice against a broker's
//! ApiVersions answer: the highest version both sides serve.
//!
//! Invariant: every request builder in this crate sets only the fields that exist in the
//! version it is given (kafka-protocol refuses to encode a non-default field the version
//! lacks), so the ranges here are the ranges the builders were written for.

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;

use crate::error::{ClientError, Result};

/// The version range this client speaks for `api` (min, max).
pub fn client_range(api: ApiKey) -> (i16, i16) {
    match api {
        ApiKey::ApiVersions => (0, 3),
        ApiKey::Metadata => (1, 12),
        ApiKey::Produce => (3, 9),
        ApiKey::Fetch => (4, 12),
        ApiKey::ListOffsets => (1, 7),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::DeleteTopics => (1, 6),
        ApiKey::DescribeConfigs => (1, 4),
        ApiKey::IncrementalAlterConfigs => (0, 1),
        ApiKey::CreatePartitions => (0, 3),
        ApiKey::DescribeCluster => (0, 1),
        ApiKey::InitProducerId => (0, 4),
        ApiKey::FindCoordinator => (0, 4),
        ApiKey::ListGroups => (0, 4),
        ApiKey::DescribeGroups => (0, 5),
        ApiKey::OffsetFetch => (1, 8),
        ApiKey::OffsetCommit => (2, 8),
        ApiKey::DeleteGroups => (0, 2),
        ApiKey::JoinGroup => (0, 7),
        ApiKey::SyncGroup => (0, 5),
        ApiKey::Heartbeat => (0, 4),
        ApiKey::LeaveGroup => (0, 4),
        ApiKey::ListTransactions => (0, 1),
        ApiKey::DescribeTransactions => (0, 0),
        ApiKey::DescribeUserScramCredentials => (0, 0),
        ApiKey::AlterUserScramCredentials => (0, 0),
        ApiKey::DescribeAcls | ApiKey::CreateAcls | ApiKey::DeleteAcls => (1, 3),
        ApiKey::DescribeClientQuotas | ApiKey::AlterClientQuotas => (0, 1),
        // v0 handshakes send raw SASL tokens outside Kafka frames; Rill frames them (v1).
        ApiKey::SaslHandshake => (1, 1),
        ApiKey::SaslAuthenticate => (0, 2),
        _ => (-1, -1),
    }
}

/// A broker's ApiVersions answer: api key -> (min, max).
#[derive(Debug, Clone, Default)]
pub struct BrokerVersions {
    /// Ranges by API key.
    pub ranges: HashMap<i16, (i16, i16)>,
}

impl BrokerVersions {
    /// The highest version of `api` both sides serve.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedVersion`] when the ranges do not overlap.
    pub fn pick(&self, api: ApiKey, addr: &str) -> Result<i16> {
        let (client_min, client_max) = client_range(api);
        let (broker_min, broker_max) = self.ranges.get(&(api as i16)).copied().unwrap_or((-1, -1));
        let version = client_max.min(broker_max);
        if broker_max < 0 || version < client_min || version < broker_min {
            return Err(ClientError::UnsupportedVersion {
                addr: addr.to_string(),
                api: format!("{api:?}"),
                broker_min,
                broker_max,
                client_min,
                client_max,
            });
        }
        Ok(version)
    }

    /// Whether the broker serves `api` at all.
    pub fn serves(&self, api: ApiKey) -> bool {
        self.ranges.contains_key(&(api as i16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_highest_common_version() {
        let mut v = BrokerVersions::default();
        v.ranges.insert(ApiKey::Fetch as i16, (4, 17));
        v.ranges.insert(ApiKey::Metadata as i16, (0, 5));
        v.ranges.insert(ApiKey::Produce as i16, (0, 2));
        assert_eq!(v.pick(ApiKey::Fetch, "b").unwrap(), 12);
        assert_eq!(v.pick(ApiKey::Metadata, "b").unwrap(), 5);
        assert!(v.pick(ApiKey::Produce, "b").is_err());
        assert!(v.pick(ApiKey::JoinGroup, "b").is_err());
    }
}
