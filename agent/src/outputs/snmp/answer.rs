//! The subagent's answers, pure: what a Get, GetNext or GetBulk from the master gets from a
//! [`Mib`] view, and when a newer snapshot may replace the view (a walk sees one snapshot).
//! session.rs does the I/O and the thread around these.

use super::{
    mib::Mib,
    pdu::{self, Pdu, Range},
};
use agentx::encodings::{Value, VarBind};
use std::time::Duration;

/// A view is kept this long at most while a client keeps getting (never walking).
pub const VIEW_MAX_AGE: Duration = Duration::from_secs(10);
/// A response carries at most this many varbinds (a request for more gets `tooBig`).
pub const MAX_BULK: usize = 1024;

/// Whether a newer snapshot may replace `view` before answering `p`, so that a walk sees one
/// snapshot: a walk goes on from the last OID it was given, which is a row of the view;
/// one that starts (from a table, a column, or any OID that is no row) may get a new view.
/// After a second without requests any request may; a client that only gets (never walks)
/// gets a new view once the one in use is ten seconds old.
pub fn may_refresh(view: &Mib, p: &Pdu, idle: bool, age: Duration) -> bool {
    let is_row = |o: &Vec<u32>| {
        view.rows()
            .binary_search_by(|(r, _)| r.as_slice().cmp(o))
            .is_ok()
    };
    idle || match p {
        Pdu::GetNext(_, ranges) | Pdu::GetBulk { ranges, .. } => {
            ranges.iter().any(|r| !is_row(&r.start))
        }
        Pdu::Get(..) => age >= VIEW_MAX_AGE,
        _ => false,
    }
}

fn next_of(view: &Mib, r: &Range) -> VarBind {
    match view.next(r) {
        Some((o, v)) => pdu::vb(&o, v),
        None => pdu::vb(&r.start, Value::EndOfMibView),
    }
}

fn bulk(view: &Mib, non_repeaters: u16, max_repetitions: u16, ranges: &[Range]) -> Vec<VarBind> {
    let n = usize::from(non_repeaters).min(ranges.len());
    let mut out: Vec<VarBind> = ranges[..n].iter().map(|r| next_of(view, r)).collect();
    let mut cursors: Vec<Range> = ranges[n..].to_vec();
    for _ in 0..max_repetitions {
        if cursors.is_empty() || out.len() >= MAX_BULK {
            break;
        }
        let mut all_done = true;
        for c in &mut cursors {
            if out.len() >= MAX_BULK {
                return out;
            }
            match view.next(c) {
                Some((o, v)) => {
                    all_done = false;
                    out.push(pdu::vb(&o, v));
                    c.start = o;
                    c.include = false;
                }
                None => out.push(pdu::vb(&c.start, Value::EndOfMibView)),
            }
        }
        if all_done {
            break;
        }
    }
    out
}

/// The answer to a PDU from the master, from `view` (pure). `None`: none is due (a
/// cleanup, a close, a response to one of ours).
pub fn answer(view: &Mib, p: &Pdu) -> Option<Vec<u8>> {
    let too_many = match p {
        Pdu::Get(_, r) | Pdu::GetNext(_, r) | Pdu::GetBulk { ranges: r, .. } => r.len() > MAX_BULK,
        _ => false,
    };
    if let (true, Pdu::Get(ids, _) | Pdu::GetNext(ids, _) | Pdu::GetBulk { ids, .. }) =
        (too_many, p)
    {
        return Some(pdu::response(*ids, pdu::TOO_BIG, 0, vec![]));
    }
    Some(match p {
        Pdu::Get(ids, ranges) => {
            let vbs = ranges
                .iter()
                .map(|r| pdu::vb(&r.start, view.get(&r.start)))
                .collect();
            pdu::response(*ids, 0, 0, vbs)
        }
        Pdu::GetNext(ids, ranges) => pdu::response(
            *ids,
            0,
            0,
            ranges.iter().map(|r| next_of(view, r)).collect(),
        ),
        Pdu::GetBulk {
            ids,
            non_repeaters,
            max_repetitions,
            ranges,
        } => pdu::response(
            *ids,
            0,
            0,
            bulk(view, *non_repeaters, *max_repetitions, ranges),
        ),
        // Everything envmon serves is read-only.
        Pdu::TestSet(ids) => pdu::response(*ids, pdu::NOT_WRITABLE, 1, vec![]),
        Pdu::SetPhase(_, agentx::pdu::Type::CleanupSet) => return None,
        Pdu::SetPhase(ids, _) | Pdu::Other(ids, _) => pdu::response(*ids, pdu::GEN_ERR, 0, vec![]),
        Pdu::Close(_) | Pdu::Response { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, ItemSource, Shown};
    use crate::outputs::snmp::mib::Inputs;
    use crate::outputs::snmp::pdu::Ids;
    use envmon_core::engine::{Class, Limits, State};

    #[test]
    fn a_walk_keeps_its_view_and_a_new_walk_gets_a_new_one() {
        let rows = [Item {
            id: "fan1".into(),
            label: "1".into(),
            class: Class::Fan,
            limits: Limits::Fan {
                min_rpm: Some(1000.0),
            },
            value: Some(5000.0),
            state: Shown::Is(State::Ok),
            age_ms: Some(1),
            source: ItemSource {
                board: "ipmi:FAN1".into(),
                number: Some(7),
                sdr: Some("FAN1".into()),
            },
            sdr: None,
            unit: "RPM".into(),
            why: None,
        }];
        let view = Mib::build(&Inputs {
            board: "b",
            sensors: &rows,
            power: &[],
            interval_ms: 1000,
            uptime_cs: 0,
            envmon_view: true,
            threshold_notifications: false,
        });
        let ids = Ids {
            session: 1,
            transaction: 1,
            packet: 1,
        };
        let next = |start: Vec<u32>| {
            Pdu::GetNext(
                ids,
                vec![Range {
                    start,
                    include: false,
                    end: vec![],
                }],
            )
        };
        let row = view.rows()[3].0.clone();
        let fresh = Duration::from_millis(10);
        assert!(
            !may_refresh(&view, &next(row.clone()), false, fresh),
            "mid-walk"
        );
        assert!(
            !may_refresh(&view, &next(row.clone()), false, Duration::from_secs(60)),
            "mid-walk, however old"
        );
        assert!(
            may_refresh(&view, &next(vec![1, 3, 6, 1, 4, 1, 9, 9, 13]), false, fresh),
            "a walk starts"
        );
        assert!(
            may_refresh(&view, &next(row.clone()), true, fresh),
            "after a pause"
        );
        let get = Pdu::Get(
            ids,
            vec![Range {
                start: row,
                include: true,
                end: vec![],
            }],
        );
        assert!(!may_refresh(&view, &get, false, fresh));
        assert!(may_refresh(&view, &get, false, VIEW_MAX_AGE));
    }
}
