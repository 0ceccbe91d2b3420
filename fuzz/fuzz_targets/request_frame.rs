//! Any bytes as a request frame: parsing must return a value or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    let _ = rill_broker::api::parse_request(&frame);
});
