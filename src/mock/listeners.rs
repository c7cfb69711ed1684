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

use super::{Dispatch, Flavor, MockTransport, Shared};
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
    if shared.flavor == Flavor::V2 {
        return legacy_fifo_loop(shared, fifo, reply_dir);
    }
    let mut buf = [0u8; FIFO_READ];
    while !shared.stop.load(Ordering::SeqCst) {
        match wait_for(fifo, PollFlags::POLLIN, &Deadline::after(TICK)) {
            Ok(Ready::Yes { .. }) => {}
            _ => continue,
        }
        // One read of at most 4096 bytes, as mi_fifo does: whatever JSON is incomplete in it
        // is dropped, and never answered.
        let n = match (&*fifo).read(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        for (name, json) in split_fifo_requests(&buf[..n]) {
            handle_fifo_request(shared, reply_dir, &name, &json);
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
    match shared.dispatch_legacy(MockTransport::Fifo, &req, Some(name), None) {
        Dispatch::ParseError | Dispatch::Silent => {}
        Dispatch::Hang => hold_open(shared, file),
        Dispatch::Reply { parts, delay } => reply_later(file, parts, delay),
    }
}

/// Splits `:name:{json}` requests (several may share one read); stops at the first that is
/// not complete, valid framing.
pub(super) fn split_fifo_requests(mut data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let skip = data.iter().take_while(|b| b.is_ascii_whitespace()).count();
        data = &data[skip..];
        if data.first() != Some(&b':') {
            return out;
        }
        let Some(end) = data[1..].iter().position(|&b| b == b':') else {
            return out;
        };
        let name = String::from_utf8_lossy(&data[1..=end]).into_owned();
        let rest = &data[end + 2..];
        let mut stream =
            serde_json::Deserializer::from_slice(rest).into_iter::<serde::de::IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => {
                let len = stream.byte_offset();
                out.push((name, rest[..len].to_vec()));
                data = &rest[len..];
            }
            _ => return out, // invalid or incomplete JSON: silently dropped
        }
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
    match shared.dispatch(MockTransport::Fifo, json, Some(name), None) {
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
                let reply = datagram_reply(&shared, MockTransport::Udp, &buf[..n], Some(peer));
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
                let reply = datagram_reply(&shared, MockTransport::UnixDatagram, &buf[..n], None);
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
    transport: MockTransport,
    data: &[u8],
    peer: Option<SocketAddr>,
) -> Option<(Vec<Vec<u8>>, Duration)> {
    if data.len() > shared.datagram_buffer {
        return None;
    }
    if shared.flavor == Flavor::V2 {
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

    #[test]
    fn splits_like_mi_fifo() {
        let two = br#":r1:{"a":1}:r2:{"b":2}"#;
        let got = split_fifo_requests(two);
        assert_eq!(
            got,
            vec![
                ("r1".into(), br#"{"a":1}"#.to_vec()),
                ("r2".into(), br#"{"b":2}"#.to_vec())
            ]
        );
        assert_eq!(split_fifo_requests(b"  :r:{\"a\":1}\n").len(), 1);
        assert!(split_fifo_requests(br#":r:{"a":1"#).is_empty());
        assert!(split_fifo_requests(br#"uptime"#).is_empty());
        assert_eq!(split_fifo_requests(br#"::{"a":1}"#)[0].0, "");
    }
}
