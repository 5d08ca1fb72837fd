//! The soak bench (bench/soak): `envmon run`'s loop for SWEEPS sweeps back to back against
//! an in-memory BMC with a Dell R630's SDRs, or with `--rmcp` against the simulated
//! appliance's ipmi_sim over RMCP+, readings changing; prints what the process held after
//! the warm-up and at the end, heap allocations per quiet sweep, CPU and wall time per sweep.
//!
//!   soak [--rmcp] [SWEEPS]      (default 100000)

use envmon_tests::soak::{self, Heap};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn heap() -> Heap {
    soak::heap(GLOBAL)
}

fn stats(v: &[u64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let (min, max) = (v.iter().min().unwrap_or(&0), v.iter().max().unwrap_or(&0));
    let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
    format!("min {min} max {max} mean {mean:.1} over {}", v.len())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let against = if args.iter().any(|a| a == "--rmcp") {
        soak::Against::Rmcp
    } else {
        soak::Against::Memory
    };
    let sweeps = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let started = std::time::Instant::now();
    let f = soak::run(dir.path(), against, sweeps, heap);
    let wall = started.elapsed();
    let q = &f.quiet_allocations;
    let tenth = q.len() / 10;
    let (first, last) = (&q[..tenth], &q[q.len() - tenth..]);
    let cpu = f.end.cpu_s - f.start.cpu_s;
    let steady = f.sweeps - soak::WARM_UP;
    let what = match against {
        soak::Against::Memory => "in-memory BMC, Dell R630 SDR, --board auto",
        soak::Against::Rmcp => "ipmi_sim over RMCP+, sim-appliance",
    };
    println!("sweeps               {} ({what})", f.sweeps);
    println!("catalog lines        {}", f.lines);
    println!("                     after warm-up    at the end");
    println!(
        "resident memory kB   {:<16} {}",
        f.start.rss_kb, f.end.rss_kb
    );
    println!("file descriptors     {:<16} {}", f.start.fds, f.end.fds);
    println!(
        "threads              {:<16} {}",
        f.start.threads, f.end.threads
    );
    println!(
        "live heap bytes      {:<16} {}",
        f.start.heap_live, f.end.heap_live
    );
    println!("allocations/sweep    first tenth: {}", stats(first));
    println!("  (quiet sweeps)     last tenth:  {}", stats(last));
    println!(
        "CPU per sweep        {:.1} us ({cpu:.2} s over {steady} sweeps)",
        cpu * 1e6 / steady as f64
    );
    println!(
        "wall time per sweep  {:.1} us ({:.1} s in all)",
        wall.as_secs_f64() * 1e6 / f.sweeps as f64,
        wall.as_secs_f64()
    );
    println!(
        "IPMI commands        {}",
        f.metrics
            .lines()
            .find(|l| l.starts_with("envmon_ipmi_commands_total"))
            .unwrap_or("-")
    );
    println!(
        "replies discarded    {}",
        f.metrics
            .lines()
            .find(|l| l.starts_with("envmon_ipmi_replies_discarded_total"))
            .unwrap_or("-")
    );
}
