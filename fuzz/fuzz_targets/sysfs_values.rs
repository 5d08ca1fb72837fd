//! Values read from sysfs (hwmon inputs) and pci.ids text.
#![no_main]
use envmon_sensors::sysfs::{HwmonKind, hwmon_read, pci_ids_lookup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("envmon-fuzz-hwmon-{}", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        for kind in [HwmonKind::Temp, HwmonKind::Fan, HwmonKind::Voltage] {
            if let Ok(v) = hwmon_read(&path, kind) {
                assert!(v.is_finite(), "a reading is a number");
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pci_ids_lookup(text, 0x8086, 0x1521);
    }
});
