//! The single-node metadata store: a local, append-only metadata log replayed into a
//! [`rill_meta::MetadataImage`] at start.
//!
//! This is where a cluster's Raft log will sit later: the records and the image are the same,
//! only who orders and replicates the records changes.

mod backend;
pub mod bootstrap;
mod local_log;
mod meta_properties;
mod store;

pub use backend::MetadataBackend;
pub use local_log::LocalMetadataLog;
pub use meta_properties::{
    load_or_create_meta_properties, new_cluster_id, read_meta_properties, validate_cluster_id,
    write_meta_properties, MetaProperties,
};
pub use store::{MetadataStore, METADATA_DIR};
