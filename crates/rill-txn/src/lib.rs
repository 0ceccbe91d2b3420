//! Rill's transaction coordinator as a pure state machine (placeholder doc, rewritten below).

pub mod config;
pub mod coordinator;
pub mod error;
pub mod init;
pub mod load;
pub mod markers;
pub mod metadata;
pub mod output;
pub mod records;
pub mod state;
pub mod timers;
pub mod txn_ops;
pub mod types;

pub use config::TxnConfig;
pub use coordinator::{validate_transactional_id, TxnCoordinator, MAX_TRANSACTIONAL_ID_LEN};
pub use error::{RecordError, TxnApi, TxnError};
pub use init::InitProducerIdRequest;
pub use metadata::TxnMetadata;
pub use output::{Answer, MarkerBatch, Output, Reply};
pub use records::{StoredTxn, TxnRecord};
pub use state::TxnState;
pub use txn_ops::TxnProducer;
pub use types::*;
