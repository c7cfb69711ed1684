//! Core commands: statistics, uptime, version, which, ps, log level, cache, events.

use super::*;

pub(super) fn ok() -> Outcome {
    Outcome::Done(Ok(Value::from("OK")))
}

pub(super) fn err(code: i64, msg: &str) -> Outcome {
    Outcome::Done(Err(ServerError::new(code, msg)))
}

pub(super) fn get_statistics(s: &mut State, a: &Args) -> Outcome {
    let sel = s.select_stats(&a.array("statistics"));
    Ok(Value::Object(
        sel.into_iter()
            .map(|(n, _, v)| (n, Value::Int(v)))
            .collect(),
    ))
    .into()
}

pub(super) fn list_statistics(s: &mut State, a: &Args) -> Outcome {
    let names = if a.0.contains_key("statistics") {
        a.array("statistics")
    } else {
        vec!["all".into()]
    };
    let sel = s.select_stats(&names);
    let o = sel
        .into_iter()
        .map(|(n, inc, _)| {
            (
                n,
                Value::from(if inc {
                    "incremental"
                } else {
                    "non-incremental"
                }),
            )
        })
        .collect();
    Ok(Value::Object(o)).into()
}

pub(super) fn reset_statistics(s: &mut State, a: &Args) -> Outcome {
    let sel: Vec<String> = s
        .select_stats(&a.array("statistics"))
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    for (n, inc, v) in &mut s.stats {
        if *inc && sel.contains(n) {
            *v = 0;
        }
    }
    ok()
}

pub(super) fn reset_all_statistics(s: &mut State, _: &Args) -> Outcome {
    for (_, inc, v) in &mut s.stats {
        if *inc {
            *v = 0;
        }
    }
    ok()
}

pub(super) fn uptime(s: &mut State, _: &Args) -> Outcome {
    let t = now();
    Ok(Value::Object(
        vec![
            ("Now".into(), Value::from(ctime(t))),
            ("Up since".into(), Value::from(ctime(s.started))),
            (
                "Up time".into(),
                Value::from(format!("{} [sec]", t.saturating_sub(s.started))),
            ),
        ]
        .into(),
    ))
    .into()
}

pub(super) fn server_string(s: &State) -> String {
    let v = match s.flavor {
        Flavor::V1 => "1.11.11-notls",
        Flavor::V2 => "2.4.11",
        Flavor::V3 => "3.5.9",
        Flavor::V4 => "4.0.1",
    };
    format!("OpenSIPS ({v} (x86_64/linux))")
}

pub(super) fn version(s: &mut State, a: &Args) -> Outcome {
    let mut o = vec![("Server".to_owned(), Value::from(server_string(s)))];
    if a.0.contains_key("revision") {
        o.push(("unknown".into(), Value::from("unknown")));
    }
    Ok(Value::Object(o.into())).into()
}

pub(super) fn pwd(_: &mut State, _: &Args) -> Outcome {
    let wd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/".into());
    Ok(Value::Object(vec![("WD".into(), Value::from(wd))].into())).into()
}

pub(super) fn arg(_: &mut State, _: &Args) -> Outcome {
    Ok(Value::Array(std::env::args().map(Value::from).collect())).into()
}

pub(super) fn which(s: &mut State, a: &Args) -> Outcome {
    let Some(command) = a.str("command") else {
        return Ok(Value::from(s.command_names())).into();
    };
    if s.flavor == Flavor::V4 {
        if let Some(module) = command.strip_suffix(':') {
            let names: Vec<Value> = BUILTINS
                .iter()
                .filter(|b| b.canonical.split_once(':').map(|(m, _)| m) == Some(module))
                .map(|b| Value::from(b.canonical))
                .collect();
            if names.is_empty() {
                return err(404, "unknown MI command");
            }
            return Ok(Value::Array(names.into())).into();
        }
    }
    match resolve(s, &command) {
        Resolved::Builtin(b) => {
            let recipes = b
                .recipes
                .iter()
                .map(|r| Value::Array(r.iter().map(|(n, _)| Value::from(*n)).collect()))
                .collect();
            Ok(Value::Array(recipes)).into()
        }
        Resolved::Custom(_) => {
            Ok(Value::Array(vec![Value::Array(crate::Array::new())].into())).into()
        }
        Resolved::NotFound | Resolved::Ambiguous(_) => err(404, "unknown MI command"),
    }
}

pub(super) const PROCESSES: &[&str] = &[
    "attendant",
    "HTTPD 127.0.0.1:8888",
    "MI Datagram",
    "MI FIFO",
    "time_keeper",
    "timer",
    "SIP receiver udp:127.0.0.1:5060",
    "SIP receiver udp:127.0.0.1:5060",
    "Timer handler",
];

/// `{"Processes": [...]}`, one object per process from `fields(pid, index, type)`.
fn processes(fields: impl Fn(i64, usize, &str) -> Vec<(String, Value)>) -> Outcome {
    let base = i64::from(std::process::id());
    let procs = PROCESSES
        .iter()
        .enumerate()
        .map(|(i, t)| Value::Object(fields(base + i as i64, i, t).into()))
        .collect();
    Ok(Value::Object(
        vec![("Processes".into(), Value::Array(procs))].into(),
    ))
    .into()
}

pub(super) fn ps(_: &mut State, _: &Args) -> Outcome {
    processes(|pid, i, t| {
        vec![
            ("ID".into(), Value::Int(i as i64)),
            ("PID".into(), Value::Int(pid)),
            ("Type".into(), Value::from(t)),
        ]
    })
}

pub(super) fn log_level(s: &mut State, a: &Args) -> Outcome {
    let base = i64::from(std::process::id());
    match (a.int("level"), a.int("pid")) {
        (None, _) => {
            let level = s.log_level;
            processes(|pid, _, t| {
                vec![
                    ("PID".into(), Value::Int(pid)),
                    ("Log level".into(), Value::Int(level)),
                    ("Type".into(), Value::from(t)),
                ]
            })
        }
        (Some(level), None) => {
            s.log_level = level;
            Ok(Value::Object(
                vec![("New global log level".into(), Value::Int(level))].into(),
            ))
            .into()
        }
        (Some(level), Some(pid)) => {
            if !(base..base + PROCESSES.len() as i64).contains(&pid) {
                return Outcome::Done(Err(invalid_params("Bad PID")));
            }
            Ok(Value::Object(
                vec![("Log level".into(), Value::Int(level))].into(),
            ))
            .into()
        }
    }
}

pub(super) fn help(s: &mut State, a: &Args) -> Outcome {
    let cmd = a.str("mi_cmd").unwrap_or_default();
    match resolve(s, &cmd) {
        Resolved::Builtin(b) => {
            let module = b
                .canonical
                .split_once(':')
                .map(|(m, _)| m)
                .unwrap_or("core");
            let module = match module {
                "statistics" | "cache" => "core",
                m => m,
            };
            Ok(Value::Object(
                vec![
                    ("Help".into(), Value::from("not available for this command")),
                    ("Exported by".into(), Value::from(module)),
                ]
                .into(),
            ))
            .into()
        }
        _ => err(404, "MI command not found"),
    }
}

pub(super) fn cache_store(s: &mut State, a: &Args) -> Outcome {
    if a.str("system").as_deref() != Some("local") {
        return err(500, "Cache store command failed");
    }
    let expire = a.int("expire").filter(|e| *e > 0).map(|e| now() + e as u64);
    s.cache.insert(
        a.str("attr").unwrap_or_default(),
        (a.str("value").unwrap_or_default(), expire),
    );
    ok()
}

pub(super) fn cache_fetch(s: &mut State, a: &Args) -> Outcome {
    if a.str("system").as_deref() != Some("local") {
        return err(500, "Cache fetch command failed");
    }
    let key = a.str("attr").unwrap_or_default();
    match s.cache.get(&key) {
        Some((v, exp)) if exp.is_none_or(|e| e > now()) => Ok(Value::Object(
            vec![
                ("key".into(), Value::from(key)),
                ("value".into(), Value::from(v)),
            ]
            .into(),
        ))
        .into(),
        _ => err(400, "Value not found"),
    }
}

pub(super) fn cache_remove(s: &mut State, a: &Args) -> Outcome {
    if a.str("system").as_deref() != Some("local") {
        return err(500, "Cache remove command failed");
    }
    s.cache.remove(&a.str("attr").unwrap_or_default());
    ok()
}

/// `{"<key>":[]}`.
pub(super) fn empty_list(key: &str) -> Outcome {
    Ok(Value::Object(
        vec![(key.to_owned(), Value::Array(Vec::new().into()))].into(),
    ))
    .into()
}

pub(super) fn list_tcp_conns(_: &mut State, _: &Args) -> Outcome {
    empty_list("Connections")
}

pub(super) fn sr_get_status(_: &mut State, _: &Args) -> Outcome {
    err(404, "Group not found")
}

/// 4.0.1's events, in `evi:list` order (the ids are the positions).
pub(super) const EVENTS: &[&str] = &[
    "E_CORE_SR_STATUS_CHANGED",
    "E_CORE_THRESHOLD",
    "E_CORE_SHM_THRESHOLD",
    "E_CORE_PKG_THRESHOLD",
    "E_CORE_PROC_AUTO_SCALE",
    "E_CORE_TCP_DISCONNECT",
    "E_PROFILING_SCRIPT",
    "E_PROFILING_PROC",
    "E_UL_AOR_INSERT",
    "E_UL_AOR_DELETE",
    "E_UL_CONTACT_INSERT",
    "E_UL_CONTACT_UPDATE",
    "E_UL_CONTACT_DELETE",
    "E_UL_CONTACT_REFRESH",
    "E_UL_LATENCY_UPDATE",
    "E_DLG_STATE_CHANGED",
    "E_CORE_LOG",
];

pub(super) fn events_list(_: &mut State, _: &Args) -> Outcome {
    let events = EVENTS
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Value::Object(
                vec![
                    ("name".into(), Value::from(*n)),
                    ("id".into(), Value::Int(i as i64)),
                ]
                .into(),
            )
        })
        .collect();
    Ok(Value::Object(
        vec![("Events".into(), Value::Array(events))].into(),
    ))
    .into()
}

pub(super) fn event_id(name: &str) -> Option<i64> {
    EVENTS.iter().position(|e| *e == name).map(|i| i as i64)
}

pub(super) fn event_subscribe(s: &mut State, a: &Args) -> Outcome {
    let event = a.str("event").unwrap_or_default();
    let socket = a.str("socket").unwrap_or_default();
    let expire = a.int("expire").unwrap_or(3600).max(0) as u64;
    let legacy = s.flavor.is_legacy();
    if event_id(&event).is_none() || !s.evi.subscribe(&event, &socket, expire, legacy) {
        return err(400, "Bad parameter value");
    }
    ok()
}

pub(super) fn subscribers_list(s: &mut State, a: &Args) -> Outcome {
    let subs = s.evi.list();
    let entry = |name: &str, id: i64| {
        let list = subs
            .iter()
            .filter(|x| x.event == name && a.str("socket").is_none_or(|want| want == x.socket))
            .map(|x| {
                Value::Object(
                    vec![
                        ("socket".into(), Value::from(x.socket.as_str())),
                        ("expire".into(), Value::Int(x.expire as i64)),
                        ("ttl".into(), Value::Int(x.ttl.as_secs_f64().ceil() as i64)),
                    ]
                    .into(),
                )
            })
            .collect::<Vec<_>>();
        (!list.is_empty()).then(|| {
            Value::Object(
                vec![
                    ("name".into(), Value::from(name)),
                    ("id".into(), Value::Int(id)),
                    ("Subscribers".into(), Value::Array(list.into())),
                ]
                .into(),
            )
        })
    };
    if let Some(event) = a.str("event") {
        let Some(id) = event_id(&event) else {
            return err(400, "Unknown event");
        };
        let e = entry(&event, id).unwrap_or_else(|| {
            Value::Object(
                vec![
                    ("name".into(), Value::from(event.as_str())),
                    ("id".into(), Value::Int(id)),
                ]
                .into(),
            )
        });
        return Ok(Value::Object(vec![("Event".into(), e)].into())).into();
    }
    let events = EVENTS
        .iter()
        .enumerate()
        .filter_map(|(i, n)| entry(n, i as i64))
        .collect();
    Ok(Value::Object(
        vec![("Events".into(), Value::Array(events))].into(),
    ))
    .into()
}

pub(super) fn list_blacklists(_: &mut State, _: &Args) -> Outcome {
    empty_list("Lists")
}

pub(super) fn no_clustering(_: &mut State, _: &Args) -> Outcome {
    err(400, "Clustering not enabled")
}
