//! KIP-890 part 1 on the produce path (`transaction.partition.verification.enable`): before
//! a partition leader appends the first transactional batch of a producer's transaction, it
//! asks the transaction coordinator whether the partition was added to that transaction
//! (AddPartitionsToTxn with VerifyOnly), so a late batch of an aborted or timed-out
//! transaction (a hanging transaction) is refused instead of opening a transaction no one
//! will ever end. The coordinator may be this node (asked directly) or another (asked over
//! the network with AddPartitionsToTxn v4). Errors as Kafka's `AddPartitionsToTxnManager`
//! gives them to producers: a partition not in the transaction is INVALID_TXN_STATE; a
//! fenced producer INVALID_PRODUCER_EPOCH; coordinator trouble (not available, loading,
//! moved, concurrent transactions) NOT_ENOUGH_REPLICAS, which producers retry.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ProduceRequest, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::ResponseError;
use rill_txn::{TopicPartition, TxnError, TxnProducer};

use super::markers::{Peers, TxnHost};

/// The answer a produce gets for a verification error.
fn produce_code(code: i16) -> i16 {
    use kafka_protocol::error::ParseResponseErrorCode;
    match code.err() {
        None => 0,
        Some(ResponseError::InvalidTxnState) => code,
        Some(ResponseError::InvalidProducerEpoch | ResponseError::ProducerFenced) => {
            ResponseError::InvalidProducerEpoch.code()
        }
        Some(ResponseError::InvalidProducerIdMapping) => {
            ResponseError::InvalidProducerIdMapping.code()
        }
        Some(ResponseError::TransactionAbortable) => ResponseError::InvalidTxnState.code(),
        Some(_) => ResponseError::NotEnoughReplicas.code(),
    }
}

/// The partitions of `req` that must not be appended, with the error each gets: the
/// transactional batches starting a transaction in a partition the coordinator does not
/// know the transaction covers. Empty for a request without a transactional id.
pub async fn verify_produce<H: TxnHost + ?Sized>(
    host: &H,
    peers: &Peers,
    req: &ProduceRequest,
) -> HashMap<(String, i32), i16> {
    let mut refused = HashMap::new();
    let Some(txn_id) = req.transactional_id.as_ref().map(|t| t.0.to_string()) else {
        return refused;
    };
    let image = host.image();
    // (producer id, epoch) -> partitions to ask about.
    let mut ask: BTreeMap<(i64, i16), Vec<TopicPartition>> = BTreeMap::new();
    for topic in &req.topic_data {
        let name = if topic.name.0.is_empty() {
            match image.topic_by_id(&topic.topic_id) {
                Some(t) => t.name.clone(),
                None => continue,
            }
        } else {
            topic.name.0.to_string()
        };
        for p in &topic.partition_data {
            let Some(records) = &p.records else { continue };
            let Ok(h) = rill_log::BatchHeader::parse(records) else {
                continue; // the append refuses it with its own error
            };
            if !h.is_transactional() || h.is_control() || h.producer_id < 0 {
                continue;
            }
            let open = host
                .replicas()
                .get(&name, p.index)
                .and_then(|part| part.has_open_txn(h.producer_id).ok())
                .unwrap_or(false);
            if !open {
                ask.entry((h.producer_id, h.producer_epoch))
                    .or_default()
                    .push(TopicPartition::new(name.clone(), p.index));
            }
        }
    }
    for ((pid, epoch), tps) in ask {
        let producer = TxnProducer::new(txn_id.clone(), pid, epoch);
        for (tp, code) in verify(host, peers, &producer, &tps).await {
            if code != 0 {
                refused.insert((tp.topic, tp.partition), produce_code(code));
            }
        }
    }
    refused
}

/// Asks the coordinator of `producer`'s transactional id whether `tps` are in its
/// transaction; a Kafka error code per partition (0: yes).
pub(crate) async fn verify<H: TxnHost + ?Sized>(
    host: &H,
    peers: &Peers,
    producer: &TxnProducer,
    tps: &[TopicPartition],
) -> Vec<(TopicPartition, i16)> {
    let all = |code: i16| tps.iter().map(|tp| (tp.clone(), code)).collect::<Vec<_>>();
    let txns = host.txns();
    let index = txns.partition_for(&producer.transactional_id);
    let leader = host
        .image()
        .topic(rill_txn::TRANSACTION_STATE_TOPIC)
        .and_then(|t| t.partition_states.get(index as usize).map(|s| s.leader));
    let Some(leader) = leader.filter(|l| *l >= 0) else {
        return all(ResponseError::CoordinatorNotAvailable.code());
    };
    if leader == host.node_id() {
        return match txns.read(|c| c.verify_partitions(producer, tps)) {
            Ok(each) => each
                .into_iter()
                .map(|(tp, r)| (tp, r.map_or_else(|e: TxnError| e.code(), |()| 0)))
                .collect(),
            Err(e) => all(e.code()),
        };
    }
    let Some(addr) = host.broker_address(leader) else {
        return all(ResponseError::CoordinatorNotAvailable.code());
    };
    let conn = match peers.get(leader, &addr).await {
        Ok(c) => c,
        Err(_) => return all(ResponseError::CoordinatorNotAvailable.code()),
    };
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    let mut t = AddPartitionsToTxnTransaction::default();
    t.transactional_id = TransactionalId(crate::api::str_bytes(producer.transactional_id.clone()));
    t.producer_id = ProducerId(producer.producer_id);
    t.producer_epoch = producer.producer_epoch;
    t.verify_only = true;
    t.topics = topics
        .into_iter()
        .map(|(name, parts)| {
            let mut at = AddPartitionsToTxnTopic::default();
            at.name = TopicName(crate::api::str_bytes(name));
            at.partitions = parts;
            at
        })
        .collect();
    let mut req = AddPartitionsToTxnRequest::default();
    req.transactions = vec![t];
    let resp = match conn.call(&req, 4).await {
        Ok(r) => r,
        Err(_) => {
            peers.drop_conn(leader).await;
            return all(ResponseError::CoordinatorNotAvailable.code());
        }
    };
    if resp.error_code != 0 {
        return all(resp.error_code);
    }
    let mut codes: HashMap<(String, i32), i16> = HashMap::new();
    for r in resp.results_by_transaction {
        for t in r.topic_results {
            for p in t.results_by_partition {
                codes.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.partition_error_code,
                );
            }
        }
    }
    tps.iter()
        .map(|tp| {
            let code = codes
                .get(&(tp.topic.clone(), tp.partition))
                .copied()
                .unwrap_or(ResponseError::UnknownServerError.code());
            (tp.clone(), code)
        })
        .collect()
}
