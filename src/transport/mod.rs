//! Transports: they move bytes under a deadline; the codec in `protocol` gives them meaning.

pub(crate) mod datagram;
pub(crate) mod fifo;
#[cfg(feature = "http")]
pub(crate) mod http;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// A point in time every blocking step of one call must finish by.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    pub(crate) fn after(total: Duration) -> Self {
        Deadline {
            at: Instant::now() + total,
            total,
        }
    }

    /// Time left, `None` once expired.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.at
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    pub(crate) fn total(&self) -> Duration {
        self.total
    }
}

/// What `wait_for` saw.
#[derive(Debug, PartialEq)]
pub(crate) enum Ready {
    /// The requested events (or an error/hang-up condition, which the next I/O reports).
    Yes { hup: bool },
    /// The deadline passed.
    TimedOut,
}

/// Polls one descriptor for `events` until `deadline`.
pub(crate) fn wait_for(
    fd: &impl AsFd,
    events: PollFlags,
    deadline: &Deadline,
) -> std::io::Result<Ready> {
    loop {
        let Some(left) = deadline.remaining() else {
            return Ok(Ready::TimedOut);
        };
        // Round up so a sub-millisecond remainder does not spin with a zero timeout.
        let ms = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), events)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => {
                let rev = fds[0].revents().unwrap_or(PollFlags::empty());
                let hup = rev.contains(PollFlags::POLLHUP) && !rev.contains(PollFlags::POLLIN);
                return Ok(Ready::Yes { hup });
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A random token of 16 hex digits, for reply FIFO and socket names (no `.` or `/`).
pub(crate) fn random_token() -> String {
    let n = getrandom::u64().unwrap_or_else(|_| {
        // Fall back to time and pid: still unique per call, just not unpredictable.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ (u64::from(std::process::id()) << 32)
    });
    format!("{n:016x}")
}
