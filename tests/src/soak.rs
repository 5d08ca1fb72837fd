//! The soak: `envmon run`'s loop ([`envmon_agent::daemon::soak`]) for many sweeps back to
//! back, against an in-memory BMC holding a real server's SDR repository (Dell PowerEdge
//! R630, sim/corpus/dell-r630.sdr) with `--board auto`, a fan stopping or restarting every
//! [`CHANGE_EVERY`] sweeps, syslog to a real file. It samples what the process holds at the
//! start and at the end of the steady state. The caller's global allocator counts the heap
//! (the bench binary and the test each install one: `stats`).

use envmon_agent::{
    config::{BoardChoice, IpmiUri, Settings},
    daemon::{Opener, soak},
    syslog::SyslogUri,
};
use envmon_sensors::ipmi::{Transport, fake::FakeBmc};
use std::{fs, path::Path};

/// A sensor's reading moves this often (in sweeps), and moves back as often.
pub const CHANGE_EVERY: u64 = 250;
/// Sweeps before the steady state is sampled (connection, SDR read, first judgements).
pub const WARM_UP: u64 = 500;

/// The counters of a counting allocator (the caller's `#[global_allocator]`).
pub fn heap(allocator: &stats_alloc::StatsAlloc<std::alloc::System>) -> Heap {
    let s = allocator.stats();
    Heap {
        allocations: s.allocations as u64,
        allocated: s.bytes_allocated as u64,
        freed: s.bytes_deallocated as u64,
    }
}

/// Heap counters at one moment (from the caller's counting allocator).
#[derive(Debug, Clone, Copy, Default)]
pub struct Heap {
    /// Allocations so far.
    pub allocations: u64,
    /// Bytes allocated so far.
    pub allocated: u64,
    /// Bytes freed so far.
    pub freed: u64,
}

/// What the process holds at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Resident memory, kB.
    pub rss_kb: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// Live heap bytes (allocated less freed).
    pub heap_live: i64,
    /// CPU time (user + system), seconds.
    pub cpu_s: f64,
}

/// The soak's figures.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Sweeps run.
    pub sweeps: u64,
    /// After the warm-up.
    pub start: Sample,
    /// Before the last sweep.
    pub end: Sample,
    /// Allocations of each quiet sweep (no reading changed in the last 10) after the
    /// warm-up, in order.
    pub quiet_allocations: Vec<u64>,
    /// Catalog lines written to syslog.
    pub lines: usize,
    /// `show metrics` at the end.
    pub metrics: String,
}

fn status_field(name: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| {
                v.trim_start_matches(':')
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat (after the command name in parentheses), in ticks.
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // `rest` starts at field 3 (state, not a number): utime is field 14.
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    ticks as f64 / 100.0
}

fn sample(heap: Heap) -> Sample {
    Sample {
        rss_kb: status_field("VmRSS"),
        fds: fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
        threads: status_field("Threads"),
        heap_live: heap.allocated as i64 - heap.freed as i64,
        cpu_s: cpu_seconds(),
    }
}

/// Runs `sweeps` sweeps (more than [`WARM_UP`]) with its files in `dir`.
pub fn run(dir: &Path, sweeps: u64, stats: fn() -> Heap) -> Figures {
    let corpus = crate::repo_root().join("sim/corpus/dell-r630.sdr");
    let bmc = FakeBmc::from_corpus(&fs::read_to_string(&corpus).unwrap()).unwrap();
    // The chassis fans (sim/corpus/dell-r630.expected: 0x30-0x3d), at their captured speed.
    let readings: Vec<(u8, u8)> = bmc
        .state()
        .readings
        .iter()
        .copied()
        .filter(|(n, _)| (0x30..=0x3d).contains(n))
        .collect();
    let log = dir.join("syslog.log");
    let settings = Settings {
        board: BoardChoice("auto".into()),
        ipmi: IpmiUri::Device("/dev/fake-ipmi".into()),
        state_dir: dir.join("state"),
        syslog: vec![
            format!("file://{}", log.display())
                .parse::<SyslogUri>()
                .unwrap(),
        ],
        ..Settings::default()
    };
    let b = bmc.clone();
    let open: Opener = Box::new(move |_| Ok(Box::new(b.transport()) as Box<dyn Transport>));
    // Its own record is allocated and written up front (its pages resident), so that it
    // does not count as the agent's growth, in the heap or in resident memory.
    let mut quiet = vec![u64::MAX; usize::try_from(sweeps).unwrap_or(0)];
    let mut figures = Figures {
        sweeps,
        ..Figures::default()
    };
    let mut last = stats();
    let mut changed_at = 0;
    let metrics = soak(settings, open, sweeps, |i| {
        let now = stats();
        if i > WARM_UP
            && i - changed_at > 10
            && let Some(slot) = quiet.get_mut(usize::try_from(i).unwrap_or(usize::MAX))
        {
            *slot = now.allocations - last.allocations;
        }
        if i == WARM_UP {
            figures.start = sample(now);
        }
        // The end is sampled inside the loop too: after it, the loop's threads are gone.
        if i + 1 == sweeps {
            figures.end = sample(now);
        }
        // The fake BMC logs every request: keep its log from growing (capacity is kept).
        bmc.state().log.clear();
        if i > 0 && i % CHANGE_EVERY == 0 && !readings.is_empty() {
            // One fan at a time stops and comes back: a failure, then a recovery.
            let k = usize::try_from(i / CHANGE_EVERY).unwrap_or(0);
            let (number, raw) = readings[(k / 2) % readings.len()];
            bmc.set(number, if k % 2 == 1 { 0 } else { raw });
            changed_at = i;
        }
        last = stats();
    })
    .unwrap();
    figures.quiet_allocations = quiet.into_iter().filter(|&a| a != u64::MAX).collect();
    figures.metrics = metrics;
    figures.lines = crate::message_lines(&log).len();
    figures
}
