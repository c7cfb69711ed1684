//! Connection URLs (`fifo://`, `udp://`, `unix://`, `http(s)://`, `xmlrpc(s)://`) and
//! their query parameters.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Options, Result};

pub(crate) fn resolve(addr: impl ToSocketAddrs) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|e| Error::InvalidConfig(format!("cannot resolve the datagram address: {e}")))?
        .next()
        .ok_or_else(|| Error::InvalidConfig("the datagram address resolves to nothing".into()))
}

#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    Fifo(PathBuf),
    Udp(String),
    Unix(PathBuf),
    /// An `http(s)://` URL without its query.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Http(String),
    /// The same for XML-RPC (given as `xmlrpc(s)://`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    XmlRpc(String),
}

#[derive(Debug)]
pub(crate) struct ParsedUrl {
    pub(crate) target: Target,
    pub(crate) options: Options,
}

pub(crate) fn parse_url(url: &str, mut options: Options) -> Result<ParsedUrl> {
    let bad = |why: &str| Error::InvalidConfig(format!("connection URL {url:?}: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        bad("expected scheme://..., e.g. fifo:///tmp/opensips_fifo or udp://127.0.0.1:8809")
    })?;
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
    let raw_location = location;
    let location = percent_decode(location).ok_or_else(|| bad("invalid %-escape"))?;
    let target = match scheme.to_ascii_lowercase().as_str() {
        "fifo" | "unix" => {
            if !location.starts_with('/') {
                return Err(bad(
                    "the path must be absolute (three slashes: fifo:///path)",
                ));
            }
            if scheme.eq_ignore_ascii_case("fifo") {
                Target::Fifo(PathBuf::from(location))
            } else {
                Target::Unix(PathBuf::from(location))
            }
        }
        "udp" => {
            if location.is_empty() || location.contains('/') {
                return Err(bad("expected udp://host:port"));
            }
            let has_port = match location.rsplit_once(':') {
                // `[::1]:8809`; a bare IPv6 address has colons but no port
                Some((host, port)) => {
                    !port.is_empty()
                        && port.bytes().all(|b| b.is_ascii_digit())
                        && (!host.contains(':') || host.ends_with(']'))
                }
                None => false,
            };
            if !has_port {
                return Err(bad(
                    "missing port: mi_datagram has no default port, give the one of its \
                     socket_name (e.g. udp://127.0.0.1:8809, udp://[::1]:8809)",
                ));
            }
            Target::Udp(location)
        }
        // Keep the raw location: credentials are %-decoded later, once split off.
        "http" | "https" => Target::Http(format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            raw_location
        )),
        "xmlrpc" => Target::XmlRpc(format!("http://{raw_location}")),
        "xmlrpcs" => Target::XmlRpc(format!("https://{raw_location}")),
        other => {
            return Err(bad(&format!(
                "unknown scheme {other:?} (use fifo://, udp://, unix://, http(s):// for mi_http \
                 or xmlrpc(s):// for mi_xmlrpc)"
            )));
        }
    };
    let path_of = |u: &str| {
        let after = u.split_once("://").map_or(u, |(_, r)| r);
        after
            .find('/')
            .map_or(String::new(), |i| after[i..].to_ascii_lowercase())
    };
    match &target {
        Target::Http(u) if path_of(u).starts_with("/rpc2") => {
            return Err(bad(
                "/RPC2 is mi_xmlrpc's path: this is XML-RPC, use xmlrpc://host:port/RPC2 \
                 (or http://host:port/mi for mi_http's JSON-RPC)",
            ));
        }
        Target::XmlRpc(u) if path_of(u) == "/mi" || path_of(u).starts_with("/mi/") => {
            return Err(bad(
                "/mi is mi_http's path: this is JSON-RPC over HTTP, use http://host:port/mi \
                 (or xmlrpc://host:port/RPC2 for mi_xmlrpc)",
            ));
        }
        _ => {}
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| bad("invalid %-escape"))?;
        match k {
            "timeout" => {
                options.timeout =
                    parse_duration(&v).ok_or_else(|| bad(&format!("bad timeout {v:?}")))?
            }
            "reply_dir" => options.reply_dir = PathBuf::from(v),
            "reply_fifo" => options.reply_fifo = Some(v),
            "buffer" => {
                options.datagram_buffer = v
                    .parse()
                    .map_err(|_| bad(&format!("bad buffer size {v:?}")))?;
            }
            "reply_socket_dir" => options.reply_socket_dir = PathBuf::from(v),
            "max_reply" => {
                options.max_reply = v
                    .parse()
                    .map_err(|_| bad(&format!("bad max_reply size {v:?}")))?;
            }
            "protocol" => options.protocol = v.parse()?,
            "keepalive" => {
                options.keepalive = parse_bool(&v)
                    .ok_or_else(|| bad(&format!("bad keepalive {v:?} (true or false)")))?;
            }
            "server_user" => options.server_user = Some(v),
            "world_replies" => {
                options.world_replies = parse_bool(&v)
                    .ok_or_else(|| bad(&format!("bad world_replies {v:?} (true or false)")))?
            }
            other => {
                return Err(bad(&format!(
                    "unknown parameter {other:?} (known: timeout, protocol, reply_dir, reply_fifo, \
                     buffer, reply_socket_dir, max_reply, keepalive, server_user, world_replies)"
                )));
            }
        }
    }
    Ok(ParsedUrl { target, options })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `2`, `2.5`, `2s`, `500ms`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let secs = num.trim().parse::<f64>().ok()? * scale;
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

/// `Basic` credentials for an `Authorization` header (RFC 7617, UTF-8).
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
