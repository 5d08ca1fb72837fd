//! A request line on the query socket: one JSON line back, always.
#![no_main]
use envmon_agent::{socket::respond, status::Snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let snapshot = Snapshot {
        environment: serde_json::json!({"board": "fuzz", "sensors": []}),
        metrics: "# EOF\n".into(),
        sensors: Vec::new(),
    };
    for s in [None, Some(&snapshot)] {
        let reply = respond(data, s);
        assert!(!reply.contains('\n'), "one line");
        serde_json::from_str::<serde_json::Value>(&reply).expect("JSON");
    }
});
