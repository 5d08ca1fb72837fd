//! Which host the source's BMC manages: the evidence gathered (this machine's SMBIOS UUID,
//! the BMC's system GUID) and handed to the pure decision (`envmon_core::host::identify`).
//! Every command gathers it here: `run` at each new session, `board explain` once.

use crate::config::{IpmiUri, Settings};
use envmon_core::host::{BmcGuid, HostId, Reach, Uuid, identify};
use envmon_sensors::{
    ipmi::{
        IpmiErrorKind, Transport,
        command::{GetSystemGuid, send},
    },
    redfish::system::System,
};
use std::path::Path;

/// Where the kernel gives this machine's SMBIOS system UUID (root-readable only).
pub const PRODUCT_UUID: &str = "sys/class/dmi/id/product_uuid";

/// This machine's SMBIOS system UUID under the sysfs root, when it can be read and is real.
pub fn this_machine(sysfs_root: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(sysfs_root.join(PRODUCT_UUID)).ok()?;
    Uuid::parse(&text)
}

/// How the settings' source reaches the board.
pub fn reach(settings: &Settings) -> Reach {
    if settings.redfish.is_some() {
        return Reach::Network;
    }
    match settings.ipmi {
        IpmiUri::None => Reach::OwnBuses,
        IpmiUri::Device(_) => Reach::KernelDevice,
        IpmiUri::Rmcp { .. } => Reach::Network,
    }
}

/// The BMC's system GUID over IPMI (Get System GUID): [`BmcGuid::None`] when the BMC does not
/// support the command (C1h, C9h, CCh, D5h, D6h), answers something malformed or sends a
/// placeholder; `Err` when the question was lost or the BMC was busy (asked again at the
/// next session).
pub fn ipmi_guid(t: &mut (impl Transport + ?Sized)) -> Result<BmcGuid, String> {
    use envmon_sensors::power::UNSUPPORTED_CODES;
    let unsupported = |k: &IpmiErrorKind| match k {
        IpmiErrorKind::Completion(c) => UNSUPPORTED_CODES.contains(c),
        IpmiErrorKind::Malformed => true,
        _ => false,
    };
    match send(t, &GetSystemGuid) {
        Ok(b) => Ok(if Uuid(b).real().is_some() {
            BmcGuid::Ipmi(b)
        } else {
            BmcGuid::None
        }),
        Err(e) if unsupported(&e.kind) => {
            log::info!("the BMC gives no system GUID: {}", e.detail);
            Ok(BmcGuid::None)
        }
        Err(e) => Err(format!("Get System GUID: {}", e.detail)),
    }
}

/// The Redfish system's UUID (none without a system or a UUID that parses).
pub fn redfish_guid(system: Option<&System>) -> BmcGuid {
    system
        .and_then(|s| s.uuid.as_deref())
        .and_then(Uuid::parse)
        .map_or(BmcGuid::None, BmcGuid::Text)
}

/// The protected host of the settings, given what the BMC said.
pub fn identify_with(settings: &Settings, bmc: BmcGuid) -> HostId {
    let reach = reach(settings);
    let here = match reach {
        Reach::Network => this_machine(&settings.sysfs_root),
        _ => None,
    };
    identify(settings.host.0, reach, bmc, here)
}
