#![no_main]
//! See fuzz/src/scanner.rs for the input layout and the invariants.

use libfuzzer_sys::fuzz_target;
use sentinel_proxy_core::resp::Mode;

fuzz_target!(|data: &[u8]| {
    sentinel_proxy_fuzz::scanner::check(Mode::Request, data);
});
