//! Failover benchmark building blocks (writers, reports).

pub mod load;
