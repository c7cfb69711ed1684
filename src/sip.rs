//! SIP requests through OpenSIPS' `t_uac_dlg`: any request with a header map
//! ([`uac_dlg`]), the phones' special-event NOTIFYs ([`event_notify`]) and voicemail lamps
//! ([`mwi_update`], RFC 3842 `message-summary`).
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use opensips_mi::{Connection, sip::{self, MessageSummary, NotifyEvent}};
//! let server = opensips_mi::mock::MockServer::start()?;
//! let conn = Connection::open(&server.fifo_url())?;
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

use std::time::Duration;

use crate::{Cmd, ConnectionLike, Error, Params, Protocol, Result, Value};

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
        return Err(Error::InvalidRequest(format!(
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
    pub fn set_header(mut self, name: &str, value: &str) -> Self {
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
        self.set_header("From", value)
    }

    /// Sets `To`.
    pub fn to(self, value: &str) -> Self {
        self.set_header("To", value)
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
        self = self.set_header("Content-Type", content_type);
        self.body = Some(body.to_owned());
        self
    }

    /// The per-call timeout (default [`DEFAULT_UAC_TIMEOUT`]).
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
            return Err(Error::InvalidRequest(format!(
                "SIP method {:?} is not a token",
                self.method
            )));
        }
        no_line_breaks("the request URI", &self.ruri)?;
        if self.ruri.is_empty() || self.ruri.contains([' ', '\t']) {
            return Err(Error::InvalidRequest(format!(
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
                    return Err(Error::InvalidRequest(format!("{what} {v:?} is not usable")));
                }
            }
        }
        for (n, v) in &self.headers {
            if !is_token(n) {
                return Err(Error::InvalidRequest(format!(
                    "header name {n:?} is not a SIP token"
                )));
            }
            no_line_breaks(&format!("header {n}"), v)?;
        }
        for required in ["from", "to"] {
            if !self.has(required) {
                return Err(Error::InvalidRequest(format!(
                    "t_uac_dlg needs a {} header",
                    if required == "from" { "From" } else { "To" }
                )));
            }
        }
        if self.body.is_some() {
            if !self.has("content-type") {
                return Err(Error::InvalidRequest(
                    "a body needs a Content-Type header".into(),
                ));
            }
            if self.has("content-length") {
                return Err(Error::InvalidRequest(
                    "Content-Length must not be sent with a body: OpenSIPS computes it and \
                     rejects the request (\"Content-Length disallowed\")"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The MI command for a server of generation `protocol`: named parameters for 3.x/4.x
    /// (positional calls are refused there), positional with `.` placeholders for 1.x/2.x.
    ///
    /// # Errors
    ///
    /// As [`SipRequest::header_block`]; [`Protocol::Auto`] is not a generation.
    pub fn to_cmd(&self, protocol: Protocol) -> Result<Cmd> {
        let headers = self.header_block()?;
        let mut cmd = match protocol {
            Protocol::JsonRpc => {
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
            }
            Protocol::Legacy => {
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
            }
            Protocol::Auto => {
                return Err(Error::InvalidRequest(
                    "to_cmd needs a concrete protocol, not Auto".into(),
                ));
            }
        };
        cmd.timeout(self.timeout.unwrap_or(DEFAULT_UAC_TIMEOUT));
        Ok(cmd)
    }

    /// Sends the request through OpenSIPS (any [`ConnectionLike`]: the wire form follows
    /// its [`ConnectionLike::protocol`]) and waits for the SIP final response.
    ///
    /// # Errors
    ///
    /// Validation errors before anything is sent; the transport's and the server's errors
    /// (e.g. `400 From missing`). A SIP failure (a `486 Busy Here`, a local `408 Request
    /// Timeout`) is not an error: it is the [`SipReply`].
    pub fn send(&self, conn: &impl ConnectionLike) -> Result<SipReply> {
        let protocol = conn.protocol()?;
        let value = self.to_cmd(protocol)?.query(conn)?;
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

/// `<uri>` unless it is already a name-addr.
fn name_addr(uri: &str) -> String {
    if uri.contains('<') {
        uri.to_owned()
    } else {
        format!("<{uri}>")
    }
}

/// The phones' special-event NOTIFYs, with the `Event` values of the Ruby gem and
/// Asterisk's `pjsip_notify.conf` samples.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyEvent {
    /// `aastra_check_cfg` / `aastra-check-cfg`: `check-sync`.
    AastraCheckCfg,
    /// `aastra_xml` / `aastra-xml`: `aastra-xml`.
    AastraXml,
    /// `digium_check_cfg` / `digium-check-cfg`: `check-sync`.
    DigiumCheckCfg,
    /// `linksys_cold_restart` / `linksys-cold-restart`: `reboot_now`.
    LinksysColdRestart,
    /// `linksys_warm_restart` / `linksys-warm-restart`: `restart_now`.
    LinksysWarmRestart,
    /// `polycom_check_cfg` / `polycom-check-cfg`: `check-sync`.
    PolycomCheckCfg,
    /// `sipura_check_cfg` / `sipura-check-cfg`: `resync`.
    SipuraCheckCfg,
    /// `sipura_get_report` / `sipura-get-report`: `report`.
    SipuraGetReport,
    /// `snom_check_cfg` / `snom-check-cfg`: `check-sync;reboot=false`.
    SnomCheckCfg,
    /// `snom_reboot` / `snom-reboot`: `check-sync;reboot=true`.
    SnomReboot,
    /// `cisco_check_cfg` / `cisco-check-cfg`: `check-sync`.
    CiscoCheckCfg,
    /// `avaya_check_cfg`: `check-sync`.
    AvayaCheckCfg,
    /// `grandstream_check_cfg` / `grandstream-check-cfg`: `sys-control`.
    GrandstreamCheckCfg,
    /// Any other `Event` value.
    Custom(String),
}

const PRESETS: &[(&str, &str, NotifyEvent)] = &[
    (
        "aastra_check_cfg",
        "check-sync",
        NotifyEvent::AastraCheckCfg,
    ),
    ("aastra_xml", "aastra-xml", NotifyEvent::AastraXml),
    (
        "digium_check_cfg",
        "check-sync",
        NotifyEvent::DigiumCheckCfg,
    ),
    (
        "linksys_cold_restart",
        "reboot_now",
        NotifyEvent::LinksysColdRestart,
    ),
    (
        "linksys_warm_restart",
        "restart_now",
        NotifyEvent::LinksysWarmRestart,
    ),
    (
        "polycom_check_cfg",
        "check-sync",
        NotifyEvent::PolycomCheckCfg,
    ),
    ("sipura_check_cfg", "resync", NotifyEvent::SipuraCheckCfg),
    ("sipura_get_report", "report", NotifyEvent::SipuraGetReport),
    (
        "snom_check_cfg",
        "check-sync;reboot=false",
        NotifyEvent::SnomCheckCfg,
    ),
    (
        "snom_reboot",
        "check-sync;reboot=true",
        NotifyEvent::SnomReboot,
    ),
    ("cisco_check_cfg", "check-sync", NotifyEvent::CiscoCheckCfg),
    ("avaya_check_cfg", "check-sync", NotifyEvent::AvayaCheckCfg),
    (
        "grandstream_check_cfg",
        "sys-control",
        NotifyEvent::GrandstreamCheckCfg,
    ),
];

impl NotifyEvent {
    /// The `Event` header value.
    pub fn event(&self) -> &str {
        match self {
            NotifyEvent::Custom(v) => v,
            preset => PRESETS
                .iter()
                .find(|(_, _, p)| p == preset)
                .map_or("", |(_, v, _)| v),
        }
    }

    /// The preset for a name: the gem's (`snom_reboot`) or Asterisk's (`snom-reboot`).
    pub fn preset(name: &str) -> Option<NotifyEvent> {
        let key = name.trim().to_ascii_lowercase().replace('-', "_");
        PRESETS
            .iter()
            .find(|(n, _, _)| *n == key)
            .map(|(_, _, p)| p.clone())
    }

    /// Every preset name (gem spelling).
    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        PRESETS.iter().map(|(n, _, _)| *n)
    }
}

impl std::str::FromStr for NotifyEvent {
    type Err = Error;
    /// A preset name, or else a custom `Event` value.
    fn from_str(s: &str) -> Result<NotifyEvent> {
        if let Some(p) = NotifyEvent::preset(s) {
            return Ok(p);
        }
        no_line_breaks("the event", s)?;
        if s.trim().is_empty() {
            return Err(Error::InvalidRequest("empty event".into()));
        }
        Ok(NotifyEvent::Custom(s.to_owned()))
    }
}

/// A NOTIFY with `Event: <event>` to a phone: `To: <uri>`, `From: <uri>;tag=<random>`
/// (override with [`SipRequest::from`] / [`SipRequest::to`]), no body.
///
/// ```
/// use opensips_mi::sip::{self, NotifyEvent};
/// let req = sip::event_notify("sip:1001@10.0.0.21", NotifyEvent::SnomReboot);
/// let block = req.header_block()?;
/// assert!(block.starts_with("From: <sip:1001@10.0.0.21>;tag="));
/// assert!(block.ends_with("\r\nTo: <sip:1001@10.0.0.21>\r\nEvent: check-sync;reboot=true\r\n"));
/// # Ok::<(), opensips_mi::Error>(())
/// ```
pub fn event_notify(uri: &str, event: NotifyEvent) -> SipRequest {
    let addr = name_addr(uri);
    uac_dlg("NOTIFY", uri)
        .set_header("From", &format!("{addr};tag={}", random_tag()))
        .set_header("To", &addr)
        .set_header("Event", event.event())
}

/// A message class of RFC 3458, as a `message-summary` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageClass {
    /// `Voice-Message`.
    Voice,
    /// `Fax-Message`.
    Fax,
    /// `Pager-Message`.
    Pager,
    /// `Multimedia-Message`.
    Multimedia,
    /// `Text-Message`.
    Text,
    /// `None`.
    None,
}

impl MessageClass {
    fn header(self) -> &'static str {
        match self {
            MessageClass::Voice => "Voice-Message",
            MessageClass::Fax => "Fax-Message",
            MessageClass::Pager => "Pager-Message",
            MessageClass::Multimedia => "Multimedia-Message",
            MessageClass::Text => "Text-Message",
            MessageClass::None => "None",
        }
    }
}

/// Message counts of one class: new/old, and optionally new-urgent/old-urgent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// New messages.
    pub new: u32,
    /// Old messages.
    pub old: u32,
    /// New and old urgent messages (a subset of `new` / `old`).
    pub urgent: Option<(u32, u32)>,
}

impl Counts {
    /// `new/old`.
    pub fn new(new: u32, old: u32) -> Self {
        Counts {
            new,
            old,
            urgent: None,
        }
    }
    /// `new/old (urgent_new/urgent_old)`.
    pub fn with_urgent(new: u32, old: u32, urgent_new: u32, urgent_old: u32) -> Self {
        Counts {
            new,
            old,
            urgent: Some((urgent_new, urgent_old)),
        }
    }
}

/// An RFC 3842 `application/simple-message-summary` body.
///
/// ```
/// use opensips_mi::sip::{Counts, MessageClass, MessageSummary};
/// let s = MessageSummary::voice_counts(Counts::with_urgent(4, 8, 1, 2))
///     .account("sip:alice@vmail.example.com")
///     .class(MessageClass::Fax, Counts::new(0, 1));
/// assert_eq!(s.body()?, "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n\
///                      Voice-Message: 4/8 (1/2)\r\nFax-Message: 0/1\r\n");
/// assert_eq!(MessageSummary::voice(0, 0).body()?, "Messages-Waiting: no\r\nVoice-Message: 0/0\r\n");
/// # Ok::<(), opensips_mi::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct MessageSummary {
    waiting: Option<bool>,
    account: Option<String>,
    classes: Vec<(MessageClass, Counts)>,
}

impl MessageSummary {
    /// An empty summary (`Messages-Waiting: no`).
    pub fn new() -> Self {
        Self::default()
    }
    /// Voice messages: `new` new, `old` old.
    pub fn voice(new: u32, old: u32) -> Self {
        Self::new().class(MessageClass::Voice, Counts::new(new, old))
    }
    /// Voice messages with explicit counts (e.g. urgent ones).
    pub fn voice_counts(counts: Counts) -> Self {
        Self::new().class(MessageClass::Voice, counts)
    }
    /// Adds (or replaces) the counts of a class.
    pub fn class(mut self, class: MessageClass, counts: Counts) -> Self {
        self.classes.retain(|(c, _)| *c != class);
        self.classes.push((class, counts));
        self
    }
    /// `Message-Account: <uri>` (the mailbox to call).
    pub fn account(mut self, uri: &str) -> Self {
        self.account = Some(uri.to_owned());
        self
    }
    /// Forces `Messages-Waiting` (by default: `yes` when any class has new messages).
    pub fn waiting(mut self, yes: bool) -> Self {
        self.waiting = Some(yes);
        self
    }

    /// The body: CRLF after every line, nothing after the last.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for CR/LF in the account.
    pub fn body(&self) -> Result<String> {
        let waiting = self
            .waiting
            .unwrap_or_else(|| self.classes.iter().any(|(_, c)| c.new > 0));
        let mut body = format!(
            "Messages-Waiting: {}\r\n",
            if waiting { "yes" } else { "no" }
        );
        if let Some(a) = &self.account {
            no_line_breaks("the message account", a)?;
            body.push_str(&format!("Message-Account: {a}\r\n"));
        }
        for (class, c) in &self.classes {
            body.push_str(&format!("{}: {}/{}", class.header(), c.new, c.old));
            if let Some((un, uo)) = c.urgent {
                body.push_str(&format!(" ({un}/{uo})"));
            }
            body.push_str("\r\n");
        }
        Ok(body)
    }
}

/// A message-summary NOTIFY (voicemail lamp) to `uri`: `Event: message-summary`,
/// `Subscription-State: active`, `Content-Type: application/simple-message-summary` and the
/// summary as body. Zero new messages turn the lamp off.
///
/// # Errors
///
/// [`Error::InvalidRequest`] if the summary's account has CR or LF.
pub fn mwi_update(uri: &str, summary: &MessageSummary) -> Result<SipRequest> {
    let addr = name_addr(uri);
    Ok(uac_dlg("NOTIFY", uri)
        .set_header("From", &format!("{addr};tag={}", random_tag()))
        .set_header("To", &addr)
        .set_header("Event", "message-summary")
        .set_header("Subscription-State", "active")
        .body("application/simple-message-summary", &summary.body()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(req: SipRequest) -> SipRequest {
        // replace the random tag for exact comparisons
        let from = req
            .headers
            .iter()
            .find(|(n, _)| n == "From")
            .map(|(_, v)| v.clone())
            .unwrap();
        let from = format!("{};tag=T", from.split(";tag=").next().unwrap());
        req.from(&from)
    }

    #[test]
    fn every_preset_gives_its_exact_header_block() {
        let expected = [
            ("aastra_check_cfg", "check-sync"),
            ("aastra-xml", "aastra-xml"),
            ("digium_check_cfg", "check-sync"),
            ("linksys-cold-restart", "reboot_now"),
            ("linksys_warm_restart", "restart_now"),
            ("polycom_check_cfg", "check-sync"),
            ("sipura_check_cfg", "resync"),
            ("sipura-get-report", "report"),
            ("snom_check_cfg", "check-sync;reboot=false"),
            ("snom-reboot", "check-sync;reboot=true"),
            ("cisco_check_cfg", "check-sync"),
            ("avaya_check_cfg", "check-sync"),
            ("grandstream-check-cfg", "sys-control"),
        ];
        for (name, event) in expected {
            let ev = NotifyEvent::preset(name).unwrap();
            let req = fixed(event_notify("sip:1001@10.0.0.21:5060", ev));
            assert_eq!(
                req.header_block().unwrap(),
                format!(
                    "From: <sip:1001@10.0.0.21:5060>;tag=T\r\nTo: <sip:1001@10.0.0.21:5060>\r\nEvent: {event}\r\n"
                ),
                "{name}"
            );
            assert!(req.body.is_none());
        }
        assert_eq!(NotifyEvent::preset_names().count(), 13);
        assert_eq!(
            "my-event".parse::<NotifyEvent>().unwrap(),
            NotifyEvent::Custom("my-event".into())
        );
        assert!("bad\r\nX: y".parse::<NotifyEvent>().is_err());
    }

    #[test]
    fn generated_tags_are_random_and_caller_headers_win() {
        let a = event_notify("sip:a@b", NotifyEvent::SnomReboot)
            .header_block()
            .unwrap();
        let b = event_notify("sip:a@b", NotifyEvent::SnomReboot)
            .header_block()
            .unwrap();
        assert_ne!(a, b);
        let mine = event_notify("sip:a@b", NotifyEvent::SnomReboot)
            .from("<sip:pbx@b>;tag=1")
            .to("\"Desk\" <sip:a@b>");
        let block = mine.header_block().unwrap();
        assert!(
            block.contains("From: <sip:pbx@b>;tag=1\r\n")
                && block.contains("To: \"Desk\" <sip:a@b>\r\n"),
            "{block}"
        );
        assert_eq!(block.matches("From:").count(), 1);
    }

    #[test]
    fn mwi_bodies() {
        assert_eq!(
            MessageSummary::voice(0, 0).body().unwrap(),
            "Messages-Waiting: no\r\nVoice-Message: 0/0\r\n"
        );
        assert_eq!(
            MessageSummary::voice(5, 0)
                .account("sip:*97@vm.example.com")
                .body()
                .unwrap(),
            "Messages-Waiting: yes\r\nMessage-Account: sip:*97@vm.example.com\r\nVoice-Message: 5/0\r\n"
        );
        assert_eq!(
            MessageSummary::voice_counts(Counts::with_urgent(3, 1, 1, 0))
                .body()
                .unwrap(),
            "Messages-Waiting: yes\r\nVoice-Message: 3/1 (1/0)\r\n"
        );
        assert_eq!(
            MessageSummary::new()
                .class(MessageClass::Fax, Counts::new(2, 0))
                .body()
                .unwrap(),
            "Messages-Waiting: yes\r\nFax-Message: 2/0\r\n"
        );
        assert_eq!(
            MessageSummary::voice(0, 3).waiting(true).body().unwrap(),
            "Messages-Waiting: yes\r\nVoice-Message: 0/3\r\n"
        );
        assert_eq!(
            MessageSummary::new().body().unwrap(),
            "Messages-Waiting: no\r\n"
        );
        let req = fixed(mwi_update("sip:1001@pbx", &MessageSummary::voice(5, 0)).unwrap());
        assert_eq!(
            req.header_block().unwrap(),
            "From: <sip:1001@pbx>;tag=T\r\nTo: <sip:1001@pbx>\r\nEvent: message-summary\r\n\
             Subscription-State: active\r\nContent-Type: application/simple-message-summary\r\n"
        );
        assert_eq!(
            req.body.as_deref(),
            Some("Messages-Waiting: yes\r\nVoice-Message: 5/0\r\n")
        );
        assert!(
            mwi_update(
                "sip:a@b",
                &MessageSummary::voice(1, 0).account("sip:x\r\nEvil: 1")
            )
            .is_err()
        );
    }

    #[test]
    fn injection_and_rules_are_refused() {
        let base = || {
            uac_dlg("OPTIONS", "sip:a@b")
                .from("<sip:m@b>")
                .to("<sip:a@b>")
        };
        assert!(base().header_block().is_ok());
        assert!(
            base()
                .header("X-Evil", "1\r\nVia: forged")
                .header_block()
                .is_err()
        );
        assert!(base().header("X-Evil\r\nVia", "1").header_block().is_err());
        assert!(base().header("Bad Name", "1").header_block().is_err());
        assert!(
            uac_dlg("OPTIONS", "sip:a@b\r\nX: 1")
                .from("a")
                .to("b")
                .header_block()
                .is_err()
        );
        assert!(
            uac_dlg("OPT IONS", "sip:a@b")
                .from("a")
                .to("b")
                .header_block()
                .is_err()
        );
        assert!(base().next_hop("sip:p\n").header_block().is_err());
        assert!(
            uac_dlg("OPTIONS", "sip:a@b")
                .to("<sip:a@b>")
                .header_block()
                .is_err(),
            "From is required"
        );
        assert!(
            uac_dlg("OPTIONS", "sip:a@b")
                .header("f", "x")
                .header("t", "y")
                .header_block()
                .is_ok(),
            "compact forms count"
        );
        let with_body = base().body("text/plain", "hi");
        assert!(with_body.header_block().is_ok());
        let e = with_body
            .header("Content-Length", "2")
            .header_block()
            .unwrap_err();
        assert!(e.to_string().contains("Content-Length"), "{e}");
        let mut no_type = base();
        no_type.body = Some("x".into());
        assert!(no_type.header_block().is_err());
    }

    #[test]
    fn wire_forms_per_generation() {
        let req = uac_dlg("MESSAGE", "sip:a@b")
            .from("<sip:m@b>")
            .to("<sip:a@b>")
            .body("text/plain", "hello");
        let json = req.to_cmd(Protocol::JsonRpc).unwrap();
        assert_eq!(
            json.params(),
            &Params::named([
                ("method", "MESSAGE"),
                ("ruri", "sip:a@b"),
                (
                    "headers",
                    "From: <sip:m@b>\r\nTo: <sip:a@b>\r\nContent-Type: text/plain\r\n"
                ),
                ("body", "hello"),
            ])
        );
        assert_eq!(json.get_timeout(), Some(DEFAULT_UAC_TIMEOUT));
        let legacy = req
            .clone()
            .socket("udp:1.2.3.4:5060")
            .to_cmd(Protocol::Legacy)
            .unwrap();
        assert_eq!(
            legacy.params(),
            &Params::positional([
                "MESSAGE",
                "sip:a@b",
                ".",
                "udp:1.2.3.4:5060",
                "From: <sip:m@b>\r\nTo: <sip:a@b>\r\nContent-Type: text/plain\r\n",
                "hello",
            ])
        );
    }

    #[test]
    fn replies_of_every_generation() {
        let v3 = Value::from_json(br#"{"Status":"200 OK","Message":"Via: x\r\n\r\n"}"#).unwrap();
        let r = SipReply::from_value(&v3).unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.message.as_deref()),
            (200, "OK", Some("Via: x\r\n\r\n"))
        );
        let timeout = SipReply::from_value(
            &Value::from_json(br#"{"Status":"408 Request Timeout"}"#).unwrap(),
        )
        .unwrap();
        assert!(!timeout.is_success() && timeout.message.is_none());
        let v2 = Value::Object(vec![
            ("Status".into(), "404 Not here".into()),
            ("RURI".into(), ".".into()),
            ("Next-hop".into(), ".".into()),
            ("Routes".into(), ".".into()),
            ("Message".into(), "Via: y\r\n".into()),
        ]);
        let r = SipReply::from_value(&v2).unwrap();
        assert_eq!((r.status, r.ruri, r.routes), (404, None, None));
        let old = Value::from(vec!["486 Busy Here", ".", ".", ".", "Via: z\r\n"]);
        assert_eq!(SipReply::from_value(&old).unwrap().status, 486);
        assert!(SipReply::from_value(&Value::from("OK")).is_err());
    }
}
