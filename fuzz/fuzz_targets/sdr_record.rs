//! One SDR record from the BMC: parsed, summarised and classified, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(e)) = envmon_sensors::ipmi::sdr::parse_record(data) {
        let s = e.to_sdr_sensor();
        let _ = envmon_board_defs::classify(&s);
        let _ = envmon_board_defs::auto_board(&[s], None);
    }
});
