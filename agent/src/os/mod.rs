//! The operating system beneath the agent: system calls (the only `unsafe`), the file layer,
//! systemd's notification protocol and watchdog, the agent's own diagnostics.

pub mod files;
pub mod logging;
pub mod notify;
pub mod secrets;
pub mod sys;
pub mod watchdog;
