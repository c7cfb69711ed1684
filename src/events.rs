//! Receive OpenSIPS events (3.x/4.x `event_datagram` over UDP or a unix socket, and
//! `event_stream` over TCP): subscribe through MI `event_subscribe`, get [`Event`]s from a
//! blocking iterator, resubscribe before the subscription lapses, unsubscribe on drop.
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use std::{sync::Arc, time::Duration};
//! use opensips_mi::{Connection, Params, events::{EventListener, EventTransport}};
//! let server = opensips_mi::mock::MockServer::start()?;
//! let conn = Arc::new(Connection::open(&server.fifo_url().unwrap())?);
//!
//! let listener = EventListener::builder()
//!     .transport(EventTransport::Udp)
//!     .subscribe(conn.clone(), &["E_UL_CONTACT_INSERT"])?;
//!
//! // a registration arrives (here: added through MI)
//! conn.command("ul_add", ["location", "dave", "sip:dave@10.0.0.9", "3600", "1", "0", "0", "15"])?;
//!
//! let event = listener.recv_timeout(Duration::from_secs(5))?.expect("an event");
//! assert_eq!(event.name, "E_UL_CONTACT_INSERT");
//! assert_eq!(event.params["uri"].as_str(), Some("sip:dave@10.0.0.9"));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Subscriptions are renewed in a background thread (a quarter of the expiry, at most a
//! minute, before they lapse). Dropping the listener unsubscribes (expire 0) and frees its
//! socket and path.
//!
//! # Limits
//!
//! Whatever is sent to the listener, its memory and CPU stay bounded:
//!
//! * received events wait in a bounded queue: at most [`DEFAULT_QUEUE_EVENTS`] events and
//!   [`DEFAULT_QUEUE_BYTES`] bytes (each event counted as received, or as it takes in
//!   memory once parsed if that is more) by default, see
//!   [`EventListenerBuilder::queue_limit`]. When the consumer is slower than the events,
//!   new events are dropped, never waited for, and counted: [`EventListener::dropped`];
//! * TCP (`event_stream`): at most [`MAX_STREAM_PEERS`] connections at once (OpenSIPS uses
//!   one; more are closed at once), an unfinished event of at most [`MAX_STREAM_EVENT`]
//!   bytes per connection, and each byte received is scanned once (the framing is
//!   incremental; each complete event is parsed once).
//!
//! # Who may send events
//!
//! UDP and TCP cannot tell one local sender from another: bind them to an address only the
//! server can reach. A unix socket can, and is the safest choice on a shared host:
//! [`EventTransport::UnixIn`] binds it in a private directory of its own (mode 0711) under
//! an unpredictable name; with either unix flavour every datagram carries its sender's
//! credentials, and only those of root, this user, the `opensips` user (when it exists; or
//! the one given to [`EventListenerBuilder::server_user`]) and the owner (user or group) of
//! the connection's FIFO or unix socket are taken: others are
//! dropped and counted in [`EventListener::dropped`]. The socket is opened, through a
//! descriptor, only as far as the server needs: to the owner of the connection's FIFO or
//! unix socket (0600 or 0620), or, when that owner cannot be known (a UDP or HTTP
//! connection) or reached otherwise, to every user (0622), relying on the sender check.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::access::{
    BoundSocketPath, Grant, Peer, PrivateDir, Trust, pass_credentials, recv_with_creds,
};
use crate::{Cmd, ConnectionLike, Error, Params, Result, Value};

/// The largest event accepted on a TCP stream (a bigger unfinished object drops the
/// connection). OpenSIPS' own events are a few hundred bytes.
pub const MAX_STREAM_EVENT: usize = 1 << 20;

/// How many TCP connections the listener serves at once (OpenSIPS keeps one per
/// subscription); more are closed as soon as they are accepted.
pub const MAX_STREAM_PEERS: usize = 4;

/// How many received events wait at most for the consumer, by default
/// ([`EventListenerBuilder::queue_limit`]).
pub const DEFAULT_QUEUE_EVENTS: usize = 1024;

/// How many bytes of events wait at most for the consumer, by default
/// ([`EventListenerBuilder::queue_limit`]).
pub const DEFAULT_QUEUE_BYTES: usize = 16 << 20;

/// The largest queue length [`EventListenerBuilder::queue_limit`] accepts (the queue's
/// slots are allocated up front).
const MAX_QUEUE_EVENTS: usize = 1 << 20;

/// What an error item (a malformed event, a failed renewal) counts for in the byte budget.
const ERROR_ITEM_BYTES: usize = 256;

/// How often background threads look at the stop flag.
const TICK: Duration = Duration::from_millis(50);

/// One event.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The event name, e.g. `E_UL_CONTACT_INSERT` (or the `/method` given in the socket).
    pub name: String,
    /// Its parameters: an object for named parameters, an array for unnamed ones.
    ///
    /// As the server sent them: **2.4 sends every value as a string**
    /// (`"qval":"18446744073709551615"` for an unset q, `"expires":"1795692358"`), 3.x/4.0
    /// send numbers (`"qval":-1`, `"expires":1795692358`). Read numbers with
    /// [`Value::as_i64`] / [`Value::as_u64`], which take both.
    pub params: Value,
}

impl Event {
    /// Parses one JSON-RPC notification (3.x/4.x), or a legacy text event (1.x/2.x:
    /// the name, then `name::value` lines).
    ///
    /// # Errors
    ///
    /// [`Error::MalformedReply`] for anything else.
    pub fn parse(bytes: &[u8]) -> Result<Event> {
        let trimmed = bytes.trim_ascii();
        if trimmed.first() == Some(&b'{') {
            return Event::from_notification(Value::from_json(trimmed)?, bytes);
        }
        let text = String::from_utf8_lossy(trimmed);
        let (name, mut rest) = text.split_once('\n').unwrap_or((&text, ""));
        if name.is_empty() || name.contains([' ', '\t', '"']) {
            return Err(Error::malformed(
                "expected a JSON-RPC notification or a legacy text event",
                bytes,
            ));
        }
        // `name::value` lines; a value holding a LF is quoted, with `\"` inside
        let mut params = Vec::new();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once("::") else {
                return Err(Error::malformed("legacy event line without \"::\"", bytes));
            };
            if key.contains('\n') {
                return Err(Error::malformed("legacy event line without \"::\"", bytes));
            }
            let value;
            if let Some(quoted) = after.strip_prefix('"') {
                let mut end = None;
                let mut escaped = false;
                for (i, c) in quoted.char_indices() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => {
                            end = Some(i);
                            break;
                        }
                        _ => escaped = false,
                    }
                }
                let end =
                    end.ok_or_else(|| Error::malformed("unterminated quoted value", bytes))?;
                value = quoted[..end].replace("\\\"", "\"");
                rest = quoted[end + 1..].trim_start_matches('\n');
            } else {
                let (v, r) = after.split_once('\n').unwrap_or((after, ""));
                value = v.to_owned();
                rest = r;
            }
            params.push((key.to_owned(), Value::String(value.into())));
        }
        Ok(Event {
            name: name.to_owned(),
            params: Value::Object(params.into()),
        })
    }

    /// About how many bytes of memory the event takes.
    fn footprint(&self) -> usize {
        let mut total = std::mem::size_of::<Event>() + self.name.len();
        let mut stack = vec![&self.params];
        while let Some(v) = stack.pop() {
            total += std::mem::size_of::<Value>();
            match v {
                Value::String(s) => total += s.len(),
                Value::Array(a) => stack.extend(a.iter()),
                Value::Object(members) => {
                    for (k, v) in members {
                        total += std::mem::size_of::<String>() + k.len();
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
        total
    }

    /// The event in a parsed JSON-RPC notification (`bytes`: its text, for the error).
    fn from_notification(mut v: Value, bytes: &[u8]) -> Result<Event> {
        let name = v["method"]
            .as_str()
            .ok_or_else(|| Error::malformed("event without a \"method\"", bytes))?
            .to_owned();
        let params = match &mut v {
            Value::Object(members) => members.remove("params"),
            _ => None,
        }
        .unwrap_or(Value::Null);
        Ok(Event { name, params })
    }
}

/// How OpenSIPS delivers events to the listener.
#[derive(Clone, Debug, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum EventTransport {
    /// `event_datagram` over UDP (`udp:IP:port`).
    #[default]
    Udp,
    /// `event_stream` over TCP (`tcp:IP:port`): OpenSIPS connects to the listener and keeps
    /// the connection.
    ///
    /// **OpenSIPS 3.5.9 accepts such a subscription (`event_subscribe` answers OK) but never
    /// connects or delivers** (`subscribers_list` stays empty); 4.0.1 delivers. On 3.5 use
    /// [`EventTransport::Udp`] or [`EventTransport::Unix`], which work on 2.4, 3.5 and 4.0.
    Tcp,
    /// `event_datagram` over a unix datagram socket at this path (`unix:/path`).
    ///
    /// The socket's mode is set through a descriptor (0600/0620 for the owner of the
    /// connection's FIFO or unix socket, else 0622), and datagrams from untrusted senders
    /// are dropped (see the [module documentation](self#who-may-send-events)). A stale
    /// socket of this user that nobody is bound to is replaced; any other file at the path
    /// is left alone and the subscription fails. Prefer [`EventTransport::UnixIn`]: in a
    /// directory other users can write to (`/tmp`), a fixed name can be taken first.
    Unix(PathBuf),
    /// `event_datagram` over a unix datagram socket with an unpredictable name, in a
    /// private directory (0711, unpredictable name too) made in this directory, e.g.
    /// [`std::env::temp_dir`]; both are removed when the listener is dropped. Same
    /// permissions and sender check as [`EventTransport::Unix`].
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use std::{sync::Arc, time::Duration};
    /// use opensips_mi::{Connection, Map, Value, events::{EventListener, EventTransport}};
    /// let server = opensips_mi::mock::MockServer::builder().fifo().start()?;
    /// let conn = Arc::new(Connection::open(&server.fifo_url().unwrap())?);
    /// let listener = EventListener::builder()
    ///     .transport(EventTransport::UnixIn(std::env::temp_dir()))
    ///     .subscribe(conn, &["E_CORE_THRESHOLD"])?;
    /// assert!(listener.socket().starts_with("unix:"));
    /// server.raise_event("E_CORE_THRESHOLD", Value::Object(Map::new()));
    /// assert!(listener.recv_timeout(Duration::from_secs(5))?.is_some());
    /// assert_eq!(listener.dropped(), 0);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    UnixIn(PathBuf),
}

/// Configures an [`EventListener`].
#[derive(Clone, Debug)]
#[must_use]
pub struct EventListenerBuilder {
    transport: EventTransport,
    bind: SocketAddr,
    advertise: Option<String>,
    expire: Duration,
    queue_events: usize,
    queue_bytes: usize,
    server_user: Option<String>,
}

impl Default for EventListenerBuilder {
    fn default() -> Self {
        EventListenerBuilder {
            transport: EventTransport::Udp,
            bind: ([127, 0, 0, 1], 0).into(),
            advertise: None,
            expire: Duration::from_secs(3600),
            queue_events: DEFAULT_QUEUE_EVENTS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            server_user: None,
        }
    }
}

impl EventListenerBuilder {
    /// UDP (default), TCP or a unix socket.
    pub fn transport(mut self, t: EventTransport) -> Self {
        self.transport = t;
        self
    }

    /// The local address for UDP/TCP (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The `IP:port` OpenSIPS must send to, when it differs from the bound address (NAT,
    /// binding `0.0.0.0`). A wildcard address is refused: OpenSIPS could not reach it.
    pub fn advertise(mut self, addr: &str) -> Self {
        self.advertise = Some(addr.to_owned());
        self
    }

    /// The subscription lifetime (default an hour, OpenSIPS' default); renewed before it
    /// lapses.
    pub fn expire(mut self, expire: Duration) -> Self {
        self.expire = expire;
        self
    }

    /// How many events, and how many bytes of them, may wait for the consumer (default
    /// [`DEFAULT_QUEUE_EVENTS`] and [`DEFAULT_QUEUE_BYTES`]); events beyond either are
    /// dropped and counted ([`EventListener::dropped`]). An event counts for its size as
    /// received, or for what it takes in memory once parsed if that is more (10 KB of
    /// `[0,0,…]` take ~160 KB). At least 1 event (at most 1 048 576) and 1 byte; an event
    /// bigger than `bytes` is always dropped.
    pub fn queue_limit(mut self, events: usize, bytes: usize) -> Self {
        self.queue_events = events;
        self.queue_bytes = bytes;
        self
    }

    /// The user OpenSIPS runs as (a name or a uid), trusted to send to a unix event socket
    /// besides root, this user and the owner of the connection's FIFO or unix socket
    /// (default: the `opensips` user, when it exists). Needed when the connection cannot
    /// tell who the server is (UDP, HTTP) and it runs as another user.
    pub fn server_user(mut self, user: &str) -> Self {
        self.server_user = Some(user.to_owned());
        self
    }

    /// Binds the socket, subscribes to `events` through `conn`, and starts receiving.
    ///
    /// # Errors
    ///
    /// Socket errors, a wildcard advertised address, and the server's answer to
    /// `event_subscribe` (`400 Bad parameter value` for an unknown event).
    pub fn subscribe<C, S>(self, conn: Arc<C>, events: &[S]) -> Result<EventListener>
    where
        C: ConnectionLike + Send + Sync + 'static,
        S: AsRef<str>,
    {
        if events.is_empty() {
            return Err(Error::invalid_request("no event to subscribe to"));
        }
        if self.expire < Duration::from_secs(1) {
            return Err(Error::invalid_config(
                "the subscription expiry must be at least a second",
            ));
        }
        if !(1..=MAX_QUEUE_EVENTS).contains(&self.queue_events) || self.queue_bytes == 0 {
            return Err(Error::invalid_config(format!(
                "the event queue must hold 1 to {MAX_QUEUE_EVENTS} events and at least a byte \
                 (got {} events, {} bytes)",
                self.queue_events, self.queue_bytes
            )));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::sync_channel(self.queue_events);
        let queue = Queue {
            tx,
            len: Arc::new(AtomicUsize::new(0)),
            cap: self.queue_events,
            bytes: Arc::new(AtomicUsize::new(0)),
            budget: self.queue_bytes,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let renew_queue = queue.clone();
        let trust = Trust::new(self.server_user.as_deref())?;
        let mut private_dir = None;
        let mut bound_path = None;
        let (socket_uri, reader) = match &self.transport {
            EventTransport::Udp => {
                let sock = UdpSocket::bind(self.bind)
                    .map_err(|e| Error::io(format!("binding {}", self.bind), e))?;
                let local = sock
                    .local_addr()
                    .map_err(|e| Error::io("reading the local address", e))?;
                let uri = format!("udp:{}", advertised(&self.advertise, local)?);
                let reader = spawn_datagram(DatagramSock::Udp(sock), queue.clone(), stop.clone())?;
                (uri, reader)
            }
            EventTransport::Unix(path) => {
                let (peer, grant) = server_grant(&*conn, &trust);
                BoundSocketPath::remove_stale(path);
                let (sock, bound) = BoundSocketPath::bind(path, grant)?;
                bound_path = Some(bound);
                let uri = format!("unix:{}", path.display());
                let reader = spawn_unix(sock, peer, trust.clone(), queue.clone(), stop.clone())?;
                (uri, reader)
            }
            EventTransport::UnixIn(parent) => {
                let (peer, grant) = server_grant(&*conn, &trust);
                let dir =
                    PrivateDir::create(parent, "opensips-mi-events-").map_err(|e| match e {
                        Error::PermissionDenied { path, .. } => Error::PermissionDenied {
                            path,
                            hint: "the event listener makes a private directory for its socket \
                               here; give EventTransport::UnixIn a directory this user can \
                               write to"
                                .into(),
                        },
                        Error::NotFound { path, .. } => Error::NotFound {
                            what: "directory".into(),
                            path,
                            hint: "EventTransport::UnixIn takes an existing directory".into(),
                        },
                        other => other,
                    })?;
                let dir = private_dir.insert(dir);
                let (sock, path) = dir.bind_datagram(grant)?;
                let uri = format!("unix:{}", path.display());
                let reader = spawn_unix(sock, peer, trust.clone(), queue.clone(), stop.clone())?;
                (uri, reader)
            }
            EventTransport::Tcp => {
                let listener = TcpListener::bind(self.bind)
                    .map_err(|e| Error::io(format!("binding {}", self.bind), e))?;
                let local = listener
                    .local_addr()
                    .map_err(|e| Error::io("reading the local address", e))?;
                let uri = format!("tcp:{}", advertised(&self.advertise, local)?);
                let reader = spawn_stream(listener, queue.clone(), stop.clone())?;
                (uri, reader)
            }
        };
        let names: Vec<String> = events.iter().map(|e| e.as_ref().to_owned()).collect();
        let mut listener = EventListener {
            rx,
            bytes: queue.bytes.clone(),
            len: queue.len.clone(),
            dropped: queue.dropped.clone(),
            socket_uri,
            events: names,
            unsubscribe: None,
            stop,
            threads: vec![reader],
            _bound_path: bound_path,
            _private_dir: private_dir,
        };
        // From here, a failure drops `listener`: threads stop, the path goes.
        let expire = self.expire.as_secs();
        for name in &listener.events {
            subscribe_one(&*conn, name, &listener.socket_uri, expire)?;
        }
        let renew_conn = conn.clone();
        let (names, uri, stop) = (
            listener.events.clone(),
            listener.socket_uri.clone(),
            listener.stop.clone(),
        );
        let renewer = std::thread::Builder::new()
            .name("opensips-mi-events-renew".into())
            .spawn(move || renew_loop(&*renew_conn, &names, &uri, expire, &stop, &renew_queue))
            .map_err(|e| Error::io("starting the renewal thread", e))?;
        listener.threads.push(renewer);
        let (names, uri) = (listener.events.clone(), listener.socket_uri.clone());
        listener.unsubscribe = Some(Box::new(move || {
            for name in &names {
                let _ = subscribe_one(&*conn, name, &uri, 0);
            }
        }));
        Ok(listener)
    }
}

fn advertised(advertise: &Option<String>, local: SocketAddr) -> Result<String> {
    let addr = match advertise {
        Some(a) => a.clone(),
        None => local.to_string(),
    };
    let ip_part = addr
        .rsplit_once(':')
        .map_or(addr.as_str(), |(h, _)| h)
        .trim_matches(['[', ']']);
    if ip_part
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
    {
        return Err(Error::invalid_config(format!(
            "OpenSIPS cannot send events to the wildcard address {addr}: bind a specific address \
             or set EventListenerBuilder::advertise"
        )));
    }
    Ok(addr)
}

/// `event_subscribe` (named parameters; `expire` 0 unsubscribes).
fn subscribe_one(
    conn: &(impl ConnectionLike + ?Sized),
    event: &str,
    socket: &str,
    expire: u64,
) -> Result<()> {
    // 1.x/2.x take positional lines; 3.x/4.x the named recipe (positional works there too,
    // named is what every client sends).
    let params = if conn.wire_protocol()? == crate::Protocol::Legacy {
        Params::positional([Value::from(event), Value::from(socket), Value::from(expire)])
    } else {
        Params::named([
            ("event", Value::from(event)),
            ("socket", Value::from(socket)),
            ("expire", Value::from(expire)),
        ])
    };
    let c = Cmd::with_params("event_subscribe", params);
    conn.execute(&c).map(drop)
}

fn renew_loop(
    conn: &(impl ConnectionLike + ?Sized),
    names: &[String],
    uri: &str,
    expire: u64,
    stop: &AtomicBool,
    errors: &Queue,
) {
    // Renew a quarter of the lifetime (at most a minute) before it ends.
    let margin = Duration::from_secs(expire)
        .mul_f64(0.25)
        .min(Duration::from_secs(60));
    let period = Duration::from_secs(expire) - margin;
    let mut next = Instant::now() + period;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() < next {
            std::thread::sleep(TICK.min(next - Instant::now()));
            continue;
        }
        let mut failed = false;
        for name in names {
            if let Err(e) = subscribe_one(conn, name, uri, expire) {
                failed = true;
                // the receiver sees it; the subscription is retried soon
                errors.push(ERROR_ITEM_BYTES, || Err(e));
            }
        }
        // on failure, try again soon (within the margin) rather than a whole period later
        next = Instant::now() + if failed { margin / 4 } else { period };
    }
}

/// The owner of the connection's server endpoint (if known and trusted) and how far an
/// event socket must be opened for it: see the module documentation.
fn server_grant(conn: &(impl ConnectionLike + ?Sized), trust: &Trust) -> (Option<Peer>, Grant) {
    let peer = conn.server_owner().map(|(uid, gid)| Peer { uid, gid });
    // Not knowable (UDP, HTTP), or a server we share no group with: open to all, and rely
    // on the sender check (no warning: unlike a reply, nothing is read from other users).
    let grant = peer.map_or(Grant::World, |p| {
        Grant::for_server(p, trust, false).unwrap_or(Grant::World)
    });
    (peer, grant)
}

/// The bounded queue between the readers and the consumer: at most `cap` events and
/// `budget` bytes (as received); what does not fit is dropped and counted.
#[derive(Clone)]
struct Queue {
    tx: SyncSender<(Result<Event>, usize)>,
    /// Items queued now (taken back by the consumer).
    len: Arc<AtomicUsize>,
    cap: usize,
    /// Bytes queued now.
    bytes: Arc<AtomicUsize>,
    budget: usize,
    dropped: Arc<AtomicU64>,
}

impl Queue {
    /// Queues the item `make` builds (only built when there is room: a flood is not even
    /// parsed), counting `size` bytes (as received), or what the parsed event takes in
    /// memory if that is more; `false` once the consumer is gone.
    fn push(&self, size: usize, make: impl FnOnce() -> Result<Event>) -> bool {
        let mut size = size.max(1);
        if self.len.load(Ordering::SeqCst) >= self.cap {
            self.drop_one();
            return true;
        }
        if !self.reserve(size) {
            self.drop_one();
            return true;
        }
        let item = make();
        if let Ok(event) = &item {
            // `[0,0,…]` takes ~16 times its size once parsed
            let extra = event.footprint().saturating_sub(size);
            if extra > 0 {
                if !self.reserve(extra) {
                    self.bytes.fetch_sub(size, Ordering::SeqCst);
                    self.drop_one();
                    return true;
                }
                size += extra;
            }
        }
        self.len.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send((item, size)) {
            Ok(()) => true,
            Err(e) => {
                self.len.fetch_sub(1, Ordering::SeqCst);
                self.bytes.fetch_sub(size, Ordering::SeqCst);
                match e {
                    TrySendError::Full(_) => {
                        self.drop_one();
                        true
                    }
                    TrySendError::Disconnected(_) => false,
                }
            }
        }
    }

    /// Counts `n` more bytes queued, if they fit the budget.
    fn reserve(&self, n: usize) -> bool {
        let before = self.bytes.fetch_add(n, Ordering::SeqCst);
        if before.saturating_add(n) > self.budget {
            self.bytes.fetch_sub(n, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn spawn_datagram(
    sock: DatagramSock,
    queue: Queue,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let set = match &sock {
        DatagramSock::Udp(s) => s.set_read_timeout(Some(TICK)),
        DatagramSock::Unix { sock, .. } => sock.set_read_timeout(Some(TICK)),
    };
    set.map_err(|e| Error::io("configuring the event socket", e))?;
    std::thread::Builder::new()
        .name("opensips-mi-events".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::SeqCst) {
                let n = match &sock {
                    DatagramSock::Udp(s) => s.recv(&mut buf),
                    DatagramSock::Unix { sock, trust, peer } => {
                        match recv_with_creds(sock, &mut buf) {
                            Ok((n, Some((uid, gid)))) if trust.trusts_sender(uid, gid, *peer) => {
                                Ok(n)
                            }
                            Ok((_, creds)) => {
                                // a forgery (or no credentials): never delivered
                                log::debug!(
                                    "opensips-mi: dropped an event from an untrusted sender \
                                     ({creds:?})"
                                );
                                queue.drop_one();
                                continue;
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                match n {
                    Ok(n) => {
                        let bytes = &buf[..n];
                        if !queue.push(n, || Event::parse(bytes)) {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                        ) => {}
                    Err(_) => std::thread::sleep(TICK),
                }
            }
        })
        .map_err(|e| Error::io("starting the event reader", e))
}

enum DatagramSock {
    Udp(UdpSocket),
    Unix {
        sock: UnixDatagram,
        trust: Trust,
        peer: Option<Peer>,
    },
}

/// A unix event socket's reader: credentials on, untrusted senders dropped.
fn spawn_unix(
    sock: UnixDatagram,
    peer: Option<Peer>,
    trust: Trust,
    queue: Queue,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    pass_credentials(&sock).map_err(|e| Error::io("configuring the event socket", e))?;
    spawn_datagram(DatagramSock::Unix { sock, trust, peer }, queue, stop)
}

fn spawn_stream(
    listener: TcpListener,
    queue: Queue,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("configuring the event socket", e))?;
    std::thread::Builder::new()
        .name("opensips-mi-events".into())
        .spawn(move || {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            use std::os::fd::AsFd;
            let mut conns: Vec<(TcpStream, StreamFramer)> = Vec::new();
            let mut chunk = vec![0u8; 65_536];
            while !stop.load(Ordering::SeqCst) {
                // wait for a connection or data, waking up each tick to look at `stop`
                let ready: Vec<bool> = {
                    let mut fds = Vec::with_capacity(conns.len() + 1);
                    fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
                    fds.extend(
                        conns
                            .iter()
                            .map(|(s, _)| PollFd::new(s.as_fd(), PollFlags::POLLIN)),
                    );
                    let tick = PollTimeout::from(TICK.as_millis() as u16);
                    if poll(&mut fds, tick).is_err() {
                        std::thread::sleep(TICK);
                        continue;
                    }
                    fds.iter()
                        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                        .collect()
                };
                if ready[0] {
                    // a bounded number per round, so that a flood of connections cannot
                    // keep the reader from the open ones
                    for _ in 0..64 {
                        let Ok((s, from)) = listener.accept() else {
                            break;
                        };
                        if conns.len() >= MAX_STREAM_PEERS {
                            // closed at once: OpenSIPS needs one connection
                            log::debug!(
                                "opensips-mi: refused an event stream connection from {from}: \
                                 {MAX_STREAM_PEERS} already open"
                            );
                            continue;
                        }
                        if s.set_nonblocking(true).is_ok() {
                            conns.push((s, StreamFramer::default()));
                        }
                    }
                }
                let mut closed = Vec::new();
                for (i, (s, framer)) in conns.iter_mut().enumerate() {
                    if !ready.get(i + 1).copied().unwrap_or(false) {
                        continue;
                    }
                    match s.read(&mut chunk) {
                        Ok(0) => closed.push(i),
                        Ok(n) => {
                            let (events, overflow) = framer.feed(&chunk[..n], s);
                            for (ev, size) in events {
                                if !queue.push(size, || ev) {
                                    return;
                                }
                            }
                            if overflow {
                                let sample = chunk[..n.min(64)].to_vec();
                                let e = Error::malformed(
                                    format!(
                                        "an event larger than {MAX_STREAM_EVENT} bytes on the \
                                         event stream; connection dropped"
                                    ),
                                    &sample,
                                );
                                if !queue.push(ERROR_ITEM_BYTES, || Err(e)) {
                                    return;
                                }
                                closed.push(i);
                            }
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock | ErrorKind::Interrupted
                            ) => {}
                        Err(_) => closed.push(i),
                    }
                }
                for i in closed.into_iter().rev() {
                    conns.remove(i);
                }
            }
        })
        .map_err(|e| Error::io("starting the event reader", e))
}

/// Cuts an `event_stream` into its JSON objects (back to back, possibly split across
/// reads) incrementally: each byte is scanned once, whatever the size of the reads, and
/// each complete object parsed once. Reliable-mode events carry an `id` and wait for an
/// answer, which is written to the stream.
#[derive(Debug, Default)]
pub(crate) struct StreamFramer {
    /// The unfinished object, from its `{` (at most [`MAX_STREAM_EVENT`] bytes).
    object: Vec<u8>,
    /// Nesting depth in the unfinished object (0: between objects).
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Between objects, in bytes that cannot start one (reported once per run).
    garbage: bool,
    /// Bytes scanned, and bytes given to the JSON parser, since the start.
    scanned: u64,
    parsed: u64,
}

impl StreamFramer {
    /// Takes the bytes of one read: the events they complete, each with its size (acks
    /// written to `out`), and `true` if the unfinished object grew beyond
    /// [`MAX_STREAM_EVENT`] (the connection must go; the framer is unusable).
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        out: &mut impl Write,
    ) -> (Vec<(Result<Event>, usize)>, bool) {
        let mut events = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if self.depth == 0 {
                let b = data[i];
                i += 1;
                self.scanned += 1;
                match b {
                    b'{' => {
                        self.depth = 1;
                        self.garbage = false;
                        self.object.push(b'{');
                    }
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    _ if self.garbage => {}
                    _ => {
                        self.garbage = true;
                        let e =
                            Error::malformed("invalid JSON on the event stream", &data[i - 1..]);
                        events.push((Err(e), ERROR_ITEM_BYTES));
                    }
                }
                continue;
            }
            // inside an object: up to its end or the end of the read
            let start = i;
            let mut complete = false;
            while i < data.len() {
                let b = data[i];
                i += 1;
                if self.in_string {
                    if self.escaped {
                        self.escaped = false;
                    } else if b == b'\\' {
                        self.escaped = true;
                    } else if b == b'"' {
                        self.in_string = false;
                    }
                    continue;
                }
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            complete = true;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            self.scanned += (i - start) as u64;
            if self.object.len() + (i - start) > MAX_STREAM_EVENT {
                self.object = Vec::new();
                return (events, true);
            }
            self.object.extend_from_slice(&data[start..i]);
            if complete {
                let size = self.object.len();
                events.push((self.finish(out), size));
            }
        }
        (events, false)
    }

    /// Parses the completed object, acks it if it has an id, and makes room for the next.
    fn finish(&mut self, out: &mut impl Write) -> Result<Event> {
        self.parsed += self.object.len() as u64;
        let event = match Value::from_json(&self.object) {
            Ok(v) => {
                if let Some(id) = v.get("id").filter(|i| !i.is_null()) {
                    let ack = format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{id}}}"#);
                    let _ = out.write_all(ack.as_bytes());
                }
                Event::from_notification(v, &self.object)
            }
            Err(_) => Err(Error::malformed(
                "invalid JSON on the event stream",
                &self.object,
            )),
        };
        if self.object.capacity() > 64 * 1024 {
            self.object = Vec::new();
        } else {
            self.object.clear();
        }
        (self.in_string, self.escaped) = (false, false);
        event
    }
}

/// A running subscription: receive with [`EventListener::recv_timeout`] or iterate.
pub struct EventListener {
    rx: Receiver<(Result<Event>, usize)>,
    /// The queue's bytes and length, taken back as items are received.
    bytes: Arc<AtomicUsize>,
    len: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    socket_uri: String,
    events: Vec<String>,
    unsubscribe: Option<Box<dyn FnOnce() + Send>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The unix socket path to remove (`Unix`), or the private directory (`UnixIn`);
    /// dropped after the reader thread, which closes the socket, has ended.
    _bound_path: Option<BoundSocketPath>,
    _private_dir: Option<PrivateDir>,
}

impl std::fmt::Debug for EventListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventListener")
            .field("socket", &self.socket_uri)
            .field("events", &self.events)
            .finish()
    }
}

impl EventListener {
    /// A builder (UDP on `127.0.0.1:0`, one-hour subscriptions).
    pub fn builder() -> EventListenerBuilder {
        EventListenerBuilder::default()
    }

    /// The socket URI given to `event_subscribe` (`udp:127.0.0.1:40125`).
    pub fn socket(&self) -> &str {
        &self.socket_uri
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` when none came.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedReply`] for something on the socket that is not an event, and a
    /// failed renewal (the server's or the transport's error; it is retried within the
    /// renewal margin). Neither ends the listener: keep receiving.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Event>> {
        match self.rx.recv_timeout(timeout) {
            Ok((r, size)) => {
                self.len.fetch_sub(1, Ordering::SeqCst);
                self.bytes.fetch_sub(size, Ordering::SeqCst);
                r.map(Some)
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Error::io(
                "receiving events",
                std::io::Error::other("the event reader stopped"),
            )),
        }
    }

    /// Events as they come (blocking), each waited for at most `timeout` per item; the
    /// iterator ends when none comes in time.
    pub fn iter(&self, timeout: Duration) -> impl Iterator<Item = Result<Event>> + '_ {
        std::iter::from_fn(move || self.recv_timeout(timeout).transpose())
    }

    /// How many events were dropped since the listener started: received while the queue
    /// was full (see [`EventListenerBuilder::queue_limit`]; the consumer is too slow; a
    /// renewal error that finds the queue full is dropped and counted too), or
    /// sent to a unix event socket by an untrusted user (see the
    /// [module documentation](self#who-may-send-events)). Compare it between calls to
    /// learn of new drops; nothing else reports them.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use std::{sync::Arc, time::Duration};
    /// use opensips_mi::{Connection, Map, Value, events::EventListener};
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let conn = Arc::new(Connection::open(&server.udp_url().unwrap())?);
    /// let listener = EventListener::builder()
    ///     .queue_limit(2, 1 << 20)
    ///     .subscribe(conn, &["E_CORE_THRESHOLD"])?;
    /// for _ in 0..5 {
    ///     server.raise_event("E_CORE_THRESHOLD", Value::Object(Map::new()));
    /// }
    /// // nobody received yet: two wait, three are dropped
    /// let deadline = std::time::Instant::now() + Duration::from_secs(10);
    /// while listener.dropped() < 3 && std::time::Instant::now() < deadline {
    ///     std::thread::sleep(Duration::from_millis(10));
    /// }
    /// assert_eq!(listener.dropped(), 3);
    /// assert_eq!(listener.iter(Duration::from_millis(200)).count(), 2);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        if let Some(unsubscribe) = self.unsubscribe.take() {
            unsubscribe();
        }
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // the socket path or private directory goes with the fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_notifications_and_legacy_events() {
        let e = Event::parse(br#"{"jsonrpc":"2.0","method":"E_UL_AOR_INSERT","params":{"domain":"location","aor":"dave@127.0.0.1"}}"#).unwrap();
        assert_eq!(
            (e.name.as_str(), e.params["aor"].as_str()),
            ("E_UL_AOR_INSERT", Some("dave@127.0.0.1"))
        );
        let e = Event::parse(b"E_PIKE_BLOCKED\nip::192.168.2.11\n\n").unwrap();
        assert_eq!(
            (e.name.as_str(), e.params["ip"].as_str()),
            ("E_PIKE_BLOCKED", Some("192.168.2.11"))
        );
        let e = Event::parse(b"E_X\nm::\"a\n\\\"b\\\"\"\nn::3\n\n").unwrap();
        assert_eq!(e.params["m"].as_str(), Some("a\n\"b\""));
        assert_eq!(e.params["n"].as_str(), Some("3"));
        assert!(Event::parse(b"E_X\nm::\"open\n\n").is_err());
        assert!(Event::parse(b"E_X\nno separator\n").is_err());
        assert!(Event::parse(b"").is_err());
        assert!(Event::parse(br#"{"jsonrpc":"2.0"}"#).is_err());
    }

    fn names(got: Vec<(Result<Event>, usize)>) -> Vec<String> {
        got.into_iter()
            .map(|(e, _)| e.map_or_else(|e| format!("error: {e}"), |e| e.name))
            .collect()
    }

    #[test]
    fn stream_framing() {
        let a = br#"{"jsonrpc":"2.0","method":"A","params":{}}"#;
        let b = br#"{"jsonrpc":"2.0","method":"B","params":[1],"id":7}"#;
        let mut f = StreamFramer::default();
        let mut acks = Vec::new();
        let (got, overflow) = f.feed(&[&a[..], b"\n ", &b[..], &a[..10]].concat(), &mut acks);
        assert!(!overflow);
        assert_eq!(got[1].1, b.len());
        assert_eq!(names(got), ["A", "B"]);
        assert_eq!(acks, br#"{"jsonrpc":"2.0","result":"OK","id":7}"#);
        assert_eq!(names(f.feed(&a[10..], &mut acks).0), ["A"]);
        // braces and brackets in strings, escaped quotes, nesting
        let c = br#"{"method":"C","params":{"s":"}{ \"]\\","a":[{"x":[]}]}}"#;
        let (got, _) = f.feed(c, &mut acks);
        let e = got.into_iter().next().unwrap().0.unwrap();
        assert_eq!(e.params["s"].as_str(), Some("}{ \"]\\"));
        // garbage is reported once per run, and the framer finds the next object
        let got = names(f.feed(&[&b"xx}]yy "[..], &a[..]].concat(), &mut acks).0);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].contains("invalid JSON on the event stream"),
            "{got:?}"
        );
        assert_eq!(got[1], "A");
        // a complete object that is not JSON, then a good one
        let got = names(f.feed(br#"{nope}{"method":"D"}"#, &mut acks).0);
        assert!(got[0].starts_with("error:") && got[1] == "D", "{got:?}");
    }

    #[test]
    fn a_big_event_in_small_pieces_is_scanned_once() {
        // ~900 KB in 100-byte reads: each byte scanned once and parsed once, where
        // re-parsing the pending buffer on each read would scan ~4 GB
        let filler = "x".repeat(900_000);
        let ev = format!(r#"{{"jsonrpc":"2.0","method":"E_BIG","params":{{"f":"{filler}"}}}}"#);
        let mut f = StreamFramer::default();
        let mut got = Vec::new();
        for piece in ev.as_bytes().chunks(100) {
            let (events, overflow) = f.feed(piece, &mut std::io::sink());
            assert!(!overflow);
            got.extend(events);
        }
        assert_eq!(names(got), ["E_BIG"]);
        assert_eq!(f.scanned, ev.len() as u64);
        assert_eq!(f.parsed, ev.len() as u64);
        // and a stream of many small events, 7 bytes per read
        let small = br#"{"jsonrpc":"2.0","method":"E_S","params":{"n":1}}"#.repeat(1000);
        let mut f = StreamFramer::default();
        let mut n = 0;
        for piece in small.chunks(7) {
            n += f.feed(piece, &mut std::io::sink()).0.len();
        }
        assert_eq!(n, 1000);
        assert_eq!(
            (f.scanned, f.parsed),
            (small.len() as u64, small.len() as u64)
        );
    }

    #[test]
    fn an_unfinished_event_is_bounded() {
        let mut f = StreamFramer::default();
        let (_, overflow) = f.feed(br#"{"method":"E","params":{"x":""#, &mut std::io::sink());
        assert!(!overflow);
        let chunk = vec![b'a'; 64 * 1024];
        let mut fed = 0;
        loop {
            let (_, overflow) = f.feed(&chunk, &mut std::io::sink());
            fed += chunk.len();
            if overflow {
                break;
            }
            assert!(fed <= MAX_STREAM_EVENT, "never cut off");
        }
        assert!(f.object.capacity() == 0);
    }

    #[test]
    fn wildcard_addresses_are_refused() {
        assert!(advertised(&None, "0.0.0.0:9000".parse().unwrap()).is_err());
        assert!(advertised(&Some("[::]:9000".into()), "127.0.0.1:1".parse().unwrap()).is_err());
        assert_eq!(
            advertised(&Some("10.0.0.5:9000".into()), "0.0.0.0:1".parse().unwrap()).unwrap(),
            "10.0.0.5:9000"
        );
    }
}
