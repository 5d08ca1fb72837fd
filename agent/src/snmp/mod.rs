//! SNMP through the appliance's own snmpd: an AgentX subagent (RFC 2741). Off unless
//! `agentx` is set. It serves ENTITY-MIB, ENTITY-SENSOR-MIB, CISCO-ENTITY-SENSOR-EXT-MIB and
//! (optionally) CISCO-ENVMON-MIB from the snapshots the poll loop publishes, and sends
//! notifications for committed transitions. docs/snmp.md.
//!
//! - [`pdu`]: AgentX framing and encoding (the `agentx` crate, wrapped where it falls short);
//! - [`mib`]: the served view and the notifications, pure;
//! - [`session`]: the connection to the master, on its own thread.

pub mod mib;
pub mod pdu;
pub mod session;

use std::{fmt, path::PathBuf, str::FromStr};

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
pub struct NotificationList(pub mib::Notifications);

impl FromStr for NotificationList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut n = mib::Notifications::default();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match w {
                "threshold" => n.threshold = true,
                "envmon" => n.envmon = true,
                "none" => {}
                other => {
                    return Err(format!(
                        "'{other}' is not a notification type: threshold, envmon or none"
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

#[cfg(test)]
mod tests {
    use super::*;

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
            mib::Notifications::default()
        );
        assert!("traps".parse::<NotificationList>().is_err());
    }
}
