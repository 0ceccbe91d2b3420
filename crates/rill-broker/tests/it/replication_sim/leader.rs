//! The leader's side of a simulated broker, through the partition service's own pieces: its
//! guards (`replica::fetch_target_in`: leader here, KIP-320 epoch check, follower is a
//! replica), its append (`replica::append::append_one`: batch checks, min.insync.replicas,
//! the append), its completion rule for fetches (`replica::fetch_records::is_complete`) and
//! its acks=all answer (`Partition::commit_status`, `replica::append::commit_error_code`),
//! and the service's fetch operation (`replica::fetch_records::FetchOperation`: the
//! follower's progress, the reads up to the log end, the completion rule), then the
//! partition's own calls (`end_offset_for_epoch`, `wait_durable`). The sim keeps its own
//! clock, so it parks follower fetches and acks=all produces itself (until an append, a
//! follower's progress or their deadline) instead of awaiting the service's purgatory.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::ResponseError;
use rill_broker::api::errors::log_error_code;
use rill_broker::replica::append::{append_one, commit_error_code};
use rill_broker::replica::fetch_records::{FetchOperation, FetchedPartition, Want};
use rill_broker::replica::{fetch_target_in, CommitError, Partition};

use crate::replication_sim::broker::SimBroker;
use crate::replication_sim::ctx::Ctx;
use crate::replication_sim::msg::{EpochAnswer, EpochPart, FetchPart, Msg, NodeId};
use crate::replication_sim::world::TOPIC;

/// A follower fetch waiting for data.
#[derive(Debug)]
pub struct Parked {
    /// The follower.
    pub from: NodeId,
    /// Its request id.
    pub req: u64,
    /// The partitions it asked for, in request order.
    pub partitions: Vec<u32>,
    /// The service's fetch operation.
    pub op: FetchOperation,
    /// When it is answered, empty or not.
    pub deadline: i64,
}

/// An acks=all produce waiting for the high watermark.
#[derive(Debug)]
pub struct PendingAck {
    /// The client.
    pub from: NodeId,
    /// Its request id.
    pub req: u64,
    /// The partition.
    pub partition: Arc<Partition>,
    /// Offset after the batch.
    pub end_offset: i64,
    /// Where the batch went.
    pub base_offset: i64,
    /// The leader epoch it was appended in.
    pub leader_epoch: i32,
    /// The request's timeout.
    pub deadline: i64,
}

impl SimBroker {
    /// The partition service's guards (`rill_broker::replica::fetch_target_in`, as
    /// `ReplicaManager::fetch_target` runs them): the partition if this broker leads it by its
    /// image, the client's leader epoch matches, and a fetching follower is a replica.
    fn target(
        &self,
        partition: u32,
        current_leader_epoch: i32,
        follower: Option<NodeId>,
    ) -> Result<Arc<Partition>, i16> {
        let hosted = || self.partitions.get(&partition).cloned();
        let index = i32::try_from(partition).unwrap_or(i32::MAX);
        fetch_target_in(
            &self.image,
            self.id,
            TOPIC,
            index,
            current_leader_epoch,
            follower,
            hosted,
        )
        .map_err(|e| e.code())
    }

    /// A follower's Fetch: record its progress, answer with what it lacks, or park.
    pub fn on_fetch(&mut self, from: NodeId, req: u64, parts: &[FetchPart], ctx: &mut Ctx) {
        let wants: Vec<Want> = parts
            .iter()
            .map(|fp| Want {
                target: self.target(fp.partition, fp.current_leader_epoch, Some(from)),
                fetch_offset: fp.fetch_offset,
                partition_max_bytes: ctx.cfg.partition_max_bytes,
                log_start_offset: fp.log_start_offset,
            })
            .collect();
        // The followers' min_bytes of 1; no response cap beyond the partitions' own.
        let op = FetchOperation::new(wants, Some(from), 1, u64::MAX);
        op.record_follower_progress(ctx.now());
        let parked = Parked {
            from,
            req,
            partitions: parts.iter().map(|fp| fp.partition).collect(),
            op,
            deadline: ctx.now() + ctx.cfg.fetch_max_wait_ms,
        };
        // Whether the high watermark moved matters to the waiting acks=all produces.
        self.check_acks(ctx);
        if let Some(parked) = self.answer_if_ready(parked, false, ctx) {
            self.parked.push(parked);
        }
    }

    /// Answers a follower fetch when the service's operation completes (data, an error, or
    /// the wait is over); otherwise hands the fetch back to be parked.
    fn answer_if_ready(&mut self, parked: Parked, expired: bool, ctx: &mut Ctx) -> Option<Parked> {
        let Some(fetched) = parked.op.try_complete(expired) else {
            return Some(parked);
        };
        let out: Vec<(u32, PartitionData)> = parked
            .partitions
            .iter()
            .zip(fetched)
            .map(|(&i, f)| (i, partition_data(i, f)))
            .collect();
        ctx.debug(self.id, || {
            let what: Vec<String> = out
                .iter()
                .map(|(i, pd)| {
                    format!(
                        "p{i}: err {} {} bytes hw {}",
                        pd.error_code,
                        pd.records.as_ref().map_or(0, |r| r.len()),
                        pd.high_watermark
                    )
                })
                .collect();
            format!("answers fetch of b{}: {}", parked.from, what.join(", "))
        });
        ctx.send(
            self.id,
            parked.from,
            Msg::FetchReply {
                req: parked.req,
                parts: out,
            },
        );
        None
    }

    /// After a leader append: parked fetches re-read (the real `appended` notify).
    fn wake_parked(&mut self, ctx: &mut Ctx) {
        let parked = std::mem::take(&mut self.parked);
        for p in parked {
            if let Some(p) = self.answer_if_ready(p, false, ctx) {
                self.parked.push(p);
            }
        }
    }

    /// Answers parked fetches whose wait is over.
    pub fn expire_parked(&mut self, ctx: &mut Ctx) {
        let now = ctx.now();
        let parked = std::mem::take(&mut self.parked);
        for p in parked {
            let expired = now >= p.deadline;
            if let Some(p) = self.answer_if_ready(p, expired, ctx) {
                self.parked.push(p);
            }
        }
    }

    /// OffsetForLeaderEpoch, as `api/leader_epoch.rs` answers it.
    pub fn on_epoch_query(&mut self, from: NodeId, req: u64, parts: &[EpochPart], ctx: &mut Ctx) {
        let answers = parts
            .iter()
            .map(|ep| {
                let mut a = EpochAnswer {
                    partition: ep.partition,
                    error_code: 0,
                    leader_epoch: -1,
                    end_offset: -1,
                };
                match self.target(ep.partition, ep.current_leader_epoch, None) {
                    Err(code) => a.error_code = code,
                    Ok(p) => match p.end_offset_for_epoch(ep.asked_epoch) {
                        Ok((epoch, end)) => {
                            a.leader_epoch = epoch;
                            a.end_offset = end;
                        }
                        Err(e) => a.error_code = log_error_code(&e),
                    },
                }
                a
            })
            .collect::<Vec<_>>();
        ctx.log(
            self.id,
            format!("answers OffsetForLeaderEpoch of b{from}: {answers:?}"),
        );
        ctx.send(
            self.id,
            from,
            Msg::EpochReply {
                req,
                parts: answers,
            },
        );
    }

    /// Produce acks=all of one batch through the partition service's append
    /// (`rill_broker::replica::append::append_one`: guards, batch checks, refusal below
    /// `min.insync.replicas`, the append), then durability, then the wait for the ISR.
    pub fn on_produce(
        &mut self,
        from: NodeId,
        req: u64,
        partition: u32,
        batch: Vec<u8>,
        ctx: &mut Ctx,
    ) {
        let reply = |ctx: &mut Ctx, me: NodeId, error_code: i16, base_offset: i64| {
            ctx.send(
                me,
                from,
                Msg::ProduceReply {
                    req,
                    error_code,
                    base_offset,
                },
            )
        };
        let target = self.target(partition, -1, None);
        let (p, info, leader_epoch) = match append_one(target, Some(batch.into()), -1, ctx.now()) {
            Ok(appended) => appended,
            Err(refused) => {
                let code = refused.error_code;
                if code == ResponseError::NotLeaderOrFollower.code()
                    || code == ResponseError::UnknownTopicOrPartition.code()
                {
                    ctx.count("produces refused: not the leader");
                } else if code == ResponseError::NotEnoughReplicas.code() {
                    ctx.count("produces refused: NOT_ENOUGH_REPLICAS");
                }
                return reply(ctx, self.id, code, -1);
            }
        };
        ctx.debug(self.id, || {
            format!(
                "p{partition} appends [{}, {}] in epoch {leader_epoch}",
                info.base_offset, info.last_offset
            )
        });
        let end_offset = info.last_offset + 1;
        if let Err(e) = p.wait_durable(end_offset) {
            ctx.log(self.id, format!("p{partition} fsync failed: {e}"));
            return reply(ctx, self.id, ResponseError::KafkaStorageError.code(), -1);
        }
        self.acks.push(PendingAck {
            from,
            req,
            partition: p,
            end_offset,
            base_offset: info.base_offset,
            leader_epoch,
            deadline: ctx.now() + ctx.cfg.produce_timeout_ms,
        });
        self.wake_parked(ctx);
        self.check_acks(ctx);
    }

    /// `Partition::wait_committed` for every waiting produce: answer the ones decided.
    pub fn check_acks(&mut self, ctx: &mut Ctx) {
        let now = ctx.now();
        let acks = std::mem::take(&mut self.acks);
        for a in acks {
            let outcome = match a.partition.commit_status(a.end_offset, a.leader_epoch) {
                None if now < a.deadline => {
                    self.acks.push(a);
                    continue;
                }
                None => Err(CommitError::TimedOut),
                Some(o) => o,
            };
            ctx.count(match outcome {
                Ok(()) => "produces acknowledged",
                Err(CommitError::NotLeader) => "produces failed: leadership lost while waiting",
                Err(CommitError::NotEnoughReplicasAfterAppend) => {
                    "produces failed: NOT_ENOUGH_REPLICAS_AFTER_APPEND"
                }
                Err(CommitError::TimedOut) => "produces failed: timed out",
            });
            let error_code = outcome.map_or_else(commit_error_code, |()| 0);
            ctx.debug(self.id, || {
                format!(
                    "p{} answers produce [{}, {}) epoch {}: {outcome:?}",
                    a.partition.index, a.base_offset, a.end_offset, a.leader_epoch
                )
            });
            ctx.send(
                self.id,
                a.from,
                Msg::ProduceReply {
                    req: a.req,
                    error_code,
                    base_offset: if error_code == 0 { a.base_offset } else { -1 },
                },
            );
        }
    }
}

impl SimBroker {
    /// A consumer's Fetch, as `api/fetch.rs` reads for consumers: leader check, then
    /// `Partition::read` up to the high watermark (answered at once, no long poll).
    pub fn on_consumer_fetch(
        &mut self,
        from: NodeId,
        req: u64,
        partition: u32,
        offset: i64,
        ctx: &mut Ctx,
    ) {
        let target = self.target(partition, -1, None);
        let log_end = target
            .as_ref()
            .map_or(-1, |p| p.log_end_offset().expect("log end"));
        let want = Want {
            target,
            fetch_offset: offset,
            partition_max_bytes: ctx.cfg.partition_max_bytes,
            log_start_offset: -1,
        };
        // The service's consumer read (below the high watermark), answered at once.
        let op = FetchOperation::new(vec![want], None, 1, u64::MAX);
        let fetched = op.try_complete(true).expect("an expired fetch is answered");
        let pd = partition_data(
            partition,
            fetched.into_iter().next().expect("one partition"),
        );
        let error_code = pd.error_code;
        let records = pd.records.map(|b| b.to_vec()).unwrap_or_default();
        let msg = Msg::ConsumerFetchReply {
            req,
            error_code,
            records,
            log_end,
        };
        ctx.send(self.id, from, msg);
    }

    /// Metadata from a client: the leader of each partition by this broker's image.
    pub fn on_leader_query(&mut self, from: NodeId, req: u64, ctx: &mut Ctx) {
        let leaders = self
            .image
            .topic(TOPIC)
            .map(|t| t.partition_states.iter().map(|s| s.leader).collect())
            .unwrap_or_default();
        ctx.send(self.id, from, Msg::LeaderReply { req, leaders });
    }
}

/// The wire answer for one partition of a follower fetch: the service's fields, and its file
/// ranges read into bytes (what sendfile would put on the socket).
fn partition_data(index: u32, f: FetchedPartition) -> PartitionData {
    use std::os::unix::fs::FileExt;
    let mut pd = PartitionData::default();
    pd.partition_index = index as i32;
    pd.error_code = f.error_code;
    pd.high_watermark = f.high_watermark;
    pd.last_stable_offset = f.last_stable_offset;
    pd.log_start_offset = f.log_start_offset;
    pd.preferred_read_replica = BrokerId(-1);
    let mut bytes = Vec::with_capacity(f.len as usize);
    for slice in &f.slices {
        let at = bytes.len();
        bytes.resize(at + slice.len as usize, 0);
        slice
            .file
            .read_exact_at(&mut bytes[at..], slice.position)
            .expect("a fetched file range is readable");
    }
    pd.records = Some(Bytes::from(bytes));
    pd
}
