//! `scripts/fleet [N]`: N appliances (default 20) with one rsyslog relay, one node_exporter
//! and one Prometheus on this machine; prints what arrived and how fast (tests/src/fleet.rs).

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let r = envmon_tests::fleet::run(n, dir.path());
    println!(
        "agents                {} started, {} seen by Prometheus",
        r.agents, r.agents_seen
    );
    println!(
        "sweeps per second     {:.1} in total (interval 500 ms)",
        r.sweeps_per_second
    );
    println!(
        "CPU per agent         {:.2}% of a core",
        r.cpu_percent_per_agent
    );
    let total: usize = r.lines.iter().map(|(_, l)| l.len()).sum();
    println!("relay lines           {total}");
    for (h, l) in &r.lines {
        if !l.is_empty() {
            println!("  {h}: {}", l.join(" | "));
        }
    }
    println!("fan alert firing for  {:?}", r.fan_alerts);
    println!("supply alert for      {:?}", r.psu_alerts);
    println!(
        "fault to alert        {:.1} s (the rule's `for: 30s` included)",
        r.fault_to_alert.as_secs_f64()
    );
}
