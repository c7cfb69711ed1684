//! [`Connection`]: one enum over every transport, [`Options`], and connection URLs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transport::datagram::{DEFAULT_DATAGRAM_BUFFER, UdpConnection, UnixDatagramConnection};
use crate::transport::fifo::FifoConnection;
use crate::{Cmd, ConnectionLike, Error, Params, Response, Result};

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: DEFAULT_TIMEOUT,
            reply_dir: PathBuf::from("/tmp/"),
            reply_fifo: None,
            datagram_buffer: DEFAULT_DATAGRAM_BUFFER,
            reply_socket_dir: std::env::temp_dir(),
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
    /// Sets [`Options::reply_socket_dir`].
    #[must_use]
    pub fn reply_socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reply_socket_dir = dir.into();
        self
    }

    fn check(&self) -> Result<()> {
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "the timeout must be greater than zero".into(),
            ));
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
    /// `reply_dir`, `reply_fifo`, `buffer` (datagram bytes), `reply_socket_dir`, e.g.
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
        )
        .map(Connection::Fifo)
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
        UdpConnection::new(addr, options.timeout, options.datagram_buffer).map(Connection::Udp)
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
        )
        .map(Connection::UnixDatagram)
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

    /// The default timeout of this connection.
    pub fn timeout(&self) -> Duration {
        match self {
            Connection::Fifo(c) => c.timeout,
            Connection::Udp(c) => c.timeout(),
            Connection::UnixDatagram(c) => c.timeout(),
        }
    }

    /// Changes the default timeout of this connection.
    pub fn set_timeout(&mut self, timeout: Duration) {
        match self {
            Connection::Fifo(c) => c.timeout = timeout,
            Connection::Udp(c) => c.set_timeout(timeout),
            Connection::UnixDatagram(c) => c.set_timeout(timeout),
        }
    }

    /// The endpoint as a URL (`fifo:///tmp/opensips_fifo`, `udp://127.0.0.1:8809`, ...).
    pub fn endpoint(&self) -> String {
        match self {
            Connection::Fifo(c) => format!("fifo://{}", c.path().display()),
            Connection::Udp(c) => format!("udp://{}", c.server()),
            Connection::UnixDatagram(c) => format!("unix://{}", c.server().display()),
        }
    }
}

impl ConnectionLike for Connection {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        match self {
            Connection::Fifo(c) => c.execute(cmd),
            Connection::Udp(c) => c.execute(cmd),
            Connection::UnixDatagram(c) => c.execute(cmd),
        }
    }
}

fn resolve(addr: impl ToSocketAddrs) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|e| Error::InvalidConfig(format!("cannot resolve the datagram address: {e}")))?
        .next()
        .ok_or_else(|| Error::InvalidConfig("the datagram address resolves to nothing".into()))
}

#[derive(Debug, PartialEq)]
enum Target {
    Fifo(PathBuf),
    Udp(String),
    Unix(PathBuf),
}

#[derive(Debug)]
struct ParsedUrl {
    target: Target,
    options: Options,
}

fn parse_url(url: &str, mut options: Options) -> Result<ParsedUrl> {
    let bad = |why: &str| Error::InvalidConfig(format!("connection URL {url:?}: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        bad("expected scheme://..., e.g. fifo:///tmp/opensips_fifo or udp://127.0.0.1:8809")
    })?;
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
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
            other => {
                return Err(bad(&format!(
                    "unknown parameter {other:?} (known: timeout, reply_dir, reply_fifo, buffer, reply_socket_dir)"
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
            "http://x/mi",
            "udp://",
            "/tmp/opensips_fifo",
            "fifo:///x%zz",
            "udp://h:1/x",
        ] {
            assert!(matches!(target(bad), Err(Error::InvalidConfig(_))), "{bad}");
        }
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
