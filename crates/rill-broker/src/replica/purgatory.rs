//! The purgatory of delayed produces and fetches, keyed by partition (Kafka's
//! `DelayedOperationPurgatory` watched per `TopicPartition`).
//!
//! Each partition carries its own [`Watchers`]: an event on a partition wakes only the
//! operations that wait on that partition, never every parked request of the broker.
//!
//! - `committed` is woken when the partition's high watermark, ISR or role changes, or when
//!   its first unstable offset rises (a transaction ended: the last stable offset may move
//!   without the high watermark): acks=all produces (`Partition::wait_committed`) and
//!   consumer fetches wait on it.
//! - `appended` is woken after every leader append: follower fetches (which read up to the log
//!   end) wait on it.
//!
//! A delayed fetch registers on the watchers of every partition it reads ([`FetchWatch`])
//! *before* it reads them, so an event between its read and its wait is not missed; it is
//! completed when one of its partitions signals (then it reads again and answers once it has
//! `min_bytes`), or at its max wait.
//!
//! Thread-safety: `tokio::sync::Notify` only; waking takes no lock of the partition.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Partition;

/// What delayed operations on one partition wait for.
#[derive(Debug, Default)]
pub struct Watchers {
    /// Woken when the high watermark, the ISR or the role changes, or the first unstable
    /// offset rises (acks=all produces, consumer fetches).
    pub(crate) committed: Notify,
    /// Woken after every leader append (follower fetches).
    pub(crate) appended: Notify,
}

impl Watchers {
    /// The event a fetch waits for: appends for a follower, commits for a consumer.
    fn for_fetch(&self, follower: bool) -> &Notify {
        if follower {
            &self.appended
        } else {
            &self.committed
        }
    }
}

/// A delayed fetch's registration on the watchers of the partitions it reads.
pub struct FetchWatch<'a> {
    /// One enabled registration per partition read (the same partition named twice is
    /// registered twice, which costs nothing more than a slot).
    waits: Vec<Pin<Box<Notified<'a>>>>,
}

impl<'a> FetchWatch<'a> {
    /// Registers on `partitions` (appends for a follower fetch, commits for a consumer
    /// fetch). Call before reading them: an event after this call wakes [`FetchWatch::wait`].
    pub fn register(partitions: impl IntoIterator<Item = &'a Partition>, follower: bool) -> Self {
        let waits = partitions
            .into_iter()
            .map(|p| {
                let mut n = Box::pin(p.watchers().for_fetch(follower).notified());
                n.as_mut().enable();
                n
            })
            .collect();
        FetchWatch { waits }
    }

    /// Waits until one of the partitions signals or `deadline` passes. Returns whether a
    /// partition signalled.
    pub async fn wait(self, deadline: Instant) -> bool {
        if self.waits.is_empty() {
            tokio::time::sleep_until(deadline).await;
            return false;
        }
        tokio::time::timeout_at(deadline, AnyOf(self.waits))
            .await
            .is_ok()
    }
}

/// Ready when any of its registrations is notified.
struct AnyOf<'a>(Vec<Pin<Box<Notified<'a>>>>);

impl Future for AnyOf<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        for n in self.0.iter_mut() {
            if n.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_notify_after_registration_is_not_missed() {
        let w = Watchers::default();
        let mut n = Box::pin(w.committed.notified());
        n.as_mut().enable();
        w.committed.notify_waiters();
        let deadline = Instant::now() + Duration::from_secs(5);
        let woken = tokio::time::timeout_at(deadline, AnyOf(vec![n])).await;
        assert!(woken.is_ok());
    }

    #[tokio::test]
    async fn another_partitions_event_does_not_wake() {
        let (mine, other) = (Watchers::default(), Watchers::default());
        let mut n = Box::pin(mine.committed.notified());
        n.as_mut().enable();
        other.committed.notify_waiters();
        mine.appended.notify_waiters();
        let deadline = Instant::now() + Duration::from_millis(100);
        let woken = tokio::time::timeout_at(deadline, AnyOf(vec![n])).await;
        assert!(woken.is_err(), "woken by an event it does not wait for");
    }
}
