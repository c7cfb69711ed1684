//! The first legacy reply parser (a `Node` tree, then a `Value`), kept as the oracle the
//! streaming parser is checked against.

use super::{KNOWN_ATTRS, Node};
use crate::{Error, Value};

/// A node of unknown layout: only an empty value (`name::  key=v key=v`, two blanks after
/// `::`) says for sure that what follows are attributes; a value that contains ` x=y` is
/// otherwise kept whole. A blank-separated word without `=` continues the previous value.
pub(super) fn generic_attrs(rest: &str) -> (String, Vec<(String, String)>) {
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
pub(super) fn split_attrs(name: &str, rest: &str) -> (String, Vec<(String, String)>) {
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
pub(super) fn parse(bytes: &[u8]) -> crate::Result<(i64, String, Vec<Node>)> {
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
pub(super) fn into_value(nodes: Vec<Node>) -> Value {
    if !nodes.is_empty()
        && nodes
            .iter()
            .all(|n| n.name.is_none() && n.attrs.is_empty() && n.kids.is_empty())
    {
        return Value::Array(
            nodes
                .into_iter()
                .map(|n| Value::String(n.value.into()))
                .collect(),
        );
    }
    Value::Object(
        nodes
            .into_iter()
            .map(|mut n| (n.name.take().unwrap_or_default(), node_into_value(n)))
            .collect(),
    )
}

pub(super) fn node_into_value(n: Node) -> Value {
    if n.attrs.is_empty() && n.kids.is_empty() {
        return Value::String(n.value.into());
    }
    let mut o = Vec::with_capacity(1 + n.attrs.len() + n.kids.len());
    o.push(("value".to_owned(), Value::String(n.value.into())));
    for (k, v) in n.attrs {
        o.push((k, Value::String(v.into())));
    }
    for mut k in n.kids {
        o.push((k.name.take().unwrap_or_default(), node_into_value(k)));
    }
    Value::Object(o.into())
}
