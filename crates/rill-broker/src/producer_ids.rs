//! Producer id allocation for InitProducerId: ids come in blocks reserved in the metadata log,
//! so an id is never handed out twice, even across restarts.

use std::sync::Mutex;

use rill_meta::MetadataRecord;

use crate::error::{BrokerError, Result};
use crate::metadata::MetadataBackend;

/// How many ids one metadata record reserves.
const BLOCK_SIZE: i64 = 1000;

/// Hands out producer ids.
#[derive(Debug, Default)]
pub struct ProducerIdAllocator {
    /// (next id to hand out, end of the reserved block, exclusive).
    state: Mutex<(i64, i64)>,
}

impl ProducerIdAllocator {
    /// A fresh id, reserving a new block in the metadata log when the current one is used up.
    ///
    /// # Errors
    /// Metadata log write errors.
    pub fn next_id(&self, store: &MetadataBackend) -> Result<i64> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| BrokerError::Internal("producer id lock poisoned".into()))?;
        if s.0 >= s.1 {
            let start = store.image().next_producer_id;
            let end = start + BLOCK_SIZE;
            store.commit(vec![MetadataRecord::ProducerIdsAllocated {
                next_producer_id: end,
            }])?;
            *s = (start, end);
        }
        let id = s.0;
        s.0 += 1;
        Ok(id)
    }
}
