//! Control plane: Sentinel watchers and ROLE checks feed the controller, the single writer of
//! the route. Every decision is made by the pure state machine in `machine.rs`.

pub mod conn;
pub mod controller;
pub mod event;
pub mod health;
pub mod machine;
pub mod sentinel;
