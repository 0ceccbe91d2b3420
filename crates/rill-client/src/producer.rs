//! [`Producer`]: batches records per partition (murmur2 by key, sticky without), sends each
//! batch as one RecordBatch v2 to the partition's leader, retries retriable errors, and
//! reports each record's offset through a [`DeliveryReceiver`].
//!
//! Invariants: a batch is written to its connection in the order `flush_*` is called (the
//! write is awaited before the response is waited for in a task), so batches of one
//! partition reach the broker in order; with idempotence each partition's sequence grows by
//! the batch's record count, and a retried batch keeps its sequence (the broker dedups).
//! At most `max_in_flight` batches wait for answers at once. While all of them are busy, a
//! batch past its linger stays open and takes more records (as librdkafka's do), so with
//! `linger.ms` 0 records still travel in batches under load instead of one per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::delivery::BatchDelivery;
use crate::error::{ClientError, Result};
use crate::partitioner::{partition_for_key, StickyPartitioner};
use crate::records::{encode_batch, ProduceRecord, ProducerStamp};
use crate::Client;

/// Producer settings (Kafka's names in the docs).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `acks`: 0, 1 or -1 (all).
    pub acks: i16,
    /// `compression.type`.
    pub compression: Compression,
    /// `batch.size`: bytes per partition batch before it is sent.
    pub batch_size: usize,
    /// `linger.ms`: how long a batch may wait for more records.
    pub linger: Duration,
    /// `enable.idempotence`.
    pub idempotent: bool,
    /// `max.in.flight.requests.per.connection` (here: per producer).
    pub max_in_flight: usize,
    /// `request.timeout.ms` sent to the broker for acks.
    pub timeout_ms: i32,
    /// `delivery.timeout.ms`: a batch not acknowledged this long after its first record was
    /// added (retries included) fails with [`ClientError::DeliveryTimeout`].
    pub delivery_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: -1,
            compression: Compression::None,
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            idempotent: false,
            max_in_flight: 5,
            timeout_ms: 30_000,
            delivery_timeout: Duration::from_secs(120),
        }
    }
}

pub use crate::delivery::{Delivery, DeliveryClosed, DeliveryReceiver, DeliveryResult};

/// Records waiting to be sent to one partition.
struct Batch {
    /// The records.
    records: Vec<ProduceRecord>,
    /// The slot their receivers share.
    delivery: BatchDelivery,
    /// Estimated encoded size.
    bytes: usize,
    /// When the first record arrived.
    created: Instant,
}

/// One topic's partition count and open batches.
struct TopicState {
    /// Partitions the topic has (as last looked up).
    count: usize,
    /// The open batch of each partition, by partition index.
    batches: Vec<Option<Batch>>,
    /// Next sequence of each partition (idempotence), by partition index.
    sequences: Vec<i32>,
}

impl TopicState {
    fn new(count: usize) -> TopicState {
        TopicState {
            count,
            batches: Vec::new(),
            sequences: Vec::new(),
        }
    }
}

/// A batching producer. Not shared: one task drives it (`send`, `flush_due`, `flush`).
pub struct Producer {
    /// The client.
    client: Client,
    /// Settings.
    config: ProducerConfig,
    /// Partition counts and open batches by topic.
    topics: HashMap<String, TopicState>,
    /// Keyless partition choice.
    sticky: StickyPartitioner,
    /// Producer id and epoch when idempotent.
    stamp: Option<(i64, i16)>,
    /// No open batch is due before this (it may be earlier than the real first due time,
    /// never later); `None` when no batch is open.
    next_due: Option<Instant>,
    /// Bounds batches in flight.
    in_flight: Arc<Semaphore>,
    /// Tasks waiting for answers.
    tasks: JoinSet<()>,
}

impl Producer {
    /// A producer; with idempotence it first gets a producer id (InitProducerId).
    ///
    /// # Errors
    /// InitProducerId failures.
    pub async fn new(client: Client, config: ProducerConfig) -> Result<Producer> {
        let stamp = if config.idempotent {
            Some(init_producer_id(&client).await?)
        } else {
            None
        };
        Ok(Producer {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            client,
            config,
            topics: HashMap::new(),
            sticky: StickyPartitioner::default(),
            stamp,
            next_due: None,
            tasks: JoinSet::new(),
        })
    }

    /// How many partitions `topic` has (cached).
    ///
    /// # Errors
    /// Unknown topic.
    pub async fn partition_count(&mut self, topic: &str) -> Result<usize> {
        if let Some(t) = self.topics.get(topic) {
            return Ok(t.count);
        }
        let n = self.client.topic(topic, false).await?.partitions.len();
        self.topics.insert(topic.to_string(), TopicState::new(n));
        Ok(n)
    }

    /// Queues one record: to `partition` if given, else by key (murmur2), else sticky.
    /// Sends the batch when it is full or has lingered long enough.
    ///
    /// # Errors
    /// Unknown topic or partition; send failures of a batch flushed now.
    pub async fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        record: ProduceRecord,
    ) -> Result<DeliveryReceiver> {
        let count = self.partition_count(topic).await?;
        let partition = match (partition, &record.key) {
            (Some(p), _) => {
                if p < 0 || p as usize >= count {
                    return Err(ClientError::UnknownPartition {
                        topic: topic.into(),
                        partition: p,
                        count,
                    });
                }
                p
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => self.sticky.partition(topic, count),
        };
        let size = 24
            + record.key.as_ref().map_or(0, Bytes::len)
            + record.value.as_ref().map_or(0, Bytes::len)
            + record
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 4)
                .sum::<usize>();
        let now = Instant::now();
        let state = self
            .topics
            .get_mut(topic)
            .ok_or_else(|| ClientError::Invalid(format!("topic {topic} forgotten")))?;
        let index = partition as usize;
        if state.batches.len() <= index {
            state.batches.resize_with(index + 1, || None);
        }
        let batch = state.batches[index].get_or_insert_with(|| {
            let due = now + self.config.linger;
            self.next_due = Some(self.next_due.map_or(due, |d| d.min(due)));
            Batch {
                records: Vec::new(),
                delivery: BatchDelivery::new(partition),
                bytes: 61,
                created: now,
            }
        });
        let rx = batch.delivery.receiver(batch.records.len());
        batch.records.push(record);
        batch.bytes += size;
        if batch.bytes >= self.config.batch_size {
            self.send_batch(topic, partition).await?;
        }
        if self.next_due.is_some_and(|d| now >= d) && self.in_flight.available_permits() > 0 {
            self.send_due_while_slots_free(now).await?;
        }
        Ok(rx)
    }

    /// Sends batches past their linger while an in-flight slot is free; the others stay open
    /// and keep taking records until a slot frees (a later `send`, or [`Producer::flush_due`]).
    async fn send_due_while_slots_free(&mut self, now: Instant) -> Result<()> {
        for (topic, partition) in self.due_batches(now) {
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                break;
            };
            self.send_batch_in(&topic, partition, permit).await?;
        }
        Ok(())
    }

    /// Sends every batch that has waited `linger` or longer.
    ///
    /// # Errors
    /// Send failures.
    pub async fn flush_due(&mut self) -> Result<()> {
        for (topic, partition) in self.due_batches(Instant::now()) {
            self.send_batch(&topic, partition).await?;
        }
        Ok(())
    }

    /// The open batches that have waited `linger` or longer at `now`; sets `next_due` to the
    /// first due time of the others.
    fn due_batches(&mut self, now: Instant) -> Vec<(String, i32)> {
        let linger = self.config.linger;
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for (topic, t) in &self.topics {
            for (i, b) in t.batches.iter().enumerate() {
                let Some(b) = b else { continue };
                let at = b.created + linger;
                if at <= now {
                    due.push((topic.clone(), i as i32));
                } else {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        // The due batches that stay open (no slot) are due again at once.
        self.next_due = if due.is_empty() { next } else { Some(now) };
        due
    }

    /// The earliest time a batch becomes due, if any is open.
    pub fn next_due(&self) -> Option<Instant> {
        self.topics
            .values()
            .flat_map(|t| t.batches.iter().flatten())
            .map(|b| b.created + self.config.linger)
            .min()
    }

    /// Sends every open batch and waits for every answer.
    ///
    /// # Errors
    /// Send failures (per-record failures go to the receivers).
    pub async fn flush(&mut self) -> Result<()> {
        let open: Vec<(String, i32)> = self
            .topics
            .iter()
            .flat_map(|(topic, t)| {
                t.batches
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.is_some())
                    .map(|(i, _)| (topic.clone(), i as i32))
            })
            .collect();
        for (topic, partition) in open {
            self.send_batch(&topic, partition).await?;
        }
        self.next_due = None;
        while self.tasks.join_next().await.is_some() {}
        Ok(())
    }

    /// Sends the open batch of `topic`-`partition`, waiting for a free in-flight slot.
    async fn send_batch(&mut self, topic: &str, partition: i32) -> Result<()> {
        if self.open_batch(topic, partition).is_none() {
            return Ok(());
        }
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ClientError::Invalid("producer closed".into()))?;
        self.send_batch_in(topic, partition, permit).await
    }

    /// The open batch of `topic`-`partition`, if any.
    fn open_batch(&mut self, topic: &str, partition: i32) -> Option<&mut Option<Batch>> {
        self.topics
            .get_mut(topic)?
            .batches
            .get_mut(partition as usize)
            .filter(|b| b.is_some())
    }

    /// Sends the open batch of `topic`-`partition` in the in-flight slot `permit` (released
    /// with the answer).
    async fn send_batch_in(
        &mut self,
        topic: &str,
        partition: i32,
        permit: OwnedSemaphorePermit,
    ) -> Result<()> {
        let Some(batch) = self.open_batch(topic, partition).and_then(Option::take) else {
            return Ok(());
        };
        let mut stamp = ProducerStamp::default();
        let count = match self.topics.get_mut(topic) {
            Some(t) => {
                if let Some((id, epoch)) = self.stamp {
                    let index = partition as usize;
                    if t.sequences.len() <= index {
                        t.sequences.resize(index + 1, 0);
                    }
                    let seq = &mut t.sequences[index];
                    stamp = ProducerStamp {
                        producer_id: id,
                        producer_epoch: epoch,
                        base_sequence: *seq,
                    };
                    *seq = seq.wrapping_add(batch.records.len() as i32) & i32::MAX;
                }
                t.count
            }
            None => 1,
        };
        self.sticky.next_batch(topic, partition, count);
        let records = encode_batch(&batch.records, self.config.compression, stamp)?;
        let delivery = batch.delivery;
        let deadline = batch.created + self.config.delivery_timeout;
        let send = Send {
            client: self.client.clone(),
            topic: topic.to_string(),
            partition,
            records,
            acks: self.config.acks,
            timeout_ms: self.config.timeout_ms,
        };
        if self.config.acks == 0 {
            let result = send.once_oneway().await;
            let now = Instant::now();
            delivery.resolve(result.map(|()| (-1, now)).map_err(Arc::new));
            drop(permit);
            return Ok(());
        }
        // Write now (keeps per-partition order); wait for the answer in a task.
        let first = send.write().await;
        let timeout_ms = self.config.delivery_timeout.as_millis() as u64;
        self.tasks.spawn(async move {
            let last_error = std::sync::Mutex::new(None);
            let result = tokio::time::timeout_at(
                tokio::time::Instant::from_std(deadline),
                send.finish(first, &last_error),
            )
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::DeliveryTimeout {
                    topic: send.topic.clone(),
                    partition: send.partition,
                    timeout_ms,
                    last_error: last_error.lock().ok().and_then(|mut e| e.take()),
                })
            });
            delivery.resolve(result.map_err(Arc::new));
            drop(permit);
        });
        while self.tasks.try_join_next().is_some() {}
        Ok(())
    }
}

/// One encoded batch on its way to a partition leader.
struct Send {
    /// The client.
    client: Client,
    /// Topic.
    topic: String,
    /// Partition.
    partition: i32,
    /// The RecordBatch bytes.
    records: Bytes,
    /// acks.
    acks: i16,
    /// Broker-side timeout.
    timeout_ms: i32,
}

type Pending = Result<(i16, crate::connection::ResponseFuture)>;

impl Send {
    fn request(&self) -> ProduceRequest {
        let mut pd = PartitionProduceData::default();
        pd.index = self.partition;
        pd.records = Some(self.records.clone());
        let mut td = TopicProduceData::default();
        td.name = TopicName(StrBytes::from_string(self.topic.clone()));
        td.partition_data = vec![pd];
        let mut req = ProduceRequest::default();
        req.acks = self.acks;
        req.timeout_ms = self.timeout_ms;
        req.topic_data = vec![td];
        req
    }

    async fn write(&self) -> Pending {
        let leader = self
            .client
            .leader(&self.topic, self.partition, false)
            .await?;
        let conn = self.client.connection_to(leader).await?;
        let version = conn.version(ApiKey::Produce)?;
        Ok((version, conn.send(&self.request(), version).await?))
    }

    async fn once_oneway(&self) -> Result<()> {
        let leader = self
            .client
            .leader(&self.topic, self.partition, false)
            .await?;
        let conn = self.client.connection_to(leader).await?;
        let version = conn.version(ApiKey::Produce)?;
        conn.send_oneway(&self.request(), version).await
    }

    async fn answer(&self, pending: Pending) -> Result<(i64, Instant)> {
        let (version, fut) = pending?;
        let resp: ProduceResponse = fut.decode(version).await?;
        let at = Instant::now();
        let p = resp
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == self.partition)
            .ok_or_else(|| ClientError::Protocol {
                addr: String::new(),
                reason: "produce answer lacks the partition".into(),
            })?;
        let context = || format!("produce to {}-{}", self.topic, self.partition);
        ClientError::check(p.error_code, context, p.error_message.as_deref())?;
        Ok((p.base_offset, at))
    }

    /// Waits for the first attempt's answer, retrying retriable errors with fresh metadata;
    /// each failed attempt's error is kept in `last_error` (for a delivery timeout's message).
    async fn finish(
        &self,
        first: Pending,
        last_error: &std::sync::Mutex<Option<String>>,
    ) -> Result<(i64, Instant)> {
        let mut first = Some(first);
        self.client
            .retry(|_| {
                let pending = first.take();
                async move {
                    let answer = async {
                        let pending = match pending {
                            Some(p) => p,
                            None => {
                                self.client.topic(&self.topic, true).await?;
                                self.write().await
                            }
                        };
                        self.answer(pending).await
                    }
                    .await;
                    if let (Err(e), Ok(mut last)) = (&answer, last_error.lock()) {
                        *last = Some(e.to_string());
                    }
                    answer
                }
            })
            .await
    }
}

/// Gets a producer id and epoch for an idempotent producer.
async fn init_producer_id(client: &Client) -> Result<(i64, i16)> {
    client
        .retry(|_| async {
            let conn = client.any_connection().await?;
            let version = conn.version(ApiKey::InitProducerId)?;
            let mut req = InitProducerIdRequest::default();
            req.transactional_id = None;
            req.transaction_timeout_ms = 60_000;
            if version >= 3 {
                req.producer_id = ProducerId(-1);
                req.producer_epoch = -1;
            }
            let resp = conn.call(&req, version).await?;
            ClientError::check(
                resp.error_code,
                || "InitProducerId (idempotent producer)".into(),
                None,
            )?;
            Ok((resp.producer_id.0, resp.producer_epoch))
        })
        .await
}
