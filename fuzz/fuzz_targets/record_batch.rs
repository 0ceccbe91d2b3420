//! Any bytes as a record batch: validation must return a value or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill_log::validate_batch(data);
    let _ = rill_log::split_batches(data);
});
