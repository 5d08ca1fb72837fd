//! The BMC's own figures, pure: Get Device ID (firmware, manufacturer), Get Chassis Status
//! (power on or off), DCMI Get Power Reading (the system's power draw), and the names FreeIPMI
//! gives sensor types, units and manufacturers (what ipmi_exporter's labels carry).
//!
//! Response data is given without the completion code, as every [`super::Transport`]
//! returns it; a short or malformed reply decodes to `None`, never a guess. The commands
//! themselves are in [`super::command`].

/// What Get Device ID says about the BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceId {
    /// Device ID.
    pub device_id: u8,
    /// Firmware major revision (7 bits).
    pub firmware_major: u8,
    /// Firmware minor revision (BCD).
    pub firmware_minor: u8,
    /// IANA enterprise number of the manufacturer (20 bits).
    pub manufacturer_id: u32,
    /// Product ID.
    pub product_id: u16,
}

impl DeviceId {
    /// Decodes a Get Device ID response (at least the 11 mandatory bytes).
    pub fn decode(data: &[u8]) -> Option<DeviceId> {
        let d = data.get(..11)?;
        Some(DeviceId {
            device_id: d[0],
            firmware_major: d[2] & 0x7F,
            firmware_minor: d[3],
            manufacturer_id: u32::from_le_bytes([d[6], d[7], d[8] & 0x0F, 0]),
            product_id: u16::from_le_bytes([d[9], d[10]]),
        })
    }

    /// The firmware revision as FreeIPMI's `bmc-info` prints it: major, then the BCD minor
    /// as two hex digits (`9.08`, `2.61`).
    pub fn firmware_revision(&self) -> String {
        format!("{}.{:02X}", self.firmware_major, self.firmware_minor)
    }

    /// The manufacturer as `bmc-info` prints it: `Name (number)` for a number FreeIPMI knows
    /// ([`manufacturer_name`]), else the number alone.
    pub fn manufacturer(&self) -> String {
        match manufacturer_name(self.manufacturer_id) {
            Some(name) => format!("{name} ({})", self.manufacturer_id),
            None => self.manufacturer_id.to_string(),
        }
    }
}

/// IANA enterprise numbers of server and BMC makers, with the registry's names as FreeIPMI
/// 1.6 prints them (read off `ipmi_iana_enterprise_numbers_string` of libfreeipmi 1.6.10).
/// The registry holds some 60,000; a BMC of a maker not listed shows its number only, where
/// FreeIPMI would name it (docs/prometheus.md).
const MANUFACTURERS: &[(u32, &str)] = &[
    (2, "IBM"),
    (9, "ciscoSystems"),
    (11, "Hewlett-Packard"),
    (42, "Sun Microsystems"),
    (311, "Microsoft"),
    (343, "Intel Corporation"),
    (674, "Dell Inc."),
    (2011, "HUAWEI Technology Co.,Ltd"),
    (4753, "MontaVista Software, Inc."),
    (5771, "Cisco Systems, Inc."),
    (6569, "INVENTEC CORPORATION"),
    (7154, "Intelligent Platform Management Interface forum"),
    (7244, "Quanta Computer Inc."),
    (10368, "Fujitsu Technology Solutions GmbH"),
    (10876, "Super Micro Computer Inc."),
    (19046, "Lenovo Enterprise Business Group"),
    (20301, "IBM eServer X"),
    (28458, "Nokia Solutions and Networks"),
    (40981, "Facebook, Inc."),
    (47196, "Hewlett Packard Enterprise"),
];

/// The registry's name of a manufacturer (see [`MANUFACTURERS`]).
pub fn manufacturer_name(id: u32) -> Option<&'static str> {
    MANUFACTURERS
        .iter()
        .find(|(n, _)| *n == id)
        .map(|(_, name)| *name)
}

/// Get Chassis Status: whether system power is on (byte 0, bit 0).
pub fn chassis_power_on(data: &[u8]) -> Option<bool> {
    data.first().map(|b| b & 0x01 != 0)
}

/// DCMI Get Power Reading's figures, in watts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerReading {
    /// Current power.
    pub current: u16,
    /// Minimum over the sampling period.
    pub minimum: u16,
    /// Maximum over the sampling period.
    pub maximum: u16,
    /// Average over the sampling period.
    pub average: u16,
    /// Whether power measurement is active (state byte, bit 6).
    pub active: bool,
}

/// Decodes a DCMI Get Power Reading response: the group byte 0xDC, four 16-bit figures
/// (current, minimum, maximum, average), a 32-bit time stamp, a 32-bit period, the state.
pub fn decode_power_reading(data: &[u8]) -> Option<PowerReading> {
    let d = data.get(..18)?;
    if d[0] != super::command::DCMI_GROUP {
        return None;
    }
    let word = |i: usize| u16::from_le_bytes([d[i], d[i + 1]]);
    Some(PowerReading {
        current: word(1),
        minimum: word(3),
        maximum: word(5),
        average: word(7),
        active: d[17] & 0x40 != 0,
    })
}

/// Sensor type names (IPMI 2.0 table 42-3) as FreeIPMI prints them: ipmi_exporter's `type`
/// label of its generic sensor families.
pub fn sensor_type_name(code: u8) -> &'static str {
    const NAMES: [&str; 0x2D] = [
        "Reserved",
        "Temperature",
        "Voltage",
        "Current",
        "Fan",
        "Physical Security",
        "Platform Security Violation Attempt",
        "Processor",
        "Power Supply",
        "Power Unit",
        "Cooling Device",
        "Other Units Based Sensor",
        "Memory",
        "Drive Slot",
        "POST Memory Resize",
        "System Firmware Progress",
        "Event Logging Disabled",
        "Watchdog 1",
        "System Event",
        "Critical Interrupt",
        "Button/Switch",
        "Module/Board",
        "Microcontroller/Coprocessor",
        "Add In Card",
        "Chassis",
        "Chip Set",
        "Other FRU",
        "Cable/Interconnect",
        "Terminator",
        "System Boot Initiated",
        "Boot Error",
        "OS Boot",
        "OS Critical Stop",
        "Slot/Connector",
        "System ACPI Power State",
        "Watchdog 2",
        "Platform Alert",
        "Entity Presence",
        "Monitor ASIC/IC",
        "LAN",
        "Management Subsystem Health",
        "Battery",
        "Session Audit",
        "Version Change",
        "FRU State",
    ];
    match code {
        0xC0..=0xFF => "OEM Reserved",
        _ => NAMES
            .get(usize::from(code))
            .copied()
            .unwrap_or("Unrecognized"),
    }
}

/// The unit FreeIPMI's `ipmimonitoring` prints for a threshold sensor (base unit code,
/// IPMI 2.0 table 43-15, and the percentage flag), for the units ipmi_exporter gives a
/// family of their own (and temperatures in F and K, which it does not).
pub fn unit_name(base_unit: u8, percentage: bool) -> Option<&'static str> {
    if percentage {
        return Some("%");
    }
    Some(match base_unit {
        1 => "C",
        2 => "F",
        3 => "K",
        4 => "V",
        5 => "A",
        6 => "W",
        7 => "J",
        18 => "RPM",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_decodes_as_bmc_info_prints_it() {
        // ipmi_sim's `mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02`: bmc-info says
        // "Firmware Revision : 9.08", "Manufacturer ID : MontaVista Software, Inc. (4753)".
        let d = DeviceId::decode(&[
            0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f,
        ])
        .unwrap();
        assert_eq!(d.firmware_revision(), "9.08");
        assert_eq!(d.manufacturer(), "MontaVista Software, Inc. (4753)");
        assert_eq!(d.product_id, 0x0f02);
        // Dell's iDRAC 2.61 (BCD minor 0x61), the exporter's own example.
        let dell = DeviceId::decode(&[
            0x20, 0x01, 0x02, 0x61, 0x02, 0xbf, 0xa2, 0x02, 0x00, 0x00, 0x01,
        ])
        .unwrap();
        assert_eq!(
            (dell.firmware_revision(), dell.manufacturer()),
            ("2.61".to_string(), "Dell Inc. (674)".to_string())
        );
        let unknown = DeviceId {
            manufacturer_id: 99_999,
            ..dell
        };
        assert_eq!(unknown.manufacturer(), "99999");
        assert_eq!(DeviceId::decode(&[0; 10]), None, "short");
    }

    #[test]
    fn power_reading_and_chassis_status_decode_or_refuse() {
        let mut r = vec![0xDC, 0x2C, 0x01, 0x10, 0x00, 0x90, 0x01, 0x20, 0x01];
        r.extend([0; 8]);
        r.push(0x40);
        let p = decode_power_reading(&r).unwrap();
        assert_eq!(
            (p.current, p.minimum, p.maximum, p.average),
            (300, 16, 400, 288)
        );
        assert!(p.active);
        assert_eq!(decode_power_reading(&r[..17]), None, "short");
        r[0] = 0xDD;
        assert_eq!(decode_power_reading(&r), None, "not DCMI's group");
        assert_eq!(chassis_power_on(&[0x01, 0, 0]), Some(true));
        assert_eq!(chassis_power_on(&[0x60]), Some(false));
        assert_eq!(chassis_power_on(&[]), None);
    }

    #[test]
    fn type_and_unit_names_are_freeipmis() {
        assert_eq!(sensor_type_name(0x08), "Power Supply");
        assert_eq!(sensor_type_name(0x1B), "Cable/Interconnect");
        assert_eq!(sensor_type_name(0x2C), "FRU State");
        assert_eq!(sensor_type_name(0x2D), "Unrecognized");
        assert_eq!(sensor_type_name(0xC1), "OEM Reserved");
        assert_eq!(unit_name(18, false), Some("RPM"));
        assert_eq!(unit_name(18, true), Some("%"));
        assert_eq!(unit_name(6, false), Some("W"));
        assert_eq!(unit_name(20, false), None);
    }
}
