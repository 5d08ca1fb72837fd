//! Events: the BMC's event log (SEL) and a Redfish service's logs forwarded to syslog, and the
//! thermal shutdown (the one irreversible act) with its report at the next boot.

pub mod delivery;
pub mod eventlog;
pub mod sel;
pub mod shutdown;
