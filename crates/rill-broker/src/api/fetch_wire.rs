//! Fetch responses whose record data are file ranges: every field is encoded by
//! kafka-protocol's own `FetchResponse` encoder (all versions, flexible or not, tagged fields,
//! whatever fields a handler sets), only the `records` fields are left out of the buffer and
//! become [`Chunk::File`](crate::net::response::Chunk) ranges that `sendfile` sends.
//!
//! How the records fields are found: the response is encoded twice, once with every
//! partition's records null and once with every partition's records empty. The null and the
//! empty encodings have the same length (`-1`/`0` as `i32` up to v11, varint `0`/`1` from
//! v12), so the two buffers differ exactly at the records length of each partition, in
//! encoding order. Each such spot becomes the real length prefix followed by the real
//! records (file ranges, bytes, or nothing for null). The unit tests check the result byte
//! for byte against kafka-protocol's encoding of the same response for every version.
//!
//! A response without file ranges (an empty long poll, an error) is encoded once, as is.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use rill_log::FileSlice;

use super::RequestError;
use crate::net::response::{Response, ResponseBuilder};

/// First Fetch version with flexible (compact, tagged) encoding.
const FIRST_FLEXIBLE: i16 = 12;

/// Record data held as file ranges, by (topic index, partition index within the topic) in
/// the response. Partitions not listed keep their `records` field.
pub type FileRecords = BTreeMap<(usize, usize), Vec<FileSlice>>;

/// The records of one partition as they will be sent.
enum Records {
    /// A null records field.
    Null,
    /// Bytes in memory.
    Bytes(Bytes),
    /// File ranges of this total length.
    Files(Vec<FileSlice>, u64),
}

impl Records {
    fn len(&self) -> u64 {
        match self {
            Records::Null => 0,
            Records::Bytes(b) => b.len() as u64,
            Records::Files(_, len) => *len,
        }
    }
}

/// Encodes a whole Fetch response frame (size prefix, header, body) for `version`, with the
/// partitions named in `files` sending those file ranges as their records.
///
/// # Errors
/// [`RequestError::Encode`] if kafka-protocol refuses the response (a field set that the
/// version lacks) or the frame would exceed 2 GiB.
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    mut response: FetchResponse,
    files: FileRecords,
) -> Result<Response, RequestError> {
    if files.is_empty() {
        // No file ranges (an empty long poll, errors): kafka-protocol's encoding is the frame.
        let mut frame = encode_frame(correlation_id, version, &response)?;
        let size = i32::try_from(frame.len() - 4).map_err(|_| {
            RequestError::Encode(format!("fetch response of {} bytes", frame.len()))
        })?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        return Ok(Response::from_bytes(frame.freeze()));
    }
    let mut files = files;
    let mut records = Vec::new();
    for (t, topic) in response.responses.iter_mut().enumerate() {
        for (p, pd) in topic.partitions.iter_mut().enumerate() {
            let real = match (files.remove(&(t, p)), pd.records.take()) {
                (Some(slices), _) => {
                    let len = slices.iter().map(|s| s.len).sum();
                    Records::Files(slices, len)
                }
                (None, Some(b)) => Records::Bytes(b),
                (None, None) => Records::Null,
            };
            records.push(real);
        }
    }
    let nulls = encode_frame(correlation_id, version, &response)?;
    set_all_records(&mut response, Some(Bytes::new()));
    let empties = encode_frame(correlation_id, version, &response)?;
    let flexible = version >= FIRST_FLEXIBLE;
    let spots = records_spots(&nulls, &empties, flexible);
    if spots.len() != records.len() || nulls.len() != empties.len() {
        return Err(RequestError::Encode(format!(
            "fetch v{version}: found {} records fields for {} partitions",
            spots.len(),
            records.len()
        )));
    }
    let marker = marker_len(flexible);
    let body_len = (nulls.len() - 4 - marker * spots.len()) as u64
        + records
            .iter()
            .map(|r| prefix_len(r, flexible) as u64 + r.len())
            .sum::<u64>();
    let size = i32::try_from(body_len)
        .map_err(|_| RequestError::Encode(format!("fetch response of {body_len} bytes")))?;
    let mut out = ResponseBuilder::with_capacity(nulls.len() + 16 * spots.len());
    out.put_slice(&size.to_be_bytes());
    let mut at = 4;
    let mut prefix = Vec::with_capacity(5);
    for (spot, real) in spots.into_iter().zip(records) {
        out.put_slice(&nulls[at..spot]);
        prefix.clear();
        put_length(&mut prefix, &real, flexible);
        out.put_slice(&prefix);
        match real {
            Records::Null => {}
            Records::Bytes(b) => out.put_bytes(b),
            Records::Files(slices, _) => slices.into_iter().for_each(|s| out.put_file(s)),
        }
        at = spot + marker;
    }
    out.put_slice(&nulls[at..]);
    Ok(out.finish())
}

fn set_all_records(response: &mut FetchResponse, value: Option<Bytes>) {
    for topic in &mut response.responses {
        for pd in &mut topic.partitions {
            pd.records = value.clone();
        }
    }
}

/// Size prefix placeholder, response header and body, as kafka-protocol encodes them.
fn encode_frame(
    correlation_id: i32,
    version: i16,
    response: &FetchResponse,
) -> Result<BytesMut, RequestError> {
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&[0u8; 4]);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, ApiKey::Fetch.response_header_version(version))
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    response
        .encode(&mut buf, version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    Ok(buf)
}

/// Bytes of a null (or empty) records length: `i32` before v12, one varint byte from v12.
fn marker_len(flexible: bool) -> usize {
    if flexible {
        1
    } else {
        4
    }
}

/// Positions where `nulls` and `empties` differ: the records length of each partition.
fn records_spots(nulls: &[u8], empties: &[u8], flexible: bool) -> Vec<usize> {
    let marker = marker_len(flexible);
    let (null_marker, empty_marker): (&[u8], &[u8]) = if flexible {
        (&[0], &[1])
    } else {
        (&[0xff; 4], &[0; 4])
    };
    let mut spots = Vec::new();
    let mut at = 0;
    while at < nulls.len().min(empties.len()) {
        let Some(d) = nulls[at..]
            .iter()
            .zip(&empties[at..])
            .position(|(a, b)| a != b)
        else {
            break;
        };
        let spot = at + d;
        let end = spot + marker;
        if end > nulls.len()
            || nulls[spot..end] != *null_marker
            || empties.get(spot..end) != Some(empty_marker)
        {
            // Not the shape of a records length: report a mismatch through the count.
            spots.push(usize::MAX);
            return spots;
        }
        spots.push(spot);
        at = end;
    }
    spots
}

/// Bytes of the length prefix of `records`.
fn prefix_len(records: &Records, flexible: bool) -> usize {
    let mut v = Vec::with_capacity(5);
    put_length(&mut v, records, flexible);
    v.len()
}

/// Writes the length prefix of `records`: `i32` (-1 for null) before v12, unsigned varint of
/// length + 1 (0 for null) from v12.
fn put_length(out: &mut Vec<u8>, records: &Records, flexible: bool) {
    let len = records.len();
    match (records, flexible) {
        (Records::Null, false) => out.extend_from_slice(&(-1i32).to_be_bytes()),
        (Records::Null, true) => out.push(0),
        (_, false) => out.extend_from_slice(&(len as i32).to_be_bytes()),
        (_, true) => {
            let mut v = len + 1;
            while v >= 0x80 {
                out.push((v as u8 & 0x7f) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
    }
}

#[cfg(test)]
#[path = "fetch_wire_tests.rs"]
mod tests;
