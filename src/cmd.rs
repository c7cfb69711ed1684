//! The command builder ([`cmd`], [`Cmd`]), parameters ([`Params`]) and replies ([`Response`]).

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{Error, Result, Value};

/// Parameters of an MI command: none, positional (a JSON array) or named (a JSON object).
///
/// One Rust value is always exactly one parameter: a `Vec` or array becomes one array
/// parameter, which is what `get_statistics` expects (`"params":[["dialog:","tm:"]]`).
///
/// ```
/// use opensips_mi::{Params, Value};
/// assert_eq!(Params::from(()), Params::None);
/// assert_eq!(
///     Params::from([["dialog:", "tm:"]]),
///     Params::Positional(vec![Value::from(["dialog:", "tm:"])]),
/// );
/// let named = Params::named([("table_name", "location"), ("aor", "alice")]);
/// assert_eq!(named.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub enum Params {
    /// No parameters (`params` is left out of the request).
    #[default]
    None,
    /// Positional parameters; the server picks the recipe with this many parameters.
    Positional(Vec<Value>),
    /// Named parameters, in the order given.
    Named(Vec<(String, Value)>),
}

impl Params {
    /// Positional parameters from any iterator of values.
    pub fn positional<V: Into<Value>>(values: impl IntoIterator<Item = V>) -> Self {
        Params::Positional(values.into_iter().map(Into::into).collect())
    }

    /// Named parameters from `(name, value)` pairs.
    pub fn named<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Params::Named(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        match self {
            Params::None => 0,
            Params::Positional(v) => v.len(),
            Params::Named(v) => v.len(),
        }
    }

    /// `true` when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameter at position `i` (positional) or named `name` (named).
    pub fn get(&self, i: usize, name: &str) -> Option<&Value> {
        match self {
            Params::None => None,
            Params::Positional(v) => v.get(i),
            Params::Named(v) => v.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        }
    }

    /// The parameters as a JSON value: `null`, an array or an object.
    pub fn to_value(&self) -> Value {
        match self {
            Params::None => Value::Null,
            Params::Positional(v) => Value::Array(v.clone().into()),
            Params::Named(v) => Value::Object(v.clone().into()),
        }
    }
}

impl From<()> for Params {
    fn from(_: ()) -> Self {
        Params::None
    }
}
impl<T: Into<Value>> From<Vec<T>> for Params {
    fn from(v: Vec<T>) -> Self {
        Params::positional(v)
    }
}
impl<T: Into<Value>, const N: usize> From<[T; N]> for Params {
    fn from(v: [T; N]) -> Self {
        Params::positional(v)
    }
}
impl<T: Into<Value> + Clone> From<&[T]> for Params {
    fn from(v: &[T]) -> Self {
        Params::positional(v.iter().cloned())
    }
}

/// A successful reply.
///
/// For JSON-RPC the code is `200` and the message `"OK"`; a few commands report a success
/// as an error object with a 2xx code (e.g. usrloc's `"Contacts already synced"`), which
/// lands here with that code, its message and a `null` value.
///
/// The bytes of the reply are kept only when the command asks for them
/// ([`Cmd::keep_raw`]), so a big reply is not held twice (its bytes and its [`Value`]):
///
/// ```
/// # #[cfg(not(feature = "mock"))] fn main() {}
/// # #[cfg(feature = "mock")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use opensips_mi::{Connection, cmd, mock::MockServer};
/// let server = MockServer::start()?;
/// let conn = Connection::open(&server.udp_url().unwrap())?;
///
/// let r = cmd("uptime").execute(&conn)?;
/// assert_eq!((r.code(), r.message()), (200, "OK"));
/// assert!(r.value()["Up time"].as_str().is_some());
/// assert_eq!(r.raw(), None);
///
/// let r = cmd("uptime").keep_raw().execute(&conn)?;
/// assert!(r.raw().is_some_and(|b| b.starts_with(b"{")));
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Response {
    /// The MI code (`200` for success).
    pub(crate) code: i64,
    /// The reason phrase (`"OK"`).
    pub(crate) message: std::borrow::Cow<'static, str>,
    /// The decoded result (`Null` while a lazy command's result is still in `raw`).
    pub(crate) value: Value,
    /// The reply exactly as received (one JSON-RPC object), or empty when not kept.
    pub(crate) raw: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Response");
        d.field("code", &self.code)
            .field("message", &self.message)
            .field("value", &self.value);
        if !self.raw.is_empty() {
            d.field("raw", &crate::error::excerpt(&self.raw));
        }
        d.finish()
    }
}

impl Response {
    /// The MI code (`200` for success, or the 2xx of a success reported as an error object).
    pub fn code(&self) -> i64 {
        self.code
    }

    /// The reason phrase (`"OK"`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The decoded result.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Consumes the response, keeping only the result value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// Deserializes the result into your own type (`serde::Deserialize`); errors name the
    /// path of the field that did not fit.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::Connection;
    /// #[derive(serde::Deserialize)]
    /// struct Up { #[serde(rename = "Up time")] up_time: String }
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let conn = Connection::open(&server.udp_url().unwrap())?;
    /// let up: Up = conn.command("uptime", ())?.deserialize()?;
    /// assert!(up.up_time.ends_with("[sec]"));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnexpectedReply`] with the path and the reason.
    pub fn deserialize<T: DeserializeOwned>(self) -> Result<T> {
        crate::protocol::decode_typed(self, std::convert::identity)
    }

    /// The reply exactly as received (for JSON-RPC the one reply object, for 1.x/2.x the
    /// text, for XML-RPC the HTTP body), if kept: a connection keeps it only for a command
    /// built with [`Cmd::keep_raw`]. The `decode_reply` functions of [`crate::jsonrpc`],
    /// [`crate::legacy`] and `xmlrpc` never keep it: their caller has the bytes, and a big
    /// reply is not held twice.
    pub fn raw(&self) -> Option<&[u8]> {
        (!self.raw.is_empty()).then_some(self.raw.as_slice())
    }
}

/// Anything that can run an MI command: [`Connection`](crate::Connection),
/// [`Pool`](crate::Pool), or a wrapper of your own (a logging or metrics layer, a test
/// double).
///
/// A wrapper says what it talks to with [`ConnectionLike::server`] (there is no default:
/// a wrapper that forgot would speak JSON-RPC to a 1.x/2.x server). [`Cmd::verified`] and
/// the typed helpers ([`MiCommands`](crate::MiCommands)) work on every implementation.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use opensips_mi::{Cmd, Connection, ConnectionLike, MiCommands, Response, Result, server::ServerFacts};
///
/// /// Counts the requests sent.
/// struct Counted { inner: Connection, sent: AtomicUsize }
///
/// impl ConnectionLike for Counted {
///     fn execute(&self, cmd: &Cmd) -> Result<Response> {
///         self.sent.fetch_add(1, Ordering::Relaxed);
///         self.inner.execute(cmd)
///     }
///     fn server(&self) -> Result<ServerFacts> {
///         self.inner.server()
///     }
/// }
///
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Counted { inner: Connection::open(&server.udp_url().unwrap())?, sent: AtomicUsize::new(0) };
/// assert!(conn.uptime()?.up_time.as_secs() < 3600);
/// assert_eq!(conn.sent.load(Ordering::Relaxed), 1);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ConnectionLike {
    /// Sends the command and waits for its reply. [`Cmd::execute`], [`Cmd::query`] and the
    /// helpers call this (after the [`Cmd::verified`] check).
    ///
    /// # Errors
    ///
    /// Any [`Error`]: transport failures, timeouts, and the server's own errors.
    fn execute(&self, cmd: &Cmd) -> Result<Response>;

    /// What is known about the server (see [`Connection::server`](crate::Connection::server)):
    /// at least its generation, which decides how commands are written (JSON-RPC or the
    /// legacy text MI) and how replies are read. A wrapper forwards this to what it wraps.
    ///
    /// # Errors
    ///
    /// Detection errors (not running, timeout...).
    fn server(&self) -> Result<crate::server::ServerFacts>;

    /// The user and group (uid, gid) that own the server's local endpoint (its FIFO or unix
    /// socket), i.e. who OpenSIPS runs as, when this can be learnt cheaply; `None` for
    /// network transports. Used to open event sockets to the server only.
    #[doc(hidden)]
    fn server_owner(&self) -> Option<(u32, u32)> {
        None
    }

    /// Whether the server has the MI command `name`, for [`Cmd::verified`]. By default
    /// asked each time (`which`); [`Connection`](crate::Connection) and
    /// [`Pool`](crate::Pool) keep the answers.
    #[doc(hidden)]
    fn command_exists(&self, name: &str) -> Result<bool> {
        crate::connection::verify::ask_exists(self, name)
    }

    /// The MI message format to speak, without asking the server when it is known (an
    /// explicit `?protocol=`, or detection already done): what the SIP helpers, event
    /// subscriptions and `verified()` need, where [`ConnectionLike::server`] may probe.
    /// [`Connection`](crate::Connection) and [`Pool`](crate::Pool) answer without I/O when
    /// they can; the default asks [`ConnectionLike::server`].
    #[doc(hidden)]
    fn wire_protocol(&self) -> Result<crate::Protocol> {
        Ok(self.server()?.generation.protocol())
    }

    /// The server's command names (`which`), for suggestions and 1.x/2.x lookups.
    #[doc(hidden)]
    fn command_names(&self) -> Result<Vec<String>> {
        crate::MiCommands::which(self)
    }
}

impl<C: ConnectionLike + ?Sized> ConnectionLike for &C {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        (**self).execute(cmd)
    }

    fn server(&self) -> Result<crate::server::ServerFacts> {
        (**self).server()
    }

    fn server_owner(&self) -> Option<(u32, u32)> {
        (**self).server_owner()
    }

    fn wire_protocol(&self) -> Result<crate::Protocol> {
        (**self).wire_protocol()
    }

    fn command_exists(&self, name: &str) -> Result<bool> {
        (**self).command_exists(name)
    }

    fn command_names(&self) -> Result<Vec<String>> {
        (**self).command_names()
    }
}

/// Starts building an MI command, in the style of `redis::cmd`.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{cmd, Connection};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Connection::open(&server.fifo_url().unwrap())?;
///
/// // positional
/// let contacts = cmd("ul_show_contact").arg("location").arg("alice").query(&conn)?;
/// assert_eq!(contacts["AOR"].as_str(), Some("alice"));
///
/// // named, with an array parameter kept as ONE parameter
/// let stats = cmd("get_statistics").param("statistics", ["dialog:", "tm:"]).query(&conn)?;
/// assert!(stats.get("dialog:active_dialogs").is_some());
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The setters take and return the command by value, so a command can be built once and
/// run as often as needed:
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use std::time::Duration;
/// use opensips_mi::{cmd, Connection};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Connection::open(&server.udp_url().unwrap())?;
/// let d = Duration::from_secs(2);
/// let c = cmd("uptime").timeout(d);
/// c.query(&conn)?;
/// c.query(&conn)?;
/// assert_eq!(c.get_timeout(), Some(d));
///
/// // in a loop: rebind
/// let mut c = cmd("get_statistics");
/// for group in ["dialog:", "tm:"] {
///     c = c.arg(group);
/// }
/// assert_eq!(c.params().len(), 2);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cmd(method: impl Into<String>) -> Cmd {
    Cmd::new(method)
}

/// An MI command: method name, parameters and an optional per-call timeout.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a command does nothing until it is executed"]
pub struct Cmd {
    method: String,
    params: Params,
    timeout: Option<Duration>,
    problem: Option<String>,
    /// `false`: leave a JSON-RPC result undecoded in `raw` (typed decoding follows).
    decode: bool,
    /// Keep the reply's bytes in the response ([`Response::raw`]).
    keep_raw: bool,
    /// Check with `which` that the server has the command before sending it.
    pub(crate) verify: bool,
}

impl Cmd {
    /// A command with no parameters.
    pub fn new(method: impl Into<String>) -> Self {
        Cmd {
            method: method.into(),
            params: Params::None,
            timeout: None,
            problem: None,
            decode: true,
            keep_raw: false,
            verify: false,
        }
    }

    /// A command with the given parameters.
    pub fn with_params(method: impl Into<String>, params: impl Into<Params>) -> Self {
        Cmd {
            params: params.into(),
            ..Cmd::new(method)
        }
    }

    /// Adds a positional parameter. Mixing with [`Cmd::param`] makes execution fail with
    /// [`Error::InvalidRequest`].
    pub fn arg(mut self, value: impl Into<Value>) -> Self {
        match &mut self.params {
            Params::None => self.params = Params::Positional(vec![value.into()]),
            Params::Positional(v) => v.push(value.into()),
            Params::Named(_) => self.mixed(),
        }
        self
    }

    /// Adds a named parameter. Mixing with [`Cmd::arg`] makes execution fail with
    /// [`Error::InvalidRequest`].
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        match &mut self.params {
            Params::None => self.params = Params::Named(vec![(name.into(), value.into())]),
            Params::Named(v) => v.push((name.into(), value.into())),
            Params::Positional(_) => self.mixed(),
        }
        self
    }

    /// Overrides the connection's timeout for this command only (e.g. `t_uac_dlg`, whose
    /// reply waits for the SIP transaction).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the command only if the server has it ([`Connection::verify`](crate::Connection::verify),
    /// on any [`ConnectionLike`]); otherwise [`Cmd::execute`], [`Cmd::query`] and
    /// [`Cmd::query_as`] fail with [`Error::UnknownCommand`] and nothing is sent.
    pub fn verified(mut self) -> Self {
        self.verify = true;
        self
    }

    fn mixed(&mut self) {
        self.problem.get_or_insert_with(|| {
            format!(
                "command `{}` mixes positional (arg) and named (param) parameters; \
                 OpenSIPS accepts one kind per call",
                self.method
            )
        });
    }

    /// Keeps the reply's bytes in the [`Response`] ([`Response::raw`]), e.g. to print or
    /// store them as the server sent them. Off by default: a reply's bytes are dropped once
    /// decoded.
    pub fn keep_raw(mut self) -> Self {
        self.keep_raw = true;
        self
    }

    /// Whether the reply's bytes stay in the response: asked for, or needed by a lazy
    /// (typed) decode.
    pub(crate) fn keeps_raw(&self) -> bool {
        self.keep_raw || !self.decode
    }

    /// Whether the transport should decode a JSON-RPC result into [`Response::value`].
    pub(crate) fn decodes(&self) -> bool {
        self.decode
    }

    /// Leaves a successful JSON-RPC or 1.x/2.x text result undecoded: `value` stays `Null`
    /// and the caller reads `raw` into its own type in one pass (or calls
    /// `protocol::materialize`).
    pub(crate) fn lazy(&mut self) -> &mut Self {
        self.decode = false;
        self
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The per-call timeout, if set.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Checks the command can be sent: a method name, and no mixed parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] naming the problem.
    pub fn validate(&self) -> Result<()> {
        if let Some(p) = &self.problem {
            return Err(Error::invalid_request(p.clone()));
        }
        if self.method.is_empty() {
            return Err(Error::invalid_request("empty method name"));
        }
        Ok(())
    }

    /// Runs the command and returns the whole [`Response`].
    ///
    /// # Errors
    ///
    /// See [`ConnectionLike::execute`]; [`Error::UnknownCommand`] for a [`Cmd::verified`]
    /// command the server does not have.
    pub fn execute(&self, conn: &impl ConnectionLike) -> Result<Response> {
        if self.verify {
            self.validate()?;
            crate::connection::verify::check(conn, &self.method)?;
        }
        conn.execute(self)
    }

    /// Runs the command and returns only its result value.
    ///
    /// # Errors
    ///
    /// As [`Cmd::execute`].
    pub fn query(&self, conn: &impl ConnectionLike) -> Result<Value> {
        self.execute(conn).map(Response::into_value)
    }

    /// Runs the command and deserializes its result into `T` in one pass from the reply
    /// bytes (on JSON-RPC transports).
    ///
    /// # Errors
    ///
    /// As [`Cmd::execute`], and [`Error::UnexpectedReply`].
    pub fn query_as<T: DeserializeOwned>(&self, conn: &impl ConnectionLike) -> Result<T> {
        let mut c = self.clone();
        c.lazy();
        crate::protocol::decode_typed(c.execute(conn)?, std::convert::identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_positional_and_named() {
        let c = cmd("ul_show_contact").arg("location").arg("alice");
        assert_eq!(c.params(), &Params::positional(["location", "alice"]));
        assert!(c.validate().is_ok());

        let c = cmd("get_statistics").param("statistics", vec!["dialog:", "tm:"]);
        assert_eq!(c.params().len(), 1);
        assert_eq!(
            c.params().get(0, "statistics"),
            Some(&Value::from(["dialog:", "tm:"]))
        );
    }

    #[test]
    fn mixing_is_an_error_not_a_panic() {
        let c = cmd("cache_fetch").arg("local").param("attr", "k");
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("mixes positional"), "{err}");
        let c = cmd("cache_fetch").param("system", "local").arg("k");
        assert!(matches!(c.validate(), Err(Error::InvalidRequest { .. })));
    }

    #[test]
    fn empty_method_rejected() {
        assert!(cmd("").validate().is_err());
    }
}
