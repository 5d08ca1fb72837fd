//! The soak bench (bench/soak): `envmon run`'s loop for SWEEPS sweeps back to back against
//! an in-memory BMC with a Dell R630's SDRs, readings changing; prints what the process held
//! after the warm-up and at the end, heap allocations per quiet sweep, CPU time per sweep.
//!
//!   soak [SWEEPS]      (default 100000)

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
    let sweeps = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let f = soak::run(dir.path(), sweeps, heap);
    let q = &f.quiet_allocations;
    let tenth = q.len() / 10;
    let (first, last) = (&q[..tenth], &q[q.len() - tenth..]);
    let cpu = f.end.cpu_s - f.start.cpu_s;
    let steady = f.sweeps - soak::WARM_UP;
    println!(
        "sweeps               {} (Dell R630 SDR, --board auto)",
        f.sweeps
    );
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
}
