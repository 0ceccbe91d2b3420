//! Rill's Raft-replicated metadata log: the controller quorum (KRaft mode, no ZooKeeper).
//!
//! A small quorum of controllers (1, 3 or 5 voters from `controller.quorum.voters`) replicates
//! batches of [`rill_meta::MetadataRecord`]s with Raft (openraft, pinned, behind our own
//! [`MetadataQuorum`] trait so an upgrade stays inside this crate). Every controller applies the
//! committed batches in log order to its [`rill_meta::MetadataImage`].
//!
//! Modules: `log_file`/`log_store` (durable Raft log and vote, CRC per entry, torn tail cut at
//! open, fsync before acknowledging), `state_machine`/`snapshot` (the image, snapshots of it,
//! installed on lagging nodes; the log is purged behind each snapshot), [`network`] (our
//! transport seam, framed TCP with a version byte), `quorum` ([`RaftQuorum`]), [`voters`],
//! [`controller`] (the active controller's loops, run by controller nodes and the simulation).
//! On disk, in [`QuorumConfig::data_dir`]: `raft.log`, `vote`, `purged`, `snapshot`.

mod api;
mod client;
pub mod controller;
mod error;
pub mod fetch;
mod heartbeats;
mod log_file;
mod log_store;
pub mod network;
mod observer;
mod quorum;
mod snapshot;
mod split_votes;
mod state_file;
mod state_machine;
mod types;
pub mod voters;

pub use api::{AppliedEvent, MetadataQuorum, MetadataUpdate, QuorumStatus, VoterStatus};
pub use client::ControllerClient;
pub use error::{QuorumError, Result};
pub use heartbeats::{HeartbeatReply, HeartbeatTable};
pub use network::tls::QuorumTls;
pub use observer::{ObserverConfig, QuorumObserver};
pub use quorum::{QuorumConfig, RaftQuorum};
pub use snapshot::image_to_records;
pub use types::{ApplyReply, CommittedOffset, MetadataBatch, NodeId, TypeConfig};
pub use voters::{format_voters, parse_voters};
