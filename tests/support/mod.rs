//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generous timeout for tests on a loaded machine (library defaults stay tight).
pub const GENEROUS: Duration = Duration::from_secs(10);

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `(case name, request file, reply file)` of one transport directory, sorted.
pub fn cases(dir: &str) -> Vec<(String, PathBuf, PathBuf)> {
    let d = fixtures().join(dir);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&d).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(case) = name
            .split(".request.")
            .next()
            .filter(|_| name.contains(".request."))
        {
            let reply = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|r| {
                    r.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("{case}.reply."))
                })
                .unwrap_or_else(|| panic!("no reply for {case}"));
            out.push((case.to_owned(), p, reply));
        }
    }
    out.sort();
    out
}

const O_NONBLOCK: i32 = nix::fcntl::OFlag::O_NONBLOCK.bits();

/// A minimal raw FIFO client: create `reply_dir/name`, open it for reading, write `request`
/// to `fifo` in one write, and read until EOF after data or `wait` passes.
pub fn raw_fifo_exchange(
    fifo: &Path,
    reply_dir: &Path,
    name: Option<&str>,
    request: &[u8],
    wait: Duration,
) -> Vec<u8> {
    let reply_path = name
        .filter(|n| !n.is_empty() && !n.contains(['.', '/']))
        .map(|n| reply_dir.join(n));
    let reader = reply_path.as_ref().map(|p| {
        let _ = std::fs::remove_file(p);
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        OpenOptions::new()
            .read(true)
            .custom_flags(O_NONBLOCK)
            .open(p)
            .unwrap()
    });
    let mut w = OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(fifo)
        .unwrap();
    w.write_all(request).unwrap();
    drop(w);
    let mut out = Vec::new();
    if let Some(mut r) = reader {
        let until = Instant::now() + wait;
        let mut buf = [0u8; 65536];
        while Instant::now() < until {
            match r.read(&mut buf) {
                Ok(0) if !out.is_empty() => break,
                Ok(0) => std::thread::sleep(Duration::from_millis(2)),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }
    if let Some(p) = reply_path {
        let _ = std::fs::remove_file(p);
    }
    out
}

/// Files in `dir` whose names start with `prefix`.
pub fn leftovers(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// A one-connection HTTP server of our own: it reads one whole request (head and
/// Content-Length body) and hands it and the stream to `act`.
pub fn raw_http_server(
    act: impl FnOnce(Vec<u8>, std::net::TcpStream) + Send + 'static,
) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.set_read_timeout(Some(GENEROUS)).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
            if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
        }
        act(req, s);
    });
    addr
}

/// A 2.4, a 3.5 and a 4.0 mock (FIFO, UDP, FIFO) and their URLs, the 2.4 one detected.
#[cfg(feature = "mock")]
pub fn mixed_generations() -> (Vec<opensips_mi::mock::MockServer>, Vec<String>) {
    use opensips_mi::mock::{Flavor, MockServer};
    let v2 = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let v3 = MockServer::builder().udp().start().unwrap();
    let v4 = MockServer::builder()
        .flavor(Flavor::V4)
        .fifo()
        .start()
        .unwrap();
    let urls = vec![
        format!("{}&protocol=auto", v2.fifo_url().unwrap()),
        v3.udp_url().unwrap(),
        v4.fifo_url().unwrap(),
    ];
    (vec![v2, v3, v4], urls)
}

/// A legacy (1.x/2.x) connection to `url` with the generous timeout.
#[cfg(feature = "mock")]
pub fn legacy(url: &str) -> opensips_mi::Connection {
    opensips_mi::Connection::open_with(
        url,
        opensips_mi::Options::builder()
            .timeout(GENEROUS)
            .protocol(opensips_mi::Protocol::Legacy),
    )
    .unwrap()
}

/// A mock of `flavor` on a FIFO and a connection that detects its generation.
#[cfg(feature = "mock")]
pub fn auto_fifo(
    flavor: opensips_mi::mock::Flavor,
) -> (opensips_mi::mock::MockServer, opensips_mi::Connection) {
    let server = opensips_mi::mock::MockServer::builder()
        .flavor(flavor)
        .fifo()
        .start()
        .unwrap();
    let conn = opensips_mi::Connection::open_with(
        &format!("{}&protocol=auto", server.fifo_url().unwrap()),
        opensips_mi::Options::builder().timeout(GENEROUS),
    )
    .unwrap();
    (server, conn)
}
pub mod attacker;
