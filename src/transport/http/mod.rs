//! `mi_http` (JSON-RPC over HTTP POST) and `mi_xmlrpc` / `mi_xmlrpc_ng` (XML-RPC), with
//! keep-alive so consecutive commands reuse the TCP connection: plain `http://` through the
//! built-in client ([`client`]), `https://` and a proxy from the environment through one
//! `ureq` agent per connection.
//!
//! Real-server behaviour handled here (PROTOCOL.md §6.3–6.4, fixtures `3x/http`, `4x/http`):
//! JSON-RPC errors arrive as HTTP 200; non-200 answers (405, 400, 202) of 3.x/4.0 may send
//! their head and never finish a chunked body, so their body is never read — the status
//! alone becomes a clear error at once; a request body is always sent with
//! `Content-Length` and the right `Content-Type`.

mod client;

use std::time::Duration;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout,
    Transport as UreqTransport,
};

use super::{Deadline, Encode, Framing, Reply, Transport};
use crate::{Error, Result};

/// Which protocol rides on HTTP (the public name is [`Transport`](crate::Transport)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpKind {
    /// `mi_http`: JSON-RPC 2.0, `Content-Type: application/json`.
    JsonRpc,
    /// `mi_xmlrpc` (4.0) / `mi_xmlrpc_ng` (2.x, 3.x): XML-RPC, `Content-Type: text/xml`.
    XmlRpc,
}

/// TLS settings (feature `tls`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TlsSettings {
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) accept_invalid_certs: bool,
}

/// The HTTP transport: posts to one URL with keep-alive.
pub(crate) struct HttpTransport {
    via: Via,
    url: String,
    protocol: HttpKind,
    headers: Vec<(String, String)>,
    max_reply: usize,
}

/// Which HTTP client carries the requests.
enum Via {
    /// Plain `http://`, no proxy: the built-in client.
    Builtin(client::Client),
    /// `https://`, or a proxy from the environment: a `ureq` agent.
    Ureq {
        agent: ureq::Agent,
        /// The timeout the agent was built with.
        timeout: Duration,
    },
}

/// Whether a plain `http://` URL goes through ureq: when ureq would send it to a proxy
/// named by the environment (`ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`, unless `NO_PROXY`
/// names the host), `proxy` being `ureq::Proxy::try_from_env()`. A function of the proxy
/// so that it is tested without touching the process environment.
fn via_proxy(url: &str, proxy: Option<&ureq::Proxy>) -> bool {
    let Some(proxy) = proxy else {
        return false;
    };
    match url.parse::<ureq::http::Uri>() {
        Ok(uri) => !proxy.is_no_proxy(&uri),
        // ureq will say what is wrong with it
        Err(_) => true,
    }
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .field(
                "client",
                &match self.via {
                    Via::Builtin(_) => "built-in",
                    Via::Ureq { .. } => "ureq",
                },
            )
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl HttpTransport {
    pub(crate) fn new(
        url: String,
        protocol: HttpKind,
        timeout: Duration,
        headers: Vec<(String, String)>,
        tls: &TlsSettings,
        max_reply: usize,
        keepalive: bool,
    ) -> Result<Self> {
        let https = url.starts_with("https://");
        if !https && tls != &TlsSettings::default() {
            return Err(Error::invalid_config(format!(
                "{url}: TLS options (CA bundle, certificate checks) given for a plain http:// URL"
            )));
        }
        let content_type = match protocol {
            HttpKind::JsonRpc => "application/json",
            HttpKind::XmlRpc => "text/xml",
        };
        if !https && !via_proxy(&url, ureq::Proxy::try_from_env().as_ref()) {
            // a URL the built-in client cannot write as is goes to ureq, as before
            if let Some(client) =
                client::Client::new(&url, content_type, &headers, keepalive, max_reply)
            {
                return Ok(HttpTransport {
                    via: Via::Builtin(client),
                    url,
                    protocol,
                    headers,
                    max_reply,
                });
            }
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .user_agent(concat!("opensips-mi/", env!("CARGO_PKG_VERSION")));
        if !keepalive {
            config = config
                .max_idle_connections(0)
                .max_idle_connections_per_host(0);
        }
        if https {
            #[cfg(feature = "tls")]
            {
                config = config.tls_config(tls_config(tls)?);
            }
            #[cfg(not(feature = "tls"))]
            {
                let _ = tls;
                return Err(Error::invalid_config(format!(
                    "{url}: HTTPS needs the `tls` feature of opensips-mi"
                )));
            }
        }
        let connector = DefaultConnector::new().chain(OneWriteConnector);
        Ok(HttpTransport {
            via: Via::Ureq {
                agent: ureq::Agent::with_parts(
                    config.build(),
                    connector,
                    CachingResolver::default(),
                ),
                timeout,
            },
            url,
            protocol,
            headers,
            max_reply,
        })
    }

    /// The endpoint URL (without credentials).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// JSON-RPC or XML-RPC.
    pub(crate) fn kind(&self) -> HttpKind {
        self.protocol
    }

    /// POSTs `body` and returns the 200 reply's body.
    fn post(&self, body: Vec<u8>, deadline: &Deadline) -> Result<Vec<u8>> {
        let (agent, agent_timeout) = match &self.via {
            Via::Builtin(client) => return client.post(&body, deadline),
            Via::Ureq { agent, timeout } => (agent, *timeout),
        };
        let content_type = match self.protocol {
            HttpKind::JsonRpc => "application/json",
            HttpKind::XmlRpc => "text/xml",
        };
        let mut req = agent.post(&self.url).header("Content-Type", content_type);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        // A per-request config costs a quarter of the round trip: only for a timeout other
        // than the agent's.
        let sent = if deadline.total() == agent_timeout {
            req.send(&body[..])
        } else {
            req.config()
                .timeout_global(Some(deadline.total()))
                .build()
                .send(&body[..])
        };
        let mut resp = sent.map_err(|e| self.map_err(e, deadline))?;
        let status = resp.status().as_u16();
        if status != 200 {
            // Do not read the body: OpenSIPS never finishes it for 202/400/405.
            return Err(Error::Http {
                status,
                url: self.url.clone(),
                hint: status_hint(status, body.len()).map(Into::into),
            });
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(self.max_reply as u64)
            .read_to_vec()
            .map_err(|e| self.map_err(e, deadline))?;
        Ok(bytes)
    }

    fn map_err(&self, e: ureq::Error, deadline: &Deadline) -> Error {
        let url = self.url.clone();
        match e {
            ureq::Error::Timeout(_) => timed_out(deadline),
            ureq::Error::ConnectionFailed => Error::NotRunning {
                endpoint: url,
                reason: "cannot connect (is httpd listening on this address and port? its port \
                         defaults to 8888, and 4.0 binds 127.0.0.1 only)"
                    .into(),
            },
            ureq::Error::HostNotFound => Error::invalid_config(format!("{url}: host not found")),
            // rustls reports handshake and certificate failures as InvalidData.
            #[cfg(feature = "tls")]
            ureq::Error::Io(io)
                if io.kind() == std::io::ErrorKind::InvalidData && url.starts_with("https:") =>
            {
                tls_error(url, io.to_string())
            }
            ureq::Error::Io(io) => map_io(&url, io, deadline),
            ureq::Error::BodyExceedsLimit(n) => too_big(n),
            ureq::Error::Protocol(p) => not_http(p),
            #[cfg(feature = "tls")]
            ureq::Error::Rustls(t) => tls_error(url, t.to_string()),
            #[cfg(feature = "tls")]
            ureq::Error::Tls(t) => tls_error(url, t.to_string()),
            other => Error::io(
                format!("talking to {url}"),
                std::io::Error::other(other.to_string()),
            ),
        }
    }
}

/// What an I/O error talking to `url` means (both clients).
fn map_io(url: &str, io: std::io::Error, deadline: &Deadline) -> Error {
    use std::io::ErrorKind;
    match io.kind() {
        ErrorKind::ConnectionRefused => Error::NotRunning {
            endpoint: url.to_owned(),
            reason: "connection refused (is httpd with mi_http / mi_xmlrpc loaded and \
                     listening on this port?)"
                .into(),
        },
        ErrorKind::TimedOut | ErrorKind::WouldBlock => timed_out(deadline),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            closed_early()
        }
        _ => Error::io(format!("talking to {url}"), io),
    }
}

/// The call's deadline passed.
fn timed_out(deadline: &Deadline) -> Error {
    Error::timeout(deadline.total(), "waiting for the HTTP reply")
}

/// The server closed the connection before the reply was whole.
fn closed_early() -> Error {
    Error::MalformedReply {
        reason: "the server closed the connection without a complete HTTP reply \
                 (OpenSIPS does this for a wrong Content-Type or a chunked request)"
            .into(),
        excerpt: String::new(),
    }
}

/// The reply is bigger than `OptionsBuilder::max_reply`.
fn too_big(limit: impl std::fmt::Display) -> Error {
    Error::MalformedReply {
        reason: format!("the reply exceeds {limit} bytes (OptionsBuilder::max_reply)"),
        excerpt: String::new(),
    }
}

/// The reply is not HTTP/1.x as it should be.
fn not_http(why: impl std::fmt::Display) -> Error {
    Error::MalformedReply {
        reason: format!("not a valid HTTP reply: {why}"),
        excerpt: String::new(),
    }
}

impl Transport for HttpTransport {
    fn framing(&self) -> Framing {
        match self.protocol {
            HttpKind::JsonRpc => Framing::HttpJson,
            HttpKind::XmlRpc => Framing::HttpXml,
        }
    }

    fn endpoint(&self) -> String {
        match self.protocol {
            HttpKind::JsonRpc => self.url.clone(),
            HttpKind::XmlRpc => self.url.replacen("http", "xmlrpc", 1),
        }
    }

    fn exchange<R: Reply>(
        &self,
        encode: Encode<'_>,
        reply: &R,
        deadline: &Deadline,
    ) -> Result<R::Out> {
        let mut body = self.post(encode(None)?, deadline)?;
        match reply.judge(&mut body, true) {
            Some(result) => result,
            None => Err(Error::malformed(
                "the HTTP reply does not hold the answer to the request",
                &body,
            )),
        }
    }
}

/// Resolves a host once a minute at most, and an IP literal never: ureq's resolver spawns
/// a thread for every request whenever the call has a deadline, which cost more than the
/// whole round trip on a local server. A lookup still runs under the call's deadline.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: DefaultResolver,
    cache: std::sync::Mutex<Option<(String, std::time::Instant, ResolvedSocketAddrs)>>,
}

/// How long a looked-up address is reused.
const DNS_REUSE: Duration = Duration::from_secs(60);

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let host = uri.host().unwrap_or("");
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<std::net::IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(std::net::SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, at, addrs)) = cache.as_ref() {
            if *k == key && at.elapsed() < DNS_REUSE {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        *cache = Some((key, std::time::Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// Puts ureq's transport under one that sends each request in one write: ureq writes the
/// head and then the body, and OpenSIPS 3.x/4.0 httpd loses a body that reaches it in a
/// later TCP segment than its head (PROTOCOL.md §6.3). It sits on top of the chain, above
/// TLS, so HTTPS requests leave as one TLS write too.
#[derive(Debug)]
struct OneWriteConnector;

impl Connector<Box<dyn UreqTransport>> for OneWriteConnector {
    type Out = OneWrite;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn UreqTransport>>,
    ) -> std::result::Result<Option<OneWrite>, ureq::Error> {
        Ok(chained.map(|inner| OneWrite {
            inner,
            pending: Vec::new(),
            whole: None,
            probed: None,
        }))
    }
}

/// Holds what ureq transmits until the request (head and `Content-Length` body) is whole,
/// then sends it with one `transmit_output` (in as few as the output buffer allows).
#[derive(Debug)]
struct OneWrite {
    inner: Box<dyn UreqTransport>,
    pending: Vec<u8>,
    /// The length of the request being gathered, once its head is in.
    whole: Option<usize>,
    /// When the connection was last found open, with no I/O since: ureq probes it when
    /// it returns to the pool and again when the next call takes it, two probes (three
    /// system calls each) microseconds apart on back-to-back calls.
    probed: Option<std::time::Instant>,
}

/// How long a probe that found the connection open is trusted without I/O.
const PROBE_TRUST: Duration = Duration::from_millis(1);

impl UreqTransport for OneWrite {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.probed = None;
        self.pending
            .extend_from_slice(&self.inner.buffers().output()[..amount]);
        // the length is known once the head is in; the body may come in later calls
        if self.whole.is_none() {
            self.whole = request_length(&self.pending);
        }
        if self.whole.is_none_or(|len| self.pending.len() < len) {
            return Ok(());
        }
        self.whole = None;
        let mut sent = 0;
        let result = loop {
            if sent == self.pending.len() {
                break Ok(());
            }
            let buf = self.inner.buffers().output();
            let n = buf.len().min(self.pending.len() - sent);
            buf[..n].copy_from_slice(&self.pending[sent..sent + n]);
            if let Err(e) = self.inner.transmit_output(n, timeout) {
                break Err(e);
            }
            sent += n;
        };
        // keep the buffer's room for the next request
        self.pending.clear();
        result
    }

    fn maybe_await_input(
        &mut self,
        timeout: NextTimeout,
    ) -> std::result::Result<bool, ureq::Error> {
        self.probed = None;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.probed = None;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        if self.probed.is_some_and(|t| t.elapsed() < PROBE_TRUST) {
            return true;
        }
        let open = self.inner.is_open();
        self.probed = open.then(std::time::Instant::now);
        open
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// The length of the request at the start of `bytes` (head and `Content-Length` body) once
/// its head is whole; a request without `Content-Length` is its head alone.
fn request_length(bytes: &[u8]) -> Option<usize> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let length = bytes[..end]
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .trim_ascii()
                .eq_ignore_ascii_case(b"content-length")
                .then(|| {
                    std::str::from_utf8(line[colon + 1..].trim_ascii())
                        .ok()?
                        .parse()
                        .ok()
                })
                .flatten()
        })
        .next()
        .unwrap_or(0);
    Some(end + 4 + length)
}

#[cfg(feature = "tls")]
fn tls_error(url: String, message: String) -> Error {
    let hint = if message.contains("UnknownIssuer") || message.contains("certificate") {
        "the server's certificate is not trusted: give its CA with OptionsBuilder::ca_file / \
         OptionsBuilder::ca_pem (or, for a test setup only, OptionsBuilder::danger_accept_invalid_certs)"
    } else {
        "the TLS handshake failed: check that the port speaks TLS (httpd tls settings)"
    };
    Error::Tls {
        url,
        message,
        hint: hint.into(),
    }
}

#[cfg(feature = "tls")]
fn tls_config(tls: &TlsSettings) -> Result<ureq::tls::TlsConfig> {
    use std::sync::Arc;
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let mut b = TlsConfig::builder().provider(TlsProvider::Rustls);
    if let Some(pem) = &tls.ca_pem {
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::invalid_config(format!("CA bundle: {e}")))?;
        if certs.is_empty() {
            return Err(Error::invalid_config(
                "the CA bundle holds no PEM certificate",
            ));
        }
        b = b.root_certs(RootCerts::Specific(Arc::new(certs)));
    }
    if tls.accept_invalid_certs {
        b = b.disable_verification(true);
    }
    Ok(b.build())
}

fn status_hint(status: u16, body_len: usize) -> Option<&'static str> {
    Some(match status {
        401 => {
            "the server wants HTTP authentication (OpenSIPS 4.0 httpd auth_username / \
             auth_password, or a proxy in front): give credentials with OptionsBuilder::basic_auth, \
             OptionsBuilder::bearer_token or user:password@ in the URL"
        }
        403 => "the server or a proxy in front of it refuses this client",
        400 if body_len > 1024 => {
            "OpenSIPS answers 400 to request bodies larger than httpd's receive_buf_size \
             (1024 bytes by default in 4.0): raise modparam(\"httpd\", \"receive_buf_size\", N) \
             or use the FIFO transport; a wrong URL path also gives 400"
        }
        400 => {
            "OpenSIPS answers 400 for a URL path no module serves: check the path (mi_http root \
             defaults to /mi, mi_xmlrpc http_root to /RPC2)"
        }
        404 => "nothing serves this URL path: check it (mi_http root /mi, mi_xmlrpc /RPC2)",
        405 => "mi_http takes POST only: is this URL mi_html instead of mi_http?",
        500 => {
            "OpenSIPS could not build the reply, usually because it is larger than httpd's \
             buf_size: raise it, or use the FIFO transport for big replies"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_requests() {
        let head = b"POST /mi HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\n\r\n";
        let whole_at = |b: &[u8]| request_length(b).is_some_and(|n| b.len() >= n);
        assert!(!whole_at(&head[..20]));
        assert!(!whole_at(head));
        let mut whole = head.to_vec();
        whole.extend_from_slice(b"abcd");
        assert!(!whole_at(&whole));
        whole.push(b'e');
        assert!(whole_at(&whole));
        assert!(whole_at(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    }

    #[test]
    fn hints() {
        assert!(status_hint(400, 2000).unwrap().contains("receive_buf_size"));
        assert!(status_hint(401, 0).unwrap().contains("basic_auth"));
        assert!(status_hint(418, 0).is_none());
    }

    #[test]
    fn a_proxy_from_the_environment_keeps_ureq() {
        let url = "http://127.0.0.1:8888/mi";
        assert!(!via_proxy(url, None));
        let proxy = ureq::Proxy::new("http://proxy.example:3128").unwrap();
        assert!(via_proxy(url, Some(&proxy)));
        let bypass = ureq::Proxy::builder(ureq::ProxyProtocol::Http)
            .host("proxy.example")
            .port(3128)
            .no_proxy("127.0.0.1")
            .build()
            .unwrap();
        assert!(!via_proxy(url, Some(&bypass)));
        assert!(via_proxy("http://opensips.lan:8888/mi", Some(&bypass)));
    }

    #[test]
    fn which_client() {
        let open = |url: &str| {
            HttpTransport::new(
                url.into(),
                HttpKind::JsonRpc,
                Duration::from_secs(1),
                vec![],
                &TlsSettings::default(),
                1024,
                true,
            )
            .unwrap()
        };
        let builtin = |t: &HttpTransport| matches!(t.via, Via::Builtin(_));
        // (the environment of the test run may name a proxy: then ureq it is)
        let direct = ureq::Proxy::try_from_env().is_none();
        assert_eq!(builtin(&open("http://127.0.0.1:8888/mi")), direct);
        assert_eq!(builtin(&open("http://[::1]:8888/RPC2")), direct);
        // what the built-in client does not write as is stays with ureq
        assert!(!builtin(&open("http://127.0.0.1:8888/m%20i#x")));
        #[cfg(feature = "tls")]
        assert!(!builtin(&open("https://127.0.0.1:8443/mi")));
    }
}
