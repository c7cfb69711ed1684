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
//! let procs: Vec<&Value> = r.value().get_all("Process").collect();
//! assert_eq!(procs[1]["Type"], Value::from("MI FIFO"));
//! # Ok::<(), opensips_mi::Error>(())
//! ```

use crate::value::{Key, Keys};
use crate::{Error, Map, Params, Response, ServerError, Value};

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
        return Err(Error::invalid_request(format!(
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
                                return Err(Error::invalid_request(
                                    "nested lists cannot be sent over the legacy MI",
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
                    return Err(Error::invalid_request(format!(
                        "parameter name {name:?} cannot be sent"
                    )));
                }
                if matches!(v, Value::Array(_)) {
                    return Err(Error::invalid_request(format!(
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
        Value::String(s) => Ok(s.to_string()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) if f.is_finite() => Ok(f.to_string()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_owned()),
        Value::Null => Err(Error::invalid_request(
            "null cannot be sent over the legacy MI (commands take \".\" for \"none\")",
        )),
        Value::Float(_) => Err(Error::invalid_request("NaN or infinite number")),
        Value::Array(_) | Value::Object(_) => Err(Error::invalid_request(
            "objects cannot be sent over the legacy MI",
        )),
    }
}

fn line(out: &mut Vec<u8>, name: Option<&str>, v: &Value) -> crate::Result<()> {
    let text = scalar_text(v)?;
    let what = || name.map_or_else(|| "a value".to_owned(), |n| format!("parameter {n:?}"));
    if text.is_empty() {
        return Err(Error::invalid_request(format!(
            "{} is empty: the legacy MI cannot carry empty values (an empty line ends the \
             request); commands take \".\" as a placeholder",
            what()
        )));
    }
    if text.contains('\0') {
        return Err(Error::invalid_request(format!(
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
        return Err(Error::invalid_request(format!(
            "{} needs quoting, which the legacy MI cannot combine with a name: pass it positionally",
            what()
        )));
    }
    // Inside quotes only \" is an escape, and the parser mis-reads a value whose first
    // character is an escaped quote, and one that ends in a backslash (\" would close it).
    if text.starts_with('"') {
        return Err(Error::invalid_request(format!(
            "{} starts with a double quote, which the 1.x/2.x parser reads wrongly",
            what()
        )));
    }
    if text.ends_with('\\') {
        return Err(Error::invalid_request(format!(
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
        return Err(Error::invalid_request(format!(
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

/// One node of a reply tree (what the mock renders).
#[cfg(any(test, feature = "mock"))]
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Node {
    pub(crate) name: Option<String>,
    pub(crate) value: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) kids: Vec<Node>,
}

#[cfg(any(test, feature = "mock"))]
impl Node {
    pub(crate) fn leaf(name: &str, value: impl Into<String>) -> Node {
        Node {
            name: Some(name.to_owned()),
            value: value.into(),
            ..Node::default()
        }
    }
}

/// Replies nest a few levels (`Domain` → `AOR` → `Contact` → its fields); anything deeper
/// than this is refused rather than followed.
const MAX_DEPTH: usize = 64;

/// One node line of a reply, borrowed from the reply text: its depth in the tree (after
/// the writer's indent is clamped to one below the open node), its name (`None` for an
/// unnamed line) and what follows `:: ` (value and attributes, still joined).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line<'a> {
    pub(crate) depth: usize,
    pub(crate) name: Option<&'a str>,
    pub(crate) rest: &'a str,
}

impl<'a> Line<'a> {
    /// The node's value; its attributes are left in `attrs` (cleared first).
    pub(crate) fn split(&self, attrs: &mut Vec<(&'a str, &'a str)>) -> &'a str {
        attrs.clear();
        match self.name {
            Some(name) => split_attrs(name, self.rest, attrs),
            None => self.rest,
        }
    }
}

/// The node lines of a reply after its status line, one at a time, without copying.
#[derive(Clone, Debug)]
pub(crate) struct Lines<'a> {
    text: &'a str,
    pos: usize,
    /// How many nodes are open (the depth the next line may reach).
    open: usize,
    peeked: Option<Line<'a>>,
}

impl<'a> Lines<'a> {
    /// The next node line, or an error for a tree nested deeper than any reply.
    pub(crate) fn next_line(&mut self) -> crate::Result<Option<Line<'a>>> {
        if let Some(line) = self.peeked.take() {
            return Ok(Some(line));
        }
        let text = self.text;
        loop {
            if self.pos >= text.len() {
                return Ok(None);
            }
            let start = self.pos;
            let mut end = line_end(text, start);
            self.pos = (end + 1).min(text.len());
            if end == start {
                continue; // the terminating empty line (and lone blank lines)
            }
            // A value with CR LF inside continues on the next lines; the bytes in between
            // are the reply's own, so the whole node stays one slice of it.
            while text.as_bytes()[end - 1] == b'\r' && end < text.len() {
                end = line_end(text, end + 1);
                self.pos = (end + 1).min(text.len());
            }
            let content = &text[start..end];
            let tabs = content.bytes().take_while(|b| *b == b'\t').count();
            let depth = tabs.min(self.open);
            if depth >= MAX_DEPTH {
                return Err(Error::malformed(
                    format!("the reply tree is nested deeper than {MAX_DEPTH} levels"),
                    content.as_bytes(),
                ));
            }
            self.open = depth + 1;
            let body = &content[tabs..];
            let (name, rest) = match name_end(body.as_bytes()) {
                Some(i) => (Some(&body[..i]), body.get(i + 3..).unwrap_or("")),
                None => (None, body),
            };
            return Ok(Some(Line { depth, name, rest }));
        }
    }

    /// The depth of the next node line, if there is one (an error is kept for `next_line`).
    pub(crate) fn peek_depth(&mut self) -> Option<usize> {
        if self.peeked.is_none() {
            let mut ahead = self.clone();
            match ahead.next_line() {
                Ok(Some(line)) => {
                    *self = ahead;
                    self.peeked = Some(line);
                }
                Ok(None) => return None,
                // nested too deep: `next_line` reports it
                Err(_) => return Some(usize::MAX),
            }
        }
        self.peeked.map(|l| l.depth)
    }

    /// Skips the lines below a node of `depth` (its subtree).
    pub(crate) fn skip_below(&mut self, depth: usize) -> crate::Result<()> {
        while self.peek_depth().is_some_and(|d| d > depth) {
            self.next_line()?;
        }
        Ok(())
    }
}

/// Where the name of a node line ends: at its first `:: `, or at a `::` that ends the line.
fn name_end(body: &[u8]) -> Option<usize> {
    let mut tail = None;
    for (i, pair) in body.windows(2).enumerate() {
        if pair == b"::" {
            match body.get(i + 2) {
                Some(b' ') => return Some(i),
                None => tail = Some(i),
                Some(_) => {}
            }
        }
    }
    tail
}

fn line_end(text: &str, from: usize) -> usize {
    text[from..].find('\n').map_or(text.len(), |i| from + i)
}

/// Reads the status line of a reply: its code, its reason and the node lines after it.
pub(crate) fn status(text: &str) -> crate::Result<(i64, &str, Lines<'_>)> {
    let end = line_end(text, 0);
    let line = text[..end].trim_end_matches('\r');
    let (code, reason) = line
        .split_once(' ')
        .and_then(|(c, r)| Some((c.parse::<i64>().ok()?, r)))
        .filter(|(c, _)| (100..1000).contains(c))
        .ok_or_else(|| {
            Error::malformed(
                "expected a legacy MI status line (\"200 OK\")",
                text.as_bytes(),
            )
        })?;
    let lines = Lines {
        text,
        pos: (end + 1).min(text.len()),
        open: 0,
        peeked: None,
    };
    Ok((code, reason, lines))
}

/// A node of unknown layout: only an empty value (`name::  key=v key=v`, two blanks after
/// `::`) says for sure that what follows are attributes; a value that contains ` x=y` is
/// otherwise kept whole. A blank-separated word without `=` continues the previous value.
fn generic_attrs<'a>(rest: &'a str, attrs: &mut Vec<(&'a str, &'a str)>) -> &'a str {
    let is_key = |w: &str| {
        w.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    };
    let Some(tail) = rest.strip_prefix(' ') else {
        return rest;
    };
    if !tail.split(' ').next().is_some_and(is_key) {
        return rest;
    }
    // (key, where its value starts, where it ends so far): a word without `=` extends the
    // value to its own end, blanks included, so every value is a slice of the line
    let mut open: Option<(&'a str, usize, usize)> = None;
    let mut at = 0;
    for word in tail.split(' ') {
        let end = at + word.len();
        match word.split_once('=') {
            Some((k, _)) if is_key(word) => {
                if let Some((k, s, e)) = open {
                    attrs.push((k, &tail[s..e]));
                }
                open = Some((&tail[at..at + k.len()], at + k.len() + 1, end));
            }
            _ => {
                if let Some((_, _, e)) = open.as_mut() {
                    *e = end;
                }
            }
        }
        at = end + 1;
    }
    if let Some((k, s, e)) = open {
        attrs.push((k, &tail[s..e]));
    }
    ""
}

/// Splits `value attr=v attr=v` for a node whose attribute keys are known; others go to
/// [`generic_attrs`]. Returns the value; the attributes are pushed to `attrs`.
fn split_attrs<'a>(name: &str, rest: &'a str, attrs: &mut Vec<(&'a str, &'a str)>) -> &'a str {
    let Some((_, keys)) = KNOWN_ATTRS.iter().find(|(n, _)| *n == name) else {
        return generic_attrs(rest, attrs);
    };
    let bytes = rest.as_bytes();
    // Walk the blanks left to right: a blank followed by one of the keys still expected
    // and `=` starts an attribute. Keys come in the writer's order, each once, and the next
    // attribute is looked for only after this one's `=` (its value may hold blanks and `=`).
    let mut next_key = 0;
    let mut first = None;
    let mut open: Option<(&str, usize)> = None;
    let mut from = 0;
    while let Some(off) = rest[from..].find(' ') {
        let i = from + off;
        from = i + 1;
        let Some(pos) = keys[next_key..].iter().position(|k| {
            bytes[i + 1..].starts_with(k.as_bytes()) && bytes.get(i + 1 + k.len()) == Some(&b'=')
        }) else {
            continue;
        };
        let key = keys[next_key + pos];
        match open {
            Some((k, start)) => attrs.push((k, &rest[start..i])),
            None => first = Some(i),
        }
        open = Some((key, i + key.len() + 2));
        next_key += pos + 1;
        from = i + key.len() + 2;
    }
    let Some(first) = first else {
        return rest;
    };
    if let Some((k, start)) = open {
        attrs.push((k, &rest[start..]));
    }
    &rest[..first]
}

/// Builds the [`Value`] of the node on `line` and of its subtree (the lines below it).
fn node_value<'a>(
    line: Line<'a>,
    lines: &mut Lines<'a>,
    scratch: &mut Scratch<'a>,
) -> crate::Result<Value> {
    let value = line.split(&mut scratch.attrs);
    let start = scratch.members.len();
    for (k, v) in scratch.attrs.drain(..) {
        let k = scratch.keys.key(k);
        scratch.members.push((k, Value::String(v.into())));
    }
    while lines.peek_depth().is_some_and(|d| d > line.depth) {
        let Some(kid) = lines.next_line()? else { break };
        let v = node_value(kid, lines, scratch)?;
        let k = scratch.keys.key(kid.name.unwrap_or_default());
        scratch.members.push((k, v));
    }
    if scratch.members.len() == start {
        return Ok(Value::String(value.into()));
    }
    // exactly as many members as there are: no spare capacity kept in the tree
    let mut o = Vec::with_capacity(1 + scratch.members.len() - start);
    o.push((scratch.keys.key("value"), Value::String(value.into())));
    o.extend(scratch.members.drain(start..));
    Ok(Value::Object(Map::from_members(o)))
}

/// The [`Value`] of the node on `line` and its subtree, as in a whole tree.
pub(crate) fn subtree_value<'a>(line: Line<'a>, lines: &mut Lines<'a>) -> crate::Result<Value> {
    node_value(line, lines, &mut Scratch::default())
}

/// [`subtree_value`] with the scratch space (and shared keys) of earlier subtrees, for a
/// reply read one subtree at a time.
pub(crate) fn subtree_value_with<'a>(
    line: Line<'a>,
    lines: &mut Lines<'a>,
    scratch: &mut Scratch<'a>,
) -> crate::Result<Value> {
    node_value(line, lines, scratch)
}

/// What building a tree reuses from node to node.
#[derive(Default)]
pub(crate) struct Scratch<'a> {
    attrs: Vec<(&'a str, &'a str)>,
    /// The members of the open nodes, innermost last.
    members: Vec<(Key, Value)>,
    /// The tree's keys, shared.
    keys: Keys,
}

/// The documented tree → [`Value`] mapping (see the module docs) of every node in `lines`;
/// `None` when there is none.
pub(crate) fn tree_value(mut lines: Lines<'_>) -> crate::Result<Option<Value>> {
    let mut scratch = Scratch::default();
    let mut roots: Vec<(Key, Value)> = Vec::new();
    // whether every root so far is an unnamed leaf (then the reply is an array)
    let mut bare = true;
    while let Some(line) = lines.next_line()? {
        let v = node_value(line, &mut lines, &mut scratch)?;
        bare &= line.name.is_none() && matches!(v, Value::String(_));
        roots.push((scratch.keys.key(line.name.unwrap_or_default()), v));
    }
    Ok(match roots.is_empty() {
        true => None,
        false if bare => Some(Value::Array(roots.into_iter().map(|(_, v)| v).collect())),
        false => Some(Value::Object(Map::from_members(roots))),
    })
}

/// Decodes a legacy reply. 2xx codes are a [`Response`]; any other code is
/// [`Error::Command`] with the code and reason (e.g. `404 AOR not found`, or the transport's
/// `500 command 'x' not available`).
///
/// # Errors
///
/// [`Error::Command`] for error codes, [`Error::MalformedReply`] without a status line.
pub fn decode_reply(bytes: &[u8]) -> crate::Result<Response> {
    // read in place: the caller has the bytes, the response keeps none of them
    let (code, message, value) = decode_parts(bytes, true)?;
    Ok(Response {
        code,
        message: message.into(),
        value,
        raw: Vec::new(),
    })
}

/// [`decode_reply`] on an owned buffer, which becomes the response's `raw`. Unless
/// `decode`, a successful reply is left undecoded (`value` stays `Null`): the typed helpers
/// read `raw` themselves.
pub(crate) fn decode_owned(raw: Vec<u8>, decode: bool) -> crate::Result<Response> {
    let (code, message, value) = decode_parts(&raw, decode)?;
    let mut raw = raw;
    // a reply read in several pieces leaves room behind: a kept response keeps none
    raw.shrink_to_fit();
    Ok(Response {
        code,
        message: message.into(),
        value,
        raw,
    })
}

/// The code, reason and (if `decode`) value of a legacy reply; an error code is
/// [`Error::Command`].
fn decode_parts(raw: &[u8], decode: bool) -> crate::Result<(i64, String, Value)> {
    let text = text_of(raw);
    let (code, reason, lines) = status(&text)?;
    if !(200..300).contains(&code) {
        // the server's code and reason, whatever follows them
        let mut e = ServerError::new(code, reason);
        e.data = tree_value(lines).ok().flatten();
        return Err(Error::Command(e));
    }
    let value = match decode {
        true => tree_value(lines)?.unwrap_or_else(|| Value::Object(Map::new())),
        false => Value::Null,
    };
    Ok((code, reason.to_owned(), value))
}

/// The reply as text; each byte of invalid UTF-8 becomes `?`, as in every decoder of the
/// crate (checked the fast way first: replies are nearly always valid).
pub(crate) fn text_of(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => std::borrow::Cow::Owned(
            String::from_utf8(super::jsonrpc::sanitize_utf8(raw))
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

/// The [`Value`] of a successful reply left undecoded by [`decode_owned`].
pub(crate) fn value_of(raw: &[u8]) -> crate::Result<Value> {
    let text = text_of(raw);
    let (_, _, lines) = status(&text)?;
    Ok(tree_value(lines)?.unwrap_or_else(|| Value::Object(Map::new())))
}

/// `true` if `bytes` look like a legacy reply (a 3-digit code and a space).
pub(crate) fn looks_like_reply(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[..3].iter().all(u8::is_ascii_digit) && bytes[3] == b' '
}

/// Renders a reply the way the 2.x writer does (mock side).
#[cfg(any(test, feature = "mock"))]
pub(crate) fn render(code: i64, reason: &str, nodes: &[Node]) -> Vec<u8> {
    let mut out = format!("{code} {reason}\n");
    for n in nodes {
        render_node(&mut out, n, Some(0));
    }
    out.push('\n');
    out.into_bytes()
}

/// One node and its subtree as the 2.x writer prints them, a tab per level from `depth`;
/// without indentation (`None`) as the 1.x `xr_writer.c` does (mock side).
#[cfg(any(test, feature = "mock"))]
pub(crate) fn render_node(out: &mut String, n: &Node, depth: Option<usize>) {
    for _ in 0..depth.unwrap_or(0) {
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
        render_node(out, k, depth.map(|d| d + 1));
    }
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
#[path = "legacy_oracle.rs"]
mod oracle;

#[cfg(test)]
mod tests {
    use super::oracle::parse;
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
            Value::Object(Map::new())
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

    /// The old tree parser's result for `bytes`, as `decode_reply` would give it.
    fn oracle(bytes: &[u8]) -> std::result::Result<Value, (i64, Option<Value>)> {
        // (it read invalid UTF-8 as U+FFFD; the crate reads each bad byte as `?`)
        let (code, _, nodes) = parse(&crate::protocol::jsonrpc::sanitize_utf8(bytes)).unwrap();
        let v = (!nodes.is_empty()).then(|| super::oracle::into_value(nodes));
        match (200..300).contains(&code) {
            true => Ok(v.unwrap_or_else(|| Value::Object(Map::new()))),
            false => Err((code, v)),
        }
    }

    fn streaming(bytes: &[u8]) -> std::result::Result<Value, (i64, Option<Value>)> {
        match decode_owned(bytes.to_vec(), true) {
            Ok(r) => {
                assert_eq!(r.raw, bytes);
                assert_eq!(decode_reply(bytes).unwrap().value, r.value);
                Ok(r.value)
            }
            Err(Error::Command(e)) => Err((e.code, e.data)),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_line_reader_gives_the_tree_parsers_values_on_every_capture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/2x");
        let mut n = 0;
        for sub in ["fifo", "datagram"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                if !path.to_string_lossy().ends_with(".reply.txt") || !looks_like_reply(&bytes) {
                    continue;
                }
                assert_eq!(streaming(&bytes), oracle(&bytes), "{}", path.display());
                n += 1;
            }
        }
        assert!(n > 60, "only {n} captures");
        // and on what no capture shows
        for text in [
            "200 OK\nDomain:: location hash_size=512\n\tAOR:: dave\n\t\tContact:: sip:dave@h:5090 Q=0.5\n\t\t\tExpires:: 3598\n\t\t\tCflags:: \n\tAOR:: carol\n\t\tContact:: sip:carol@h Q=\nProcess::  ID=6 PID=4908 Type=SIP receiver udp:127.0.0.1:5062 \nProcess::  PID=1 Log level=3 Type=attendant\nMessage:: Via: x\r\nTo: y\r\n\r\n\n\n",
            "200 OK\r\nA:: 1\n\t\t\tB:: deeper than the open node\n\tC:: c\n\t\t\n\r\nD::\n:: unnamed with colons\nx\n",
            "200 OK\nThing::  a=1 b=two words  c= d=x=y =e\nNote:: x=y is text\nOdd::  -=1\nProcess::  ID=1 ID=2 PID=3 Type= Type=x PID=4\n",
            "200 OK\nProcess:: ID=0 PID=1\nProcess::PID=1\nContact:: sip:a@h;Q=1 Q=0.1 Q=0.2\ndialog:: hash=1:2 dialog_id=3 ID=4\n\tCALLEES::\n",
            "200 OK\nlast line has no newline\r",
            "200 OK\nMessage:: ends in CR\r",
            "200 OK\na\nb\n\tc\n",
            "404 AOR not found\nwhy:: because\n\n",
            "500 x\n",
            "200 OK\n\u{ff}\u{fe}:: bad utf-8 \u{c3}\n",
        ] {
            let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
            assert_eq!(streaming(&bytes), oracle(&bytes), "{text:?}");
        }
    }

    #[test]
    fn the_line_reader_gives_the_tree_parsers_values_on_random_text() {
        // lines built from the pieces that matter to the parser: tabs, names with `::`,
        // known and unknown attribute keys, blanks, `=`, CR LF inside values, empty lines
        const PIECES: &[&str] = &[
            "\t",
            "\t\t",
            "Contact",
            "Domain",
            "Process",
            "dialog",
            "profile",
            "x",
            "::",
            ":: ",
            ":",
            " ",
            "  ",
            "Q=",
            "ID=",
            "PID=",
            "Type=",
            "hash_size=",
            "a=",
            "=",
            "b-c=",
            "v",
            "sip:u@h",
            "\r\n",
            "\r",
            "\n",
            "\n\n",
            "é",
        ];
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15_u64);
        for _ in 0..3000 {
            let mut text = String::from("200 OK\n");
            for _ in 0..next(40) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            let bytes = text.as_bytes();
            assert_eq!(streaming(bytes), oracle(bytes), "{text:?}");
        }
    }

    #[test]
    fn a_tree_nested_too_deep_is_refused() {
        let mut text = String::from("200 OK\n");
        for depth in 0..100_000 {
            text.push_str(&"\t".repeat(depth.min(200)));
            text.push_str("n:: v\n");
        }
        let e = decode_reply(text.as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("nested deeper than 64 levels"),
            "{e}"
        );
        // an error reply keeps the server's code and reason even then
        let e = decode_reply(text.replacen("200 OK", "500 overloaded", 1).as_bytes()).unwrap_err();
        assert!(
            matches!(e, Error::Command(ref s) if s.code == 500 && s.message == "overloaded" && s.data.is_none()),
            "{e}"
        );
        // as deep as any real reply is fine
        let ok = "200 OK\nDomain:: l\n\tAOR:: a\n\t\tContact:: c Q=\n\t\t\tExpires:: 1\n";
        assert!(decode_reply(ok.as_bytes()).is_ok());
    }
}
