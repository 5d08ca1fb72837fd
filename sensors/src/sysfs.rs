//! Readings from the board's own buses through sysfs, all under a root (`--sysfs-root`, `/`
//! on an appliance, a temp dir in tests). Every reader returns `Err(why)` for a missing or
//! garbage file, naming the file; the caller makes the item unavailable and logs it.

use envmon_core::pci::{PciExpect, PciObserved, parse_speed};
use std::{
    fs,
    path::{Path, PathBuf},
};

fn read_trimmed(path: &Path) -> Result<String, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.trim().to_string())
}

fn read_number(path: &Path) -> Result<f64, String> {
    let t = read_trimmed(path)?;
    t.parse::<i64>().map(|v| v as f64).map_err(|_| {
        format!(
            "{}: '{}' is not a number",
            path.display(),
            t.escape_default()
        )
    })
}

/// What a hwmon channel measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwmonKind {
    /// `tempN_input`, millidegrees Celsius.
    Temp,
    /// `fanN_input`, RPM.
    Fan,
    /// `inN_input`, millivolts.
    Voltage,
}

/// Finds a hwmon channel by the chip's `name` and the channel's `*_label` (or its channel
/// name, `temp1`), never by the `hwmonN` index, which changes between boots. Returns the
/// `*_input` file and its kind.
pub fn hwmon_find(root: &Path, chip: &str, label: &str) -> Result<(PathBuf, HwmonKind), String> {
    let class = root.join("sys/class/hwmon");
    let dirs = fs::read_dir(&class).map_err(|e| format!("{}: {e}", class.display()))?;
    let mut chips_seen = 0;
    for dir in dirs.flatten().take(256) {
        let dir = dir.path();
        if read_trimmed(&dir.join("name")).ok().as_deref() != Some(chip) {
            continue;
        }
        chips_seen += 1;
        let files = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for f in files.flatten().take(1024) {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(channel) = name
                .strip_suffix("_label")
                .or_else(|| name.strip_suffix("_input"))
            else {
                continue;
            };
            let matches = if name.ends_with("_label") {
                read_trimmed(&f.path()).ok().as_deref() == Some(label)
            } else {
                channel == label
            };
            if !matches {
                continue;
            }
            let kind = if channel.starts_with("temp") {
                HwmonKind::Temp
            } else if channel.starts_with("fan") {
                HwmonKind::Fan
            } else if channel.starts_with("in") {
                HwmonKind::Voltage
            } else {
                return Err(format!(
                    "hwmon {chip}/{label}: channel {channel} is not a temperature, fan or voltage"
                ));
            };
            return Ok((dir.join(format!("{channel}_input")), kind));
        }
    }
    Err(if chips_seen == 0 {
        format!("hwmon: no chip named '{chip}' under {}", class.display())
    } else {
        format!("hwmon: chip '{chip}' has no channel labelled '{label}'")
    })
}

/// Reads a hwmon input: °C, RPM or V.
pub fn hwmon_read(input: &Path, kind: HwmonKind) -> Result<f64, String> {
    let raw = read_number(input)?;
    Ok(match kind {
        HwmonKind::Temp | HwmonKind::Voltage => raw / 1000.0,
        HwmonKind::Fan => raw,
    })
}

/// A network interface's carrier: `Ok(true)` link up, `Ok(false)` down.
pub fn net_carrier(root: &Path, iface: &str) -> Result<bool, String> {
    let path = root.join(format!("sys/class/net/{iface}/carrier"));
    match read_trimmed(&path)?.as_str() {
        "1" => Ok(true),
        "0" => Ok(false),
        other => Err(format!(
            "{}: '{}' is not 0 or 1",
            path.display(),
            other.escape_default()
        )),
    }
}

/// A GPIO line's value, `true` when active (`active_low` inverts the electrical level). On
/// the real root, a line not yet exported is exported as an input through sysfs_gpio.
pub fn gpio_active(root: &Path, line: u32, active_low: bool) -> Result<bool, String> {
    let dir = root.join(format!("sys/class/gpio/gpio{line}"));
    if !dir.exists() && root == Path::new("/") {
        let pin = sysfs_gpio::Pin::new(u64::from(line));
        pin.export()
            .map_err(|e| format!("gpio {line}: export: {e}"))?;
        pin.set_direction(sysfs_gpio::Direction::In)
            .map_err(|e| format!("gpio {line}: direction: {e}"))?;
    }
    let path = dir.join("value");
    let level = match read_trimmed(&path)?.as_str() {
        "1" => true,
        "0" => false,
        other => {
            return Err(format!(
                "{}: '{}' is not 0 or 1",
                path.display(),
                other.escape_default()
            ));
        }
    };
    Ok(level != active_low)
}

fn hex_id(path: &Path) -> Result<u16, String> {
    let t = read_trimmed(path)?;
    u16::from_str_radix(t.trim_start_matches("0x"), 16).map_err(|_| {
        format!(
            "{}: '{}' is not a hex ID",
            path.display(),
            t.escape_default()
        )
    })
}

/// The devices that match the board's expectations, one slot per expectation (a heapless
/// table of [`envmon_board_defs::capacity::PCI`]). Unreadable link attributes become `None`.
pub fn pci_scan(
    root: &Path,
    expects: &[PciExpect],
) -> Result<heapless::Vec<Option<PciObserved>, { envmon_board_defs::capacity::PCI }>, String> {
    let base = root.join("sys/bus/pci/devices");
    let mut out: heapless::Vec<Option<PciObserved>, { envmon_board_defs::capacity::PCI }> =
        heapless::Vec::new();
    let mut found: Vec<PciObserved> = Vec::new();
    let entries = fs::read_dir(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    for entry in entries.flatten().take(4096) {
        let dir = entry.path();
        let address = entry.file_name().to_string_lossy().to_ascii_lowercase();
        let (Ok(vendor), Ok(device)) = (hex_id(&dir.join("vendor")), hex_id(&dir.join("device")))
        else {
            continue;
        };
        if !expects
            .iter()
            .any(|e| e.vendor == vendor && e.device == device)
        {
            continue;
        }
        let speed = read_trimmed(&dir.join("current_link_speed"))
            .ok()
            .and_then(|t| parse_speed(&t));
        let width = read_trimmed(&dir.join("current_link_width"))
            .ok()
            .and_then(|t| t.parse::<u8>().ok())
            .filter(|w| *w > 0);
        found.push(PciObserved {
            address,
            vendor,
            device,
            speed,
            width,
        });
    }
    found.sort_by(|a, b| a.address.cmp(&b.address));
    for e in expects {
        let slot = envmon_core::pci::find(e, &found).cloned();
        out.push(slot).map_err(|_| {
            format!(
                "more than {} PCI expectations",
                envmon_board_defs::capacity::PCI
            )
        })?;
    }
    Ok(out)
}

/// A few vendor and device names, for when no pci.ids file is installed.
const BUILTIN_NAMES: &[(u16, Option<u16>, &str)] = &[
    (0x8086, None, "Intel Corporation"),
    (0x8086, Some(0x10d3), "82574L Gigabit Network Connection"),
    (0x8086, Some(0x1521), "I350 Gigabit Network Connection"),
    (
        0x8086,
        Some(0x1572),
        "Ethernet Controller X710 for 10GbE SFP+",
    ),
    (
        0x8086,
        Some(0x37d2),
        "Ethernet Connection X722 for 10GBASE-T",
    ),
    (0x15b3, None, "Mellanox Technologies"),
    (0x14e4, None, "Broadcom Inc. and subsidiaries"),
    (0x1af4, None, "Red Hat, Inc."),
    (0x1b36, None, "Red Hat, Inc."),
];

/// Looks up names in pci.ids text: vendor lines are `VVVV  Name`, device lines `\tDDDD  Name`.
pub fn pci_ids_lookup(text: &str, vendor: u16, device: u16) -> (Option<String>, Option<String>) {
    let v = format!("{vendor:04x}");
    let d = format!("{device:04x}");
    let mut vendor_name = None;
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if !line.starts_with('\t') {
            if vendor_name.is_some() {
                break; // past our vendor's devices
            }
            if let Some(name) = line.strip_prefix(&v).and_then(|r| r.strip_prefix("  ")) {
                vendor_name = Some(name.trim().to_string());
            }
            continue;
        }
        if vendor_name.is_some() && !line.starts_with("\t\t") {
            if let Some(name) = line[1..]
                .strip_prefix(&d)
                .and_then(|r| r.strip_prefix("  "))
            {
                return (vendor_name, Some(name.trim().to_string()));
            }
        }
    }
    (vendor_name, None)
}

/// Vendor and device names: from pci.ids under `root` (`usr/share/misc/pci.ids`, then
/// `usr/share/hwdata/pci.ids`), else the built-in table, else the hex IDs.
pub fn pci_names(root: &Path, vendor: u16, device: u16) -> (String, String) {
    let mut found = (None, None);
    for p in ["usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids"] {
        if let Ok(text) = fs::read_to_string(root.join(p)) {
            found = pci_ids_lookup(&text, vendor, device);
            break;
        }
    }
    let builtin = |dev: Option<u16>| {
        BUILTIN_NAMES
            .iter()
            .find(|(v, d, _)| *v == vendor && *d == dev)
            .map(|(_, _, n)| n.to_string())
    };
    (
        found
            .0
            .or_else(|| builtin(None))
            .unwrap_or_else(|| format!("0x{vendor:04x}")),
        found
            .1
            .or_else(|| builtin(Some(device)))
            .unwrap_or_else(|| format!("0x{device:04x}")),
    )
}
