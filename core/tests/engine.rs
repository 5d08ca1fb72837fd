//! The threshold engine: every transition, hysteresis, debounce and unreadable samples.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use envmon_core::{
    Prefix,
    engine::{
        Class, Emission, Limits, Reading, Redundancy, SensorSpec, SensorState, State, TempUnit,
        UpdateFailures, message_for,
    },
    render_line,
};

fn temp(class: Class, debounce: u8) -> SensorSpec {
    SensorSpec {
        class,
        label: "0".into(),
        limits: Limits::Temperature {
            warm: Some(70.0),
            critical: Some(85.0),
            shutdown: Some(95.0),
        },
        hysteresis: 3.0,
        debounce,
        unavailable_after: 3,
        unit: TempUnit::C,
    }
}

fn with_limits(class: Class, label: &str, limits: Limits) -> SensorSpec {
    SensorSpec {
        class,
        label: label.into(),
        limits,
        hysteresis: 0.0,
        debounce: 1,
        unavailable_after: 3,
        unit: TempUnit::C,
    }
}

/// Feeds readings; returns the message lines produced, in order.
fn run(spec: &SensorSpec, st: &mut SensorState, readings: &[Reading]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, r) in readings.iter().enumerate() {
        if let Some(t) = st.step(spec, *r, i as u64 * 1000) {
            if let Some(Emission { id, args, .. }) = message_for(spec, &t) {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                out.push(render_line(Prefix::Ftd, id, &args).unwrap());
            }
        }
    }
    out
}

fn values(vs: &[f64]) -> Vec<Reading> {
    vs.iter().map(|v| Reading::Value(*v)).collect()
}

#[test]
fn cpu_temperature_up_and_down_one_message_per_transition() {
    let spec = temp(Class::CpuTemp, 1);
    let mut st = SensorState::default();
    let lines = run(
        &spec,
        &mut st,
        &values(&[40.0, 41.0, 72.0, 73.0, 86.0, 90.0, 80.0, 66.0, 40.0]),
    );
    assert_eq!(
        lines,
        [
            "%FTD-4-735015: CPU 0: Temp: 72 C, Warm",
            "%FTD-1-735007: IPMI: CPU 0: Temp: 86 C, Critical",
            "%FTD-4-735015: CPU 0: Temp: 80 C, Warm",
            "%FTD-1-735020: CPU 0: Temp: 66 C OK",
        ]
    );
    assert_eq!(st.shown(&spec), State::Ok);
}

#[test]
fn every_temperature_class_speaks_its_own_messages() {
    for (class, warm, crit, ok) in [
        (Class::CpuTemp, "735015", "735007", "735020"),
        (Class::ChassisAmbient, "735016", "735008", "735021"),
        (Class::PsuTemp, "735019", "735018", "735017"),
        (Class::IohubTemp, "735026", "735025", "735024"),
    ] {
        let spec = temp(class, 1);
        let mut st = SensorState::default();
        let lines = run(&spec, &mut st, &values(&[75.0, 90.0, 10.0]));
        let ids: Vec<&str> = lines.iter().map(|l| &l[7..13]).collect();
        assert_eq!(ids, [warm, crit, ok], "{class}");
    }
    // The regulator has no warm/critical/OK message in the guide.
    let spec = temp(Class::CpuVrTemp, 1);
    let mut st = SensorState::default();
    assert!(run(&spec, &mut st, &values(&[75.0, 90.0, 10.0])).is_empty());
    assert_eq!(st.shown(&spec), State::Ok);
}

#[test]
fn hysteresis_holds_a_state_until_the_reading_comes_back_far_enough() {
    let spec = temp(Class::CpuTemp, 1);
    let mut st = SensorState::default();
    // Warm at 70; with hysteresis 3 it is left only below 67.
    let lines = run(
        &spec,
        &mut st,
        &values(&[70.0, 69.0, 68.0, 67.5, 70.5, 67.0, 66.9]),
    );
    assert_eq!(
        lines,
        [
            "%FTD-4-735015: CPU 0: Temp: 70 C, Warm",
            "%FTD-1-735020: CPU 0: Temp: 66.9 C OK"
        ]
    );
}

#[test]
fn debounce_needs_consecutive_samples_and_a_glitch_changes_nothing() {
    let spec = temp(Class::CpuTemp, 2);
    let mut st = SensorState::default();
    // One hot sample between normal ones: nothing.
    assert!(run(&spec, &mut st, &values(&[40.0, 99.0, 40.0, 88.0, 40.0])).is_empty());
    assert_eq!(st.shown(&spec), State::Ok);
    // Two consecutive: the state moves on the second.
    let lines = run(&spec, &mut st, &values(&[88.0, 87.0]));
    assert_eq!(lines, ["%FTD-1-735007: IPMI: CPU 0: Temp: 87 C, Critical"]);
}

#[test]
fn debounce_commits_the_highest_rank_every_sample_supports() {
    let spec = temp(Class::CpuTemp, 2);
    let mut st = SensorState::default();
    // critical then shutdown: both support "critical", only one supports "shutdown". The
    // newest sample is past critical, so "critical" waits one sample (issue 31: a rise is
    // said at its true level); the next at shutdown makes two and moves straight there.
    let mut t = None;
    for (i, v) in [88.0, 97.0].into_iter().enumerate() {
        t = st.step(&spec, Reading::Value(v), i as u64).or(t);
    }
    assert!(t.is_none(), "{t:?}");
    let t = st.step(&spec, Reading::Value(97.0), 3).unwrap();
    assert_eq!((t.from, t.to), (State::Ok, State::Shutdown));
    // Falling back needs two samples below (95 - 3) as well.
    assert!(st.step(&spec, Reading::Value(91.0), 4).is_none());
    assert!(
        st.step(&spec, Reading::Value(93.0), 5).is_none(),
        "93 is within the hysteresis"
    );
    assert!(st.step(&spec, Reading::Value(91.0), 6).is_none());
    let t = st.step(&spec, Reading::Value(91.0), 7).unwrap();
    assert_eq!((t.from, t.to), (State::Shutdown, State::Critical));
    // A sample back at the supported rank commits it: critical then shutdown then critical.
    let mut st = SensorState::default();
    let steps: Vec<_> = [88.0, 97.0, 88.0]
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| st.step(&spec, Reading::Value(v), i as u64))
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(steps, [(State::Ok, State::Critical)]);
}

/// Issue 31: a jump from warm to past critical is said once, as Critical (never "95 C,
/// Warm"); a move from critical into the shutdown range says no second 735007 (735022 is
/// the shutdown path's).
#[test]
fn each_rise_is_said_once_at_its_true_level() {
    let spec = temp(Class::CpuTemp, 2);
    let mut st = SensorState::default();
    let lines = run(
        &spec,
        &mut st,
        &values(&[75.0, 75.0, 90.0, 90.0, 97.0, 97.0, 97.0, 88.0, 88.0]),
    );
    assert_eq!(
        lines,
        [
            "%FTD-4-735015: CPU 0: Temp: 75 C, Warm",
            "%FTD-1-735007: IPMI: CPU 0: Temp: 90 C, Critical"
        ]
    );
    let mut jump = SensorState::default();
    let lines = run(&spec, &mut jump, &values(&[40.0, 75.0, 90.0, 90.0]));
    assert_eq!(lines, ["%FTD-1-735007: IPMI: CPU 0: Temp: 90 C, Critical"]);
    // A rise that waits for its true level is not lost to a gap: 86, 97, no reading,
    // again and again says Critical once (the runs supported it before the gap).
    let mut gappy = SensorState::default();
    let mut samples = Vec::new();
    for _ in 0..3 {
        samples.extend([
            Reading::Value(86.0),
            Reading::Value(97.0),
            Reading::Unreadable,
        ]);
    }
    assert_eq!(
        run(&spec, &mut gappy, &samples),
        ["%FTD-1-735007: IPMI: CPU 0: Temp: 97 C, Critical"]
    );
    // A rise that waited, then a fall: nothing is left waiting for a later gap.
    let mut fell = SensorState::default();
    let lines = run(
        &spec,
        &mut fell,
        &[
            Reading::Value(86.0),
            Reading::Value(97.0),
            Reading::Value(40.0),
            Reading::Unreadable,
        ],
    );
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn startup_abnormal_is_reported_normal_is_silent() {
    let spec = temp(Class::ChassisAmbient, 2);
    let mut quiet = SensorState::default();
    assert!(run(&spec, &mut quiet, &values(&[25.0, 25.0, 26.0])).is_empty());
    let mut hot = SensorState::default();
    assert_eq!(
        run(&spec, &mut hot, &values(&[75.0, 75.0])),
        ["%FTD-4-735016: Chassis Ambient 0: Temp: 75 C, Warm"]
    );
}

#[test]
fn fans_fail_below_minimum_and_recover_above_it_plus_hysteresis() {
    let mut spec = with_limits(
        Class::Fan,
        "2",
        Limits::Fan {
            min_rpm: Some(1000.0),
        },
    );
    spec.hysteresis = 200.0;
    let mut st = SensorState::default();
    let lines = run(
        &spec,
        &mut st,
        &values(&[5000.0, 900.0, 1100.0, 1199.0, 1200.0]),
    );
    assert_eq!(
        lines,
        [
            "%FTD-1-735002: IPMI: Cooling Fan 2: Failure Detected",
            "%FTD-1-735001: IPMI: Cooling Fan 2: OK",
        ]
    );
}

/// A fan its source says has failed (Redfish `Health: Critical`) fails whatever it last
/// read; the speed it reads again afterwards judges it again.
#[test]
fn a_fan_its_source_calls_failed_is_failed() {
    let spec = with_limits(Class::Fan, "1", Limits::Fan { min_rpm: None });
    let mut st = SensorState::default();
    let lines = run(
        &spec,
        &mut st,
        &[Reading::Value(2200.0), Reading::Bad, Reading::Value(2200.0)],
    );
    assert_eq!(
        lines,
        [
            "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected",
            "%FTD-1-735001: IPMI: Cooling Fan 1: OK",
        ]
    );
}

#[test]
fn voltages_are_critical_outside_either_limit() {
    let spec = with_limits(
        Class::Voltage,
        "3",
        Limits::Voltage {
            low: Some(11.4),
            high: Some(12.6),
        },
    );
    let mut st = SensorState::default();
    let lines = run(&spec, &mut st, &values(&[12.0, 13.0, 12.1, 11.0, 12.0]));
    assert_eq!(
        lines,
        [
            "%FTD-1-735014: Voltage Channel 3: Voltage Critical",
            "%FTD-1-735013: Voltage Channel 3: Voltage OK",
            "%FTD-1-735014: Voltage Channel 3: Voltage Critical",
            "%FTD-1-735013: Voltage Channel 3: Voltage OK",
        ]
    );
}

#[test]
fn discrete_power_supplies_and_their_fans() {
    use Reading::{Bad, Good};
    let spec = with_limits(Class::Psu, "1", Limits::Discrete);
    let mut st = SensorState::default();
    assert_eq!(
        run(&spec, &mut st, &[Good, Bad, Bad, Good]),
        [
            "%FTD-1-735004: IPMI: Power Supply 1: Failure Detected",
            "%FTD-1-735003: IPMI: Power Supply 1: OK",
        ]
    );
    let spec = with_limits(Class::PsuFan, "2", Limits::Discrete);
    let mut st = SensorState::default();
    assert_eq!(
        run(&spec, &mut st, &[Bad, Good]),
        [
            "%FTD-1-735012: Power Supply 2: Fan Failure Detected",
            "%FTD-1-735011: Power Supply 2: Fan OK"
        ]
    );
}

#[test]
fn unreadable_samples_make_a_sensor_unavailable_never_zero() {
    let spec = temp(Class::CpuTemp, 1);
    let mut st = SensorState::default();
    assert_eq!(run(&spec, &mut st, &values(&[90.0])).len(), 1);
    let u = Reading::Unreadable;
    // Two failures: still the last judged state and value.
    assert!(run(&spec, &mut st, &[u, u]).is_empty());
    assert_eq!((st.shown(&spec), st.value), (State::Critical, Some(90.0)));
    // The third: unavailable, no value, no message (and no false "OK").
    assert!(run(&spec, &mut st, &[u]).is_empty());
    assert_eq!((st.shown(&spec), st.value), (State::Unavailable, None));
    assert_eq!(st.judged(&spec), State::Critical);
    // Back, still hot: no repeated message. Then cooling: one OK.
    assert!(run(&spec, &mut st, &values(&[89.0])).is_empty());
    assert_eq!(st.shown(&spec), State::Critical);
    assert_eq!(
        run(&spec, &mut st, &values(&[50.0])),
        ["%FTD-1-735020: CPU 0: Temp: 50 C OK"]
    );
}

#[test]
fn a_good_sample_resets_the_failure_count() {
    let spec = temp(Class::CpuTemp, 1);
    let mut st = SensorState::default();
    let u = Reading::Unreadable;
    run(&spec, &mut st, &[u, u, Reading::Value(40.0), u, u]);
    assert_eq!(st.shown(&spec), State::Ok, "never three failures in a row");
    run(&spec, &mut st, &[u]);
    assert_eq!(st.shown(&spec), State::Unavailable);
}

#[test]
fn mismatched_readings_count_as_unreadable() {
    let spec = with_limits(Class::Psu, "1", Limits::Discrete);
    let mut st = SensorState::default();
    for _ in 0..3 {
        assert!(st.step(&spec, Reading::Value(1.0), 0).is_none());
    }
    assert_eq!(st.shown(&spec), State::Unavailable);
}

#[test]
fn fahrenheit_sensors_print_f() {
    let mut spec = temp(Class::IohubTemp, 1);
    spec.unit = TempUnit::F;
    let mut st = SensorState::default();
    assert_eq!(
        run(&spec, &mut st, &values(&[75.25])),
        ["%FTD-4-735026: IO Hub 0: Temp: 75.2 F, Warm"]
    );
}

#[test]
fn redundancy_lost_and_regained() {
    let mut r = Redundancy::default();
    assert_eq!(r.update(2, 2), None, "healthy at start: silent");
    assert_eq!(r.update(1, 2).map(|e| e.id), Some(735006));
    assert_eq!(r.update(1, 2), None, "no repeat");
    assert_eq!(r.update(2, 2).map(|e| e.id), Some(735005));
    let mut lost_at_start = Redundancy::default();
    assert_eq!(lost_at_start.update(1, 2).map(|e| e.id), Some(735006));
    assert_eq!(lost_at_start.lost(), Some(true));
}

#[test]
fn update_failures_are_said_once_per_failure_and_rate_limited() {
    use std::collections::BTreeSet;
    let set = |k: &[usize]| k.iter().copied().collect::<BTreeSet<usize>>();
    let mut f = UpdateFailures::new(60_000);
    assert_eq!(f.sweep(&set(&[1]), 0).map(|e| e.id), Some(735010));
    assert_eq!(f.sweep(&set(&[1]), 1_000), None, "the same failure");
    assert_eq!(f.sweep(&set(&[1]), 120_000), None, "still the same, later");
    assert_eq!(f.sweep(&set(&[]), 121_000), None);
    assert!(!f.failing());
    assert_eq!(
        f.sweep(&set(&[1]), 122_000).map(|e| e.id),
        Some(735010),
        "failed again"
    );
    assert_eq!(
        f.sweep(&set(&[1, 2]), 123_000),
        None,
        "a new one, inside the interval"
    );
    assert_eq!(
        f.sweep(&set(&[1, 2]), 182_000).map(|e| e.id),
        Some(735010),
        "said when the interval is over"
    );
    assert_eq!(f.sweep(&set(&[2]), 183_000), None);
}

#[test]
fn class_names_round_trip() {
    for c in Class::ALL {
        assert_eq!(Class::from_name(c.name()), Some(c));
    }
    assert_eq!(Class::from_name("cpu"), None);
}

mod shutdown {
    use super::*;
    use envmon_core::engine::{ShutdownKind, shutdown_for};

    /// Feeds readings; returns the shutdowns called for, with the sample index.
    fn shutdowns(spec: &SensorSpec, readings: &[Reading]) -> Vec<(usize, ShutdownKind)> {
        let mut st = SensorState::default();
        let mut out = Vec::new();
        for (i, r) in readings.iter().enumerate() {
            if let Some(t) = st.step(spec, *r, i as u64) {
                out.extend(shutdown_for(spec, &t).map(|k| (i, k)));
            }
        }
        out
    }

    #[test]
    fn needs_debounce_samples_beyond_the_threshold() {
        let spec = temp(Class::CpuTemp, 2);
        assert_eq!(
            shutdowns(&spec, &values(&[40.0, 101.0, 102.0])),
            [(2, ShutdownKind::Cpu)]
        );
    }

    #[test]
    fn a_single_glitch_never_shuts_down() {
        let spec = temp(Class::CpuTemp, 2);
        assert!(shutdowns(&spec, &values(&[40.0, 120.0, 40.0, 120.0, 40.0])).is_empty());
    }

    #[test]
    fn samples_on_both_sides_of_an_unreadable_gap_do_not_add_up() {
        let spec = temp(Class::CpuTemp, 2);
        let u = Reading::Unreadable;
        let r = [Reading::Value(101.0), u, Reading::Value(101.0)];
        assert!(shutdowns(&spec, &r).is_empty());
    }

    #[test]
    fn recovery_before_the_debounce_completes_shuts_nothing_down() {
        let spec = temp(Class::CpuTemp, 3);
        assert!(shutdowns(&spec, &values(&[96.0, 97.0, 94.0, 96.0, 96.0, 80.0])).is_empty());
    }

    #[test]
    fn a_sensor_unreadable_after_critical_never_shuts_down() {
        let spec = temp(Class::CpuTemp, 2);
        let u = Reading::Unreadable;
        let mut readings = values(&[90.0, 91.0]);
        readings.extend([u; 20]);
        assert!(shutdowns(&spec, &readings).is_empty());
        // Readable again and beyond the threshold: the debounce starts over.
        readings.extend(values(&[101.0]));
        assert!(shutdowns(&spec, &readings).is_empty());
        readings.extend(values(&[101.0]));
        assert_eq!(
            shutdowns(&spec, &readings),
            [(readings.len() - 1, ShutdownKind::Cpu)]
        );
    }

    #[test]
    fn once_per_excursion_and_only_for_cpu_regulator_and_io_hub() {
        let spec = temp(Class::CpuTemp, 1);
        assert_eq!(shutdowns(&spec, &values(&[101.0, 105.0, 110.0])).len(), 1);
        assert_eq!(
            shutdowns(&temp(Class::CpuVrTemp, 1), &values(&[101.0]))[0].1,
            ShutdownKind::CpuVr
        );
        assert_eq!(
            shutdowns(&temp(Class::IohubTemp, 1), &values(&[101.0]))[0].1,
            ShutdownKind::IoHub
        );
        for class in [Class::ChassisAmbient, Class::PsuTemp] {
            assert!(
                shutdowns(&temp(class, 1), &values(&[101.0])).is_empty(),
                "{class}"
            );
        }
    }

    #[test]
    fn shutdown_and_boot_messages() {
        let line = |e: Emission| {
            let args: Vec<&str> = e.args.iter().map(String::as_str).collect();
            render_line(Prefix::Ftd, e.id, &args).unwrap()
        };
        assert!(
            line(ShutdownKind::Cpu.message("1"))
                .starts_with("%FTD-1-735022: CPU1 is running beyond")
        );
        assert!(
            line(ShutdownKind::CpuVr.message("0"))
                .starts_with("%FTD-1-735027: CPU 0 Voltage Regulator is running beyond")
        );
        assert!(
            line(ShutdownKind::IoHub.message("0"))
                .starts_with("%FTD-1-735029: IO Hub is running beyond")
        );
        assert_eq!(ShutdownKind::Cpu.boot_message().map(|e| e.id), Some(735023));
        assert_eq!(
            ShutdownKind::CpuVr.boot_message().map(|e| e.id),
            Some(735028)
        );
        assert_eq!(ShutdownKind::IoHub.boot_message(), None);
        for k in [ShutdownKind::Cpu, ShutdownKind::CpuVr, ShutdownKind::IoHub] {
            assert_eq!(ShutdownKind::from_name(k.name()), Some(k));
        }
    }
}

#[test]
fn one_sided_and_missing_limits_are_judged_only_where_they_exist() {
    // A voltage with only a lower critical: never critical going up.
    let low_only = with_limits(
        Class::Voltage,
        "3",
        Limits::Voltage {
            low: Some(3.0),
            high: None,
        },
    );
    let mut st = SensorState::default();
    assert_eq!(
        run(&low_only, &mut st, &values(&[3.3, 500.0, 2.9, 3.3])),
        [
            "%FTD-1-735014: Voltage Channel 3: Voltage Critical",
            "%FTD-1-735013: Voltage Channel 3: Voltage OK"
        ]
    );
    let high_only = with_limits(
        Class::Voltage,
        "4",
        Limits::Voltage {
            low: None,
            high: Some(13.0),
        },
    );
    let mut st = SensorState::default();
    assert_eq!(
        run(&high_only, &mut st, &values(&[12.0, -5.0, 0.0, 13.5])),
        ["%FTD-1-735014: Voltage Channel 4: Voltage Critical"]
    );
    // No limits at all: shown (the value is kept), never a message.
    for limits in [
        Limits::Fan { min_rpm: None },
        Limits::Voltage {
            low: None,
            high: None,
        },
        Limits::Temperature {
            warm: None,
            critical: None,
            shutdown: None,
        },
    ] {
        let spec = with_limits(Class::Fan, "1", limits);
        let mut st = SensorState::default();
        assert!(run(&spec, &mut st, &values(&[0.0, 99999.0, -40.0])).is_empty());
        assert_eq!((st.value, st.judged(&spec)), (Some(-40.0), State::Ok));
    }
}

/// Redundancy has two witnesses: the BMC's sensor and the count of healthy supplies. Lost
/// when either says so, OK only when both agree; the sensor's own transitions say nothing.
#[test]
fn redundancy_is_lost_when_either_witness_says_so() {
    let spec = with_limits(Class::PsuRedundancy, "1", Limits::Discrete);
    let mut st = SensorState::default();
    assert!(run(&spec, &mut st, &[Reading::Good, Reading::Bad]).is_empty());
    let id = |e: Option<Emission>| e.map(|e| e.id);
    let mut r = Redundancy::default();
    assert_eq!(id(r.judge(None, None)), None, "nobody speaks");
    assert_eq!(
        id(r.judge(Some(false), Some(false))),
        None,
        "healthy at start"
    );
    // One of two supplies failed; the BMC's sensor still says "fully redundant".
    assert_eq!(id(r.judge(Some(false), Some(true))), Some(735006));
    // The sensor catches up: still lost, no repeat.
    assert_eq!(id(r.judge(Some(true), Some(true))), None);
    // The supply is back but the sensor still says lost: not OK yet.
    assert_eq!(id(r.judge(Some(true), Some(false))), None);
    assert_eq!(id(r.judge(Some(false), Some(false))), Some(735005));
    assert_eq!(
        id(r.judge(Some(true), None)),
        Some(735006),
        "the sensor alone"
    );
    assert_eq!(
        Class::from_name("psu_redundancy"),
        Some(Class::PsuRedundancy)
    );
}

/// The checks the agent runs before judging (issue 20): implausible values, jumps, flapping.
mod guarded {
    use super::*;
    use envmon_core::engine::{Checks, Damping, Fault, Notice, ShutdownKind, shutdown_for};

    /// What [`feed`] saw: (index, message id) per message, the indexes of the shutdowns, the
    /// notices, and the state at the end.
    type Fed = (Vec<(usize, u32)>, Vec<usize>, Vec<Notice>, SensorState);

    /// Feeds `(value, ms)` samples with every check on.
    fn feed(spec: &SensorSpec, checks: &Checks, samples: &[(f64, u64)]) -> Fed {
        let mut st = SensorState::default();
        let (mut msgs, mut downs, mut notices) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (v, t)) in samples.iter().enumerate() {
            if let Some(tr) = st.step_with(spec, checks, Reading::Value(*v), *t) {
                msgs.extend(message_for(spec, &tr).map(|e| (i, e.id)));
                if shutdown_for(spec, &tr) == Some(ShutdownKind::Cpu) {
                    downs.push(i);
                }
            }
            notices.extend(st.take_notice());
        }
        (msgs, downs, notices, st)
    }

    fn every_second(vs: &[f64]) -> Vec<(f64, u64)> {
        vs.iter()
            .enumerate()
            .map(|(i, v)| (*v, i as u64 * 1000))
            .collect()
    }

    #[test]
    fn a_stuck_0xff_is_a_fault_never_a_shutdown() {
        let spec = temp(Class::CpuTemp, 2);
        let checks = Checks::guarded(None, Some(Damping::default()));
        let mut samples = every_second(&[45.0]);
        samples.extend((1..=10).map(|i| (255.0, i * 1000)));
        let (msgs, downs, _, st) = feed(&spec, &checks, &samples);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert!(downs.is_empty());
        assert_eq!(st.shown(&spec), State::Unavailable);
        assert_eq!(
            st.fault,
            Some(Fault::Implausible {
                value: 255.0,
                low: -55.0,
                high: 150.0
            })
        );
        // The SDR's own range is checked too: 120 C from a sensor that reads up to 100.
        let checks = Checks::guarded(Some((0.0, 100.0)), None);
        let (msgs, _, _, st) = feed(&spec, &checks, &every_second(&[45.0, 50.0, 120.0]));
        assert!(msgs.is_empty());
        assert!(matches!(st.fault, Some(Fault::Implausible { high, .. }) if high == 100.0));
        // Dell's CPU "Temp" reads raw 0xFF as 127 C, the top of its range (-128 to 127) and
        // its own shutdown threshold: saturated, not a value.
        let checks = Checks::guarded(Some((-128.0, 127.0)), None);
        let (msgs, downs, _, st) =
            feed(&spec, &checks, &every_second(&[45.0, 127.0, 127.0, 127.0]));
        assert!(msgs.is_empty() && downs.is_empty());
        assert!(
            matches!(st.fault, Some(Fault::Saturated { .. })),
            "{:?}",
            st.fault
        );
        assert_eq!(st.shown(&spec), State::Unavailable);
    }

    #[test]
    fn a_jump_waits_for_confirmation_and_a_real_rise_still_shuts_down() {
        let spec = temp(Class::CpuTemp, 2);
        let checks = Checks::guarded(None, Some(Damping::default()));
        // One wild sample between normal ones: not even counted.
        let (msgs, _, _, st) = feed(&spec, &checks, &every_second(&[45.0, 140.0, 46.0, 47.0]));
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(st.shown(&spec), State::Ok);
        // 45 -> 80 is a jump (not counted), 95 confirms it: 95 and 101 (both past the
        // shutdown threshold of 95) are the two samples of the shutdown.
        let (msgs, downs, _, _) = feed(
            &spec,
            &checks,
            &every_second(&[45.0, 80.0, 95.0, 101.0, 102.0]),
        );
        assert_eq!(downs, [3], "{msgs:?}");
        assert_eq!(msgs, [(3, 735007)]);
    }

    /// Issue 33: a CPU at 105 C whose every other reading is a 25 C glitch was never
    /// judged (each sample checked against the previous, unconfirmed one), sent nothing and
    /// stayed "ok". Jumps that keep coming are now a fault of the sensor: more than
    /// MAX_UNCONFIRMED among the last ERRATIC_WINDOW samples and it is unavailable (735010
    /// and `degraded` in the agent), the reason said, and its last jump past the shutdown
    /// threshold is handed to the direct confirmation (`unconfirmed_shutdown`).
    #[test]
    fn a_sensor_that_keeps_jumping_is_a_sensor_fault_not_silence() {
        use envmon_core::engine::{ERRATIC_WINDOW, MAX_UNCONFIRMED};
        let spec = temp(Class::CpuTemp, 2);
        let checks = Checks::guarded(None, None);
        let mut values = vec![40.0, 40.0];
        values.extend((0..12).map(|i| if i % 2 == 0 { 105.0 } else { 25.0 }));
        let (msgs, downs, _, st) = feed(&spec, &checks, &every_second(&values));
        assert!(msgs.is_empty() && downs.is_empty(), "{msgs:?}");
        assert_eq!(st.shown(&spec), State::Unavailable);
        assert!(
            matches!(st.fault, Some(Fault::Erratic { jumps, .. }) if jumps > MAX_UNCONFIRMED),
            "{:?}",
            st.fault
        );
        assert!(st.fault.unwrap().to_string().starts_with("erratic: "));
        assert_eq!(
            st.value, None,
            "no value of an erratic sensor is shown as current"
        );
        // The last sample (25 C) was judged: nothing for the confirmation; a jump to 105 C
        // as the newest sample is.
        assert_eq!(st.unconfirmed_shutdown(&spec), None);
        let mut last_high = values.clone();
        last_high.push(105.0);
        let (_, _, _, st) = feed(&spec, &checks, &every_second(&last_high));
        assert_eq!(st.unconfirmed_shutdown(&spec), Some(105.0));
        // A missing reading does not make an erratic sensor trusted again.
        let mut st = feed(&spec, &checks, &every_second(&values)).3;
        st.step_with(&spec, &checks, Reading::Unreadable, 20_000);
        st.step_with(&spec, &checks, Reading::Value(25.0), 21_000);
        assert_eq!(st.shown(&spec), State::Unavailable, "{:?}", st.fault);
        assert!(
            matches!(st.fault, Some(Fault::Erratic { .. })),
            "{:?}",
            st.fault
        );
        // Glitches one read in five: erratic, and it stays so (no flipping at the edge).
        let fifth: Vec<f64> = (0..48)
            .map(|i| if i % 5 == 4 { 140.0 } else { 40.0 })
            .collect();
        let mut st = SensorState::default();
        let shown: Vec<State> = every_second(&fifth)
            .iter()
            .map(|(v, t)| {
                st.step_with(&spec, &checks, Reading::Value(*v), *t);
                st.shown(&spec)
            })
            .collect();
        let first = shown.iter().position(|s| *s == State::Unavailable).unwrap();
        assert!(
            shown[first..].iter().all(|s| *s == State::Unavailable),
            "{shown:?}"
        );
        // Erratic as soon as the fourth jump comes, not later.
        let first = (1..=values.len())
            .find(|&n| {
                feed(&spec, &checks, &every_second(&values[..n]))
                    .3
                    .shown(&spec)
                    == State::Unavailable
            })
            .unwrap();
        assert_eq!(first, 2 + 2 * usize::from(MAX_UNCONFIRMED) + 1, "{first}");
        // Glitches below the threshold hand nothing to the confirmation.
        let low: Vec<f64> = (0..14)
            .map(|i| if i % 2 == 0 { 40.0 } else { 80.0 })
            .collect();
        let (_, _, _, st) = feed(&spec, &checks, &every_second(&low));
        assert_eq!(st.unconfirmed_shutdown(&spec), None, "{:?}", st.fault);
        // A steady reading again is judged once the window holds few enough jumps.
        let mut calm = values.clone();
        calm.extend(std::iter::repeat_n(25.0, ERRATIC_WINDOW as usize));
        let (_, _, _, st) = feed(&spec, &checks, &every_second(&calm));
        assert_eq!(
            (st.shown(&spec), st.fault, st.value),
            (State::Ok, None, Some(25.0))
        );
        // One glitch, or a real step confirmed by the next sample, is no fault; nor are
        // glitches one in eight readings (one in five is a fault: 4 in 16).
        let (_, _, _, st) = feed(&spec, &checks, &every_second(&[40.0, 140.0, 41.0, 42.0]));
        assert_eq!((st.shown(&spec), st.fault), (State::Ok, None));
        let rare: Vec<f64> = (0..40)
            .map(|i| if i % 8 == 7 { 140.0 } else { 40.0 })
            .collect();
        let (_, _, _, st) = feed(&spec, &checks, &every_second(&rare));
        assert_eq!(st.shown(&spec), State::Ok, "{:?}", st.fault);
    }

    /// Issue 33: a real rise behind glitches is judged through them. A glitch is no evidence
    /// either way: it is skipped (it neither counts towards the shutdown's debounce nor
    /// restarts it), so a CPU at 101 C read every other time as 25 C shuts down after its
    /// debounce of readings past the threshold, as a clean one does.
    #[test]
    fn a_real_rise_behind_glitches_still_shuts_down() {
        let spec = temp(Class::CpuTemp, 2);
        let checks = Checks::guarded(None, Some(Damping::default()));
        let (msgs, downs, _, _) = feed(
            &spec,
            &checks,
            &every_second(&[45.0, 60.0, 75.0, 90.0, 101.0, 25.0, 101.0, 25.0, 101.0]),
        );
        assert_eq!(downs, [6], "{msgs:?}");
        // A part at 40 C with glitches to 105 C never reaches its shutdown through them.
        let spikes: Vec<f64> = (0..30)
            .map(|i| if i % 2 == 0 { 40.0 } else { 105.0 })
            .collect();
        let (msgs, downs, _, _) = feed(&spec, &checks, &every_second(&spikes));
        assert!(msgs.is_empty() && downs.is_empty(), "{msgs:?}");
    }

    #[test]
    fn a_flapping_sensor_is_held_at_the_worse_state_then_released() {
        let spec = SensorSpec {
            hysteresis: 2.0,
            ..temp(Class::ChassisAmbient, 1)
        };
        let damping = Damping::default();
        let checks = Checks::guarded(None, Some(damping));
        // 25 <-> 90 every second for 30 s (the flip, past critical), then calm at 25.
        let mut samples: Vec<(f64, u64)> = (0..30)
            .map(|i| (if i % 2 == 0 { 25.0 } else { 90.0 }, i * 1000))
            .collect();
        let calm_from = 30_000;
        samples.extend((0..400).map(|i| (25.0, calm_from + i * 1000)));
        let checks_nojump = Checks {
            jumps: false,
            ..checks
        };
        let (msgs, _, notices, st) = feed(&spec, &checks_nojump, &samples);
        // Four changes pass, the fifth is refused and the sensor held at critical.
        let flip: Vec<u32> = msgs
            .iter()
            .filter(|(i, _)| *i < 30)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(flip, [735008, 735021, 735008, 735021, 735008], "{msgs:?}");
        assert!(matches!(
            notices.first(),
            Some(Notice::Damped {
                held: State::Critical,
                changes: 5,
                ..
            })
        ));
        // Released 300 s after the last change of mind, then one OK.
        assert!(matches!(
            notices.get(1),
            Some(Notice::Released {
                held: State::Critical
            })
        ));
        let ok_at = msgs.last().map(|(i, _)| samples[*i].1).unwrap();
        assert!(ok_at >= calm_from + damping.quiet_ms, "{ok_at}");
        assert_eq!(st.shown(&spec), State::Ok);
        assert_eq!(msgs.len(), 6, "{msgs:?}");
    }

    #[test]
    fn a_held_sensor_still_gets_worse() {
        let spec = temp(Class::CpuTemp, 1);
        let checks = Checks {
            damping: Some(Damping {
                max_changes: 2,
                ..Damping::default()
            }),
            ..Checks::default()
        };
        // ok -> warm -> ok -> (held at warm) ... then a real shutdown.
        let (msgs, downs, notices, _) = feed(
            &spec,
            &checks,
            &every_second(&[40.0, 75.0, 40.0, 75.0, 40.0, 75.0, 90.0, 99.0]),
        );
        assert!(matches!(notices.first(), Some(Notice::Damped { .. })));
        assert_eq!(downs, [7], "{msgs:?}");
    }
}

/// Issue 30: the one formatter of a value with its unit (show environment, the agent's log
/// lines): volts with two decimals, the rest as the messages give them.
#[test]
fn a_reading_is_formatted_in_one_place() {
    use envmon_core::engine::format_reading;
    assert_eq!(format_reading(12.0, "V"), "12.00 V");
    assert_eq!(format_reading(101.0, "C"), "101 C");
    assert_eq!(format_reading(96.46, "C"), "96.5 C");
    assert_eq!(format_reading(5000.0, "RPM"), "5000 RPM");
}

/// Issue 31 (part): the supplies' count is a witness of redundancy only on evidence: a
/// supply never read is unknown, never a failure.
#[test]
fn a_never_read_supply_is_unknown_to_the_count() {
    use envmon_core::engine::supply_count_says_lost as lost;
    assert_eq!(lost(2, 0, 2), Some(false), "both read OK");
    assert_eq!(lost(1, 1, 2), None, "one OK, one never read: open");
    assert_eq!(lost(0, 2, 2), None, "nothing read yet: open");
    assert_eq!(
        lost(1, 0, 2),
        Some(true),
        "one OK, the other read and failed"
    );
    assert_eq!(
        lost(0, 1, 2),
        Some(true),
        "the read one failed: one unknown cannot make two"
    );
    assert_eq!(lost(3, 0, 0), None, "the board needs no redundancy");
}

/// Issue 35: a temperature converts between the units both ways (a board in F over a source
/// in C, an SDR in F under a board in C), a unit to itself is the value, and only `C` and
/// `F` name a unit.
#[test]
fn temperatures_convert_between_c_and_f() {
    use envmon_core::engine::TempUnit;
    assert_eq!(TempUnit::C.convert(100.0, TempUnit::F), 212.0);
    assert_eq!(TempUnit::C.convert(-40.0, TempUnit::F), -40.0);
    assert_eq!(TempUnit::F.convert(212.0, TempUnit::C), 100.0);
    assert_eq!(TempUnit::F.convert(50.0, TempUnit::F), 50.0);
    assert_eq!(TempUnit::parse("F"), Some(TempUnit::F));
    assert_eq!(TempUnit::parse("K"), None);
}
