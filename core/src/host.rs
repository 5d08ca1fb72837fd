//! Which host the BMC manages, decided from evidence (pure): the thermal action must go to
//! the host that is hot.
//!
//! The evidence, strongest first: the kernel's IPMI device (`/dev/ipmi0`) is this host's own
//! BMC by definition; a board read through its own buses only is this host; over the network
//! (RMCP+, Redfish) the BMC's system GUID (IPMI Get System GUID; Redfish
//! `ComputerSystem.UUID`) is compared with this host's SMBIOS system UUID
//! (`/sys/class/dmi/id/product_uuid`). Where the evidence is missing the operator's setting
//! (`--host local|remote`) decides; `auto` without evidence is [`Host::Unknown`].
//!
//! GUID byte order: SMBIOS 2.6 stores the first three fields little-endian; the IPMI 2.0
//! specification (and its errata) has the whole 16 bytes reversed; many BMCs send RFC 4122
//! order. A GUID matches when any of the three readings of its bytes is the host's UUID: a
//! different machine's GUID matching by chance under one of three orders is not a concern.

use std::fmt;

/// A system UUID / GUID as its 16 bytes in RFC 4122 (text) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Parses `8-4-4-4-12` hex text (either case, surrounding space ignored); `None` for
    /// anything else, and for the all-zero and all-FF values firmware puts where it has none.
    pub fn parse(text: &str) -> Option<Uuid> {
        let t = text.trim();
        let groups: Vec<&str> = t.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lens != [8, 4, 4, 4, 12] {
            return None;
        }
        let hex: String = groups.concat();
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Uuid(out).real()
    }

    /// `Some(self)` unless it is a placeholder firmware puts where it has no UUID: every
    /// byte the same (all zeros, all FFh), or half or more of the bytes zero (AMI's
    /// `03000200-0400-0500-0006-000700080009`, shipped on many boards: two such boards must
    /// never take each other for "this machine"). A random UUID has eight zero bytes with a
    /// chance far below 1e-10.
    pub fn real(self) -> Option<Uuid> {
        let same = self.0.iter().all(|b| *b == self.0[0]);
        let zeros = self.0.iter().filter(|b| **b == 0).count();
        (!same && zeros < 8).then_some(self)
    }

    /// The three orders an IPMI Get System GUID reply's 16 bytes may be in, read as UUIDs:
    /// RFC 4122 (as sent), SMBIOS (first three fields little-endian), IPMI (all reversed).
    pub fn ipmi_readings(bytes: [u8; 16]) -> [Uuid; 3] {
        let mut smbios = bytes;
        smbios[0..4].reverse();
        smbios[4..6].reverse();
        smbios[6..8].reverse();
        let mut reversed = bytes;
        reversed.reverse();
        [Uuid(bytes), Uuid(smbios), Uuid(reversed)]
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The host the thermal action protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The machine envmon runs on.
    Local,
    /// Another machine: the one the BMC manages.
    Remote,
    /// Not known: no evidence, and the setting is `auto`.
    Unknown,
}

impl Host {
    /// `local`, `remote`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Host::Local => "local",
            Host::Remote => "remote",
            Host::Unknown => "unknown",
        }
    }
}

/// What the operator declared (`--host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// This machine.
    Local,
    /// The BMC's own host, another machine.
    Remote,
    /// From the evidence.
    Auto,
}

/// How the source reaches the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The board's own buses only (no BMC).
    OwnBuses,
    /// The kernel's IPMI device.
    KernelDevice,
    /// A BMC over the network (RMCP+ or Redfish).
    Network,
}

/// What the BMC said of the system it manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmcGuid {
    /// Not asked (no network BMC, or not yet answered).
    NotAsked,
    /// The BMC does not say (the command or property is not supported, or a placeholder).
    None,
    /// An IPMI Get System GUID reply's bytes (order unknown: see [`Uuid::ipmi_readings`]).
    Ipmi([u8; 16]),
    /// A Redfish `ComputerSystem.UUID` (text order).
    Text(Uuid),
}

/// The decision and what it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostId {
    /// The protected host.
    pub host: Host,
    /// The evidence, said plainly (for `show environment`, the JSON and `board explain`).
    pub evidence: String,
    /// Whether the evidence contradicts what was declared (said as a warning at start).
    pub contradicted: bool,
}

/// Which host the BMC manages: the evidence first, the setting where it is missing (or, when
/// they disagree, the setting, with the disagreement said).
pub fn identify(declared: Declared, reach: Reach, bmc: BmcGuid, this_host: Option<Uuid>) -> HostId {
    let (seen, why) = evidence(reach, bmc, this_host);
    let (host, contradicted) = match (declared, seen) {
        (Declared::Auto, s) => (s, false),
        (Declared::Local, s) => (Host::Local, s == Host::Remote),
        (Declared::Remote, s) => (Host::Remote, s == Host::Local),
    };
    let evidence = match (declared, contradicted) {
        (Declared::Auto, _) => why,
        (_, false) if seen == Host::Unknown => format!("declared by --host ({why})"),
        (_, false) => format!("declared by --host, and {why}"),
        (_, true) => format!("declared by --host, although {why}"),
    };
    HostId {
        host,
        evidence,
        contradicted,
    }
}

/// What the evidence alone says, and why.
fn evidence(reach: Reach, bmc: BmcGuid, this_host: Option<Uuid>) -> (Host, String) {
    match reach {
        Reach::OwnBuses => (
            Host::Local,
            "no BMC: the board's own buses are this machine's".into(),
        ),
        Reach::KernelDevice => (
            Host::Local,
            "the kernel's IPMI device is this machine's own BMC".into(),
        ),
        Reach::Network => {
            let readings: Vec<Uuid> = match bmc {
                BmcGuid::NotAsked => {
                    return (Host::Unknown, "the BMC has not been asked yet".into());
                }
                BmcGuid::None => {
                    return (
                        Host::Unknown,
                        "the BMC does not give its system's GUID".into(),
                    );
                }
                BmcGuid::Ipmi(b) => Uuid::ipmi_readings(b).to_vec(),
                BmcGuid::Text(u) => vec![u],
            };
            let shown = readings[0];
            let Some(here) = this_host else {
                return (
                    Host::Unknown,
                    format!(
                        "the BMC's system GUID is {shown}, and this machine's SMBIOS UUID \
                         cannot be read"
                    ),
                );
            };
            if readings.contains(&here) {
                (
                    Host::Local,
                    format!("the BMC's system GUID is this machine's SMBIOS UUID {here}"),
                )
            } else {
                (
                    Host::Remote,
                    format!(
                        "the BMC's system GUID {shown} is not this machine's SMBIOS UUID {here}"
                    ),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: &str = "a1234567-89ab-cdef-a123-456789abcdef";

    #[test]
    fn uuids_parse_only_as_8_4_4_4_12_hex_and_placeholders_are_none() {
        let u = Uuid::parse(&format!(" {} \n", HERE.to_uppercase())).unwrap();
        assert_eq!(u.to_string(), HERE);
        for bad in [
            "",
            "a1234567",
            "a1234567-89ab-cdef-a123-456789abcdeg",
            "a123456789abcdefa123456789abcdef",
            "a1234567-89ab-cdef-a123-456789abcdef-00",
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "03000200-0400-0500-0006-000700080009",
            "é1234567-89ab-cdef-a123-456789abcdef",
        ] {
            assert_eq!(Uuid::parse(bad), None, "{bad:?}");
        }
    }

    /// ipmi_sim's `guid a123456789abcdefa123456789abcdef` is sent as these bytes; ipmitool
    /// (IPMI encoding) prints it `efcdab89-6745-23a1-efcd-ab89674523a1`.
    #[test]
    fn an_ipmi_guid_matches_in_each_of_the_three_byte_orders() {
        let sent = Uuid::parse(HERE).unwrap().0;
        let [rfc, smbios, ipmi] = Uuid::ipmi_readings(sent);
        assert_eq!(rfc.to_string(), HERE);
        assert_eq!(smbios.to_string(), "674523a1-ab89-efcd-a123-456789abcdef");
        assert_eq!(ipmi.to_string(), "efcdab89-6745-23a1-efcd-ab89674523a1");
        for host in [rfc, smbios, ipmi] {
            let id = identify(
                Declared::Auto,
                Reach::Network,
                BmcGuid::Ipmi(sent),
                Some(host),
            );
            assert_eq!(id.host, Host::Local, "{host}");
        }
        let other = Uuid::parse("11111111-2222-3333-4444-555555555555");
        let id = identify(Declared::Auto, Reach::Network, BmcGuid::Ipmi(sent), other);
        assert_eq!(id.host, Host::Remote);
        assert!(
            id.evidence.contains("is not this machine's"),
            "{}",
            id.evidence
        );
    }

    #[test]
    fn without_evidence_auto_is_unknown_and_a_declaration_decides() {
        let here = Uuid::parse(HERE);
        for (bmc, this) in [
            (BmcGuid::None, here),
            (BmcGuid::Text(here.unwrap()), None),
            (BmcGuid::NotAsked, here),
        ] {
            let id = identify(Declared::Auto, Reach::Network, bmc, this);
            assert_eq!(id.host, Host::Unknown, "{bmc:?} {this:?}");
            let id = identify(Declared::Remote, Reach::Network, bmc, this);
            assert_eq!((id.host, id.contradicted), (Host::Remote, false));
            assert!(
                id.evidence.starts_with("declared by --host ("),
                "{}",
                id.evidence
            );
        }
        for reach in [Reach::KernelDevice, Reach::OwnBuses] {
            let id = identify(Declared::Auto, reach, BmcGuid::NotAsked, None);
            assert_eq!(id.host, Host::Local);
        }
    }

    #[test]
    fn a_declaration_the_evidence_contradicts_wins_and_says_so() {
        let here = Uuid::parse(HERE).unwrap();
        let id = identify(
            Declared::Remote,
            Reach::KernelDevice,
            BmcGuid::NotAsked,
            None,
        );
        assert_eq!((id.host, id.contradicted), (Host::Remote, true));
        assert!(
            id.evidence.contains("although the kernel's IPMI device"),
            "{}",
            id.evidence
        );
        let other = Uuid::parse("11111111-2222-3333-4444-555555555555").unwrap();
        let id = identify(
            Declared::Local,
            Reach::Network,
            BmcGuid::Text(other),
            Some(here),
        );
        assert_eq!((id.host, id.contradicted), (Host::Local, true));
        let id = identify(
            Declared::Local,
            Reach::Network,
            BmcGuid::Text(here),
            Some(here),
        );
        assert_eq!((id.host, id.contradicted), (Host::Local, false));
    }
}
