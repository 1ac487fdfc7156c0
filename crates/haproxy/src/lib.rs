//! HAProxy compatibility for sentinel-proxy: the drop-in image starts as `haproxy -W -db -f
//! haproxy.cfg`, so this crate reads the redis-ha chart's haproxy.cfg ([`cfg`]) and HAProxy's
//! command line ([`compat`]) into the library's [`sentinel_proxy_core::Config`].

#![forbid(unsafe_code)]

pub mod cfg;
pub mod compat;
