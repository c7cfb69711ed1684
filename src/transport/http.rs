//! `mi_http` (JSON-RPC over HTTP POST) and `mi_xmlrpc` / `mi_xmlrpc_ng` (XML-RPC), through
//! one `ureq` agent per connection so consecutive commands reuse the TCP connection.
//!
//! Real-server behaviour handled here (PROTOCOL.md §6.3–6.4, fixtures `3x/http`, `4x/http`):
//! JSON-RPC errors arrive as HTTP 200; non-200 answers (405, 400, 202) of 3.x/4.0 may send
//! their head and never finish a chunked body, so their body is never read — the status
//! alone becomes a clear error at once; a request body is always sent with
//! `Content-Length` and the right `Content-Type`.

use std::time::Duration;

use crate::protocol::jsonrpc::{self, IdGenerator};
use crate::protocol::xmlrpc;
use crate::protocol::{Generation, Protocol, ProtocolChoice};
use crate::transport::Deadline;
use crate::{Cmd, Error, Response, Result};

/// Which protocol rides on HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpProtocol {
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

/// A connection to OpenSIPS over HTTP: `mi_http` or XML-RPC.
pub struct HttpConnection {
    agent: ureq::Agent,
    url: String,
    protocol: HttpProtocol,
    pub(crate) timeout: Duration,
    /// The timeout the agent was built with.
    agent_timeout: Duration,
    headers: Vec<(String, String)>,
    ids: IdGenerator,
    generation: ProtocolChoice,
    pub(crate) commands: crate::helpers::verify::CommandCache,
    max_reply: usize,
}

impl std::fmt::Debug for HttpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConnection")
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl HttpConnection {
    pub(crate) fn new(
        url: String,
        protocol: HttpProtocol,
        timeout: Duration,
        headers: Vec<(String, String)>,
        tls: &TlsSettings,
        generation: Protocol,
    ) -> Result<Self> {
        let generation = match (protocol, generation) {
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
        let https = url.starts_with("https://");
        #[allow(unused_mut)]
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .user_agent(concat!("opensips-mi/", env!("CARGO_PKG_VERSION")));
        if https {
            #[cfg(feature = "tls")]
            {
                config = config.tls_config(tls_config(tls)?);
            }
            #[cfg(not(feature = "tls"))]
            {
                let _ = tls;
                return Err(Error::InvalidConfig(format!(
                    "{url}: HTTPS needs the `tls` feature of opensips-mi"
                )));
            }
        } else if tls != &TlsSettings::default() {
            return Err(Error::InvalidConfig(format!(
                "{url}: TLS options (CA bundle, certificate checks) given for a plain http:// URL"
            )));
        }
        Ok(HttpConnection {
            agent: config.build().into(),
            url,
            protocol,
            timeout,
            agent_timeout: timeout,
            headers,
            ids: IdGenerator::new(),
            generation: ProtocolChoice::new(generation),
            commands: Default::default(),
            max_reply: crate::connection::DEFAULT_MAX_REPLY,
        })
    }

    pub(crate) fn with_max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    pub(crate) fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// The endpoint URL (without credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// JSON-RPC or XML-RPC.
    pub fn protocol(&self) -> HttpProtocol {
        self.protocol
    }

    pub(crate) fn execute(&self, cmd: &Cmd) -> Result<Response> {
        cmd.validate()?;
        let deadline = Deadline::after(cmd.get_timeout().unwrap_or(self.timeout));
        let id = self.ids.next_id();
        let generation = self.generation()?;
        let (body, content_type) = match (self.protocol, generation) {
            (HttpProtocol::JsonRpc, _) => (
                jsonrpc::encode_request(cmd.method(), cmd.params(), id),
                "application/json",
            ),
            (HttpProtocol::XmlRpc, Generation::JsonRpc) => (
                xmlrpc::encode_request(cmd.method(), cmd.params())?,
                "text/xml",
            ),
            (HttpProtocol::XmlRpc, Generation::Legacy) => (
                xmlrpc::encode_request_legacy(cmd.method(), cmd.params())?,
                "text/xml",
            ),
        };
        let bytes = self.post(body, content_type, &deadline)?;
        match (self.protocol, generation) {
            (HttpProtocol::JsonRpc, _) => jsonrpc::decode_owned_with(bytes, id, cmd.decodes()),
            (HttpProtocol::XmlRpc, Generation::JsonRpc) => xmlrpc::decode_reply(&bytes),
            (HttpProtocol::XmlRpc, Generation::Legacy) => {
                xmlrpc::decode_reply(&bytes).map(|mut r| {
                    r.value = xmlrpc::normalize_legacy(std::mem::take(&mut r.value));
                    r
                })
            }
        }
    }

    /// The generation behind an XML-RPC endpoint (mi_http is always JSON-RPC).
    pub(crate) fn generation(&self) -> Result<Generation> {
        self.generation.resolve(|| self.detect())
    }

    /// Calls `version`: 3.x/4.x type their values (`<string>`), 2.x `mi_xmlrpc_ng` writes
    /// bare `<value>text</value>`.
    fn detect(&self) -> Result<Generation> {
        let deadline = Deadline::after(self.timeout);
        let body = xmlrpc::encode_request("version", &crate::Params::None)?;
        let bytes = self.post(body, "text/xml", &deadline)?;
        let text = String::from_utf8_lossy(&bytes);
        if text.contains("<name>Server</name><value><string>") {
            Ok(Generation::JsonRpc)
        } else if text.contains("<name>Server</name><value>") {
            Ok(Generation::Legacy)
        } else {
            Err(Error::malformed(
                "cannot tell the XML-RPC server's generation from its `version` reply",
                &bytes,
            ))
        }
    }

    /// POSTs `body` and returns the 200 reply's body.
    fn post(&self, body: Vec<u8>, content_type: &str, deadline: &Deadline) -> Result<Vec<u8>> {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", content_type);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        // A per-request config costs a quarter of the round trip: only for a timeout other
        // than the agent's.
        let sent = if deadline.total() == self.agent_timeout {
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
                hint: status_hint(status, body.len()),
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
        use std::io::ErrorKind;
        let url = self.url.clone();
        match e {
            ureq::Error::Timeout(_) => {
                Error::timeout(deadline.total(), "waiting for the HTTP reply")
            }
            ureq::Error::ConnectionFailed => Error::NotRunning {
                endpoint: url,
                reason: "cannot connect (is httpd listening on this address and port? its port \
                         defaults to 8888, and 4.0 binds 127.0.0.1 only)"
                    .into(),
            },
            ureq::Error::HostNotFound => Error::InvalidConfig(format!("{url}: host not found")),
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => Error::NotRunning {
                    endpoint: url,
                    reason: "connection refused (is httpd with mi_http / mi_xmlrpc loaded and \
                             listening on this port?)"
                        .into(),
                },
                ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                    Error::timeout(deadline.total(), "waiting for the HTTP reply")
                }
                ErrorKind::UnexpectedEof
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted => Error::MalformedReply {
                    reason: "the server closed the connection without a complete HTTP reply \
                                 (OpenSIPS does this for a wrong Content-Type or a chunked request)"
                        .into(),
                    excerpt: String::new(),
                },
                // rustls reports handshake and certificate failures as InvalidData.
                #[cfg(feature = "tls")]
                ErrorKind::InvalidData if url.starts_with("https:") => {
                    tls_error(url, io.to_string())
                }
                _ => Error::io(format!("talking to {url}"), io),
            },
            ureq::Error::BodyExceedsLimit(n) => Error::MalformedReply {
                reason: format!("the reply exceeds {n} bytes (Options::max_reply)"),
                excerpt: String::new(),
            },
            ureq::Error::Protocol(p) => Error::MalformedReply {
                reason: format!("not a valid HTTP reply: {p}"),
                excerpt: String::new(),
            },
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

#[cfg(feature = "tls")]
fn tls_error(url: String, message: String) -> Error {
    let hint = if message.contains("UnknownIssuer") || message.contains("certificate") {
        "the server's certificate is not trusted: give its CA with Options::ca_file / \
         Options::ca_pem (or, for a test setup only, Options::danger_accept_invalid_certs)"
    } else {
        "the TLS handshake failed: check that the port speaks TLS (httpd tls settings)"
    };
    Error::Tls { url, message, hint }
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
            .map_err(|e| Error::InvalidConfig(format!("CA bundle: {e}")))?;
        if certs.is_empty() {
            return Err(Error::InvalidConfig(
                "the CA bundle holds no PEM certificate".into(),
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
             auth_password, or a proxy in front): give credentials with Options::basic_auth, \
             Options::bearer_token or user:password@ in the URL"
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
    fn hints() {
        assert!(status_hint(400, 2000).unwrap().contains("receive_buf_size"));
        assert!(status_hint(401, 0).unwrap().contains("basic_auth"));
        assert!(status_hint(418, 0).is_none());
    }
}
