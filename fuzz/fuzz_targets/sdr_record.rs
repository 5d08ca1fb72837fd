//! One SDR record from the BMC: parsed, summarised and classified, never a panic. The same
//! bytes as a dump file (`board check --sdr`): split into whole records that put together
//! give the file back, or refused.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(e)) = envmon_sensors::ipmi::sdr::parse_record(data) {
        let s = e.to_sdr_sensor();
        let _ = envmon_board_defs::classify(&s);
        let _ = envmon_board_defs::auto_board(&[s], None);
    }
    if let Ok(records) = envmon_sensors::ipmi::sdr::split_records(data) {
        assert_eq!(records.concat(), data, "the records are the file");
        for r in records {
            let _ = envmon_sensors::ipmi::sdr::parse_record(r);
        }
    }
});
