//! Board definitions: every built-in board loads; bad files are located errors; auto boards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use envmon_board_defs::{
    BUILTIN, BoardErrorKind, SdrKind, SdrSensor, Source, auto_board, builtin, entity, parse,
    sensor_type,
};
use envmon_core::engine::{Class, Limits};
use std::path::Path;

#[test]
fn every_builtin_board_loads() {
    assert!(BUILTIN.len() >= 3);
    for (name, _) in BUILTIN {
        let b = builtin(name).unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&b.name, name);
        assert!(!b.items.is_empty());
        let psus = b
            .items
            .iter()
            .filter(|i| i.spec.class == Class::Psu)
            .count();
        assert!(b.min_psus <= psus, "{name}");
    }
    let two = builtin("fw-2cpu").unwrap().unwrap();
    assert_eq!(
        two.items
            .iter()
            .filter(|i| i.spec.class == Class::CpuTemp)
            .count(),
        2
    );
    let one = builtin("fw-1cpu").unwrap().unwrap();
    assert_eq!(
        one.items
            .iter()
            .filter(|i| i.spec.class == Class::CpuTemp)
            .count(),
        1
    );
    assert!(builtin("nonesuch").is_none());
}

#[test]
fn the_mixed_board_has_every_kind_of_source() {
    use envmon_board_defs::I2cDriver;
    let b = builtin("fw-1cpu-mixed").unwrap().unwrap();
    let has = |f: &dyn Fn(&Source) -> bool| b.items.iter().any(|i| f(&i.source));
    assert!(has(&|s| matches!(s, Source::IpmiName(_))));
    assert!(has(&|s| matches!(s, Source::Hwmon { .. })));
    assert!(has(&|s| matches!(
        s,
        Source::I2c {
            driver: I2cDriver::Lm75,
            ..
        }
    )));
    assert!(has(&|s| matches!(
        s,
        Source::I2c {
            driver: I2cDriver::PmbusStatus,
            ..
        }
    )));
    assert!(has(&|s| matches!(s, Source::Gpio { .. })));
    assert!(has(&|s| matches!(s, Source::Net(_))));
    assert_eq!(b.pci.len(), 2);
    assert_eq!(
        (
            b.pci[0].vendor,
            b.pci[0].device,
            b.pci[0].speed,
            b.pci[0].width
        ),
        (0x8086, 0x1521, Some(5.0), Some(4))
    );
    assert_eq!(b.pci[0].address.as_deref(), Some("0000:03:00.0"));
    let bp = b.items.iter().find(|i| i.id == "backplane").unwrap();
    assert_eq!(
        (bp.spec.class, bp.spec.limits),
        (Class::Backplane, Limits::Discrete)
    );
    let psu2 = b.items.iter().find(|i| i.id == "psu2").unwrap();
    assert_eq!(psu2.spec.limits, Limits::Discrete);
}

#[test]
fn capacities_are_enforced() {
    let mut text = String::from("name = \"big\"\n");
    for n in 0..(envmon_board_defs::capacity::GPIO + 1) {
        text.push_str(&format!(
            "[[item]]\nid = \"g{n}\"\nclass = \"psu\"\nlabel = \"{n}\"\nsource = \"gpio:{n}\"\n"
        ));
    }
    let e = parse(Path::new("big.toml"), &text).unwrap_err();
    assert!(e.message.contains("65 gpio items, more than the 64"), "{e}");
}

#[test]
fn sim_appliance_reads_as_written() {
    let b = builtin("sim-appliance").unwrap().unwrap();
    assert_eq!(b.min_psus, 2);
    let cpu = b.items.iter().find(|i| i.id == "cpu0-temp").unwrap();
    assert_eq!(cpu.source, Source::IpmiName("CPU0 Temp".into()));
    assert_eq!(
        cpu.spec.limits,
        Limits::Temperature {
            warm: Some(75.0),
            critical: Some(90.0),
            shutdown: Some(100.0)
        }
    );
    assert_eq!(
        (
            cpu.spec.debounce,
            cpu.spec.unavailable_after,
            cpu.spec.hysteresis
        ),
        (2, 3, 2.0)
    );
    let fan = b.items.iter().find(|i| i.id == "fan1").unwrap();
    assert_eq!(
        fan.spec.limits,
        Limits::Fan {
            min_rpm: Some(1000.0)
        }
    );
    assert_eq!(
        fan.spec.hysteresis, 100.0,
        "fans default to 50x the board hysteresis in RPM"
    );
}

const HEAD: &str = "name = \"t\"\n";

fn item(body: &str) -> String {
    format!("{HEAD}[[item]]\nid = \"a\"\nlabel = \"1\"\n{body}")
}

#[test]
fn bad_boards_are_located_errors() {
    let cases: Vec<(String, BoardErrorKind, (usize, usize), &str)> = vec![
        (
            item("class = \"cpu\"\nsource = \"ipmi:X\"\nwarm = 1\n"),
            BoardErrorKind::Invalid,
            (5, 9),
            "unknown class 'cpu'",
        ),
        (
            item("class = \"cpu_temp\"\nsource = \"ipmi:X\"\nwarm = 90\ncritical = 80\n"),
            BoardErrorKind::Invalid,
            (8, 12),
            "must rise",
        ),
        // Issue 35: the value no part reaches is said, not the order it breaks.
        (
            item("class = \"cpu_temp\"\nsource = \"ipmi:X\"\nwarm = 80000\ncritical = 90\n"),
            BoardErrorKind::Invalid,
            (7, 8),
            "warm = 80000 is outside -55 to 150 C",
        ),
        (
            item("class = \"cpu_temp\"\nsource = \"ipmi:X\"\nshutdown = -300\n"),
            BoardErrorKind::Invalid,
            (7, 12),
            "outside -55 to 150 C",
        ),
        (
            item(
                "class = \"cpu_temp\"\nsource = \"ipmi:X\"\nunit = \"F\"\ncritical = 200\nshutdown = 400\n",
            ),
            BoardErrorKind::Invalid,
            (9, 12),
            "outside -67 to 302 F",
        ),
        (
            item("class = \"fan\"\nsource = \"ipmi:X\"\nalso = [\"ipmi:#0x51\"]\n"),
            BoardErrorKind::Invalid,
            (7, 8),
            "also applies to psu items",
        ),
        (
            item("class = \"psu\"\nsource = \"ipmi:X\"\nalso = [\"gpio:3\"]\n"),
            BoardErrorKind::Invalid,
            (7, 9),
            "IPMI sensors only",
        ),
        (
            item("class = \"fan\"\nsource = \"ipmi:X\"\noptional = true\nrequired = true\n"),
            BoardErrorKind::Invalid,
            (8, 12),
            "required or optional",
        ),
        (
            item("class = \"fan\"\nsource = \"ipmi:X\"\nmin-rpm = 90000\n"),
            BoardErrorKind::Invalid,
            (7, 11),
            "no part reaches it",
        ),
        (
            item("class = \"psu_redundancy\"\nsource = \"ipmi:X\"\nmin-rpm = 900\n"),
            BoardErrorKind::Invalid,
            (7, 11),
            "min-rpm does not apply",
        ),
        (
            item("class = \"fan\"\nsource = \"ipmi:X\"\nmin-rpm = 900\nwarm = 3\n"),
            BoardErrorKind::Invalid,
            (8, 8),
            "warm does not apply",
        ),
        (
            item("class = \"voltage\"\nsource = \"ipmi:X\"\nlow = 5\nhigh = 4\n"),
            BoardErrorKind::Invalid,
            (8, 8),
            "must be above low",
        ),
        (
            item("class = \"voltage\"\nsource = \"ipmi:X\"\nlow = 1\nhigh = 2\nunit = \"C\"\n"),
            BoardErrorKind::Invalid,
            (9, 8),
            "unit applies to temperatures",
        ),
        (
            item("class = \"psu\"\nsource = \"snmp:1.3.6\"\n"),
            BoardErrorKind::Invalid,
            (6, 10),
            "unknown source",
        ),
        (
            item("class = \"psu\"\nsource = \"ipmi:#300\"\n"),
            BoardErrorKind::Invalid,
            (6, 10),
            "0 to 255",
        ),
        (
            item("class = \"psu\"\nsource = \"ipmi:X\"\ndebounce = 0\n"),
            BoardErrorKind::Invalid,
            (7, 12),
            "from 1 to 10",
        ),
        (
            item("class = \"psu\"\nsource = \"ipmi:X\"\ncolour = 1\n"),
            BoardErrorKind::Syntax,
            (7, 1),
            "unknown field `colour`",
        ),
        (
            format!(
                "{}[[item]]\nid = \"a\"\nlabel = \"2\"\nclass = \"psu\"\nsource = \"ipmi:Y\"\n",
                item("class = \"psu\"\nsource = \"ipmi:X\"\n")
            ),
            BoardErrorKind::Invalid,
            (8, 6),
            "id 'a' is used twice",
        ),
        (
            format!(
                "{}[[item]]\nid = \"b\"\nlabel = \"2\"\nclass = \"psu\"\nsource = \"ipmi:X\"\n",
                item("class = \"psu\"\nsource = \"ipmi:X\"\n")
            ),
            BoardErrorKind::Invalid,
            (11, 10),
            "used by two items",
        ),
        (
            format!(
                "min-psus = 3\n{}",
                item("class = \"psu\"\nsource = \"ipmi:X\"\n")
            ),
            BoardErrorKind::Invalid,
            (1, 12),
            "has 1 psu items",
        ),
        (
            "name = \"\"\n".into(),
            BoardErrorKind::Invalid,
            (1, 8),
            "1 to 64",
        ),
        (
            "[[item]\n".into(),
            BoardErrorKind::Syntax,
            (1, 8),
            "unclosed",
        ),
    ];
    for (text, kind, pos, needle) in cases {
        let e = parse(Path::new("board.toml"), &text).unwrap_err();
        assert_eq!(e.kind, kind, "{text}\n{e}");
        assert_eq!(e.position, Some(pos), "{text}\n{e}");
        assert!(e.message.contains(needle), "{text}\n{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("board.toml:{}:{}: ", pos.0, pos.1))
        );
    }
}

fn thr(unc: Option<f64>, uc: Option<f64>, unr: Option<f64>, lc: Option<f64>) -> SdrKind {
    SdrKind::Threshold {
        unr,
        uc,
        unc,
        lnr: None,
        lc,
        lnc: None,
    }
}

fn sdr(number: u8, name: &str, t: u8, e: u8, kind: SdrKind) -> SdrSensor {
    let threshold = matches!(kind, SdrKind::Threshold { .. });
    SdrSensor {
        owner_id: 0x20,
        owner_lun: 0,
        number,
        name: name.into(),
        sensor_type: t,
        reading_type: if threshold { 0x01 } else { 0x6f },
        entity_id: e,
        entity_instance: 1,
        base_unit: match t {
            sensor_type::TEMPERATURE => 1,
            sensor_type::VOLTAGE => 4,
            sensor_type::FAN => 18,
            _ => 0,
        },
        percentage: false,
        kind,
        hysteresis: None,
        reading_mask: 0,
        assertion_mask: 0,
    }
}

fn sdrs() -> Vec<SdrSensor> {
    use sensor_type::*;
    vec![
        sdr(
            1,
            "Proc Temp",
            TEMPERATURE,
            entity::PROCESSOR,
            thr(Some(80.0), Some(90.0), Some(100.0), None),
        ),
        sdr(
            2,
            "VRM Temp",
            TEMPERATURE,
            entity::POWER_MODULE,
            thr(None, Some(100.0), Some(110.0), None),
        ),
        sdr(
            3,
            "Inlet",
            TEMPERATURE,
            entity::AIR_INLET,
            thr(Some(35.0), Some(40.0), None, None),
        ),
        sdr(
            4,
            "South Bridge",
            TEMPERATURE,
            entity::IO_MODULE,
            thr(Some(80.0), Some(95.0), None, None),
        ),
        sdr(
            5,
            "PS 2 Temp",
            TEMPERATURE,
            entity::POWER_SUPPLY,
            thr(Some(60.0), Some(70.0), None, None),
        ),
        sdr(
            6,
            "Sys Fan 3",
            FAN,
            entity::SYSTEM_CHASSIS,
            thr(None, None, None, Some(700.0)),
        ),
        sdr(
            7,
            "PS 2 Fan",
            FAN,
            entity::POWER_SUPPLY,
            thr(None, None, None, Some(500.0)),
        ),
        sdr(
            8,
            "VCORE",
            VOLTAGE,
            entity::PROCESSOR,
            SdrKind::Threshold {
                unr: None,
                uc: Some(1.3),
                unc: None,
                lnr: None,
                lc: Some(0.7),
                lnc: None,
            },
        ),
        sdr(
            9,
            "PS1",
            POWER_SUPPLY,
            entity::POWER_SUPPLY,
            SdrKind::Discrete,
        ),
        sdr(
            10,
            "PS2",
            POWER_SUPPLY,
            entity::POWER_SUPPLY,
            SdrKind::Discrete,
        ),
        sdr(
            11,
            "Weird Temp",
            TEMPERATURE,
            0x30,
            thr(Some(1.0), None, None, None),
        ),
        sdr(
            12,
            "Flat Fan",
            FAN,
            entity::SYSTEM_CHASSIS,
            thr(None, None, None, None),
        ),
        sdr(
            13,
            "Intrusion",
            0x05,
            entity::SYSTEM_CHASSIS,
            SdrKind::Discrete,
        ),
    ]
}

#[test]
fn auto_board_classifies_by_type_and_entity_and_takes_sdr_thresholds() {
    let (b, notes) = auto_board(&sdrs(), None);
    let got: Vec<(String, Class, String)> = b
        .items
        .iter()
        .map(|i| (i.id.clone(), i.spec.class, i.spec.label.clone()))
        .collect();
    let want = [
        ("proc-temp", Class::CpuTemp, "1"),
        ("vrm-temp", Class::CpuVrTemp, "1"),
        ("inlet", Class::ChassisAmbient, "1"),
        ("south-bridge", Class::IohubTemp, "1"),
        ("ps-2-temp", Class::PsuTemp, "2"),
        ("sys-fan-3", Class::Fan, "3"),
        ("ps-2-fan", Class::PsuFan, "2"),
        ("vcore", Class::Voltage, "1"),
        ("ps1", Class::Psu, "1"),
        ("ps2", Class::Psu, "2"),
        // No thresholds: shown, never alarms.
        ("flat-fan", Class::Fan, "1"),
    ];
    let want: Vec<(String, Class, String)> = want
        .iter()
        .map(|(i, c, l)| (i.to_string(), *c, l.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        b.items[0].spec.limits,
        Limits::Temperature {
            warm: Some(80.0),
            critical: Some(90.0),
            shutdown: Some(100.0)
        }
    );
    assert_eq!(
        b.items[5].spec.limits,
        Limits::Fan {
            min_rpm: Some(700.0)
        }
    );
    assert_eq!(
        b.items[7].spec.limits,
        Limits::Voltage {
            low: Some(0.7),
            high: Some(1.3)
        }
    );
    assert_eq!(b.items[10].spec.limits, Limits::Fan { min_rpm: None });
    assert!(b.items.iter().all(|i| i.optional), "absent until they read");
    assert_eq!(b.items[0].source, Source::IpmiNumber(1));
    assert_eq!(b.min_psus, 2, "two supplies: redundancy needs both");
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Weird Temp") && n.contains("no message"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Intrusion") && n.contains("sensor type"))
    );
}

#[test]
fn a_board_file_overrides_auto_items() {
    let over = parse(
        Path::new("o.toml"),
        "name = \"mine\"\nmin-psus = 2\n\
         [[item]]\nid = \"cpu\"\nclass = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:Proc Temp\"\nwarm = 70\n\
         [[item]]\nid = \"p1\"\nclass = \"psu\"\nlabel = \"1\"\nsource = \"ipmi:#9\"\n\
         [[item]]\nid = \"p2\"\nclass = \"psu\"\nlabel = \"2\"\nsource = \"ipmi:#10\"\n\
         [[item]]\nid = \"ghost\"\nclass = \"psu_fan\"\nlabel = \"9\"\nsource = \"ipmi:Nope\"\n",
    )
    .unwrap();
    let (b, notes) = auto_board(&sdrs(), Some(&over));
    assert_eq!(b.name, "mine");
    assert_eq!(b.min_psus, 2);
    let cpu = &b.items[0];
    assert_eq!((cpu.id.as_str(), cpu.spec.label.as_str()), ("cpu", "0"));
    assert_eq!(
        cpu.spec.limits,
        Limits::Temperature {
            warm: Some(70.0),
            critical: None,
            shutdown: None
        }
    );
    assert!(b.items.iter().any(|i| i.id == "ghost"));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ghost") && n.contains("matches no SDR"))
    );
}

/// Issue 20: a supply-typed status record that cannot report presence (its reading mask
/// has no offset 0: a "mismatch" or configuration record that reads 0 when healthy) is not a
/// supply; one that states no mask (listings) or has presence is.
#[test]
fn a_supply_record_without_presence_is_not_a_supply() {
    let psu = |mask: u16| {
        let s = SdrSensor {
            reading_mask: mask,
            assertion_mask: 0,
            ..sdr(0x50, "PS Config", 0x08, 0x0a, SdrKind::Discrete)
        };
        envmon_board_defs::classify(&s).class
    };
    assert_eq!(psu(0x0040), None, "configuration error only");
    assert_eq!(psu(0x004f), Some(Class::Psu));
    assert_eq!(psu(0), Some(Class::Psu), "no mask stated");
}

/// Issue 31: supplies on evidence. Dell C-series' "PSU Mismatch" (08h sensor-specific on an
/// OEM entity, reading mask presence + failure, assertion mask the configuration error
/// only) is not a supply; IBM System x's `VT Fault` (a digital 08h flag of the system board,
/// naming no supply) is not one either; a flag naming its supply (`PS1 Fail`) on the same
/// board entity, or one on a supply entity, stays part of that supply.
#[test]
fn supply_look_alikes_are_not_supplies() {
    let mismatch = SdrSensor {
        reading_mask: 0x0003,
        assertion_mask: 1 << 6,
        reading_type: 0x6f,
        ..sdr(0x56, "PSU Mismatch", 0x08, 0xd0, SdrKind::Discrete)
    };
    assert_eq!(envmon_board_defs::classify(&mismatch).class, None);
    let status = SdrSensor {
        assertion_mask: 0x0007,
        ..mismatch.clone()
    };
    assert_eq!(
        envmon_board_defs::classify(&status).class,
        Some(Class::Psu),
        "presence and failure asserted: a supply"
    );
    let flag = |name: &str, entity: u8| {
        let s = SdrSensor {
            reading_type: 0x03,
            ..sdr(0x28, name, 0x08, entity, SdrKind::Discrete)
        };
        let d = envmon_board_defs::classify(&s);
        (d.class, d.fold)
    };
    assert_eq!(flag("VT Fault", 0x07), (None, false));
    assert_eq!(flag("PS1 Fail", 0x07), (Some(Class::Psu), true));
    assert_eq!(flag("VCO Fault", 0x0a), (Some(Class::Psu), true));
}

/// A supply's failure flags (`also`) parse, and `board dump` writes them back.
#[test]
fn a_supplys_flags_parse_and_dump() {
    let text = item(
        "class = \"psu\"\nsource = \"ipmi:PSU 1\"\nalso = [\"ipmi:#0x51\", \"ipmi:PSU 1 AC Lost\"]\n",
    );
    let b = parse(Path::new("board.toml"), &text).unwrap();
    assert_eq!(
        b.items[0].also,
        [
            Source::IpmiNumber(0x51),
            Source::IpmiName("PSU 1 AC Lost".into())
        ]
    );
    let again = parse(
        Path::new("dump.toml"),
        &envmon_board_defs::to_toml(&b, "", |_| None),
    )
    .unwrap();
    assert_eq!(again.items[0].also, b.items[0].also);
}
