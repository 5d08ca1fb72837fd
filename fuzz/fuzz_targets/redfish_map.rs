//! One Redfish body from a service: parsed, mapped to sensors and classified (and read as an
//! event log entry), never a panic
//! (wrong types, missing fields, deep nesting, huge arrays).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = envmon_sensors::redfish::map::parse(data, "/fuzz") {
        if let Ok(sensors) = envmon_sensors::redfish::map::resource(&v) {
            for s in &sensors {
                let _ = envmon_board_defs::redfish::classify_redfish(s);
            }
        }
        let _ = envmon_sensors::redfish::map::members(&v, "/fuzz");
        // An event log entry, and its line.
        if let Some(e) = envmon_sensors::redfish::logs::entry(&v) {
            let _ = envmon_core::eventlog::line("/fuzz", &e);
            let _ = envmon_core::eventlog::level(&e);
        }
    }
});
