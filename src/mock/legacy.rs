//! The mock's OpenSIPS 2.4 personality: the legacy text MI over FIFO and datagram, with the
//! same state and commands as the JSON-RPC side, rendered in the 2.x reply layouts.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Dispatch, Incoming, MockTransport, Shared};
use crate::protocol::legacy::{Node, parse_args, render};
use crate::{Params, ServerError, Value};

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

/// How to answer transport-level errors.
fn not_available(transport: MockTransport, command: &str) -> Vec<u8> {
    match transport {
        MockTransport::Fifo => format!("500 command '{command}' not available\n").into_bytes(),
        _ => b"500 command not available\n".to_vec(),
    }
}

impl Shared {
    /// Handles one legacy request (mock side of 1.x/2.x mi_fifo and mi_datagram).
    pub(crate) fn dispatch_legacy(
        &self,
        transport: MockTransport,
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
        let Ok(args) = parse_args(&req.arg_lines) else {
            self.record(&incoming, req.command, Params::None, None);
            let text = match transport {
                MockTransport::Fifo => format!("400 Parse error in command '{}'\n", req.command),
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
        if !self.knows(req.command) {
            return Dispatch::Reply {
                parts: vec![not_available(transport, req.command)],
                delay: Duration::ZERO,
            };
        }
        let faults = self.faults_for(req.command);
        // 1.x/2.x read arguments by position and ignore names.
        let values: Vec<String> = args.into_iter().map(|(_, v)| v).collect();
        let (result, mut delay) = match legacy_params(req.command, values) {
            Some(params) => self.run(req.command, &params),
            None if self.is_custom(req.command) => self.run(req.command, &recorded),
            None => (
                Err(ServerError::new(400, "Too few or too many arguments")),
                Duration::ZERO,
            ),
        };
        let reply = match legacy_tree(req.command, result) {
            Ok(nodes) => render(200, "OK", &nodes),
            Err((code, reason)) => format!("{code} {reason}\n\n").into_bytes(),
        };
        let stale = || b"200 OK\nstale:: reply\n\n".to_vec();
        let Some((mut parts, reply)) = super::apply_faults(faults, reply, &mut delay, stale) else {
            return Dispatch::Hang;
        };
        // 2.x sends nothing at all when the reply does not fit in one datagram.
        if transport != MockTransport::Fifo && reply.len() > self.datagram_buffer {
            return Dispatch::Silent;
        }
        parts.push(reply);
        Dispatch::Reply { parts, delay }
    }
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
                p.push(((*name).to_owned(), Value::String(v)));
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
        Value::String(s) => s.clone(),
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

fn aor_node(aor: &Value) -> Node {
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
                .filter(|(k, _)| k != "Contact" && k != "Q")
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

fn dialog_node(d: &Value) -> Node {
    let mut kids = Vec::new();
    for (k, v) in d.as_object().unwrap_or_default() {
        match k.as_str() {
            "ID" | "db_id" => {}
            "CALLEES" => kids.push(Node {
                name: Some("CALLEES".into()),
                kids: v
                    .as_array()
                    .unwrap_or_default()
                    .iter()
                    .map(|c| Node {
                        name: Some("callee".into()),
                        kids: generic(c),
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
    Node {
        name: Some("dialog".into()),
        attrs: vec![("ID".into(), text(&d["ID"]))],
        kids,
        ..Node::default()
    }
}

/// The 2.4 reply layout of each command, from the 3.x-shaped result.
fn legacy_tree(
    command: &str,
    result: Result<Value, ServerError>,
) -> Result<Vec<Node>, (i64, String)> {
    let v = match result {
        Ok(v) => v,
        // 2.4 answers a missing cache key with a success and a text node.
        Err(e) if command == "cache_fetch" && e.message == "Value not found" => {
            return Ok(vec![Node {
                value: "Value not found".into(),
                ..Node::default()
            }]);
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
        "get_statistics" if v.as_object().is_some_and(<[_]>::is_empty) => {
            return Err((404, "Statistics Not Found".into()));
        }
        "ul_dump" => v["Domains"]
            .as_array()
            .unwrap_or_default()
            .iter()
            .map(|d| Node {
                name: Some("Domain".into()),
                value: text(&d["name"]),
                attrs: vec![("hash_size".into(), text(&d["hash_size"]))],
                kids: d["AORs"]
                    .as_array()
                    .unwrap_or_default()
                    .iter()
                    .map(aor_node)
                    .collect(),
            })
            .collect(),
        "ul_show_contact" => vec![aor_node(&v)],
        "dlg_list" | "dlg_list_ctx" => match v.get("Dialog") {
            Some(d) => vec![dialog_node(d)],
            None => v["Dialogs"]
                .as_array()
                .unwrap_or_default()
                .iter()
                .map(dialog_node)
                .collect(),
        },
        "profile_get_size" => {
            let p = &v["Profile"];
            vec![Node {
                name: Some("profile".into()),
                attrs: attrs(p, &["name", "value", "count", "shared", "replicated"]),
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
