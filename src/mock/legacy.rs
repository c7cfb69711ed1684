//! The mock's OpenSIPS 2.4 and 1.11 personalities: the legacy text MI over FIFO and
//! datagram, with the same state and commands as the JSON-RPC side, rendered in the 2.x
//! (or 1.11) reply layouts; and the 1.x `mi_xmlrpc`, which sends the same tree as one flat
//! string.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Dispatch, Flavor, Incoming, Shared, Transport};
use crate::protocol::legacy::{Node, parse_args, render};
use crate::{Map, Params, ServerError, Value};

/// One legacy request, split into command and argument lines.
pub(crate) struct LegacyRequest<'a> {
    pub(crate) command: &'a str,
    pub(crate) arg_lines: Vec<&'a str>,
    pub(crate) raw: &'a [u8],
}

/// Parses a datagram the way 2.x mi_datagram does: the first line must be exactly
/// `:command:` followed by LF.
pub(crate) fn split_datagram(data: &[u8]) -> Option<LegacyRequest<'_>> {
    let text = std::str::from_utf8(data).ok()?;
    let (first, rest) = text.split_once('\n')?;
    let command = first.strip_prefix(':')?.strip_suffix(':')?;
    if command.is_empty() || command.contains(':') {
        return None;
    }
    Some(LegacyRequest {
        command,
        arg_lines: rest.split('\n').collect(),
        raw: data,
    })
}

/// The commands 1.11 does not have (`modules/*`, `mi/mi_core.c` 1.11.11).
pub(crate) const NOT_IN_1_11: &[&str] = &[
    "list_statistics",
    "log_level",
    "ul_cluster_sync",
    "dlg_cluster_sync",
    "profile_end_dlgs",
    "dlg_set_sharing_tag_active",
    "dlg_list_sharing_tags",
];

/// How to answer transport-level errors.
fn not_available(transport: Transport, command: &str) -> Vec<u8> {
    match transport {
        Transport::Fifo => format!("500 command '{command}' not available\n").into_bytes(),
        _ => b"500 command not available\n".to_vec(),
    }
}

impl Shared {
    /// Handles one legacy request (mock side of 1.x/2.x mi_fifo and mi_datagram).
    pub(crate) fn dispatch_legacy(
        &self,
        transport: Transport,
        req: &LegacyRequest<'_>,
        reply_name: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Dispatch {
        let incoming = Incoming {
            transport,
            bytes: req.raw,
            reply_name,
            peer,
        };
        let v1 = self.flavor == Flavor::V1;
        let Ok(args) = parse_args(&req.arg_lines) else {
            self.record(&incoming, req.command, Params::None, None);
            let text = match transport {
                Transport::Fifo if v1 => {
                    format!("400 parse error in command '{}'\n", req.command)
                }
                Transport::Fifo => format!("400 Parse error in command '{}'\n", req.command),
                _ => "400 parse error in command\n".to_owned(),
            };
            return Dispatch::Reply {
                parts: vec![text.into_bytes()],
                delay: Duration::ZERO,
            };
        };
        let recorded = if args.iter().all(|(n, _)| n.is_none()) {
            Params::positional(args.iter().map(|(_, v)| v.as_str()))
        } else {
            Params::named(
                args.iter()
                    .map(|(n, v)| (n.clone().unwrap_or_default(), v.as_str())),
            )
        };
        self.record(&incoming, req.command, recorded.clone(), None);
        if !self.knows_legacy(req.command) {
            return Dispatch::Reply {
                parts: vec![not_available(transport, req.command)],
                delay: Duration::ZERO,
            };
        }
        let faults = self.faults_for(req.command);
        // 1.x/2.x read arguments by position and ignore names.
        let values: Vec<String> = args.into_iter().map(|(_, v)| v).collect();
        let (tree, mut delay) = self.run_legacy(req.command, values, &recorded);
        let mut reply = match tree {
            Ok(nodes) => render(200, "OK", &nodes),
            Err((code, reason)) => format!("{code} {reason}\n\n").into_bytes(),
        };
        // 1.11 mi_datagram writes no final empty line (INDEX.md surprise 1)
        if v1 && transport != Transport::Fifo && reply.ends_with(b"\n\n") {
            reply.pop();
        }
        let stale = || b"200 OK\nstale:: reply\n\n".to_vec();
        let Some((mut parts, reply)) = super::apply_faults(faults, reply, &mut delay, stale) else {
            return Dispatch::Hang;
        };
        // 2.x sends nothing at all when the reply does not fit in one datagram.
        if transport != Transport::Fifo && reply.len() > self.datagram_buffer {
            return Dispatch::Silent;
        }
        parts.push(reply);
        Dispatch::Reply { parts, delay }
    }

    /// Whether the legacy server has `command` (1.11 lacks a few, and has `debug`).
    pub(crate) fn knows_legacy(&self, command: &str) -> bool {
        if self.flavor != Flavor::V1 || self.is_custom(command) {
            return self.knows(command);
        }
        command == "debug" || (self.knows(command) && !NOT_IN_1_11.contains(&command))
    }

    /// Runs a legacy command with its positional `values` (`recorded`: as received, for
    /// custom handlers): the reply tree, or the error code and reason.
    fn run_legacy(
        &self,
        command: &str,
        values: Vec<String>,
        recorded: &Params,
    ) -> (Result<Vec<Node>, (i64, String)>, Duration) {
        let v1 = self.flavor == Flavor::V1;
        // 1.11's log-level command: `debug [level]`, answered `DEBUG:: N`
        let debug = v1 && command == "debug";
        let run_as = if debug { "log_level" } else { command };
        let (result, delay) = match legacy_params(run_as, values) {
            Some(params) if debug => match self.run(run_as, &params) {
                (Ok(v), d) => {
                    let level = v["New global log level"]
                        .as_i64()
                        .or_else(|| v["Processes"][0]["Log level"].as_i64())
                        .unwrap_or(3);
                    (
                        Ok(Value::Object(
                            vec![("DEBUG".into(), Value::Int(level))].into(),
                        )),
                        d,
                    )
                }
                other => other,
            },
            Some(params) => self.run(command, &params),
            None if self.is_custom(command) => self.run(command, recorded),
            None => (
                Err(ServerError::new(400, "Too few or too many arguments")),
                Duration::ZERO,
            ),
        };
        (legacy_tree(command, result, self.flavor), delay)
    }

    /// The 1.x `mi_xmlrpc` (xmlrpc-c Abyss, `modules/mi_xmlrpc` 1.11): parameters read as
    /// text (CR stripped from strings, LF LF made CR LF, `<base64>` decoded), the reply tree
    /// written as ONE string of unindented lines, MI errors as faults with the MI code,
    /// `-506` for an unknown command, `-501` for a struct or array parameter, `-503` for
    /// XML that is not a call.
    pub(crate) fn dispatch_xmlrpc_1x(&self, bytes: &[u8], peer: Option<SocketAddr>) -> Dispatch {
        use crate::protocol::xmlrpc::server::decode_call_1x;
        let incoming = Incoming {
            transport: Transport::XmlRpc,
            bytes,
            reply_name: None,
            peer,
        };
        let reply = |bytes: Vec<u8>| Dispatch::Reply {
            parts: vec![bytes],
            delay: Duration::ZERO,
        };
        let (method, values) = match decode_call_1x(bytes) {
            Ok(call) => call,
            Err((code, text)) => {
                self.record(&incoming, "", Params::None, None);
                return reply(fault_1x(code, &text));
            }
        };
        let recorded = Params::positional(values.iter().map(String::as_str));
        self.record(&incoming, &method, recorded.clone(), None);
        if !self.knows_legacy(&method) {
            return reply(fault_1x(
                -506,
                &format!("Requested command ({method}) is not available!"),
            ));
        }
        let faults = self.faults_for(&method);
        let (tree, mut delay) = self.run_legacy(&method, values, &recorded);
        let body = match tree {
            Ok(nodes) => {
                let mut text = String::new();
                for n in &nodes {
                    crate::protocol::legacy::render_node(&mut text, n, None);
                }
                // the reply loses its CRs too (`xmlrpc_build_value(env, "s", …)`)
                let text = text.replace('\r', "");
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params>\r\n\
                     <param><value><string>{}</string></value></param>\r\n</params>\r\n\
                     </methodResponse>\r\n",
                    escape_1x(&text)
                )
                .into_bytes()
            }
            Err((code, reason)) => fault_1x(code, &reason),
        };
        let stale = || fault_1x(-500, "stale");
        let Some((mut parts, body)) = super::apply_faults(faults, body, &mut delay, stale) else {
            return Dispatch::Hang;
        };
        parts.push(body);
        Dispatch::Reply { parts, delay }
    }
}

impl Shared {
    /// 2.x `mi_xmlrpc_ng` (`modules/mi_xmlrpc_ng/http_fnc.c` 2.4, `format_version` 2): every
    /// parameter a non-empty `<string>` (else fault `401 Empty request`, also for an unknown
    /// command), the reply tree as structs with untyped `<value>text</value>` leaves.
    pub(crate) fn dispatch_xmlrpc_ng(&self, bytes: &[u8], peer: Option<SocketAddr>) -> Dispatch {
        use crate::protocol::xmlrpc::server::decode_call;
        let incoming = Incoming {
            transport: Transport::XmlRpc,
            bytes,
            reply_name: None,
            peer,
        };
        let reply = |bytes: Vec<u8>| Dispatch::Reply {
            parts: vec![bytes],
            delay: Duration::ZERO,
        };
        let call = decode_call(bytes).ok().and_then(|(method, params)| {
            let values = match params {
                Params::None => Vec::new(),
                Params::Positional(v) => v,
                Params::Named(_) => return None,
            };
            let strings: Option<Vec<String>> = values
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Some(s.into_string()),
                    _ => None,
                })
                .collect();
            Some((method, strings?))
        });
        let Some((method, values)) = call else {
            self.record(&incoming, "", Params::None, None);
            return reply(fault_ng(401, "Empty request"));
        };
        let recorded = Params::positional(values.iter().map(String::as_str));
        self.record(&incoming, &method, recorded.clone(), None);
        if !self.knows_legacy(&method) {
            return reply(fault_ng(401, "Empty request"));
        }
        let faults = self.faults_for(&method);
        let (tree, mut delay) = self.run_legacy(&method, values, &recorded);
        let body = match tree {
            Ok(nodes) => {
                let mut out = String::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n<params><param>\n<value>",
                );
                ng_level(&mut out, &nodes);
                out.push_str("</value></param></params>\n</methodResponse>\n");
                out.into_bytes()
            }
            Err((code, reason)) => fault_ng(code, &reason),
        };
        let stale = || fault_ng(500, "stale");
        let Some((mut parts, body)) = super::apply_faults(faults, body, &mut delay, stale) else {
            return Dispatch::Hang;
        };
        parts.push(body);
        Dispatch::Reply { parts, delay }
    }
}

/// One level of a 2.x `mi_xmlrpc_ng` reply: a struct of its nodes by name; the nodes 2.4
/// flags as arrays (and repeated names) as `<array>`, unnamed nodes as an array `name`.
fn ng_level(out: &mut String, nodes: &[Node]) {
    const ARRAYS: &[&str] = &["Domain", "AOR", "Contact", "callee", "dialog", "Process"];
    out.push_str("<struct>");
    let mut done: Vec<&str> = Vec::new();
    for n in nodes {
        let name = n.name.as_deref().unwrap_or("name");
        if done.contains(&name) {
            continue;
        }
        done.push(name);
        let same: Vec<&Node> = nodes
            .iter()
            .filter(|m| m.name.as_deref().unwrap_or("name") == name)
            .collect();
        out.push_str("<member><name>");
        out.push_str(&escape_ng(name));
        out.push_str("</name>");
        if same.len() > 1 || ARRAYS.contains(&name) || n.name.is_none() {
            out.push_str("<value><array><data>");
            for m in same {
                ng_node(out, m);
            }
            out.push_str("</data></array></value>");
        } else {
            ng_node(out, n);
        }
        out.push_str("</member>");
    }
    out.push_str("</struct>");
}

fn ng_node(out: &mut String, n: &Node) {
    if n.attrs.is_empty() && n.kids.is_empty() {
        out.push_str("<value>");
        out.push_str(&escape_ng(&n.value));
        out.push_str("</value>");
        return;
    }
    out.push_str("<value><struct>");
    if !n.value.is_empty() {
        out.push_str("<member><name>value</name><value>");
        out.push_str(&escape_ng(&n.value));
        out.push_str("</value></member>");
    }
    if !n.attrs.is_empty() {
        out.push_str("<member><name>attributes</name><value><struct>");
        for (k, v) in &n.attrs {
            // 2.4 writes an empty attribute value as the text `value` (PROTOCOL.md §4.2)
            let v = if v.is_empty() { "value" } else { v.as_str() };
            out.push_str(&format!(
                "<member><name>{}</name><value>{}</value></member>",
                escape_ng(k),
                escape_ng(v)
            ));
        }
        out.push_str("</struct></value></member>");
    }
    if !n.kids.is_empty() {
        // the kids struct comes doubly wrapped, as 2.4 writes it
        out.push_str("<member><name>kids</name><value><value>");
        ng_level(out, &n.kids);
        out.push_str("</value></value></member>");
    }
    out.push_str("</struct></value>");
}

fn escape_ng(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A 2.x `mi_xmlrpc_ng` fault.
fn fault_ng(code: i64, text: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n<fault><value>\n<struct>\n<member>\n\
         <name>faultCode</name>\n<value><int>{code}</int></value>\n</member>\n<member>\n\
         <name>faultString</name>\n<value><string>{}</string></value>\n</member>\n</struct>\n\
         </value>\n</fault>\n</methodResponse>\n",
        escape_ng(text)
    )
    .into_bytes()
}

/// `&lt; &gt; &amp;`, quotes left alone (xmlrpc-c).
fn escape_1x(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A 1.x `mi_xmlrpc` fault: compact layout, `<i4>` code.
fn fault_1x(code: i64, text: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<fault>\r\n\
         <value><struct>\r\n<member><name>faultCode</name>\r\n<value><i4>{code}</i4></value></member>\r\n\
         <member><name>faultString</name>\r\n<value><string>{}</string></value></member>\r\n\
         </struct></value>\r\n</fault>\r\n</methodResponse>\r\n",
        escape_1x(text)
    )
    .into_bytes()
}

/// Maps a 2.x command's positional arguments onto the (3.x-shaped) built-in's parameters.
/// `None` when the count is wrong.
fn legacy_params(command: &str, args: Vec<String>) -> Option<Params> {
    let n = args.len();
    let named = |names: &[&str], args: Vec<String>| Params::named(names.iter().copied().zip(args));
    Some(match command {
        // no-parameter commands read and discard any argument lines
        "uptime"
        | "version"
        | "ps"
        | "pwd"
        | "which"
        | "list_all_profiles"
        | "reset_all_statistics"
        | "list_tcp_conns"
        | "events_list"
        | "list_blacklists" => Params::None,
        "get_statistics" | "reset_statistics" if n > 0 => {
            Params::named([("statistics", Value::from(args))])
        }
        "list_statistics" if n == 0 => Params::None,
        "list_statistics" => Params::named([("statistics", Value::from(args))]),
        "ul_dump" if n == 0 => Params::None,
        "ul_dump" if n == 1 => Params::named([(
            "brief",
            Value::Int(i64::from(args[0].eq_ignore_ascii_case("brief"))),
        )]),
        // table, aor, contact, expires, q, (unused), flags, cflags, methods
        "ul_add" if n == 9 => {
            let mut a = args;
            a.remove(5);
            let names = [
                "table_name",
                "aor",
                "contact",
                "expires",
                "q",
                "flags",
                "cflags",
                "methods",
            ];
            Params::named(names.iter().copied().zip(a))
        }
        "t_uac_dlg" if n == 5 || n == 6 => {
            let mut p: Vec<(String, Value)> = Vec::new();
            for (i, (name, v)) in ["method", "ruri", "next_hop", "socket", "headers", "body"]
                .iter()
                .zip(args)
                .enumerate()
            {
                if (i == 2 || i == 3) && v == "." {
                    continue;
                }
                p.push(((*name).to_owned(), Value::String(v.into())));
            }
            Params::Named(p)
        }
        "dlg_list" | "dlg_list_ctx" if n <= 2 => named(&["callid", "from_tag"], args),
        "log_level" if n <= 2 => named(&["level", "pid"], args),
        "get_statistics" | "reset_statistics" | "t_uac_dlg" | "ul_add" | "ul_dump" | "dlg_list"
        | "dlg_list_ctx" | "log_level" => return None,
        _ if n == 0 => Params::None,
        _ => Params::positional(args),
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Named leaves for every member, nodes for nested objects, repeated nodes for arrays.
fn generic(v: &Value) -> Vec<Node> {
    match v {
        Value::Object(o) => o.iter().flat_map(|(k, v)| member(k, v)).collect(),
        Value::Array(a) => a
            .iter()
            .map(|v| Node {
                value: text(v),
                ..Node::default()
            })
            .collect(),
        Value::String(s) if s == "OK" => Vec::new(),
        other => vec![Node {
            value: text(other),
            ..Node::default()
        }],
    }
}

fn member(name: &str, v: &Value) -> Vec<Node> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Object(_) => Node {
                    name: Some(name.to_owned()),
                    kids: generic(i),
                    ..Node::default()
                },
                other => Node::leaf(name, text(other)),
            })
            .collect(),
        Value::Object(_) => vec![Node {
            name: Some(name.to_owned()),
            kids: generic(v),
            ..Node::default()
        }],
        other => vec![Node::leaf(name, text(other))],
    }
}

fn attrs(o: &Value, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter()
        .map(|k| ((*k).to_owned(), text(&o[*k])))
        .collect()
}

fn aor_node(aor: &Value, flavor: Flavor) -> Node {
    let contacts = aor["Contacts"]
        .as_array()
        .unwrap_or_default()
        .iter()
        .map(|c| Node {
            name: Some("Contact".into()),
            value: text(&c["Contact"]),
            attrs: vec![("Q".into(), text(&c["Q"]))],
            kids: c
                .as_object()
                .unwrap_or_default()
                .iter()
                .filter(|(k, _)| !matches!(*k, "Contact" | "Q"))
                // 1.11 has no contact id (INDEX.md surprise 12)
                .filter(|(k, _)| flavor != Flavor::V1 || *k != "ContactID")
                .map(|(k, v)| Node::leaf(k, text(v)))
                .collect(),
        })
        .collect();
    Node {
        name: Some("AOR".into()),
        value: text(&aor["AOR"]),
        kids: contacts,
        ..Node::default()
    }
}

fn dialog_node(d: &Value, flavor: Flavor) -> Node {
    let v1 = flavor == Flavor::V1;
    let mut kids = Vec::new();
    for (k, v) in d.as_object().unwrap_or_default() {
        match k {
            "ID" | "db_id" => {}
            // 1.11 prints no SDP (INDEX.md surprise 15)
            "caller_sdp" | "callee_sdp" if v1 => {}
            "CALLEES" => kids.push(Node {
                name: Some("CALLEES".into()),
                kids: v
                    .as_array()
                    .unwrap_or_default()
                    .iter()
                    .map(|c| Node {
                        name: Some("callee".into()),
                        kids: generic(c)
                            .into_iter()
                            .filter(|k| !(v1 && k.name.as_deref() == Some("callee_sdp")))
                            .collect(),
                        ..Node::default()
                    })
                    .collect(),
                ..Node::default()
            }),
            "context" => kids.push(Node {
                name: Some("context".into()),
                kids: vec![Node {
                    name: Some("profiles".into()),
                    kids: v["profiles"]
                        .as_array()
                        .unwrap_or_default()
                        .iter()
                        .flat_map(generic)
                        .collect(),
                    ..Node::default()
                }],
                ..Node::default()
            }),
            _ => kids.push(Node::leaf(k, text(v))),
        }
    }
    let attrs = if v1 {
        // `dialog::  hash=H:I dialog_id=N`
        let id = text(&d["ID"]);
        let hash = id.parse::<u64>().map_or_else(
            |_| "0:0".to_owned(),
            |n| format!("{}:{}", n >> 32, n & 0xffff_ffff),
        );
        vec![("hash".into(), hash), ("dialog_id".into(), id)]
    } else {
        vec![("ID".into(), text(&d["ID"]))]
    };
    Node {
        name: Some("dialog".into()),
        attrs,
        kids,
        ..Node::default()
    }
}

/// The 2.4 reply layout of each command, from the 3.x-shaped result.
fn legacy_tree(
    command: &str,
    result: Result<Value, ServerError>,
    flavor: Flavor,
) -> Result<Vec<Node>, (i64, String)> {
    let v1 = flavor == Flavor::V1;
    let v = match result {
        Ok(v) => v,
        // 2.4 answers a missing cache key with a success and a text node.
        Err(e) if command == "cache_fetch" && e.message == "Value not found" => {
            return Ok(vec![Node {
                value: "Value not found".into(),
                ..Node::default()
            }]);
        }
        // 1.11 `mi_cachestore`: an expires that is not a number
        Err(e) if v1 && command == "cache_store" && e.code == -32602 => {
            return Err((404, "Bad format for expires argument".into()));
        }
        Err(e) if e.code == -32602 => return Err((400, "Too few or too many arguments".into())),
        Err(e) if e.code < 0 => return Err((500, "Internal server error".into())),
        Err(e) => return Err((e.code, e.message)),
    };
    Ok(match command {
        "ps" | "log_level" if v.get("Processes").is_some() => {
            let keys: &[&str] = if command == "ps" {
                &["ID", "PID", "Type"]
            } else {
                &["PID", "Log level", "Type"]
            };
            v["Processes"]
                .as_array()
                .unwrap_or_default()
                .iter()
                .map(|p| Node {
                    name: Some("Process".into()),
                    attrs: attrs(p, keys),
                    ..Node::default()
                })
                .collect()
        }
        "get_statistics" if v.as_object().is_some_and(Map::is_empty) => {
            return Err((404, "Statistics Not Found".into()));
        }
        "ul_dump" => v["Domains"]
            .as_array()
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let aors = d["AORs"].as_array().unwrap_or_default();
                Node {
                    name: Some("Domain".into()),
                    value: text(&d["name"]),
                    // 1.11: `table=512 records=N` (INDEX.md surprise 12)
                    attrs: if v1 {
                        vec![
                            ("table".into(), text(&d["hash_size"])),
                            ("records".into(), aors.len().to_string()),
                        ]
                    } else {
                        vec![("hash_size".into(), text(&d["hash_size"]))]
                    },
                    kids: aors.iter().map(|a| aor_node(a, flavor)).collect(),
                }
            })
            .collect(),
        // 1.11: one flat line per contact, no AOR node (INDEX.md surprise 11)
        "ul_show_contact" if v1 => v["Contacts"]
            .as_array()
            .unwrap_or_default()
            .iter()
            .map(|c| Node::leaf("Contact", contact_line_1x(c)))
            .collect(),
        "ul_show_contact" => vec![aor_node(&v, flavor)],
        "dlg_list" | "dlg_list_ctx" => match v.get("Dialog") {
            Some(d) => vec![dialog_node(d, flavor)],
            None => v["Dialogs"]
                .as_array()
                .unwrap_or_default()
                .iter()
                .map(|d| dialog_node(d, flavor))
                .collect(),
        },
        // 1.11: one unnamed `key = [value]` line (INDEX.md surprise 13)
        "cache_fetch" if v1 && v.get("value").is_some() => vec![Node {
            value: format!("{} = [{}]", text(&v["key"]), text(&v["value"])),
            ..Node::default()
        }],
        "profile_get_size" => {
            let p = &v["Profile"];
            vec![Node {
                name: Some("profile".into()),
                attrs: if v1 {
                    attrs(p, &["name", "value", "count", "shared"])
                } else {
                    attrs(p, &["name", "value", "count", "shared", "replicated"])
                },
                ..Node::default()
            }]
        }
        "list_all_profiles" => v["Profiles"]
            .as_array()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                Node::leaf(
                    &text(&p["name"]),
                    if p["has value"] == Value::Bool(true) {
                        "1"
                    } else {
                        "0"
                    },
                )
            })
            .collect(),
        // `Event:: NAME id=N`, each subscriber a node with attributes and an empty value
        "subscribers_list" => {
            let events = match v.get("Event") {
                Some(e) => vec![e.clone()],
                None => v["Events"].as_array().unwrap_or_default().to_vec(),
            };
            events
                .iter()
                .map(|e| Node {
                    name: Some("Event".into()),
                    value: text(&e["name"]),
                    attrs: vec![("id".into(), text(&e["id"]))],
                    kids: e["Subscribers"]
                        .as_array()
                        .unwrap_or_default()
                        .iter()
                        .map(|s| Node {
                            name: Some("Subscriber".into()),
                            attrs: attrs(s, &["socket", "expire"]),
                            ..Node::default()
                        })
                        .collect(),
                })
                .collect()
        }
        // 1.11: the same five lines, unnamed (INDEX.md surprise 14)
        "t_uac_dlg" if v1 => {
            let dot = |x: &Value| if x.is_null() { ".".to_owned() } else { text(x) };
            ["Status", "RURI", "Next-hop", "Routes", "Message"]
                .iter()
                .map(|k| Node {
                    value: if *k == "Status" {
                        text(&v[*k])
                    } else {
                        dot(&v[*k])
                    },
                    ..Node::default()
                })
                .collect()
        }
        "t_uac_dlg" => {
            let dot = |x: &Value| if x.is_null() { ".".to_owned() } else { text(x) };
            vec![
                Node::leaf("Status", text(&v["Status"])),
                Node::leaf("RURI", dot(&v["RURI"])),
                Node::leaf("Next-hop", dot(&v["Next-hop"])),
                Node::leaf("Routes", dot(&v["Routes"])),
                Node::leaf("Message", dot(&v["Message"])),
            ]
        }
        _ => generic(&v),
    })
}

/// A contact as 1.11 `ul_show_contact` prints it (`modules/usrloc/ul_mi.c`
/// `mi_usrloc_show_contact`): `<uri>;q=;expires=N;flags=0x0;cflags=0x0;socket=<…>;
/// callid=<…>;methods=0x…;user_agent=<…>`.
fn contact_line_1x(c: &Value) -> String {
    let hex = |k: &str| format!("0x{:X}", c[k].as_i64().unwrap_or(0));
    let mut line = format!(
        "<{}>;q={};expires={};flags={};cflags=0x0",
        text(&c["Contact"]),
        text(&c["Q"]),
        text(&c["Expires"]),
        hex("Flags"),
    );
    if let Some(s) = c["Socket"].as_str() {
        line.push_str(&format!(";socket=<{s}>"));
    }
    line.push_str(&format!(
        ";callid=<{}>;methods={}",
        text(&c["Callid"]),
        hex("Methods")
    ));
    if let Some(ua) = c["User-agent"].as_str().filter(|s| !s.is_empty()) {
        line.push_str(&format!(";user_agent=<{ua}>"));
    }
    line
}
