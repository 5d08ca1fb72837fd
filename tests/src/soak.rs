//! The soak: `envmon run`'s loop ([`envmon_agent::soak`]) for many sweeps back to
//! back, a fan stopping or restarting every so many sweeps, syslog to a real file,
//! against one of two BMCs ([`Against`]): an in-memory one holding a real server's SDR
//! repository (Dell PowerEdge R630, sim/corpus/dell-r630.sdr, `--board auto`), or the
//! simulated appliance's ipmi_sim over RMCP+ (sim/run-bmc, `sim-appliance`: the real session
//! layer, sockets and crypto). It samples what the process holds at the start and at the
//! end of the steady state. The caller's global allocator counts the heap (the bench binary
//! and the test each install one: `stats`).

use envmon_agent::{
    Opener,
    config::{BoardChoice, IpmiUri, Settings},
    open_real, soak,
    syslog::SyslogUri,
};
use envmon_sensors::ipmi::{Transport, fake::FakeBmc};
use std::{fs, path::Path};

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
    /// Allocations of each quiet sweep (no reading changed lately) after the warm-up, in
    /// order.
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

/// The BMC the soak runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// In memory, with a Dell R630's SDRs (`--board auto`).
    Memory,
    /// The simulated appliance's ipmi_sim over RMCP+ on loopback (`sim-appliance`).
    Rmcp,
}

/// What a soak drives: how the loop opens its BMC, and how one fan is set.
struct Driven {
    settings: Settings,
    open: Opener,
    /// Sets fan `k` (of the board's fans) stopped or at its first speed.
    set_fan: Box<dyn FnMut(usize, bool)>,
    /// Called before every sweep (housekeeping of the BMC itself).
    each: Box<dyn FnMut()>,
    /// A fan stops or restarts this often (in sweeps).
    change_every: u64,
    /// Sweeps after a change that are not counted as quiet (the change may still land).
    settle: u64,
    _keep: Option<crate::Bmc>,
}

fn settings(dir: &Path, board: &str, ipmi: IpmiUri) -> Settings {
    Settings {
        board: BoardChoice(board.into()),
        ipmi,
        state_dir: dir.join("state"),
        syslog: vec![
            format!("file://{}", dir.join("syslog.log").display())
                .parse::<SyslogUri>()
                .unwrap(),
        ],
        // Churn is the point here: every change is made (no flap damping).
        flap_damping: envmon_agent::config::FlapDamping(None),
        ..Settings::default()
    }
}

fn in_memory(dir: &Path) -> Driven {
    let corpus = crate::repo_root().join("sim/corpus/dell-r630.sdr");
    let bmc = FakeBmc::from_corpus(&fs::read_to_string(&corpus).unwrap()).unwrap();
    // The chassis fans (sim/corpus/dell-r630.expected: 0x30-0x3d), at their captured speed.
    let fans: Vec<(u8, u8)> = bmc
        .state()
        .readings
        .iter()
        .copied()
        .filter(|(n, _)| (0x30..=0x3d).contains(n))
        .collect();
    let b = bmc.clone();
    let open: Opener = Box::new(move |_| Ok(Box::new(b.transport()) as Box<dyn Transport>));
    let b = bmc.clone();
    Driven {
        settings: settings(dir, "auto", IpmiUri::Device("/dev/fake-ipmi".into())),
        open,
        set_fan: Box::new(move |k, stopped| {
            let (number, raw) = fans[k % fans.len()];
            b.set(number, if stopped { 0 } else { raw });
        }),
        // The fake BMC logs every request: keep its log from growing (capacity is kept).
        each: Box::new(move || bmc.state().log.clear()),
        change_every: 250,
        settle: 10,
        _keep: None,
    }
}

fn over_rmcp(dir: &Path) -> Driven {
    let sim = crate::Bmc::start(&dir.join("bmc"));
    let password = dir.join("password");
    fs::write(&password, crate::BMC_PASSWORD).unwrap();
    // A password file must be private (docs/configuration.md).
    fs::set_permissions(
        &password,
        <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    let mut s = settings(dir, "sim-appliance", sim.uri().parse().unwrap());
    s.ipmi_password_file = Some(password);
    let values = sim.dir.join("values");
    Driven {
        settings: s,
        open: open_real(),
        // FAN1 and FAN2 (sim/run-bmc: sensors 7 and 8, raw 100 = 5000 RPM). The value file
        // is written in place of an ipmitool round trip: ipmi_sim polls it every 500 ms.
        set_fan: Box::new(move |k, stopped| {
            let number = 7 + (k % 2);
            let tmp = values.join(format!(".{number}.tmp"));
            fs::write(&tmp, if stopped { "10\n" } else { "100\n" }).unwrap();
            fs::rename(&tmp, values.join(number.to_string())).unwrap();
        }),
        each: Box::new(|| {}),
        // About a millisecond a sweep here; ipmi_sim reads its value files every 500 ms, so
        // a change lasts 2,000 sweeps and lands within the 1,000 after it.
        change_every: 2_000,
        settle: 1_000,
        _keep: Some(sim),
    }
}

/// Runs `sweeps` sweeps (more than [`WARM_UP`]) against `against`, with its files in `dir`.
pub fn run(dir: &Path, against: Against, sweeps: u64, stats: fn() -> Heap) -> Figures {
    let log = dir.join("syslog.log");
    let Driven {
        settings,
        open,
        mut set_fan,
        mut each,
        change_every,
        settle,
        _keep,
    } = match against {
        Against::Memory => in_memory(dir),
        Against::Rmcp => over_rmcp(dir),
    };
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
            && i - changed_at > settle
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
        each();
        if i > 0 && i % change_every == 0 {
            // One fan at a time stops and comes back: a failure, then a recovery.
            // Changes 1 and 2 stop and restart the first fan, 3 and 4 the second, ...
            let k = usize::try_from(i / change_every).unwrap_or(1);
            set_fan((k - 1) / 2, k % 2 == 1);
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
