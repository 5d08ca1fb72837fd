//! The test library's seeded slow link as a program, for bench/ipmi: forwards a UDP port on
//! 127.0.0.1 to a BMC's, each datagram delayed by DELAY_MS each way. Prints its port, then
//! runs until killed.
//!
//!   link-proxy BMC_PORT DELAY_MS

use envmon_tests::{Link, LinkProxy};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (Some(port), Some(delay)) = (
        a.get(1).and_then(|p| p.parse::<u16>().ok()),
        a.get(2).and_then(|d| d.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: link-proxy BMC_PORT DELAY_MS");
        std::process::exit(2);
    };
    let proxy = LinkProxy::start(
        port,
        Link {
            delay_ms: (delay, delay),
            loss: 0.0,
            seed: 1,
        },
    );
    println!("{}", proxy.port);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
