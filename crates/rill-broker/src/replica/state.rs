//! One partition's replication state as a pure value: which role this broker plays (from
//! the metadata image), and on the leader each follower's progress, the high watermark rule
//! and the ISR changes to ask the controller for.
//!
//! No I/O, no clock, no locks: [`super::Partition`] holds it behind a mutex and passes the
//! time in, so the rules can be tested (and simulated) on their own.

use std::collections::HashMap;

use rill_meta::PartitionImage;

/// What a follower has shown the leader by fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end offset (its last fetch offset); -1 until it fetches.
    pub log_end_offset: i64,
    /// When the follower last had everything the leader had (Kafka's lastCaughtUpTimeMs).
    pub last_caught_up_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    last_fetch_leader_end: i64,
    /// When the follower previously fetched.
    last_fetch_ms: i64,
    /// The follower's log start offset as its fetches report it; -1 until known.
    pub log_start_offset: i64,
}

impl FollowerProgress {
    fn unknown(last_caught_up_ms: i64) -> Self {
        FollowerProgress {
            log_end_offset: -1,
            last_caught_up_ms,
            last_fetch_leader_end: -1,
            last_fetch_ms: -1,
            log_start_offset: -1,
        }
    }
}

/// How applying a new partition image changed this broker's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// This broker leads now (a new leader epoch).
    BecameLeader,
    /// This broker follows now (a new leader or epoch): it must find its divergence point.
    BecameFollower,
    /// Same role and epoch; ISR or replicas may have changed.
    Unchanged,
}

/// One partition's replication state on this broker.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    /// This broker's id.
    pub local: i32,
    /// The leader (-1: none).
    pub leader: i32,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The partition epoch (AlterPartition requests carry it).
    pub partition_epoch: i32,
    /// Replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// The committed in-sync replica set.
    pub isr: Vec<i32>,
    /// An ISR change asked for and not yet seen committed.
    pub pending_isr: Option<Vec<i32>>,
    /// Leader: each follower's progress.
    pub followers: HashMap<i32, FollowerProgress>,
    /// Leader: the log end offset when this epoch began (followers must pass it to join the ISR).
    pub epoch_start_offset: i64,
    /// Follower: the leader's high watermark as last reported (-1 unknown).
    pub leader_high_watermark: i64,
    /// Follower: the divergence point must be found before fetching again.
    pub needs_truncation: bool,
    /// Whether an image was applied yet.
    initialized: bool,
}

impl ReplicaState {
    /// State before any image was applied.
    pub fn new(local: i32) -> Self {
        ReplicaState {
            local,
            leader: -1,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            pending_isr: None,
            followers: HashMap::new(),
            epoch_start_offset: 0,
            leader_high_watermark: -1,
            needs_truncation: false,
            initialized: false,
        }
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.initialized && self.leader == self.local
    }

    /// Whether this broker follows a live leader.
    pub fn is_follower(&self) -> bool {
        self.initialized && self.leader != self.local && self.leader >= 0
    }

    /// Takes the partition's state from the metadata image. `log_end` is the local log end
    /// offset (a new leader's epoch starts there). A partition of a lone node without replica
    /// assignment is led by this broker alone.
    pub fn apply(&mut self, image: &PartitionImage, log_end: i64, now_ms: i64) -> Transition {
        let (replicas, isr, leader) = if image.replicas.is_empty() {
            (vec![self.local], vec![self.local], self.local)
        } else {
            (image.replicas.clone(), image.isr.clone(), image.leader)
        };
        let new_epoch = !self.initialized || image.leader_epoch != self.leader_epoch;
        let was_leader = self.is_leader();
        let transition = if leader == self.local && (new_epoch || !was_leader) {
            Transition::BecameLeader
        } else if leader != self.local && (new_epoch || was_leader) {
            Transition::BecameFollower
        } else {
            Transition::Unchanged
        };
        if image.partition_epoch != self.partition_epoch {
            // Our request was applied or superseded: either way it is no longer pending.
            self.pending_isr = None;
        }
        self.initialized = true;
        self.leader = leader;
        self.leader_epoch = image.leader_epoch;
        self.partition_epoch = image.partition_epoch;
        self.replicas = replicas;
        self.isr = isr;
        match transition {
            Transition::BecameLeader => {
                self.epoch_start_offset = log_end;
                self.pending_isr = None;
                self.needs_truncation = false;
                self.followers = self
                    .replicas
                    .iter()
                    .filter(|r| **r != self.local)
                    .map(|r| {
                        let caught_up = if self.isr.contains(r) { now_ms } else { -1 };
                        (*r, FollowerProgress::unknown(caught_up))
                    })
                    .collect();
            }
            Transition::BecameFollower => {
                self.followers.clear();
                self.pending_isr = None;
                self.needs_truncation = true;
                self.leader_high_watermark = -1;
            }
            Transition::Unchanged => {
                let local = self.local;
                let replicas = self.replicas.clone();
                self.followers
                    .retain(|r, _| replicas.contains(r) && *r != local);
                for r in replicas.iter().filter(|r| **r != local) {
                    self.followers
                        .entry(*r)
                        .or_insert_with(|| FollowerProgress::unknown(-1));
                }
            }
        }
        transition
    }

    /// Leader: a follower fetched from `fetch_offset` while the leader's log ended at
    /// `leader_end`. A fetch at or past the leader's end, or past what the leader had at the
    /// follower's previous fetch, counts as caught up (Kafka's rule).
    pub fn record_fetch(&mut self, replica: i32, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        let p = self
            .followers
            .entry(replica)
            .or_insert_with(|| FollowerProgress::unknown(-1));
        if fetch_offset >= leader_end {
            p.last_caught_up_ms = now_ms;
        } else if p.last_fetch_leader_end >= 0 && fetch_offset >= p.last_fetch_leader_end {
            p.last_caught_up_ms = p.last_caught_up_ms.max(p.last_fetch_ms);
        }
        p.last_fetch_leader_end = leader_end;
        p.last_fetch_ms = now_ms;
        p.log_end_offset = fetch_offset;
    }

    /// Leader: a follower's log start offset from its fetch (ignored when -1: not sent).
    /// Returns whether it changed.
    pub fn record_log_start(&mut self, replica: i32, log_start_offset: i64) -> bool {
        if log_start_offset < 0 {
            return false;
        }
        let p = self
            .followers
            .entry(replica)
            .or_insert_with(|| FollowerProgress::unknown(-1));
        let changed = p.log_start_offset != log_start_offset;
        p.log_start_offset = log_start_offset;
        changed
    }

    /// Leader: the low watermark given this broker's log start: the smallest log start
    /// offset over the committed ISR (a follower that never reported one counts as -1).
    pub fn low_watermark(&self, local_log_start: i64) -> i64 {
        self.isr
            .iter()
            .filter(|r| **r != self.local)
            .map(|r| self.followers.get(r).map_or(-1, |p| p.log_start_offset))
            .fold(local_log_start, i64::min)
    }

    /// Members the high watermark waits for: the committed ISR plus a pending expansion
    /// (Kafka's "maximal ISR"), so an ISR change in flight can only make it stricter.
    fn maximal_isr(&self) -> impl Iterator<Item = i32> + '_ {
        let pending = self.pending_isr.iter().flatten();
        self.isr
            .iter()
            .chain(pending.filter(move |r| !self.isr.contains(r)))
            .copied()
    }

    /// Leader: the high watermark the followers allow, given this broker's own durable end
    /// offset: the smallest log end offset of the maximal ISR.
    pub fn high_watermark(&self, local_durable_end: i64) -> i64 {
        self.maximal_isr()
            .filter(|r| *r != self.local)
            .map(|r| self.followers.get(&r).map_or(-1, |p| p.log_end_offset))
            .fold(local_durable_end, i64::min)
    }

    /// Leader: the ISR to ask for now, if any: followers that have not caught up for
    /// `lag_max_ms` leave, followers that reached the high watermark (and this epoch's start)
    /// join. Marks it pending; at most one change is in flight.
    pub fn isr_proposal(
        &mut self,
        high_watermark: i64,
        now_ms: i64,
        lag_max_ms: i64,
    ) -> Option<Vec<i32>> {
        if !self.is_leader() || self.pending_isr.is_some() {
            return None;
        }
        let lagging = |r: &i32| {
            self.followers
                .get(r)
                .is_none_or(|p| now_ms - p.last_caught_up_ms > lag_max_ms)
        };
        // Caught up, and fetching: a follower that stopped (a dead or fenced broker) keeps
        // its last offset, which an idle partition's watermark never passes; without the
        // recency check it was proposed again at every tick, and each refused proposal went
        // through the metadata log.
        let joining = |r: &i32| {
            self.followers.get(r).is_some_and(|p| {
                p.log_end_offset >= high_watermark
                    && p.log_end_offset >= self.epoch_start_offset
                    && p.last_fetch_ms >= 0
                    && now_ms - p.last_fetch_ms <= lag_max_ms
            })
        };
        let next: Vec<i32> = self
            .replicas
            .iter()
            .copied()
            .filter(|r| {
                *r == self.local
                    || (self.isr.contains(r) && !lagging(r))
                    || (!self.isr.contains(r) && joining(r))
            })
            .collect();
        let mut current = self.isr.clone();
        current.sort_unstable();
        let mut proposed = next.clone();
        proposed.sort_unstable();
        if proposed == current {
            return None;
        }
        self.pending_isr = Some(next.clone());
        Some(next)
    }

    /// Leader: the pending ISR change, to ask for again when its outcome is unknown (the
    /// commit got no answer). Until the image shows a new partition epoch or the change is
    /// refused, it stays pending: an expansion may already be committed.
    pub fn pending_isr_retry(&self) -> Option<Vec<i32>> {
        self.pending_isr.clone().filter(|_| self.is_leader())
    }

    /// Forgets a pending ISR change the controller refused, so the next check may ask again.
    pub fn clear_pending(&mut self) {
        self.pending_isr = None;
    }
}

/// Where a follower truncates in one step of the divergence search (KIP-101, KIP-279).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Divergence {
    /// Remove everything at and above this offset.
    pub offset: i64,
    /// Whether the logs agree below `offset`, so fetching may start there. `false` when the
    /// follower does not have the epoch the leader answered with: it truncates to the end of
    /// its own older epoch and asks again with its (now older) latest epoch.
    pub found: bool,
}

/// Follower: where its log stops agreeing with the leader's, from the leader's answer to
/// "where does epoch `asked_epoch` end": (`leader_epoch`, `leader_end`), the largest epoch
/// `<= asked_epoch` the leader has and where it ends there. `local_for_leader_epoch` is the
/// local epoch cache's answer for `leader_epoch`: (largest local epoch `<=` it, its end).
/// Kafka's rule (`AbstractFetcherThread.getOffsetTruncationState`):
///
/// - The leader has no such epoch (`-1`): keep only what is known committed, the local high
///   watermark.
/// - Same epoch: its end on the leader, or the local end if shorter.
/// - An older epoch the follower also has: the smallest of the leader's end of it, the local
///   end of it and the local end.
/// - An older epoch the follower does not have: truncate to the end of the follower's
///   largest epoch below it and ask again (not found yet); the asked epoch goes down at
///   every step, so the search ends.
///
/// Pure: the fetcher and the replication simulation both call it.
pub fn divergence_offset(
    asked_epoch: i32,
    leader_epoch: i32,
    leader_end: i64,
    local_end: i64,
    local_high_watermark: i64,
    local_for_leader_epoch: (i32, i64),
) -> Divergence {
    let found = |offset: i64| Divergence {
        offset,
        found: true,
    };
    if leader_epoch < 0 || leader_end < 0 {
        return found(local_high_watermark.min(local_end));
    }
    if leader_epoch == asked_epoch {
        return found(leader_end.min(local_end));
    }
    let (local_epoch, local_epoch_end) = local_for_leader_epoch;
    if local_epoch_end < 0 {
        // No local epoch at or below the leader's (Kafka: "not tracking epochs then").
        return found(leader_end.min(local_end));
    }
    if local_epoch != leader_epoch {
        return Divergence {
            offset: local_epoch_end.min(local_end),
            found: false,
        };
    }
    found(leader_end.min(local_epoch_end).min(local_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(leader: i32, epoch: i32, isr: &[i32]) -> PartitionImage {
        PartitionImage {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch: epoch,
            partition_epoch: epoch,
            ..Default::default()
        }
    }

    #[test]
    fn a_lone_node_partition_is_led_alone_and_its_watermark_is_its_durable_end() {
        let mut s = ReplicaState::new(7);
        let t = s.apply(&PartitionImage::default(), 10, 0);
        assert_eq!(t, Transition::BecameLeader);
        assert_eq!(s.high_watermark(10), 10);
        assert_eq!(s.isr_proposal(10, 100_000, 30_000), None);
    }

    #[test]
    fn the_watermark_waits_for_every_isr_member() {
        let mut s = ReplicaState::new(1);
        assert_eq!(
            s.apply(&image(1, 0, &[1, 2, 3]), 0, 0),
            Transition::BecameLeader
        );
        assert_eq!(s.high_watermark(5), -1, "followers have not fetched yet");
        s.record_fetch(2, 5, 5, 10);
        s.record_fetch(3, 3, 5, 10);
        assert_eq!(s.high_watermark(5), 3);
        assert_eq!(
            s.high_watermark(2),
            2,
            "the leader's own durable end bounds it too"
        );
        s.record_fetch(3, 5, 5, 20);
        assert_eq!(s.high_watermark(5), 5);
    }

    #[test]
    fn a_lagging_follower_is_proposed_out_and_back_in_once_caught_up() {
        let mut s = ReplicaState::new(1);
        s.apply(&image(1, 0, &[1, 2, 3]), 0, 0);
        s.record_fetch(2, 0, 0, 0);
        s.record_fetch(3, 0, 0, 0);
        // Broker 3 stops fetching; broker 2 keeps up.
        for t in 1..=40 {
            s.record_fetch(2, t, t, t * 1000);
        }
        assert_eq!(s.isr_proposal(40, 40_000, 30_000), Some(vec![1, 2]));
        assert_eq!(
            s.isr_proposal(40, 40_000, 30_000),
            None,
            "one change in flight"
        );
        let mut committed = image(1, 0, &[1, 2]);
        committed.partition_epoch = 1;
        assert_eq!(s.apply(&committed, 40, 40_001), Transition::Unchanged);
        assert_eq!(s.pending_isr, None);
        assert_eq!(
            s.high_watermark(40),
            40,
            "the removed follower no longer holds it back"
        );
        // Broker 3 fetches below the watermark: not yet back in.
        s.record_fetch(3, 20, 40, 41_000);
        assert_eq!(s.isr_proposal(40, 41_000, 30_000), None);
        s.record_fetch(3, 40, 40, 42_000);
        assert_eq!(s.isr_proposal(40, 42_000, 30_000), Some(vec![1, 2, 3]));
        // While the expansion is pending, the watermark already waits for broker 3.
        s.record_fetch(2, 45, 45, 43_000);
        assert_eq!(s.high_watermark(45), 40);
    }

    #[test]
    fn a_follower_that_stopped_fetching_is_not_proposed_back_on_an_idle_partition() {
        let mut s = ReplicaState::new(1);
        s.apply(&image(1, 0, &[1, 2]), 0, 0);
        s.record_fetch(2, 40, 40, 1_000);
        // Broker 3 reached the end once, then died: the watermark never moved past it.
        s.record_fetch(3, 40, 40, 1_000);
        assert_eq!(s.isr_proposal(40, 31_000, 30_000), Some(vec![1, 2, 3]));
        s.clear_pending();
        s.record_fetch(2, 40, 40, 40_000);
        assert_eq!(
            s.isr_proposal(40, 40_000, 30_000),
            None,
            "its last fetch is older than replica.lag.time.max.ms"
        );
        s.record_fetch(3, 40, 40, 41_000);
        assert_eq!(s.isr_proposal(40, 41_000, 30_000), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_follower_that_trails_a_busy_leader_still_counts_as_caught_up() {
        let mut s = ReplicaState::new(1);
        s.apply(&image(1, 0, &[1, 2]), 0, 0);
        // Each fetch reaches what the leader had at the previous fetch.
        let mut leader_end = 10;
        s.record_fetch(2, 0, leader_end, 0);
        for t in 1..100 {
            let prev = leader_end;
            leader_end += 10;
            s.record_fetch(2, prev, leader_end, t * 1000);
        }
        assert_eq!(s.isr_proposal(0, 100_000, 30_000), None);
    }

    #[test]
    fn a_new_epoch_makes_a_follower_truncate_and_a_leader_reset_progress() {
        let mut s = ReplicaState::new(2);
        assert_eq!(
            s.apply(&image(1, 0, &[1, 2, 3]), 0, 0),
            Transition::BecameFollower
        );
        assert!(s.needs_truncation);
        s.needs_truncation = false;
        assert_eq!(s.apply(&image(1, 0, &[1, 2]), 0, 0), Transition::Unchanged);
        assert!(!s.needs_truncation);
        assert_eq!(
            s.apply(&image(3, 1, &[2, 3]), 0, 0),
            Transition::BecameFollower
        );
        assert_eq!(
            s.apply(&image(2, 2, &[2, 3]), 50, 9),
            Transition::BecameLeader
        );
        assert_eq!(s.epoch_start_offset, 50);
        assert_eq!(s.followers[&3].log_end_offset, -1);
        assert_eq!(s.followers[&3].last_caught_up_ms, 9);
    }

    #[test]
    fn an_expansion_without_answer_stays_pending_and_keeps_holding_the_watermark() {
        let mut s = ReplicaState::new(1);
        s.apply(&image(1, 0, &[1, 2]), 0, 0);
        s.record_fetch(2, 10, 10, 0);
        s.record_fetch(3, 10, 10, 0);
        assert_eq!(s.isr_proposal(10, 0, 30_000), Some(vec![1, 2, 3]));
        // The commit got no answer: the same change is asked for again, and broker 3 (maybe
        // in the ISR already) still holds the watermark back.
        assert_eq!(s.pending_isr_retry(), Some(vec![1, 2, 3]));
        s.record_fetch(2, 20, 20, 1);
        assert_eq!(s.high_watermark(20), 10);
        let mut committed = image(1, 0, &[1, 2, 3]);
        committed.partition_epoch = 1;
        s.apply(&committed, 20, 2);
        assert_eq!(s.pending_isr_retry(), None, "the image shows the outcome");
        assert_eq!(s.high_watermark(20), 10);
    }

    #[test]
    fn the_divergence_point_follows_kafkas_rule() {
        let found = |offset| Divergence {
            offset,
            found: true,
        };
        // (asked, leader's answer, local end, local HW, local answer for the leader's epoch)
        // The leader knows nothing of the epoch: keep the high watermark.
        assert_eq!(divergence_offset(3, -1, -1, 50, 20, (-1, -1)), found(20));
        // Same epoch: the shorter of the two ends.
        assert_eq!(divergence_offset(3, 3, 40, 50, 20, (3, 50)), found(40));
        assert_eq!(divergence_offset(3, 3, 60, 50, 20, (3, 50)), found(50));
        // The leader's latest epoch <= 3 is 2, which ends at 30 there and 35 here.
        assert_eq!(divergence_offset(3, 2, 30, 50, 20, (2, 35)), found(30));
        assert_eq!(divergence_offset(3, 2, 45, 50, 20, (2, 35)), found(35));
        // KIP-279: the leader answers epoch 2, which this log never had (its epochs are 1
        // then 3): cut to where epoch 1 ends here and ask again with epoch 1.
        assert_eq!(
            divergence_offset(3, 2, 30, 50, 20, (1, 25)),
            Divergence {
                offset: 25,
                found: false
            }
        );
        // No local epoch at or below the leader's.
        assert_eq!(divergence_offset(3, 2, 30, 50, 20, (-1, -1)), found(30));
    }
}
