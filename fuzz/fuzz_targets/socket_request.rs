//! A request line on the query socket: one JSON line back, always.
#![no_main]
use envmon_agent::{
    model::status::Snapshot,
    model::{Environment, Monitoring},
    respond,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let snapshot = Snapshot {
        environment: Environment::new(None, Monitoring::Failed, 2000),
        counters: Default::default(),
        names: Default::default(),
        host: Some("fuzz".into()),
    };
    for s in [None, Some(&snapshot)] {
        let reply = respond(data, s, std::time::Duration::from_millis(1));
        assert!(!reply.contains('\n'), "one line");
        serde_json::from_str::<serde_json::Value>(&reply).expect("JSON");
    }
});
