//! The mock's httpd: `mi_http` (JSON-RPC) at `/mi` and `mi_xmlrpc` at `/RPC2`, on
//! `127.0.0.1:0`, with the real server's status codes and its broken non-200 replies.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tiny_http::{Header, Method, Request, Response, Server};

use super::listeners::TICK;
use super::{Dispatch, Flavor, MockTransport, Shared};

/// What the httpd module is configured with.
pub(super) struct HttpdConfig {
    /// 4.0 httpd `auth_username` / `auth_password` (`Authorization` value expected).
    pub(super) auth: Option<String>,
    pub(super) realm: String,
    /// 4.0 httpd `receive_buf_size` (1024 by default; unlimited here for 3.x).
    pub(super) receive_buf_size: Option<usize>,
}

impl HttpdConfig {
    pub(super) fn new(flavor: Flavor, auth: Option<String>) -> Self {
        HttpdConfig {
            auth,
            realm: "OpenSIPS MI".into(),
            receive_buf_size: (flavor == Flavor::V4).then_some(1024),
        }
    }
}

pub(super) fn start(
    shared: Arc<Shared>,
    bind: SocketAddr,
    cfg: HttpdConfig,
) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
    let server = Server::http(bind).map_err(std::io::Error::other)?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("httpd did not bind an IP address"))?;
    let cfg = Arc::new(cfg);
    let t = std::thread::Builder::new()
        .name("mock-mi-httpd".into())
        .spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                match server.recv_timeout(TICK) {
                    Ok(Some(req)) => handle(&shared, &cfg, req),
                    Ok(None) => {}
                    Err(_) => std::thread::sleep(TICK),
                }
            }
        })?;
    Ok((t, addr))
}

/// Adds a header (ours are constants, always valid; an invalid one would be skipped).
fn with_header<R: Read>(resp: Response<R>, name: &str, value: &str) -> Response<R> {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => resp.with_header(h),
        Err(()) => resp,
    }
}

fn request_header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn handle(shared: &Arc<Shared>, cfg: &HttpdConfig, mut req: Request) {
    let peer = req.remote_addr().copied();
    if let Some(expected) = &cfg.auth {
        if request_header(&req, "Authorization") != Some(expected.as_str()) {
            let body = "<html><body>Unauthorized</body></html>";
            let resp = Response::from_data(body).with_status_code(401);
            let resp = with_header(
                resp,
                "WWW-Authenticate",
                &format!("Basic realm=\"{}\"", cfg.realm),
            );
            let _ = req.respond(resp);
            return;
        }
    }
    let path = req.url().split('?').next().unwrap_or("").to_owned();
    let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    let (transport, content_type) = if under("/mi") {
        (MockTransport::Http, "application/json")
    } else if under("/RPC2") {
        (MockTransport::XmlRpc, "text/xml; charset=utf-8")
    } else {
        let resp = Response::from_string("<html><body>Unable to parse URL!</body></html>")
            .with_status_code(400);
        let resp = with_header(resp, "Content-Type", "text/html");
        let _ = req.respond(resp);
        return;
    };
    if *req.method() != Method::Post {
        return never_ending(shared, req, "405 Method Not Allowed", content_type);
    }
    let sent_type = request_header(&req, "Content-Type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let type_ok = match transport {
        MockTransport::Http => sent_type.starts_with("application/json"),
        _ => sent_type.starts_with("text/xml"),
    };
    if !type_ok {
        // The real server closes the connection without a byte; tiny_http cannot drop a
        // connection silently, so the mock answers a bare 400 and closes.
        return raw(
            req,
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let mut body = Vec::new();
    let limit = cfg.receive_buf_size.unwrap_or(usize::MAX);
    let read = req
        .as_reader()
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut body);
    if read.is_err() || body.is_empty() || body.len() > limit {
        return never_ending(shared, req, "400 Bad Request", content_type);
    }
    let dispatch = match transport {
        MockTransport::Http => shared.dispatch(MockTransport::Http, &body, None, peer),
        _ => shared.dispatch_xmlrpc(&body, peer),
    };
    match dispatch {
        Dispatch::ParseError => {
            let err =
                br#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#;
            respond_ok(req, err.to_vec(), content_type);
        }
        Dispatch::Silent => never_ending(shared, req, "202 Accepted", content_type),
        Dispatch::Hang => hold(shared, req.into_writer()),
        Dispatch::Reply { mut parts, delay } => {
            let reply = parts.pop().unwrap_or_default();
            if delay.is_zero() {
                respond_ok(req, reply, content_type);
            } else {
                let _ = std::thread::Builder::new()
                    .name("mock-mi-http-async".into())
                    .spawn(move || {
                        std::thread::sleep(delay);
                        respond_ok(req, reply, content_type);
                    });
            }
        }
    }
}

fn respond_ok(req: Request, body: Vec<u8>, content_type: &str) {
    let resp = with_header(Response::from_data(body), "Content-Type", content_type);
    let _ = req.respond(resp);
}

fn raw(req: Request, bytes: &[u8]) {
    let mut w = req.into_writer();
    let _ = w.write_all(bytes);
    let _ = w.flush();
}

/// The head of a chunked reply whose body never comes (3.5/4.0 do this for 202, 400, 405).
fn never_ending(shared: &Arc<Shared>, req: Request, status: &str, content_type: &str) {
    let mut w = req.into_writer();
    let head = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let _ = w.write_all(head.as_bytes());
    let _ = w.flush();
    hold(shared, w);
}

/// Keeps a response writer open (nothing more is sent) until the server stops, at most a
/// minute.
fn hold(shared: &Arc<Shared>, w: Box<dyn Write + Send>) {
    let shared = shared.clone();
    let _ = std::thread::Builder::new()
        .name("mock-mi-http-hold".into())
        .spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            while !shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(TICK);
            }
            drop(w);
        });
}
