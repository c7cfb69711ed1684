//! The built-in HTTP/1.1 client of plain `http://` URLs, against tiny hand-written servers
//! on real sockets: reply framings, keep-alive and its stale connections, limits, and
//! deadlines.
#![cfg(feature = "http")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opensips_mi::{Connection, Error, HttpConnection, Options, OptionsBuilder, Value};

/// One request as the server read it: the connection's index, the request's index on
/// that connection, the bytes, and whether they came in the connection's first read.
#[derive(Debug)]
struct Seen {
    conn: usize,
    nth: usize,
    bytes: Vec<u8>,
}

impl Seen {
    fn body(&self) -> &[u8] {
        let end = self
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        &self.bytes[end + 4..]
    }
    fn head(&self) -> String {
        let end = self
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&self.bytes[..end]).to_ascii_lowercase()
    }
}

/// Reads one request (head and Content-Length body); `None` at EOF or after `GENEROUS`.
fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(support::GENEROUS)).unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
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

/// The id of a JSON-RPC request body.
fn id_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["id"].to_string()
}

/// A 200 JSON-RPC reply to `req` (result `result`), framed by Content-Length.
fn ok_reply(req: &[u8], result: &str, extra_headers: &str) -> Vec<u8> {
    let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let body = format!(
        r#"{{"jsonrpc":"2.0","result":"{result}","id":{}}}"#,
        id_of(&req[end + 4..])
    );
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A server: `serve(conn index, stream, requests seen)` for each connection in turn.
fn server(
    serve: impl Fn(usize, TcpStream, &mpsc::Sender<Seen>) + Send + 'static,
) -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (i, s) in listener.incoming().enumerate() {
            match s {
                Ok(s) => serve(i, s, &tx),
                Err(_) => return,
            }
        }
    });
    (addr, rx)
}

/// Serves every request of a connection with `reply(request)`, recording each; stops at
/// EOF or when `reply` returns `None` (after writing nothing).
fn serve_all(
    i: usize,
    mut s: TcpStream,
    tx: &mpsc::Sender<Seen>,
    reply: impl Fn(&[u8]) -> Option<Vec<u8>>,
) {
    let mut nth = 0;
    while let Some(req) = read_request(&mut s) {
        let answer = reply(&req);
        let _ = tx.send(Seen {
            conn: i,
            nth,
            bytes: req,
        });
        nth += 1;
        match answer {
            Some(a) => {
                if s.write_all(&a).is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

fn open(addr: SocketAddr, opts: OptionsBuilder) -> Connection {
    HttpConnection::open(&format!("http://{addr}/mi"), opts)
        .map(Connection::from)
        .unwrap()
}

fn generous() -> OptionsBuilder {
    Options::builder().timeout(support::GENEROUS)
}

fn one_second() -> OptionsBuilder {
    Options::builder().timeout(Duration::from_secs(1))
}

/// What the server saw, once it had time to see it.
fn seen(rx: &mpsc::Receiver<Seen>) -> Vec<Seen> {
    std::thread::sleep(Duration::from_millis(100));
    rx.try_iter().collect()
}

fn assert_malformed(e: &Error, what: &str) {
    assert!(
        matches!(e, Error::MalformedReply { reason, .. } if reason.contains(what)),
        "{e}"
    );
}

#[test]
fn a_chunked_reply_with_extensions_and_trailers() {
    let (addr, _rx) = server(|i, s, tx| {
        serve_all(i, s, tx, |req| {
            let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let body = format!(
                r#"{{"jsonrpc":"2.0","result":{{"Server":"chunky"}},"id":{}}}"#,
                id_of(&req[end + 4..])
            );
            let (a, b) = body.split_at(10);
            Some(
                format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x};name=value\r\n{a}\r\n{:X}\r\n{b}\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n",
                    a.len(),
                    b.len()
                )
                .into_bytes(),
            )
        })
    });
    let conn = open(addr, generous());
    for _ in 0..3 {
        let v = conn.command("version", ()).unwrap().into_value();
        assert_eq!(v["Server"], Value::from("chunky"));
    }
}

#[test]
fn interim_1xx_replies_are_skipped() {
    let (addr, _rx) = server(|i, s, tx| {
        serve_all(i, s, tx, |req| {
            let mut out =
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                    .to_vec();
            out.extend(ok_reply(req, "after 1xx", ""));
            Some(out)
        })
    });
    let conn = open(addr, generous());
    for _ in 0..2 {
        let v = conn.command("uptime", ()).unwrap().into_value();
        assert_eq!(v, Value::from("after 1xx"));
    }
}

/// `Connection: close` and an HTTP/1.0 reply: the next call opens a new connection, and
/// each request reaches the server once.
#[test]
fn connection_close_and_http10_replies_are_not_reused() {
    for (extra, http10) in [("Connection: close\r\n", false), ("", true)] {
        let (addr, rx) = server(move |i, s, tx| {
            serve_all(i, s, tx, |req| {
                let mut r = ok_reply(req, "once", extra);
                if http10 {
                    r[..8].copy_from_slice(b"HTTP/1.0");
                }
                Some(r)
            });
        });
        let conn = open(addr, generous());
        for _ in 0..3 {
            assert_eq!(
                conn.command("uptime", ()).unwrap().into_value(),
                Value::from("once")
            );
        }
        let seen = seen(&rx);
        let conns: Vec<(usize, usize)> = seen.iter().map(|s| (s.conn, s.nth)).collect();
        assert_eq!(conns, [(0, 0), (1, 0), (2, 0)], "{extra:?} {http10}");
    }
}

/// The server closes the idle keep-alive connection right after each reply (as a server
/// with a short keep-alive timeout, or one restarted): the probe made before each reuse
/// finds it closed and the next call goes on a new connection; every request is seen
/// exactly once.
#[test]
fn a_server_closing_idle_connections_loses_and_duplicates_nothing() {
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    let (addr, rx) = server(move |i, mut s, tx| {
        let req = read_request(&mut s).unwrap();
        let reply = ok_reply(&req, "ok", "");
        let _ = tx.send(Seen {
            conn: i,
            nth: 0,
            bytes: req,
        });
        let _ = s.write_all(&reply);
        // the kept-alive connection closes
        drop(s);
        let _ = closed_tx.send(());
    });
    let conn = open(addr, generous());
    let mut ids = Vec::new();
    for n in 0..20 {
        assert_eq!(
            conn.command("uptime", ()).unwrap().into_value(),
            Value::from("ok"),
            "#{n}"
        );
        // the close made, and its FIN given time to arrive (a request written before it
        // did would be lost: the server may have taken it, so it is never sent again)
        closed_rx.recv_timeout(support::GENEROUS).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    for s in seen(&rx) {
        assert_eq!(s.nth, 0);
        ids.push(id_of(s.body()));
    }
    assert_eq!(ids.len(), 20, "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20, "a request was sent twice: {ids:?}");
}

/// The server restarts on the same port between two calls on one kept-alive connection.
#[test]
fn a_server_restart_between_calls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<(usize, Vec<u8>)>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let first = {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let req = read_request(&mut s).unwrap();
            let reply = ok_reply(&req, "first", "");
            let _ = tx.send((0, req));
            s.write_all(&reply).unwrap();
            // keep the connection until told to stop, then go away with the listener
            let _ = stop_rx.recv();
        })
    };
    let conn = open(addr, generous());
    assert_eq!(
        conn.command("uptime", ()).unwrap().into_value(),
        Value::from("first")
    );
    stop_tx.send(()).unwrap();
    first.join().unwrap();
    // the old connection's FIN given time to arrive: the probe finds it
    std::thread::sleep(Duration::from_millis(50));
    // the new server on the same port
    let listener = TcpListener::bind(addr).unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let mut s = s.unwrap();
            while let Some(req) = read_request(&mut s) {
                let reply = ok_reply(&req, "second", "");
                let _ = tx.send((1, req));
                let _ = s.write_all(&reply);
            }
        }
    });
    for _ in 0..3 {
        assert_eq!(
            conn.command("uptime", ()).unwrap().into_value(),
            Value::from("second")
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    let servers: Vec<usize> = rx.try_iter().map(|(n, _)| n).collect();
    assert_eq!(servers, [0, 1, 1, 1]);
}

/// Accepts, reads the request and never answers: a timeout, within bounds.
#[test]
fn a_server_that_never_answers_is_a_timeout() {
    let (addr, _rx) = server(|_, mut s, _| {
        read_request(&mut s);
        std::thread::sleep(Duration::from_secs(6));
    });
    let conn = open(addr, one_second());
    let start = Instant::now();
    let e = conn.command("uptime", ()).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(e.to_string().contains("HTTP reply"), "{e}");
    // the 1 s timeout, with room for a loaded machine
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// A head that never ends: sent at once and then nothing, or trickled a byte every 50 ms
/// (each read then gets something: only the deadline stops it).
#[test]
fn a_head_that_never_ends_is_a_timeout() {
    for trickle in [false, true] {
        let (addr, _rx) = server(move |_, mut s, _| {
            read_request(&mut s);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n");
            let until = Instant::now() + Duration::from_secs(6);
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
                if trickle && s.write_all(b"X").is_err() {
                    return;
                }
            }
        });
        let conn = open(addr, one_second());
        let start = Instant::now();
        let e = conn.command("uptime", ()).unwrap_err();
        assert!(e.is_timeout(), "trickle {trickle}: {e}");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(3), "trickle {trickle}: {took:?}");
    }
}

#[test]
fn an_oversized_head_is_malformed() {
    let (addr, _rx) = server(|_, mut s, _| {
        read_request(&mut s);
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..2_000 {
            head.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
        }
        let _ = s.write_all(&head);
        std::thread::sleep(Duration::from_secs(8));
    });
    let conn = open(addr, generous());
    let start = Instant::now();
    let e = conn.command("uptime", ()).unwrap_err();
    assert_malformed(&e, "not a valid HTTP reply");
    assert!(e.to_string().contains("head longer"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn garbage_and_ambiguous_framing_are_malformed() {
    for reply in [
        &b"<html>not http</html>\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        let (addr, _rx) = server(move |_, mut s, _| {
            read_request(&mut s);
            let _ = s.write_all(reply);
            std::thread::sleep(Duration::from_secs(2));
        });
        let conn = open(addr, one_second());
        let e = conn.command("uptime", ()).unwrap_err();
        assert_malformed(&e, "not a valid HTTP reply");
    }
}

/// Bytes that cannot begin an HTTP reply are refused as soon as they come: another
/// service's banner on a connection it keeps open (no waiting for the timeout), and a TLS
/// alert followed by a close (http:// pointed at a TLS port; not "closed the connection").
#[test]
fn a_reply_that_is_not_http_is_refused_at_once() {
    for (banner, close) in [
        (&b"SSH-2.0-OpenSSH_9.6\r\n"[..], false),
        (b"\x15\x03\x03\x00\x02\x02\x46", true),
    ] {
        let (addr, _rx) = server(move |_, mut s, _| {
            if !close {
                let _ = s.write_all(banner);
            }
            read_request(&mut s);
            if close {
                let _ = s.write_all(banner);
                return;
            }
            std::thread::sleep(Duration::from_secs(8));
        });
        let conn = open(addr, generous());
        let start = Instant::now();
        let e = conn.command("uptime", ()).unwrap_err();
        assert_malformed(&e, "not a valid HTTP reply: invalid HTTP version");
        // the timeout is 10 s and the server holds the connection 8 s
        assert!(start.elapsed() < Duration::from_secs(5), "{banner:?}");
    }
}

/// Two `Content-Length` headers with the same value are one (RFC 9110; ureq took them);
/// differing ones are malformed (`garbage_and_ambiguous_framing_are_malformed`).
#[test]
fn the_same_content_length_twice_is_accepted() {
    let (addr, _rx) = server(|i, s, tx| {
        serve_all(i, s, tx, |req| {
            let mut r = ok_reply(req, "twice", "");
            let at = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = String::from_utf8_lossy(&r[..at]).into_owned();
            let length = head.lines().last().unwrap().to_owned();
            r.splice(at..at, format!("\r\n{length}").into_bytes());
            Some(r)
        })
    });
    let conn = open(addr, generous());
    for _ in 0..2 {
        assert_eq!(
            conn.command("uptime", ()).unwrap().into_value(),
            Value::from("twice")
        );
    }
}

/// A reply head begun and never finished: the timeout comes at the deadline, not a
/// fraction of it later. The first bytes come 200 ms in: a socket timeout kept from before
/// them (as with the old slack of total / 16, 300 ms here) would end 200 ms late, and one
/// of seconds set on the socket would end up to an eighth of it late (the kernel's coarse
/// timers for long timeouts: 88 ms at 6 s, HZ=250).
#[test]
fn a_stalled_reply_ends_at_the_deadline() {
    let (addr, _rx) = server(|_, mut s, _| {
        read_request(&mut s);
        std::thread::sleep(Duration::from_millis(200));
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        std::thread::sleep(Duration::from_secs(8));
    });
    let timeout = Duration::from_millis(4800);
    let conn = open(addr, Options::builder().timeout(timeout));
    let start = Instant::now();
    let e = conn.command("uptime", ()).unwrap_err();
    let took = start.elapsed();
    assert!(e.is_timeout(), "{e}");
    // the slack is at most 5 ms, the kernel's tick a few; the rest is room for a loaded
    // machine
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(150),
        "{took:?}"
    );
}

/// A Content-Length over max_reply is refused before a byte of the body is read; a chunked
/// body is refused once it passes the limit.
#[test]
fn max_reply_is_enforced() {
    for chunked in [false, true] {
        let (addr, _rx) = server(move |_, mut s, _| {
            read_request(&mut s);
            let _ = if chunked {
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .and_then(|()| {
                        (0..100).try_for_each(|_| {
                            s.write_all(b"400\r\n")
                                .and_then(|()| s.write_all(&[b' '; 1024]))
                                .and_then(|()| s.write_all(b"\r\n"))
                        })
                    })
            } else {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
            };
            std::thread::sleep(Duration::from_secs(8));
        });
        let conn = open(addr, generous().max_reply(10_000));
        let start = Instant::now();
        let e = conn.command("uptime", ()).unwrap_err();
        assert_malformed(&e, "exceeds 10000 bytes (OptionsBuilder::max_reply)");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "chunked {chunked}"
        );
    }
}

/// Non-200 statuses whose chunked body never finishes (3.x/4.0 202, 400, 405): the status
/// alone is the error, at once; the connection is not reused.
#[test]
fn a_non_200_reply_is_an_error_at_once_and_not_reused() {
    for status in [
        "202 Accepted",
        "400 Bad Request",
        "405 Method Not Allowed",
        "500 Internal Server Error",
    ] {
        let (addr, rx) = server(move |i, s, tx| {
            serve_all(i, s, tx, |_| {
                Some(
                    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                        .into_bytes(),
                )
            });
        });
        let conn = open(addr, generous());
        let code: u16 = status[..3].parse().unwrap();
        for _ in 0..2 {
            let start = Instant::now();
            let e = conn.command("uptime", ()).unwrap_err();
            assert!(
                matches!(e, Error::Http { status: s, .. } if s == code),
                "{e}"
            );
            assert!(start.elapsed() < Duration::from_secs(5), "{status}");
        }
        let conns: Vec<usize> = seen(&rx).iter().map(|s| s.conn).collect();
        assert_eq!(conns, [0, 1], "{status}");
    }
}

/// Each request (head and body) reaches the server in its first read: one write, no
/// Nagle delay in between (OpenSIPS httpd loses a body that comes later, PROTOCOL.md §6.3).
#[test]
fn head_and_body_arrive_in_the_servers_first_read() {
    let (tx_reads, rx_reads) = mpsc::channel::<bool>();
    let (addr, _rx) = server(move |_, mut s, _| {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            // one read per request: it must hold the whole request
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let req = &buf[..n];
            let whole = req
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .is_some_and(|end| {
                    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(usize::MAX);
                    n == end + 4 + len
                });
            let _ = tx_reads.send(whole);
            if !whole || s.write_all(&ok_reply(req, "ok", "")).is_err() {
                return;
            }
        }
    });
    let conn = open(addr, generous());
    let value = "v".repeat(2_000);
    for _ in 0..50 {
        conn.command("cache_store", ["local", "k", value.as_str()])
            .unwrap();
    }
    let reads: Vec<bool> = rx_reads.try_iter().collect();
    assert_eq!(reads.len(), 50);
    assert!(reads.iter().all(|w| *w), "{reads:?}");
}

/// keepalive(false): a new connection per call, each request saying `Connection: close`.
#[test]
fn keepalive_off_opens_a_connection_per_call() {
    let (addr, rx) = server(|i, s, tx| serve_all(i, s, tx, |req| Some(ok_reply(req, "ok", ""))));
    let conn = open(addr, generous().keepalive(false));
    for _ in 0..3 {
        conn.command("uptime", ()).unwrap();
    }
    let seen = seen(&rx);
    let conns: Vec<(usize, usize)> = seen.iter().map(|s| (s.conn, s.nth)).collect();
    assert_eq!(conns, [(0, 0), (1, 0), (2, 0)]);
    assert!(
        seen.iter()
            .all(|s| s.head().contains("\r\nconnection: close"))
    );
}

/// Keep-alive: many calls, one connection; the request carries the usual headers and
/// never the user's credentials anywhere but in its Authorization header.
#[test]
fn keepalive_reuses_one_connection_and_sends_the_headers() {
    let (addr, rx) = server(|i, s, tx| serve_all(i, s, tx, |req| Some(ok_reply(req, "ok", ""))));
    let conn = HttpConnection::open(
        &format!("http://miuser:s3cret@{addr}/mi"),
        generous().header("X-Tenant", "blue"),
    )
    .map(Connection::from)
    .unwrap();
    for _ in 0..10 {
        conn.command("uptime", ()).unwrap();
    }
    let seen = seen(&rx);
    assert_eq!(seen.len(), 10);
    assert!(seen.iter().all(|s| s.conn == 0));
    let head = seen[0].head();
    for h in [
        "post /mi http/1.1\r\n",
        &format!("\r\nhost: {addr}\r\n"),
        "\r\ncontent-type: application/json\r\n",
        "\r\nuser-agent: opensips-mi/",
        "\r\nx-tenant: blue",
        // base64("miuser:s3cret")
        "\r\nauthorization: basic bwl1c2vyonmzy3jlda==",
        &format!("\r\ncontent-length: {}", seen[0].body().len()),
    ] {
        assert!(head.starts_with(h) || head.contains(h), "{h:?} in {head}");
    }
    assert!(!format!("{conn:?}").contains("s3cret"));
    assert!(!format!("{conn:?}").contains("bWl1c2VyOnMzY3JldA"));
}

/// XML-RPC over http:// goes through the same client.
#[test]
fn xmlrpc_uses_the_same_client() {
    let (addr, rx) = server(|i, s, tx| {
        serve_all(i, s, tx, |_| {
            let body = "<?xml version=\"1.0\"?><methodResponse><params><param><value><string>OK</string></value></param></params></methodResponse>";
            Some(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                    body.len()
                )
                .into_bytes(),
            )
        })
    });
    let conn =
        Connection::open(&format!("xmlrpc://{addr}/RPC2?timeout=10&protocol=jsonrpc")).unwrap();
    for _ in 0..3 {
        conn.command("uptime", ()).unwrap();
    }
    let seen = seen(&rx);
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.conn == 0));
    assert!(seen[0].head().contains("\r\ncontent-type: text/xml"));
}
