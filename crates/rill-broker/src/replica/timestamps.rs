//! Record-level timestamp lookups for ListOffsets.
//!
//! The log answers at batch granularity without decoding records; ListOffsets must name the
//! exact record, as Kafka does, so this decodes the one batch the log pointed at (any codec).
//! This is the only place outside tests where records are decoded, and it is not on the
//! produce or fetch path.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

/// Every record's (offset, timestamp) in `bytes` (whole batches), or `None` when they do not
/// decode.
fn records(mut bytes: Bytes) -> Option<Vec<(i64, i64)>> {
    let sets = RecordBatchDecoder::decode_all(&mut bytes).ok()?;
    Some(
        sets.into_iter()
            .flat_map(|s| s.records.into_iter().map(|r| (r.offset, r.timestamp)))
            .collect(),
    )
}

/// The first record at or after `offset` whose timestamp is at least `ts`.
pub fn first_at_or_after(bytes: Bytes, offset: i64, ts: i64) -> Option<(i64, i64)> {
    records(bytes)?
        .into_iter()
        .find(|(o, t)| *o >= offset && *t >= ts)
}

/// The first record carrying the largest timestamp.
pub fn max_timestamp(bytes: Bytes) -> Option<(i64, i64)> {
    records(bytes)?
        .into_iter()
        .fold(None, |best: Option<(i64, i64)>, (o, t)| match best {
            Some((_, bt)) if bt >= t => best,
            _ => Some((o, t)),
        })
}
