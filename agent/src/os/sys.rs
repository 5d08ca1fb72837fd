//! The few calls std does not wrap. All of envmon's `unsafe` lives here, each block small
//! and commented with why it is sound.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

/// The system's host name (`gethostname(2)`), or `None` if it is empty or not UTF-8.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname
    // writes at most `len` bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(buf.get(..end)?).ok()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Whether the peer of a connected stream socket has closed it or the connection has failed,
/// without blocking and without consuming data. A syslog receiver never sends, so pending
/// data is only read past (it cannot be a reply we need).
pub fn stream_peer_gone(sock: &impl AsRawFd) -> bool {
    let mut buf = [0u8; 64];
    // SAFETY: the fd is owned by `sock` for the duration of the call; the pointer and length
    // describe `buf`. MSG_PEEK leaves the data queued; MSG_DONTWAIT makes it non-blocking.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => true,
        n if n > 0 => false,
        _ => {
            let err = std::io::Error::last_os_error();
            !matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            )
        }
    }
}

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomic stores: async-signal-safe.
    if sig == libc::SIGHUP {
        RELOAD.store(true, Ordering::SeqCst);
    } else {
        STOP.store(true, Ordering::SeqCst);
    }
}

/// Routes SIGTERM and SIGINT to [`stop_requested`] and SIGHUP to [`take_reload`].
pub fn install_signal_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: `on_signal` only stores to atomics, which is async-signal-safe; the
        // sigaction struct is fully initialised (zeroed, then the handler and an empty mask).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Restores SIGPIPE's default action (terminate), for the CLI commands.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL has no memory-safety requirement.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Whether SIGHUP arrived since the last call.
pub fn take_reload() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
}

/// This process's effective user ID (the owner of the files it makes).
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Makes the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core dump, whatever
/// the core limit, and no ptrace or /proc/PID/environ or /proc/PID/mem for other processes of
/// the same user. The RMCP+ password is in memory (and may be in the environment).
pub fn not_dumpable() -> std::io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer argument and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Who is on the other end of a Unix stream socket: `SO_PEERCRED` (process, user, primary
/// group, as at connect) and `SO_PEERGROUPS` (supplementary groups, at most 64 kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCreds {
    /// Process ID.
    pub pid: i32,
    /// Effective user ID.
    pub uid: u32,
    /// Effective group ID.
    pub gid: u32,
    /// Supplementary groups (empty when the kernel cannot say).
    pub groups: Vec<u32>,
}

/// The peer's credentials (see [`PeerCreds`]).
pub fn peer_credentials(sock: &impl AsRawFd) -> std::io::Result<PeerCreds> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the fd is owned by `sock` for the call; the pointer and length describe
    // `cred`, a ucred, which is what SO_PEERCRED writes (at most `len` bytes).
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut groups = [0 as libc::gid_t; 64];
    let mut glen = std::mem::size_of_val(&groups) as libc::socklen_t;
    // SAFETY: as above; SO_PEERGROUPS writes at most `glen` bytes of gid_t into `groups` and
    // sets `glen` to the bytes written (ERANGE, and nothing kept, when there are more).
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &raw mut glen,
        )
    };
    let n = if rc == 0 {
        usize::try_from(glen).unwrap_or(0) / std::mem::size_of::<libc::gid_t>()
    } else {
        0
    };
    Ok(PeerCreds {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
        groups: groups.get(..n).unwrap_or(&[]).to_vec(),
    })
}

/// Flushes every filesystem (`sync(2)`).
pub fn sync() {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Powers the machine off (`reboot(2)` with `RB_POWER_OFF`). Returns only on failure
/// (for example without CAP_SYS_BOOT).
pub fn power_off() -> std::io::Result<()> {
    // SAFETY: reboot with RB_POWER_OFF takes no pointers; on success it does not return.
    let rc = unsafe { libc::reboot(libc::RB_POWER_OFF) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
