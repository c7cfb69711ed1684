//! Printing: pretty, JSON or the server's raw bytes; never a duplicate key; a closed
//! pipe ends the run quietly.

use std::io::Write;

use clap::ValueEnum;
use opensips_mi::{Response, Value, sip};

use crate::Failure;

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub(crate) enum Output {
    Pretty,
    Json,
    Raw,
    /// The Prometheus text exposition format (get_statistics only).
    Prometheus,
}

/// A failed write: a closed pipe (`| head`) stops quietly, like other Unix tools.
fn write_failed(e: &std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::quiet()
    } else {
        Failure {
            code: 3,
            message: format!("writing the output: {e}"),
        }
    }
}

/// Writes `text` and a newline to stdout.
pub(crate) fn print_line(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| write_failed(&e))
}

/// Writes `text` as it is.
pub(crate) fn print_text(text: &str) -> Result<(), Failure> {
    print_raw(text.as_bytes())
}

pub(crate) fn print_value(v: &Value, pretty: bool) -> Result<(), Failure> {
    let v = merge_repeated(v.clone());
    print_line(&if pretty {
        v.to_json_pretty()
    } else {
        v.to_string()
    })
}

pub(crate) fn print_raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| write_failed(&e))
}

pub(crate) fn print_response(resp: &Response, output: Output) -> Result<(), Failure> {
    match output {
        Output::Raw => print_raw(resp.raw().unwrap_or_default()),
        Output::Json | Output::Prometheus => print_value(resp.value(), false),
        Output::Pretty => print_value(resp.value(), true),
    }
}

/// Objects with a repeated name (legacy replies: `"AOR":…,"AOR":…`) get one member per
/// name holding an array, in the order of first appearance: JSON tools keep only the last
/// of duplicate keys.
pub(crate) fn merge_repeated(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(merge_repeated).collect()),
        Value::Object(members) => {
            let mut out: Vec<(String, Value)> = Vec::with_capacity(members.len());
            let mut repeated: Vec<bool> = Vec::with_capacity(members.len());
            for (k, v) in members {
                let v = merge_repeated(v);
                match out.iter().position(|(name, _)| *name == k) {
                    Some(i) => {
                        if !repeated[i] {
                            let first = std::mem::replace(&mut out[i].1, Value::Null);
                            out[i].1 = Value::Array(vec![first].into());
                            repeated[i] = true;
                        }
                        if let Value::Array(a) = &mut out[i].1 {
                            a.push(v);
                        }
                    }
                    None => {
                        out.push((k, v));
                        repeated.push(false);
                    }
                }
            }
            Value::Object(out.into())
        }
        other => other,
    }
}

pub(crate) fn sip_reply(reply: sip::SipReply, output: Output) -> Result<(), Failure> {
    let v = Value::Object(
        vec![
            ("status".into(), Value::from(u32::from(reply.status))),
            ("reason".into(), Value::from(reply.reason.as_str())),
            ("message".into(), Value::from(reply.message.clone())),
        ]
        .into(),
    );
    print_value(&v, output == Output::Pretty)?;
    if reply.is_success() {
        Ok(())
    } else {
        Err(Failure {
            code: 1,
            message: format!("the far end answered {} {}", reply.status, reply.reason),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_become_arrays() {
        let v =
            Value::from_json(br#"{"Domain":{"AOR":{"a":1},"x":2,"AOR":{"a":2},"AOR":{"a":3}}}"#)
                .unwrap();
        assert_eq!(
            merge_repeated(v).to_string(),
            r#"{"Domain":{"AOR":[{"a":1},{"a":2},{"a":3}],"x":2}}"#
        );
    }
}
