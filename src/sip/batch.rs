//! Many SIP requests at once: voicemail lamps for a whole PBX, re-provisioning a floor of
//! phones.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{SipReply, SipRequest};
use crate::{ConnectionLike, Error, Result};

/// The default number of requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// What became of one request of a [`Batch`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The far end accepted it (2xx).
    Delivered(SipReply),
    /// The far end answered with a failure (`404`, `486`, `481`…).
    Refused(SipReply),
    /// Nobody answered: OpenSIPS gave up after its `fr_timeout` (a local `408`). The phone
    /// is offline or unreachable.
    TimedOut(SipReply),
    /// OpenSIPS refused the request (an MI error reply), or could not be asked (transport
    /// error, no MI reply in time).
    Failed(Error),
    /// Not sent: the batch stopped when OpenSIPS stopped answering (see
    /// [`Batch::stop_when_unreachable`]).
    NotSent,
}

impl Outcome {
    fn of(r: Result<SipReply>) -> Outcome {
        match r {
            Ok(reply) if reply.is_success() => Outcome::Delivered(reply),
            Ok(reply) if reply.status == 408 => Outcome::TimedOut(reply),
            Ok(reply) => Outcome::Refused(reply),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// `true` for [`Outcome::Delivered`].
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered(_))
    }

    /// The SIP final response, if there was one.
    pub fn reply(&self) -> Option<&SipReply> {
        match self {
            Outcome::Delivered(r) | Outcome::Refused(r) | Outcome::TimedOut(r) => Some(r),
            _ => None,
        }
    }

    /// The error of a [`Outcome::Failed`] request.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// `true` when OpenSIPS itself could not be asked: a transport error, no MI reply in
    /// time, or not sent because of one. An MI error reply is not one.
    pub fn server_unreachable(&self) -> bool {
        match self {
            Outcome::Failed(e) => {
                e.server_error().is_none() && !matches!(e, Error::InvalidRequest { .. })
            }
            Outcome::NotSent => true,
            _ => false,
        }
    }

    /// Which of the five outcomes this is, without its payload.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Delivered(_) => OutcomeKind::Delivered,
            Outcome::Refused(_) => OutcomeKind::Refused,
            Outcome::TimedOut(_) => OutcomeKind::TimedOut,
            Outcome::Failed(_) => OutcomeKind::Failed,
            Outcome::NotSent => OutcomeKind::NotSent,
        }
    }
}

/// The kind of an [`Outcome`], for counting ([`BatchReport::count`]) and for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// [`Outcome::Delivered`].
    Delivered,
    /// [`Outcome::Refused`].
    Refused,
    /// [`Outcome::TimedOut`].
    TimedOut,
    /// [`Outcome::Failed`].
    Failed,
    /// [`Outcome::NotSent`].
    NotSent,
}

impl OutcomeKind {
    /// A short, stable name: `delivered`, `refused`, `timeout`, `failed` or `not_sent` (the
    /// CLI's `outcome` field).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Delivered => "delivered",
            OutcomeKind::Refused => "refused",
            OutcomeKind::TimedOut => "timeout",
            OutcomeKind::Failed => "failed",
            OutcomeKind::NotSent => "not_sent",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`Batch`] did: one [`Outcome`] per request, in the order given.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchReport {
    /// One outcome per request, in the order of the requests.
    pub outcomes: Vec<Outcome>,
    /// The most requests that were in flight at once (never more than the concurrency).
    pub max_in_flight: usize,
    /// How long the batch took.
    pub elapsed: Duration,
}

impl BatchReport {
    /// How many requests had this [`Outcome::kind`].
    pub fn count(&self, kind: OutcomeKind) -> usize {
        self.outcomes.iter().filter(|o| o.kind() == kind).count()
    }

    /// `true` if every request was delivered.
    pub fn all_delivered(&self) -> bool {
        self.outcomes.iter().all(Outcome::is_delivered)
    }
}

/// Sends many SIP requests through OpenSIPS' `t_uac_dlg` with bounded concurrency.
///
/// Each `t_uac_dlg` call waits for the phone's final answer, and an offline phone answers
/// nothing: OpenSIPS gives up after tm's `fr_timeout` (often 30 s). One after another, a
/// thousand mailboxes with a tenth of the phones offline take most of an hour; a batch
/// keeps up to [`Batch::concurrency`] requests in flight (never more: the server's
/// transaction table and MI processes stay within bounds) and gives one [`Outcome`] per
/// request, in the order given.
///
/// Over a datagram endpoint, give it a [`Pool`](crate::Pool) at least as large as the
/// concurrency (a single datagram [`Connection`](crate::Connection) runs one call at a
/// time); FIFO and HTTP connections run calls in parallel themselves.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use std::time::Duration;
/// use opensips_mi::Pool;
/// use opensips_mi::sip::{self, Batch, MessageSummary, Outcome};
/// let server = opensips_mi::mock::MockServer::builder()
///     .udp()
///     .fr_timeout(Duration::from_millis(300))
///     .start()?;
/// // an offline phone: a loopback port where nothing listens
/// let offline = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?; // closed at once
/// let lamps = [
///     ("sip:1001@10.0.0.21", 2),
///     (&*format!("sip:1002@{offline}"), 1),
///     ("sip:1003@10.0.0.23", 0),
/// ];
/// let requests = lamps
///     .iter()
///     .map(|(phone, new)| sip::mwi_update(phone, &MessageSummary::voice(*new, 0)))
///     .collect::<Result<Vec<_>, _>>()?;
/// let pool = Pool::open(&server.udp_url().unwrap(), 8)?;
/// let report = Batch::new().concurrency(8).send(&pool, &requests)?;
/// assert!(report.outcomes[0].is_delivered());
/// assert!(matches!(report.outcomes[1], Outcome::TimedOut(_)));
/// assert!(report.outcomes[2].is_delivered());
/// assert!(report.max_in_flight <= 8);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Batch {
    concurrency: usize,
    stop_when_unreachable: bool,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// A batch of [`DEFAULT_CONCURRENCY`] requests in flight, stopping when OpenSIPS stops
    /// answering.
    pub fn new() -> Batch {
        Batch {
            concurrency: DEFAULT_CONCURRENCY,
            stop_when_unreachable: true,
        }
    }

    /// At most `n` requests in flight (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Whether the requests not yet sent are given up ([`Outcome::NotSent`]) once one
    /// finds OpenSIPS unreachable ([`Error::is_unreachable`]) or silent
    /// ([`Error::is_timeout`]); on by default, so that a dead server does not cost a
    /// timeout per request.
    pub fn stop_when_unreachable(mut self, yes: bool) -> Self {
        self.stop_when_unreachable = yes;
        self
    }

    /// Sends every request over `conn` and waits for all of them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] naming the first request that cannot be sent (see
    /// [`SipRequest::header_block`]): then nothing is sent. Everything else is in the
    /// request's [`Outcome`].
    pub fn send<C>(&self, conn: &C, requests: &[SipRequest]) -> Result<BatchReport>
    where
        C: ConnectionLike + Sync + ?Sized,
    {
        self.send_with(conn, requests, |_, _| {})
    }

    /// As [`Batch::send`], calling `done(index, outcome)` as each request finishes (in
    /// the order they finish), e.g. for progress.
    ///
    /// # Errors
    ///
    /// As [`Batch::send`].
    pub fn send_with<C, F>(&self, conn: &C, requests: &[SipRequest], done: F) -> Result<BatchReport>
    where
        C: ConnectionLike + Sync + ?Sized,
        F: Fn(usize, &Outcome) + Sync,
    {
        for (i, r) in requests.iter().enumerate() {
            r.header_block()
                .map_err(|e| Error::invalid_request(format!("request {}: {e}", i + 1)))?;
        }
        let start = Instant::now();
        let next = AtomicUsize::new(0);
        let in_flight = AtomicUsize::new(0);
        let max_in_flight = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let workers = self.concurrency.min(requests.len()).max(1);
        let finished: Vec<Vec<(usize, Outcome)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(req) = requests.get(i) else {
                                return mine;
                            };
                            let outcome = if stop.load(Ordering::SeqCst) {
                                Outcome::NotSent
                            } else {
                                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                                max_in_flight.fetch_max(now, Ordering::SeqCst);
                                let r = req.send(&conn);
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                if let Err(e) = &r {
                                    if self.stop_when_unreachable
                                        && (e.is_unreachable() || e.is_timeout())
                                    {
                                        stop.store(true, Ordering::SeqCst);
                                    }
                                }
                                Outcome::of(r)
                            };
                            done(i, &outcome);
                            mine.push((i, outcome));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut slots: Vec<Option<Outcome>> = (0..requests.len()).map(|_| None).collect();
        for (i, o) in finished.into_iter().flatten() {
            slots[i] = Some(o);
        }
        Ok(BatchReport {
            outcomes: slots
                .into_iter()
                .map(|o| o.unwrap_or(Outcome::NotSent))
                .collect(),
            max_in_flight: max_in_flight.load(Ordering::SeqCst),
            elapsed: start.elapsed(),
        })
    }
}
