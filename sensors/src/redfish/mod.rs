//! The Redfish source: what a service's resources say, mapped to the
//! neutral [`RfSensor`] summary `--board auto` classifies (board-defs' `redfish` rules).
//!
//! - [`map`]: pure, one JSON resource to sensors. Every field is checked for its type;
//!   a resource without what it must have is an error naming the resource and the field,
//!   never a guess. Names are sanitized and bounded.
//! - [`discover`]: from the service root to every chassis' sensors, through the narrow
//!   [`Fetch`] trait (one GET of one resource), new resources first (`Sensors`,
//!   `ThermalSubsystem`, `PowerSubsystem`), the deprecated `Thermal`/`Power` for what
//!   the new ones lack.
//! - [`http::HttpFetch`]: a service over HTTP behind [`Fetch`] (bounded, with deadlines).
//! - [`files::MockupDir`]: a mockup tree on disk behind [`Fetch`], for tests.

pub mod discover;
pub mod files;
pub mod http;
pub mod logs;
pub mod map;
pub mod plan;
pub mod reader;
pub mod resolve;
pub mod session;
pub mod system;
pub mod tls;

pub use envmon_board_defs::redfish::{RfResource, RfSensor, RfThresholds};
use std::fmt;

/// What went wrong with a Redfish resource or request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RfErrorKind {
    /// The service answered with this HTTP status.
    Status(u16),
    /// No answer in time.
    Timeout,
    /// The body is larger than envmon reads.
    TooLarge,
    /// The body is not JSON.
    NotJson,
    /// A field the resource must have is missing.
    Missing(&'static str),
    /// A field has the wrong JSON type.
    WrongType(&'static str),
    /// The path is not one envmon asks for (outside `/redfish/v1`, `..`).
    BadPath,
    /// The resource could not be read (files, sockets).
    Io,
}

/// A Redfish error: its kind, and the resource it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfError {
    /// What kind of problem.
    pub kind: RfErrorKind,
    /// The resource (`/redfish/v1/Chassis/1/Thermal`) and any detail.
    pub detail: String,
    /// How long the service asked to be left alone (`Retry-After` of a 503 or 429).
    pub retry_after: Option<std::time::Duration>,
}

impl RfError {
    /// An error of `kind` about `detail`.
    pub fn new(kind: RfErrorKind, detail: impl Into<String>) -> RfError {
        RfError {
            kind,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

impl fmt::Display for RfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RfErrorKind::Status(401 | 403) => {
                write!(
                    f,
                    "{}: the service refused the user or password",
                    self.detail
                )
            }
            RfErrorKind::Status(s) => match self.retry_after {
                Some(d) => write!(
                    f,
                    "{}: HTTP status {s}, retry after {} s",
                    self.detail,
                    d.as_secs()
                ),
                None => write!(f, "{}: HTTP status {s}", self.detail),
            },
            RfErrorKind::Timeout => write!(f, "{}: no answer in time", self.detail),
            RfErrorKind::TooLarge => write!(f, "{}: body too large", self.detail),
            RfErrorKind::NotJson => write!(f, "{}: not JSON", self.detail),
            RfErrorKind::Missing(field) => write!(f, "{}: no {field}", self.detail),
            RfErrorKind::WrongType(field) => {
                write!(f, "{}: {field} has the wrong type", self.detail)
            }
            RfErrorKind::BadPath => write!(f, "{}: not a Redfish path envmon reads", self.detail),
            RfErrorKind::Io => write!(f, "{}", self.detail),
        }
    }
}

impl std::error::Error for RfError {}

/// The path a `Location` names (a path, or a URL on the service: its path part); none for a
/// URL without one.
pub fn location_path(location: &str) -> Option<String> {
    match location.split_once("://") {
        Some((_, rest)) => Some(format!("/{}", rest.split_once('/')?.1)),
        None => Some(location.to_string()),
    }
}

/// One POST of an action (`ComputerSystem.Reset`): the only request envmon makes that
/// changes anything, and only for the thermal action.
pub trait Post {
    /// POSTs `body` to `path`; the HTTP status of a success (2xx), else the error.
    fn post(&mut self, path: &str, body: &serde_json::Value) -> Result<u16, RfError>;
}

/// One GET of one Redfish resource (the narrow I/O seam: HTTP in the agent, files in tests).
pub trait Fetch {
    /// The resource at `path` (`/redfish/v1/Chassis`), parsed.
    fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError>;
    /// The resources at `paths`, in their order, up to [`Fetch::in_flight`] asked at once
    /// (one after another unless the client says more).
    fn get_many(&mut self, paths: &[&str]) -> Vec<Result<serde_json::Value, RfError>> {
        paths.iter().map(|p| self.get(p)).collect()
    }
    /// How many GETs [`Fetch::get_many`] has in flight at once.
    fn in_flight(&self) -> usize {
        1
    }
    /// Requests made so far.
    fn requests(&self) -> u64;
    /// The time left in the caller's turn budget (none set: `None`, no limit).
    fn left(&self) -> Option<std::time::Duration> {
        None
    }
    /// Where the service is, for people (`https://10.0.0.5:443`); never a password.
    fn origin(&self) -> String {
        "the Redfish service".into()
    }
}
