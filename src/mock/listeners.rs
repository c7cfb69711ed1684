//! The mock's FIFO and datagram listener threads.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollFlags;

use super::{Dispatch, Shared, Transport};
use crate::transport::{Deadline, Ready, wait_for};

/// How often listeners look at the stop flag.
pub(super) const TICK: Duration = Duration::from_millis(20);
/// mi_fifo's read buffer: a request must arrive whole within this many bytes.
const FIFO_READ: usize = 4096;

pub(super) fn start_fifo(
    shared: Arc<Shared>,
    path: &Path,
    reply_dir: &Path,
) -> std::io::Result<JoinHandle<()>> {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    // Like OpenSIPS, keep a write handle too, so the reader never sees EOF.
    let fifo = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
        .open(path)?;
    let reply_dir = reply_dir.to_path_buf();
    std::thread::Builder::new()
        .name("mock-mi-fifo".into())
        .spawn(move || fifo_loop(&shared, &fifo, &reply_dir))
}

fn fifo_loop(shared: &Arc<Shared>, fifo: &File, reply_dir: &Path) {
    if shared.flavor.is_legacy() {
        return legacy_fifo_loop(shared, fifo, reply_dir);
    }
    let mut reader = MiFifoReader::default();
    while !shared.stop.load(Ordering::SeqCst) {
        match wait_for(fifo, PollFlags::POLLIN, &Deadline::after(TICK)) {
            Ok(Ready::Yes { .. }) => {}
            _ => continue,
        }
        for (name, json) in reader.read_from(fifo) {
            handle_fifo_request(shared, reply_dir, &name, &json);
        }
    }
}

/// 3.x/4.x `mi_fifo_callback` (modules/mi_fifo/fifo_fnc.c, 3.0 to 4.0.1), byte for byte in
/// what it keeps: one `read()` of at most 4096 bytes appended after the bytes kept from
/// before (`remain_len`), then requests `:name:{json}` parsed in turn. What follows a parsed
/// request is kept and parsed next; when it does not parse, the callback returns *without*
/// resetting `remain_len`, so those bytes stay in front of every later read and every later
/// request is dropped: the FIFO is wedged until a restart (PROTOCOL.md §6.1). Whitespace, or
/// another valid request, after a request is fine; a lone malformed request is dropped
/// (nothing was kept before it).
#[derive(Debug)]
pub(super) struct MiFifoReader {
    buf: Vec<u8>,
    remain: usize,
}

impl Default for MiFifoReader {
    fn default() -> Self {
        MiFifoReader {
            buf: vec![0; FIFO_READ],
            remain: 0,
        }
    }
}

impl MiFifoReader {
    /// One read from `fifo`, and the requests it completes.
    fn read_from(&mut self, fifo: &File) -> Vec<(String, Vec<u8>)> {
        if self.remain >= FIFO_READ {
            // mi_read_fifo with no room left: "request line too long", the kept bytes go.
            self.remain = 0;
            return Vec::new();
        }
        match (&*fifo).read(&mut self.buf[self.remain..]) {
            Ok(n) => self.parse(n),
            Err(_) => Vec::new(),
        }
    }

    /// `read` new bytes sit after the kept ones: the requests to run, in order.
    pub(super) fn parse(&mut self, read: usize) -> Vec<(String, Vec<u8>)> {
        let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let mut out = Vec::new();
        let mut len = self.remain + read;
        let mut p = 0;
        loop {
            while len > 0 && is_ws(self.buf[p]) {
                p += 1;
                len -= 1;
            }
            if len == 0 {
                self.remain = 0; // skip_unparsed
                return out;
            }
            if len < 3 {
                return out; // done: remain_len unchanged
            }
            if self.buf[p] != b':' {
                self.remain = 0; // skip_unparsed
                return out;
            }
            p += 1;
            len -= 1;
            let Some(sep) = self.buf[p..p + len].iter().position(|&b| b == b':') else {
                return out; // done: no file separator yet
            };
            if sep + 1 >= len {
                return out; // done: no command yet
            }
            let name = &self.buf[p..p + sep];
            if name.iter().any(|b| matches!(b, b'.' | b'/' | b'\\')) {
                self.remain = 0; // forbidden reply file name: skip_unparsed
                return out;
            }
            let name = String::from_utf8_lossy(name).into_owned();
            p += sep + 1;
            len -= sep + 1;
            let body = &self.buf[p..p + len];
            let mut stream =
                serde_json::Deserializer::from_slice(body).into_iter::<serde::de::IgnoredAny>();
            let consumed = match stream.next() {
                Some(Ok(_)) => stream.byte_offset(),
                // "cannot parse command": done, remain_len NOT reset
                _ => return out,
            };
            out.push((name, body[..consumed].to_vec()));
            self.buf.copy_within(p + consumed..p + len, 0);
            len -= consumed;
            p = 0;
            self.remain = len;
            if len == 0 {
                return out;
            }
        }
    }
}

/// 1.x/2.x mi_fifo: a line reader over the stream. A request is a first line
/// `:command:reply_fifo` and argument lines up to an empty line; bytes without their line
/// end stay buffered (and spoil the next request, as on the real server).
fn legacy_fifo_loop(shared: &Arc<Shared>, fifo: &File, reply_dir: &Path) {
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; FIFO_READ];
    while !shared.stop.load(Ordering::SeqCst) {
        match wait_for(fifo, PollFlags::POLLIN, &Deadline::after(TICK)) {
            Ok(Ready::Yes { .. }) => {}
            _ => continue,
        }
        let n = match (&*fifo).read(&mut chunk) {
            Ok(n) => n,
            Err(_) => continue,
        };
        pending.extend_from_slice(&chunk[..n]);
        // A request ends with its empty line: "\n\n".
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let request: Vec<u8> = pending.drain(..end + 2).collect();
            handle_legacy_fifo_request(shared, reply_dir, &request);
        }
        if pending.len() > 64 * 1024 {
            pending.clear();
        }
    }
}

fn handle_legacy_fifo_request(shared: &Arc<Shared>, reply_dir: &Path, request: &[u8]) {
    let Ok(text) = std::str::from_utf8(request) else {
        return;
    };
    let text = text.trim_start_matches('\n');
    let mut lines = text.split('\n');
    let first = lines
        .next()
        .unwrap_or("")
        .trim_end_matches(['\r', ' ', '\t']);
    let Some((command, name)) = first.strip_prefix(':').and_then(|f| f.split_once(':')) else {
        return; // not a request line: consumed up to the empty line, as the server does
    };
    // No reply FIFO (or a forbidden name): the command does not run at all in 1.x/2.x.
    if name.is_empty() || name.contains(['.', '/', '\\']) || command.is_empty() {
        return;
    }
    let Some(file) = open_reply_fifo(&reply_dir.join(name)) else {
        return;
    };
    let req = super::legacy::LegacyRequest {
        command,
        arg_lines: lines.collect(),
        raw: request,
    };
    match shared.dispatch_legacy(Transport::Fifo, &req, Some(name), None) {
        Dispatch::ParseError | Dispatch::Silent => {}
        Dispatch::Hang => hold_open(shared, file),
        Dispatch::Reply { parts, delay } => reply_later(file, parts, delay),
    }
}

fn handle_fifo_request(shared: &Arc<Shared>, reply_dir: &Path, name: &str, json: &[u8]) {
    // Reply names with '.', '/' or '\' are refused: nothing runs, nothing is answered.
    if name.contains(['.', '/', '\\']) {
        return;
    }
    // Like mi_fifo, open the reply FIFO *before* running the command: a client that is not
    // reading within ~320 ms gets nothing, and the command does not run. An empty name
    // ('::') runs the command without any reply.
    let reply = if name.is_empty() {
        None
    } else {
        match open_reply_fifo(&reply_dir.join(name)) {
            Some(f) => Some(f),
            None => return,
        }
    };
    match shared.dispatch(Transport::Fifo, json, Some(name), None) {
        // mi_fifo has no -32700: invalid JSON is dropped without a word; a notification
        // gets an empty reply (the FIFO is closed at once).
        Dispatch::ParseError | Dispatch::Silent => {}
        Dispatch::Hang => {
            if let Some(file) = reply {
                hold_open(shared, file);
            }
        }
        Dispatch::Reply { parts, delay } => {
            if let Some(file) = reply {
                reply_later(file, parts, delay);
            }
        }
    }
}

/// Keeps a reply FIFO open without writing (a server stuck in the command), until the mock
/// stops or a minute passes.
fn hold_open(shared: &Arc<Shared>, file: File) {
    let shared = shared.clone();
    let _ = std::thread::Builder::new()
        .name("mock-mi-fifo-hang".into())
        .spawn(move || {
            let until = std::time::Instant::now() + Duration::from_secs(60);
            while !shared.stop.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                std::thread::sleep(TICK);
            }
            drop(file);
        });
}

/// Writes the reply now, or from a thread after `delay` (an async command).
fn reply_later(file: File, parts: Vec<Vec<u8>>, delay: Duration) {
    if delay.is_zero() {
        write_parts(&file, &parts);
    } else {
        let _ = std::thread::Builder::new()
            .name("mock-mi-fifo-async".into())
            .spawn(move || {
                std::thread::sleep(delay);
                write_parts(&file, &parts);
            });
    }
}

/// Opens the client's reply FIFO like mi_fifo: non-blocking, 4 tries 80 ms apart, and
/// only if it really is a FIFO.
fn open_reply_fifo(path: &Path) -> Option<File> {
    for attempt in 0..4 {
        match OpenOptions::new()
            .write(true)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
            .open(path)
        {
            Ok(f) => {
                return f
                    .metadata()
                    .map(|m| m.file_type().is_fifo())
                    .unwrap_or(false)
                    .then_some(f);
            }
            Err(e) if e.raw_os_error() == Some(Errno::ENXIO as i32) && attempt < 3 => {
                std::thread::sleep(Duration::from_millis(80));
            }
            Err(_) => return None,
        }
    }
    None
}

fn write_parts(file: &File, parts: &[Vec<u8>]) {
    let deadline = Deadline::after(Duration::from_secs(5));
    for part in parts {
        let mut left: &[u8] = part;
        while !left.is_empty() {
            match (&*file).write(left) {
                Ok(n) => left = &left[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !matches!(
                        wait_for(file, PollFlags::POLLOUT, &deadline),
                        Ok(Ready::Yes { .. })
                    ) {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

pub(super) fn start_udp(
    shared: Arc<Shared>,
    bind: SocketAddr,
) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
    let socket = UdpSocket::bind(bind)?;
    socket.set_read_timeout(Some(TICK))?;
    let addr = socket.local_addr()?;
    let t = std::thread::Builder::new()
        .name("mock-mi-udp".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !shared.stop.load(Ordering::SeqCst) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let reply = datagram_reply(&shared, Transport::Udp, &buf[..n], Some(peer));
                if let Some((parts, delay)) = reply {
                    let Ok(sock) = socket.try_clone() else {
                        continue;
                    };
                    send_later(delay, parts, move |p| {
                        let _ = sock.send_to(p, peer);
                    });
                }
            }
        })?;
    Ok((t, addr))
}

pub(super) fn start_unix(shared: Arc<Shared>, path: &Path) -> std::io::Result<JoinHandle<()>> {
    let _ = std::fs::remove_file(path);
    let socket = UnixDatagram::bind(path)?;
    socket.set_read_timeout(Some(TICK))?;
    std::thread::Builder::new()
        .name("mock-mi-unix".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65_536];
            // OpenSIPS answers from a separate, unbound socket.
            let Ok(replier) = UnixDatagram::unbound() else {
                return;
            };
            let replier = Arc::new(replier);
            while !shared.stop.load(Ordering::SeqCst) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let reply = datagram_reply(&shared, Transport::UnixDatagram, &buf[..n], None);
                // A client that did not bind a path cannot be answered.
                let (Some((parts, delay)), Some(peer)) =
                    (reply, peer.as_pathname().map(Path::to_path_buf))
                else {
                    continue;
                };
                let replier = replier.clone();
                send_later(delay, parts, move |p| {
                    let _ = replier.send_to(p, &peer);
                });
            }
        })
}

fn datagram_reply(
    shared: &Shared,
    transport: Transport,
    data: &[u8],
    peer: Option<SocketAddr>,
) -> Option<(Vec<Vec<u8>>, Duration)> {
    if data.len() > shared.datagram_buffer {
        return None;
    }
    if shared.flavor.is_legacy() {
        let Some(req) = super::legacy::split_datagram(data) else {
            return Some((
                vec![b"500 command not available\n".to_vec()],
                Duration::ZERO,
            ));
        };
        return match shared.dispatch_legacy(transport, &req, None, peer) {
            Dispatch::Reply { parts, delay } => Some((parts, delay)),
            _ => None,
        };
    }
    match shared.dispatch(transport, data, None, peer) {
        Dispatch::ParseError => Some((vec![b"400 Parse_error".to_vec()], Duration::ZERO)),
        Dispatch::Silent | Dispatch::Hang => None,
        Dispatch::Reply { parts, delay } => Some((parts, delay)),
    }
}

fn send_later(delay: Duration, parts: Vec<Vec<u8>>, send: impl Fn(&[u8]) + Send + 'static) {
    let run = move || {
        std::thread::sleep(delay);
        for p in &parts {
            send(p);
        }
    };
    if delay.is_zero() {
        run();
    } else {
        let _ = std::thread::Builder::new()
            .name("mock-mi-delayed".into())
            .spawn(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one read to the reader.
    fn feed(r: &mut MiFifoReader, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let at = r.remain;
        r.buf[at..at + bytes.len()].copy_from_slice(bytes);
        r.parse(bytes.len())
    }

    #[test]
    fn splits_like_mi_fifo() {
        let mut r = MiFifoReader::default();
        let two = br#":r1:{"a":1}:r2:{"b":2}"#;
        assert_eq!(
            feed(&mut r, two),
            vec![
                ("r1".into(), br#"{"a":1}"#.to_vec()),
                ("r2".into(), br#"{"b":2}"#.to_vec())
            ]
        );
        assert_eq!(feed(&mut r, b"  :r:{\"a\":1}\n\n").len(), 1);
        // a lone request that does not parse is dropped, nothing is kept
        assert!(feed(&mut r, br#":r:{"a":1"#).is_empty());
        assert_eq!(r.remain, 0);
        assert!(feed(&mut r, br#"uptime"#).is_empty());
        assert_eq!(feed(&mut r, br#"::{"a":1}"#)[0].0, "");
    }

    #[test]
    fn a_tail_that_does_not_parse_wedges_it_for_good() {
        let mut r = MiFifoReader::default();
        // the old generation probe: a JSON request, then a 2.x request in the same write
        let probe = b":osips_mi_j:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}\n:version:osips_mi_l\n\n";
        assert_eq!(feed(&mut r, probe).len(), 1);
        for _ in 0..5 {
            assert!(
                feed(
                    &mut r,
                    b":rpl:{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":2}"
                )
                .is_empty()
            );
        }
        // a 2.x probe with an all-digit reply name parses as JSON (a number): no wedge
        let mut r = MiFifoReader::default();
        let safe = b":osips_mi_j:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}\n\n:version:1234567890123456789\n\n";
        assert_eq!(feed(&mut r, safe).len(), 2);
        assert_eq!(r.remain, 0);
        assert_eq!(
            feed(
                &mut r,
                b":rpl:{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":2}"
            )
            .len(),
            1
        );
        // a short tail spoils exactly the next request (it no longer starts with ':')
        let mut r = MiFifoReader::default();
        assert_eq!(feed(&mut r, b":a:{}xy").len(), 1);
        assert!(feed(&mut r, b":b:{}").is_empty());
        assert_eq!(feed(&mut r, b":c:{}").len(), 1);
    }
}
