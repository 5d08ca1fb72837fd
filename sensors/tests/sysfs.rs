//! The board's own buses against fake sysfs trees in a temp dir: golden 743000/743004 lines,
//! hwmon by name and label, net carrier, GPIO, and missing or garbage files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use envmon_board_defs::{I2cDriver, Source};
use envmon_core::{
    Prefix,
    engine::Reading,
    pci::{PciExpect, PciState, check},
    render_line,
};
use envmon_sensors::{local::LocalReader, sysfs};
use std::{fs, path::Path};

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn pci_dev(root: &Path, addr: &str, vendor: &str, device: &str, speed: &str, width: &str) {
    let d = format!("sys/bus/pci/devices/{addr}");
    put(root, &format!("{d}/vendor"), &format!("0x{vendor}\n"));
    put(root, &format!("{d}/device"), &format!("0x{device}\n"));
    put(root, &format!("{d}/current_link_speed"), speed);
    put(root, &format!("{d}/current_link_width"), width);
}

fn expects() -> Vec<PciExpect> {
    vec![
        PciExpect {
            id: "nic0".into(),
            vendor: 0x8086,
            device: 0x10d3,
            address: None,
            required: true,
            speed: Some(5.0),
            width: Some(4),
        },
        PciExpect {
            id: "fpga".into(),
            vendor: 0x10ee,
            device: 0x7021,
            address: None,
            required: true,
            speed: None,
            width: None,
        },
    ]
}

fn sweep(root: &Path, e: &[PciExpect], st: &mut [PciState]) -> Vec<String> {
    let found = sysfs::pci_scan(root, e).unwrap();
    let names = |v: u16, d: u16| sysfs::pci_names(root, v, d);
    let mut out = Vec::new();
    for ((e, s), f) in e.iter().zip(st.iter_mut()).zip(found.iter()) {
        for m in check(e, s, f.as_ref(), &names) {
            let args: Vec<&str> = m.args.iter().map(String::as_str).collect();
            out.push(render_line(Prefix::Ftd, m.id, &args).unwrap());
        }
    }
    out
}

#[test]
fn pci_golden_lines_with_and_without_pci_ids() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    pci_dev(
        root,
        "0000:01:00.0",
        "8086",
        "10d3",
        "2.5 GT/s PCIe\n",
        "1\n",
    );
    pci_dev(root, "0000:00:1f.0", "8086", "2918", "Unknown\n", "0\n"); // not expected: ignored
    let e = expects();
    let mut st = vec![PciState::default(); 2];
    // No pci.ids, and 10ee is not in the built-in table: hex IDs.
    assert_eq!(
        sweep(root, &e, &mut st),
        [
            "%FTD-1-743000: The PCI device with vendor ID: 0x8086 device ID: 0x10d3 located at bus:device.function 01:00.0 has a link speed of 2.5 GT/s when it should have a link speed of 5.0 GT/s.",
            "%FTD-1-743000: The PCI device with vendor ID: 0x8086 device ID: 0x10d3 located at bus:device.function 01:00.0 has a link width of x1 when it should have a link width of x4.",
            "%FTD-1-743004: System is not fully operational - PCI device with vendor ID 0x10ee (0x10ee), device ID 0x7021 (0x7021) not found",
        ]
    );
    assert!(sweep(root, &e, &mut st).is_empty(), "nothing repeated");
    // With a pci.ids fixture the names come from it (a fresh state reports again).
    put(
        root,
        "usr/share/misc/pci.ids",
        "# fixture\n10ee  Xilinx Corporation\n\t7021  7-Series FPGA\n\t\t1234 5678  sub\n8086  Intel Corporation\n\t10d3  82574L Gigabit Network Connection\n",
    );
    let mut st = vec![PciState::default(); 2];
    let lines = sweep(root, &e, &mut st);
    assert_eq!(
        lines[2],
        "%FTD-1-743004: System is not fully operational - PCI device with vendor ID 0x10ee (Xilinx Corporation), device ID 0x7021 (7-Series FPGA) not found"
    );
    // The built-in table names an Intel part when there is no pci.ids.
    let other = tempfile::tempdir().unwrap();
    assert_eq!(
        sysfs::pci_names(other.path(), 0x8086, 0x1521),
        (
            "Intel Corporation".to_string(),
            "I350 Gigabit Network Connection".to_string()
        )
    );
}

#[test]
fn pci_link_change_is_reported_again_and_a_missing_bus_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    pci_dev(
        root,
        "0000:01:00.0",
        "8086",
        "10d3",
        "5.0 GT/s PCIe\n",
        "1\n",
    );
    pci_dev(root, "0000:02:00.0", "10ee", "7021", "8.0 GT/s\n", "8\n");
    let e = expects();
    let mut st = vec![PciState::default(); 2];
    assert_eq!(sweep(root, &e, &mut st).len(), 1, "width only");
    put(
        root,
        "sys/bus/pci/devices/0000:01:00.0/current_link_width",
        "2\n",
    );
    let again = sweep(root, &e, &mut st);
    assert_eq!(again.len(), 1);
    assert!(again[0].contains("width of x2 when"), "{again:?}");
    put(
        root,
        "sys/bus/pci/devices/0000:01:00.0/current_link_width",
        "garbage\n",
    );
    assert!(
        sweep(root, &e, &mut st).is_empty(),
        "unknown width: nothing new"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(
        sysfs::pci_scan(empty.path(), &e)
            .unwrap_err()
            .contains("sys/bus/pci/devices")
    );
}

#[test]
fn hwmon_by_chip_name_and_label_whatever_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "sys/class/hwmon/hwmon0/name", "acpitz\n");
    put(root, "sys/class/hwmon/hwmon0/temp1_input", "27800\n");
    put(root, "sys/class/hwmon/hwmon3/name", "coretemp\n");
    put(root, "sys/class/hwmon/hwmon3/temp1_label", "Package id 0\n");
    put(root, "sys/class/hwmon/hwmon3/temp1_input", "45000\n");
    put(root, "sys/class/hwmon/hwmon3/temp2_label", "Core 0\n");
    put(root, "sys/class/hwmon/hwmon3/temp2_input", "43000\n");
    put(root, "sys/class/hwmon/hwmon5/name", "nct6775\n");
    put(root, "sys/class/hwmon/hwmon5/fan2_input", "1200\n");
    put(root, "sys/class/hwmon/hwmon5/in0_label", "Vcore\n");
    put(root, "sys/class/hwmon/hwmon5/in0_input", "1050\n");
    let src = |chip: &str, label: &str| Source::Hwmon {
        chip: chip.into(),
        label: label.into(),
    };
    let mut cpu = LocalReader::new(&src("coretemp", "Package id 0"), root).unwrap();
    let mut fan = LocalReader::new(&src("nct6775", "fan2"), root).unwrap();
    let mut vcore = LocalReader::new(&src("nct6775", "Vcore"), root).unwrap();
    assert_eq!(cpu.read(), Reading::Value(45.0));
    assert_eq!(fan.read(), Reading::Value(1200.0));
    assert_eq!(vcore.read(), Reading::Value(1.05));
    // Re-probed (or after a reboot) the chip is hwmon1: the old path fails, and the same
    // read looks it up again by name and label.
    fs::rename(
        root.join("sys/class/hwmon/hwmon3"),
        root.join("sys/class/hwmon/hwmon1"),
    )
    .unwrap();
    put(root, "sys/class/hwmon/hwmon1/temp1_input", "46000\n");
    assert_eq!(
        cpu.read(),
        Reading::Value(46.0),
        "looked up again by name and label, within the read"
    );
    // Gone altogether: unreadable, naming the old path and the failed search.
    fs::rename(root.join("sys/class/hwmon/hwmon1"), root.join("gone")).unwrap();
    assert_eq!(cpu.read(), Reading::Unreadable);
    fs::rename(root.join("gone"), root.join("sys/class/hwmon/hwmon1")).unwrap();
    assert_eq!(cpu.read(), Reading::Value(46.0));
    // Garbage and missing: unavailable, never 0; recovery.
    put(root, "sys/class/hwmon/hwmon1/temp1_input", "hot\n");
    assert_eq!(cpu.read(), Reading::Unreadable);
    put(root, "sys/class/hwmon/hwmon1/temp1_input", "47000\n");
    assert_eq!(cpu.read(), Reading::Value(47.0));
    assert!(
        sysfs::hwmon_find(root, "k10temp", "Tctl")
            .unwrap_err()
            .contains("no chip named 'k10temp'")
    );
    assert!(
        sysfs::hwmon_find(root, "coretemp", "Core 9")
            .unwrap_err()
            .contains("no channel labelled 'Core 9'")
    );
}

#[test]
fn net_carrier_and_gpio_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "sys/class/net/bp0/carrier", "1\n");
    let mut link = LocalReader::new(&Source::Net("bp0".into()), root).unwrap();
    assert_eq!(link.read(), Reading::Good);
    put(root, "sys/class/net/bp0/carrier", "0\n");
    assert_eq!(link.read(), Reading::Bad);
    put(root, "sys/class/net/bp0/carrier", "\u{0}\u{1}\n");
    assert_eq!(link.read(), Reading::Unreadable, "garbage");
    fs::remove_file(root.join("sys/class/net/bp0/carrier")).unwrap();
    assert_eq!(
        link.read(),
        Reading::Unreadable,
        "missing (interface down or gone)"
    );

    put(root, "sys/class/gpio/gpio23/value", "1\n");
    put(root, "sys/class/gpio/gpio24/value", "1\n");
    let mut present = LocalReader::new(
        &Source::Gpio {
            line: 23,
            active_low: false,
        },
        root,
    )
    .unwrap();
    let mut fan_fail = LocalReader::new(
        &Source::Gpio {
            line: 24,
            active_low: true,
        },
        root,
    )
    .unwrap();
    assert_eq!(present.read(), Reading::Good);
    assert_eq!(
        fan_fail.read(),
        Reading::Bad,
        "active-low: 1 means not good"
    );
    put(root, "sys/class/gpio/gpio24/value", "0\n");
    assert_eq!(fan_fail.read(), Reading::Good);
    put(root, "sys/class/gpio/gpio23/value", "2\n");
    assert_eq!(present.read(), Reading::Unreadable);
    let mut absent = LocalReader::new(
        &Source::Gpio {
            line: 99,
            active_low: false,
        },
        root,
    )
    .unwrap();
    assert_eq!(
        absent.read(),
        Reading::Unreadable,
        "not exported under a fake root"
    );
}

#[test]
fn an_i2c_bus_that_does_not_exist_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = LocalReader::new(
        &Source::I2c {
            bus: 7,
            address: 0x48,
            driver: I2cDriver::Lm75,
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(r.read(), Reading::Unreadable);
    assert!(LocalReader::new(&Source::IpmiNumber(1), dir.path()).is_none());
}
