//! [`Options`]: the settings of a connection, shared by every transport.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transport::datagram::DEFAULT_DATAGRAM_BUFFER;
use crate::{Error, Protocol, Result};

/// The default timeout of every blocking step (open, write, read): 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings shared by all transports: read-only, built with [`Options::builder`].
///
/// Every function that takes options takes `impl Into<Options>`, so a builder can be
/// passed as it is, without [`OptionsBuilder::build`]:
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use std::time::Duration;
/// use opensips_mi::{Connection, Options};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let conn = Connection::open_with(&server.udp_url().unwrap(), Options::builder().timeout(Duration::from_secs(2)))?;
/// assert_eq!(conn.timeout(), Duration::from_secs(2));
///
/// let opts = Options::builder().timeout(Duration::from_secs(2)).reply_dir("/run/opensips/").build();
/// assert_eq!(opts.timeout(), Duration::from_secs(2));
/// assert_eq!(opts.reply_dir(), std::path::Path::new("/run/opensips/"));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `Debug` never shows a credential: `Authorization` and similar header values are `***`.
#[derive(Clone, PartialEq)]
pub struct Options {
    pub(crate) timeout: Duration,
    pub(crate) reply_dir: PathBuf,
    pub(crate) reply_fifo: Option<String>,
    pub(crate) datagram_buffer: usize,
    pub(crate) reply_socket_dir: PathBuf,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// A CA file to read when an HTTPS connection is opened (instead of `ca_pem`).
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) danger_accept_invalid_certs: bool,
    pub(crate) protocol: Protocol,
    pub(crate) max_reply: usize,
    pub(crate) keepalive: bool,
    pub(crate) server_user: Option<String>,
    pub(crate) world_replies: bool,
}

/// The default [`Options::max_reply`]: 128 MiB (a `ul_dump` of 100 000 contacts is about
/// 35 MB). Raise it for bigger registrars, or read them with the streaming helpers.
pub const DEFAULT_MAX_REPLY: usize = 128 << 20;

/// Header values that carry credentials: shown as `***` by `Debug`.
fn is_secret_header(name: &str) -> bool {
    // by what the name says, so that a custom `X-Opensips-Token` is hidden too
    let name = name.to_ascii_lowercase();
    [
        "auth",
        "token",
        "key",
        "secret",
        "cookie",
        "pass",
        "session",
        "signature",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// Every setting, but credentials (`Authorization` and similar headers) as `***`.
impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.debug_fields(&mut f.debug_struct("Options"))
    }
}

/// As [`Options`]' `Debug`: credentials as `***`.
impl std::fmt::Debug for OptionsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.debug_fields(&mut f.debug_struct("OptionsBuilder"))
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
            ca_file: None,
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
    /// A builder starting from the defaults ([`Options::default`]).
    pub fn builder() -> OptionsBuilder {
        OptionsBuilder::default()
    }

    /// Timeout of a whole call (open, write, read). Default 5 s. A URL's `?timeout=`
    /// overrides it, and a [`Cmd::timeout`](crate::Cmd::timeout) overrides both for one
    /// call: see the rule in [`Connection::open`](crate::Connection::open).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The MI protocol: detected once per connection ([`Protocol::Auto`], the default),
    /// JSON-RPC (3.x/4.x) or legacy text (1.x/2.x).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// FIFO: the server's `reply_dir`, where reply FIFOs are created. Default `/tmp/`.
    pub fn reply_dir(&self) -> &Path {
        &self.reply_dir
    }

    /// FIFO: the fixed reply FIFO name, if one is set (see [`OptionsBuilder::reply_fifo`]).
    pub fn reply_fifo(&self) -> Option<&str> {
        self.reply_fifo.as_deref()
    }

    /// Datagram: the largest datagram sent or received. Default
    /// [`DEFAULT_DATAGRAM_BUFFER`](crate::DEFAULT_DATAGRAM_BUFFER) (65 457).
    pub fn datagram_buffer(&self) -> usize {
        self.datagram_buffer
    }

    /// Unix datagram: the directory of the client's reply socket.
    pub fn reply_socket_dir(&self) -> &Path {
        &self.reply_socket_dir
    }

    /// FIFO and HTTP: the largest reply accepted. Default [`DEFAULT_MAX_REPLY`].
    pub fn max_reply(&self) -> usize {
        self.max_reply
    }

    /// HTTP: whether the TCP connection is kept open between commands. Default `true`.
    pub fn keepalive(&self) -> bool {
        self.keepalive
    }

    /// FIFO and unix datagram: the user OpenSIPS runs as, if one is set.
    pub fn server_user(&self) -> Option<&str> {
        self.server_user.as_deref()
    }

    /// FIFO and unix datagram: whether a reply FIFO or socket may be made writable by
    /// every local user. Default `true`.
    pub fn world_replies(&self) -> bool {
        self.world_replies
    }

    pub(crate) fn set_authorization(&mut self, value: String) {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
        self.headers.push(("Authorization".into(), value));
    }

    /// The settings, credentials as `***`, in `d`.
    fn debug_fields(&self, d: &mut std::fmt::DebugStruct<'_, '_>) -> std::fmt::Result {
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
        d.field("timeout", &self.timeout)
            .field("reply_dir", &self.reply_dir)
            .field("reply_fifo", &self.reply_fifo)
            .field("datagram_buffer", &self.datagram_buffer)
            .field("reply_socket_dir", &self.reply_socket_dir)
            .field("headers", &headers)
            .field(
                "ca_pem",
                &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())),
            )
            .field("ca_file", &self.ca_file)
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

    /// The CA bundle to trust, if any: the PEM given, or the CA file's contents (read
    /// now, at open time).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the file when it cannot be read.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn ca_bundle(&self) -> Result<Option<Vec<u8>>> {
        match &self.ca_file {
            Some(path) => {
                let bad = |why: String| {
                    Error::invalid_config(format!("cannot read CA file {}: {why}", path.display()))
                };
                // a FIFO or device would block the open forever: regular files only
                match std::fs::metadata(path) {
                    Ok(m) if m.is_file() => {}
                    Ok(_) => return Err(bad("not a regular file".into())),
                    Err(e) => return Err(bad(e.to_string())),
                }
                std::fs::read(path)
                    .map(Some)
                    .map_err(|e| bad(e.to_string()))
            }
            None => Ok(self.ca_pem.clone()),
        }
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

/// Builds [`Options`]: [`Options::builder`], the consuming setters, then
/// [`OptionsBuilder::build`], or pass the builder itself wherever `impl Into<Options>` is
/// taken.
///
/// ```
/// use std::time::Duration;
/// use opensips_mi::{Options, Protocol};
/// let opts: Options = Options::builder()
///     .timeout(Duration::from_secs(2))
///     .protocol(Protocol::Legacy)
///     .basic_auth("miuser", "secret")
///     .into();
/// assert_eq!(opts.protocol(), Protocol::Legacy);
/// assert!(!format!("{opts:?}").contains("secret"));
/// ```
///
/// `Debug` shows credentials (`Authorization` and similar headers) as `***`, as
/// [`Options`]' does.
#[derive(Clone, Default, PartialEq)]
#[must_use = "a builder does nothing until it is built or passed on"]
pub struct OptionsBuilder(Options);

impl OptionsBuilder {
    /// The options.
    pub fn build(self) -> Options {
        self.0
    }

    /// Timeout of a whole call (open, write, read). Default 5 s. A URL's `?timeout=`
    /// overrides it, and a [`Cmd::timeout`](crate::Cmd::timeout) overrides both for one
    /// call: see the rule in [`Connection::open`](crate::Connection::open).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout = timeout;
        self
    }
    /// FIFO: the server's `reply_dir`, where reply FIFOs are created. Default `/tmp/`.
    pub fn reply_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.0.reply_dir = dir.into();
        self
    }
    /// The MI protocol: detected once per connection ([`Protocol::Auto`], the default),
    /// JSON-RPC (3.x/4.x) or legacy text (1.x/2.x).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.0.protocol = protocol;
        self
    }
    /// FIFO: a fixed reply FIFO name instead of a random one per call. Calls on the
    /// connection are then serialized. No `.`, `/`, `\` or `:`.
    pub fn reply_fifo(mut self, name: impl Into<String>) -> Self {
        self.0.reply_fifo = Some(name.into());
        self
    }
    /// Datagram: the largest datagram sent or received. Default 65 457 (OpenSIPS 3.x;
    /// raise it to match 4.0's `socket_buf_size`). In a URL: `?datagram_buffer=` (or its
    /// short form `?buffer=`).
    pub fn datagram_buffer(mut self, bytes: usize) -> Self {
        self.0.datagram_buffer = bytes;
        self
    }
    /// HTTP: keep the TCP connection open between commands (default `true`). Turn it off
    /// for a proxy in between that mishandles persistent connections: every command then
    /// opens its own connection and sends `Connection: close`.
    pub fn keepalive(mut self, yes: bool) -> Self {
        self.0.keepalive = yes;
        self
    }
    /// FIFO and HTTP: the largest reply accepted (default [`DEFAULT_MAX_REPLY`], 128 MiB); a
    /// bigger one is cut off with [`Error::MalformedReply`] instead of filling memory.
    /// Datagram replies are bounded by [`OptionsBuilder::datagram_buffer`].
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.0.max_reply = bytes;
        self
    }
    /// FIFO and unix datagram: the user OpenSIPS runs as (a name or a uid). In a directory
    /// every user can write to (`/tmp`), a server FIFO or socket that belongs to anyone but
    /// root, this user or the server user is refused: another local user could have put it
    /// there to read the requests. Default: the `opensips` user, when it exists. Datagrams
    /// on the unix reply socket are taken only from root, this user, the server user and
    /// the owner of the server's socket.
    pub fn server_user(mut self, user: impl Into<String>) -> Self {
        self.0.server_user = Some(user.into());
        self
    }
    /// FIFO and unix datagram: whether a reply FIFO or socket may be made writable by every
    /// local user when nothing narrower lets the server in (the server runs as another
    /// user, and this user is not in its group). Default `true`, with a warning in the log;
    /// `false` refuses with an error instead. See README, Security.
    pub fn world_replies(mut self, allow: bool) -> Self {
        self.0.world_replies = allow;
        self
    }
    /// Unix datagram: the directory of the client's reply socket. Default: the system
    /// temporary directory. OpenSIPS must be able to reach it.
    pub fn reply_socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.0.reply_socket_dir = dir.into();
        self
    }

    /// HTTP: adds a request header, sent on every request of an HTTP connection (e.g.
    /// `Authorization` for a proxy in front of mi_http).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.headers.push((name.into(), value.into()));
        self
    }
    /// HTTP Basic authentication (OpenSIPS 4.0 httpd `auth_username`/`auth_password`, or a
    /// proxy in front of mi_http).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.0
            .set_authorization(crate::url::basic_auth(user, password));
        self
    }
    /// HTTP Bearer authentication (for a proxy in front of mi_http).
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.0.set_authorization(format!("Bearer {token}"));
        self
    }
    /// HTTPS: trust the CA certificates in this PEM text (instead of the web roots).
    /// Replaces an [`OptionsBuilder::ca_file`] given before.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.0.ca_pem = Some(pem.into());
        self.0.ca_file = None;
        self
    }
    /// HTTPS: trust the CA certificates in this PEM file. Only the path is kept here: the
    /// file is read when a connection is opened with these options
    /// ([`Connection::open_with`](crate::Connection::open_with), `HttpConnection::open`,
    /// [`Pool`](crate::Pool), [`Fleet`](crate::Fleet)), and a file that cannot be read is
    /// then an [`Error::InvalidConfig`] naming it. Replaces an [`OptionsBuilder::ca_pem`]
    /// given before.
    ///
    /// ```
    /// # #[cfg(feature = "http")] {
    /// use opensips_mi::{Connection, Error, Options};
    /// let opts = Options::builder().ca_file("/nonexistent/ca.pem").keepalive(true);
    /// let e = Connection::open_with("https://127.0.0.1:8443/mi", opts).unwrap_err();
    /// assert!(matches!(e, Error::InvalidConfig { .. }));
    /// assert!(e.to_string().contains("/nonexistent/ca.pem"));
    /// # }
    /// ```
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.0.ca_file = Some(path.as_ref().to_path_buf());
        self.0.ca_pem = None;
        self
    }
    /// HTTPS: skip certificate verification. Only for test setups with self-signed
    /// certificates: anyone on the path can then read and change the traffic.
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.0.danger_accept_invalid_certs = yes;
        self
    }
}

impl From<OptionsBuilder> for Options {
    fn from(b: OptionsBuilder) -> Options {
        b.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_credentials() {
        let basic = Options::builder().basic_auth("miuser", "s3cret-pass");
        let bearer = Options::builder()
            .bearer_token("tok-3n")
            .header("X-Api-Key", "k3y")
            .header("X-Opensips-Token", "t0k")
            .header("X-Session-Id", "s3ss")
            .header("X-Request-Source", "cron");
        for shown in [
            format!("{basic:?}"),
            format!("{:?}", basic.clone().build()),
            format!("{bearer:?}"),
            format!("{:?}", bearer.clone().build()),
        ] {
            for secret in ["s3cret", "bWl1c2Vy", "tok-3n", "k3y", "t0k", "s3ss"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("***"), "{shown}");
        }
        assert!(format!("{bearer:?}").contains("cron"));
        assert!(format!("{basic:?}").starts_with("OptionsBuilder {"));
        assert!(format!("{:?}", basic.build()).starts_with("Options {"));
    }

    #[test]
    fn a_ca_file_that_is_not_a_regular_file_is_refused_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("ca.pem");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // a FIFO nobody writes would block `read` forever
        let e = Options::builder()
            .ca_file(&fifo)
            .build()
            .ca_bundle()
            .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn builder_and_getters() {
        let o: Options = Options::builder()
            .timeout(Duration::from_millis(1500))
            .reply_dir("/run/o/")
            .reply_fifo("r")
            .datagram_buffer(100_000)
            .reply_socket_dir("/run/s")
            .max_reply(1024)
            .keepalive(false)
            .server_user("osips")
            .world_replies(false)
            .protocol(Protocol::Legacy)
            .into();
        assert_eq!(o.timeout(), Duration::from_millis(1500));
        assert_eq!(o.reply_dir(), Path::new("/run/o/"));
        assert_eq!(o.reply_fifo(), Some("r"));
        assert_eq!(o.datagram_buffer(), 100_000);
        assert_eq!(o.reply_socket_dir(), Path::new("/run/s"));
        assert_eq!(o.max_reply(), 1024);
        assert!(!o.keepalive());
        assert_eq!(o.server_user(), Some("osips"));
        assert!(!o.world_replies());
        assert_eq!(o.protocol(), Protocol::Legacy);
        let d = Options::default();
        assert_eq!(Options::builder().build(), d);
        assert_eq!(
            (d.timeout(), d.protocol(), d.max_reply()),
            (DEFAULT_TIMEOUT, Protocol::Auto, DEFAULT_MAX_REPLY)
        );
    }
}
