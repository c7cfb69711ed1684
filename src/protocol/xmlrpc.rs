//! The XML-RPC codec of OpenSIPS `mi_xmlrpc` (4.0), `mi_xmlrpc_ng` (2.x/3.x), as pure
//! functions (no I/O).
//!
//! * Requests always carry `<params>` (2.x requires it, even empty). Positional parameters
//!   are one `<param>` each; named parameters are one `<struct>` param (3.x+).
//! * Replies decode into the same [`Value`] and [`Error`] as JSON-RPC: `<struct>` →
//!   object (member order kept), `<array>` → array, `<int>`/`<i4>`/`<i8>` → integer,
//!   integral `<double>` (how OpenSIPS prints numbers beyond `int`, e.g.
//!   `4294967295.000000`) → integer, `<string>` and bare `<value>text</value>` (2.x) →
//!   string, `<boolean>`, `<nil/>`; 2.x's doubly wrapped `<value><value>` is unwrapped.
//! * Raw CR LF inside strings (a SIP message in a `t_uac_dlg` reply) is kept byte for byte,
//!   although XML parsers normally turn it into LF.
//! * Faults become [`Error::Rpc`] for the JSON-RPC range (negative codes, and the server's
//!   unsigned `32700` for parse errors) and [`Error::Command`] otherwise, codes unchanged.
//!
//! ```
//! use opensips_mi::{xmlrpc, Params, Value};
//!
//! let req = xmlrpc::encode_request("cache_fetch", &Params::named([("system", "local"), ("attr", "k")]))?;
//! assert!(String::from_utf8(req)?.contains("<params><param><value><struct><member><name>system</name>"));
//!
//! let reply = b"<?xml version=\"1.0\"?>\r\n<methodResponse>\r\n<params><param>\r\n<value><struct>\
//!     <member><name>key</name><value><string>k</string></value></member></struct></value>\
//!     </param></params>\r\n</methodResponse>\r\n";
//! assert_eq!(xmlrpc::decode_reply(reply)?.into_value()["key"], Value::from("k"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

use xml::escape::escape_str_attribute;
use xml::reader::{EventReader, ParserConfig, XmlEvent};

use crate::url::base64;
use crate::value::Key;
use crate::{Error, Map, Params, Response, ServerError, Str, Value};

/// Nesting deeper than this is refused (no unbounded recursion on hostile input).
const MAX_DEPTH: usize = 128;

/// Encodes a `methodCall`.
///
/// # Errors
///
/// [`Error::InvalidRequest`] for values XML-RPC (or OpenSIPS' reading of it) cannot carry:
/// empty strings, `null`, and control characters XML forbids.
pub fn encode_request(method: &str, params: &Params) -> crate::Result<Vec<u8>> {
    let mut out = String::with_capacity(128);
    out.push_str("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    out.push_str(&text(method, "method name")?);
    out.push_str("</methodName><params>");
    match params {
        Params::None => {}
        Params::Positional(values) => {
            for v in values {
                out.push_str("<param>");
                encode_value(&mut out, v, 0)?;
                out.push_str("</param>");
            }
        }
        Params::Named(members) => {
            out.push_str("<param><value><struct>");
            for (k, v) in members {
                encode_member(&mut out, k, v, 0)?;
            }
            out.push_str("</struct></value></param>");
        }
    }
    out.push_str("</params></methodCall>");
    Ok(out.into_bytes())
}

/// Encodes a `methodCall` for 2.x `mi_xmlrpc_ng`, which takes every argument as a
/// non-empty `<string>` and reads them by position: names are dropped, numbers become text,
/// a list becomes one string argument per element (as over the legacy FIFO).
///
/// # Errors
///
/// As [`encode_request`], and for nested lists or objects.
pub fn encode_request_v2(method: &str, params: &Params) -> crate::Result<Vec<u8>> {
    let values: Vec<&Value> = match params {
        Params::None => Vec::new(),
        Params::Positional(v) => v.iter().collect(),
        Params::Named(v) => v.iter().map(|(_, v)| v).collect(),
    };
    let mut strings = Vec::with_capacity(values.len());
    for v in values {
        match v {
            Value::Array(items) => {
                for item in items {
                    strings.push(Value::String(legacy_text(item)?.into()));
                }
            }
            other => strings.push(Value::String(legacy_text(other)?.into())),
        }
    }
    encode_request(method, &Params::Positional(strings))
}

/// Encodes a `methodCall` for the 1.x `mi_xmlrpc` (xmlrpc-c Abyss), which reads every
/// parameter by position as text. Names are dropped, numbers become text, a list becomes
/// one argument per element. The module strips every CR from a `<string>` and turns LF LF
/// into CR LF (PROTOCOL.md §11.1), so a value holding a CR or an empty line is sent as
/// `<base64>`, which arrives byte for byte.
///
/// ```
/// use opensips_mi::{xmlrpc, Params};
/// let req = xmlrpc::encode_request_v1("cache_store", &Params::positional(["local", "k", "l1\r\nl2"]))?;
/// assert!(String::from_utf8(req)?.contains("<param><value><base64>bDENCmwy</base64></value></param>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`encode_request_v2`].
pub fn encode_request_v1(method: &str, params: &Params) -> crate::Result<Vec<u8>> {
    let values: Vec<&Value> = match params {
        Params::None => Vec::new(),
        Params::Positional(v) => v.iter().collect(),
        Params::Named(v) => v.iter().map(|(_, v)| v).collect(),
    };
    let mut out = String::with_capacity(128);
    out.push_str("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    out.push_str(&text(method, "method name")?);
    out.push_str("</methodName><params>");
    let mut one = |s: String| -> crate::Result<()> {
        if s.is_empty() {
            return Err(Error::invalid_request(
                "OpenSIPS' XML-RPC module rejects empty string parameters; leave the parameter \
                 out or use another transport",
            ));
        }
        out.push_str("<param><value>");
        if s.contains('\r') || s.contains("\n\n") {
            out.push_str("<base64>");
            out.push_str(&base64(s.as_bytes()));
            out.push_str("</base64>");
        } else {
            out.push_str("<string>");
            out.push_str(&text(&s, "a string parameter")?);
            out.push_str("</string>");
        }
        out.push_str("</value></param>");
        Ok(())
    };
    for v in values {
        match v {
            Value::Array(items) => {
                for item in items {
                    one(legacy_text(item)?)?;
                }
            }
            other => one(legacy_text(other)?)?,
        }
    }
    out.push_str("</params></methodCall>");
    Ok(out.into_bytes())
}

/// Decodes a reply of the 1.x `mi_xmlrpc` to `method`: one `<string>` holding the tree
/// lines without indentation, whose nesting is rebuilt from what the command's tree is
/// known to look like (`ul_dump`, `dlg_list`, `t_uac_dlg`...), into the same [`Value`]
/// as over the FIFO. Faults are errors as in [`decode_reply`] (`-506` for an unknown
/// command).
///
/// ```
/// use opensips_mi::{xmlrpc, Value};
/// let reply = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params>\r\n\
///     <param><value><string>Domain:: location table=512 records=1\nAOR:: bob\n\
///     Contact:: sip:bob@127.0.0.1:5073 Q=\nExpires:: 3598\n</string></value></param>\r\n\
///     </params>\r\n</methodResponse>\r\n";
/// let v = xmlrpc::decode_reply_v1(reply, "ul_dump")?.into_value();
/// assert_eq!(v["Domain"]["AOR"]["Contact"]["Expires"], Value::from("3598"));
/// # Ok::<(), opensips_mi::Error>(())
/// ```
///
/// # Errors
///
/// As [`decode_reply`]; [`Error::UnexpectedReply`] for a reply that is not one string, or a
/// nested reply of a command whose shape is not known.
pub fn decode_reply_v1(bytes: &[u8], method: &str) -> crate::Result<Response> {
    decode_1x(bytes, crate::server::Shape1x::of(method))
}

pub(crate) fn decode_1x(bytes: &[u8], shape: crate::server::Shape1x) -> crate::Result<Response> {
    let mut r = decode_reply(bytes)?;
    let Value::String(text) = std::mem::take(&mut r.value) else {
        return Err(Error::malformed(
            "expected the one <string> of an OpenSIPS 1.x mi_xmlrpc reply (is this a 2.x or \
             3.x server? see ?protocol=)",
            bytes,
        ));
    };
    let tree = crate::server::rebuild_1x_tree(shape, &text)?;
    let with_status = format!("200 OK\n{tree}");
    let (_, _, lines) = crate::protocol::legacy::status(&with_status)?;
    r.value =
        crate::protocol::legacy::tree_value(lines)?.unwrap_or_else(|| Value::Object(Map::new()));
    Ok(r)
}

fn legacy_text(v: &Value) -> crate::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Bool(b) => Ok(i32::from(*b).to_string()),
        Value::Float(f) if f.is_finite() => Ok(f.to_string()),
        _ => Err(Error::invalid_request(format!(
            "a {} cannot be sent to a 2.x XML-RPC server (strings only)",
            v.kind()
        ))),
    }
}

/// Maps a 2.x `mi_xmlrpc_ng` reply (`format_version` 2: `{value, attributes, kids}` structs,
/// repeated nodes as arrays; or `format_version` 1: one string holding the text tree) onto
/// the same [`Value`] the legacy text transports give (see [`crate::legacy`]).
pub(crate) fn normalize_legacy(v: Value) -> Value {
    match v {
        Value::String(text) => {
            // format_version 1: the tree lines without a status line
            let with_status = format!("200 OK\n{text}");
            match crate::protocol::legacy::status(&with_status)
                .and_then(|(_, _, lines)| crate::protocol::legacy::tree_value(lines))
            {
                Ok(Some(tree)) => tree,
                _ => Value::String(text),
            }
        }
        Value::Object(members) => {
            // Unnamed nodes come as one array under "name": a plain list, as over the FIFO.
            if let [(k, Value::Array(items))] = members.members() {
                if &**k == "name" && items.iter().all(|i| matches!(i, Value::String(_))) {
                    return Value::Array(items.clone());
                }
            }
            Value::Object(Map::from_members(legacy_members(members.into_members())))
        }
        other => other,
    }
}

fn legacy_members(members: Vec<(Key, Value)>) -> Vec<(Key, Value)> {
    let mut out = Vec::with_capacity(members.len());
    for (name, v) in members {
        match v {
            Value::Array(items) => {
                out.extend(items.into_iter().map(|i| (name.clone(), legacy_node(i))))
            }
            other => out.push((name, legacy_node(other))),
        }
    }
    out
}

fn legacy_node(v: Value) -> Value {
    let Value::Object(o) = v else { return v };
    let o = o.into_members();
    if !o
        .iter()
        .all(|(k, _)| matches!(&**k, "value" | "attributes" | "kids"))
    {
        return Value::Object(Map::from_members(legacy_members(o)));
    }
    let mut value = Str::default();
    let mut value_key = None;
    let mut attrs = Vec::new();
    let mut kids = Vec::new();
    for (k, v) in o {
        match (&*k, v) {
            ("value", Value::String(s)) => (value, value_key) = (s, Some(k)),
            ("value", other) => (value, value_key) = (other.to_string().into(), Some(k)),
            ("attributes", Value::Object(a)) => attrs = a.into_members(),
            ("kids", Value::Object(k)) => kids = legacy_members(k.into_members()),
            _ => {}
        }
    }
    if attrs.is_empty() && kids.is_empty() {
        return Value::String(value);
    }
    let mut node = vec![(
        value_key.unwrap_or_else(|| Key::from("value")),
        Value::String(value),
    )];
    node.extend(attrs);
    node.extend(kids);
    Value::Object(Map::from_members(node))
}

fn text<'a>(s: &'a str, what: &str) -> crate::Result<std::borrow::Cow<'a, str>> {
    if let Some(c) = s.chars().find(|c| {
        (*c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || *c == '\u{fffe}' || *c == '\u{ffff}'
    }) {
        return Err(Error::invalid_request(format!(
            "{what} contains the control character {c:?}, which XML cannot carry"
        )));
    }
    Ok(escape_str_attribute(s))
}

fn encode_member(out: &mut String, k: &str, v: &Value, depth: usize) -> crate::Result<()> {
    out.push_str("<member><name>");
    out.push_str(&text(k, "parameter name")?);
    out.push_str("</name>");
    encode_value(out, v, depth + 1)?;
    out.push_str("</member>");
    Ok(())
}

fn encode_value(out: &mut String, v: &Value, depth: usize) -> crate::Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid_request("parameter nested too deeply"));
    }
    out.push_str("<value>");
    match v {
        Value::String(s) if s.is_empty() => {
            return Err(Error::invalid_request(
                "OpenSIPS' XML-RPC module rejects empty string parameters; leave the parameter \
                 out or use another transport",
            ));
        }
        Value::String(s) => {
            out.push_str("<string>");
            out.push_str(&text(s, "a string parameter")?);
            out.push_str("</string>");
        }
        // <int> is 32-bit; OpenSIPS also takes integer parameters as numeric strings.
        Value::Int(i) if i32::try_from(*i).is_ok() => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::Int(i) => {
            let _ = write!(out, "<string>{i}</string>");
        }
        Value::Float(f) if f.is_finite() => {
            let _ = write!(out, "<string>{f}</string>");
        }
        Value::Bool(b) => {
            // OpenSIPS does not accept <boolean>; flags are integers.
            let _ = write!(out, "<int>{}</int>", i32::from(*b));
        }
        Value::Float(_) | Value::Null => {
            return Err(Error::invalid_request(format!(
                "XML-RPC parameters cannot be {} for OpenSIPS",
                if v.is_null() {
                    "null"
                } else {
                    "NaN or infinite"
                }
            )));
        }
        Value::Array(a) => {
            out.push_str("<array><data>");
            for e in a {
                encode_value(out, e, depth + 1)?;
            }
            out.push_str("</data></array>");
        }
        Value::Object(o) => {
            out.push_str("<struct>");
            for (k, e) in o {
                encode_member(out, k, e, depth)?;
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
    Ok(())
}

mod fast;

/// A parsed XML element: name, children, and its text (character data directly inside).
/// The fast reader borrows names and plain text from the document; `xml-rs` gives owned ones.
#[derive(Debug, Default)]
#[cfg_attr(test, derive(PartialEq))]
struct Node<'a> {
    name: Cow<'a, str>,
    children: Vec<Node<'a>>,
    text: Cow<'a, str>,
}

impl Node<'_> {
    fn child(&self, name: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Turns raw CRs inside the root element into character references, so the XML parser's
/// end-of-line normalisation cannot change `\r\n` in values into `\n`.
fn protect_cr(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.contains(&b'\r') {
        return bytes.into();
    }
    // The root element starts at the first '<' that is not '<?' or '<!'.
    let mut start = None;
    let mut i = 0;
    while let Some(p) = bytes[i..].iter().position(|&b| b == b'<') {
        let at = i + p;
        if !matches!(bytes.get(at + 1), Some(b'?' | b'!')) {
            start = Some(at);
            break;
        }
        i = at + 1;
    }
    let Some(start) = start else {
        return bytes.into();
    };
    let end = bytes
        .iter()
        .rposition(|&b| b == b'>')
        .unwrap_or(bytes.len())
        .max(start);
    let mut out = Vec::with_capacity(bytes.len() + 64);
    out.extend_from_slice(&bytes[..start]);
    for &b in &bytes[start..end] {
        if b == b'\r' {
            out.extend_from_slice(b"&#13;");
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&bytes[end..]);
    out.into()
}

/// Reads an XML document into its root [`Node`]: local names, text coalesced (CDATA as text,
/// comments dropped, whitespace kept, raw CRs kept), through the hand-written reader for the
/// XML OpenSIPS and this crate write, else through `xml-rs` (which gives the same tree, and
/// the error for what is not well-formed).
fn parse_tree(bytes: &[u8]) -> Result<Node<'_>, String> {
    match fast::parse(bytes) {
        Some(root) => Ok(root),
        None => parse_tree_general(bytes),
    }
}

/// [`parse_tree`] through `xml-rs`.
fn parse_tree_general(bytes: &[u8]) -> Result<Node<'static>, String> {
    let bytes = protect_cr(bytes);
    let config = ParserConfig::new()
        .trim_whitespace(false)
        .whitespace_to_characters(true)
        .cdata_to_characters(true)
        .coalesce_characters(true)
        .ignore_comments(true)
        // one root element: a second `<methodResponse>` after the first is an error, not
        // the reply (xml-rs takes several by default, and the last would have won)
        .allow_multiple_root_elements(false);
    let reader = EventReader::new_with_config(&bytes[..], config);
    let mut stack: Vec<Node<'static>> = Vec::new();
    let mut root = None;
    for event in reader {
        match event.map_err(|e| e.to_string())? {
            XmlEvent::StartElement { name, .. } => {
                if stack.len() >= MAX_DEPTH {
                    return Err("XML nested too deeply".into());
                }
                stack.push(Node {
                    name: name.local_name.into(),
                    ..Node::default()
                });
            }
            XmlEvent::EndElement { .. } => {
                let node = stack.pop().ok_or("unbalanced XML")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            XmlEvent::Characters(t) | XmlEvent::Whitespace(t) | XmlEvent::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.to_mut().push_str(&t);
                }
            }
            _ => {}
        }
    }
    root.ok_or_else(|| "no root element".into())
}

fn value_of(node: &Node) -> Result<Value, String> {
    let Some(child) = node.children.first() else {
        return Ok(Value::String((&*node.text).into())); // bare <value>text</value>
    };
    let t = child.text.trim();
    Ok(match &*child.name {
        "string" => Value::String((&*child.text).into()),
        "int" | "i4" | "i8" => Value::Int(
            t.parse()
                .map_err(|_| format!("bad <{}> {t:?}", child.name))?,
        ),
        "boolean" => match t {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            _ => return Err(format!("bad <boolean> {t:?}")),
        },
        "double" => {
            let f: f64 = t.parse().map_err(|_| format!("bad <double> {t:?}"))?;
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                Value::Int(f as i64)
            } else {
                Value::Float(f)
            }
        }
        "nil" => Value::Null,
        "value" => value_of(child)?,
        "base64" | "dateTime.iso8601" => Value::String(t.into()),
        "struct" => {
            let mut members = Vec::with_capacity(child.children.len());
            for m in child.children.iter().filter(|m| m.name == "member") {
                let name = m
                    .child("name")
                    .map(|n| Key::from(&*n.text))
                    .ok_or("<member> without <name>")?;
                let v = m
                    .child("value")
                    .map(value_of)
                    .transpose()?
                    .unwrap_or(Value::Null);
                members.push((name, v));
            }
            Value::Object(Map::from_members(members))
        }
        "array" => {
            let data = child.child("data").ok_or("<array> without <data>")?;
            Value::Array(
                data.children
                    .iter()
                    .filter(|v| v.name == "value")
                    .map(value_of)
                    .collect::<Result<_, _>>()?,
            )
        }
        other => return Err(format!("unknown XML-RPC type <{other}>")),
    })
}

/// Decodes a `methodResponse` into a [`Response`] or the fault's [`Error`].
///
/// # Errors
///
/// [`Error::Rpc`] / [`Error::Command`] for faults, [`Error::MalformedReply`] for anything
/// that is not an XML-RPC reply.
pub fn decode_reply(bytes: &[u8]) -> crate::Result<Response> {
    let bad = |why: String| Error::malformed(format!("not an XML-RPC reply ({why})"), bytes);
    let root = parse_tree(bytes).map_err(bad)?;
    if root.name != "methodResponse" {
        return Err(bad(format!("root element <{}>", root.name)));
    }
    if let Some(fault) = root.child("fault") {
        let v = fault
            .child("value")
            .map(value_of)
            .transpose()
            .map_err(bad)?
            .unwrap_or_default();
        let code = v["faultCode"]
            .as_i64()
            .ok_or_else(|| bad("fault without an integer faultCode".into()))?;
        let message = v["faultString"].as_str().unwrap_or_default().to_owned();
        let e = ServerError::new(code, message);
        // mi_xmlrpc sends the parse error as +32700 (a sign slip); it is still a protocol error.
        return Err(if code < 0 || code == 32700 {
            Error::Rpc(e)
        } else {
            Error::Command(e)
        });
    }
    let params = root
        .child("params")
        .ok_or_else(|| bad("neither <params> nor <fault>".into()))?;
    let value = match params.child("param").and_then(|p| p.child("value")) {
        Some(v) => value_of(v).map_err(bad)?,
        None => Value::Null,
    };
    Ok(Response {
        code: 200,
        message: "OK".into(),
        value,
        raw: Vec::new(),
    })
}

/// Decodes a 2.x `mi_xmlrpc_ng` reply (untyped `<value>text</value>`, `{value, attributes,
/// kids}` structs, or one string holding the text tree) into the same [`Value`] the 1.x/2.x
/// text transports give (see [`crate::legacy`]): the counterpart of
/// [`encode_request_v2`].
///
/// # Errors
///
/// As [`decode_reply`].
pub fn decode_reply_v2(bytes: &[u8]) -> crate::Result<Response> {
    let mut r = decode_reply(bytes)?;
    r.value = normalize_legacy(std::mem::take(&mut r.value));
    Ok(r)
}

/// The server side, for the mock: read calls and print replies like OpenSIPS.
#[cfg(any(test, feature = "mock"))]
pub(crate) mod server {
    use std::fmt::Write as _;

    use super::{Node, parse_tree};
    use crate::{Params, ServerError, Value};

    /// Why a `methodCall` could not be read (used by the mock server).
    #[derive(Debug, PartialEq)]
    pub(crate) enum CallError {
        /// Not well-formed XML.
        NotWellFormed,
        /// Well-formed, but not an XML-RPC call OpenSIPS accepts.
        Invalid,
    }

    /// Reads a `methodCall` the way OpenSIPS 3.x does: a first `<param>` holding a `<struct>`
    /// gives named parameters; otherwise each param is positional; only `<string>` (non-empty),
    /// `<int>`/`<i4>` and arrays of these are accepted.
    pub(crate) fn decode_call(bytes: &[u8]) -> Result<(String, Params), CallError> {
        let root = parse_tree(bytes).map_err(|_| CallError::NotWellFormed)?;
        if root.name != "methodCall" {
            return Err(CallError::Invalid);
        }
        let method = root
            .child("methodName")
            .map(|n| n.text.trim().to_owned())
            .ok_or(CallError::Invalid)?;
        let values: Vec<&Node> = match root.child("params") {
            None => Vec::new(),
            Some(p) => p
                .children
                .iter()
                .filter(|c| c.name == "param")
                .filter_map(|c| c.child("value"))
                .collect(),
        };
        fn scalar(node: &Node, allow_array: bool) -> Result<Value, CallError> {
            let child = node.children.first().ok_or(CallError::Invalid)?;
            match &*child.name {
                "string" if !child.text.is_empty() => Ok(Value::String((&*child.text).into())),
                "int" | "i4" => child
                    .text
                    .trim()
                    .parse()
                    .map(Value::Int)
                    .map_err(|_| CallError::Invalid),
                "array" if allow_array => {
                    let data = child.child("data").ok_or(CallError::Invalid)?;
                    data.children
                        .iter()
                        .map(|v| scalar(v, false))
                        .collect::<Result<_, _>>()
                        .map(Value::Array)
                }
                _ => Err(CallError::Invalid),
            }
        }
        let params = match values.first().and_then(|v| v.children.first()) {
            Some(first) if first.name == "struct" => {
                let mut named = Vec::new();
                for m in first.children.iter().filter(|m| m.name == "member") {
                    let name = m.child("name").ok_or(CallError::Invalid)?.text.to_string();
                    let v = m.child("value").ok_or(CallError::Invalid)?;
                    named.push((name, scalar(v, true)?));
                }
                Params::Named(named)
            }
            _ if values.is_empty() => Params::None,
            _ => Params::Positional(
                values
                    .iter()
                    .map(|v| scalar(v, true))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok((method, params))
    }

    /// Reads a `methodCall` the way the 1.x `mi_xmlrpc` does (`xr_parser.c` 1.11): every
    /// param is one positional text; `<string>` loses its CRs and then has each LF LF turned
    /// into CR LF, `<int>`/`<i4>` print as `%d`, `<boolean>` as `%u`, `<double>` as `%lf`,
    /// `<base64>` is decoded. `Err((code, text))` is the fault: `-501` for a struct or array,
    /// `-503` for XML that is not a call.
    pub(crate) fn decode_call_1x(bytes: &[u8]) -> Result<(String, Vec<String>), (i64, String)> {
        let not_a_call = || {
            (
                -503,
                "Call XML not a proper XML-RPC call.  Call is not valid XML.".to_owned(),
            )
        };
        let root = parse_tree(bytes).map_err(|_| not_a_call())?;
        if root.name != "methodCall" {
            return Err(not_a_call());
        }
        let method = root
            .child("methodName")
            .map(|n| n.text.trim().to_owned())
            .ok_or_else(not_a_call)?;
        let mut values = Vec::new();
        for v in root
            .child("params")
            .map(|p| p.children.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|c| c.name == "param")
            .filter_map(|c| c.child("value"))
        {
            let Some(child) = v.children.first() else {
                // a bare <value>text</value> is a string
                values.push(lflf(&v.text.replace('\r', "")));
                continue;
            };
            let t = child.text.trim();
            values.push(match &*child.name {
                "string" => lflf(&child.text.replace('\r', "")),
                "int" | "i4" => t.parse::<i32>().map_err(|_| not_a_call())?.to_string(),
                "boolean" => u32::from(t == "1").to_string(),
                "double" => format!("{:.6}", t.parse::<f64>().map_err(|_| not_a_call())?),
                "base64" => {
                    String::from_utf8_lossy(&unbase64(t).ok_or_else(not_a_call)?).into_owned()
                }
                other => {
                    let ty = match other {
                        "array" => 8,
                        "struct" => 7,
                        _ => 9,
                    };
                    return Err((-501, format!("Unsupported value of type {ty} supplied")));
                }
            });
        }
        Ok((method, values))
    }

    /// `lflf_to_crlf_hack`: each LF LF becomes CR LF.
    fn lflf(s: &str) -> String {
        s.replace("\n\n", "\r\n")
    }

    fn unbase64(t: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(t.len() * 3 / 4);
        let mut acc = 0u32;
        let mut bits = 0;
        for c in t.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=') {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    /// A `methodResponse` as OpenSIPS 3.x/4.x prints it (CRLF line ends, `<int>` for integers in
    /// `int` range, `%f` doubles beyond, `&#39;` for apostrophes). Used by the mock server.
    pub(crate) fn encode_reply(result: &Result<Value, ServerError>) -> Vec<u8> {
        let mut out =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n");
        match result {
            Ok(v) => {
                out.push_str("<params><param>\r\n");
                reply_value(&mut out, v);
                out.push_str("</param></params>\r\n");
            }
            Err(e) => {
                let text = match e.code {
                    -32601 => "server error. requested method not found".to_owned(),
                    -32602 => "server error. invalid method parameters".to_owned(),
                    -32600 => "server error. invalid xml-rpc. not conforming to spec.".to_owned(),
                    -32000 => "server error".to_owned(),
                    32700 | -32700 => "parse error. not well formed".to_owned(),
                    _ => e.message.clone(),
                };
                let code = if e.code == -32700 { 32700 } else { e.code };
                let _ = write!(
                    out,
                    "<fault><value>\r\n<struct>\r\n<member>\r\n<name>faultCode</name>\r\n<value><int>{code}</int></value>\r\n</member>\r\n<member>\r\n<name>faultString</name>\r\n<value><string>{}</string></value>\r\n</member>\r\n</struct>\r\n</value>\r\n</fault>\r\n",
                    server_escape(&text)
                );
            }
        }
        out.push_str("</methodResponse>\r\n");
        out.into_bytes()
    }

    fn server_escape(s: &str) -> String {
        let mut o = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '<' => o.push_str("&lt;"),
                '>' => o.push_str("&gt;"),
                '&' => o.push_str("&amp;"),
                '"' => o.push_str("&quot;"),
                '\'' => o.push_str("&#39;"),
                c => o.push(c),
            }
        }
        o
    }

    fn reply_value(out: &mut String, v: &Value) {
        out.push_str("<value>");
        match v {
            Value::Null => out.push_str("<nil/>"),
            Value::Bool(b) => {
                let _ = write!(out, "<boolean>{}</boolean>", i32::from(*b));
            }
            Value::Int(i) if i32::try_from(*i).is_ok() => {
                let _ = write!(out, "<int>{i}</int>");
            }
            Value::Int(i) => {
                let _ = write!(out, "<double>{:.6}</double>", *i as f64);
            }
            Value::Float(f) => {
                let _ = write!(out, "<double>{f:.6}</double>");
            }
            Value::String(s) => {
                out.push_str("<string>");
                out.push_str(&server_escape(s));
                out.push_str("</string>");
            }
            Value::Array(a) => {
                out.push_str("<array><data>");
                for e in a {
                    reply_value(out, e);
                }
                out.push_str("</data></array>");
            }
            Value::Object(o) => {
                out.push_str("<struct>");
                for (k, e) in o {
                    out.push_str("<member><name>");
                    out.push_str(&server_escape(k));
                    out.push_str("</name>");
                    reply_value(out, e);
                    out.push_str("</member>");
                }
                out.push_str("</struct>");
            }
        }
        out.push_str("</value>");
    }
}

#[cfg(test)]
mod tests {
    use super::server::{CallError, decode_call, encode_reply};
    use super::*;

    #[test]
    fn request_shapes() {
        let r = String::from_utf8(encode_request("uptime", &Params::None).unwrap()).unwrap();
        assert_eq!(
            r,
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>uptime</methodName><params></params></methodCall>"
        );
        let r = String::from_utf8(
            encode_request("get_statistics", &Params::positional([["shmem:", "core:"]])).unwrap(),
        )
        .unwrap();
        assert!(r.contains("<params><param><value><array><data><value><string>shmem:</string></value><value><string>core:</string></value></data></array></value></param></params>"));
        let r = String::from_utf8(
            encode_request(
                "t_uac_dlg",
                &Params::named([("headers", "To: <a@b>\r\nX: \"q\" & 'a'\r\n")]),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(r.contains("<string>To: &lt;a@b&gt;&#xD;&#xA;X: &quot;q&quot; &amp; &apos;a&apos;&#xD;&#xA;</string>"), "{r}");
        assert!(encode_request("x", &Params::positional([""])).is_err());
        assert!(encode_request("x", &Params::positional([Value::Null])).is_err());
        assert!(encode_request("x", &Params::positional(["a\u{1}b"])).is_err());
        let big = String::from_utf8(
            encode_request("x", &Params::positional([4_294_967_295u64])).unwrap(),
        )
        .unwrap();
        assert!(big.contains("<string>4294967295</string>"));
    }

    /// A second root element after the reply (two `<methodResponse>`, the second forged or
    /// stale) is malformed: neither reader takes the document, so neither reply is used.
    #[test]
    fn a_second_root_element_is_malformed() {
        let one = "<?xml version=\"1.0\"?><methodResponse><params><param><value><string>first</string></value></param></params></methodResponse>";
        assert_eq!(
            decode_reply(one.as_bytes()).unwrap().value(),
            &Value::from("first")
        );
        let two = format!(
            "{one}<methodResponse><params><param><value><string>second</string></value></param></params></methodResponse>"
        );
        for doc in [two.clone(), format!("{two}<!-- to the general reader -->")] {
            let e = decode_reply(doc.as_bytes()).unwrap_err();
            assert!(matches!(e, crate::Error::MalformedReply { .. }), "{e:?}");
        }
    }

    #[test]
    fn reply_roundtrip_keeps_crlf_and_order() {
        let v = Value::Object(
            vec![
                ("Status".into(), Value::from("200 OK")),
                (
                    "Message".into(),
                    Value::from("Via: x\r\nTo: <a>;tag='1'\r\n\r\n"),
                ),
                ("n".into(), Value::Int(4_294_967_295)),
                (
                    "l".into(),
                    Value::Array(vec![Value::Int(-1), Value::Null, Value::Bool(true)].into()),
                ),
            ]
            .into(),
        );
        let bytes = encode_reply(&Ok(v.clone()));
        assert!(String::from_utf8_lossy(&bytes).contains("<double>4294967295.000000</double>"));
        assert_eq!(decode_reply(&bytes).unwrap().value, v);
    }

    #[test]
    fn faults() {
        let e =
            decode_reply(&encode_reply(&Err(ServerError::new(404, "AOR not found")))).unwrap_err();
        assert!(
            matches!(e, Error::Command(ref s) if s.code == 404 && s.message == "AOR not found")
        );
        let e =
            decode_reply(&encode_reply(&Err(ServerError::new(-32700, "Parse error")))).unwrap_err();
        assert!(matches!(e, Error::Rpc(ref s) if s.code == 32700), "{e}");
        let e = decode_reply(&encode_reply(&Err(ServerError::new(
            -32601,
            "Method not found",
        ))))
        .unwrap_err();
        assert!(
            matches!(e, Error::Rpc(ref s) if s.message == "server error. requested method not found")
        );
    }

    #[test]
    fn legacy_shapes_and_garbage() {
        let b = b"<methodResponse><params><param><value><struct><member><name>kids</name><value><value><struct>\
            <member><name>Now</name><value>Thu</value></member></struct></value></value></member></struct></value></param></params></methodResponse>";
        assert_eq!(
            decode_reply(b).unwrap().value["kids"]["Now"],
            Value::from("Thu")
        );
        for bad in [
            &b"<html>nope</html>"[..],
            b"",
            b"<methodResponse><params>",
            b"{\"jsonrpc\":\"2.0\"}",
        ] {
            assert!(
                matches!(decode_reply(bad), Err(Error::MalformedReply { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!(
            "<methodResponse><params><param>{}</param></params></methodResponse>",
            "<value><array><data>".repeat(500)
        );
        assert!(decode_reply(deep.as_bytes()).is_err());
    }

    #[test]
    fn calls_like_the_server() {
        let (m, p) = decode_call(
            &encode_request(
                "cache_store",
                &Params::named([("system", "local"), ("attr", "k")]),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (m.as_str(), p),
            (
                "cache_store",
                Params::named([("system", "local"), ("attr", "k")])
            )
        );
        let (_, p) = decode_call(
            &encode_request("x", &Params::positional([Value::from("a"), Value::Int(5)])).unwrap(),
        )
        .unwrap();
        assert_eq!(p, Params::positional([Value::from("a"), Value::Int(5)]));
        assert_eq!(
            decode_call(b"<?xml version=\"1.0\"?><methodCall><methodName>uptime</methodName>"),
            Err(CallError::NotWellFormed)
        );
        let boolean = b"<methodCall><methodName>ul_dump</methodName><params><param><value><boolean>1</boolean></value></param></params></methodCall>";
        assert_eq!(decode_call(boolean), Err(CallError::Invalid));
    }
}
