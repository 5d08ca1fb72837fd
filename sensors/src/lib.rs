//! envmon's sensor sources: IPMI (kernel device and RMCP+), hwmon, I2C, GPIO and PCI sysfs.
//!
//! This crate is where envmon does hardware I/O, one narrow trait per source. It is empty
//! until the IPMI work (issue 3) and the board-bus work (issue 6) fill it; see
//! ARCHITECTURE.md for the boundary it will keep.
