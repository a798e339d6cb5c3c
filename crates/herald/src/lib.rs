//! The `herald` binary as a library: CLI, layered configuration and startup wiring, so
//! tests can boot the real server in-process.

pub mod cli;
pub mod config;
pub mod listen;
pub mod middleware;
pub mod secrets;
pub mod startup;
pub mod telemetry;
pub mod verify;
