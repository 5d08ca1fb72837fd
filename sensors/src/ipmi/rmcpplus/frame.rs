//! RMCP+'s framing, pure: the RMCP and session headers of pre-session packets (Open
//! Session, RAKP), and the IPMB request and reply inside a session payload (checksums,
//! addresses, request sequence).

/// RMCP header of an IPMI message: version 6, reserved, no RMCP ACK, class IPMI.
pub(super) const RMCP: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// Session header "authentication type" of IPMI 2.0 / RMCP+.
pub(super) const AUTH_RMCPP: u8 = 0x06;
/// Payload types.
pub(super) const PAYLOAD_IPMI: u8 = 0x00;
pub(super) const OPEN_SESSION_REQ: u8 = 0x10;
pub(super) const OPEN_SESSION_RSP: u8 = 0x11;
pub(super) const RAKP1: u8 = 0x12;
pub(super) const RAKP2: u8 = 0x13;
pub(super) const RAKP3: u8 = 0x14;
pub(super) const RAKP4: u8 = 0x15;
/// The remote console's software ID as requester address.
pub(super) const RQ_ADDR: u8 = 0x81;
/// The BMC's address.
pub(super) const BMC_ADDR: u8 = 0x20;
/// Administrator privilege.
pub(super) const ADMIN: u8 = 0x04;

pub(super) fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// An IPMB-style request for the LAN payload, appended to `m` (the sealed message being
/// built).
pub fn ipmb_request_into(m: &mut Vec<u8>, netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) {
    let head = [BMC_ADDR, netfn << 2];
    m.extend_from_slice(&head);
    m.push(checksum(&head));
    let body_start = m.len();
    m.extend_from_slice(&[RQ_ADDR, (rq_seq & 0x3f) << 2, cmd]);
    m.extend_from_slice(data);
    let c = checksum(m.get(body_start..).unwrap_or_default());
    m.push(c);
}

/// A response that answers (netfn, cmd, rq_seq): its completion code and data. `None` when
/// it is not the answer to this request (another request's late reply) or is malformed.
pub fn ipmb_response(m: &[u8], netfn: u8, cmd: u8, rq_seq: u8) -> Option<(u8, Vec<u8>)> {
    let r = ipmb_reply_owned(m.to_vec())?;
    (r.netfn == netfn | 1 && r.rq_seq == rq_seq & 0x3f && r.cmd == cmd).then_some((r.cc, r.data))
}

/// The fields of a response from the BMC, its checksums checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmbReply {
    /// The NetFn (odd: a response).
    pub netfn: u8,
    /// The request sequence number it echoes.
    pub rq_seq: u8,
    /// The command.
    pub cmd: u8,
    /// The completion code.
    pub cc: u8,
    /// The data after the completion code.
    pub data: Vec<u8>,
}

/// A response to us from the BMC, whatever request it answers, its data cut out of the
/// message in place (no copy); `None` when it is malformed.
pub fn ipmb_reply_owned(mut m: Vec<u8>) -> Option<IpmbReply> {
    if m.len() < 8 || checksum(&m[..2]) != m[2] || checksum(&m[3..m.len() - 1]) != m[m.len() - 1] {
        return None;
    }
    if m[0] != RQ_ADDR || m[3] != BMC_ADDR {
        return None;
    }
    let (netfn, rq_seq, cmd, cc) = (m[1] >> 2, m[4] >> 2, m[5], m[6]);
    m.truncate(m.len() - 1);
    m.drain(..7);
    Some(IpmbReply {
        netfn,
        rq_seq,
        cmd,
        cc,
        data: m,
    })
}

/// A pre-session message (Open Session, RAKP): RMCP + session header without session.
pub fn presession(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = RMCP.to_vec();
    p.extend_from_slice(&[AUTH_RMCPP, payload_type]);
    p.extend_from_slice(&[0; 8]); // session ID and sequence: 0
    p.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    p.extend_from_slice(payload);
    p
}

/// The payload of a pre-session reply of `payload_type`, if `packet` is one.
pub fn presession_payload(packet: &[u8], payload_type: u8) -> Option<&[u8]> {
    if packet.get(..4)? != RMCP || *packet.get(4)? != AUTH_RMCPP {
        return None;
    }
    if packet.get(5)? & 0x3f != payload_type {
        return None;
    }
    let len = usize::from(u16::from_le_bytes([*packet.get(14)?, *packet.get(15)?]));
    packet.get(16..16 + len)
}
