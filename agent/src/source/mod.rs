//! Where readings come from: the settings' BMC (IPMI: the kernel device or RMCP+) or Redfish
//! service, the session the loop reads through, the BMC's figures, and the board built from
//! what the source describes.

pub mod bmc;
pub mod figures;
pub mod link;
pub mod redfish;
