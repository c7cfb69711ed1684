//! The mock's request engine: the state shared by every listener, fault injection, and
//! the dispatch of one request to a built-in or custom command.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::commands::{self, Outcome, Resolved, State};
use super::{Fault, Flavor, RecordedRequest, Transport};
use crate::{Params, ServerError, Value};

pub(crate) struct FaultRule {
    pub(crate) method: Option<String>,
    pub(crate) fault: Fault,
    pub(crate) remaining: Option<usize>,
}

pub(crate) struct Shared {
    pub(crate) flavor: Flavor,
    pub(crate) stop: AtomicBool,
    pub(crate) state: Mutex<State>,
    pub(crate) log: Mutex<Vec<RecordedRequest>>,
    pub(crate) faults: Mutex<Vec<FaultRule>>,
    pub(crate) datagram_buffer: usize,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a request came from.
pub(crate) struct Incoming<'a> {
    pub(crate) transport: Transport,
    pub(crate) bytes: &'a [u8],
    pub(crate) reply_name: Option<&'a str>,
    pub(crate) peer: Option<SocketAddr>,
}

/// The result of handling one request.
pub(crate) enum Dispatch {
    /// Send these replies (one datagram / one FIFO write each) after `delay`.
    Reply {
        parts: Vec<Vec<u8>>,
        delay: Duration,
    },
    /// Send nothing (a notification).
    Silent,
    /// Never answer (the [`Fault::NoReply`] fault): hold the reply channel open, as a server
    /// stuck in the command would.
    Hang,
    /// The bytes were not JSON.
    ParseError,
}

impl Shared {
    pub(crate) fn faults_for(&self, method: &str) -> Vec<Fault> {
        let mut rules = lock(&self.faults);
        let mut out = Vec::new();
        for r in rules.iter_mut() {
            if r.method.as_deref().is_some_and(|m| m != method) || r.remaining == Some(0) {
                continue;
            }
            if let Some(n) = &mut r.remaining {
                *n -= 1;
            }
            out.push(r.fault.clone());
        }
        rules.retain(|r| r.remaining != Some(0));
        out
    }

    /// Handles one JSON-RPC request (already unframed) the way the OpenSIPS MI core does.
    pub(crate) fn dispatch(
        &self,
        transport: Transport,
        bytes: &[u8],
        reply_name: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Dispatch {
        let Ok(req) = crate::protocol::jsonrpc::parse_lenient::<Value>(bytes) else {
            return Dispatch::ParseError;
        };
        let id = req.get("id").cloned();
        let method = req["method"].as_str().unwrap_or_default().to_owned();
        let params = match req.get("params") {
            None => Some(Params::None),
            Some(Value::Array(a)) => Some(Params::Positional(a.to_vec())),
            Some(Value::Object(o)) => Some(Params::Named(o.clone().into_iter().collect())),
            Some(_) => None,
        };
        let valid_id = matches!(
            id,
            None | Some(Value::Null | Value::Int(_) | Value::Float(_) | Value::String(_))
        );
        let well_formed = req.as_object().is_some()
            && req["jsonrpc"].as_str() == Some("2.0")
            && req["method"].as_str().is_some()
            && params.is_some()
            && valid_id;
        let incoming = Incoming {
            transport,
            bytes,
            reply_name,
            peer,
        };
        if !well_formed {
            self.record(&incoming, &method, params.unwrap_or_default(), id.clone());
            let echo = if valid_id {
                id.unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            let err = Err(ServerError::new(-32600, "Invalid Request"));
            return Dispatch::Reply {
                parts: vec![reply_bytes(&err, &echo)],
                delay: Duration::ZERO,
            };
        }
        self.execute(&incoming, &method, params.unwrap_or_default(), id)
    }

    /// Handles one XML-RPC `methodCall` the way mi_xmlrpc(_ng) does.
    pub(crate) fn dispatch_xmlrpc(&self, bytes: &[u8], peer: Option<SocketAddr>) -> Dispatch {
        use crate::protocol::xmlrpc::server::{CallError, decode_call, encode_reply};
        let incoming = Incoming {
            transport: Transport::XmlRpc,
            bytes,
            reply_name: None,
            peer,
        };
        match decode_call(bytes) {
            Ok((method, params)) => self.execute(&incoming, &method, params, None),
            Err(e) => {
                self.record(&incoming, "", Params::None, None);
                let code = if e == CallError::NotWellFormed {
                    -32700
                } else {
                    -32600
                };
                let reply = encode_reply(&Err(ServerError::new(code, "")));
                Dispatch::Reply {
                    parts: vec![reply],
                    delay: Duration::ZERO,
                }
            }
        }
    }

    pub(crate) fn record(
        &self,
        inc: &Incoming<'_>,
        method: &str,
        params: Params,
        id: Option<Value>,
    ) {
        lock(&self.log).push(RecordedRequest {
            transport: inc.transport,
            method: method.to_owned(),
            params,
            id,
            raw: inc.bytes.to_vec(),
            reply_name: inc.reply_name.map(str::to_owned),
            peer: inc.peer,
        });
    }

    /// Runs a well-formed request, applies faults, and encodes the reply for the transport.
    pub(crate) fn execute(
        &self,
        inc: &Incoming<'_>,
        method: &str,
        params: Params,
        id: Option<Value>,
    ) -> Dispatch {
        self.record(inc, method, params.clone(), id.clone());
        let xml = inc.transport == Transport::XmlRpc;
        let faults = self.faults_for(method);
        let (mut result, mut delay) = self.run(method, &params);
        let encode = |result: &Result<Value, ServerError>, id: &Value| {
            if xml {
                crate::protocol::xmlrpc::server::encode_reply(result)
            } else {
                reply_bytes(result, id)
            }
        };
        let id = match id {
            Some(id) => id,
            None if xml => Value::Null,
            None => return Dispatch::Silent, // a notification: executed, never answered
        };
        if xml {
            // mi_xmlrpc does not hand the name to the core, so an ambiguous name is just
            // "not found" (4.0.1, fixture xmlrpc/09).
            if let Err(e) = &mut result {
                if e.code == -32001 {
                    *e = ServerError::new(-32601, "Method not found");
                }
            }
        }
        let stale = || {
            let other = match &id {
                Value::Int(i) => Value::Int(i.wrapping_add(7919)),
                _ => Value::from("stale"),
            };
            encode(&Ok(Value::from("stale reply")), &other)
        };
        let Some((mut parts, mut reply)) =
            apply_faults(faults, encode(&result, &id), &mut delay, stale)
        else {
            return Dispatch::Hang;
        };
        if matches!(inc.transport, Transport::Udp | Transport::UnixDatagram)
            && reply.len() > self.datagram_buffer
        {
            reply = b"500 Internal error".to_vec();
        }
        parts.push(reply);
        Dispatch::Reply { parts, delay }
    }

    /// `true` for a built-in (by its flat name) or a custom command.
    pub(crate) fn knows(&self, method: &str) -> bool {
        self.is_custom(method) || commands::BUILTINS.iter().any(|b| b.flat == method)
    }

    pub(crate) fn is_custom(&self, method: &str) -> bool {
        lock(&self.state).handlers.iter().any(|(n, _)| n == method)
    }

    pub(crate) fn run(
        &self,
        method: &str,
        params: &Params,
    ) -> (Result<Value, ServerError>, Duration) {
        let mut state = lock(&self.state);
        match commands::resolve(&state, method) {
            Resolved::Custom(h) => {
                drop(state);
                (h(params), Duration::ZERO)
            }
            Resolved::NotFound => (
                Err(ServerError::new(-32601, "Method not found")),
                Duration::ZERO,
            ),
            Resolved::Ambiguous(names) => (
                Err(ServerError::new(-32001, "Method ambiguous")
                    .with_data(format!("supported names: {}", names.join(", ")))),
                Duration::ZERO,
            ),
            Resolved::Builtin(b) => match commands::bind(b, params) {
                Err(e) => (Err(e), Duration::ZERO),
                Ok(args) => match (b.run)(&mut state, &args) {
                    Outcome::Done(r) => (r, Duration::ZERO),
                    Outcome::Async { delay, result } => (result, delay),
                },
            },
        }
    }
}

/// Applies the faults to a reply: `None` for [`Fault::NoReply`], else the replies to send
/// before it (a stale one) and the reply itself, `delay` grown by any [`Fault::Delay`].
pub(crate) fn apply_faults(
    faults: Vec<Fault>,
    mut reply: Vec<u8>,
    delay: &mut Duration,
    stale: impl Fn() -> Vec<u8>,
) -> Option<(Vec<Vec<u8>>, Vec<u8>)> {
    let mut before = Vec::new();
    for f in faults {
        match f {
            Fault::Delay(d) => *delay += d,
            Fault::NoReply => return None,
            Fault::Truncate(n) => reply.truncate(n),
            Fault::Garbage(g) => reply = g,
            Fault::StaleReplyFirst => before.push(stale()),
        }
    }
    Some((before, reply))
}

/// `{"jsonrpc":"2.0","result":…,"id":…}` with the id echoed as OpenSIPS does (numbers as a
/// C `int`).
pub(crate) fn reply_bytes(result: &Result<Value, ServerError>, id: &Value) -> Vec<u8> {
    let id = match id {
        Value::Float(f) => Value::Int(f.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64),
        Value::Int(i) => Value::Int((*i).clamp(i64::from(i32::MIN), i64::from(i32::MAX))),
        other => other.clone(),
    };
    let mut o = vec![("jsonrpc".to_owned(), Value::from("2.0"))];
    match result {
        Ok(v) => o.push(("result".into(), v.clone())),
        Err(e) => {
            let mut err = vec![
                ("code".to_owned(), Value::Int(e.code)),
                ("message".into(), Value::from(&e.message)),
            ];
            if let Some(d) = &e.data {
                err.push(("data".into(), d.clone()));
            }
            o.push(("error".into(), Value::Object(err.into())));
        }
    }
    o.push(("id".into(), id));
    Value::Object(o.into()).to_json()
}
