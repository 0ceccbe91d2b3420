//! ACLs as cluster metadata (Kafka's `AccessControlEntryRecord` and
//! `RemoveAccessControlEntryRecord`, its `AclsImage`).
//!
//! Each ACL has an id (a UUID string) and is stored as Kafka's wire codes and strings; this
//! crate does not interpret them (the broker validates a binding before proposing it and
//! builds its authorizer from [`MetadataImage::acls`]). [`MetadataImage::acl_changes`] counts
//! applied ACL records, so a broker rebuilds its authorizer only when the set changed.

use serde::{Deserialize, Serialize};

use crate::{MetaError, MetadataImage, MetadataRecord, Result};

/// One ACL as stored: Kafka's codes for the resource type, pattern type, operation and
/// permission, and the resource name, principal and host as given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclEntry {
    /// Kafka's resource type code (2 TOPIC, 3 GROUP, 4 CLUSTER, 5 TRANSACTIONAL_ID, ...).
    pub resource_type: i8,
    /// The resource name, or prefix for a PREFIXED pattern.
    pub resource_name: String,
    /// Kafka's pattern type code (3 LITERAL, 4 PREFIXED).
    pub pattern_type: i8,
    /// `User:alice`, `User:*`.
    pub principal: String,
    /// A host address or `*`.
    pub host: String,
    /// Kafka's operation code (2 ALL, 3 READ, 4 WRITE, ...).
    pub operation: i8,
    /// Kafka's permission code (2 DENY, 3 ALLOW).
    pub permission: i8,
}

impl MetadataImage {
    /// Every ACL, by id.
    pub fn acls(&self) -> impl Iterator<Item = (&str, &AclEntry)> {
        self.acls.iter().map(|(id, e)| (id.as_str(), e))
    }

    /// How many ACLs there are.
    pub fn acl_count(&self) -> usize {
        self.acls.len()
    }

    /// The id of an ACL equal to `entry`, if one is stored (CreateAcls of an existing
    /// binding adds nothing, as in Kafka).
    pub fn acl_id_of(&self, entry: &AclEntry) -> Option<&str> {
        self.acls
            .iter()
            .find(|(_, e)| *e == entry)
            .map(|(id, _)| id.as_str())
    }

    /// ACL records applied so far (changes whenever the ACL set does).
    pub fn acl_changes(&self) -> u64 {
        self.acl_changes
    }

    /// Applies an ACL record; other records are ignored here.
    ///
    /// # Errors
    /// [`MetaError::UnknownAcl`] when a removal names an id that is not stored.
    pub(crate) fn apply_acl(&mut self, record: &MetadataRecord) -> Result<()> {
        match record {
            MetadataRecord::AclCreated { id, entry } => {
                self.acls.insert(id.clone(), entry.clone());
            }
            MetadataRecord::AclRemoved { id } => {
                if self.acls.remove(id).is_none() {
                    return Err(MetaError::UnknownAcl { id: id.clone() });
                }
            }
            _ => return Ok(()),
        }
        self.acl_changes += 1;
        Ok(())
    }

    /// The records that rebuild the ACLs (for [`MetadataImage::to_records`]).
    pub(crate) fn acl_records(&self) -> impl Iterator<Item = MetadataRecord> + '_ {
        self.acls
            .iter()
            .map(|(id, entry)| MetadataRecord::AclCreated {
                id: id.clone(),
                entry: entry.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> AclEntry {
        AclEntry {
            resource_type: 2,
            resource_name: name.into(),
            pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 3,
            permission: 3,
        }
    }

    #[test]
    fn acls_are_created_removed_counted_and_rebuilt_from_records() {
        let mut image = MetadataImage::new();
        for (id, name) in [("a", "orders"), ("b", "payments")] {
            image
                .apply(&MetadataRecord::AclCreated {
                    id: id.into(),
                    entry: entry(name),
                })
                .unwrap();
        }
        assert_eq!(image.acl_count(), 2);
        assert_eq!(image.acl_id_of(&entry("payments")), Some("b"));
        image
            .apply(&MetadataRecord::AclRemoved { id: "a".into() })
            .unwrap();
        assert_eq!(image.acl_changes(), 3);
        assert!(matches!(
            image.apply(&MetadataRecord::AclRemoved { id: "a".into() }),
            Err(MetaError::UnknownAcl { .. })
        ));
        let mut rebuilt = MetadataImage::new();
        for r in image.to_records() {
            rebuilt.apply(&r).unwrap();
        }
        assert_eq!(
            rebuilt.acls().collect::<Vec<_>>(),
            image.acls().collect::<Vec<_>>()
        );
    }
}
