//! Any MI command, on one server or a fleet.

use std::time::Duration;

use opensips_mi::helpers::{
    MetricNaming, NodeScrape, StatKinds, Statistics, exposition, normalize_reply,
};
use opensips_mi::{
    Cmd, Connection, Error, Fleet, MiCommands, Params, Protocol, ServerError, Value,
};

use crate::Failure;
use crate::argv::selectors;
use crate::output::{Output, print_line, print_raw, print_text, print_value};

/// What a command gives: a value to print, or the server's bytes (`--output raw`).
pub(crate) enum Printed {
    Value(Value),
    Raw(Vec<u8>),
    /// `--output prometheus`: statistics and their kinds.
    Stats(Statistics, StatKinds),
}

fn is_get_statistics(method: &str) -> bool {
    matches!(method, "get_statistics" | "statistics:get")
}

/// Refuses what cannot be sent, before anything is.
pub(crate) fn check_args(method: &str, params: &Params, output: Output) -> Result<(), Failure> {
    if output == Output::Prometheus && !is_get_statistics(method) {
        return Err(Failure::usage(
            "--output prometheus is for get_statistics (e.g. opensips-mi --output prometheus \
             get_statistics all)",
        ));
    }
    if matches!(method, "cache_fetch" | "cache:fetch") && selectors(params).len() != 2 {
        return Err(Failure::usage("cache_fetch takes SYSTEM KEY"));
    }
    Ok(())
}

/// Runs the command. The commands with a typed helper give the 3.x/4.x shape whatever the
/// generation (`--output raw` keeps the server's bytes).
pub(crate) fn result(
    conn: &Connection,
    method: &str,
    params: &Params,
    timeout: Option<f64>,
    output: Output,
) -> Result<Printed, Error> {
    let typed = output != Output::Raw;
    if typed && is_get_statistics(method) {
        let mut names = selectors(params);
        if names.is_empty() {
            names.push("all".into());
        }
        let stats = conn.get_statistics(&names)?;
        if output == Output::Prometheus {
            // 1.x has no list_statistics: the documented fallback rule then
            // (helpers::fallback_kind)
            return Ok(Printed::Stats(
                stats,
                conn.list_statistics().unwrap_or_default(),
            ));
        }
        let v = stats.into_iter().map(|(k, v)| (k, Value::Int(v))).collect();
        return Ok(Printed::Value(Value::Object(v)));
    }
    if typed && matches!(method, "cache_fetch" | "cache:fetch") {
        let words = selectors(params);
        let (system, key) = (&words[0], &words[1]);
        // one behaviour on every generation: a missing key is 3.x's error
        return match conn.cache_fetch(system, key)? {
            Some(value) => Ok(Printed::Value(Value::Object(
                vec![
                    ("key".into(), Value::from(key.as_str())),
                    ("value".into(), Value::from(value)),
                ]
                .into(),
            ))),
            None => Err(Error::Command(ServerError::new(400, "Value not found"))),
        };
    }
    let mut cmd = Cmd::with_params(method, params.clone());
    if let Some(t) = timeout {
        cmd = cmd.timeout(Duration::from_secs_f64(t));
    }
    if output == Output::Raw {
        let resp = cmd.keep_raw().execute(conn)?;
        return Ok(Printed::Raw(resp.raw().unwrap_or_default().to_vec()));
    }
    let resp = cmd.execute(conn)?;
    Ok(Printed::Value(if conn.protocol()? == Protocol::Legacy {
        let local = method.rsplit(':').next().unwrap_or(method);
        let mut v = normalize_reply(local, resp.into_value());
        // 1.x prints no AOR node: the AOR asked for is the one shown
        if local == "ul_show_contact" && v["AOR"].as_str() == Some("") {
            if let (Some(aor), Value::Object(members)) = (selectors(params).get(1), &mut v) {
                for (k, val) in members.iter_mut() {
                    if k == "AOR" {
                        *val = Value::from(aor.as_str());
                    }
                }
            }
        }
        v
    } else {
        resp.into_value()
    }))
}

/// One server's result on stdout, or its error (explained) for stderr.
pub(crate) fn print_one(
    conn: &Connection,
    method: &str,
    printed: Result<Printed, Error>,
    output: Output,
) -> Result<(), Failure> {
    let printed = printed.map_err(|e| explain(conn, method, e));
    if output == Output::Prometheus {
        // always a complete exposition, `opensips_up 0` for a server that did not answer, and
        // exit 0: a cron job's `> tmp && mv tmp file` then always refreshes the file
        return match printed {
            Ok(Printed::Stats(stats, kinds)) => print_text(&exposition(
                &MetricNaming::default(),
                [NodeScrape::up(None, &stats, &kinds)],
            )),
            Err(f) if f.code == 2 => Err(f),
            Err(f) => {
                eprintln!("opensips-mi: {}", f.message);
                print_text(&exposition(
                    &MetricNaming::default(),
                    [NodeScrape::down(None)],
                ))
            }
            Ok(_) => Ok(()),
        };
    }
    match printed? {
        Printed::Raw(bytes) => print_raw(&bytes),
        Printed::Value(v) => print_value(&v, output == Output::Pretty),
        Printed::Stats(..) => Ok(()),
    }
}

/// Every node of a fleet at once: one JSON line per node, `{"node":NAME,"result":…}` or
/// `{"node":NAME,"error":{"kind":…,"message":…}}` (`pretty`: grouped by node; NAME: the
/// fleet file's name or the URL without its password). Exit 0 if all succeeded, 1 if a
/// node answered with an error, 3 if one could not be reached (3 wins; 2 for a node whose
/// URL is unusable). `--output prometheus`: one exposition, `opensips_up{node} 0` for the
/// nodes that did not answer, exit 0.
pub(crate) fn run_fleet(
    fleet: &Fleet,
    method: &str,
    params: &Params,
    timeout: Option<f64>,
    output: Output,
) -> Result<(), Failure> {
    let answers = fleet.run(|conn| {
        Ok(result(conn, method, params, timeout, output)
            .map_err(|e| (e.kind(), explain(conn, method, e))))
    });
    let mut code = 0;
    // Prometheus: one exposition for all nodes (a family per statistic, a `node` label)
    let mut scraped: Vec<(String, Option<(Statistics, StatKinds)>)> = Vec::new();
    for opensips_mi::NodeResult {
        node,
        result: answer,
        ..
    } in answers
    {
        let answer = answer
            .map_err(|e| (e.kind(), Failure::from(e)))
            .and_then(|a| a);
        if output == Output::Prometheus {
            match answer {
                Ok(Printed::Stats(stats, kinds)) => scraped.push((node, Some((stats, kinds)))),
                Ok(_) => {}
                Err((_, f)) => {
                    eprintln!("opensips-mi: {node}: {}", f.message);
                    scraped.push((node, None));
                }
            }
            continue;
        }
        let entry = match answer {
            Ok(Printed::Stats(..)) => continue,
            Ok(Printed::Value(v)) => ("result", v),
            Ok(Printed::Raw(bytes)) => (
                "result",
                Value::from(String::from_utf8_lossy(&bytes).into_owned()),
            ),
            Err((kind, f)) => {
                code = code.max(f.code);
                (
                    "error",
                    Value::Object(
                        vec![
                            ("kind".into(), Value::from(kind.as_str())),
                            ("message".into(), Value::from(f.message)),
                        ]
                        .into(),
                    ),
                )
            }
        };
        if output == Output::Pretty {
            print_line(&format!("== {node}"))?;
            print_value(&Value::Object(vec![(entry.0.into(), entry.1)].into()), true)?;
        } else {
            print_value(
                &Value::Object(
                    vec![
                        ("node".into(), Value::from(node)),
                        (entry.0.into(), entry.1),
                    ]
                    .into(),
                ),
                false,
            )?;
        }
    }
    if output == Output::Prometheus {
        print_text(&exposition(
            &MetricNaming::default(),
            scraped.iter().map(|(n, r)| match r {
                Some((s, k)) => NodeScrape::up(Some(n.as_str()), s, k),
                None => NodeScrape::down(Some(n.as_str())),
            }),
        ))?;
    }
    match code {
        0 => Ok(()),
        c => Err(Failure {
            code: c,
            message: String::new(),
        }),
    }
}

/// Adds a did-you-mean to "no such command" (3.x/4.x `-32601`, 1.x/2.x `500 command …
/// not available`).
pub(crate) fn explain(conn: &Connection, method: &str, e: Error) -> Failure {
    // 3.x/4.x -32601, 1.x/2.x `500 command 'x' not available`, 1.x XML-RPC -506
    let unknown = e.is_unknown_command();
    let mut f = Failure::from(e);
    if unknown {
        if let Err(Error::UnknownCommand {
            suggestion: Some(s),
            ..
        }) = conn.verify(method)
        {
            f.message.push_str(&format!(" (did you mean `{s}`?)"));
        }
    }
    f
}
