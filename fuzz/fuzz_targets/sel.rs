//! SEL answers and the cursor file: decoded, described and turned into a line.
#![no_main]
use envmon_core::sel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, rec)) = sel::decode_entry(data) {
        let line = sel::text(&rec, std::str::from_utf8(data).ok());
        assert!(!line.contains('\n'), "one line");
        let _ = sel::level(&rec);
    }
    if let Ok(info) = sel::SelInfo::decode(data) {
        let _ = info.percent_used();
        let _ = sel::plan(&sel::SelCursor::default(), &info);
    }
    if let Some(c) = std::str::from_utf8(data)
        .ok()
        .and_then(|t| sel::decode_cursor(t).ok())
    {
        assert_eq!(sel::decode_cursor(&sel::encode_cursor(&c)), Ok(c));
    }
});
