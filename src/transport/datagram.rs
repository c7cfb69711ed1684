//! `mi_datagram`: one request per datagram, one reply per datagram, over UDP or a unix
//! datagram socket.
//!
//! * UDP: the socket is `connect()`ed to the server, so only its datagrams are received and
//!   an ICMP "port unreachable" surfaces as `ECONNREFUSED` ("not running") at once.
//! * Unix: OpenSIPS replies from a separate, unbound socket, so a `connect()`ed client would
//!   never get the reply. The client binds its own private reply path, uses `send_to`, and
//!   removes the path when the connection is dropped.
//!
//! Both keep one socket per connection; the session's [`Reply`] drops datagrams that are not
//! the answer (JSON-RPC ids), and after a timeout the socket is replaced, so a late reply to
//! an earlier request is never taken for the current answer.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;

use super::{Deadline, Encode, Framing, MAX_SOCKET_TIMEOUT, Reply, Transport};
use std::fs::{File, Metadata};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use nix::fcntl::OFlag;

use crate::access::{Grant, Peer, PrivateDir, Trust, real_path, recv_with_creds};
use crate::{Error, Result};

/// mi_datagram's buffer in OpenSIPS 3.x (and the 4.0 default of `socket_buf_size`).
pub const DEFAULT_DATAGRAM_BUFFER: usize = 65_457;

/// The socket operations both datagram flavours share.
pub(crate) trait DatagramIo: Sized {
    /// Checks, before each request, that the server endpoint is still the one the socket
    /// was made for.
    fn prepare(&mut self) -> Result<()> {
        Ok(())
    }
    /// After a send failed with `e`: `true` if the endpoint should be looked at again
    /// (`prepare`) and the request sent once more (a restarted server's new socket).
    fn retry_after(&mut self, _e: &std::io::Error) -> bool {
        false
    }
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize>;
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Gives the socket's receive (`write`: send) timeout a value fit for a wait of `left`
    /// ([`Armed::arm`]).
    fn arm(&mut self, write: bool, left: Duration) -> std::io::Result<()>;
    /// Replaces the socket with a fresh one: replies to requests sent from the old one can
    /// never reach it (the legacy MI has no ids to tell a late reply from the right one).
    fn reopen(&mut self) -> Result<()>;
}

/// A UDP socket `connect()`ed to the server: only its datagrams are received, and an ICMP
/// "port unreachable" comes back as `ECONNREFUSED`.
pub(crate) struct UdpClient {
    socket: UdpSocket,
    server: SocketAddr,
    armed: Armed,
}

impl UdpClient {
    fn open(server: SocketAddr) -> Result<Self> {
        let local: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .map_err(|e| Error::io(format!("binding a local socket for udp://{server}"), e))?;
        socket
            .connect(server)
            .map_err(|e| Error::io(format!("connecting to udp://{server}"), e))?;
        Ok(UdpClient {
            socket,
            server,
            armed: Armed::default(),
        })
    }
}

impl DatagramIo for UdpClient {
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.socket.send(buf)
    }
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.socket.recv(buf)
    }
    fn arm(&mut self, write: bool, left: Duration) -> std::io::Result<()> {
        let socket = &self.socket;
        self.armed.arm(write, left, |d| match write {
            true => socket.set_write_timeout(d),
            false => socket.set_read_timeout(d),
        })
    }
    fn reopen(&mut self) -> Result<()> {
        *self = UdpClient::open(self.server)?;
        Ok(())
    }
}

/// A unix datagram socket bound in a private directory of its own (OpenSIPS answers from
/// an unbound socket, so a `connect()`ed client would never get the reply). The socket is
/// widened only as far as the server needs ([`Grant`]), every datagram's sender is checked
/// (`SO_PASSCRED`: root, us, the server user or the server socket's owner), and the
/// directory and socket are removed when the socket is dropped or replaced.
pub(crate) struct UnixClient {
    socket: UnixDatagram,
    server: PathBuf,
    parent: PathBuf,
    path: PathBuf,
    /// The owner of the server socket when ours was made (`None`: it did not exist).
    peer: Option<Peer>,
    trust: Trust,
    allow_world: bool,
    /// The server socket as checked.
    target: Option<Target>,
    /// `/proc/self/fd` is there (it is, but in a minimal chroot).
    via_proc: bool,
    /// The timeouts `socket` has.
    armed: Armed,
    /// Declared after `socket`, so the socket is closed before its directory goes.
    _dir: PrivateDir,
}

impl UnixClient {
    fn open(server: PathBuf, parent: PathBuf, trust: Trust, allow_world: bool) -> Result<Self> {
        let found = inspect(&server, &parent, &trust).ok().flatten();
        let peer = found.as_ref().map(|(_, meta)| Peer::of(meta));
        let via_proc = Path::new("/proc/self/fd").is_dir();
        let target = found.map(|(target, _)| target.addressed(&server, via_proc));
        let grant = match peer {
            Some(p) => Grant::for_server(p, &trust, allow_world)?,
            // no server yet (or not one we trust: nothing is sent to it): private; made
            // again for the server's user once it is there
            None => Grant::Owner,
        };
        let mut dir = PrivateDir::create(&parent, "osips_mi_")?;
        let (socket, path) = dir.bind_datagram(grant)?;
        Ok(UnixClient {
            socket,
            server,
            parent,
            path,
            peer,
            trust,
            allow_world,
            target,
            via_proc,
            armed: Armed::default(),
            _dir: dir,
        })
    }
}

/// The server socket as checked (`O_PATH`). Where another user could replace it (its
/// directory is writable by others, as `/tmp` is), requests go to that very socket through
/// `/proc/self/fd` (`pinned`), not to whatever its name leads to meanwhile; elsewhere by its
/// name, which is cheaper (no lookup through `/proc` on every request).
struct Target {
    file: File,
    pinned: bool,
    /// Where requests go (`/proc/self/fd/N` when pinned, else the name), made once;
    /// `None` if the path does not fit a socket address (each send then reports it).
    dest: Option<std::os::unix::net::SocketAddr>,
}

impl Target {
    /// Fills in [`Target::dest`] for the server socket named `server`.
    fn addressed(mut self, server: &Path, via_proc: bool) -> Target {
        let path = if self.pinned && via_proc {
            PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
        } else {
            server.to_path_buf()
        };
        self.dest = std::os::unix::net::SocketAddr::from_pathname(path).ok();
        self
    }
}

/// Opens the server socket at `server` (`O_PATH`, links followed) and checks it and the
/// directories above it, and above the reply socket directory `parent`, against `trust`;
/// `None` if there is no such file.
fn inspect(server: &Path, parent: &Path, trust: &Trust) -> Result<Option<(Target, Metadata)>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_PATH | OFlag::O_CLOEXEC).bits())
        .open(server)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("opening {}", server.display()), e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("checking {}", server.display()), e))?;
    let real = real_path(&file, server);
    trust.check_server(&meta, &real, server, "socket")?;
    let dir = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    trust.check_dirs(&dir, meta.gid(), &dir, "reply socket directory")?;
    let pinned = trust.may_be_replaced(&real, meta.gid());
    Ok(Some((
        Target {
            file,
            pinned,
            dest: None,
        },
        meta,
    )))
}

impl DatagramIo for UnixClient {
    /// Looks the server socket up and checks it (and the directories above it) when none
    /// is held: requests then go to that very socket, whatever its name leads to later,
    /// until a send to it fails (a restarted server has a new socket).
    fn prepare(&mut self) -> Result<()> {
        if self.target.is_some() {
            return Ok(());
        }
        // nothing there: the send reports it, and sends nothing
        let Some((target, meta)) = inspect(&self.server, &self.parent, &self.trust)? else {
            return Ok(());
        };
        let peer = Some(Peer::of(&meta));
        if peer != self.peer {
            // a server (re)started, perhaps as another user: a reply socket for it
            self.reopen_for(peer)?;
        }
        self.target = Some(target.addressed(&self.server, self.via_proc));
        Ok(())
    }
    fn retry_after(&mut self, e: &std::io::Error) -> bool {
        let stale = matches!(
            Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            Errno::ECONNREFUSED | Errno::ENOENT | Errno::ENOTSOCK
        );
        // only a held socket can be stale; looked up afresh, the error stands
        stale && self.target.take().is_some()
    }
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.target {
            // the address made when the socket was checked: no path conversion per request
            Some(Target {
                dest: Some(dest), ..
            }) => self.socket.send_to_addr(buf, dest),
            // a pinned socket is always given its `/proc/self/fd/N` address when checked;
            // should that ever fail, never fall back to the name others could replace
            Some(t) if t.pinned && self.via_proc => {
                Err(std::io::Error::from_raw_os_error(Errno::ENOENT as i32))
            }
            // where only trusted users can replace it (or without /proc): by name
            Some(_) => self.socket.send_to(buf, &self.server),
            // nothing was there when looked up: never send to what appeared since unchecked
            None => Err(std::io::Error::from_raw_os_error(Errno::ENOENT as i32)),
        }
    }
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (n, creds) = recv_with_creds(&self.socket, buf)?;
        match creds {
            Some((uid, gid)) if self.trust.trusts_sender(uid, gid, self.peer) => Ok(n),
            // not from the server: dropped, as if nothing came
            _ => {
                log::debug!("dropped a datagram from an untrusted sender ({creds:?})");
                Err(ErrorKind::WouldBlock.into())
            }
        }
    }
    fn arm(&mut self, write: bool, left: Duration) -> std::io::Result<()> {
        let socket = &self.socket;
        self.armed.arm(write, left, |d| match write {
            true => socket.set_write_timeout(d),
            false => socket.set_read_timeout(d),
        })
    }
    fn reopen(&mut self) -> Result<()> {
        // after a timeout: the server may have restarted, perhaps as another user; the next
        // request looks it up again
        self.target = None;
        let peer = self.peer;
        self.reopen_for(peer)
    }
}

impl UnixClient {
    /// A fresh reply socket (and directory) for a server owned by `peer`.
    fn reopen_for(&mut self, peer: Option<Peer>) -> Result<()> {
        let grant = match peer {
            Some(p) => Grant::for_server(p, &self.trust, self.allow_world)?,
            None => Grant::Owner,
        };
        let mut dir = PrivateDir::create(&self.parent, "osips_mi_")?;
        let (socket, path) = dir.bind_datagram(grant)?;
        self.socket = socket;
        // a new socket has no timeouts yet
        self.armed = Armed::default();
        self.path = path;
        self.peer = peer;
        self._dir = dir;
        Ok(())
    }
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Socket plus its receive buffer, used by one call at a time.
struct Channel<S> {
    io: S,
    buf: Vec<u8>,
}

/// How much a send or receive may outlast the call's deadline rather than change the
/// socket's timeout (the time between taking the deadline and the call is microseconds).
const TIMEOUT_SLACK: Duration = Duration::from_millis(1);

/// The receive and send timeouts (`SO_RCVTIMEO`, `SO_SNDTIMEO`) a socket has now, kept with
/// the socket (a new one starts without), to set them only when they must change: no
/// system call for them on back-to-back calls.
#[derive(Default)]
struct Armed {
    read: Option<Duration>,
    write: Option<Duration>,
}

impl Armed {
    /// Sets (through `set`) the timeout for a wait of `left`: at most
    /// [`MAX_SOCKET_TIMEOUT`] (a longer one ends late: the caller waits again until its
    /// deadline). The value set stays while it ends within the slack after the deadline and
    /// is not far shorter than wanted (that would only mean extra wake-ups).
    fn arm(
        &mut self,
        write: bool,
        left: Duration,
        set: impl FnOnce(Option<Duration>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let cur = if write {
            &mut self.write
        } else {
            &mut self.read
        };
        let want = left.min(MAX_SOCKET_TIMEOUT);
        if cur.is_some_and(|c| c <= left + TIMEOUT_SLACK && c >= want / 2) {
            return Ok(());
        }
        set(Some(want))?;
        *cur = Some(want);
        Ok(())
    }
}

/// A datagram transport: the socket, the endpoint and the size limit.
pub(crate) struct Datagram<S> {
    chan: Mutex<Channel<S>>,
    url: String,
    unix_path: Option<PathBuf>,
    limit: usize,
}

/// `mi_datagram` over UDP.
pub(crate) type UdpTransport = Datagram<UdpClient>;
/// `mi_datagram` over a unix datagram socket.
pub(crate) type UnixTransport = Datagram<UnixClient>;

impl<S> std::fmt::Debug for Datagram<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagram")
            .field("url", &self.url)
            .field("limit", &self.limit)
            .finish()
    }
}

impl UdpTransport {
    pub(crate) fn udp(server: SocketAddr, limit: usize) -> Result<Self> {
        let client = UdpClient::open(server)?;
        Ok(Datagram::new(
            client,
            format!("udp://{server}"),
            None,
            limit,
        ))
    }

    /// The server address.
    pub(crate) fn server(&self) -> SocketAddr {
        self.lock().io.server
    }
}

impl UnixTransport {
    pub(crate) fn unix(
        server: PathBuf,
        reply_dir: &Path,
        limit: usize,
        trust: Trust,
        allow_world: bool,
    ) -> Result<Self> {
        let client = UnixClient::open(server.clone(), reply_dir.to_path_buf(), trust, allow_world)?;
        let url = format!("unix://{}", server.display());
        Ok(Datagram::new(client, url, Some(server), limit))
    }

    /// The server socket path.
    pub(crate) fn server(&self) -> &Path {
        self.unix_path.as_deref().unwrap_or(Path::new(""))
    }

    /// The path replies currently arrive on.
    pub(crate) fn reply_path(&self) -> PathBuf {
        self.lock().io.path.clone()
    }

    /// The owner of the server socket (who OpenSIPS runs as), if it is there and trusted.
    pub(crate) fn server_owner(&self) -> Option<Peer> {
        let chan = self.lock();
        inspect(&chan.io.server, &chan.io.parent, &chan.io.trust)
            .ok()
            .flatten()
            .map(|(_, meta)| Peer::of(&meta))
    }
}

impl<S: DatagramIo> Datagram<S> {
    fn new(io: S, url: String, unix_path: Option<PathBuf>, limit: usize) -> Self {
        Datagram {
            chan: Mutex::new(Channel {
                io,
                buf: Vec::new(),
            }),
            url,
            unix_path,
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Channel<S>> {
        self.chan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Maps a socket error to the crate's error for this endpoint.
    fn map_err(&self, e: std::io::Error, doing: &str) -> Error {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
        match (errno, &self.unix_path) {
            (Errno::ECONNREFUSED, None) => Error::NotRunning {
                endpoint: self.url.clone(),
                reason: "nothing listens on this port (connection refused); check mi_datagram's \
                         socket_name"
                    .into(),
            },
            (Errno::ECONNREFUSED, Some(p)) if is_fifo(p) => Error::invalid_config(format!(
                "{} is a FIFO, not a unix socket: this is mi_fifo, use fifo://{}",
                p.display(),
                p.display()
            )),
            (Errno::ECONNREFUSED, Some(_)) => Error::NotRunning {
                endpoint: self.url.clone(),
                reason: "the socket file exists but nobody is bound to it (OpenSIPS stopped and \
                         left it behind)"
                    .into(),
            },
            (Errno::ENOENT, Some(p)) => Error::NotFound {
                what: "unix socket".into(),
                path: p.clone(),
                hint: "is OpenSIPS running with mi_datagram, and is this its socket_name?".into(),
            },
            (Errno::EACCES | Errno::EPERM, Some(p)) => Error::PermissionDenied {
                path: p.clone(),
                hint: "mi_datagram's unix_socket_mode, unix_socket_user and unix_socket_group \
                       must let this user write to the socket"
                    .into(),
            },
            (Errno::EMSGSIZE, _) => Error::invalid_request(format!(
                "the request is too large for one datagram to {}",
                self.url
            )),
            _ => Error::io(format!("{doing} {}", self.url), e),
        }
    }

    /// One receive into `chan.buf`, waiting at most `left`; `None` when nothing came (the
    /// caller checks its deadline and tries again).
    fn recv(&self, chan: &mut Channel<S>, left: Duration) -> Result<Option<usize>> {
        chan.io
            .arm(false, left)
            .map_err(|e| self.map_err(e, "configuring"))?;
        match chan.io.recv_reply(&mut chan.buf) {
            Ok(n) => Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.map_err(e, "receiving from")),
        }
    }

    /// Sends `request`, waiting for room at most until `deadline`: a unix server socket
    /// holds only `net.unix.max_dgram_qlen` datagrams nobody has read (10 by default), and
    /// a send to a full one waits until the server reads. A failed send to a socket that may
    /// be stale (the server restarted) is tried once more on the one found now.
    fn send(&self, chan: &mut Channel<S>, request: &[u8], deadline: &Deadline) -> Result<()> {
        chan.io.prepare()?;
        let mut retried = false;
        loop {
            let Some(left) = deadline.remaining() else {
                return Err(
                    Error::timeout(deadline.total(), "sending the request").with_hint(
                        "the server socket's queue stayed full: OpenSIPS is not reading its MI \
                         socket (busy with long commands, stuck, or stopped without removing it)",
                    ),
                );
            };
            chan.io
                .arm(true, left)
                .map_err(|e| self.map_err(e, "configuring"))?;
            match chan.io.send_request(request) {
                Ok(_) => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) if !retried && chan.io.retry_after(&e) => {
                    retried = true;
                    chan.io.prepare()?;
                }
                Err(e) => return Err(self.map_err(e, "sending to")),
            }
        }
    }

    fn roundtrip<R: Reply>(
        &self,
        chan: &mut Channel<S>,
        request: &[u8],
        reply: &R,
        deadline: &Deadline,
    ) -> Result<R::Out> {
        let limit = self.limit;
        self.send(chan, request, deadline)?;
        if chan.buf.len() != limit + 1 {
            chan.buf.resize(limit + 1, 0);
        }
        loop {
            let Some(left) = deadline.remaining() else {
                return Err(
                    Error::timeout(deadline.total(), "waiting for the reply").with_hint(
                        "no datagram came back: OpenSIPS may be down (UDP cannot always tell), may \
                     have dropped the request, or the reply was too large for one datagram \
                     (1.x/2.x then send nothing: use the FIFO)",
                    ),
                );
            };
            let Some(n) = self.recv(chan, left)? else {
                continue;
            };
            if n > limit {
                return Err(Error::malformed(
                    format!(
                        "the reply datagram is larger than the {limit}-byte receive buffer and \
                         was truncated; raise the datagram buffer size to match the server's \
                         socket_buf_size"
                    ),
                    &chan.buf[..n],
                ));
            }
            // Not the reply (a stale one, an empty datagram): keep waiting.
            if let Some(result) = reply.judge_datagram(&chan.buf[..n]) {
                return result;
            }
        }
    }
}

impl<S: DatagramIo + Send> Transport for Datagram<S> {
    fn framing(&self) -> Framing {
        Framing::Datagram
    }

    fn endpoint(&self) -> String {
        self.url.clone()
    }

    /// One request, one reply, under the deadline. After a timeout the socket is replaced,
    /// so a late reply can never be read as the answer to a later request.
    fn exchange<R: Reply>(
        &self,
        encode: Encode<'_>,
        reply: &R,
        deadline: &Deadline,
    ) -> Result<R::Out> {
        let request = encode(None)?;
        let limit = self.limit;
        if request.len() > limit {
            return Err(Error::invalid_request(format!(
                "the request is {} bytes but mi_datagram takes at most {limit} bytes per \
                 datagram; use the FIFO or HTTP transport",
                request.len()
            )));
        }
        // One call at a time per socket, so no thread reads another's reply.
        let mut guard = self.lock();
        let chan = &mut *guard;
        let result = self.roundtrip(chan, &request, reply, deadline);
        if matches!(result, Err(Error::Timeout { .. })) {
            chan.io.reopen()?;
        }
        result
    }
}
