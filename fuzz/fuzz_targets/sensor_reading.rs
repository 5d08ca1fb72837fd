//! A Get Sensor Reading answer for a sensor described by the first record bytes.
#![no_main]
use envmon_sensors::ipmi::{reading, sdr::parse_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (record, answer) = rest.split_at(usize::from(split).min(rest.len()));
    if let Ok(Some(entry)) = parse_record(record) {
        let _ = reading::decode(&entry, answer);
        if let Some(conv) = entry.conversion {
            let _ = envmon_sensors::ipmi::decode_thresholds(&conv, answer);
        }
    }
});
