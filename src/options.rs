//! [`Options`]: the settings of a connection, shared by every transport.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transport::datagram::DEFAULT_DATAGRAM_BUFFER;
use crate::{Error, Protocol, Result};

/// The default timeout of every blocking step (open, write, read): 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings shared by all transports. Build with the consuming setters:
///
/// ```
/// use std::time::Duration;
/// use opensips_mi::Options;
/// let opts = Options::new().timeout(Duration::from_secs(2)).reply_dir("/run/opensips/");
/// assert_eq!(opts.timeout, Duration::from_secs(2));
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Timeout of a whole call (open, write, read). Default 5 s. A URL's `?timeout=`
    /// overrides it, and a [`Cmd::timeout`](crate::Cmd::timeout) overrides both for one
    /// call: see the rule in [`Connection::open`](crate::Connection::open).
    pub timeout: Duration,
    /// FIFO: the server's `reply_dir`, where reply FIFOs are created. Default `/tmp/`.
    pub reply_dir: PathBuf,
    /// FIFO: a fixed reply FIFO name instead of a random one per call. Calls on the
    /// connection are then serialized. No `.`, `/`, `\` or `:`.
    pub reply_fifo: Option<String>,
    /// Datagram: the largest datagram sent or received. Default 65 457 (OpenSIPS 3.x;
    /// raise it to match 4.0's `socket_buf_size`).
    pub datagram_buffer: usize,
    /// Unix datagram: the directory of the client's reply socket. Default: the system
    /// temporary directory. OpenSIPS must be able to reach it.
    pub reply_socket_dir: PathBuf,
    /// HTTP: extra request headers (e.g. `Authorization` for a proxy in front of mi_http).
    pub headers: Vec<(String, String)>,
    /// HTTPS: PEM certificates to trust instead of the built-in web roots (a private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// HTTPS: skip certificate verification. Only for test setups with self-signed
    /// certificates: anyone on the path can then read and change the traffic.
    pub danger_accept_invalid_certs: bool,
    /// The MI generation: detected once per connection ([`Protocol::Auto`], the default),
    /// JSON-RPC (3.x/4.x) or legacy text (1.x/2.x).
    pub protocol: Protocol,
    /// FIFO and HTTP: the largest reply accepted (default [`DEFAULT_MAX_REPLY`], 128 MiB); a
    /// bigger one is cut off with [`Error::MalformedReply`] instead of filling memory.
    /// Datagram replies are bounded by [`Options::datagram_buffer`].
    pub max_reply: usize,
    /// HTTP: keep the TCP connection open between commands (default `true`). Turn it off
    /// for a proxy in between that mishandles persistent connections: every command then
    /// opens its own connection and sends `Connection: close`.
    pub keepalive: bool,
    /// FIFO and unix datagram: the user OpenSIPS runs as (a name or a uid). In a directory
    /// every user can write to (`/tmp`), a server FIFO or socket that belongs to anyone but
    /// root, this user or the server user is refused: another local user could have put it
    /// there to read the requests. Default: the `opensips` user, when it exists. Datagrams
    /// on the unix reply socket are taken only from root, this user, the server user and
    /// the owner of the server's socket.
    pub server_user: Option<String>,
    /// FIFO and unix datagram: whether a reply FIFO or socket may be made writable by every
    /// local user when nothing narrower lets the server in (the server runs as another
    /// user, and this user is not in its group). Default `true`, with a warning in the log;
    /// `false` refuses with an error instead. See README, Security.
    pub world_replies: bool,
}

/// The default [`Options::max_reply`]: 128 MiB (a `ul_dump` of 100 000 contacts is about
/// 35 MB). Raise it for bigger registrars, or read them with the streaming helpers.
pub const DEFAULT_MAX_REPLY: usize = 128 << 20;

/// Header values that carry credentials: shown as `***` by `Debug`.
fn is_secret_header(name: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "x-auth-token",
    ]
    .iter()
    .any(|s| name.eq_ignore_ascii_case(s))
}

/// Every setting, but credentials (`Authorization` and similar headers) as `***`.
impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_header(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("Options")
            .field("timeout", &self.timeout)
            .field("reply_dir", &self.reply_dir)
            .field("reply_fifo", &self.reply_fifo)
            .field("datagram_buffer", &self.datagram_buffer)
            .field("reply_socket_dir", &self.reply_socket_dir)
            .field("headers", &headers)
            .field(
                "ca_pem",
                &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())),
            )
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("protocol", &self.protocol)
            .field("max_reply", &self.max_reply)
            .field("keepalive", &self.keepalive)
            .field("server_user", &self.server_user)
            .field("world_replies", &self.world_replies)
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: DEFAULT_TIMEOUT,
            reply_dir: PathBuf::from("/tmp/"),
            reply_fifo: None,
            datagram_buffer: DEFAULT_DATAGRAM_BUFFER,
            reply_socket_dir: std::env::temp_dir(),
            headers: Vec::new(),
            ca_pem: None,
            danger_accept_invalid_certs: false,
            protocol: Protocol::Auto,
            max_reply: DEFAULT_MAX_REPLY,
            keepalive: true,
            server_user: None,
            world_replies: true,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`Options::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets [`Options::reply_dir`].
    #[must_use]
    pub fn reply_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reply_dir = dir.into();
        self
    }
    /// Sets [`Options::protocol`].
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }
    /// Sets [`Options::reply_fifo`].
    #[must_use]
    pub fn reply_fifo(mut self, name: impl Into<String>) -> Self {
        self.reply_fifo = Some(name.into());
        self
    }
    /// Sets [`Options::datagram_buffer`].
    #[must_use]
    pub fn datagram_buffer(mut self, bytes: usize) -> Self {
        self.datagram_buffer = bytes;
        self
    }
    /// Sets [`Options::keepalive`].
    #[must_use]
    pub fn keepalive(mut self, yes: bool) -> Self {
        self.keepalive = yes;
        self
    }
    /// Sets [`Options::max_reply`].
    #[must_use]
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }
    /// Sets [`Options::server_user`].
    #[must_use]
    pub fn server_user(mut self, user: impl Into<String>) -> Self {
        self.server_user = Some(user.into());
        self
    }
    /// Sets [`Options::world_replies`].
    #[must_use]
    pub fn world_replies(mut self, allow: bool) -> Self {
        self.world_replies = allow;
        self
    }
    /// Sets [`Options::reply_socket_dir`].
    #[must_use]
    pub fn reply_socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reply_socket_dir = dir.into();
        self
    }

    /// Adds an HTTP request header (sent on every request of an HTTP connection).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// HTTP Basic authentication (OpenSIPS 4.0 httpd `auth_username`/`auth_password`, or a
    /// proxy in front of mi_http).
    #[must_use]
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        let value = crate::url::basic_auth(user, password);
        self.set_authorization(value)
    }
    /// HTTP Bearer authentication (for a proxy in front of mi_http).
    #[must_use]
    pub fn bearer_token(self, token: &str) -> Self {
        self.set_authorization(format!("Bearer {token}"))
    }
    fn set_authorization(mut self, value: String) -> Self {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
        self.headers.push(("Authorization".into(), value));
        self
    }
    /// HTTPS: trust the CA certificates in this PEM text (instead of the web roots).
    #[must_use]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }
    /// HTTPS: trust the CA certificates in this PEM file.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the file cannot be read.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| {
            Error::invalid_config(format!("cannot read CA file {}: {e}", path.display()))
        })?;
        Ok(self.ca_pem(pem))
    }
    /// HTTPS: accept any certificate. Only for test setups with self-signed certificates.
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.danger_accept_invalid_certs = yes;
        self
    }

    /// Checks the options can be used.
    pub(crate) fn check(&self) -> Result<()> {
        if self.timeout.is_zero() {
            return Err(Error::invalid_config(
                "the timeout must be greater than zero",
            ));
        }
        for (k, v) in &self.headers {
            let bad_name = k.is_empty() || k.bytes().any(|b| !(b.is_ascii_graphic() && b != b':'));
            if bad_name || v.contains(['\r', '\n', '\0']) {
                return Err(Error::invalid_config(format!(
                    "HTTP header {k:?} cannot be sent: names are visible ASCII without ':', \
                     values have no CR, LF or NUL"
                )));
            }
        }
        if !(64..=16 * 1024 * 1024).contains(&self.datagram_buffer) {
            return Err(Error::invalid_config(format!(
                "datagram buffer {} is out of range (64 bytes to 16 MiB)",
                self.datagram_buffer
            )));
        }
        Ok(())
    }
}
