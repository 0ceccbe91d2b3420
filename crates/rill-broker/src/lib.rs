//! Rill's broker: the async shell around the storage engine and the metadata state machine.
//!
//! This is the only crate that opens sockets, spawns tasks and reads the clock. Requests come
//! in through [`net`], are routed by [`api`] to thin handlers per Kafka API family, which call
//! the services ([`admin`], [`replica`]) and encode the answers.

pub mod admin;
pub mod admin_http;
pub mod api;
pub mod authz;
pub mod broker;
pub mod cleaner;
pub mod clock;
pub mod cluster;
pub mod cluster_config;
pub mod config;
pub mod config_value;
pub mod controller_node;
pub mod coordinator;
pub mod dynamic_config;
pub mod error;
pub mod fsutil;
pub mod listener_security;
pub mod maintenance;
pub mod membership;
pub mod metadata;
pub mod net;
pub mod observe;
pub mod producer_ids;
pub mod quota;
pub mod replica;
pub mod scram_users;
pub mod security;
pub mod server;
pub mod session;
pub mod topic_config;
pub mod txn;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use controller_node::ControllerNode;
pub use error::{BrokerError, Result};
pub use server::Server;
