//! The envmon agent: the `envmon` binary's commands, configuration, and the I/O around the
//! sans-IO core: configuration, syslog transports, the BMC connection, the poll loop, the
//! query socket, thermal shutdown and the systemd watchdog.
//!
//! The folders are layers (ARCHITECTURE.md): each imports only those below it, from the
//! bottom: `os`, `syslog`, `config`, `error`, `model`, `monitor`, `source`, `events`,
//! `outputs`, `run`, `cli`. `scripts/import-cycles` checks the order.

pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod model;
pub mod monitor;
pub mod os;
pub mod outputs;
pub mod run;
pub mod source;
pub mod syslog;

pub use error::AgentError;

/// The agent's version, as `envmon --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
