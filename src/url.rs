//! Connection URLs (`fifo://`, `udp://`, `unix://`, `http(s)://`, `xmlrpc(s)://`) and
//! their query parameters.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Options, Result};

pub(crate) fn resolve(addr: impl ToSocketAddrs) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|e| Error::invalid_config(format!("cannot resolve the datagram address: {e}")))?
        .next()
        .ok_or_else(|| Error::invalid_config("the datagram address resolves to nothing"))
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
    let bad =
        |why: &str| Error::invalid_config(format!("connection URL {:?}: {why}", redact_url(url)));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        bad("expected scheme://..., e.g. fifo:///tmp/opensips_fifo or udp://127.0.0.1:8809")
    })?;
    if ["http", "https", "xmlrpc", "xmlrpcs"].contains(&scheme.to_ascii_lowercase().as_str()) {
        check_http_authority(rest).map_err(bad)?;
    }
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
    if let Some(q) = query.filter(|q| q.contains('?')) {
        // `?protocol=auto?timeout=1`: a second `?` would end up inside a value
        return Err(bad(&format!(
            "parameters are joined with '&', not a second '?' (write ?{})",
            q.replace('?', "&")
        )));
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
            // `buffer` is the short, older name of `datagram_buffer`
            "datagram_buffer" | "buffer" => {
                options.datagram_buffer =
                    v.parse().map_err(|_| bad(&format!("bad {k} size {v:?}")))?;
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
                     datagram_buffer (or buffer), reply_socket_dir, max_reply, keepalive, server_user, world_replies)"
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

/// `url` with the password of its `user:password@` part replaced by `***`
/// (`http://ops:***@10.0.0.1:8888/mi`), and the values of `password`, `token`, `secret` and
/// `auth` query parameters too: the form of an endpoint this crate shows in every error,
/// `Debug`, report and file name, and that a program should log too.
///
/// Everything from the first `:` to the last `@` goes, so a password with an unescaped `/`,
/// `?`, `#` or `@` is hidden too (at worst more than the password is).
///
/// ```
/// use opensips_mi::redact_url;
/// assert_eq!(redact_url("http://ops:s3cret@10.0.0.1:8888/mi"), "http://ops:***@10.0.0.1:8888/mi");
/// assert_eq!(redact_url("udp://127.0.0.1:8809?timeout=2s"), "udp://127.0.0.1:8809?timeout=2s");
/// assert_eq!(redact_url("http://h/mi?token=abc&timeout=1s"), "http://h/mi?token=***&timeout=1s");
/// assert_eq!(redact_url("http://ops:pa/s?s#w@rd@10.0.0.1/mi"), "http://ops:***@10.0.0.1/mi");
/// assert_eq!(redact_url("ops:s3cret@10.0.0.1"), "ops:***@10.0.0.1");
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(s) = scheme {
        out.push_str(s);
        out.push_str("://");
    }
    // credentials: the user, then everything up to the last '@'
    let tail = match (rest.find(':'), rest.rfind('@')) {
        (Some(colon), Some(at)) if colon < at => {
            out.push_str(&rest[..colon]);
            out.push_str(":***@");
            &rest[at + 1..]
        }
        _ => rest,
    };
    let (before, query) = match tail.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (tail, None),
    };
    out.push_str(before);
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _))
                    if ["password", "pass", "token", "secret", "auth", "bearer"]
                        .contains(&k.to_ascii_lowercase().as_str()) =>
                {
                    format!("{k}=***")
                }
                _ => kv.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// Refuses an HTTP URL whose `host:port` is not one: what a password with an unescaped
/// `/`, `?` or `#` looks like (`http://ops:pa/ss@h/mi`), whose pieces would otherwise end up
/// in the host, the path or a query parameter (and in messages).
pub(crate) fn check_http_authority(rest: &str) -> std::result::Result<(), &'static str> {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let port_ok = match host.rsplit_once(':') {
        // `[::1]:8888`, `host:8888`; a bare IPv6 literal is in brackets
        Some((h, port)) if !h.contains(':') || h.ends_with(']') => {
            port.bytes().all(|b| b.is_ascii_digit())
        }
        Some(_) => host.starts_with('[') && host.ends_with(']'),
        None => true,
    };
    if port_ok && !(authority.contains('@') && host.is_empty()) {
        return Ok(());
    }
    Err(
        "its host:port is not valid; a password holding '/', '?', '#' or '@' must be \
         %-escaped (%2F, %3F, %23, %40)",
    )
}

/// `Basic` credentials for an `Authorization` header (RFC 7617, UTF-8).
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
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
            // two hex digits exactly (`from_str_radix` alone would take `%+1`)
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `url` with the query parameter `name=value` set: added with `?` or `&` as the URL
/// needs, or replacing the value of a parameter of that name already there. The value is
/// %-escaped where the URL parser needs it (`%`, `&`, `?`, `#`).
///
/// For URLs that already carry parameters, such as a mock's
/// [`fifo_url`](crate::mock::MockServer::fifo_url) (`fifo:///…?reply_dir=…/`), where
/// `format!("{url}?protocol=legacy")` would build a URL the parser refuses:
///
/// ```
/// use opensips_mi::url_with_param;
/// let url = "fifo:///run/opensips/fifo?reply_dir=/run/opensips/";
/// assert_eq!(
///     url_with_param(url, "protocol", "legacy"),
///     "fifo:///run/opensips/fifo?reply_dir=/run/opensips/&protocol=legacy"
/// );
/// assert_eq!(url_with_param("udp://127.0.0.1:8809", "timeout", "2s"), "udp://127.0.0.1:8809?timeout=2s");
/// assert_eq!(
///     url_with_param("udp://127.0.0.1:8809?timeout=1&protocol=auto", "timeout", "2s"),
///     "udp://127.0.0.1:8809?timeout=2s&protocol=auto"
/// );
/// # #[cfg(feature = "mock")] {
/// let server = opensips_mi::mock::MockServer::builder().flavor(opensips_mi::mock::Flavor::V2).fifo().start()?;
/// let conn = opensips_mi::Connection::open(&url_with_param(&server.fifo_url().unwrap(), "protocol", "legacy"))?;
/// assert_eq!(conn.protocol()?, opensips_mi::Protocol::Legacy);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn url_with_param(url: &str, name: &str, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '&' => escaped.push_str("%26"),
            '?' => escaped.push_str("%3F"),
            '#' => escaped.push_str("%23"),
            c => escaped.push(c),
        }
    }
    let pair = format!("{name}={escaped}");
    match url.split_once('?') {
        None => format!("{url}?{pair}"),
        Some((base, query)) => {
            let mut replaced = false;
            let mut pairs: Vec<&str> = Vec::new();
            for p in query.split('&').filter(|p| !p.is_empty()) {
                if p.split_once('=').map_or(p, |(k, _)| k) == name {
                    if !replaced {
                        pairs.push(pair.as_str());
                        replaced = true;
                    }
                } else {
                    pairs.push(p);
                }
            }
            if !replaced {
                pairs.push(pair.as_str());
            }
            format!("{base}?{}", pairs.join("&"))
        }
    }
}

#[cfg(test)]
mod param_tests {
    use super::*;

    #[test]
    fn a_second_question_mark_says_to_join_with_ampersand() {
        let e = parse_url("fifo:///x?protocol=auto?timeout=1", Options::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("joined with '&'"), "{e}");
        assert!(e.contains("?protocol=auto&timeout=1"), "{e}");
        // the mock's URL with a parameter glued on by format!
        let url = format!("{}?protocol=legacy", "fifo:///f?reply_dir=/tmp/d/");
        let e = parse_url(&url, Options::default()).unwrap_err().to_string();
        assert!(e.contains("?reply_dir=/tmp/d/&protocol=legacy"), "{e}");
    }

    #[test]
    fn datagram_buffer_and_its_short_name_buffer() {
        for url in [
            "udp://h:1?datagram_buffer=100000",
            "udp://h:1?buffer=100000",
            "unix:///s?timeout=1&datagram_buffer=100000",
        ] {
            let p = parse_url(url, Options::default()).unwrap();
            assert_eq!(p.options.datagram_buffer, 100_000, "{url}");
        }
        let e = parse_url("udp://h:1?datagram_buffer=big", Options::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("datagram_buffer"), "{e}");
    }

    #[test]
    fn the_urls_timeout_beats_the_options() {
        let opts = Options::builder().timeout(Duration::from_secs(9)).build();
        let p = parse_url("udp://h:1?timeout=2", opts.clone()).unwrap();
        assert_eq!(p.options.timeout, Duration::from_secs(2));
        let p = parse_url("udp://h:1", opts).unwrap();
        assert_eq!(p.options.timeout, Duration::from_secs(9));
    }

    #[test]
    fn parameters_added_to_a_url_parse_back() {
        let url = url_with_param("fifo:///f?reply_dir=/tmp/d/", "protocol", "legacy");
        let url = url_with_param(&url, "timeout", "250ms");
        let url = url_with_param(&url, "reply_fifo", "a&b?c%d#e");
        let p = parse_url(&url, Options::default()).unwrap();
        assert_eq!(p.options.reply_dir, PathBuf::from("/tmp/d/"));
        assert_eq!(p.options.protocol, crate::Protocol::Legacy);
        assert_eq!(p.options.timeout, Duration::from_millis(250));
        assert_eq!(p.options.reply_fifo.as_deref(), Some("a&b?c%d#e"));
        // replacing keeps one parameter of the name, in its place
        assert_eq!(
            url_with_param("udp://h:1?timeout=1&timeout=2&buffer=9", "timeout", "3"),
            "udp://h:1?timeout=3&buffer=9"
        );
        assert_eq!(
            url_with_param("udp://h:1?", "timeout", "3"),
            "udp://h:1?timeout=3"
        );
    }
}

/// The two small codecs kept by hand (see the Features section of the README for why).
#[cfg(test)]
mod codec_tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        // every byte value, in every position of a 3-byte group
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64(&all).len(), 344);
        assert_eq!(basic_auth("ops", "s3cret"), "Basic b3BzOnMzY3JldA==");
    }

    #[test]
    fn percent_decode_takes_escapes_and_refuses_broken_ones() {
        assert_eq!(percent_decode("a%2Fb%40c%25").as_deref(), Some("a/b@c%"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        for bad in ["%", "%2", "%zz", "%C3", "x%+1"] {
            assert_eq!(percent_decode(bad), None, "{bad:?}");
        }
    }
}
