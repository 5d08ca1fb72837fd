//! The agent's top-level error and the exit codes of docs/contract.md §2.

use crate::{config::ConfigError, syslog::SyslogError};
use std::{error::Error, fmt};

/// Exit code: a usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a required device or the agent socket is unavailable (sysexits EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code: a configuration or board-definition error (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// Why a command failed.
#[derive(Debug)]
pub enum AgentError {
    /// Wrong arguments (the message says what was expected).
    Usage(String),
    /// A bad configuration file.
    Config(ConfigError),
    /// The syslog layer could not start.
    Syslog(SyslogError),
    /// Something required is not there (a device, a receiver, a sensor source).
    Unavailable(String),
    /// A bad board definition.
    Board(envmon_board_defs::BoardError),
    /// An error already printed (for example one per file); only its exit code is left.
    Reported(Box<AgentError>),
}

impl AgentError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::Usage(_) => EXIT_USAGE,
            AgentError::Config(_) | AgentError::Board(_) => EXIT_CONFIG,
            AgentError::Reported(e) => e.exit_code(),
            AgentError::Syslog(_) | AgentError::Unavailable(_) => EXIT_UNAVAILABLE,
        }
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Usage(m) | AgentError::Unavailable(m) => f.write_str(m),
            AgentError::Config(e) => e.fmt(f),
            AgentError::Syslog(e) => e.fmt(f),
            AgentError::Board(e) => e.fmt(f),
            AgentError::Reported(e) => e.fmt(f),
        }
    }
}

impl Error for AgentError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AgentError::Config(e) => e.source(),
            AgentError::Syslog(e) => Some(e),
            AgentError::Board(e) => Some(e),
            AgentError::Reported(e) => Some(e.as_ref()),
            AgentError::Usage(_) | AgentError::Unavailable(_) => None,
        }
    }
}

impl From<ConfigError> for AgentError {
    fn from(e: ConfigError) -> Self {
        AgentError::Config(e)
    }
}

impl From<SyslogError> for AgentError {
    fn from(e: SyslogError) -> Self {
        AgentError::Syslog(e)
    }
}
