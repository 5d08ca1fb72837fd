//! Syslog destination URIs: parsed or refused; a parsed one prints back to itself.
#![no_main]
use envmon_agent::syslog::SyslogUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(uri) = text.parse::<SyslogUri>()
    {
        let again: SyslogUri = uri.to_string().parse().expect("prints back");
        assert_eq!(again, uri);
    }
});
