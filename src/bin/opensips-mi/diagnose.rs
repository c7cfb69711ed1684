//! `opensips-mi diagnose`: the first thing to run when something is off.

use std::path::Path;
use std::time::Duration;

use opensips_mi::{Connection, Error, MiCommands, Options, Protocol, Value};

/// What one endpoint looks like: a JSON object, and the exit code it calls for.
/// `name`: the node's name for the report (never the URL's password); `timeout`: the
/// command line's `-t`, which replaces the URL's `?timeout=`.
pub(crate) fn diagnose(
    name: &str,
    url: &str,
    options: &Options,
    timeout: Option<Duration>,
) -> (Value, u8) {
    let mut report: Vec<(String, Value)> = vec![("node".into(), Value::from(name))];
    let mut warnings: Vec<String> = Vec::new();
    let conn = match Connection::open_with(url, options.clone()) {
        Ok(mut c) => {
            if let Some(t) = timeout {
                c.set_timeout(t);
            }
            c
        }
        Err(e) => {
            report.push(("reachable".into(), Value::Bool(false)));
            report.push(("error".into(), error_value(&e)));
            return (Value::Object(report), 2);
        }
    };
    // reachable at all, and which generation
    let version = conn.version();
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
            return (Value::Object(report), code);
        }
    };
    report.push(("reachable".into(), Value::Bool(true)));
    let generation = match conn.protocol() {
        Ok(Protocol::Legacy) => "1.x/2.x (legacy text MI)",
        _ => "3.x/4.x (JSON-RPC)",
    };
    report.push(("generation".into(), Value::from(generation)));
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
            .0
            .iter()
            .filter(|(k, _)| k.starts_with("pkmem:") && k.ends_with("used_size"))
            .map(|(k, v)| (k.clone(), Value::Int(*v)))
            .collect();
        if !pkg.is_empty() {
            report.push(("pkg_memory".into(), Value::Object(pkg)));
        }
        if let Some(d) = stats.get("dialog:active_dialogs") {
            report.push(("dialogs".into(), Value::Int(d)));
        }
        if let Some(r) = stats.get("usrloc:registered_users") {
            report.push(("registrations".into(), Value::Int(r)));
        }
    }
    transport_warnings(&conn, url, options, &report, &mut warnings);
    report.push(("warnings".into(), strings(warnings)));
    (Value::Object(report), 0)
}

fn strings(list: Vec<String>) -> Value {
    Value::Array(list.into_iter().map(Value::from).collect())
}

fn error_value(e: &Error) -> Value {
    Value::Object(vec![
        ("kind".into(), Value::from(e.kind())),
        ("message".into(), Value::from(e.to_string())),
    ])
}

/// A likely reason behind an endpoint that does not answer, beyond the error's own text.
fn why_unreachable(conn: &Connection, e: &Error) -> Option<String> {
    match (conn, e) {
        (Connection::Fifo(f), Error::Timeout { .. }) => Some(format!(
            "the FIFO took the request but no reply came: is {} mi_fifo's reply_dir, writable \
             by the OpenSIPS user? Is the server 1.x/2.x (try --protocol auto)?",
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
    url: &str,
    options: &Options,
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
            warnings.push(format!(
                "a datagram reply holds at most {} bytes (mi_datagram's buffer): a ul_dump of \
                 more than a few hundred contacts ({regs} registered now) fails with \
                 `500 Internal error`; use the FIFO for big replies",
                options.datagram_buffer
            ));
        }
        Connection::Http(_) | Connection::XmlRpc(_) => {
            // does the other module answer on the same httpd?
            let other = if matches!(conn, Connection::Http(_)) {
                other_url(url, "xmlrpc", "/RPC2")
            } else {
                other_url(url, "http", "/mi")
            };
            if let Some(other) = other {
                let answers = Connection::open_with(&other, options.clone())
                    .and_then(|c| c.command("version", ()))
                    .is_ok();
                warnings.push(format!(
                    "{other} {}",
                    if answers {
                        "answers too"
                    } else {
                        "does not answer"
                    }
                ));
            }
        }
        _ => {}
    }
}

/// The same host and port with the other HTTP module's scheme and root.
fn other_url(url: &str, scheme: &str, root: &str) -> Option<String> {
    let (s, rest) = url.split_once("://")?;
    let tls = s.ends_with('s');
    let authority = rest.split(['/', '?']).next()?;
    // the host and port only: never the credentials
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(format!(
        "{scheme}{}://{host}{root}",
        if tls { "s" } else { "" }
    ))
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
