//! Typed helpers: the same Rust structs whether the server answered in 3.x/4.x JSON-RPC,
//! the 1.x/2.x text MI or XML-RPC.
//!
//! Use the [`MiCommands`] extension trait, implemented for every [`ConnectionLike`]:
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use opensips_mi::{Connection, MiCommands, helpers::Expires};
//! let server = opensips_mi::mock::MockServer::start()?;
//! let conn = Connection::open(&server.fifo_url().unwrap())?;
//!
//! let up = conn.uptime()?;
//! println!("up for {:?}", up.up_time);
//!
//! for domain in conn.ul_dump()? {
//!     for aor in &domain.aors {
//!         for c in &aor.contacts {
//!             if let Expires::In(secs) = c.expires {
//!                 println!("{} -> {} ({secs} s)", aor.aor, c.contact);
//!             }
//!         }
//!     }
//! }
//! assert_eq!(conn.cache_fetch("local", "no such key")?, None);
//! let stats = conn.get_statistics(&["dialog:", "core:rcv_requests"])?;
//! assert!(stats.get("dialog:active_dialogs").is_some());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! On the JSON-RPC path a helper deserializes the reply bytes straight into its struct (one
//! pass, no intermediate tree); other paths go through [`Value`] and a per-command
//! normalisation of the legacy layouts.

pub(crate) mod aliases;
mod core;
pub(crate) mod de;
mod dialog;
mod prometheus;
mod stream;
mod ul_json;
mod ul_legacy;
mod usrloc;

pub use self::aliases::{aliases_of, canonical_name};
use self::core::*;
pub use self::core::{Process, Statistics, StatisticsIntoIter, StatisticsIter, Uptime, Version};
use self::dialog::*;
pub use self::dialog::{Callee, Dialog, DialogState};
pub use self::prometheus::{
    GroupMode, MetricNaming, NodeScrape, StatKind, StatKinds, StatKindsIter, exposition,
    fallback_kind,
};
pub use self::stream::{UlContact, dialogs_in, ul_contacts_in, ul_dump_in};
use self::usrloc::*;
pub use self::usrloc::{Aor, Contact, Domain, Expires};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::protocol::decode_typed as decode;
use crate::{Cmd, ConnectionLike, Error, Params, Result, Value, cmd};

fn identity(v: Value) -> Value {
    v
}

/// In a legacy object turned into the 3.x shape: the members `keys` that 3.x sends as
/// numbers become numbers (when they hold a decimal integer), and an empty `value` (a node
/// that had only attributes) goes.
fn as_v3(mut v: Value, keys: &[&str]) -> Value {
    if let Value::Object(members) = &mut v {
        // keys compared as bytes: no UTF-8 check of every inline key (a 2.x dialog has 20)
        let empty_value = |k: &crate::value::Key, v: &Value| {
            k.is("value") && matches!(v, Value::String(s) if s.is_empty_text())
        };
        if members.members().iter().any(|(k, v)| empty_value(k, v)) {
            members.retain_members(|k, v| !empty_value(k, v));
        }
        for (k, v) in members.members_mut() {
            if keys.iter().any(|n| k.is(n)) {
                if let Some(n) = v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
                    *v = Value::Int(n);
                }
            }
        }
    }
    v
}

/// The 3.x/4.x JSON shape of a 1.x/2.x reply `value` to `method`, for the commands with
/// a typed helper (`ul_dump`, `ul_show_contact`, `dlg_list`, `dlg_list_ctx`,
/// `get_statistics`, `ps`, `log_level`); any other value is returned as it is. This is
/// what the helpers read, and what the CLI prints, so one `jq` filter works on every
/// generation.
///
/// ```
/// use opensips_mi::{Value, helpers::normalize_reply, legacy};
/// let v = legacy::decode_reply(b"200 OK\nProcess::  ID=0 PID=4901 Type=attendant\n\n")?.into_value();
/// let v = normalize_reply("ps", v);
/// assert_eq!(v["Processes"][0]["PID"], Value::Int(4901)); // a number, as 3.x sends it
/// # Ok::<(), opensips_mi::Error>(())
/// ```
pub fn normalize_reply(method: &str, value: Value) -> Value {
    match method {
        "ps" | "log_level" => normalize_processes(value),
        "get_statistics" => normalize_statistics(value),
        "ul_dump" => normalize_ul_dump(value),
        "ul_show_contact" => normalize_show_contact(value),
        "dlg_list" | "dlg_list_ctx" => normalize_dialogs(value),
        _ => value,
    }
}

/// Runs `cmd` asking for an undecoded JSON-RPC result, then decodes into `T`.
fn typed<T: DeserializeOwned, C: ConnectionLike + ?Sized>(
    conn: &C,
    mut c: Cmd,
    normalize: fn(Value) -> Value,
) -> Result<T> {
    c.lazy();
    decode(conn.execute(&c)?, normalize)
}

/// `dlg_list` / `dlg_list_ctx` as a list: a 1.x/2.x text reply one `dialog::` node at a
/// time (through the whole tree only for the exact error of a dialog that does not fit),
/// anything else as the other typed helpers.
fn dialogs<C: ConnectionLike + ?Sized>(conn: &C, method: &str) -> Result<Vec<Dialog>> {
    let mut c = cmd(method);
    c.lazy();
    let resp = conn.execute(&c)?;
    if resp.value.is_null() && crate::legacy::looks_like_reply(&resp.raw) {
        let mut list = Vec::new();
        let text = crate::protocol::legacy::text_of(&resp.raw);
        if let Ok(Some(_)) = stream::legacy_dialogs(&text, &mut |d| list.push(d)) {
            list.shrink_to_fit();
            return Ok(list);
        }
    }
    decode::<Dialogs>(resp, normalize_dialogs).map(|d| d.list.into_iter().chain(d.one).collect())
}

/// The typed helpers, for every [`ConnectionLike`] (a [`Connection`](crate::Connection),
/// a pool, a test double).
pub trait MiCommands: ConnectionLike {
    /// `uptime`.
    ///
    /// # Errors
    ///
    /// Transport and server errors; [`Error::UnexpectedReply`] for an unexpected shape.
    fn uptime(&self) -> Result<Uptime> {
        typed(self, cmd("uptime"), identity)
    }

    /// `version`.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn version(&self) -> Result<Version> {
        typed(self, cmd("version"), identity)
    }

    /// `ps`: the server's processes.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn ps(&self) -> Result<Vec<Process>> {
        typed::<Processes, _>(self, cmd("ps"), normalize_processes).map(|p| p.list)
    }

    /// `which`: the command names (4.0 lists `module:command` names only).
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn which(&self) -> Result<Vec<String>> {
        typed(self, cmd("which"), identity)
    }

    /// `get_statistics`: selectors may be `all`, a group (`dialog:`), a full name
    /// (`core:rcv_requests`) or a bare name (`rcv_requests`). Full names are asked for by
    /// their bare name (OpenSIPS 3.5/4.0 answer `{}` to `group:name`) and filtered here, so
    /// the result holds exactly what was asked for. Nothing found is an empty map (2.x
    /// answers `404 Statistics Not Found`).
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`]; [`Error::InvalidRequest`] for no selector.
    fn get_statistics<S: AsRef<str>>(&self, names: &[S]) -> Result<Statistics>
    where
        Self: Sized,
    {
        let selectors: Vec<String> = names.iter().map(|s| s.as_ref().trim().to_owned()).collect();
        if selectors.is_empty() || selectors.iter().any(String::is_empty) {
            return Err(Error::invalid_request(
                "get_statistics needs at least one non-empty name",
            ));
        }
        let mut ask: Vec<String> = Vec::new();
        for s in &selectors {
            let q = match s.split_once(':') {
                Some((_, name)) if !name.is_empty() => name.to_owned(),
                _ => s.clone(),
            };
            if !ask.contains(&q) {
                ask.push(q);
            }
        }
        let stats: BTreeMap<String, NumberLike> = match typed(
            self,
            Cmd::with_params("get_statistics", Params::positional([ask])),
            normalize_statistics,
        ) {
            Ok(s) => s,
            Err(Error::Command(e)) if e.code == 404 => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(stats
            .into_iter()
            .filter(|(k, _)| selected(&selectors, k))
            .map(|(k, v)| (k, v.0))
            .collect())
    }

    /// `list_statistics`: the kind of every statistic (`incremental` → counter,
    /// `non-incremental` → gauge), the same on 2.x, 3.x and 4.x.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, MiCommands, helpers::StatKind};
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let conn = Connection::open(&server.udp_url().unwrap())?;
    /// let kinds = conn.list_statistics()?;
    /// assert_eq!(kinds.get("core:rcv_requests"), Some(StatKind::Counter));
    /// let stats = conn.get_statistics(&["core:rcv_requests", "shmem:"])?;
    /// assert!(stats.to_prometheus(&kinds).contains("# TYPE opensips_core_rcv_requests counter\n"));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn list_statistics(&self) -> Result<StatKinds> {
        let v = self.execute(&cmd("list_statistics"))?.value;
        Ok(v.as_object()
            .unwrap_or_default()
            .iter()
            .filter_map(|(name, kind)| {
                let kind = match kind.as_str()?.trim() {
                    "incremental" => StatKind::Counter,
                    "non-incremental" => StatKind::Gauge,
                    _ => return None,
                };
                Some((name.to_owned(), kind))
            })
            .collect())
    }

    /// `reset_statistics` for these names (as accepted by `get_statistics`).
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn reset_statistics<S: AsRef<str>>(&self, names: &[S]) -> Result<()>
    where
        Self: Sized,
    {
        let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        self.execute(&Cmd::with_params(
            "reset_statistics",
            Params::positional([names]),
        ))
        .map(drop)
    }

    /// `ul_dump`: every domain, AOR and contact.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn ul_dump(&self) -> Result<Vec<Domain>> {
        let mut c = cmd("ul_dump");
        c.lazy();
        let resp = self.execute(&c)?;
        // JSON-RPC and 1.x/2.x text left in `raw`: read in one pass
        if resp.value.is_null()
            && (resp.raw.first() == Some(&b'{') || crate::legacy::looks_like_reply(&resp.raw))
        {
            return ul_dump_in(&resp.raw);
        }
        decode::<Domains>(resp, normalize_ul_dump).map(|d| d.list)
    }

    /// `ul_dump`, one contact at a time: each contact is given to `f` with its domain and
    /// AOR as soon as it is read, without building the list of [`MiCommands::ul_dump`] (or,
    /// on JSON-RPC, any tree): for registrars with 100k contacts. Returns how many there
    /// were. On 1.x/2.x and XML-RPC the reply is decoded first and then walked.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, MiCommands};
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let conn = Connection::open(&server.fifo_url().unwrap())?;
    /// let mut alice = 0;
    /// let total = conn.ul_dump_each(|c| {
    ///     if c.aor == "alice" {
    ///         alice += 1;
    ///     }
    /// })?;
    /// assert!(total >= alice && alice == 2);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn ul_dump_each(&self, mut f: impl FnMut(UlContact<'_>)) -> Result<usize>
    where
        Self: Sized,
    {
        stream::ul_dump_each(self, &mut f)
    }

    /// `ul_show_contact`: the contacts of `aor` in `table`. An AOR that is not registered
    /// gives `Ok` with no contacts; an unknown table is an error (`404 Table not found`), and
    /// so is an AOR without the domain part when usrloc has `use_domain` (4.0's default:
    /// `400 Domain missing in AOR`).
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn ul_show_contact(&self, table: &str, aor: &str) -> Result<Vec<Contact>> {
        let c = Cmd::with_params("ul_show_contact", [table, aor]);
        match typed::<Aor, _>(self, c, normalize_show_contact) {
            Ok(a) => Ok(a.contacts),
            Err(Error::Command(e)) if e.code == 404 && e.message.starts_with("AOR") => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// `dlg_list`: every dialog.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn dlg_list(&self) -> Result<Vec<Dialog>> {
        dialogs(self, "dlg_list")
    }

    /// `dlg_list`, one dialog at a time: each dialog is given to `f` as soon as it is read,
    /// without building the list (or, on JSON-RPC, any tree). Returns how many there were.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, MiCommands, helpers::DialogState};
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let conn = Connection::open(&server.udp_url().unwrap())?;
    /// let mut confirmed = 0;
    /// conn.dlg_list_each(|d| confirmed += usize::from(d.state == DialogState::Confirmed))?;
    /// assert_eq!(confirmed, 2);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn dlg_list_each(&self, mut f: impl FnMut(Dialog)) -> Result<usize>
    where
        Self: Sized,
    {
        stream::dlg_list_each(self, "dlg_list", &mut f)
    }

    /// `dlg_list_ctx`: every dialog with its context (profiles, variables).
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn dlg_list_ctx(&self) -> Result<Vec<Dialog>> {
        dialogs(self, "dlg_list_ctx")
    }

    /// `dlg_list_ctx`, one dialog (with its context) at a time, as
    /// [`MiCommands::dlg_list_each`]. Returns how many there were.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn dlg_list_ctx_each(&self, mut f: impl FnMut(Dialog)) -> Result<usize>
    where
        Self: Sized,
    {
        stream::dlg_list_each(self, "dlg_list_ctx", &mut f)
    }

    /// `cache_store`, with an optional expiry in seconds.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn cache_store(&self, system: &str, key: &str, value: &str, expire: Option<u32>) -> Result<()> {
        let mut p = vec![Value::from(system), Value::from(key), Value::from(value)];
        if let Some(e) = expire {
            p.push(Value::from(e));
        }
        self.execute(&Cmd::with_params("cache_store", Params::Positional(p)))
            .map(drop)
    }

    /// `cache_fetch`: `None` for a missing key on every generation (3.x answers the error
    /// `400 Value not found`, 2.x a success with the text `Value not found`).
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn cache_fetch(&self, system: &str, key: &str) -> Result<Option<String>> {
        let v = match self.execute(&Cmd::with_params("cache_fetch", [system, key])) {
            Ok(r) => r.value,
            Err(Error::Command(e)) if e.message == "Value not found" => return Ok(None),
            Err(e) => return Err(e),
        };
        if let Some(val) = v.get("value") {
            return Ok(Some(
                val.as_str().map_or_else(|| val.to_string(), str::to_owned),
            ));
        }
        let lines: Vec<&str> = v
            .as_array()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        match lines.first() {
            Some(&"Value not found") | None => Ok(None),
            // 1.x: `key = [value]`; a value with bare LFs (or CRs lost on 1.x XML-RPC)
            // comes as several lines
            Some(_) => Ok(lines
                .join("\n")
                .split_once(" = [")
                .and_then(|(_, rest)| rest.strip_suffix(']'))
                .map(str::to_owned)),
        }
    }

    /// `cache_remove`.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn cache_remove(&self, system: &str, key: &str) -> Result<()> {
        self.execute(&Cmd::with_params("cache_remove", [system, key]))
            .map(drop)
    }

    /// `log_level`: each process with its log level.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn log_level(&self) -> Result<Vec<Process>> {
        // only 1.x says `debug`: a 3.x/4.x connection never probes for it
        if self.wire_protocol()? == crate::Protocol::Legacy
            && self.server()?.log_level_command() == "debug"
        {
            // 1.x has only the global level (`debug`), no per-process list
            return Err(Error::UnknownCommand {
                name: "log_level".into(),
                suggestion: Some("debug".into()),
            });
        }
        typed::<Processes, _>(self, cmd("log_level"), normalize_processes).map(|p| p.list)
    }

    /// Sets the global log level; returns the new level.
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn set_log_level(&self, level: i32) -> Result<i32> {
        #[derive(Deserialize)]
        struct New {
            #[serde(rename = "New global log level", deserialize_with = "de::i32_like")]
            level: i32,
        }
        // only 1.x says `debug`: a 3.x/4.x connection never probes for it
        if self.wire_protocol()? == crate::Protocol::Legacy
            && self.server()?.log_level_command() == "debug"
        {
            // 1.x: `debug N` answers `DEBUG:: N`
            #[derive(Deserialize)]
            struct Debug {
                #[serde(rename = "DEBUG", deserialize_with = "de::i32_like")]
                level: i32,
            }
            return typed::<Debug, _>(self, Cmd::with_params("debug", [level]), identity)
                .map(|d| d.level);
        }
        typed::<New, _>(self, Cmd::with_params("log_level", [level]), identity).map(|n| n.level)
    }
}

impl<C: ConnectionLike + ?Sized> MiCommands for C {}

/// An integer from a number or a numeric string.
struct NumberLike(i64);

impl<'de> Deserialize<'de> for NumberLike {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        de::i64_like(d).map(NumberLike)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(selected(&s(&["dialog:"]), "dialog:active_dialogs"));
        assert!(!selected(&s(&["dialog:"]), "tm:x"));
        assert!(selected(&s(&["core:rcv_requests"]), "core:rcv_requests"));
        assert!(!selected(&s(&["core:rcv_requests"]), "other:rcv_requests"));
        assert!(selected(&s(&["rcv_requests"]), "other:rcv_requests"));
        assert!(selected(&s(&["all"]), "x:y"));
    }

    #[cfg(feature = "mock")]
    #[test]
    fn json_rpc_helpers_decode_from_the_raw_bytes() {
        let server = crate::mock::MockServer::builder().udp().start().unwrap();
        let conn = crate::Connection::open(&server.udp_url().unwrap()).unwrap();
        let mut c = cmd("ul_dump");
        c.lazy();
        let resp = conn.execute(&c).unwrap();
        assert!(
            resp.value.is_null(),
            "the result is not decoded into a Value"
        );
        assert!(
            resp.raw
                .starts_with(br#"{"jsonrpc":"2.0","result":{"Domains":"#)
        );
        let domains: Domains = decode(resp, |_| Value::Null).unwrap();
        assert_eq!(domains.list[0].aors.len(), 3);
    }

    #[test]
    fn legacy_1x_shapes() {
        let c = legacy_1x_contact(
            "<sip:7747@10.132.113.198>;q=;expires=100;flags=0x0;cflags=0x0;socket=<udp:10.130.8.21:5060>;methods=0x1F7F;user_agent=<Polycom SoundPoint>",
        );
        let c: Contact = serde_json::from_value(serde_json::Value::from(c)).unwrap();
        assert_eq!(
            (c.contact.as_str(), c.expires, c.q, c.methods),
            (
                "sip:7747@10.132.113.198",
                Expires::In(100),
                None,
                Some(0x1F7F)
            )
        );
        assert_eq!(c.user_agent.as_deref(), Some("Polycom SoundPoint"));
        assert_eq!(
            parse_up_time("54 [sec]"),
            Some(std::time::Duration::from_secs(54))
        );
        assert_eq!(
            Version {
                server: "OpenSIPS (3.5.9 (x86_64/linux))".into()
            }
            .release(),
            Some("3.5.9")
        );
    }
}
