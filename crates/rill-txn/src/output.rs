//! What every coordinator call returns: records to append, answers to parked requests,
//! and transaction markers to write.

use crate::error::TxnError;
use crate::records::TxnRecord;
use crate::types::{ProducerIdAndEpoch, RequestId, TopicPartition, TxnResult};

/// The answer to a request the shell parked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// InitProducerId: the producer id and epoch, or why not.
    ProducerId(Result<ProducerIdAndEpoch, TxnError>),
    /// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn: done, or why not.
    Done(Result<(), TxnError>),
}

impl Answer {
    /// The same kind of answer carrying `error` instead.
    pub(crate) fn failed(&self, error: TxnError) -> Answer {
        match self {
            Answer::ProducerId(_) => Answer::ProducerId(Err(error)),
            Answer::Done(_) => Answer::Done(Err(error)),
        }
    }
}

/// An answer for the request with id `request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The shell's id of the request.
    pub request: RequestId,
    /// The answer.
    pub answer: Answer,
}

/// Transaction markers (control batches) to write for one transaction: one marker per
/// partition, carrying the producer id and epoch, the result and the coordinator epoch
/// (WriteTxnMarkers' fields). Report the partitions written with
/// [`crate::TxnCoordinator::markers_written`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerBatch {
    /// The transactional id (to report progress).
    pub transactional_id: String,
    /// Producer id of the transaction.
    pub producer_id: i64,
    /// Producer epoch of the markers (the bumped epoch after a fence).
    pub producer_epoch: i16,
    /// Leader epoch of the `__transaction_state` partition that wrote the Prepare record
    /// (a partition leader refuses markers from an older coordinator epoch).
    pub coordinator_epoch: i32,
    /// COMMIT or ABORT.
    pub result: TxnResult,
    /// The partitions to write a marker to (`__consumer_offsets` ones included).
    pub partitions: Vec<TopicPartition>,
}

/// What a coordinator call wants done.
///
/// The shell appends `records` to their `__transaction_state` partitions in the order
/// given (under the coordinator lock, so log order is state order), reports each one's
/// fate by its write id, sends `replies` to the parked requests, and starts writing
/// `markers`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    /// Records to append, in order.
    pub records: Vec<TxnRecord>,
    /// Answers to parked requests (send now: they never depend on `records` of the same
    /// output; answers that wait for a write come from `on_append_complete`/`_failed`).
    pub replies: Vec<Reply>,
    /// Markers to write.
    pub markers: Vec<MarkerBatch>,
}

impl Output {
    /// Appends another output.
    pub fn extend(&mut self, other: Output) {
        self.records.extend(other.records);
        self.replies.extend(other.replies);
        self.markers.extend(other.markers);
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.replies.is_empty() && self.markers.is_empty()
    }

    /// The answer to `request`, if this output carries it.
    pub fn reply_to(&self, request: RequestId) -> Option<&Answer> {
        self.replies
            .iter()
            .find(|r| r.request == request)
            .map(|r| &r.answer)
    }

    pub(crate) fn reply(&mut self, request: RequestId, answer: Answer) {
        self.replies.push(Reply { request, answer });
    }
}
