//! Typed errors of the transaction coordinator. Each [`TxnError`] variant is one Kafka error
//! code, sent where the Java coordinator sends it; [`TxnError::code`] gives the code and
//! [`TxnError::code_for`] the code an older request version understands (Kafka answers
//! INVALID_PRODUCER_EPOCH instead of PRODUCER_FENCED to clients that predate it).

use kafka_protocol::ResponseError;

use crate::state::TxnState;
use crate::types::TxnResult;

/// Why a transaction request was refused (or a coordinator write failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// This node does not own the id's `__transaction_state` partition (NOT_COORDINATOR).
    #[error("not the coordinator of __transaction_state-{partition}")]
    NotCoordinator {
        /// The id's partition.
        partition: i32,
    },
    /// The id's partition is being loaded (COORDINATOR_LOAD_IN_PROGRESS).
    #[error("__transaction_state-{partition} is loading")]
    CoordinatorLoadInProgress {
        /// The id's partition.
        partition: i32,
    },
    /// The coordinator cannot write now; retry (COORDINATOR_NOT_AVAILABLE).
    #[error("the transaction coordinator is not available")]
    CoordinatorNotAvailable,
    /// A malformed request, e.g. an empty transactional id (INVALID_REQUEST).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// `transaction.timeout.ms` not in `1..=transaction.max.timeout.ms`
    /// (INVALID_TRANSACTION_TIMEOUT).
    #[error("transaction timeout {timeout_ms} ms is not in 1..={max_ms}")]
    InvalidTransactionTimeout {
        /// The timeout sent.
        timeout_ms: i32,
        /// `transaction.max.timeout.ms`.
        max_ms: i32,
    },
    /// Another operation on this transactional id is in progress; retry
    /// (CONCURRENT_TRANSACTIONS).
    #[error("a concurrent operation on the transaction is in progress")]
    ConcurrentTransactions,
    /// A newer producer (epoch) owns the transactional id (PRODUCER_FENCED; older request
    /// versions get INVALID_PRODUCER_EPOCH, see [`TxnError::code_for`]).
    #[error("producer epoch {sent_epoch} is fenced (current epoch {current_epoch})")]
    ProducerFenced {
        /// The epoch the request carried.
        sent_epoch: i16,
        /// The coordinator's epoch.
        current_epoch: i16,
    },
    /// The producer id is not the one assigned to the transactional id, or the id is unknown
    /// (INVALID_PRODUCER_ID_MAPPING).
    #[error("producer id {sent} is not mapped to this transactional id")]
    InvalidProducerIdMapping {
        /// The producer id the request carried.
        sent: i64,
    },
    /// EndTxn asks for a result the transaction's state cannot take (INVALID_TXN_STATE).
    #[error("cannot {result:?} a transaction in state {state}")]
    InvalidTxnState {
        /// The transaction's state.
        state: TxnState,
        /// The result asked for.
        result: TxnResult,
    },
    /// DescribeTransactions of an unknown id (TRANSACTIONAL_ID_NOT_FOUND).
    #[error("transactional id '{0}' not found")]
    TransactionalIdNotFound(String),
    /// KIP-890 verification: the partition is not part of the ongoing transaction
    /// (TRANSACTION_ABORTABLE).
    #[error("the partition is not in the transaction; abort it")]
    TransactionAbortable,
    /// A coordinator bug or an unexpected storage error (UNKNOWN_SERVER_ERROR).
    #[error("transaction coordinator error: {0}")]
    UnknownServerError(String),
}

/// The transaction APIs whose answers depend on the request version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnApi {
    /// InitProducerId (PRODUCER_FENCED from v4, TRANSACTION_ABORTABLE from v5).
    InitProducerId,
    /// AddPartitionsToTxn (PRODUCER_FENCED from v2, TRANSACTION_ABORTABLE from v5).
    AddPartitionsToTxn,
    /// AddOffsetsToTxn (PRODUCER_FENCED from v2, TRANSACTION_ABORTABLE from v4).
    AddOffsetsToTxn,
    /// EndTxn (PRODUCER_FENCED from v2, TRANSACTION_ABORTABLE from v4).
    EndTxn,
}

impl TxnApi {
    /// The first version that understands PRODUCER_FENCED.
    fn producer_fenced_since(self) -> i16 {
        match self {
            TxnApi::InitProducerId => 4,
            _ => 2,
        }
    }

    /// The first version that understands TRANSACTION_ABORTABLE (KIP-890).
    fn transaction_abortable_since(self) -> i16 {
        match self {
            TxnApi::InitProducerId | TxnApi::AddPartitionsToTxn => 5,
            TxnApi::AddOffsetsToTxn | TxnApi::EndTxn => 4,
        }
    }
}

impl TxnError {
    /// The Kafka error code.
    pub fn code(&self) -> i16 {
        self.response_error().code()
    }

    /// The Kafka error.
    pub fn response_error(&self) -> ResponseError {
        match self {
            TxnError::NotCoordinator { .. } => ResponseError::NotCoordinator,
            TxnError::CoordinatorLoadInProgress { .. } => ResponseError::CoordinatorLoadInProgress,
            TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            TxnError::InvalidRequest(_) => ResponseError::InvalidRequest,
            TxnError::InvalidTransactionTimeout { .. } => ResponseError::InvalidTransactionTimeout,
            TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
            TxnError::ProducerFenced { .. } => ResponseError::ProducerFenced,
            TxnError::InvalidProducerIdMapping { .. } => ResponseError::InvalidProducerIdMapping,
            TxnError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
            TxnError::TransactionalIdNotFound(_) => ResponseError::TransactionalIdNotFound,
            TxnError::TransactionAbortable => ResponseError::TransactionAbortable,
            TxnError::UnknownServerError(_) => ResponseError::UnknownServerError,
        }
    }

    /// The code to send in a response of `api` at `version`: clients older than
    /// PRODUCER_FENCED get INVALID_PRODUCER_EPOCH, as Kafka's KafkaApis answers them; clients
    /// older than TRANSACTION_ABORTABLE get INVALID_TXN_STATE.
    pub fn code_for(&self, api: TxnApi, version: i16) -> i16 {
        match self {
            TxnError::ProducerFenced { .. } if version < api.producer_fenced_since() => {
                ResponseError::InvalidProducerEpoch.code()
            }
            TxnError::TransactionAbortable if version < api.transaction_abortable_since() => {
                ResponseError::InvalidTxnState.code()
            }
            e => e.code(),
        }
    }

    /// The coordinator error for a failed append to `__transaction_state` with log error
    /// `code`, as Kafka's `appendTransactionToLog` maps it: a missing partition, too few
    /// replicas or a timeout is COORDINATOR_NOT_AVAILABLE; a lost leadership or a storage
    /// error is NOT_COORDINATOR; anything else is UNKNOWN_SERVER_ERROR.
    pub fn from_append_error_code(code: i16, partition: i32) -> TxnError {
        use kafka_protocol::error::ParseResponseErrorCode;
        match code.err() {
            Some(
                ResponseError::UnknownTopicOrPartition
                | ResponseError::NotEnoughReplicas
                | ResponseError::NotEnoughReplicasAfterAppend
                | ResponseError::RequestTimedOut,
            ) => TxnError::CoordinatorNotAvailable,
            Some(ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError) => {
                TxnError::NotCoordinator { partition }
            }
            _ => TxnError::UnknownServerError(format!(
                "append to __transaction_state-{partition} failed with error code {code}"
            )),
        }
    }
}

/// Why a record of `__transaction_state` does not decode (or cannot be replayed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes end before the field does.
    #[error("record truncated reading {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A key or value version we do not know.
    #[error("unknown {what} version {version}")]
    UnknownVersion {
        /// Key or value.
        what: &'static str,
        /// The version found.
        version: i16,
    },
    /// A string that is not UTF-8, or null where one is required.
    #[error("bad string in {field}")]
    BadString {
        /// The field being read.
        field: &'static str,
    },
    /// A length or count that is negative or null where it may not be, or a varint that does
    /// not fit.
    #[error("bad length in {field}")]
    BadLength {
        /// The field being read.
        field: &'static str,
    },
    /// A status byte that names no state.
    #[error("unknown transaction status {0}")]
    UnknownStatus(i8),
    /// A record of a `__transaction_state` partition that is not being loaded.
    #[error("__transaction_state-{partition} is not being loaded")]
    NotLoading {
        /// The record's partition.
        partition: i32,
    },
}

/// Result alias for coordinator operations.
pub type Result<T, E = TxnError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        let cases: &[(TxnError, i16)] = &[
            (TxnError::NotCoordinator { partition: 1 }, 16),
            (TxnError::CoordinatorLoadInProgress { partition: 1 }, 14),
            (TxnError::CoordinatorNotAvailable, 15),
            (TxnError::InvalidRequest(String::new()), 42),
            (
                TxnError::InvalidTransactionTimeout {
                    timeout_ms: 0,
                    max_ms: 1,
                },
                50,
            ),
            (TxnError::ConcurrentTransactions, 51),
            (
                TxnError::ProducerFenced {
                    sent_epoch: 0,
                    current_epoch: 1,
                },
                90,
            ),
            (TxnError::InvalidProducerIdMapping { sent: 1 }, 49),
            (
                TxnError::InvalidTxnState {
                    state: TxnState::Empty,
                    result: TxnResult::Commit,
                },
                48,
            ),
            (TxnError::TransactionalIdNotFound(String::new()), 105),
            (TxnError::TransactionAbortable, 120),
            (TxnError::UnknownServerError(String::new()), -1),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), *code, "{e:?}");
        }
    }

    #[test]
    fn old_versions_get_old_codes() {
        let fenced = TxnError::ProducerFenced {
            sent_epoch: 0,
            current_epoch: 1,
        };
        assert_eq!(fenced.code_for(TxnApi::InitProducerId, 3), 47);
        assert_eq!(fenced.code_for(TxnApi::InitProducerId, 4), 90);
        for api in [
            TxnApi::AddPartitionsToTxn,
            TxnApi::AddOffsetsToTxn,
            TxnApi::EndTxn,
        ] {
            assert_eq!(fenced.code_for(api, 1), 47);
            assert_eq!(fenced.code_for(api, 2), 90);
        }
        let abortable = TxnError::TransactionAbortable;
        assert_eq!(abortable.code_for(TxnApi::AddPartitionsToTxn, 4), 48);
        assert_eq!(abortable.code_for(TxnApi::AddPartitionsToTxn, 5), 120);
        assert_eq!(
            TxnError::ConcurrentTransactions.code_for(TxnApi::EndTxn, 0),
            51
        );
    }

    #[test]
    fn append_errors_map_like_kafka() {
        assert_eq!(
            TxnError::from_append_error_code(7, 3),
            TxnError::CoordinatorNotAvailable
        );
        assert_eq!(
            TxnError::from_append_error_code(19, 3),
            TxnError::CoordinatorNotAvailable
        );
        assert_eq!(
            TxnError::from_append_error_code(6, 3),
            TxnError::NotCoordinator { partition: 3 }
        );
        assert_eq!(TxnError::from_append_error_code(10, 3).code(), -1);
    }
}
