//! `mi_fifo`: requests written to the server's FIFO, replies read from a FIFO of ours.
//!
//! The sequence follows what the real server needs (PROTOCOL.md §6.1):
//! 1. open the server FIFO `O_WRONLY|O_NONBLOCK` (no reader → `ENXIO` → "not running",
//!    never a hang; no `O_CREAT`, so `fs.protected_fifos` does not apply);
//!    The FIFO must be the server's: in a directory every user can write to (`/tmp`), one
//!    owned by anyone but root, us or the server user is refused (a squatter would read the
//!    requests). The write end so checked is held for the next calls of the connection
//!    (requests keep going to the FIFO that was checked, whatever its name leads to
//!    meanwhile) until its reader is gone (the server stopped or restarted: `POLLERR` or
//!    `EPIPE`, never a hang); then the FIFO is opened and checked again by name and the
//!    request written once more;
//! 2. `mkfifo` our reply FIFO in the server's `reply_dir` under an unpredictable name
//!    without `.` or `/`, mode `0600`; open it `O_NOFOLLOW`, check through the descriptor
//!    that it is still the FIFO we made, and widen it through the descriptor only as far as
//!    the server needs (its group, 0620, when the server is another user: see
//!    [`Grant`](crate::access::Grant));
//! 3. open it `O_NONBLOCK` *before* writing (the server gives up after ~320 ms): read-only
//!    for a reply that only EOF ends (1.x/2.x), else read-write, so that no EOF comes between
//!    calls and the FIFO can serve the next call of the connection;
//! 4. write the request in one `write()` of at most 4096 bytes;
//! 5. poll and read under the deadline until the session's [`Reply`] says the reply is
//!    complete;
//! 6. keep the reply FIFO of a call that succeeded (a few per connection), remove it on
//!    every other path — timeouts and errors included, so a late reply goes with it — and
//!    all of them when the connection is dropped (a guard's `Drop`).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use std::os::fd::AsFd;

use super::{Deadline, Encode, Framing, Ready, Reply, Stage, Transport, random_token, wait_for};
use crate::access::{Grant, Peer, Trust, check_ours};
use crate::{Error, Result};

/// mi_fifo reads requests through a 4096-byte buffer and drops anything longer.
pub const MAX_FIFO_REQUEST: usize = 4096;
/// mi_fifo refuses reply paths of 128 bytes or more (`MAX_MI_FILENAME`).
const MAX_REPLY_PATH: usize = 127;

/// The FIFO transport: where requests go, where reply FIFOs are made.
#[derive(Debug)]
pub(crate) struct FifoTransport {
    path: PathBuf,
    reply_dir: PathBuf,
    reply_name: Option<String>,
    /// Serializes calls when a fixed reply FIFO name is shared.
    fixed: Mutex<()>,
    max_reply: usize,
    /// Reply FIFOs of calls that succeeded, for the next calls (at most [`IDLE_FIFOS`]).
    idle: Mutex<Vec<ReplyFifo>>,
    /// Whose server FIFO is trusted in a directory every user can write to.
    trust: Trust,
    /// Whether a reply FIFO may be made writable by every user when nothing narrower lets
    /// the server in.
    allow_world: bool,
    /// The server FIFO (device, inode) last checked, and the grant worked out for it
    /// (both again when it changes, e.g. after a restart, perhaps as another user).
    known: Mutex<Option<((u64, u64), Grant)>>,
    /// The server FIFO's write end as [`FifoTransport::open_server`] opened and checked it,
    /// with its grant, held for the next calls (a request is one write of at most
    /// `PIPE_BUF` bytes, which is atomic, so concurrent calls share it); dropped once its
    /// reader is gone.
    held: Mutex<Option<(Arc<File>, Grant)>>,
}

/// What became of a request written into the server FIFO.
#[derive(Debug, PartialEq)]
enum Sent {
    Done,
    /// The FIFO has no reader (`POLLERR` before the write, `EPIPE` from it): nothing was
    /// written.
    NoReader,
}

/// How many reply FIFOs a connection keeps for reuse (one per concurrent caller).
const IDLE_FIFOS: usize = 4;

impl FifoTransport {
    pub(crate) fn new(
        path: PathBuf,
        reply_dir: PathBuf,
        reply_name: Option<String>,
        max_reply: usize,
        trust: Trust,
        allow_world: bool,
    ) -> Result<Self> {
        if let Some(name) = &reply_name {
            check_reply_name(name)?;
        }
        let longest = reply_dir.join(reply_name.as_deref().unwrap_or("osips_mi_0123456789abcdef"));
        if longest.as_os_str().len() > MAX_REPLY_PATH {
            return Err(Error::invalid_config(format!(
                "reply FIFO path {} is longer than the {MAX_REPLY_PATH} bytes mi_fifo accepts; \
                 use a shorter reply_dir",
                longest.display()
            )));
        }
        Ok(FifoTransport {
            path,
            reply_dir,
            reply_name,
            fixed: Mutex::new(()),
            max_reply,
            idle: Mutex::new(Vec::new()),
            trust,
            allow_world,
            known: Mutex::new(None),
            held: Mutex::new(None),
        })
    }

    /// The server FIFO path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The directory reply FIFOs are created in (the server's `reply_dir`).
    pub(crate) fn reply_dir(&self) -> &Path {
        &self.reply_dir
    }

    /// The owner of the server FIFO (who OpenSIPS runs as), if it is there, is a FIFO and
    /// is trusted (a squatter's FIFO in a directory every user can write to is not).
    pub(crate) fn server_owner(&self) -> Option<Peer> {
        let meta = std::fs::metadata(&self.path).ok()?;
        if !meta.file_type().is_fifo() {
            return None;
        }
        let real = std::fs::canonicalize(&self.path).ok()?;
        self.check_endpoint(&meta, &real).ok()?;
        Some(Peer::of(&meta))
    }

    /// The checks of a server FIFO (`meta`, at the resolved path `real`) and of the reply
    /// directory: nobody untrusted could have planted the one or swap what is in the other.
    fn check_endpoint(&self, meta: &std::fs::Metadata, real: &Path) -> Result<()> {
        self.trust.check_server(meta, real, &self.path, "FIFO")?;
        let reply_dir =
            std::fs::canonicalize(&self.reply_dir).unwrap_or_else(|_| self.reply_dir.clone());
        self.trust
            .check_dirs(&reply_dir, meta.gid(), &reply_dir, "reply directory")
    }

    /// Writes the request `encode` builds into the server FIFO, naming the reply FIFO that
    /// `make` gives for the server's grant.
    ///
    /// The server FIFO is the held write end, or one opened and checked now. A held one
    /// whose reader is gone (the server stopped or restarted; nothing was written) is
    /// dropped, and the request goes once more through one opened and checked afresh (with
    /// a new reply FIFO only if the server now runs as another user).
    fn send<'r, R: Reply>(
        &self,
        encode: Encode<'_>,
        reply: &'r R,
        deadline: &Deadline,
        make: &mut dyn FnMut(Grant) -> Result<ReplyFifo>,
    ) -> Result<Listener<'r, R>> {
        let mut kept: Option<ReplyFifo> = None;
        let mut retried = false;
        loop {
            let (server, grant, fresh) = self.server()?;
            let fifo = match kept.take() {
                Some(f) if f.grant == grant => f,
                other => {
                    // removed before a FIFO of the same (fixed) name is made again
                    drop(other);
                    make(grant)?
                }
            };
            let request = encode(Some(&fifo.name))?;
            if request.len() > MAX_FIFO_REQUEST {
                return Err(Error::invalid_request(format!(
                    "the request is {} bytes but mi_fifo reads at most {MAX_FIFO_REQUEST} bytes \
                     at once and silently drops longer requests; use the datagram or HTTP \
                     transport",
                    request.len()
                )));
            }
            let sent = write_request(&server, &request, &self.path, deadline, !fresh);
            if sent.as_ref().ok() != Some(&Sent::Done) {
                self.forget(&server);
            }
            match sent? {
                Sent::Done => {
                    return Ok(Listener {
                        fifo,
                        reply,
                        buf: Vec::new(),
                        judged: None,
                    });
                }
                // held since an earlier call: the server went away (a restart?), look again
                Sent::NoReader if !fresh && !retried => {
                    log::debug!(
                        "fifo://{}: the server FIFO held open has no reader any more; opening \
                         it again",
                        self.path.display()
                    );
                    kept = Some(fifo);
                    retried = true;
                }
                Sent::NoReader => {
                    return Err(Error::NotRunning {
                        endpoint: format!("fifo://{}", self.path.display()),
                        reason: "the reader went away while writing".into(),
                    });
                }
            }
        }
    }

    /// The held server FIFO and its grant, or one opened and checked now (`true`: fresh),
    /// which is then held.
    fn server(&self) -> Result<(Arc<File>, Grant, bool)> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((file, grant)) = &*held {
            return Ok((file.clone(), *grant, false));
        }
        let (file, grant) = self.open_server()?;
        let file = Arc::new(file);
        *held = Some((file.clone(), grant));
        Ok((file, grant, true))
    }

    /// Stops holding `server` (unless another call already replaced it).
    fn forget(&self, server: &Arc<File>) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.as_ref().is_some_and(|(f, _)| Arc::ptr_eq(f, server)) {
            *held = None;
        }
    }

    /// Opens the server FIFO for writing and checks it is the server's; returns it with the
    /// grant a reply FIFO needs for this server.
    fn open_server(&self) -> Result<(File, Grant)> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
            .open(&self.path)
            .map_err(|e| match Errno::from_raw(e.raw_os_error().unwrap_or(0)) {
                Errno::ENOENT => Error::NotFound {
                    what: "FIFO".into(),
                    path: self.path.clone(),
                    hint: "is OpenSIPS running with mi_fifo, and is this its fifo_name?".into(),
                },
                // open() of a unix socket fails with ENXIO too
                Errno::ENXIO if is_socket(&self.path) => Error::invalid_config(format!(
                    "{} is a unix socket, not a FIFO: this is mi_datagram, use unix://{}",
                    self.path.display(),
                    self.path.display()
                )),
                Errno::ENXIO => Error::NotRunning {
                    endpoint: format!("fifo://{}", self.path.display()),
                    reason: "the FIFO exists but no process reads it (OpenSIPS is stopped, or \
                             its MI FIFO process died)"
                        .into(),
                },
                Errno::EACCES | Errno::EPERM => Error::PermissionDenied {
                    path: self.path.clone(),
                    hint: "the FIFO's owner and mode (mi_fifo fifo_mode, fifo_user, fifo_group) \
                           must let this user write; run as the opensips user or a member of \
                           its group. In a sticky directory such as /tmp, fs.protected_fifos \
                           can also refuse FIFOs of other users"
                        .into(),
                },
                _ => Error::io(format!("opening FIFO {}", self.path.display()), e),
            })?;
        // Each time it is opened (an fstat of the open file, no path lookup): the path can
        // be replaced between two opens, and a regular file would take the request silently.
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("checking {}", self.path.display()), e))?;
        if !meta.file_type().is_fifo() {
            return Err(Error::invalid_config(format!(
                "{} is not a FIFO (is it OpenSIPS' mi_fifo fifo_name?)",
                self.path.display()
            )));
        }
        let id = (meta.dev(), meta.ino());
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let grant = match *known {
            Some((k, g)) if k == id => g,
            _ => {
                // a FIFO not seen before (a first call, a restart): check it and the
                // directories above it and above the reply directory, once
                self.check_endpoint(&meta, &crate::access::real_path(&file, &self.path))?;
                let g = Grant::for_server(Peer::of(&meta), &self.trust, self.allow_world)?;
                *known = Some((id, g));
                g
            }
        };
        Ok((file, grant))
    }
}

impl Transport for FifoTransport {
    fn framing(&self) -> Framing {
        Framing::Fifo
    }

    fn endpoint(&self) -> String {
        format!("fifo://{}", self.path.display())
    }

    fn exchange<R: Reply>(
        &self,
        encode: Encode<'_>,
        reply: &R,
        deadline: &Deadline,
    ) -> Result<R::Out> {
        if let Some(name) = &self.reply_name {
            let _serial = self.fixed.lock().unwrap_or_else(|p| p.into_inner());
            let make = &mut |grant: Grant| ReplyFifo::create(&self.reply_dir, name, false, grant);
            let mut listeners = [self.send(encode, reply, deadline, make)?];
            return listen(&mut listeners, deadline, None, self.max_reply)
                .unwrap_or_else(|| at_deadline(&mut listeners, deadline));
        }
        if reply.ends_at_eof() {
            // a reply that only EOF ends needs a FIFO of its own, which it closes
            let make = &mut |grant: Grant| {
                ReplyFifo::create(&self.reply_dir, &random_name(), false, grant)
            };
            let mut listeners = [self.send(encode, reply, deadline, make)?];
            return listen(&mut listeners, deadline, None, self.max_reply)
                .unwrap_or_else(|| at_deadline(&mut listeners, deadline));
        }
        // A reply FIFO from an earlier call that succeeded, or a new one, held open for
        // writing too: no EOF between calls, so it can serve the next one. One made for a
        // server that ran as another user (a restart) is not reused.
        let make = &mut |grant: Grant| {
            let idle = {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                idle.retain(|f: &ReplyFifo| f.grant == grant);
                idle.pop()
            };
            match idle {
                Some(f) => Ok(f),
                None => ReplyFifo::create(&self.reply_dir, &random_name(), true, grant),
            }
        };
        let mut listeners = [self.send(encode, reply, deadline, make)?];
        let result = listen(&mut listeners, deadline, None, self.max_reply)
            .unwrap_or_else(|| at_deadline(&mut listeners, deadline));
        let [listener] = listeners;
        // Only a FIFO whose call succeeded, with nothing left in it, serves again: after a
        // timeout or a bad reply, a late answer could still come (it goes with the FIFO).
        if result.is_ok() && listener.buf.is_empty() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_FIFOS {
                idle.push(listener.fifo);
            }
        }
        result
    }

    /// Every stage gets its own reply FIFO (a random name; digits only for a stage that
    /// asks for it, see [`Stage::digits`]), and all stay open until the end, so a late
    /// answer to an earlier stage still counts.
    fn exchange_staged<R: Reply>(
        &self,
        stages: &[Stage<'_, R>],
        deadline: &Deadline,
    ) -> Result<R::Out> {
        let mut listeners: Vec<Listener<'_, R>> = Vec::with_capacity(stages.len());
        for (i, stage) in stages.iter().enumerate() {
            let name = if stage.digits {
                random_digits()
            } else {
                random_name()
            };
            let make = &mut |grant: Grant| ReplyFifo::create(&self.reply_dir, &name, false, grant);
            let listener = match self.send(stage.encode, stage.reply, deadline, make) {
                // The FIFO can be without a reader for a moment after the server met a
                // request it could not parse (seen once on 3.4.18): try once more.
                Err(Error::NotRunning { .. }) if i > 0 => {
                    std::thread::sleep(Duration::from_millis(20));
                    self.send(stage.encode, stage.reply, deadline, make)?
                }
                other => other?,
            };
            listeners.push(listener);
            let until = (i + 1 < stages.len()).then(|| deadline.within(stage.patience));
            if let Some(result) = listen(&mut listeners, deadline, until.as_ref(), self.max_reply) {
                return result;
            }
        }
        at_deadline(&mut listeners, deadline)
    }
}

/// A reply FIFO waiting for one request's answer.
struct Listener<'r, R> {
    fifo: ReplyFifo,
    reply: &'r R,
    buf: Vec<u8>,
    /// Length and end flag at the last judgement: a large reply arrives in many chunks,
    /// and judging the whole buffer again without news would be quadratic.
    judged: Option<(usize, bool)>,
}

/// The first read of a reply reads up to this much: most replies fit.
const FIRST_ROOM: usize = 4096;
/// Reads grow up to a pipe's default capacity.
const MAX_ROOM: usize = 64 * 1024;

impl<R: Reply> Listener<'_, R> {
    /// Reads what has arrived and judges it; `Some` once the reply is complete. Stops
    /// reading at the deadline even while bytes keep coming.
    fn pump(&mut self, max_reply: usize, deadline: &Deadline) -> Option<Result<R::Out>> {
        // Read what is there with as few read() calls as possible: one for a reply that
        // fits the FIFO's scratch room, more while reads fill it (it then grows), at most
        // one byte past the limit.
        let eof = loop {
            let limit = max_reply + 1;
            let scratch = &mut self.fifo.scratch;
            let want = scratch
                .len()
                .max(FIRST_ROOM)
                .min(limit.saturating_sub(self.buf.len()));
            if want == 0 || deadline.remaining().is_none() {
                break false;
            }
            if scratch.len() < want {
                scratch.resize(want, 0);
            }
            match (&self.fifo.file).read(&mut scratch[..want]) {
                Ok(0) => break true,
                Ok(n) => {
                    self.buf.extend_from_slice(&scratch[..n]);
                    if n < want {
                        break false;
                    }
                    // the room is full: more may be waiting, and a bigger room reads it
                    // with fewer calls
                    if scratch.len() < MAX_ROOM {
                        scratch.resize((scratch.len() * 2).min(MAX_ROOM), 0);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Some(Err(Error::io(
                        format!("reading {}", self.fifo.path.display()),
                        e,
                    )));
                }
            }
        };
        if self.buf.len() > max_reply {
            return Some(Err(Error::malformed(
                format!("the reply exceeds {max_reply} bytes (OptionsBuilder::max_reply)"),
                &self.buf,
            )));
        }
        let now = (self.buf.len(), eof);
        if self.judged != Some(now) {
            self.judged = Some(now);
            if let Some(result) = self.reply.judge(&mut self.buf, eof) {
                return Some(result);
            }
        }
        if eof {
            // The writer is gone but the reply is not complete: async replies reopen the
            // FIFO for each 4 KB, and the FIFO reports hang-up until the next writer, so
            // pause instead of spinning.
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

/// Waits on every listener until one has its reply (`Some`), or `until` (default: the
/// deadline) passes (`None`).
fn listen<R: Reply>(
    listeners: &mut [Listener<'_, R>],
    deadline: &Deadline,
    until: Option<&Deadline>,
    max_reply: usize,
) -> Option<Result<R::Out>> {
    let until = until.unwrap_or(deadline);
    // One call, one reply FIFO: the shared poll helper, no allocation per wait.
    if let [listener] = listeners {
        loop {
            match wait_for(&listener.fifo.file, PollFlags::POLLIN, until) {
                Ok(Ready::TimedOut) => return None,
                Ok(Ready::Yes { .. }) => {}
                Err(e) => return Some(Err(Error::io("waiting for the reply", e))),
            }
            if let Some(result) = listener.pump(max_reply, until) {
                return Some(result);
            }
            // a flood keeps the FIFO readable: `until` ends the wait all the same
            until.remaining()?;
        }
    }
    // Several (the generation probes, once per connection): one poll over all of them.
    loop {
        let left = until.remaining()?;
        // Round up so a sub-millisecond remainder does not spin with a zero timeout.
        let ms = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = listeners
                .iter()
                .map(|l| PollFd::new(l.fifo.file.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Some(Err(Error::io("waiting for the reply", e.into()))),
            }
            fds.iter()
                .map(|f| !f.revents().unwrap_or(PollFlags::empty()).is_empty())
                .collect()
        };
        for (listener, ready) in listeners.iter_mut().zip(ready) {
            if ready {
                if let Some(result) = listener.pump(max_reply, until) {
                    return Some(result);
                }
            }
        }
    }
}

/// The deadline passed: a timeout if nothing but whitespace came, else what the first
/// listener holding bytes makes of them.
fn at_deadline<R: Reply>(listeners: &mut [Listener<'_, R>], deadline: &Deadline) -> Result<R::Out> {
    match listeners
        .iter_mut()
        .find(|l| !l.buf.iter().all(u8::is_ascii_whitespace))
    {
        Some(l) => l
            .reply
            .at_deadline(std::mem::take(&mut l.buf), deadline.total()),
        None => Err(
            Error::timeout(deadline.total(), "waiting for the reply").with_hint(
                "OpenSIPS took the request but did not answer: it drops requests it cannot \
                 parse, and slow or async commands (t_uac_dlg) need a longer timeout",
            ),
        ),
    }
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn random_name() -> String {
    format!("osips_mi_{}", random_token())
}

/// A random reply FIFO name of 19 digits, which is also a JSON number.
fn random_digits() -> String {
    let n = u64::from_str_radix(&random_token(), 16).unwrap_or(1);
    format!(
        "{}",
        1_000_000_000_000_000_000 + n % 9_000_000_000_000_000_000
    )
}

fn check_reply_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['.', '/', '\\', ':', '\n', '\0']) {
        return Err(Error::invalid_config(format!(
            "reply FIFO name {name:?} is not allowed: it must be non-empty, without '.', '/', \
             '\\' or ':' (mi_fifo drops requests whose reply name has them, and never answers)"
        )));
    }
    Ok(())
}

/// One write of the whole request (≤ PIPE_BUF, so it is atomic), waiting for room under the
/// deadline. `held`: the FIFO was opened by an earlier call, so its reader may be gone: a
/// poll first tells (`POLLERR`, Linux) without the `SIGPIPE` a write would raise where the
/// process does not ignore it.
fn write_request(
    server: &File,
    request: &[u8],
    path: &Path,
    deadline: &Deadline,
    held: bool,
) -> Result<Sent> {
    if held && no_reader(server) {
        return Ok(Sent::NoReader);
    }
    let mut w = server;
    loop {
        match w.write(request) {
            Ok(n) if n == request.len() => return Ok(Sent::Done),
            Ok(n) => {
                return Err(Error::io(
                    format!("writing to {}", path.display()),
                    std::io::Error::new(
                        ErrorKind::WriteZero,
                        format!("short write ({n} of {})", request.len()),
                    ),
                ));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                match wait_for(server, PollFlags::POLLOUT, deadline) {
                    // a reader that goes away meanwhile: the write reports EPIPE
                    Ok(Ready::Yes { .. }) => continue,
                    Ok(Ready::TimedOut) => {
                        return Err(Error::timeout(deadline.total(), "writing the request")
                            .with_hint("the server FIFO is full: OpenSIPS is not reading it"));
                    }
                    Err(e) => {
                        return Err(Error::io(format!("waiting to write {}", path.display()), e));
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(Errno::EPIPE as i32) => return Ok(Sent::NoReader),
            Err(e) => return Err(Error::io(format!("writing to {}", path.display()), e)),
        }
    }
}

/// `true` if the write end `server` has no reader left (Linux reports `POLLERR` for it).
fn no_reader(server: &File) -> bool {
    let mut fds = [PollFd::new(server.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)),
        // the write tells
        Err(_) => false,
    }
}

/// Our reply FIFO; removed when dropped, whatever happened.
#[derive(Debug)]
struct ReplyFifo {
    path: PathBuf,
    name: String,
    file: File,
    /// Who besides us may write to it.
    grant: Grant,
    /// Where replies are read into first (zeroed once, kept while the FIFO serves calls):
    /// each call's reply is then copied into a buffer of its own size.
    scratch: Vec<u8>,
}

impl ReplyFifo {
    /// `mkfifo` (private), open for reading without following a link, check through the
    /// descriptor that it is the FIFO we made, then widen it to `grant` through the
    /// descriptor. `reusable`: also open for writing, so that the FIFO never reports EOF
    /// and can take the replies of several calls in turn.
    fn create(dir: &Path, name: &str, reusable: bool, grant: Grant) -> Result<ReplyFifo> {
        let path = dir.join(name);
        let mode = Mode::from_bits_truncate(0o600);
        // made and noted at once for remove_reply_files
        crate::access::create_tracked(&path, || match nix::unistd::mkfifo(&path, mode) {
            Ok(()) => Ok(()),
            Err(Errno::EEXIST) => {
                // A fixed reply name left behind by a killed run of ours (given to the
                // server's user when we are root): replace it. Any other file (another
                // user's FIFO could be a trap, a link could lead anywhere) is left alone.
                let euid = nix::unistd::geteuid().as_raw();
                let stale = std::fs::symlink_metadata(&path).is_ok_and(|m| {
                    m.file_type().is_fifo()
                        && (m.uid() == euid || grant.given_to() == Some(m.uid()))
                });
                if stale {
                    let _ = std::fs::remove_file(&path);
                    nix::unistd::mkfifo(&path, mode).map_err(|e| mkfifo_error(dir, &path, e))
                } else {
                    Err(Error::invalid_config(format!(
                        "{} exists and is not a FIFO of this user; remove it or choose another \
                         reply FIFO name",
                        path.display()
                    )))
                }
            }
            Err(e) => Err(mkfifo_error(dir, &path, e)),
        })?;
        // Removed on every path from here on, errors included.
        let mut made = Unlink(path);
        let file = OpenOptions::new()
            .read(true)
            .write(reusable)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW).bits())
            .open(&made.0)
            .map_err(|e| Error::io(format!("opening reply FIFO {}", made.0.display()), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("checking {}", made.0.display()), e))?;
        check_ours(&meta, meta.file_type().is_fifo(), &made.0)?;
        // mkfifo's mode is reduced by the umask, and the server may need more than ours:
        // set it on the descriptor, never by name.
        grant
            .apply(&file)
            .map_err(|e| Error::io(format!("setting the mode of {}", made.0.display()), e))?;
        Ok(ReplyFifo {
            path: std::mem::take(&mut made.0),
            name: name.to_owned(),
            file,
            grant,
            scratch: Vec::new(),
        })
    }
}

/// Removes a path when dropped (an empty path: nothing).
struct Unlink(PathBuf);

impl Drop for Unlink {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            crate::access::untrack(&self.0);
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn mkfifo_error(dir: &Path, path: &Path, e: Errno) -> Error {
    match e {
        Errno::EACCES | Errno::EPERM | Errno::EROFS => Error::PermissionDenied {
            path: dir.to_path_buf(),
            hint: "the reply FIFO is created in the server's reply_dir (mi_fifo reply_dir, \
                   default /tmp/); this user must be able to create files there"
                .into(),
        },
        // A stopped service's runtime directory (/run/opensips) goes with it: OpenSIPS
        // cannot be talked to, which is not a mistake in the settings.
        Errno::ENOENT => Error::NotFound {
            what: "reply directory".into(),
            path: dir.to_path_buf(),
            hint: "the reply FIFO is created in mi_fifo's reply_dir: is OpenSIPS running (a \
                   stopped service's runtime directory goes with it), and is this its reply_dir?"
                .into(),
        },
        other => Error::io(
            format!("creating reply FIFO {}", path.display()),
            other.into(),
        ),
    }
}

impl Drop for ReplyFifo {
    fn drop(&mut self) {
        crate::access::untrack(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}
