//! Measures envmon's steady-state sweep against a BMC, and the floor: bare Get Sensor
//! Reading round trips on the same kind of session. Prints one JSON line.
//!
//!   ENVMON_IPMI_PASSWORD=... ipmi-bench HOST PORT USER STATE_DIR SWEEPS

use envmon_agent::{Monitor, load_sdrs, resolve_board};
use envmon_sensors::ipmi::{IpmiSource, Target, Transport, connect};
use std::time::{Duration, Instant};

fn median_and_p95(mut v: Vec<u128>) -> (u128, u128) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        eprintln!(
            "usage: ipmi-bench HOST PORT USER STATE_DIR SWEEPS (password in ENVMON_IPMI_PASSWORD)"
        );
        std::process::exit(2);
    }
    let target = Target::Rmcp {
        host: a[1].clone(),
        port: a[2].parse().expect("port"),
        user: a[3].clone(),
        password: std::env::var("ENVMON_IPMI_PASSWORD").expect("ENVMON_IPMI_PASSWORD"),
        window: envmon_sensors::ipmi::rmcpplus::DEFAULT_WINDOW,
    };
    let sweeps: usize = a[5].parse().expect("sweeps");
    let t0 = Instant::now();
    let mut conn = connect(&target, Duration::from_secs(2)).expect("connect");
    let session_us = t0.elapsed().as_micros();
    let (sdrs, _) = load_sdrs(&mut conn, std::path::Path::new(&a[4])).expect("sdrs");
    let board = resolve_board(None, &sdrs);
    let (mut monitor, _) = Monitor::new(board, &sdrs, std::path::Path::new("/"));
    let mut src = IpmiSource::new(conn);
    monitor.sweep(Some(&mut src), 0); // warm-up
    let mut times = Vec::with_capacity(sweeps);
    let mut commands = 0;
    for i in 0..sweeps {
        let before = src.transport().commands();
        let t = Instant::now();
        let s = monitor.sweep(Some(&mut src), i as u64);
        times.push(t.elapsed().as_micros());
        commands = src.transport().commands() - before;
        assert!(s.transport_error.is_none(), "BMC lost during the benchmark");
    }
    let (sweep_med, sweep_p95) = median_and_p95(times);
    // The floor: the same number of bare Get Sensor Reading round trips on one session.
    let first = sdrs.first().expect("a sensor").number;
    let t = src.transport();
    let mut rt = Vec::with_capacity(sweeps);
    for _ in 0..sweeps {
        let t0 = Instant::now();
        for _ in 0..commands {
            t.call(0x04, 0x2D, &[first]).expect("get sensor reading");
        }
        rt.push(t0.elapsed().as_micros());
    }
    let (floor_med, floor_p95) = median_and_p95(rt);
    println!(
        "{{\"sensors\":{},\"sweeps\":{sweeps},\"ipmi_commands_per_sweep\":{commands},\"session_setup_us\":{session_us},\"sweep_us_median\":{sweep_med},\"sweep_us_p95\":{sweep_p95},\"floor_us_median\":{floor_med},\"floor_us_p95\":{floor_p95}}}",
        monitor.bound()
    );
}
