//! SIP requests through OpenSIPS' `t_uac_dlg`: any request with a header map
//! ([`uac_dlg`]), the phones' special-event NOTIFYs ([`event_notify`]) and voicemail lamps
//! ([`mwi_update`], RFC 3842 `message-summary`).
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use opensips_mi::{Connection, sip::{self, MessageSummary, NotifyEvent}};
//! let server = opensips_mi::mock::MockServer::start()?;
//! let conn = Connection::open(&server.fifo_url().unwrap())?;
//!
//! // re-provision a desk phone
//! let reply = sip::event_notify("sip:1001@10.0.0.21:5060", NotifyEvent::PolycomCheckCfg).send(&conn)?;
//! assert_eq!(reply.status, 200);
//!
//! // light its voicemail lamp: 2 new, 5 old messages
//! let summary = MessageSummary::voice(2, 5).account("sip:*97@voicemail.example.com");
//! sip::mwi_update("sip:1001@10.0.0.21:5060", &summary)?.send(&conn)?;
//!
//! let sent = server.uac_requests();
//! assert!(sent[1].headers.contains("Event: message-summary\r\n"));
//! assert_eq!(sent[1].body.as_deref(), Some("Messages-Waiting: yes\r\nMessage-Account: sip:*97@voicemail.example.com\r\nVoice-Message: 2/5\r\n"));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **What OpenSIPS does with the headers:** it takes `From`, `To`, `Call-ID` and `CSeq` out
//! of the block and rebuilds them (a `From` tag is generated if missing), adds `Via`,
//! `Max-Forwards` and `Content-Length`, and replaces every `!!` in a header with the
//! outgoing socket's `ip:port` — handy for `Contact: <sip:!!>`, a trap for a literal `!!`.
//! It refuses a `Content-Length` header when there is a body, so this builder refuses it too.
//!
//! **OpenSIPS 3.5.9 over HTTP:** after a `t_uac_dlg` that timed out on the client's side,
//! its httpd holds the next request for seconds (the asynchronous command still occupies
//! it). Send `t_uac_dlg` over FIFO or datagram, or keep its timeout above the server's
//! `fr_timeout` ([`DEFAULT_UAC_TIMEOUT`] is).

use std::time::Duration;

use crate::server::Generation;
use crate::{Cmd, ConnectionLike, Error, Params, Result, Value};

/// The per-call timeout of a `t_uac_dlg` call unless set: the MI reply waits for the SIP
/// final response, and OpenSIPS' transaction timer (`fr_timeout`, 30 s by default) must
/// expire first.
pub const DEFAULT_UAC_TIMEOUT: Duration = Duration::from_secs(35);

/// A SIP request for `t_uac_dlg`. Build with [`uac_dlg`].
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct SipRequest {
    method: String,
    ruri: String,
    headers: Vec<(String, String)>,
    next_hop: Option<String>,
    socket: Option<String>,
    body: Option<String>,
    timeout: Option<Duration>,
}

/// Starts a request: `method` to `ruri`. Add at least `From` and `To`.
///
/// ```
/// use opensips_mi::sip;
/// let req = sip::uac_dlg("OPTIONS", "sip:gw1.example.com")
///     .header("From", "<sip:monitor@example.com>")
///     .header("To", "<sip:gw1.example.com>");
/// assert_eq!(req.header_block()?, "From: <sip:monitor@example.com>\r\nTo: <sip:gw1.example.com>\r\n");
/// # Ok::<(), opensips_mi::Error>(())
/// ```
pub fn uac_dlg(method: &str, ruri: &str) -> SipRequest {
    SipRequest {
        method: method.to_owned(),
        ruri: ruri.to_owned(),
        headers: Vec::new(),
        next_hop: None,
        socket: None,
        body: None,
        timeout: None,
    }
}

/// Header names whose compact forms (RFC 3261 §7.3.3) mean the same header.
fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "f" => "from".into(),
        "t" => "to".into(),
        "c" => "content-type".into(),
        "l" => "content-length".into(),
        "i" => "call-id".into(),
        "o" => "event".into(),
        "m" => "contact".into(),
        _ => lower,
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

fn no_line_breaks(what: &str, v: &str) -> Result<()> {
    if v.contains(['\r', '\n', '\0']) {
        return Err(Error::invalid_request(format!(
            "{what} contains CR, LF or NUL: refused (header injection)"
        )));
    }
    Ok(())
}

impl SipRequest {
    /// Adds a header (names are case-insensitive; a header may repeat, e.g. `Route`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a header, replacing every header of that name (compact forms included) at the
    /// place of the first one.
    pub fn replace_header(mut self, name: &str, value: &str) -> Self {
        let key = canonical(name);
        match self.headers.iter().position(|(n, _)| canonical(n) == key) {
            Some(i) => {
                self.headers[i] = (name.to_owned(), value.to_owned());
                let mut seen = false;
                self.headers.retain(|(n, _)| {
                    if canonical(n) != key {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// Sets `From`.
    pub fn from(self, value: &str) -> Self {
        self.replace_header("From", value)
    }

    /// Sends as `uri`: `From: <uri>;tag=<random>` and `Contact: <sip:user@!!>` (the user
    /// part of `uri`; OpenSIPS puts its own address in place of `!!`). `From` cannot take
    /// `!!`: OpenSIPS rebuilds that header from the URI as given.
    pub fn notifier(self, uri: &str) -> Self {
        let addr = name_addr(uri);
        let contact = contact_for(&addr);
        self.replace_header("From", &format!("{addr};tag={}", random_tag()))
            .replace_header("Contact", &contact)
    }

    /// Sets `Contact` (`<uri>` unless already a name-addr).
    pub fn contact(self, uri: &str) -> Self {
        self.replace_header("Contact", &name_addr(uri))
    }

    /// Sets `To`.
    pub fn to(self, value: &str) -> Self {
        self.replace_header("To", value)
    }

    /// Sends through this proxy instead of the request URI (`next_hop`).
    pub fn next_hop(mut self, uri: &str) -> Self {
        self.next_hop = Some(uri.to_owned());
        self
    }

    /// Sends from this local socket, e.g. `udp:10.0.0.1:5060`.
    pub fn socket(mut self, socket: &str) -> Self {
        self.socket = Some(socket.to_owned());
        self
    }

    /// Adds a body and its `Content-Type` (replacing any other).
    pub fn body(mut self, content_type: &str, body: &str) -> Self {
        self = self.replace_header("Content-Type", content_type);
        self.body = Some(body.to_owned());
        self
    }

    /// The per-call timeout (default [`DEFAULT_UAC_TIMEOUT`]). It beats the connection's
    /// and the URL's `?timeout=` (the rule is in [`Connection::open`](crate::Connection::open)).
    /// Shorter than the server's `fr_timeout`, the call can time out while OpenSIPS still
    /// waits for the phone: 3.5.9's httpd then holds the next HTTP request for seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The header block exactly as sent: `Name: value` lines, each ending in CRLF.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for CR/LF in a name or value, names that are not SIP
    /// tokens, a missing `From` or `To`, a body without `Content-Type`, and a
    /// `Content-Length` header with a body.
    pub fn header_block(&self) -> Result<String> {
        self.check()?;
        let mut block = String::new();
        for (n, v) in &self.headers {
            block.push_str(n);
            block.push_str(": ");
            block.push_str(v);
            block.push_str("\r\n");
        }
        Ok(block)
    }

    fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| canonical(n) == name)
    }

    fn check(&self) -> Result<()> {
        if !is_token(&self.method) {
            return Err(Error::invalid_request(format!(
                "SIP method {:?} is not a token",
                self.method
            )));
        }
        no_line_breaks("the request URI", &self.ruri)?;
        if self.ruri.is_empty() || self.ruri.contains([' ', '\t']) {
            return Err(Error::invalid_request(format!(
                "request URI {:?} is empty or has blanks",
                self.ruri
            )));
        }
        for (what, v) in [
            ("the next hop", &self.next_hop),
            ("the socket", &self.socket),
        ] {
            if let Some(v) = v {
                no_line_breaks(what, v)?;
                if v.is_empty() || v == "." || v.contains([' ', '\t']) {
                    return Err(Error::invalid_request(format!(
                        "{what} {v:?} is not usable"
                    )));
                }
            }
        }
        for (n, v) in &self.headers {
            if !is_token(n) {
                return Err(Error::invalid_request(format!(
                    "header name {n:?} is not a SIP token"
                )));
            }
            no_line_breaks(&format!("header {n}"), v)?;
        }
        for required in ["from", "to"] {
            if !self.has(required) {
                return Err(Error::invalid_request(format!(
                    "t_uac_dlg needs a {} header",
                    if required == "from" { "From" } else { "To" }
                )));
            }
        }
        if self.body.is_some() {
            if !self.has("content-type") {
                return Err(Error::invalid_request("a body needs a Content-Type header"));
            }
            if self.has("content-length") {
                return Err(Error::invalid_request(
                    "Content-Length must not be sent with a body: OpenSIPS computes it and \
                     rejects the request (\"Content-Length disallowed\")",
                ));
            }
        }
        Ok(())
    }

    /// The MI command for a server of `generation`: named parameters for 3.x/4.x
    /// (positional calls are refused there), positional with `.` placeholders for 1.x/2.x.
    ///
    /// # Errors
    ///
    /// As [`SipRequest::header_block`].
    pub fn to_cmd(&self, generation: Generation) -> Result<Cmd> {
        let headers = self.header_block()?;
        let cmd = if !generation.is_legacy() {
            let mut params = vec![
                ("method", Value::from(&self.method)),
                ("ruri", Value::from(&self.ruri)),
                ("headers", Value::from(headers)),
            ];
            if let Some(h) = &self.next_hop {
                params.push(("next_hop", Value::from(h)));
            }
            if let Some(s) = &self.socket {
                params.push(("socket", Value::from(s)));
            }
            if let Some(b) = &self.body {
                params.push(("body", Value::from(b)));
            }
            Cmd::with_params("t_uac_dlg", Params::named(params))
        } else {
            let dot = |v: &Option<String>| v.clone().unwrap_or_else(|| ".".into());
            let mut params = vec![
                self.method.clone(),
                self.ruri.clone(),
                dot(&self.next_hop),
                dot(&self.socket),
                headers,
            ];
            if let Some(b) = &self.body {
                params.push(b.clone());
            }
            Cmd::with_params("t_uac_dlg", Params::positional(params))
        };
        Ok(cmd.timeout(self.timeout.unwrap_or(DEFAULT_UAC_TIMEOUT)))
    }

    /// Sends the request through OpenSIPS (any [`ConnectionLike`]: the wire form follows
    /// its [`ConnectionLike::server`] generation) and waits for the SIP final response.
    ///
    /// # Errors
    ///
    /// Validation errors before anything is sent; the transport's and the server's errors
    /// (e.g. `400 From missing`). A SIP failure (a `486 Busy Here`, a local `408 Request
    /// Timeout`) is not an error: it is the [`SipReply`].
    pub fn send(&self, conn: &impl ConnectionLike) -> Result<SipReply> {
        // refuse what cannot be sent before anything, even the generation probe, goes out
        self.header_block()?;
        // the message format is enough (no probe where `?protocol=` says it): 1.x/2.x take
        // the same lines, 3.x/4.x the same named parameters
        let generation = match conn.wire_protocol()? {
            crate::Protocol::Legacy => crate::server::Generation::V2,
            _ => crate::server::Generation::V3,
        };
        let value = self.to_cmd(generation)?.query(conn)?;
        SipReply::from_value(&value)
    }
}

/// The outcome of a `t_uac_dlg` request: the SIP final response.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SipReply {
    /// SIP status code (`200`, `486`, a local `408`...).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// The raw reply (headers and body), when OpenSIPS includes it.
    pub message: Option<String>,
    /// The request URI of a confirmed dialog, when given.
    pub ruri: Option<String>,
    /// The next hop, when given.
    pub next_hop: Option<String>,
    /// The route set, when given.
    pub routes: Option<Value>,
}

impl SipReply {
    /// `true` for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Reads the reply of either generation: 3.x/4.x `{"Status", "Message", …}`, 2.4.7+
    /// `Status::`/`RURI::`/… nodes (`.` meaning none), older 1.x/2.x unnamed lines.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedReply`] without a usable status line.
    pub fn from_value(v: &Value) -> Result<SipReply> {
        let text = |v: &Value| {
            v.as_str()
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_owned)
        };
        let (status_line, ruri, next_hop, routes, message) = match v {
            Value::Array(items) => {
                let get = |i: usize| items.get(i).and_then(text);
                (get(0), get(1), get(2), get(3).map(Value::from), get(4))
            }
            _ => (
                text(&v["Status"]),
                text(&v["RURI"]),
                text(&v["Next-hop"]),
                match &v["Routes"] {
                    Value::Null => None,
                    Value::String(s) if s == "." || s.is_empty() => None,
                    other => Some(other.clone()),
                },
                text(&v["Message"]),
            ),
        };
        let status_line = status_line.ok_or_else(|| Error::MalformedReply {
            reason: "t_uac_dlg reply without a Status".into(),
            excerpt: crate::error::excerpt(v.to_string().as_bytes()),
        })?;
        let (code, reason) = status_line
            .split_once(' ')
            .unwrap_or((status_line.as_str(), ""));
        let status = code.parse().map_err(|_| Error::MalformedReply {
            reason: format!("t_uac_dlg status {status_line:?} does not start with a code"),
            excerpt: String::new(),
        })?;
        Ok(SipReply {
            status,
            reason: reason.to_owned(),
            message,
            ruri,
            next_hop,
            routes,
        })
    }
}

/// A random tag for a generated `From`.
fn random_tag() -> String {
    let n = getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    format!("{n:016x}")
}

/// `<sip:user@!!>` for a From name-addr: OpenSIPS replaces `!!` with the address of the
/// socket it sends from, so the phone can reach the notifier (a NOTIFY must carry a
/// Contact, RFC 3265 §7.1).
fn contact_for(from: &str) -> String {
    let uri = from
        .split_once('<')
        .map_or(from, |(_, r)| r.split('>').next().unwrap_or(r));
    let user = uri
        .split_once(':')
        .map_or(uri, |(_, r)| r)
        .split_once('@')
        .map(|(u, _)| u)
        .filter(|u| !u.is_empty() && !u.contains(['<', '>', ';', '"', ' ']))
        .unwrap_or("opensips");
    format!("<sip:{user}@!!>")
}

/// `<uri>` unless it is already a name-addr.
fn name_addr(uri: &str) -> String {
    if uri.contains('<') {
        uri.to_owned()
    } else {
        format!("<{uri}>")
    }
}

mod batch;
mod mwi;
mod notify;
#[cfg(test)]
mod tests;

pub use self::batch::{Batch, BatchReport, DEFAULT_CONCURRENCY, Outcome, OutcomeKind};
pub use self::mwi::{Counts, MessageClass, MessageSummary, mwi_update};
pub use self::notify::{NotifyEvent, event_notify};
