//! The configuration file: settings or a located error, never a panic.
#![no_main]
use envmon_agent::config::{Settings, apply_text};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = apply_text(
            &Settings::default(),
            Path::new("/etc/envmon/envmon.toml"),
            text,
        );
    }
});
