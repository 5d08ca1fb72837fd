//! The thermal shutdown reason record from the state dir.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = envmon_agent::parse_shutdown_record(data);
});
