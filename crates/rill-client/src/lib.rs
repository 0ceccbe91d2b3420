//! rill-client: an async Kafka-protocol client built on `kafka-protocol` and tokio.
//!
//! Layers, bottom up:
//! - [`connection::Connection`]: one TCP or TLS connection, SASL-authenticated when
//!   [`security::ClientSecurity`] asks; length-prefixed frames, correlation ids, ApiVersions
//!   negotiation, pipelined requests whose responses are matched in order.
//! - [`Client`]: bootstrap, a metadata cache refreshed on demand and on leader moves, one
//!   connection per broker, retries with backoff on retriable Kafka errors.
//! - Features on top of the client: [`producer`] (RecordBatch v2, murmur2 and sticky
//!   partitioning, idempotence, compression), [`fetch`] (fetch, list offsets), [`admin`]
//!   (topics, configs, partitions, cluster) and [`groups`] (coordinator, offsets, groups).
//!
//! Thread-safety: [`Client`] is cheap to clone and safe to share between tasks.

pub mod acls;
pub mod admin;
mod authenticate;
pub mod batch_view;
mod client;
pub mod client_quotas;
pub mod connection;
pub mod delivery;
pub mod error;
pub mod fetch;
pub mod frame_buffers;
pub mod groups;
pub mod member;
pub mod metadata;
pub mod partitioner;
pub mod producer;
pub mod properties;
pub mod read_ahead;
pub mod records;
pub mod scram_users;
pub mod security;
pub mod tls;
pub mod transactions;
pub mod versions;

pub use client::{Client, ClientConfig};
pub use error::{ClientError, Result};
pub use security::{ClientSecurity, SecurityProtocol};
