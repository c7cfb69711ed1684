//! The mock's Event Interface: `event_subscribe` subscriptions with their expiry, and
//! delivery the way `event_datagram` (UDP, unix) and `event_stream` (persistent TCP) do it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Value;

/// How long the mock waits to connect or write to a subscriber.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// One subscription, as `subscribers_list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscription {
    /// The event name, e.g. `E_UL_CONTACT_INSERT`.
    pub event: String,
    /// The socket string given to `event_subscribe` (`udp:127.0.0.1:9997`).
    pub socket: String,
    /// The lifetime it was (re)subscribed with, in seconds.
    pub expire: u64,
    /// What is left of it.
    pub ttl: Duration,
}

/// Where events go.
#[derive(Clone, Debug, PartialEq)]
enum Target {
    Udp(SocketAddr),
    Unix(PathBuf),
    /// `tcp:host:port[/method]`.
    Tcp(SocketAddr, Option<String>),
}

/// `udp:IP:port`, `unix:/path`, `tcp:host:port[/method]` (event_stream is 3.1+).
fn parse_socket(socket: &str, legacy: bool) -> Option<Target> {
    let resolve = |hp: &str| hp.to_socket_addrs().ok()?.next();
    if let Some(rest) = socket.strip_prefix("udp:") {
        return resolve(rest).map(Target::Udp);
    }
    if let Some(rest) = socket.strip_prefix("unix:") {
        return rest.starts_with('/').then(|| Target::Unix(rest.into()));
    }
    if let Some(rest) = socket.strip_prefix("tcp:") {
        if legacy {
            return None;
        }
        let (hp, method) = match rest.split_once('/') {
            Some((hp, m)) if !m.is_empty() => (hp, Some(m.to_owned())),
            Some((hp, _)) => (hp, None),
            None => (rest, None),
        };
        return resolve(hp).map(|a| Target::Tcp(a, method));
    }
    None
}

struct Sub {
    event: String,
    socket: String,
    target: Target,
    expire: u64,
    until: Instant,
}

/// The subscription table and the open delivery sockets.
#[derive(Default)]
pub(crate) struct Evi {
    subs: Vec<Sub>,
    udp: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    /// event_stream keeps one connection per destination.
    streams: Vec<(SocketAddr, TcpStream)>,
}

impl Evi {
    fn prune(&mut self) {
        let now = Instant::now();
        self.subs.retain(|s| s.until > now);
    }

    /// `event_subscribe`: adds, refreshes (same event and socket) or, with `expire` 0,
    /// removes. `false` for a socket the server could not use.
    pub(crate) fn subscribe(
        &mut self,
        event: &str,
        socket: &str,
        expire: u64,
        legacy: bool,
    ) -> bool {
        let Some(target) = parse_socket(socket, legacy) else {
            return false;
        };
        self.prune();
        self.subs
            .retain(|s| !(s.event == event && s.socket == socket));
        if expire > 0 {
            self.subs.push(Sub {
                event: event.to_owned(),
                socket: socket.to_owned(),
                target,
                expire,
                until: Instant::now() + Duration::from_secs(expire),
            });
        }
        true
    }

    /// Live subscriptions, oldest first.
    pub(crate) fn list(&mut self) -> Vec<Subscription> {
        self.prune();
        let now = Instant::now();
        self.subs
            .iter()
            .map(|s| Subscription {
                event: s.event.clone(),
                socket: s.socket.clone(),
                expire: s.expire,
                ttl: s.until.saturating_duration_since(now),
            })
            .collect()
    }

    /// Sends `name` to every live subscriber: one JSON-RPC notification (3.x/4.x) or the
    /// 2.x text format. Returns how many got it.
    pub(crate) fn raise(&mut self, name: &str, params: &Value, legacy: bool) -> usize {
        self.prune();
        let targets: Vec<Target> = self
            .subs
            .iter()
            .filter(|s| s.event == name)
            .map(|s| s.target.clone())
            .collect();
        targets
            .iter()
            .filter(|t| self.deliver(t, name, params, legacy))
            .count()
    }

    fn deliver(&mut self, target: &Target, name: &str, params: &Value, legacy: bool) -> bool {
        match target {
            Target::Udp(addr) => {
                let payload = payload(name, params, legacy);
                if self.udp.is_none() {
                    self.udp = UdpSocket::bind(("127.0.0.1", 0)).ok();
                }
                self.udp
                    .as_ref()
                    .is_some_and(|s| s.send_to(&payload, addr).is_ok())
            }
            Target::Unix(path) => {
                let payload = payload(name, params, legacy);
                if self.unix.is_none() {
                    // non-blocking: a subscriber that stopped reading (full queue) loses the
                    // event instead of stalling the server
                    self.unix = UnixDatagram::unbound()
                        .and_then(|s| s.set_nonblocking(true).map(|()| s))
                        .ok();
                }
                self.unix
                    .as_ref()
                    .is_some_and(|s| s.send_to(&payload, path).is_ok())
            }
            Target::Tcp(addr, method) => {
                let payload = payload(method.as_deref().unwrap_or(name), params, false);
                // an established connection first; on failure, one fresh connection
                if let Some(i) = self.streams.iter().position(|(a, _)| a == addr) {
                    if self.streams[i].1.write_all(&payload).is_ok() {
                        return true;
                    }
                    self.streams.remove(i);
                }
                let Ok(mut s) = TcpStream::connect_timeout(addr, SEND_TIMEOUT) else {
                    return false;
                };
                let _ = s.set_write_timeout(Some(SEND_TIMEOUT));
                let _ = s.set_nodelay(true);
                let sent = s.write_all(&payload).is_ok();
                if sent {
                    self.streams.push((*addr, s));
                }
                sent
            }
        }
    }
}

/// `{"jsonrpc":"2.0","method":…,"params":…}` (no id, no newline), or for 2.x the name,
/// `name::value` lines and an empty line, values with a LF quoted.
fn payload(name: &str, params: &Value, legacy: bool) -> Vec<u8> {
    if !legacy {
        let v = Value::Object(
            vec![
                ("jsonrpc".into(), Value::from("2.0")),
                ("method".into(), Value::from(name)),
                ("params".into(), params.clone()),
            ]
            .into(),
        );
        return v.to_json();
    }
    let mut out = format!("{name}\n");
    for (k, v) in params.as_object().unwrap_or_default() {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new().into(),
            other => other.to_string().into(),
        };
        if text.contains('\n') {
            out.push_str(&format!("{k}::\"{}\"\n", text.replace('"', "\\\"")));
        } else {
            out.push_str(&format!("{k}::{text}\n"));
        }
    }
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets() {
        assert_eq!(
            parse_socket("udp:127.0.0.1:9997", false),
            Some(Target::Udp("127.0.0.1:9997".parse().unwrap()))
        );
        assert_eq!(
            parse_socket("unix:/tmp/x", false),
            Some(Target::Unix("/tmp/x".into()))
        );
        assert_eq!(
            parse_socket("tcp:127.0.0.1:9000/ev", false),
            Some(Target::Tcp(
                "127.0.0.1:9000".parse().unwrap(),
                Some("ev".into())
            ))
        );
        assert_eq!(parse_socket("tcp:127.0.0.1:9000", true), None);
        assert_eq!(parse_socket("udp:nowhere", false), None);
        assert_eq!(parse_socket("sip:127.0.0.1:5060", false), None);
    }

    #[test]
    fn subscribe_refresh_remove() {
        let mut e = Evi::default();
        assert!(e.subscribe("E_X", "udp:127.0.0.1:9", 60, false));
        assert!(e.subscribe("E_X", "udp:127.0.0.1:9", 120, false));
        let l = e.list();
        assert_eq!((l.len(), l[0].expire), (1, 120));
        assert!(e.subscribe("E_X", "udp:127.0.0.1:9", 0, false));
        assert!(e.list().is_empty());
    }

    #[test]
    fn legacy_payload() {
        let p = Value::Object(
            vec![
                ("ip".into(), Value::from("1.2.3.4")),
                ("n".into(), Value::Int(3)),
                ("m".into(), Value::from("a\n\"b\"")),
            ]
            .into(),
        );
        assert_eq!(
            payload("E_PIKE_BLOCKED", &p, true),
            b"E_PIKE_BLOCKED\nip::1.2.3.4\nn::3\nm::\"a\n\\\"b\\\"\"\n\n"
        );
    }
}
