//! Helpers for envmon's end-to-end tests: real receivers and simulators started on loopback,
//! each bounded in time and stopped when dropped.
