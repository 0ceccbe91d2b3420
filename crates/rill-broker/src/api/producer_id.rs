//! InitProducerId for idempotent producers: a fresh producer id at epoch 0, or (KIP-360) the
//! same id with its epoch bumped when the client asks to continue with its current id.
//! With a transactional id, the transaction coordinator answers (`api::txn`).

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::{blocking, RequestContext};
use crate::broker::Broker;

/// An InitProducerId answer without a producer id (-1 everywhere), for an error to be set on.
pub fn no_producer_id() -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse::default();
    r.producer_id = ProducerId(-1);
    r.producer_epoch = -1;
    r.ongoing_txn_producer_id = ProducerId(-1);
    r.ongoing_txn_producer_epoch = -1;
    r
}

/// Answers InitProducerId.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    use rill_auth::acl::{AclOperation, ResourceType};
    if let Some(id) = &req.transactional_id {
        // Kafka: WRITE on the transactional id.
        if !ctx
            .auth
            .allows(AclOperation::Write, ResourceType::TransactionalId, id)
        {
            let mut r = no_producer_id();
            r.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
            return r;
        }
        return super::txn::init_producer_id(broker, ctx, req).await;
    }
    let mut r = no_producer_id();
    // Kafka (KIP-679): IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
    if !ctx.auth.cluster(AclOperation::IdempotentWrite)
        && !ctx.auth.any_of(AclOperation::Write, ResourceType::Topic)
    {
        r.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return r;
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        r.producer_id = req.producer_id;
        r.producer_epoch = req.producer_epoch + 1;
        return r;
    }
    let b = broker.clone();
    match blocking(move || b.producer_ids.next_id(&b.metadata)).await {
        Some(Ok(id)) => {
            r.producer_id = ProducerId(id);
            r.producer_epoch = 0;
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "producer id allocation failed");
            r.error_code = ResponseError::KafkaStorageError.code();
        }
        None => r.error_code = ResponseError::UnknownServerError.code(),
    }
    r
}
