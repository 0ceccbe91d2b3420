//! Time-driven work, run by [`TxnCoordinator::tick`]:
//!
//! - every `transaction.abort.timed.out.transaction.cleanup.interval.ms`, transactions open
//!   longer than their timeout are aborted with a bumped epoch, so their producer (a zombie,
//!   or just slow) is fenced (Kafka's `abortTimedOutTransactions`);
//! - every `transaction.remove.expired.transaction.cleanup.interval.ms`, ids idle in Empty,
//!   CompleteCommit or CompleteAbort for `transactional.id.expiration.ms` are expired: a
//!   tombstone is written and, once durable, the id is forgotten;
//! - on every tick, work that a failed write left behind is retried: a Complete record, or
//!   the abort of a PrepareEpochFence found on load.
//!
//! The first scans run one interval after the first tick, as Kafka schedules them.

use crate::coordinator::TxnCoordinator;
use crate::metadata::{Pending, Then};
use crate::output::Output;
use crate::state::TxnState;

impl TxnCoordinator {
    /// Runs whatever is due at `now_ms`. Call it at or after [`TxnCoordinator::next_deadline`]
    /// (calling it more often is harmless).
    pub fn tick(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        let abort_every = self.config.abort_timed_out_interval_ms.max(1);
        let expire_every = self.config.remove_expired_interval_ms.max(1);
        let abort_due = *self.next_abort_check_ms.get_or_insert(now_ms + abort_every);
        if now_ms >= abort_due {
            out.extend(self.abort_timed_out(now_ms));
            self.next_abort_check_ms = Some(now_ms + abort_every);
        }
        let expire_due = *self
            .next_expire_check_ms
            .get_or_insert(now_ms + expire_every);
        if now_ms >= expire_due {
            out.extend(self.expire_transactional_ids(now_ms));
            self.next_expire_check_ms = Some(now_ms + expire_every);
        }
        out.extend(self.retry_stalled(now_ms));
        out
    }

    /// When [`TxnCoordinator::tick`] has work next (`None` before the first tick).
    pub fn next_deadline(&self) -> Option<i64> {
        match (self.next_abort_check_ms, self.next_expire_check_ms) {
            (Some(a), Some(e)) => Some(a.min(e)),
            (a, e) => a.or(e),
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
    /// bumping its epoch to fence its producer. Transactions with a change in flight wait
    /// for the next scan.
    pub fn abort_timed_out(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        let due = self.owned_ids(|m| {
            m.state == TxnState::Ongoing
                && !m.is_pending()
                && m.txn_start_timestamp_ms + i64::from(m.txn_timeout_ms) < now_ms
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

    /// Retries what a failed write left: the Complete record of a transaction whose
    /// markers are all written, and the abort of a PrepareEpochFence found on load.
    fn retry_stalled(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        let stalled = self.owned_ids(|m| {
            matches!(&m.pending, Some(Pending::Markers { remaining, .. }) if remaining.is_empty())
                || (m.state == TxnState::PrepareEpochFence && !m.is_pending())
        });
        for (partition, id) in stalled {
            let fence = self
                .meta(partition, &id)
                .is_some_and(|m| m.state == TxnState::PrepareEpochFence);
            if fence {
                let _ = self.begin_fence(partition, &id, None, now_ms, &mut out);
            } else {
                self.begin_complete(partition, &id, now_ms, &mut out);
            }
        }
        out
    }
}
