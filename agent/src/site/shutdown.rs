//! A clean shutdown of a site node: SIGTERM or SIGINT releases the site Lease when this node
//! holds it ([`super::elector::Elector::release`]: the fence closes first, then the Lease is
//! written with no holder), so a follower takes over on its next try rather than after the
//! lease duration; then the process exits. The signal handler only writes one byte to a pipe
//! (async-signal-safe); a thread of its own reads it and does the rest.

use super::elector::Elector;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// The pipe's write end, for the handler.
static WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the byte is static.
        unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
}

/// Installs the handlers and the thread that releases the Lease and exits.
pub fn release_on_term(elector: Arc<Elector>) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: a plain pipe(2) into a two-element array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        tracing::warn!(
            "site: no pipe for the shutdown handler; the Lease is not released on SIGTERM"
        );
        return;
    }
    WAKE.store(fds[1], Ordering::SeqCst);
    // SAFETY: fds[0] is ours alone from here on.
    let mut read_end = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let spawned = std::thread::Builder::new()
        .name("ferry-site-shutdown".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            if read_end.read_exact(&mut byte).is_err() {
                return;
            }
            match elector.release() {
                Ok(true) => tracing::info!("site lease released on shutdown"),
                Ok(false) => {}
                Err(e) => tracing::warn!("site lease not released on shutdown: {e}"),
            }
            std::process::exit(0);
        });
    if let Err(e) = spawned {
        tracing::warn!("site: no shutdown thread ({e}); the Lease is not released on SIGTERM");
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only loads an atomic and calls write(2).
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}
