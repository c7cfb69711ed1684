//! [`Connection`]: one enum over every transport, each variant the same session around its
//! transport.

pub(crate) mod verify;

use std::time::Duration;

#[cfg(feature = "http")]
use crate::session::HttpConnection;
use crate::session::{
    CommandCache, FifoConnection, SessionApi, UdpConnection, UnixDatagramConnection,
};
#[cfg(feature = "http")]
use crate::transport::http::HttpKind;
use crate::url::{Target, parse_url};
use crate::{Cmd, ConnectionLike, Options, Params, Protocol, Response, Result};

/// The MI transport a connection uses (the OpenSIPS module it talks to). `Display` gives
/// its URL scheme (`fifo`, `udp`, `unix`, `http`, `xmlrpc`).
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{Connection, Transport};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Connection::open(&server.unix_url().unwrap())?;
/// assert_eq!(conn.transport(), Transport::UnixDatagram);
/// assert_eq!(conn.transport().to_string(), "unix");
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// `mi_fifo` (`fifo://`).
    Fifo,
    /// `mi_datagram` over UDP (`udp://`).
    Udp,
    /// `mi_datagram` over a unix datagram socket (`unix://`).
    UnixDatagram,
    /// `mi_http`: JSON-RPC over HTTP(S) (`http://`, `https://`).
    Http,
    /// `mi_xmlrpc` / `mi_xmlrpc_ng`: XML-RPC over HTTP(S) (`xmlrpc://`, `xmlrpcs://`).
    XmlRpc,
}

impl Transport {
    /// The URL scheme: `fifo`, `udp`, `unix`, `http` or `xmlrpc`.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Fifo => "fifo",
            Transport::Udp => "udp",
            Transport::UnixDatagram => "unix",
            Transport::Http => "http",
            Transport::XmlRpc => "xmlrpc",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.scheme())
    }
}

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
    /// Over HTTP(S) (feature `http`): `mi_http` (JSON-RPC) or `mi_xmlrpc` /
    /// `mi_xmlrpc_ng` (XML-RPC); [`HttpConnection::transport`] says which
    /// ([`Transport::Http`] or [`Transport::XmlRpc`]).
    #[cfg(feature = "http")]
    Http(HttpConnection),
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
    /// connection; or a generation, `1`…`4`, `1.x`…`4.x`: see [`Protocol`]'s `FromStr`), `reply_dir`, `reply_fifo`,
    /// `datagram_buffer` (or `buffer`; datagram bytes, [`OptionsBuilder::datagram_buffer`](crate::OptionsBuilder::datagram_buffer)),
    /// `reply_socket_dir`, `max_reply` (bytes), `keepalive` (HTTP), `server_user`,
    /// `world_replies`, e.g. `fifo:///run/opensips/fifo?reply_dir=/run/opensips/&timeout=2s`: one
    /// `?`, parameters joined with `&` ([`url_with_param`](crate::url_with_param) adds one
    /// to a URL that may already have some).
    ///
    /// **Timeouts, the one rule:** the most specific setting wins. A call's own timeout
    /// ([`Cmd::timeout`](crate::Cmd::timeout), [`SipRequest::timeout`](crate::sip::SipRequest::timeout),
    /// and the command line's `-t`, which is a timeout for every call of its run) beats
    /// [`Connection::set_timeout`], which beats the URL's `?timeout=`, which beats
    /// [`OptionsBuilder::timeout`](crate::OptionsBuilder::timeout) given to [`Connection::open_with`], which beats the default
    /// ([`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT), 5 s). A [`sip`](crate::sip) request
    /// always has a call's own timeout: [`DEFAULT_UAC_TIMEOUT`](crate::sip::DEFAULT_UAC_TIMEOUT)
    /// (35 s, longer than OpenSIPS' transaction timer) unless given another, so the
    /// connection's and the URL's do not shorten it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for a URL that cannot be used; socket errors for datagram
    /// transports (the local socket is bound here).
    pub fn open(url: &str) -> Result<Connection> {
        Self::open_with(url, Options::default())
    }

    /// Like [`Connection::open`], starting from `options`: the URL's parameters override
    /// them (a `?timeout=` beats [`OptionsBuilder::timeout`](crate::OptionsBuilder::timeout); [`Connection::set_timeout`] after
    /// opening beats both).
    ///
    /// # Errors
    ///
    /// As [`Connection::open`].
    pub fn open_with(url: &str, options: impl Into<Options>) -> Result<Connection> {
        let parsed = parse_url(url, options.into())?;
        match parsed.target {
            Target::Fifo(p) => FifoConnection::open(p, parsed.options).map(Connection::Fifo),
            Target::Udp(a) => UdpConnection::open(a, parsed.options).map(Connection::Udp),
            Target::Unix(p) => {
                UnixDatagramConnection::open(p, parsed.options).map(Connection::UnixDatagram)
            }
            #[cfg(feature = "http")]
            Target::Http(u) => {
                HttpConnection::connect(&u, parsed.options, HttpKind::JsonRpc).map(Connection::Http)
            }
            #[cfg(feature = "http")]
            Target::XmlRpc(u) => {
                HttpConnection::connect(&u, parsed.options, HttpKind::XmlRpc).map(Connection::Http)
            }
            #[cfg(not(feature = "http"))]
            Target::Http(_) | Target::XmlRpc(_) => Err(crate::Error::invalid_config(format!(
                "{url}: HTTP transports need the `http` feature of opensips-mi"
            ))),
        }
    }

    /// Runs `method` with `params` — the generic call. `params` can be `()`, an array or
    /// `Vec` of values (positional), or a [`Params`] (e.g. [`Params::named`]).
    ///
    /// # Errors
    ///
    /// See [`Error`](crate::Error): transport failures, timeouts, [`Error::Rpc`](crate::Error::Rpc) and [`Error::Command`](crate::Error::Command).
    pub fn command(&self, method: &str, params: impl Into<Params>) -> Result<Response> {
        // what `Cmd::with_params(method, params)` runs, without copying `method`
        self.session().command(method, &params.into())
    }

    /// The MI message format ([`Protocol`]) this connection speaks, never `Auto`: the
    /// configured one, or for [`Protocol::Auto`] the one the server's generation speaks (probing the server the first time, within the
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

    /// The transport: which OpenSIPS MI module this connection talks to.
    pub fn transport(&self) -> Transport {
        match self {
            Connection::Fifo(_) => Transport::Fifo,
            Connection::Udp(_) => Transport::Udp,
            Connection::UnixDatagram(_) => Transport::UnixDatagram,
            #[cfg(feature = "http")]
            Connection::Http(c) => c.transport(),
        }
    }
}

impl From<FifoConnection> for Connection {
    fn from(c: FifoConnection) -> Connection {
        Connection::Fifo(c)
    }
}

impl From<UdpConnection> for Connection {
    fn from(c: UdpConnection) -> Connection {
        Connection::Udp(c)
    }
}

impl From<UnixDatagramConnection> for Connection {
    fn from(c: UnixDatagramConnection) -> Connection {
        Connection::UnixDatagram(c)
    }
}

/// [`Connection::Http`], whichever of JSON-RPC or XML-RPC it speaks.
#[cfg(feature = "http")]
impl From<HttpConnection> for Connection {
    fn from(c: HttpConnection) -> Connection {
        Connection::Http(c)
    }
}

impl Connection {
    fn session(&self) -> &dyn SessionApi {
        match self {
            Connection::Fifo(c) => &c.0,
            Connection::Udp(c) => &c.0,
            Connection::UnixDatagram(c) => &c.0,
            #[cfg(feature = "http")]
            Connection::Http(c) => &c.0,
        }
    }

    fn session_mut(&mut self) -> &mut dyn SessionApi {
        match self {
            Connection::Fifo(c) => &mut c.0,
            Connection::Udp(c) => &mut c.0,
            Connection::UnixDatagram(c) => &mut c.0,
            #[cfg(feature = "http")]
            Connection::Http(c) => &mut c.0,
        }
    }

    /// The protocol when it is known without I/O: given (`?protocol=`) or detected already.
    pub(crate) fn known_protocol(&self) -> Option<Protocol> {
        self.session().known().map(Protocol::from)
    }

    fn command_cache(&self) -> &CommandCache {
        self.session().commands()
    }
}

impl ConnectionLike for Connection {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        self.session().execute(cmd)
    }

    fn server(&self) -> Result<crate::server::ServerFacts> {
        Connection::server(self)
    }

    fn wire_protocol(&self) -> Result<Protocol> {
        Connection::protocol(self)
    }

    fn command_exists(&self, name: &str) -> Result<bool> {
        self.command_cache()
            .exists(name, || verify::ask_exists(self, name))
    }

    fn command_names(&self) -> Result<Vec<String>> {
        self.command_cache()
            .names(|| crate::MiCommands::which(self))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
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
            assert!(
                matches!(target(bad), Err(Error::InvalidConfig { .. })),
                "{bad}"
            );
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
        let o = Options::builder()
            .bearer_token("t")
            .basic_auth("a", "bc")
            .build();
        assert_eq!(
            o.headers,
            vec![("Authorization".to_owned(), "Basic YTpiYw==".to_owned())]
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let e = Options::builder()
            .header("X-A", "1\r\nX-B: 2")
            .build()
            .check()
            .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        assert!(
            Options::builder()
                .header("Bad Name", "v")
                .build()
                .check()
                .is_err()
        );
        assert!(
            Options::builder()
                .header("X-Ok", "v")
                .build()
                .check()
                .is_ok()
        );
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
            let e =
                FifoConnection::open("/tmp/f", Options::builder().reply_fifo(name)).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{name}: {e}");
        }
        let long = "x".repeat(130);
        assert!(
            FifoConnection::open(
                "/tmp/f",
                Options::builder().reply_dir(format!("/tmp/{long}"))
            )
            .is_err()
        );
        assert!(
            FifoConnection::open("/tmp/f", Options::builder().timeout(Duration::ZERO)).is_err()
        );
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
