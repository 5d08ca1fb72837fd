//! Syslog destination URIs (docs/contract.md §2).

use std::{fmt, path::PathBuf, str::FromStr};

/// Where syslog frames go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyslogUri {
    /// `unix:///dev/log`: a local syslog daemon's datagram socket.
    Unix(PathBuf),
    /// `udp://HOST:PORT` (port 514 when left out).
    Udp {
        /// Host name or address (IPv6 without brackets).
        host: String,
        /// UDP port.
        port: u16,
    },
    /// `tcp://HOST:PORT` with RFC 6587 octet counting (port 601 when left out).
    Tcp {
        /// Host name or address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// `file:///path`: each frame appended as one line.
    File(PathBuf),
    /// `stderr`: each frame as one line on standard error.
    Stderr,
}

impl SyslogUri {
    /// True for a local daemon's socket, where RFC 3164 frames leave the host name out.
    pub fn is_local_socket(&self) -> bool {
        matches!(self, SyslogUri::Unix(_))
    }

    /// `host:port` for the network transports, with IPv6 bracketed.
    pub(crate) fn socket_addr_text(host: &str, port: u16) -> String {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

impl fmt::Display for SyslogUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogUri::Unix(p) => write!(f, "unix://{}", p.display()),
            SyslogUri::Udp { host, port } => {
                write!(f, "udp://{}", SyslogUri::socket_addr_text(host, *port))
            }
            SyslogUri::Tcp { host, port } => {
                write!(f, "tcp://{}", SyslogUri::socket_addr_text(host, *port))
            }
            SyslogUri::File(p) => write!(f, "file://{}", p.display()),
            SyslogUri::Stderr => f.write_str("stderr"),
        }
    }
}

fn absolute_path(scheme: &str, rest: &str) -> Result<PathBuf, String> {
    if !rest.starts_with('/') || rest.len() < 2 {
        return Err(format!(
            "'{scheme}://{rest}' needs an absolute path, as in {scheme}:///dev/log"
        ));
    }
    Ok(PathBuf::from(rest))
}

fn host_port(scheme: &str, rest: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = |why: &str| format!("'{scheme}://{rest}': {why} (expected {scheme}://HOST:PORT)");
    if rest.contains('/') || rest.contains('@') {
        return Err(bad("only a host and a port may follow the scheme"));
    }
    let bracketed = rest.starts_with('[');
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            ),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    // A name or IPv4 address; an IPv6 address (with an optional %zone) only in brackets.
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    let host_ok = if bracketed {
        host.contains(':') && host.chars().all(|c| name_char(c) || matches!(c, ':' | '%'))
    } else {
        host.chars().all(name_char)
    };
    if !host_ok {
        return Err(bad(if bracketed {
            "the brackets must hold an IPv6 address"
        } else {
            "the host must be a name or address (an IPv6 address goes in brackets)"
        }));
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok((host.to_string(), port))
}

impl FromStr for SyslogUri {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "stderr" {
            return Ok(SyslogUri::Stderr);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(format!(
                "'{s}' is not a syslog URI (expected unix:///path, udp://HOST:PORT, tcp://HOST:PORT, file:///path or stderr)"
            ));
        };
        match scheme {
            "unix" => absolute_path(scheme, rest).map(SyslogUri::Unix),
            "file" => absolute_path(scheme, rest).map(SyslogUri::File),
            "udp" => host_port(scheme, rest, 514).map(|(host, port)| SyslogUri::Udp { host, port }),
            "tcp" => host_port(scheme, rest, 601).map(|(host, port)| SyslogUri::Tcp { host, port }),
            other => Err(format!(
                "'{s}': unknown scheme '{other}' (expected unix, udp, tcp, file or stderr)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_prints_it_back() {
        for (text, canonical) in [
            ("unix:///dev/log", "unix:///dev/log"),
            ("udp://127.0.0.1:5514", "udp://127.0.0.1:5514"),
            ("udp://loghost", "udp://loghost:514"),
            ("tcp://[::1]:6514", "tcp://[::1]:6514"),
            ("udp://[fe80::1%eth0]", "udp://[fe80::1%eth0]:514"),
            ("udp://log_1.example-2", "udp://log_1.example-2:514"),
            ("tcp://collector.example:601", "tcp://collector.example:601"),
            ("file:///var/log/envmon.log", "file:///var/log/envmon.log"),
            ("stderr", "stderr"),
        ] {
            let uri: SyslogUri = text.parse().unwrap();
            assert_eq!(uri.to_string(), canonical, "{text}");
            assert_eq!(canonical.parse::<SyslogUri>().unwrap(), uri);
        }
    }

    #[test]
    fn rejects_bad_uris_with_a_reason() {
        for (text, needle) in [
            ("/dev/log", "not a syslog URI"),
            ("unix://dev/log", "absolute path"),
            ("file://", "absolute path"),
            ("udp://:514", "host is missing"),
            ("udp://h:0", "1 to 65535"),
            ("udp://h:99999", "1 to 65535"),
            ("tcp://h:1/x", "only a host and a port"),
            ("tcp://[::1", "unclosed"),
            ("http://h:1", "unknown scheme 'http'"),
            // Found by fuzz/fuzz_targets/syslog_uri.rs: it parsed, then printed as a URI
            // that did not parse back.
            ("tcp://p:[::1\0]:p:1", "IPv6 address goes in brackets"),
            ("udp://::1:514", "IPv6 address goes in brackets"),
            ("udp://h\nx:514", "name or address"),
            ("udp://[loghost]:514", "brackets must hold an IPv6"),
        ] {
            let err = text.parse::<SyslogUri>().unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
