//! net-snmp on loopback for the SNMP tests: snmpd as the AgentX master (its own port,
//! socket, config and persistent dir) and snmptrapd logging what it receives to a file.
//! Both stop when dropped. Numeric OIDs only: Debian ships no ENTITY or Cisco MIB files.

use crate::{free_port, spawn_logged, udp_port_bound, wait_for};
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::Duration,
};

fn need(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is missing: apt-get install snmpd snmp snmptrapd (scripts/install-deps does)"
    );
}

fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        if wait_for(Duration::from_secs(5), || c.try_wait().ok().flatten()).is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// snmpd: SNMP on 127.0.0.1:`port`, community `public`, the AgentX master on a unix socket
/// (or a loopback TCP port), notifications to a trap sink.
pub struct Snmpd {
    child: Option<Child>,
    dir: PathBuf,
    /// The SNMP port.
    pub port: u16,
    /// The AgentX socket.
    pub agentx: PathBuf,
    /// The AgentX TCP port, when the master listens on TCP.
    pub agentx_tcp: Option<u16>,
}

impl Snmpd {
    /// Starts snmpd with its files under `dir`, sending notifications to `trap_port`; the
    /// AgentX master on a unix socket, or on TCP with `tcp`.
    pub fn start(dir: &Path, trap_port: u16, tcp: bool) -> Snmpd {
        need("snmpd");
        fs::create_dir_all(dir).unwrap();
        let s = Snmpd {
            child: None,
            dir: dir.to_path_buf(),
            port: free_port(),
            agentx: dir.join("agentx.sock"),
            agentx_tcp: tcp.then(free_port),
        };
        let socket = match s.agentx_tcp {
            Some(p) => format!("tcp:127.0.0.1:{p}"),
            None => format!("unix:{}", s.agentx.display()),
        };
        fs::write(
            dir.join("snmpd.conf"),
            format!(
                "agentaddress udp:127.0.0.1:{port}\nmaster agentx\nagentXSocket {socket}\n\
                 agentXPerms 0660 0770\nagentXTimeout 5\nrocommunity public 127.0.0.1\n\
                 trap2sink 127.0.0.1:{trap_port} public\n",
                port = s.port,
            ),
        )
        .unwrap();
        let mut s = s;
        s.launch();
        s
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("snmpd");
        cmd.args(["-f", "-Lo", "-C", "-c"])
            .arg(self.dir.join("snmpd.conf"))
            .arg("-p")
            .arg(self.dir.join("snmpd.pid"))
            .env("SNMP_PERSISTENT_DIR", self.dir.join("persist"))
            .env("MIBS", "");
        self.child = Some(spawn_logged(cmd, &self.dir.join("snmpd.log")));
        let up = wait_for(Duration::from_secs(15), || {
            let master = match self.agentx_tcp {
                Some(p) => std::net::TcpStream::connect(("127.0.0.1", p)).is_ok(),
                None => self.agentx.exists(),
            };
            (udp_port_bound(self.port) && master).then_some(())
        });
        assert!(up.is_some(), "snmpd did not start: {}", self.log());
    }

    /// The `--agentx` address of its master.
    pub fn master(&self) -> String {
        match self.agentx_tcp {
            Some(p) => format!("tcp:127.0.0.1:{p}"),
            None => format!("unix:{}", self.agentx.display()),
        }
    }

    /// Its log.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("snmpd.log")).unwrap_or_default()
    }

    /// Stops it and starts it again on the same port and socket.
    pub fn restart(&mut self) {
        stop(&mut self.child);
        let _ = fs::remove_file(&self.agentx);
        self.launch();
    }

    fn run(&self, tool: &str, oid: &str) -> Vec<String> {
        let o = Command::new(tool)
            .args(["-v2c", "-c", "public", "-On", "-t", "2", "-r", "1"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg(oid)
            .env("MIBS", "")
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `snmpwalk -On` of `oid`: one line per object.
    pub fn walk(&self, oid: &str) -> Vec<String> {
        need("snmpwalk");
        self.run("snmpwalk", oid)
    }

    /// `snmpbulkwalk -On` of `oid`.
    pub fn bulkwalk(&self, oid: &str) -> Vec<String> {
        self.run("snmpbulkwalk", oid)
    }

    /// `snmpget -On` of one OID.
    pub fn get(&self, oid: &str) -> String {
        self.run("snmpget", oid).join("\n")
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// snmptrapd on 127.0.0.1:`port`, every notification logged (numeric OIDs) to a file.
pub struct Snmptrapd {
    child: Option<Child>,
    log: PathBuf,
    /// The port.
    pub port: u16,
}

impl Snmptrapd {
    /// Starts it with its files under `dir`.
    pub fn start(dir: &Path) -> Snmptrapd {
        need("snmptrapd");
        fs::create_dir_all(dir).unwrap();
        let port = free_port();
        fs::write(dir.join("snmptrapd.conf"), "disableAuthorization yes\n").unwrap();
        let log = dir.join("traps.log");
        let mut cmd = Command::new("snmptrapd");
        cmd.args(["-f", "-On", "-C", "-c"])
            .arg(dir.join("snmptrapd.conf"))
            .arg("-Lf")
            .arg(&log)
            .arg(format!("udp:127.0.0.1:{port}"))
            .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
            .env("MIBS", "");
        let child = spawn_logged(cmd, &dir.join("snmptrapd.out"));
        let up = wait_for(Duration::from_secs(15), || {
            udp_port_bound(port).then_some(())
        });
        assert!(up.is_some(), "snmptrapd did not bind 127.0.0.1:{port}");
        Snmptrapd {
            child: Some(child),
            log,
            port,
        }
    }

    /// The varbind lines of the notifications received so far whose snmpTrapOID is `trap`
    /// (each: the varbinds after snmpTrapOID.0, tab-separated as snmptrapd logs them).
    pub fn received(&self, trap: &str) -> Vec<String> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let marker = format!(".1.3.6.1.6.3.1.1.4.1.0 = OID: .{trap}\t");
        text.lines()
            .filter_map(|l| l.split_once(&marker).map(|(_, rest)| rest.to_string()))
            .collect()
    }
}

impl Drop for Snmptrapd {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
