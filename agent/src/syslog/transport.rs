//! The byte pipes under the syslog queue: one narrow trait, one type per URI scheme.
//!
//! A transport connects lazily on `send` and forgets its connection on `reset`; the worker
//! that drives it decides when to retry. Frames arrive without framing; each transport adds
//! its own (octet count for TCP, newline for files and stderr, nothing for datagrams).

use super::uri::SyslogUri;
use crate::os::sys;
use std::{
    fs::File,
    io::{self, Write},
    net::{TcpStream, ToSocketAddrs, UdpSocket},
    os::unix::net::UnixDatagram,
    path::PathBuf,
    time::Duration,
};

/// How long a connect or a write may block the worker before the attempt counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends one frame, connecting first if needed.
pub trait Transport: Send {
    /// Delivers `frame` (no trailing newline). An error means it was not delivered and the
    /// connection, if any, should be dropped with [`Transport::reset`].
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;
    /// Drops the connection or file handle so that the next `send` opens a new one (after a
    /// failure, and on SIGHUP).
    fn reset(&mut self);
}

/// Builds the transport for a URI.
pub fn for_uri(uri: &SyslogUri) -> Box<dyn Transport> {
    match uri {
        SyslogUri::Unix(path) => Box::new(UnixTransport {
            path: path.clone(),
            sock: None,
        }),
        SyslogUri::Udp { host, port } => Box::new(UdpTransport {
            addr: SyslogUri::socket_addr_text(host, *port),
            sock: None,
        }),
        SyslogUri::Tcp { host, port } => Box::new(TcpTransport {
            addr: SyslogUri::socket_addr_text(host, *port),
            stream: None,
        }),
        SyslogUri::File(path) => Box::new(FileTransport {
            path: path.clone(),
            file: None,
        }),
        SyslogUri::Stderr => Box::new(StderrTransport),
    }
}

/// A local daemon's datagram socket. A daemon restart leaves the old socket dead
/// (`ECONNREFUSED`/`ENOENT`); reset + reconnect picks up the new one.
struct UnixTransport {
    path: PathBuf,
    sock: Option<UnixDatagram>,
}

impl Transport for UnixTransport {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let sock = match &mut self.sock {
            Some(s) => s,
            none => {
                let s = UnixDatagram::unbound()?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.connect(&self.path)?;
                none.insert(s)
            }
        };
        sock.send(frame).map(|_| ())
    }
    fn reset(&mut self) {
        self.sock = None;
    }
}

/// UDP: best effort by nature. The socket is connected so that an ICMP port-unreachable
/// surfaces as an error on a later send, which then resets and retries that frame.
struct UdpTransport {
    addr: String,
    sock: Option<UdpSocket>,
}

impl Transport for UdpTransport {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let sock = match &mut self.sock {
            Some(s) => s,
            none => {
                let target = resolve(&self.addr)?;
                let bind = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let s = UdpSocket::bind(bind)?;
                s.connect(target)?;
                none.insert(s)
            }
        };
        sock.send(frame).map(|_| ())
    }
    fn reset(&mut self) {
        self.sock = None;
    }
}

/// TCP with RFC 6587 octet counting: `LEN SP FRAME`. Before each frame the connection is
/// checked without blocking: a receiver that went away has sent FIN, and writing into that
/// socket would "succeed" into the kernel buffer and lose the frame.
struct TcpTransport {
    addr: String,
    stream: Option<TcpStream>,
}

impl Transport for TcpTransport {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if self.stream.as_ref().is_some_and(sys::stream_peer_gone) {
            self.stream = None;
        }
        let stream = match &mut self.stream {
            Some(s) => s,
            none => {
                let s = TcpStream::connect_timeout(&resolve(&self.addr)?, IO_TIMEOUT)?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                none.insert(s)
            }
        };
        let mut buf = Vec::with_capacity(frame.len() + 6);
        write!(buf, "{} ", frame.len())?;
        buf.extend_from_slice(frame);
        stream.write_all(&buf)
    }
    fn reset(&mut self) {
        self.stream = None;
    }
}

/// A file, appended to one line per frame. Reopened after an error (for example when the
/// disk was full), after [`Transport::reset`] (SIGHUP), and whenever the path no longer names
/// the open file (logrotate's create mode: moved away or removed). Appending (`O_APPEND`)
/// also follows copytruncate: after the file is cut to zero, the next line is at its start.
struct FileTransport {
    path: PathBuf,
    file: Option<(File, FileId)>,
}

/// Device and inode: what a path names.
type FileId = (u64, u64);

fn file_id(m: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

impl Transport for FileTransport {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let current = std::fs::metadata(&self.path).ok().map(|m| file_id(&m));
        if self
            .file
            .as_ref()
            .is_some_and(|(_, id)| current != Some(*id))
        {
            log::info!(
                "syslog file://{}: the file was rotated; reopening",
                self.path.display()
            );
            self.file = None;
        }
        let (file, _) = match &mut self.file {
            Some(f) => f,
            none => {
                // Never through a symbolic link (the file layer's rule, files.rs).
                let f = crate::os::files::open_append(&self.path)?;
                let id = file_id(&f.metadata()?);
                none.insert((f, id))
            }
        };
        let mut line = Vec::with_capacity(frame.len() + 1);
        line.extend_from_slice(frame);
        line.push(b'\n');
        file.write_all(&line)
    }
    fn reset(&mut self) {
        self.file = None;
    }
}

/// Standard error, one line per frame.
struct StderrTransport;

impl Transport for StderrTransport {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let mut line = Vec::with_capacity(frame.len() + 1);
        line.extend_from_slice(frame);
        line.push(b'\n');
        io::stderr().lock().write_all(&line)
    }
    fn reset(&mut self) {}
}

fn resolve(addr: &str) -> io::Result<std::net::SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        )
    })
}
