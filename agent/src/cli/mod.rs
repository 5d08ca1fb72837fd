//! The command line of docs/contract.md §2.

pub mod board;
pub mod check;
pub mod poll;
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
        /// show metrics only: openmetrics (the default) or prometheus (the text format
        /// node_exporter's textfile collector reads, as --metrics-file writes it).
        #[arg(long, value_enum)]
        format: Option<MetricsFormat>,
    },
    /// A monitoring plugin (Nagios, Icinga, Checkmk): one status line with performance
    /// data, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (docs/check.md).
    Check {
        /// Sweep the source (--ipmi, --redfish) here instead of asking the running agent
        /// (--socket).
        #[arg(long)]
        once: bool,
        /// With --once: sweeps (one interval apart); the last is judged.
        #[arg(long, default_value_t = 1, requires = "once")]
        count: u32,
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
    /// Sensors, power supplies, PCI, last shutdown (`env`, as the appliance CLI abbreviates
    /// it).
    #[value(alias = "env")]
    Environment,
    /// The agent's version.
    Version,
    /// OpenMetrics text (a node_exporter textfile).
    Metrics,
}

/// The text `envmon show metrics` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsFormat {
    /// OpenMetrics 1.0 (statesets, `# EOF`): what Prometheus scrapes.
    Openmetrics,
    /// The Prometheus text format 0.0.4: what node_exporter's textfile collector reads.
    Prometheus,
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
        /// Also bind each board's IPMI items to the SDRs in FILE, offline: what `ipmitool
        /// sdr dump FILE` wrote on the target server, or envmon's own sdr-cache.v1. An item
        /// that matches none is an error at its `source` line.
        #[arg(long, value_name = "FILE")]
        sdr: Option<std::path::PathBuf>,
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

/// The subcommand `args` name (the first word that is neither a flag nor a flag's value),
/// by the command line's own definitions.
fn subcommand_of(args: &[OsString]) -> Option<String> {
    positionals(args).into_iter().next()
}

/// The words of `args` (after the program name) that are neither flags nor the values of
/// the settings' flags: the subcommands first, then their own arguments.
fn positionals(args: &[OsString]) -> Vec<String> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let takes_value = |flag: &str| {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(flag))
            .is_some_and(|a| a.get_action().takes_values())
    };
    let mut out = Vec::new();
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(w) = words.next() {
        match w.strip_prefix("--") {
            Some(flag) if !flag.contains('=') && takes_value(flag) => {
                words.next();
            }
            Some(_) => {}
            None if w.starts_with('-') => {}
            None => out.push(w.into_owned()),
        }
    }
    out
}

/// `args` of `envmon help [COMMAND...]` as `envmon [COMMAND...] --help`: the `--help` right
/// after the command's words (before its own arguments, which could take it as a value).
fn help_args(mut args: Vec<OsString>) -> Vec<OsString> {
    use clap::CommandFactory;
    args.remove(1);
    let mut cmd = Cli::command();
    let mut at = 1;
    while let Some(sc) = args
        .get(at)
        .and_then(|w| cmd.find_subcommand(w.to_string_lossy().as_ref()))
        .cloned()
    {
        cmd = sc;
        at += 1;
    }
    args.insert(at, "--help".into());
    args
}

/// What every help ends with: the environment variables envmon reads.
const ENVIRONMENT: &str = "Environment:\n  ENVMON_LOG               off, error, warn, info (default), debug or \
trace: envmon's own log on standard error\n  ENVMON_IPMI_PASSWORD     the RMCP+ password (else \
--ipmi-password-file)\n  ENVMON_REDFISH_PASSWORD  the Redfish password (else \
--redfish-password-file)";

/// The command line as clap parses it: every settings flag global (each parses wherever it
/// is given and means the same), every help ending with the environment.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
        .after_help(ENVIRONMENT)
        .mut_subcommand("run", |sc| sc.after_help(ENVIRONMENT))
}

/// The help of the subcommand `args` ask it of, listing only the settings that command uses
/// ([`crate::config::COMMAND_KEYS`]; issue 35: each listed all 33); none for `run` (it uses
/// them all) or the top level.
fn help_for(args: &[OsString]) -> Option<String> {
    let sub = subcommand_of(args)?;
    let mut sc = subcommand(&sub)?;
    // A nested command (`board explain --help`): the word after `sub`, flags' values skipped.
    let nested = positionals(args)
        .get(1)
        .and_then(|w| sc.find_subcommand(w).cloned());
    if let Some(n) = nested {
        sc = n.after_help(ENVIRONMENT);
    }
    Some(sc.render_help().to_string())
}

/// The subcommand `name` (built: its nested commands named `envmon-NAME-...`) with only
/// the settings it uses ([`crate::config::COMMAND_KEYS`]) shown, and the environment
/// variables after its help: what its `--help` and its man page `envmon-NAME(1)` say. None
/// for `run` (it uses every setting: the top page) or an unknown name.
pub fn subcommand(name: &str) -> Option<clap::Command> {
    let (_, groups) = crate::config::COMMAND_KEYS
        .iter()
        .find(|(n, _)| *n == name)?;
    let keys: Vec<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    let mut cmd = command();
    for k in crate::config::KEYS.iter().filter(|k| !keys.contains(k)) {
        cmd = cmd.mut_arg(*k, |a| a.hide(true));
    }
    cmd.build();
    Some(cmd.find_subcommand(name)?.clone().after_help(ENVIRONMENT))
}

/// Runs envmon with `args` (the first is the program name) and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    use clap::FromArgMatches;
    let mut args: Vec<OsString> = args.into_iter().collect();
    // `envmon help [COMMAND...]` is `envmon [COMMAND...] --help`, and `envmon -v` is `-V`,
    // as many tools take them (issue 35: both were unknown).
    if args.get(1).is_some_and(|a| a == "help") {
        args = help_args(args);
    }
    if args.len() == 2 && args[1] == "-v" {
        args[1] = "-V".into();
    }
    let parsed = command()
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp && help_for(&args).is_some() => {
            print!("{}", help_for(&args).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        // A monitoring engine reads a plugin's standard output and exit code: a mistyped
        // `check` command line is UNKNOWN (3), not the usage error's 2 (CRITICAL to it).
        Err(e) if e.use_stderr() && subcommand_of(&args).as_deref() == Some("check") => {
            let why = e.to_string();
            let first = why.split("\n\n").next().unwrap_or_default();
            let v = crate::model::plugin::unknown(first.trim_start_matches("error: "));
            println!("{}", v.line);
            return ExitCode::from(v.status as u8);
        }
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
    // A plugin's exit code is its verdict, its errors UNKNOWN (3) on standard output.
    if let Command::Check { once, count } = cli.command {
        return check::check(&cli.settings, once, count);
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
    // The daemon checks every key of its file; a one-shot command passes over the daemon's.
    let settings = cli
        .settings
        .resolve_for(matches!(cli.command, Command::Run))?;
    match &cli.command {
        Command::Run => crate::run::run(settings, &cli.settings),
        Command::Poll { count, json } => poll::poll(&settings, *count, *json),
        Command::Message(m) => message(&settings, m),
        Command::Show { what, json, format } => show(&settings, *what, *json, *format),
        Command::Board(b) => board(&settings, b),
        Command::Check { .. } => Err(AgentError::Usage("check runs on its own path".into())),
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

fn show(
    settings: &Settings,
    what: ShowWhat,
    as_json: bool,
    format: Option<MetricsFormat>,
) -> Result<(), AgentError> {
    let request = match (what, format) {
        (ShowWhat::Metrics, None | Some(MetricsFormat::Openmetrics)) => "show metrics",
        (ShowWhat::Metrics, Some(MetricsFormat::Prometheus)) => "show metrics prometheus",
        (_, Some(_)) => {
            return Err(AgentError::Usage(
                "--format is for show metrics (openmetrics or prometheus)".into(),
            ));
        }
        (ShowWhat::Environment, None) => "show environment",
        (ShowWhat::Version, None) => "show version",
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
        BoardCommand::List => board::list(),
        BoardCommand::Check { files, sdr } => board::check(files, sdr.as_deref()),
        BoardCommand::Explain { json } => board::explain(settings, *json),
        BoardCommand::Dump => board::dump(settings),
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
