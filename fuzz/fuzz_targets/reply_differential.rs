#![no_main]
//! See fuzz/src/differential.rs for the oracle and the excused differences.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sentinel_proxy_fuzz::differential::check(data);
});
