//! Settings: built-in defaults, overridden by the TOML file (`--config`), overridden by flags.
//!
//! Each setting is described once, in the [`settings!`] table below: its field, flag and
//! file key (the same kebab-case name), value type, default, help text and how the file
//! gives it. The `Settings` struct, the clap `SettingsArgs`, the file loader and the flag
//! overlay are all made from that table, so adding a setting is one entry (ARCHITECTURE.md).
//! Each value type has one parser (its `FromStr`, in [`values`]), used for the flag and for
//! the key alike. File errors name `file:line:column` and carry a [`ConfigErrorKind`];
//! flag errors are usage errors naming the flag.

mod values;

pub use values::*;

use crate::syslog::{Backoff, SyslogConfig, SyslogUri};
use envmon_core::location::line_col;
use envmon_core::{
    Prefix,
    frame::{Facility, FrameFormat},
};
use std::{
    error::Error,
    fmt, io,
    ops::Range,
    path::{Path, PathBuf},
    str::FromStr,
};
use toml::{
    Spanned,
    de::{DeTable, DeValue},
};

/// The table every settings type is made from. Each entry:
/// `/// help` then `name: SHAPE Type = default, "VALUE_NAME", file READER;` where SHAPE is
/// `one` (always set), `maybe` (optional: `Option<Type>`) or `many` (a list: `Vec<Type>`,
/// the flag repeatable), and READER says how the file gives it ([`Loader`]'s methods).
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $shape:ident $ty:ty = $default:expr, $value_name:literal, file $reader:ident;
    )*) => {
        /// The effective settings.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Settings {
            $( $(#[doc = $doc])* pub $name: settings!(@slot $shape $ty), )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $name: $default, )* }
            }
        }

        /// Settings given on the command line; `None` (or an empty list) leaves the file's or
        /// the default value. Its flags are made from the table (`clap::Args` below).
        #[derive(Debug, Clone, Default)]
        pub struct SettingsArgs {
            /// `--config`: the TOML configuration file.
            pub config: Option<PathBuf>,
            $( $(#[doc = $doc])* pub $name: settings!(@flag $shape $ty), )*
        }

        impl clap::FromArgMatches for SettingsArgs {
            fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
                Ok(SettingsArgs {
                    config: m.get_one::<PathBuf>("config").cloned(),
                    $( $name: settings!(@get $shape $ty, m, settings!(@key $name)), )*
                })
            }
            fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
                *self = Self::from_arg_matches(m)?;
                Ok(())
            }
        }

        impl clap::Args for SettingsArgs {
            fn augment_args(cmd: clap::Command) -> clap::Command {
                cmd.arg(
                    clap::Arg::new("config")
                        .long("config")
                        .value_name("FILE")
                        .global(true)
                        .action(clap::ArgAction::Set)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("TOML configuration file (keys mirror these flags; flags override it)"),
                )
                $(
                    .arg(
                        clap::Arg::new(settings!(@key $name))
                            .long(settings!(@key $name))
                            .value_name($value_name)
                            .global(true)
                            .action(settings!(@action $shape))
                            .value_parser(clap::value_parser!($ty))
                            .help_heading(heading(settings!(@key $name)))
                            .help(with_default(
                                help_text(&[$($doc),*]),
                                settings!(@key $name),
                            )),
                    )
                )*
            }
            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                Self::augment_args(cmd)
            }
        }

        impl SettingsArgs {
            /// Applies the flags that were given over `s`.
            pub fn apply(&self, mut s: Settings) -> Settings {
                $( settings!(@overlay $shape, s.$name, self.$name); )*
                s
            }
        }

        /// Every file key (kebab-case), in the table's order.
        pub const KEYS: &[&str] = &[$( settings!(@key $name) ),*];

        impl Loader<'_> {
            /// Sets the setting `key` names from `v`; `Ok(false)` when no setting has that key.
            fn set(&self, s: &mut Settings, key: &str, v: &Val<'_>) -> Result<bool, ConfigError> {
                $(
                    if key == settings!(@key $name) {
                        s.$name = settings!(@wrap $shape, self.$reader(key, v)?);
                        return Ok(true);
                    }
                )*
                Ok(false)
            }
        }
    };
    (@slot one $ty:ty) => { $ty };
    (@slot maybe $ty:ty) => { Option<$ty> };
    (@slot many $ty:ty) => { Vec<$ty> };
    (@flag one $ty:ty) => { Option<$ty> };
    (@flag maybe $ty:ty) => { Option<$ty> };
    (@flag many $ty:ty) => { Vec<$ty> };
    (@overlay one, $slot:expr, $flag:expr) => {
        if let Some(v) = &$flag { $slot = v.clone(); }
    };
    (@overlay maybe, $slot:expr, $flag:expr) => {
        if $flag.is_some() { $slot.clone_from(&$flag); }
    };
    (@overlay many, $slot:expr, $flag:expr) => {
        if !$flag.is_empty() { $slot.clone_from(&$flag); }
    };
    (@action many) => { clap::ArgAction::Append };
    (@action $shape:ident) => { clap::ArgAction::Set };
    (@get many $ty:ty, $m:expr, $key:expr) => {
        $m.get_many::<$ty>($key).map(|v| v.cloned().collect()).unwrap_or_default()
    };
    (@get $shape:ident $ty:ty, $m:expr, $key:expr) => { $m.get_one::<$ty>($key).cloned() };
    (@wrap one, $v:expr) => { $v };
    (@wrap maybe, $v:expr) => { Some($v) };
    (@wrap many, $v:expr) => { $v };
    (@key $name:ident) => { kebab!($name) };
}

/// The source's keys (what `--ipmi` or `--redfish` reads, and where).
pub const SOURCE_KEYS: &[&str] = &[
    "ipmi",
    "ipmi-password-file",
    "ipmi-window",
    "redfish",
    "redfish-password-file",
    "redfish-ca-file",
    "redfish-fingerprint",
    "redfish-insecure",
    "state-dir",
    "sysfs-root",
];
/// The board's keys.
pub const BOARD_KEYS: &[&str] = &["board", "interval-ms", "flap-damping"];
/// The syslog frame's keys (`message --send` uses them too).
pub const SYSLOG_KEYS: &[&str] = &["syslog", "syslog-format", "facility", "prefix", "hostname"];
/// The daemon's other outputs.
pub const OUTPUT_KEYS: &[&str] = &[
    "socket",
    "socket-group",
    "sel",
    "sel-warn-percent",
    "agentx",
    "agentx-envmon-mib",
    "agentx-notifications",
    "metrics-file",
    "metrics-names",
];
/// The thermal action's keys.
pub const PROTECTION_KEYS: &[&str] = &[
    "host",
    "shutdown-action",
    "shutdown-grace-ms",
    "shutdown-confirm-readings",
    "shutdown-confirm-ms",
];

/// The groups the flags are listed in (`envmon --help`, `envmon run --help`).
pub const HEADINGS: &[(&str, &[&str])] = &[
    ("Source", SOURCE_KEYS),
    ("Board", BOARD_KEYS),
    ("Syslog", SYSLOG_KEYS),
    ("Outputs", OUTPUT_KEYS),
    ("Protection", PROTECTION_KEYS),
];

/// The heading `key` is listed under ([`HEADINGS`]).
fn heading(key: &str) -> Option<&'static str> {
    HEADINGS
        .iter()
        .find(|(_, keys)| keys.contains(&key))
        .map(|(h, _)| *h)
}

/// The settings each command uses beyond `--config` (the daemon, `run`, uses them all):
/// its help lists these only (issue 35: every command's help listed all 33). A flag still
/// means the same wherever it is given.
pub const COMMAND_KEYS: &[(&str, &[&[&str]])] = &[
    ("poll", &[SOURCE_KEYS, BOARD_KEYS]),
    ("check", &[SOURCE_KEYS, BOARD_KEYS, &["socket"]]),
    (
        "board",
        &[SOURCE_KEYS, &["board", "host", "shutdown-action"]],
    ),
    ("show", &[&["socket"]]),
    ("message", &[SYSLOG_KEYS]),
    ("catalog", &[]),
];

/// Each setting's default as the help shows it, where it has one (issue 35: no help showed
/// them). A test reads each back as a file value and finds `Settings::default()`.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("board", "auto"),
    ("ipmi", "file:///dev/ipmi0"),
    ("redfish-insecure", "off"),
    ("ipmi-window", "8"),
    ("syslog", "unix:///dev/log"),
    ("syslog-format", "rfc3164"),
    ("facility", "local4"),
    ("prefix", "FTD"),
    ("socket", "/run/envmon/envmon.sock"),
    ("state-dir", "/var/lib/envmon"),
    ("interval-ms", "2000"),
    ("host", "auto"),
    ("shutdown-grace-ms", "60000"),
    ("shutdown-confirm-readings", "3"),
    ("shutdown-confirm-ms", "2000"),
    ("flap-damping", "4/300"),
    ("sysfs-root", "/"),
    ("sel", "on"),
    ("sel-warn-percent", "80"),
    ("agentx-envmon-mib", "on"),
    ("agentx-notifications", "none"),
    ("metrics-names", "envmon"),
];

/// A flag's help with its default, when it has one.
fn with_default(help: String, key: &str) -> String {
    match DEFAULTS.iter().find(|(k, _)| *k == key) {
        Some((_, d)) => format!("{help} [default: {d}]"),
        None => help,
    }
}

/// A setting's help text from its doc lines, as clap shows a doc comment: the lines of the
/// first paragraph joined with spaces, without a final period.
fn help_text(lines: &[&str]) -> String {
    let joined = lines
        .iter()
        .map(|l| l.trim())
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    joined.strip_suffix('.').unwrap_or(&joined).to_string()
}

/// A field name as its flag and file key: `state_dir` -> `state-dir` (at compile time).
macro_rules! kebab {
    ($name:ident) => {{
        const K: &str = {
            const N: &str = stringify!($name);
            const BYTES: [u8; N.len()] = {
                let mut out = [0u8; N.len()];
                let b = N.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    out[i] = if b[i] == b'_' { b'-' } else { b[i] };
                    i += 1;
                }
                out
            };
            match std::str::from_utf8(&BYTES) {
                Ok(s) => s,
                Err(_) => N,
            }
        };
        K
    }};
}

settings! {
    /// Board: auto (discover from the BMC's SDRs), a built-in board's name, or a board file.
    board: one BoardChoice = BoardChoice("auto".into()), "NAME|FILE|auto", file board;
    /// BMC: file:///dev/ipmi0, rmcp://USER@HOST:PORT or none.
    ipmi: one IpmiUri = IpmiUri::Device(PathBuf::from("/dev/ipmi0")), "URI", file text;
    /// File holding the RMCP+ password (else ENVMON_IPMI_PASSWORD).
    ipmi_password_file: maybe PathBuf = None, "FILE", file path;
    /// A Redfish service to read instead of an IPMI BMC: http[s]://[USER@]HOST[:PORT]
    /// (docs/redfish.md).
    redfish: maybe RedfishUri = None, "URL", file text;
    /// File holding the Redfish password (else ENVMON_REDFISH_PASSWORD).
    redfish_password_file: maybe PathBuf = None, "FILE", file path;
    /// https Redfish: trust the service's certificate when one of these CAs (PEM) signed it.
    redfish_ca_file: maybe PathBuf = None, "FILE", file path;
    /// https Redfish: trust exactly the certificate with this SHA-256 fingerprint.
    redfish_fingerprint: maybe Fingerprint = None, "SHA256", file text;
    /// https Redfish: verify no certificate at all (on: logged as a warning at every start).
    redfish_insecure: one OnOff = OnOff(false), "on|off", file text;
    /// RMCP+: Get Sensor Reading requests in flight at once in a sweep (1 to 8; 1 sends them
    /// one after another).
    ipmi_window: one IpmiWindow = IpmiWindow(8), "N", file int;
    /// Syslog destination (repeatable): unix:///dev/log, udp://H:P, tcp://H:P, file:///p, stderr.
    syslog: many SyslogUri = vec![SyslogUri::Unix(PathBuf::from("/dev/log"))], "URI", file list;
    /// Syslog frame format: rfc3164 or rfc5424.
    syslog_format: one FrameFormat = FrameFormat::Rfc3164, "FORMAT", file text;
    /// Syslog facility.
    facility: one Facility = Facility::Local4, "NAME", file text;
    /// Message prefix: FTD or ASA.
    prefix: one Prefix = Prefix::Ftd, "FTD|ASA", file text;
    /// HOSTNAME field of syslog frames (default: the system's host name).
    hostname: maybe Hostname = None, "NAME", file text;
    /// The agent's query socket.
    socket: one PathBuf = PathBuf::from("/run/envmon/envmon.sock"), "PATH", file path;
    /// Group allowed to query the socket (default: the agent's own group).
    socket_group: maybe SocketGroup = None, "NAME|GID", file text;
    /// Directory for the SDR cache and shutdown records.
    state_dir: one PathBuf = PathBuf::from("/var/lib/envmon"), "DIR", file path;
    /// Poll interval in milliseconds.
    interval_ms: one IntervalMs = IntervalMs(2000), "N", file int;
    /// The host the thermal action protects: local (this machine), remote (the BMC's host,
    /// another machine) or auto (the kernel's IPMI device is this machine; over the network
    /// the BMC's system GUID against this machine's SMBIOS UUID).
    host: one HostChoice = HostChoice(envmon_core::host::Declared::Auto), "local|remote|auto", file text;
    /// After a thermal shutdown message: poweroff (this machine), bmc (the BMC powers its
    /// host off), exec:/path/to/program or none. Unset: poweroff when the BMC's host is this
    /// machine, bmc otherwise; poweroff for another host is refused.
    shutdown_action: maybe ShutdownAction = None, "ACTION", file text;
    /// bmc: the time the host gets for a soft shutdown before the BMC powers it down, in
    /// milliseconds (0 to 600000; 0: power down at once).
    shutdown_grace_ms: one GraceMs = GraceMs(60_000), "MS", file int;
    /// Fresh readings of the sensor, all at or past its shutdown threshold, that confirm a
    /// thermal shutdown before it runs (1 to 10).
    shutdown_confirm_readings: one ConfirmReadings = ConfirmReadings(3), "N", file int;
    /// The least time those readings span, in milliseconds (0 to 60000).
    shutdown_confirm_ms: one ConfirmMs = ConfirmMs(2000), "MS", file int;
    /// Flap damping per sensor: off, or CHANGES/SECONDS (past it a sensor is held at its worse
    /// state until steady for SECONDS).
    flap_damping: one FlapDamping = FlapDamping::default(), "N/SECONDS|off", file text;
    /// Root under which /sys is read (tests point it at a fake tree).
    sysfs_root: one PathBuf = PathBuf::from("/"), "DIR", file path;
    /// The BMC's event log: on (forward new entries), off, or clear (forward, and past the
    /// warning level archive then clear it).
    sel: one SelMode = SelMode::On, "on|off|clear", file text;
    /// SEL fill level that is warned about.
    sel_warn_percent: one Percent = Percent(80), "PERCENT", file int;
    /// SNMP: the AgentX master's socket, unix:/PATH or tcp:HOST:PORT (default: no SNMP).
    agentx: maybe AgentxAddr = None, "ADDR", file text;
    /// SNMP: serve CISCO-ENVMON-MIB's status tables too (on, the default, or off).
    agentx_envmon_mib: one OnOff = OnOff(true), "on|off", file text;
    /// SNMP notifications to send: threshold, envmon, both (comma-separated) or none.
    agentx_notifications: one NotificationList = NotificationList::default(), "LIST", file notifications;
    /// Write the metrics to this file after each sweep (for node_exporter's textfile
    /// collector: name it *.prom in its directory).
    metrics_file: maybe PathBuf = None, "PATH", file path;
    /// Metric names in the metrics file and `show metrics`: envmon, ipmi_exporter (the
    /// families and labels of prometheus-community's ipmi_exporter) or both.
    metrics_names: one MetricsNames = MetricsNames::Envmon, "envmon|ipmi_exporter|both", file text;
}

impl Settings {
    /// The syslog layer's settings.
    pub fn syslog_config(&self) -> SyslogConfig {
        SyslogConfig {
            destinations: self.syslog.clone(),
            format: self.syslog_format,
            facility: self.facility,
            hostname: self
                .hostname
                .as_ref()
                .map(|h| h.0.clone())
                .or_else(crate::os::sys::hostname)
                .unwrap_or_else(|| "localhost".into()),
            prefix: self.prefix,
            backoff: Backoff::default(),
        }
    }
}

/// What is wrong with a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Read,
    /// It is not valid TOML, or a value has the wrong type.
    Syntax,
    /// A key that envmon does not know.
    UnknownKey,
    /// A value of the right type that is not acceptable.
    BadValue,
}

/// A configuration error, located at `file:line:column` where possible.
#[derive(Debug)]
pub struct ConfigError {
    /// What kind of problem.
    pub kind: ConfigErrorKind,
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
    source: Option<io::Error>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.path.display(), self.message)
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Reads a file's values, locating every error at `file:line:column`.
struct Loader<'a> {
    path: &'a Path,
    text: &'a str,
}

/// A value in the file, with where it stands (array elements too).
type Val<'i> = Spanned<DeValue<'i>>;

/// A TOML value's type, for "invalid type" errors.
fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

impl Loader<'_> {
    fn error(
        &self,
        kind: ConfigErrorKind,
        span: Option<Range<usize>>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            kind,
            path: self.path.to_path_buf(),
            position: span.map(|s| line_col(self.text, s.start)),
            message,
            source: None,
        }
    }

    /// "`key`: invalid type: a ..., expected `expected`", at the value.
    fn type_error(&self, key: &str, v: &Val<'_>, expected: &str) -> ConfigError {
        self.error(
            ConfigErrorKind::Syntax,
            Some(v.span()),
            format!(
                "{key}: invalid type: {}, expected {expected}",
                type_name(v.get_ref())
            ),
        )
    }

    /// The value as a string, else a located type error.
    fn string<'v>(&self, key: &str, v: &'v Val<'_>) -> Result<&'v str, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.type_error(key, v, "a string")),
        }
    }

    /// Parses `text` with the setting's own parser, locating any error at `span`.
    fn parse<T: FromStr<Err = String>>(
        &self,
        key: &str,
        text: &str,
        span: Range<usize>,
    ) -> Result<T, ConfigError> {
        text.parse()
            .map_err(|e| self.error(ConfigErrorKind::BadValue, Some(span), format!("{key}: {e}")))
    }

    /// A string value, through the type's parser.
    fn text<T: FromStr<Err = String>>(&self, key: &str, v: &Val<'_>) -> Result<T, ConfigError> {
        self.parse(key, self.string(key, v)?, v.span())
    }

    /// An integer value (in any of TOML's radixes), through the type's parser.
    fn int<T: FromStr<Err = String>>(&self, key: &str, v: &Val<'_>) -> Result<T, ConfigError> {
        let DeValue::Integer(n) = v.get_ref() else {
            return Err(self.type_error(key, v, "an integer"));
        };
        // Decimal for the type's parser; a number past i64 goes as written (and is refused).
        let text = i64::from_str_radix(n.as_str(), n.radix())
            .map_or_else(|_| n.to_string(), |n| n.to_string());
        self.parse(key, &text, v.span())
    }

    /// An array of strings, each through the type's parser (an error names the element).
    fn list<T: FromStr<Err = String>>(
        &self,
        key: &str,
        v: &Val<'_>,
    ) -> Result<Vec<T>, ConfigError> {
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.type_error(key, v, "an array of strings"));
        };
        items.iter().map(|item| self.text(key, item)).collect()
    }

    /// `agentx-notifications`: an array of lists, merged.
    fn notifications(&self, key: &str, v: &Val<'_>) -> Result<NotificationList, ConfigError> {
        let mut all = NotificationList::default();
        for one in self.list::<NotificationList>(key, v)? {
            all.0.threshold |= one.0.threshold;
            all.0.envmon |= one.0.envmon;
        }
        Ok(all)
    }

    /// A path value; relative paths are taken from the config file's directory.
    fn path(&self, key: &str, v: &Val<'_>) -> Result<PathBuf, ConfigError> {
        let text = self.string(key, v)?;
        if text.is_empty() {
            return Err(self.error(
                ConfigErrorKind::BadValue,
                Some(v.span()),
                format!("{key}: the path is empty"),
            ));
        }
        let p = Path::new(text);
        Ok(match self.path.parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        })
    }

    /// `board`: `auto` and built-in names as they are; anything else is a board file, and a
    /// relative one is taken from the config file's directory like every other path.
    fn board(&self, key: &str, v: &Val<'_>) -> Result<BoardChoice, ConfigError> {
        let choice: BoardChoice = self.text(key, v)?;
        let name = choice.0.as_str();
        let is_name = name == "auto"
            || envmon_board_defs::BUILTIN
                .iter()
                .any(|(builtin, _)| *builtin == name);
        if is_name {
            return Ok(choice);
        }
        let path = self.path(key, v)?;
        Ok(BoardChoice(path.to_string_lossy().into_owned()))
    }
}

/// Reads and validates a configuration file, applying it over a copy of `base`. On any error
/// nothing is applied: the caller gets the error and keeps what it had.
pub fn apply_file(base: &Settings, path: &Path) -> Result<Settings, ConfigError> {
    apply_file_for(base, path, true)
}

/// [`apply_file`]; without `daemon`, as [`apply_text_for`].
pub fn apply_file_for(base: &Settings, path: &Path, daemon: bool) -> Result<Settings, ConfigError> {
    let text = envmon_board_defs::read_text_bounded(path).map_err(|e| ConfigError {
        kind: ConfigErrorKind::Read,
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read the configuration: {e}"),
        source: Some(e),
    })?;
    apply_text_for(base, path, &text, daemon)
}

/// Whether only the daemon (`envmon run`) uses `key`: no one-shot command lists it in
/// [`COMMAND_KEYS`] (the thermal action's timing, the event log, SNMP, the metrics file and
/// the socket's group; `host` and `shutdown-action` are not: `board explain` says what they
/// protect). A one-shot command reading the daemon's file does not stop on a bad value of
/// such a key (issue 35: `--config envmon.toml show environment` failed on a key it does not
/// use); `run` and its SIGHUP reload still refuse it.
pub fn daemon_only(key: &str) -> bool {
    !COMMAND_KEYS
        .iter()
        .any(|(_, groups)| groups.iter().any(|g| g.contains(&key)))
}

/// As [`apply_file`], for text already read (`path` is used in messages and for relative paths).
/// Keys are the flags' names (kebab-case); snake_case is accepted too.
pub fn apply_text(base: &Settings, path: &Path, text: &str) -> Result<Settings, ConfigError> {
    apply_text_for(base, path, text, true)
}

/// [`apply_text`]; without `daemon`, a bad value of a [`daemon_only`] key is passed over
/// (its default kept, a debug line saying so).
pub fn apply_text_for(
    base: &Settings,
    path: &Path,
    text: &str,
    daemon: bool,
) -> Result<Settings, ConfigError> {
    let l = Loader { path, text };
    // The parser's own document tree: every key, value and array element keeps its span.
    let table = DeTable::parse(text).map_err(|e| {
        l.error(
            ConfigErrorKind::Syntax,
            e.span(),
            e.message().trim_end().to_string(),
        )
    })?;
    // In the file's order, so that the first problem in it is the one reported.
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut s = base.clone();
    for (key, value) in entries {
        let name = key.get_ref().replace('_', "-");
        let set = match l.set(&mut s, &name, value) {
            Err(e) if !daemon && daemon_only(&name) => {
                log::debug!("{e} (a key of the daemon's: passed over here)");
                true
            }
            other => other?,
        };
        if !set {
            return Err(l.error(
                ConfigErrorKind::UnknownKey,
                Some(key.span()),
                format!(
                    "unknown field `{}`, expected one of `{}`",
                    key.get_ref(),
                    KEYS.join("`, `")
                ),
            ));
        }
    }
    Ok(s)
}

impl SettingsArgs {
    /// Defaults, then the `--config` file if any, then these flags (for the daemon: every
    /// key checked).
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        self.resolve_for(true)
    }

    /// [`SettingsArgs::resolve`]; without `daemon` (a one-shot command), a bad value of a
    /// [`daemon_only`] key in the file is passed over.
    pub fn resolve_for(&self, daemon: bool) -> Result<Settings, ConfigError> {
        let base = match &self.config {
            Some(path) => apply_file_for(&Settings::default(), path, daemon)?,
            None => Settings::default(),
        };
        Ok(self.apply(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        apply_text(
            &Settings::default(),
            Path::new("/etc/envmon/envmon.toml"),
            text,
        )
    }

    /// Issue 35: each default the help shows is the default: read back as a file value, it
    /// leaves `Settings::default()` as it is; a key without one has no default of its own.
    #[test]
    fn the_defaults_the_help_shows_are_the_defaults() {
        for (k, v) in DEFAULTS {
            assert!(KEYS.contains(k), "{k}");
            let text = match (v.parse::<i64>(), *k) {
                (Ok(_), _) => format!("{k} = {v}\n"),
                (_, "syslog" | "agentx-notifications") => format!("{k} = [\"{v}\"]\n"),
                _ => format!("{k} = \"{v}\"\n"),
            };
            let s = load(&text).unwrap_or_else(|e| panic!("{k}: {e}"));
            assert_eq!(s, Settings::default(), "{k} = {v} is not the default");
        }
    }

    /// Issue 35: a one-shot command passes over a bad value of a key only the daemon uses;
    /// the daemon refuses it; a bad value of a key every command uses stops both.
    #[test]
    fn one_shot_commands_pass_over_the_daemons_keys() {
        let path = Path::new("/etc/envmon/envmon.toml");
        let bad = "agentx = \"nowhere\"\nsel = \"sometimes\"\ninterval-ms = 3000\n";
        let s = apply_text_for(&Settings::default(), path, bad, false).unwrap();
        assert_eq!(s.interval_ms, IntervalMs(3000), "the rest is read");
        assert_eq!(s.agentx, None);
        let e = apply_text_for(&Settings::default(), path, bad, true).unwrap_err();
        assert!(e.to_string().contains(":1:"), "{e}");
        let both = "interval-ms = 5\n";
        assert!(apply_text_for(&Settings::default(), path, both, false).is_err());
        assert!(daemon_only("sel") && daemon_only("socket-group"));
        assert!(!daemon_only("interval-ms") && !daemon_only("shutdown-action"));
    }

    #[test]
    fn every_key_is_read() {
        let s = load(
            r#"
board = "fw-2cpu"
ipmi = "rmcp://admin@127.0.0.1:9623"
ipmi-password-file = "secret"
ipmi-window = 3
redfish = "http://admin@127.0.0.1:8000"
redfish-password-file = "rf-secret"
redfish-ca-file = "bmc-ca.pem"
redfish-fingerprint = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"
redfish-insecure = "on"
syslog = ["udp://127.0.0.1:5514", "file:///tmp/envmon.log"]
syslog-format = "rfc5424"
facility = "local6"
prefix = "ASA"
hostname = "fw1"
socket = "/tmp/envmon.sock"
socket-group = "envmon-ops"
state_dir = "/tmp/state"
interval-ms = 500
host = "remote"
shutdown-action = "exec:/bin/true"
shutdown-grace-ms = 5000
shutdown-confirm-readings = 5
shutdown-confirm-ms = 4000
flap-damping = "6/600"
sysfs-root = "/tmp/sys"
sel = "clear"
sel-warn-percent = 90
agentx = "tcp:127.0.0.1:705"
agentx-envmon-mib = "off"
agentx-notifications = ["threshold", "envmon"]
metrics-file = "metrics/envmon.prom"
metrics-names = "both"
"#,
        )
        .unwrap();
        // The whole struct: a setting the file sets but the loader drops fails here.
        let want = Settings {
            board: BoardChoice("fw-2cpu".into()),
            ipmi: IpmiUri::Rmcp {
                user: "admin".into(),
                host: "127.0.0.1".into(),
                port: 9623,
            },
            ipmi_password_file: Some(PathBuf::from("/etc/envmon/secret")),
            ipmi_window: IpmiWindow(3),
            redfish: Some(RedfishUri {
                https: false,
                user: Some("admin".into()),
                host: "127.0.0.1".into(),
                port: 8000,
            }),
            redfish_password_file: Some(PathBuf::from("/etc/envmon/rf-secret")),
            redfish_ca_file: Some(PathBuf::from("/etc/envmon/bmc-ca.pem")),
            redfish_fingerprint: Some(Fingerprint([0xAB; 32])),
            redfish_insecure: OnOff(true),
            syslog: vec![
                "udp://127.0.0.1:5514".parse().unwrap(),
                "file:///tmp/envmon.log".parse().unwrap(),
            ],
            syslog_format: FrameFormat::Rfc5424,
            facility: Facility::Local6,
            prefix: Prefix::Asa,
            hostname: Some(Hostname("fw1".into())),
            socket: PathBuf::from("/tmp/envmon.sock"),
            socket_group: Some(SocketGroup("envmon-ops".into())),
            state_dir: PathBuf::from("/tmp/state"),
            interval_ms: IntervalMs(500),
            host: HostChoice(envmon_core::host::Declared::Remote),
            shutdown_action: Some(ShutdownAction::Exec("/bin/true".into())),
            shutdown_grace_ms: GraceMs(5000),
            shutdown_confirm_readings: ConfirmReadings(5),
            shutdown_confirm_ms: ConfirmMs(4000),
            flap_damping: FlapDamping(Some(envmon_core::engine::Damping {
                max_changes: 6,
                window_ms: 600_000,
                quiet_ms: 600_000,
            })),
            sysfs_root: PathBuf::from("/tmp/sys"),
            sel: SelMode::Clear,
            sel_warn_percent: Percent(90),
            agentx: Some(AgentxAddr::Tcp("127.0.0.1".into(), 705)),
            agentx_envmon_mib: OnOff(false),
            agentx_notifications: NotificationList(crate::outputs::snmp::mib::Notifications {
                threshold: true,
                envmon: true,
            }),
            metrics_file: Some(PathBuf::from("/etc/envmon/metrics/envmon.prom")),
            metrics_names: MetricsNames::Both,
        };
        assert_eq!(s, want);
        // And every key differs from its default, so none passes by being left alone.
        let d = Settings::default();
        assert!(d.board != s.board && d.ipmi != s.ipmi && d.syslog != s.syslog);
        assert!(d.ipmi_password_file != s.ipmi_password_file && d.socket != s.socket);
        assert!(d.syslog_format != s.syslog_format && d.facility != s.facility);
        assert!(d.prefix != s.prefix && d.hostname != s.hostname && d.state_dir != s.state_dir);
        assert!(d.interval_ms != s.interval_ms && d.shutdown_action != s.shutdown_action);
        assert!(d.sysfs_root != s.sysfs_root && d.sel != s.sel);
        assert!(d.host != s.host && d.shutdown_grace_ms != s.shutdown_grace_ms);
        assert!(d.sel_warn_percent != s.sel_warn_percent && d.agentx != s.agentx);
        assert!(d.agentx_envmon_mib != s.agentx_envmon_mib);
        assert!(d.agentx_notifications != s.agentx_notifications);
        assert!(d.metrics_file != s.metrics_file && d.ipmi_window != s.ipmi_window);
        assert!(d.metrics_names != s.metrics_names);
        assert!(d.redfish != s.redfish && d.redfish_password_file != s.redfish_password_file);
        assert!(d.redfish_ca_file != s.redfish_ca_file);
        assert!(d.redfish_fingerprint != s.redfish_fingerprint);
        assert!(d.redfish_insecure != s.redfish_insecure);
        assert!(d.shutdown_confirm_readings != s.shutdown_confirm_readings);
        assert!(d.shutdown_confirm_ms != s.shutdown_confirm_ms && d.flap_damping != s.flap_damping);
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_files_directory() {
        let s = load(
            "board = \"boards/mine.toml\"\nsocket = \"run/envmon.sock\"\nstate-dir = \"state\"\n\
             sysfs-root = \"sys\"\nipmi-password-file = \"../secret\"\n",
        )
        .unwrap();
        assert_eq!(s.board, BoardChoice("/etc/envmon/boards/mine.toml".into()));
        assert_eq!(s.socket, PathBuf::from("/etc/envmon/run/envmon.sock"));
        assert_eq!(s.state_dir, PathBuf::from("/etc/envmon/state"));
        assert_eq!(s.sysfs_root, PathBuf::from("/etc/envmon/sys"));
        assert_eq!(
            s.ipmi_password_file,
            Some(PathBuf::from("/etc/envmon/../secret"))
        );
        // Names are names, absolute paths stay.
        for (v, want) in [
            ("auto", "auto"),
            ("sim-appliance", "sim-appliance"),
            ("/srv/b.toml", "/srv/b.toml"),
            ("b.toml", "/etc/envmon/b.toml"),
        ] {
            let s = load(&format!("board = \"{v}\"\n")).unwrap();
            assert_eq!(s.board, BoardChoice(want.into()), "{v}");
        }
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = load("facility = \"local6\"\nprefix = \"ASA\"\n").unwrap();
        let flags = SettingsArgs {
            prefix: Some(Prefix::Ftd),
            ..Default::default()
        };
        let s = flags.apply(file);
        assert_eq!(s.prefix, Prefix::Ftd, "flag wins");
        assert_eq!(s.facility, Facility::Local6, "file wins over default");
        assert_eq!(s.syslog_format, FrameFormat::Rfc3164, "default stays");
    }

    #[test]
    fn errors_name_line_and_column() {
        for (text, kind, pos, needle) in [
            (
                "prefix = \"ASA\"\nfacilty = \"local4\"\n",
                ConfigErrorKind::UnknownKey,
                (2, 1),
                "facilty",
            ),
            (
                "facility = \"local9\"\n",
                ConfigErrorKind::BadValue,
                (1, 12),
                "local9",
            ),
            (
                "\n\ninterval-ms = 5\n",
                ConfigErrorKind::BadValue,
                (3, 15),
                "100 to 3600000",
            ),
            (
                "interval-ms = \"fast\"\n",
                ConfigErrorKind::Syntax,
                (1, 15),
                "invalid type",
            ),
            (
                "syslog = [\"udp://h:1\", \"smtp://x\"]\n",
                ConfigErrorKind::BadValue,
                (1, 24),
                "unknown scheme",
            ),
            // An element after a comment holding a comma and a quote, in a literal string
            // with a comma: located by the parser, not by scanning the text.
            (
                "syslog = [\"udp://h:1\", # a, \"b\"\n  'smtp://x,y']\n",
                ConfigErrorKind::BadValue,
                (2, 3),
                "unknown scheme",
            ),
            (
                "interval-ms = 0x10\n",
                ConfigErrorKind::BadValue,
                (1, 15),
                "100 to 3600000",
            ),
            ("prefix = \n", ConfigErrorKind::Syntax, (1, 10), ""),
            (
                "ipmi = \"rmcp://u:hunter2@h:1\"\n",
                ConfigErrorKind::BadValue,
                (1, 8),
                "password",
            ),
        ] {
            let e = load(text).unwrap_err();
            assert_eq!(e.kind, kind, "{text}: {e}");
            assert_eq!(e.position, Some(pos), "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
            assert!(!e.to_string().contains("hunter2"), "password leaked: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("/etc/envmon/envmon.toml:{}:{}: ", pos.0, pos.1))
            );
        }
    }

    #[test]
    fn ipmi_uris() {
        assert_eq!("none".parse::<IpmiUri>(), Ok(IpmiUri::None));
        assert_eq!(
            "file:///dev/ipmi0".parse::<IpmiUri>(),
            Ok(IpmiUri::Device("/dev/ipmi0".into()))
        );
        assert_eq!(
            "rmcp://admin@bmc".parse::<IpmiUri>(),
            Ok(IpmiUri::Rmcp {
                user: "admin".into(),
                host: "bmc".into(),
                port: 623
            })
        );
        for bad in [
            "rmcp://bmc:623",
            "rmcp://@bmc",
            "rmcp://a@bmc:x",
            "file://dev",
            "ipmi0",
        ] {
            assert!(bad.parse::<IpmiUri>().is_err(), "{bad}");
        }
        let e = "rmcp://admin:s3cret@bmc".parse::<IpmiUri>().unwrap_err();
        assert!(!e.contains("s3cret"));
    }

    #[test]
    fn shutdown_actions() {
        assert_eq!("none".parse::<ShutdownAction>(), Ok(ShutdownAction::None));
        assert!("exec:relative".parse::<ShutdownAction>().is_err());
        assert!("halt".parse::<ShutdownAction>().is_err());
    }
}
