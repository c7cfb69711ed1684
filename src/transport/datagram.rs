//! `mi_datagram`: one request per datagram, one reply per datagram, over UDP or a unix
//! datagram socket.
//!
//! * UDP: the socket is `connect()`ed to the server, so only its datagrams are received and
//!   an ICMP "port unreachable" surfaces as `ECONNREFUSED` ("not running") at once.
//! * Unix: OpenSIPS replies from a separate, unbound socket, so a `connect()`ed client would
//!   never get the reply. The client binds its own private reply path, uses `send_to`, and
//!   removes the path when the connection is dropped.
//!
//! Both keep one socket per connection and match JSON-RPC ids, so a late reply to an earlier
//! (timed-out) request is discarded instead of being taken for the current answer.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;

use super::{Deadline, random_token};
use crate::protocol::jsonrpc::{self, IdGenerator, Scan};
use crate::protocol::{Generation, Protocol, ProtocolChoice, legacy};
use crate::{Cmd, Error, Response, Result};

/// mi_datagram's buffer in OpenSIPS 3.x (and the 4.0 default of `socket_buf_size`).
pub const DEFAULT_DATAGRAM_BUFFER: usize = 65_457;

/// The socket operations both datagram flavours share.
trait DatagramIo: Sized {
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize>;
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize>;
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()>;
    /// Replaces the socket with a fresh one: replies to requests sent from the old one can
    /// never reach it (the legacy MI has no ids to tell a late reply from the right one).
    fn reopen(&mut self) -> Result<()>;
}

/// A UDP socket `connect()`ed to the server: only its datagrams are received, and an ICMP
/// "port unreachable" comes back as `ECONNREFUSED`.
struct UdpClient {
    socket: UdpSocket,
    server: SocketAddr,
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
        Ok(UdpClient { socket, server })
    }
}

impl DatagramIo for UdpClient {
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.socket.send(buf)
    }
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.socket.recv(buf)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        self.socket.set_read_timeout(d)
    }
    fn reopen(&mut self) -> Result<()> {
        *self = UdpClient::open(self.server)?;
        Ok(())
    }
}

/// A unix datagram socket bound to a private reply path (OpenSIPS answers from an unbound
/// socket, so a `connect()`ed client would never get the reply). The path is removed when
/// the socket is dropped or replaced.
struct UnixClient {
    socket: UnixDatagram,
    server: PathBuf,
    dir: PathBuf,
    path: PathBuf,
}

impl UnixClient {
    fn open(server: PathBuf, dir: PathBuf) -> Result<Self> {
        let path = dir.join(format!("osips_mi_{}.sock", random_token()));
        let socket = UnixDatagram::bind(&path).map_err(|e| match e.kind() {
            ErrorKind::PermissionDenied => Error::PermissionDenied {
                path: dir.clone(),
                hint: "the client binds its reply socket in this directory; choose a writable \
                       reply socket directory",
            },
            _ => Error::io(format!("binding reply socket {}", path.display()), e),
        })?;
        let client = UnixClient {
            socket,
            server,
            dir,
            path,
        };
        // OpenSIPS (possibly another user) must be able to send to us: write for all,
        // which for a socket does not let anyone read what we receive.
        std::fs::set_permissions(&client.path, std::fs::Permissions::from_mode(0o622))
            .map_err(|e| Error::io(format!("setting the mode of {}", client.path.display()), e))?;
        Ok(client)
    }
}

impl Drop for UnixClient {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl DatagramIo for UnixClient {
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.socket.send_to(buf, &self.server)
    }
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.socket.recv(buf)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        self.socket.set_read_timeout(d)
    }
    fn reopen(&mut self) -> Result<()> {
        *self = UnixClient::open(self.server.clone(), self.dir.clone())?;
        Ok(())
    }
}

/// Socket plus its receive buffer, used by one call at a time.
struct Channel<S> {
    io: S,
    buf: Vec<u8>,
}

/// What a reply datagram should be.
#[derive(Clone, Copy)]
enum Expect {
    /// A JSON-RPC reply with this id, its result decoded or not.
    Json(u32, bool),
    Legacy,
}

/// What both datagram connections share: the socket, the endpoint, limits, ids, protocol.
struct Datagram<S> {
    chan: Mutex<Channel<S>>,
    url: String,
    unix_path: Option<PathBuf>,
    timeout: Duration,
    limit: usize,
    ids: IdGenerator,
    protocol: ProtocolChoice,
}

impl<S: DatagramIo> Datagram<S> {
    fn new(
        io: S,
        url: String,
        unix_path: Option<PathBuf>,
        timeout: Duration,
        limit: usize,
        protocol: Protocol,
    ) -> Self {
        Datagram {
            chan: Mutex::new(Channel {
                io,
                buf: Vec::new(),
            }),
            url,
            unix_path,
            timeout,
            limit,
            ids: IdGenerator::new(),
            protocol: ProtocolChoice::new(protocol),
        }
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
            (Errno::ECONNREFUSED, Some(_)) => Error::NotRunning {
                endpoint: self.url.clone(),
                reason: "the socket file exists but nobody is bound to it (OpenSIPS stopped and \
                         left it behind)"
                    .into(),
            },
            (Errno::ENOENT, Some(p)) => Error::NotFound {
                kind: "unix socket",
                path: p.clone(),
                hint: "is OpenSIPS running with mi_datagram, and is this its socket_name?",
            },
            (Errno::EACCES | Errno::EPERM, Some(p)) => Error::PermissionDenied {
                path: p.clone(),
                hint: "mi_datagram's unix_socket_mode, unix_socket_user and unix_socket_group \
                       must let this user write to the socket",
            },
            (Errno::EMSGSIZE, _) => Error::InvalidRequest(format!(
                "the request is too large for one datagram to {}",
                self.url
            )),
            _ => Error::io(format!("{doing} {}", self.url), e),
        }
    }

    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        cmd.validate()?;
        let generation = self.protocol.resolve(|| self.detect())?;
        let deadline = Deadline::after(cmd.get_timeout().unwrap_or(self.timeout));
        let (request, expect) = match generation {
            Generation::JsonRpc => {
                let id = self.ids.next_id();
                (
                    jsonrpc::encode_request(cmd.method(), cmd.params(), id),
                    Expect::Json(id, cmd.decodes()),
                )
            }
            Generation::Legacy => (
                legacy::encode_request(cmd.method(), cmd.params(), None)?,
                Expect::Legacy,
            ),
        };
        self.exchange(&request, expect, &deadline)
    }

    /// One request, one reply, under the deadline. After a timeout the socket is replaced,
    /// so a late reply can never be read as the answer to a later request.
    fn exchange(&self, request: &[u8], expect: Expect, deadline: &Deadline) -> Result<Response> {
        let limit = self.limit;
        if request.len() > limit {
            return Err(Error::InvalidRequest(format!(
                "the request is {} bytes but mi_datagram takes at most {limit} bytes per \
                 datagram; use the FIFO or HTTP transport",
                request.len()
            )));
        }
        // One call at a time per socket, so no thread reads another's reply.
        let mut guard = self.chan.lock().unwrap_or_else(|p| p.into_inner());
        let chan = &mut *guard;
        let result = self.roundtrip(chan, request, expect, deadline);
        if matches!(result, Err(Error::Timeout { .. })) {
            chan.io.reopen()?;
        }
        result
    }

    /// One receive into `chan.buf`, waiting at most `left`; `None` when nothing came (the
    /// caller checks its deadline and tries again).
    fn recv(&self, chan: &mut Channel<S>, left: Duration) -> Result<Option<usize>> {
        chan.io
            .set_read_timeout(Some(left))
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

    fn roundtrip(
        &self,
        chan: &mut Channel<S>,
        request: &[u8],
        expect: Expect,
        deadline: &Deadline,
    ) -> Result<Response> {
        let limit = self.limit;
        chan.io
            .send_request(request)
            .map_err(|e| self.map_err(e, "sending to"))?;
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
            let data = &chan.buf[..n];
            if n > limit {
                return Err(Error::malformed(
                    format!(
                        "the reply datagram is larger than the {limit}-byte receive buffer and \
                         was truncated; raise the datagram buffer size to match the server's \
                         socket_buf_size"
                    ),
                    data,
                ));
            }
            let (id, decode) = match expect {
                Expect::Json(id, decode) => (id, decode),
                Expect::Legacy if n == 0 => continue,
                Expect::Legacy => return legacy::decode_reply(data),
            };
            match jsonrpc::scan_with(data, id, true, decode) {
                Scan::Found { result, range } => {
                    return result.map(|mut r| {
                        r.raw = data[range].to_vec();
                        r
                    });
                }
                Scan::Failed(e) => return Err(e),
                // A stale reply to an earlier request (or an empty datagram): keep waiting.
                Scan::OnlyStale | Scan::Incomplete { .. } => continue,
            }
        }
    }

    /// Sends a JSON-RPC `version` request: 3.x/4.x answer JSON, 1.x/2.x answer
    /// `500 command not available` (a datagram server keeps no state between requests).
    fn detect(&self) -> Result<Generation> {
        let deadline = Deadline::after(self.timeout);
        let id = self.ids.next_id();
        let probe = jsonrpc::encode_request("version", &crate::Params::None, id);
        let mut guard = self.chan.lock().unwrap_or_else(|p| p.into_inner());
        let chan = &mut *guard;
        chan.io
            .send_request(&probe)
            .map_err(|e| self.map_err(e, "sending to"))?;
        if chan.buf.len() != self.limit + 1 {
            chan.buf.resize(self.limit + 1, 0);
        }
        loop {
            let Some(left) = deadline.remaining() else {
                chan.io.reopen()?;
                return Err(
                    Error::timeout(deadline.total(), "detecting the MI protocol")
                        .with_hint("the probe got no answer: is mi_datagram listening here?"),
                );
            };
            let Some(n) = self.recv(chan, left)? else {
                continue;
            };
            let data = &chan.buf[..n.min(self.limit)];
            if legacy::looks_like_reply(data) {
                return Ok(Generation::Legacy);
            }
            match jsonrpc::scan(data, id, true) {
                Scan::Found { .. } => return Ok(Generation::JsonRpc),
                Scan::Failed(e) => return Err(e),
                Scan::OnlyStale | Scan::Incomplete { .. } => continue,
            }
        }
    }
}

/// A connection to OpenSIPS `mi_datagram` over UDP.
pub struct UdpConnection {
    inner: Datagram<UdpClient>,
    server: SocketAddr,
    pub(crate) commands: crate::helpers::verify::CommandCache,
}

impl std::fmt::Debug for UdpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpConnection")
            .field("server", &self.server)
            .field("timeout", &self.inner.timeout)
            .field("protocol", &self.inner.protocol)
            .finish()
    }
}

impl UdpConnection {
    pub(crate) fn new(
        server: SocketAddr,
        timeout: Duration,
        buffer: usize,
        protocol: Protocol,
    ) -> Result<Self> {
        let client = UdpClient::open(server)?;
        let url = format!("udp://{server}");
        Ok(UdpConnection {
            inner: Datagram::new(client, url, None, timeout, buffer, protocol),
            server,
            commands: Default::default(),
        })
    }

    /// The server address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub(crate) fn set_timeout(&mut self, t: Duration) {
        self.inner.timeout = t;
    }

    pub(crate) fn generation(&self) -> Result<Generation> {
        self.inner.protocol.resolve(|| self.inner.detect())
    }

    pub(crate) fn execute(&self, cmd: &Cmd) -> Result<Response> {
        self.inner.execute(cmd)
    }
}

/// A connection to OpenSIPS `mi_datagram` over a unix datagram socket.
pub struct UnixDatagramConnection {
    inner: Datagram<UnixClient>,
    server: PathBuf,
    pub(crate) commands: crate::helpers::verify::CommandCache,
}

impl std::fmt::Debug for UnixDatagramConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixDatagramConnection")
            .field("server", &self.server)
            .field("reply_path", &self.reply_path())
            .field("timeout", &self.inner.timeout)
            .field("protocol", &self.inner.protocol)
            .finish()
    }
}

impl UnixDatagramConnection {
    pub(crate) fn new(
        server: PathBuf,
        reply_dir: &Path,
        timeout: Duration,
        buffer: usize,
        protocol: Protocol,
    ) -> Result<Self> {
        let client = UnixClient::open(server.clone(), reply_dir.to_path_buf())?;
        let url = format!("unix://{}", server.display());
        Ok(UnixDatagramConnection {
            inner: Datagram::new(client, url, Some(server.clone()), timeout, buffer, protocol),
            server,
            commands: Default::default(),
        })
    }

    /// The server socket path.
    pub fn server(&self) -> &Path {
        &self.server
    }

    /// The path this connection currently receives replies on (removed on drop, and
    /// replaced after a timeout).
    pub fn reply_path(&self) -> PathBuf {
        self.inner
            .chan
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .io
            .path
            .clone()
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub(crate) fn set_timeout(&mut self, t: Duration) {
        self.inner.timeout = t;
    }

    pub(crate) fn generation(&self) -> Result<Generation> {
        self.inner.protocol.resolve(|| self.inner.detect())
    }

    pub(crate) fn execute(&self, cmd: &Cmd) -> Result<Response> {
        self.inner.execute(cmd)
    }
}
