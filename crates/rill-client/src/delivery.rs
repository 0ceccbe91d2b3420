//! Delivery reports of the [`crate::producer::Producer`]: one shared slot per batch, one
//! [`DeliveryReceiver`] per record (its index in the batch), as the Java client shares one
//! result among the futures of a batch. A record costs a reference count, not a channel.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::Notify;

use crate::error::ClientError;

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Partition.
    pub partition: i32,
    /// Offset (-1 with acks=0).
    pub offset: i64,
    /// When the answer arrived (for latency figures).
    pub acked_at: Instant,
}

/// The result of one record, shared by its batch.
pub type DeliveryResult = std::result::Result<Delivery, Arc<ClientError>>;

/// No result will come: the producer dropped the record's batch unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the producer was dropped before the record's batch was answered")]
pub struct DeliveryClosed;

/// What a batch ended with: its base offset (-1 with acks=0) and when the answer came, or
/// its error.
pub(crate) type BatchOutcome = std::result::Result<(i64, Instant), Arc<ClientError>>;

/// The slot a batch's records share.
#[derive(Debug)]
struct Slot {
    /// The batch's partition.
    partition: i32,
    /// Set once: the outcome, or `None` when the batch was dropped unanswered.
    outcome: OnceLock<Option<BatchOutcome>>,
    /// Woken when `outcome` is set.
    done: Notify,
}

/// The producer's end of a batch's slot: resolves it once; dropping it unresolved closes it.
#[derive(Debug)]
pub(crate) struct BatchDelivery {
    slot: Arc<Slot>,
}

impl BatchDelivery {
    /// A new slot for a batch to `partition`.
    pub(crate) fn new(partition: i32) -> BatchDelivery {
        BatchDelivery {
            slot: Arc::new(Slot {
                partition,
                outcome: OnceLock::new(),
                done: Notify::new(),
            }),
        }
    }

    /// The receiver of the batch's record number `index`.
    pub(crate) fn receiver(&self, index: usize) -> DeliveryReceiver {
        DeliveryReceiver {
            slot: self.slot.clone(),
            index: index as i64,
        }
    }

    /// Hands every receiver the batch's outcome.
    pub(crate) fn resolve(self, outcome: BatchOutcome) {
        self.finish(Some(outcome));
    }

    fn finish(&self, outcome: Option<BatchOutcome>) {
        if self.slot.outcome.set(outcome).is_ok() {
            self.slot.done.notify_waiters();
        }
    }
}

impl Drop for BatchDelivery {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// Resolves when the record's batch is acknowledged or failed: `.await` it, or poll it with
/// [`DeliveryReceiver::try_recv`].
#[derive(Debug, Clone)]
pub struct DeliveryReceiver {
    slot: Arc<Slot>,
    /// The record's index in its batch.
    index: i64,
}

impl DeliveryReceiver {
    /// The record's result if its batch has been answered (`None`: not yet).
    pub fn try_recv(&self) -> Option<std::result::Result<DeliveryResult, DeliveryClosed>> {
        self.slot.outcome.get().map(|o| self.result(o.as_ref()))
    }

    fn result(
        &self,
        outcome: Option<&BatchOutcome>,
    ) -> std::result::Result<DeliveryResult, DeliveryClosed> {
        match outcome {
            None => Err(DeliveryClosed),
            Some(Err(e)) => Ok(Err(e.clone())),
            Some(Ok((base, at))) => Ok(Ok(Delivery {
                partition: self.slot.partition,
                offset: if *base < 0 { -1 } else { base + self.index },
                acked_at: *at,
            })),
        }
    }

    /// Waits for the record's result.
    pub async fn wait(self) -> std::result::Result<DeliveryResult, DeliveryClosed> {
        loop {
            let notified = self.slot.done.notified();
            tokio::pin!(notified);
            // Registered before the check, so a resolve between the two still wakes us.
            notified.as_mut().enable();
            if let Some(r) = self.try_recv() {
                return r;
            }
            notified.await;
        }
    }
}

impl IntoFuture for DeliveryReceiver {
    type Output = std::result::Result<DeliveryResult, DeliveryClosed>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_record_gets_the_base_offset_plus_its_index() {
        let batch = BatchDelivery::new(3);
        let (r0, r2) = (batch.receiver(0), batch.receiver(2));
        assert!(r0.try_recv().is_none(), "no answer yet");
        let waiting = tokio::spawn(r2.wait());
        tokio::task::yield_now().await;
        let at = Instant::now();
        batch.resolve(Ok((40, at)));
        let d0 = r0.try_recv().expect("answered").expect("open").expect("ok");
        assert_eq!((d0.partition, d0.offset, d0.acked_at), (3, 40, at));
        let d2 = waiting.await.expect("task").expect("open").expect("ok");
        assert_eq!(d2.offset, 42);
    }

    #[tokio::test]
    async fn acks_zero_offsets_stay_unknown_and_errors_reach_every_record() {
        let batch = BatchDelivery::new(0);
        let r = batch.receiver(5);
        batch.resolve(Ok((-1, Instant::now())));
        assert_eq!(r.await.expect("open").expect("ok").offset, -1);
        let batch = BatchDelivery::new(0);
        let (a, b) = (batch.receiver(0), batch.receiver(1));
        batch.resolve(Err(Arc::new(ClientError::Invalid("boom".into()))));
        for r in [a, b] {
            assert!(r.await.expect("open").is_err());
        }
    }

    #[tokio::test]
    async fn a_batch_dropped_unanswered_closes_its_receivers() {
        let batch = BatchDelivery::new(0);
        let r = batch.receiver(0);
        let waiting = tokio::spawn(r.clone().wait());
        tokio::task::yield_now().await;
        drop(batch);
        assert!(matches!(r.try_recv(), Some(Err(DeliveryClosed))));
        assert!(matches!(waiting.await.expect("task"), Err(DeliveryClosed)));
    }
}
