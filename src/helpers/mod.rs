//! Typed helpers: the same Rust structs whether the server answered in 3.x/4.x JSON-RPC,
//! the 1.x/2.x text MI or XML-RPC.
//!
//! Use the [`MiCommands`] extension trait, implemented for every [`ConnectionLike`]:
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use opensips_mi::{Connection, MiCommands, helpers::Expires};
//! let server = opensips_mi::mock::MockServer::start()?;
//! let conn = Connection::open(&server.fifo_url())?;
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

pub(crate) mod de;
pub(crate) mod verify;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::protocol::decode_typed as decode;
use crate::{Cmd, ConnectionLike, Error, Params, Response, Result, Value, cmd};

fn identity(v: Value) -> Value {
    v
}

/// `"3 [sec]"` → 3 s.
fn parse_up_time(s: &str) -> Option<Duration> {
    s.trim()
        .trim_end_matches("[sec]")
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// `uptime`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawUptime")]
#[non_exhaustive]
pub struct Uptime {
    /// The server's clock, as it prints it (`Thu Nov 26 11:06:18 2026`).
    pub now: String,
    /// When it started, same format.
    pub up_since: String,
    /// How long it has been up.
    pub up_time: Duration,
}

#[derive(Deserialize)]
struct RawUptime {
    #[serde(rename = "Now")]
    now: String,
    #[serde(rename = "Up since")]
    up_since: String,
    #[serde(rename = "Up time", deserialize_with = "de::string_like")]
    up_time: String,
}

impl TryFrom<RawUptime> for Uptime {
    type Error = String;
    fn try_from(r: RawUptime) -> std::result::Result<Self, String> {
        let up_time =
            parse_up_time(&r.up_time).ok_or_else(|| format!("bad \"Up time\" {:?}", r.up_time))?;
        Ok(Uptime {
            now: r.now,
            up_since: r.up_since,
            up_time,
        })
    }
}

/// `version`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Version {
    /// `OpenSIPS (3.5.9 (x86_64/linux))`.
    #[serde(rename = "Server")]
    pub server: String,
}

impl Version {
    /// The release number, e.g. `3.5.9`.
    pub fn release(&self) -> Option<&str> {
        let inner = self.server.split_once('(')?.1;
        inner.split_whitespace().next()
    }
}

/// A process of `ps` or `log_level`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Process {
    /// The MI process id (`ps` only).
    #[serde(rename = "ID", default, deserialize_with = "de::opt_u32_like")]
    pub id: Option<u32>,
    /// The system pid.
    #[serde(rename = "PID", deserialize_with = "de::u32_like")]
    pub pid: u32,
    /// What it does (`attendant`, `MI FIFO`, `SIP receiver udp:127.0.0.1:5060 `).
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// Its log level (`log_level` only).
    #[serde(rename = "Log level", default, deserialize_with = "de::opt_i32_like")]
    pub log_level: Option<i32>,
}

#[derive(Deserialize)]
struct Processes {
    #[serde(rename = "Processes", default)]
    list: Vec<Process>,
}

/// Legacy `Process::  ID=0 PID=… Type=…` nodes → `{"Processes":[…]}`.
fn normalize_processes(v: Value) -> Value {
    if v.get("Processes").is_some() {
        return v;
    }
    let list: Vec<Value> = v.get_all("Process").cloned().collect();
    Value::Object(vec![("Processes".into(), Value::Array(list))])
}

/// Statistics by full name (`group:name` → value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics(pub BTreeMap<String, i64>);

impl Statistics {
    /// A statistic by its full `group:name`.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.0.get(name).copied()
    }
    /// Every statistic, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// `true` if none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Legacy ≤ 1.11.2 unnamed `group:name = value` lines → an object.
fn normalize_statistics(v: Value) -> Value {
    match v {
        Value::Array(lines) => Value::Object(
            lines
                .iter()
                .filter_map(|l| l.as_str()?.split_once(" = "))
                .map(|(k, v)| (k.trim().to_owned(), Value::from(v.trim())))
                .collect(),
        ),
        other => other,
    }
}

/// What a selector asks for: `all`, a group (`dialog:`), a full name (`core:rcv_requests`),
/// or a bare name (`rcv_requests`, in any group).
fn selected(selectors: &[String], full: &str) -> bool {
    let (group, name) = full.split_once(':').unwrap_or(("", full));
    selectors.iter().any(|s| {
        s == "all"
            || s.strip_suffix(':').is_some_and(|g| g == group)
            || s == full
            || (!s.contains(':') && s == name)
    })
}

/// One contact of an AOR.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Contact {
    /// The contact URI.
    #[serde(rename = "Contact")]
    pub contact: String,
    /// usrloc's 64-bit contact id (2.x+).
    #[serde(
        rename = "ContactID",
        default,
        deserialize_with = "de::opt_string_like"
    )]
    pub contact_id: Option<String>,
    /// Seconds left, or permanent / deleted / expired.
    #[serde(rename = "Expires")]
    pub expires: Expires,
    /// The q value (`None` when unspecified).
    #[serde(rename = "Q", default, deserialize_with = "de_q")]
    pub q: Option<f32>,
    /// Call-ID of the registration.
    #[serde(rename = "Callid", default)]
    pub callid: String,
    /// CSeq of the registration.
    #[serde(rename = "Cseq", default, deserialize_with = "de::u64_like")]
    pub cseq: u64,
    /// User-Agent.
    #[serde(
        rename = "User-agent",
        default,
        deserialize_with = "de::opt_string_like"
    )]
    pub user_agent: Option<String>,
    /// Source address the REGISTER came from (NAT).
    #[serde(rename = "Received", default, deserialize_with = "de::opt_string_like")]
    pub received: Option<String>,
    /// Path header.
    #[serde(rename = "Path", default, deserialize_with = "de::opt_string_like")]
    pub path: Option<String>,
    /// `CS_NEW`, `CS_SYNC`, `CS_DIRTY`.
    #[serde(rename = "State", default)]
    pub state: String,
    /// Contact flags.
    #[serde(rename = "Flags", default, deserialize_with = "de::u64_like")]
    pub flags: u64,
    /// Branch flags, as a list of names.
    #[serde(rename = "Cflags", default)]
    pub cflags: String,
    /// The socket it registered on.
    #[serde(rename = "Socket", default, deserialize_with = "de::opt_string_like")]
    pub socket: Option<String>,
    /// Allowed methods bitmask.
    #[serde(rename = "Methods", default, deserialize_with = "de::opt_u64_like")]
    pub methods: Option<u64>,
    /// Attributes.
    #[serde(rename = "Attr", default, deserialize_with = "de::opt_string_like")]
    pub attr: Option<String>,
    /// `+sip.instance`.
    #[serde(
        rename = "SIP_instance",
        default,
        deserialize_with = "de::opt_string_like"
    )]
    pub sip_instance: Option<String>,
}

fn de_q<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<f32>, D::Error> {
    use serde::de::Visitor;
    struct Q;
    impl Visitor<'_> for Q {
        type Value = Option<f32>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a q value")
        }
        fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            match v.trim() {
                "" | "." => Ok(None),
                t => t
                    .parse()
                    .map(Some)
                    .map_err(|_| E::custom(format!("bad q {v:?}"))),
            }
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
            Ok(Some(v as f32))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
            Ok(Some(v as f32))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
            Ok(Some(v as f32))
        }
    }
    d.deserialize_any(Q)
}

/// When a contact expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expires {
    /// In this many seconds.
    In(u64),
    /// Never (registered with expires 0 through MI).
    Permanent,
    /// Deleted, waiting for the timer.
    Deleted,
    /// Already expired.
    Expired,
}

impl<'de> Deserialize<'de> for Expires {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Expires;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("seconds, \"permanent\", \"deleted\" or \"expired\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Expires, E> {
                Ok(Expires::In(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Expires, E> {
                u64::try_from(v)
                    .map(Expires::In)
                    .map_err(|_| E::custom(format!("bad Expires {v}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Expires, E> {
                if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
                    Ok(Expires::In(v as u64))
                } else {
                    Err(E::custom(format!("bad Expires {v}")))
                }
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Expires, E> {
                match s.trim() {
                    "permanent" => Ok(Expires::Permanent),
                    "deleted" => Ok(Expires::Deleted),
                    "expired" => Ok(Expires::Expired),
                    n => n
                        .parse()
                        .map(Expires::In)
                        .map_err(|_| E::custom(format!("bad Expires {s:?}"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An address of record and its contacts.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Aor {
    /// The AOR (`alice`, or `alice@example.com` with usrloc `use_domain`).
    #[serde(rename = "AOR")]
    pub aor: String,
    /// Its contacts (empty in a brief dump).
    #[serde(rename = "Contacts", default)]
    pub contacts: Vec<Contact>,
}

/// A usrloc domain (table) of `ul_dump`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Domain {
    /// Table name (`location`).
    pub name: String,
    /// Hash table size.
    #[serde(default, deserialize_with = "de::opt_u32_like")]
    pub hash_size: Option<u32>,
    /// The AORs.
    #[serde(rename = "AORs", default)]
    pub aors: Vec<Aor>,
}

#[derive(Deserialize)]
struct Domains {
    #[serde(rename = "Domains", default)]
    list: Vec<Domain>,
}

/// A legacy `Contact::` node → the 3.x object.
fn legacy_contact(node: &Value) -> Value {
    match node {
        Value::Object(members) => {
            let mut o = vec![("Contact".to_owned(), node["value"].clone())];
            o.extend(members.iter().filter(|(k, _)| k != "value").cloned());
            Value::Object(o)
        }
        // 1.x: `<sip:…>;q=;expires=100;flags=0x0;cflags=0x0;socket=<…>;methods=0x1F7F;user_agent=<…>`
        Value::String(s) => legacy_1x_contact(s),
        other => other.clone(),
    }
}

fn legacy_1x_contact(s: &str) -> Value {
    let (uri, rest) = match s.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((uri, rest)) => (uri.to_owned(), rest),
        None => (s.to_owned(), ""),
    };
    let mut o = vec![("Contact".to_owned(), Value::from(uri))];
    for part in rest.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let v = v.trim_start_matches('<').trim_end_matches('>');
        let key = match k {
            "q" => "Q",
            "expires" => "Expires",
            "flags" => "Flags",
            "cflags" => "Cflags",
            "socket" => "Socket",
            "methods" => "Methods",
            "user_agent" => "User-agent",
            "received" => "Received",
            "path" => "Path",
            _ => continue,
        };
        o.push((key.into(), Value::from(v)));
    }
    Value::Object(o)
}

/// A legacy `AOR::` node (or a brief `AOR:: name` leaf) → the 3.x object.
fn legacy_aor(node: &Value) -> Value {
    match node {
        Value::String(name) => Value::Object(vec![("AOR".into(), Value::from(name.as_str()))]),
        _ => Value::Object(vec![
            ("AOR".into(), node["value"].clone()),
            (
                "Contacts".into(),
                Value::Array(node.get_all("Contact").map(legacy_contact).collect()),
            ),
        ]),
    }
}

fn normalize_ul_dump(v: Value) -> Value {
    if v.get("Domains").is_some() {
        return v;
    }
    let domains = v
        .get_all("Domain")
        .map(|d| {
            let size = d
                .get("hash_size")
                .or_else(|| d.get("table"))
                .cloned()
                .unwrap_or_default();
            Value::Object(vec![
                ("name".into(), d["value"].clone()),
                ("hash_size".into(), size),
                (
                    "AORs".into(),
                    Value::Array(d.get_all("AOR").map(legacy_aor).collect()),
                ),
            ])
        })
        .collect();
    Value::Object(vec![("Domains".into(), Value::Array(domains))])
}

fn normalize_show_contact(v: Value) -> Value {
    if v.get("Contacts").is_some() {
        return v;
    }
    match v.get("AOR") {
        Some(aor @ Value::Object(_)) => legacy_aor(aor),
        // 1.x: one `Contact::` line per contact, no AOR node
        _ => Value::Object(vec![
            ("AOR".into(), Value::from("")),
            (
                "Contacts".into(),
                Value::Array(v.get_all("Contact").map(legacy_contact).collect()),
            ),
        ]),
    }
}

/// The state of a dialog, with the raw number kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogState {
    /// 1: created, no reply yet.
    Unconfirmed,
    /// 2: provisional reply.
    Early,
    /// 3: answered, no ACK yet.
    ConfirmedNoAck,
    /// 4: established.
    Confirmed,
    /// 5: ended.
    Deleted,
    /// Any other number.
    Other(i64),
}

impl DialogState {
    /// The number OpenSIPS uses.
    pub fn raw(self) -> i64 {
        match self {
            DialogState::Unconfirmed => 1,
            DialogState::Early => 2,
            DialogState::ConfirmedNoAck => 3,
            DialogState::Confirmed => 4,
            DialogState::Deleted => 5,
            DialogState::Other(n) => n,
        }
    }
}

impl From<i64> for DialogState {
    fn from(n: i64) -> Self {
        match n {
            1 => DialogState::Unconfirmed,
            2 => DialogState::Early,
            3 => DialogState::ConfirmedNoAck,
            4 => DialogState::Confirmed,
            5 => DialogState::Deleted,
            n => DialogState::Other(n),
        }
    }
}

impl<'de> Deserialize<'de> for DialogState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        de::i64_like(d).map(DialogState::from)
    }
}

/// The callee side of a dialog.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Callee {
    /// To tag.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_tag: Option<String>,
    /// Contact.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_contact: Option<String>,
    /// The caller's CSeq seen on this leg.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_cseq: Option<String>,
    /// Route set.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_route_set: Option<String>,
    /// Local socket.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_bind_addr: Option<String>,
    /// SDP.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_sdp: Option<String>,
}

/// A dialog of `dlg_list`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Dialog {
    /// Dialog id (`h_entry.h_id` in 3.x, a 64-bit number in 2.x).
    #[serde(rename = "ID", deserialize_with = "de::string_like")]
    pub id: String,
    /// Database id (3.x).
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub db_id: Option<String>,
    /// State, with the raw number.
    pub state: DialogState,
    /// Script flags.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub user_flags: Option<String>,
    /// Start (UNIX time).
    #[serde(default, deserialize_with = "de::u64_like")]
    pub timestart: u64,
    /// End of lifetime (UNIX time; 0 once ended).
    #[serde(default, deserialize_with = "de::u64_like")]
    pub timeout: u64,
    /// Call-ID.
    #[serde(default)]
    pub callid: String,
    /// From URI.
    #[serde(default)]
    pub from_uri: String,
    /// To URI.
    #[serde(default)]
    pub to_uri: String,
    /// From tag.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_tag: Option<String>,
    /// Caller's Contact.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_contact: Option<String>,
    /// Callee CSeq.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_cseq: Option<String>,
    /// Caller's route set.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_route_set: Option<String>,
    /// Caller's socket.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_bind_addr: Option<String>,
    /// Caller's SDP.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_sdp: Option<String>,
    /// The callee legs.
    #[serde(rename = "CALLEES", default)]
    pub callees: Vec<Callee>,
    /// `dlg_list_ctx`: profiles and variables.
    #[serde(default)]
    pub context: Option<Value>,
}

#[derive(Deserialize)]
struct Dialogs {
    #[serde(rename = "Dialogs", default)]
    list: Vec<Dialog>,
    #[serde(rename = "Dialog", default)]
    one: Option<Dialog>,
}

/// A legacy `dialog::  ID=…` node → the 3.x object.
fn legacy_dialog(node: &Value) -> Value {
    let mut o = Vec::new();
    let id = node
        .get("ID")
        .or_else(|| node.get("dialog_id"))
        .or_else(|| node.get("hash"))
        .cloned();
    o.push(("ID".to_owned(), id.unwrap_or_default()));
    for (k, v) in node.as_object().unwrap_or_default() {
        match k.as_str() {
            "value" | "ID" | "dialog_id" | "hash" => {}
            "CALLEES" => o.push((
                k.clone(),
                Value::Array(v.get_all("callee").cloned().collect()),
            )),
            "context" => {
                let profiles = v
                    .get("profiles")
                    .and_then(Value::as_object)
                    .unwrap_or_default()
                    .iter()
                    .filter(|(k, _)| k != "value")
                    .map(|(k, v)| Value::Object(vec![(k.clone(), v.clone())]))
                    .collect();
                o.push((
                    k.clone(),
                    Value::Object(vec![("profiles".into(), Value::Array(profiles))]),
                ));
            }
            _ => o.push((k.clone(), v.clone())),
        }
    }
    Value::Object(o)
}

fn normalize_dialogs(v: Value) -> Value {
    if v.get("Dialogs").is_some() || v.get("Dialog").is_some() {
        return v;
    }
    let list: Vec<Value> = v.get_all("dialog").map(legacy_dialog).collect();
    Value::Object(vec![("Dialogs".into(), Value::Array(list))])
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
            return Err(Error::InvalidRequest(
                "get_statistics needs at least one non-empty name".into(),
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
        Ok(Statistics(
            stats
                .into_iter()
                .filter(|(k, _)| selected(&selectors, k))
                .map(|(k, v)| (k, v.0))
                .collect(),
        ))
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
        typed::<Domains, _>(self, cmd("ul_dump"), normalize_ul_dump).map(|d| d.list)
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
        typed::<Dialogs, _>(self, cmd("dlg_list"), normalize_dialogs)
            .map(|d| d.list.into_iter().chain(d.one).collect())
    }

    /// `dlg_list_ctx`: every dialog with its context (profiles, variables).
    ///
    /// # Errors
    ///
    /// As [`MiCommands::uptime`].
    fn dlg_list_ctx(&self) -> Result<Vec<Dialog>> {
        typed::<Dialogs, _>(self, cmd("dlg_list_ctx"), normalize_dialogs)
            .map(|d| d.list.into_iter().chain(d.one).collect())
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
        match v.as_array().and_then(|a| a.first()).and_then(Value::as_str) {
            Some("Value not found") | None => Ok(None),
            // 1.x: `key = [value]`
            Some(line) => Ok(line
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

impl Response {
    /// Deserializes the result into your own type (`serde::Deserialize`); errors name the
    /// path of the field that did not fit.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::Connection;
    /// #[derive(serde::Deserialize)]
    /// struct Up { #[serde(rename = "Up time")] up_time: String }
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let conn = Connection::open(&server.udp_url())?;
    /// let up: Up = conn.command("uptime", ())?.deserialize()?;
    /// assert!(up.up_time.ends_with("[sec]"));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnexpectedReply`] with the path and the reason.
    pub fn deserialize<T: DeserializeOwned>(self) -> Result<T> {
        decode(self, identity)
    }
}

impl Cmd {
    /// Runs the command and deserializes its result into `T` in one pass from the reply
    /// bytes (on JSON-RPC transports).
    ///
    /// # Errors
    ///
    /// As [`Cmd::execute`], and [`Error::UnexpectedReply`].
    pub fn query_as<T: DeserializeOwned>(&self, conn: &impl ConnectionLike) -> Result<T> {
        let mut c = self.clone();
        c.lazy();
        decode(conn.execute(&c)?, identity)
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
        let conn = crate::Connection::open(&server.udp_url()).unwrap();
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
        assert_eq!(parse_up_time("54 [sec]"), Some(Duration::from_secs(54)));
        assert_eq!(
            Version {
                server: "OpenSIPS (3.5.9 (x86_64/linux))".into()
            }
            .release(),
            Some("3.5.9")
        );
    }
}
