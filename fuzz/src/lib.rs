//! Shared harness of the fuzz targets (see `fuzz/README.md`).
//!
//! * [`scanner`]: the chunking-invariance check run by `request_scanner` and `reply_scanner`;
//! * [`differential`]: our reply scanner against redis-protocol's RESP2 `decode_range`;
//! * [`haproxy`]: the haproxy.cfg reader.
//!
//! Every check panics on a violated invariant, which libFuzzer reports as a crash.

pub mod differential;
pub mod haproxy;
pub mod scanner;
