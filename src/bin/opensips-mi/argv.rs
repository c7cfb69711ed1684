//! The command line before clap sees it, and MI arguments after.

use std::ffi::OsString;

use opensips_mi::{Params, Value};

use crate::Failure;

/// Global options that take a value, short and long.
const WITH_VALUE: &[(&str, &str)] = &[
    ("-u", "--url"),
    ("-t", "--timeout"),
    ("-o", "--output"),
    ("", "--protocol"),
    ("", "--fleet"),
];

/// The subcommands of the tool itself; any other word is an MI command.
const BUILT_IN: &[&str] = &[
    "mwi-update",
    "event-notify",
    "list",
    "events",
    "mock",
    "completions",
    "complete-commands",
    "diagnose",
    "help",
];

/// `Some(n)`: `arg` is a global option taking `n` words (itself and maybe its value).
fn global_option(arg: &str) -> Option<usize> {
    WITH_VALUE.iter().find_map(|(short, long)| {
        if arg == *long || (!short.is_empty() && arg == *short) {
            Some(2)
        } else if arg.starts_with(&format!("{long}="))
            || (!short.is_empty() && arg.len() > 2 && arg.starts_with(short))
        {
            Some(1)
        } else {
            None
        }
    })
}

fn text(a: &OsString) -> String {
    a.to_str().unwrap_or("").to_owned()
}

/// The index of the command word: the first word that is neither an option nor a value
/// (`None` when there is none, or a `--` comes first).
fn command_index(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = text(&args[i]);
        if a == "--" {
            return None;
        }
        match global_option(&a) {
            Some(n) => i += n,
            None if a.starts_with('-') => i += 1,
            None => return Some(i),
        }
    }
    None
}

/// `help WORD` where WORD is not one of the tool's subcommands: OpenSIPS' own `help` MI
/// command about WORD (`opensips-mi help ul_show_contact`). `help`, `help list` and the
/// like stay the tool's help.
fn is_mi_help(args: &[OsString], i: usize) -> bool {
    if text(&args[i]) != "help" {
        return false;
    }
    // the next word, past global options (`help -u URL ul_show_contact`)
    let mut j = i + 1;
    while let Some(w) = args.get(j).map(text) {
        match global_option(&w) {
            Some(n) => j += n,
            None => {
                return !w.is_empty() && !w.starts_with('-') && !BUILT_IN.contains(&w.as_str());
            }
        }
    }
    false
}

/// `opensips-mi [OPTIONS] COMMAND … -h|--help` for an MI command: the command, when a
/// `-h`/`--help` follows it before any `--` (it is then the tool's help, not an argument
/// for OpenSIPS; `COMMAND -- --help` still sends it).
pub(crate) fn mi_command_help(args: &[OsString]) -> Option<String> {
    let i = command_index(args)?;
    let command = text(&args[i]);
    // `help WORD --help` is about the MI command `help`, as `help WORD` is
    if BUILT_IN.contains(&command.as_str()) && !is_mi_help(args, i) {
        return None;
    }
    args[i + 1..]
        .iter()
        .map(text)
        .take_while(|a| a != "--")
        .any(|a| a == "-h" || a == "--help")
        .then_some(command)
}

/// Moves the global options given after an MI command (`opensips-mi uptime -u udp://…`)
/// before it, as git does, so that they are not sent to OpenSIPS as arguments. A `--`
/// ends the options: what follows is passed on as it is (`log_level -- -1`); the `--`
/// itself is dropped. Built-in subcommands are left to clap, which knows their options;
/// `help WORD` for a WORD that is not one of them becomes the MI command `help WORD`.
pub(crate) fn hoist_global_options(args: Vec<OsString>) -> Vec<OsString> {
    let Some(i) = command_index(&args) else {
        return args;
    };
    let mi_help = is_mi_help(&args, i);
    if !mi_help && BUILT_IN.contains(&text(&args[i]).as_str()) {
        return args;
    }
    let mut before: Vec<OsString> = args[..i].to_vec();
    let mut after: Vec<OsString> = vec![args[i].clone()];
    let mut j = i + 1;
    while j < args.len() {
        let a = text(&args[j]);
        if a == "--" {
            after.extend_from_slice(&args[j + 1..]);
            break;
        }
        match global_option(&a) {
            Some(n) => {
                before.extend_from_slice(&args[j..(j + n).min(args.len())]);
                j += n;
            }
            None => {
                after.push(args[j].clone());
                j += 1;
            }
        }
    }
    if mi_help {
        // past clap's own `help`: everything from here on is the MI command
        before.push("--".into());
    }
    before.extend(after);
    before
}

/// Parses `value`, `name=value`, `name:=JSON` and `:=JSON` into parameters.
pub(crate) fn parse_args(args: &[String]) -> Result<Params, Failure> {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for a in args {
        let json = |text: &str| {
            Value::from_json(text.as_bytes())
                .map_err(|_| Failure::usage(format!("argument {a:?}: not valid JSON after ':='")))
        };
        if let Some(text) = a.strip_prefix(":=") {
            positional.push(json(text)?);
        } else if let Some((name, text)) = a.split_once(":=").filter(|(n, _)| is_name(n)) {
            named.push((name.to_owned(), json(text)?));
        } else if let Some((name, value)) = a.split_once('=').filter(|(n, _)| is_name(n)) {
            named.push((name.to_owned(), Value::from(value)));
        } else {
            positional.push(Value::from(a.as_str()));
        }
    }
    match (positional.is_empty(), named.is_empty()) {
        (true, true) => Ok(Params::None),
        (false, true) => Ok(Params::Positional(positional)),
        (true, false) => Ok(Params::Named(named)),
        (false, false) => Err(Failure::usage(
            "positional and named arguments cannot be mixed (OpenSIPS takes one kind per call)",
        )),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every string in the parameters, arrays flattened: the statistics selectors of
/// `get_statistics dialog: core:rcv_requests` or `statistics:='["dialog:"]'`.
pub(crate) fn selectors(params: &Params) -> Vec<String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            Value::String(s) => out.extend(s.split_whitespace().map(str::to_owned)),
            other => out.push(other.to_string()),
        }
    }
    let mut out = Vec::new();
    match params {
        Params::Positional(v) => v.iter().for_each(|x| collect(x, &mut out)),
        Params::Named(v) => v.iter().for_each(|(_, x)| collect(x, &mut out)),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoist(words: &[&str]) -> Vec<String> {
        hoist_global_options(words.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn global_options_after_the_command_move_before_it() {
        assert_eq!(
            hoist(&["mi", "uptime", "-u", "udp://h:1"]),
            ["mi", "-u", "udp://h:1", "uptime"]
        );
        assert_eq!(
            hoist(&["mi", "ul_dump", "-o", "pretty", "--timeout=2"]),
            ["mi", "-o", "pretty", "--timeout=2", "ul_dump"]
        );
        assert_eq!(
            hoist(&["mi", "-t", "1", "log_level", "--", "-1"]),
            ["mi", "-t", "1", "log_level", "-1"]
        );
        assert_eq!(hoist(&["mi", "log_level", "-1"]), ["mi", "log_level", "-1"]);
        assert_eq!(
            hoist(&["mi", "list", "-u", "x"]),
            ["mi", "list", "-u", "x"],
            "built-ins are clap's"
        );
        assert_eq!(
            hoist(&["mi", "-ufifo:///f", "uptime"]),
            ["mi", "-ufifo:///f", "uptime"]
        );
    }

    #[test]
    fn help_about_an_mi_command_is_opensips_help() {
        assert_eq!(
            hoist(&["mi", "help", "ul_show_contact", "-u", "udp://h:1"]),
            ["mi", "-u", "udp://h:1", "--", "help", "ul_show_contact"]
        );
        assert_eq!(
            hoist(&["mi", "-o", "json", "help", "uptime"]),
            ["mi", "-o", "json", "--", "help", "uptime"]
        );
        assert_eq!(
            hoist(&["mi", "help", "-u", "udp://h:1", "ul_show_contact"]),
            ["mi", "-u", "udp://h:1", "--", "help", "ul_show_contact"]
        );
        // the tool's own help stays clap's
        assert_eq!(hoist(&["mi", "help"]), ["mi", "help"]);
        assert_eq!(hoist(&["mi", "help", "list"]), ["mi", "help", "list"]);
        assert_eq!(hoist(&["mi", "help", "--help"]), ["mi", "help", "--help"]);
    }

    #[test]
    fn help_after_an_mi_command() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        let help = |w: &[&str]| mi_command_help(&words(w));
        assert_eq!(help(&["mi", "uptime", "--help"]).as_deref(), Some("uptime"));
        assert_eq!(
            help(&["mi", "-u", "udp://h:1", "ul_show_contact", "location", "-h"]).as_deref(),
            Some("ul_show_contact")
        );
        assert_eq!(
            help(&["mi", "uptime", "--", "--help"]),
            None,
            "`--` sends it"
        );
        assert_eq!(help(&["mi", "uptime"]), None);
        assert_eq!(help(&["mi", "list", "--help"]), None, "clap's");
        assert_eq!(help(&["mi", "--help"]), None);
        assert_eq!(
            help(&["mi", "help", "uptime", "--help"]).as_deref(),
            Some("help")
        );
        assert_eq!(help(&["mi", "help", "--help"]), None);
    }
}
