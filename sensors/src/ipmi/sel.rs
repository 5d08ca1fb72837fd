//! Reading the SEL: Get SEL Info, then only the new entries (Reserve SEL, Get SEL Entry from
//! the cursor, [`LOOKAHEAD`] entries a round), bounded per call so that a large backlog
//! never stalls a sweep. Decoding and
//! the decision of where to start are the core's ([`envmon_core::sel`]).

use super::command::{self, ClearSel, GetSelEntry, GetSelInfo, GetSelTime, ReserveSel};
use super::{IpmiError, IpmiErrorKind, Transport};
use envmon_core::sel::{SelInfo, SelPlan, SelRecord};
/// Re-reservations tried after the BMC cancels one (a new entry was added meanwhile).
const MAX_RESERVE: usize = 4;

fn malformed(e: impl std::fmt::Display) -> IpmiError {
    IpmiError::new(IpmiErrorKind::Malformed, e.to_string())
}

/// Get SEL Info (one command).
pub fn info(t: &mut impl Transport) -> Result<SelInfo, IpmiError> {
    command::send(t, &GetSelInfo)
}

/// Get SEL Time (one command): the BMC's clock as SEL timestamps count it (seconds since
/// 1970, or since its initialization below 0x20000000).
pub fn time(t: &mut impl Transport) -> Result<u32, IpmiError> {
    command::send(t, &GetSelTime)
}

fn reserve(t: &mut impl Transport) -> Result<[u8; 2], IpmiError> {
    command::send(t, &ReserveSel)
}

/// One whole entry (offset 0, all bytes), re-reserving when the reservation was cancelled.
fn get(t: &mut impl Transport, res: &mut [u8; 2], id: u16) -> Result<(u16, SelRecord), IpmiError> {
    for _ in 0..MAX_RESERVE {
        let get = GetSelEntry {
            reservation: *res,
            id,
        };
        match command::send(t, &get) {
            Ok(entry) => return Ok(entry),
            Err(e) if e.kind == IpmiErrorKind::Completion(0xC5) => *res = reserve(t)?,
            Err(e) => return Err(e),
        }
    }
    Err(IpmiError::new(
        IpmiErrorKind::Completion(0xC5),
        "Get SEL Entry: the reservation keeps being cancelled",
    ))
}

/// Entries asked for in one round: the one the chain needs next and the IDs after it (SEL
/// record IDs are mostly consecutive; a guess the chain does not reach is never used).
pub const LOOKAHEAD: u16 = 8;

/// One Get SEL Entry's outcome: the next ID and the entry.
type Entry = Result<(u16, SelRecord), IpmiError>;

/// Get SEL Entry of every ID in `ids` at once ([`Transport::call_many`]: pipelined over
/// RMCP+), re-reserving and asking again when the reservation was cancelled.
fn get_many(
    t: &mut impl Transport,
    res: &mut [u8; 2],
    ids: &[u16],
) -> Result<Vec<Entry>, IpmiError> {
    for _ in 0..MAX_RESERVE {
        let gets: Vec<GetSelEntry> = ids
            .iter()
            .map(|&id| GetSelEntry {
                reservation: *res,
                id,
            })
            .collect();
        let replies = command::send_many(t, &gets);
        let cancelled = replies
            .iter()
            .any(|r| matches!(r, Err(e) if e.kind == IpmiErrorKind::Completion(0xC5)));
        if cancelled {
            *res = reserve(t)?;
            continue;
        }
        return Ok(replies);
    }
    Err(IpmiError::new(
        IpmiErrorKind::Completion(0xC5),
        "Get SEL Entry: the reservation keeps being cancelled",
    ))
}

/// What one call read.
#[derive(Debug, Default)]
pub struct Batch {
    /// New entries, oldest first.
    pub records: Vec<SelRecord>,
    /// The SEL has more after these (read on next time, from the last one's ID).
    pub more: bool,
    /// The entry the plan resumed after is gone (the SEL wrapped or was cleared without a
    /// new erase stamp): reading started again at the first entry.
    pub restarted: bool,
}

/// How many entries, and for how long, one read goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Entries at most.
    pub entries: usize,
    /// Time at most (the entry being read is finished): a slow link reads fewer entries per
    /// sweep instead of holding the sweep up.
    pub time: std::time::Duration,
}

impl Budget {
    /// `entries` entries, however long they take.
    pub fn entries(entries: usize) -> Budget {
        Budget {
            entries,
            time: std::time::Duration::MAX,
        }
    }
}

/// Reads new entries as `plan` says, within `budget`. Record IDs that repeat end the walk
/// (a broken SEL never loops).
pub fn read_new(t: &mut impl Transport, plan: SelPlan, budget: Budget) -> Result<Batch, IpmiError> {
    let started = std::time::Instant::now();
    let mut out = Batch::default();
    let mut res = reserve(t)?;
    let mut next = match plan {
        SelPlan::Nothing => return Ok(out),
        SelPlan::FromStart => 0x0000,
        SelPlan::After(last) => match get(t, &mut res, last) {
            Ok((next, _)) => next,
            // The last entry forwarded is gone: start again from the first.
            Err(e) if e.kind == IpmiErrorKind::Completion(0xCB) => {
                out.restarted = true;
                0x0000
            }
            Err(e) => return Err(e),
        },
    };
    let mut seen = std::collections::HashSet::new();
    let mut fetched = std::collections::HashMap::new();
    while next != 0xFFFF {
        if out.records.len() >= budget.entries || started.elapsed() >= budget.time {
            out.more = true;
            break;
        }
        if !seen.insert(next) {
            log::warn!("SEL walk stopped: record 0x{next:04x} came twice");
            break;
        }
        if !fetched.contains_key(&next) {
            let left = u16::try_from(budget.entries - out.records.len()).unwrap_or(u16::MAX);
            let ids: Vec<u16> = (0..LOOKAHEAD.min(left).max(1))
                .map(|k| next.wrapping_add(k))
                .filter(|id| *id == next || (*id != 0xFFFF && !fetched.contains_key(id)))
                .collect();
            let got = get_many(t, &mut res, &ids)?;
            fetched.extend(ids.into_iter().zip(got));
        }
        let entry = fetched.remove(&next).unwrap_or_else(|| {
            Err(malformed(format!(
                "SEL entry 0x{next:04x} was not asked for"
            )))
        });
        let (after, rec) = match entry {
            Ok(r) => r,
            // An empty SEL answers "not present" for the first entry.
            Err(e) if e.kind == IpmiErrorKind::Completion(0xCB) && out.records.is_empty() => {
                break;
            }
            Err(e) => return Err(e),
        };
        out.records.push(rec);
        next = after;
    }
    Ok(out)
}

/// Clears the SEL (initiate, then wait for completion, a few polls at most).
pub fn clear(t: &mut impl Transport) -> Result<(), IpmiError> {
    let reservation = reserve(t)?;
    let mut progress = command::send(
        t,
        &ClearSel {
            reservation,
            action: 0xAA,
        },
    )?;
    for _ in 0..10 {
        if progress & 0x0f == 0x01 {
            return Ok(());
        }
        let status = ClearSel {
            reservation,
            action: 0x00,
        };
        progress = command::send(t, &status)?;
    }
    Err(malformed("Clear SEL did not complete"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::fake::FakeBmc;

    fn event(sensor_type: u8, offset: u8) -> [u8; 16] {
        envmon_core::sel::system_event_record(1_800_000_000, sensor_type, 1, 0x6f, offset)
    }

    #[test]
    fn reads_only_new_entries_in_budgeted_batches() {
        let bmc = FakeBmc::default();
        let mut t = bmc.transport();
        assert!(
            read_new(&mut t, SelPlan::FromStart, Budget::entries(10))
                .unwrap()
                .records
                .is_empty()
        );
        for i in 0..25 {
            bmc.add_sel(event(0x08, i % 4));
        }
        let first = read_new(&mut t, SelPlan::FromStart, Budget::entries(10)).unwrap();
        assert_eq!((first.records.len(), first.more), (10, true));
        let last = first.records.last().unwrap().id();
        let rest = read_new(&mut t, SelPlan::After(last), Budget::entries(100)).unwrap();
        assert_eq!((rest.records.len(), rest.more), (15, false));
        assert_eq!(rest.records[0].id(), last + 1, "in order, none skipped");
        let none = read_new(
            &mut t,
            SelPlan::After(rest.records[14].id()),
            Budget::entries(100),
        )
        .unwrap();
        assert!(none.records.is_empty());
        // The entry the cursor names is gone (cleared): read again from the first.
        bmc.clear_sel();
        bmc.add_sel(event(0x07, 1));
        let again = read_new(&mut t, SelPlan::After(25), Budget::entries(100)).unwrap();
        assert!(again.restarted);
        assert_eq!(again.records.len(), 1);
        assert_eq!(info(&mut t).unwrap().entries, 1);
    }

    /// 30 entries in rounds of eight: four rounds of Get SEL Entry, not thirty round trips;
    /// every entry once, in order.
    #[test]
    fn entries_are_read_in_rounds() {
        let bmc = FakeBmc::default();
        for i in 0..30 {
            bmc.add_sel(event(0x08, i % 4));
        }
        let mut t = crate::ipmi::fake::Rounds {
            inner: bmc.transport(),
            rounds: 0,
        };
        let all = read_new(&mut t, SelPlan::FromStart, Budget::entries(100)).unwrap();
        let ids: Vec<u16> = all.records.iter().map(SelRecord::id).collect();
        assert_eq!(ids, (1..=30).collect::<Vec<u16>>());
        assert!(!all.more);
        assert_eq!(t.rounds, 4, "rounds");
    }
}
