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

/// Whether SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Whether SIGHUP arrived since the last call.
pub fn take_reload() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
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
