//! The Redfish sweep figure (bench/redfish): on a service at `http://127.0.0.1:PORT`
//! (sushy-static: no `$expand`, it answers any query string 404), discovery (requests,
//! time) and then `SWEEPS` sweeps of the auto board's items as the monitor makes them,
//! printing requests per sweep and the median and worst sweep time.
//!
//! At real-BMC speed (`REQUEST_MS` and `CONNECT_MS` given): the same sweeps through a front
//! of our own over TLS (tests/src/proxy.rs `HttpProxy`: a certificate of a CA of our own,
//! each request answered `REQUEST_MS` late, each new connection `CONNECT_MS` late, as a TLS
//! handshake on a BMC's CPU, `$expand` answered as DSP0266 says), four ways ([`WAYS`]):
//! envmon's, without `$expand`, one GET at a time, and the connection-per-request way before
//! issue 34. Prints requests and connections per sweep and the median sweep of each.
//!
//!   redfish-bench NAME PORT [SWEEPS [REQUEST_MS CONNECT_MS]]

use envmon_board_defs::Source;
use envmon_board_defs::redfish::auto_board_redfish;
use envmon_sensors::redfish::{
    Fetch,
    discover::{Discovered, discover},
    http::HttpFetch,
    plan::Features,
    reader::RedfishReader,
    tls,
};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(name), Some(port)) = (args.get(1), args.get(2).and_then(|p| p.parse::<u16>().ok()))
    else {
        eprintln!("usage: redfish-bench NAME PORT [SWEEPS]");
        std::process::exit(2);
    };
    let sweeps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let delays = args
        .get(4)
        .zip(args.get(5))
        .and_then(|(r, c)| Some((r.parse::<u64>().ok()?, c.parse::<u64>().ok()?)));
    if let Some((request_ms, connect_ms)) = delays {
        return at_bmc_speed(name, port, sweeps, request_ms, connect_ms);
    }
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
    let uris = uris_of(&found);
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

/// The resources of the auto board of what discovery `found`.
fn uris_of(found: &Discovered) -> Vec<String> {
    let (board, _) = auto_board_redfish(&found.sensors);
    board
        .items
        .iter()
        .filter_map(|i| match &i.source {
            Source::Redfish(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

/// How a sweep is made: connections kept open, `$expand` where the service says it expands,
/// several GETs in flight.
struct Way {
    name: &'static str,
    keep: bool,
    expand: bool,
    in_flight: bool,
}

const WAYS: [Way; 4] = [
    Way {
        name: "envmon",
        keep: true,
        expand: true,
        in_flight: true,
    },
    Way {
        name: "no $expand",
        keep: true,
        expand: false,
        in_flight: true,
    },
    Way {
        name: "one by one",
        keep: true,
        expand: false,
        in_flight: false,
    },
    Way {
        name: "before",
        keep: false,
        expand: false,
        in_flight: false,
    },
];

/// The sweeps through a delaying front, each [`Way`]: envmon's (connections kept, `$expand`
/// where the service says it expands, a few GETs in flight), without `$expand` (the service
/// saying nothing of it), one GET at a time, and the connection-per-request, one-at-a-time
/// way before issue 34.
fn at_bmc_speed(name: &str, port: u16, sweeps: usize, request_ms: u64, connect_ms: u64) {
    use envmon_tests::{HttpMode, HttpProxy};
    use std::sync::atomic::Ordering;
    let (uris, features) = match envmon_tests::board_resources(port) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    };
    // TLS as a BMC serves it: a certificate of a CA of our own (RSA 2048, openssl), the
    // client trusting that CA.
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("{name}: no temporary directory");
        std::process::exit(1);
    };
    let (ca, _, _) = envmon_tests::certificates(dir.path(), "bmc");
    let server = envmon_tests::tls_server(
        &dir.path().join("bmc-cert.der"),
        &dir.path().join("bmc-key.der"),
    );
    let trust = tls::Trust::CaFile(std::fs::read(&ca).unwrap_or_default());
    let client = match tls::client_config(&trust) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    };
    for way in WAYS {
        let proxy = HttpProxy::tls(port, way.keep, server.clone());
        if !way.expand {
            proxy.without_expand();
        }
        proxy.set(HttpMode::Delay(request_ms));
        proxy.set_connect_delay(connect_ms);
        let f = HttpFetch::new("127.0.0.1", proxy.port, None).with_tls(client.clone());
        let mut r = RedfishReader::new(Box::new(f)).with_features(Features {
            expand: if way.expand { features.expand } else { 0 },
            one_at_a_time: !way.in_flight,
        });
        // One sweep to open what is kept; then the steady state.
        r.refresh(uris.iter().map(String::as_str), 0);
        let (requests, connections) = (r.requests(), proxy.connections.load(Ordering::Relaxed));
        let mut times = Vec::with_capacity(sweeps);
        for k in 1..=sweeps {
            let t = Instant::now();
            r.refresh(uris.iter().map(String::as_str), k as u64 * 1000);
            times.push(t.elapsed().as_secs_f64());
        }
        if !r.healthy() {
            eprintln!("{name} {}: {:?}", way.name, r.errors);
            std::process::exit(1);
        }
        let n = sweeps.max(1) as f64;
        let per_sweep = (r.requests() - requests) as f64 / n;
        let conns = (proxy.connections.load(Ordering::Relaxed) - connections) as f64 / n;
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
        println!(
            "{name:<22} {:<11} TLS, {request_ms} ms a request, {connect_ms} ms a handshake: \
             {per_sweep:>4.1} requests and {conns:>4.1} connections a sweep, median {median:>5.2} s",
            way.name
        );
    }
}
