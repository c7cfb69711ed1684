//! The legacy text MI of OpenSIPS 1.x/2.x (`mi_fifo`, `mi_datagram`), as pure functions.
//!
//! **Requests** are `:command:reply_fifo\n` (FIFO) or `:command:\n` (datagram), one argument
//! per line, `name::value` for named arguments, and an empty line at the end. Values that
//! the server would mangle are double-quoted (`\"` inside); values it cannot receive at all
//! are refused before anything is sent (see [`encode_request`]).
//!
//! **Replies** are `CODE REASON\n` and then a tree, one node per line, one TAB of indent per
//! level: `name:: value attr=value …`, values unescaped (a `t_uac_dlg` reply carries a whole
//! SIP message with CR LF in it). They map to [`Value`] like this:
//!
//! * the reply is an object of its top-level nodes, in order; **a repeated name stays
//!   repeated** (`Value::Object` keeps duplicate keys: use [`Value::get_all`]);
//! * a node with neither attributes nor children is its value, a string;
//! * a node with attributes or children is an object: `"value"` first, then the attributes
//!   (by name, string values), then the children (by name, recursively);
//! * a level made only of unnamed leaves (`which`, `arg`, `Value not found`) is an array of
//!   strings; an unnamed node among named ones has the key `""`.
//!
//! Attributes are split only for the keys each node is known to carry (`Process`: `ID`,
//! `PID`, `Log level`, `Type`; `Domain`: `table`, `hash_size`, `records`; `Contact`: `Q`;
//! `dialog`: `hash`, `dialog_id`, `ID`; `profile`: `name`, `value`, `count`, `shared`,
//! `replicated`): values may themselves contain spaces and `=`, so nothing else can be split
//! safely.
//!
//! ```
//! use opensips_mi::{legacy, Params, Value};
//!
//! let req = legacy::encode_request("get_statistics", &Params::positional([["dialog:", "tm:"]]), Some("rpl"))?;
//! assert_eq!(req, b":get_statistics:rpl\ndialog:\ntm:\n\n");
//!
//! let r = legacy::decode_reply(b"200 OK\nProcess::  ID=0 PID=16224 Type=attendant\nProcess::  ID=1 PID=16225 Type=MI FIFO\n\n")?;
//! let procs: Vec<&Value> = r.value.get_all("Process").collect();
//! assert_eq!(procs[1]["Type"], Value::from("MI FIFO"));
//! # Ok::<(), opensips_mi::Error>(())
//! ```

use crate::{Error, Params, Response, ServerError, Value};

/// The attribute keys each node name is known to carry, in the order OpenSIPS writes them.
const KNOWN_ATTRS: &[(&str, &[&str])] = &[
    ("Process", &["ID", "PID", "Log level", "Type"]),
    ("Domain", &["table", "hash_size", "records"]),
    ("Contact", &["Q"]),
    ("Event", &["id"]),
    ("Subscriber", &["protocol", "socket", "expire"]),
    ("dialog", &["hash", "dialog_id", "ID"]),
    (
        "profile",
        &["name", "value", "count", "shared", "replicated"],
    ),
];

/// mi_fifo reads the first line into 1024 bytes and all parameter lines into 8192; and a
/// request must be one write of at most PIPE_BUF to never interleave with another client's.
pub const MAX_LEGACY_FIFO_REQUEST: usize = 4096;

/// Encodes a request. `reply_fifo` is the reply FIFO name (FIFO) or `None` (datagram).
///
/// An array argument becomes one line per element (that is how 1.x/2.x take lists, e.g.
/// `get_statistics dialog: tm:`). Values are quoted when needed (double quotes, `::`,
/// leading or trailing blanks, line breaks, a leading `"`).
///
/// # Errors
///
/// [`Error::InvalidRequest`] for what the legacy parser cannot receive: empty values (it
/// ends the request; commands use `.` as a placeholder), values with an empty line inside,
/// a quoted value ending in `\` or starting with `"`, `null`, nested arrays, objects, a named
/// value that needs quoting, and command or reply names with `:` or blanks.
pub fn encode_request(
    method: &str,
    params: &Params,
    reply_fifo: Option<&str>,
) -> crate::Result<Vec<u8>> {
    if method.is_empty() || method.contains([':', '\n', '\r', ' ', '\t', '\0']) {
        return Err(Error::InvalidRequest(format!(
            "command name {method:?} cannot be sent over the legacy MI (no ':' or blanks)"
        )));
    }
    let mut out = Vec::with_capacity(64);
    out.push(b':');
    out.extend_from_slice(method.as_bytes());
    out.push(b':');
    if let Some(name) = reply_fifo {
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    match params {
        Params::None => {}
        Params::Positional(values) => {
            for v in values {
                match v {
                    Value::Array(items) => {
                        for item in items {
                            if matches!(item, Value::Array(_) | Value::Object(_)) {
                                return Err(Error::InvalidRequest(
                                    "nested lists cannot be sent over the legacy MI".into(),
                                ));
                            }
                            line(&mut out, None, item)?;
                        }
                    }
                    other => line(&mut out, None, other)?,
                }
            }
        }
        Params::Named(members) => {
            for (name, v) in members {
                if name.is_empty() || name.contains("::") || name.contains(['\n', '\r', '"']) {
                    return Err(Error::InvalidRequest(format!(
                        "parameter name {name:?} cannot be sent"
                    )));
                }
                if matches!(v, Value::Array(_)) {
                    return Err(Error::InvalidRequest(format!(
                        "named list parameter {name:?}: pass the list positionally over the legacy MI"
                    )));
                }
                line(&mut out, Some(name), v)?;
            }
        }
    }
    out.push(b'\n');
    Ok(out)
}

fn scalar_text(v: &Value) -> crate::Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) if f.is_finite() => Ok(f.to_string()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_owned()),
        Value::Null => Err(Error::InvalidRequest(
            "null cannot be sent over the legacy MI (commands take \".\" for \"none\")".into(),
        )),
        Value::Float(_) => Err(Error::InvalidRequest("NaN or infinite number".into())),
        Value::Array(_) | Value::Object(_) => Err(Error::InvalidRequest(
            "objects cannot be sent over the legacy MI".into(),
        )),
    }
}

fn line(out: &mut Vec<u8>, name: Option<&str>, v: &Value) -> crate::Result<()> {
    let text = scalar_text(v)?;
    let what = || name.map_or_else(|| "a value".to_owned(), |n| format!("parameter {n:?}"));
    if text.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "{} is empty: the legacy MI cannot carry empty values (an empty line ends the \
             request); commands take \".\" as a placeholder",
            what()
        )));
    }
    if text.contains('\0') {
        return Err(Error::InvalidRequest(format!(
            "{} contains a NUL byte",
            what()
        )));
    }
    let needs_quotes = text.contains(['"', '\n', '\r'])
        || text.contains("::")
        || text.starts_with([' ', '\t'])
        || text.ends_with([' ', '\t']);
    if !needs_quotes {
        if let Some(n) = name {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"::");
        }
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
        return Ok(());
    }
    if name.is_some() {
        return Err(Error::InvalidRequest(format!(
            "{} needs quoting, which the legacy MI cannot combine with a name: pass it positionally",
            what()
        )));
    }
    // Inside quotes only \" is an escape, and the parser mis-reads a value whose first
    // character is an escaped quote, and one that ends in a backslash (\" would close it).
    if text.starts_with('"') {
        return Err(Error::InvalidRequest(format!(
            "{} starts with a double quote, which the 1.x/2.x parser reads wrongly",
            what()
        )));
    }
    if text.ends_with('\\') {
        return Err(Error::InvalidRequest(format!(
            "{} needs quoting and ends with a backslash, which would escape the closing quote",
            what()
        )));
    }
    // An empty (or blank) line inside the value would end the whole request. The first line
    // follows the opening quote and the last precedes the closing one: only the lines in
    // between can be empty.
    let segments: Vec<&str> = text.split('\n').collect();
    if segments.len() > 2
        && segments[1..segments.len() - 1]
            .iter()
            .any(|l| l.trim().is_empty())
    {
        return Err(Error::InvalidRequest(format!(
            "{} contains an empty line, which ends a legacy MI request; it cannot be sent",
            what()
        )));
    }
    out.push(b'"');
    out.extend_from_slice(text.replace('"', "\\\"").as_bytes());
    out.push(b'"');
    out.push(b'\n');
    Ok(())
}

/// One node of a reply tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Node {
    pub(crate) name: Option<String>,
    pub(crate) value: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) kids: Vec<Node>,
}

impl Node {
    #[cfg(any(test, feature = "mock"))]
    pub(crate) fn leaf(name: &str, value: impl Into<String>) -> Node {
        Node {
            name: Some(name.to_owned()),
            value: value.into(),
            ..Node::default()
        }
    }
}

/// A node of unknown layout: only an empty value (`name::  key=v key=v`, two blanks after
/// `::`) says for sure that what follows are attributes; a value that contains ` x=y` is
/// otherwise kept whole. A blank-separated word without `=` continues the previous value.
fn generic_attrs(rest: &str) -> (String, Vec<(String, String)>) {
    let is_key = |w: &str| {
        w.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    };
    let Some(tail) = rest.strip_prefix(' ') else {
        return (rest.to_owned(), Vec::new());
    };
    if !tail.split(' ').next().is_some_and(is_key) {
        return (rest.to_owned(), Vec::new());
    }
    let mut attrs: Vec<(String, String)> = Vec::new();
    for word in tail.split(' ') {
        match (word.split_once('='), attrs.last_mut()) {
            (Some((k, v)), _) if is_key(word) => attrs.push((k.to_owned(), v.to_owned())),
            (_, Some((_, v))) => {
                v.push(' ');
                v.push_str(word);
            }
            (_, None) => {}
        }
    }
    (String::new(), attrs)
}

/// Splits `value attr=v attr=v` for a node whose attribute keys are known.
fn split_attrs(name: &str, rest: &str) -> (String, Vec<(String, String)>) {
    let Some((_, keys)) = KNOWN_ATTRS.iter().find(|(n, _)| *n == name) else {
        return generic_attrs(rest);
    };
    // every position where " KEY=" starts
    let mut marks: Vec<(usize, &str)> = Vec::new();
    let bytes = rest.as_bytes();
    for k in *keys {
        // every " KEY=": the key preceded by a blank and followed by '='
        for (i, _) in rest.match_indices(k) {
            if i > 0 && bytes[i - 1] == b' ' && bytes.get(i + k.len()) == Some(&b'=') {
                marks.push((i - 1, k));
            }
        }
    }
    marks.sort_by_key(|(i, _)| *i);
    // keep marks in the writer's key order, each key once
    let mut picked: Vec<(usize, &str)> = Vec::new();
    let mut next_key = 0;
    for (i, k) in marks {
        if let Some(pos) = keys[next_key..].iter().position(|x| *x == k) {
            if picked.last().is_none_or(|(p, pk)| i >= p + pk.len() + 2) {
                picked.push((i, k));
                next_key += pos + 1;
            }
        }
    }
    let Some(&(first, _)) = picked.first() else {
        return (rest.to_owned(), Vec::new());
    };
    let mut attrs = Vec::with_capacity(picked.len());
    for (n, &(i, k)) in picked.iter().enumerate() {
        let start = i + k.len() + 2;
        let end = picked.get(n + 1).map_or(rest.len(), |(j, _)| *j);
        attrs.push(((*k).to_owned(), rest[start..end].to_owned()));
    }
    (rest[..first].to_owned(), attrs)
}

/// Parses a whole reply: status line and tree.
pub(crate) fn parse(bytes: &[u8]) -> crate::Result<(i64, String, Vec<Node>)> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').peekable();
    let status = lines.next().unwrap_or_default().trim_end_matches('\r');
    let (code, reason) = status
        .split_once(' ')
        .and_then(|(c, r)| Some((c.parse::<i64>().ok()?, r)))
        .filter(|(c, _)| (100..1000).contains(c))
        .ok_or_else(|| Error::malformed("expected a legacy MI status line (\"200 OK\")", bytes))?;
    let mut roots: Vec<Node> = Vec::new();
    // the path of open nodes, as indexes: roots[p0].kids[p1]...
    let mut path: Vec<usize> = Vec::new();
    while let Some(raw) = lines.next() {
        if raw.is_empty() {
            continue; // the terminating empty line (and lone blank lines)
        }
        // A value with CR LF inside continues on the next lines.
        let mut content = std::borrow::Cow::Borrowed(raw);
        while content.ends_with('\r') {
            match lines.next() {
                Some(next) => {
                    let c = content.to_mut();
                    c.push('\n');
                    c.push_str(next);
                }
                None => break,
            }
        }
        let depth = content.bytes().take_while(|b| *b == b'\t').count();
        let body = &content[depth..];
        let node = match body
            .find(":: ")
            .or_else(|| body.strip_suffix("::").map(|s| s.len()))
        {
            Some(i) => {
                let name = &body[..i];
                let rest = body.get(i + 3..).unwrap_or("");
                let (value, attrs) = split_attrs(name, rest);
                Node {
                    name: Some(name.to_owned()),
                    value,
                    attrs,
                    kids: Vec::new(),
                }
            }
            None => Node {
                name: None,
                value: body.to_owned(),
                ..Node::default()
            },
        };
        let depth = depth.min(path.len());
        path.truncate(depth);
        let siblings = match path.split_first() {
            None => &mut roots,
            Some((first, restp)) => {
                let mut n = &mut roots[*first];
                for i in restp {
                    n = &mut n.kids[*i];
                }
                &mut n.kids
            }
        };
        siblings.push(node);
        path.push(siblings.len() - 1);
    }
    Ok((code, reason.to_owned(), roots))
}

/// The documented tree → [`Value`] mapping (see the module docs), moving the strings out
/// of the tree.
pub(crate) fn into_value(nodes: Vec<Node>) -> Value {
    if !nodes.is_empty()
        && nodes
            .iter()
            .all(|n| n.name.is_none() && n.attrs.is_empty() && n.kids.is_empty())
    {
        return Value::Array(nodes.into_iter().map(|n| Value::String(n.value)).collect());
    }
    Value::Object(
        nodes
            .into_iter()
            .map(|mut n| (n.name.take().unwrap_or_default(), node_into_value(n)))
            .collect(),
    )
}

fn node_into_value(n: Node) -> Value {
    if n.attrs.is_empty() && n.kids.is_empty() {
        return Value::String(n.value);
    }
    let mut o = Vec::with_capacity(1 + n.attrs.len() + n.kids.len());
    o.push(("value".to_owned(), Value::String(n.value)));
    for (k, v) in n.attrs {
        o.push((k, Value::String(v)));
    }
    for mut k in n.kids {
        o.push((k.name.take().unwrap_or_default(), node_into_value(k)));
    }
    Value::Object(o)
}

/// Decodes a legacy reply. 2xx codes are a [`Response`]; any other code is
/// [`Error::Command`] with the code and reason (e.g. `404 AOR not found`, or the transport's
/// `500 command 'x' not available`).
///
/// # Errors
///
/// [`Error::Command`] for error codes, [`Error::MalformedReply`] without a status line.
pub fn decode_reply(bytes: &[u8]) -> crate::Result<Response> {
    let (code, reason, nodes) = parse(bytes)?;
    if !(200..300).contains(&code) {
        let mut e = ServerError::new(code, reason);
        if !nodes.is_empty() {
            e.data = Some(into_value(nodes));
        }
        return Err(Error::Command(e));
    }
    let value = if nodes.is_empty() {
        Value::Object(Vec::new())
    } else {
        into_value(nodes)
    };
    Ok(Response {
        code,
        message: reason,
        value,
        raw: bytes.to_vec(),
    })
}

/// `true` if `bytes` look like a legacy reply (a 3-digit code and a space).
pub(crate) fn looks_like_reply(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[..3].iter().all(u8::is_ascii_digit) && bytes[3] == b' '
}

/// Renders a reply the way the 2.x writer does (mock side).
#[cfg(any(test, feature = "mock"))]
pub(crate) fn render(code: i64, reason: &str, nodes: &[Node]) -> Vec<u8> {
    fn node(out: &mut String, n: &Node, depth: usize) {
        for _ in 0..depth {
            out.push('\t');
        }
        if let Some(name) = &n.name {
            out.push_str(name);
            out.push_str(":: ");
        }
        out.push_str(&n.value);
        for (k, v) in &n.attrs {
            out.push(' ');
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out.push('\n');
        for k in &n.kids {
            node(out, k, depth + 1);
        }
    }
    let mut out = format!("{code} {reason}\n");
    for n in nodes {
        node(&mut out, n, 0);
    }
    out.push('\n');
    out.into_bytes()
}

/// Reads the argument lines of a legacy request the way the 1.x/2.x parser does (mock
/// side): quoted values (multi-line, `\"`), `name::value`, trimming, blank lines skipped.
#[cfg(any(test, feature = "mock"))]
pub(crate) fn parse_args(lines: &[&str]) -> Result<Vec<(Option<String>, String)>, ()> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        i += 1;
        if l.trim().is_empty() {
            continue;
        }
        let t = l.trim_start_matches([' ', '\t']);
        if let Some(q) = t.strip_prefix('"') {
            // a quoted value, possibly over several lines
            let mut value = String::new();
            let mut cur = q.to_owned();
            loop {
                let mut closed = None;
                let bytes = cur.as_bytes();
                let mut j = 0;
                while j < bytes.len() {
                    if bytes[j] == b'\\' && bytes.get(j + 1) == Some(&b'"') {
                        value.push('"');
                        j += 2;
                        continue;
                    }
                    if bytes[j] == b'"' {
                        closed = Some(j);
                        break;
                    }
                    let ch_len = cur[j..].chars().next().map_or(1, char::len_utf8);
                    value.push_str(&cur[j..j + ch_len]);
                    j += ch_len;
                }
                if let Some(j) = closed {
                    if !cur[j + 1..].trim().is_empty() {
                        return Err(());
                    }
                    break;
                }
                if i >= lines.len() {
                    return Err(()); // unterminated
                }
                value.push('\n');
                cur = lines[i].to_owned();
                i += 1;
            }
            out.push((None, value));
            continue;
        }
        let t = t.trim_end_matches([' ', '\t', '\r']);
        if t.contains('"') {
            return Err(());
        }
        match t.split_once("::") {
            Some((n, v)) => out.push((Some(n.to_owned()), v.trim().to_owned())),
            None => out.push((None, t.to_owned())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(req: &[u8]) -> Vec<(Option<String>, String)> {
        let text = String::from_utf8(req.to_vec()).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        // skip the first line and the terminator
        parse_args(&lines[1..lines.len() - 2]).unwrap()
    }

    #[test]
    fn requests() {
        assert_eq!(
            encode_request("uptime", &Params::None, Some("r")).unwrap(),
            b":uptime:r\n\n"
        );
        assert_eq!(
            encode_request("uptime", &Params::None, None).unwrap(),
            b":uptime:\n\n"
        );
        let r = encode_request(
            "cache_store",
            &Params::positional(["local", "k", "hello \"world\" / fifo"]),
            Some("r"),
        )
        .unwrap();
        assert_eq!(
            r,
            b":cache_store:r\nlocal\nk\n\"hello \\\"world\\\" / fifo\"\n\n"
        );
        let r = encode_request(
            "cache_store",
            &Params::named([("system", "local"), ("attr", "k")]),
            Some("r"),
        )
        .unwrap();
        assert_eq!(r, b":cache_store:r\nsystem::local\nattr::k\n\n");
        let r = encode_request(
            "x",
            &Params::positional(["sip:[::1]:5060", " pad ", "From: a\r\nTo: b\r\n"]),
            None,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(r).unwrap(),
            ":x:\n\"sip:[::1]:5060\"\n\" pad \"\n\"From: a\r\nTo: b\r\n\"\n\n"
        );
        let r = encode_request(
            "x",
            &Params::positional([Value::Int(5), Value::Bool(true)]),
            None,
        )
        .unwrap();
        assert_eq!(r, b":x:\n5\n1\n\n");
    }

    #[test]
    fn unsendable_values_are_refused() {
        for bad in [
            "",
            "\"leading quote",
            "needs \" quotes and ends with \\",
            "a\n\nb",
            "a\n \nb",
            "nul\0",
        ] {
            assert!(
                encode_request("x", &Params::positional([bad]), None).is_err(),
                "{bad:?}"
            );
        }
        assert!(encode_request("x", &Params::positional([Value::Null]), None).is_err());
        assert!(encode_request("x", &Params::named([("n", "a\"b")]), None).is_err());
        assert!(encode_request("bad cmd", &Params::None, None).is_err());
        assert!(encode_request("a:b", &Params::None, None).is_err());
        // but a backslash that needs no quoting is fine, and so is one inside quotes
        assert!(encode_request("x", &Params::positional(["C:\\dir\\"]), None).is_ok());
        assert!(encode_request("x", &Params::positional(["a\\\"b"]), None).is_ok());
    }

    #[test]
    fn request_args_roundtrip_through_the_server_parser() {
        let values = [
            "plain",
            "with space inside",
            "q\"uote",
            "a\\\"b",
            "sip:[::1]:5060",
            " lead",
            "trail ",
            "x::y",
            "l1\r\nl2\r\n",
            "é☃",
            "=\t=",
        ];
        let req = encode_request("x", &Params::positional(values), None).unwrap();
        let got: Vec<String> = args(&req).into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, values);
    }

    #[test]
    fn replies() {
        let r = decode_reply(b"200 OK\nNow:: Thu Nov 26 11:09:21 2026\nUp since:: Thu Nov 26 11:09:18 2026\nUp time:: 3 [sec]\n\n").unwrap();
        assert_eq!(r.value["Up time"], Value::from("3 [sec]"));
        let r = decode_reply(b"200 OK\nget_statistics\nuptime\n\n").unwrap();
        assert_eq!(r.value, Value::from(vec!["get_statistics", "uptime"]));
        let e = decode_reply(b"500 command 'nosuch' not available\n").unwrap_err();
        assert!(
            matches!(e, Error::Command(ref s) if s.code == 500 && s.message == "command 'nosuch' not available")
        );
        let e = decode_reply(b"404 AOR not found\n\n").unwrap_err();
        assert!(matches!(e, Error::Command(ref s) if s.code == 404));
        assert!(decode_reply(b"OK\n").is_err());
        assert!(decode_reply(b"").is_err());
        assert_eq!(
            decode_reply(b"200 OK\n\n").unwrap().value,
            Value::Object(vec![])
        );
    }

    #[test]
    fn tree_attributes_and_multiline_values() {
        let text = "200 OK\nDomain:: location hash_size=512\n\tAOR:: dave\n\t\tContact:: sip:dave@h:5090 Q=0.5\n\t\t\tExpires:: 3598\n\t\t\tCflags:: \n\tAOR:: carol\n\t\tContact:: sip:carol@h Q=\nProcess::  ID=6 PID=4908 Type=SIP receiver udp:127.0.0.1:5062 \nProcess::  PID=1 Log level=3 Type=attendant\nMessage:: Via: x\r\nTo: y\r\n\r\n\n\n";
        let r = decode_reply(text.as_bytes()).unwrap();
        let d = &r.value["Domain"];
        assert_eq!(
            (d["value"].as_str(), d["hash_size"].as_str()),
            (Some("location"), Some("512"))
        );
        let aors: Vec<&Value> = d.get_all("AOR").collect();
        assert_eq!(aors.len(), 2);
        assert_eq!(aors[0]["Contact"]["value"], Value::from("sip:dave@h:5090"));
        assert_eq!(aors[0]["Contact"]["Q"], Value::from("0.5"));
        assert_eq!(aors[0]["Contact"]["Cflags"], Value::from(""));
        assert_eq!(aors[1]["Contact"]["Q"], Value::from(""));
        let procs: Vec<&Value> = r.value.get_all("Process").collect();
        assert_eq!(
            procs[0]["Type"],
            Value::from("SIP receiver udp:127.0.0.1:5062 ")
        );
        assert_eq!(procs[0]["value"], Value::from(""));
        assert_eq!(procs[1]["Log level"], Value::from("3"));
        assert_eq!(r.value["Message"], Value::from("Via: x\r\nTo: y\r\n\r\n"));
    }

    #[test]
    fn empty_values_with_attributes() {
        let (_, _, nodes) =
            parse(b"200 OK\nSubscriber::  socket=udp:127.0.0.1:37081 expire=0\nThing::  a=1 b=two words\nNote:: x=y is text\n\n").unwrap();
        assert_eq!(nodes[0].value, "");
        assert_eq!(
            nodes[0].attrs,
            [
                ("socket".into(), "udp:127.0.0.1:37081".into()),
                ("expire".into(), "0".into())
            ]
        );
        assert_eq!(nodes[1].value, "");
        assert_eq!(
            nodes[1].attrs,
            [("a".into(), "1".into()), ("b".into(), "two words".into())]
        );
        // one blank: a value that happens to hold '='
        assert_eq!(nodes[2].value, "x=y is text");
        assert!(nodes[2].attrs.is_empty());
    }

    #[test]
    fn render_parse_roundtrip() {
        let nodes = vec![
            Node {
                name: Some("dialog".into()),
                value: String::new(),
                attrs: vec![("ID".into(), "77".into())],
                kids: vec![
                    Node::leaf("state", "4"),
                    Node {
                        name: Some("CALLEES".into()),
                        kids: vec![Node::leaf("callee_tag", "x")],
                        ..Node::default()
                    },
                ],
            },
            Node::leaf("Message", "a\r\nb\r\n\r\n"),
        ];
        let bytes = render(200, "OK", &nodes);
        let (code, reason, back) = parse(&bytes).unwrap();
        assert_eq!((code, reason.as_str()), (200, "OK"));
        assert_eq!(back, nodes);
    }
}
