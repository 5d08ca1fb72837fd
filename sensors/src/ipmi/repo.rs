//! Reading the SDR repository in chunks.
//!
//! ipmi-rs's `sdrs()` asks for each record whole (0xFF bytes); ipmi_sim and many real BMCs
//! answer 0xCA ("cannot return number of requested data bytes"). This reader reserves the
//! repository, reads each record's first chunk (32 bytes: the header and the start of the
//! body), then the rest in chunks (halved on 0xCA), re-reserves when the reservation is
//! cancelled (0xC5), and bounds everything: at most [`MAX_RECORDS`] records, a bounded number
//! of retries, and a record ID that repeats ends the walk. Requests go in rounds through
//! [`Transport::call_many`], so a slow link costs round trips per round, not per request
//! ([`read_all`]).

use super::command::{self, GetSdr, GetSdrRepoInfo, ReserveSdrRepo};
use super::{IpmiError, IpmiErrorKind, Transport};
/// The most records read from one repository.
pub const MAX_RECORDS: usize = 1024;
/// Retries (of a round of requests, twice this many at most in a walk) after a cancelled
/// reservation or a shrunk chunk.
pub const MAX_RETRIES: usize = 8;
const FIRST_CHUNK: u8 = 16;

/// What Get SDR Repository Info says: enough to tell whether a cache is still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoInfo {
    /// Number of records.
    pub record_count: u16,
    /// Most recent addition timestamp.
    pub add_timestamp: u32,
    /// Most recent erase timestamp.
    pub erase_timestamp: u32,
}

/// Reads the repository's info (one command).
pub fn info(t: &mut impl Transport) -> Result<RepoInfo, IpmiError> {
    command::send(t, &GetSdrRepoInfo)
}

fn reserve(t: &mut impl Transport) -> Result<[u8; 2], IpmiError> {
    command::send(t, &ReserveSdrRepo)
}

/// Records whose first chunk is asked for ahead of the chain in one round (the one the chain
/// needs next and its likely successors: record IDs are mostly consecutive).
pub const LOOKAHEAD: u16 = 8;

fn get_sdr(reservation: [u8; 2], id: u16, offset: u8, len: u8) -> GetSdr {
    GetSdr {
        reservation,
        id,
        offset,
        len,
    }
}

/// What went wrong in a round of requests, and whether the walk can go on.
enum Retry {
    /// The reservation was cancelled: reserve again.
    Reserve,
    /// The BMC cannot return that many bytes: a smaller chunk.
    Shrink,
}

/// The retry a failed request asks for, if it is one that can be retried.
fn retry_for(e: &IpmiError, chunk: u8, floor: u8) -> Option<Retry> {
    match e.kind {
        IpmiErrorKind::Completion(0xC5) => Some(Retry::Reserve),
        IpmiErrorKind::Completion(0xCA) if chunk > floor => Some(Retry::Shrink),
        _ => None,
    }
}

/// The reading state: reservation, chunk size, retries left.
struct Walk {
    res: [u8; 2],
    chunk: u8,
    retries: usize,
}

impl Walk {
    /// Applies the retries a round asked for; `Err(e)` once they are used up.
    fn retry(
        &mut self,
        t: &mut impl Transport,
        asked: Option<(Retry, IpmiError)>,
        floor: u8,
    ) -> Result<(), IpmiError> {
        let Some((what, e)) = asked else {
            return Ok(());
        };
        self.retries += 1;
        if self.retries > MAX_RETRIES * 2 {
            return Err(e);
        }
        match what {
            Retry::Reserve => self.res = reserve(t)?,
            Retry::Shrink => self.chunk = (self.chunk / 2).max(floor),
        }
        Ok(())
    }
}

/// Reads every record of the repository, each whole (header included), in as few round
/// trips as the transport allows ([`Transport::call_many`] keeps several requests in
/// flight over RMCP+):
///
/// 1. The chain: the first chunk (header and the start of the body) of the record it needs
///    next, and in the same round of the [`LOOKAHEAD`] IDs after it, which on most BMCs are
///    the records that follow; a guess that is not in the chain is never used.
/// 2. The bodies: every remaining chunk of every record at once.
///
/// A cancelled reservation (C5h) re-reserves and asks again for what failed, not from the
/// start; C Ah shrinks the chunk; both bounded. At most [`MAX_RECORDS`] records; a record
/// ID that repeats ends the walk.
pub fn read_all(t: &mut impl Transport) -> Result<Vec<Vec<u8>>, IpmiError> {
    read_all_with(t, &mut |_| {})
}

/// [`read_all`], telling `progress` how many records the walk has found after each round
/// (a long read over a slow link says it is going on: issue 35).
pub fn read_all_with(
    t: &mut impl Transport,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<u8>>, IpmiError> {
    let mut w = Walk {
        res: reserve(t)?,
        chunk: FIRST_CHUNK * 2,
        retries: 0,
    };
    let chain = walk_chain(t, &mut w, progress)?;
    read_bodies(t, &mut w, chain)
}

/// Step 1: the records in chain order, each with the ID it was asked for by and its first
/// chunk.
fn walk_chain(
    t: &mut impl Transport,
    w: &mut Walk,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<(u16, Vec<u8>)>, IpmiError> {
    // Requested ID -> (next ID, first chunk), or None: not a record.
    let mut firsts: std::collections::HashMap<u16, Option<(u16, Vec<u8>)>> = Default::default();
    let mut seen = std::collections::HashSet::new();
    let mut chain = Vec::new();
    let mut id = 0u16;
    loop {
        while id != 0xFFFF {
            let Some(known) = firsts.get(&id) else { break };
            let Some((next, first)) = known else {
                return Err(IpmiError::new(
                    IpmiErrorKind::Malformed,
                    format!("SDR 0x{id:04x}: named as the next record, but not there"),
                ));
            };
            if chain.len() >= MAX_RECORDS || !seen.insert(id) {
                log::warn!(
                    "SDR repository walk stopped at record 0x{id:04x} (loop or more than \
                     {MAX_RECORDS} records)"
                );
                return Ok(chain);
            }
            chain.push((id, first.clone()));
            id = *next;
        }
        if id == 0xFFFF {
            return Ok(chain);
        }
        progress(chain.len());
        let ids: Vec<u16> = std::iter::once(id)
            .chain((1..LOOKAHEAD).map(|k| id.wrapping_add(k)))
            .filter(|g| *g == id || (*g != 0xFFFF && !firsts.contains_key(g) && !seen.contains(g)))
            .collect();
        let commands: Vec<GetSdr> = ids.iter().map(|&i| get_sdr(w.res, i, 0, w.chunk)).collect();
        let mut asked = None;
        for (&i, r) in ids.iter().zip(command::send_many(t, &commands)) {
            match r {
                // The header (5 bytes) at least.
                Ok(c) if c.bytes.len() >= 5 => {
                    firsts.insert(i, Some((c.next, c.bytes)));
                }
                Ok(_) if i == id => {
                    return Err(IpmiError::new(
                        IpmiErrorKind::Malformed,
                        format!("SDR 0x{id:04x}: wrong chunk length"),
                    ));
                }
                Err(e) if e.needs_new_session() => return Err(e),
                Err(e) => match retry_for(&e, w.chunk, 5) {
                    Some(retry) => asked = Some((retry, e)),
                    None if i == id => return Err(e),
                    None => {
                        firsts.insert(i, None);
                    }
                },
                // A guess that answered oddly: not used.
                Ok(_) => {
                    firsts.insert(i, None);
                }
            }
        }
        w.retry(t, asked, 5)?;
    }
}

/// Step 2: every record completed from its first chunk.
fn read_bodies(
    t: &mut impl Transport,
    w: &mut Walk,
    firsts: Vec<(u16, Vec<u8>)>,
) -> Result<Vec<Vec<u8>>, IpmiError> {
    let mut records = Vec::with_capacity(firsts.len());
    let mut ids = Vec::with_capacity(firsts.len());
    for (id, mut r) in firsts {
        let total = 5 + usize::from(*r.get(4).unwrap_or(&0));
        r.truncate(total);
        records.push((r, total));
        ids.push(id);
    }
    loop {
        // (record, offset, length) of every chunk still missing.
        let mut wanted = Vec::new();
        for (k, (r, total)) in records.iter().enumerate() {
            let mut offset = r.len();
            while offset < *total {
                let len = usize::from(w.chunk).min(total - offset);
                let (Ok(o), Ok(l)) = (u8::try_from(offset), u8::try_from(len)) else {
                    return Err(IpmiError::new(
                        IpmiErrorKind::Malformed,
                        "record longer than 255 bytes",
                    ));
                };
                wanted.push((k, o, l));
                offset += len;
            }
        }
        if wanted.is_empty() {
            return Ok(records.into_iter().map(|(r, _)| r).collect());
        }
        let commands: Vec<GetSdr> = wanted
            .iter()
            .map(|&(k, o, l)| get_sdr(w.res, ids[k], o, l))
            .collect();
        let mut asked = None;
        let mut grew = false;
        for (&(k, o, _), r) in wanted.iter().zip(command::send_many(t, &commands)) {
            match r {
                Ok(c) => {
                    // Only where it continues the record (a short chunk leaves a gap that
                    // the next round asks for).
                    if records[k].0.len() == usize::from(o) {
                        records[k].0.extend_from_slice(&c.bytes);
                        grew = true;
                    }
                }
                Err(e) if e.needs_new_session() => return Err(e),
                Err(e) => match retry_for(&e, w.chunk, 1) {
                    Some(retry) => asked = Some((retry, e)),
                    None => return Err(e),
                },
            }
        }
        if !grew && asked.is_none() {
            return Err(IpmiError::new(
                IpmiErrorKind::Malformed,
                "SDR: the repository returns no more of its records",
            ));
        }
        w.retry(t, asked, 1)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::command::Command;

    /// A fake BMC holding records; it can refuse big reads and cancel reservations.
    struct FakeBmc {
        records: Vec<(u16, Vec<u8>)>,
        max_read: usize,
        cancel_once_at: Option<u16>,
        reservation: u16,
        commands: u64,
    }

    impl Transport for FakeBmc {
        fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
            self.commands += 1;
            assert_eq!(netfn, command::NETFN_STORAGE);
            match cmd {
                ReserveSdrRepo::CMD => {
                    self.reservation += 1;
                    Ok(self.reservation.to_le_bytes().to_vec())
                }
                GetSdr::CMD => {
                    let res = u16::from_le_bytes([data[0], data[1]]);
                    let id = u16::from_le_bytes([data[2], data[3]]);
                    let (offset, len) = (usize::from(data[4]), usize::from(data[5]));
                    if self.cancel_once_at == Some(id) && offset > 0 {
                        self.cancel_once_at = None;
                        self.reservation += 1;
                    }
                    if res != self.reservation {
                        return Err(IpmiError::new(IpmiErrorKind::Completion(0xC5), "get sdr"));
                    }
                    if len > self.max_read {
                        return Err(IpmiError::new(IpmiErrorKind::Completion(0xCA), "get sdr"));
                    }
                    let idx = if id == 0 {
                        0
                    } else {
                        match self.records.iter().position(|(i, _)| *i == id) {
                            Some(i) => i,
                            None => {
                                return Err(IpmiError::new(
                                    IpmiErrorKind::Completion(0xCB),
                                    "no such record",
                                ));
                            }
                        }
                    };
                    let (_, rec) = &self.records[idx];
                    let next = self.records.get(idx + 1).map_or(0xFFFF, |(i, _)| *i);
                    let mut out = next.to_le_bytes().to_vec();
                    out.extend_from_slice(&rec[offset..(offset + len).min(rec.len())]);
                    Ok(out)
                }
                _ => Err(IpmiError::new(IpmiErrorKind::Completion(0xC1), "unknown")),
            }
        }
        fn commands(&self) -> u64 {
            self.commands
        }
    }

    fn record(id: u16, body_len: u8) -> Vec<u8> {
        let mut r = vec![id as u8, (id >> 8) as u8, 0x51, 0x01, body_len];
        r.extend((0..body_len).map(|i| i.wrapping_mul(7)));
        r
    }

    fn bmc(max_read: usize) -> FakeBmc {
        FakeBmc {
            records: vec![(1, record(1, 48)), (2, record(2, 20)), (7, record(7, 60))],
            max_read,
            cancel_once_at: None,
            reservation: 0,
            commands: 0,
        }
    }

    #[test]
    fn reads_every_record_whole_in_chunks() {
        let mut b = bmc(16);
        let got = read_all(&mut b).unwrap();
        let want: Vec<Vec<u8>> = b.records.iter().map(|(_, r)| r.clone()).collect();
        assert_eq!(got, want);
    }

    /// A repository of 14 consecutive records of 57 bytes (ipmi_sim's full sensor
    /// records) read through a transport that counts rounds: the chain in two rounds of
    /// eight, the bodies in one; 3 rounds, not 14 x 2 round trips.
    #[test]
    fn a_repository_is_read_in_few_rounds() {
        let mut b = bmc(32);
        b.records = (1..=14).map(|id| (id, record(id, 52))).collect();
        let mut t = crate::ipmi::fake::Rounds {
            inner: b,
            rounds: 0,
        };
        let got = read_all(&mut t).unwrap();
        assert_eq!(got.len(), 14);
        assert!(got.iter().zip(1..).all(|(r, id)| *r == record(id, 52)));
        assert_eq!(t.rounds, 3, "rounds");
    }

    /// Issue 35: a long read says how far it is: the records found, round after round.
    #[test]
    fn a_read_tells_its_progress_round_by_round() {
        let mut b = bmc(32);
        b.records = (1..=14).map(|id| (id, record(id, 52))).collect();
        let mut seen = Vec::new();
        let got = read_all_with(&mut b, &mut |n| seen.push(n)).unwrap();
        assert_eq!(got.len(), 14);
        assert_eq!(
            seen,
            [0, 7],
            "before each round of the walk: none, then 7 found"
        );
    }

    #[test]
    fn shrinks_the_chunk_on_0xca() {
        let mut b = bmc(5);
        let got = read_all(&mut b).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], record(7, 60));
    }

    #[test]
    fn re_reserves_when_the_reservation_is_cancelled() {
        let mut b = bmc(16);
        b.cancel_once_at = Some(2);
        let got = read_all(&mut b).unwrap();
        assert_eq!(got[1], record(2, 20));
        assert_eq!(
            b.reservation, 3,
            "initial, cancelled by the BMC, re-reserved"
        );
    }

    #[test]
    fn a_bmc_that_always_cancels_is_an_error_not_a_loop() {
        struct Hostile(u64);
        impl Transport for Hostile {
            fn call(&mut self, _: u8, cmd: u8, _: &[u8]) -> Result<Vec<u8>, IpmiError> {
                self.0 += 1;
                assert!(self.0 < 200, "unbounded retries");
                if cmd == ReserveSdrRepo::CMD {
                    Ok(vec![1, 0])
                } else {
                    Err(IpmiError::new(IpmiErrorKind::Completion(0xC5), "get sdr"))
                }
            }
            fn commands(&self) -> u64 {
                self.0
            }
        }
        let e = read_all(&mut Hostile(0)).unwrap_err();
        assert_eq!(e.kind, IpmiErrorKind::Completion(0xC5));
    }

    #[test]
    fn info_parses_counts_and_timestamps() {
        struct Info;
        impl Transport for Info {
            fn call(&mut self, _: u8, _: u8, _: &[u8]) -> Result<Vec<u8>, IpmiError> {
                Ok(vec![0x51, 14, 0, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0])
            }
            fn commands(&self) -> u64 {
                0
            }
        }
        let i = info(&mut Info).unwrap();
        assert_eq!(
            i,
            RepoInfo {
                record_count: 14,
                add_timestamp: 0x0403_0201,
                erase_timestamp: 0x0807_0605
            }
        );
    }
}
