//! The Redfish sweep figure (bench/redfish): on a service at `http://127.0.0.1:PORT`,
//! discovery (requests, time) and then `SWEEPS` sweeps of the auto board's items as the
//! monitor makes them (one GET per resource), printing requests per sweep and the median
//! and worst sweep time.
//!
//!   redfish-bench NAME PORT [SWEEPS]

use envmon_board_defs::Source;
use envmon_board_defs::redfish::auto_board_redfish;
use envmon_sensors::redfish::{Fetch, discover::discover, http::HttpFetch, reader::RedfishReader};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(name), Some(port)) = (args.get(1), args.get(2).and_then(|p| p.parse::<u16>().ok()))
    else {
        eprintln!("usage: redfish-bench NAME PORT [SWEEPS]");
        std::process::exit(2);
    };
    let sweeps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut f = HttpFetch::new("127.0.0.1", port, None);
    let t0 = Instant::now();
    let found = match discover(&mut f) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    };
    let discovery_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let discovery_requests = f.requests();
    let (board, _) = auto_board_redfish(&found.sensors);
    let uris: Vec<String> = board
        .items
        .iter()
        .filter_map(|i| match &i.source {
            Source::Redfish(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    let mut r = RedfishReader::new(Box::new(f));
    let mut times = Vec::with_capacity(sweeps);
    let before = r.requests();
    for k in 0..sweeps {
        let t = Instant::now();
        r.refresh(uris.iter().map(String::as_str), k as u64 * 1000);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let per_sweep = (r.requests() - before) as f64 / sweeps.max(1) as f64;
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    let worst = times.last().copied().unwrap_or(0.0);
    println!(
        "{name:<28} {:>4} items  discovery {discovery_requests:>3} requests {discovery_ms:>7.1} ms  \
         sweep {per_sweep:>4.1} requests  median {median:>6.1} ms  worst {worst:>6.1} ms",
        uris.len()
    );
}
