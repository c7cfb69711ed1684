//! The built-in HTTP/1.1 client for plain `http://` (`mi_http` and XML-RPC without TLS or a
//! proxy): keep-alive connections over `std::net::TcpStream`, each probed with one
//! zero-timeout `poll` before it is reused, each request in one `write`, a reply usually in
//! one `read` — three system calls, the two of a minimal raw client and the probe. ureq
//! cost six (a socket timeout set on every request, a liveness probe of three calls on
//! every pooled connection) and about 30 000 instructions of its own per request (issue 25).
//!
//! What it does, and what it refuses:
//! - A request is the head (Host, User-Agent, Content-Type, the user's headers,
//!   Content-Length) and the body, sent with one `write` (OpenSIPS httpd loses a body that
//!   arrives in a later TCP segment than its head, PROTOCOL.md §6.3), `TCP_NODELAY` on.
//! - A reply other than 200 becomes [`Error::Http`] from its status line alone: its body is
//!   never read (3.x/4.0 send 202/400/405 heads whose chunked body never ends) and the
//!   connection is dropped. 1xx interim replies are skipped.
//! - A 200 body comes by `Content-Length`, `Transfer-Encoding: chunked` (extensions and
//!   trailers skipped) or, without either, up to the server's close; never more than
//!   `max_reply`, and never more than [`RESERVE_AHEAD`] of memory ahead of the bytes that
//!   came (an announced length is not allocated up front). A reply whose first bytes cannot
//!   begin `HTTP/1.` (another service on the port, a TLS server) is refused at once; a head
//!   over 64 KiB, `Content-Length` headers that differ, both framings, another transfer
//!   coding, a bad chunk size or a line that is not HTTP is [`Error::MalformedReply`]
//!   ("not a valid HTTP reply: …").
//! - Keep-alive: a connection is reused unless the reply said `Connection: close`, was
//!   HTTP/1.0, was not read to its end, was followed by bytes in the same read, or
//!   keep-alive is off. Before every reuse it is probed with one zero-timeout `poll`:
//!   readable (the server's close, or bytes nobody asked for, such as a late second reply)
//!   or hung up, it is dropped and a new one opened. Bytes that come only after the next
//!   request was written cannot be told from its reply (an XML-RPC reply has no id): no
//!   probe can catch a server that sends them that late.
//! - A request completely written is never sent again: if the server closes or resets the
//!   connection before its reply, the call fails ("the server closed the connection
//!   without a complete HTTP reply"), since the server may have run the command. Only a
//!   reused connection whose very first `write` of the request fails (reset or shut down:
//!   the kernel took no byte of it, so none reached the server) carries it again, once, on
//!   a new connection.
//! - Nothing waits past the call's deadline by more than the slack of [`arm`] ([`MAX_SLACK`])
//!   and a tick or two of the kernel's timers (socket timeouts are never set longer than
//!   [`MAX_SOCKET_TIMEOUT`], where those timers are fine-grained).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{closed_early, map_io, not_http, timed_out, too_big};
use crate::transport::{Deadline, MAX_SOCKET_TIMEOUT};
use crate::{Error, Result};

/// The largest reply head (status line and headers) accepted; also the limit of a chunk's
/// size line and of the trailers.
const MAX_HEAD: usize = 64 * 1024;
/// A connection idle for longer than this is not reused (as ureq: a NAT or firewall on the
/// way may have forgotten it without a word).
const MAX_IDLE_AGE: Duration = Duration::from_secs(15);
/// Idle connections kept (for calls made at the same time on one connection).
const MAX_IDLE: usize = 3;
/// How long a looked-up address is reused.
const DNS_REUSE: Duration = Duration::from_secs(60);
/// The end of a reply head, its searcher built once (not on every call).
static HEAD_END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
/// What every reply begins with.
const HTTP_1: &[u8] = b"HTTP/1.";
/// The read buffer of a connection: a usual reply comes whole in one read.
const READ_BUFFER: usize = 16 * 1024;
/// A body is given at most this much memory beyond the bytes already received, whatever
/// length its head announces: a 50-byte reply announcing 128 MiB costs no 128 MiB.
const RESERVE_AHEAD: usize = 64 * 1024;
/// The most a socket timeout left set may exceed the time left (see [`arm`]): with a tick
/// or two of the kernel's timers, how late a blocking read or write may end.
const MAX_SLACK: Duration = Duration::from_millis(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the server is.
#[derive(Debug, PartialEq)]
enum Host {
    /// An IP literal: never looked up.
    Addr(SocketAddr),
    /// A name, looked up at most once every [`DNS_REUSE`].
    Name(String, u16),
}

/// A plain `http://host[:port]/path` URL split into its authority, host and path; `None`
/// for anything else (which then goes through ureq, as before).
fn split_url(url: &str) -> Option<(&str, Host, &str)> {
    let rest = url.strip_prefix("http://")?;
    let slash = rest.find('/')?;
    let (authority, path) = rest.split_at(slash);
    // visible ASCII only: no space, CR, LF, NUL or fragment may reach the request line
    if path.bytes().any(|b| !b.is_ascii_graphic() || b == b'#') {
        return None;
    }
    let port = |p: Option<&str>| match p {
        None => Some(80),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
        Some(_) => None,
    };
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let (ip, after) = v6.split_once(']')?;
        let ip: std::net::Ipv6Addr = ip.parse().ok()?;
        let p = match after {
            "" => port(None)?,
            _ => port(Some(after.strip_prefix(':')?))?,
        };
        Host::Addr(SocketAddr::new(IpAddr::V6(ip), p))
    } else {
        let (name, p) = match authority.split_once(':') {
            Some((n, p)) => (n, port(Some(p))?),
            None => (authority, port(None)?),
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !name_ok {
            return None;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => Host::Addr(SocketAddr::new(ip, p)),
            Err(_) => Host::Name(name.to_owned(), p),
        }
    };
    Some((authority, host, path))
}

/// The built-in client of one URL.
pub(super) struct Client {
    /// The URL (without credentials), for errors.
    url: String,
    host: Host,
    /// Every request's head up to the value of its `Content-Length`.
    head: Vec<u8>,
    keepalive: bool,
    max_reply: usize,
    idle: Mutex<Vec<Conn>>,
    dns: Mutex<Option<(Instant, Vec<SocketAddr>)>>,
}

/// Never the head: it holds the user's headers (`Authorization`).
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("host", &self.host)
            .field("keepalive", &self.keepalive)
            .field("max_reply", &self.max_reply)
            .finish_non_exhaustive()
    }
}

/// One TCP connection and what it remembers between requests.
struct Conn {
    stream: TcpStream,
    /// When its last reply ended.
    last_used: Instant,
    /// The read and write timeouts set on the socket (see [`arm`]).
    timeout: Option<Duration>,
    /// The request being sent (its head holds the user's headers: `Authorization`).
    out: Vec<u8>,
    /// Bytes read and not yet used are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Never the request (`out`: it holds the `Authorization` header) nor the bytes read.
impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("stream", &self.stream)
            .field("last_used", &self.last_used)
            .field("timeout", &self.timeout)
            .field("unread", &(self.end - self.start))
            .finish_non_exhaustive()
    }
}

/// Why an exchange failed.
enum Failure {
    /// The first `write` of the request failed (the connection was reset or shut down):
    /// the kernel took no byte of the request, so the server cannot have seen any of it.
    NotSent(Error),
    /// Anything else, the request possibly seen by the server: never retried.
    Other(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}

type Step<T> = std::result::Result<T, Failure>;

impl Client {
    /// A client posting `Content-Type: content_type` requests to `url`, or `None` if `url`
    /// is not a plain `http://host[:port]/path` this client can send as written.
    pub(super) fn new(
        url: &str,
        content_type: &str,
        headers: &[(String, String)],
        keepalive: bool,
        max_reply: usize,
    ) -> Option<Client> {
        let (authority, host, path) = split_url(url)?;
        let given = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut head = format!("POST {path} HTTP/1.1\r\n");
        // a header the user gives replaces ours; the body's framing is ours alone. No
        // `Accept` (ureq sent `*/*`): httpd ignores it, and every byte is parsed there
        for (name, value) in [
            ("Host", authority),
            (
                "User-Agent",
                concat!("opensips-mi/", env!("CARGO_PKG_VERSION")),
            ),
            ("Content-Type", content_type),
        ] {
            if !given(name) {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        for (name, value) in headers {
            if !["content-length", "transfer-encoding"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            {
                // names and values were checked when the options were (no CR, LF or NUL)
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str("Content-Length: ");
        Some(Client {
            url: url.to_owned(),
            host,
            head: head.into_bytes(),
            keepalive,
            max_reply,
            idle: Mutex::new(Vec::new()),
            dns: Mutex::new(None),
        })
    }

    /// POSTs `body` and returns the 200 reply's body.
    pub(super) fn post(&self, body: &[u8], deadline: &Deadline) -> Result<Vec<u8>> {
        let (mut conn, mut reused) = match self.take_idle() {
            Some(conn) => (conn, true),
            None => (self.connect(deadline)?, false),
        };
        loop {
            match conn.exchange(self, body, deadline) {
                Ok((reply, reusable)) => {
                    if reusable && self.keepalive {
                        conn.last_used = Instant::now();
                        let mut idle = lock(&self.idle);
                        if idle.len() < MAX_IDLE {
                            idle.push(conn);
                        }
                    }
                    return Ok(reply);
                }
                // a reused connection that took no byte of the request (reset between the
                // probe and the write): once more, on a new one. Nothing of the request
                // left this host, so the server cannot run it twice
                Err(Failure::NotSent(_)) if reused => {
                    reused = false;
                    drop(conn);
                    conn = self.connect(deadline)?;
                }
                Err(Failure::NotSent(e) | Failure::Other(e)) => return Err(e),
            }
        }
    }

    /// An idle connection that looks alive: each is probed (one zero-timeout `poll`)
    /// however briefly it sat idle, since a request written on a connection the server
    /// closed can never be sent again (the server may have run it).
    fn take_idle(&self) -> Option<Conn> {
        loop {
            let conn = lock(&self.idle).pop()?;
            if conn.last_used.elapsed() > MAX_IDLE_AGE || closed_by_peer(&conn.stream) {
                continue;
            }
            return Some(conn);
        }
    }

    /// A new connection, within the deadline: every address in turn.
    fn connect(&self, deadline: &Deadline) -> Result<Conn> {
        let addrs = match &self.host {
            Host::Addr(a) => vec![*a],
            Host::Name(name, port) => self.lookup(name, *port, deadline)?,
        };
        let mut last = None;
        for addr in addrs {
            let left = deadline.remaining().ok_or_else(|| timed_out(deadline))?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| map_io(&self.url, e, deadline))?;
                    return Ok(Conn {
                        stream,
                        last_used: Instant::now(),
                        timeout: None,
                        out: Vec::new(),
                        buf: vec![0; READ_BUFFER],
                        start: 0,
                        end: 0,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => map_io(&self.url, e, deadline),
            None => Error::invalid_config(format!("{}: host not found", self.url)),
        })
    }

    /// The addresses of `name`, looked up at most once every [`DNS_REUSE`], in a thread
    /// so that a slow resolver cannot hold the call past its deadline.
    fn lookup(&self, name: &str, port: u16, deadline: &Deadline) -> Result<Vec<SocketAddr>> {
        if let Some((at, addrs)) = lock(&self.dns).as_ref() {
            if at.elapsed() < DNS_REUSE {
                return Ok(addrs.clone());
            }
        }
        let left = deadline.remaining().ok_or_else(|| timed_out(deadline))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let target = (name.to_owned(), port);
        std::thread::Builder::new()
            .name("opensips-mi-dns".into())
            .spawn(move || {
                let found = target.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
                let _ = tx.send(found);
            })
            .map_err(|e| Error::io(format!("talking to {}", self.url), e))?;
        let addrs = match rx.recv_timeout(left) {
            Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
            Ok(Ok(_)) => {
                return Err(Error::invalid_config(format!(
                    "{}: host not found",
                    self.url
                )));
            }
            Ok(Err(e)) => return Err(map_io(&self.url, e, deadline)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(timed_out(deadline)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::io(
                    format!("talking to {}", self.url),
                    std::io::Error::other("the host name lookup failed"),
                ));
            }
        };
        *lock(&self.dns) = Some((Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// One zero-timeout `poll`: an idle connection that is readable (the server's FIN makes
/// it readable at EOF; or bytes nobody asked for, such as a late second reply) or hung up
/// or in error (`POLLHUP`, `POLLERR`: always reported) is of no use.
fn closed_by_peer(stream: &TcpStream) -> bool {
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}

/// The slack of [`arm`] for a call of `total`: total / 16, within 1 ms and [`MAX_SLACK`].
fn slack(total: Duration) -> Duration {
    (total / 16).clamp(Duration::from_millis(1), MAX_SLACK)
}

/// Sets the socket's read and write timeouts to the time left before `deadline`, at most
/// [`MAX_SOCKET_TIMEOUT`], unless the value set is within the slack of that ([`slack`]: at
/// most [`MAX_SLACK`], 5 ms): back-to-back calls then cost no `setsockopt` (the value stays
/// [`MAX_SOCKET_TIMEOUT`] while more than that is left). The price is a bounded overrun:
/// one blocking read or write may end up to the slack (and the kernel's tick) after the
/// deadline; called before every read, so a server trickling bytes cannot stretch it
/// further. A value shorter than wanted by more than the slack is raised too (one left by
/// a reply that ended close to its deadline would otherwise wake every later wait again
/// and again).
fn arm(
    stream: &TcpStream,
    set: &mut Option<Duration>,
    deadline: &Deadline,
    url: &str,
) -> Result<()> {
    let left = deadline.remaining().ok_or_else(|| timed_out(deadline))?;
    let want = left.min(MAX_SOCKET_TIMEOUT);
    let slack = slack(deadline.total());
    if set.is_none_or(|s| s > want + slack || s + slack < want) {
        stream
            .set_read_timeout(Some(want))
            .and_then(|()| stream.set_write_timeout(Some(want)))
            .map_err(|e| map_io(url, e, deadline))?;
        *set = Some(want);
    }
    Ok(())
}

/// Whether an I/O error means the server closed or reset the connection.
fn closed(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
    )
}

/// Appends `n` in decimal (the JSON-RPC encoder's writer).
fn push_decimal(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(crate::protocol::jsonrpc::decimal(n as u64, &mut [0; 20]));
}

/// What a reply head says.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    /// The connection may carry another request after this reply.
    reusable: bool,
    framing: BodyFraming,
}

#[derive(Debug, PartialEq)]
enum BodyFraming {
    Length(u64),
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
}

/// The status code of a status line (`HTTP/1.x NNN reason`), and whether it is HTTP/1.0.
fn status_line(line: &[u8]) -> std::result::Result<(u16, bool), String> {
    let bad = || {
        format!(
            "status line {:?}",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        )
    };
    let http10 = match line.get(..9) {
        Some(b"HTTP/1.1 ") => false,
        Some(b"HTTP/1.0 ") => true,
        _ => return Err(bad()),
    };
    let code = &line[9..];
    match code {
        [a, b, c, rest @ ..]
            if [a, b, c].iter().all(|d| d.is_ascii_digit())
                && (rest.is_empty() || rest[0] == b' ')
                && *a != b'0' =>
        {
            let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            Ok((status, http10))
        }
        _ => Err(bad()),
    }
}

/// The headers of a 200 reply (the lines after the status line, without the empty line).
fn parse_headers(lines: &[u8], http10: bool) -> std::result::Result<Head, String> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut reusable = !http10;
    let mut at = 0;
    while at < lines.len() {
        let end = memchr::memchr(b'\n', &lines[at..]).map_or(lines.len(), |i| at + i);
        let line = &lines[at..end];
        at = end + 1;
        let line = line
            .strip_suffix(b"\r")
            .ok_or("a header line without CR LF")?;
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            return Err("a folded header line".into());
        }
        let colon = memchr::memchr(b':', line).ok_or_else(|| {
            format!(
                "header line {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            )
        })?;
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.is_empty() || !name.iter().all(u8::is_ascii_graphic) {
            return Err("a header name that is not a token".into());
        }
        // by length first: most headers are none of these three
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let digits =
                    !value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit);
                if !digits {
                    return Err(format!(
                        "Content-Length {:?}",
                        String::from_utf8_lossy(value)
                    ));
                }
                let n = value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
                // the same value twice is allowed (RFC 9110 §8.6), as ureq took it
                if length.is_some_and(|l| l != n) {
                    return Err("Content-Length headers that differ".into());
                }
                length = Some(n);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                if chunked || !value.eq_ignore_ascii_case(b"chunked") {
                    return Err(format!(
                        "Transfer-Encoding {:?} (only one \"chunked\" is understood)",
                        String::from_utf8_lossy(value)
                    ));
                }
                chunked = true;
            }
            10 if name.eq_ignore_ascii_case(b"connection")
                && value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close")) =>
            {
                reusable = false;
            }
            _ => {}
        }
    }
    let framing = match (length, chunked) {
        (Some(_), true) => return Err("both Content-Length and Transfer-Encoding".into()),
        (Some(n), false) => BodyFraming::Length(n),
        (None, true) => BodyFraming::Chunked,
        (None, false) => {
            reusable = false;
            BodyFraming::UntilClose
        }
    };
    Ok(Head {
        status: 200,
        reusable,
        framing,
    })
}

/// The size of a chunk from its size line (`1a;ext=x`, without CR LF).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let digits = line[..end].trim_ascii();
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

impl Conn {
    /// Sends the request and reads the reply: its body, and whether the connection can
    /// carry another request.
    fn exchange(
        &mut self,
        client: &Client,
        body: &[u8],
        deadline: &Deadline,
    ) -> Step<(Vec<u8>, bool)> {
        self.start = 0;
        self.end = 0;
        self.out.clear();
        self.out.extend_from_slice(&client.head);
        push_decimal(&mut self.out, body.len());
        self.out.extend_from_slice(b"\r\n\r\n");
        self.out.extend_from_slice(body);
        self.send(client, deadline)?;
        let head = loop {
            let (status, http10, lines) = self.head(client, deadline)?;
            match status {
                200 => {
                    let head = parse_headers(&self.buf[lines.clone()], http10).map_err(not_http)?;
                    break head;
                }
                // interim (100 Continue, 102, 103): the real reply follows
                100 | 102..=199 => continue,
                // the status alone: OpenSIPS never finishes the body of 202/400/405
                _ => {
                    return Err(Failure::Other(Error::Http {
                        status,
                        url: client.url.clone(),
                        hint: super::status_hint(status, body.len()).map(Into::into),
                    }));
                }
            }
        };
        let reply = match head.framing {
            BodyFraming::Length(n) => {
                let n = usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= client.max_reply)
                    .ok_or_else(|| too_big(client.max_reply))?;
                // the whole of a usual reply at once; an announced length beyond that
                // only as the bytes come
                let mut reply = Vec::with_capacity(n.min(RESERVE_AHEAD));
                self.take(&mut reply, n, client, deadline)?;
                reply
            }
            BodyFraming::Chunked => self.chunked(client, deadline)?,
            BodyFraming::UntilClose => self.until_close(client, deadline)?,
        };
        // bytes after the reply: nothing asked for them, the connection is not trusted
        let reusable = head.reusable && self.start == self.end;
        Ok((reply, reusable))
    }

    /// Writes the request (one `write` unless the socket buffer is full).
    fn send(&mut self, client: &Client, deadline: &Deadline) -> Step<()> {
        arm(&self.stream, &mut self.timeout, deadline, &client.url)?;
        let mut sent = 0;
        while sent < self.out.len() {
            match self.stream.write(&self.out[sent..]) {
                Ok(0) => return Err(closed_early().into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    arm(&self.stream, &mut self.timeout, deadline, &client.url)?;
                }
                // reset or shut down before the kernel took a byte of the request
                Err(e) if sent == 0 && closed(e.kind()) => {
                    return Err(Failure::NotSent(map_io(&client.url, e, deadline)));
                }
                Err(e) => return Err(map_io(&client.url, e, deadline).into()),
            }
        }
        Ok(())
    }

    /// Reads into `dst` (at least one byte; 0 at EOF), within the deadline.
    fn read_some(
        stream: &mut TcpStream,
        timeout: &mut Option<Duration>,
        dst: &mut [u8],
        client: &Client,
        deadline: &Deadline,
    ) -> Step<usize> {
        loop {
            // before every read: the deadline, and a socket timeout no longer than it
            arm(stream, timeout, deadline, &client.url)?;
            match stream.read(dst) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(map_io(&client.url, e, deadline).into()),
            }
        }
    }

    /// Reads more into the buffer (moving or growing it when full); 0 at EOF.
    fn fill(&mut self, client: &Client, deadline: &Deadline) -> Step<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let len = self.buf.len() * 2;
                self.buf.resize(len, 0);
            }
        }
        let n = Self::read_some(
            &mut self.stream,
            &mut self.timeout,
            &mut self.buf[self.end..],
            client,
            deadline,
        )?;
        self.end += n;
        Ok(n)
    }

    /// The next line (without CR LF) as a range of the buffer, at most `limit` bytes long;
    /// `what` names it in errors.
    fn line(
        &mut self,
        limit: usize,
        what: &str,
        client: &Client,
        deadline: &Deadline,
    ) -> Step<std::ops::Range<usize>> {
        let mut from = self.start;
        loop {
            if let Some(i) = self.buf[from..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let line = self.start..from + i;
                self.start = from + i + 2;
                return Ok(line);
            }
            if self.end - self.start > limit + 1 {
                return Err(not_http(format!("{what} longer than {limit} bytes")).into());
            }
            from = self.end.saturating_sub(1).max(self.start);
            let before = self.start;
            if self.fill(client, deadline)? == 0 {
                return Err(closed_early().into());
            }
            // the buffer may have moved
            from -= before - self.start;
        }
    }

    /// Reads one reply head: the status, whether it is HTTP/1.0, and the range of its
    /// header lines in the buffer.
    fn head(
        &mut self,
        client: &Client,
        deadline: &Deadline,
    ) -> Step<(u16, bool, std::ops::Range<usize>)> {
        let mut from = self.start;
        let end = loop {
            // as soon as the first bytes cannot begin a status line: another service on
            // the port (SSH, SMTP banners) or a TLS server would otherwise leave the call
            // waiting for its deadline, or closing, misread as httpd refusing the request
            let first = &self.buf[self.start..self.end];
            let n = first.len().min(HTTP_1.len());
            if first[..n] != HTTP_1[..n] {
                return Err(not_http(format!(
                    "invalid HTTP version (the reply begins {:?}: is this an HTTP server, \
                     not TLS or another service?)",
                    String::from_utf8_lossy(&first[..first.len().min(40)])
                ))
                .into());
            }
            if let Some(i) = HEAD_END.find(&self.buf[from..self.end]) {
                break from + i;
            }
            if self.end - self.start > MAX_HEAD {
                return Err(not_http(format!("a reply head longer than {MAX_HEAD} bytes")).into());
            }
            from = self.end.saturating_sub(3).max(self.start);
            let before = self.start;
            if self.fill(client, deadline)? == 0 {
                return Err(closed_early().into());
            }
            from -= before - self.start;
        };
        if end - self.start > MAX_HEAD {
            return Err(not_http(format!("a reply head longer than {MAX_HEAD} bytes")).into());
        }
        // the status line ends at the first LF, at the latest the one of the empty line's
        // CR LF CR LF; header lines follow, each with its CR
        let lf = memchr::memchr(b'\n', &self.buf[self.start..end + 2])
            .map_or(end + 1, |i| self.start + i);
        let status = self.buf[self.start..lf]
            .strip_suffix(b"\r")
            .ok_or_else(|| not_http("a status line without CR LF"))?;
        let (status, http10) = status_line(status).map_err(not_http)?;
        let lines = (lf + 1).min(end + 1)..end + 1;
        self.start = end + 4;
        Ok((status, http10, lines))
    }

    /// Appends `n` bytes of body to `out`: those already read, then straight from the
    /// socket. `out` grows as the bytes come, never more than [`RESERVE_AHEAD`] ahead of
    /// them (each byte zeroed once): an announced `n` is no allocation by itself.
    fn take(
        &mut self,
        out: &mut Vec<u8>,
        n: usize,
        client: &Client,
        deadline: &Deadline,
    ) -> Step<()> {
        let have = (self.end - self.start).min(n);
        out.extend_from_slice(&self.buf[self.start..self.start + have]);
        self.start += have;
        // out[..at] came; out[at..] is zeroed room for what comes next
        let mut at = out.len();
        let until = at + (n - have);
        while at < until {
            if at == out.len() {
                let room = (until - at).min(RESERVE_AHEAD);
                if out.capacity() < at + room {
                    // double as a Vec does, but never past the announced end
                    let cap = (out.capacity() * 2).clamp(at + room, until);
                    out.reserve_exact(cap - at);
                }
                out.resize(at + room, 0);
            }
            let got = Self::read_some(
                &mut self.stream,
                &mut self.timeout,
                &mut out[at..],
                client,
                deadline,
            )?;
            if got == 0 {
                return Err(closed_early().into());
            }
            at += got;
        }
        Ok(())
    }

    /// A chunked body (sizes, extensions and trailers checked and dropped).
    fn chunked(&mut self, client: &Client, deadline: &Deadline) -> Step<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line(MAX_HEAD, "a chunk size line", client, deadline)?;
            let size = chunk_size(&self.buf[line.clone()]).ok_or_else(|| {
                not_http(format!(
                    "chunk size line {:?}",
                    String::from_utf8_lossy(&self.buf[line.start..line.end.min(line.start + 80)])
                ))
            })?;
            if size == 0 {
                break;
            }
            let size = usize::try_from(size)
                .ok()
                .filter(|s| {
                    body.len()
                        .checked_add(*s)
                        .is_some_and(|t| t <= client.max_reply)
                })
                .ok_or_else(|| too_big(client.max_reply))?;
            self.take(&mut body, size, client, deadline)?;
            while self.end - self.start < 2 {
                if self.fill(client, deadline)? == 0 {
                    return Err(closed_early().into());
                }
            }
            if &self.buf[self.start..self.start + 2] != b"\r\n" {
                return Err(not_http("a chunk longer than its size").into());
            }
            self.start += 2;
        }
        // trailers, up to the empty line
        let mut trailers = 0;
        loop {
            let line = self.line(MAX_HEAD, "a trailer line", client, deadline)?;
            if line.is_empty() {
                return Ok(body);
            }
            trailers += line.len() + 2;
            if trailers > MAX_HEAD {
                return Err(not_http(format!("trailers longer than {MAX_HEAD} bytes")).into());
            }
        }
    }

    /// A body that ends when the server closes the connection.
    fn until_close(&mut self, client: &Client, deadline: &Deadline) -> Step<Vec<u8>> {
        loop {
            if self.end - self.start > client.max_reply {
                return Err(too_big(client.max_reply).into());
            }
            if self.fill(client, deadline)? == 0 {
                let body = self.buf[self.start..self.end].to_vec();
                self.start = self.end;
                return Ok(body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls_only() {
        let (auth, host, path) = split_url("http://127.0.0.1:8888/mi").unwrap();
        assert_eq!((auth, path), ("127.0.0.1:8888", "/mi"));
        assert_eq!(host, Host::Addr("127.0.0.1:8888".parse().unwrap()));
        let (_, host, _) = split_url("http://[::1]/RPC2").unwrap();
        assert_eq!(host, Host::Addr("[::1]:80".parse().unwrap()));
        let (_, host, _) = split_url("http://opensips.lan:8888/mi/x?y=1").unwrap();
        assert_eq!(host, Host::Name("opensips.lan".into(), 8888));
        for other in [
            "https://h/mi",
            "http://h",
            "http://h:/mi",
            "http://h:99999/mi",
            "http://h/m i",
            "http://h/mi#x",
            "http://h/é",
            "http://[::1/mi",
            "http://h\u{0}/mi",
        ] {
            assert!(split_url(other).is_none(), "{other}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(b"HTTP/1.1 200 OK"), Ok((200, false)));
        assert_eq!(status_line(b"HTTP/1.0 405"), Ok((405, true)));
        for bad in [
            &b"HTTP/2 200 OK"[..],
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000",
            b"<html>",
            b"",
        ] {
            assert!(status_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_rules() {
        let head = |h: &str, http10| parse_headers(h.as_bytes(), http10);
        let ok = head("Content-Type: x\r\nContent-Length: 12\r", false).unwrap();
        assert_eq!((ok.framing, ok.reusable), (BodyFraming::Length(12), true));
        let ok = head(
            "transfer-encoding: Chunked\r\nConnection: keep-alive, Close\r",
            false,
        )
        .unwrap();
        assert_eq!((ok.framing, ok.reusable), (BodyFraming::Chunked, false));
        assert!(!head("Content-Length: 1\r", true).unwrap().reusable);
        assert_eq!(
            head("X: y\r", false).unwrap().framing,
            BodyFraming::UntilClose
        );
        // the same length twice is one length
        let ok = head("Content-Length: 12\r\nX: y\r\ncontent-length: 12\r", false).unwrap();
        assert_eq!(ok.framing, BodyFraming::Length(12));
        for bad in [
            "Content-Length: 1\r\nContent-Length: 2\r",
            "Content-Length: 2\r\nContent-Length: 2\r\nContent-Length: 3\r",
            "Content-Length: 1, 1\r",
            "Content-Length: -1\r",
            "Content-Length: 99999999999999999999\r",
            "Content-Length: 1\r\nTransfer-Encoding: chunked\r",
            "Transfer-Encoding: gzip, chunked\r",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r",
            "no colon\r",
            "X: y\r\n folded\r",
            "X: y",
        ] {
            assert!(head(bad, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"1A;name=value"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        for bad in [&b""[..], b"x", b"-1", b"1 2", b"ffffffffffffffff", b";ext"] {
            assert_eq!(chunk_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 4096, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn request_head() {
        let headers = vec![
            ("Authorization".to_owned(), "Basic c2VjcmV0".to_owned()),
            ("user-agent".to_owned(), "mine/1".to_owned()),
            ("Content-Length".to_owned(), "99".to_owned()),
        ];
        let c = Client::new(
            "http://127.0.0.1:8888/mi",
            "application/json",
            &headers,
            true,
            10,
        )
        .unwrap();
        let head = String::from_utf8(c.head.clone()).unwrap();
        assert!(
            head.starts_with("POST /mi HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\nContent-Type: application/json\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\nuser-agent: mine/1\r\n") && !head.contains("opensips-mi/"),
            "{head}"
        );
        assert!(
            head.ends_with("\r\nContent-Length: ") && !head.contains("99"),
            "{head}"
        );
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
    }

    /// A server on 127.0.0.1 running `serve` on each accepted connection in turn (with
    /// its index); returns the URL.
    fn server(serve: impl Fn(usize, TcpStream) + Send + 'static) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for (i, s) in listener.incoming().enumerate() {
                match s {
                    Ok(s) => serve(i, s),
                    Err(_) => return,
                }
            }
        });
        format!("http://{addr}/mi")
    }

    /// Reads one request (head and Content-Length body) from `s`; `None` at EOF.
    fn request(s: &mut TcpStream) -> Option<Vec<u8>> {
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    return Some(req);
                }
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    fn client(url: &str) -> Client {
        Client::new(url, "application/json", &[], true, 1 << 20).unwrap()
    }

    fn deadline() -> Deadline {
        Deadline::after(Duration::from_secs(10))
    }

    /// Waits (at most 5 s) until the idle connection's socket is readable: what the server
    /// sent or its close has arrived. Then marks the connection used just now: however
    /// briefly idle, it must still be probed.
    fn until_readable_then_fresh(c: &Client) {
        let mut idle = lock(&c.idle);
        let conn = idle.last_mut().expect("an idle connection");
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&conn.stream),
            PollFlags::POLLIN,
        )];
        assert_eq!(poll(&mut fds, PollTimeout::from(5_000u16)), Ok(1));
        conn.last_used = Instant::now();
    }

    /// The server takes the second request on a kept-alive connection (reads it, or
    /// leaves it unread) and closes without a byte of reply: the call fails, and the
    /// request is never sent again (the server may have run it: a t_uac_dlg would send a
    /// second SIP request). The connection was reused at once, so no probe could see it.
    #[test]
    fn a_request_written_is_never_sent_again() {
        for read_it in [true, false] {
            let (tx, rx) = std::sync::mpsc::channel();
            let url = server(move |i, mut s| {
                if i == 0 {
                    let first = request(&mut s).unwrap();
                    let _ = tx.send((i, first));
                    s.write_all(OK).unwrap();
                    if read_it {
                        // run the command, then die: FIN
                        if let Some(r) = request(&mut s) {
                            let _ = tx.send((i, r));
                        }
                    } else {
                        // close with the request unread: RST
                        let mut fds =
                            [PollFd::new(std::os::fd::AsFd::as_fd(&s), PollFlags::POLLIN)];
                        poll(&mut fds, PollTimeout::from(10_000u16)).unwrap();
                        let _ = tx.send((i, b"(unread)".to_vec()));
                    }
                } else {
                    // every request a new connection carries (a resend would show)
                    while let Some(r) = request(&mut s) {
                        let _ = tx.send((i, r));
                        s.write_all(OK).unwrap();
                    }
                }
            });
            let c = client(&url);
            assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"ok");
            lock(&c.idle)[0].last_used = Instant::now();
            let e = c.post(b"{2}", &deadline()).unwrap_err();
            assert!(
                e.to_string()
                    .contains("closed the connection without a complete HTTP reply"),
                "read {read_it}: {e}"
            );
            drop(c);
            std::thread::sleep(Duration::from_millis(100));
            let seen: Vec<usize> = rx.try_iter().map(|(i, _)| i).collect();
            assert_eq!(
                seen,
                [0, 0],
                "read {read_it}: both requests on the first connection"
            );
        }
    }

    /// A kept-alive connection the server closed is dropped by the probe, however briefly
    /// it sat idle, and the next call goes on a new connection.
    #[test]
    fn a_connection_closed_while_idle_is_probed_however_briefly_idle() {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = server(move |i, mut s| {
            while request(&mut s).is_some() {
                let _ = tx.send(i);
                s.write_all(OK).unwrap();
                if i == 0 {
                    return; // close after one reply
                }
            }
        });
        let c = client(&url);
        assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"ok");
        until_readable_then_fresh(&c);
        assert!(
            c.take_idle().is_none(),
            "the closed connection was not probed"
        );
        assert_eq!(c.post(b"{2}", &deadline()).unwrap(), b"ok");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1]);
    }

    /// A second, unsolicited reply a few hundred µs after the first (XML-RPC replies have
    /// no id to tell them apart): the probe finds it, and the next call never returns it.
    #[test]
    fn a_late_unsolicited_reply_is_never_the_next_calls() {
        let url = server(move |i, mut s| {
            if i == 0 {
                request(&mut s).unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nFIRST")
                    .unwrap();
                std::thread::sleep(Duration::from_micros(300));
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTALE")
                    .unwrap();
            }
            // a request on the first connection would be answered too
            while request(&mut s).is_some() {
                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nFRESH")
                    .is_err()
                {
                    return;
                }
            }
        });
        let c = client(&url);
        assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"FIRST");
        until_readable_then_fresh(&c);
        assert_eq!(c.post(b"{2}", &deadline()).unwrap(), b"FRESH");
    }

    /// Bytes after a reply in the same read (a second reply nobody asked for): the
    /// connection is not kept, so the next call goes on a new one.
    #[test]
    fn bytes_after_a_reply_in_the_same_read_drop_the_connection() {
        let url = server(move |i, mut s| {
            if i == 0 {
                request(&mut s).unwrap();
                // one write: both in one segment, and in the client's one read
                s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nFIRST\
                      HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTALE",
                )
                .unwrap();
            }
            let answer: &[u8] = if i == 0 {
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nREUSED"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nFRESH"
            };
            while request(&mut s).is_some() {
                if s.write_all(answer).is_err() {
                    return;
                }
            }
        });
        let c = client(&url);
        assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"FIRST");
        assert!(lock(&c.idle).is_empty());
        assert_eq!(c.post(b"{2}", &deadline()).unwrap(), b"FRESH");
    }

    /// A reused connection whose first write fails (here shut down for writing: the probe
    /// sees nothing, the write gets EPIPE) took no byte of the request: it is sent on a
    /// new connection, and reaches the server once.
    #[test]
    fn a_request_no_byte_of_which_was_taken_goes_on_a_new_connection() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel();
        let url = server(move |i, mut s| {
            if i == 0 {
                let _ = tx.send((i, request(&mut s).unwrap()));
                s.write_all(OK).unwrap();
                // kept open, never read again
                let _ = hold_tx.send(s);
                return;
            }
            while let Some(r) = request(&mut s) {
                let _ = tx.send((i, r));
                s.write_all(OK).unwrap();
            }
        });
        let c = client(&url);
        assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"ok");
        lock(&c.idle)[0]
            .stream
            .shutdown(std::net::Shutdown::Write)
            .unwrap();
        assert_eq!(c.post(b"{2}", &deadline()).unwrap(), b"ok");
        std::thread::sleep(Duration::from_millis(100));
        let seen: Vec<(usize, Vec<u8>)> = rx.try_iter().collect();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].0 == 0 && seen[0].1.ends_with(b"{1}"));
        assert!(seen[1].0 == 1 && seen[1].1.ends_with(b"{2}"));
        drop(hold_rx);
    }

    /// Once a byte of the reply came, a close is an error, never a second request.
    #[test]
    fn no_retry_once_the_reply_started() {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = server(move |i, mut s| {
            let mut n = 0;
            while let Some(r) = request(&mut s) {
                let _ = tx.send((i, r));
                n += 1;
                if n == 2 {
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Len").unwrap();
                    return;
                }
                s.write_all(OK).unwrap();
            }
        });
        let c = client(&url);
        assert!(c.post(b"{1}", &deadline()).is_ok());
        let e = c.post(b"{2}", &deadline()).unwrap_err();
        assert!(e.to_string().contains("closed the connection"), "{e}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(rx.try_iter().count(), 2);
    }

    /// A reply that ended close to its deadline leaves a short socket timeout (here 3 ms,
    /// set by hand); the next call, with a long deadline, sets it back to
    /// [`MAX_SOCKET_TIMEOUT`] (else its waits would wake every few ms).
    #[test]
    fn a_short_socket_timeout_is_raised_again() {
        let url = server(|_, mut s| {
            while request(&mut s).is_some() {
                s.write_all(OK).unwrap();
            }
        });
        let c = client(&url);
        assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"ok");
        {
            let mut idle = lock(&c.idle);
            let short = Some(Duration::from_millis(3));
            idle[0].stream.set_read_timeout(short).unwrap();
            idle[0].stream.set_write_timeout(short).unwrap();
            idle[0].timeout = short;
        }
        assert_eq!(c.post(b"{2}", &deadline()).unwrap(), b"ok");
        let idle = lock(&c.idle);
        // as remembered and as the kernel has it (rounded to its tick)
        for now in [
            idle[0].timeout,
            idle[0].stream.read_timeout().unwrap(),
            idle[0].stream.write_timeout().unwrap(),
        ] {
            assert!(now > Some(MAX_SOCKET_TIMEOUT / 2), "{now:?}");
        }
    }

    /// Back-to-back calls set no socket timeout after the first; a deadline shorter than
    /// [`MAX_SOCKET_TIMEOUT`] is set as it is.
    #[test]
    fn socket_timeouts_are_capped_and_kept() {
        let url = server(|_, mut s| {
            while request(&mut s).is_some() {
                s.write_all(OK).unwrap();
            }
        });
        let c = client(&url);
        assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"ok");
        assert_eq!(lock(&c.idle)[0].timeout, Some(MAX_SOCKET_TIMEOUT));
        // a value set behind the client's back would show if it were set again
        lock(&c.idle)[0]
            .stream
            .set_read_timeout(Some(Duration::from_secs(7)))
            .unwrap();
        assert_eq!(c.post(b"{2}", &deadline()).unwrap(), b"ok");
        let idle = lock(&c.idle);
        assert_eq!(
            idle[0].stream.read_timeout().unwrap(),
            Some(Duration::from_secs(7))
        );
        // a deadline nearer than the cap: what is left
        let mut set = idle[0].timeout;
        arm(
            &idle[0].stream,
            &mut set,
            &Deadline::after(Duration::from_millis(50)),
            &url,
        )
        .unwrap();
        assert!(set.unwrap() <= Duration::from_millis(50), "{set:?}");
    }

    /// The slack of a socket timeout stays within 1 ms and 5 ms, whatever the total.
    #[test]
    fn the_slack_is_bounded() {
        assert_eq!(slack(Duration::from_millis(2)), Duration::from_millis(1));
        assert_eq!(slack(Duration::from_millis(48)), Duration::from_millis(3));
        for total in [5, 35, 3600].map(Duration::from_secs) {
            assert_eq!(slack(total), MAX_SLACK);
        }
    }

    /// A body's announced length is no allocation by itself: 50 bytes announcing 128 MiB,
    /// then a close, cost one read-ahead, not 128 MiB zeroed. A body longer than the
    /// read-ahead still comes whole, by Content-Length and chunked.
    #[test]
    fn an_announced_length_is_not_allocated_up_front() {
        let url = server(|_, mut s| {
            let _ = s.write_all(&[b'x'; 50]);
        });
        let c = Client::new(&url, "application/json", &[], true, 128 << 20).unwrap();
        let mut conn = c.connect(&deadline()).unwrap();
        let mut out = Vec::new();
        let r = conn.take(&mut out, 128 << 20, &c, &deadline());
        assert!(matches!(r, Err(Failure::Other(_))));
        assert!(out.capacity() <= RESERVE_AHEAD, "{}", out.capacity());
        assert_eq!(&out[..50], &[b'x'; 50]);

        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let body = big.clone();
        let url = server(move |_, mut s| {
            request(&mut s).unwrap();
            let mut reply =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            reply.extend_from_slice(&body);
            s.write_all(&reply).unwrap();
            request(&mut s).unwrap();
            let mut reply = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                body.len()
            )
            .into_bytes();
            reply.extend_from_slice(&body);
            reply.extend_from_slice(b"\r\n0\r\n\r\n");
            s.write_all(&reply).unwrap();
            let _ = request(&mut s);
        });
        let c = client(&url);
        let got = c.post(b"{1}", &deadline()).unwrap();
        assert!(got == big, "by Content-Length");
        assert_eq!(got.capacity(), big.len());
        let got = c.post(b"{2}", &deadline()).unwrap();
        assert!(got == big, "chunked");
    }

    /// Neither the request (its Authorization header) nor the bytes read show in the Debug
    /// of a connection, as text or as bytes.
    #[test]
    fn a_connection_debug_shows_no_credentials() {
        let url = server(|_, mut s| {
            while request(&mut s).is_some() {
                s.write_all(OK).unwrap();
            }
        });
        let auth = "Basic bWl1c2VyOnMzY3JldA==";
        let headers = vec![("Authorization".to_owned(), auth.to_owned())];
        let c = Client::new(&url, "application/json", &headers, true, 1 << 20).unwrap();
        assert_eq!(c.post(b"{1}", &deadline()).unwrap(), b"ok");
        let shown = format!("{:?} {c:?}", lock(&c.idle)[0]);
        let as_bytes = format!("{:?}", &auth.as_bytes()[6..14]);
        let as_bytes = as_bytes.trim_matches(|c| c == '[' || c == ']');
        for secret in ["bWl1c2VyOnMzY3JldA", "s3cret", as_bytes] {
            assert!(
                !shown.contains(secret),
                "{secret} in the Debug of a connection"
            );
        }
        assert!(shown.contains("Conn"), "{shown}");
    }
}
