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
