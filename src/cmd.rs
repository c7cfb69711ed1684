//! The command builder ([`cmd`], [`Cmd`]), parameters ([`Params`]) and replies ([`Response`]).

use std::time::Duration;

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
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Response {
    /// The MI code (`200` for success).
    pub code: i64,
    /// The reason phrase (`"OK"`).
    pub message: String,
    /// The decoded result.
    pub value: Value,
    /// The reply exactly as received (one JSON-RPC object).
    pub raw: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("value", &self.value)
            .field("raw", &crate::error::excerpt(&self.raw))
            .finish()
    }
}

impl Response {
    /// Consumes the response, keeping only the result value.
    pub fn into_value(self) -> Value {
        self.value
    }
}

/// Anything that can run an MI command: [`Connection`](crate::Connection), or a wrapper of
/// your own (a pool, a test double).
pub trait ConnectionLike {
    /// Sends the command and waits for its reply.
    ///
    /// # Errors
    ///
    /// Any [`Error`]: transport failures, timeouts, and the server's own errors.
    fn execute(&self, cmd: &Cmd) -> Result<Response>;

    /// The MI generation behind this connection (JSON-RPC unless told otherwise).
    ///
    /// # Errors
    ///
    /// Detection errors (see [`Connection::protocol`](crate::Connection::protocol)).
    fn protocol(&self) -> Result<crate::Protocol> {
        Ok(crate::Protocol::JsonRpc)
    }

    /// What is known about the server (see [`Connection::server`](crate::Connection::server));
    /// by default only what [`ConnectionLike::protocol`] tells (2.x for legacy, 3.x else).
    ///
    /// # Errors
    ///
    /// Detection errors.
    fn server(&self) -> Result<crate::server::ServerFacts> {
        use crate::server::{Generation, ServerFacts};
        Ok(ServerFacts::new(match self.protocol()? {
            crate::Protocol::Legacy => Generation::V2,
            _ => Generation::V3,
        }))
    }

    /// The user and group (uid, gid) that own the server's local endpoint (its FIFO or unix
    /// socket), i.e. who OpenSIPS runs as, when this can be learnt cheaply; `None` for
    /// network transports. Used to open event sockets to the server only.
    #[doc(hidden)]
    fn server_owner(&self) -> Option<(u32, u32)> {
        None
    }
}

impl<C: ConnectionLike + ?Sized> ConnectionLike for &C {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        (**self).execute(cmd)
    }

    fn protocol(&self) -> Result<crate::Protocol> {
        (**self).protocol()
    }

    fn server(&self) -> Result<crate::server::ServerFacts> {
        (**self).server()
    }

    fn server_owner(&self) -> Option<(u32, u32)> {
        (**self).server_owner()
    }
}

/// Starts building an MI command, in the style of `redis::cmd`.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{cmd, Connection};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Connection::open(&server.fifo_url())?;
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
/// Because the setters return `&mut Cmd`, a command that is reused must first be bound:
/// `let mut c = cmd("uptime"); c.timeout(d);` then `c.query(&conn)` as often as needed.
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
    pub fn arg(&mut self, value: impl Into<Value>) -> &mut Self {
        match &mut self.params {
            Params::None => self.params = Params::Positional(vec![value.into()]),
            Params::Positional(v) => v.push(value.into()),
            Params::Named(_) => self.mixed(),
        }
        self
    }

    /// Adds a named parameter. Mixing with [`Cmd::arg`] makes execution fail with
    /// [`Error::InvalidRequest`].
    pub fn param(&mut self, name: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        match &mut self.params {
            Params::None => self.params = Params::Named(vec![(name.into(), value.into())]),
            Params::Named(v) => v.push((name.into(), value.into())),
            Params::Positional(_) => self.mixed(),
        }
        self
    }

    /// Overrides the connection's timeout for this command only (e.g. `t_uac_dlg`, whose
    /// reply waits for the SIP transaction).
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = Some(timeout);
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
            return Err(Error::InvalidRequest(p.clone()));
        }
        if self.method.is_empty() {
            return Err(Error::InvalidRequest("empty method name".into()));
        }
        Ok(())
    }

    /// Runs the command and returns the whole [`Response`].
    ///
    /// # Errors
    ///
    /// See [`ConnectionLike::execute`].
    pub fn execute(&self, conn: &impl ConnectionLike) -> Result<Response> {
        conn.execute(self)
    }

    /// Runs the command and returns only its result value.
    ///
    /// # Errors
    ///
    /// See [`ConnectionLike::execute`].
    pub fn query(&self, conn: &impl ConnectionLike) -> Result<Value> {
        conn.execute(self).map(Response::into_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_positional_and_named() {
        let mut c = cmd("ul_show_contact");
        c.arg("location").arg("alice");
        assert_eq!(c.params(), &Params::positional(["location", "alice"]));
        assert!(c.validate().is_ok());

        let mut c = cmd("get_statistics");
        c.param("statistics", vec!["dialog:", "tm:"]);
        assert_eq!(c.params().len(), 1);
        assert_eq!(
            c.params().get(0, "statistics"),
            Some(&Value::from(["dialog:", "tm:"]))
        );
    }

    #[test]
    fn mixing_is_an_error_not_a_panic() {
        let mut c = cmd("cache_fetch");
        c.arg("local").param("attr", "k");
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("mixes positional"), "{err}");
        let mut c = cmd("cache_fetch");
        c.param("system", "local").arg("k");
        assert!(matches!(c.validate(), Err(Error::InvalidRequest(_))));
    }

    #[test]
    fn empty_method_rejected() {
        assert!(cmd("").validate().is_err());
    }
}
