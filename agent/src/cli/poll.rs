//! `envmon poll`: sweeps without a daemon. It starts as every command does (the settings'
//! one source, the board builder, the binder with the settings' flap damping), then sweeps
//! `count` times and prints the final readings, each judged as it is (no debounce).

use crate::{
    config::Settings,
    error::AgentError,
    events::shutdown,
    model::{Environment, Monitoring, Shown},
    source::{self, Need, board},
};
use envmon_sensors::ipmi::{Connected, IpmiSource, Transport};
use std::time::{Duration, Instant};

/// `envmon poll [--count N] [--json]`.
/// After the readings, an item of a named board that names a BMC sensor the BMC does not
/// have (a typo'd name) is an error at its `source` line (exit 78), as `board explain`
/// says it: before issue 35, `poll` warned and exited 0.
pub fn poll(settings: &Settings, count: u32, as_json: bool) -> Result<(), AgentError> {
    let (env, table, sdrs_read) = snapshot(settings, count)?;
    if as_json {
        // The same JSON as `show environment`.
        let line = serde_json::to_string(&env)
            .map_err(|e| AgentError::Unavailable(format!("cannot encode the readings: {e}")))?;
        println!("{line}");
    } else {
        print!("{table}");
    }
    let unbound: Vec<(String, String, String)> = env
        .sensors
        .iter()
        .filter(|i| {
            sdrs_read
                && i.source.board.starts_with("ipmi:")
                && i.source.number.is_none()
                && matches!(i.state, Shown::Is(_))
        })
        .map(|i| {
            let why = "matches no sensor in the BMC's SDR repository (envmon board explain \
                       lists them)";
            (
                i.id.to_string(),
                i.source.board.to_string(),
                why.to_string(),
            )
        })
        .collect();
    super::board::report_unbound(&settings.board, &unbound)
}

/// Sweeps `count` times without a daemon: what the last sweep knows (the model, as
/// `show environment` gives it), its table, and whether a BMC's SDRs were read (only they
/// say which sensor names are there).
pub fn snapshot(
    settings: &Settings,
    count: u32,
) -> Result<(Environment, String, bool), AgentError> {
    let named = board::named_board(&settings.board)?;
    let mut one = source::open_once(settings, named.as_ref(), Need::ToRead)?;
    let mut board = board::build(named, one.described(), settings)?;
    // A snapshot judges each reading as it is; debounce is for the daemon's transitions.
    for item in &mut board.items {
        item.spec.debounce = 1;
    }
    let (mut monitor, notes) = board::bind(board, one.described(), settings, one.reader());
    for n in notes {
        log::warn!("{n}");
    }
    let sdrs_read = !one.sdrs.is_empty();
    let mut ipmi: Option<IpmiSource<Connected>> = one.ipmi.take().map(IpmiSource::new);
    let started = Instant::now();
    let now_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut per_sweep = 0;
    let mut unread = 0;
    for i in 0..count.max(1) {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(settings.interval_ms.0));
        }
        let before = ipmi.as_mut().map_or(0, |s| s.transport().commands());
        let sweep = monitor.sweep(ipmi.as_mut(), now_ms());
        per_sweep = ipmi.as_mut().map_or(0, |s| s.transport().commands()) - before;
        unread = sweep.unread;
        if let Some(e) = sweep.transport_error {
            return Err(AgentError::Unavailable(e.to_string()));
        }
    }
    let last_shutdown = shutdown::read_record(&settings.state_dir).ok().flatten();
    let monitoring = if unread == 0 {
        Monitoring::Running
    } else {
        Monitoring::Degraded
    };
    let env = Environment {
        ipmi_commands_per_sweep: per_sweep,
        last_shutdown: last_shutdown.as_ref().map(shutdown::Record::shown),
        ..Environment::new(
            Some(monitor.view(now_ms())),
            monitoring,
            settings.interval_ms.0,
        )
    };
    Ok((env, monitor.table(), sdrs_read))
}
