//! What a Redfish service sends back on one connection, however it is cut: the status line,
//! the header fields and a sized, chunked or to-the-end body. The first byte says whether
//! the connection closed after the rest. Parsed whole, not yet, or an error; never a panic
//! (sizes near `u64::MAX`, a header that never ends, a body past the limit).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ended, bytes) = match data.split_first() {
        Some((b, rest)) => (b & 1 == 1, rest),
        None => (false, data),
    };
    if let Ok(envmon_sensors::redfish::http::Parsed::Complete(r)) =
        envmon_sensors::redfish::http::parse_response(bytes, ended, "/fuzz")
    {
        assert!(r.body.len() as u64 <= envmon_sensors::redfish::files::MAX_BODY);
    }
});
