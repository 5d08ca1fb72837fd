//! Whether an item's part is there (issue 20: `absent` needs evidence): the BMC's presence
//! sensor for an entity, and the CPU a sensor's name belongs to. Pure: the monitor reads the
//! sensors and keeps what was learned (docs/board-format.md, "Absent, unavailable,
//! unwatched").

use envmon_board_defs::{classify::words, label_for};
use envmon_core::engine::Class;
use envmon_sensors::ipmi::{reading::is_presence_sensor, sdr::SdrEntry};

/// What is known of whether an item's part is there.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Presence {
    /// Nothing yet.
    #[default]
    Unknown,
    /// There: the item read, or a presence sensor says so.
    Present,
    /// Not there, and the evidence (shown by `show environment`).
    Absent(String),
    /// No evidence either way, but taken for a part this server does not have: an item
    /// `--board auto` found that never read while its source answered cleanly, and that
    /// cannot call for a thermal shutdown (see [`may_be_unfitted`]). Why, as shown.
    NotFitted(String),
}

/// Whether an item may be taken for not fitted when it never reads: found by `--board auto`
/// (a board file's items are what the box has: they stay loud), optional, and not one the
/// protection rests on (a temperature that can call for a thermal shutdown, or the chassis
/// ambient) nor a supply's status (a supply's slot says absent through its presence bit;
/// a status that never reads stays loud; docs/board-format.md, "Absent, unavailable,
/// unwatched").
pub fn may_be_unfitted(item: &envmon_board_defs::Item) -> bool {
    let class = item.spec.class;
    item.discovered
        && item.optional
        && envmon_core::engine::ShutdownKind::for_class(class).is_none()
        && !matches!(
            class,
            Class::ChassisAmbient | Class::Psu | Class::PsuRedundancy
        )
}

/// Entity IDs that name the same kind of part (IPMI's and DCMI's codes): processor, system
/// board, air inlet.
fn same_entity(a: u8, b: u8) -> bool {
    let kind = |e: u8| match e {
        0x03 | 0x41 => 0x03,
        0x07 | 0x42 => 0x07,
        0x37 | 0x40 => 0x37,
        other => other,
    };
    kind(a) == kind(b)
}

/// The BMC's presence sensor for `entry`'s entity (same entity and instance, BMC-owned), if
/// it has one: an entity presence sensor first, then a processor's or supply's status.
pub fn presence_sensor<'a>(entry: &SdrEntry, sdrs: &'a [SdrEntry]) -> Option<&'a SdrEntry> {
    let candidates = sdrs.iter().filter(|e| {
        e.owner_id == 0x20
            && e.owner_lun == 0
            && e.number != entry.number
            && same_entity(e.entity_id, entry.entity_id)
            && e.entity_instance & 0x7f == entry.entity_instance & 0x7f
            && is_presence_sensor(e)
    });
    candidates.min_by_key(|e| match e.sensor_type {
        0x25 => 0,
        0x07 => 1,
        _ => 2,
    })
}

/// The CPU a sensor belongs to by its name (`Volt_VR_CPU1` -> `1`, the label `--board auto`
/// gives that CPU's temperature), when the name says CPU (a bare `P1` is also a rail's
/// `P1V8`).
pub fn cpu_named(entry: &SdrEntry) -> Option<String> {
    let says_cpu = words(&entry.name)
        .iter()
        .any(|w| w.contains("CPU") || w.contains("PROC") || w == "SOCKET");
    says_cpu
        .then(|| label_for(Class::CpuTemp, &entry.to_sdr_sensor()))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor(number: u8, name: &str, t: u8, rt: u8, entity: (u8, u8)) -> SdrEntry {
        SdrEntry {
            owner_id: 0x20,
            number,
            name: name.into(),
            sensor_type: t,
            reading_type: rt,
            entity_id: entity.0,
            entity_instance: entity.1,
            ..SdrEntry::default()
        }
    }

    #[test]
    fn the_presence_sensor_is_the_same_entitys_entity_presence_first() {
        // Quanta: Temp_CPU1 is DCMI processor 0x41 instance 2; CPU_1 is processor 0x03.2.
        let cpu1 = sensor(0xab, "Temp_CPU1", 0x01, 0x01, (0x41, 2));
        let sdrs = [
            sensor(0xa8, "CPU_0", 0x07, 0x6f, (0x03, 1)),
            sensor(0xa9, "CPU_1", 0x07, 0x6f, (0x03, 2)),
            cpu1.clone(),
        ];
        assert_eq!(presence_sensor(&cpu1, &sdrs).map(|e| e.number), Some(0xa9));
        // An entity presence sensor (25h) of the same entity wins over the status.
        let mut more = sdrs.to_vec();
        more.push(sensor(0x41, "Presence", 0x25, 0x6f, (0x03, 2)));
        assert_eq!(presence_sensor(&cpu1, &more).map(|e| e.number), Some(0x41));
        // Another instance is another part.
        let other = sensor(0xaa, "Temp_CPU2", 0x01, 0x01, (0x41, 3));
        assert_eq!(presence_sensor(&other, &sdrs), None);
    }

    #[test]
    fn a_name_that_says_cpu_names_it() {
        let n = |name: &str| cpu_named(&sensor(1, name, 0x02, 0x01, (0x07, 1)));
        assert_eq!(n("Volt_VR_CPU1").as_deref(), Some("1"));
        assert_eq!(n("PV_VCCP_CPU2").as_deref(), Some("2"));
        assert_eq!(n("P1V8"), None, "a rail, not CPU 1");
        assert_eq!(n("12V"), None);
    }
}
