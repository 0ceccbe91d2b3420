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
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

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
        }
    }
}

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

/// Resolves when the record's batch is acknowledged or failed.
pub type DeliveryReceiver = oneshot::Receiver<DeliveryResult>;

/// Records waiting to be sent to one partition.
struct Batch {
    /// The records.
    records: Vec<ProduceRecord>,
    /// Their waiters.
    waiters: Vec<oneshot::Sender<DeliveryResult>>,
    /// Estimated encoded size.
    bytes: usize,
    /// When the first record arrived.
    created: Instant,
}

/// A batching producer. Not shared: one task drives it (`send`, `flush_due`, `flush`).
pub struct Producer {
    /// The client.
    client: Client,
    /// Settings.
    config: ProducerConfig,
    /// Open batches by (topic, partition).
    batches: HashMap<(String, i32), Batch>,
    /// Partition counts by topic.
    partitions: HashMap<String, usize>,
    /// Keyless partition choice.
    sticky: StickyPartitioner,
    /// Producer id and epoch when idempotent.
    stamp: Option<(i64, i16)>,
    /// Next sequence per partition (idempotence).
    sequences: HashMap<(String, i32), i32>,
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
            batches: HashMap::new(),
            partitions: HashMap::new(),
            sticky: StickyPartitioner::default(),
            stamp,
            sequences: HashMap::new(),
            tasks: JoinSet::new(),
        })
    }

    /// How many partitions `topic` has (cached).
    ///
    /// # Errors
    /// Unknown topic.
    pub async fn partition_count(&mut self, topic: &str) -> Result<usize> {
        if let Some(n) = self.partitions.get(topic) {
            return Ok(*n);
        }
        let n = self.client.topic(topic, false).await?.partitions.len();
        self.partitions.insert(topic.to_string(), n);
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
        let (tx, rx) = oneshot::channel();
        let key = (topic.to_string(), partition);
        let batch = self.batches.entry(key.clone()).or_insert_with(|| Batch {
            records: Vec::new(),
            waiters: Vec::new(),
            bytes: 61,
            created: Instant::now(),
        });
        batch.records.push(record);
        batch.waiters.push(tx);
        batch.bytes += size;
        if batch.bytes >= self.config.batch_size {
            self.send_batch(key, count).await?;
        }
        self.send_due_while_slots_free().await?;
        while self.tasks.try_join_next().is_some() {}
        Ok(rx)
    }

    /// Sends batches past their linger while an in-flight slot is free; the others stay open
    /// and keep taking records until a slot frees (a later `send`, or [`Producer::flush_due`]).
    async fn send_due_while_slots_free(&mut self) -> Result<()> {
        for key in self.due_batches() {
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                break;
            };
            let count = self.partitions.get(&key.0).copied().unwrap_or(1);
            self.send_batch_in(key, count, permit).await?;
        }
        Ok(())
    }

    /// Sends every batch that has waited `linger` or longer.
    ///
    /// # Errors
    /// Send failures.
    pub async fn flush_due(&mut self) -> Result<()> {
        for key in self.due_batches() {
            let count = self.partitions.get(&key.0).copied().unwrap_or(1);
            self.send_batch(key, count).await?;
        }
        Ok(())
    }

    /// The open batches that have waited `linger` or longer.
    fn due_batches(&self) -> Vec<(String, i32)> {
        let now = Instant::now();
        self.batches
            .iter()
            .filter(|(_, b)| now.duration_since(b.created) >= self.config.linger)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The earliest time a batch becomes due, if any is open.
    pub fn next_due(&self) -> Option<Instant> {
        self.batches
            .values()
            .map(|b| b.created + self.config.linger)
            .min()
    }

    /// Sends every open batch and waits for every answer.
    ///
    /// # Errors
    /// Send failures (per-record failures go to the receivers).
    pub async fn flush(&mut self) -> Result<()> {
        let keys: Vec<(String, i32)> = self.batches.keys().cloned().collect();
        for key in keys {
            let count = self.partitions.get(&key.0).copied().unwrap_or(1);
            self.send_batch(key, count).await?;
        }
        while self.tasks.join_next().await.is_some() {}
        Ok(())
    }

    /// Sends the batch of `key`, waiting for a free in-flight slot.
    async fn send_batch(&mut self, key: (String, i32), count: usize) -> Result<()> {
        if !self.batches.contains_key(&key) {
            return Ok(());
        }
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ClientError::Invalid("producer closed".into()))?;
        self.send_batch_in(key, count, permit).await
    }

    /// Sends the batch of `key` in the in-flight slot `permit` (released with the answer).
    async fn send_batch_in(
        &mut self,
        key: (String, i32),
        count: usize,
        permit: OwnedSemaphorePermit,
    ) -> Result<()> {
        let Some(batch) = self.batches.remove(&key) else {
            return Ok(());
        };
        let (topic, partition) = key.clone();
        self.sticky.next_batch(&topic, partition, count);
        let mut stamp = ProducerStamp::default();
        if let Some((id, epoch)) = self.stamp {
            let seq = self.sequences.entry(key).or_insert(0);
            stamp = ProducerStamp {
                producer_id: id,
                producer_epoch: epoch,
                base_sequence: *seq,
            };
            *seq = seq.wrapping_add(batch.records.len() as i32) & i32::MAX;
        }
        let records = encode_batch(&batch.records, self.config.compression, stamp)?;
        let send = Send {
            client: self.client.clone(),
            topic,
            partition,
            records,
            acks: self.config.acks,
            timeout_ms: self.config.timeout_ms,
        };
        if self.config.acks == 0 {
            let result = send.once_oneway().await;
            let now = Instant::now();
            resolve(
                batch.waiters,
                partition,
                result.map(|()| (-1, now)).map_err(Arc::new),
            );
            drop(permit);
            return Ok(());
        }
        // Write now (keeps per-partition order); wait for the answer in a task.
        let first = send.write().await;
        self.tasks.spawn(async move {
            let result = send.finish(first).await.map_err(Arc::new);
            resolve(batch.waiters, partition, result);
            drop(permit);
        });
        Ok(())
    }
}

/// Hands each waiter its record's offset (base + index) or the batch's error.
fn resolve(
    waiters: Vec<oneshot::Sender<DeliveryResult>>,
    partition: i32,
    result: std::result::Result<(i64, Instant), Arc<ClientError>>,
) {
    for (i, w) in waiters.into_iter().enumerate() {
        let r = match &result {
            Ok((base, at)) => Ok(Delivery {
                partition,
                offset: if *base < 0 { -1 } else { base + i as i64 },
                acked_at: *at,
            }),
            Err(e) => Err(e.clone()),
        };
        let _ = w.send(r);
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

    /// Waits for the first attempt's answer, retrying retriable errors with fresh metadata.
    async fn finish(&self, first: Pending) -> Result<(i64, Instant)> {
        let mut first = Some(first);
        self.client
            .retry(|_| {
                let pending = first.take();
                async move {
                    let pending = match pending {
                        Some(p) => p,
                        None => {
                            self.client.topic(&self.topic, true).await?;
                            self.write().await
                        }
                    };
                    self.answer(pending).await
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
