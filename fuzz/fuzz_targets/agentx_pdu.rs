//! A PDU from the AgentX master (snmpd): decoded or refused, and any request answered from a
//! view with every kind of row, with a response that decodes as one.
#![no_main]
use envmon_agent::model::{Item, ItemSource, Shown};
use envmon_agent::snmp::{
    answer::answer,
    mib::{Inputs, Mib},
    pdu::{self, Pdu},
};
use envmon_core::engine::{Class, Limits, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rows = [
        Item {
            id: "cpu0-temp".into(),
            label: "0".into(),
            class: Class::CpuTemp,
            limits: Limits::Temperature {
                warm: Some(75.0),
                critical: Some(90.0),
                shutdown: None,
            },
            value: Some(40.0),
            state: Shown::Is(State::Ok),
            age_ms: Some(10),
            sdr: None,
            source: ItemSource {
                board: "ipmi:CPU0 Temp".into(),
                number: Some(1),
                sdr: Some("CPU0 Temp".into()),
            },
            unit: "C".into(),
            why: None,
        },
        Item {
            id: "psu1".into(),
            label: "1".into(),
            class: Class::Psu,
            limits: Limits::Discrete,
            value: None,
            state: Shown::Absent,
            age_ms: None,
            sdr: None,
            source: ItemSource {
                board: "ipmi:PSU1 Status".into(),
                number: None,
                sdr: None,
            },
            unit: "-".into(),
            why: Some("the BMC's presence sensor PS2 says its part is absent".into()),
        },
    ];
    let view = Mib::build(&Inputs {
        board: "fuzz",
        sensors: &rows,
        power: &[],
        interval_ms: 1000,
        uptime_cs: 1,
        envmon_view: true,
        threshold_notifications: true,
    });
    let Ok(p) = pdu::decode(data) else {
        return;
    };
    if let Some(reply) = answer(&view, &p) {
        // A whole Response: its header's length is what follows it, and at most a
        // thousand varbinds of at most 128 sub-identifiers each.
        assert_eq!(reply[1], 18, "a Response");
        let len = u32::from_le_bytes([reply[16], reply[17], reply[18], reply[19]]) as usize;
        assert_eq!(reply.len(), pdu::HEADER + len);
        assert!(len <= 1024 * 600 + 8, "{len}");
        if len <= pdu::MAX_PAYLOAD {
            assert!(matches!(pdu::decode(&reply), Ok(Pdu::Response { .. })));
        }
    }
});
