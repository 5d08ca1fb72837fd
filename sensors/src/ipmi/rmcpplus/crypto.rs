//! RMCP+'s cryptography (cipher suite 3): RAKP-HMAC-SHA1 key exchange and the BMC's proof,
//! the session keys, and the sealing and opening of a session packet (HMAC-SHA1-96 integrity,
//! AES-CBC-128 confidentiality). Pure: given keys and bytes, it returns bytes.

use super::frame::{AUTH_RMCPP, PAYLOAD_IPMI, RMCP};
use crate::ipmi::{IpmiError, IpmiErrorKind};
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

pub(super) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    // HMAC takes a key of any length: cannot fail.
    let mut m = match HmacSha1::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 20],
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

pub(super) fn err(kind: IpmiErrorKind, what: impl Into<String>) -> IpmiError {
    IpmiError::new(kind, what)
}

/// The session keys derived after RAKP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Integrity key K1.
    pub k1: [u8; 20],
    /// AES-128 key: the first 16 bytes of K2.
    pub aes: [u8; 16],
}

/// What both sides exchanged during RAKP, to check the BMC and derive the keys.
#[derive(Debug, Clone)]
pub struct Rakp {
    /// The user's password (Kuid), at most 20 bytes.
    pub kuid: Vec<u8>,
    /// Remote console session ID (ours).
    pub console_sid: [u8; 4],
    /// Managed system session ID (the BMC's).
    pub bmc_sid: [u8; 4],
    /// Our random number Rm.
    pub rm: [u8; 16],
    /// The BMC's random number Rc.
    pub rc: [u8; 16],
    /// The BMC's GUID.
    pub guid: [u8; 16],
    /// The requested role byte (privilege and name-only lookup).
    pub role: u8,
    /// The user name.
    pub user: Vec<u8>,
}

impl Rakp {
    /// The key exchange code the BMC must send in RAKP 2.
    pub fn rakp2_code(&self) -> [u8; 20] {
        hmac(
            &self.kuid,
            &[
                &self.console_sid,
                &self.bmc_sid,
                &self.rm,
                &self.rc,
                &self.guid,
                &[self.role, self.user.len() as u8],
                &self.user,
            ],
        )
    }

    /// Our key exchange code for RAKP 3.
    pub fn rakp3_code(&self) -> [u8; 20] {
        hmac(
            &self.kuid,
            &[
                &self.rc,
                &self.console_sid,
                &[self.role, self.user.len() as u8],
                &self.user,
            ],
        )
    }

    /// The session integrity key SIK (no BMC key Kg set: Kg is Kuid).
    pub fn sik(&self) -> [u8; 20] {
        hmac(
            &self.kuid,
            &[
                &self.rm,
                &self.rc,
                &[self.role, self.user.len() as u8],
                &self.user,
            ],
        )
    }

    /// The check value the BMC must send in RAKP 4 (HMAC-SHA1-96 with SIK).
    pub fn rakp4_check(&self) -> [u8; 12] {
        let full = hmac(&self.sik(), &[&self.rm, &self.bmc_sid, &self.guid]);
        let mut out = [0u8; 12];
        out.copy_from_slice(&full[..12]);
        out
    }

    /// K1 and the AES key from SIK.
    pub fn keys(&self) -> Keys {
        let sik = self.sik();
        let k1 = hmac(&sik, &[&[0x01; 20]]);
        let k2 = hmac(&sik, &[&[0x02; 20]]);
        let mut aes = [0u8; 16];
        aes.copy_from_slice(&k2[..16]);
        Keys { k1, aes }
    }
}

/// An authenticated, encrypted session message of the IPMB message `write` appends to the
/// buffer (the request frame is written in place, not built apart and copied). `iv` is the
/// fresh random IV. Built in one buffer (the plaintext encrypted in place): one allocation
/// per request.
pub fn seal_with(
    keys: &Keys,
    bmc_sid: [u8; 4],
    seq: u32,
    iv: [u8; 16],
    write: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    // RMCP, session header (12), IV, a request frame of up to 32 bytes with its padding,
    // integrity pad (<= 3), pad length and next header (2), the 12-byte code.
    let mut p = Vec::with_capacity(RMCP.len() + 12 + 16 + 48 + 3 + 2 + 12);
    p.extend_from_slice(&RMCP);
    let session_start = p.len();
    p.extend_from_slice(&[AUTH_RMCPP, 0xC0 | PAYLOAD_IPMI]);
    p.extend_from_slice(&bmc_sid);
    p.extend_from_slice(&seq.to_le_bytes());
    let length_at = p.len();
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&iv);
    let plain_at = p.len();
    write(&mut p);
    // Confidentiality: data, pad bytes 1, 2, 3, ..., pad length; a multiple of 16.
    let ipmb_len = p.len() - plain_at;
    let pad = (16 - (ipmb_len + 1) % 16) % 16;
    let cipher_len = ipmb_len + pad + 1;
    p.extend((1..=pad).map(|i| i as u8));
    p.push(pad as u8);
    let enc = cbc::Encryptor::<aes::Aes128>::new(&keys.aes.into(), &iv.into());
    let sealed_len = p
        .get_mut(plain_at..)
        .and_then(|plain| {
            enc.encrypt_padded_mut::<NoPadding>(plain, cipher_len)
                .ok()
                .map(|c| c.len())
        })
        .unwrap_or(0);
    p.truncate(plain_at + sealed_len);
    let payload_len = (16 + sealed_len) as u16;
    p[length_at..length_at + 2].copy_from_slice(&payload_len.to_le_bytes());
    // Integrity pad so that auth type .. next header is a multiple of 4.
    let so_far = p.len() - session_start + 2;
    let ipad = (4 - so_far % 4) % 4;
    p.extend(std::iter::repeat_n(0xFF, ipad));
    p.extend_from_slice(&[ipad as u8, 0x07]);
    let code = hmac(&keys.k1, &[&p[session_start..]]);
    p.extend_from_slice(&code[..12]);
    p
}

/// Checks and opens a session message: its session sequence number and the IPMB reply.
/// `None` for anything that is not an authentic message of this session.
pub fn open(keys: &Keys, console_sid: [u8; 4], packet: &[u8]) -> Option<(u32, Vec<u8>)> {
    if packet.get(..4)? != RMCP || *packet.get(4)? != AUTH_RMCPP {
        return None;
    }
    let ptype = *packet.get(5)?;
    if ptype & 0x3f != PAYLOAD_IPMI || ptype & 0xC0 != 0xC0 {
        return None;
    }
    if packet.get(6..10)? != console_sid {
        return None;
    }
    let seq = u32::from_le_bytes(packet.get(10..14)?.try_into().ok()?);
    let len = usize::from(u16::from_le_bytes([*packet.get(14)?, *packet.get(15)?]));
    let payload = packet.get(16..16 + len)?;
    let code_at = packet.len().checked_sub(12)?;
    if code_at < 16 + len + 2 {
        return None;
    }
    let want = hmac(&keys.k1, &[packet.get(4..code_at)?]);
    if packet.get(code_at..)? != &want[..12] {
        return None;
    }
    let (iv, cipher) = (payload.get(..16)?, payload.get(16..)?);
    if cipher.is_empty() || cipher.len() % 16 != 0 {
        return None;
    }
    let mut buf = cipher.to_vec();
    let iv: [u8; 16] = iv.try_into().ok()?;
    let dec = cbc::Decryptor::<aes::Aes128>::new(&keys.aes.into(), &iv.into());
    let plain_len = dec.decrypt_padded_mut::<NoPadding>(&mut buf).ok()?.len();
    buf.truncate(plain_len);
    let pad = usize::from(*buf.last()?);
    let data_len = buf.len().checked_sub(pad + 1)?;
    // The decrypted buffer, cut to the data: one allocation per reply.
    buf.truncate(data_len);
    Some((seq, buf))
}
