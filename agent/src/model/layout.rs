//! How each class of item is shown to operators, in one place: its category and sub-group
//! in `envmon show environment` (Cisco's layout) with the name printed there, the
//! description SNMP serves (entPhysicalDescr/Name and CISCO-ENVMON-MIB's descr), and the
//! CISCO-ENVMON-MIB table it belongs in. Pure data; `show` and `snmp::mib` read it.

use envmon_core::engine::Class;

/// A CISCO-ENVMON-MIB status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvmonTable {
    /// ciscoEnvMonVoltageStatusTable.
    Voltage,
    /// ciscoEnvMonTemperatureStatusTable.
    Temperature,
    /// ciscoEnvMonFanStatusTable.
    Fan,
    /// ciscoEnvMonSupplyStatusTable.
    Supply,
}

/// How one class is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassView {
    /// `show environment` category.
    pub category: &'static str,
    /// Its sub-group within the category.
    pub group: &'static str,
    /// The words before and after the label in `show environment`.
    pub name: (&'static str, &'static str),
    /// The words before and after the label in SNMP descriptions.
    pub descr: (&'static str, &'static str),
    /// The CISCO-ENVMON-MIB table, if any.
    pub envmon: Option<EnvmonTable>,
}

/// The classes in the order `show environment` lists their categories and sub-groups.
pub const ORDER: [Class; 11] = [
    Class::Fan,
    Class::PsuFan,
    Class::Psu,
    Class::PsuRedundancy,
    Class::CpuTemp,
    Class::CpuVrTemp,
    Class::ChassisAmbient,
    Class::IohubTemp,
    Class::PsuTemp,
    Class::Voltage,
    Class::Backplane,
];

/// The view of `class`.
pub fn view(class: Class) -> ClassView {
    use EnvmonTable as T;
    let v = |category, group, name, descr, envmon| ClassView {
        category,
        group,
        name,
        descr,
        envmon,
    };
    match class {
        Class::Fan => v(
            "Cooling Fans",
            "Chassis Fans",
            ("Cooling Fan ", ""),
            ("Cooling Fan ", ""),
            Some(T::Fan),
        ),
        Class::PsuFan => v(
            "Cooling Fans",
            "Power Supply Fans",
            ("Power Supply ", " Fan"),
            ("Power Supply ", " Fan"),
            Some(T::Fan),
        ),
        Class::Psu => v(
            "Power Supplies",
            "Power Supplies",
            ("Power Supply ", ""),
            ("Power Supply ", ""),
            Some(T::Supply),
        ),
        // Shown as the Redundancy line of the power supplies, not as an item.
        Class::PsuRedundancy => v(
            "Power Supplies",
            "Power Supplies",
            ("Redundancy", ""),
            ("Power Supply Redundancy", ""),
            None,
        ),
        Class::CpuTemp => v(
            "Temperature",
            "Processors",
            ("Processor ", ""),
            ("CPU ", " Temp"),
            Some(T::Temperature),
        ),
        Class::CpuVrTemp => v(
            "Temperature",
            "Processors",
            ("Processor ", " Voltage Regulator"),
            ("CPU ", " VR Temp"),
            Some(T::Temperature),
        ),
        Class::ChassisAmbient => v(
            "Temperature",
            "Chassis",
            ("Ambient ", ""),
            ("Chassis Ambient ", ""),
            Some(T::Temperature),
        ),
        Class::IohubTemp => v(
            "Temperature",
            "IO Hub",
            ("IO Hub ", ""),
            ("IO Hub ", " Temp"),
            Some(T::Temperature),
        ),
        Class::PsuTemp => v(
            "Temperature",
            "Power Supplies",
            ("Power Supply ", ""),
            ("Power Supply ", " Temp"),
            Some(T::Temperature),
        ),
        Class::Voltage => v(
            "Voltage",
            "Voltage Channels",
            ("Channel ", ""),
            ("Voltage Channel ", ""),
            Some(T::Voltage),
        ),
        Class::Backplane => v(
            "Backplane",
            "Links",
            ("Backplane ", ""),
            ("Backplane ", ""),
            None,
        ),
    }
}

/// The categories, in order, each once.
pub fn categories() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in ORDER {
        let cat = view(c).category;
        if !out.contains(&cat) {
            out.push(cat);
        }
    }
    out
}

/// The sub-groups of `category`, in order, each once.
pub fn groups(category: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for v in ORDER.map(view).iter().filter(|v| v.category == category) {
        if !out.contains(&v.group) {
            out.push(v.group);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_in_the_order_once() {
        for c in Class::ALL {
            assert_eq!(ORDER.iter().filter(|o| **o == c).count(), 1, "{c}");
        }
        assert_eq!(
            categories(),
            [
                "Cooling Fans",
                "Power Supplies",
                "Temperature",
                "Voltage",
                "Backplane"
            ]
        );
        assert_eq!(
            groups("Temperature"),
            ["Processors", "Chassis", "IO Hub", "Power Supplies"]
        );
    }
}
