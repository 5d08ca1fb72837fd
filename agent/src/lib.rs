//! The envmon agent: the `envmon` binary's commands, configuration, and the I/O around the
//! sans-IO core: configuration, syslog transports, the BMC connection, the poll loop, the
//! query socket, thermal shutdown and the systemd watchdog.
//!
//! The folders are layers (ARCHITECTURE.md): each imports only those below it, from the
//! bottom: `os`, `syslog`, `config`, `error`, `model`, `monitor`, `source`, `events`,
//! `outputs`, `run`, `cli`. `scripts/import-cycles` checks the order. Only the settings,
//! the model and the syslog layer are public modules; the rest is reached through the
//! facade below.

mod cli;
pub mod config;
pub mod error;
mod events;
pub mod model;
mod monitor;
mod os;
mod outputs;
mod run;
mod source;
pub mod syslog;

pub use error::AgentError;

// The facade: what the binary, the tests, the benches and the fuzz targets reach of the
// private folders (the folders themselves stay private, so the layers are the crate's own).
pub use cli::{
    command, main,
    show::{ask, environment_table},
    subcommand,
};
pub use events::shutdown::{Record as ShutdownRecord, parse_record as parse_shutdown_record};
pub use monitor::Monitor;
pub use outputs::{
    snmp,
    socket::{MAX_CLIENTS, MAX_PER_USER, REQUEST_DEADLINE, respond},
};
pub use run::soak;
pub use source::{
    bmc::load_sdrs,
    board::resolve_board,
    figures::Figures,
    link::{Opener, open_real},
};

/// The agent's version, as `envmon --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
