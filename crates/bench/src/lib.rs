//! sentinel-bench: what operators and tests run against sentinel-proxy, kept out of the proxy's
//! own dependency tree.
//!
//! ```text
//! failover.rs  `sentinel-bench failover`: writers through a target during a failover, a report
//! load.rs      INCR writers, one key per writer and 100 ms slot
//! appload.rs   `sentinel-bench appload`: many mostly idle connections, one GET/SET at a time
//! events.rs    PSUBSCRIBE * on every Sentinel, timestamped
//! report.rs    the Report (JSON) and its table
//! svg.rs       writes and errors per 100 ms, Sentinel milestones marked
//! haproxy.rs   the redis-ha chart's HAProxy in front of a lab, for side-by-side runs
//! soak.rs      `sentinel-bench soak`: many failovers (planned and crashes) in a row
//! demo.rs      `sentinel-bench demo` (`make demo`)
//! lab.rs       local redis-server/redis-sentinel topologies on loopback
//! netlab.rs    the same across network namespaces, for partition tests (root only)
//! ```

#![forbid(unsafe_code)]

pub mod appload;
pub mod demo;
pub mod events;
pub mod failover;
pub mod haproxy;
pub mod lab;
pub mod load;
pub mod netlab;
pub mod report;
pub mod soak;
pub mod svg;

pub use failover::{main, BenchCommand, BenchError};
