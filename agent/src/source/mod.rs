//! Where readings come from: the settings' BMC (IPMI: the kernel device or RMCP+) or Redfish
//! service, the session the loop reads through, the BMC's figures, and the board built from
//! what the source describes.

pub mod bmc;
pub mod board;
pub mod figures;
pub mod host;
pub mod link;
pub mod redfish;
pub mod rffigures;

use crate::{
    config::{IpmiUri, Settings},
    error::AgentError,
};
use board::Described;
use envmon_board_defs::{Board, Source, redfish::RfSensor};
use envmon_sensors::{
    ipmi::{Connected, Target, sdr::SdrEntry},
    redfish::{discover::discover, http::HttpFetch, reader::RedfishReader},
};

/// The one source the settings name, its secrets read (password files, TLS trust).
#[derive(Debug)]
pub enum Chosen {
    /// No BMC (`--ipmi none` and no `--redfish`): only the board's own buses.
    Nothing,
    /// An IPMI BMC: the kernel device or RMCP+.
    Ipmi(Target),
    /// A Redfish service.
    Redfish(HttpFetch),
}

/// The source of the settings. `--redfish` replaces the BMC: given with an `--ipmi` other
/// than the default (or `none`), it is a usage error, never a silent choice.
pub fn choose(settings: &Settings) -> Result<Chosen, AgentError> {
    if settings.redfish.is_some() {
        let default_ipmi = Settings::default().ipmi;
        if settings.ipmi != default_ipmi && settings.ipmi != IpmiUri::None {
            return Err(AgentError::Usage(
                "two sources: --redfish and --ipmi name different BMCs; give one (envmon reads \
                 one source)"
                    .into(),
            ));
        }
        return match redfish::fetch(settings)? {
            Some(f) => Ok(Chosen::Redfish(f)),
            None => Ok(Chosen::Nothing),
        };
    }
    Ok(bmc::target(settings)?.map_or(Chosen::Nothing, Chosen::Ipmi))
}

/// Whether `new` names another source than `old`, or reaches it otherwise (the BMC, its
/// window, the Redfish service, its password file or TLS trust). The IPMI password file is
/// not among them: a new one only closes the session.
pub fn changed(old: &Settings, new: &Settings) -> bool {
    let key = |s: &Settings| {
        (
            s.ipmi.clone(),
            s.ipmi_window,
            s.redfish.clone(),
            s.redfish_password_file.clone(),
            s.redfish_ca_file.clone(),
            s.redfish_fingerprint,
            s.redfish_insecure,
        )
    };
    key(old) != key(new)
}

/// What a one-shot command asks of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Only to build the board: a board made from the source's sensors (`board dump`; a
    /// built-in or file board dumps without a BMC).
    ToBuild,
    /// To build the board and read its items: also a board whose items name the source's
    /// sensors (`poll`).
    ToRead,
    /// The source itself, whatever the board (`board explain`).
    Always,
}

/// A source opened once, for a one-shot command (`poll`, `board dump`, `board explain`):
/// what it describes and the connection to read it through.
#[derive(Default)]
pub struct OneShot {
    /// The IPMI session, when the source is a BMC and it was needed.
    pub ipmi: Option<Connected>,
    /// The BMC's SDR entries (IPMI).
    pub sdrs: Vec<SdrEntry>,
    /// The service's sensors (Redfish); `None` when no service was asked.
    pub redfish: Option<Vec<RfSensor>>,
    /// The service's client (Redfish), for the monitor's reader.
    pub fetch: Option<HttpFetch>,
    /// Requests the discovery took (Redfish).
    pub requests: u64,
    /// What the service says it can do (Redfish `$expand`, requests at once), for the
    /// monitor's reader.
    pub features: envmon_sensors::redfish::plan::Features,
    /// What the BMC said of the system it manages (asked for `Need::Always`).
    pub guid: Option<envmon_core::host::BmcGuid>,
}

impl OneShot {
    /// What the source describes.
    pub fn described(&self) -> Described<'_> {
        // SDRs are there exactly when a BMC was read (an empty repository is refused).
        match (&self.redfish, !self.sdrs.is_empty()) {
            (Some(s), _) => Described::Redfish(s),
            (None, true) => Described::Sdrs(&self.sdrs),
            (None, false) => Described::Nothing,
        }
    }

    /// A reader of the service for the monitor (Redfish), sharing the client.
    pub fn reader(&self) -> Option<RedfishReader> {
        self.fetch
            .as_ref()
            .map(|f| RedfishReader::new(Box::new(f.clone())).with_features(self.features))
    }
}

/// Whether `board` reads anything through `chosen` (its items name IPMI sensors or Redfish
/// URIs of that kind of source).
fn board_reads(board: &Board, chosen: &Chosen) -> bool {
    board.items.iter().any(|i| match chosen {
        Chosen::Ipmi(_) => i.source.is_ipmi(),
        Chosen::Redfish(_) => matches!(i.source, Source::Redfish(_)),
        Chosen::Nothing => false,
    })
}

/// Opens the settings' source for a one-shot command, when `need` or the board `named` asks
/// for it: connects and reads the SDRs (cached in the state dir when it is there), or
/// discovers the Redfish service.
pub fn open_once(
    settings: &Settings,
    named: Option<&Board>,
    need: Need,
) -> Result<OneShot, AgentError> {
    let chosen = choose(settings)?;
    redfish::warn_if_insecure(settings);
    let from_source = board::from_source(named);
    let needed = match need {
        Need::Always => true,
        Need::ToBuild => from_source,
        Need::ToRead => from_source || named.is_some_and(|b| board_reads(b, &chosen)),
    };
    if !needed {
        return Ok(OneShot::default());
    }
    let unavailable = |e: &dyn std::fmt::Display| AgentError::Unavailable(e.to_string());
    match chosen {
        Chosen::Nothing => Err(AgentError::Usage(if from_source {
            "--ipmi none: this board is made from the BMC's sensors".into()
        } else {
            "--ipmi none and no --redfish: there is no BMC to ask".into()
        })),
        Chosen::Ipmi(target) => {
            let mut conn = bmc::open(&target).map_err(|e| unavailable(&e))?;
            let (sdrs, _) = bmc::load_sdrs_for(&mut conn, &settings.state_dir, true)
                .map_err(|e| unavailable(&e))?;
            let guid = (need == Need::Always)
                .then(|| host::ipmi_guid(&mut conn).unwrap_or(envmon_core::host::BmcGuid::None));
            Ok(OneShot {
                ipmi: Some(conn),
                sdrs,
                guid,
                ..OneShot::default()
            })
        }
        Chosen::Redfish(mut fetch) => {
            use envmon_sensors::redfish::Fetch;
            // The service named in the error (issue 35: `/redfish/v1: Connection refused`
            // said not where).
            let found = discover(&mut fetch)
                .map_err(|e| unavailable(&format!("Redfish {}: {e}", fetch.origin())))?;
            for n in &found.notes {
                log::warn!("Redfish: {n}");
            }
            let requests = fetch.requests();
            let guid = (need == Need::Always).then(|| {
                let system = envmon_sensors::redfish::system::find(&mut fetch)
                    .ok()
                    .flatten();
                host::redfish_guid(system.as_ref())
            });
            Ok(OneShot {
                redfish: Some(found.sensors),
                requests,
                features: found.features,
                fetch: Some(fetch),
                guid,
                ..OneShot::default()
            })
        }
    }
}
