//! PCI checks: 743000 once per attribute and again on change; 743004 once while absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use envmon_core::{
    Prefix,
    pci::{PciExpect, PciObserved, PciState, check, find, parse_ids, parse_speed},
    render_line,
};

fn expect() -> PciExpect {
    PciExpect {
        id: "nic0".into(),
        vendor: 0x8086,
        device: 0x10d3,
        address: None,
        required: true,
        speed: Some(5.0),
        width: Some(4),
    }
}

fn dev(speed: Option<f64>, width: Option<u8>) -> PciObserved {
    PciObserved {
        address: "0000:01:00.0".into(),
        vendor: 0x8086,
        device: 0x10d3,
        speed,
        width,
    }
}

fn names(_: u16, _: u16) -> (String, String) {
    (
        "Intel Corporation".into(),
        "82574L Gigabit Network Connection".into(),
    )
}

fn lines(e: &PciExpect, st: &mut PciState, found: Option<&PciObserved>) -> Vec<String> {
    check(e, st, found, &names)
        .into_iter()
        .map(|m| {
            let args: Vec<&str> = m.args.iter().map(String::as_str).collect();
            render_line(Prefix::Ftd, m.id, &args).unwrap()
        })
        .collect()
}

#[test]
fn slow_and_narrow_links_once_per_attribute_and_again_on_change() {
    let e = expect();
    let mut st = PciState::default();
    assert_eq!(
        lines(&e, &mut st, Some(&dev(Some(2.5), Some(1)))),
        [
            "%FTD-1-743000: The PCI device with vendor ID: 0x8086 device ID: 0x10d3 located at bus:device.function 01:00.0 has a link speed of 2.5 GT/s when it should have a link speed of 5.0 GT/s.",
            "%FTD-1-743000: The PCI device with vendor ID: 0x8086 device ID: 0x10d3 located at bus:device.function 01:00.0 has a link width of x1 when it should have a link width of x4.",
        ]
    );
    assert_eq!(st.status(&e).name(), "degraded");
    assert!(
        lines(&e, &mut st, Some(&dev(Some(2.5), Some(1)))).is_empty(),
        "no repeat"
    );
    let changed = lines(&e, &mut st, Some(&dev(Some(2.5), Some(2))));
    assert_eq!(changed.len(), 1);
    assert!(changed[0].contains("link width of x2 when"));
    assert!(
        lines(&e, &mut st, Some(&dev(Some(8.0), Some(4)))).is_empty(),
        "recovered: no message"
    );
    assert_eq!(st.status(&e).name(), "ok");
    assert_eq!(
        lines(&e, &mut st, Some(&dev(Some(2.5), Some(4)))).len(),
        1,
        "short again: reported again"
    );
}

#[test]
fn unknown_link_values_report_nothing() {
    let e = expect();
    let mut st = PciState::default();
    assert!(lines(&e, &mut st, Some(&dev(None, None))).is_empty());
}

#[test]
fn required_and_absent_once_then_again_after_it_came_back() {
    let e = expect();
    let mut st = PciState::default();
    let want = "%FTD-1-743004: System is not fully operational - PCI device with vendor ID 0x8086 (Intel Corporation), device ID 0x10d3 (82574L Gigabit Network Connection) not found";
    assert_eq!(lines(&e, &mut st, None), [want]);
    assert_eq!(st.status(&e).name(), "absent");
    assert!(lines(&e, &mut st, None).is_empty());
    assert!(lines(&e, &mut st, Some(&dev(Some(8.0), Some(4)))).is_empty());
    assert_eq!(lines(&e, &mut st, None), [want]);
    let optional = PciExpect {
        required: false,
        ..expect()
    };
    let mut st = PciState::default();
    assert!(lines(&optional, &mut st, None).is_empty());
    assert_eq!(st.status(&optional).name(), "missing");
}

#[test]
fn find_by_ids_or_pinned_address_and_parse_sysfs_text() {
    let a = dev(Some(2.5), Some(1));
    let b = PciObserved {
        address: "0000:02:00.0".into(),
        ..dev(Some(8.0), Some(4))
    };
    let devices = [a.clone(), b.clone()];
    assert_eq!(find(&expect(), &devices), Some(&a));
    let pinned = PciExpect {
        address: Some("0000:02:00.0".into()),
        ..expect()
    };
    assert_eq!(find(&pinned, &devices), Some(&b));
    assert_eq!(parse_speed("8.0 GT/s PCIe\n"), Some(8.0));
    assert_eq!(parse_speed("2.5 GT/s"), Some(2.5));
    assert_eq!(parse_speed("Unknown"), None);
    assert_eq!(parse_speed("fast"), None);
    assert_eq!(parse_ids("8086:1521"), Some((0x8086, 0x1521)));
    assert_eq!(parse_ids("8086"), None);
    assert_eq!(parse_ids("zzzz:1521"), None);
}
