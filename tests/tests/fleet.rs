//! The fleet at N = 5 (tests/src/fleet.rs; `scripts/fleet` runs it at 20): every agent seen
//! by Prometheus, exactly the expected lines per host through the relay, and the fan and
//! supply alerts firing for the right appliance only, and every query of the shipped Grafana
//! dashboard (dist/grafana) returning data.

use envmon_tests::fleet::{host, run};

#[test]
fn a_fleet_of_five_reports_the_right_faults_for_the_right_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(5, dir.path());
    eprintln!("{r:#?}");
    assert_eq!(r.agents_seen, 5);
    for (h, lines) in &r.lines {
        let want: Vec<&str> = if *h == host(0) {
            vec!["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"]
        } else if *h == host(1) {
            vec![
                "%FTD-1-735004: IPMI: Power Supply 2: Failure Detected",
                "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost",
            ]
        } else {
            vec![]
        };
        assert_eq!(lines, &want, "{h}");
    }
    assert_eq!(r.fan_alerts, [host(0)]);
    assert_eq!(r.psu_alerts, [host(1)]);
    assert!(r.sweeps_per_second > 5.0, "{}", r.sweeps_per_second);
    // The shipped dashboard: every query returns data.
    assert!(r.dashboard.len() >= 20, "{:?}", r.dashboard);
    let empty: Vec<&String> = r
        .dashboard
        .iter()
        .filter(|(_, k)| *k == 0)
        .map(|(q, _)| q)
        .collect();
    assert!(empty.is_empty(), "queries without data: {empty:#?}");
}
