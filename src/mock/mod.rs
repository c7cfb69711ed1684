//! An embedded mock OpenSIPS (feature `mock`) that speaks the real wire formats on a real
//! FIFO, a UDP socket on `127.0.0.1:0`, a unix datagram socket, and HTTP on `127.0.0.1:0`
//! (`mi_http` JSON-RPC at `/mi`, XML-RPC at `/RPC2`).
//!
//! It behaves like OpenSIPS 3.5.9 (or 4.0.1, with [`Flavor::V4`]) as the captured fixtures
//! show: silence for invalid JSON and notifications over FIFO, the plain-text datagram
//! errors `400 Parse_error` and `500 Internal error`, the reply-name rules, recipe matching
//! with the real `-32602` texts, and the reply shapes of the built-in commands (`which`,
//! `uptime`, `version`, `ps`, `get_statistics`, `list_statistics`, `reset_statistics`,
//! `ul_dump`, `ul_show_contact`, `ul_add`, `ul_rm`, `dlg_list`, `cache_store`,
//! `cache_fetch`, `cache_remove`, `log_level`, `t_uac_dlg`, ...). State is kept: what
//! `ul_add` adds, `ul_dump` shows. `event_subscribe` subscriptions are kept with their
//! expiry, and events go out over UDP, unix datagram sockets or TCP, raised on demand
//! ([`MockServer::raise_event`]) or by `ul_add` / `ul_rm` as OpenSIPS raises them.
//!
//! ```
//! use opensips_mi::{Connection, Value, mock::{Fault, MockServer}};
//!
//! let server = MockServer::start()?;
//! let conn = Connection::open(&server.udp_url())?;
//! conn.command("cache_store", ["local", "k", "v"])?;
//! assert_eq!(conn.command("cache_fetch", ["local", "k"])?.value["value"], Value::from("v"));
//!
//! // your own command
//! server.handle("my_cmd", |params| Ok(Value::from(params.len() as i64)));
//! assert_eq!(conn.command("my_cmd", [1, 2, 3])?.value, Value::Int(3));
//!
//! // faults for your own tests
//! server.inject_for("uptime", Fault::NoReply);
//! let mut c = opensips_mi::cmd("uptime");
//! c.timeout(std::time::Duration::from_millis(100));
//! assert!(c.execute(&conn).unwrap_err().is_timeout());
//!
//! assert_eq!(server.requests().last().map(|r| r.method.as_str()), Some("uptime"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod commands;
mod evi;
mod http;
mod legacy;
mod listeners;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use commands::{Outcome, Resolved, State};
pub use evi::Subscription;

use crate::{Params, ServerError, Value};

/// Which OpenSIPS the mock imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Flavor {
    /// OpenSIPS 2.4.11: the legacy text MI over FIFO and datagram (2.x reply layouts,
    /// 2.x framing rules and errors).
    V2,
    /// OpenSIPS 3.5.9: flat command names, AORs without domain.
    #[default]
    V3,
    /// OpenSIPS 4.0.1: `module:command` names (flat names as aliases, bare local names when
    /// unambiguous, `-32001 Method ambiguous` otherwise), usrloc `use_domain` on.
    V4,
}

/// The transport a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockTransport {
    /// The FIFO.
    Fifo,
    /// UDP.
    Udp,
    /// The unix datagram socket.
    UnixDatagram,
    /// HTTP JSON-RPC (`/mi`).
    Http,
    /// HTTP XML-RPC (`/RPC2`).
    XmlRpc,
}

/// One request the mock received (valid JSON-RPC or not).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// Where it came from.
    pub transport: MockTransport,
    /// The method (empty if the request had none).
    pub method: String,
    /// The parameters.
    pub params: Params,
    /// The request id (`None` for a notification).
    pub id: Option<Value>,
    /// The request bytes (for FIFO: the JSON part, after `:reply_name:`).
    pub raw: Vec<u8>,
    /// FIFO: the reply FIFO name given.
    pub reply_name: Option<String>,
    /// UDP and HTTP: the client's address (for HTTP, one per TCP connection).
    pub peer: Option<SocketAddr>,
}

/// A SIP request `t_uac_dlg` was asked to send.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct UacRequest {
    /// SIP method.
    pub method: String,
    /// Request URI.
    pub ruri: String,
    /// The header block, after the server's `\r`/`\n` unescaping.
    pub headers: String,
    /// Next hop, if given.
    pub next_hop: Option<String>,
    /// Local socket, if given.
    pub socket: Option<String>,
    /// Body, if given.
    pub body: Option<String>,
}

/// What the (imaginary) far end answers to a `t_uac_dlg` request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct UacReply {
    /// Status line without `SIP/2.0`, e.g. `"200 OK"` or `"408 Request Timeout"`.
    pub status: String,
    /// The raw reply (headers and body); generated when `None`. A `408` carries none.
    pub message: Option<String>,
}

impl UacReply {
    /// `200 OK` with a generated message.
    pub fn ok() -> Self {
        UacReply {
            status: "200 OK".into(),
            message: None,
        }
    }
    /// Any status, with a generated message (none for `408`).
    pub fn status(status: impl Into<String>) -> Self {
        UacReply {
            status: status.into(),
            message: None,
        }
    }
}

/// Something to go wrong, for testing how your code copes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer after this delay (the listener keeps serving others meanwhile).
    Delay(Duration),
    /// Run the command but never answer.
    NoReply,
    /// Send only the first `n` bytes of the reply.
    Truncate(usize),
    /// Send these bytes instead of the reply.
    Garbage(Vec<u8>),
    /// First send a reply carrying another id (as a late reply to an earlier request
    /// would), then the real one.
    StaleReplyFirst,
}

pub(crate) type Handler = Arc<dyn Fn(&Params) -> Result<Value, ServerError> + Send + Sync>;
pub(crate) type UacResponder = Arc<dyn Fn(&UacRequest) -> UacReply + Send + Sync>;

struct FaultRule {
    method: Option<String>,
    fault: Fault,
    remaining: Option<usize>,
}

pub(crate) struct Shared {
    flavor: Flavor,
    stop: AtomicBool,
    state: Mutex<State>,
    log: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<Vec<FaultRule>>,
    datagram_buffer: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a request came from.
struct Incoming<'a> {
    transport: MockTransport,
    bytes: &'a [u8],
    reply_name: Option<&'a str>,
    peer: Option<SocketAddr>,
}

/// The result of handling one request.
pub(crate) enum Dispatch {
    /// Send these replies (one datagram / one FIFO write each) after `delay`.
    Reply {
        parts: Vec<Vec<u8>>,
        delay: Duration,
    },
    /// Send nothing (a notification).
    Silent,
    /// Never answer (the [`Fault::NoReply`] fault): hold the reply channel open, as a server
    /// stuck in the command would.
    Hang,
    /// The bytes were not JSON.
    ParseError,
}

impl Shared {
    fn faults_for(&self, method: &str) -> Vec<Fault> {
        let mut rules = lock(&self.faults);
        let mut out = Vec::new();
        for r in rules.iter_mut() {
            if r.method.as_deref().is_some_and(|m| m != method) || r.remaining == Some(0) {
                continue;
            }
            if let Some(n) = &mut r.remaining {
                *n -= 1;
            }
            out.push(r.fault.clone());
        }
        rules.retain(|r| r.remaining != Some(0));
        out
    }

    /// Handles one JSON-RPC request (already unframed) the way the OpenSIPS MI core does.
    pub(crate) fn dispatch(
        &self,
        transport: MockTransport,
        bytes: &[u8],
        reply_name: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Dispatch {
        let Ok(req) = crate::protocol::jsonrpc::parse_lenient::<Value>(bytes) else {
            return Dispatch::ParseError;
        };
        let id = req.get("id").cloned();
        let method = req["method"].as_str().unwrap_or_default().to_owned();
        let params = match req.get("params") {
            None => Some(Params::None),
            Some(Value::Array(a)) => Some(Params::Positional(a.clone())),
            Some(Value::Object(o)) => Some(Params::Named(o.clone())),
            Some(_) => None,
        };
        let valid_id = matches!(
            id,
            None | Some(Value::Null | Value::Int(_) | Value::Float(_) | Value::String(_))
        );
        let well_formed = req.as_object().is_some()
            && req["jsonrpc"].as_str() == Some("2.0")
            && req["method"].as_str().is_some()
            && params.is_some()
            && valid_id;
        let incoming = Incoming {
            transport,
            bytes,
            reply_name,
            peer,
        };
        if !well_formed {
            self.record(&incoming, &method, params.unwrap_or_default(), id.clone());
            let echo = if valid_id {
                id.unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            let err = Err(ServerError::new(-32600, "Invalid Request"));
            return Dispatch::Reply {
                parts: vec![reply_bytes(&err, &echo)],
                delay: Duration::ZERO,
            };
        }
        self.execute(&incoming, &method, params.unwrap_or_default(), id)
    }

    /// Handles one XML-RPC `methodCall` the way mi_xmlrpc(_ng) does.
    pub(crate) fn dispatch_xmlrpc(&self, bytes: &[u8], peer: Option<SocketAddr>) -> Dispatch {
        use crate::protocol::xmlrpc::server::{CallError, decode_call, encode_reply};
        let incoming = Incoming {
            transport: MockTransport::XmlRpc,
            bytes,
            reply_name: None,
            peer,
        };
        match decode_call(bytes) {
            Ok((method, params)) => self.execute(&incoming, &method, params, None),
            Err(e) => {
                self.record(&incoming, "", Params::None, None);
                let code = if e == CallError::NotWellFormed {
                    -32700
                } else {
                    -32600
                };
                let reply = encode_reply(&Err(ServerError::new(code, "")));
                Dispatch::Reply {
                    parts: vec![reply],
                    delay: Duration::ZERO,
                }
            }
        }
    }

    fn record(&self, inc: &Incoming<'_>, method: &str, params: Params, id: Option<Value>) {
        lock(&self.log).push(RecordedRequest {
            transport: inc.transport,
            method: method.to_owned(),
            params,
            id,
            raw: inc.bytes.to_vec(),
            reply_name: inc.reply_name.map(str::to_owned),
            peer: inc.peer,
        });
    }

    /// Runs a well-formed request, applies faults, and encodes the reply for the transport.
    fn execute(
        &self,
        inc: &Incoming<'_>,
        method: &str,
        params: Params,
        id: Option<Value>,
    ) -> Dispatch {
        self.record(inc, method, params.clone(), id.clone());
        let xml = inc.transport == MockTransport::XmlRpc;
        let faults = self.faults_for(method);
        let (mut result, mut delay) = self.run(method, &params);
        let encode = |result: &Result<Value, ServerError>, id: &Value| {
            if xml {
                crate::protocol::xmlrpc::server::encode_reply(result)
            } else {
                reply_bytes(result, id)
            }
        };
        let id = match id {
            Some(id) => id,
            None if xml => Value::Null,
            None => return Dispatch::Silent, // a notification: executed, never answered
        };
        if xml {
            // mi_xmlrpc does not hand the name to the core, so an ambiguous name is just
            // "not found" (4.0.1, fixture xmlrpc/09).
            if let Err(e) = &mut result {
                if e.code == -32001 {
                    *e = ServerError::new(-32601, "Method not found");
                }
            }
        }
        let stale = || {
            let other = match &id {
                Value::Int(i) => Value::Int(i.wrapping_add(7919)),
                _ => Value::from("stale"),
            };
            encode(&Ok(Value::from("stale reply")), &other)
        };
        let Some((mut parts, mut reply)) =
            apply_faults(faults, encode(&result, &id), &mut delay, stale)
        else {
            return Dispatch::Hang;
        };
        if matches!(
            inc.transport,
            MockTransport::Udp | MockTransport::UnixDatagram
        ) && reply.len() > self.datagram_buffer
        {
            reply = b"500 Internal error".to_vec();
        }
        parts.push(reply);
        Dispatch::Reply { parts, delay }
    }

    /// `true` for a built-in (by its flat name) or a custom command.
    fn knows(&self, method: &str) -> bool {
        self.is_custom(method) || commands::BUILTINS.iter().any(|b| b.flat == method)
    }

    fn is_custom(&self, method: &str) -> bool {
        lock(&self.state).handlers.iter().any(|(n, _)| n == method)
    }

    fn run(&self, method: &str, params: &Params) -> (Result<Value, ServerError>, Duration) {
        let mut state = lock(&self.state);
        match commands::resolve(&state, method) {
            Resolved::Custom(h) => {
                drop(state);
                (h(params), Duration::ZERO)
            }
            Resolved::NotFound => (
                Err(ServerError::new(-32601, "Method not found")),
                Duration::ZERO,
            ),
            Resolved::Ambiguous(names) => (
                Err(ServerError::new(-32001, "Method ambiguous")
                    .with_data(format!("supported names: {}", names.join(", ")))),
                Duration::ZERO,
            ),
            Resolved::Builtin(b) => match commands::bind(b, params) {
                Err(e) => (Err(e), Duration::ZERO),
                Ok(args) => match (b.run)(&mut state, &args) {
                    Outcome::Done(r) => (r, Duration::ZERO),
                    Outcome::Async { delay, result } => (result, delay),
                },
            },
        }
    }
}

/// Applies the faults to a reply: `None` for [`Fault::NoReply`], else the replies to send
/// before it (a stale one) and the reply itself, `delay` grown by any [`Fault::Delay`].
fn apply_faults(
    faults: Vec<Fault>,
    mut reply: Vec<u8>,
    delay: &mut Duration,
    stale: impl Fn() -> Vec<u8>,
) -> Option<(Vec<Vec<u8>>, Vec<u8>)> {
    let mut before = Vec::new();
    for f in faults {
        match f {
            Fault::Delay(d) => *delay += d,
            Fault::NoReply => return None,
            Fault::Truncate(n) => reply.truncate(n),
            Fault::Garbage(g) => reply = g,
            Fault::StaleReplyFirst => before.push(stale()),
        }
    }
    Some((before, reply))
}

/// `{"jsonrpc":"2.0","result":…,"id":…}` with the id echoed as OpenSIPS does (numbers as a
/// C `int`).
fn reply_bytes(result: &Result<Value, ServerError>, id: &Value) -> Vec<u8> {
    let id = match id {
        Value::Float(f) => Value::Int(f.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64),
        Value::Int(i) => Value::Int((*i).clamp(i64::from(i32::MIN), i64::from(i32::MAX))),
        other => other.clone(),
    };
    let mut o = vec![("jsonrpc".to_owned(), Value::from("2.0"))];
    match result {
        Ok(v) => o.push(("result".into(), v.clone())),
        Err(e) => {
            let mut err = vec![
                ("code".to_owned(), Value::Int(e.code)),
                ("message".into(), Value::from(&e.message)),
            ];
            if let Some(d) = &e.data {
                err.push(("data".into(), d.clone()));
            }
            o.push(("error".into(), Value::Object(err)));
        }
    }
    o.push(("id".into(), id));
    Value::Object(o).to_json()
}

/// Configures and starts a [`MockServer`].
#[derive(Debug, Default)]
#[must_use]
pub struct MockBuilder {
    fifo: bool,
    udp: bool,
    unix: bool,
    dir: Option<PathBuf>,
    flavor: Flavor,
    datagram_buffer: Option<usize>,
    http: bool,
    http_auth: Option<(String, String)>,
    fifo_path: Option<PathBuf>,
    reply_dir: Option<PathBuf>,
    udp_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    http_addr: Option<SocketAddr>,
}

impl MockBuilder {
    /// Listen on a FIFO at `path` (created, and removed when the server stops). Replies go
    /// to [`MockBuilder::reply_dir`], by default the FIFO's directory.
    pub fn fifo_at(mut self, path: impl Into<PathBuf>) -> Self {
        self.fifo = true;
        self.fifo_path = Some(path.into());
        self
    }
    /// The reply directory (the server's `reply_dir`).
    pub fn reply_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reply_dir = Some(dir.into());
        self
    }
    /// Listen on UDP at `addr` (port 0 picks a free port).
    pub fn udp_at(mut self, addr: SocketAddr) -> Self {
        self.udp = true;
        self.udp_addr = Some(addr);
        self
    }
    /// Listen on a unix datagram socket at `path`.
    pub fn unix_at(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix = true;
        self.unix_path = Some(path.into());
        self
    }
    /// Serve HTTP at `addr` (port 0 picks a free port).
    pub fn http_at(mut self, addr: SocketAddr) -> Self {
        self.http = true;
        self.http_addr = Some(addr);
        self
    }
    /// Listen on a FIFO (`<dir>/opensips_fifo`, replies in `<dir>/`).
    pub fn fifo(mut self) -> Self {
        self.fifo = true;
        self
    }
    /// Listen on UDP `127.0.0.1:0`.
    pub fn udp(mut self) -> Self {
        self.udp = true;
        self
    }
    /// Listen on a unix datagram socket (`<dir>/opensips_mi.sock`).
    pub fn unix(mut self) -> Self {
        self.unix = true;
        self
    }
    /// Serve HTTP on `127.0.0.1:0`: JSON-RPC at `/mi`, XML-RPC at `/RPC2`.
    pub fn http(mut self) -> Self {
        self.http = true;
        self
    }
    /// Require HTTP Basic credentials, like OpenSIPS 4.0 httpd `auth_username` and
    /// `auth_password` (implies [`MockBuilder::http`]).
    pub fn http_auth(mut self, user: &str, password: &str) -> Self {
        self.http = true;
        self.http_auth = Some((user.into(), password.into()));
        self
    }
    /// Put the FIFO, the reply directory and the unix socket in `dir` (default: a new
    /// temporary directory, removed when the server stops).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
    /// Imitate this OpenSIPS version.
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }
    /// The datagram size limit (default 65 457, as mi_datagram in 3.x).
    pub fn datagram_buffer(mut self, bytes: usize) -> Self {
        self.datagram_buffer = Some(bytes);
        self
    }

    /// Starts the listeners (FIFO, UDP, unix and HTTP if none was chosen).
    ///
    /// # Errors
    ///
    /// I/O errors creating the FIFO, binding the sockets or starting threads.
    pub fn start(self) -> io::Result<MockServer> {
        let all = !(self.fifo || self.udp || self.unix || self.http);
        let (tmp, dir) = match self.dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::Builder::new().prefix("osips-mock").tempdir()?;
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        // The reply dir is world-writable like /tmp, so a server-side user can be emulated.
        let shared = Arc::new(Shared {
            flavor: self.flavor,
            stop: AtomicBool::new(false),
            state: Mutex::new(State::new(self.flavor)),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            datagram_buffer: self
                .datagram_buffer
                .unwrap_or(crate::DEFAULT_DATAGRAM_BUFFER),
        });
        let reply_dir = match (&self.reply_dir, &self.fifo_path) {
            (Some(d), _) => d.clone(),
            (None, Some(f)) => f
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.clone()),
            (None, None) => dir.clone(),
        };
        let mut server = MockServer {
            shared: shared.clone(),
            threads: Vec::new(),
            fifo_path: None,
            reply_dir: reply_dir.clone(),
            udp_addr: None,
            unix_path: None,
            http_addr: None,
            _tmp: tmp,
        };
        // From here on a failure drops `server`, which stops what already started.
        if all || self.fifo {
            let path = self
                .fifo_path
                .clone()
                .unwrap_or_else(|| dir.join("opensips_fifo"));
            server
                .threads
                .push(listeners::start_fifo(shared.clone(), &path, &reply_dir)?);
            server.fifo_path = Some(path);
        }
        if all || self.udp {
            let bind = self.udp_addr.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
            let (t, addr) = listeners::start_udp(shared.clone(), bind)?;
            server.threads.push(t);
            server.udp_addr = Some(addr);
        }
        if all || self.unix {
            let path = self
                .unix_path
                .clone()
                .unwrap_or_else(|| dir.join("opensips_mi.sock"));
            server
                .threads
                .push(listeners::start_unix(shared.clone(), &path)?);
            server.unix_path = Some(path);
        }
        if all || self.http {
            let auth = self
                .http_auth
                .as_ref()
                .map(|(u, p)| crate::url::basic_auth(u, p));
            let bind = self.http_addr.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
            let (t, addr) = http::start(shared, bind, http::HttpdConfig::new(self.flavor, auth))?;
            server.threads.push(t);
            server.http_addr = Some(addr);
        }
        Ok(server)
    }
}

/// A running mock OpenSIPS. Dropping it stops the listeners and removes its files.
pub struct MockServer {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    fifo_path: Option<PathBuf>,
    reply_dir: PathBuf,
    udp_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    http_addr: Option<SocketAddr>,
    _tmp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("fifo_path", &self.fifo_path)
            .field("udp_addr", &self.udp_addr)
            .field("unix_path", &self.unix_path)
            .field("http_addr", &self.http_addr)
            .finish()
    }
}

impl MockServer {
    /// Starts a 3.5.9-like mock on a FIFO, UDP and a unix socket, in a temporary directory.
    ///
    /// # Errors
    ///
    /// As [`MockBuilder::start`].
    pub fn start() -> io::Result<MockServer> {
        MockBuilder::default().start()
    }

    /// A builder to choose transports, directory and flavor.
    pub fn builder() -> MockBuilder {
        MockBuilder::default()
    }

    /// The FIFO path, if listening on one.
    pub fn fifo_path(&self) -> Option<&Path> {
        self.fifo_path.as_deref()
    }

    /// The reply directory (the server's `reply_dir`).
    pub fn reply_dir(&self) -> &Path {
        &self.reply_dir
    }

    /// The UDP address, if listening on UDP.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The unix socket path, if listening on one.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// `fifo://<path>?reply_dir=<dir>/` for [`Connection::open`](crate::Connection::open)
    /// (empty if there is no FIFO listener).
    pub fn fifo_url(&self) -> String {
        self.fifo_path.as_ref().map_or_else(String::new, |p| {
            format!(
                "fifo://{}?reply_dir={}/",
                p.display(),
                self.reply_dir.display()
            )
        })
    }

    /// `udp://127.0.0.1:<port>` (empty if there is no UDP listener).
    pub fn udp_url(&self) -> String {
        self.udp_addr
            .map_or_else(String::new, |a| format!("udp://{a}"))
    }

    /// `unix://<path>` (empty if there is no unix listener).
    pub fn unix_url(&self) -> String {
        self.unix_path
            .as_ref()
            .map_or_else(String::new, |p| format!("unix://{}", p.display()))
    }

    /// The HTTP address, if serving HTTP.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// `http://127.0.0.1:<port>/mi` (empty if there is no HTTP listener).
    pub fn http_url(&self) -> String {
        self.http_addr
            .map_or_else(String::new, |a| format!("http://{a}/mi"))
    }

    /// `xmlrpc://127.0.0.1:<port>/RPC2` (empty if there is no HTTP listener).
    pub fn xmlrpc_url(&self) -> String {
        self.http_addr
            .map_or_else(String::new, |a| format!("xmlrpc://{a}/RPC2"))
    }

    /// The URL of every listener it runs, in the order FIFO, UDP, unix, HTTP (`/mi`),
    /// XML-RPC (`/RPC2`).
    pub fn urls(&self) -> Vec<String> {
        [
            self.fifo_url(),
            self.udp_url(),
            self.unix_url(),
            self.http_url(),
            self.xmlrpc_url(),
        ]
        .into_iter()
        .filter(|u| !u.is_empty())
        .collect()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Every SIP request `t_uac_dlg` accepted, in order.
    pub fn uac_requests(&self) -> Vec<UacRequest> {
        lock(&self.shared.state).uac_log.clone()
    }

    /// Adds (or replaces) a command. It takes precedence over a built-in of the same name and
    /// receives the parameters as sent; return `Err` for an MI error reply.
    pub fn handle<F>(&self, method: &str, f: F)
    where
        F: Fn(&Params) -> Result<Value, ServerError> + Send + Sync + 'static,
    {
        let mut st = lock(&self.shared.state);
        st.handlers.retain(|(n, _)| n != method);
        st.handlers.push((method.to_owned(), Arc::new(f)));
    }

    /// Raises an event, as OpenSIPS' `evi:raise` (or a module) would: every live
    /// subscriber of `name` gets it, a JSON-RPC notification (a 2.x text event for
    /// [`Flavor::V2`]). Returns how many subscribers it reached.
    ///
    /// `ul_add`, `ul_rm` and `ul_rm_contact` raise `E_UL_AOR_INSERT`,
    /// `E_UL_CONTACT_INSERT` / `_UPDATE` / `_DELETE` and `E_UL_AOR_DELETE` by themselves,
    /// with the parameters OpenSIPS 4.0 sends.
    ///
    /// ```
    /// use opensips_mi::{Connection, Params, Value, mock::MockServer};
    /// let server = MockServer::start()?;
    /// let conn = Connection::open(&server.udp_url())?;
    /// let inbox = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let socket = format!("udp:{}", inbox.local_addr()?);
    /// conn.command("event_subscribe", Params::named([("event", "E_CORE_THRESHOLD"), ("socket", socket.as_str())]))?;
    /// assert_eq!(server.subscriptions().len(), 1);
    ///
    /// let params = Value::Object(vec![("source".into(), Value::from("mi"))]);
    /// assert_eq!(server.raise_event("E_CORE_THRESHOLD", params), 1);
    /// let mut buf = [0u8; 512];
    /// let n = inbox.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], br#"{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":{"source":"mi"}}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn raise_event(&self, name: &str, params: Value) -> usize {
        lock(&self.shared.state).emit(name, params)
    }

    /// The live event subscriptions (expired ones are gone).
    pub fn subscriptions(&self) -> Vec<Subscription> {
        lock(&self.shared.state).evi.list()
    }

    /// Decides what the far end answers to `t_uac_dlg` (default: `200 OK`).
    pub fn set_uac_responder<F>(&self, f: F)
    where
        F: Fn(&UacRequest) -> UacReply + Send + Sync + 'static,
    {
        lock(&self.shared.state).uac_responder = Some(Arc::new(f));
    }

    /// How long `t_uac_dlg` takes to answer (the SIP transaction time), default zero.
    pub fn set_uac_delay(&self, delay: Duration) {
        lock(&self.shared.state).uac_delay = delay;
    }

    /// Applies `fault` to every request until [`MockServer::clear_faults`].
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(FaultRule {
            method: None,
            fault,
            remaining: None,
        });
    }

    /// Applies `fault` to every request for `method`.
    pub fn inject_for(&self, method: &str, fault: Fault) {
        lock(&self.shared.faults).push(FaultRule {
            method: Some(method.into()),
            fault,
            remaining: None,
        });
    }

    /// Applies `fault` to the next `times` requests (any method).
    pub fn inject_times(&self, fault: Fault, times: usize) {
        lock(&self.shared.faults).push(FaultRule {
            method: None,
            fault,
            remaining: Some(times),
        });
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Stops the listeners and removes the FIFO and socket (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = &self.fifo_path {
            let _ = std::fs::remove_file(p);
        }
        if let Some(p) = &self.unix_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
