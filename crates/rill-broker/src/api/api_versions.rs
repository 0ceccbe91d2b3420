//! ApiVersions: which APIs and versions this broker serves.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::ResponseError;

use super::{supported_apis, RequestContext, RequestError};

fn api_list() -> Vec<ApiVersion> {
    supported_apis()
        .map(|(k, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = k as i16;
            v.min_version = min;
            v.max_version = max;
            v
        })
        .collect()
}

/// Answers ApiVersions.
pub fn handle(_ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = api_list();
    r.finalized_features_epoch = -1;
    r
}

/// The v0 response (header v0, body v0) with UNSUPPORTED_VERSION and the supported ranges,
/// sent when a client asks ApiVersions at a version newer than ours.
///
/// # Errors
/// Encoding failures (a bug).
pub fn unsupported_version_response(correlation_id: i32) -> Result<Bytes, RequestError> {
    let mut r = ApiVersionsResponse::default();
    r.error_code = ResponseError::UnsupportedVersion.code();
    r.api_keys = api_list();
    let mut out = BytesMut::new();
    out.extend_from_slice(&[0u8; 4]);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, 0)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    r.encode(&mut out, 0)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}
