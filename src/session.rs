//! The session layer: what one connection knows (timeout, generation, ids, the `which`
//! cache) and the one request path every transport shares: encode with a codec, exchange
//! bytes through the transport, decode the reply.

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::protocol::framing::{Codec, Framing};
use crate::protocol::jsonrpc::IdGenerator;
use crate::protocol::{Generation, Protocol, ProtocolChoice, legacy};
use crate::server::{self, ServerFacts};
use crate::transport::datagram::{UdpTransport, UnixTransport};
use crate::transport::fifo::FifoTransport;
#[cfg(feature = "http")]
use crate::transport::http::{HttpKind, HttpTransport, TlsSettings};
use crate::transport::{Deadline, Reply, Stage, Transport};
use crate::{Cmd, Error, Options, Params, Response, Result, Value};

/// What a connection (or a pool) has learnt about the server's commands (see
/// `Connection::verify`).
#[derive(Debug, Default)]
pub(crate) struct CommandCache {
    known: Mutex<HashMap<String, bool>>,
    names: Mutex<Option<Vec<String>>>,
}

impl CommandCache {
    /// Whether `name` exists, found with `ask` the first time.
    pub(crate) fn exists(&self, name: &str, ask: impl FnOnce() -> Result<bool>) -> Result<bool> {
        if let Some(k) = lock(&self.known).get(name).copied() {
            return Ok(k);
        }
        let exists = ask()?;
        lock(&self.known).insert(name.to_owned(), exists);
        Ok(exists)
    }

    /// The `which` list, fetched with `fetch` the first time.
    pub(crate) fn names(&self, fetch: impl FnOnce() -> Result<Vec<String>>) -> Result<Vec<String>> {
        if let Some(n) = lock(&self.names).as_ref() {
            return Ok(n.clone());
        }
        let names = fetch()?;
        *lock(&self.names) = Some(names.clone());
        Ok(names)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One call as [`Session::execute_in`] needs it, borrowed: from a [`Cmd`], or straight from a
/// method name and its parameters (`Connection::command`, with no `Cmd` to build).
pub(crate) struct Call<'a> {
    method: &'a str,
    params: &'a Params,
    timeout: Option<Duration>,
    decode: bool,
    keep_raw: bool,
}

impl<'a> Call<'a> {
    /// `cmd` as it is.
    pub(crate) fn of(cmd: &'a Cmd) -> Self {
        Call {
            method: cmd.method(),
            params: cmd.params(),
            timeout: cmd.get_timeout(),
            decode: cmd.decodes(),
            keep_raw: cmd.keeps_raw(),
        }
    }

    /// `method` with `params`, as `Cmd::with_params(method, params)` would be.
    pub(crate) fn plain(method: &'a str, params: &'a Params) -> Self {
        Call {
            method,
            params,
            timeout: None,
            decode: true,
            keep_raw: false,
        }
    }
}

/// One connection's state around its transport.
#[derive(Debug)]
pub(crate) struct Session<T> {
    pub(crate) transport: T,
    timeout: Duration,
    protocol: ProtocolChoice,
    ids: IdGenerator,
    commands: CommandCache,
}

impl Reply for Codec {
    type Out = Response;
    fn judge(&self, buf: &mut Vec<u8>, at_end: bool) -> Option<Result<Response>> {
        Codec::judge(self, buf, at_end)
    }
    fn judge_datagram(&self, datagram: &[u8]) -> Option<Result<Response>> {
        Codec::judge_datagram(self, datagram)
    }
    fn at_deadline(&self, buf: Vec<u8>, total: Duration) -> Result<Response> {
        Codec::at_deadline(self, buf, total)
    }
    fn ends_at_eof(&self) -> bool {
        self.generation() == Generation::Legacy
    }
}

/// A generation probe (a `version` request): any answer in its codec's generation tells
/// the generation, and the `version` reply the release.
struct Probe(Codec);

impl Probe {
    fn facts(&self, resp: &Response) -> ServerFacts {
        let fallback = match self.0.generation() {
            Generation::JsonRpc => server::Generation::V3,
            Generation::Legacy => server::Generation::V2,
        };
        let value = match crate::protocol::materialize(resp.clone()) {
            Ok(r) if r.value.is_null() && r.raw.first() == Some(&b'{') => {
                crate::protocol::json_result::<Value>(&r.raw).unwrap_or_default()
            }
            Ok(r) => r.value,
            Err(_) => Value::Null,
        };
        match server::server_text(&value) {
            Some(text) => ServerFacts::from_server_text(text, fallback),
            None => ServerFacts::new(fallback),
        }
    }
}

impl Reply for Probe {
    type Out = ServerFacts;
    fn judge(&self, buf: &mut Vec<u8>, at_end: bool) -> Option<Result<ServerFacts>> {
        let generation = self.0.generation();
        #[cfg(feature = "http")]
        if self.0.framing() == Framing::HttpXml {
            return Some(xml_facts(buf));
        }
        // A 1.x/2.x datagram server answers JSON with `500 command not available`.
        if self.0.framing() == Framing::Datagram
            && generation == Generation::JsonRpc
            && legacy::looks_like_reply(buf)
        {
            return Some(Ok(ServerFacts::new(server::Generation::V2)));
        }
        match self.0.judge(buf, at_end)? {
            Ok(r) => Some(Ok(self.facts(&r))),
            Err(Error::Rpc(_) | Error::Command(_)) => {
                Some(Ok(ServerFacts::new(match generation {
                    Generation::JsonRpc => server::Generation::V3,
                    Generation::Legacy => server::Generation::V2,
                })))
            }
            Err(e) => Some(Err(e)),
        }
    }
    fn at_deadline(&self, buf: Vec<u8>, total: Duration) -> Result<ServerFacts> {
        // a `version` reply is tiny: a big unfinished one (a flood) is not worth a scan
        if buf.len() > 64 * 1024 {
            return Err(Error::malformed(
                format!(
                    "the reply was cut short: still incomplete when the {:.3}s timeout \
                     expired (an answer to `version` of {} bytes: not an OpenSIPS MI reply)",
                    total.as_secs_f64(),
                    buf.len()
                ),
                &buf,
            ));
        }
        self.0.at_deadline(buf, total).map(|r| self.facts(&r))
    }
}

/// The generation of an XML-RPC server from its answer to a `version` call: 3.x/4.x type
/// their values (`<string>`), 2.x `mi_xmlrpc_ng` writes bare text, the 1.x `mi_xmlrpc`
/// sends one string of tree lines (`Server:: OpenSIPS (1.11.11…)\n`).
#[cfg(feature = "http")]
fn xml_facts(buf: &[u8]) -> Result<ServerFacts> {
    use crate::protocol::xmlrpc;
    use server::Generation as G;
    match xmlrpc::decode_reply(buf) {
        Ok(r) if server::looks_1x(&r.value) => {
            let text = r.value.as_str().unwrap_or_default();
            let server = text
                .lines()
                .find_map(|l| l.strip_prefix("Server:: "))
                .unwrap_or_default();
            Ok(ServerFacts::from_server_text(server, G::V1))
        }
        Ok(r) if server::has_untyped_value(buf) => {
            let v = xmlrpc::normalize_legacy(r.value);
            Ok(match server::server_text(&v) {
                Some(t) => ServerFacts::from_server_text(t, G::V2),
                None => ServerFacts::new(G::V2),
            })
        }
        Ok(r) => Ok(match server::server_text(&r.value) {
            Some(t) => ServerFacts::from_server_text(t, G::V3),
            None => ServerFacts::new(G::V3),
        }),
        Err(Error::Rpc(e)) if e.code == -506 || e.code == -501 => Ok(ServerFacts::new(G::V1)),
        Err(Error::Command(e)) if e.code == 401 && e.message == "Empty request" => {
            Ok(ServerFacts::new(G::V2))
        }
        Err(e) => Err(e),
    }
}

impl<T: Transport> Session<T> {
    pub(crate) fn new(transport: T, timeout: Duration, protocol: Protocol) -> Self {
        Session {
            transport,
            timeout,
            protocol: ProtocolChoice::new(protocol),
            ids: IdGenerator::new(),
            commands: CommandCache::default(),
        }
    }

    /// The one request path: encode, exchange, decode. Logged through the `log` facade:
    /// each call at debug level, the bytes at trace level (URLs never carry credentials,
    /// HTTP headers are not logged).
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        cmd.validate()?;
        self.call(&Call::of(cmd))
    }

    /// [`Session::execute`] of a checked call.
    fn call(&self, cmd: &Call<'_>) -> Result<Response> {
        if cmd.method.is_empty() {
            return Err(Error::invalid_request("empty method name"));
        }
        // One deadline for the whole call, detection included (a first call on a server
        // that never answers takes the call's timeout, not the connection's on top).
        let deadline = Deadline::after(cmd.timeout.unwrap_or(self.timeout));
        let generation = self.generation_within(&deadline)?;
        self.execute_in(cmd, generation, &deadline)
    }

    /// [`Session::execute`] in `generation`.
    fn execute_as(&self, cmd: &Cmd, generation: Generation) -> Result<Response> {
        let deadline = Deadline::after(cmd.get_timeout().unwrap_or(self.timeout));
        self.execute_in(&Call::of(cmd), generation, &deadline)
    }

    /// [`Session::execute`] in `generation`, by `deadline`.
    fn execute_in(
        &self,
        cmd: &Call<'_>,
        generation: Generation,
        deadline: &Deadline,
    ) -> Result<Response> {
        let framing = self.transport.framing();
        let mut codec = Codec::new(framing, generation, self.ids.next_id(), cmd.decode);
        if self
            .protocol
            .facts()
            .is_some_and(|f| f.generation == server::Generation::V1)
        {
            codec = codec.for_1x(cmd.method);
        }
        if self.protocol.facts().is_some() {
            codec = codec.confirmed();
        }
        if !cmd.keep_raw && !log::log_enabled!(log::Level::Trace) {
            // nobody reads the reply's bytes (the trace log below would)
            codec = codec.without_raw();
        }
        let encode = |reply_to: Option<&str>| {
            let request = codec.encode(cmd.method, cmd.params, reply_to)?;
            if log::log_enabled!(log::Level::Trace) {
                log::trace!(
                    "{} request: {}",
                    self.transport.endpoint(),
                    crate::error::excerpt(&request)
                );
            }
            Ok(request)
        };
        let started = log::log_enabled!(log::Level::Debug).then(std::time::Instant::now);
        let result = self
            .transport
            .exchange(&encode, &codec, deadline)
            .map_err(|e| self.explain(e, generation));
        if let Some(started) = started {
            let endpoint = self.transport.endpoint();
            let took = started.elapsed();
            match &result {
                Ok(r) => {
                    log::debug!("{endpoint} {}: {} in {took:?}", cmd.method, r.code);
                    log::trace!("{endpoint} reply: {}", crate::error::excerpt(&r.raw));
                }
                Err(e) => log::debug!("{endpoint} {}: {e} ({took:?})", cmd.method),
            }
        }
        result.map(|mut r| {
            if !cmd.keep_raw {
                // the bytes are decoded: a kept response does not hold the reply twice
                r.raw = Vec::new();
            }
            r
        })
    }

    /// Adds what the generation suggests to a transport's error.
    fn explain(&self, e: Error, generation: Generation) -> Error {
        let silent = matches!(
            &e,
            Error::Timeout { waiting_for, .. } if *waiting_for == "waiting for the reply"
        );
        // detected: the generation is right, whatever else is wrong
        let detected = self.protocol.facts().is_some();
        match (self.transport.framing(), generation) {
            (Framing::Fifo, _) if silent && detected => e.with_hint(
                "OpenSIPS took the request but did not answer: slow or async commands \
                 (t_uac_dlg) need a longer timeout, and 3.x/4.x drop requests they cannot parse",
            ),
            (Framing::Fifo, Generation::JsonRpc) if silent => e.with_hint(
                "OpenSIPS took the request but did not answer. An OpenSIPS 1.x/2.x server \
                 ignores JSON-RPC: use ?protocol=legacy, or leave ?protocol= out (the \
                 generation is then detected). Is reply_dir the server's reply_dir? 3.x/4.x \
                 drop requests they cannot parse, and slow or async commands (t_uac_dlg) need \
                 a longer timeout",
            ),
            (Framing::Fifo, Generation::Legacy) if silent => e.with_hint(
                "OpenSIPS took the request but did not answer. An OpenSIPS 3.x/4.x server \
                 ignores the legacy text MI: drop ?protocol=legacy (the generation is then \
                 detected). Is reply_dir the server's reply_dir? Slow or async commands \
                 (t_uac_dlg) need a longer timeout",
            ),
            _ => e,
        }
    }

    /// The generation to speak, detected once for [`Protocol::Auto`] (and for legacy
    /// XML-RPC, where the 1.x and 2.x modules differ).
    fn generation(&self) -> Result<Generation> {
        self.generation_within(&Deadline::after(self.timeout))
    }

    /// [`Session::generation`], detecting by `deadline`.
    fn generation_within(&self, deadline: &Deadline) -> Result<Generation> {
        let xml = self.transport.framing() == Framing::HttpXml;
        self.protocol.resolve(xml, || self.detect(deadline))
    }

    /// What the connection knows about its server, probing it (`version`) the first time.
    fn server(&self) -> Result<ServerFacts> {
        self.protocol
            .learn(|| {
                if self.transport.framing() == Framing::HttpJson {
                    // nothing to detect: ask the release
                    let c = Cmd::new("version").timeout(self.timeout);
                    let r = self.execute_as(&c, Generation::JsonRpc)?;
                    let probe = Probe(Codec::new(Framing::HttpJson, Generation::JsonRpc, 0, true));
                    return Ok(probe.facts(&r));
                }
                self.detect(&Deadline::after(self.timeout))
            })
            .cloned()
    }

    /// Finds the generation within the connection's timeout, without ever leaving a
    /// server of either generation in a bad state (PROTOCOL.md §6.1):
    ///
    /// * FIFO: first a JSON-RPC `version` ending in an empty line (3.x/4.x answer it; 2.x
    ///   consumes it up to the empty line and ignores it). Only if it stays unanswered for
    ///   a third of the timeout (at most 1 s), a 2.x `version` request. Its reply FIFO is
    ///   named with digits, so that even if a slow 3.x/4.x server reads both requests at
    ///   once, the tail after the JSON (`:version:1234…\n\n`) parses as a request whose
    ///   parameters are a number, instead of staying in mi_fifo's buffer and wedging it.
    ///   Both reply FIFOs are heard until the deadline.
    /// * Datagram: a JSON-RPC `version`; 1.x/2.x answer `500 command not available`, and
    ///   then a legacy `version` tells 1.x from 2.x.
    /// * XML-RPC: `version`, whose values 3.x/4.x type, 2.x does not, and which 1.x sends
    ///   as one flat string.
    ///
    /// The `version` reply also gives the release ([`ServerFacts`]).
    fn detect(&self, deadline: &Deadline) -> Result<ServerFacts> {
        let budget = deadline.total();
        // a 3.x/4.x FIFO busy with another client's big reply must not get the 2.x probe
        // too soon: at least 250 ms (within the deadline), at most 1 s
        let first_patience = (budget / 3).clamp(Duration::from_millis(250), Duration::from_secs(1));
        let framing = self.transport.framing();
        let version = |codec: &Codec, reply_to: Option<&str>| {
            codec.encode("version", &Params::None, reply_to)
        };
        // undecoded: only a whole reply is read for its `Server` (a flood is not)
        let json = Probe(Codec::new(
            framing,
            Generation::JsonRpc,
            self.ids.next_id(),
            false,
        ));
        let legacy = Probe(Codec::new(framing, Generation::Legacy, 0, false));
        let json_encode = |to: Option<&str>| version(&json.0, to);
        let legacy_encode = |to: Option<&str>| version(&legacy.0, to);
        let stages: &[Stage<'_, Probe>] = match framing {
            Framing::Fifo => &[
                Stage {
                    encode: &json_encode,
                    reply: &json,
                    patience: first_patience,
                    digits: false,
                },
                Stage {
                    encode: &legacy_encode,
                    reply: &legacy,
                    patience: budget,
                    digits: true,
                },
            ],
            Framing::Datagram | Framing::HttpXml => &[Stage {
                encode: &json_encode,
                reply: &json,
                patience: budget,
                digits: false,
            }],
            Framing::HttpJson => return Ok(ServerFacts::new(server::Generation::V3)),
        };
        let hint = |e: Error| {
            e.with_hint(
                "neither generation's `version` was answered while detecting the MI \
                 protocol: is OpenSIPS' MI module serving this endpoint (and, for a FIFO, \
                 is reply_dir its reply directory)?",
            )
        };
        let facts = self
            .transport
            .exchange_staged(stages, deadline)
            .map_err(hint)?;
        if facts.version.is_none() && framing == Framing::Datagram && facts.generation.is_legacy() {
            // `500 command not available` told 1.x/2.x: the legacy `version` tells which
            let stage = [Stage {
                encode: &legacy_encode,
                reply: &legacy,
                patience: budget,
                digits: false,
            }];
            return self
                .transport
                .exchange_staged(&stage, deadline)
                .map_err(hint);
        }
        Ok(facts)
    }
}

/// What [`Connection`](crate::Connection) asks of any session, whatever its transport.
pub(crate) trait SessionApi: Send + Sync {
    fn execute(&self, cmd: &Cmd) -> Result<Response>;
    /// `method` with `params` (`Connection::command`), without building a [`Cmd`].
    fn command(&self, method: &str, params: &Params) -> Result<Response>;
    fn generation(&self) -> Result<Generation>;
    fn server(&self) -> Result<ServerFacts>;
    /// The message format when it is known without asking: given, or detected already.
    fn known(&self) -> Option<Generation>;
    fn timeout(&self) -> Duration;
    fn set_timeout(&mut self, timeout: Duration);
    fn commands(&self) -> &CommandCache;
    fn endpoint(&self) -> String;
}

impl<T: Transport> SessionApi for Session<T> {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        Session::execute(self, cmd)
    }
    fn command(&self, method: &str, params: &Params) -> Result<Response> {
        Session::call(self, &Call::plain(method, params))
    }
    fn generation(&self) -> Result<Generation> {
        Session::generation(self)
    }
    fn server(&self) -> Result<ServerFacts> {
        Session::server(self)
    }
    fn known(&self) -> Option<Generation> {
        match self.protocol.configured() {
            Protocol::JsonRpc => Some(Generation::JsonRpc),
            Protocol::Legacy => Some(Generation::Legacy),
            _ => self
                .protocol
                .facts()
                .map(|f| Generation::from(f.generation)),
        }
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
    fn commands(&self) -> &CommandCache {
        &self.commands
    }
    fn endpoint(&self) -> String {
        self.transport.endpoint()
    }
}

/// A connection to OpenSIPS `mi_fifo`: JSON-RPC framing (3.x/4.x) or the legacy text
/// framing (1.x/2.x).
#[derive(Debug)]
pub struct FifoConnection(pub(crate) Session<FifoTransport>);

impl FifoConnection {
    /// `mi_fifo` at `path` with `options` (e.g. `Options::builder().reply_dir(..)`, or
    /// [`Options::default()`]: reply dir `/tmp/`, 5 s timeout). A [`Connection`](crate::Connection)
    /// is made from it with `Connection::from`; [`Connection::open`](crate::Connection::open)
    /// with a `fifo://` URL does the same.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, FifoConnection, MiCommands, Options};
    /// let server = opensips_mi::mock::MockServer::builder().fifo().start()?;
    /// let fifo = FifoConnection::open(
    ///     server.fifo_path().unwrap(),
    ///     Options::builder().reply_dir(server.reply_dir()),
    /// )?;
    /// assert_eq!(fifo.reply_dir(), server.reply_dir());
    /// let conn = Connection::from(fifo);
    /// assert!(conn.uptime().is_ok());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for unusable options. Nothing is opened until the first call.
    pub fn open(path: impl AsRef<Path>, options: impl Into<Options>) -> Result<FifoConnection> {
        let options = options.into();
        options.check()?;
        let transport = FifoTransport::new(
            path.as_ref().to_path_buf(),
            options.reply_dir,
            options.reply_fifo,
            options.max_reply,
            crate::access::Trust::new(options.server_user.as_deref())?,
            options.world_replies,
        )?;
        Ok(FifoConnection(Session::new(
            transport,
            options.timeout,
            options.protocol,
        )))
    }

    /// The server FIFO path.
    pub fn path(&self) -> &Path {
        self.0.transport.path()
    }

    /// The directory reply FIFOs are created in (the server's `reply_dir`).
    pub fn reply_dir(&self) -> &Path {
        self.0.transport.reply_dir()
    }
}

/// A connection to OpenSIPS `mi_datagram` over UDP.
#[derive(Debug)]
pub struct UdpConnection(pub(crate) Session<UdpTransport>);

impl UdpConnection {
    /// `mi_datagram` over UDP at `addr` (the first address it resolves to) with `options`
    /// ([`Options::default()`] for the defaults). `Connection::from` makes a
    /// [`Connection`](crate::Connection) of it.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, MiCommands, Options, UdpConnection};
    /// let server = opensips_mi::mock::MockServer::builder().udp().start()?;
    /// let udp = UdpConnection::open(server.udp_addr().unwrap(), Options::default())?;
    /// assert_eq!(udp.addr(), server.udp_addr().unwrap());
    /// assert!(Connection::from(udp).uptime().is_ok());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the address does not resolve or the options are
    /// unusable; I/O errors binding the local socket.
    pub fn open(addr: impl ToSocketAddrs, options: impl Into<Options>) -> Result<UdpConnection> {
        let options = options.into();
        options.check()?;
        let transport = UdpTransport::udp(crate::url::resolve(addr)?, options.datagram_buffer)?;
        Ok(UdpConnection(Session::new(
            transport,
            options.timeout,
            options.protocol,
        )))
    }

    /// The server address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.0.transport.server()
    }
}

/// A connection to OpenSIPS `mi_datagram` over a unix datagram socket.
#[derive(Debug)]
pub struct UnixDatagramConnection(pub(crate) Session<UnixTransport>);

impl UnixDatagramConnection {
    /// `mi_datagram` over the unix datagram socket at `path` with `options`. A private
    /// reply socket is bound in [`Options::reply_socket_dir`] (default: the system
    /// temporary directory) and removed when the connection is dropped.
    /// `Connection::from` makes a [`Connection`](crate::Connection) of it.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, MiCommands, Options, UnixDatagramConnection};
    /// let server = opensips_mi::mock::MockServer::builder().unix().start()?;
    /// let unix = UnixDatagramConnection::open(server.unix_path().unwrap(), Options::default())?;
    /// assert_eq!(unix.path(), server.unix_path().unwrap());
    /// assert!(Connection::from(unix).uptime().is_ok());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for unusable options; I/O or permission errors binding the
    /// reply socket.
    pub fn open(
        path: impl AsRef<Path>,
        options: impl Into<Options>,
    ) -> Result<UnixDatagramConnection> {
        let options = options.into();
        options.check()?;
        let transport = UnixTransport::unix(
            path.as_ref().to_path_buf(),
            &options.reply_socket_dir,
            options.datagram_buffer,
            crate::access::Trust::new(options.server_user.as_deref())?,
            options.world_replies,
        )?;
        Ok(UnixDatagramConnection(Session::new(
            transport,
            options.timeout,
            options.protocol,
        )))
    }

    /// The server socket path.
    pub fn path(&self) -> &Path {
        self.0.transport.server()
    }

    /// The path this connection currently receives replies on (removed on drop, and
    /// replaced after a timeout).
    pub fn reply_path(&self) -> PathBuf {
        self.0.transport.reply_path()
    }
}

/// A connection to OpenSIPS over HTTP: `mi_http` or XML-RPC.
#[cfg(feature = "http")]
#[derive(Debug)]
pub struct HttpConnection(pub(crate) Session<HttpTransport>);

#[cfg(feature = "http")]
impl HttpConnection {
    /// `mi_http` (JSON-RPC) at an `http://` or `https://` URL (`http://127.0.0.1:8888/mi`;
    /// an empty path means `/mi`), or XML-RPC (`mi_xmlrpc` in 4.0, `mi_xmlrpc_ng` in
    /// 2.x/3.x) at an `xmlrpc://` or `xmlrpcs://` URL (an empty path means `/RPC2`), with
    /// `options`. `user:password@` gives Basic credentials, and the URL's parameters
    /// override `options` as in [`Connection::open`](crate::Connection::open). `https` needs
    /// the `tls` feature. Consecutive commands reuse one TCP connection.
    /// `Connection::from` makes a [`Connection`](crate::Connection) of it.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, HttpConnection, MiCommands, Options, Transport};
    /// let server = opensips_mi::mock::MockServer::builder().http().start()?;
    /// let xml = HttpConnection::open(&server.xmlrpc_url().unwrap(), Options::default())?;
    /// assert_eq!(xml.transport(), Transport::XmlRpc);
    /// let conn = Connection::from(xml);
    /// assert!(matches!(conn, Connection::Http(_)));
    /// assert_eq!(conn.transport(), Transport::XmlRpc);
    /// assert!(conn.uptime().is_ok());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an unusable URL (or one of another transport) or
    /// options. Nothing is connected until the first call.
    pub fn open(url: &str, options: impl Into<Options>) -> Result<HttpConnection> {
        let parsed = crate::url::parse_url(url, options.into())?;
        match parsed.target {
            crate::url::Target::Http(u) => Self::connect(&u, parsed.options, HttpKind::JsonRpc),
            crate::url::Target::XmlRpc(u) => Self::connect(&u, parsed.options, HttpKind::XmlRpc),
            _ => Err(Error::invalid_config(format!(
                "{:?} is not an HTTP URL (http://, https://, xmlrpc:// or xmlrpcs://): use \
                 Connection::open",
                crate::url::redact_url(url)
            ))),
        }
    }

    /// The endpoint URL (without credentials).
    pub fn url(&self) -> &str {
        self.0.transport.url()
    }

    /// [`Transport::Http`](crate::Transport::Http) (JSON-RPC, `mi_http`) or
    /// [`Transport::XmlRpc`](crate::Transport::XmlRpc).
    pub fn transport(&self) -> crate::Transport {
        match self.0.transport.kind() {
            HttpKind::JsonRpc => crate::Transport::Http,
            HttpKind::XmlRpc => crate::Transport::XmlRpc,
        }
    }
}

/// Builds an HTTP connection: credentials from the URL become a Basic header, an empty
/// path gets the module's default root.
#[cfg(feature = "http")]
impl HttpConnection {
    pub(crate) fn connect(
        url: &str,
        mut options: Options,
        protocol: HttpKind,
    ) -> Result<HttpConnection> {
        options.check()?;
        use crate::url::percent_decode;
        let bad = |why: &str| {
            Error::invalid_config(format!("HTTP URL {:?}: {why}", crate::url::redact_url(url)))
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected http://host:port/path"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        crate::url::check_http_authority(rest).map_err(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host = match authority.rsplit_once('@') {
            Some((creds, host)) => {
                let (user, pass) = creds.split_once(':').unwrap_or((creds, ""));
                let user =
                    percent_decode(user).ok_or_else(|| bad("invalid %-escape in the user"))?;
                let pass =
                    percent_decode(pass).ok_or_else(|| bad("invalid %-escape in the password"))?;
                options.set_authorization(crate::url::basic_auth(&user, &pass));
                host
            }
            None => authority,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = if path.is_empty() || path == "/" {
            match protocol {
                HttpKind::JsonRpc => "/mi",
                HttpKind::XmlRpc => "/RPC2",
            }
        } else {
            path
        };
        let tls = TlsSettings {
            ca_pem: options.ca_bundle()?,
            accept_invalid_certs: options.danger_accept_invalid_certs,
        };
        let url = format!("{scheme}://{host}{path}");
        let generation = match (protocol, options.protocol) {
            (HttpKind::JsonRpc, Protocol::Legacy) => {
                return Err(Error::invalid_config(format!(
                    "{url}: OpenSIPS 1.x/2.x have no JSON-RPC over HTTP (their mi_http is an HTML \
                 page); use the FIFO, datagram or XML-RPC (mi_xmlrpc_ng) transport"
                )));
            }
            // mi_http speaks JSON-RPC only: nothing to detect.
            (HttpKind::JsonRpc, _) => Protocol::JsonRpc,
            (HttpKind::XmlRpc, p) => p,
        };
        let mut headers = options.headers;
        if !options.keepalive {
            headers.push(("Connection".into(), "close".into()));
        }
        let transport = HttpTransport::new(
            url,
            protocol,
            options.timeout,
            headers,
            &tls,
            options.max_reply,
            options.keepalive,
        )?;
        Ok(HttpConnection(Session::new(
            transport,
            options.timeout,
            generation,
        )))
    }
}
