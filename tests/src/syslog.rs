//! Syslog receivers: a private rsyslogd on loopback, and reading what it or a file
//! destination received.

use super::*;

/// One line rsyslog wrote, split into the properties the tests check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `local4`, ...
    pub facility: String,
    /// `alert`, `crit`, ...
    pub severity: String,
    /// HOSTNAME as rsyslog parsed it.
    pub hostname: String,
    /// APP-NAME / TAG without the PID.
    pub app: String,
    /// PROCID.
    pub procid: String,
    /// MSGID (`-` for RFC 3164).
    pub msgid: String,
    /// STRUCTURED-DATA as rsyslog parsed it (`-` for none).
    pub sd: String,
    /// The message text, leading space removed.
    pub msg: String,
}

/// A private rsyslogd in the foreground: UDP and TCP inputs on 127.0.0.1, optionally a unix
/// datagram socket, everything written to one file with a template that keeps the fields
/// apart.
pub struct Rsyslog {
    child: Option<Child>,
    dir: PathBuf,
    /// UDP input port.
    pub udp_port: u16,
    /// TCP input port (octet counting and LF framing both accepted).
    pub tcp_port: u16,
    /// The unix socket path, when asked for.
    pub unix_socket: Option<PathBuf>,
}

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
const SEP: &str = "\u{1f}";

impl Rsyslog {
    /// Starts rsyslogd with its files under `dir`, and waits until its inputs are ready.
    pub fn start(dir: &Path, with_unix_socket: bool) -> Rsyslog {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} is missing: apt-get install rsyslog (.ci/run does)"
        );
        let mut r = Rsyslog {
            child: None,
            dir: dir.to_path_buf(),
            udp_port: free_port(),
            tcp_port: free_port(),
            unix_socket: with_unix_socket.then(|| dir.join("log.sock")),
        };
        r.launch();
        r
    }

    fn output(&self) -> PathBuf {
        self.dir.join("received.log")
    }

    fn launch(&mut self) {
        let work = self.dir.join("work");
        fs::create_dir_all(&work).unwrap();
        let unix = match &self.unix_socket {
            Some(p) => format!(
                "module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{}\" RateLimit.Interval=\"0\")\n",
                p.display()
            ),
            None => String::new(),
        };
        let conf = format!(
            "global(workDirectory=\"{work}\")\n\
             module(load=\"imudp\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp}\")\n\
             {unix}\
             template(name=\"fields\" type=\"string\" string=\"%syslogfacility-text%{SEP}%syslogseverity-text%{SEP}%hostname%{SEP}%app-name%{SEP}%procid%{SEP}%msgid%{SEP}%structured-data%{SEP}%msg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{out}\" template=\"fields\")\n",
            work = work.display(),
            udp = self.udp_port,
            tcp = self.tcp_port,
            out = self.output().display(),
        );
        let conf_path = self.dir.join("rsyslog.conf");
        fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(RSYSLOGD);
        cmd.arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"));
        self.child = Some(spawn_logged(cmd, &self.dir.join("rsyslogd.stderr")));
        let ready = wait_for(Duration::from_secs(15), || {
            let tcp = TcpStream::connect(("127.0.0.1", self.tcp_port)).is_ok();
            let udp = udp_port_bound(self.udp_port);
            let unix = self.unix_socket.as_ref().is_none_or(|p| p.exists());
            (tcp && udp && unix).then_some(())
        });
        if ready.is_none() {
            let mut err = String::new();
            let _ = fs::File::open(self.dir.join("rsyslogd.stderr"))
                .map(|mut f| f.read_to_string(&mut err));
            panic!("rsyslogd did not open its inputs within 15 s: {err}");
        }
    }

    /// Stops rsyslogd (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
            let exited = wait_for(Duration::from_secs(5), || child.try_wait().ok().flatten());
            if exited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            if let Some(p) = &self.unix_socket {
                let _ = fs::remove_file(p);
            }
        }
    }

    /// Starts rsyslogd again on the same ports and socket.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Every line from envmon written so far.
    pub fn received(&self) -> Vec<Received> {
        let text = fs::read_to_string(self.output()).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.splitn(8, SEP).collect();
                (f.len() == 8 && f[3] == "envmon").then(|| Received {
                    facility: f[0].into(),
                    severity: f[1].into(),
                    hostname: f[2].into(),
                    app: f[3].into(),
                    procid: f[4].into(),
                    msgid: f[5].into(),
                    sd: f[6].into(),
                    msg: f[7].trim_start().into(),
                })
            })
            .collect()
    }

    /// Waits up to `timeout` until at least `n` envmon lines have arrived; returns them all.
    pub fn wait_received(&self, n: usize, timeout: Duration) -> Vec<Received> {
        wait_for(timeout, || {
            let r = self.received();
            (r.len() >= n).then_some(r)
        })
        .unwrap_or_else(|| self.received())
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something is bound to UDP `port` on 127.0.0.1 (from /proc/net/udp).
pub(crate) fn udp_port_bound(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/udp")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
        })
        .unwrap_or(false)
}

/// The catalog message lines (from `%`) of a file syslog destination; SEL lines (the BMC's
/// event log, forwarded) are left out ([`sel_lines`] has them), and so are envmon's own
/// ([`notice_lines`]).
pub fn message_lines(file: &Path) -> Vec<String> {
    all_lines(file)
        .into_iter()
        .filter(|l| !l.contains("-SEL: ") && !l.contains("-ENVMON: "))
        .collect()
}

/// envmon's own lines (from `%`, `%FTD-4-ENVMON: ...`) of a file syslog destination: flap
/// damping, what is not fitted, unwatched or watched again (docs/syslog.md).
pub fn notice_lines(file: &Path) -> Vec<String> {
    all_lines(file)
        .into_iter()
        .filter(|l| l.contains("-ENVMON: "))
        .collect()
}

/// The catalog lines and envmon's own, in order (from `%`): all but the SEL's.
pub fn syslog_lines_but_sel(file: &Path) -> Vec<String> {
    all_lines(file)
        .into_iter()
        .filter(|l| !l.contains("-SEL: "))
        .collect()
}

/// The SEL lines (from `%`) of a file syslog destination.
pub fn sel_lines(file: &Path) -> Vec<String> {
    all_lines(file)
        .into_iter()
        .filter(|l| l.contains("-SEL: "))
        .collect()
}

fn all_lines(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_default();
    // Complete lines only: a line being written (a guest's file seen through its shared
    // directory shows writes in pieces) is read at the next look.
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    complete
        .lines()
        .filter_map(|l| l.find(": %").map(|i| l[i + 2..].to_string()))
        .collect()
}

/// Waits (up to `timeout`) until `file` holds `seen + want` message lines, then checks them
/// exactly and remembers them in `seen`.
pub fn expect_lines(file: &Path, seen: &mut Vec<String>, want: &[&str], timeout: Duration) {
    let n = seen.len() + want.len();
    let got = wait_for(timeout, || {
        let l = message_lines(file);
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|| message_lines(file));
    let mut expected = seen.clone();
    expected.extend(want.iter().map(|s| s.to_string()));
    assert_eq!(got, expected, "syslog lines");
    *seen = got;
}
