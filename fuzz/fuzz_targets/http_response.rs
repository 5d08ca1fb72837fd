//! What a Redfish service sends back on one connection, however it is cut: the status line,
//! the header fields and a sized, chunked or to-the-end body. The first byte's low bit says
//! whether the connection closed after the rest, its other bits where (in 128ths) the answer
//! is cut in two for the incremental parser. Parsed whole, not yet, or an error; never a panic (sizes near
//! `u64::MAX`, a header that never ends, a body past the limit); fed in two pieces to an
//! `Incoming` (the first not yet whole), the same as whole.
#![no_main]
use envmon_sensors::redfish::http::{Incoming, Parsed, parse_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (flags, bytes) = match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    };
    let ended = flags & 1 == 1;
    let whole = parse_response(bytes, ended, "/fuzz");
    if let Ok(Parsed::Complete(r)) = &whole {
        assert!(r.body.len() as u64 <= envmon_sensors::redfish::files::MAX_BODY);
    }
    let cut = usize::from(flags >> 1) * bytes.len() / 128;
    let mut inc = Incoming::default();
    // A first piece not yet whole leaves the parser where feeding the rest gives what the
    // whole answer gives.
    if let Ok(Parsed::Incomplete) = inc.feed(&bytes[..cut], false, "/fuzz") {
        let pieces = inc.feed(bytes, ended, "/fuzz");
        assert_eq!(format!("{pieces:?}"), format!("{whole:?}"));
    }
});
