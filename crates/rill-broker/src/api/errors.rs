//! The one place where typed errors become Kafka error codes, as the Java broker sends them.

use kafka_protocol::ResponseError;
use rill_log::LogError;

/// The Kafka error code for a storage error on produce or fetch.
pub fn log_error_code(e: &LogError) -> i16 {
    let err = match e {
        LogError::CorruptBatch { .. } => ResponseError::CorruptMessage,
        LogError::InvalidBatch { .. } => ResponseError::InvalidRecord,
        LogError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        LogError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
        LogError::TransactionCoordinatorFenced { .. } => {
            ResponseError::TransactionCoordinatorFenced
        }
        _ => ResponseError::KafkaStorageError,
    };
    err.code()
}

/// The code for "no error".
pub const NONE: i16 = 0;

/// Shorthand for a [`ResponseError`]'s code.
pub fn code(e: ResponseError) -> i16 {
    e.code()
}

/// The Kafka error code for a group coordinator error.
pub fn group_error_code(e: &rill_group::GroupError) -> i16 {
    use rill_group::GroupError as G;
    let err = match e {
        G::InvalidGroupId(_) => ResponseError::InvalidGroupId,
        G::NotCoordinator(_) => ResponseError::NotCoordinator,
        G::UnknownMemberId { .. } => ResponseError::UnknownMemberId,
        G::MemberIdRequired { .. } => ResponseError::MemberIdRequired,
        G::IllegalGeneration { .. } => ResponseError::IllegalGeneration,
        G::InconsistentGroupProtocol(_) => ResponseError::InconsistentGroupProtocol,
        G::RebalanceInProgress => ResponseError::RebalanceInProgress,
        G::FencedInstanceId { .. } => ResponseError::FencedInstanceId,
        G::InvalidSessionTimeout(_) => ResponseError::InvalidSessionTimeout,
        G::GroupIdNotFound(_) => ResponseError::GroupIdNotFound,
        G::NonEmptyGroup(_) => ResponseError::NonEmptyGroup,
        G::CoordinatorNotAvailable(_) => ResponseError::CoordinatorNotAvailable,
        G::GroupMaxSizeReached(_) => ResponseError::GroupMaxSizeReached,
        G::OffsetMetadataTooLarge(_) => ResponseError::OffsetMetadataTooLarge,
        G::GroupSubscribedToTopic(_) => ResponseError::GroupSubscribedToTopic,
        G::UnstableOffsetCommit { .. } => ResponseError::UnstableOffsetCommit,
    };
    err.code()
}

/// The Kafka error code for a group coordinator write that failed (appending to
/// `__consumer_offsets` or waiting for it), as Kafka's `handleOperationException` maps the
/// append's errors: a producer or transaction refusal as is (INVALID_PRODUCER_EPOCH for a
/// fenced producer), a storage failure NOT_COORDINATOR, a batch too large
/// UNKNOWN_SERVER_ERROR, anything else (not led here, not replicated in time)
/// COORDINATOR_NOT_AVAILABLE.
pub fn coordinator_write_error_code(e: &crate::error::BrokerError) -> i16 {
    use crate::error::BrokerError;
    let err = match e {
        BrokerError::Log(e) => match e {
            LogError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            LogError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
            LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            LogError::BatchTooLarge { .. }
            | LogError::InvalidBatch { .. }
            | LogError::CorruptBatch { .. } => ResponseError::UnknownServerError,
            _ => ResponseError::NotCoordinator,
        },
        _ => ResponseError::CoordinatorNotAvailable,
    };
    err.code()
}

/// The code a TxnOffsetCommit of `version` gets when the transaction coordinator's
/// verification (KIP-890 part 1) of the group's offsets partition answered `code`: Kafka's
/// `AddPartitionsToTxnManager` mapping (a fenced producer INVALID_PRODUCER_EPOCH; a partition
/// not in the transaction INVALID_TXN_STATE, or TRANSACTION_ABORTABLE from v4 on; coordinator
/// trouble NOT_ENOUGH_REPLICAS), then `GroupMetadataManager.maybeConvertOffsetCommitError`
/// (NOT_ENOUGH_REPLICAS becomes COORDINATOR_NOT_AVAILABLE).
pub fn txn_offset_verify_code(code: i16, version: i16) -> i16 {
    use kafka_protocol::error::ParseResponseErrorCode;
    let err = match code.err() {
        None => return 0,
        Some(ResponseError::InvalidTxnState) => ResponseError::InvalidTxnState,
        Some(ResponseError::InvalidProducerEpoch | ResponseError::ProducerFenced) => {
            ResponseError::InvalidProducerEpoch
        }
        Some(ResponseError::InvalidProducerIdMapping) => ResponseError::InvalidProducerIdMapping,
        Some(ResponseError::TransactionAbortable) if version >= 4 => {
            ResponseError::TransactionAbortable
        }
        Some(ResponseError::TransactionAbortable) => ResponseError::InvalidTxnState,
        Some(_) => ResponseError::CoordinatorNotAvailable,
    };
    err.code()
}

/// The client asked for a SASL mechanism the listener does not enable.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// A SASL request out of turn.
pub const ILLEGAL_SASL_STATE: i16 = 34;
/// SASL authentication failed (bad credentials, a refused token).
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
