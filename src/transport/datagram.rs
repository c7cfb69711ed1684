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
use crate::{Cmd, Error, Response, Result};

/// mi_datagram's buffer in OpenSIPS 3.x (and the 4.0 default of `socket_buf_size`).
pub const DEFAULT_DATAGRAM_BUFFER: usize = 65_457;

/// The socket operations both datagram flavours share.
trait DatagramIo {
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize>;
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize>;
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()>;
}

impl DatagramIo for UdpSocket {
    fn send_request(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.send(buf)
    }
    fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.recv(buf)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        UdpSocket::set_read_timeout(self, d)
    }
}

struct UnixClient {
    socket: UnixDatagram,
    server: PathBuf,
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
}

/// Socket plus its receive buffer, used by one call at a time.
struct Channel<S> {
    io: S,
    buf: Vec<u8>,
}

/// What both datagram connections share: the socket, the endpoint, limits and ids.
struct Datagram<S> {
    chan: Mutex<Channel<S>>,
    url: String,
    unix_path: Option<PathBuf>,
    timeout: Duration,
    limit: usize,
    ids: IdGenerator,
}

impl<S: DatagramIo> Datagram<S> {
    fn new(
        io: S,
        url: String,
        unix_path: Option<PathBuf>,
        timeout: Duration,
        limit: usize,
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
        let deadline = Deadline::after(cmd.get_timeout().unwrap_or(self.timeout));
        let id = self.ids.next_id();
        let request = jsonrpc::encode_request(cmd.method(), cmd.params(), id);
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
        chan.io
            .send_request(&request)
            .map_err(|e| self.map_err(e, "sending to"))?;
        if chan.buf.len() != limit + 1 {
            chan.buf.resize(limit + 1, 0);
        }
        loop {
            let Some(left) = deadline.remaining() else {
                return Err(
                    Error::timeout(deadline.total(), "waiting for the reply").with_hint(
                        "no datagram came back: OpenSIPS may be down (UDP cannot always tell), may \
                     have dropped the request, or the reply was too large for one datagram",
                    ),
                );
            };
            chan.io
                .set_read_timeout(Some(left))
                .map_err(|e| self.map_err(e, "configuring"))?;
            let n = match chan.io.recv_reply(&mut chan.buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(self.map_err(e, "receiving from")),
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
            match jsonrpc::scan(data, id, true) {
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
}

/// A connection to OpenSIPS `mi_datagram` over UDP.
pub struct UdpConnection {
    inner: Datagram<UdpSocket>,
    server: SocketAddr,
}

impl std::fmt::Debug for UdpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpConnection")
            .field("server", &self.server)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl UdpConnection {
    pub(crate) fn new(server: SocketAddr, timeout: Duration, buffer: usize) -> Result<Self> {
        let local: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let url = format!("udp://{server}");
        let socket = UdpSocket::bind(local)
            .map_err(|e| Error::io(format!("binding a local socket for {url}"), e))?;
        // connect(): only the server's datagrams are received, and an ICMP "port
        // unreachable" comes back as ECONNREFUSED.
        socket
            .connect(server)
            .map_err(|e| Error::io(format!("connecting to {url}"), e))?;
        Ok(UdpConnection {
            inner: Datagram::new(socket, url, None, timeout, buffer),
            server,
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

    pub(crate) fn execute(&self, cmd: &Cmd) -> Result<Response> {
        self.inner.execute(cmd)
    }
}

/// A connection to OpenSIPS `mi_datagram` over a unix datagram socket.
pub struct UnixDatagramConnection {
    inner: Datagram<UnixClient>,
    server: PathBuf,
    reply_path: PathBuf,
}

impl std::fmt::Debug for UnixDatagramConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixDatagramConnection")
            .field("server", &self.server)
            .field("reply_path", &self.reply_path)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl UnixDatagramConnection {
    pub(crate) fn new(
        server: PathBuf,
        reply_dir: &Path,
        timeout: Duration,
        buffer: usize,
    ) -> Result<Self> {
        let reply_path = reply_dir.join(format!("osips_mi_{}.sock", random_token()));
        let socket = UnixDatagram::bind(&reply_path).map_err(|e| match e.kind() {
            ErrorKind::PermissionDenied => Error::PermissionDenied {
                path: reply_dir.to_path_buf(),
                hint: "the client binds its reply socket in this directory; choose a writable \
                       reply socket directory",
            },
            _ => Error::io(format!("binding reply socket {}", reply_path.display()), e),
        })?;
        let url = format!("unix://{}", server.display());
        let client = UnixClient {
            socket,
            server: server.clone(),
        };
        let conn = UnixDatagramConnection {
            inner: Datagram::new(client, url, Some(server.clone()), timeout, buffer),
            server,
            reply_path,
        };
        // OpenSIPS (possibly another user) must be able to send to us: write for all,
        // which for a socket does not let anyone read what we receive.
        std::fs::set_permissions(&conn.reply_path, std::fs::Permissions::from_mode(0o622))
            .map_err(|e| {
                Error::io(
                    format!("setting the mode of {}", conn.reply_path.display()),
                    e,
                )
            })?;
        Ok(conn)
    }

    /// The server socket path.
    pub fn server(&self) -> &Path {
        &self.server
    }

    /// The path this connection receives replies on (removed on drop).
    pub fn reply_path(&self) -> &Path {
        &self.reply_path
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub(crate) fn set_timeout(&mut self, t: Duration) {
        self.inner.timeout = t;
    }

    pub(crate) fn execute(&self, cmd: &Cmd) -> Result<Response> {
        self.inner.execute(cmd)
    }
}

impl Drop for UnixDatagramConnection {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.reply_path);
    }
}
