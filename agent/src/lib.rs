//! The envmon agent: the `envmon` binary's commands, configuration, and the I/O around the
//! sans-IO core: configuration, syslog transports, the BMC connection, the poll loop, the
//! query socket, thermal shutdown and the systemd watchdog.

pub mod bmc;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod error;
pub mod eventlog;
pub mod figures;
pub mod files;
pub mod layout;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod notify;
pub mod outputs;
pub mod presence;
pub mod redfish;
pub mod sel;
pub mod show;
pub mod shutdown;
pub mod snmp;
pub mod socket;
pub mod status;
mod sys;
pub mod syslog;
pub mod watchdog;

pub use error::AgentError;

/// The agent's version, as `envmon --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
