//! Client quotas as cluster metadata (Kafka's `ClientQuotaRecord`, its `ClientQuotasImage`).
//!
//! A quota entity is a set of (entity type, name) parts: `user`, `client-id` (or both), or
//! `ip`; a part without a name is that type's default (`<default>` in Kafka's tools). Each
//! entity holds quota values by key (`producer_byte_rate`, `consumer_byte_rate`,
//! `request_percentage`, `controller_mutation_rate`, `connection_creation_rate`). This crate
//! stores what the controller proposed; the broker validates keys and entities before
//! proposing and decides what each quota means. [`MetadataImage::quota_changes`] counts applied
//! quota records, so a broker rebuilds its quota table only when the set changed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{MetadataImage, MetadataRecord};

/// One part of a quota entity: its type (`user`, `client-id`, `ip`) and name (`None`: the
/// default entity of that type).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntityPart {
    /// `user`, `client-id` or `ip`.
    pub entity_type: String,
    /// The name, or `None` for the default.
    pub name: Option<String>,
}

/// A quota entity: its parts, sorted by entity type (at most one part per type).
pub type QuotaEntity = Vec<QuotaEntityPart>;

/// A quota value (Kafka keeps every quota as a double). Equality is bitwise, so images
/// compare equal exactly when they hold the same values.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// Sorts `parts` by entity type: the canonical form an entity is stored and looked up in.
pub fn canonical_entity(mut parts: QuotaEntity) -> QuotaEntity {
    parts.sort();
    parts
}

impl MetadataImage {
    /// Every entity with at least one quota, with its quotas by key.
    pub fn client_quotas(
        &self,
    ) -> impl Iterator<Item = (&QuotaEntity, &BTreeMap<String, QuotaValue>)> {
        self.client_quotas.iter()
    }

    /// The quotas of `entity` (canonical form), if it has any.
    pub fn client_quotas_of(&self, entity: &QuotaEntity) -> Option<&BTreeMap<String, QuotaValue>> {
        self.client_quotas.get(entity)
    }

    /// Quota records applied so far (changes whenever the quota set does).
    pub fn quota_changes(&self) -> u64 {
        self.quota_changes
    }

    /// Applies a quota record; other records are ignored here. Removing a quota that is not
    /// set changes nothing (Kafka's controller proposes no such record; replaying one is
    /// harmless).
    pub(crate) fn apply_client_quota(&mut self, record: &MetadataRecord) {
        let MetadataRecord::ClientQuotaAltered { entity, key, value } = record else {
            return;
        };
        let entity = canonical_entity(entity.clone());
        match value {
            Some(v) => {
                self.client_quotas
                    .entry(entity)
                    .or_default()
                    .insert(key.clone(), *v);
            }
            None => {
                if let Some(quotas) = self.client_quotas.get_mut(&entity) {
                    quotas.remove(key);
                    if quotas.is_empty() {
                        self.client_quotas.remove(&entity);
                    }
                }
            }
        }
        self.quota_changes += 1;
    }

    /// The records that rebuild the quotas (for [`MetadataImage::to_records`]).
    pub(crate) fn client_quota_records(&self) -> impl Iterator<Item = MetadataRecord> + '_ {
        self.client_quotas.iter().flat_map(|(entity, quotas)| {
            quotas
                .iter()
                .map(move |(key, value)| MetadataRecord::ClientQuotaAltered {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: Some(*value),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(t: &str, name: Option<&str>) -> QuotaEntityPart {
        QuotaEntityPart {
            entity_type: t.into(),
            name: name.map(str::to_string),
        }
    }

    fn set(entity: QuotaEntity, key: &str, value: Option<f64>) -> MetadataRecord {
        MetadataRecord::ClientQuotaAltered {
            entity,
            key: key.into(),
            value: value.map(QuotaValue),
        }
    }

    #[test]
    fn quotas_are_set_replaced_removed_and_rebuilt_from_records() {
        let mut image = MetadataImage::new();
        let alice_app = vec![part("user", Some("alice")), part("client-id", Some("app"))];
        let default_user = vec![part("user", None)];
        image
            .apply(&set(alice_app.clone(), "producer_byte_rate", Some(1024.0)))
            .unwrap();
        image
            .apply(&set(
                default_user.clone(),
                "consumer_byte_rate",
                Some(2048.0),
            ))
            .unwrap();
        image
            .apply(&set(alice_app.clone(), "producer_byte_rate", Some(4096.0)))
            .unwrap();
        // Stored in canonical form whatever the order given.
        let canonical = canonical_entity(alice_app.clone());
        assert_eq!(
            image.client_quotas_of(&canonical).unwrap()["producer_byte_rate"],
            QuotaValue(4096.0)
        );
        assert_eq!(image.quota_changes(), 3);
        let mut rebuilt = MetadataImage::new();
        for r in image.to_records() {
            rebuilt.apply(&r).unwrap();
        }
        assert_eq!(
            rebuilt.client_quotas().collect::<Vec<_>>(),
            image.client_quotas().collect::<Vec<_>>()
        );
        image
            .apply(&set(default_user.clone(), "consumer_byte_rate", None))
            .unwrap();
        assert!(image.client_quotas_of(&default_user).is_none());
        // Removing what is not set is harmless.
        image
            .apply(&set(default_user, "consumer_byte_rate", None))
            .unwrap();
        assert_eq!(image.client_quotas().count(), 1);
    }
}
