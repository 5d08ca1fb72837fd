//! The message catalog: every 735xxx (environment) and 743xxx (PCI/backplane) message of the
//! FTD/ASA syslog guide, with its level, template, explanation and recommended action.
//!
//! This table is the only place message text lives. Templates are the guide's text with the
//! markup removed, the colon after the ID restored (the guide drops it for 735001-735008) and
//! no space between a variable and the punctuation that follows it (devices print
//! `Fan 1: OK`, the guide's documents `Fan var1 : OK`). Variables are written `{name}`; their
//! order in [`MessageDef::vars`] is the order of first appearance in the template, which is the
//! order `envmon message ID ARG...` takes them in.
//!
//! Deliberate differences from the guide's text are listed in docs/messages.md.

use crate::Level;

/// One variable of a message template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    /// The name used in the template, `{name}`.
    pub name: &'static str,
    /// What the guide says the variable holds.
    pub meaning: &'static str,
    /// The text printed when the caller does not know the value; `None` makes it required.
    /// Optional variables always come last.
    pub default: Option<&'static str>,
}

/// One catalog message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageDef {
    /// The message number, e.g. 735002.
    pub id: u32,
    /// The message level (the guide's, which is also the syslog severity).
    pub level: Level,
    /// The message text with `{name}` placeholders.
    pub template: &'static str,
    /// The variables, in order of first appearance in the template.
    pub vars: &'static [Var],
    /// The guide's explanation.
    pub explanation: &'static str,
    /// The guide's recommended action (numbered steps on separate lines).
    pub action: &'static str,
}

impl MessageDef {
    /// How many arguments a caller must give (the variables without a default).
    pub fn required_args(&self) -> usize {
        self.vars.iter().filter(|v| v.default.is_none()).count()
    }
}

/// Looks a message up by number.
pub fn lookup(id: u32) -> Option<&'static MessageDef> {
    CATALOG
        .binary_search_by_key(&id, |m| m.id)
        .ok()
        .and_then(|i| CATALOG.get(i))
}

/// Every message, sorted by number.
pub static CATALOG: &[MessageDef] = &[
    MessageDef {
        id: 735001,
        level: Level::Alert,
        template: "IPMI: Cooling Fan {fan}: OK",
        vars: &[Var {
            name: "fan",
            meaning: "The device number markings",
            default: None,
        }],
        explanation: "A cooling fan has been restored to normal operation.",
        action: "None required.",
    },
    MessageDef {
        id: 735002,
        level: Level::Alert,
        template: "IPMI: Cooling Fan {fan}: Failure Detected",
        vars: &[Var {
            name: "fan",
            meaning: "The device number markings",
            default: None,
        }],
        explanation: "A cooling fan has failed.",
        action: "Perform the following steps:\n1. Check for obstructions that would prevent the fan from rotating.\n2. Replace the cooling fan.\n3. If the problem persists, record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735003,
        level: Level::Alert,
        template: "IPMI: Power Supply {psu}: OK",
        vars: &[Var {
            name: "psu",
            meaning: "The device number markings",
            default: None,
        }],
        explanation: "A power supply has been restored to normal operation.",
        action: "None required.",
    },
    MessageDef {
        id: 735004,
        level: Level::Alert,
        template: "IPMI: Power Supply {psu}: Failure Detected",
        vars: &[Var {
            name: "psu",
            meaning: "The device number markings",
            default: None,
        }],
        explanation: "AC power has been lost, or the power supply has failed.",
        action: "Perform the following steps:\n1. Check for AC power failure.\n2. Replace the power supply.\n3. If the problem persists, record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735005,
        level: Level::Alert,
        template: "IPMI: Power Supply Unit Redundancy OK",
        vars: &[],
        explanation: "Power supply unit redundancy has been restored.",
        action: "None required.",
    },
    MessageDef {
        id: 735006,
        level: Level::Alert,
        template: "IPMI: Power Supply Unit Redundancy Lost",
        vars: &[],
        explanation: "A power supply failure occurred. Power supply unit redundancy has been lost, but the Secure Firewall Threat Defense device is functioning normally with minimum resources. Any further failures will result in an Secure Firewall Threat Defense device shutdown.",
        action: "To regain full redundancy, perform the following steps:\n1. Check for AC power failure.\n2. Replace the power supply.\n3. If the problem persists, record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735007,
        level: Level::Alert,
        template: "IPMI: CPU {cpu}: Temp: {temp} {unit}, Critical",
        vars: &[
            Var {
                name: "cpu",
                meaning: "The device number markings",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "The temperature value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Temperature value units (C, F)",
                default: None,
            },
        ],
        explanation: "The CPU has reached a critical temperature.",
        action: "Record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735008,
        level: Level::Alert,
        template: "IPMI: Chassis Ambient {sensor}: Temp: {temp} {unit}, Critical",
        vars: &[
            Var {
                name: "sensor",
                meaning: "The device number markings",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "The temperature value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Temperature value units (C, F)",
                default: None,
            },
        ],
        explanation: "A chassis ambient temperature sensor has reached a critical level.",
        action: "Record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735009,
        level: Level::Critical,
        template: "IPMI: Environment Monitoring has failed initialization and configuration. Environment Monitoring is not running.",
        vars: &[],
        explanation: "Environment monitoring has experienced a fatal error during initialization and was unable to continue.",
        action: "Collect the output of the show environment and debug ipmi commands. Record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735010,
        level: Level::Error,
        template: "IPMI: Environment Monitoring has failed to update one or more of its records.",
        vars: &[],
        explanation: "Environment monitoring has experienced an error that temporarily prevented it from updating one or more of its records.",
        action: "If this message appears repeatedly, collect the output from the show environment driver and debug ipmi commands. Record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735011,
        level: Level::Alert,
        template: "Power Supply {psu}: Fan OK",
        vars: &[Var {
            name: "psu",
            meaning: "Fan number",
            default: None,
        }],
        explanation: "The power supply fan has returned to a working operating state.",
        action: "None required.",
    },
    MessageDef {
        id: 735012,
        level: Level::Alert,
        template: "Power Supply {psu}: Fan Failure Detected",
        vars: &[Var {
            name: "psu",
            meaning: "Fan number",
            default: None,
        }],
        explanation: "The power supply fan has failed.",
        action: "Contact Cisco TAC to troubleshoot the failure. Power down the unit until this failure is resolved.",
    },
    MessageDef {
        id: 735013,
        level: Level::Alert,
        template: "Voltage Channel {channel}: Voltage OK",
        vars: &[Var {
            name: "channel",
            meaning: "Voltage channel number",
            default: None,
        }],
        explanation: "A voltage channel has returned to a normal operating level.",
        action: "None required.",
    },
    MessageDef {
        id: 735014,
        level: Level::Alert,
        template: "Voltage Channel {channel}: Voltage Critical",
        vars: &[Var {
            name: "channel",
            meaning: "Voltage channel number",
            default: None,
        }],
        explanation: "A voltage channel has changed to a critical level.",
        action: "Contact Cisco TAC to troubleshoot the failure. Power down the unit until this failure is resolved.",
    },
    MessageDef {
        id: 735015,
        level: Level::Warning,
        template: "CPU {cpu}: Temp: {temp} {unit}, Warm",
        vars: &[
            Var {
                name: "cpu",
                meaning: "CPU Number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature Value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The CPU temperature is warmer than the normal operating range.",
        action: "Continue to monitor this component to ensure that it does not reach a critical temperature.",
    },
    MessageDef {
        id: 735016,
        level: Level::Warning,
        template: "Chassis Ambient {sensor}: Temp: {temp} {unit}, Warm",
        vars: &[
            Var {
                name: "sensor",
                meaning: "Chassis Sensor Number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature Value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The chassis temperature is warmer than the normal operating range.",
        action: "Continue to monitor this component to ensure that it does not reach a critical temperature.",
    },
    MessageDef {
        id: 735017,
        level: Level::Alert,
        template: "Power Supply {psu}: Temp: {temp} {unit}, OK",
        vars: &[
            Var {
                name: "psu",
                meaning: "Power Supply Number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature Value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The power supply temperature has returned to a normal operating temperature.",
        action: "None required.",
    },
    MessageDef {
        id: 735018,
        level: Level::Warning,
        template: "Power Supply {psu}: Temp: {temp} {unit}, Critical",
        vars: &[
            Var {
                name: "psu",
                meaning: "Power Supply Number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature Value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The power supply has reached a critical operating temperature.",
        action: "Contact Cisco TAC to troubleshoot the failure. Power down the unit until this failure is resolved.",
    },
    MessageDef {
        id: 735019,
        level: Level::Warning,
        template: "Power Supply {psu}: Temp: {temp} {unit}, Warm",
        vars: &[
            Var {
                name: "psu",
                meaning: "Power Supply Number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature Value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The power supply temperature is warmer than the normal operating range.",
        action: "Continue to monitor this component to ensure that it does not reach a critical temperature.",
    },
    MessageDef {
        id: 735020,
        level: Level::Alert,
        template: "CPU {cpu}: Temp: {temp} {unit} OK",
        vars: &[
            Var {
                name: "cpu",
                meaning: "CPU Number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature Value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The CPU temperature has returned to the normal operating temperature.",
        action: "None required.",
    },
    MessageDef {
        id: 735021,
        level: Level::Alert,
        template: "Chassis {sensor}: Temp: {temp} {unit} OK",
        vars: &[
            Var {
                name: "sensor",
                meaning: "Chassis Sensor Number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature Value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The chassis temperature has returned to the normal operating temperature.",
        action: "None required.",
    },
    MessageDef {
        id: 735022,
        level: Level::Alert,
        template: "CPU{cpu} is running beyond the max thermal operating temperature and the device will be shutting down immediately to prevent permanent damage to the CPU.",
        vars: &[Var {
            name: "cpu",
            meaning: "CPU number; when it is not known the guide's literal '#' is printed",
            default: Some("#"),
        }],
        explanation: "The Secure Firewall Threat Defense device has detected a CPU running beyond the maximum thermal operating temperature, and will shut down immediately after detection.",
        action: "The chassis and CPU need to be inspected immediately for ventilation issues.",
    },
    MessageDef {
        id: 735023,
        level: Level::Critical,
        template: "ASA was previously shutdown due to the CPU complex running beyond the maximum thermal operating temperature. The chassis needs to be inspected immediately for ventilation issues.",
        vars: &[],
        explanation: "At boot time, the Secure Firewall Threat Defense device detected a shutdown that occurred because a CPU was running beyond the maximum safe operating temperature. Using the show environment command will indicate that this event has occurred.",
        action: "The chassis need to be inspected immediately for ventilation issues.",
    },
    MessageDef {
        id: 735024,
        level: Level::Alert,
        template: "IO Hub {iohub}: Temp: {temp} {unit}, OK",
        vars: &[
            Var {
                name: "iohub",
                meaning: "IO hub number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The IO hub temperature has returned to the normal operating temperature.",
        action: "None required.",
    },
    MessageDef {
        id: 735025,
        level: Level::Alert,
        template: "IO Hub {iohub}: Temp: {temp} {unit}, Critical",
        vars: &[
            Var {
                name: "iohub",
                meaning: "IO hub number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The IO hub temperature has a critical temperature.",
        action: "Record the message as it appears and contact the Cisco TAC.",
    },
    MessageDef {
        id: 735026,
        level: Level::Warning,
        template: "IO Hub {iohub}: Temp: {temp} {unit}, Warm",
        vars: &[
            Var {
                name: "iohub",
                meaning: "IO hub number",
                default: None,
            },
            Var {
                name: "temp",
                meaning: "Temperature value",
                default: None,
            },
            Var {
                name: "unit",
                meaning: "Units",
                default: None,
            },
        ],
        explanation: "The IO hub temperature is warmer than the normal operating range.",
        action: "Continue to monitor this component to ensure that it does not reach a critical temperature.",
    },
    MessageDef {
        id: 735027,
        level: Level::Alert,
        template: "CPU {cpu} Voltage Regulator is running beyond the max thermal operating temperature and the device will be shutting down immediately. The chassis and CPU need to be inspected immediately for ventilation issues.",
        vars: &[Var {
            name: "cpu",
            meaning: "The number to identify which CPU voltage regulator experienced the thermal event",
            default: None,
        }],
        explanation: "The Secure Firewall Threat Defense device has detected a CPU voltage regulator running beyond the maximum thermal operating temperature, and shuts down immediately after detection.",
        action: "The chassis and CPU need to be inspected immediately for ventilation issues.",
    },
    MessageDef {
        id: 735028,
        level: Level::Critical,
        template: "ASA was previously shutdown due to a CPU Voltage Regulator running beyond the max thermal operating temperature. The chassis and CPU need to be inspected immediately for ventilation issues.",
        vars: &[],
        explanation: "At boot time, the Secure Firewall Threat Defense device detected a shutdown that occurred because of a CPU voltage regulator running beyond the maximum safe operating temperature. Enter the show environment command to indicate that this event has occurred.",
        action: "The chassis and CPU need to be inspected immediately for ventilation issues.",
    },
    MessageDef {
        id: 735029,
        level: Level::Alert,
        template: "IO Hub is running beyond the max thermal operating temperature and the device will be shutting down immediately to prevent permanent damage to the circuit.",
        vars: &[],
        explanation: "The Secure Firewall Threat Defense device has detected that the IO hub is running beyond the maximum thermal operating temperature, and will shut down immediately after detection.",
        action: "The chassis and IO hub need to be inspected immediately for ventilation issues.",
    },
    MessageDef {
        id: 743000,
        level: Level::Alert,
        template: "The PCI device with vendor ID: {vendor_id} device ID: {device_id} located at bus:device.function {bus}:{dev}.{func} has a link {attr} of {actual} when it should have a link {attr} of {expected}.",
        vars: &[
            Var {
                name: "vendor_id",
                meaning: "PCI vendor ID",
                default: None,
            },
            Var {
                name: "device_id",
                meaning: "PCI device ID",
                default: None,
            },
            Var {
                name: "bus",
                meaning: "Bus number",
                default: None,
            },
            Var {
                name: "dev",
                meaning: "Device number",
                default: None,
            },
            Var {
                name: "func",
                meaning: "Function number",
                default: None,
            },
            Var {
                name: "attr",
                meaning: "Link attribute name (speed, width)",
                default: None,
            },
            Var {
                name: "actual",
                meaning: "Actual link attribute value",
                default: None,
            },
            Var {
                name: "expected",
                meaning: "Expected link attribute value",
                default: None,
            },
        ],
        explanation: "A PCI device in the system is not configured correctly, which may result in the system not performing at its optimum level.",
        action: "Collect the output of the show controller pci detail command, and contact the Cisco TAC.",
    },
    MessageDef {
        id: 743001,
        level: Level::Alert,
        template: "Backplane health monitoring detected link failure",
        vars: &[],
        explanation: "A hardware failure has probably occurred and has been detected on one of the links between the Secure Firewall Threat Defense Services Module and the switch chassis.",
        action: "Contact the Cisco TAC.",
    },
    MessageDef {
        id: 743002,
        level: Level::Alert,
        template: "Backplane health monitoring detected link OK",
        vars: &[],
        explanation: "A link has been restored between the Secure Firewall Threat Defense Services Module and the switch chassis. However, the failure and subsequent recovery probably indicates a hardware failure.",
        action: "Contact the Cisco TAC.",
    },
    MessageDef {
        id: 743004,
        level: Level::Alert,
        template: "System is not fully operational - PCI device with vendor ID {vendor_id} ({vendor_name}), device ID {device_id} ({device_name}) not found",
        vars: &[
            Var {
                name: "vendor_id",
                meaning: "Hexadecimal value that identifies the device vendor",
                default: None,
            },
            Var {
                name: "vendor_name",
                meaning: "Text string that identifies the vendor name",
                default: None,
            },
            Var {
                name: "device_id",
                meaning: "Hexadecimal value that identifies the vendor device",
                default: None,
            },
            Var {
                name: "device_name",
                meaning: "Text string that identifies the device name",
                default: None,
            },
        ],
        explanation: "A PCI device in the system that is needed for it to be fully operational was not found.",
        action: "Collect the output of the show controller pci detail command and contact the Cisco TAC.",
    },
    MessageDef {
        id: 743010,
        level: Level::Error,
        template: "EOBC RPC server failed to start for client module {client}.",
        vars: &[Var {
            name: "client",
            meaning: "Client module name",
            default: None,
        }],
        explanation: "The service failed to start for a particular client of the EOBC RPC service on the server.",
        action: "Call the Cisco TAC.",
    },
    MessageDef {
        id: 743011,
        level: Level::Error,
        template: "EOBC RPC call failed, return code {code} string.",
        vars: &[Var {
            name: "code",
            meaning: "Return code",
            default: None,
        }],
        explanation: "The EOBC RPC client failed to make an RPC to the intended server.",
        action: "Call the Cisco TAC.",
    },
];
