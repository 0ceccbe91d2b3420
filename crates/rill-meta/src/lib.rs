//! Rill's cluster metadata as a pure state machine.
//!
//! The metadata of a cluster (topics, their ids, partition counts and configs, producer id
//! blocks, SCRAM credentials, ACLs, client quotas) changes only through [`MetadataRecord`]s appended to a metadata log. Every node
//! applies the same records in the same order to its own [`MetadataImage`] and acts on the
//! difference. This crate does no I/O: the broker owns the log (a local file on a single node,
//! a Raft log in a cluster) and calls [`MetadataImage::apply`].

pub mod acl;
pub mod control;
mod error;
mod image;
pub mod quota;
mod records;
pub mod scram;
mod snapshot;
mod topic_name;

pub use acl::AclEntry;
pub use error::{MetaError, Result};
pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use quota::{QuotaEntity, QuotaEntityPart, QuotaValue};
pub use records::{BrokerEndpoint, MetadataRecord};
pub use scram::{ScramCredentialImage, SecretBytes};
pub use topic_name::{validate_topic_name, INTERNAL_TOPIC_PREFIX, MAX_TOPIC_NAME_LEN};
pub use uuid::Uuid;
