//! Settings: built-in defaults, overridden by the TOML file (`--config`), overridden by flags.
//!
//! Each setting has one parser (its `FromStr`), used both by clap for the flag and by the
//! file loader, so a value means the same in both places. File errors name
//! `file:line:column`; flag errors are usage errors naming the flag.

use crate::snmp::{AgentxAddr, NotificationList, OnOff};
use crate::syslog::SyslogUri;
use envmon_core::location::line_col;
use envmon_core::{
    Prefix,
    frame::{Facility, FrameFormat, check_hostname},
};
use serde::Deserialize;
use std::{
    error::Error,
    fmt, io,
    ops::Range,
    path::{Path, PathBuf},
    str::FromStr,
};
use toml::Spanned;

/// The BMC to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpmiUri {
    /// `file:///dev/ipmi0`: the kernel's IPMI device.
    Device(PathBuf),
    /// `rmcp://USER@HOST:PORT`: RMCP+ over UDP. The password never comes from the URI.
    Rmcp {
        /// User name.
        user: String,
        /// Host name or address.
        host: String,
        /// UDP port (623 when left out).
        port: u16,
    },
    /// `none`: no BMC.
    None,
}

impl FromStr for IpmiUri {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "none" {
            return Ok(IpmiUri::None);
        }
        if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') || path.len() < 2 {
                return Err(format!(
                    "'{s}' needs an absolute path, as in file:///dev/ipmi0"
                ));
            }
            return Ok(IpmiUri::Device(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("rmcp://") {
            // Say nothing of what follows the user: it may be a password.
            let Some((user, hostport)) = rest.split_once('@') else {
                return Err("an rmcp URI needs a user: rmcp://USER@HOST:PORT".into());
            };
            if user.contains(':') {
                return Err("an rmcp URI must not carry a password: use --ipmi-password-file or ENVMON_IPMI_PASSWORD".into());
            }
            if user.is_empty() {
                return Err("an rmcp URI needs a user: rmcp://USER@HOST:PORT".into());
            }
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h,
                    p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        format!("'{s}': the port must be a number from 1 to 65535")
                    })?,
                ),
                None => (hostport, 623),
            };
            if host.is_empty() || host.contains('/') {
                return Err(format!("'{s}': expected rmcp://USER@HOST:PORT"));
            }
            return Ok(IpmiUri::Rmcp {
                user: user.into(),
                host: host.into(),
                port,
            });
        }
        Err(format!(
            "'{}' is not an IPMI URI (expected file:///dev/ipmi0, rmcp://USER@HOST:PORT or none)",
            s.split('@').next_back().unwrap_or(s)
        ))
    }
}

impl fmt::Display for IpmiUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpmiUri::Device(p) => write!(f, "file://{}", p.display()),
            IpmiUri::Rmcp { user, host, port } => write!(f, "rmcp://{user}@{host}:{port}"),
            IpmiUri::None => f.write_str("none"),
        }
    }
}

/// What envmon does after a thermal shutdown message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ShutdownAction {
    /// Log what would have happened.
    None,
    /// Power the machine off.
    #[default]
    Poweroff,
    /// Run a program (no shell).
    Exec(PathBuf),
}

impl FromStr for ShutdownAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(ShutdownAction::None),
            "poweroff" => Ok(ShutdownAction::Poweroff),
            _ => match s.strip_prefix("exec:") {
                Some(p) if p.starts_with('/') => Ok(ShutdownAction::Exec(PathBuf::from(p))),
                Some(_) => Err(format!("'{s}': exec: needs an absolute program path")),
                None => Err(format!(
                    "unknown shutdown action '{s}' (expected none, poweroff or exec:/path/to/program)"
                )),
            },
        }
    }
}

impl fmt::Display for ShutdownAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownAction::None => f.write_str("none"),
            ShutdownAction::Poweroff => f.write_str("poweroff"),
            ShutdownAction::Exec(p) => write!(f, "exec:{}", p.display()),
        }
    }
}

/// The poll interval in milliseconds: 100 to 3 600 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalMs(pub u64);

impl FromStr for IntervalMs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<u64>() {
            Ok(n) if (100..=3_600_000).contains(&n) => Ok(IntervalMs(n)),
            _ => Err(format!(
                "interval '{s}' must be a whole number of milliseconds from 100 to 3600000"
            )),
        }
    }
}

/// A board choice: `auto`, a built-in board's name, or a board file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardChoice(pub String);

impl FromStr for BoardChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("the board must be auto, a built-in board's name or a file".into());
        }
        Ok(BoardChoice(s.to_string()))
    }
}

/// What envmon does with the BMC's System Event Log (docs/sel.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelMode {
    /// Forward each new entry to syslog.
    #[default]
    On,
    /// Leave the SEL alone.
    Off,
    /// Forward, and past the warning level archive the SEL in the state dir and clear it.
    Clear,
}

impl FromStr for SelMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(SelMode::On),
            "off" => Ok(SelMode::Off),
            "clear" => Ok(SelMode::Clear),
            _ => Err(format!("sel '{s}' must be on, off or clear")),
        }
    }
}

/// A percentage from 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percent(pub u8);

impl FromStr for Percent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<u8>() {
            Ok(n) if (1..=100).contains(&n) => Ok(Percent(n)),
            _ => Err(format!("'{s}' must be a whole percentage from 1 to 100")),
        }
    }
}

/// The query socket's group: a group name or a numeric group ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketGroup(pub String);

impl FromStr for SocketGroup {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if !s.is_empty() && s.len() <= 32 && s.chars().all(name_char) && !s.starts_with('-') {
            Ok(SocketGroup(s.to_string()))
        } else {
            Err(format!("'{s}' is not a group name or number"))
        }
    }
}

/// A host name for the HOSTNAME field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostname(pub String);

impl FromStr for Hostname {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        check_hostname(s).map(|()| Hostname(s.to_string()))
    }
}

/// The effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `--board`.
    pub board: BoardChoice,
    /// `--ipmi`.
    pub ipmi: IpmiUri,
    /// `--ipmi-password-file`.
    pub ipmi_password_file: Option<PathBuf>,
    /// `--syslog` (repeatable).
    pub syslog: Vec<SyslogUri>,
    /// `--syslog-format`.
    pub syslog_format: FrameFormat,
    /// `--facility`.
    pub facility: Facility,
    /// `--prefix`.
    pub prefix: Prefix,
    /// `--hostname`; `None` means the system's host name.
    pub hostname: Option<Hostname>,
    /// `--socket`.
    pub socket: PathBuf,
    /// `--socket-group`; `None` means the agent's own group.
    pub socket_group: Option<SocketGroup>,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// `--interval-ms`.
    pub interval_ms: IntervalMs,
    /// `--shutdown-action`.
    pub shutdown_action: ShutdownAction,
    /// `--sysfs-root`.
    pub sysfs_root: PathBuf,
    /// `--sel`.
    pub sel: SelMode,
    /// `--sel-warn-percent`.
    pub sel_warn_percent: Percent,
    /// `--agentx`: the SNMP master agent's socket; `None`: no SNMP.
    pub agentx: Option<AgentxAddr>,
    /// `--agentx-envmon-mib`: serve CISCO-ENVMON-MIB too.
    pub agentx_envmon_mib: OnOff,
    /// `--agentx-notifications`.
    pub agentx_notifications: NotificationList,
    /// `--metrics-file`: the metrics written here after each sweep (Prometheus text, for
    /// node_exporter's textfile collector); `None`: not written.
    pub metrics_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            board: BoardChoice("auto".into()),
            ipmi: IpmiUri::Device(PathBuf::from("/dev/ipmi0")),
            ipmi_password_file: None,
            syslog: vec![SyslogUri::Unix(PathBuf::from("/dev/log"))],
            syslog_format: FrameFormat::Rfc3164,
            facility: Facility::Local4,
            prefix: Prefix::Ftd,
            hostname: None,
            socket: PathBuf::from("/run/envmon/envmon.sock"),
            socket_group: None,
            state_dir: PathBuf::from("/var/lib/envmon"),
            interval_ms: IntervalMs(2000),
            shutdown_action: ShutdownAction::Poweroff,
            sysfs_root: PathBuf::from("/"),
            sel: SelMode::On,
            sel_warn_percent: Percent(80),
            agentx: None,
            agentx_envmon_mib: OnOff(true),
            agentx_notifications: NotificationList::default(),
            metrics_file: None,
        }
    }
}

/// Settings given on the command line; `None` leaves the file's or the default value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// TOML configuration file (keys mirror these flags; flags override it).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Board: auto (discover from the BMC's SDRs), a built-in board's name, or a board file.
    #[arg(long, value_name = "NAME|FILE|auto", global = true)]
    pub board: Option<BoardChoice>,
    /// BMC: file:///dev/ipmi0, rmcp://USER@HOST:PORT or none.
    #[arg(long, value_name = "URI", global = true)]
    pub ipmi: Option<IpmiUri>,
    /// File holding the RMCP+ password (else ENVMON_IPMI_PASSWORD).
    #[arg(long, value_name = "FILE", global = true)]
    pub ipmi_password_file: Option<PathBuf>,
    /// Syslog destination (repeatable): unix:///dev/log, udp://H:P, tcp://H:P, file:///p, stderr.
    #[arg(long, value_name = "URI", global = true)]
    pub syslog: Vec<SyslogUri>,
    /// Syslog frame format: rfc3164 or rfc5424.
    #[arg(long, value_name = "FORMAT", global = true)]
    pub syslog_format: Option<FrameFormat>,
    /// Syslog facility.
    #[arg(long, value_name = "NAME", global = true)]
    pub facility: Option<Facility>,
    /// Message prefix: FTD or ASA.
    #[arg(long, value_name = "FTD|ASA", global = true)]
    pub prefix: Option<Prefix>,
    /// HOSTNAME field of syslog frames (default: the system's host name).
    #[arg(long, value_name = "NAME", global = true)]
    pub hostname: Option<Hostname>,
    /// The agent's query socket.
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Group allowed to query the socket (default: the agent's own group).
    #[arg(long, value_name = "NAME|GID", global = true)]
    pub socket_group: Option<SocketGroup>,
    /// Directory for the SDR cache and shutdown records.
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Poll interval in milliseconds.
    #[arg(long, value_name = "N", global = true)]
    pub interval_ms: Option<IntervalMs>,
    /// After a thermal shutdown message: none, poweroff or exec:/path/to/program.
    #[arg(long, value_name = "ACTION", global = true)]
    pub shutdown_action: Option<ShutdownAction>,
    /// Root under which /sys is read (tests point it at a fake tree).
    #[arg(long, value_name = "DIR", global = true)]
    pub sysfs_root: Option<PathBuf>,
    /// The BMC's event log: on (forward new entries), off, or clear (forward, and past the
    /// warning level archive then clear it).
    #[arg(long, value_name = "on|off|clear", global = true)]
    pub sel: Option<SelMode>,
    /// SEL fill level that is warned about.
    #[arg(long, value_name = "PERCENT", global = true)]
    pub sel_warn_percent: Option<Percent>,
    /// SNMP: the AgentX master's socket, unix:/PATH or tcp:HOST:PORT (default: no SNMP).
    #[arg(long, value_name = "ADDR", global = true)]
    pub agentx: Option<AgentxAddr>,
    /// SNMP: serve CISCO-ENVMON-MIB's status tables too (on, the default, or off).
    #[arg(long, value_name = "on|off", global = true)]
    pub agentx_envmon_mib: Option<OnOff>,
    /// SNMP notifications to send: threshold, envmon, both (comma-separated) or none.
    #[arg(long, value_name = "LIST", global = true)]
    pub agentx_notifications: Option<NotificationList>,
    /// Write the metrics to this file after each sweep (for node_exporter's textfile
    /// collector: name it *.prom in its directory).
    #[arg(long, value_name = "PATH", global = true)]
    pub metrics_file: Option<PathBuf>,
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

/// The file's shape. Keys are the flags' names (kebab-case); snake_case is accepted too.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSettings {
    board: Option<Spanned<String>>,
    ipmi: Option<Spanned<String>>,
    #[serde(alias = "ipmi_password_file")]
    ipmi_password_file: Option<Spanned<String>>,
    syslog: Option<Vec<Spanned<String>>>,
    #[serde(alias = "syslog_format")]
    syslog_format: Option<Spanned<String>>,
    facility: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    hostname: Option<Spanned<String>>,
    socket: Option<Spanned<String>>,
    #[serde(alias = "socket_group")]
    socket_group: Option<Spanned<String>>,
    #[serde(alias = "state_dir")]
    state_dir: Option<Spanned<String>>,
    #[serde(alias = "interval_ms")]
    interval_ms: Option<Spanned<i64>>,
    #[serde(alias = "shutdown_action")]
    shutdown_action: Option<Spanned<String>>,
    #[serde(alias = "sysfs_root")]
    sysfs_root: Option<Spanned<String>>,
    sel: Option<Spanned<String>>,
    #[serde(alias = "sel_warn_percent")]
    sel_warn_percent: Option<Spanned<i64>>,
    agentx: Option<Spanned<String>>,
    #[serde(alias = "agentx_envmon_mib")]
    agentx_envmon_mib: Option<Spanned<String>>,
    #[serde(alias = "agentx_notifications")]
    agentx_notifications: Option<Vec<Spanned<String>>>,
    #[serde(alias = "metrics_file")]
    metrics_file: Option<Spanned<String>>,
}

struct Loader<'a> {
    path: &'a Path,
    text: &'a str,
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

    /// Parses a string value with the setting's own parser, locating any error.
    fn value<T: FromStr<Err = String>>(
        &self,
        key: &str,
        v: &Spanned<String>,
    ) -> Result<T, ConfigError> {
        v.get_ref().parse().map_err(|e| {
            self.error(
                ConfigErrorKind::BadValue,
                Some(v.span()),
                format!("{key}: {e}"),
            )
        })
    }

    /// A path value; relative paths are taken from the config file's directory.
    fn path_value(&self, key: &str, v: &Spanned<String>) -> Result<PathBuf, ConfigError> {
        if v.get_ref().is_empty() {
            return Err(self.error(
                ConfigErrorKind::BadValue,
                Some(v.span()),
                format!("{key}: the path is empty"),
            ));
        }
        let p = Path::new(v.get_ref());
        Ok(match self.path.parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        })
    }
}

impl Loader<'_> {
    /// `board`: `auto` and built-in names as they are; anything else is a board file, and a
    /// relative one is taken from the config file's directory like every other path.
    fn board_value(&self, v: &Spanned<String>) -> Result<BoardChoice, ConfigError> {
        let choice: BoardChoice = self.value("board", v)?;
        let name = choice.0.as_str();
        let is_name = name == "auto"
            || envmon_board_defs::BUILTIN
                .iter()
                .any(|(builtin, _)| *builtin == name);
        if is_name {
            return Ok(choice);
        }
        let path = self.path_value("board", v)?;
        Ok(BoardChoice(path.to_string_lossy().into_owned()))
    }
}

/// Reads and validates a configuration file, applying it over a copy of `base`. On any error
/// nothing is applied: the caller gets the error and keeps what it had.
pub fn apply_file(base: &Settings, path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        kind: ConfigErrorKind::Read,
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read the configuration: {e}"),
        source: Some(e),
    })?;
    apply_text(base, path, &text)
}

/// As [`apply_file`], for text already read (`path` is used in messages and for relative paths).
pub fn apply_text(base: &Settings, path: &Path, text: &str) -> Result<Settings, ConfigError> {
    let l = Loader { path, text };
    let file: FileSettings = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim_end().to_string();
        let kind = if msg.starts_with("unknown field") {
            ConfigErrorKind::UnknownKey
        } else {
            ConfigErrorKind::Syntax
        };
        l.error(kind, e.span(), msg)
    })?;
    let mut s = base.clone();
    if let Some(v) = &file.board {
        s.board = l.board_value(v)?;
    }
    if let Some(v) = &file.ipmi {
        s.ipmi = l.value("ipmi", v)?;
    }
    if let Some(v) = &file.ipmi_password_file {
        s.ipmi_password_file = Some(l.path_value("ipmi-password-file", v)?);
    }
    if let Some(list) = &file.syslog {
        s.syslog = list
            .iter()
            .map(|v| l.value("syslog", v))
            .collect::<Result<_, _>>()?;
    }
    if let Some(v) = &file.syslog_format {
        s.syslog_format = l.value("syslog-format", v)?;
    }
    if let Some(v) = &file.facility {
        s.facility = l.value("facility", v)?;
    }
    if let Some(v) = &file.prefix {
        s.prefix = l.value("prefix", v)?;
    }
    if let Some(v) = &file.hostname {
        s.hostname = Some(l.value("hostname", v)?);
    }
    if let Some(v) = &file.socket {
        s.socket = l.path_value("socket", v)?;
    }
    if let Some(v) = &file.socket_group {
        s.socket_group = Some(l.value("socket-group", v)?);
    }
    if let Some(v) = &file.state_dir {
        s.state_dir = l.path_value("state-dir", v)?;
    }
    if let Some(v) = &file.interval_ms {
        s.interval_ms = v.get_ref().to_string().parse().map_err(|e| {
            l.error(
                ConfigErrorKind::BadValue,
                Some(v.span()),
                format!("interval-ms: {e}"),
            )
        })?;
    }
    if let Some(v) = &file.shutdown_action {
        s.shutdown_action = l.value("shutdown-action", v)?;
    }
    if let Some(v) = &file.sysfs_root {
        s.sysfs_root = l.path_value("sysfs-root", v)?;
    }
    if let Some(v) = &file.sel {
        s.sel = l.value("sel", v)?;
    }
    if let Some(v) = &file.sel_warn_percent {
        s.sel_warn_percent = v.get_ref().to_string().parse().map_err(|e| {
            l.error(
                ConfigErrorKind::BadValue,
                Some(v.span()),
                format!("sel-warn-percent: {e}"),
            )
        })?;
    }
    if let Some(v) = &file.agentx {
        s.agentx = Some(l.value("agentx", v)?);
    }
    if let Some(v) = &file.agentx_envmon_mib {
        s.agentx_envmon_mib = l.value("agentx-envmon-mib", v)?;
    }
    if let Some(list) = &file.agentx_notifications {
        let mut all = NotificationList::default();
        for v in list {
            let one: NotificationList = l.value("agentx-notifications", v)?;
            all.0.threshold |= one.0.threshold;
            all.0.envmon |= one.0.envmon;
        }
        s.agentx_notifications = all;
    }
    if let Some(v) = &file.metrics_file {
        s.metrics_file = Some(l.path_value("metrics-file", v)?);
    }
    Ok(s)
}

impl SettingsArgs {
    /// Defaults, then the `--config` file if any, then these flags.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let base = match &self.config {
            Some(path) => apply_file(&Settings::default(), path)?,
            None => Settings::default(),
        };
        Ok(self.apply(base))
    }

    /// Applies the flags that were given over `s`.
    pub fn apply(&self, mut s: Settings) -> Settings {
        fn set<T: Clone>(slot: &mut T, flag: &Option<T>) {
            if let Some(v) = flag {
                *slot = v.clone();
            }
        }
        set(&mut s.board, &self.board);
        set(&mut s.ipmi, &self.ipmi);
        if self.ipmi_password_file.is_some() {
            s.ipmi_password_file.clone_from(&self.ipmi_password_file);
        }
        if !self.syslog.is_empty() {
            s.syslog.clone_from(&self.syslog);
        }
        set(&mut s.syslog_format, &self.syslog_format);
        set(&mut s.facility, &self.facility);
        set(&mut s.prefix, &self.prefix);
        if self.hostname.is_some() {
            s.hostname.clone_from(&self.hostname);
        }
        set(&mut s.socket, &self.socket);
        if self.socket_group.is_some() {
            s.socket_group.clone_from(&self.socket_group);
        }
        set(&mut s.state_dir, &self.state_dir);
        set(&mut s.interval_ms, &self.interval_ms);
        set(&mut s.shutdown_action, &self.shutdown_action);
        set(&mut s.sysfs_root, &self.sysfs_root);
        set(&mut s.sel, &self.sel);
        set(&mut s.sel_warn_percent, &self.sel_warn_percent);
        if self.agentx.is_some() {
            s.agentx.clone_from(&self.agentx);
        }
        set(&mut s.agentx_envmon_mib, &self.agentx_envmon_mib);
        set(&mut s.agentx_notifications, &self.agentx_notifications);
        if self.metrics_file.is_some() {
            s.metrics_file.clone_from(&self.metrics_file);
        }
        s
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

    #[test]
    fn every_key_is_read() {
        let s = load(
            r#"
board = "fw-2cpu"
ipmi = "rmcp://admin@127.0.0.1:9623"
ipmi-password-file = "secret"
syslog = ["udp://127.0.0.1:5514", "file:///tmp/envmon.log"]
syslog-format = "rfc5424"
facility = "local6"
prefix = "ASA"
hostname = "fw1"
socket = "/tmp/envmon.sock"
socket-group = "envmon-ops"
state_dir = "/tmp/state"
interval-ms = 500
shutdown-action = "exec:/bin/true"
sysfs-root = "/tmp/sys"
sel = "clear"
sel-warn-percent = 90
agentx = "tcp:127.0.0.1:705"
agentx-envmon-mib = "off"
agentx-notifications = ["threshold", "envmon"]
metrics-file = "metrics/envmon.prom"
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
            shutdown_action: ShutdownAction::Exec("/bin/true".into()),
            sysfs_root: PathBuf::from("/tmp/sys"),
            sel: SelMode::Clear,
            sel_warn_percent: Percent(90),
            agentx: Some(AgentxAddr::Tcp("127.0.0.1".into(), 705)),
            agentx_envmon_mib: OnOff(false),
            agentx_notifications: NotificationList(crate::snmp::mib::Notifications {
                threshold: true,
                envmon: true,
            }),
            metrics_file: Some(PathBuf::from("/etc/envmon/metrics/envmon.prom")),
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
        assert!(d.sel_warn_percent != s.sel_warn_percent && d.agentx != s.agentx);
        assert!(d.agentx_envmon_mib != s.agentx_envmon_mib);
        assert!(d.agentx_notifications != s.agentx_notifications);
        assert!(d.metrics_file != s.metrics_file);
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
