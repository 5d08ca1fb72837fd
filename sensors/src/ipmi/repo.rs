//! Reading the SDR repository in chunks.
//!
//! ipmi-rs's `sdrs()` asks for each record whole (0xFF bytes); ipmi_sim and many real BMCs
//! answer 0xCA ("cannot return number of requested data bytes"). This reader reserves the
//! repository, reads each record's 5-byte header, then the body in chunks (16 bytes, halved on
//! 0xCA), re-reserves when the reservation is cancelled (0xC5), and bounds everything: at most
//! [`MAX_RECORDS`] records, [`MAX_RETRIES`] retries per record, and a record ID that repeats
//! ends the walk.

use super::{IpmiError, IpmiErrorKind, NETFN_STORAGE, Transport};

/// Get SDR Repository Info.
pub const CMD_GET_SDR_REPO_INFO: u8 = 0x20;
/// Reserve SDR Repository.
pub const CMD_RESERVE_SDR_REPO: u8 = 0x22;
/// Get SDR.
pub const CMD_GET_SDR: u8 = 0x23;
/// The most records read from one repository.
pub const MAX_RECORDS: usize = 1024;
/// Retries per record after a cancelled reservation or a shrunk chunk.
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
    let d = t.call(NETFN_STORAGE, CMD_GET_SDR_REPO_INFO, &[])?;
    if d.len() < 13 {
        return Err(IpmiError::new(
            IpmiErrorKind::Malformed,
            format!("SDR repository info is {} bytes, expected 14", d.len()),
        ));
    }
    let u32_at = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    Ok(RepoInfo {
        record_count: u16::from_le_bytes([d[1], d[2]]),
        add_timestamp: u32_at(5),
        erase_timestamp: u32_at(9),
    })
}

fn reserve(t: &mut impl Transport) -> Result<[u8; 2], IpmiError> {
    let d = t.call(NETFN_STORAGE, CMD_RESERVE_SDR_REPO, &[])?;
    match d.get(..2) {
        Some(r) => Ok([r[0], r[1]]),
        None => Err(IpmiError::new(
            IpmiErrorKind::Malformed,
            "short Reserve SDR Repository response",
        )),
    }
}

/// One Get SDR: returns (next record ID, data).
fn get_sdr(
    t: &mut impl Transport,
    res: [u8; 2],
    id: u16,
    offset: u8,
    len: u8,
) -> Result<(u16, Vec<u8>), IpmiError> {
    let [lo, hi] = id.to_le_bytes();
    let d = t.call(
        NETFN_STORAGE,
        CMD_GET_SDR,
        &[res[0], res[1], lo, hi, offset, len],
    )?;
    if d.len() < 2 {
        return Err(IpmiError::new(
            IpmiErrorKind::Malformed,
            "short Get SDR response",
        ));
    }
    Ok((u16::from_le_bytes([d[0], d[1]]), d[2..].to_vec()))
}

fn read_record(
    t: &mut impl Transport,
    res: &mut [u8; 2],
    id: u16,
    chunk: &mut u8,
) -> Result<(u16, Vec<u8>), IpmiError> {
    let mut retries = 0;
    'record: loop {
        let (next, header) = match get_sdr(t, *res, id, 0, 5) {
            Ok(v) => v,
            Err(e) if e.kind == IpmiErrorKind::Completion(0xC5) && retries < MAX_RETRIES => {
                retries += 1;
                *res = reserve(t)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if header.len() != 5 {
            return Err(IpmiError::new(
                IpmiErrorKind::Malformed,
                format!("SDR 0x{id:04x}: header is {} bytes", header.len()),
            ));
        }
        let total = 5 + usize::from(header[4]);
        let mut record = header;
        while record.len() < total {
            let offset = record.len();
            let want = (*chunk).min(u8::try_from(total - offset).unwrap_or(u8::MAX));
            let off = u8::try_from(offset).map_err(|_| {
                IpmiError::new(IpmiErrorKind::Malformed, "record longer than 255 bytes")
            })?;
            match get_sdr(t, *res, id, off, want) {
                Ok((_, part)) if !part.is_empty() && part.len() <= usize::from(want) => {
                    record.extend_from_slice(&part)
                }
                Ok(_) => {
                    return Err(IpmiError::new(
                        IpmiErrorKind::Malformed,
                        format!("SDR 0x{id:04x}: wrong chunk length"),
                    ));
                }
                Err(e) if retries < MAX_RETRIES => match e.kind {
                    IpmiErrorKind::Completion(0xC5) => {
                        retries += 1;
                        *res = reserve(t)?;
                        continue 'record;
                    }
                    IpmiErrorKind::Completion(0xCA) if *chunk > 1 => {
                        retries += 1;
                        *chunk /= 2;
                    }
                    _ => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        return Ok((next, record));
    }
}

/// Reads every record of the repository, each whole (header included).
pub fn read_all(t: &mut impl Transport) -> Result<Vec<Vec<u8>>, IpmiError> {
    let mut res = reserve(t)?;
    let mut chunk = FIRST_CHUNK;
    let mut records = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut id = 0u16;
    while id != 0xFFFF {
        if records.len() >= MAX_RECORDS || !seen.insert(id) {
            log::warn!(
                "SDR repository walk stopped at record 0x{id:04x} (loop or more than {MAX_RECORDS} records)"
            );
            break;
        }
        let (next, record) = read_record(t, &mut res, id, &mut chunk)?;
        records.push(record);
        id = next;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(netfn, NETFN_STORAGE);
            match cmd {
                CMD_RESERVE_SDR_REPO => {
                    self.reservation += 1;
                    Ok(self.reservation.to_le_bytes().to_vec())
                }
                CMD_GET_SDR => {
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
                        self.records.iter().position(|(i, _)| *i == id).unwrap()
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
                assert!(self.0 < 100, "unbounded retries");
                if cmd == CMD_RESERVE_SDR_REPO {
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
