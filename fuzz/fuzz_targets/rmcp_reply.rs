//! A datagram arriving on an RMCP+ session: taken only if authentic and answering the
//! request, never a panic.
#![no_main]
use envmon_sensors::ipmi::rmcpplus::{Rakp, ipmb_response, open, presession_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = Rakp {
        kuid: b"fuzz".to_vec(),
        console_sid: [1, 2, 3, 4],
        bmc_sid: [5, 6, 7, 8],
        rm: [1; 16],
        rc: [2; 16],
        guid: [3; 16],
        role: 0x14,
        user: b"admin".to_vec(),
    }
    .keys();
    if let Some((_, reply)) = open(&keys, [1, 2, 3, 4], data) {
        let _ = ipmb_response(&reply, 0x04, 0x2D, 1);
    }
    let _ = ipmb_response(data, 0x04, 0x2D, 1);
    for t in [0x11, 0x13, 0x15] {
        let _ = presession_payload(data, t);
    }
});
