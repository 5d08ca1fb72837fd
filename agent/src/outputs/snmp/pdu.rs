//! AgentX PDUs on the wire (RFC 2741 section 6). The `agentx` crate encodes and decodes the
//! PDU bodies (OIDs, search ranges, varbinds); this module frames them and wraps the crate
//! where it falls short:
//!
//! - Framing: a PDU is a 20-byte header and `payload_length` bytes. The length is checked
//!   (a multiple of 4, at most [`MAX_PAYLOAD`]) before anything is read or allocated.
//! - Responses are encoded here: the crate's `Response` carries only AgentX error codes
//!   (256-268), not the SNMP ones a subagent answers with (`notWritable`), and its decoder
//!   multiplies the master's sysUpTime by ten in 32 bits (an overflow panic in a debug build
//!   once the master has been up for 50 days). [`decode`] reads a Response's fields itself.
//! - OIDs: the crate's `ID` keeps its sub-identifiers private and panics when asked to encode
//!   one of more than 255 (a prefixed OID of 251 or more sub-identifiers decodes to that).
//!   [`sub_ids`] reads them back; requests with an OID longer than [`MAX_OID`] are refused.

use agentx::{
    ByteOrder,
    encodings::{ID, SearchRange, SearchRangeList, Value, VarBind, VarBindList},
    pdu::{Close, CloseReason, Get, GetBulk, GetNext, Header, Notify, Open, Ping, Register, Type},
};
use std::{fmt, time::Duration};

/// The fixed header.
pub const HEADER: usize = 20;
/// The largest payload accepted from the master (a request for many OIDs fits many times).
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The longest OID accepted (SNMP allows 128 sub-identifiers).
pub const MAX_OID: usize = 128;

/// SNMP error status `tooBig`.
pub const TOO_BIG: u16 = 1;
/// SNMP error status `genErr`.
pub const GEN_ERR: u16 = 5;
/// SNMP error status `notWritable`.
pub const NOT_WRITABLE: u16 = 17;
/// AgentX error `parseError`.
pub const PARSE_ERROR: u16 = 266;

/// Why a PDU from the master was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PduError {
    /// The header is not AgentX version 1, or its length is not a multiple of 4.
    BadHeader(String),
    /// The payload is longer than [`MAX_PAYLOAD`].
    TooLong(usize),
    /// The body did not decode.
    Body(String),
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PduError::BadHeader(why) => write!(f, "bad AgentX header: {why}"),
            PduError::TooLong(n) => {
                write!(f, "AgentX payload of {n} bytes (at most {MAX_PAYLOAD})")
            }
            PduError::Body(why) => write!(f, "AgentX PDU does not decode: {why}"),
        }
    }
}

impl std::error::Error for PduError {}

/// The payload length a header announces, checked.
pub fn payload_len(head: &[u8; HEADER]) -> Result<usize, PduError> {
    if head[0] != 1 {
        return Err(PduError::BadHeader(format!("version {}", head[0])));
    }
    let b = [head[16], head[17], head[18], head[19]];
    let network = head[2] & 0x10 != 0;
    let n = if network {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    } as usize;
    if !n.is_multiple_of(4) {
        return Err(PduError::BadHeader(format!("payload length {n}")));
    }
    if n > MAX_PAYLOAD {
        return Err(PduError::TooLong(n));
    }
    Ok(n)
}

/// The identifiers a response echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// Session.
    pub session: u32,
    /// Transaction.
    pub transaction: u32,
    /// Packet.
    pub packet: u32,
}

impl Ids {
    fn of(h: &Header) -> Ids {
        Ids {
            session: h.session_id,
            transaction: h.transaction_id,
            packet: h.packet_id,
        }
    }
}

/// A search range as sub-identifiers: from `start` (itself included when `include`) up to
/// `end` (excluded; empty: no end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Start.
    pub start: Vec<u32>,
    /// Whether `start` itself may be answered.
    pub include: bool,
    /// End (empty: none).
    pub end: Vec<u32>,
}

/// What the master sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    /// Get: one answer per range start.
    Get(Ids, Vec<Range>),
    /// GetNext: the next OID after each start.
    GetNext(Ids, Vec<Range>),
    /// GetBulk.
    GetBulk {
        /// Ids.
        ids: Ids,
        /// Ranges answered once.
        non_repeaters: u16,
        /// Repetitions for the others.
        max_repetitions: u16,
        /// Ranges.
        ranges: Vec<Range>,
    },
    /// A set's first phase (refused: everything is read-only).
    TestSet(Ids),
    /// Commit, undo or cleanup of a set.
    SetPhase(Ids, Type),
    /// The master closes the session.
    Close(Ids),
    /// A response to one of ours: the master's sysUpTime (centiseconds) and its error.
    Response {
        /// Ids.
        ids: Ids,
        /// sysUpTime.
        uptime_cs: u32,
        /// Error (0: none).
        error: u16,
    },
    /// Anything else a master should not send a subagent.
    Other(Ids, u8),
}

/// An OID's sub-identifiers (the crate keeps them private; its `Display` shows them).
pub fn sub_ids(id: &ID) -> Vec<u32> {
    let text = id.to_string();
    if text.is_empty() {
        return Vec::new();
    }
    text.split('.').filter_map(|s| s.parse().ok()).collect()
}

/// An OID from sub-identifiers (at most 255, which every OID of ours is).
pub fn oid(subs: &[u32]) -> ID {
    ID::try_from(subs.to_vec()).unwrap_or_default()
}

fn ranges(list: &SearchRangeList) -> Result<Vec<Range>, PduError> {
    list.0
        .iter()
        .map(|r: &SearchRange| {
            let (start, end) = (sub_ids(&r.start), sub_ids(&r.end));
            if start.len() > MAX_OID || end.len() > MAX_OID {
                return Err(PduError::Body(format!(
                    "an OID of {} sub-identifiers",
                    start.len().max(end.len())
                )));
            }
            Ok(Range {
                start,
                include: r.start.include != 0,
                end,
            })
        })
        .collect()
}

fn body(e: std::io::Error) -> PduError {
    PduError::Body(e.to_string())
}

/// Decodes one whole PDU (header and payload).
pub fn decode(pdu: &[u8]) -> Result<Pdu, PduError> {
    let head: &[u8; HEADER] = pdu
        .get(..HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| PduError::BadHeader(format!("{} bytes", pdu.len())))?;
    let len = payload_len(head)?;
    if pdu.len() != HEADER + len {
        return Err(PduError::BadHeader(format!(
            "{} bytes for a payload of {len}",
            pdu.len()
        )));
    }
    let h = Header::from_bytes(pdu).map_err(body)?;
    let ids = Ids::of(&h);
    Ok(match h.ty {
        Type::Get => Pdu::Get(ids, ranges(&Get::from_bytes(pdu).map_err(body)?.sr)?),
        Type::GetNext => Pdu::GetNext(ids, ranges(&GetNext::from_bytes(pdu).map_err(body)?.sr)?),
        Type::GetBulk => {
            let b = GetBulk::from_bytes(pdu).map_err(body)?;
            Pdu::GetBulk {
                ids,
                non_repeaters: b.non_repeaters,
                max_repetitions: b.max_repetitions,
                ranges: ranges(&b.sr)?,
            }
        }
        Type::TestSet => Pdu::TestSet(ids),
        t @ (Type::CommitSet | Type::UndoSet | Type::CleanupSet) => Pdu::SetPhase(ids, t),
        Type::Close => Pdu::Close(ids),
        Type::Response => {
            let p = &pdu[HEADER..];
            let network = head[2] & 0x10 != 0;
            let (Some(up), Some(err)) = (p.get(..4), p.get(4..6)) else {
                return Err(PduError::Body("short Response".into()));
            };
            let (up, err) = ([up[0], up[1], up[2], up[3]], [err[0], err[1]]);
            let (uptime_cs, error) = if network {
                (u32::from_be_bytes(up), u16::from_be_bytes(err))
            } else {
                (u32::from_le_bytes(up), u16::from_le_bytes(err))
            };
            Pdu::Response {
                ids,
                uptime_cs,
                error,
            }
        }
        _ => Pdu::Other(ids, head[1]),
    })
}

/// A Response: `error` (SNMP or AgentX) at varbind `index` (1-based; 0: none), and the
/// varbinds. Little-endian, as every PDU envmon sends.
pub fn response(ids: Ids, error: u16, index: u16, vbs: Vec<VarBind>) -> Vec<u8> {
    let bo = ByteOrder::LittleEndian;
    let mut payload = Vec::with_capacity(8 + vbs.len() * 32);
    payload.extend_from_slice(&0u32.to_le_bytes()); // sysUpTime: only the master's counts
    payload.extend_from_slice(&error.to_le_bytes());
    payload.extend_from_slice(&index.to_le_bytes());
    match VarBindList(vbs).to_bytes(&bo) {
        Ok(b) => payload.extend(b),
        Err(_) => {
            // A value the crate cannot encode (none of envmon's): a general error instead.
            payload.truncate(4);
            payload.extend_from_slice(&GEN_ERR.to_le_bytes());
            payload.extend_from_slice(&0u16.to_le_bytes());
        }
    }
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&[1, 18, 0, 0]);
    out.extend_from_slice(&ids.session.to_le_bytes());
    out.extend_from_slice(&ids.transaction.to_le_bytes());
    out.extend_from_slice(&ids.packet.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend(payload);
    out
}

fn with_ids(h: &mut Header, session: u32, packet: u32) {
    h.session_id = session;
    h.transaction_id = packet;
    h.packet_id = packet;
}

/// Open: a session with a `timeout_s` default timeout, described as `descr`.
pub fn open(packet: u32, timeout_s: u8, descr: &str) -> Vec<u8> {
    let mut o = Open::new(ID::default(), descr);
    o.timeout = Duration::from_secs(u64::from(timeout_s));
    with_ids(&mut o.header, 0, packet);
    o.to_bytes().unwrap_or_default()
}

/// Register a subtree at the default priority (127).
pub fn register(session: u32, packet: u32, subtree: &[u32]) -> Vec<u8> {
    let mut r = Register::new(oid(subtree));
    r.priority = 127;
    with_ids(&mut r.header, session, packet);
    r.to_bytes().unwrap_or_default()
}

/// Ping.
pub fn ping(session: u32, packet: u32) -> Vec<u8> {
    let mut p = Ping::new();
    with_ids(&mut p.header, session, packet);
    p.to_bytes().unwrap_or_default()
}

/// Notify: the varbinds from snmpTrapOID.0 on (the master puts sysUpTime.0 first).
pub fn notify(session: u32, packet: u32, vbs: Vec<VarBind>) -> Vec<u8> {
    let mut n = Notify::new(VarBindList(vbs));
    with_ids(&mut n.header, session, packet);
    n.to_bytes().unwrap_or_default()
}

/// Close (shutting down).
pub fn close(session: u32, packet: u32) -> Vec<u8> {
    let mut c = Close::new(CloseReason::Shutdown);
    with_ids(&mut c.header, session, packet);
    c.to_bytes().unwrap_or_default()
}

/// A varbind.
pub fn vb(name: &[u32], value: Value) -> VarBind {
    VarBind::new(oid(name), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_decodes_with_the_crate_and_carries_snmp_errors() {
        let ids = Ids {
            session: 7,
            transaction: 8,
            packet: 9,
        };
        let bytes = response(
            ids,
            NOT_WRITABLE,
            1,
            vec![vb(&[1, 3, 6, 1, 2, 1, 1, 5, 0], Value::Integer(3))],
        );
        assert_eq!(
            bytes.len(),
            HEADER + payload_len(bytes[..20].try_into().unwrap()).unwrap()
        );
        assert_eq!(
            &bytes[..4],
            &[1, 18, 0, 0],
            "version 1, Response, little-endian"
        );
        assert_eq!(&bytes[24..28], &[17, 0, 1, 0], "notWritable at varbind 1");
        assert_eq!(
            decode(&bytes),
            Ok(Pdu::Response {
                ids,
                uptime_cs: 0,
                error: NOT_WRITABLE
            })
        );
    }

    #[test]
    fn requests_round_trip_through_the_crate() {
        let mut g = GetNext::new(SearchRangeList(vec![SearchRange::new(
            oid(&[1, 3, 6, 1, 2, 1, 99]),
            ID::default(),
        )]));
        g.header.session_id = 3;
        g.header.packet_id = 4;
        let bytes = g.to_bytes().unwrap();
        let Ok(Pdu::GetNext(ids, r)) = decode(&bytes) else {
            panic!("{:?}", decode(&bytes));
        };
        assert_eq!((ids.session, ids.packet), (3, 4));
        assert_eq!(
            r,
            vec![Range {
                start: vec![1, 3, 6, 1, 2, 1, 99],
                include: false,
                end: vec![]
            }]
        );
    }

    #[test]
    fn hostile_headers_and_oids_are_refused_not_trusted() {
        let mut h = [0u8; HEADER];
        h[0] = 1;
        h[1] = 5;
        h[16..20].copy_from_slice(&(u32::MAX - 3).to_le_bytes());
        assert!(matches!(payload_len(&h), Err(PduError::TooLong(_))));
        h[16..20].copy_from_slice(&6u32.to_le_bytes());
        assert!(matches!(payload_len(&h), Err(PduError::BadHeader(_))));
        h[0] = 2;
        assert!(matches!(payload_len(&h), Err(PduError::BadHeader(_))));
        // A GetNext whose OID has the internet prefix and 255 sub-identifiers: 260 once
        // normalised, which the crate cannot encode back. Refused at decode.
        let mut p = Vec::new();
        p.extend_from_slice(&[255, 2, 0, 0]);
        p.extend((0..255u32).flat_map(|i| i.to_le_bytes()));
        p.extend_from_slice(&[0, 0, 0, 0]); // end: null
        let mut pdu = vec![1, 6, 0, 0];
        pdu.extend_from_slice(&[0; 12]);
        pdu.extend_from_slice(&(p.len() as u32).to_le_bytes());
        pdu.extend(p);
        assert!(
            matches!(decode(&pdu), Err(PduError::Body(_))),
            "{:?}",
            decode(&pdu)
        );
        assert!(decode(&pdu[..10]).is_err());
    }
}
