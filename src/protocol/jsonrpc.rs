//! The JSON-RPC 2.0 codec of OpenSIPS 3.x/4.x, as pure functions (no I/O).
//!
//! Transports only move bytes; this module builds requests and reads replies:
//!
//! ```
//! use opensips_mi::{jsonrpc, Params, Value};
//!
//! let req = jsonrpc::encode_request("get_statistics", &Params::positional([["dialog:"]]), 7);
//! assert_eq!(req, br#"{"jsonrpc":"2.0","method":"get_statistics","params":[["dialog:"]],"id":7}"#);
//!
//! let resp = jsonrpc::decode_reply(br#"{"jsonrpc":"2.0","result":{"dialog:active_dialogs":2},"id":7}"#, 7)?;
//! assert_eq!(resp.value()["dialog:active_dialogs"], Value::Int(2));
//! # Ok::<(), opensips_mi::Error>(())
//! ```

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::{Error, Params, Response, ServerError, Value};

/// The largest id we send. OpenSIPS converts numeric ids to a C `int`, so larger ones come
/// back clamped; staying below keeps the echo exact.
const MAX_ID: u32 = i32::MAX as u32;

/// Encodes one request. Params are left out when there are none.
pub fn encode_request(method: &str, params: &Params, id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + method.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    write_json_str(&mut out, method);
    match params {
        Params::None => {}
        Params::Positional(v) => {
            out.extend_from_slice(br#","params":"#);
            write_json(&mut out, v);
        }
        Params::Named(v) => {
            out.extend_from_slice(br#","params":{"#);
            for (i, (k, val)) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(&mut out, k);
                out.push(b':');
                write_json(&mut out, val);
            }
            out.push(b'}');
        }
    }
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(decimal(u64::from(id), &mut [0; 20]));
    out.push(b'}');
    out
}

/// `n` in decimal, written at the end of `buf` (no allocation, no formatter), two digits
/// at a time (request ids here, `Content-Length` values in the HTTP client).
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    const PAIRS: [u8; 200] = {
        let mut pairs = [0; 200];
        let mut i = 0;
        while i < 100 {
            pairs[2 * i] = b'0' + (i / 10) as u8;
            pairs[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        pairs
    };
    let mut i = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    &buf[i..]
}

/// Writes `s` as a JSON string, exactly as serde_json does: a string without `"`, `\` and
/// control characters (any method name OpenSIPS knows) is copied between quotes as is.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    if crate::value::string_stop(s.as_bytes()).is_none() {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_json(out, s);
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing strings and our own `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Generates request ids, each unpredictable (a keyed hash of a counter, with a random key
/// per generator), always in `1..=i32::MAX`: another local user who can see the requests
/// cannot guess the id of the next one to forge its answer.
pub(crate) struct IdGenerator {
    counter: AtomicU32,
    key: std::hash::RandomState,
}

impl fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the key stays secret
        f.debug_struct("IdGenerator").finish_non_exhaustive()
    }
}

impl IdGenerator {
    /// A generator with a fresh random key.
    pub(crate) fn new() -> Self {
        IdGenerator {
            counter: AtomicU32::new(getrandom::u32().unwrap_or(0)),
            key: std::hash::RandomState::new(),
        }
    }

    /// The next id.
    pub(crate) fn next_id(&self) -> u32 {
        use std::hash::BuildHasher;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = (self.key.hash_one(n) % u64::from(MAX_ID)) as u32;
        id.max(1)
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes a reply that must be the answer to request `id`.
///
/// # Errors
///
/// [`Error::Rpc`] / [`Error::Command`] for the server's error objects,
/// [`Error::ServerFailure`] for plain-text failures (`400 Parse_error`,
/// `failed to print response`...), [`Error::MalformedReply`] for anything else that is
/// not a JSON-RPC reply with this id.
pub fn decode_reply(bytes: &[u8], id: u32) -> crate::Result<Response> {
    // read in place: the caller has the bytes, the response keeps none of them
    match scan_with(bytes, id, true, true) {
        Scan::Found { result, .. } => result,
        Scan::Failed(e) => Err(e),
        Scan::Incomplete { .. } => Err(Error::malformed(
            "the reply ends in the middle of the JSON",
            bytes,
        )),
        Scan::OnlyStale => Err(Error::malformed(format!("no reply with id {id}"), bytes)),
    }
}

/// Decodes the reply to request `id` straight into `T` (serde), without building a
/// [`Value`] tree first: the fast path the typed helpers use.
///
/// ```
/// use opensips_mi::jsonrpc;
/// #[derive(serde::Deserialize)]
/// struct Version { #[serde(rename = "Server")] server: String }
/// let v: Version = jsonrpc::decode_result(br#"{"jsonrpc":"2.0","result":{"Server":"OpenSIPS (3.5.9)"},"id":3}"#, 3)?;
/// assert_eq!(v.server, "OpenSIPS (3.5.9)");
/// # Ok::<(), opensips_mi::Error>(())
/// ```
///
/// # Errors
///
/// As [`decode_reply`], and [`Error::UnexpectedReply`] naming the field that did not fit.
pub fn decode_result<T: serde::de::DeserializeOwned>(bytes: &[u8], id: u32) -> crate::Result<T> {
    // the common case, read in place: one successful reply to `id`
    // (a concatenation of replies, or invalid UTF-8, fails this parse and goes the long way)
    if let Some(range) = lone_bounds(bytes, id) {
        #[derive(Deserialize)]
        struct ResultOnly<T> {
            result: T,
        }
        // one UTF-8 check for the whole result instead of one per string
        let text = std::str::from_utf8(&bytes[range]);
        if let Ok(Ok(r)) = text.map(serde_json::from_str::<ResultOnly<T>>) {
            return Ok(r.result);
        }
    }
    let resp = decode_owned_with(bytes.to_vec(), id, false)?;
    super::decode_typed(resp, |v| v)
}

/// Decodes the reply to `id` in an owned buffer, which becomes the response's raw bytes
/// (without a copy when it holds just the reply); the result is decoded into a [`Value`]
/// only if `decode`.
pub(crate) fn decode_owned_with(buf: Vec<u8>, id: u32, decode: bool) -> crate::Result<Response> {
    match scan_with(&buf, id, true, decode) {
        Scan::Found { result, range } => result.map(|r| with_raw(r, buf, range)),
        Scan::Failed(e) => Err(e),
        Scan::Incomplete { .. } => Err(Error::malformed(
            "the reply ends in the middle of the JSON",
            &buf,
        )),
        Scan::OnlyStale => Err(Error::malformed(format!("no reply with id {id}"), &buf)),
    }
}

/// Attaches the bytes of `range` as the response's `raw`, moving `buf` when possible.
pub(crate) fn with_raw(mut r: Response, mut buf: Vec<u8>, range: Range<usize>) -> Response {
    if range.start == 0 {
        buf.truncate(range.end);
        // a reply read in several pieces leaves room behind: a kept response keeps none
        buf.shrink_to_fit();
        r.raw = buf;
    } else {
        r.raw = buf[range].to_vec();
    }
    r
}

/// The result of scanning a buffer for the reply to one request.
#[derive(Debug)]
pub(crate) enum Scan {
    /// The reply with our id (or one the server could not give an id), and its byte range.
    Found {
        result: crate::Result<Response>,
        range: Range<usize>,
    },
    /// The bytes cannot be a reply: plain text, or broken JSON.
    Failed(Error),
    /// More bytes are needed (possibly after skipping stale replies): the JSON is cut short
    /// (`json`), or nothing / unrecognised text has arrived so far.
    Incomplete { json: bool },
    /// Only complete replies to other ids (stale), nothing else.
    OnlyStale,
}

/// Scans `buf` (which may hold several concatenated replies, as a FIFO can deliver) for the
/// reply to `id`. With `at_end`, no more bytes will come, so text that is not JSON is final.
pub(crate) fn scan(buf: &[u8], id: u32, at_end: bool) -> Scan {
    scan_with(buf, id, at_end, true)
}

/// [`scan`], leaving the result undecoded (`Value::Null`, the bytes stay in `raw`) unless
/// `decode`: typed helpers deserialize `raw` straight into their structs.
pub(crate) fn scan_with(buf: &[u8], id: u32, at_end: bool, decode: bool) -> Scan {
    if decode {
        // The common case: one successful reply to `id`, as OpenSIPS prints it. Its result
        // alone is parsed, straight into a `Value`, without reading the envelope around it;
        // a result that does not parse on its own (concatenated replies, invalid UTF-8,
        // another shape) goes the long way below. Bytes that pass are a whole reply even
        // if more may come (`!at_end`: a stream): a complete JSON value between the head
        // and `,"id":N}` cannot be the start of a longer reply.
        if let Some((range, result)) = lone_parts(buf, id) {
            // plain JSON (most small results) by hand, anything else by serde_json: the
            // same value either way
            let result = &buf[result];
            if let Some(value) =
                Value::parse_plain(result).or_else(|| serde_json::from_slice::<Value>(result).ok())
            {
                return Scan::Found {
                    result: Ok(Response {
                        code: 200,
                        message: "OK".into(),
                        value,
                        raw: Vec::new(),
                    }),
                    range,
                };
            }
        }
    }
    if !decode && at_end {
        if let Some(range) = std::str::from_utf8(buf)
            .ok()
            .and_then(|t| lone_success(t, id))
        {
            // one successful reply to `id` and nothing else: the typed decoder reads the
            // result straight from `raw` and reports any syntax error itself
            let ok = Response {
                code: 200,
                message: "OK".into(),
                value: Value::Null,
                raw: Vec::new(),
            };
            return Scan::Found {
                result: Ok(ok),
                range,
            };
        }
    }
    // serde_json checks the UTF-8 of what it reads: the whole buffer is looked at (and
    // repaired, each bad byte a `?`, offsets kept) only when a reply was not found in it
    let first = scan_text(buf, buf, id, at_end, decode);
    if matches!(first, Scan::Found { .. }) || std::str::from_utf8(buf).is_ok() {
        return first;
    }
    scan_text(&sanitize_utf8(buf), buf, id, at_end, decode)
}

/// [`scan_with`] on `text`: `buf` itself, or `buf` with its invalid UTF-8 repaired.
fn scan_text(text: &[u8], buf: &[u8], id: u32, at_end: bool, decode: bool) -> Scan {
    let mut pos = 0;
    loop {
        let rest = &text[pos..];
        let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let start = pos + skip;
        if start == text.len() {
            return if pos == 0 {
                Scan::Incomplete { json: false }
            } else {
                Scan::OnlyStale
            };
        }
        if text[start] != b'{' {
            // Bytes before a reply are not ours (a reply FIFO another user could write to):
            // skip to the next reply object, if one has come.
            if let Some(next) = next_reply_start(text, start + 1) {
                pos = next;
                continue;
            }
            return if at_end || looks_like_complete_text(&text[start..]) {
                Scan::Failed(plain_text_error(&buf[start..]))
            } else {
                Scan::Incomplete { json: false }
            };
        }
        let step = if decode {
            next_envelope::<Value>(&text[start..], id)
        } else {
            next_envelope::<IgnoredAny>(&text[start..], id)
        };
        match step {
            Step::Ours(result, len) => {
                return Scan::Found {
                    result,
                    range: start..start + len,
                };
            }
            Step::Stale(len) => pos = start + len, // a late reply to an earlier request: skip it
            // An object cut short before another reply object: not ours (a planted prefix),
            // unless ours is still coming, which a later scan of the whole buffer finds.
            Step::Eof
                if next_reply_start(text, start + 1).is_some_and(|next| {
                    matches!(
                        next_envelope::<IgnoredAny>(&text[next..], id),
                        Step::Ours(..) | Step::Stale(_)
                    )
                }) =>
            {
                pos = next_reply_start(text, start + 1).unwrap_or(text.len());
            }
            Step::Eof => {
                return if at_end {
                    Scan::Failed(Error::malformed(
                        "the reply ends in the middle of the JSON",
                        &buf[start..],
                    ))
                } else {
                    Scan::Incomplete { json: true }
                };
            }
            Step::Broken(e) => match next_reply_start(text, start + 1) {
                // broken JSON before a reply object: not ours, skip it
                Some(next) => pos = next,
                None => return Scan::Failed(broken_json_error(&buf[start..], &e)),
            },
            Step::Nothing => return Scan::OnlyStale,
        }
    }
}

/// Where the next JSON-RPC reply object starts in `text` at or after `from`: OpenSIPS
/// always prints `{"jsonrpc"` first.
fn next_reply_start(text: &[u8], from: usize) -> Option<usize> {
    const HEAD: &[u8] = br#"{"jsonrpc""#;
    text.get(from..)?
        .windows(HEAD.len())
        .position(|w| w == HEAD)
        .map(|i| from + i)
}

/// The range of `text` when it is exactly one successful OpenSIPS reply to `id`, as
/// OpenSIPS prints it (`{"jsonrpc":"2.0","result":…,"id":N}`), without parsing it: no other
/// envelope can hide in it, since `{"jsonrpc":` cannot occur inside a JSON string (its
/// quotes would be escaped) and occurs once.
fn lone_success(text: &str, id: u32) -> Option<Range<usize>> {
    let range = lone_bounds(text.as_bytes(), id)?;
    text[range.clone()]
        .matches(r#"{"jsonrpc":"#)
        .nth(1)
        .is_none()
        .then_some(range)
}

/// The range of `bytes` without surrounding whitespace when it starts like a successful
/// OpenSIPS reply and ends with `"id":N}`: one reply to `id`, unless replies are
/// concatenated (a parse of the range then fails on the trailing one).
fn lone_bounds(bytes: &[u8], id: u32) -> Option<Range<usize>> {
    lone_parts(bytes, id).map(|(range, _)| range)
}

/// [`lone_bounds`], and the range of the result between the head and `,"id":N}`.
fn lone_parts(bytes: &[u8], id: u32) -> Option<(Range<usize>, Range<usize>)> {
    const HEAD: &[u8] = br#"{"jsonrpc":"2.0","result":"#;
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = bytes.len() - bytes.iter().rev().position(|b| !b.is_ascii_whitespace())?;
    let body = bytes.get(start..end)?;
    // `,"id":<id>}` read backwards (no id written out to compare)
    let rest = body.strip_prefix(HEAD)?.strip_suffix(b"}")?;
    let digits = rest.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let (rest, number) = rest.split_at(rest.len() - digits);
    let result = rest.strip_suffix(br#","id":"#)?;
    let from = start + HEAD.len();
    (!result.is_empty() && is_decimal(number, id)).then(|| (start..end, from..from + result.len()))
}

/// `true` if `digits` is `n` as JSON writes it (no sign, no leading zero).
fn is_decimal(digits: &[u8], n: u32) -> bool {
    match digits {
        [] | [b'0', _, ..] => false,
        _ if digits.len() > 10 => false,
        _ => {
            digits
                .iter()
                .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'))
                == u64::from(n)
        }
    }
}

/// What the next JSON value in a buffer is.
enum Step {
    Ours(crate::Result<Response>, usize),
    Stale(usize),
    Eof,
    Broken(serde_json::Error),
    Nothing,
}

/// Reads one envelope, its result as `R` (a [`Value`], or skipped with `IgnoredAny`).
fn next_envelope<'a, R: Deserialize<'a> + IntoValue>(text: &'a [u8], id: u32) -> Step {
    let mut stream = serde_json::Deserializer::from_slice(text).into_iter::<Envelope<R>>();
    match stream.next() {
        Some(Ok(env)) => {
            let len = stream.byte_offset();
            if env.matches(id) {
                Step::Ours(env.into_response(), len)
            } else {
                Step::Stale(len)
            }
        }
        Some(Err(e)) if e.is_eof() => Step::Eof,
        Some(Err(e)) => Step::Broken(e),
        None => Step::Nothing,
    }
}

/// What a JSON-RPC `error` object means: an error for any code but 2xx (which OpenSIPS
/// uses for replies without a result).
pub(crate) fn error_object(err: Value) -> crate::Result<Response> {
    let code = err["code"].as_i64().ok_or_else(|| Error::MalformedReply {
        reason: "error object without an integer \"code\"".into(),
        excerpt: err.to_string(),
    })?;
    let message = err["message"].as_str().unwrap_or_default().to_owned();
    let data = err.get("data").filter(|d| !d.is_null()).cloned();
    if (200..300).contains(&code) {
        return Ok(Response {
            code,
            message: message.into(),
            value: Value::Null,
            raw: Vec::new(),
        });
    }
    Err({
        let e = ServerError {
            code,
            message,
            data,
        };
        if code < 0 {
            Error::Rpc(e)
        } else {
            Error::Command(e)
        }
    })
}

/// A decoded result, or nothing for a skipped one.
trait IntoValue {
    fn into_value(self) -> Value;
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl IntoValue for IgnoredAny {
    fn into_value(self) -> Value {
        Value::Null
    }
}

/// Replaces each byte of an invalid UTF-8 sequence with `?`, keeping every offset.
pub(crate) fn sanitize_utf8(buf: &[u8]) -> Vec<u8> {
    let mut out = buf.to_vec();
    let mut pos = 0;
    while pos < out.len() {
        match std::str::from_utf8(&out[pos..]) {
            Ok(_) => break,
            Err(e) => {
                let bad_start = pos + e.valid_up_to();
                let bad_len = e.error_len().unwrap_or(out.len() - bad_start);
                for b in &mut out[bad_start..bad_start + bad_len] {
                    *b = b'?';
                }
                pos = bad_start + bad_len;
            }
        }
    }
    out
}

/// Parses one JSON value leniently (invalid UTF-8 becomes `?`).
pub(crate) fn parse_lenient<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    match serde_json::from_slice(bytes) {
        Err(e) if std::str::from_utf8(bytes).is_err() => {
            serde_json::from_slice(&sanitize_utf8(bytes)).map_err(|_| e)
        }
        other => other,
    }
}

/// Plain-text answers OpenSIPS 3.x sends instead of JSON, with what they mean.
const KNOWN_TEXTS: &[(&str, &str)] = &[
    (
        "failed to print response",
        "OpenSIPS could not print the reply; over FIFO this happens when one string value is \
         longer than about 4 KB: use the datagram or HTTP transport for this command",
    ),
    (
        "failed to build response",
        "the command's handler failed inside OpenSIPS; see its log",
    ),
    (
        "failed to build async handler",
        "the async command could not be started; see the OpenSIPS log",
    ),
    (
        "500 Internal error",
        "the reply did not fit in one datagram (or could not be printed): use the FIFO or \
         HTTP transport for large replies, or page through the data",
    ),
    (
        "500 command not available",
        "this looks like OpenSIPS 1.x/2.x, which answers JSON-RPC with `500 command not \
         available`: use protocol=legacy (?protocol=legacy in the URL, or auto)",
    ),
    (
        "400 Parse_error",
        "the server could not parse the request as JSON-RPC (is it an OpenSIPS 1.x/2.x \
         server speaking the legacy text protocol?)",
    ),
];

/// `true` if `buf` ends with one of the plain-text failures OpenSIPS writes in place of a
/// reply (or after a cut one).
pub(crate) fn ends_with_known_text(buf: &[u8]) -> bool {
    // only the tail: this runs after every chunk of a large reply
    let t = String::from_utf8_lossy(&buf[buf.len().saturating_sub(64)..]);
    let t = t.trim_end();
    KNOWN_TEXTS.iter().any(|(k, _)| t.ends_with(k))
}

fn looks_like_complete_text(rest: &[u8]) -> bool {
    let t = String::from_utf8_lossy(rest);
    KNOWN_TEXTS.iter().any(|(k, _)| t.trim_end() == *k)
}

fn plain_text_error(rest: &[u8]) -> Error {
    let text = String::from_utf8_lossy(rest).trim().to_owned();
    let hint = KNOWN_TEXTS
        .iter()
        .find(|(k, _)| text.ends_with(k))
        .map(|(_, h)| *h);
    match hint {
        Some(h) => Error::ServerFailure {
            text,
            hint: Some(h.into()),
        },
        None => Error::malformed("expected a JSON-RPC object", rest),
    }
}

fn broken_json_error(bytes: &[u8], e: &serde_json::Error) -> Error {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_end();
    for (known, hint) in KNOWN_TEXTS {
        if trimmed.ends_with(known) {
            return Error::ServerFailure {
                text: format!("truncated reply ending in {known:?}"),
                hint: Some((*hint).into()),
            };
        }
    }
    Error::malformed(format!("invalid JSON ({e})"), bytes)
}

/// JSON-RPC's "Parse error" and "Invalid Request" codes: the only errors that come without
/// the request's id.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// The reply's `id`.
#[derive(Debug, PartialEq)]
enum Id {
    Absent,
    Null,
    Num(f64),
    Str(String),
    Other,
}

/// One JSON-RPC reply object, its result decoded as `R`.
#[derive(Debug)]
struct Envelope<R> {
    /// The `"jsonrpc"` member when it is not `"2.0"`.
    jsonrpc: Option<String>,
    result: Option<R>,
    error: Option<Value>,
    id: Id,
}

impl<R: IntoValue> Envelope<R> {
    fn matches(&self, id: u32) -> bool {
        match &self.id {
            Id::Num(n) => *n == f64::from(id),
            Id::Str(s) => s.parse::<u32>().ok() == Some(id),
            // The server could not read our id (parse error, invalid request): the error is
            // ours, since we never send id-less requests. Nothing else without our id is:
            // never a success, and no other error (anyone could have written it).
            Id::Null | Id::Absent | Id::Other => self
                .error
                .as_ref()
                .is_some_and(|e| matches!(e["code"].as_i64(), Some(PARSE_ERROR | INVALID_REQUEST))),
        }
    }

    fn into_response(self) -> crate::Result<Response> {
        // `None`: absent, or `"2.0"`
        if let Some(v) = &self.jsonrpc {
            if v != "2.0" {
                return Err(Error::MalformedReply {
                    reason: format!("unexpected \"jsonrpc\" version {v:?}"),
                    excerpt: String::new(),
                });
            }
        }
        if let Some(err) = self.error {
            return error_object(err);
        }
        match self.result {
            Some(result) => Ok(Response {
                code: 200,
                message: "OK".into(),
                value: result.into_value(),
                raw: Vec::new(),
            }),
            None => Err(Error::MalformedReply {
                reason: "JSON-RPC object with neither \"result\" nor \"error\"".into(),
                excerpt: String::new(),
            }),
        }
    }
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for Envelope<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<R>(std::marker::PhantomData<R>);
        impl<'de, R: Deserialize<'de>> Visitor<'de> for V<R> {
            type Value = Envelope<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC reply object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<R>, A::Error> {
                let mut env = Envelope {
                    jsonrpc: None,
                    result: None,
                    error: None,
                    id: Id::Absent,
                };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "jsonrpc" => {
                            // `"2.0"` is read in place (no `Value`, no `String`: this runs
                            // for every reply); anything else is kept to say what it was
                            let raw: &'de RawValue = map.next_value()?;
                            if raw.get() != r#""2.0""# {
                                let v: Value = serde_json::from_str(raw.get())
                                    .map_err(serde::de::Error::custom)?;
                                env.jsonrpc = Some(v.as_str().unwrap_or("?").to_owned());
                            }
                        }
                        "result" => env.result = Some(map.next_value()?),
                        "error" => env.error = Some(map.next_value()?),
                        "id" => {
                            env.id = match map.next_value::<Value>()? {
                                Value::Null => Id::Null,
                                Value::Int(i) => Id::Num(i as f64),
                                Value::Float(f) => Id::Num(f),
                                Value::String(s) => Id::Str(s.into()),
                                _ => Id::Other,
                            }
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_shapes() {
        assert_eq!(
            encode_request("uptime", &Params::None, 1),
            br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#
        );
        assert_eq!(
            encode_request("ul_show_contact", &Params::named([("table_name", "location"), ("aor", "al\"ice")]), 2),
            br#"{"jsonrpc":"2.0","method":"ul_show_contact","params":{"table_name":"location","aor":"al\"ice"},"id":2}"#
        );
        assert_eq!(
            encode_request(
                "get_statistics",
                &Params::positional([["dialog:", "tm:"]]),
                3
            ),
            br#"{"jsonrpc":"2.0","method":"get_statistics","params":[["dialog:","tm:"]],"id":3}"#
        );
    }

    #[test]
    fn method_and_id_are_written_as_serde_json_writes_them() {
        let methods = [
            "version",
            "",
            "ul_show_contact",
            "caf\u{e9}",
            "a\"b",
            "a\\b",
            "tab\there",
            "nul\u{0}",
            "del\u{7f}",
            "\u{1f}",
            "\u{2028}",
            "emoji \u{1f600}",
        ];
        for method in methods {
            for id in [0, 1, 9, 10, 99, 100, 12_345, i32::MAX as u32, u32::MAX] {
                let expected = format!(
                    r#"{{"jsonrpc":"2.0","method":{},"id":{id}}}"#,
                    serde_json::to_string(method).unwrap()
                );
                assert_eq!(
                    String::from_utf8(encode_request(method, &Params::None, id)).unwrap(),
                    expected
                );
            }
        }
    }

    #[test]
    fn ids_stay_in_c_int_range_and_are_not_sequential() {
        let g = IdGenerator {
            counter: AtomicU32::new(u32::MAX - 2),
            key: std::hash::RandomState::new(),
        };
        let ids: Vec<u32> = (0..2000).map(|_| g.next_id()).collect();
        assert!(ids.iter().all(|&i| (1..=MAX_ID).contains(&i)), "{ids:?}");
        // the next id cannot be told from the last one
        let steps_of_one = ids
            .windows(2)
            .filter(|w| w[1] == w[0].wrapping_add(1))
            .count();
        assert!(steps_of_one < 5, "{steps_of_one} sequential ids");
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert!(distinct.len() > 1990);
        // two generators do not share a sequence
        let other = IdGenerator::new();
        assert_ne!(
            (0..4).map(|_| other.next_id()).collect::<Vec<_>>(),
            (0..4)
                .map(|_| IdGenerator::new().next_id())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn result_error_and_success_error() {
        let r = decode_reply(br#"{"jsonrpc":"2.0","result":"OK","id":4}"#, 4).unwrap();
        assert_eq!((r.code, r.value.as_str()), (200, Some("OK")));
        let e = decode_reply(
            br#"{"jsonrpc":"2.0","error":{"code":404,"message":"AOR not found"},"id":4}"#,
            4,
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Command(ref s) if s.code == 404 && s.message == "AOR not found")
        );
        let e = decode_reply(
            br#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad type for parameter 'brief'"},"id":4}"#,
            4,
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Rpc(ref s) if s.data == Some(Value::from("Bad type for parameter 'brief'")))
        );
        let ok = decode_reply(
            br#"{"jsonrpc":"2.0","error":{"code":200,"message":"Contacts already synced"},"id":4}"#,
            4,
        )
        .unwrap();
        assert_eq!((ok.code, &*ok.message), (200, "Contacts already synced"));
    }

    #[test]
    fn stale_replies_are_skipped() {
        let two = br#"{"jsonrpc":"2.0","result":{"Server":"x"},"id":14}{"jsonrpc":"2.0","result":"OK","id":15}"#;
        let r = decode_owned_with(two.to_vec(), 15, true).unwrap();
        assert_eq!(r.raw, br#"{"jsonrpc":"2.0","result":"OK","id":15}"#);
        // the public codec reads in place and keeps no copy
        assert_eq!(decode_reply(two, 15).unwrap().raw(), None);
        assert!(matches!(scan(two, 99, false), Scan::OnlyStale));
        assert!(matches!(
            scan(&two[..60], 15, false),
            Scan::Incomplete { json: true }
        ));
    }

    #[test]
    fn junk_before_a_reply_does_not_lose_it() {
        let ours = r#"{"jsonrpc":"2.0","result":{"Now":"x"},"id":7}"#;
        for junk in [
            "x",
            "garbage\n",
            "{\"broken",
            "400 Parse_error\n",
            "{\"a\":1,]",
        ] {
            let both = format!("{junk}{ours}");
            match scan(both.as_bytes(), 7, false) {
                Scan::Found { result, range } => {
                    assert_eq!(result.unwrap().value["Now"].as_str(), Some("x"), "{junk}");
                    assert_eq!(&both[range], ours);
                }
                other => panic!("{junk:?}: {other:?}"),
            }
        }
        // junk alone is still the error it was
        assert!(matches!(
            scan(b"400 Parse_error\n", 7, true),
            Scan::Failed(_)
        ));
    }

    #[test]
    fn plain_text_and_truncation() {
        let e = decode_reply(b"400 Parse_error", 1).unwrap_err();
        assert!(
            matches!(e, Error::ServerFailure { ref text, .. } if text == "400 Parse_error"),
            "{e}"
        );
        let e = decode_reply(
            br#"{"jsonrpc":"2.0","result":{"key":"bigv","value":failed to print response"#,
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("4 KB"), "{e}");
        let e = decode_reply(br#"{"jsonrpc":"2.0","result":{"#, 1).unwrap_err();
        assert!(matches!(e, Error::MalformedReply { .. }), "{e}");
        let e = decode_reply(b"hello", 1).unwrap_err();
        assert!(matches!(e, Error::MalformedReply { .. }), "{e}");
        assert!(decode_reply(b"", 1).is_err());
    }

    #[test]
    fn null_id_errors_are_ours_but_null_id_results_are_not() {
        let e = decode_reply(
            br#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#,
            9,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Rpc(ref s) if s.code == -32700));
        assert!(decode_reply(br#"{"jsonrpc":"2.0","result":"OK","id":null}"#, 9).is_err());
        // a forged "success" (a 2xx error object) or any other error without our id is not
        // ours: never a success, and skipped as a stale reply when ours follows
        for forged in [
            r#"{"jsonrpc":"2.0","error":{"code":200,"message":"OK"},"id":null}"#,
            r#"{"jsonrpc":"2.0","error":{"code":404,"message":"AOR not found"},"id":null}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"}}"#,
        ] {
            assert!(decode_reply(forged.as_bytes(), 9).is_err(), "{forged}");
            let both = format!(r#"{forged}{{"jsonrpc":"2.0","result":{{"Now":"x"}},"id":9}}"#);
            let r = decode_reply(both.as_bytes(), 9).unwrap();
            assert_eq!(r.value["Now"].as_str(), Some("x"), "{forged}");
        }
    }

    #[test]
    fn decode_result_takes_the_long_way_for_concatenated_or_invalid_replies() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct V {
            #[serde(rename = "Server")]
            server: String,
        }
        let two = br#"{"jsonrpc":"2.0","result":{"Server":"stale"},"id":2}{"jsonrpc":"2.0","result":{"Server":"ours"},"id":3}"#;
        assert_eq!(decode_result::<V>(two, 3).unwrap().server, "ours");
        let mut bad = br#"{"jsonrpc":"2.0","result":{"Server":"A"#.to_vec();
        bad.push(0xff);
        bad.extend_from_slice(br#""},"id":3}"#);
        assert_eq!(decode_result::<V>(&bad, 3).unwrap().server, "A?");
        assert!(
            decode_result::<V>(br#"{"jsonrpc":"2.0","result":{"Server":"x"},"id":4}"#, 3).is_err()
        );
    }

    #[test]
    fn a_lone_success_reads_the_result_alone_and_means_what_the_envelope_means() {
        // the fast path: the result parsed on its own, the range the whole reply
        let one = b" {\"jsonrpc\":\"2.0\",\"result\":{\"a\":{\"jsonrpc\":\"x\"},\"b\":[1,2.5,null]},\"id\":7}\n";
        let r = decode_owned_with(one.to_vec(), 7, true).unwrap();
        assert_eq!((r.code, &*r.message), (200, "OK"));
        assert_eq!(r.value["a"]["jsonrpc"].as_str(), Some("x"));
        assert_eq!(r.value["b"][1].as_f64(), Some(2.5));
        assert_eq!(r.raw, &one[1..one.len() - 1]);
        let whole: Value = serde_json::from_slice(one).unwrap();
        assert_eq!(r.value, whole["result"]);
        // two replies with the same id, which also start and end like one: the first
        let two = br#"{"jsonrpc":"2.0","result":1,"id":7}{"jsonrpc":"2.0","result":2,"id":7}"#;
        let r = decode_owned_with(two.to_vec(), 7, true).unwrap();
        assert_eq!((r.value.as_i64(), r.raw.len()), (Some(1), two.len() / 2));
        // a result that is not one JSON value, another id, another version: as before
        let e = decode_reply(br#"{"jsonrpc":"2.0","result":1,"x":2,"id":7}"#, 7);
        assert_eq!(e.unwrap().value.as_i64(), Some(1));
        assert!(decode_reply(br#"{"jsonrpc":"2.0","result":1,"id":8}"#, 7).is_err());
        for (version, shown) in [(r#""1.0""#, r#""1.0""#), ("2", r#""?""#), ("{}", r#""?""#)] {
            let reply = format!(r#"{{"jsonrpc":{version},"result":1,"id":7}}"#);
            let e = decode_reply(reply.as_bytes(), 7).unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("unexpected \"jsonrpc\" version {shown}")),
                "{e}"
            );
        }
        // on a stream (more may come): a prefix that ends like a reply is not taken for one
        let whole = br#"{"jsonrpc":"2.0","result":{"n":1,"id":7},"id":7}"#;
        let prefix = &whole[..whole.len() - 8];
        assert!(prefix.ends_with(br#","id":7}"#));
        assert!(matches!(
            scan_with(prefix, 7, false, true),
            Scan::Incomplete { json: true }
        ));
        match scan_with(whole, 7, false, true) {
            Scan::Found {
                result: Ok(r),
                range,
            } => assert_eq!((r.value["id"].as_i64(), range), (Some(7), 0..whole.len())),
            other => panic!("{other:?}"),
        }
        // "2.0" written with an escape is still 2.0
        let escaped = br#"{"jsonrpc":"2\u002e0","result":1,"id":7}"#;
        assert_eq!(decode_reply(escaped, 7).unwrap().value.as_i64(), Some(1));
    }

    #[test]
    fn invalid_utf8_keeps_offsets() {
        let mut bytes = br#"{"jsonrpc":"2.0","result":{"User-agent":"A"#.to_vec();
        bytes.extend_from_slice(b"\xff\xfe");
        bytes.extend_from_slice(br#""},"id":3}"#);
        let r = decode_owned_with(bytes.clone(), 3, true).unwrap();
        assert_eq!(r.value["User-agent"].as_str(), Some("A??"));
        assert_eq!(r.raw, bytes);
        assert_eq!(decode_reply(&bytes, 3).unwrap().value, r.value);
    }

    /// [`scan_with`] without its fast path: the general envelope reader.
    fn scan_general(buf: &[u8], id: u32) -> Scan {
        let first = scan_text(buf, buf, id, true, true);
        if matches!(first, Scan::Found { .. }) || std::str::from_utf8(buf).is_ok() {
            return first;
        }
        scan_text(&sanitize_utf8(buf), buf, id, true, true)
    }

    /// What a scan found, to compare (a value by its `Debug`: `Int(0)` is not `Float(0.0)`).
    fn outcome(scan: Scan) -> String {
        match scan {
            Scan::Found {
                result: Ok(r),
                range,
            } => format!("{} {} {:?} {range:?}", r.code, r.message, r.value),
            Scan::Found {
                result: Err(e),
                range,
            } => format!("error {e:?} {range:?}"),
            Scan::Failed(e) => format!("failed {e:?}"),
            other => format!("{other:?}"),
        }
    }

    fn fast_and_general_agree(buf: &[u8], id: u32) {
        assert_eq!(
            outcome(scan_with(buf, id, true, true)),
            outcome(scan_general(buf, id)),
            "{:?} (id {id})",
            String::from_utf8_lossy(buf)
        );
    }

    /// Plain JSON is read as serde_json reads it, or left to serde_json.
    fn plain_agrees_with_serde(text: &[u8]) {
        if let Some(v) = Value::parse_plain(text) {
            let serde = serde_json::from_slice::<Value>(text);
            assert!(
                serde
                    .as_ref()
                    .is_ok_and(|s| format!("{s:?}") == format!("{v:?}")),
                "{:?}: plain {v:?}, serde_json {serde:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn every_fixture_decodes_the_same_on_the_fast_path() {
        let mut files = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures"
        ))];
        let (mut seen, mut plain) = (0, 0);
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            // the body of a recorded HTTP exchange
            let body = bytes
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(&bytes[..], |i| &bytes[i + 4..]);
            for id in [0, 1, 2, 7, 1234] {
                fast_and_general_agree(&bytes, id);
                fast_and_general_agree(body, id);
            }
            if let Some((_, result)) = lone_parts(body, 1) {
                plain_agrees_with_serde(&body[result.clone()]);
                plain += usize::from(Value::parse_plain(&body[result]).is_some());
            }
            seen += 1;
        }
        assert!(seen > 1000, "{seen} fixtures");
        // most recorded results are plain JSON: the fast path was taken
        assert!(plain > 100, "{plain} plain results");
    }

    #[test]
    fn fast_path_edge_cases() {
        let results = [
            "1",
            "0",
            "-1",
            "-0",
            "01",
            "1.5",
            "1e3",
            "1E3",
            "-",
            "123456789012345678",
            "1234567890123456789",
            "-123456789012345678",
            "9223372036854775807",
            "18446744073709551616",
            "true",
            "false",
            "null",
            "nul",
            "truex",
            r#""""#,
            r#""a\"b""#,
            r#""\u0041""#,
            r#""é""#,
            "\"tab\there\"",
            r#""\\""#,
            "{}",
            "[]",
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,}"#,
            "[1,]",
            "[1 2]",
            r#"{"a" 1}"#,
            r#"{1:2}"#,
            r#" { "a" : [ 1 , { } , [ ] ] } "#,
            "\u{c}1",
            "1\u{c}",
            r#"{"jsonrpc":"2.0"}"#,
            r#"{"Server":"OpenSIPS (3.5.9 (x86_64/linux))"}"#,
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
            r#""a"#,
            "[",
            "{",
            "",
            " ",
        ];
        for result in results {
            plain_agrees_with_serde(result.as_bytes());
            for id in [7, 8] {
                for reply in [
                    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":7}}"#),
                    format!(" \n{{\"jsonrpc\":\"2.0\",\"result\":{result},\"id\":7}}\r\n"),
                    format!(r#"{{"jsonrpc":"2.0","id":7,"result":{result}}}"#),
                    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":7,"id":8}}"#),
                    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":"7"}}"#),
                    format!(
                        r#"{{"jsonrpc":"2.0","result":{result},"error":{{"code":-32000,"message":"x"}},"id":7}}"#
                    ),
                    format!(
                        r#"{{"jsonrpc":"2.0","result":{result},"id":8}}{{"jsonrpc":"2.0","result":{result},"id":7}}"#
                    ),
                    format!(
                        r#"{{"jsonrpc":"2.0","result":{result},"id":7}}{{"jsonrpc":"2.0","result":1,"id":7}}"#
                    ),
                    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":7}}x"#),
                    format!(r#"{{"jsonrpc":"2.0","result":{result}, "id":7}}"#),
                ] {
                    fast_and_general_agree(reply.as_bytes(), id);
                }
            }
        }
        // what the fast path takes, and what it leaves to serde_json
        for plain in [
            "1",
            "-1",
            "0",
            "123456789012345678",
            "true",
            "null",
            r#""é""#,
            "{}",
            "[]",
            r#"{"a":1,"a":2}"#,
            r#" { "a" : [ 1 , { } , [ ] ] } "#,
            r#"{"Server":"OpenSIPS (3.5.9 (x86_64/linux))"}"#,
        ] {
            assert!(Value::parse_plain(plain.as_bytes()).is_some(), "{plain}");
        }
        for other in [
            "-0",
            "01",
            "1.5",
            "1e3",
            "1234567890123456789",
            r#""a\"b""#,
            r#""\u0041""#,
            "\"tab\there\"",
            "[1,]",
            "\u{c}1",
            "",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        ] {
            assert!(Value::parse_plain(other.as_bytes()).is_none(), "{other}");
        }
        for reply in [
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":7}"#,
            r#"{"jsonrpc":"2.0","error":{"code":404,"message":"AOR not found"},"id":7}"#,
            r#"{"jsonrpc":"2.0","result":"caf\xff","id":7}"#,
        ] {
            fast_and_general_agree(reply.as_bytes(), 7);
        }
        fast_and_general_agree(b"{\"jsonrpc\":\"2.0\",\"result\":\"caf\xff\",\"id\":7}", 7);
        fast_and_general_agree(
            b"{\"jsonrpc\":\"2.0\",\"result\":{\"caf\xc3\":1},\"id\":7}",
            7,
        );
    }

    /// JSON-ish text: valid JSON in many shapes, and the near misses serde_json rejects.
    fn jsonish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (-1000i64..1000).prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap()),
            proptest::sample::select(vec![
                "-0", "01", "-01", "1.", ".5", "1e", "+1", "0x1", "tru", "nulll", "NaN", "-",
                "1.0", "2E-3",
            ])
            .prop_map(str::to_string),
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            "[ -~]{0,12}".prop_map(|s| format!("\"{s}\"")),
            "[a-z\\\\\"\t\u{0}\u{1f}é]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ];
        leaf.prop_recursive(6, 48, 6, |inner| {
            let ws = proptest::sample::select(vec!["", "", " ", "\n", "\r\n\t", "\u{c}"]);
            prop_oneof![
                (
                    proptest::collection::vec((inner.clone(), ws.clone()), 0..6),
                    ws.clone()
                )
                    .prop_map(|(items, w)| {
                        let items: Vec<String> = items
                            .into_iter()
                            .map(|(v, w)| format!("{w}{v}{w}"))
                            .collect();
                        format!("[{w}{}]", items.join(","))
                    }),
                (
                    proptest::collection::vec(
                        ("[a-c]{0,2}|[a-z]{15,20}|\"|\\\\", inner, ws.clone()),
                        0..6
                    ),
                    any::<bool>()
                )
                    .prop_map(|(members, trailing)| {
                        let members: Vec<String> = members
                            .into_iter()
                            .map(|(k, v, w)| format!("{w}\"{k}\"{w}:{w}{v}{w}"))
                            .collect();
                        let comma = if trailing && !members.is_empty() {
                            ","
                        } else {
                            ""
                        };
                        format!("{{{}{comma}}}", members.join(","))
                    }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn plain_parser_matches_serde_json(text in jsonish(), cut in 0usize..64, junk in proptest::sample::select(vec!["", ",", "]", "}", "x", " ", "\""])) {
            plain_agrees_with_serde(text.as_bytes());
            // cut short and with junk behind: never accepted where serde_json fails
            plain_agrees_with_serde(&text.as_bytes()[..text.len().saturating_sub(cut)]);
            plain_agrees_with_serde(format!("{text}{junk}").as_bytes());
        }

        #[test]
        fn fast_path_matches_the_general_path(
            result in jsonish(),
            id in proptest::sample::select(vec![1u32, 7, 10, 2147483647]),
            sent in proptest::sample::select(vec![1u32, 7, 10, 2147483647]),
            shape in 0usize..6,
        ) {
            let reply = match shape {
                0 => format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{sent}}}"#),
                1 => format!("\n {{\"jsonrpc\":\"2.0\",\"result\":{result},\"id\":{sent}}}\n"),
                2 => format!(r#"{{"jsonrpc":"2.0","id":{sent},"result":{result}}}"#),
                3 => format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{sent}}}{{"jsonrpc":"2.0","result":{result},"id":{id}}}"#),
                4 => format!(r#"{{"jsonrpc":"2.0","error":{result},"id":{sent}}}"#),
                _ => format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{sent},"id":{id}}}"#),
            };
            fast_and_general_agree(reply.as_bytes(), id);
        }
    }
}
