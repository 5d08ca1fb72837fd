//! The command line of docs/contract.md §2.

pub mod show;

use crate::{
    config::{Settings, SettingsArgs},
    error::AgentError,
    os::logging,
    syslog::Syslog,
};
use clap::{Args, Parser, Subcommand};
use envmon_core::{RenderError, catalog, render_line};
use serde_json::json;
use std::{ffi::OsString, io::Write, process::ExitCode, time::Duration};

/// envmon: environment monitoring for network appliances.
#[derive(Debug, Parser)]
#[command(name = "envmon", version, disable_help_subcommand = true)]
pub struct Cli {
    /// Settings shared by the commands (all may also come from --config).
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the monitoring daemon.
    Run,
    /// Sweep the sensors without a daemon and print the final readings (each judged as it
    /// is: no debounce).
    Poll {
        /// Number of sweeps (one interval apart).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Print JSON (as `show environment`) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one message line exactly as sent; with --send, also send it to syslog.
    Message(MessageArgs),
    /// Ask a running agent (over its socket).
    Show {
        /// What to show.
        #[arg(value_enum)]
        what: ShowWhat,
        /// Print the reply's JSON line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Built-in boards, and validation of board files.
    #[command(subcommand)]
    Board(BoardCommand),
    /// List every message ID, level and template.
    Catalog {
        /// One JSON document with every field of every message.
        #[arg(long)]
        json: bool,
    },
}

/// What `envmon show` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowWhat {
    /// Sensors, power supplies, PCI, last shutdown.
    Environment,
    /// The agent's version.
    Version,
    /// OpenMetrics text (a node_exporter textfile).
    Metrics,
}

/// `envmon board ...`.
#[derive(Debug, Subcommand)]
pub enum BoardCommand {
    /// List the built-in boards.
    List,
    /// Validate board files; errors are file:line:column (exit 78).
    Check {
        /// Board files (TOML).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Every SDR record of the BMC: name, number, entity, type, what --board auto makes of
    /// it and why.
    Explain {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The board envmon would monitor (--board auto, or a base = "auto" file over it), as a
    /// board file: edit it and use it with --board FILE.
    Dump,
}

/// `envmon message`.
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// Also send the message to the syslog destinations and wait for delivery.
    #[arg(long)]
    pub send: bool,
    /// How long --send waits for delivery, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub wait_ms: u64,
    /// Message ID (735001-735029, 743000-743002, 743004, 743010, 743011).
    pub id: String,
    /// The message's variables, in the order they first appear in its template.
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// Runs envmon with `args` (the first is the program name) and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                crate::error::EXIT_USAGE
            } else {
                0
            });
        }
    };
    logging::init();
    // A command's output piped into `head` ends at the pipe's end, quietly, as any Unix
    // tool's does (Rust ignores SIGPIPE, and `println!` would panic on the broken pipe).
    // The daemon keeps ignoring it: a syslog or query socket closed under it is an error
    // to handle, not a reason to die.
    if !matches!(cli.command, Command::Run) {
        crate::os::sys::default_sigpipe();
    }
    match dispatch(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !matches!(e, AgentError::Reported(_)) {
                eprintln!("envmon: error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(cli: &Cli) -> Result<(), AgentError> {
    let settings = cli.settings.resolve()?;
    match &cli.command {
        Command::Run => crate::run::run(settings, &cli.settings),
        Command::Poll { count, json } => poll(&settings, *count, *json),
        Command::Message(m) => message(&settings, m),
        Command::Show { what, json } => show(&settings, *what, *json),
        Command::Board(b) => board(&settings, b),
        Command::Catalog { json } => {
            print_catalog(*json);
            Ok(())
        }
    }
}

fn message(settings: &Settings, m: &MessageArgs) -> Result<(), AgentError> {
    let id: u32 = m.id.parse().map_err(|_| {
        AgentError::Usage(format!(
            "message ID '{}' is not a number (see 'envmon catalog')",
            m.id
        ))
    })?;
    let args: Vec<&str> = m.args.iter().map(String::as_str).collect();
    let line = render_line(settings.prefix, id, &args).map_err(|e| usage(&e))?;
    println!("{line}");
    if m.send {
        let syslog = Syslog::start(&settings.syslog_config())?;
        syslog.emit(id, &args).map_err(|e| usage(&e))?;
        let stats = syslog.close(Duration::from_millis(m.wait_ms));
        let failed: Vec<String> = stats
            .iter()
            .filter(|s| s.sent == 0)
            .map(|s| s.uri.clone())
            .collect();
        if !failed.is_empty() {
            return Err(AgentError::Unavailable(format!(
                "not delivered within {} ms to {}",
                m.wait_ms,
                failed.join(", ")
            )));
        }
    }
    Ok(())
}

fn show(settings: &Settings, what: ShowWhat, as_json: bool) -> Result<(), AgentError> {
    let request = match what {
        ShowWhat::Environment => "show environment",
        ShowWhat::Version => "show version",
        ShowWhat::Metrics => "show metrics",
    };
    use crate::{cli::show, model};
    let socket = &settings.socket;
    match (what, as_json) {
        (_, true) => println!("{}", show::ask_line(socket, request)?),
        (ShowWhat::Environment, false) => {
            let env: model::Environment = show::ask(socket, request)?;
            print!("{}", show::environment_table(&env));
        }
        (ShowWhat::Version, false) => {
            let v: model::VersionReply = show::ask(socket, request)?;
            println!("envmon {}", v.version);
        }
        (ShowWhat::Metrics, false) => {
            let m: model::MetricsReply = show::ask(socket, request)?;
            print!("{}", m.metrics);
        }
    }
    Ok(())
}

fn board(settings: &Settings, cmd: &BoardCommand) -> Result<(), AgentError> {
    match cmd {
        BoardCommand::List => {
            for (name, _) in envmon_board_defs::BUILTIN {
                match envmon_board_defs::builtin(name) {
                    Some(Ok(b)) => println!(
                        "{:<16} {:>3} items  {}",
                        b.name,
                        b.items.len(),
                        b.description
                    ),
                    Some(Err(e)) => return Err(AgentError::Board(e)),
                    None => {}
                }
            }
            Ok(())
        }
        BoardCommand::Check { files } => {
            let mut first_error = None;
            for f in files {
                match envmon_board_defs::load(f) {
                    Ok(b) => println!(
                        "{}: ok: board {}, {} items",
                        f.display(),
                        b.name,
                        b.items.len()
                    ),
                    Err(e) => {
                        eprintln!("envmon: error: {e}");
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error.map_or(Ok(()), |e| {
                Err(AgentError::Reported(Box::new(AgentError::Board(e))))
            })
        }
        BoardCommand::Explain { json } => board_explain(settings, *json),
        BoardCommand::Dump => board_dump(settings),
    }
}

fn usage(e: &RenderError) -> AgentError {
    AgentError::Usage(e.to_string())
}

fn print_catalog(as_json: bool) {
    let mut out = std::io::stdout().lock();
    if as_json {
        let list: Vec<_> = catalog::CATALOG
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "level": m.level.number(),
                    "severity": m.level.keyword(),
                    "template": m.template,
                    "variables": m.vars.iter().map(|v| json!({
                        "name": v.name,
                        "meaning": v.meaning,
                        "default": v.default,
                    })).collect::<Vec<_>>(),
                    "explanation": m.explanation,
                    "action": m.action,
                })
            })
            .collect();
        let _ = writeln!(out, "{}", json!(list));
    } else {
        for m in catalog::CATALOG {
            let _ = writeln!(out, "{} {} {}", m.id, m.level, m.template);
        }
    }
}

/// Connects to the BMC of the settings and reads its SDRs (cached) with their live
/// thresholds.
fn bmc_sdrs(
    settings: &Settings,
) -> Result<
    (
        envmon_sensors::ipmi::Connected,
        Vec<envmon_sensors::ipmi::sdr::SdrEntry>,
    ),
    AgentError,
> {
    let unavailable = |e: envmon_sensors::ipmi::IpmiError| AgentError::Unavailable(e.to_string());
    let Some(target) = crate::source::bmc::target(settings)? else {
        return Err(AgentError::Usage(
            "--ipmi none: there is no BMC to read SDRs from".into(),
        ));
    };
    let mut conn = crate::source::bmc::open(&target).map_err(unavailable)?;
    let (sdrs, _) =
        crate::source::bmc::load_sdrs(&mut conn, &settings.state_dir).map_err(unavailable)?;
    Ok((conn, sdrs))
}

/// `envmon board explain`: every SDR record and the rule that decided it.
fn board_explain(settings: &Settings, as_json: bool) -> Result<(), AgentError> {
    if let Some(mut f) = crate::source::redfish::fetch(settings)? {
        return crate::source::redfish::explain(&mut f, as_json);
    }
    let (_, sdrs) = bmc_sdrs(settings)?;
    let named = crate::source::bmc::named_board(&settings.board)?;
    let overrides = named.filter(|b| b.base_auto);
    let sensors: Vec<_> = sdrs.iter().map(|e| e.to_sdr_sensor()).collect();
    let (board, explained) = envmon_board_defs::explain(&sensors, overrides.as_ref());
    let rows: Vec<ExplainRow> = sdrs
        .iter()
        .zip(&explained)
        .map(|(e, x)| {
            let item = x
                .item
                .as_ref()
                .and_then(|id| board.items.iter().find(|i| i.id == *id));
            ExplainRow {
                class: item.map(|i| i.spec.class.name()),
                entity: format!("0x{:02x}.{}", e.entity_id, e.entity_instance & 0x7f),
                item: item.map(|i| i.id.clone()),
                label: item.map(|i| i.spec.label.clone()),
                name: e.name.clone(),
                number: e.number,
                owner: e.owner_id,
                reading_type: e.reading_type,
                record: e.record_id,
                sensor_type: e.sensor_type,
                why: x.decision.why.to_string(),
            }
        })
        .collect();
    if as_json {
        let line = serde_json::to_string(&rows)
            .map_err(|e| AgentError::Unavailable(format!("cannot encode the records: {e}")))?;
        println!("{line}");
        return Ok(());
    }
    println!(
        "{:<6} {:<5} {:<16} {:<7} {:<4} {:<4} {:<28} WHY",
        "RECORD", "NUM", "NAME", "ENTITY", "TYPE", "READ", "DECISION"
    );
    for r in &rows {
        let decision = match (r.class, &r.label) {
            (Some(c), Some(l)) => format!("{c} {l}"),
            _ => "-".into(),
        };
        println!(
            "0x{:04x} 0x{:02x}  {:<16} {:<7} 0x{:02x} 0x{:02x} {:<28} {}",
            r.record, r.number, r.name, r.entity, r.sensor_type, r.reading_type, decision, r.why
        );
    }
    let monitored = rows.iter().filter(|r| r.item.is_some()).count();
    println!(
        "{} records: {monitored} monitored, {} left out",
        rows.len(),
        rows.len() - monitored
    );
    Ok(())
}

/// One SDR record as `board explain` shows it (fields in alphabetical order: the JSON's key
/// order).
#[derive(Debug, serde::Serialize)]
struct ExplainRow {
    class: Option<&'static str>,
    entity: String,
    item: Option<String>,
    label: Option<String>,
    name: String,
    number: u8,
    owner: u8,
    reading_type: u8,
    record: u16,
    sensor_type: u8,
    why: String,
}

/// `envmon board dump`: the board from the BMC's SDRs as a board file.
fn board_dump(settings: &Settings) -> Result<(), AgentError> {
    let (_, sdrs) = bmc_sdrs(settings)?;
    let named = crate::source::bmc::named_board(&settings.board)?;
    let board = crate::source::bmc::resolve_board(named, &sdrs);
    let header = format!(
        "Made by `envmon board dump` from the BMC's SDR repository ({} sensor records).\n\
         Edit it and use it with --board FILE; `envmon board check FILE` validates it.",
        sdrs.len()
    );
    let comment = |item: &envmon_board_defs::Item| {
        let number = match item.source {
            envmon_board_defs::Source::IpmiNumber(n) => n,
            _ => return None,
        };
        sdrs.iter()
            .find(|e| e.number == number && e.owner_id == 0x20 && e.owner_lun == 0)
            .map(|e| {
                format!(
                    "SDR \"{}\", entity 0x{:02x}.{}",
                    e.name,
                    e.entity_id,
                    e.entity_instance & 0x7f
                )
            })
    };
    print!("{}", envmon_board_defs::to_toml(&board, &header, comment));
    Ok(())
}

/// `envmon poll`: connect, read the SDRs (cached), sweep `count` times, print.
fn poll(settings: &Settings, count: u32, as_json: bool) -> Result<(), AgentError> {
    use envmon_sensors::ipmi::{IpmiSource, Transport};
    let unavailable = |e: envmon_sensors::ipmi::IpmiError| AgentError::Unavailable(e.to_string());
    let target = crate::source::bmc::target(settings)?;
    let named = crate::source::bmc::named_board(&settings.board)?;
    let from_sdrs = crate::source::bmc::from_sdrs(named.as_ref());
    // Without SDRs first, the board alone says whether a BMC is needed.
    let needs_bmc = from_sdrs
        || named
            .as_ref()
            .is_some_and(|b| b.items.iter().any(|i| i.source.is_ipmi()));
    let (conn, sdrs) = match (&target, needs_bmc) {
        (Some(_), true) => {
            let (conn, sdrs) = bmc_sdrs(settings)?;
            (Some(conn), sdrs)
        }
        (None, true) if from_sdrs => {
            return Err(AgentError::Usage(
                "--ipmi none: this board is made from the BMC's SDRs".into(),
            ));
        }
        _ => (None, Vec::new()),
    };
    let mut board = crate::source::bmc::resolve_board(named, &sdrs);
    // A snapshot judges each reading as it is; debounce is for the daemon's transitions.
    for item in &mut board.items {
        item.spec.debounce = 1;
    }
    let (mut monitor, notes) = crate::monitor::Monitor::new(board, &sdrs, &settings.sysfs_root);
    for n in notes {
        log::warn!("{n}");
    }
    let mut source = conn.map(IpmiSource::new);
    let started = std::time::Instant::now();
    let mut per_sweep = 0;
    let mut unread = 0;
    for i in 0..count.max(1) {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(settings.interval_ms.0));
        }
        let before = source.as_mut().map_or(0, |s| s.transport().commands());
        let now = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let sweep = monitor.sweep(source.as_mut(), now);
        per_sweep = source.as_mut().map_or(0, |s| s.transport().commands()) - before;
        unread = sweep.unread;
        if let Some(e) = sweep.transport_error {
            return Err(unavailable(e));
        }
    }
    let now = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if as_json {
        // The same JSON as `show environment`.
        let last_shutdown = crate::events::shutdown::read_record(&settings.state_dir)
            .ok()
            .flatten();
        let monitoring = if unread == 0 {
            crate::model::Monitoring::Running
        } else {
            crate::model::Monitoring::Degraded
        };
        let env = crate::model::Environment {
            ipmi_commands_per_sweep: per_sweep,
            last_shutdown: last_shutdown
                .as_ref()
                .map(crate::events::shutdown::Record::shown),
            ..crate::model::Environment::new(
                Some(monitor.view(now)),
                monitoring,
                settings.interval_ms.0,
            )
        };
        let line = serde_json::to_string(&env)
            .map_err(|e| AgentError::Unavailable(format!("cannot encode the readings: {e}")))?;
        println!("{line}");
    } else {
        print!("{}", monitor.table());
    }
    Ok(())
}
