//! Control plane: Sentinel watchers and ROLE checks feed the controller, the single writer of
//! the route.

pub mod conn;
pub mod controller;
pub mod health;
pub mod sentinel;
