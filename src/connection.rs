//! [`Connection`]: one enum over every transport, each variant the same session around its
//! transport.

use std::net::ToSocketAddrs;
use std::path::Path;
use std::time::Duration;

#[cfg(feature = "http")]
use crate::session::HttpConnection;
use crate::session::{
    CommandCache, FifoConnection, Session, SessionApi, UdpConnection, UnixDatagramConnection,
};
use crate::transport::datagram::{UdpTransport, UnixTransport};
use crate::transport::fifo::FifoTransport;
#[cfg(feature = "http")]
use crate::transport::http::{HttpProtocol, HttpTransport, TlsSettings};
use crate::url::{Target, parse_url, resolve};
use crate::{Cmd, ConnectionLike, Error, Options, Params, Protocol, Response, Result};

/// A connection to one OpenSIPS Management Interface endpoint.
///
/// Every method but [`Connection::set_timeout`] takes `&self`; a connection can be shared
/// between threads (calls on one
/// datagram connection take turns, FIFO calls run in parallel with a reply FIFO each).
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{Connection, Params};
/// let server = opensips_mi::mock::MockServer::start()?;
///
/// for url in [server.fifo_url().unwrap(), server.udp_url().unwrap(), server.unix_url().unwrap()] {
///     let conn = Connection::open(&url)?;
///     let reply = conn.command("get_statistics", [["dialog:", "tm:"]])?;
///     assert_eq!(reply.code(), 200);
///     assert!(reply.value()["tm:inuse_transactions"].as_i64().is_some());
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
    /// | `http://127.0.0.1:8888/mi`, `https://…` | `mi_http` (JSON-RPC; feature `http`, `https` needs `tls`) |
    /// | `xmlrpc://127.0.0.1:8888/RPC2`, `xmlrpcs://…` | `mi_xmlrpc` / `mi_xmlrpc_ng` (feature `http`) |
    ///
    /// Query parameters set [`Options`]: `timeout` (seconds, or with an `ms`/`s` suffix),
    /// `protocol` (`jsonrpc`, `legacy` for 1.x/2.x, `auto`, the default: detected once per
    /// connection), `reply_dir`, `reply_fifo`,
    /// `buffer` (datagram bytes), `reply_socket_dir`, `max_reply` (bytes), `keepalive`
    /// (HTTP), e.g. `fifo:///run/opensips/fifo?reply_dir=/run/opensips/&timeout=2s`: one
    /// `?`, parameters joined with `&` ([`url_with_param`](crate::url_with_param) adds one
    /// to a URL that may already have some).
    ///
    /// **Timeouts, the one rule:** the most specific setting wins. A call's own timeout
    /// ([`Cmd::timeout`](crate::Cmd::timeout), [`SipRequest::timeout`](crate::sip::SipRequest::timeout),
    /// and the command line's `-t`, which is a timeout for every call of its run) beats
    /// [`Connection::set_timeout`], which beats the URL's `?timeout=`, which beats
    /// [`Options::timeout`] given to [`Connection::open_with`], which beats the default
    /// ([`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT), 5 s). A [`sip`](crate::sip) request
    /// always has a call's own timeout: [`DEFAULT_UAC_TIMEOUT`](crate::sip::DEFAULT_UAC_TIMEOUT)
    /// (35 s, longer than OpenSIPS' transaction timer) unless given another, so the
    /// connection's and the URL's do not shorten it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a URL that cannot be used; socket errors for datagram
    /// transports (the local socket is bound here).
    pub fn open(url: &str) -> Result<Connection> {
        Self::open_with(url, Options::default())
    }

    /// Like [`Connection::open`], starting from `options`: the URL's parameters override
    /// them (a `?timeout=` beats [`Options::timeout`]; [`Connection::set_timeout`] after
    /// opening beats both).
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
        let transport = FifoTransport::new(
            path.as_ref().to_path_buf(),
            options.reply_dir,
            options.reply_fifo,
            options.max_reply,
            crate::access::Trust::new(options.server_user.as_deref())?,
            options.world_replies,
        )?;
        Ok(Connection::Fifo(FifoConnection(Session::new(
            transport,
            options.timeout,
            options.protocol,
        ))))
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
        let transport = UdpTransport::udp(resolve(addr)?, options.datagram_buffer)?;
        Ok(Connection::Udp(UdpConnection(Session::new(
            transport,
            options.timeout,
            options.protocol,
        ))))
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
        let transport = UnixTransport::unix(
            path.as_ref().to_path_buf(),
            &options.reply_socket_dir,
            options.datagram_buffer,
            crate::access::Trust::new(options.server_user.as_deref())?,
            options.world_replies,
        )?;
        Ok(Connection::UnixDatagram(UnixDatagramConnection(
            Session::new(transport, options.timeout, options.protocol),
        )))
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
    /// let conn = Connection::open(&format!("{}&protocol=auto", legacy.fifo_url().unwrap()))?;
    /// assert_eq!(conn.protocol()?, Protocol::Legacy);
    /// assert!(conn.command("uptime", ())?.into_value()["Up time"].as_str().is_some());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The probe's errors (not running, timeout...).
    pub fn protocol(&self) -> Result<Protocol> {
        self.session().generation().map(Protocol::from)
    }

    /// What this connection knows about its server: the generation and, once a `version`
    /// reply told it, the release ([`ServerFacts`](crate::server::ServerFacts)). Probes the
    /// server the first time (the safe `version` probe of [`Protocol::Auto`]) unless
    /// detection already ran; the result is kept.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, server::Generation, mock::{Flavor, MockServer}};
    /// let server = MockServer::builder().flavor(Flavor::V2).fifo().start()?;
    /// let conn = Connection::open(&server.fifo_url().unwrap())?;
    /// let facts = conn.server()?;
    /// assert_eq!(facts.generation, Generation::V2);
    /// assert_eq!(facts.version.as_deref(), Some("2.4.11"));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The probe's errors (not running, timeout...).
    pub fn server(&self) -> Result<crate::server::ServerFacts> {
        self.session().server()
    }

    /// The default timeout of this connection.
    pub fn timeout(&self) -> Duration {
        self.session().timeout()
    }

    /// Changes the default timeout of this connection (the one method that needs
    /// `&mut self`).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.session_mut().set_timeout(timeout);
    }

    /// The endpoint as a URL (`fifo:///tmp/opensips_fifo`, `udp://127.0.0.1:8809`, ...).
    pub fn endpoint(&self) -> String {
        self.session().endpoint()
    }
}

impl Connection {
    fn session(&self) -> &dyn SessionApi {
        match self {
            Connection::Fifo(c) => &c.0,
            Connection::Udp(c) => &c.0,
            Connection::UnixDatagram(c) => &c.0,
            #[cfg(feature = "http")]
            Connection::Http(c) | Connection::XmlRpc(c) => &c.0,
        }
    }

    fn session_mut(&mut self) -> &mut dyn SessionApi {
        match self {
            Connection::Fifo(c) => &mut c.0,
            Connection::Udp(c) => &mut c.0,
            Connection::UnixDatagram(c) => &mut c.0,
            #[cfg(feature = "http")]
            Connection::Http(c) | Connection::XmlRpc(c) => &mut c.0,
        }
    }

    /// The generation detection found, if it ran (never probes).
    pub(crate) fn detected_protocol(&self) -> Option<Protocol> {
        self.session().detected().map(Protocol::from)
    }

    /// Runs `cmd` without the [`Cmd::verified`] check.
    pub(crate) fn execute_unverified(&self, cmd: &Cmd) -> Result<Response> {
        self.session().execute(cmd)
    }

    pub(crate) fn command_cache(&self) -> &CommandCache {
        self.session().commands()
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

    fn server(&self) -> Result<crate::server::ServerFacts> {
        Connection::server(self)
    }

    fn server_owner(&self) -> Option<(u32, u32)> {
        let peer = match self {
            Connection::Fifo(c) => c.0.transport.server_owner(),
            Connection::UnixDatagram(c) => c.0.transport.server_owner(),
            _ => None,
        }?;
        Some((peer.uid, peer.gid))
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
    use crate::url::percent_decode;
    let bad = |why: &str| {
        Error::InvalidConfig(format!("HTTP URL {:?}: {why}", crate::url::redact_url(url)))
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
    let generation = match (protocol, options.protocol) {
        (HttpProtocol::JsonRpc, Protocol::Legacy) => {
            return Err(Error::InvalidConfig(format!(
                "{url}: OpenSIPS 1.x/2.x have no JSON-RPC over HTTP (their mi_http is an HTML \
                 page); use the FIFO, datagram or XML-RPC (mi_xmlrpc_ng) transport"
            )));
        }
        // mi_http speaks JSON-RPC only: nothing to detect.
        (HttpProtocol::JsonRpc, _) => Protocol::JsonRpc,
        (HttpProtocol::XmlRpc, p) => p,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::{ParsedUrl, basic_auth};
    use std::path::PathBuf;

    fn parse_url(url: &str, options: Options) -> Result<ParsedUrl> {
        crate::url::parse_url(url, options)
    }

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
    fn wrong_endpoint_messages() {
        let msg = |url: &str| target(url).unwrap_err().to_string();
        assert!(msg("udp://127.0.0.1").contains("missing port"));
        assert!(msg("udp://[::1]").contains("missing port"));
        assert!(target("udp://[::1]:8809").is_ok());
        let m = msg("tcp://127.0.0.1:8809");
        for scheme in ["fifo://", "udp://", "unix://", "http(s)://", "xmlrpc(s)://"] {
            assert!(m.contains(scheme), "{m}");
        }
        assert!(msg("http://127.0.0.1:8888/RPC2").contains("use xmlrpc://"));
        assert!(msg("xmlrpc://127.0.0.1:8888/mi").contains("use http://"));
        assert!(target("http://127.0.0.1:8888/mi").is_ok());
        assert!(target("xmlrpc://127.0.0.1:8888/RPC2").is_ok());
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
