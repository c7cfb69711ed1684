//! Errors of every transport and of the server, in one enum.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::Value;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error object sent by OpenSIPS: `{"code":…,"message":…,"data":…}`.
///
/// It appears inside [`Error::Rpc`] (JSON-RPC protocol errors, negative codes such as
/// `-32601 Method not found`) and [`Error::Command`] (errors of the command itself, MI codes
/// such as `404 AOR not found` or `400 Value not found`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServerError {
    /// The code exactly as the server sent it.
    pub code: i64,
    /// The message (`"Invalid params"`, `"AOR not found"`, ...).
    pub message: String,
    /// The optional `data` member (3.1.3+ explains `-32602` errors here, e.g.
    /// `"Too few or too many parameters"`).
    pub data: Option<Value>,
}

impl ServerError {
    /// A server error with no `data`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ServerError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with a `data` member.
    #[must_use]
    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// `true` for the JSON-RPC error range (negative codes), as
    /// [`Error::Rpc`] is for the whole error.
    pub fn is_rpc(&self) -> bool {
        self.code < 0
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)?;
        match &self.data {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) => write!(f, " ({s})"),
            Some(other) => write!(f, " ({other})"),
        }
    }
}

/// Everything that can go wrong talking to OpenSIPS.
///
/// Each message says what happened and, where it helps, what to do about it.
///
/// The enum can grow without breaking your code: it is `#[non_exhaustive]` (a `match` needs a
/// `_` arm), and so is every struct variant (match them with `{ field, .. }`; only the crate
/// builds them). [`Error::Rpc`] and [`Error::Command`] stay tuple variants: what they carry
/// grows in [`ServerError`], itself `#[non_exhaustive]`. Match by variant to read the fields,
/// or by [`Error::kind`] for a stable, `Copy` [`ErrorKind`] (its [`ErrorKind::as_str`] is the
/// name for logs and JSON).
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{cmd, Connection, Error, ErrorKind};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Connection::open(&server.udp_url().unwrap())?;
///
/// // By variant, to read what the server said:
/// match cmd("ul_show_contact").arg("location").arg("nobody").execute(&conn) {
///     Err(Error::Command(e)) => assert_eq!((e.code, e.message.as_str()), (404, "AOR not found")),
///     other => panic!("unexpected: {other:?}"),
/// }
///
/// // By kind, to decide what to do (and to log a stable name):
/// let e = cmd("ul_show_contact").arg("location").arg("nobody").execute(&conn).unwrap_err();
/// match e.kind() {
///     ErrorKind::Command => assert_eq!(e.kind().as_str(), "command"),
///     ErrorKind::Timeout | ErrorKind::NotRunning => { /* retry later */ }
///     other => panic!("unexpected: {other}"),
/// }
///
/// // A struct variant is matched with `..`, which leaves room for new fields:
/// let e = cmd("ul_dupm").verified().execute(&conn).unwrap_err();
/// match e {
///     Error::UnknownCommand { name, suggestion, .. } => {
///         assert_eq!((name.as_str(), suggestion.as_deref()), ("ul_dupm", Some("ul_dump")));
///     }
///     other => panic!("unexpected: {other:?}"),
/// }
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error, with what the client was doing.
    #[error("i/o error while {context}: {source}")]
    #[non_exhaustive]
    Io {
        /// What the client was doing (`"writing the request to /tmp/opensips_fifo"`).
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// No reply (or no complete reply) within the timeout.
    #[error("timed out after {:.3}s {waiting_for}{}", .duration.as_secs_f64(), hint_suffix(.hint))]
    #[non_exhaustive]
    Timeout {
        /// The timeout that expired.
        duration: Duration,
        /// What was awaited (`"waiting for the reply"`, `"writing the request"`).
        waiting_for: Cow<'static, str>,
        /// What may explain it.
        hint: Option<Cow<'static, str>>,
    },

    /// The endpoint (FIFO file, unix socket) does not exist.
    #[error("{what} {} does not exist: {hint}", .path.display())]
    #[non_exhaustive]
    NotFound {
        /// What was looked for: `"FIFO"`, `"unix socket"`.
        what: Cow<'static, str>,
        /// The path that was tried.
        path: PathBuf,
        /// What to check.
        hint: Cow<'static, str>,
    },

    /// The endpoint exists but nobody serves it: OpenSIPS is not running (FIFO without a
    /// reader, UDP port refused, stale unix socket).
    #[error("OpenSIPS is not running at {endpoint}: {reason}")]
    #[non_exhaustive]
    NotRunning {
        /// The endpoint, e.g. `fifo:///tmp/opensips_fifo` or `udp://127.0.0.1:8809`.
        endpoint: String,
        /// Why the client thinks so.
        reason: String,
    },

    /// Permission denied on a FIFO, socket or directory.
    #[error("permission denied on {}: {hint}", .path.display())]
    #[non_exhaustive]
    PermissionDenied {
        /// The path.
        path: PathBuf,
        /// What to check (file modes, owner, `fs.protected_fifos`...).
        hint: Cow<'static, str>,
    },

    /// A JSON-RPC protocol error (negative code: `-32700`, `-32600`, `-32601`, `-32602`,
    /// `-32000`, `-32001`). A tuple variant: new details go into [`ServerError`].
    #[error("JSON-RPC error {0}")]
    Rpc(ServerError),

    /// The command ran and failed with an MI error (e.g. `404 AOR not found`). A tuple
    /// variant: new details go into [`ServerError`].
    #[error("OpenSIPS error {0}")]
    Command(ServerError),

    /// OpenSIPS answered with plain text instead of a reply: it could not parse the request,
    /// or could not print or build the response.
    #[error("OpenSIPS could not answer: {text:?}{}", hint_suffix(.hint))]
    #[non_exhaustive]
    ServerFailure {
        /// The text the server sent (`"failed to print response"`, `"500 Internal error"`).
        text: String,
        /// The likely reason and what to do.
        hint: Option<Cow<'static, str>>,
    },

    /// The reply could not be understood.
    #[error("malformed reply: {reason}; got {excerpt:?}")]
    #[non_exhaustive]
    MalformedReply {
        /// What is wrong with it.
        reason: String,
        /// The first bytes of what came back (lossy UTF-8, at most 200 bytes).
        excerpt: String,
    },

    /// The request cannot be sent as given (too large for the transport, mixed positional
    /// and named parameters, an invalid reply FIFO name...). Nothing was sent.
    #[error("invalid request: {reason}")]
    #[non_exhaustive]
    InvalidRequest {
        /// What is wrong with the request.
        reason: String,
    },

    /// A connection URL or option is wrong.
    #[error("invalid connection settings: {reason}")]
    #[non_exhaustive]
    InvalidConfig {
        /// What is wrong with the settings.
        reason: String,
    },

    /// The HTTP server answered with a status other than 200 (JSON-RPC errors come as 200
    /// and are [`Error::Rpc`] / [`Error::Command`]). The body is not read: OpenSIPS never
    /// finishes it for several of these statuses.
    #[error("HTTP status {status} from {url}{}", hint_suffix(.hint))]
    #[non_exhaustive]
    Http {
        /// The status code.
        status: u16,
        /// The URL (without credentials).
        url: String,
        /// What the status usually means with OpenSIPS.
        hint: Option<Cow<'static, str>>,
    },

    /// The reply did not have the shape a typed helper or your type expects.
    #[error("unexpected reply shape at `{field}`: {reason}")]
    #[non_exhaustive]
    UnexpectedReply {
        /// The field path where it did not fit (`Domains[0].AORs[2].Contacts[0].Expires`;
        /// `.` for the whole result).
        field: String,
        /// What did not fit.
        reason: String,
    },

    /// The server has no such command (checked with `which` before sending).
    #[error("OpenSIPS has no MI command `{name}`{}", .suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    #[non_exhaustive]
    UnknownCommand {
        /// The name asked for.
        name: String,
        /// The closest name the server has.
        suggestion: Option<String>,
    },

    /// TLS failed: the certificate is not trusted, or the handshake failed.
    #[error("TLS error talking to {url}: {message} ({hint})")]
    #[non_exhaustive]
    Tls {
        /// The URL.
        url: String,
        /// The TLS library's message.
        message: String,
        /// What to do.
        hint: Cow<'static, str>,
    },
}

fn hint_suffix(h: &Option<Cow<'static, str>>) -> String {
    h.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

/// The kind of an [`Error`], as returned by [`Error::kind`]: one per variant, `Copy`, and
/// with a short stable name ([`ErrorKind::as_str`], also its `Display`) for logs, JSON
/// output and configuration. [`str::parse`] reads the name back.
///
/// ```
/// use opensips_mi::ErrorKind;
/// assert_eq!(ErrorKind::NotFound.as_str(), "not_found");
/// assert_eq!("not_found".parse::<ErrorKind>()?, ErrorKind::NotFound);
/// assert_eq!(ErrorKind::PermissionDenied.to_string(), "permission_denied");
/// # Ok::<(), opensips_mi::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Io`]: `io`.
    Io,
    /// [`Error::Timeout`]: `timeout`.
    Timeout,
    /// [`Error::NotFound`]: `not_found`.
    NotFound,
    /// [`Error::NotRunning`]: `not_running`.
    NotRunning,
    /// [`Error::PermissionDenied`]: `permission_denied`.
    PermissionDenied,
    /// [`Error::Rpc`]: `rpc`.
    Rpc,
    /// [`Error::Command`]: `command`.
    Command,
    /// [`Error::ServerFailure`]: `server_failure`.
    ServerFailure,
    /// [`Error::MalformedReply`]: `malformed_reply`.
    MalformedReply,
    /// [`Error::InvalidRequest`]: `invalid_request`.
    InvalidRequest,
    /// [`Error::InvalidConfig`]: `invalid_config`.
    InvalidConfig,
    /// [`Error::Http`]: `http`.
    Http,
    /// [`Error::UnexpectedReply`]: `unexpected_reply`.
    UnexpectedReply,
    /// [`Error::UnknownCommand`]: `unknown_command`.
    UnknownCommand,
    /// [`Error::Tls`]: `tls`.
    Tls,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    const ALL: [ErrorKind; 15] = [
        ErrorKind::Io,
        ErrorKind::Timeout,
        ErrorKind::NotFound,
        ErrorKind::NotRunning,
        ErrorKind::PermissionDenied,
        ErrorKind::Rpc,
        ErrorKind::Command,
        ErrorKind::ServerFailure,
        ErrorKind::MalformedReply,
        ErrorKind::InvalidRequest,
        ErrorKind::InvalidConfig,
        ErrorKind::Http,
        ErrorKind::UnexpectedReply,
        ErrorKind::UnknownCommand,
        ErrorKind::Tls,
    ];

    /// The short, stable name: `command`, `rpc`, `timeout`, `not_found`, `not_running`,
    /// `permission_denied`, `server_failure`, `malformed_reply`, `invalid_request`,
    /// `invalid_config`, `http`, `tls`, `unexpected_reply`, `unknown_command`, `io`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Timeout => "timeout",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NotRunning => "not_running",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Rpc => "rpc",
            ErrorKind::Command => "command",
            ErrorKind::ServerFailure => "server_failure",
            ErrorKind::MalformedReply => "malformed_reply",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::Http => "http",
            ErrorKind::UnexpectedReply => "unexpected_reply",
            ErrorKind::UnknownCommand => "unknown_command",
            ErrorKind::Tls => "tls",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorKind {
    type Err = Error;
    /// The kind named by [`ErrorKind::as_str`] (exactly, lowercase); anything else is
    /// [`Error::InvalidConfig`] listing the names.
    fn from_str(s: &str) -> Result<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid_config(format!(
                    "unknown error kind {s:?} (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

impl Error {
    /// The kind of error, for decisions and for logs and JSON output (through
    /// [`ErrorKind::as_str`]).
    ///
    /// ```
    /// use opensips_mi::{Error, ErrorKind, ServerError};
    /// let e = Error::Command(ServerError::new(404, "AOR not found"));
    /// assert_eq!(e.kind(), ErrorKind::Command);
    /// assert_eq!(e.kind().as_str(), "command");
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::NotRunning { .. } => ErrorKind::NotRunning,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::Rpc(_) => ErrorKind::Rpc,
            Error::Command(_) => ErrorKind::Command,
            Error::ServerFailure { .. } => ErrorKind::ServerFailure,
            Error::MalformedReply { .. } => ErrorKind::MalformedReply,
            Error::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            Error::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            Error::Http { .. } => ErrorKind::Http,
            Error::UnexpectedReply { .. } => ErrorKind::UnexpectedReply,
            Error::UnknownCommand { .. } => ErrorKind::UnknownCommand,
            Error::Tls { .. } => ErrorKind::Tls,
        }
    }

    /// `true` if the error is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// `true` if OpenSIPS could not be reached at all (missing endpoint, not running,
    /// permission denied).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::NotFound { .. }
                | Error::NotRunning { .. }
                | Error::PermissionDenied { .. }
                | Error::Tls { .. }
        )
    }

    /// `true` when the server said it has no such command, in any generation's words:
    /// 3.x/4.x `-32601 Method not found`, 1.x/2.x `500 command 'x' not available`, 1.x
    /// XML-RPC `-506 Requested command (x) is not available!`; and
    /// [`Error::UnknownCommand`], what a command checked with
    /// [`Cmd::verified`](crate::Cmd::verified) fails with before anything is sent.
    ///
    /// ```
    /// use opensips_mi::{Error, ServerError};
    /// assert!(Error::Rpc(ServerError::new(-32601, "Method not found")).is_unknown_command());
    /// assert!(!Error::Command(ServerError::new(404, "AOR not found")).is_unknown_command());
    /// ```
    pub fn is_unknown_command(&self) -> bool {
        match self {
            Error::UnknownCommand { .. } => true,
            Error::Rpc(s) => s.code == -32601 || s.code == -506,
            Error::Command(s) => s.code == 500 && s.message.contains("not available"),
            _ => false,
        }
    }

    /// The server's error object, for [`Error::Rpc`] and [`Error::Command`].
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Rpc(e) | Error::Command(e) => Some(e),
            _ => None,
        }
    }

    /// What may explain the error or what to check, for the variants that carry a hint
    /// ([`Error::Timeout`], [`Error::NotFound`], [`Error::PermissionDenied`],
    /// [`Error::ServerFailure`], [`Error::Http`], [`Error::Tls`]) when there is one.
    ///
    /// ```
    /// use opensips_mi::{cmd, Connection, ErrorKind};
    /// let conn = Connection::open("fifo:///nonexistent/opensips_fifo")?;
    /// let e = cmd("uptime").execute(&conn).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::NotFound);
    /// assert_eq!(e.hint(), Some("is OpenSIPS running with mi_fifo, and is this its fifo_name?"));
    /// # Ok::<(), opensips_mi::Error>(())
    /// ```
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Timeout { hint, .. }
            | Error::ServerFailure { hint, .. }
            | Error::Http { hint, .. } => hint.as_deref(),
            Error::NotFound { hint, .. }
            | Error::PermissionDenied { hint, .. }
            | Error::Tls { hint, .. } => Some(hint),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid_request(reason: impl Into<String>) -> Self {
        Error::InvalidRequest {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_config(reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>, bytes: &[u8]) -> Self {
        Error::MalformedReply {
            reason: reason.into(),
            excerpt: excerpt(bytes),
        }
    }

    pub(crate) fn timeout(duration: Duration, waiting_for: impl Into<Cow<'static, str>>) -> Self {
        Error::Timeout {
            duration,
            waiting_for: waiting_for.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(self, h: impl Into<Cow<'static, str>>) -> Self {
        match self {
            Error::Timeout {
                duration,
                waiting_for,
                ..
            } => Error::Timeout {
                duration,
                waiting_for,
                hint: Some(h.into()),
            },
            other => other,
        }
    }
}

/// At most 200 bytes of `bytes`, as lossy UTF-8.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    if bytes.len() <= MAX {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        format!(
            "{}… ({} bytes)",
            String::from_utf8_lossy(&bytes[..MAX]),
            bytes.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 80,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn messages() {
        let e = Error::Rpc(
            ServerError::new(-32602, "Invalid params").with_data("Too few or too many parameters"),
        );
        assert_eq!(
            e.to_string(),
            "JSON-RPC error -32602 Invalid params (Too few or too many parameters)"
        );
        let e = Error::timeout(Duration::from_millis(1500), "waiting for the reply")
            .with_hint("the server may have dropped the request");
        assert_eq!(
            e.to_string(),
            "timed out after 1.500s waiting for the reply (the server may have dropped the request)"
        );
        assert!(e.is_timeout());
        let long = vec![b'x'; 500];
        assert!(excerpt(&long).ends_with("… (500 bytes)"));
    }

    /// One error of every variant, with the kind it must report.
    fn one_of_each() -> Vec<(Error, ErrorKind)> {
        vec![
            (
                Error::io("reading", io::Error::other("boom")),
                ErrorKind::Io,
            ),
            (
                Error::timeout(Duration::from_secs(1), "waiting"),
                ErrorKind::Timeout,
            ),
            (
                Error::NotFound {
                    what: "FIFO".into(),
                    path: "/tmp/x".into(),
                    hint: "check".into(),
                },
                ErrorKind::NotFound,
            ),
            (
                Error::NotRunning {
                    endpoint: "udp://127.0.0.1:1".into(),
                    reason: "refused".into(),
                },
                ErrorKind::NotRunning,
            ),
            (
                Error::PermissionDenied {
                    path: "/tmp/x".into(),
                    hint: "modes".into(),
                },
                ErrorKind::PermissionDenied,
            ),
            (
                Error::Rpc(ServerError::new(-32601, "Method not found")),
                ErrorKind::Rpc,
            ),
            (
                Error::Command(ServerError::new(404, "AOR not found")),
                ErrorKind::Command,
            ),
            (
                Error::ServerFailure {
                    text: "500 Internal error".into(),
                    hint: None,
                },
                ErrorKind::ServerFailure,
            ),
            (Error::malformed("bad", b"xx"), ErrorKind::MalformedReply),
            (Error::invalid_request("too big"), ErrorKind::InvalidRequest),
            (Error::invalid_config("bad URL"), ErrorKind::InvalidConfig),
            (
                Error::Http {
                    status: 401,
                    url: "http://h/mi".into(),
                    hint: Some("credentials".into()),
                },
                ErrorKind::Http,
            ),
            (
                Error::UnexpectedReply {
                    field: ".".into(),
                    reason: "not an object".into(),
                },
                ErrorKind::UnexpectedReply,
            ),
            (
                Error::UnknownCommand {
                    name: "ul_dupm".into(),
                    suggestion: None,
                },
                ErrorKind::UnknownCommand,
            ),
            (
                Error::Tls {
                    url: "https://h/mi".into(),
                    message: "UnknownIssuer".into(),
                    hint: "give its CA".into(),
                },
                ErrorKind::Tls,
            ),
        ]
    }

    #[test]
    fn kind_of_each_variant() {
        let all = one_of_each();
        for (e, kind) in &all {
            assert_eq!(e.kind(), *kind, "{e:?}");
        }
        // one variant per kind, and every kind is reached
        let kinds: std::collections::HashSet<ErrorKind> = all.iter().map(|(_, k)| *k).collect();
        assert_eq!(kinds.len(), ErrorKind::ALL.len());
        assert_eq!(all.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn kind_names_round_trip() {
        let mut names = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            let name = kind.as_str();
            assert!(names.insert(name), "{name} twice");
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<ErrorKind>().unwrap(), kind);
        }
        // the names the CLI has always printed
        assert_eq!(ErrorKind::Command.as_str(), "command");
        assert_eq!(ErrorKind::NotFound.as_str(), "not_found");
        assert_eq!(ErrorKind::PermissionDenied.as_str(), "permission_denied");
        assert_eq!(ErrorKind::InvalidConfig.as_str(), "invalid_config");
        for bad in ["", "Command", "not-found", "timeout ", "nope"] {
            let e = bad.parse::<ErrorKind>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{bad:?}");
            assert!(e.to_string().contains("not_found"), "{e}");
        }
    }

    #[test]
    fn hints() {
        let all = one_of_each();
        let by_kind = |k: ErrorKind| all.iter().find(|(_, kk)| *kk == k).unwrap().0.hint();
        assert_eq!(by_kind(ErrorKind::NotFound), Some("check"));
        assert_eq!(by_kind(ErrorKind::PermissionDenied), Some("modes"));
        assert_eq!(by_kind(ErrorKind::Http), Some("credentials"));
        assert_eq!(by_kind(ErrorKind::Tls), Some("give its CA"));
        assert_eq!(by_kind(ErrorKind::Timeout), None);
        assert_eq!(by_kind(ErrorKind::ServerFailure), None);
        assert_eq!(by_kind(ErrorKind::Command), None);
        let e = Error::timeout(Duration::from_secs(1), "waiting").with_hint("dropped");
        assert_eq!(e.hint(), Some("dropped"));
        // a hint can be built at run time
        let e = Error::timeout(Duration::from_secs(1), "waiting")
            .with_hint(format!("is {} served?", "/tmp/x"));
        assert_eq!(e.hint(), Some("is /tmp/x served?"));
    }

    #[test]
    fn messages_of_reshaped_variants() {
        let msgs: Vec<String> = one_of_each().iter().map(|(e, _)| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "i/o error while reading: boom",
                "timed out after 1.000s waiting",
                "FIFO /tmp/x does not exist: check",
                "OpenSIPS is not running at udp://127.0.0.1:1: refused",
                "permission denied on /tmp/x: modes",
                "JSON-RPC error -32601 Method not found",
                "OpenSIPS error 404 AOR not found",
                "OpenSIPS could not answer: \"500 Internal error\"",
                "malformed reply: bad; got \"xx\"",
                "invalid request: too big",
                "invalid connection settings: bad URL",
                "HTTP status 401 from http://h/mi (credentials)",
                "unexpected reply shape at `.`: not an object",
                "OpenSIPS has no MI command `ul_dupm`",
                "TLS error talking to https://h/mi: UnknownIssuer (give its CA)",
            ]
        );
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
