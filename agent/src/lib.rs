//! The envmon agent: the `envmon` binary's commands, configuration, and the I/O around the
//! sans-IO core (syslog transports now; sensors, the socket and shutdown in later work).

pub mod cli;
pub mod config;
pub mod error;
pub mod logging;
mod sys;
pub mod syslog;

pub use error::AgentError;

/// The agent's version, as `envmon --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
