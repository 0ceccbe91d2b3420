//! SCRAM credentials as cluster metadata (Kafka's `UserScramCredentialRecord` and
//! `RemoveUserScramCredentialRecord`, its `ScramImage`).
//!
//! The image keeps one credential per (user, mechanism code): the salt, the iteration count
//! and the two derived keys, never a password. Mechanism codes are Kafka's wire codes (1
//! SCRAM-SHA-256, 2 SCRAM-SHA-512); this crate stores them as given, the controller checks
//! them before proposing. Byte fields are base64 strings in the JSON of the metadata log and
//! are never printed by `Debug`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{MetaError, MetadataImage, MetadataRecord, Result};

/// Bytes of a credential: base64 in JSON, hidden from `Debug` (a stored or server key lets
/// whoever holds it impersonate the broker or, with a captured exchange, the user).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[hidden, {} bytes]", self.0.len())
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use base64::Engine as _;
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(SecretBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// One user's credential for one mechanism, as the image keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentialImage {
    /// The salt the client salted the password with.
    pub salt: SecretBytes,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: SecretBytes,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: SecretBytes,
    /// The PBKDF2 iteration count.
    pub iterations: i32,
}

impl MetadataImage {
    /// The credential of `user` for mechanism code `mechanism`, if one is stored.
    pub fn scram_credential(&self, user: &str, mechanism: i8) -> Option<&ScramCredentialImage> {
        self.scram_credentials.get(&(user.to_string(), mechanism))
    }

    /// Every stored credential as (user, mechanism code, credential), by user then mechanism.
    pub fn scram_credentials(&self) -> impl Iterator<Item = (&str, i8, &ScramCredentialImage)> {
        self.scram_credentials
            .iter()
            .map(|((user, mechanism), c)| (user.as_str(), *mechanism, c))
    }

    /// Applies a SCRAM record; other records are ignored here.
    ///
    /// # Errors
    /// Removing a credential that is not stored (the image is then unchanged).
    pub(crate) fn apply_scram(&mut self, record: &MetadataRecord) -> Result<()> {
        match record {
            MetadataRecord::UserScramCredentialUpserted {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                self.scram_credentials.insert(
                    (name.clone(), *mechanism),
                    ScramCredentialImage {
                        salt: salt.clone(),
                        stored_key: stored_key.clone(),
                        server_key: server_key.clone(),
                        iterations: *iterations,
                    },
                );
            }
            MetadataRecord::UserScramCredentialRemoved { name, mechanism } => {
                let removed = self.scram_credentials.remove(&(name.clone(), *mechanism));
                if removed.is_none() {
                    return Err(MetaError::UnknownScramCredential {
                        user: name.clone(),
                        mechanism: *mechanism,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The records that rebuild the SCRAM credentials (for [`MetadataImage::to_records`]).
    pub(crate) fn scram_records(&self) -> impl Iterator<Item = MetadataRecord> + '_ {
        self.scram_credentials().map(|(name, mechanism, c)| {
            MetadataRecord::UserScramCredentialUpserted {
                name: name.to_string(),
                mechanism,
                salt: c.salt.clone(),
                stored_key: c.stored_key.clone(),
                server_key: c.server_key.clone(),
                iterations: c.iterations,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> MetadataRecord {
        MetadataRecord::UserScramCredentialUpserted {
            name: name.into(),
            mechanism,
            salt: vec![1, 2, 3].into(),
            stored_key: vec![4; 32].into(),
            server_key: vec![5; 32].into(),
            iterations,
        }
    }

    #[test]
    fn upsert_replaces_and_remove_deletes_one_mechanism() {
        let mut image = MetadataImage::new();
        image.apply(&upsert("alice", 1, 4096)).unwrap();
        image.apply(&upsert("alice", 2, 8192)).unwrap();
        image.apply(&upsert("alice", 1, 5000)).unwrap();
        assert_eq!(image.scram_credential("alice", 1).unwrap().iterations, 5000);
        assert_eq!(image.scram_credential("alice", 2).unwrap().iterations, 8192);
        let remove = MetadataRecord::UserScramCredentialRemoved {
            name: "alice".into(),
            mechanism: 1,
        };
        image.apply(&remove).unwrap();
        assert!(image.scram_credential("alice", 1).is_none());
        let listed: Vec<_> = image
            .scram_credentials()
            .map(|(u, m, c)| (u.to_string(), m, c.iterations))
            .collect();
        assert_eq!(listed, vec![("alice".to_string(), 2, 8192)]);
    }

    #[test]
    fn removing_a_missing_credential_is_refused_and_changes_nothing() {
        let mut image = MetadataImage::new();
        image.apply(&upsert("bob", 2, 4096)).unwrap();
        let before = image.clone();
        let remove = MetadataRecord::UserScramCredentialRemoved {
            name: "bob".into(),
            mechanism: 1,
        };
        assert_eq!(
            image.apply(&remove),
            Err(MetaError::UnknownScramCredential {
                user: "bob".into(),
                mechanism: 1
            })
        );
        assert_eq!(image, before);
    }

    #[test]
    fn bytes_are_base64_in_json_and_hidden_from_debug() {
        let rec = upsert("carol", 1, 4096);
        let text = serde_json::to_string(&rec).unwrap();
        assert!(text.contains(r#""salt":"AQID""#), "{text}");
        let back: MetadataRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rec);
        let shown = format!("{rec:?}");
        assert!(shown.contains("[hidden, 32 bytes]"), "{shown}");
        assert!(!shown.contains("4, 4"), "{shown}");
        let bad = text.replace("AQID", "not base64!");
        assert!(serde_json::from_str::<MetadataRecord>(&bad).is_err());
    }
}
