//! Round trips per transport against the embedded mock, next to a minimal hand-written raw
//! client (the baseline) measured in the same run against the same mock.
//!
//! ```text
//! cargo bench --bench roundtrip --features mock
//! ```
//!
//! The library's and the baseline's calls are interleaved one by one (which goes first
//! alternates) so both see the same machine state; `ratio` is the median over 11 rounds
//! of 1 000 call pairs of the raw client's time over the library's (≥ 0.9 is the target).
//!
//! Live mode (opt-in, issue 25): when these variables name endpoints of a running OpenSIPS
//! 3.x, the same comparison (same rounds, same raw clients) also runs against each of them
//! after the mock, and a `live 3.x <transport>: ratio X (goal >= 0.95: ...)` line follows
//! each (unset: skipped, with one line saying so):
//!
//! - `OPENSIPS_MI_LIVE_FIFO=/path/to/fifo` (mi_fifo `fifo_name`), with
//!   `OPENSIPS_MI_LIVE_REPLY_DIR=/dir/` (its `reply_dir`, default `/tmp/`)
//! - `OPENSIPS_MI_LIVE_UDP=127.0.0.1:8809` (mi_datagram `socket_name` `udp:…`)
//! - `OPENSIPS_MI_LIVE_UNIX=/path/to/socket` (mi_datagram `socket_name` as a unix socket)
//! - `OPENSIPS_MI_LIVE_HTTP=http://127.0.0.1:8888/mi` (httpd + mi_http; plain `http://` only)
//! - `OPENSIPS_MI_LIVE_XMLRPC=http://127.0.0.1:8888/RPC2` (httpd + mi_xmlrpc_ng; plain
//!   `http://` only)
//!
//! ```text
//! OPENSIPS_MI_LIVE_UDP=127.0.0.1:8809 cargo bench --bench roundtrip --features mock
//! ```
//!
//! The unix datagram endpoint is also compared with a raw client that has the library's
//! defences on a shared host (requests through `/proc/self/fd` to the socket checked,
//! replies read with their sender's credentials): what the defences cost, apart from what
//! the library adds.
//!
//! Every call is `version`, which OpenSIPS answers without touching anything else; point it
//! at a test server, not at production (the rounds send a few tens of thousands of calls).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use opensips_mi::mock::MockServer;
use opensips_mi::{Connection, Options};

const ROUNDS: usize = 11;
const PER_ROUND: usize = 1_000;
const REQUEST: &str = r#"{"jsonrpc":"2.0","method":"version","id":1}"#;
const XML_REQUEST: &str = "<?xml version=\"1.0\"?>\n<methodCall><methodName>version</methodName><params></params></methodCall>";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

/// Runs `lib` and `raw` call by call, interleaved (which goes first alternates), timing
/// each call; returns (lib ops/s, raw ops/s, median over the rounds of the raw/lib time
/// ratio, lib latencies). Interleaving single calls, not blocks of calls, matters on a
/// virtual machine: whether a wake-up crosses CPUs (here ≈ 5 µs against ≈ 55 µs per
/// round trip) flips every few hundred or thousand calls, so blocks of 1 000 compared one
/// scheduling mode against another more than one client against the other; call by call
/// both clients see the same machine state.
fn compare(mut lib: impl FnMut(), mut raw: impl FnMut()) -> (f64, f64, f64, Vec<Duration>) {
    for _ in 0..200 {
        lib();
        raw();
    }
    let (mut l, mut r, mut ratios, mut lat) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (mut lib_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
        for i in 0..PER_ROUND {
            let mut timed_lib = || {
                let s = Instant::now();
                lib();
                let d = s.elapsed();
                lat.push(d);
                lib_time += d;
            };
            let mut timed_raw = || {
                let s = Instant::now();
                raw();
                raw_time += s.elapsed();
            };
            if i % 2 == 0 {
                timed_lib();
                timed_raw();
            } else {
                timed_raw();
                timed_lib();
            }
        }
        l.push(PER_ROUND as f64 / lib_time.as_secs_f64());
        r.push(PER_ROUND as f64 / raw_time.as_secs_f64());
        ratios.push(raw_time.as_secs_f64() / lib_time.as_secs_f64());
    }
    (median(l), median(r), median(ratios), lat)
}

/// The practical limit of a FIFO client: one reply FIFO made once and held open for
/// reading and writing (so it never reports EOF), one write per request (the server FIFO
/// opened each time, as a client must: it may be recreated), read until the reply's
/// closing brace.
struct RawFifo {
    name: String,
    path: std::path::PathBuf,
    reply: std::fs::File,
}

impl RawFifo {
    fn new(reply_dir: &Path) -> RawFifo {
        let name = format!("rawbench{}", std::process::id());
        let path = reply_dir.join(&name);
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o622)).unwrap();
        let reply = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&path)
            .unwrap();
        RawFifo { name, path, reply }
    }

    fn call(&mut self, fifo: &Path, buf: &mut Vec<u8>) {
        let mut w = OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(fifo)
            .unwrap();
        w.write_all(format!(":{}:{REQUEST}\n\n", self.name).as_bytes())
            .unwrap();
        drop(w);
        buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let mut fds = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&self.reply),
                nix::poll::PollFlags::POLLIN,
            )];
            nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
            if let Ok(n) = self.reply.read(&mut chunk) {
                buf.extend_from_slice(&chunk[..n]);
                if buf.last() == Some(&b'}') {
                    return;
                }
            }
        }
    }
}

impl Drop for RawFifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Prints one transport's figures next to the goals (issue 14): at least 0.9x the raw
/// client, and for FIFO a p99 under 0.5 ms.
/// Returns the ratio.
fn report(name: &str, (lib, raw, ratio, lat): (f64, f64, f64, Vec<Duration>)) -> f64 {
    let p99 = percentile(lat.clone(), 0.99);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let p99_goal = if name == "fifo" {
        format!(
            " (goal < 0.5 ms: {})",
            verdict(p99 < Duration::from_micros(500))
        )
    } else {
        String::new()
    };
    println!(
        "{name:<14} library {lib:>8.0} cmd/s   raw {raw:>8.0} cmd/s   ratio {ratio:.2} (goal >= 0.90: {})   p50 {:?}  p99 {p99:?}{p99_goal}",
        verdict(ratio >= 0.9),
        percentile(lat, 0.5),
    );
    ratio
}

fn main() {
    let server = MockServer::start().unwrap();
    let opts = Options::builder().timeout(Duration::from_secs(5));
    println!(
        "round trip of `version` against the embedded mock ({ROUNDS} rounds x {PER_ROUND} each, \
         calls interleaved one by one; ratio = median of the rounds' raw/library time ratios)"
    );

    // FIFO
    let conn = Connection::open_with(&server.fifo_url().unwrap(), opts.clone()).unwrap();
    let (fifo, dir) = (
        server.fifo_path().unwrap().to_path_buf(),
        server.reply_dir().to_path_buf(),
    );
    let mut raw = RawFifo::new(&dir);
    let mut buf = Vec::new();
    report(
        "fifo",
        compare(
            || drop(conn.command("version", ()).unwrap()),
            || raw.call(&fifo, &mut buf),
        ),
    );

    // UDP
    let conn = Connection::open_with(&server.udp_url().unwrap(), opts.clone()).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server.udp_addr().unwrap()).unwrap();
    let mut buf = vec![0u8; 65_536];
    report(
        "udp",
        compare(
            || drop(conn.command("version", ()).unwrap()),
            || {
                sock.send(REQUEST.as_bytes()).unwrap();
                sock.recv(&mut buf).unwrap();
            },
        ),
    );

    // unix datagram
    let conn = Connection::open_with(&server.unix_url().unwrap(), opts).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let usock = UnixDatagram::bind(tmp.path().join("raw.sock")).unwrap();
    let server_path = server.unix_path().unwrap().to_path_buf();
    report(
        "unix datagram",
        compare(
            || drop(conn.command("version", ()).unwrap()),
            || {
                usock.send_to(REQUEST.as_bytes(), &server_path).unwrap();
                usock.recv(&mut buf).unwrap();
            },
        ),
    );

    // HTTP (mi_http) and XML-RPC, each against a raw keep-alive client
    let addr = server.http_addr().unwrap();
    for (name, url, path, ctype, body) in [
        (
            "http",
            server.http_url().unwrap(),
            "/mi",
            "application/json",
            REQUEST,
        ),
        (
            "xmlrpc",
            server.xmlrpc_url().unwrap(),
            "/RPC2",
            "text/xml",
            XML_REQUEST,
        ),
    ] {
        let conn = Connection::open_with(&url, Options::builder().timeout(Duration::from_secs(5)))
            .unwrap();
        let (mut tcp, request) = raw_http_client(&addr.to_string(), path, ctype, body);
        let mut resp = Vec::with_capacity(4096);
        report(
            name,
            compare(
                || drop(conn.command("version", ()).unwrap()),
                || raw_http(&mut tcp, request.as_bytes(), &mut resp),
            ),
        );
    }

    live();
}

/// The live variables (see the header comment).
const LIVE_VARS: [&str; 5] = [
    "OPENSIPS_MI_LIVE_FIFO",
    "OPENSIPS_MI_LIVE_UDP",
    "OPENSIPS_MI_LIVE_UNIX",
    "OPENSIPS_MI_LIVE_HTTP",
    "OPENSIPS_MI_LIVE_XMLRPC",
];

/// The same comparison against a running OpenSIPS 3.x, for each endpoint an environment
/// variable names (issue 25: every transport >= 0.95x the raw client).
fn live() {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if LIVE_VARS.iter().all(|v| var(v).is_none()) {
        println!(
            "live OpenSIPS 3.x: skipped (set {} to run against a live server)",
            LIVE_VARS.join(", ")
        );
        return;
    }
    let opts = || Options::builder().timeout(Duration::from_secs(5));
    let goal = |name: &str, ratio: f64| {
        let met = if ratio >= 0.95 { "met" } else { "NOT met" };
        println!("live 3.x {name}: ratio {ratio:.3} (goal >= 0.95: {met})");
    };
    let mut announced = false;
    let mut announce = |conn: &Connection| {
        if !announced {
            let v = conn.command("version", ()).unwrap();
            println!(
                "against a live OpenSIPS ({}; {ROUNDS} rounds x {PER_ROUND} each)",
                v.value()
                    .get("Server")
                    .and_then(|s| s.as_str())
                    .unwrap_or("?")
            );
            announced = true;
        }
    };

    if let Some(fifo) = var("OPENSIPS_MI_LIVE_FIFO") {
        let dir = var("OPENSIPS_MI_LIVE_REPLY_DIR").unwrap_or_else(|| "/tmp/".into());
        let fifo = std::path::PathBuf::from(fifo);
        let url = format!("fifo://{}", fifo.display());
        let conn = Connection::open_with(&url, opts().reply_dir(&dir)).unwrap();
        announce(&conn);
        let mut raw = RawFifo::new(Path::new(&dir));
        let mut buf = Vec::new();
        let ratio = report(
            "live fifo",
            compare(
                || drop(conn.command("version", ()).unwrap()),
                || raw.call(&fifo, &mut buf),
            ),
        );
        goal("fifo", ratio);
    }

    if let Some(addr) = var("OPENSIPS_MI_LIVE_UDP") {
        let conn = Connection::open_with(&format!("udp://{addr}"), opts()).unwrap();
        announce(&conn);
        let sock = UdpSocket::bind(if addr.starts_with('[') {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        })
        .unwrap();
        sock.connect(&addr).unwrap();
        let mut buf = vec![0u8; 65_536];
        let ratio = report(
            "live udp",
            compare(
                || drop(conn.command("version", ()).unwrap()),
                || {
                    sock.send(REQUEST.as_bytes()).unwrap();
                    sock.recv(&mut buf).unwrap();
                },
            ),
        );
        goal("udp", ratio);
    }

    if let Some(path) = var("OPENSIPS_MI_LIVE_UNIX") {
        let conn = Connection::open_with(&format!("unix://{path}"), opts()).unwrap();
        announce(&conn);
        let tmp = tempfile::tempdir().unwrap();
        let usock = UnixDatagram::bind(tmp.path().join("raw.sock")).unwrap();
        let mut buf = vec![0u8; 65_536];
        let ratio = report(
            "live unix",
            compare(
                || drop(conn.command("version", ()).unwrap()),
                || {
                    usock.send_to(REQUEST.as_bytes(), &path).unwrap();
                    usock.recv(&mut buf).unwrap();
                },
            ),
        );
        goal("unix datagram", ratio);
        // the same, against a raw client that pays for what the library must do on a shared
        // host: requests to the socket checked (through /proc/self/fd, as the library does
        // for a socket in a directory others can write to, like /tmp) and replies taken only
        // with their sender's credentials (SO_PASSCRED)
        let defended = DefendedUnix::new(Path::new(&path), &tmp.path().join("defended.sock"));
        let ratio = report(
            "live unix (raw with defences)",
            compare(
                || drop(conn.command("version", ()).unwrap()),
                || defended.call(&mut buf),
            ),
        );
        println!("live 3.x unix datagram vs a raw client with the same defences: ratio {ratio:.3}");
    }

    for (name, var_name, scheme, ctype, body, default_path) in [
        (
            "http",
            "OPENSIPS_MI_LIVE_HTTP",
            "http",
            "application/json",
            REQUEST,
            "/mi",
        ),
        (
            "xmlrpc",
            "OPENSIPS_MI_LIVE_XMLRPC",
            "xmlrpc",
            "text/xml",
            XML_REQUEST,
            "/RPC2",
        ),
    ] {
        let Some(url) = var(var_name) else {
            continue;
        };
        // http://host:port/path (no TLS, no credentials): what the raw client connects to;
        // the library is given the same endpoint with its own scheme
        let rest = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{var_name} must be a plain http:// URL"));
        let conn = Connection::open_with(&format!("{scheme}://{rest}"), opts()).unwrap();
        announce(&conn);
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { default_path } else { path };
        let (mut tcp, request) = raw_http_client(host, path, ctype, body);
        let mut resp = Vec::with_capacity(4096);
        let ratio = report(
            &format!("live {name}"),
            compare(
                || drop(conn.command("version", ()).unwrap()),
                || raw_http(&mut tcp, request.as_bytes(), &mut resp),
            ),
        );
        goal(name, ratio);
    }
}

/// A raw unix datagram client with the library's defences on a shared host: it sends to the
/// server socket through `/proc/self/fd/N` (an `O_PATH` descriptor of it, opened once) and
/// reads each reply with `recvmsg` and its sender's `SCM_CREDENTIALS`.
struct DefendedUnix {
    sock: UnixDatagram,
    dest: std::os::unix::net::SocketAddr,
    /// The server socket's owner: its replies' sender.
    owner: u32,
    _server: std::fs::File,
}

impl DefendedUnix {
    fn new(server: &Path, at: &Path) -> DefendedUnix {
        use std::os::fd::AsRawFd;
        let sock = UnixDatagram::bind(at).unwrap();
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::PassCred, &true).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_PATH.bits())
            .open(server)
            .unwrap();
        let dest = std::os::unix::net::SocketAddr::from_pathname(format!(
            "/proc/self/fd/{}",
            file.as_raw_fd()
        ))
        .unwrap();
        let owner = std::os::unix::fs::MetadataExt::uid(&file.metadata().unwrap());
        DefendedUnix {
            sock,
            dest,
            owner,
            _server: file,
        }
    }

    fn call(&self, buf: &mut [u8]) {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, recvmsg};
        use std::os::fd::AsRawFd;
        self.sock
            .send_to_addr(REQUEST.as_bytes(), &self.dest)
            .unwrap();
        let mut cmsg = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let msg = recvmsg::<UnixAddr>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let from_server = msg.cmsgs().unwrap().any(|c| {
            matches!(c, ControlMessageOwned::ScmCredentials(cred)
                if cred.uid() == self.owner || cred.uid() == 0)
        });
        assert!(from_server, "a reply without the server's credentials");
    }
}

/// The raw client's keep-alive connection to `host` and its one request, prepared once.
fn raw_http_client(
    host: &str,
    path: &str,
    ctype: &str,
    body: &str,
) -> (std::net::TcpStream, String) {
    let tcp = std::net::TcpStream::connect(host).unwrap();
    tcp.set_nodelay(true).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    (tcp, request)
}

/// One keep-alive HTTP exchange: write the request, read the head and a Content-Length body.
fn raw_http(tcp: &mut std::net::TcpStream, request: &[u8], resp: &mut Vec<u8>) {
    tcp.write_all(request).unwrap();
    resp.clear();
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        resp.extend_from_slice(&buf[..n]);
        if let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&resp[..end])
                .unwrap()
                .to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
            if resp.len() >= end + 4 + len {
                return;
            }
        }
    }
}
