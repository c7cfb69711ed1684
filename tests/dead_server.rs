//! The dead-server matrix: every transport × {server absent, nobody reading, server stalls
//! after the request, server closes mid-reply, garbage reply, truncated reply, oversized
//! reply}. Each case must end in its own clear error within timeout + 100 ms, and leave no
//! reply FIFO or reply socket behind.
#![cfg(feature = "mock")]

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use opensips_mi::mock::{Fault, MockServer};
use opensips_mi::{Connection, Error, Options, Value};

const TIMEOUT: Duration = Duration::from_millis(400);
const SLACK: Duration = Duration::from_millis(100);

type Check = fn(&Error) -> bool;

fn malformed(e: &Error) -> bool {
    matches!(e, Error::MalformedReply { .. })
}
fn timeout(e: &Error) -> bool {
    e.is_timeout()
}
fn not_running(e: &Error) -> bool {
    matches!(e, Error::NotRunning { .. })
}
fn not_found(e: &Error) -> bool {
    matches!(e, Error::NotFound { .. })
}
fn too_big(e: &Error) -> bool {
    matches!(e, Error::MalformedReply { reason, .. } if reason.contains("max_reply") || reason.contains("truncated"))
}

struct Matrix {
    failures: Vec<String>,
    ran: usize,
    dir: tempfile::TempDir,
}

impl Matrix {
    fn new() -> Matrix {
        Matrix {
            failures: Vec::new(),
            ran: 0,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn opts(&self) -> opensips_mi::OptionsBuilder {
        Options::builder()
            .timeout(TIMEOUT)
            .reply_dir(self.dir())
            .reply_socket_dir(self.dir())
    }

    /// Runs one cell: `method` on `conn` must fail as `check` says, in time; once the
    /// connection is dropped, no reply FIFO or reply socket may be left.
    fn cell(&mut self, transport: &str, case: &str, check: Check, conn: Connection, method: &str) {
        self.ran += 1;
        let started = Instant::now();
        let r = conn.command(method, ());
        let took = started.elapsed();
        let label = format!("{transport:<7} {case:<22}");
        match r {
            Ok(resp) => self
                .failures
                .push(format!("{label} succeeded: {}", resp.value())),
            Err(e) if !check(&e) => self.failures.push(format!("{label} wrong error: {e:?}")),
            Err(_) if took > TIMEOUT + SLACK => {
                self.failures.push(format!("{label} took {took:?}"))
            }
            Err(e) => eprintln!("{label} {took:>10.1?}  {e}"),
        }
        drop(conn);
        let left = support::leftovers(self.dir(), "osips_mi_");
        if !left.is_empty() {
            self.failures.push(format!("{label} left {left:?}"));
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cells failed:\n{}",
            self.failures.len(),
            self.ran,
            self.failures.join("\n")
        );
    }
}

fn mock(m: &Matrix) -> MockServer {
    let server = MockServer::builder()
        .reply_dir(m.dir())
        .fifo()
        .udp()
        .unix()
        .http()
        .start()
        .unwrap();
    server.handle("big", |_| Ok(Value::from("x".repeat(8_000))));
    server
}

/// A one-connection HTTP server doing `act` once it has read the request.
fn fake_http(act: fn(TcpStream)) -> String {
    support::raw_http_server(move |_, s| act(s)).to_string()
}

fn hold(s: TcpStream) {
    std::thread::sleep(TIMEOUT * 3);
    drop(s);
}

#[test]
fn fifo_column() {
    let mut m = Matrix::new();
    let server = mock(&m);
    let url = server.fifo_url().unwrap();
    let fifo = |m: &Matrix| Connection::open_with(&url, m.opts()).unwrap();

    let missing = m.dir().join("no_fifo");
    let c = opensips_mi::FifoConnection::open(&missing, m.opts())
        .map(Connection::from)
        .unwrap();
    m.cell("fifo", "server absent", not_found, c, "uptime");

    let unread = m.dir().join("unread_fifo");
    nix::unistd::mkfifo(&unread, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let c = opensips_mi::FifoConnection::open(&unread, m.opts())
        .map(Connection::from)
        .unwrap();
    m.cell("fifo", "nobody reading", not_running, c, "uptime");

    server.inject_times(Fault::NoReply, 1);
    m.cell("fifo", "stalls after request", timeout, fifo(&m), "uptime");
    server.inject_times(Fault::Truncate(25), 1);
    m.cell("fifo", "closes mid-reply", malformed, fifo(&m), "uptime");
    server.inject_times(Fault::Garbage(b"\x00\xff<html>nope".to_vec()), 1);
    m.cell("fifo", "garbage reply", malformed, fifo(&m), "uptime");
    server.inject_times(Fault::Truncate(1), 1);
    m.cell("fifo", "truncated reply", malformed, fifo(&m), "uptime");
    let small = Connection::open_with(&url, m.opts().max_reply(1_000)).unwrap();
    m.cell("fifo", "oversized reply", too_big, small, "big");
    m.finish();
}

#[test]
fn datagram_columns() {
    let mut m = Matrix::new();
    let server = mock(&m);

    // absent
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = opensips_mi::UdpConnection::open(("127.0.0.1", port), m.opts())
        .map(Connection::from)
        .unwrap();
    m.cell("udp", "server absent", not_running, c, "uptime");
    let c = opensips_mi::UnixDatagramConnection::open(m.dir().join("no.sock"), m.opts())
        .map(Connection::from)
        .unwrap();
    m.cell("unix", "server absent", not_found, c, "uptime");

    // bound, never read
    let deaf = UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = opensips_mi::UdpConnection::open(deaf.local_addr().unwrap(), m.opts())
        .map(Connection::from)
        .unwrap();
    m.cell("udp", "nobody reading", timeout, c, "uptime");
    let deaf_path = m.dir().join("deaf.sock");
    let _deaf_unix = UnixDatagram::bind(&deaf_path).unwrap();
    let c = opensips_mi::UnixDatagramConnection::open(&deaf_path, m.opts())
        .map(Connection::from)
        .unwrap();
    m.cell("unix", "nobody reading", timeout, c, "uptime");

    for (name, url) in [
        ("udp", server.udp_url().unwrap()),
        ("unix", server.unix_url().unwrap()),
    ] {
        let c = |m: &Matrix| Connection::open_with(&url, m.opts()).unwrap();
        server.inject_times(Fault::NoReply, 1);
        m.cell(name, "stalls after request", timeout, c(&m), "uptime");
        // a datagram is the whole reply: cut short is the same as closed mid-reply
        server.inject_times(Fault::Truncate(25), 1);
        m.cell(name, "closes mid-reply", malformed, c(&m), "uptime");
        server.inject_times(Fault::Garbage(b"\x00\xff<html>nope".to_vec()), 1);
        m.cell(name, "garbage reply", malformed, c(&m), "uptime");
        server.inject_times(Fault::Truncate(1), 1);
        m.cell(name, "truncated reply", malformed, c(&m), "uptime");
        let small = Connection::open_with(&url, m.opts().datagram_buffer(1_000)).unwrap();
        m.cell(name, "oversized reply", too_big, small, "big");
    }
    m.finish();
}

#[test]
fn http_columns() {
    let mut m = Matrix::new();
    for scheme in ["http", "xmlrpc"] {
        let url = |addr: &str| format!("{scheme}://{addr}/");
        let open = |addr: &str, o: opensips_mi::OptionsBuilder| {
            Connection::open_with(&url(addr), o).unwrap()
        };

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = open(&format!("127.0.0.1:{port}"), m.opts());
        m.cell(scheme, "server absent", not_running, c, "uptime");

        // the kernel completes the handshake; nobody ever accepts or reads
        let deaf = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = open(&deaf.local_addr().unwrap().to_string(), m.opts());
        m.cell(scheme, "nobody reading", timeout, c, "uptime");

        let c = open(&fake_http(hold), m.opts());
        m.cell(scheme, "stalls after request", timeout, c, "uptime");

        let c = open(
            &fake_http(|mut s| {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":");
            }),
            m.opts(),
        );
        m.cell(scheme, "closes mid-reply", malformed, c, "uptime");

        let c = open(
            &fake_http(|mut s| {
                let _ =
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n\x00\xff<html>no");
                hold(s);
            }),
            m.opts(),
        );
        m.cell(scheme, "garbage reply", malformed, c, "uptime");

        // part of the body, then nothing (connection kept open)
        let c = open(
            &fake_http(|mut s| {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":");
                hold(s);
            }),
            m.opts(),
        );
        m.cell(scheme, "truncated reply", timeout, c, "uptime");

        let c = open(
            &fake_http(|mut s| {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
                let chunk = vec![b' '; 64 * 1024];
                let until = Instant::now() + TIMEOUT * 3;
                while Instant::now() < until && s.write_all(&chunk).is_ok() {}
            }),
            m.opts().max_reply(10_000),
        );
        m.cell(scheme, "oversized reply", too_big, c, "uptime");
    }
    // and the real (mock) httpd, stalling
    let server = mock(&m);
    let c = Connection::open_with(&server.http_url().unwrap(), m.opts()).unwrap();
    server.inject_times(Fault::NoReply, 1);
    m.cell("http", "mock stalls", timeout, c, "uptime");
    m.finish();
}

/// A long wait ends on time: the kernel runs a multi-second socket timeout on a coarse
/// timer (rounded up to 256 ms steps for one of 2–16 s at HZ=250), so the datagram
/// transports wait in short slices up to the deadline. UDP and unix run side by side with
/// timeouts half a step apart: where one would be rounded up by less than the bound, the
/// other is rounded up by more.
#[test]
fn a_long_datagram_wait_ends_on_time() {
    const LONG: [Duration; 2] = [Duration::from_secs(3), Duration::from_millis(3_128)];
    const LATE: Duration = Duration::from_millis(120);
    let dir = tempfile::tempdir().unwrap();
    let opts = |t: Duration| Options::builder().timeout(t).reply_socket_dir(dir.path());
    let deaf = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = opensips_mi::UdpConnection::open(deaf.local_addr().unwrap(), opts(LONG[0]))
        .map(Connection::from)
        .unwrap();
    let deaf_path = dir.path().join("deaf.sock");
    let _deaf_unix = UnixDatagram::bind(&deaf_path).unwrap();
    let unix = opensips_mi::UnixDatagramConnection::open(&deaf_path, opts(LONG[1]))
        .map(Connection::from)
        .unwrap();
    let took = std::thread::scope(|s| {
        let waits = [udp, unix].map(|c| {
            s.spawn(move || {
                let started = Instant::now();
                let e = c.command("uptime", ()).unwrap_err();
                (e.is_timeout(), started.elapsed())
            })
        });
        waits.map(|w| w.join().unwrap())
    });
    for ((name, long), (timed_out, took)) in ["udp", "unix"].into_iter().zip(LONG).zip(took) {
        assert!(timed_out, "{name}: not a timeout");
        assert!(
            took >= long && took < long + LATE,
            "{name}: a {long:?} timeout ended after {took:?}"
        );
    }
}

/// A unix server socket nobody reads fills up (`net.unix.max_dgram_qlen` datagrams, 10 by
/// default, 512 on some systems): a send to it then waits for room, which never comes. Each
/// call must still end as a timeout in time, also once the queue is full.
#[test]
fn a_full_server_queue_is_a_timeout_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let deaf_path = dir.path().join("full.sock");
    let _deaf = UnixDatagram::bind(&deaf_path).unwrap();
    let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10);
    let conn = opensips_mi::UnixDatagramConnection::open(
        &deaf_path,
        Options::builder()
            .timeout(Duration::from_millis(50))
            .reply_socket_dir(dir.path()),
    )
    .map(Connection::from)
    .unwrap();
    // more calls than the queue holds; run where a hang cannot stop the test itself
    let calls = qlen.min(600) + 3;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..calls {
            let started = Instant::now();
            let r = conn.command("uptime", ());
            let _ = tx.send((i, r.map(drop), started.elapsed()));
        }
    });
    for _ in 0..calls {
        let (i, r, took) = rx
            .recv_timeout(support::GENEROUS)
            .expect("a call to a full server socket never ended");
        assert!(r.as_ref().is_err_and(Error::is_timeout), "call {i}: {r:?}");
        assert!(
            took < Duration::from_millis(50) + SLACK,
            "call {i} took {took:?}"
        );
    }
}
