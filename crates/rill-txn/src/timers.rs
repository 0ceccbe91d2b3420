//! Time-driven work, run by [`TxnCoordinator::tick`]:
//!
//! - every `transaction.abort.timed.out.transaction.cleanup.interval.ms`, transactions open
//!   longer than their timeout are aborted with a bumped epoch, so their producer (a zombie,
//!   or just slow) is fenced (Kafka's `abortTimedOutTransactions`);
//! - every `transaction.remove.expired.transaction.cleanup.interval.ms`, ids idle in Empty,
//!   CompleteCommit or CompleteAbort for `transactional.id.expiration.ms` are expired: a
//!   tombstone is written and, once durable, the id is forgotten;
//!   The same scan retries the abort of a PrepareEpochFence found on load whose record
//!   failed;
//! - `append_retry_backoff_ms` after a Complete record failed, it is written again.
//!
//! The scans are scheduled when the first partition is loaded (one interval later, as Kafka
//! schedules them) and stop when none is owned; [`TxnCoordinator::next_deadline`] is `None`
//! then.

use crate::coordinator::TxnCoordinator;
use crate::metadata::{Pending, Then};
use crate::output::Output;
use crate::state::TxnState;

/// Whether `due` has come at `now`.
fn is_due(due: Option<i64>, now: i64) -> bool {
    due.is_some_and(|t| now >= t)
}

impl TxnCoordinator {
    /// Runs whatever is due at `now_ms`. Call it at or after [`TxnCoordinator::next_deadline`]
    /// (calling it more often, or late, is harmless).
    pub fn tick(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        if is_due(self.next_abort_check_ms, now_ms) {
            out.extend(self.abort_timed_out(now_ms));
            self.next_abort_check_ms =
                Some(now_ms.saturating_add(self.config.abort_timed_out_interval_ms.max(1)));
        }
        if is_due(self.next_expire_check_ms, now_ms) {
            out.extend(self.expire_transactional_ids(now_ms));
            self.next_expire_check_ms =
                Some(now_ms.saturating_add(self.config.remove_expired_interval_ms.max(1)));
        }
        if is_due(self.next_retry_ms, now_ms) {
            self.next_retry_ms = None;
            out.extend(self.retry_stalled(now_ms));
        }
        out
    }

    /// When [`TxnCoordinator::tick`] has work next: the earliest of the two scans and of a
    /// retry; `None` while no partition is owned and nothing waits for a retry.
    pub fn next_deadline(&self) -> Option<i64> {
        [
            self.next_abort_check_ms,
            self.next_expire_check_ms,
            self.next_retry_ms,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Schedules the periodic scans from `now` if they are not (a partition was loaded).
    pub(crate) fn schedule_scans(&mut self, now: i64) {
        let abort = now.saturating_add(self.config.abort_timed_out_interval_ms.max(1));
        let expire = now.saturating_add(self.config.remove_expired_interval_ms.max(1));
        self.next_abort_check_ms.get_or_insert(abort);
        self.next_expire_check_ms.get_or_insert(expire);
    }

    /// Stops the periodic scans when no partition is left.
    pub(crate) fn unschedule_if_idle(&mut self) {
        if self.partitions.is_empty() {
            self.next_abort_check_ms = None;
            self.next_expire_check_ms = None;
            self.next_retry_ms = None;
        }
    }

    /// Ids of owned partitions matching `f`, sorted (so outputs are deterministic).
    fn owned_ids(&self, f: impl Fn(&crate::TxnMetadata) -> bool) -> Vec<(i32, String)> {
        let mut ids: Vec<(i32, String)> = self
            .partitions
            .iter()
            .filter(|(_, p)| !p.loading)
            .flat_map(|(i, p)| {
                p.txns
                    .values()
                    .filter(|m| f(m))
                    .map(move |m| (*i, m.transactional_id.clone()))
            })
            .collect();
        ids.sort();
        ids
    }

    /// Aborts every transaction open longer than its timeout (start + timeout < now),
    /// bumping its epoch to fence its producer, and every PrepareEpochFence left by a load.
    /// Transactions with a change in flight wait for the next scan.
    pub fn abort_timed_out(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        let due = self.owned_ids(|m| {
            !m.is_pending()
                && (m.state == TxnState::PrepareEpochFence
                    || (m.state == TxnState::Ongoing
                        && m.txn_start_timestamp_ms
                            .saturating_add(i64::from(m.txn_timeout_ms))
                            < now_ms))
        });
        for (partition, id) in due {
            // A fence that cannot be prepared (epoch overflow) is left to the next scan.
            let _ = self.begin_fence(partition, &id, None, now_ms, &mut out);
        }
        out
    }

    /// Expires ids idle in Empty, CompleteCommit or CompleteAbort since
    /// `now - transactional.id.expiration.ms` or earlier: one tombstone each.
    pub fn expire_transactional_ids(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        let horizon = now_ms.saturating_sub(self.config.transactional_id_expiration_ms);
        let due = self.owned_ids(|m| {
            m.state.is_expiration_allowed()
                && !m.is_pending()
                && m.txn_last_update_timestamp_ms <= horizon
        });
        for (partition, id) in due {
            let Some(meta) = self.meta(partition, &id) else {
                continue;
            };
            if let Ok(transit) = meta.prepare_dead() {
                self.begin_write(partition, &id, transit, Then::Expire, &mut out);
            }
        }
        out
    }

    /// Retries the Complete record of every transaction whose markers are all written but
    /// whose Complete record failed.
    pub(crate) fn retry_stalled(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        let stalled = self.owned_ids(
            |m| matches!(&m.pending, Some(Pending::Markers { remaining, .. }) if remaining.is_empty()),
        );
        for (partition, id) in stalled {
            self.begin_complete(partition, &id, now_ms, &mut out);
        }
        out
    }
}
