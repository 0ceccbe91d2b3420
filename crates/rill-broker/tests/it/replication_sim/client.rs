//! The client: a producer of acks=all batches (real RecordBatch v2 bytes) to whichever broker
//! it believes leads each partition, a few in flight per partition, and a consumer reading
//! every partition from the same leaders; leaders are learned from Metadata answers of any
//! broker (which may be stale) and refreshed after an error or a timeout. What it is
//! acknowledged and what it reads are handed to the checker.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_log::testutil::{build_batch, BatchSpec};

use crate::replication_sim::ctx::Ctx;
use crate::replication_sim::msg::{Msg, NodeId, Timer, CLIENT};

/// How often the client considers sending.
const TICK_MS: i64 = 20;
/// Produces in flight per partition.
const MAX_IN_FLIGHT: usize = 2;

/// An acknowledged batch.
#[derive(Debug, Clone)]
pub struct Ack {
    /// Partition index.
    pub partition: u32,
    /// The offset the leader gave it.
    pub base_offset: i64,
    /// The batch as sent.
    pub batch: Vec<u8>,
    /// The leader that acknowledged it.
    pub leader: NodeId,
    /// When (relative simulated ms).
    pub at: i64,
}

/// What the consumer got for one fetch.
#[derive(Debug, Clone)]
pub struct Read {
    /// Partition index.
    pub partition: u32,
    /// The position fetched from.
    pub offset: i64,
    /// The broker that answered.
    pub from: NodeId,
    /// Its error code.
    pub error_code: i16,
    /// The batches read.
    pub records: Vec<u8>,
    /// The answering broker's log end.
    pub log_end: i64,
}

#[derive(Debug)]
struct InFlight {
    partition: u32,
    batch: Vec<u8>,
    to: NodeId,
    deadline: i64,
}

/// The client.
pub struct SimClient {
    /// Believed leader per partition (-1: unknown).
    leaders: Vec<NodeId>,
    in_flight: BTreeMap<u64, InFlight>,
    /// Metadata request in flight: (request id, deadline).
    query: Option<(u64, i64)>,
    next_req: u64,
    rng: StdRng,
    brokers: i32,
    /// Whether it keeps producing.
    pub producing: bool,
    /// Acknowledged since the checker last took them.
    pub new_acks: Vec<Ack>,
    /// Consumer position per partition.
    positions: Vec<i64>,
    /// Consumer fetch in flight: (request id, partition, position, deadline).
    fetching: Option<(u64, u32, i64, i64)>,
    /// Read since the checker last took them.
    pub new_reads: Vec<Read>,
    /// Produce requests sent.
    pub sent: u64,
    /// Produce errors answered.
    pub errors: u64,
}

impl SimClient {
    /// A client of `partitions` partitions on brokers 1..=`brokers`.
    pub fn new(seed: u64, partitions: u32, brokers: i32, ctx: &mut Ctx) -> Self {
        ctx.timer(CLIENT, 0, TICK_MS, Timer::Tick);
        SimClient {
            leaders: vec![-1; partitions as usize],
            in_flight: BTreeMap::new(),
            query: None,
            next_req: 0,
            rng: StdRng::seed_from_u64(seed ^ 0xc1e7),
            brokers,
            producing: true,
            new_acks: Vec::new(),
            positions: vec![0; partitions as usize],
            fetching: None,
            new_reads: Vec::new(),
            sent: 0,
            errors: 0,
        }
    }

    /// Sends what it can; expires requests without answer.
    pub fn on_tick(&mut self, ctx: &mut Ctx) {
        ctx.timer(CLIENT, 0, TICK_MS, Timer::Tick);
        let now = ctx.now();
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now >= f.deadline)
            .map(|(r, _)| *r)
            .collect();
        for r in expired {
            if let Some(f) = self.in_flight.remove(&r) {
                self.errors += 1;
                self.leaders[f.partition as usize] = -1;
            }
        }
        if self.query.is_some_and(|(_, deadline)| now >= deadline) {
            self.query = None;
        }
        if self.leaders.contains(&-1) && self.query.is_none() {
            self.next_req += 1;
            let to = self.rng.random_range(1..=self.brokers);
            self.query = Some((self.next_req, now + 300));
            ctx.send(CLIENT, to, Msg::LeaderQuery { req: self.next_req });
        }
        self.consume(ctx);
        if !self.producing {
            return;
        }
        for partition in 0..self.leaders.len() as u32 {
            let leader = self.leaders[partition as usize];
            let busy = self
                .in_flight
                .values()
                .filter(|f| f.partition == partition)
                .count();
            if leader < 0 || busy >= MAX_IN_FLIGHT || self.rng.random_bool(0.3) {
                continue;
            }
            let records = self.rng.random_range(1..=4);
            let batch = build_batch(&BatchSpec {
                records,
                record_bytes: self.rng.random_range(records as usize..=300),
                base_timestamp: now,
                max_timestamp: now,
                fill: self.rng.random(),
                ..BatchSpec::default()
            });
            self.next_req += 1;
            let req = self.next_req;
            self.in_flight.insert(
                req,
                InFlight {
                    partition,
                    batch: batch.clone(),
                    to: leader,
                    deadline: now + ctx.cfg.produce_timeout_ms + 500,
                },
            );
            self.sent += 1;
            ctx.send(
                CLIENT,
                leader,
                Msg::Produce {
                    req,
                    partition,
                    batch,
                },
            );
        }
    }

    /// The consumer: one fetch at a time, partitions in turn.
    fn consume(&mut self, ctx: &mut Ctx) {
        let now = ctx.now();
        if self.fetching.is_some_and(|f| now >= f.3) {
            self.fetching = None;
        }
        if self.fetching.is_some() {
            return;
        }
        let partition = self.rng.random_range(0..self.leaders.len() as u32);
        let leader = self.leaders[partition as usize];
        if leader < 0 {
            return;
        }
        self.next_req += 1;
        let (req, offset) = (self.next_req, self.positions[partition as usize]);
        self.fetching = Some((req, partition, offset, now + 500));
        let msg = Msg::ConsumerFetch {
            req,
            partition,
            offset,
        };
        ctx.send(CLIENT, leader, msg);
    }

    /// An answer from a broker.
    pub fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::LeaderReply { req, leaders } => {
                if self.query.is_some_and(|(r, _)| r == req) {
                    self.query = None;
                    for (i, l) in leaders.into_iter().enumerate() {
                        if let Some(slot) = self.leaders.get_mut(i) {
                            *slot = l;
                        }
                    }
                }
            }
            Msg::ProduceReply {
                req,
                error_code,
                base_offset,
            } => {
                let Some(f) = self.in_flight.remove(&req) else {
                    return;
                };
                if error_code == 0 {
                    ctx.log(
                        CLIENT,
                        format!(
                            "p{} acknowledged by b{} at offset {base_offset}",
                            f.partition, f.to
                        ),
                    );
                    self.new_acks.push(Ack {
                        partition: f.partition,
                        base_offset,
                        batch: f.batch,
                        leader: from,
                        at: ctx.now() - crate::replication_sim::ctx::T0,
                    });
                } else {
                    self.errors += 1;
                    ctx.debug(CLIENT, || {
                        format!("p{} produce to b{} failed: {error_code}", f.partition, f.to)
                    });
                    self.leaders[f.partition as usize] = -1;
                }
            }
            Msg::ConsumerFetchReply {
                req,
                error_code,
                records,
                log_end,
            } => {
                let Some((_, partition, offset, _)) = self.fetching.filter(|f| f.0 == req) else {
                    return;
                };
                self.fetching = None;
                if error_code != 0 {
                    self.leaders[partition as usize] = -1;
                } else if let Some((_, last, _)) =
                    crate::replication_sim::checker::batches(&records).last()
                {
                    self.positions[partition as usize] = last + 1;
                }
                self.new_reads.push(Read {
                    partition,
                    offset,
                    from,
                    error_code,
                    records,
                    log_end,
                });
            }
            other => panic!("the client got {other:?}"),
        }
    }
}
