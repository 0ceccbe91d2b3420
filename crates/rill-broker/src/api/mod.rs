//! Request routing: check the header, decode the body, call the API family's handler, encode
//! the response. One module per Kafka API family; Kafka error codes come from [`errors`].

pub mod acls;
pub mod api_versions;
pub mod client_quotas;
pub mod cluster;
pub mod configs;
pub mod describe_configs;
pub mod describe_producers;
pub mod errors;
pub mod fetch;
pub mod fetch_wire;
pub mod group;
pub mod group_admin;
pub mod leader_epoch;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod partition_admin;
pub mod produce;
pub mod producer_id;
pub mod quorum;
pub mod records;
pub mod sasl;
pub mod scram;
pub mod topics;
pub mod txn;
pub mod txn_offsets;

#[cfg(test)]
mod parse_fuzz_tests;
#[cfg(test)]
mod sasl_fuzz_tests;
#[cfg(test)]
mod service_tests;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::broker::Broker;
use crate::net::handler::RequestHandler;
use crate::net::response::Response;
use crate::quota::entity::QuotaKind;
use crate::session::Session;

/// Why a request closes its connection instead of getting a response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Too short for a request header.
    #[error("request of {0} bytes is too short for a header")]
    TooShort(usize),
    /// An API key Kafka does not define.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// An API Rill does not serve, or a version of it out of range.
    #[error("unsupported api {api:?} version {version}")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The version asked for.
        version: i16,
    },
    /// The header or body does not decode.
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// The decoder's complaint.
        reason: String,
    },
    /// The response could not be encoded (a bug).
    #[error("cannot encode response: {0}")]
    Encode(String),
    /// A request before SASL authentication completed, a raw SASL token that is too
    /// large, or an expired session's request (KIP-368): the connection closes, as Kafka's.
    #[error("{0}")]
    Unauthenticated(String),
}

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The API.
    pub api_key: ApiKey,
    /// The request's version; the response uses the same.
    pub version: i16,
    /// The decoded header.
    pub header: RequestHeader,
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener the request came in on (Metadata answers with its endpoints).
    pub listener: Arc<crate::session::ListenerContext>,
    /// Who sent it and the authorizer its checks go to.
    pub auth: crate::authz::RequestAuth,
    /// Its client quotas (`None` when no quota is set in the cluster).
    pub quota: Option<Arc<crate::quota::RequestQuota>>,
}

/// The APIs Rill serves and the version ranges it advertises and accepts: each version here
/// is decoded by kafka-protocol and handled with that version's semantics (the broker's
/// `every_advertised_version_is_decoded_handled_and_answered` test sends each one). Written
/// out rather than taken from `ApiKey::valid_versions()`, which has claimed versions its
/// decoders did not read (OffsetFetch/OffsetCommit v10, InitProducerId v6 in 0.18.0): a
/// kafka-protocol upgrade must not widen what Rill advertises by itself.
const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    // v6 adds KIP-939's two-phase commit fields (Enable2Pc, KeepPreparedTxn), which only a
    // transaction coordinator can honour.
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    // v10 names topics by id (KIP-848); vendor/kafka-protocol decodes it (rill patch).
    (ApiKey::OffsetCommit, 2, 10),
    (ApiKey::OffsetFetch, 1, 10),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    // Transactions V1 (KIP-98 with KIP-360 and KIP-890 part 1). EndTxn v5 and
    // AddPartitionsToTxn... v5 belong to transactions V2 (KIP-890 part 2, an epoch bump per
    // transaction), which Rill does not run: clients then keep to V1.
    (ApiKey::AddPartitionsToTxn, 0, 4),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    // v0 is gone since Kafka 4.0, and kafka-protocol decodes only v1.
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::DescribeProducers, 0, 0),
    // v5 is KIP-890 part 2 (the commit also adds the offsets partition to the transaction).
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // v0 (no pattern type) was removed in Kafka 4.0 (KIP-896).
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
];

/// The APIs Rill serves, with the version ranges it accepts: `(api, min, max)`.
pub fn supported_apis() -> impl Iterator<Item = (ApiKey, i16, i16)> {
    SUPPORTED_APIS.iter().copied()
}

fn version_range(api: ApiKey) -> Option<(i16, i16)> {
    supported_apis()
        .find(|(k, _, _)| *k == api)
        .map(|(_, min, max)| (min, max))
}

/// A request frame, checked and decoded.
#[derive(Debug)]
pub enum ParsedRequest {
    /// A request of a supported API and version.
    Request {
        /// Correlation id to echo.
        correlation_id: i32,
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// The decoded header.
        header: RequestHeader,
        /// The decoded body (boxed: request bodies are large and vary in size).
        body: Box<RequestKind>,
    },
    /// ApiVersions at a version newer than ours: answer v0 with UNSUPPORTED_VERSION.
    ApiVersionsTooNew {
        /// Correlation id to echo.
        correlation_id: i32,
    },
}

/// Checks and decodes one frame (the bytes after the size prefix) without touching any
/// broker state. Never panics, whatever the bytes (the fuzz target drives this).
///
/// # Errors
/// [`RequestError`] when the connection must be closed.
pub fn parse_request(frame: &Bytes) -> Result<ParsedRequest, RequestError> {
    if frame.len() < crate::net::frame::MIN_REQUEST_LEN {
        return Err(RequestError::TooShort(frame.len()));
    }
    let mut peek = &frame[..];
    let raw_key = peek.get_i16();
    let version = peek.get_i16();
    let correlation_id = peek.get_i32();
    let api = ApiKey::try_from(raw_key).map_err(|_| RequestError::UnknownApiKey(raw_key))?;
    let Some((min, max)) = version_range(api) else {
        return Err(RequestError::UnsupportedVersion { api, version });
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions && version > max {
            return Ok(ParsedRequest::ApiVersionsTooNew { correlation_id });
        }
        return Err(RequestError::UnsupportedVersion { api, version });
    }
    let malformed = |reason: String| RequestError::Malformed {
        api,
        version,
        reason,
    };
    let mut buf = frame.clone();
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version))
        .map_err(|e| malformed(e.to_string()))?;
    let body = RequestKind::decode(api, &mut buf, version).map_err(|e| malformed(e.to_string()))?;
    Ok(ParsedRequest::Request {
        correlation_id,
        api,
        version,
        header,
        body: Box::new(body),
    })
}

/// The answer to one request (see [`crate::net::handler::Responder`]).
pub type Responder = crate::net::handler::Responder<RequestError>;

/// The broker's [`RequestHandler`]: what `net` calls for every frame.
#[derive(Debug)]
pub struct ApiHandler {
    /// The broker the requests act on.
    broker: Arc<Broker>,
}

impl ApiHandler {
    /// A handler over `broker`.
    pub fn new(broker: Arc<Broker>) -> Self {
        ApiHandler { broker }
    }
}

impl RequestHandler for ApiHandler {
    type Error = RequestError;

    fn handle(
        &self,
        frame: Bytes,
        session: &Session,
    ) -> impl std::future::Future<Output = Result<Responder, RequestError>> + Send {
        handle_request(&self.broker, frame, session)
    }
}

/// Handles one whole frame.
///
/// # Errors
/// [`RequestError`] when the connection must be closed.
pub async fn handle_request(
    broker: &Arc<Broker>,
    frame: Bytes,
    session: &Session,
) -> Result<Responder, RequestError> {
    if let Some(answer) = sasl::before_parsing(broker, &frame, session)? {
        return Ok(answer);
    }
    let (correlation_id, api, version, header, body) = match parse_request(&frame)? {
        ParsedRequest::ApiVersionsTooNew { correlation_id } => {
            // Clients rely on this: a v0 answer with the ranges, so they can pick a version.
            return api_versions::unsupported_version_response(correlation_id)
                .map(|b| Responder::Done(Some(Response::from_bytes(b))));
        }
        ParsedRequest::Request {
            correlation_id,
            api,
            version,
            header,
            body,
        } => (correlation_id, api, version, header, body),
    };
    sasl::check_allowed(session, api)?;
    let timer = crate::observe::requests::start(api);
    let image = broker.image();
    let client_id = header.client_id.as_deref().unwrap_or("");
    let quota = broker
        .quotas
        .for_request(&image, || session.principal(), client_id);
    let ctx = RequestContext {
        api_key: api,
        version,
        header,
        peer: session.peer,
        listener: session.listener.clone(),
        auth: request_auth(broker, session),
        quota,
    };
    match *body {
        RequestKind::Produce(req) => {
            // Kafka records the produce request's size against producer_byte_rate.
            if let Some(q) = &ctx.quota {
                broker
                    .quotas
                    .record(q, QuotaKind::Produce, frame.len() as f64);
            }
            let quota = ctx.quota.clone();
            let (inflight, handling_ns) = crate::quota::timed(quota.is_some(), async {
                let refused = if req.transactional_id.is_some()
                    && broker.txns.verification_enabled()
                {
                    crate::txn::verify::verify_produce(broker.as_ref(), broker.txns.peers(), &req)
                        .await
                } else {
                    Default::default()
                };
                produce::append_refusing(&broker.replicas, &image, &ctx, req, &refused).await
            })
            .await;
            let throttle = throttle_after(broker, session, api, quota.as_ref(), handling_ns);
            // Only what encoding needs goes along: the request's buffer is freed now.
            Ok(Responder::Pending(Box::pin(async move {
                let _parked =
                    crate::observe::gauges::parked(crate::observe::gauges::Purgatory::Produce);
                let Some(inflight) = inflight else {
                    return Err(RequestError::Encode("produce append task failed".into()));
                };
                let body = inflight.finish().await.map(|mut r| {
                    r.throttle_time_ms = throttle;
                    ResponseKind::Produce(r)
                });
                timer.finish(body.as_ref());
                match body {
                    Some(body) => encode_response(api, version, correlation_id, body)
                        .map(|b| Some(Response::from_bytes(b))),
                    None => Ok(None),
                }
            })))
        }
        RequestKind::Fetch(mut req) => {
            let follower = req.replica_id.0.max(req.replica_state.replica_id.0) >= 0;
            let quota = ctx.quota.clone().filter(|_| !follower);
            // A consumer over its byte rate gets no data until its debt is paid (Kafka
            // answers a throttled fetch without data too).
            let in_debt = quota
                .as_ref()
                .map(|q| broker.quotas.refuse_while_in_debt(q, QuotaKind::Fetch))
                .unwrap_or(0);
            let mut answer = if in_debt > 0 {
                fetch::throttled_answer()
            } else {
                // A fetch never asks for more than the consumer's quota lets through at once.
                if let Some(cap) = quota.as_ref().and_then(|q| broker.quotas.fetch_cap(q)) {
                    req.max_bytes = req.max_bytes.min(cap.clamp(1.0, i32::MAX as f64) as i32);
                }
                let (answer, handling_ns) = crate::quota::timed(quota.is_some(), async {
                    fetch::handle(&broker.replicas, &image, &ctx, req).await
                })
                .await;
                if let Some(q) = &quota {
                    let bytes = fetch::response_record_bytes(&answer) as f64;
                    broker.quotas.record(q, QuotaKind::Fetch, bytes);
                    record_handling_time(broker, api, q, handling_ns);
                }
                answer
            };
            if let Some(q) = &quota {
                answer.response.throttle_time_ms = q.throttle_ms();
                session.throttle_for(q.throttle_ms() as u64);
            }
            timer.finish_fetch(&answer.response);
            fetch_wire::encode_fetch_response(
                correlation_id,
                version,
                answer.response,
                answer.files,
            )
            .map(|r| Responder::Done(Some(r)))
        }
        body => {
            let (body, handling_ns) = crate::quota::timed(ctx.quota.is_some(), async {
                dispatch(broker, &ctx, session, body).await
            })
            .await;
            let body = body.map(|mut body| {
                let throttle =
                    throttle_after(broker, session, api, ctx.quota.as_ref(), handling_ns);
                if throttle > 0 {
                    set_throttle_time(&mut body, throttle);
                }
                body
            });
            timer.finish(body.as_ref());
            match body {
                Some(body) => encode_response(api, version, correlation_id, body)
                    .map(|b| Responder::Done(Some(Response::from_bytes(b)))),
                None => Ok(Responder::Done(None)),
            }
        }
    }
}

/// APIs whose handling time `request_percentage` does not count (Kafka exempts the
/// handshake and the brokers' own cluster actions).
fn exempt_from_request_quota(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::ApiVersions
            | ApiKey::SaslHandshake
            | ApiKey::SaslAuthenticate
            | ApiKey::WriteTxnMarkers
    )
}

/// Records the request's handling time against `request_percentage` and returns the
/// throttle time the request earned in all (bytes, time, mutations), muting the connection
/// for it (KIP-219). Follower fetches pass no quota: replication is not a client's usage.
fn throttle_after(
    broker: &Broker,
    session: &Session,
    api: ApiKey,
    quota: Option<&Arc<crate::quota::RequestQuota>>,
    handling_ns: u64,
) -> i32 {
    let Some(q) = quota else {
        return 0;
    };
    record_handling_time(broker, api, q, handling_ns);
    let ms = q.throttle_ms();
    session.throttle_for(ms as u64);
    ms
}

/// Records a request's handling time against `request_percentage` (unless its API is
/// exempt): percent of one thread, so nanoseconds x 100 / 1e9 per second.
fn record_handling_time(
    broker: &Broker,
    api: ApiKey,
    q: &crate::quota::RequestQuota,
    handling_ns: u64,
) {
    if !exempt_from_request_quota(api) {
        broker
            .quotas
            .record(q, QuotaKind::Request, handling_ns as f64 * 100.0 / 1e9);
    }
}

/// The request's principal, host and the authorizer in force.
fn request_auth(broker: &Broker, session: &Session) -> crate::authz::RequestAuth {
    match &broker.authz {
        None => crate::authz::RequestAuth {
            principal: String::new(),
            host: String::new(),
            authorizer: None,
        },
        Some(authz) => crate::authz::RequestAuth {
            principal: session.principal(),
            host: session.peer.ip().to_string(),
            authorizer: Some(authz.authorizer(&broker.image())),
        },
    }
}

async fn dispatch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    session: &Session,
    body: RequestKind,
) -> Option<ResponseKind> {
    let r = match body {
        RequestKind::SaslHandshake(req) => {
            ResponseKind::SaslHandshake(sasl::handshake(broker, ctx, session, req))
        }
        RequestKind::SaslAuthenticate(req) => {
            ResponseKind::SaslAuthenticate(sasl::authenticate(broker, ctx, session, req))
        }
        RequestKind::ApiVersions(req) => ResponseKind::ApiVersions(api_versions::handle(ctx, req)),
        RequestKind::Metadata(req) => {
            ResponseKind::Metadata(metadata::handle(broker, ctx, req).await)
        }
        RequestKind::Produce(req) => {
            return produce::handle(&broker.replicas, &broker.image(), ctx, req)
                .await
                .map(ResponseKind::Produce)
        }
        RequestKind::ListOffsets(req) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, ctx, req).await)
        }
        RequestKind::InitProducerId(req) => {
            ResponseKind::InitProducerId(producer_id::handle(broker, ctx, req).await)
        }
        RequestKind::CreateTopics(req) => {
            ResponseKind::CreateTopics(topics::create_topics(broker, ctx, req).await)
        }
        RequestKind::DeleteTopics(req) => {
            ResponseKind::DeleteTopics(topics::delete_topics(broker, ctx, req).await)
        }
        RequestKind::CreatePartitions(req) => {
            ResponseKind::CreatePartitions(topics::create_partitions(broker, ctx, req).await)
        }
        RequestKind::DescribeConfigs(req) => {
            ResponseKind::DescribeConfigs(describe_configs::describe_configs(broker, ctx, req))
        }
        RequestKind::AlterConfigs(req) => {
            ResponseKind::AlterConfigs(configs::alter_configs(broker, ctx, req).await)
        }
        RequestKind::IncrementalAlterConfigs(req) => ResponseKind::IncrementalAlterConfigs(
            configs::incremental_alter_configs(broker, ctx, req).await,
        ),
        RequestKind::DescribeCluster(req) => {
            ResponseKind::DescribeCluster(cluster::describe_cluster(broker, ctx, req))
        }
        RequestKind::DescribeLogDirs(req) => {
            ResponseKind::DescribeLogDirs(cluster::describe_log_dirs(broker, ctx, req).await)
        }
        RequestKind::DescribeQuorum(req) => {
            ResponseKind::DescribeQuorum(quorum::describe_quorum(broker, ctx, req))
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            ResponseKind::OffsetForLeaderEpoch(leader_epoch::handle(broker, ctx, req).await)
        }
        RequestKind::ElectLeaders(req) => {
            ResponseKind::ElectLeaders(partition_admin::elect_leaders(broker, ctx, req).await)
        }
        RequestKind::AlterPartitionReassignments(req) => ResponseKind::AlterPartitionReassignments(
            partition_admin::alter_reassignments(broker, ctx, req).await,
        ),
        RequestKind::ListPartitionReassignments(req) => ResponseKind::ListPartitionReassignments(
            partition_admin::list_reassignments(broker, ctx, req),
        ),
        RequestKind::DeleteRecords(req) => {
            ResponseKind::DeleteRecords(records::delete_records(broker, ctx, req).await)
        }
        RequestKind::FindCoordinator(req) => {
            ResponseKind::FindCoordinator(group::find_coordinator(broker, ctx, req))
        }
        RequestKind::JoinGroup(req) => {
            ResponseKind::JoinGroup(group::join_group(broker, ctx, req).await)
        }
        RequestKind::SyncGroup(req) => {
            ResponseKind::SyncGroup(group::sync_group(broker, ctx, req).await)
        }
        RequestKind::Heartbeat(req) => {
            ResponseKind::Heartbeat(group::heartbeat(broker, ctx, req).await)
        }
        RequestKind::LeaveGroup(req) => {
            ResponseKind::LeaveGroup(group::leave_group(broker, ctx, req).await)
        }
        RequestKind::OffsetCommit(req) => {
            ResponseKind::OffsetCommit(offsets::offset_commit(broker, ctx, req).await)
        }
        RequestKind::OffsetFetch(req) => {
            ResponseKind::OffsetFetch(offsets::offset_fetch(broker, ctx, req))
        }
        RequestKind::OffsetDelete(req) => {
            ResponseKind::OffsetDelete(offsets::offset_delete(broker, ctx, req).await)
        }
        RequestKind::TxnOffsetCommit(req) => {
            ResponseKind::TxnOffsetCommit(txn_offsets::txn_offset_commit(broker, ctx, req).await)
        }
        RequestKind::DescribeGroups(req) => {
            ResponseKind::DescribeGroups(group_admin::describe_groups(broker, ctx, req))
        }
        RequestKind::ListGroups(req) => {
            ResponseKind::ListGroups(group_admin::list_groups(broker, ctx, req))
        }
        RequestKind::DeleteGroups(req) => {
            ResponseKind::DeleteGroups(group_admin::delete_groups(broker, ctx, req).await)
        }
        RequestKind::AddPartitionsToTxn(req) => {
            ResponseKind::AddPartitionsToTxn(txn::add_partitions_to_txn(broker, ctx, req).await)
        }
        RequestKind::AddOffsetsToTxn(req) => {
            ResponseKind::AddOffsetsToTxn(txn::add_offsets_to_txn(broker, ctx, req).await)
        }
        RequestKind::EndTxn(req) => ResponseKind::EndTxn(txn::end_txn(broker, ctx, req).await),
        RequestKind::WriteTxnMarkers(req) => {
            ResponseKind::WriteTxnMarkers(txn::write_txn_markers(broker, ctx, req).await)
        }
        RequestKind::DescribeTransactions(req) => {
            ResponseKind::DescribeTransactions(txn::describe_transactions(broker, ctx, req))
        }
        RequestKind::ListTransactions(req) => {
            ResponseKind::ListTransactions(txn::list_transactions(broker, ctx, req))
        }
        RequestKind::DescribeProducers(req) => {
            ResponseKind::DescribeProducers(describe_producers::handle(broker, ctx, req).await)
        }
        RequestKind::DescribeUserScramCredentials(req) => {
            ResponseKind::DescribeUserScramCredentials(scram::describe_user_scram_credentials(
                broker, ctx, req,
            ))
        }
        RequestKind::AlterUserScramCredentials(req) => ResponseKind::AlterUserScramCredentials(
            scram::alter_user_scram_credentials(broker, ctx, req).await,
        ),
        RequestKind::DescribeAcls(req) => {
            ResponseKind::DescribeAcls(acls::describe_acls(broker, ctx, req))
        }
        RequestKind::CreateAcls(req) => {
            ResponseKind::CreateAcls(acls::create_acls(broker, ctx, req).await)
        }
        RequestKind::DeleteAcls(req) => {
            ResponseKind::DeleteAcls(acls::delete_acls(broker, ctx, req).await)
        }
        RequestKind::DescribeClientQuotas(req) => ResponseKind::DescribeClientQuotas(
            client_quotas::describe_client_quotas(broker, ctx, req),
        ),
        RequestKind::AlterClientQuotas(req) => ResponseKind::AlterClientQuotas(
            client_quotas::alter_client_quotas(broker, ctx, req).await,
        ),
        other => {
            // version_range() admits only the APIs above; reaching here is a routing bug.
            tracing::error!(api = ?ctx.api_key, "no handler for {:?}", std::mem::discriminant(&other));
            return None;
        }
    };
    Some(r)
}

/// Sets the `throttle_time_ms` of a response (those that have one).
fn set_throttle_time(body: &mut ResponseKind, ms: i32) {
    match body {
        ResponseKind::Produce(r) => r.throttle_time_ms = ms,
        ResponseKind::Fetch(r) => r.throttle_time_ms = ms,
        ResponseKind::ListOffsets(r) => r.throttle_time_ms = ms,
        ResponseKind::Metadata(r) => r.throttle_time_ms = ms,
        ResponseKind::ApiVersions(r) => r.throttle_time_ms = ms,
        ResponseKind::CreateTopics(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteTopics(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteRecords(r) => r.throttle_time_ms = ms,
        ResponseKind::InitProducerId(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeConfigs(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterConfigs(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeLogDirs(r) => r.throttle_time_ms = ms,
        ResponseKind::CreatePartitions(r) => r.throttle_time_ms = ms,
        ResponseKind::IncrementalAlterConfigs(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeCluster(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetForLeaderEpoch(r) => r.throttle_time_ms = ms,
        ResponseKind::ElectLeaders(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterPartitionReassignments(r) => r.throttle_time_ms = ms,
        ResponseKind::ListPartitionReassignments(r) => r.throttle_time_ms = ms,
        ResponseKind::FindCoordinator(r) => r.throttle_time_ms = ms,
        ResponseKind::JoinGroup(r) => r.throttle_time_ms = ms,
        ResponseKind::SyncGroup(r) => r.throttle_time_ms = ms,
        ResponseKind::Heartbeat(r) => r.throttle_time_ms = ms,
        ResponseKind::LeaveGroup(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetCommit(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetFetch(r) => r.throttle_time_ms = ms,
        ResponseKind::OffsetDelete(r) => r.throttle_time_ms = ms,
        ResponseKind::TxnOffsetCommit(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeGroups(r) => r.throttle_time_ms = ms,
        ResponseKind::ListGroups(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteGroups(r) => r.throttle_time_ms = ms,
        ResponseKind::AddPartitionsToTxn(r) => r.throttle_time_ms = ms,
        ResponseKind::AddOffsetsToTxn(r) => r.throttle_time_ms = ms,
        ResponseKind::EndTxn(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeTransactions(r) => r.throttle_time_ms = ms,
        ResponseKind::ListTransactions(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeProducers(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeUserScramCredentials(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterUserScramCredentials(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeAcls(r) => r.throttle_time_ms = ms,
        ResponseKind::CreateAcls(r) => r.throttle_time_ms = ms,
        ResponseKind::DeleteAcls(r) => r.throttle_time_ms = ms,
        ResponseKind::DescribeClientQuotas(r) => r.throttle_time_ms = ms,
        ResponseKind::AlterClientQuotas(r) => r.throttle_time_ms = ms,
        _ => {}
    }
}

fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: ResponseKind,
) -> Result<Bytes, RequestError> {
    let header_version = api.response_header_version(version);
    let mut out = BytesMut::with_capacity(64);
    out.extend_from_slice(&[0u8; 4]);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut out, header_version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    body.encode(&mut out, version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

/// Runs blocking work (fsync, file opens) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, "blocking task failed");
            None
        }
    }
}

/// A `StrBytes` from a `String`.
pub(crate) fn str_bytes(s: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.into())
}

/// Kafka ACL operation codes allowed on a topic when no authorizer is configured (READ,
/// WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS), as a bit field.
pub(crate) const TOPIC_AUTHORIZED_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Cluster operations allowed with no authorizer (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE), Kafka's supported set for a cluster.
pub(crate) const CLUSTER_AUTHORIZED_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// "Not requested" for authorized-operations fields.
pub(crate) const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
