//! Deadlines over a whole exchange rather than per read or write: the socket's timeout is
//! set before every call to what is left, so bytes trickled in (or read out) slowly do not
//! restart the clock.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `now + d`, saturating at a year for absurd durations (never panics).
pub fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

/// What is left before `deadline`, or a timeout error once it passed.
fn left(deadline: Instant) -> io::Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
}

/// The socket read through one deadline for everything read: each read may wait only for
/// what is left of it, so a head trickled one byte at a time is cut when the deadline passes
/// (a read timeout alone restarts with every byte).
pub struct DeadlineReader {
    pub stream: TcpStream,
    pub deadline: Instant,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(left(self.deadline)?))?;
        self.stream.read(buf)
    }
}

/// The socket written through one deadline for the whole answer (each write waits at most
/// `write_timeout`, and never past the deadline).
pub struct DeadlineWriter<'a> {
    pub stream: &'a TcpStream,
    pub deadline: Instant,
    pub write_timeout: Duration,
}

impl Write for DeadlineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = left(self.deadline)?;
        self.stream
            .set_write_timeout(Some(left.min(self.write_timeout)))?;
        (&mut &*self.stream).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
