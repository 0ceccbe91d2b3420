//! The transaction APIs (KIP-98): InitProducerId with a transactional id, AddPartitionsToTxn
//! (v0-3 from producers; v4+ batched, with the VerifyOnly calls partition leaders make),
//! AddOffsetsToTxn, EndTxn, WriteTxnMarkers (from coordinators to partition leaders),
//! DescribeTransactions and ListTransactions. Thin: decode, run the `rill-txn` coordinator
//! through [`crate::txn::TxnService`] (which parks a request until its record is replicated),
//! encode with the version's error codes ([`rill_txn::TxnError::code_for`]).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedState;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    EndTxnRequest, EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TopicName, TransactionalId,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::ResponseError;
use rill_auth::acl::{AclOperation, ResourceType};
use rill_log::{MarkerSpec, TxnOutcome};
use rill_txn::{
    Answer, InitProducerIdRequest as TxnInit, ListTransactionsFilter, Output, ProducerIdAndEpoch,
    RequestId, TopicPartition, TxnApi, TxnCoordinator, TxnError, TxnProducer, TxnResult,
};

use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;
use crate::clock::now_ms;

/// How long a request waits for the coordinator's answer (its record replicated).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long EndTxn waits for the transaction's markers after its Prepare record
/// ([`crate::txn::TxnService::wait_ended`]); past it, the answer goes anyway.
const END_WAIT: Duration = Duration::from_secs(10);

/// Runs `f` on the coordinator with a parked request id and waits for its answer.
async fn ask<F>(broker: &Arc<Broker>, f: F) -> Answer
where
    F: FnOnce(&mut TxnCoordinator, RequestId, i64) -> Output + Send + 'static,
{
    let (id, rx) = broker.txns.park();
    let b = broker.clone();
    let ran = blocking(move || b.txns.apply(&b.replicas, |c, now| f(c, id, now))).await;
    if ran.is_none() {
        broker.txns.unpark(id);
        return Answer::Done(Err(TxnError::UnknownServerError(
            "coordinator task failed".into(),
        )));
    }
    match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
        Ok(Ok(a)) => a,
        _ => {
            broker.txns.unpark(id);
            Answer::Done(Err(TxnError::CoordinatorNotAvailable))
        }
    }
}

fn done_code(a: Answer, api: TxnApi, version: i16) -> i16 {
    match a {
        Answer::Done(Ok(())) => 0,
        Answer::Done(Err(e)) | Answer::ProducerId(Err(e)) => e.code_for(api, version),
        Answer::ProducerId(Ok(_)) => 0,
    }
}

/// InitProducerId with a transactional id.
pub async fn init_producer_id(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut r = super::producer_id::no_producer_id();
    let txn_id = req
        .transactional_id
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let expected = if ctx.version >= 3 {
        match ProducerIdAndEpoch::expected_from_request(req.producer_id.0, req.producer_epoch) {
            Ok(e) => e,
            Err(e) => {
                r.error_code = e.code_for(TxnApi::InitProducerId, ctx.version);
                return r;
            }
        }
    } else {
        None
    };
    let init = TxnInit {
        transactional_id: txn_id,
        txn_timeout_ms: req.transaction_timeout_ms,
        expected,
    };
    let b = broker.clone();
    let answer = ask(broker, move |c, id, now| {
        let partition = c.partition_for(&init.transactional_id);
        let mut alloc = || {
            b.producer_ids.next_id(&b.metadata).map_err(|e| {
                tracing::warn!(error = %e, "producer id block allocation failed");
                TxnError::CoordinatorLoadInProgress { partition }
            })
        };
        c.init_producer_id(id, &init, &mut alloc, now)
    })
    .await;
    match answer {
        Answer::ProducerId(Ok(p)) => {
            r.producer_id = ProducerId(p.producer_id);
            r.producer_epoch = p.epoch;
        }
        Answer::ProducerId(Err(e)) | Answer::Done(Err(e)) => {
            r.error_code = e.code_for(TxnApi::InitProducerId, ctx.version);
        }
        Answer::Done(Ok(())) => r.error_code = ResponseError::UnknownServerError.code(),
    }
    r
}

/// The partitions of a request that do not exist (UNKNOWN_TOPIC_OR_PARTITION).
fn unknown_partitions(broker: &Broker, tps: &[TopicPartition]) -> Vec<TopicPartition> {
    let image = broker.image();
    tps.iter()
        .filter(|tp| {
            image
                .topic(&tp.topic)
                .is_none_or(|t| tp.partition < 0 || tp.partition >= t.partitions as i32)
        })
        .cloned()
        .collect()
}

fn topic_results(
    tps: &[TopicPartition],
    code_of: impl Fn(&TopicPartition) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for tp in tps {
        let mut pr = AddPartitionsToTxnPartitionResult::default();
        pr.partition_index = tp.partition;
        pr.partition_error_code = code_of(tp);
        match out.last_mut() {
            Some(t) if t.name.0.as_str() == tp.topic => t.results_by_partition.push(pr),
            _ => {
                let mut t = AddPartitionsToTxnTopicResult::default();
                t.name = TopicName(str_bytes(tp.topic.clone()));
                t.results_by_partition.push(pr);
                out.push(t);
            }
        }
    }
    out
}

/// One transaction's AddPartitionsToTxn (or its verification): an error per partition.
async fn add_one(
    broker: &Arc<Broker>,
    auth: &crate::authz::RequestAuth,
    version: i16,
    producer: TxnProducer,
    tps: Vec<TopicPartition>,
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    // Kafka: WRITE on the transactional id (every partition refused otherwise), then WRITE on
    // each topic (the refused ones fail, the others are not attempted). Brokers verifying a
    // transaction (verify_only) act for the cluster: CLUSTER_ACTION instead.
    let txn_ok = if verify_only {
        auth.cluster(AclOperation::ClusterAction)
    } else {
        auth.allows(
            AclOperation::Write,
            ResourceType::TransactionalId,
            &producer.transactional_id,
        )
    };
    if !txn_ok {
        let code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return topic_results(&tps, |_| code);
    }
    if !verify_only && auth.enabled() {
        let refused: Vec<&TopicPartition> = tps
            .iter()
            .filter(|tp| !auth.topic(AclOperation::Write, &tp.topic))
            .collect();
        if !refused.is_empty() {
            return topic_results(&tps, |tp| {
                if refused.contains(&tp) {
                    ResponseError::TopicAuthorizationFailed.code()
                } else {
                    ResponseError::OperationNotAttempted.code()
                }
            });
        }
    }
    let unknown = unknown_partitions(broker, &tps);
    if !unknown.is_empty() {
        // Kafka: the unknown ones fail, the others are not attempted.
        return topic_results(&tps, |tp| {
            if unknown.contains(tp) {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                ResponseError::OperationNotAttempted.code()
            }
        });
    }
    if verify_only {
        return match broker.txns.read(|c| c.verify_partitions(&producer, &tps)) {
            Ok(each) => {
                let codes: Vec<(TopicPartition, i16)> = each
                    .into_iter()
                    .map(|(tp, r)| {
                        let code = r.map_or_else(
                            |e| e.code_for(TxnApi::AddPartitionsToTxn, version),
                            |()| 0,
                        );
                        (tp, code)
                    })
                    .collect();
                topic_results(&tps, |tp| {
                    codes.iter().find(|(t, _)| t == tp).map_or(0, |(_, c)| *c)
                })
            }
            Err(e) => {
                let code = e.code_for(TxnApi::AddPartitionsToTxn, version);
                topic_results(&tps, |_| code)
            }
        };
    }
    let parts = tps.clone();
    let answer = ask(broker, move |c, id, now| {
        c.add_partitions(id, &producer, &parts, now)
    })
    .await;
    let code = done_code(answer, TxnApi::AddPartitionsToTxn, version);
    topic_results(&tps, |_| code)
}

fn tps_of(
    topics: &[kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic],
) -> Vec<TopicPartition> {
    let mut tps: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.name.0.to_string(), *p))
        })
        .collect();
    tps.sort();
    tps.dedup();
    tps
}

/// AddPartitionsToTxn.
pub async fn add_partitions_to_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let mut r = AddPartitionsToTxnResponse::default();
    if ctx.version <= 3 {
        let producer = TxnProducer::new(
            req.v3_and_below_transactional_id.0.to_string(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
        );
        let tps = tps_of(&req.v3_and_below_topics);
        r.results_by_topic_v3_and_below =
            add_one(broker, &ctx.auth, ctx.version, producer, tps, false).await;
        return r;
    }
    for t in req.transactions {
        let producer = TxnProducer::new(
            t.transactional_id.0.to_string(),
            t.producer_id.0,
            t.producer_epoch,
        );
        let tps = tps_of(&t.topics);
        let mut res = AddPartitionsToTxnResult::default();
        res.transactional_id = t.transactional_id.clone();
        res.topic_results =
            add_one(broker, &ctx.auth, ctx.version, producer, tps, t.verify_only).await;
        r.results_by_transaction.push(res);
    }
    r
}

/// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction.
pub async fn add_offsets_to_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let mut r = AddOffsetsToTxnResponse::default();
    // Kafka: WRITE on the transactional id, READ on the group.
    if !ctx.auth.allows(
        AclOperation::Write,
        ResourceType::TransactionalId,
        req.transactional_id.0.as_str(),
    ) {
        r.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return r;
    }
    if !ctx.auth.group(AclOperation::Read, req.group_id.0.as_str()) {
        r.error_code = ResponseError::GroupAuthorizationFailed.code();
        return r;
    }
    let producer = TxnProducer::new(
        req.transactional_id.0.to_string(),
        req.producer_id.0,
        req.producer_epoch,
    );
    let group = req.group_id.0.to_string();
    let partitions = broker.groups.offsets_partitions();
    let answer = ask(broker, move |c, id, now| {
        c.add_offsets(id, &producer, &group, partitions, now)
    })
    .await;
    r.error_code = done_code(answer, TxnApi::AddOffsetsToTxn, ctx.version);
    r
}

/// EndTxn: commit or abort.
pub async fn end_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: EndTxnRequest,
) -> EndTxnResponse {
    let mut r = EndTxnResponse::default();
    r.producer_id = ProducerId(-1);
    r.producer_epoch = -1;
    // Kafka: WRITE on the transactional id.
    if !ctx.auth.allows(
        AclOperation::Write,
        ResourceType::TransactionalId,
        req.transactional_id.0.as_str(),
    ) {
        r.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return r;
    }
    let producer = TxnProducer::new(
        req.transactional_id.0.to_string(),
        req.producer_id.0,
        req.producer_epoch,
    );
    let result = if req.committed {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    };
    let txn_id = producer.transactional_id.clone();
    let answer = ask(broker, move |c, id, now| {
        c.end_txn(id, &producer, result, now)
    })
    .await;
    r.error_code = done_code(answer, TxnApi::EndTxn, ctx.version);
    if r.error_code == 0 {
        broker.txns.wait_ended(&txn_id, END_WAIT).await;
    }
    r
}

/// WriteTxnMarkers: a coordinator's markers for partitions this node leads.
pub async fn write_txn_markers(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let mut r = WriteTxnMarkersResponse::default();
    // Kafka: CLUSTER_ACTION (only brokers write markers).
    let allowed = ctx.auth.cluster(AclOperation::ClusterAction);
    for m in req.markers {
        if !allowed {
            let mut res = WritableTxnMarkerResult::default();
            res.producer_id = m.producer_id;
            for t in &m.topics {
                let mut tr = WritableTxnMarkerTopicResult::default();
                tr.name = t.name.clone();
                tr.partitions = t
                    .partition_indexes
                    .iter()
                    .map(|p| {
                        let mut pr = WritableTxnMarkerPartitionResult::default();
                        pr.partition_index = *p;
                        pr.error_code = ResponseError::ClusterAuthorizationFailed.code();
                        pr
                    })
                    .collect();
                res.topics.push(tr);
            }
            r.markers.push(res);
            continue;
        }
        let spec = MarkerSpec {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            outcome: if m.transaction_result {
                TxnOutcome::Commit
            } else {
                TxnOutcome::Abort
            },
            timestamp_ms: now_ms(),
        };
        let tps: Vec<TopicPartition> = m
            .topics
            .iter()
            .flat_map(|t| {
                t.partition_indexes
                    .iter()
                    .map(|p| TopicPartition::new(t.name.0.to_string(), *p))
            })
            .collect();
        let codes = crate::txn::markers::write_local(broker.as_ref(), &spec, &tps).await;
        let mut res = WritableTxnMarkerResult::default();
        res.producer_id = m.producer_id;
        for (tp, code) in codes {
            let mut pr = WritableTxnMarkerPartitionResult::default();
            pr.partition_index = tp.partition;
            pr.error_code = code;
            match res.topics.last_mut() {
                Some(t) if t.name.0.as_str() == tp.topic => t.partitions.push(pr),
                _ => {
                    let mut t = WritableTxnMarkerTopicResult::default();
                    t.name = TopicName(str_bytes(tp.topic.clone()));
                    t.partitions.push(pr);
                    res.topics.push(t);
                }
            }
        }
        r.markers.push(res);
    }
    r
}

/// DescribeTransactions.
pub fn describe_transactions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut r = DescribeTransactionsResponse::default();
    for id in req.transactional_ids {
        let mut s = TransactionState::default();
        s.transactional_id = id.clone();
        s.producer_id = ProducerId(-1);
        s.producer_epoch = -1;
        s.transaction_start_time_ms = -1;
        // Kafka: DESCRIBE on the transactional id.
        if !ctx.auth.allows(
            AclOperation::Describe,
            ResourceType::TransactionalId,
            id.0.as_str(),
        ) {
            s.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
            r.transaction_states.push(s);
            continue;
        }
        match broker.txns.read(|c| c.describe_transaction(id.0.as_str())) {
            Ok(d) => {
                s.transaction_state = str_bytes(d.state_name());
                s.transaction_timeout_ms = d.txn_timeout_ms;
                s.transaction_start_time_ms = d.txn_start_timestamp_ms;
                s.producer_id = ProducerId(d.producer_id);
                s.producer_epoch = d.producer_epoch;
                s.topics = d
                    .topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let mut t = TopicData::default();
                        t.topic = TopicName(str_bytes(topic));
                        t.partitions = partitions;
                        t
                    })
                    .collect();
            }
            Err(e) => s.error_code = e.code(),
        }
        r.transaction_states.push(s);
    }
    r
}

/// ListTransactions: the transactions of the partitions this node coordinates.
pub fn list_transactions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut r = ListTransactionsResponse::default();
    let filter = ListTransactionsFilter {
        states: req.state_filters.iter().map(|s| s.to_string()).collect(),
        producer_ids: req.producer_id_filters.iter().map(|p| p.0).collect(),
        duration_filter_ms: if ctx.version >= 1 {
            req.duration_filter
        } else {
            -1
        },
    };
    match broker.txns.read(|c| c.list_transactions(&filter, now_ms())) {
        Ok(listing) => {
            r.unknown_state_filters = listing
                .unknown_state_filters
                .into_iter()
                .map(str_bytes)
                .collect();
            // Kafka: only the transactional ids the principal may DESCRIBE.
            r.transaction_states = listing
                .transactions
                .into_iter()
                .filter(|t| {
                    ctx.auth.allows(
                        AclOperation::Describe,
                        ResourceType::TransactionalId,
                        &t.transactional_id,
                    )
                })
                .map(|t| {
                    let mut s = ListedState::default();
                    s.transactional_id = TransactionalId(str_bytes(t.transactional_id));
                    s.producer_id = ProducerId(t.producer_id);
                    s.transaction_state = str_bytes(t.state.name());
                    s
                })
                .collect();
        }
        Err(e) => r.error_code = e.code(),
    }
    r
}
