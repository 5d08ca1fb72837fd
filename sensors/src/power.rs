//! A host's power, as its BMC controls it: the thermal action on a remote host (the machine
//! the BMC manages, not the one envmon runs on). One narrow trait, [`HostPower`], with two
//! implementations: IPMI Chassis Control / Get Chassis Status ([`Chassis`]) and Redfish
//! `ComputerSystem.Reset` / `PowerState` ([`Reset`]). The sequence (soft, wait, hard, read
//! back) is the agent's; these only ask.

use crate::ipmi::{
    IpmiError, IpmiErrorKind, Transport,
    command::{ChassisControl, GetChassisStatus, send},
};
use crate::redfish::{Fetch, Post, RfError, RfErrorKind, system};
use std::fmt;

/// What the host is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Shut down in order (IPMI soft shutdown; Redfish `GracefulShutdown`).
    Soft,
    /// Power off now (IPMI power down; Redfish `ForceOff`).
    Hard,
}

/// Why a power request or read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerErrorKind {
    /// The BMC does not offer it (IPMI completion code C1h/CCh/D5h..., a reset type not
    /// listed, no Reset action).
    Unsupported,
    /// The BMC refused or failed it (another completion code, an HTTP error status).
    Refused,
    /// No answer (transport, session, connection).
    Unreachable,
}

/// A power request or read that failed: its kind and the BMC's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerError {
    /// Branch on this.
    pub kind: PowerErrorKind,
    /// For people: the BMC's answer.
    pub detail: String,
}

impl fmt::Display for PowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for PowerError {}

/// A host's power through its BMC.
pub trait HostPower {
    /// Whether the host's power is on now.
    fn is_on(&mut self) -> Result<bool, PowerError>;
    /// Asks for `r`; the BMC's answer when it accepted it.
    fn request(&mut self, r: Request) -> Result<String, PowerError>;
}

/// Completion codes that say "not offered" (invalid command, invalid data field, command not
/// supported in this state, parameter out of range).
pub const UNSUPPORTED_CODES: &[u8] = &[0xC1, 0xC9, 0xCC, 0xD5, 0xD6];

fn from_ipmi(e: IpmiError) -> PowerError {
    let kind = match e.kind {
        IpmiErrorKind::Completion(c) if UNSUPPORTED_CODES.contains(&c) => {
            PowerErrorKind::Unsupported
        }
        IpmiErrorKind::Completion(_) | IpmiErrorKind::Malformed => PowerErrorKind::Refused,
        IpmiErrorKind::Connect | IpmiErrorKind::Transport | IpmiErrorKind::Session => {
            PowerErrorKind::Unreachable
        }
    };
    PowerError {
        kind,
        detail: e.detail,
    }
}

/// IPMI: Chassis Control (soft shutdown 05h, power down 00h) and Get Chassis Status, over
/// the session the agent reads through.
pub struct Chassis<'a, T: Transport + ?Sized>(pub &'a mut T);

impl<T: Transport + ?Sized> HostPower for Chassis<'_, T> {
    fn is_on(&mut self) -> Result<bool, PowerError> {
        send(self.0, &GetChassisStatus).map_err(from_ipmi)
    }
    fn request(&mut self, r: Request) -> Result<String, PowerError> {
        let (c, what) = match r {
            Request::Soft => (ChassisControl::SOFT_SHUTDOWN, "soft shutdown"),
            Request::Hard => (ChassisControl::POWER_DOWN, "power down"),
        };
        send(self.0, &c).map_err(from_ipmi)?;
        Ok(format!("Chassis Control {what} (0{:X}h) accepted", c.0))
    }
}

fn from_redfish(e: RfError) -> PowerError {
    let kind = match e.kind {
        RfErrorKind::Status(400 | 404 | 405 | 501) => PowerErrorKind::Unsupported,
        RfErrorKind::Status(_)
        | RfErrorKind::NotJson
        | RfErrorKind::Missing(_)
        | RfErrorKind::WrongType(_)
        | RfErrorKind::BadPath
        | RfErrorKind::TooLarge => PowerErrorKind::Refused,
        RfErrorKind::Timeout | RfErrorKind::Io => PowerErrorKind::Unreachable,
    };
    PowerError {
        kind,
        detail: e.to_string(),
    }
}

/// Redfish: `ComputerSystem.Reset` (`GracefulShutdown`, then `ForceOff`) and the system's
/// `PowerState` read back.
pub struct Reset<'a, F: Fetch + Post> {
    /// The service's client.
    pub fetch: &'a mut F,
    /// The system, as found at start ([`system::find`]).
    pub system: system::System,
}

impl<F: Fetch + Post> HostPower for Reset<'_, F> {
    fn is_on(&mut self) -> Result<bool, PowerError> {
        let s = system::reread(self.fetch, &self.system.path).map_err(from_redfish)?;
        match s.power_state.as_deref() {
            // Powering off still draws power: on until it says Off.
            Some("Off") => Ok(false),
            Some(_) => Ok(true),
            None => Err(PowerError {
                kind: PowerErrorKind::Refused,
                detail: format!("{}: no PowerState", self.system.path),
            }),
        }
    }
    fn request(&mut self, r: Request) -> Result<String, PowerError> {
        let kind = match r {
            Request::Soft => "GracefulShutdown",
            Request::Hard => "ForceOff",
        };
        let unsupported = |detail: String| PowerError {
            kind: PowerErrorKind::Unsupported,
            detail,
        };
        let Some(target) = self.system.reset_target.clone() else {
            return Err(unsupported(format!(
                "{}: no ComputerSystem.Reset action",
                self.system.path
            )));
        };
        if !self.system.offers(kind) {
            return Err(unsupported(format!(
                "{target}: ResetType {kind} is not among {:?}",
                self.system.reset_types
            )));
        }
        let body = serde_json::json!({ "ResetType": kind });
        let status = self.fetch.post(&target, &body).map_err(from_redfish)?;
        Ok(format!("{target} ResetType {kind}: HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::fake::FakeBmc;

    #[test]
    fn ipmi_soft_shutdown_unsupported_is_told_apart_from_a_failure() {
        let bmc = FakeBmc::default();
        let mut t = bmc.transport();
        let mut c = Chassis(&mut t);
        assert_eq!(c.is_on(), Ok(true));
        let e = c.request(Request::Soft).unwrap_err();
        assert_eq!(e.kind, PowerErrorKind::Unsupported, "{e}");
        assert!(
            c.request(Request::Hard)
                .unwrap()
                .contains("power down (00h)")
        );
        assert_eq!(c.is_on(), Ok(false));
        bmc.state().power_off = false;
        bmc.state().power_control = crate::ipmi::fake::FakePower::SoftToo;
        assert!(
            c.request(Request::Soft)
                .unwrap()
                .contains("soft shutdown (05h)")
        );
        assert_eq!(c.is_on(), Ok(false));
        bmc.state()
            .fail_next
            .push_back(IpmiError::new(IpmiErrorKind::Transport, "no answer"));
        assert_eq!(
            c.request(Request::Hard).unwrap_err().kind,
            PowerErrorKind::Unreachable
        );
    }

    /// A service in memory: the system resource, and the POSTs it was sent.
    struct Service {
        power: &'static str,
        posts: Vec<(String, serde_json::Value)>,
        status: u16,
    }

    impl Fetch for Service {
        fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
            assert_eq!(path, "/redfish/v1/Systems/1");
            Ok(serde_json::json!({"PowerState": self.power}))
        }
        fn requests(&self) -> u64 {
            0
        }
    }

    impl Post for Service {
        fn post(&mut self, path: &str, body: &serde_json::Value) -> Result<u16, RfError> {
            self.posts.push((path.into(), body.clone()));
            match self.status {
                s @ 200..=299 => Ok(s),
                s => Err(RfError::new(RfErrorKind::Status(s), path)),
            }
        }
    }

    #[test]
    fn redfish_resets_with_the_types_the_service_offers() {
        let mut svc = Service {
            power: "On",
            posts: Vec::new(),
            status: 204,
        };
        let sys = system::System {
            path: "/redfish/v1/Systems/1".into(),
            uuid: None,
            power_state: Some("On".into()),
            reset_target: Some("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset".into()),
            reset_types: vec!["On".into(), "ForceOff".into()],
            last_reset: None,
        };
        let mut r = Reset {
            fetch: &mut svc,
            system: sys.clone(),
        };
        assert_eq!(r.is_on(), Ok(true));
        let e = r.request(Request::Soft).unwrap_err();
        assert_eq!(e.kind, PowerErrorKind::Unsupported, "{e}");
        assert!(
            r.request(Request::Hard)
                .unwrap()
                .ends_with("ForceOff: HTTP 204")
        );
        assert_eq!(
            svc.posts.len(),
            1,
            "nothing posted for the unsupported type"
        );
        assert_eq!(svc.posts[0].1, serde_json::json!({"ResetType": "ForceOff"}));
        svc.status = 500;
        svc.power = "Off";
        let mut r = Reset {
            fetch: &mut svc,
            system: sys,
        };
        assert_eq!(
            r.request(Request::Hard).unwrap_err().kind,
            PowerErrorKind::Refused
        );
        assert_eq!(r.is_on(), Ok(false));
    }
}
