//! The settings' value types: each has one parser (its `FromStr`), used by clap for the flag
//! and by the file loader for the key, so a value means the same in both places. Errors are
//! messages for a person (clap and the loader place them); nothing branches on them.

use envmon_core::frame::check_hostname;
use std::{fmt, path::PathBuf, str::FromStr};

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

/// A Redfish service: `http[s]://[USER@]HOST[:PORT]`. The password never comes from the URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedfishUri {
    /// `https://`.
    pub https: bool,
    /// User name (none: no authentication, as a host interface or an emulator may allow).
    pub user: Option<String>,
    /// Host name or address.
    pub host: String,
    /// TCP port (80, or 443 for https, when left out).
    pub port: u16,
}

/// `redfish-fingerprint`: a certificate's SHA-256 fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl FromStr for Fingerprint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        envmon_sensors::redfish::tls::parse_fingerprint(s).map(Fingerprint)
    }
}

impl FromStr for RedfishUri {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (https, rest) = match (s.strip_prefix("https://"), s.strip_prefix("http://")) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            (None, None) => return Err("a Redfish URI is http[s]://[USER@]HOST[:PORT]".into()),
        };
        let rest = rest.trim_end_matches('/');
        // Say nothing of what precedes the host: it may be a password.
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, _)) if u.contains(':') => {
                return Err("a Redfish URI must not carry a password: use --redfish-password-file or ENVMON_REDFISH_PASSWORD".into());
            }
            Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
            Some(_) => return Err("a Redfish URI's user is empty".into()),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or("the port must be a number from 1 to 65535")?,
            ),
            None => (hostport, if https { 443 } else { 80 }),
        };
        if host.is_empty() || host.contains('/') {
            return Err("a Redfish URI is http[s]://[USER@]HOST[:PORT] (no path)".into());
        }
        Ok(RedfishUri {
            https,
            user,
            host: host.into(),
            port,
        })
    }
}

/// What envmon does after a thermal shutdown message. Unset, it follows the protected host
/// (`events::shutdown::resolve_action`): `poweroff` for this machine, `bmc` for another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ShutdownAction {
    /// Log what would have happened.
    None,
    /// Power this machine off.
    #[default]
    Poweroff,
    /// Ask the BMC to power its host off (soft shutdown, then power down after the grace).
    Bmc,
    /// Run a program (no shell).
    Exec(PathBuf),
}

impl FromStr for ShutdownAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(ShutdownAction::None),
            "poweroff" => Ok(ShutdownAction::Poweroff),
            "bmc" => Ok(ShutdownAction::Bmc),
            _ => match s.strip_prefix("exec:") {
                Some(p) if p.starts_with('/') => Ok(ShutdownAction::Exec(PathBuf::from(p))),
                Some(_) => Err(format!("'{s}': exec: needs an absolute program path")),
                None => Err(format!(
                    "unknown shutdown action '{s}' (expected none, poweroff, bmc or exec:/path/to/program)"
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
            ShutdownAction::Bmc => f.write_str("bmc"),
            ShutdownAction::Exec(p) => write!(f, "exec:{}", p.display()),
        }
    }
}

/// The command-line parser of `--ipmi` and `--redfish`: clap's own would repeat the value in its error
/// ("invalid value 'rmcp://admin:Secret@host' ..."), and a value with a password must never
/// be printed (docs/configuration.md). The error says what is wrong, not what was given.
#[derive(Debug, Clone, Copy)]
pub struct SecretUriParser<T = IpmiUri>(std::marker::PhantomData<fn() -> T>);

impl<T> clap::builder::TypedValueParser for SecretUriParser<T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg.map_or_else(|| "the URI".to_string(), |a| format!("--{}", a.get_id()));
        let fail = |why: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{flag}': {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| fail("not valid UTF-8"))?;
        text.parse().map_err(|why: String| fail(&why))
    }
}

impl clap::builder::ValueParserFactory for IpmiUri {
    type Parser = SecretUriParser<IpmiUri>;
    fn value_parser() -> Self::Parser {
        SecretUriParser(std::marker::PhantomData)
    }
}

/// The Redfish URI may carry a password too: parsed without echoing it.
impl clap::builder::ValueParserFactory for RedfishUri {
    type Parser = SecretUriParser<RedfishUri>;
    fn value_parser() -> Self::Parser {
        SecretUriParser(std::marker::PhantomData)
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

/// Where the master agent listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentxAddr {
    /// `unix:/var/agentx/master` (net-snmp's default).
    Unix(PathBuf),
    /// `tcp:HOST:PORT`.
    Tcp(String, u16),
}

impl FromStr for AgentxAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.starts_with('/') {
                return Ok(AgentxAddr::Unix(PathBuf::from(p)));
            }
            return Err(format!("'{s}': a unix socket needs an absolute path"));
        }
        if let Some(hp) = s.strip_prefix("tcp:") {
            if let Some((h, p)) = hp.rsplit_once(':') {
                let host_ok = !h.is_empty()
                    && h.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    });
                if let (true, Ok(port)) = (host_ok, p.parse::<u16>()) {
                    if port > 0 {
                        return Ok(AgentxAddr::Tcp(
                            h.trim_matches(['[', ']']).to_string(),
                            port,
                        ));
                    }
                }
            }
        }
        Err(format!(
            "'{s}' is not an AgentX master address: unix:/PATH or tcp:HOST:PORT"
        ))
    }
}

impl fmt::Display for AgentxAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentxAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            AgentxAddr::Tcp(h, p) if h.contains(':') => write!(f, "tcp:[{h}]:{p}"),
            AgentxAddr::Tcp(h, p) => write!(f, "tcp:{h}:{p}"),
        }
    }
}

/// `agentx-notifications`: a comma-separated list of `threshold`, `envmon`, or `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationList(pub Notifications);

impl FromStr for NotificationList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut n = Notifications::default();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match w {
                "threshold" => n.threshold = true,
                "envmon" => n.envmon = true,
                // The help has always said `both` (issue 35: it was then refused).
                "both" => {
                    n.threshold = true;
                    n.envmon = true;
                }
                "none" => {}
                other => {
                    return Err(format!(
                        "'{other}' is not a notification type: threshold, envmon, both or none"
                    ));
                }
            }
        }
        Ok(NotificationList(n))
    }
}

/// `agentx-envmon-mib`: `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnOff(pub bool);

impl FromStr for OnOff {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(OnOff(true)),
            "off" => Ok(OnOff(false)),
            _ => Err(format!("'{s}' must be on or off")),
        }
    }
}

/// `metrics-names`: which names the metrics file and `show metrics` carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricsNames {
    /// envmon's own (`envmon_*`).
    #[default]
    Envmon,
    /// prometheus-community ipmi_exporter's (`ipmi_*`, docs/prometheus.md).
    IpmiExporter,
    /// Both.
    Both,
}

impl MetricsNames {
    /// Whether envmon's own families are written.
    pub fn envmon(self) -> bool {
        self != MetricsNames::IpmiExporter
    }
    /// Whether ipmi_exporter's families are written.
    pub fn ipmi_exporter(self) -> bool {
        self != MetricsNames::Envmon
    }
}

impl FromStr for MetricsNames {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "envmon" => Ok(MetricsNames::Envmon),
            "ipmi_exporter" => Ok(MetricsNames::IpmiExporter),
            "both" => Ok(MetricsNames::Both),
            _ => Err(format!("'{s}' must be envmon, ipmi_exporter or both")),
        }
    }
}

/// Which notifications are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notifications {
    /// ceSensorExtThresholdNotification.
    pub threshold: bool,
    /// The CISCO-ENVMON-MIB *StatusChangeNotif (only with the ENVMON view).
    pub envmon: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 35: `both`, as the help says, is threshold and envmon.
    #[test]
    fn notification_lists_take_both() {
        let n = |s: &str| {
            s.parse::<NotificationList>()
                .map(|l| (l.0.threshold, l.0.envmon))
        };
        assert_eq!(n("both"), Ok((true, true)));
        assert_eq!(n("threshold,envmon"), Ok((true, true)));
        assert_eq!(n("envmon"), Ok((false, true)));
        assert_eq!(n("none"), Ok((false, false)));
        assert!(n("all").is_err());
    }

    #[test]
    fn addresses_parse_and_print_back() {
        for s in [
            "unix:/var/agentx/master",
            "tcp:127.0.0.1:705",
            "tcp:[::1]:705",
            "tcp:snmp-host:1705",
        ] {
            let a: AgentxAddr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        for bad in [
            "",
            "unix:rel/path",
            "tcp:127.0.0.1",
            "tcp::705",
            "tcp:h:0",
            "udp:1.2.3.4:705",
            "tcp:a b:705",
        ] {
            assert!(bad.parse::<AgentxAddr>().is_err(), "{bad}");
        }
        let n: NotificationList = "threshold, envmon".parse().unwrap();
        assert_eq!((n.0.threshold, n.0.envmon), (true, true));
        assert_eq!(
            "none".parse::<NotificationList>().unwrap().0,
            Notifications::default()
        );
        assert!("traps".parse::<NotificationList>().is_err());
    }
}

/// A whole number from `lo` to `hi` (`'{s}' must be a whole number of WHAT from LO to HI`
/// otherwise): the one parser of the bounded counts and times.
fn whole_in<T>(s: &str, lo: T, hi: T, what: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
{
    match s.parse::<T>() {
        Ok(n) if n >= lo && n <= hi => Ok(n),
        _ => Err(format!(
            "'{s}' must be a whole number of {what} from {lo} to {hi}"
        )),
    }
}

/// How many fresh readings confirm a thermal shutdown before it is run: 1 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmReadings(pub u8);

impl FromStr for ConfirmReadings {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        whole_in(s, 1, 10, "readings").map(ConfirmReadings)
    }
}

/// RMCP+ requests in flight at once: 1 to 8 (docs/performance.md says why 8 is the most and
/// the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpmiWindow(pub u8);

impl FromStr for IpmiWindow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        whole_in(s, 1, 8, "requests").map(IpmiWindow)
    }
}

/// The least time the confirming readings of a thermal shutdown span, milliseconds: 0 to
/// 60000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmMs(pub u64);

impl FromStr for ConfirmMs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        whole_in(s, 0, 60_000, "milliseconds").map(ConfirmMs)
    }
}

/// Which host the thermal action protects (`--host`): local, remote or auto (from the
/// evidence: envmon_core::host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostChoice(pub envmon_core::host::Declared);

/// `--host`'s names, once for the parser and the printer.
const HOSTS: [(&str, envmon_core::host::Declared); 3] = [
    ("local", envmon_core::host::Declared::Local),
    ("remote", envmon_core::host::Declared::Remote),
    ("auto", envmon_core::host::Declared::Auto),
];

impl FromStr for HostChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        HOSTS
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, d)| HostChoice(*d))
            .ok_or_else(|| format!("unknown host '{s}' (expected local, remote or auto)"))
    }
}

impl fmt::Display for HostChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = HOSTS
            .iter()
            .find(|(_, d)| *d == self.0)
            .map_or("auto", |(n, _)| n);
        f.write_str(name)
    }
}

/// How long a remote host gets for its soft shutdown before the BMC powers it down,
/// milliseconds: 0 to 600000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraceMs(pub u64);

impl FromStr for GraceMs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        whole_in(s, 0, 600_000, "milliseconds").map(GraceMs)
    }
}

/// Flap damping: `off`, or `CHANGES/SECONDS` (at most CHANGES state changes per SECONDS per
/// sensor; a sensor past it is held at its worse state until steady for SECONDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapDamping(pub Option<envmon_core::engine::Damping>);

impl Default for FlapDamping {
    fn default() -> Self {
        FlapDamping(Some(envmon_core::engine::Damping::default()))
    }
}

impl FromStr for FlapDamping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "off" {
            return Ok(FlapDamping(None));
        }
        let max = envmon_core::engine::MAX_DAMP_CHANGES;
        let parsed = s
            .split_once('/')
            .and_then(|(n, secs)| Some((n.parse::<u8>().ok()?, secs.parse::<u64>().ok()?)));
        match parsed {
            Some((n, secs))
                if (1..=max).contains(&usize::from(n)) && (10..=86_400).contains(&secs) =>
            {
                Ok(FlapDamping(Some(envmon_core::engine::Damping {
                    max_changes: n,
                    window_ms: secs * 1000,
                    quiet_ms: secs * 1000,
                })))
            }
            _ => Err(format!(
                "flap damping '{s}' must be off or CHANGES/SECONDS: 1 to {max} changes per 10 to 86400 seconds"
            )),
        }
    }
}
