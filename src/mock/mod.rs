//! An embedded mock OpenSIPS (feature `mock`) that speaks the real wire formats on a real
//! FIFO, a UDP socket on `127.0.0.1:0`, a unix datagram socket, and HTTP on `127.0.0.1:0`
//! (`mi_http` JSON-RPC at `/mi`, XML-RPC at `/RPC2`).
//!
//! It behaves like OpenSIPS 3.5.9 by default (or 1.11.11, 2.4.11 or 4.0.1, with
//! [`Flavor::V1`], [`Flavor::V2`] or [`Flavor::V4`]) as the captured fixtures show; on
//! 3.5.9: silence for invalid JSON and notifications over FIFO, the plain-text datagram
//! errors `400 Parse_error` and `500 Internal error`, the reply-name rules, recipe matching
//! with the real `-32602` texts, and the reply shapes of the built-in commands (`which`,
//! `uptime`, `version`, `ps`, `get_statistics`, `list_statistics`, `reset_statistics`,
//! `ul_dump`, `ul_show_contact`, `ul_add`, `ul_rm`, `dlg_list`, `cache_store`,
//! `cache_fetch`, `cache_remove`, `log_level`, `t_uac_dlg`, ...). State is kept: what
//! `ul_add` adds, `ul_dump` shows. `event_subscribe` subscriptions are kept with their
//! expiry, and events go out over UDP, unix datagram sockets or TCP, raised on demand
//! ([`MockServer::raise_event`]) or by `ul_add` / `ul_rm` as OpenSIPS raises them.
//!
//! # What it holds at start
//!
//! Like the server behind the fixtures, a new mock is not empty (so that `ul_dump`,
//! `dlg_list` and friends have something to show):
//!
//! - **usrloc** (table `location`): AOR `alice` with two contacts
//!   (`sip:alice@127.0.0.1:5080`, expires in 3600 s, and `sip:alice@127.0.0.1:5081`,
//!   1800 s), `bob` (`sip:bob@127.0.0.1:5072`, 3600 s) and `carol`
//!   (`sip:carol@127.0.0.1:5082;transport=udp`, 600 s): 3 AORs, 4 contacts, all on socket
//!   `udp:127.0.0.1:5060`. With [`Flavor::V4`] (usrloc `use_domain`) the AORs are
//!   `alice@127.0.0.1` and so on.
//! - **dialogs**: confirmed calls (state 4) from `sip:caller1@127.0.0.1:5074` (and
//!   `caller2`) to `sip:bob@127.0.0.1:5060`: two with [`Flavor::V3`] and [`Flavor::V2`],
//!   one with [`Flavor::V4`], with the dialog ids of the captures.
//! - the statistics of the captured server (`core:`, `shmem:`, `tm:`, `dialog:`, ...),
//!   an empty cache, no event subscriptions.
//!
//! [`MockBuilder::empty`] starts without registrations and dialogs, for tests that count
//! what they add themselves.
//!
//! # URLs
//!
//! [`MockServer::fifo_url`] already carries `?reply_dir=…`: add more parameters with
//! [`url_with_param`](crate::url_with_param) (not `format!("{url}?protocol=legacy")`, which
//! the URL parser refuses), or pass [`Options`](crate::Options) to
//! [`Connection::open_with`](crate::Connection::open_with).
//!
//! ```
//! use opensips_mi::{Connection, Value, mock::{Fault, MockServer}};
//!
//! let server = MockServer::start()?;
//! let conn = Connection::open(&server.udp_url().unwrap())?;
//! conn.command("cache_store", ["local", "k", "v"])?;
//! assert_eq!(conn.command("cache_fetch", ["local", "k"])?.into_value()["value"], Value::from("v"));
//!
//! // your own command
//! server.handle("my_cmd", |params| Ok(Value::from(params.len() as i64)));
//! assert_eq!(conn.command("my_cmd", [1, 2, 3])?.into_value(), Value::Int(3));
//!
//! // faults for your own tests
//! server.inject_for("uptime", Fault::NoReply);
//! let c = opensips_mi::cmd("uptime").timeout(std::time::Duration::from_millis(100));
//! assert!(c.execute(&conn).unwrap_err().is_timeout());
//!
//! assert_eq!(server.requests().last().map(|r| r.method.as_str()), Some("uptime"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod commands;
mod engine;
mod evi;
mod http;
pub(crate) mod legacy;
mod listeners;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use commands::State;
pub(crate) use engine::{Dispatch, Incoming, apply_faults};
use engine::{FaultRule, Shared, lock};
pub use evi::Subscription;

use crate::server::Generation;
use crate::{Params, ServerError, Transport, Value};

/// Which OpenSIPS the mock imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Flavor {
    /// OpenSIPS 1.11.11: the legacy text MI as 2.4 with 1.11's differences (datagram
    /// replies without the final empty line, `ul_show_contact` as one flat line per contact,
    /// `debug` instead of `log_level`, no `list_statistics`...), and over HTTP the 1.x
    /// `mi_xmlrpc` (the xmlrpc-c Abyss server at `/RPC2`: each reply ONE flat string, CR
    /// stripped from string parameters, LF LF turned into CR LF, `<base64>` accepted).
    V1,
    /// OpenSIPS 2.4.11: the legacy text MI over FIFO and datagram (2.x reply layouts,
    /// 2.x framing rules and errors), and `mi_xmlrpc_ng` at `/RPC2` (untyped values,
    /// `{value, attributes, kids}` structs, string parameters only, `401 Empty request`).
    V2,
    /// OpenSIPS 3.5.9: flat command names, AORs without domain.
    #[default]
    V3,
    /// OpenSIPS 4.0.1: `module:command` names (flat names as aliases, bare local names when
    /// unambiguous, `-32001 Method ambiguous` otherwise), usrloc `use_domain` on.
    V4,
}

impl Flavor {
    /// The OpenSIPS generation this flavor imitates.
    ///
    /// ```
    /// use opensips_mi::{mock::Flavor, server::Generation};
    /// assert_eq!(Flavor::V2.generation(), Generation::V2);
    /// assert_eq!(Flavor::default().generation(), Generation::V3);
    /// ```
    pub fn generation(self) -> Generation {
        match self {
            Flavor::V1 => Generation::V1,
            Flavor::V2 => Generation::V2,
            Flavor::V3 => Generation::V3,
            Flavor::V4 => Generation::V4,
        }
    }

    /// 1.x or 2.x: the legacy text MI.
    pub(crate) fn is_legacy(self) -> bool {
        matches!(self, Flavor::V1 | Flavor::V2)
    }
}

/// One request the mock received (valid JSON-RPC or not).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The transport it arrived on ([`Transport::Http`] for JSON-RPC at `/mi`,
    /// [`Transport::XmlRpc`] for `/RPC2`).
    pub transport: Transport,
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
    fr_timeout: Option<Duration>,
    empty: bool,
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
    ///
    /// Like OpenSIPS 3.x/4.0 httpd, the 3.x and 4.0 flavours answer a request whose body
    /// arrives in a later read than its head only once more bytes arrive on that
    /// connection: a client must write the head and the body together (this crate does;
    /// urllib, for one, does not). The 2.4 flavour answers. A wrong or missing
    /// `Content-Type` gets the connection closed without a byte.
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
    /// tm's `fr_timeout` (default 5 s, as in OpenSIPS): how long a `t_uac_dlg` to a
    /// loopback target where nothing listens (an ICMP port unreachable) waits before its
    /// local `408 Request Timeout`, the only thing the real server answers then.
    pub fn fr_timeout(mut self, timeout: Duration) -> Self {
        self.fr_timeout = Some(timeout);
        self
    }

    /// Start with no registrations and no dialogs (by default the mock holds the AORs
    /// `alice` ×2, `bob`, `carol` and two calls: see [the module](self)). Statistics stay.
    ///
    /// ```
    /// use opensips_mi::{Connection, MiCommands, mock::MockServer};
    /// let full = MockServer::builder().udp().start()?;
    /// let conn = Connection::open(&full.udp_url().unwrap())?;
    /// let aors: Vec<String> = conn.ul_dump()?.iter().flat_map(|d| &d.aors).map(|a| a.aor.clone()).collect();
    /// assert_eq!(aors.len(), 3); // alice (2 contacts), bob, carol
    /// assert_eq!(conn.dlg_list()?.len(), 2);
    ///
    /// let empty = MockServer::builder().empty().udp().start()?;
    /// let conn = Connection::open(&empty.udp_url().unwrap())?;
    /// assert!(conn.ul_dump()?.iter().all(|d| d.aors.is_empty()));
    /// assert!(conn.dlg_list()?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty(mut self) -> Self {
        self.empty = true;
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
    /// [`Error::Io`](crate::Error::Io) creating the directory or the FIFO, binding the
    /// sockets or starting threads, naming what failed.
    pub fn start(self) -> crate::Result<MockServer> {
        let all = !(self.fifo || self.udp || self.unix || self.http);
        let (tmp, dir) = match self.dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("osips-mock")
                    .tempdir()
                    .map_err(|e| crate::Error::io("creating the mock's directory", e))?;
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        // The reply dir is world-writable like /tmp, so a server-side user can be emulated.
        let shared = Arc::new(Shared {
            flavor: self.flavor,
            stop: AtomicBool::new(false),
            state: Mutex::new({
                let mut state = State::new(self.flavor);
                if let Some(t) = self.fr_timeout {
                    state.fr_timeout = t;
                }
                if self.empty {
                    state.usrloc.clear();
                    state.dialogs.clear();
                }
                state
            }),
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
            let t = listeners::start_fifo(shared.clone(), &path, &reply_dir).map_err(|e| {
                crate::Error::io(format!("starting the mock's FIFO {}", path.display()), e)
            })?;
            server.threads.push(t);
            server.fifo_path = Some(path);
        }
        if all || self.udp {
            let bind = self.udp_addr.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
            let (t, addr) = listeners::start_udp(shared.clone(), bind).map_err(|e| {
                crate::Error::io(format!("starting the mock's UDP listener on {bind}"), e)
            })?;
            server.threads.push(t);
            server.udp_addr = Some(addr);
        }
        if all || self.unix {
            let path = self
                .unix_path
                .clone()
                .unwrap_or_else(|| dir.join("opensips_mi.sock"));
            let t = listeners::start_unix(shared.clone(), &path).map_err(|e| {
                crate::Error::io(
                    format!("starting the mock's unix socket {}", path.display()),
                    e,
                )
            })?;
            server.threads.push(t);
            server.unix_path = Some(path);
        }
        if all || self.http {
            let auth = self
                .http_auth
                .as_ref()
                .map(|(u, p)| crate::url::basic_auth(u, p));
            let bind = self.http_addr.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
            let (t, addr) = http::start(shared, bind, http::HttpdConfig::new(self.flavor, auth))
                .map_err(|e| {
                    crate::Error::io(format!("starting the mock's HTTP listener on {bind}"), e)
                })?;
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
    /// Starts a 3.5.9-like mock on a FIFO, UDP, a unix socket and HTTP, in a temporary
    /// directory, holding registrations and calls ([what](self#what-it-holds-at-start);
    /// [`MockBuilder::empty`] for none).
    ///
    /// # Errors
    ///
    /// As [`MockBuilder::start`].
    pub fn start() -> crate::Result<MockServer> {
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

    /// Which OpenSIPS it imitates.
    pub fn flavor(&self) -> Flavor {
        self.shared.flavor
    }

    /// The UDP address, if listening on UDP.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The unix socket path, if listening on one.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// `fifo://<path>?reply_dir=<dir>/` for [`Connection::open`](crate::Connection::open),
    /// or `None` if there is no FIFO listener. It has a `?` already: add parameters with
    /// [`url_with_param`](crate::url_with_param).
    ///
    /// ```
    /// use opensips_mi::{Connection, Protocol, url_with_param, mock::{Flavor, MockServer}};
    /// let server = MockServer::builder().flavor(Flavor::V2).fifo().start()?;
    /// let conn = Connection::open(&url_with_param(&server.fifo_url().unwrap(), "protocol", "legacy"))?;
    /// assert_eq!(conn.protocol()?, Protocol::Legacy);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fifo_url(&self) -> Option<String> {
        self.fifo_path.as_ref().map(|p| {
            format!(
                "fifo://{}?reply_dir={}/",
                p.display(),
                self.reply_dir.display()
            )
        })
    }

    /// `udp://127.0.0.1:<port>`, or `None` if there is no UDP listener.
    pub fn udp_url(&self) -> Option<String> {
        self.udp_addr.map(|a| format!("udp://{a}"))
    }

    /// `unix://<path>`, or `None` if there is no unix listener.
    pub fn unix_url(&self) -> Option<String> {
        self.unix_path
            .as_ref()
            .map(|p| format!("unix://{}", p.display()))
    }

    /// The HTTP address, if serving HTTP.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// `http://127.0.0.1:<port>/mi`, or `None` if there is no HTTP listener.
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}/mi"))
    }

    /// `xmlrpc://127.0.0.1:<port>/RPC2`, or `None` if there is no HTTP listener.
    pub fn xmlrpc_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("xmlrpc://{a}/RPC2"))
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
        .flatten()
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
    /// use opensips_mi::{Connection, Map, Params, Value, mock::MockServer};
    /// let server = MockServer::start()?;
    /// let conn = Connection::open(&server.udp_url().unwrap())?;
    /// let inbox = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let socket = format!("udp:{}", inbox.local_addr()?);
    /// conn.command("event_subscribe", Params::named([("event", "E_CORE_THRESHOLD"), ("socket", socket.as_str())]))?;
    /// assert_eq!(server.subscriptions().len(), 1);
    ///
    /// let params = Value::Object(Map::from([("source", Value::from("mi"))]));
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
