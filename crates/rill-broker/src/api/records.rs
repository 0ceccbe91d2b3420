//! DeleteRecords: move a partition's log start offset forward.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::errors::log_error_code;
use super::{blocking, RequestContext};
use crate::broker::Broker;

/// Answers DeleteRecords.
pub async fn delete_records(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let b = broker.clone();
    blocking(move || {
        let mut r = DeleteRecordsResponse::default();
        for t in req.topics {
            let mut tr = DeleteRecordsTopicResult::default();
            tr.name = t.name.clone();
            for p in t.partitions {
                let mut pr = DeleteRecordsPartitionResult::default();
                pr.partition_index = p.partition_index;
                pr.low_watermark = -1;
                match b.leader_partition(t.name.0.as_str(), p.partition_index) {
                    Err(e) => pr.error_code = e.code(),
                    Ok(part) => match part.delete_records(p.offset) {
                        Ok(low) => pr.low_watermark = low,
                        Err(e) => pr.error_code = log_error_code(&e),
                    },
                }
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        r
    })
    .await
    .unwrap_or_default()
}
