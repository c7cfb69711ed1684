//! Errors of every transport and of the server, in one enum.

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

    /// `true` for the JSON-RPC protocol range (negative codes).
    pub fn is_protocol(&self) -> bool {
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
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{cmd, Connection, Error};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Connection::open(&server.udp_url().unwrap())?;
/// match cmd("ul_show_contact").arg("location").arg("nobody").execute(&conn) {
///     Err(Error::Command(e)) => assert_eq!((e.code, e.message.as_str()), (404, "AOR not found")),
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
    Io {
        /// What the client was doing (`"writing the request to /tmp/opensips_fifo"`).
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// No reply (or no complete reply) within the timeout.
    #[error("timed out after {:.3}s {waiting_for}{}", .duration.as_secs_f64(), hint_suffix(.hint))]
    Timeout {
        /// The timeout that expired.
        duration: Duration,
        /// What was awaited (`"waiting for the reply"`, `"writing the request"`).
        waiting_for: &'static str,
        /// What may explain it.
        hint: Option<&'static str>,
    },

    /// The endpoint (FIFO file, unix socket) does not exist.
    #[error("{kind} {} does not exist: {hint}", .path.display())]
    NotFound {
        /// `"FIFO"`, `"unix socket"`.
        kind: &'static str,
        /// The path that was tried.
        path: PathBuf,
        /// What to check.
        hint: &'static str,
    },

    /// The endpoint exists but nobody serves it: OpenSIPS is not running (FIFO without a
    /// reader, UDP port refused, stale unix socket).
    #[error("OpenSIPS is not running at {endpoint}: {reason}")]
    NotRunning {
        /// The endpoint, e.g. `fifo:///tmp/opensips_fifo` or `udp://127.0.0.1:8809`.
        endpoint: String,
        /// Why the client thinks so.
        reason: String,
    },

    /// Permission denied on a FIFO, socket or directory.
    #[error("permission denied on {}: {hint}", .path.display())]
    PermissionDenied {
        /// The path.
        path: PathBuf,
        /// What to check (file modes, owner, `fs.protected_fifos`...).
        hint: &'static str,
    },

    /// A JSON-RPC protocol error (negative code: `-32700`, `-32600`, `-32601`, `-32602`,
    /// `-32000`, `-32001`).
    #[error("JSON-RPC error {0}")]
    Rpc(ServerError),

    /// The command ran and failed with an MI error (e.g. `404 AOR not found`).
    #[error("OpenSIPS error {0}")]
    Command(ServerError),

    /// OpenSIPS answered with plain text instead of a reply: it could not parse the request,
    /// or could not print or build the response.
    #[error("OpenSIPS could not answer: {text:?}{}", hint_suffix(.hint))]
    ServerFailure {
        /// The text the server sent (`"failed to print response"`, `"500 Internal error"`).
        text: String,
        /// The likely reason and what to do.
        hint: Option<&'static str>,
    },

    /// The reply could not be understood.
    #[error("malformed reply: {reason}; got {excerpt:?}")]
    MalformedReply {
        /// What is wrong with it.
        reason: String,
        /// The first bytes of what came back (lossy UTF-8, at most 200 bytes).
        excerpt: String,
    },

    /// The request cannot be sent as given (too large for the transport, mixed positional
    /// and named parameters, an invalid reply FIFO name...). Nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A connection URL or option is wrong.
    #[error("invalid connection settings: {0}")]
    InvalidConfig(String),

    /// The HTTP server answered with a status other than 200 (JSON-RPC errors come as 200
    /// and are [`Error::Rpc`] / [`Error::Command`]). The body is not read: OpenSIPS never
    /// finishes it for several of these statuses.
    #[error("HTTP status {status} from {url}{}", hint_suffix(.hint))]
    Http {
        /// The status code.
        status: u16,
        /// The URL (without credentials).
        url: String,
        /// What the status usually means with OpenSIPS.
        hint: Option<&'static str>,
    },

    /// The reply did not have the shape a typed helper or your type expects.
    #[error("unexpected reply shape at `{path}`: {reason}")]
    UnexpectedReply {
        /// Where (`Domains[0].AORs[2].Contacts[0].Expires`; `.` for the whole result).
        path: String,
        /// What did not fit.
        reason: String,
    },

    /// The server has no such command (checked with `which` before sending).
    #[error("OpenSIPS has no MI command `{name}`{}", .suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownCommand {
        /// The name asked for.
        name: String,
        /// The closest name the server has.
        suggestion: Option<String>,
    },

    /// TLS failed: the certificate is not trusted, or the handshake failed.
    #[error("TLS error talking to {url}: {message} ({hint})")]
    Tls {
        /// The URL.
        url: String,
        /// The TLS library's message.
        message: String,
        /// What to do.
        hint: &'static str,
    },
}

fn hint_suffix(h: &Option<&'static str>) -> String {
    h.map(|h| format!(" ({h})")).unwrap_or_default()
}

impl Error {
    /// A short, stable name of the kind of error, for logs and JSON output: `command`,
    /// `rpc`, `timeout`, `not_found`, `not_running`, `permission_denied`,
    /// `server_failure`, `malformed_reply`, `invalid_request`, `invalid_config`, `http`,
    /// `tls`, `unexpected_reply`, `unknown_command`, `io`.
    ///
    /// ```
    /// use opensips_mi::{Error, ServerError};
    /// assert_eq!(Error::Command(ServerError::new(404, "AOR not found")).kind(), "command");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Timeout { .. } => "timeout",
            Error::NotFound { .. } => "not_found",
            Error::NotRunning { .. } => "not_running",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::Rpc(_) => "rpc",
            Error::Command(_) => "command",
            Error::ServerFailure { .. } => "server_failure",
            Error::MalformedReply { .. } => "malformed_reply",
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Http { .. } => "http",
            Error::UnexpectedReply { .. } => "unexpected_reply",
            Error::UnknownCommand { .. } => "unknown_command",
            Error::Tls { .. } => "tls",
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

    /// The server's error object, for [`Error::Rpc`] and [`Error::Command`].
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Rpc(e) | Error::Command(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>, bytes: &[u8]) -> Self {
        Error::MalformedReply {
            reason: reason.into(),
            excerpt: excerpt(bytes),
        }
    }

    pub(crate) fn timeout(duration: Duration, waiting_for: &'static str) -> Self {
        Error::Timeout {
            duration,
            waiting_for,
            hint: None,
        }
    }

    pub(crate) fn with_hint(self, h: &'static str) -> Self {
        match self {
            Error::Timeout {
                duration,
                waiting_for,
                ..
            } => Error::Timeout {
                duration,
                waiting_for,
                hint: Some(h),
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

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
