//! SNMP through the appliance's own snmpd: an AgentX subagent (RFC 2741). Off unless
//! `agentx` is set. It serves ENTITY-MIB, ENTITY-SENSOR-MIB, CISCO-ENTITY-SENSOR-EXT-MIB and
//! (optionally) CISCO-ENVMON-MIB from the snapshots the poll loop publishes, and sends
//! notifications for committed transitions. docs/snmp.md.
//!
//! - [`pdu`]: AgentX framing and encoding (the `agentx` crate, wrapped where it falls short);
//! - [`mib`]: the served view and the notifications, pure;
//! - [`answer`]: the answers to the master's requests from a view, pure;
//! - [`session`]: the connection to the master, on its own thread.

pub mod answer;
pub mod mib;
pub mod pdu;
pub mod session;

pub use crate::config::{AgentxAddr, NotificationList, OnOff};
