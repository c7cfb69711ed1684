//! Transports: they send request bytes and get reply bytes back under a deadline (reply
//! FIFO, datagram socket, HTTP agent). They know nothing of MI generations, ids or commands:
//! the session layer encodes each request with a codec from `protocol`,
//! and a [`Reply`] it hands over says when the bytes received so far make a whole reply.

pub(crate) mod datagram;
pub(crate) mod fifo;
#[cfg(feature = "http")]
pub(crate) mod http;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

pub(crate) use crate::protocol::framing::Framing;
use crate::{Error, Result};

/// Judges the bytes a transport received for one request.
pub(crate) trait Reply {
    /// What a complete reply becomes.
    type Out;
    /// `Some` once `buf` holds the whole reply (or shows that none will come); `None` to
    /// keep going. A stream transport (FIFO) passes everything received so far and sets
    /// `at_end` when the writer closed its end (an async reply may still reopen it); a
    /// datagram or HTTP transport passes one datagram or body with `at_end` set, and a
    /// datagram that is not the reply (`None`) is dropped. The judge may take `buf`.
    fn judge(&self, buf: &mut Vec<u8>, at_end: bool) -> Option<Result<Self::Out>>;
    /// [`Reply::judge`] of one datagram, which stays in the transport's buffer (`at_end`
    /// set): by default on a copy the judge may take.
    fn judge_datagram(&self, datagram: &[u8]) -> Option<Result<Self::Out>> {
        self.judge(&mut datagram.to_vec(), true)
    }
    /// The deadline passed after `buf` (not only whitespace) arrived on a stream: the
    /// reply was cut short, or is not one.
    fn at_deadline(&self, buf: Vec<u8>, total: Duration) -> Result<Self::Out>;
    /// `true` if only the writer closing its end tells that this reply is complete (the
    /// 1.x/2.x text on a FIFO); otherwise the bytes alone tell, and a stream can carry the
    /// replies of several calls in turn.
    fn ends_at_eof(&self) -> bool {
        false
    }
}

/// Builds one request's bytes, given the reply FIFO name a FIFO transport picked for it
/// (`None` on other transports).
pub(crate) type Encode<'a> = &'a dyn Fn(Option<&str>) -> Result<Vec<u8>>;

/// One request of a staged exchange ([`Transport::exchange_staged`]).
pub(crate) struct Stage<'a, R> {
    pub(crate) encode: Encode<'a>,
    pub(crate) reply: &'a R,
    /// How long to wait for this stage's answer before sending the next stage.
    pub(crate) patience: Duration,
    /// FIFO: name this stage's reply FIFO with digits only (so that, written after the
    /// `:` of a request, it reads as a JSON number).
    pub(crate) digits: bool,
}

/// Moves bytes to and from one MI endpoint.
pub(crate) trait Transport: Send + Sync + std::fmt::Debug {
    /// How requests are framed on this transport.
    fn framing(&self) -> Framing;
    /// The endpoint as a URL (without credentials).
    fn endpoint(&self) -> String;
    /// Sends one request and waits, until `deadline`, for the reply `reply` accepts.
    fn exchange<R: Reply>(
        &self,
        encode: Encode<'_>,
        reply: &R,
        deadline: &Deadline,
    ) -> Result<R::Out>;
    /// Sends the stages one at a time: stage `i + 1` only once stage `i` has gone
    /// unanswered for its patience. Returns the first answer. By default an earlier stage
    /// is no longer heard once the next one is sent; the FIFO keeps listening to all.
    fn exchange_staged<R: Reply>(
        &self,
        stages: &[Stage<'_, R>],
        deadline: &Deadline,
    ) -> Result<R::Out> {
        let mut last = None;
        for (i, stage) in stages.iter().enumerate() {
            let step = if i + 1 == stages.len() {
                *deadline
            } else {
                deadline.within(stage.patience)
            };
            match self.exchange(stage.encode, stage.reply, &step) {
                Err(e @ Error::Timeout { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::timeout(deadline.total(), "waiting for the reply")))
    }
}

/// The longest socket timeout (`SO_RCVTIMEO`, `SO_SNDTIMEO`) a transport sets. The kernel
/// runs a long one on a coarse timer (up to an eighth of it late: 6.15 s woke 88 ms late at
/// HZ=250); up to 100 ms it is exact to a tick or two (4–10 ms). A longer wait wakes every
/// 100 ms (one receive that finds nothing, no `setsockopt`) until the deadline is near.
pub(crate) const MAX_SOCKET_TIMEOUT: Duration = Duration::from_millis(100);

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

    /// A deadline at most `patience` from now, and never after this one. Its `total` is
    /// this one's, so a timeout still reports the whole budget.
    pub(crate) fn within(&self, patience: Duration) -> Deadline {
        Deadline {
            at: self.at.min(Instant::now() + patience),
            total: self.total,
        }
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
