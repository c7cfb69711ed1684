//! [`Connection`]: one enum over every transport, [`Options`], and connection URLs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::verify::CommandCache;
use crate::transport::datagram::{DEFAULT_DATAGRAM_BUFFER, UdpConnection, UnixDatagramConnection};
use crate::transport::fifo::FifoConnection;
#[cfg(feature = "http")]
use crate::transport::http::{HttpConnection, HttpProtocol, TlsSettings};
use crate::{Cmd, ConnectionLike, Error, Params, Protocol, Response, Result};

/// The default timeout of every blocking step (open, write, read): 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings shared by all transports. Build with the consuming setters:
///
/// ```
/// use std::time::Duration;
/// use opensips_mi::Options;
/// let opts = Options::new().timeout(Duration::from_secs(2)).reply_dir("/run/opensips/");
/// assert_eq!(opts.timeout, Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Timeout of a whole call (open, write, read). Default 5 s; a [`Cmd::timeout`] overrides
    /// it for one call.
    pub timeout: Duration,
    /// FIFO: the server's `reply_dir`, where reply FIFOs are created. Default `/tmp/`.
    pub reply_dir: PathBuf,
    /// FIFO: a fixed reply FIFO name instead of a random one per call. Calls on the
    /// connection are then serialized. No `.`, `/`, `\` or `:`.
    pub reply_fifo: Option<String>,
    /// Datagram: the largest datagram sent or received. Default 65 457 (OpenSIPS 3.x;
    /// raise it to match 4.0's `socket_buf_size`).
    pub datagram_buffer: usize,
    /// Unix datagram: the directory of the client's reply socket. Default: the system
    /// temporary directory. OpenSIPS must be able to reach it.
    pub reply_socket_dir: PathBuf,
    /// HTTP: extra request headers (e.g. `Authorization` for a proxy in front of mi_http).
    pub headers: Vec<(String, String)>,
    /// HTTPS: PEM certificates to trust instead of the built-in web roots (a private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// HTTPS: skip certificate verification. Only for test setups with self-signed
    /// certificates: anyone on the path can then read and change the traffic.
    pub danger_accept_invalid_certs: bool,
    /// The MI generation: JSON-RPC (3.x/4.x, the default), legacy text (1.x/2.x), or
    /// detected once per connection.
    pub protocol: Protocol,
    /// FIFO and HTTP: the largest reply accepted (default [`DEFAULT_MAX_REPLY`], 1 GiB); a
    /// bigger one is cut off with [`Error::MalformedReply`] instead of filling memory.
    /// Datagram replies are bounded by [`Options::datagram_buffer`].
    pub max_reply: usize,
}

/// The default [`Options::max_reply`]: 1 GiB (a `ul_dump` of a few million contacts).
pub const DEFAULT_MAX_REPLY: usize = 1 << 30;

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: DEFAULT_TIMEOUT,
            reply_dir: PathBuf::from("/tmp/"),
            reply_fifo: None,
            datagram_buffer: DEFAULT_DATAGRAM_BUFFER,
            reply_socket_dir: std::env::temp_dir(),
            headers: Vec::new(),
            ca_pem: None,
            danger_accept_invalid_certs: false,
            protocol: Protocol::JsonRpc,
            max_reply: DEFAULT_MAX_REPLY,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`Options::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets [`Options::reply_dir`].
    #[must_use]
    pub fn reply_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reply_dir = dir.into();
        self
    }
    /// Sets [`Options::protocol`].
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }
    /// Sets [`Options::reply_fifo`].
    #[must_use]
    pub fn reply_fifo(mut self, name: impl Into<String>) -> Self {
        self.reply_fifo = Some(name.into());
        self
    }
    /// Sets [`Options::datagram_buffer`].
    #[must_use]
    pub fn datagram_buffer(mut self, bytes: usize) -> Self {
        self.datagram_buffer = bytes;
        self
    }
    /// Sets [`Options::max_reply`].
    #[must_use]
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }
    /// Sets [`Options::reply_socket_dir`].
    #[must_use]
    pub fn reply_socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reply_socket_dir = dir.into();
        self
    }

    /// Adds an HTTP request header (sent on every request of an HTTP connection).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// HTTP Basic authentication (OpenSIPS 4.0 httpd `auth_username`/`auth_password`, or a
    /// proxy in front of mi_http).
    #[must_use]
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        let value = basic_auth(user, password);
        self.set_authorization(value)
    }
    /// HTTP Bearer authentication (for a proxy in front of mi_http).
    #[must_use]
    pub fn bearer_token(self, token: &str) -> Self {
        self.set_authorization(format!("Bearer {token}"))
    }
    fn set_authorization(mut self, value: String) -> Self {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
        self.headers.push(("Authorization".into(), value));
        self
    }
    /// HTTPS: trust the CA certificates in this PEM text (instead of the web roots).
    #[must_use]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }
    /// HTTPS: trust the CA certificates in this PEM file.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the file cannot be read.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| {
            Error::InvalidConfig(format!("cannot read CA file {}: {e}", path.display()))
        })?;
        Ok(self.ca_pem(pem))
    }
    /// HTTPS: accept any certificate. Only for test setups with self-signed certificates.
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.danger_accept_invalid_certs = yes;
        self
    }

    fn check(&self) -> Result<()> {
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "the timeout must be greater than zero".into(),
            ));
        }
        for (k, v) in &self.headers {
            let bad_name = k.is_empty() || k.bytes().any(|b| !(b.is_ascii_graphic() && b != b':'));
            if bad_name || v.contains(['\r', '\n', '\0']) {
                return Err(Error::InvalidConfig(format!(
                    "HTTP header {k:?} cannot be sent: names are visible ASCII without ':', \
                     values have no CR, LF or NUL"
                )));
            }
        }
        if !(64..=16 * 1024 * 1024).contains(&self.datagram_buffer) {
            return Err(Error::InvalidConfig(format!(
                "datagram buffer {} is out of range (64 bytes to 16 MiB)",
                self.datagram_buffer
            )));
        }
        Ok(())
    }
}

/// A connection to one OpenSIPS Management Interface endpoint.
///
/// All methods take `&self`; a connection can be shared between threads (calls on one
/// datagram connection take turns, FIFO calls run in parallel with a reply FIFO each).
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{Connection, Params};
/// let server = opensips_mi::mock::MockServer::start()?;
///
/// for url in [server.fifo_url(), server.udp_url(), server.unix_url()] {
///     let conn = Connection::open(&url)?;
///     let reply = conn.command("get_statistics", [["dialog:", "tm:"]])?;
///     assert_eq!(reply.code, 200);
///     assert!(reply.value["tm:inuse_transactions"].as_i64().is_some());
/// }
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Connection {
    /// `mi_fifo`.
    Fifo(FifoConnection),
    /// `mi_datagram` over UDP.
    Udp(UdpConnection),
    /// `mi_datagram` over a unix datagram socket.
    UnixDatagram(UnixDatagramConnection),
    /// `mi_http`: JSON-RPC over HTTP(S) (feature `http`).
    #[cfg(feature = "http")]
    Http(HttpConnection),
    /// `mi_xmlrpc` / `mi_xmlrpc_ng`: XML-RPC over HTTP(S) (feature `http`).
    #[cfg(feature = "http")]
    XmlRpc(HttpConnection),
}

impl Connection {
    /// Opens a connection from a URL:
    ///
    /// | URL | transport |
    /// |---|---|
    /// | `fifo:///tmp/opensips_fifo` | `mi_fifo` at that path |
    /// | `udp://127.0.0.1:8809`, `udp://[::1]:8809`, `udp://host:8809` | `mi_datagram` over UDP |
    /// | `unix:///run/opensips/mi.sock` | `mi_datagram` over a unix socket |
    ///
    /// Query parameters set [`Options`]: `timeout` (seconds, or with an `ms`/`s` suffix),
    /// `reply_dir`, `reply_fifo`, `buffer` (datagram bytes), `reply_socket_dir`, `max_reply`
    /// (bytes), e.g.
    /// `fifo:///run/opensips/fifo?reply_dir=/run/opensips/&timeout=2s`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a URL that cannot be used; socket errors for datagram
    /// transports (the local socket is bound here).
    pub fn open(url: &str) -> Result<Connection> {
        Self::open_with(url, Options::default())
    }

    /// Like [`Connection::open`], starting from `options` (URL parameters override them).
    ///
    /// # Errors
    ///
    /// As [`Connection::open`].
    pub fn open_with(url: &str, options: Options) -> Result<Connection> {
        let parsed = parse_url(url, options)?;
        match parsed.target {
            Target::Fifo(p) => Self::fifo_with(p, parsed.options),
            Target::Udp(a) => Self::udp_with(a, parsed.options),
            Target::Unix(p) => Self::unix_datagram_with(p, parsed.options),
            #[cfg(feature = "http")]
            Target::Http(u) => Self::http_with(&u, parsed.options),
            #[cfg(feature = "http")]
            Target::XmlRpc(u) => Self::xmlrpc_with(&u, parsed.options),
            #[cfg(not(feature = "http"))]
            Target::Http(_) | Target::XmlRpc(_) => Err(Error::InvalidConfig(format!(
                "{url}: HTTP transports need the `http` feature of opensips-mi"
            ))),
        }
    }

    /// `mi_fifo` at `path`, with default options (reply dir `/tmp/`, 5 s timeout).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for unusable options. Nothing is opened until the first call.
    pub fn fifo(path: impl AsRef<Path>) -> Result<Connection> {
        Self::fifo_with(path, Options::default())
    }

    /// `mi_fifo` at `path` with `options`.
    ///
    /// # Errors
    ///
    /// As [`Connection::fifo`].
    pub fn fifo_with(path: impl AsRef<Path>, options: Options) -> Result<Connection> {
        options.check()?;
        FifoConnection::new(
            path.as_ref().to_path_buf(),
            options.reply_dir,
            options.reply_fifo,
            options.timeout,
            options.protocol,
        )
        .map(|c| Connection::Fifo(c.with_max_reply(options.max_reply)))
    }

    /// `mi_datagram` over UDP at `addr` (the first address it resolves to).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the address does not resolve; I/O errors binding the
    /// local socket.
    pub fn udp(addr: impl ToSocketAddrs) -> Result<Connection> {
        Self::udp_with(addr, Options::default())
    }

    /// `mi_datagram` over UDP with `options`.
    ///
    /// # Errors
    ///
    /// As [`Connection::udp`].
    pub fn udp_with(addr: impl ToSocketAddrs, options: Options) -> Result<Connection> {
        options.check()?;
        let addr = resolve(addr)?;
        UdpConnection::new(
            addr,
            options.timeout,
            options.datagram_buffer,
            options.protocol,
        )
        .map(Connection::Udp)
    }

    /// `mi_datagram` over the unix datagram socket at `path`. A private reply socket is
    /// bound in the system temporary directory and removed when the connection is dropped.
    ///
    /// # Errors
    ///
    /// I/O or permission errors binding the reply socket.
    pub fn unix_datagram(path: impl AsRef<Path>) -> Result<Connection> {
        Self::unix_datagram_with(path, Options::default())
    }

    /// `mi_datagram` over a unix socket with `options`.
    ///
    /// # Errors
    ///
    /// As [`Connection::unix_datagram`].
    pub fn unix_datagram_with(path: impl AsRef<Path>, options: Options) -> Result<Connection> {
        options.check()?;
        UnixDatagramConnection::new(
            path.as_ref().to_path_buf(),
            &options.reply_socket_dir,
            options.timeout,
            options.datagram_buffer,
            options.protocol,
        )
        .map(Connection::UnixDatagram)
    }

    /// `mi_http` (JSON-RPC over HTTP) at `url` (`http://127.0.0.1:8888/mi`; `https://` with
    /// the `tls` feature; `user:password@` gives Basic credentials; an empty path means `/mi`).
    /// Consecutive commands reuse one TCP connection.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an unusable URL or options. Nothing is connected until the
    /// first call.
    #[cfg(feature = "http")]
    pub fn http(url: &str) -> Result<Connection> {
        Self::http_with(url, Options::default())
    }

    /// `mi_http` at `url` with `options`.
    ///
    /// # Errors
    ///
    /// As [`Connection::http`].
    #[cfg(feature = "http")]
    pub fn http_with(url: &str, options: Options) -> Result<Connection> {
        http_connection(url, options, HttpProtocol::JsonRpc).map(Connection::Http)
    }

    /// XML-RPC (`mi_xmlrpc` in 4.0, `mi_xmlrpc_ng` in 2.x/3.x) at `url`
    /// (`http://127.0.0.1:8888/RPC2`; an empty path means `/RPC2`).
    ///
    /// # Errors
    ///
    /// As [`Connection::http`].
    #[cfg(feature = "http")]
    pub fn xmlrpc(url: &str) -> Result<Connection> {
        Self::xmlrpc_with(url, Options::default())
    }

    /// XML-RPC at `url` with `options`.
    ///
    /// # Errors
    ///
    /// As [`Connection::http`].
    #[cfg(feature = "http")]
    pub fn xmlrpc_with(url: &str, options: Options) -> Result<Connection> {
        http_connection(url, options, HttpProtocol::XmlRpc).map(Connection::XmlRpc)
    }

    /// Runs `method` with `params` — the generic call. `params` can be `()`, an array or
    /// `Vec` of values (positional), or a [`Params`] (e.g. [`Params::named`]).
    ///
    /// # Errors
    ///
    /// See [`Error`]: transport failures, timeouts, [`Error::Rpc`] and [`Error::Command`].
    pub fn command(&self, method: &str, params: impl Into<Params>) -> Result<Response> {
        self.execute(&Cmd::with_params(method, params))
    }

    /// The MI generation this connection speaks: the configured one, or for
    /// [`Protocol::Auto`] the detected one (probing the server the first time, within the
    /// connection's timeout; the result is cached).
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, Options, Protocol, mock::{Flavor, MockServer}};
    /// let legacy = MockServer::builder().flavor(Flavor::V2).fifo().start()?;
    /// let conn = Connection::open(&format!("{}&protocol=auto", legacy.fifo_url()))?;
    /// assert_eq!(conn.protocol()?, Protocol::Legacy);
    /// assert!(conn.command("uptime", ())?.value["Up time"].as_str().is_some());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The probe's errors (not running, timeout...).
    pub fn protocol(&self) -> Result<Protocol> {
        let generation = match self {
            Connection::Fifo(c) => c.generation()?,
            Connection::Udp(c) => c.generation()?,
            Connection::UnixDatagram(c) => c.generation()?,
            #[cfg(feature = "http")]
            Connection::Http(c) | Connection::XmlRpc(c) => c.generation()?,
        };
        Ok(generation.into())
    }

    /// The default timeout of this connection.
    pub fn timeout(&self) -> Duration {
        match self {
            Connection::Fifo(c) => c.timeout,
            Connection::Udp(c) => c.timeout(),
            Connection::UnixDatagram(c) => c.timeout(),
            #[cfg(feature = "http")]
            Connection::Http(c) | Connection::XmlRpc(c) => c.timeout,
        }
    }

    /// Changes the default timeout of this connection.
    pub fn set_timeout(&mut self, timeout: Duration) {
        match self {
            Connection::Fifo(c) => c.timeout = timeout,
            Connection::Udp(c) => c.set_timeout(timeout),
            Connection::UnixDatagram(c) => c.set_timeout(timeout),
            #[cfg(feature = "http")]
            Connection::Http(c) | Connection::XmlRpc(c) => c.set_timeout(timeout),
        }
    }

    /// The endpoint as a URL (`fifo:///tmp/opensips_fifo`, `udp://127.0.0.1:8809`, ...).
    pub fn endpoint(&self) -> String {
        match self {
            Connection::Fifo(c) => format!("fifo://{}", c.path().display()),
            Connection::Udp(c) => format!("udp://{}", c.server()),
            Connection::UnixDatagram(c) => format!("unix://{}", c.server().display()),
            #[cfg(feature = "http")]
            Connection::Http(c) => c.url().to_owned(),
            #[cfg(feature = "http")]
            Connection::XmlRpc(c) => c.url().replacen("http", "xmlrpc", 1),
        }
    }
}

impl Connection {
    /// Runs `cmd` without the [`Cmd::verified`] check.
    pub(crate) fn execute_unverified(&self, cmd: &Cmd) -> Result<Response> {
        match self {
            Connection::Fifo(c) => c.execute(cmd),
            Connection::Udp(c) => c.execute(cmd),
            Connection::UnixDatagram(c) => c.execute(cmd),
            #[cfg(feature = "http")]
            Connection::Http(c) | Connection::XmlRpc(c) => c.execute(cmd),
        }
    }

    pub(crate) fn command_cache(&self) -> &CommandCache {
        match self {
            Connection::Fifo(c) => &c.commands,
            Connection::Udp(c) => &c.commands,
            Connection::UnixDatagram(c) => &c.commands,
            #[cfg(feature = "http")]
            Connection::Http(c) | Connection::XmlRpc(c) => &c.commands,
        }
    }
}

impl ConnectionLike for Connection {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        cmd.validate()?;
        if cmd.verify {
            self.verify(cmd.method())?;
        }
        self.execute_unverified(cmd)
    }

    fn protocol(&self) -> Result<Protocol> {
        Connection::protocol(self)
    }
}

/// Builds an HTTP connection: credentials from the URL become a Basic header, an empty
/// path gets the module's default root.
#[cfg(feature = "http")]
fn http_connection(
    url: &str,
    mut options: Options,
    protocol: HttpProtocol,
) -> Result<HttpConnection> {
    options.check()?;
    let bad = |why: &str| Error::InvalidConfig(format!("HTTP URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected http://host:port/path"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((creds, host)) => {
            let (user, pass) = creds.split_once(':').unwrap_or((creds, ""));
            let user = percent_decode(user).ok_or_else(|| bad("invalid %-escape in the user"))?;
            let pass =
                percent_decode(pass).ok_or_else(|| bad("invalid %-escape in the password"))?;
            options = options.basic_auth(&user, &pass);
            host
        }
        None => authority,
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let path = if path.is_empty() || path == "/" {
        match protocol {
            HttpProtocol::JsonRpc => "/mi",
            HttpProtocol::XmlRpc => "/RPC2",
        }
    } else {
        path
    };
    let tls = TlsSettings {
        ca_pem: options.ca_pem.clone(),
        accept_invalid_certs: options.danger_accept_invalid_certs,
    };
    let url = format!("{scheme}://{host}{path}");
    HttpConnection::new(
        url,
        protocol,
        options.timeout,
        options.headers,
        &tls,
        options.protocol,
    )
    .map(|c| c.with_max_reply(options.max_reply))
}

fn resolve(addr: impl ToSocketAddrs) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|e| Error::InvalidConfig(format!("cannot resolve the datagram address: {e}")))?
        .next()
        .ok_or_else(|| Error::InvalidConfig("the datagram address resolves to nothing".into()))
}

#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    Fifo(PathBuf),
    Udp(String),
    Unix(PathBuf),
    /// An `http(s)://` URL without its query.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Http(String),
    /// The same for XML-RPC (given as `xmlrpc(s)://`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    XmlRpc(String),
}

#[derive(Debug)]
pub(crate) struct ParsedUrl {
    target: Target,
    options: Options,
}

pub(crate) fn parse_url(url: &str, mut options: Options) -> Result<ParsedUrl> {
    let bad = |why: &str| Error::InvalidConfig(format!("connection URL {url:?}: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        bad("expected scheme://..., e.g. fifo:///tmp/opensips_fifo or udp://127.0.0.1:8809")
    })?;
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
    let raw_location = location;
    let location = percent_decode(location).ok_or_else(|| bad("invalid %-escape"))?;
    let target = match scheme.to_ascii_lowercase().as_str() {
        "fifo" | "unix" => {
            if !location.starts_with('/') {
                return Err(bad(
                    "the path must be absolute (three slashes: fifo:///path)",
                ));
            }
            if scheme.eq_ignore_ascii_case("fifo") {
                Target::Fifo(PathBuf::from(location))
            } else {
                Target::Unix(PathBuf::from(location))
            }
        }
        "udp" => {
            if location.is_empty() || location.contains('/') {
                return Err(bad("expected udp://host:port"));
            }
            Target::Udp(location)
        }
        // Keep the raw location: credentials are %-decoded later, once split off.
        "http" | "https" => Target::Http(format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            raw_location
        )),
        "xmlrpc" => Target::XmlRpc(format!("http://{raw_location}")),
        "xmlrpcs" => Target::XmlRpc(format!("https://{raw_location}")),
        other => {
            return Err(bad(&format!(
                "unknown scheme {other:?} (use fifo, udp or unix)"
            )));
        }
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| bad("invalid %-escape"))?;
        match k {
            "timeout" => {
                options.timeout =
                    parse_duration(&v).ok_or_else(|| bad(&format!("bad timeout {v:?}")))?
            }
            "reply_dir" => options.reply_dir = PathBuf::from(v),
            "reply_fifo" => options.reply_fifo = Some(v),
            "buffer" => {
                options.datagram_buffer = v
                    .parse()
                    .map_err(|_| bad(&format!("bad buffer size {v:?}")))?;
            }
            "reply_socket_dir" => options.reply_socket_dir = PathBuf::from(v),
            "max_reply" => {
                options.max_reply = v
                    .parse()
                    .map_err(|_| bad(&format!("bad max_reply size {v:?}")))?;
            }
            "protocol" => options.protocol = v.parse()?,
            other => {
                return Err(bad(&format!(
                    "unknown parameter {other:?} (known: timeout, protocol, reply_dir, reply_fifo, \
                     buffer, reply_socket_dir)"
                )));
            }
        }
    }
    Ok(ParsedUrl { target, options })
}

/// `2`, `2.5`, `2s`, `500ms`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let secs = num.trim().parse::<f64>().ok()? * scale;
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

/// `Basic` credentials for an `Authorization` header (RFC 7617, UTF-8).
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<Target> {
        parse_url(url, Options::default()).map(|p| p.target)
    }

    #[test]
    fn urls() {
        assert_eq!(
            target("fifo:///tmp/opensips_fifo").unwrap(),
            Target::Fifo("/tmp/opensips_fifo".into())
        );
        assert_eq!(
            target("udp://127.0.0.1:8809").unwrap(),
            Target::Udp("127.0.0.1:8809".into())
        );
        assert_eq!(
            target("udp://[::1]:8809").unwrap(),
            Target::Udp("[::1]:8809".into())
        );
        assert_eq!(
            target("unix:///run/opensips/mi.sock").unwrap(),
            Target::Unix("/run/opensips/mi.sock".into())
        );
        assert_eq!(
            target("fifo:///tmp/with%20space").unwrap(),
            Target::Fifo("/tmp/with space".into())
        );
        for bad in [
            "",
            "fifo://relative",
            "ftp://x/mi",
            "udp://",
            "/tmp/opensips_fifo",
            "fifo:///x%zz",
            "udp://h:1/x",
        ] {
            assert!(matches!(target(bad), Err(Error::InvalidConfig(_))), "{bad}");
        }
    }

    #[test]
    fn basic_auth_encoding() {
        assert_eq!(basic_auth("miuser", "mipass"), "Basic bWl1c2VyOm1pcGFzcw==");
        assert_eq!(basic_auth("a", "bc"), "Basic YTpiYw==");
        assert_eq!(basic_auth("ab", "c"), "Basic YWI6Yw==");
        assert_eq!(basic_auth("", ""), "Basic Og==");
        let o = Options::new().bearer_token("t").basic_auth("a", "bc");
        assert_eq!(
            o.headers,
            vec![("Authorization".to_owned(), "Basic YTpiYw==".to_owned())]
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let e = Options::new()
            .header("X-A", "1\r\nX-B: 2")
            .check()
            .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
        assert!(Options::new().header("Bad Name", "v").check().is_err());
        assert!(Options::new().header("X-Ok", "v").check().is_ok());
    }

    #[test]
    fn url_options() {
        let p = parse_url(
            "fifo:///run/o/fifo?timeout=250ms&reply_dir=/run/o/&reply_fifo=myreply",
            Options::default(),
        )
        .unwrap();
        assert_eq!(p.options.timeout, Duration::from_millis(250));
        assert_eq!(p.options.reply_dir, PathBuf::from("/run/o/"));
        assert_eq!(p.options.reply_fifo.as_deref(), Some("myreply"));
        let p = parse_url(
            "udp://127.0.0.1:1?timeout=2&buffer=100000",
            Options::default(),
        )
        .unwrap();
        assert_eq!(
            (p.options.timeout, p.options.datagram_buffer),
            (Duration::from_secs(2), 100_000)
        );
        let e = parse_url("udp://127.0.0.1:1?tmeout=2", Options::default()).unwrap_err();
        assert!(
            e.to_string().contains("unknown parameter \"tmeout\""),
            "{e}"
        );
        assert!(parse_url("udp://127.0.0.1:1?timeout=-1", Options::default()).is_err());
    }

    #[test]
    fn bad_reply_fifo_names_are_refused() {
        for name in ["a.b", "a/b", "", "x:y"] {
            let e = Connection::fifo_with("/tmp/f", Options::new().reply_fifo(name)).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig(_)), "{name}: {e}");
        }
        let long = "x".repeat(130);
        assert!(
            Connection::fifo_with("/tmp/f", Options::new().reply_dir(format!("/tmp/{long}")))
                .is_err()
        );
        assert!(Connection::fifo_with("/tmp/f", Options::new().timeout(Duration::ZERO)).is_err());
    }
}

#[cfg(test)]
mod thread_safety {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn connections_are_send_and_sync() {
        assert_send_sync::<super::Connection>();
        assert_send_sync::<super::Options>();
        assert_send_sync::<crate::Cmd>();
        assert_send_sync::<crate::Response>();
    }
}
