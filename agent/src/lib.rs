//! The envmon agent: the `envmon` binary's commands, configuration, and the I/O around the
//! sans-IO core: configuration, syslog transports, the BMC connection, the poll loop, the
//! query socket, thermal shutdown and the systemd watchdog.

#[path = "source/bmc.rs"]
pub mod bmc;
#[path = "cli/mod.rs"]
pub mod cli;
pub mod config;
#[path = "run/mod.rs"]
pub mod daemon;
pub mod error;
#[path = "events/eventlog.rs"]
pub mod eventlog;
#[path = "source/figures.rs"]
pub mod figures;
#[path = "os/files.rs"]
pub mod files;
#[path = "model/layout.rs"]
pub mod layout;
#[path = "source/link.rs"]
pub mod link;
#[path = "os/logging.rs"]
pub mod logging;
#[path = "model/metrics.rs"]
pub mod metrics;
#[path = "model/mod.rs"]
pub mod model;
#[path = "monitor/mod.rs"]
pub mod monitor;
#[path = "os/notify.rs"]
pub mod notify;
#[path = "outputs/mod.rs"]
pub mod outputs;
#[path = "monitor/presence.rs"]
pub mod presence;
#[path = "source/redfish.rs"]
pub mod redfish;
#[path = "events/sel.rs"]
pub mod sel;
#[path = "cli/show.rs"]
pub mod show;
#[path = "events/shutdown.rs"]
pub mod shutdown;
#[path = "outputs/snmp/mod.rs"]
pub mod snmp;
#[path = "outputs/socket.rs"]
pub mod socket;
#[path = "model/status.rs"]
pub mod status;
#[path = "os/sys.rs"]
mod sys;
pub mod syslog;
#[path = "os/watchdog.rs"]
pub mod watchdog;

pub use error::AgentError;

/// The agent's version, as `envmon --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
