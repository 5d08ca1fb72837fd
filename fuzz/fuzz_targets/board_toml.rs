//! A board file: a board or a located error, never a panic; a board dumps back to a file
//! that parses to the same board.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(b) = envmon_board_defs::parse(Path::new("fuzz.toml"), text) {
        let dumped = envmon_board_defs::to_toml(&b, "fuzz", |_| None);
        let again = envmon_board_defs::parse(Path::new("dump.toml"), &dumped)
            .unwrap_or_else(|e| panic!("the dump does not parse: {e}\n{dumped}"));
        assert_eq!(again.items, b.items);
    }
});
