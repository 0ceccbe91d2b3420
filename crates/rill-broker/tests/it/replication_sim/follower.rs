//! The replica fetcher of a simulated broker, one link per leader, following the rounds of
//! `replica/fetcher.rs`: partitions that must find their divergence point ask
//! OffsetForLeaderEpoch (`fetcher::epoch_to_ask`) and truncate
//! (`fetcher::truncate_to_divergence`), then the others fetch from their log end and the
//! answer goes through the real `fetcher::apply_fetch`. One request in flight per link; a
//! request without answer within the timeout fails the round (backoff, cut short by a
//! metadata change like the real `assignment.changed`).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::fetch_response::PartitionData;
use rill_broker::replica::fetcher;
use rill_broker::replica::Partition;

use crate::replication_sim::broker::SimBroker;
use crate::replication_sim::ctx::Ctx;
use crate::replication_sim::msg::{EpochAnswer, EpochPart, FetchPart, Msg, NodeId, Timer};

/// Where a link's round is.
#[derive(Debug)]
pub enum LinkState {
    /// Waiting for `due` to start the next round.
    Idle {
        /// When the next round starts.
        due: i64,
    },
    /// OffsetForLeaderEpoch sent.
    Epoch {
        /// Request id.
        req: u64,
        /// When the round fails.
        deadline: i64,
        /// The round's partitions.
        round: Vec<(u32, Arc<Partition>)>,
        /// Per partition asked: (partition, leader epoch followed in, epoch asked).
        asked: BTreeMap<u32, (Arc<Partition>, i32, i32)>,
    },
    /// Fetch sent.
    Fetch {
        /// Request id.
        req: u64,
        /// When the round fails.
        deadline: i64,
        /// Per partition fetched: (partition, leader epoch it was fetched in).
        sent: BTreeMap<u32, (Arc<Partition>, i32)>,
    },
}

/// The fetcher following one leader.
#[derive(Debug)]
pub struct Link {
    /// The round's state.
    pub state: LinkState,
    /// A metadata change arrived during the round (the real `Notify` permit): the next
    /// backoff is skipped.
    pub changed: bool,
}

impl SimBroker {
    /// `FetcherManager::update`: one link per leader followed; links without partitions stop.
    pub fn update_fetchers(&mut self, ctx: &mut Ctx) {
        let mut wanted: Vec<NodeId> = Vec::new();
        for p in self.partitions.values() {
            let st = p.replica_state();
            if st.is_follower() && !wanted.contains(&st.leader) {
                wanted.push(st.leader);
            }
        }
        self.links.retain(|leader, _| wanted.contains(leader));
        let now = ctx.now();
        for leader in wanted {
            let link = self.links.entry(leader).or_insert(Link {
                state: LinkState::Idle { due: now },
                changed: false,
            });
            match &mut link.state {
                LinkState::Idle { due } => {
                    *due = (*due).min(now);
                    ctx.timer(self.id, self.incarnation, 0, Timer::FetchRound(leader));
                }
                _ => link.changed = true,
            }
        }
    }

    /// The partitions followed from `leader` now.
    fn followed_from(&self, leader: NodeId) -> Vec<(u32, Arc<Partition>)> {
        self.partitions
            .iter()
            .filter(|(_, p)| {
                let st = p.replica_state();
                st.is_follower() && st.leader == leader
            })
            .map(|(i, p)| (*i, p.clone()))
            .collect()
    }

    /// The link's timer: start a round if it is due.
    pub fn on_fetch_round(&mut self, leader: NodeId, ctx: &mut Ctx) {
        let now = ctx.now();
        let due = match self.links.get(&leader).map(|l| &l.state) {
            Some(LinkState::Idle { due }) => *due,
            _ => return,
        };
        if due > now {
            return;
        }
        let round = self.followed_from(leader);
        if round.is_empty() {
            self.set_idle(leader, i64::MAX, ctx);
            return;
        }
        let mut asked = BTreeMap::new();
        for (i, p) in round.iter().filter(|(_, p)| p.needs_truncation()) {
            let epoch = p.replica_state().leader_epoch;
            match fetcher::epoch_to_ask(p, leader, epoch) {
                Ok(None) => ctx.log(
                    self.id,
                    format!(
                        "p{i} has no epochs: truncated to its high watermark {}",
                        p.high_watermark()
                    ),
                ),
                Ok(Some(latest)) => {
                    asked.insert(*i, (p.clone(), epoch, latest));
                }
                Err(e) => {
                    ctx.log(self.id, format!("p{i} truncation failed: {e}"));
                    return self.round_failed(leader, ctx);
                }
            }
        }
        if asked.is_empty() {
            return self.send_fetch(leader, &round, ctx);
        }
        let parts = asked
            .iter()
            .map(|(i, (_, epoch, latest))| EpochPart {
                partition: *i,
                current_leader_epoch: *epoch,
                asked_epoch: *latest,
            })
            .collect();
        let req = self.req_id();
        ctx.count("OffsetForLeaderEpoch requests");
        ctx.log(
            self.id,
            format!("asks b{leader} OffsetForLeaderEpoch: {parts:?}"),
        );
        ctx.send(self.id, leader, Msg::EpochQuery { req, parts });
        self.links.entry(leader).and_modify(|l| {
            l.state = LinkState::Epoch {
                req,
                deadline: now + ctx.cfg.request_timeout_ms,
                round,
                asked,
            }
        });
    }

    /// The second half of a round: fetch every partition of it not waiting to truncate.
    fn send_fetch(&mut self, leader: NodeId, round: &[(u32, Arc<Partition>)], ctx: &mut Ctx) {
        let ready: Vec<&(u32, Arc<Partition>)> = round
            .iter()
            .filter(|(_, p)| !p.needs_truncation())
            .collect();
        if ready.is_empty() {
            return self.set_idle(leader, ctx.now(), ctx);
        }
        let mut parts = Vec::new();
        let mut sent = BTreeMap::new();
        for (i, p) in ready {
            let epoch = p.replica_state().leader_epoch;
            parts.push(FetchPart {
                partition: *i,
                current_leader_epoch: epoch,
                fetch_offset: p.log_end_offset().expect("log end"),
                log_start_offset: p.log_start_offset().expect("log start"),
            });
            sent.insert(*i, (p.clone(), epoch));
        }
        let req = self.req_id();
        ctx.debug(self.id, || format!("fetches from b{leader}: {parts:?}"));
        ctx.send(self.id, leader, Msg::Fetch { req, parts });
        let deadline = ctx.now() + ctx.cfg.fetch_max_wait_ms + ctx.cfg.request_timeout_ms;
        if let Some(l) = self.links.get_mut(&leader) {
            l.state = LinkState::Fetch {
                req,
                deadline,
                sent,
            };
        }
    }

    /// The leader's OffsetForLeaderEpoch answer: truncate, then fetch in the same round.
    pub fn on_epoch_reply(
        &mut self,
        leader: NodeId,
        req: u64,
        parts: &[EpochAnswer],
        ctx: &mut Ctx,
    ) {
        let Some(link) = self.links.get_mut(&leader) else {
            return;
        };
        let (round, asked) = match &mut link.state {
            LinkState::Epoch {
                req: r,
                round,
                asked,
                ..
            } if *r == req => (std::mem::take(round), std::mem::take(asked)),
            _ => return,
        };
        for a in parts {
            let Some((p, epoch, asked_epoch)) = asked.get(&a.partition) else {
                continue;
            };
            if a.error_code != 0 {
                ctx.count("OffsetForLeaderEpoch refused");
                continue;
            }
            let (end_before, hw_before) =
                (p.log_end_offset().expect("log end"), p.high_watermark());
            if let Err(e) = fetcher::truncate_to_divergence(
                p,
                leader,
                *epoch,
                *asked_epoch,
                a.leader_epoch,
                a.end_offset,
            ) {
                ctx.log(self.id, format!("p{} truncation failed: {e}", a.partition));
                continue;
            }
            let end_after = p.log_end_offset().expect("log end");
            if end_after < end_before {
                ctx.count("divergent tails truncated");
            }
            ctx.log(
                self.id,
                format!(
                    "p{} truncated for b{leader} epoch {epoch}: asked epoch {asked_epoch}, leader says ({}, {}); log end {end_before} -> {}, high watermark {hw_before} -> {}",
                    a.partition,
                    a.leader_epoch,
                    a.end_offset,
                    p.log_end_offset().expect("log end"),
                    p.high_watermark()
                ),
            );
        }
        self.send_fetch(leader, &round, ctx);
    }

    /// The leader's Fetch answer, applied by the real `fetcher::apply_fetch`.
    pub fn on_fetch_reply(
        &mut self,
        leader: NodeId,
        req: u64,
        parts: Vec<(u32, PartitionData)>,
        ctx: &mut Ctx,
    ) {
        let Some(link) = self.links.get_mut(&leader) else {
            return;
        };
        let sent = match &mut link.state {
            LinkState::Fetch { req: r, sent, .. } if *r == req => std::mem::take(sent),
            _ => return,
        };
        let mut answers = Vec::new();
        for (i, pd) in parts {
            if let Some((p, epoch)) = sent.get(&i) {
                if pd.error_code != 0 {
                    ctx.debug(self.id, || {
                        format!("p{i} fetch from b{leader} refused: {}", pd.error_code)
                    });
                }
                answers.push((p.clone(), *epoch, pd));
            }
        }
        let outcome = fetcher::apply_fetch(leader, answers);
        let pause = if outcome.retry_later {
            ctx.cfg.fetch_backoff_ms.min(200)
        } else {
            0
        };
        self.set_idle(leader, ctx.now() + pause, ctx);
    }

    /// Fails rounds whose answer did not come in time.
    pub fn follower_timeouts(&mut self, ctx: &mut Ctx) {
        let now = ctx.now();
        let late: Vec<NodeId> = self
            .links
            .iter()
            .filter(|(_, l)| match l.state {
                LinkState::Epoch { deadline, .. } | LinkState::Fetch { deadline, .. } => {
                    now >= deadline
                }
                LinkState::Idle { .. } => false,
            })
            .map(|(leader, _)| *leader)
            .collect();
        for leader in late {
            ctx.debug(self.id, || format!("fetch from b{leader} timed out"));
            self.round_failed(leader, ctx);
        }
    }

    /// A failed round: back off, unless a metadata change already came.
    fn round_failed(&mut self, leader: NodeId, ctx: &mut Ctx) {
        let changed = self
            .links
            .get_mut(&leader)
            .is_some_and(|l| std::mem::take(&mut l.changed));
        let due = if changed {
            ctx.now()
        } else {
            ctx.now() + ctx.cfg.fetch_backoff_ms
        };
        self.set_idle(leader, due, ctx);
    }

    fn set_idle(&mut self, leader: NodeId, due: i64, ctx: &mut Ctx) {
        if let Some(l) = self.links.get_mut(&leader) {
            l.state = LinkState::Idle { due };
            if due != i64::MAX {
                ctx.timer(
                    self.id,
                    self.incarnation,
                    due - ctx.now(),
                    Timer::FetchRound(leader),
                );
            }
        }
    }
}
