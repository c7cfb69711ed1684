//! The mock's httpd: `mi_http` (JSON-RPC) at `/mi` and `mi_xmlrpc` at `/RPC2`, on
//! `127.0.0.1:0`, with the real server's status codes and its faults: non-200 replies whose
//! chunked body never comes, a silent close for a wrong `Content-Type`, and (3.x/4.0) a
//! request whose body reaches the server in a later read than its head is not answered
//! until more bytes arrive on that connection (PROTOCOL.md §6.3, OpenSIPS issues #3350 and
//! #3134). Its own small HTTP/1.1 reader, since it must see every `read()`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use super::commands::{http_date, now};
use super::listeners::TICK;
use super::{Dispatch, Flavor, Shared, Transport};
use crate::transport::{Deadline, Ready, wait_for};

/// What the httpd module is configured with.
pub(super) struct HttpdConfig {
    /// 4.0 httpd `auth_username` / `auth_password` (`Authorization` value expected).
    pub(super) auth: Option<String>,
    pub(super) realm: String,
    /// 4.0 httpd `receive_buf_size` (1024 by default; unlimited here for 3.x).
    pub(super) receive_buf_size: Option<usize>,
    /// 3.x/4.0: a body that arrives in a later read than its head waits for more bytes.
    pub(super) loses_late_bodies: bool,
    /// 1.x: not httpd but the `mi_xmlrpc` Abyss server (`/RPC2` only, INDEX.md surprise 5).
    pub(super) abyss: bool,
    /// 2.x: `/RPC2` is `mi_xmlrpc_ng` (untyped values).
    pub(super) xmlrpc_ng: bool,
}

impl HttpdConfig {
    pub(super) fn new(flavor: Flavor, auth: Option<String>) -> Self {
        HttpdConfig {
            auth,
            realm: "OpenSIPS MI".into(),
            receive_buf_size: (flavor == Flavor::V4).then_some(1024),
            loses_late_bodies: !flavor.is_legacy(),
            abyss: flavor == Flavor::V1,
            xmlrpc_ng: flavor == Flavor::V2,
        }
    }
}

pub(super) fn start(
    shared: Arc<Shared>,
    bind: SocketAddr,
    cfg: HttpdConfig,
) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
    let listener = TcpListener::bind(bind)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let cfg = Arc::new(cfg);
    let t = std::thread::Builder::new()
        .name("mock-mi-httpd".into())
        .spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                if !matches!(
                    wait_for(&listener, PollFlags::POLLIN, &Deadline::after(TICK)),
                    Ok(Ready::Yes { .. })
                ) {
                    continue;
                }
                let Ok((stream, peer)) = listener.accept() else {
                    continue;
                };
                let (shared, cfg) = (shared.clone(), cfg.clone());
                let _ = std::thread::Builder::new()
                    .name("mock-mi-httpd-conn".into())
                    .spawn(move || serve(&shared, &cfg, stream, peer));
            }
        })?;
    Ok((t, addr))
}

/// One parsed request head.
struct Head {
    method: String,
    path: String,
    http10: bool,
    headers: Vec<(String, String)>,
    /// Bytes up to and including the empty line.
    len: usize,
    content_length: usize,
    chunked: bool,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let conn = self.header("Connection").unwrap_or("").to_ascii_lowercase();
        if self.http10 {
            conn == "keep-alive"
        } else {
            conn != "close"
        }
    }
}

/// The head at the start of `buf`, once its empty line is in (`Err`: not HTTP).
fn parse_head(buf: &[u8]) -> Option<Result<Head, ()>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(path), Some(version)) = (first.next(), first.next(), first.next())
    else {
        return Some(Err(()));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut head = Head {
        method: method.to_owned(),
        path: path.to_owned(),
        http10: version == "HTTP/1.0",
        headers,
        len: end + 4,
        content_length: 0,
        chunked: false,
    };
    head.chunked = head
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    match head.header("Content-Length").map(str::parse::<usize>) {
        Some(Ok(n)) => head.content_length = n,
        Some(Err(_)) => return Some(Err(())),
        None => {}
    }
    Some(Ok(head))
}

/// What the server does with one request.
enum Action {
    /// A whole reply; `close` ends the connection after it.
    Reply { bytes: Vec<u8>, close: bool },
    /// The same, after a delay (an async command).
    Later { bytes: Vec<u8>, delay: Duration },
    /// Send this head of a chunked reply, then nothing more (3.x/4.0 202/400/405).
    NeverEnding(Vec<u8>),
    /// Close the connection without a byte (a wrong or missing `Content-Type`).
    Drop,
    /// Keep the connection open and send nothing (a command that never answers).
    Hang,
}

fn serve(shared: &Arc<Shared>, cfg: &HttpdConfig, mut stream: TcpStream, peer: SocketAddr) {
    if stream.set_read_timeout(Some(TICK)).is_err() {
        return;
    }
    let mut pending: Vec<u8> = Vec::new();
    // A request whose body came in a later read than its head: answered only once more
    // bytes arrive.
    let mut stalled = false;
    let mut chunk = vec![0u8; 64 * 1024];
    while !shared.stop.load(Ordering::SeqCst) {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        // bytes that were already here before this read
        let mut earlier = pending.len();
        pending.extend_from_slice(&chunk[..n]);
        let mut released = std::mem::take(&mut stalled);
        loop {
            let head = match parse_head(&pending) {
                None => break,
                Some(Err(())) => return,
                Some(Ok(h)) => h,
            };
            if head.chunked {
                return; // chunked requests are dropped without a reply
            }
            let total = head.len + head.content_length;
            if pending.len() < total {
                break;
            }
            let late_body = head.content_length > 0 && head.len <= earlier;
            if cfg.loses_late_bodies && late_body && !released {
                stalled = true;
                break;
            }
            released = false;
            let body: Vec<u8> = pending[head.len..total].to_vec();
            pending.drain(..total);
            earlier = earlier.saturating_sub(total);
            match handle(shared, cfg, &head, body, peer) {
                Action::Reply { bytes, close } => {
                    if stream.write_all(&bytes).is_err() || close {
                        return;
                    }
                }
                Action::Later { bytes, delay } => {
                    std::thread::sleep(delay);
                    if stream.write_all(&bytes).is_err() || !head.keep_alive() {
                        return;
                    }
                }
                Action::NeverEnding(h) => {
                    let _ = stream.write_all(&h);
                    return hold(shared, stream);
                }
                Action::Drop => return,
                Action::Hang => return hold(shared, stream),
            }
        }
    }
}

/// `HTTP/1.1 <status>` with the real server's headers and a body.
fn response(status: &str, headers: &[(&str, &str)], body: &[u8], close: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nDate: {}\r\n", http_date(now()));
    if close {
        out.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn never_ending(status: &str, content_type: &str) -> Action {
    Action::NeverEnding(
        format!(
            "HTTP/1.1 {status}\r\nDate: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            http_date(now())
        )
        .into_bytes(),
    )
}

fn handle(
    shared: &Arc<Shared>,
    cfg: &HttpdConfig,
    head: &Head,
    body: Vec<u8>,
    peer: SocketAddr,
) -> Action {
    let close = !head.keep_alive();
    if let Some(expected) = &cfg.auth {
        if head.header("Authorization") != Some(expected.as_str()) {
            let realm = format!("Basic realm=\"{}\"", cfg.realm);
            let bytes = response(
                "401 Unauthorized",
                &[("WWW-Authenticate", &realm)],
                b"<html><body>Unauthorized</body></html>",
                true,
            );
            return Action::Reply { bytes, close: true };
        }
    }
    let path = head.path.split('?').next().unwrap_or("");
    if cfg.abyss {
        return abyss(shared, head, body, peer, path, close);
    }
    let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    let (transport, content_type) = if under("/mi") {
        (Transport::Http, "application/json")
    } else if under("/RPC2") {
        (Transport::XmlRpc, "text/xml; charset=utf-8")
    } else {
        let bytes = response(
            "400 Bad Request",
            &[("Content-Type", "text/html")],
            b"<html><body>Unable to parse URL!</body></html>",
            close,
        );
        return Action::Reply { bytes, close };
    };
    if head.method != "POST" {
        return never_ending("405 Method Not Allowed", content_type);
    }
    let sent_type = head
        .header("Content-Type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let type_ok = match transport {
        Transport::Http => sent_type.starts_with("application/json"),
        _ => sent_type.starts_with("text/xml"),
    };
    if !type_ok {
        return Action::Drop;
    }
    if body.is_empty() || cfg.receive_buf_size.is_some_and(|limit| body.len() > limit) {
        return never_ending("400 Bad Request", content_type);
    }
    let dispatch = match transport {
        Transport::Http => shared.dispatch(Transport::Http, &body, None, Some(peer)),
        _ if cfg.xmlrpc_ng => shared.dispatch_xmlrpc_ng(&body, Some(peer)),
        _ => shared.dispatch_xmlrpc(&body, Some(peer)),
    };
    let ok = |reply: &[u8]| response("200 OK", &[("Content-Type", content_type)], reply, close);
    match dispatch {
        Dispatch::ParseError => Action::Reply {
            bytes: ok(
                br#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#,
            ),
            close,
        },
        Dispatch::Silent => never_ending("202 Accepted", content_type),
        Dispatch::Hang => Action::Hang,
        Dispatch::Reply { mut parts, delay } => {
            let bytes = ok(&parts.pop().unwrap_or_default());
            if delay.is_zero() {
                Action::Reply { bytes, close }
            } else {
                Action::Later { bytes, delay }
            }
        }
    }
}

/// The 1.x `mi_xmlrpc` Abyss server: `/RPC2` only (404 else), POST only (405), any
/// Content-Type, `Content-type:` / `Content-length:` headers.
fn abyss(
    shared: &Arc<Shared>,
    head: &Head,
    body: Vec<u8>,
    peer: SocketAddr,
    path: &str,
    close: bool,
) -> Action {
    let page = |status: &str, title: &str| {
        let html = format!(
            "<HTML><HEAD><TITLE>Error {status}</TITLE></HEAD><BODY><H1>Error {status}</H1><P>{title}</P><p><HR><b><i><a href=\"http:\057\057xmlrpc-c.sourceforge.net\">ABYSS Web Server for XML-RPC For C/C++</a></i></b> version 1.33.14<br></p></BODY></HTML>"
        );
        abyss_response(status, "text/html", html.as_bytes(), close)
    };
    if path != "/RPC2" {
        return Action::Reply {
            bytes: page("404 Not Found", "The requested URL was not found"),
            close,
        };
    }
    if head.method != "POST" {
        return Action::Reply {
            bytes: page("405 Method Not Allowed", "Method not allowed"),
            close,
        };
    }
    match shared.dispatch_xmlrpc_1x(&body, Some(peer)) {
        Dispatch::Reply { mut parts, delay } => {
            let bytes = abyss_response(
                "200 OK",
                "text/xml; charset=utf-8",
                &parts.pop().unwrap_or_default(),
                close,
            );
            if delay.is_zero() {
                Action::Reply { bytes, close }
            } else {
                Action::Later { bytes, delay }
            }
        }
        Dispatch::Hang => Action::Hang,
        Dispatch::ParseError | Dispatch::Silent => Action::Drop,
    }
}

fn abyss_response(status: &str, content_type: &str, body: &[u8], close: bool) -> Vec<u8> {
    let date = http_date(now()).replace("GMT", "UTC");
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-type: {content_type}\r\nContent-length: {}\r\n",
        body.len()
    );
    out.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: Keep-Alive\r\nKeep-Alive: timeout=15, max=30\r\n"
    });
    out.push_str(&format!(
        "Date: {date}\r\nServer: Xmlrpc-c_Abyss/1.33.14\r\n\r\n"
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Keeps a connection open (nothing more is sent) until the server stops, at most a minute.
fn hold(shared: &Arc<Shared>, stream: TcpStream) {
    let until = Instant::now() + Duration::from_secs(60);
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(TICK);
    }
    drop(stream);
}
