//! envmon's syslog frames into a real rsyslogd on loopback: UDP, TCP (octet counting) and a
//! unix datagram socket, RFC 3164 and RFC 5424; receivers that go away and come back.

use envmon_agent::syslog::{Backoff, QUEUE_CAPACITY, Syslog, SyslogConfig, SyslogUri};
use envmon_core::{
    Prefix,
    frame::{Facility, FrameFormat},
};
use envmon_tests::{Received, Rsyslog, envmon_bin, wait_for};
use std::{process::Command, time::Duration};

const WAIT: Duration = Duration::from_secs(20);

fn config(dest: SyslogUri, format: FrameFormat) -> SyslogConfig {
    SyslogConfig {
        destinations: vec![dest],
        format,
        facility: Facility::Local4,
        hostname: "envmon-test-host".into(),
        prefix: Prefix::Ftd,
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
    }
}

fn udp(r: &Rsyslog) -> SyslogUri {
    SyslogUri::Udp {
        host: "127.0.0.1".into(),
        port: r.udp_port,
    }
}

fn tcp(r: &Rsyslog) -> SyslogUri {
    SyslogUri::Tcp {
        host: "127.0.0.1".into(),
        port: r.tcp_port,
    }
}

/// Sends three messages of different levels and checks what rsyslog parsed out of them.
fn check_fields(r: &Rsyslog, dest: SyslogUri, format: FrameFormat, expect_host: &str) {
    let s = Syslog::start(&config(dest.clone(), format)).unwrap();
    s.emit(735002, &["1"]).unwrap();
    s.emit(735009, &[]).unwrap();
    s.emit(735019, &["2", "60", "C"]).unwrap();
    assert!(s.flush(WAIT), "{dest}: not delivered");
    let got = r.wait_received(3, WAIT);
    let pid = std::process::id().to_string();
    let want = [
        (
            "alert",
            "735002",
            "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected",
        ),
        (
            "crit",
            "735009",
            "%FTD-2-735009: IPMI: Environment Monitoring has failed initialization and configuration. Environment Monitoring is not running.",
        ),
        (
            "warning",
            "735019",
            "%FTD-4-735019: Power Supply 2: Temp: 60 C, Warm",
        ),
    ];
    assert_eq!(got.len(), 3, "{dest} {format}: {got:#?}");
    for (g, (sev, id, msg)) in got.iter().zip(want) {
        let msgid = if format == FrameFormat::Rfc5424 {
            id
        } else {
            "-"
        };
        assert_eq!(
            g,
            &Received {
                facility: "local4".into(),
                severity: sev.into(),
                hostname: expect_host.into(),
                app: "envmon".into(),
                procid: pid.clone(),
                msgid: msgid.into(),
                // Messages about no one sensor carry no structured data.
                sd: "-".into(),
                msg: msg.into(),
            },
            "{dest} {format}"
        );
    }
    s.close(WAIT);
}

#[test]
fn udp_rfc3164_and_rfc5424() {
    for format in [FrameFormat::Rfc3164, FrameFormat::Rfc5424] {
        let dir = tempfile::tempdir().unwrap();
        let r = Rsyslog::start(dir.path(), false);
        check_fields(&r, udp(&r), format, "envmon-test-host");
    }
}

#[test]
fn tcp_octet_counted_rfc3164_and_rfc5424() {
    for format in [FrameFormat::Rfc3164, FrameFormat::Rfc5424] {
        let dir = tempfile::tempdir().unwrap();
        let r = Rsyslog::start(dir.path(), false);
        check_fields(&r, tcp(&r), format, "envmon-test-host");
    }
}

#[test]
fn unix_socket_rfc3164_leaves_the_hostname_to_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rsyslog::start(dir.path(), true);
    let sock = r.unix_socket.clone().unwrap();
    // imuxsock stamps the local host name; envmon's frame carries none to a local socket.
    let local = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    check_fields(
        &r,
        SyslogUri::Unix(sock),
        FrameFormat::Rfc3164,
        local.trim(),
    );
}

/// The receiver goes away for a while: every frame that fit in the queue arrives once it is
/// back, in order, and the drop count is exactly what did not fit.
fn outage_then_recovery(r: &mut Rsyslog, dest: SyslogUri) {
    let s = Syslog::start(&config(dest.clone(), FrameFormat::Rfc3164)).unwrap();
    s.emit(735005, &[]).unwrap();
    assert_eq!(r.wait_received(1, WAIT).len(), 1, "{dest}: warm-up frame");

    r.stop();
    let extra = 44;
    let total = QUEUE_CAPACITY + extra;
    for i in 0..total {
        s.emit(735001, &[&i.to_string()]).unwrap();
    }
    // Once the sender has put back the frame it was trying, it holds exactly QUEUE_CAPACITY.
    let settled = wait_for(WAIT, || {
        let st = &s.stats()[0];
        (st.queued == QUEUE_CAPACITY && st.failures > 0).then(|| st.clone())
    })
    .unwrap_or_else(|| panic!("{dest}: sender never settled: {:?}", s.stats()));
    assert_eq!(settled.dropped as usize, extra, "{dest}: {settled:?}");
    assert!(!settled.connected);

    r.restart();
    assert!(
        s.flush(WAIT),
        "{dest}: queue not drained after the receiver came back"
    );
    let got = r.wait_received(1 + QUEUE_CAPACITY, WAIT);
    let fans: Vec<String> = got[1..].iter().map(|g| g.msg.clone()).collect();
    let want: Vec<String> = (extra..total)
        .map(|i| format!("%FTD-1-735001: IPMI: Cooling Fan {i}: OK"))
        .collect();
    assert_eq!(
        fans, want,
        "{dest}: the newest {QUEUE_CAPACITY} frames, each once, in order"
    );
    let st = s.close(WAIT).remove(0);
    assert_eq!(
        (st.sent as usize, st.dropped as usize),
        (1 + QUEUE_CAPACITY, extra),
        "{st:?}"
    );
}

#[test]
fn tcp_receiver_restart_delivers_what_fit_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rsyslog::start(dir.path(), false);
    let dest = tcp(&r);
    outage_then_recovery(&mut r, dest);
}

#[test]
fn unix_socket_daemon_restart_delivers_what_fit_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rsyslog::start(dir.path(), true);
    let dest = SyslogUri::Unix(r.unix_socket.clone().unwrap());
    outage_then_recovery(&mut r, dest);
}

#[test]
fn the_binary_sends_to_udp_and_tcp_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rsyslog::start(dir.path(), false);
    let out = Command::new(envmon_bin())
        .args(["--syslog", &format!("udp://127.0.0.1:{}", r.udp_port)])
        .args(["--syslog", &format!("tcp://127.0.0.1:{}", r.tcp_port)])
        .args([
            "--hostname",
            "fw-cli",
            "--facility",
            "local6",
            "--prefix",
            "ASA",
        ])
        .args(["message", "--send", "735007", "0", "96", "C"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = r.wait_received(2, WAIT);
    assert_eq!(got.len(), 2, "{got:#?}");
    for g in got {
        assert_eq!(
            (
                g.facility.as_str(),
                g.severity.as_str(),
                g.hostname.as_str()
            ),
            ("local6", "alert", "fw-cli")
        );
        assert_eq!(g.msg, "%ASA-1-735007: IPMI: CPU 0: Temp: 96 C, Critical");
    }
}

/// RFC 5424 frames from the agent carry the sensor's structured data, which rsyslog parses
/// as such (its STRUCTURED-DATA property, not part of the message); RFC 3164 frames carry
/// none and are unchanged.
#[test]
fn rfc5424_structured_data_reaches_rsyslog_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rsyslog::start(dir.path(), false);
    let bmc = envmon_tests::Bmc::start(&dir.path().join("bmc"));
    let a = bmc.agent(
        dir.path(),
        &format!("tcp://127.0.0.1:{}", r.tcp_port),
        &["--syslog-format", "rfc5424", "--sel", "off"],
    );
    a.wait_sweeps(2);
    bmc.set(1, 95); // CPU0: critical (90)
    let got = r.wait_received(1, WAIT);
    let want_sd = "[envmon@32473 sensor=\"cpu0-temp\" class=\"cpu_temp\" label=\"0\" value=\"95\" unit=\"C\" threshold=\"90\" state=\"critical\"]";
    assert_eq!(got[0].msgid, "735007");
    assert_eq!(got[0].sd, want_sd, "{got:?}");
    assert_eq!(
        got[0].msg,
        "%FTD-1-735007: IPMI: CPU 0: Temp: 95 C, Critical"
    );
}

/// A shipped relay configuration in its real daemon, its upstream an rsyslogd: frames sent
/// while the upstream is down wait in the relay's queue and all arrive, once each and in
/// order, when it is back.
fn relay_loses_nothing_while_its_upstream_is_down(
    start: fn(&std::path::Path, u16) -> (envmon_tests::fleet::RsyslogRelay, u16),
) {
    let dir = tempfile::tempdir().unwrap();
    let mut upstream = Rsyslog::start(&dir.path().join("upstream"), false);
    let (relay, port) = start(&dir.path().join("relay"), upstream.tcp_port);
    let send = |fan: usize| {
        let o = Command::new(envmon_bin())
            .args(["--syslog", &format!("tcp://127.0.0.1:{port}")])
            .args(["--syslog-format", "rfc5424", "--hostname", "fw-relayed"])
            .args(["message", "--send", "735001", &fan.to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    for fan in 0..5 {
        send(fan);
    }
    assert_eq!(upstream.wait_received(5, WAIT).len(), 5);
    upstream.stop();
    for fan in 5..25 {
        send(fan);
    }
    upstream.restart();
    let got = upstream.wait_received(25, Duration::from_secs(60));
    // A sensor's frame: its structured data goes through the relay as it came (a relay
    // that had not parsed it, or dropped it, would forward `-`).
    let mut c = config(
        SyslogUri::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        FrameFormat::Rfc5424,
    );
    c.hostname = "fw-relayed".into();
    let s = Syslog::start(&c).unwrap();
    s.emit_emission(&envmon_core::engine::Emission {
        id: 735007,
        args: vec!["0".into(), "95".into(), "C".into()],
        sd: vec![
            ("sensor", "cpu0-temp".into()),
            ("class", "cpu_temp".into()),
            ("state", "critical".into()),
        ],
    });
    assert!(s.flush(WAIT));
    let with_sd = upstream.wait_received(26, WAIT);
    assert_eq!(
        with_sd.get(25).map(|g| g.sd.as_str()),
        Some("[envmon@32473 sensor=\"cpu0-temp\" class=\"cpu_temp\" state=\"critical\"]"),
        "{with_sd:?}"
    );
    drop(relay);
    let fans: Vec<String> = got.iter().map(|g| g.msg.clone()).collect();
    let want: Vec<String> = (0..25)
        .map(|i| format!("%FTD-1-735001: IPMI: Cooling Fan {i}: OK"))
        .collect();
    assert_eq!(fans, want, "every frame once, in order");
    assert!(got.iter().all(|g| g.hostname == "fw-relayed"));
}

#[test]
fn the_shipped_rsyslog_relay_loses_nothing_while_its_upstream_is_down() {
    relay_loses_nothing_while_its_upstream_is_down(envmon_tests::fleet::start_relay);
}

#[test]
fn the_shipped_syslog_ng_relay_loses_nothing_while_its_upstream_is_down() {
    relay_loses_nothing_while_its_upstream_is_down(envmon_tests::fleet::start_syslog_ng_relay);
}
