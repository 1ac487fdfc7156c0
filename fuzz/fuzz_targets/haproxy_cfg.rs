#![no_main]
//! See fuzz/src/haproxy.rs for the invariants.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sentinel_proxy_fuzz::haproxy::check(data);
});
