//! envmon's sensor sources. This crate is where envmon does hardware I/O, one narrow trait
//! per source; everything that can be pure (SDR parsing, reading conversion and decoding) is
//! pure and tested without hardware.
//!
//! - [`ipmi`]: the BMC over IPMI (kernel device or RMCP+), through ipmi-rs.
//!
//! hwmon, I2C, GPIO and PCI sysfs sources come with issue 6.

pub mod ipmi;
