//! `opensips-mi diagnose`: the first thing to run when something is off.

use std::path::Path;
use std::time::Duration;

use opensips_mi::server::Generation;
use opensips_mi::{Connection, Error, MiCommands, OptionsBuilder, Protocol, Value};

/// What one endpoint looks like: a JSON object, and the exit code it calls for.
/// `name`: the node's name for the report (never the URL's password); `timeout`: the
/// command line's `-t`, which replaces the URL's `?timeout=`.
pub(crate) fn diagnose(
    name: &str,
    url: &str,
    options: &OptionsBuilder,
    timeout: Option<Duration>,
) -> (Value, u8) {
    let mut report: Vec<(String, Value)> = vec![("node".into(), Value::from(name))];
    let mut warnings: Vec<String> = Vec::new();
    let mut conn = match Connection::open_with(url, options.clone()) {
        Ok(mut c) => {
            if let Some(t) = timeout {
                c.set_timeout(t);
            }
            c
        }
        Err(e) => {
            report.push(("reachable".into(), Value::Bool(false)));
            report.push(("error".into(), error_value(&e)));
            return (Value::Object(report.into()), 2);
        }
    };
    // which generation, found the safe way (the probe of ?protocol=auto) whatever was asked
    let facts = conn.server();
    if let Ok(f) = &facts {
        let speaks = if f.generation.is_legacy() {
            Protocol::Legacy
        } else {
            Protocol::JsonRpc
        };
        if matches!(conn.protocol(), Ok(p) if p != speaks) || conn.protocol().is_err() {
            warnings.push(format!(
                "the server is OpenSIPS {}: the protocol asked for does not fit, use \
                 ?protocol={} or leave it out (detected by default)",
                f.generation,
                if f.generation.is_legacy() {
                    "legacy"
                } else {
                    "jsonrpc"
                }
            ));
            if let Ok(mut c) = Connection::open_with(url, options.clone().protocol(Protocol::Auto))
            {
                if let Some(t) = timeout {
                    c.set_timeout(t);
                }
                conn = c;
            }
        }
    }
    // reachable at all
    let version = match facts {
        Ok(_) => conn.version(),
        Err(e) => Err(e),
    };
    let version = match version {
        Ok(v) => v,
        Err(e) => {
            report.push(("reachable".into(), Value::Bool(false)));
            report.push(("error".into(), error_value(&e)));
            if let Some(w) = why_unreachable(&conn, &e) {
                warnings.push(w);
            }
            report.push(("warnings".into(), strings(warnings)));
            let code = if matches!(e, Error::Command(_) | Error::Rpc(_)) {
                1
            } else {
                3
            };
            return (Value::Object(report.into()), code);
        }
    };
    report.push(("reachable".into(), Value::Bool(true)));
    let generation = conn.server().map(|f| f.generation);
    let label = match generation {
        Ok(Generation::V1) => "1.x (legacy text MI)",
        Ok(Generation::V2) => "2.x (legacy text MI)",
        Ok(Generation::V3) => "3.x (JSON-RPC)",
        Ok(_) => "4.x (JSON-RPC)",
        Err(_) => "unknown",
    };
    report.push(("generation".into(), Value::from(label)));
    report.push(("version".into(), Value::from(version.server.as_str())));
    if let Ok(up) = conn.uptime() {
        report.push(("uptime_seconds".into(), Value::from(up.up_time.as_secs())));
    }
    if let Ok(ps) = conn.ps() {
        report.push(("processes".into(), Value::from(ps.len() as u64)));
    }
    // load, memory, calls and registrations from the statistics there are
    if let Ok(stats) = conn.get_statistics(&["load:", "shmem:", "pkmem:", "dialog:", "usrloc:"]) {
        let pick = |names: &[&str]| {
            Value::Object(
                names
                    .iter()
                    .filter_map(|n| stats.get(n).map(|v| ((*n).to_owned(), Value::Int(v))))
                    .collect(),
            )
        };
        report.push((
            "load".into(),
            pick(&["load:load", "load:load1m", "load:load10m"]),
        ));
        report.push((
            "memory".into(),
            pick(&[
                "shmem:total_size",
                "shmem:used_size",
                "shmem:real_used_size",
                "shmem:free_size",
                "shmem:max_used_size",
            ]),
        ));
        if let (Some(used), Some(total)) = (
            stats.get("shmem:real_used_size"),
            stats.get("shmem:total_size"),
        ) {
            if total > 0 && used * 10 > total * 9 {
                warnings.push(format!(
                    "shared memory is {}% used: raise -m",
                    used * 100 / total
                ));
            }
        }
        let pkg: Vec<(String, Value)> = stats
            .iter()
            .filter(|(k, _)| k.starts_with("pkmem:") && k.ends_with("used_size"))
            .map(|(k, v)| (k.to_owned(), Value::Int(v)))
            .collect();
        if !pkg.is_empty() {
            report.push(("pkg_memory".into(), Value::Object(pkg.into())));
        }
        if let Some(d) = stats.get("dialog:active_dialogs") {
            report.push(("dialogs".into(), Value::Int(d)));
        }
        if let Some(r) = stats.get("usrloc:registered_users") {
            report.push(("registrations".into(), Value::Int(r)));
        }
    }
    let legacy = generation.as_ref().is_ok_and(|g| g.is_legacy());
    transport_warnings(&conn, options, legacy, &report, &mut warnings);
    report.push(("warnings".into(), strings(warnings)));
    (Value::Object(report.into()), 0)
}

fn strings(list: Vec<String>) -> Value {
    Value::Array(list.into_iter().map(Value::from).collect())
}

fn error_value(e: &Error) -> Value {
    Value::Object(
        vec![
            ("kind".into(), Value::from(e.kind().as_str())),
            ("message".into(), Value::from(e.to_string())),
        ]
        .into(),
    )
}

/// A likely reason behind an endpoint that does not answer, beyond the error's own text.
fn why_unreachable(conn: &Connection, e: &Error) -> Option<String> {
    match (conn, e) {
        (Connection::Fifo(f), Error::Timeout { .. }) => Some(format!(
            "the FIFO took the request but no reply came (of either generation): is {} \
             mi_fifo's reply_dir, writable by the OpenSIPS user?",
            f.reply_dir().display()
        )),
        (Connection::Fifo(f), Error::PermissionDenied { .. }) => Some(protected_fifos(f.path())),
        (_, Error::Http { status: 401, .. }) => Some(
            "httpd wants credentials (4.0 auth_username/auth_password): give user:password@ in \
             the URL"
                .into(),
        ),
        _ => None,
    }
}

/// What `fs.protected_fifos` says about a FIFO in a sticky directory.
fn protected_fifos(path: &Path) -> String {
    let setting = std::fs::read_to_string("/proc/sys/fs/protected_fifos")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!(
        "fs.protected_fifos is {setting}: in a sticky directory (like /tmp) it refuses opening \
         another user's FIFO with O_CREAT; the FIFO's mode and owner must also let this user \
         write ({})",
        path.display()
    )
}

fn transport_warnings(
    conn: &Connection,
    options: &OptionsBuilder,
    legacy: bool,
    report: &[(String, Value)],
    warnings: &mut Vec<String>,
) {
    match conn {
        Connection::Fifo(f) => {
            use std::os::unix::fs::MetadataExt;
            let dir = f.reply_dir();
            match std::fs::metadata(dir) {
                Ok(m) if m.mode() & 0o002 == 0 && m.uid() != nix::unistd::geteuid().as_raw() => {
                    warnings.push(format!(
                        "reply_dir {} is not writable by everyone: the OpenSIPS user must be able \
                         to open reply FIFOs there",
                        dir.display()
                    ));
                }
                Err(e) => warnings.push(format!("reply_dir {}: {e}", dir.display())),
                _ => {}
            }
            if let Ok(m) = std::fs::metadata(f.path()) {
                if m.uid() != nix::unistd::geteuid().as_raw() {
                    if let Ok(d) = std::fs::metadata(f.path().parent().unwrap_or(Path::new("/"))) {
                        if d.mode() & 0o1000 != 0 {
                            warnings.push(protected_fifos(f.path()));
                        }
                    }
                }
            }
        }
        Connection::Udp(_) | Connection::UnixDatagram(_) => {
            let regs = report
                .iter()
                .find(|(k, _)| k == "registrations")
                .and_then(|(_, v)| v.as_i64())
                .unwrap_or(0);
            // only where it may matter: a ul_dump of a few hundred contacts
            if regs >= 100 {
                let what = if legacy {
                    // 1.x/2.x log "failed to write - line too long" and send nothing
                    "is not sent at all (the call times out)"
                } else {
                    "fails with `500 Internal error`"
                };
                warnings.push(format!(
                    "a datagram reply holds at most {} bytes (mi_datagram's buffer): a ul_dump \
                     that does not fit ({regs} registrations now) {what}; use the FIFO for big \
                     replies",
                    options.clone().build().datagram_buffer()
                ));
            }
        }
        _ => {}
    }
}

/// Pretty lines for a terminal.
pub(crate) fn pretty(report: &Value) -> String {
    let mut out = String::new();
    for (k, v) in report.as_object().unwrap_or_default() {
        match v {
            Value::Array(items) => {
                for item in items {
                    out.push_str(&format!("{k}: {}\n", item.as_str().unwrap_or_default()));
                }
            }
            Value::String(s) => out.push_str(&format!("{k}: {s}\n")),
            other => out.push_str(&format!("{k}: {other}\n")),
        }
    }
    out
}
