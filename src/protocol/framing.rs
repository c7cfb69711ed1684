//! Each transport's framing of each generation's requests, and when the bytes received
//! make a whole reply: the FIFO's `:reply:` prefix and closing empty line, the bare
//! datagram, the HTTP body. Pure functions of bytes, no I/O.

use std::time::Duration;

use super::jsonrpc::{self, Scan};
#[cfg(feature = "http")]
use super::xmlrpc;
use super::{Generation, legacy};
use crate::server::Shape1x;
use crate::{Error, Params, Response, Result};

/// How a transport carries requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A byte stream into the server FIFO; the reply comes on a FIFO named in the request.
    Fifo,
    /// One request per datagram, one reply per datagram.
    Datagram,
    /// An HTTP POST to mi_http (JSON-RPC).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    HttpJson,
    /// An HTTP POST to mi_xmlrpc / mi_xmlrpc_ng.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    HttpXml,
}

/// What one request speaks.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// JSON-RPC with this id; the result decoded into a `Value` or left in `raw`.
    Json { id: u32, decode: bool },
    /// The 1.x/2.x text MI; a successful reply decoded into a `Value` or left in `raw`.
    Legacy { decode: bool },
    /// XML-RPC, from 3.x/4.x or (`legacy`) from 2.x `mi_xmlrpc_ng` or (`v1`: the shape of
    /// the command's reply tree) the 1.x `mi_xmlrpc`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Xml { legacy: bool, v1: Option<Shape1x> },
}

/// The codec of one request: its framing on the wire and the judgement of its reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Codec {
    framing: Framing,
    kind: Kind,
    /// The generation was detected, not assumed: a reply's shape is not second-guessed
    /// (a 3.x/4.x command may well answer an empty string, or text with line ends).
    confirmed: bool,
    /// The reply's bytes go into [`Response::raw`]; when nobody reads them, a datagram is
    /// decoded where it was received, without a copy ([`Codec::judge_datagram`]).
    keep_raw: bool,
}

impl Codec {
    /// The codec for `generation` over `framing`; `id` is the JSON-RPC id (unused by the
    /// other generations), `decode` whether a JSON-RPC or legacy result becomes a `Value`
    /// (the typed helpers read `raw` themselves).
    pub(crate) fn new(framing: Framing, generation: Generation, id: u32, decode: bool) -> Self {
        let kind = match (framing, generation) {
            (Framing::HttpXml, g) => Kind::Xml {
                legacy: g == Generation::Legacy,
                v1: None,
            },
            (_, Generation::JsonRpc) => Kind::Json { id, decode },
            (_, Generation::Legacy) => Kind::Legacy { decode },
        };
        Codec {
            framing,
            kind,
            confirmed: false,
            keep_raw: true,
        }
    }

    /// The same codec, leaving [`Response::raw`] empty where that saves a copy (a datagram
    /// reply decoded in the transport's buffer).
    pub(crate) fn without_raw(mut self) -> Self {
        self.keep_raw = false;
        self
    }

    /// The same codec for a generation detection confirmed.
    pub(crate) fn confirmed(mut self) -> Self {
        self.confirmed = true;
        self
    }

    /// The same codec for the 1.x `mi_xmlrpc` (legacy XML-RPC only), whose replies to
    /// `method` lost their nesting.
    pub(crate) fn for_1x(mut self, method: &str) -> Self {
        if let Kind::Xml { legacy: true, .. } = self.kind {
            self.kind = Kind::Xml {
                legacy: true,
                v1: Some(Shape1x::of(method)),
            };
        }
        self
    }

    /// The framing this codec writes.
    pub(crate) fn framing(&self) -> Framing {
        self.framing
    }

    /// The generation this codec speaks.
    pub(crate) fn generation(&self) -> Generation {
        match self.kind {
            Kind::Json { .. } | Kind::Xml { legacy: false, .. } => Generation::JsonRpc,
            Kind::Legacy { .. } | Kind::Xml { legacy: true, .. } => Generation::Legacy,
        }
    }

    /// The request bytes; `reply_to` is the FIFO reply name (FIFO framing only).
    ///
    /// On a FIFO a JSON-RPC request ends with an empty line: 3.x/4.x skip the whitespace
    /// after the JSON, and a 1.x/2.x server, which reads a request up to an empty line,
    /// then never takes the *next* request as this one's parameters (PROTOCOL.md §6.1).
    pub(crate) fn encode(
        &self,
        method: &str,
        params: &Params,
        reply_to: Option<&str>,
    ) -> Result<Vec<u8>> {
        match (self.kind, self.framing) {
            (Kind::Json { id, .. }, Framing::Fifo) => {
                let body = jsonrpc::encode_request(method, params, id);
                let name = reply_to.unwrap_or_default();
                let mut request = Vec::with_capacity(body.len() + name.len() + 4);
                request.push(b':');
                request.extend_from_slice(name.as_bytes());
                request.push(b':');
                request.extend_from_slice(&body);
                request.extend_from_slice(b"\n\n");
                Ok(request)
            }
            (Kind::Json { id, .. }, _) => Ok(jsonrpc::encode_request(method, params, id)),
            (Kind::Legacy { .. }, _) => legacy::encode_request(method, params, reply_to),
            #[cfg(feature = "http")]
            (Kind::Xml { legacy: false, .. }, _) => xmlrpc::encode_request(method, params),
            #[cfg(feature = "http")]
            (Kind::Xml { v1: Some(_), .. }, _) => xmlrpc::encode_request_v1(method, params),
            #[cfg(feature = "http")]
            (Kind::Xml { legacy: true, .. }, _) => xmlrpc::encode_request_v2(method, params),
            #[cfg(not(feature = "http"))]
            (Kind::Xml { .. }, _) => Err(Error::invalid_config(
                "XML-RPC needs the `http` feature of opensips-mi",
            )),
        }
    }

    /// [`Codec::judge`] of one datagram the transport keeps: a JSON-RPC reply whose bytes are
    /// not kept is decoded in place; anything else as [`Codec::judge`] does, on a copy.
    pub(crate) fn judge_datagram(&self, datagram: &[u8]) -> Option<Result<Response>> {
        match (self.kind, self.framing, self.keep_raw) {
            (Kind::Json { id, decode }, Framing::Datagram, false) => {
                match jsonrpc::scan_with(datagram, id, true, decode) {
                    Scan::Found { result, .. } => Some(result),
                    Scan::Failed(e) => Some(Err(e)),
                    // a stale reply to an earlier request, or an empty datagram
                    Scan::OnlyStale | Scan::Incomplete { .. } => None,
                }
            }
            _ => self.judge(&mut datagram.to_vec(), true),
        }
    }

    /// `Some` once `buf` is a whole reply (or shows none will come), `None` to keep going.
    /// On a FIFO `buf` is everything so far and `at_end` says the writer closed; on a
    /// datagram it is one datagram (`None`: not ours, drop it); over HTTP, the body.
    pub(crate) fn judge(&self, buf: &mut Vec<u8>, at_end: bool) -> Option<Result<Response>> {
        match (self.kind, self.framing) {
            (Kind::Json { id, decode }, Framing::Fifo) => {
                judge_json_stream(buf, id, decode, at_end)
            }
            (Kind::Json { id, decode }, Framing::Datagram) => {
                match jsonrpc::scan_with(buf, id, true, decode) {
                    Scan::Found { result, range } => {
                        Some(result.map(|r| jsonrpc::with_raw(r, std::mem::take(buf), range)))
                    }
                    Scan::Failed(e) => Some(Err(e)),
                    // a stale reply to an earlier request, or an empty datagram
                    Scan::OnlyStale | Scan::Incomplete { .. } => None,
                }
            }
            (Kind::Json { id, decode }, _) => {
                let body = std::mem::take(buf);
                let older = crate::server::older_http_answer(&body);
                Some(match jsonrpc::decode_owned_with(body, id, decode) {
                    Err(Error::MalformedReply { reason, excerpt }) if older.is_some() => {
                        Err(Error::MalformedReply {
                            reason: format!("{reason} ({})", older.unwrap_or_default()),
                            excerpt,
                        })
                    }
                    other => other,
                })
            }
            // The legacy reply has no id and no end marker of its own on a FIFO: EOF ends it.
            (Kind::Legacy { .. }, Framing::Fifo) if !at_end => None,
            (Kind::Legacy { .. }, Framing::Fifo) if buf.is_empty() => Some(Err(closed_empty())),
            (Kind::Legacy { .. }, Framing::Datagram) if buf.is_empty() => None,
            // what a 3.x/4.x mi_datagram answers to anything that is not JSON
            (Kind::Legacy { .. }, Framing::Datagram)
                if buf.trim_ascii_end() == b"400 Parse_error" =>
            {
                Some(Err(Error::ServerFailure {
                    text: "400 Parse_error".into(),
                    hint: Some(crate::server::HINT_3X_PARSE_ERROR.into()),
                }))
            }
            (Kind::Legacy { decode }, _) => Some(legacy::decode_owned(std::mem::take(buf), decode)),
            #[cfg(feature = "http")]
            (
                Kind::Xml {
                    v1: Some(shape), ..
                },
                _,
            ) => Some(xmlrpc::decode_1x(buf, shape).map(|r| with_body(r, buf))),
            #[cfg(feature = "http")]
            (Kind::Xml { legacy, .. }, _) => {
                Some(judge_xml(buf, legacy, self.confirmed).map(|r| with_body(r, buf)))
            }
            #[cfg(not(feature = "http"))]
            (Kind::Xml { .. }, _) => None,
        }
    }

    /// The deadline (`total`) passed with `buf` (not only whitespace) received on a stream.
    pub(crate) fn at_deadline(&self, buf: Vec<u8>, total: Duration) -> Result<Response> {
        let cut_short = |buf: &[u8]| {
            Error::malformed(
                format!(
                    "the reply was cut short: still incomplete when the {:.3}s timeout expired",
                    total.as_secs_f64()
                ),
                buf,
            )
        };
        let Kind::Json { id, decode } = self.kind else {
            return Err(cut_short(&buf));
        };
        // JSON that does not end an object cannot hold a reply not yet found (each time the
        // bytes ended one they were judged): say so without parsing what may be hundreds of
        // megabytes past the deadline.
        let first = buf.iter().find(|b| !b.is_ascii_whitespace());
        let last = buf.iter().rev().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') && last != Some(&b'}') {
            return Err(cut_short(&buf));
        }
        match jsonrpc::scan_with(&buf, id, false, decode) {
            Scan::Found { result, range } => result.map(|r| jsonrpc::with_raw(r, buf, range)),
            Scan::Failed(e) => Err(e),
            Scan::Incomplete { json: true } => Err(cut_short(&buf)),
            Scan::Incomplete { json: false } => Err(not_json(&buf, id)),
            Scan::OnlyStale => Err(Error::timeout(total, "waiting for the reply")
                .with_hint("only stale replies to earlier requests arrived")),
        }
    }
}

/// The HTTP body moves into the response as its raw bytes (no copy; the session drops them
/// unless the command asked with [`Cmd::keep_raw`](crate::Cmd::keep_raw)).
#[cfg(feature = "http")]
fn with_body(mut r: Response, buf: &mut Vec<u8>) -> Response {
    r.raw = std::mem::take(buf);
    r
}

/// An XML-RPC reply from 3.x/4.x or (`legacy`) 2.x `mi_xmlrpc_ng`; a reply of another
/// generation is an error naming it.
#[cfg(feature = "http")]
fn judge_xml(buf: &[u8], legacy: bool, confirmed: bool) -> Result<Response> {
    use crate::server::Generation as G;
    // the error shows what the server said (its fault code and message, or its tree)
    let wrong = |found: G| {
        let asked = if legacy {
            crate::Protocol::Legacy
        } else {
            crate::Protocol::JsonRpc
        };
        super::mismatch(found, asked, buf)
    };
    match xmlrpc::decode_reply(buf) {
        // only where the generation was assumed (an explicit `?protocol=jsonrpc`): once
        // detection said 3.x/4.x, whatever string a command answers is its answer
        Ok(r) if !legacy && !confirmed && crate::server::looks_1x(&r.value) => Err(wrong(G::V1)),
        Ok(_) if !legacy && crate::server::has_untyped_value(buf) => Err(wrong(G::V2)),
        Ok(mut r) => {
            if legacy {
                r.value = xmlrpc::normalize_legacy(std::mem::take(&mut r.value));
            }
            Ok(r)
        }
        // the 1.x mi_xmlrpc: unknown command, struct/array parameter
        Err(Error::Rpc(e)) if !legacy && (e.code == -506 || e.code == -501) => Err(wrong(G::V1)),
        // 2.x mi_xmlrpc_ng: typed (3.x-style) parameters or an unknown command
        Err(Error::Command(e)) if !legacy && e.code == 401 && e.message == "Empty request" => {
            Err(wrong(G::V2))
        }
        // 2.x mi_xmlrpc_ng: a reply that does not fit its page buffer
        Err(Error::Command(e))
            if legacy && e.code == 500 && e.message == "Internal server error" =>
        {
            Err(Error::ServerFailure {
                text: "500 Internal server error".into(),
                hint: Some(crate::server::HINT_2X_XMLRPC_TOO_BIG.into()),
            })
        }
        Err(e) => Err(e),
    }
}

/// A JSON-RPC reply on a stream: judged when the writer closed or the last byte so far
/// closes an object (not after every chunk of a big reply).
fn judge_json_stream(
    buf: &mut Vec<u8>,
    id: u32,
    decode: bool,
    at_end: bool,
) -> Option<Result<Response>> {
    let ends_with_brace = buf.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    // On a reply FIFO held open for reuse no EOF comes: a plain-text failure (`failed to
    // print response`, also after a cut JSON) must end the reply by itself.
    if !at_end && !ends_with_brace && !jsonrpc::ends_with_known_text(buf) {
        return None;
    }
    // An async reply reopens the FIFO for each 4 KB, so an EOF is final only for text that
    // cannot be the start of a JSON reply.
    match jsonrpc::scan_with(buf, id, false, decode) {
        Scan::Found { result, range } => {
            Some(result.map(|r| jsonrpc::with_raw(r, std::mem::take(buf), range)))
        }
        Scan::Failed(e) => Some(Err(e)),
        Scan::Incomplete { json: false } if at_end && buf.is_empty() => Some(Err(closed_empty())),
        Scan::Incomplete { json: false } if at_end => Some(Err(not_json(buf, id))),
        Scan::Incomplete { .. } | Scan::OnlyStale => None,
    }
}

/// Text that is not JSON and will not become JSON: the server's plain-text error, or junk.
fn not_json(buf: &[u8], id: u32) -> Error {
    match jsonrpc::scan(buf, id, true) {
        Scan::Failed(e) => e,
        _ => Error::malformed("expected a JSON-RPC object", buf),
    }
}

fn closed_empty() -> Error {
    Error::MalformedReply {
        reason: "OpenSIPS closed the reply FIFO without sending anything".into(),
        excerpt: String::new(),
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;

    #[test]
    fn a_2x_xmlrpc_internal_error_says_what_to_do() {
        let fault = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<fault><value>\r\n<struct>\r\n<member>\r\n<name>faultCode</name>\r\n<value><int>500</int></value>\r\n</member>\r\n<member>\r\n<name>faultString</name>\r\n<value><string>Internal server error</string></value>\r\n</member>\r\n</struct>\r\n</value>\r\n</fault>\r\n</methodResponse>\r\n";
        let legacy = Codec::new(Framing::HttpXml, Generation::Legacy, 0, true);
        let e = legacy
            .judge(&mut fault.to_vec(), true)
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("use the FIFO"), "{e}");
        // from 3.x/4.x the same fault stays the command's error
        let v3 = Codec::new(Framing::HttpXml, Generation::JsonRpc, 0, true);
        let e = v3.judge(&mut fault.to_vec(), true).unwrap().unwrap_err();
        assert!(matches!(e, Error::Command(ref s) if s.code == 500), "{e}");
    }
}
