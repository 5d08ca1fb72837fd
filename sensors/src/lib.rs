//! envmon's sensor sources. This crate is where envmon does hardware I/O, one narrow trait
//! per source; everything that can be pure (SDR parsing, reading conversion and decoding) is
//! pure and tested without hardware.
//!
//! - [`ipmi`]: the BMC over IPMI: the kernel device (through ipmi-rs) or RMCP+ (envmon's
//!   own).
//! - [`sysfs`]: hwmon, network carrier, GPIO (sysfs_gpio) and PCI, under `--sysfs-root`.
//! - [`i2c`]: LM75/TMP75 and PMBus drivers over embedded-hal 1.0 (linux-embedded-hal glue).
//! - [`local`]: one reader per board item on the board's own buses.

pub mod i2c;
pub mod ipmi;
pub mod local;
pub mod power;
pub mod redfish;
pub mod sysfs;
