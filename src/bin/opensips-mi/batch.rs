//! `mwi-update --batch FILE` and `event-notify --batch FILE`: many SIP requests from cron.
//!
//! The whole input is read and checked first (a bad line: its number, and nothing is
//! sent), then an exclusive `flock` on a lock file keeps a second run from sending the
//! same batch while the first is still at it, then the requests go out with bounded
//! concurrency over a pool of connections. One JSON line per item on stdout, in input
//! order; a summary on stderr.

use std::io::Read;
use std::path::{Path, PathBuf};

use opensips_mi::sip::{
    self, Batch, Counts, MessageSummary, NotifyEvent, Outcome, OutcomeKind, SipRequest,
};
use opensips_mi::{MiCommands, Options, Pool, Value};

use crate::Failure;
use crate::output::print_value;

/// What the lines of a batch are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Mwi,
    Notify,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Mwi => "mwi-update",
            Kind::Notify => "event-notify",
        }
    }
}

/// One request of the batch and where it came from.
pub(crate) struct Item {
    line: usize,
    phone: String,
    request: SipRequest,
}

/// The settings of a batch run.
pub(crate) struct Run<'a> {
    pub(crate) kind: Kind,
    pub(crate) input: &'a Path,
    pub(crate) url: &'a str,
    pub(crate) options: Options,
    pub(crate) concurrency: usize,
    pub(crate) lock: Option<PathBuf>,
    /// Applied to every request (`--from`, `--contact`, `-t`).
    pub(crate) adjust: &'a dyn Fn(SipRequest) -> SipRequest,
}

fn bad(line: usize, message: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("line {line}: {message}; nothing was sent"))
}

/// The default lock file: one per subcommand and user, in `$XDG_RUNTIME_DIR` (private to
/// the user), else in the user's private cache directory (never a shared `/tmp`, where
/// another user could take the name first).
pub(crate) fn default_lock(kind: Kind) -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .or_else(crate::complete::private_cache_dir)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!(
        "opensips-mi-{}-{}.lock",
        kind.name(),
        nix::unistd::getuid()
    ))
}

/// The fields of one line: CSV (`a,b,c`) or a JSON object with the same names.
fn fields(line: usize, text: &str, names: &[&str]) -> Result<Vec<Option<String>>, Failure> {
    if text.starts_with('{') {
        let v =
            Value::from_json(text.as_bytes()).map_err(|e| bad(line, format!("bad JSON: {e}")))?;
        let Value::Object(pairs) = &v else {
            return Err(bad(line, "expected a JSON object"));
        };
        for (k, _) in pairs {
            if !names.contains(&k) {
                return Err(bad(
                    line,
                    format!("unknown field {k:?} (fields: {})", names.join(", ")),
                ));
            }
        }
        return Ok(names
            .iter()
            .map(|n| match v.get(n) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.to_string()),
                Some(other) => Some(other.to_string()),
            })
            .collect());
    }
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() > names.len() {
        return Err(bad(
            line,
            format!(
                "{} fields, at most {} ({})",
                parts.len(),
                names.len(),
                names.join(",")
            ),
        ));
    }
    Ok((0..names.len())
        .map(|i| {
            parts
                .get(i)
                .map(|p| p.trim_matches('"').to_owned())
                .filter(|p| !p.is_empty())
        })
        .collect())
}

fn count(line: usize, name: &str, v: &Option<String>) -> Result<Option<u32>, Failure> {
    v.as_deref()
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| bad(line, format!("{name} {s:?} is not a count")))
        })
        .transpose()
}

const MWI_FIELDS: &[&str] = &["phone", "account", "new", "old", "urgent_new", "urgent_old"];
const NOTIFY_FIELDS: &[&str] = &["phone", "preset"];

/// Parses the whole batch: every line checked, the first bad one an error.
pub(crate) fn parse(kind: Kind, text: &str) -> Result<Vec<Item>, Failure> {
    let names = match kind {
        Kind::Mwi => MWI_FIELDS,
        Kind::Notify => NOTIFY_FIELDS,
    };
    let mut items = Vec::new();
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let f = fields(line, t, names)?;
        // an optional header line
        if first
            && !t.starts_with('{')
            && f[0]
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case("phone"))
        {
            first = false;
            continue;
        }
        first = false;
        let phone = f[0].clone().ok_or_else(|| bad(line, "no phone"))?;
        let scheme_ok = ["sip:", "sips:", "tel:"].iter().any(|s| {
            phone
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        });
        if !scheme_ok {
            return Err(bad(
                line,
                format!("phone {phone:?} is not a sip:, sips: or tel: URI"),
            ));
        }
        let request = match kind {
            Kind::Mwi => {
                let new = count(line, "new", &f[2])?.ok_or_else(|| bad(line, "no new count"))?;
                let old = count(line, "old", &f[3])?.unwrap_or(0);
                let counts = match (
                    count(line, "urgent_new", &f[4])?,
                    count(line, "urgent_old", &f[5])?,
                ) {
                    (Some(un), Some(uo)) => Counts::with_urgent(new, old, un, uo),
                    (None, None) => Counts::new(new, old),
                    _ => return Err(bad(line, "give both urgent_new and urgent_old, or neither")),
                };
                let mut summary = MessageSummary::voice_counts(counts);
                if let Some(a) = f[1].as_deref().filter(|a| *a != "-") {
                    summary = summary.account(a);
                }
                sip::mwi_update(&phone, &summary).map_err(|e| bad(line, e))?
            }
            Kind::Notify => {
                let name = f[1].clone().ok_or_else(|| bad(line, "no preset"))?;
                let preset = NotifyEvent::preset(&name).ok_or_else(|| {
                    bad(
                        line,
                        format!(
                            "unknown preset {name:?} (presets: {})",
                            NotifyEvent::preset_names().collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?;
                sip::event_notify(&phone, preset)
            }
        };
        request.header_block().map_err(|e| bad(line, e))?;
        items.push(Item {
            line,
            phone,
            request,
        });
    }
    Ok(items)
}

/// Reads, checks, locks, sends, reports. Exit 0 all delivered, 1 some refused, timed out
/// or failed at the server, 3 OpenSIPS unreachable.
pub(crate) fn run(r: Run<'_>) -> Result<(), Failure> {
    let text = if r.input == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::usage(format!("reading stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(r.input)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", r.input.display())))?
    };
    let items = parse(r.kind, &text)?;
    let requests: Vec<SipRequest> = items
        .iter()
        .map(|i| (r.adjust)(i.request.clone()))
        .collect();

    // one run at a time: the lock is held until this function returns
    let _lock = match &r.lock {
        Some(path) => Some(take_lock(path, r.kind)?),
        None => None,
    };

    let unreachable = |e: opensips_mi::Error| Failure {
        code: 3,
        message: format!("{e}; nothing was sent"),
    };
    let pool = Pool::open_with(r.url, r.concurrency, r.options.clone()).map_err(unreachable)?;
    // is anybody there? (an MI error reply is an answer)
    if let Err(e) = pool.uptime() {
        if e.server_error().is_none() {
            return Err(unreachable(e));
        }
    }
    let report = Batch::new()
        .concurrency(r.concurrency)
        .send(&pool, &requests)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let mut code = 0;
    for (item, outcome) in items.iter().zip(&report.outcomes) {
        if !outcome.is_delivered() {
            code = code.max(if outcome.server_unreachable() { 3 } else { 1 });
        }
        print_value(&line_of(item, outcome), false)?;
    }
    eprintln!(
        "opensips-mi: {} {}: {} delivered, {} refused, {} timed out, {} failed, {} not sent in {:.1} s (at most {} in flight)",
        report.outcomes.len(),
        r.kind.name(),
        report.count(OutcomeKind::Delivered),
        report.count(OutcomeKind::Refused),
        report.count(OutcomeKind::TimedOut),
        report.count(OutcomeKind::Failed),
        report.count(OutcomeKind::NotSent),
        report.elapsed.as_secs_f64(),
        report.max_in_flight,
    );
    match code {
        0 => Ok(()),
        c => Err(Failure {
            code: c,
            message: String::new(),
        }),
    }
}

fn line_of(item: &Item, outcome: &Outcome) -> Value {
    let mut o = vec![
        ("line".to_owned(), Value::Int(item.line as i64)),
        ("phone".to_owned(), Value::from(item.phone.as_str())),
        ("outcome".to_owned(), Value::from(outcome.kind().as_str())),
    ];
    if let Some(reply) = outcome.reply() {
        o.push(("status".into(), Value::Int(i64::from(reply.status))));
        o.push(("reason".into(), Value::from(reply.reason.as_str())));
    }
    if let Some(e) = outcome.error() {
        o.push((
            "error".into(),
            Value::Object(
                vec![
                    ("kind".into(), Value::from(e.kind().as_str())),
                    ("message".into(), Value::from(e.to_string())),
                ]
                .into(),
            ),
        ));
    }
    Value::Object(o.into())
}

/// An exclusive, non-blocking `flock` on `path`, released when the returned value is
/// dropped (or the process ends, however it ends).
fn take_lock(path: &Path, kind: Kind) -> Result<nix::fcntl::Flock<std::fs::File>, Failure> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC).bits())
        .open(path)
        .map_err(|e| {
            Failure::usage(format!("cannot open the lock file {}: {e}", path.display()))
        })?;
    // only our own regular file: a lock another user made (and could hold) is refused
    let ours = file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.uid() == nix::unistd::geteuid().as_raw());
    if !ours {
        return Err(Failure::usage(format!(
            "the lock file {} is not this user's: remove it, or give another with --lock",
            path.display()
        )));
    }
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        if e == nix::errno::Errno::EWOULDBLOCK {
            Failure {
                code: 1,
                message: format!(
                    "another {} batch is still running (lock {} held): nothing was sent",
                    kind.name(),
                    path.display()
                ),
            }
        } else {
            Failure::usage(format!("cannot lock {}: {e}", path.display()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_csv_json_comments_header() {
        let text = "# lamps\nphone,account,new,old\nsip:1001@10.0.0.1,sip:*97@vm,2,5\n\n\
                    {\"phone\":\"sip:1002@10.0.0.2\",\"account\":null,\"new\":0}\n\
                    sip:1003@10.0.0.3,-,1,0,1,0\n";
        let items = parse(Kind::Mwi, text).unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(items.iter().map(|i| i.line).collect::<Vec<_>>(), [3, 5, 6]);
        assert_eq!(items[1].phone, "sip:1002@10.0.0.2");
        for (text, line, what) in [
            ("sip:1@h,,x\n", 1, "not a count"),
            ("sip:1@h,,1\nsip:2@h,,1,2,3\n", 2, "urgent"),
            ("sip:1@h,,1\n1002,,1\n", 2, "not a sip"),
            ("{\"phone\":\"sip:1@h\",\"nwe\":1}\n", 1, "unknown field"),
            ("sip:1@h\n", 1, "no new count"),
            ("sip:1@h,,1,2,3,4,5\n", 1, "at most 6"),
            ("{\"phone\":\"sip:1@h\",\"new\":1\n", 1, "bad JSON"),
        ] {
            let f = parse(Kind::Mwi, text).err().unwrap();
            assert_eq!(f.code, 2);
            assert!(
                f.message.starts_with(&format!("line {line}: ")),
                "{}",
                f.message
            );
            assert!(f.message.contains(what), "{}", f.message);
        }
        let items = parse(Kind::Notify, "phone,preset\nsip:1@h,snom_reboot\n{\"phone\":\"sip:2@h\",\"preset\":\"polycom-check-cfg\"}\n").unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(items.len(), 2);
        let f = parse(Kind::Notify, "sip:1@h,reboot_please\n")
            .err()
            .unwrap();
        assert!(f.message.contains("unknown preset"));
    }
}
