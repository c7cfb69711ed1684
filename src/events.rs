//! Receive OpenSIPS events (3.x/4.x `event_datagram` over UDP or a unix socket, and
//! `event_stream` over TCP): subscribe through MI `event_subscribe`, get [`Event`]s from a
//! blocking iterator, resubscribe before the subscription lapses, unsubscribe on drop.
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use std::{sync::Arc, time::Duration};
//! use opensips_mi::{Connection, Params, events::{EventListener, EventTransport}};
//! let server = opensips_mi::mock::MockServer::start()?;
//! let conn = Arc::new(Connection::open(&server.fifo_url())?);
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

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Cmd, ConnectionLike, Error, Params, Protocol, Result, Value};

/// The largest event accepted on a TCP stream (a bigger unfinished object drops the
/// connection). OpenSIPS' own events are a few hundred bytes.
pub const MAX_STREAM_EVENT: usize = 1 << 20;

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
            let v = Value::from_json(trimmed)?;
            let name = v["method"]
                .as_str()
                .ok_or_else(|| Error::malformed("event without a \"method\"", bytes))?
                .to_owned();
            let params = v.get("params").cloned().unwrap_or(Value::Null);
            return Ok(Event { name, params });
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
            params.push((key.to_owned(), Value::String(value)));
        }
        Ok(Event {
            name: name.to_owned(),
            params: Value::Object(params),
        })
    }
}

/// How OpenSIPS delivers events to the listener.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
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
    /// `event_datagram` over a unix datagram socket at this path (`unix:/path`); OpenSIPS
    /// must be able to write to it.
    Unix(PathBuf),
}

/// Configures an [`EventListener`].
#[derive(Clone, Debug)]
#[must_use]
pub struct EventListenerBuilder {
    transport: EventTransport,
    bind: SocketAddr,
    advertise: Option<String>,
    expire: Duration,
}

impl Default for EventListenerBuilder {
    fn default() -> Self {
        EventListenerBuilder {
            transport: EventTransport::Udp,
            bind: ([127, 0, 0, 1], 0).into(),
            advertise: None,
            expire: Duration::from_secs(3600),
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
            return Err(Error::InvalidRequest("no event to subscribe to".into()));
        }
        if self.expire < Duration::from_secs(1) {
            return Err(Error::InvalidConfig(
                "the subscription expiry must be at least a second".into(),
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let renew_tx = tx.clone();
        let (socket_uri, reader, unix_path) = match &self.transport {
            EventTransport::Udp => {
                let sock = UdpSocket::bind(self.bind)
                    .map_err(|e| Error::io(format!("binding {}", self.bind), e))?;
                let local = sock
                    .local_addr()
                    .map_err(|e| Error::io("reading the local address", e))?;
                let uri = format!("udp:{}", advertised(&self.advertise, local)?);
                let reader = spawn_datagram(DatagramSock::Udp(sock), tx, stop.clone())?;
                (uri, reader, None)
            }
            EventTransport::Unix(path) => {
                // a stale socket from an earlier run goes; a live one (someone is bound to
                // it) or any other file is left alone and the bind below fails
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
                    && UnixDatagram::unbound().is_ok_and(|s| s.connect(path).is_err())
                {
                    let _ = std::fs::remove_file(path);
                }
                let sock = UnixDatagram::bind(path)
                    .map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o622));
                let uri = format!("unix:{}", path.display());
                let reader = spawn_datagram(DatagramSock::Unix(sock), tx, stop.clone())
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(path);
                    })?;
                (uri, reader, Some(path.clone()))
            }
            EventTransport::Tcp => {
                let listener = TcpListener::bind(self.bind)
                    .map_err(|e| Error::io(format!("binding {}", self.bind), e))?;
                let local = listener
                    .local_addr()
                    .map_err(|e| Error::io("reading the local address", e))?;
                let uri = format!("tcp:{}", advertised(&self.advertise, local)?);
                let reader = spawn_stream(listener, tx, stop.clone())?;
                (uri, reader, None)
            }
        };
        let names: Vec<String> = events.iter().map(|e| e.as_ref().to_owned()).collect();
        let mut listener = EventListener {
            rx,
            socket_uri,
            events: names,
            unsubscribe: None,
            stop,
            threads: vec![reader],
            unix_path,
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
            .spawn(move || renew_loop(&*renew_conn, &names, &uri, expire, &stop, &renew_tx))
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
        return Err(Error::InvalidConfig(format!(
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
    let params = if conn.protocol()? == Protocol::Legacy {
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
    errors: &Sender<Result<Event>>,
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
                let _ = errors.send(Err(e));
            }
        }
        // on failure, try again soon (within the margin) rather than a whole period later
        next = Instant::now() + if failed { margin / 4 } else { period };
    }
}

enum DatagramSock {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

fn spawn_datagram(
    sock: DatagramSock,
    tx: Sender<Result<Event>>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let set = match &sock {
        DatagramSock::Udp(s) => s.set_read_timeout(Some(TICK)),
        DatagramSock::Unix(s) => s.set_read_timeout(Some(TICK)),
    };
    set.map_err(|e| Error::io("configuring the event socket", e))?;
    std::thread::Builder::new()
        .name("opensips-mi-events".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::SeqCst) {
                let n = match &sock {
                    DatagramSock::Udp(s) => s.recv(&mut buf),
                    DatagramSock::Unix(s) => s.recv(&mut buf),
                };
                match n {
                    Ok(n) => {
                        if tx.send(Event::parse(&buf[..n])).is_err() {
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

fn spawn_stream(
    listener: TcpListener,
    tx: Sender<Result<Event>>,
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
            let mut conns: Vec<(TcpStream, Vec<u8>)> = Vec::new();
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
                    while let Ok((s, _)) = listener.accept() {
                        if s.set_nonblocking(true).is_ok() {
                            conns.push((s, Vec::new()));
                        }
                    }
                }
                let mut closed = Vec::new();
                for (i, (s, pending)) in conns.iter_mut().enumerate() {
                    if !ready.get(i + 1).copied().unwrap_or(false) {
                        continue;
                    }
                    match s.read(&mut chunk) {
                        Ok(0) => closed.push(i),
                        Ok(n) => {
                            pending.extend_from_slice(&chunk[..n]);
                            for ev in drain_stream(pending, s) {
                                if tx.send(ev).is_err() {
                                    return;
                                }
                            }
                            if pending.len() > MAX_STREAM_EVENT {
                                let e = Error::malformed(
                                    format!(
                                        "an event larger than {MAX_STREAM_EVENT} bytes on the \
                                         event stream; connection dropped"
                                    ),
                                    &pending[..64],
                                );
                                if tx.send(Err(e)).is_err() {
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

/// Takes every complete JSON object out of `pending` (objects come back to back, possibly
/// split across reads). Reliable-mode events carry an `id` and wait for an answer: it is
/// sent on `out`.
pub(crate) fn drain_stream(pending: &mut Vec<u8>, out: &mut impl Write) -> Vec<Result<Event>> {
    let mut events = Vec::new();
    let mut consumed = 0;
    {
        let mut stream =
            serde_json::Deserializer::from_slice(pending).into_iter::<serde::de::IgnoredAny>();
        loop {
            let start = consumed;
            match stream.next() {
                Some(Ok(_)) => {
                    consumed = stream.byte_offset();
                    let bytes = &pending[start..consumed];
                    let ev = Event::parse(bytes);
                    if let Ok(v) = Value::from_json(bytes.trim_ascii()) {
                        if let Some(id) = v.get("id").filter(|i| !i.is_null()) {
                            let ack = format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{id}}}"#);
                            let _ = out.write_all(ack.as_bytes());
                        }
                    }
                    events.push(ev);
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => {
                    // garbage: report it and drop the buffer
                    events.push(Err(Error::malformed(
                        "invalid JSON on the event stream",
                        &pending[start..],
                    )));
                    consumed = pending.len();
                    break;
                }
                None => {
                    consumed = pending.len();
                    break;
                }
            }
        }
    }
    pending.drain(..consumed);
    events
}

/// A running subscription: receive with [`EventListener::recv_timeout`] or iterate.
pub struct EventListener {
    rx: Receiver<Result<Event>>,
    socket_uri: String,
    events: Vec<String>,
    unsubscribe: Option<Box<dyn FnOnce() + Send>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    unix_path: Option<PathBuf>,
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
            Ok(r) => r.map(Some),
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
        if let Some(p) = &self.unix_path {
            let _ = std::fs::remove_file(p);
        }
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

    #[test]
    fn stream_framing() {
        let a = br#"{"jsonrpc":"2.0","method":"A","params":{}}"#;
        let b = br#"{"jsonrpc":"2.0","method":"B","params":[1],"id":7}"#;
        let mut pending = [&a[..], &b[..], &a[..10]].concat();
        let mut acks = Vec::new();
        let got = drain_stream(&mut pending, &mut acks);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].as_ref().unwrap().name, "B");
        assert_eq!(pending, &a[..10]);
        assert_eq!(acks, br#"{"jsonrpc":"2.0","result":"OK","id":7}"#);
        pending.extend_from_slice(&a[10..]);
        assert_eq!(drain_stream(&mut pending, &mut acks).len(), 1);
        assert!(pending.is_empty());
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
