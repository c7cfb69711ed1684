//! The mock's JSON-RPC engine: request validation, recipe matching and the built-in
//! commands, with the reply shapes and error texts of real OpenSIPS 3.5.9 / 4.0.1.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Flavor, Handler, UacReply, UacRequest};
use crate::{Params, ServerError, Value};

/// A parameter's type in a recipe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ty {
    Str,
    Int,
    Array,
}

/// A built-in command: 3.x flat name, 4.0 canonical name, recipes, and its handler.
pub(crate) struct Builtin {
    pub(crate) flat: &'static str,
    pub(crate) canonical: &'static str,
    pub(crate) recipes: &'static [&'static [(&'static str, Ty)]],
    pub(crate) named_only: bool,
    pub(crate) run: fn(&mut State, &Args) -> Outcome,
}

/// What a handler produced.
pub(crate) enum Outcome {
    Done(Result<Value, ServerError>),
    /// An async command (t_uac_dlg): the reply comes after `delay`.
    Async {
        delay: Duration,
        result: Result<Value, ServerError>,
    },
}

impl From<Result<Value, ServerError>> for Outcome {
    fn from(r: Result<Value, ServerError>) -> Self {
        Outcome::Done(r)
    }
}

/// Bound parameters of one call.
pub(crate) struct Args(BTreeMap<&'static str, Value>);

impl Args {
    fn str(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.as_i64().map(|i| i.to_string()).unwrap_or_default(),
        })
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(|v| match v {
            Value::Float(f) => Some(*f as i64),
            other => other.as_i64(),
        })
    }
    fn array(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

const S: Ty = Ty::Str;
const I: Ty = Ty::Int;
const A: Ty = Ty::Array;

const fn b(
    flat: &'static str,
    canonical: &'static str,
    recipes: &'static [&'static [(&'static str, Ty)]],
    named_only: bool,
    run: fn(&mut State, &Args) -> Outcome,
) -> Builtin {
    Builtin {
        flat,
        canonical,
        recipes,
        named_only,
        run,
    }
}

/// In 4.0.1's registration order (it decides the order of `-32001` candidates). The core
/// pseudo-modules `tcp`, `status_report`, `evi`, `blacklists` and the `cluster_sync`
/// commands are here mostly for their names; their answers are simple approximations.
#[rustfmt::skip]
pub(crate) static BUILTINS: &[Builtin] = &[
    b("get_statistics", "statistics:get", &[&[("statistics", A)]], false, get_statistics),
    b("list_statistics", "statistics:list", &[&[], &[("statistics", A)]], false, list_statistics),
    b("reset_statistics", "statistics:reset", &[&[("statistics", A)]], false, reset_statistics),
    b("reset_all_statistics", "statistics:reset_all", &[&[]], false, reset_all_statistics),
    b("uptime", "core:uptime", &[&[]], false, uptime),
    b("version", "core:version", &[&[], &[("revision", S)]], false, version),
    b("pwd", "core:pwd", &[&[]], false, pwd),
    b("arg", "core:arg", &[&[]], false, arg),
    b("which", "core:which", &[&[], &[("command", S)]], false, which),
    b("ps", "core:ps", &[&[]], false, ps),
    b("log_level", "core:log_level", &[&[], &[("level", I)], &[("level", I), ("pid", I)]], false, log_level),
    b("help", "core:help", &[&[("mi_cmd", S)]], false, help),
    b("list_tcp_conns", "tcp:list", &[&[]], false, list_tcp_conns),
    b("cache_store", "cache:store", &[&[("system", S), ("attr", S), ("value", S)], &[("system", S), ("attr", S), ("value", S), ("expire", I)]], false, cache_store),
    b("cache_fetch", "cache:fetch", &[&[("system", S), ("attr", S)]], false, cache_fetch),
    b("cache_remove", "cache:remove", &[&[("system", S), ("attr", S)]], false, cache_remove),
    b("sr_get_status", "status_report:get", &[&[("group", S)], &[("group", S), ("identifier", S)]], false, sr_get_status),
    b("events_list", "evi:list", &[&[]], false, events_list),
    b("event_subscribe", "evi:subscribe", &[&[("event", S), ("socket", S)], &[("event", S), ("socket", S), ("expire", I)]], false, event_subscribe),
    b("subscribers_list", "evi:subscribers", &[&[], &[("event", S)], &[("event", S), ("socket", S)]], false, subscribers_list),
    b("list_blacklists", "blacklists:list", &[&[]], false, list_blacklists),
    b("t_uac_dlg", "tm:uac_dlg", &[
        &[("method", S), ("ruri", S), ("headers", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("socket", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("body", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S), ("socket", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S), ("body", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("socket", S), ("body", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S), ("socket", S), ("body", S)],
    ], true, t_uac_dlg),
    b("ul_rm", "usrloc:rm", &[&[("table_name", S), ("aor", S)]], false, ul_rm),
    b("ul_rm_contact", "usrloc:rm_contact", &[&[("table_name", S), ("aor", S), ("contact", S)]], false, ul_rm_contact),
    b("ul_dump", "usrloc:dump", &[&[], &[("brief", I)]], false, ul_dump),
    b("ul_add", "usrloc:add", &[&[("table_name", S), ("aor", S), ("contact", S), ("expires", I), ("q", S), ("flags", I), ("cflags", I), ("methods", I)]], false, ul_add),
    b("ul_show_contact", "usrloc:show_contact", &[&[("table_name", S), ("aor", S)]], false, ul_show_contact),
    b("ul_cluster_sync", "usrloc:cluster_sync", &[&[]], false, no_clustering),
    b("dlg_list", "dialog:list", DLG_LIST_RECIPES, true, dlg_list),
    b("dlg_list_ctx", "dialog:list_ctx", DLG_LIST_RECIPES, true, dlg_list_ctx),
    b("dlg_end_dlg", "dialog:end_dlg", &[&[("dialog_id", S)], &[("dialog_id", S), ("extra_hdrs", S)]], false, dlg_end_dlg),
    b("dlg_cluster_sync", "dialog:cluster_sync", &[&[]], false, no_clustering),
    b("profile_get_size", "dialog:profile_get_size", &[&[("profile", S)], &[("profile", S), ("value", S)]], false, profile_get_size),
    b("list_all_profiles", "dialog:list_all_profiles", &[&[]], false, list_all_profiles),
];

const DLG_LIST_RECIPES: &[&[(&str, Ty)]] = &[
    &[],
    &[("callid", S)],
    &[("callid", S), ("from_tag", S)],
    &[("index", I), ("counter", I)],
];

// ---------------------------------------------------------------- state

/// One registered contact.
#[derive(Clone, Debug)]
pub(crate) struct Contact {
    uri: String,
    id: u64,
    /// Absolute UNIX expiry; 0 = permanent.
    expires: u64,
    q: String,
    callid: String,
    cseq: i64,
    user_agent: String,
    flags: i64,
    methods: i64,
    socket: Option<String>,
}

/// One dialog.
#[derive(Clone, Debug)]
pub(crate) struct Dialog {
    id: String,
    db_id: String,
    state: i64,
    start: u64,
    timeout: u64,
    callid: String,
    from_uri: String,
    to_uri: String,
    caller_tag: String,
    callee_tag: String,
    profiles: Vec<(String, String)>,
}

/// Everything the mock remembers.
pub(crate) struct State {
    pub(crate) flavor: Flavor,
    started: u64,
    log_level: i64,
    /// (name, incremental, value), in the real server's order.
    stats: Vec<(String, bool, i64)>,
    cache: BTreeMap<String, (String, Option<u64>)>,
    /// AOR → contacts, in insertion order.
    usrloc: Vec<(String, Vec<Contact>)>,
    dialogs: Vec<Dialog>,
    next_contact_id: u64,
    pub(crate) uac_log: Vec<UacRequest>,
    pub(crate) uac_responder: Option<super::UacResponder>,
    pub(crate) uac_delay: Duration,
    pub(crate) handlers: Vec<(String, Handler)>,
    pub(crate) evi: super::evi::Evi,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

const STATS: &[(&str, bool, i64)] = &[
    ("shmem:total_size", false, 67_108_864),
    ("shmem:max_used_size", false, 3_846_640),
    ("shmem:free_size", false, 63_262_224),
    ("shmem:used_size", false, 3_742_096),
    ("shmem:real_used_size", false, 3_846_640),
    ("shmem:fragments", false, 1264),
    ("core:rcv_requests", true, 8),
    ("core:rcv_replies", true, 4),
    ("core:fwd_requests", true, 2),
    ("core:fwd_replies", true, 0),
    ("core:drop_requests", true, 0),
    ("core:drop_replies", true, 0),
    ("core:err_requests", true, 0),
    ("core:err_replies", true, 0),
    ("core:bad_URIs_rcvd", true, 0),
    ("core:bad_msg_hdr", true, 0),
    ("core:slow_messages", true, 0),
    ("core:timestamp", false, 0),
    ("net:waiting_udp", false, 0),
    ("net:waiting_tcp", false, 0),
    ("net:waiting_tls", false, 0),
    ("tm:received_replies", true, 4),
    ("tm:relayed_replies", true, 4),
    ("tm:local_replies", true, 2),
    ("tm:UAS_transactions", true, 2),
    ("tm:UAC_transactions", true, 0),
    ("tm:2xx_transactions", true, 2),
    ("tm:3xx_transactions", true, 0),
    ("tm:4xx_transactions", true, 0),
    ("tm:5xx_transactions", true, 0),
    ("tm:6xx_transactions", true, 0),
    ("tm:inuse_transactions", false, 0),
    ("tm:cluster_reply_sent", true, 0),
    ("tm:cluster_request_sent", true, 0),
    ("tm:cluster_cancel_sent", true, 0),
    ("tm:cluster_reply_recv", true, 0),
    ("tm:cluster_request_recv", true, 0),
    ("tm:cluster_cancel_recv", true, 0),
    ("tm:retransmission_req_T1_1", true, 0),
    ("tm:retransmission_req_T1_2", true, 0),
    ("tm:retransmission_req_T1_3", true, 0),
    ("tm:retransmission_req_T2", true, 0),
    ("tm:retransmission_rpl_T2", true, 0),
    ("tm:timeout_finalresponse", true, 0),
    ("tm:timeout_finalresponse_inv", true, 0),
    ("sl:1xx_replies", true, 0),
    ("sl:2xx_replies", true, 4),
    ("sl:3xx_replies", true, 0),
    ("sl:4xx_replies", true, 0),
    ("sl:5xx_replies", true, 0),
    ("sl:6xx_replies", true, 0),
    ("sl:sent_replies", true, 4),
    ("sl:sent_err_replies", true, 0),
    ("sl:received_ACKs", true, 0),
    ("script:mi_test_stat", true, 2),
    ("usrloc:registered_users", false, 0),
    ("usrloc:location-users", false, 0),
    ("usrloc:location-contacts", false, 0),
    ("usrloc:location-expires", true, 0),
    ("registrar:max_expires", false, 0),
    ("registrar:max_contacts", false, 0),
    ("registrar:default_expire", false, 3600),
    ("registrar:accepted_regs", true, 4),
    ("registrar:rejected_regs", true, 0),
    ("dialog:active_dialogs", false, 0),
    ("dialog:early_dialogs", false, 0),
    ("dialog:processed_dialogs", true, 2),
    ("dialog:expired_dialogs", true, 0),
    ("dialog:failed_dialogs", true, 0),
    ("dialog:create_sent", true, 0),
    ("dialog:update_sent", true, 0),
    ("dialog:delete_sent", true, 0),
    ("dialog:create_recv", true, 0),
    ("dialog:update_recv", true, 0),
    ("dialog:delete_recv", true, 0),
    ("load:load", false, 0),
    ("load:load1m", false, 0),
    ("load:load10m", false, 0),
    ("load:processes_number", false, 10),
];

/// Statistics 2.4 does not have yet.
const NOT_IN_2_4: &[&str] = &[
    "core:slow_messages",
    "tm:cluster_reply_sent",
    "tm:cluster_request_sent",
    "tm:cluster_cancel_sent",
    "tm:cluster_reply_recv",
    "tm:cluster_request_recv",
    "tm:cluster_cancel_recv",
    "tm:retransmission_req_T1_1",
    "tm:retransmission_req_T1_2",
    "tm:retransmission_req_T1_3",
    "tm:retransmission_req_T2",
    "tm:retransmission_rpl_T2",
    "tm:timeout_finalresponse",
    "tm:timeout_finalresponse_inv",
    "load:processes_number",
];

const SIP_SOCKET: &str = "udp:127.0.0.1:5060";
const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

impl State {
    pub(crate) fn new(flavor: Flavor) -> State {
        let t = now();
        let mut s = State {
            flavor,
            started: t,
            log_level: 3,
            stats: STATS
                .iter()
                .filter(|(n, _, _)| flavor != Flavor::V2 || !NOT_IN_2_4.contains(n))
                .map(|(n, inc, v)| ((*n).to_owned(), *inc, *v))
                .collect(),
            cache: BTreeMap::new(),
            usrloc: Vec::new(),
            dialogs: Vec::new(),
            next_contact_id: 4_465_107_924_305_326_107,
            uac_log: Vec::new(),
            uac_responder: None,
            uac_delay: Duration::ZERO,
            handlers: Vec::new(),
            evi: super::evi::Evi::default(),
        };
        // Population as behind the fixtures: alice (2 contacts), bob, carol, registered by
        // REGISTER (so they have a socket); two confirmed calls to bob.
        let reg = |s: &mut State, user: &str, port: u16, expires: u64, params: &str| {
            let aor = s.aor_name(user);
            let c = Contact {
                uri: format!("sip:{user}@127.0.0.1:{port}{params}"),
                id: 0,
                expires: t + expires,
                q: String::new(),
                callid: format!("reg-{user}-{port:x}@127.0.0.1"),
                cseq: 1,
                user_agent: "py-sip-register/1.0".into(),
                flags: 0,
                methods: 4_294_967_295,
                socket: Some(SIP_SOCKET.into()),
            };
            s.insert_contact(&aor, c);
        };
        reg(&mut s, "alice", 5080, 3600, "");
        reg(&mut s, "alice", 5081, 1800, "");
        reg(&mut s, "bob", 5072, 3600, "");
        reg(&mut s, "carol", 5082, 600, ";transport=udp");
        // Dialog ids as in the captures, so their requests find the same calls.
        let calls: &[(&str, &str, &str)] = if flavor == Flavor::V4 {
            &[("a7.9a3acc53", "524888613801", "1-27975@127.0.0.1")]
        } else if flavor == Flavor::V2 {
            &[
                ("7745780787671", "7745780787671", "1-5002@127.0.0.1"),
                ("15419829038804", "15419829038804", "2-5002@127.0.0.1"),
            ]
        } else {
            &[
                ("eb1.28f2faa3", "1916539973506", "1-2824@127.0.0.1"),
                ("9b8.c560aa85", "9592149509724", "2-2824@127.0.0.1"),
            ]
        };
        for (n, (id, db, callid)) in calls.iter().enumerate() {
            s.dialogs.push(Dialog {
                id: (*id).into(),
                db_id: (*db).into(),
                state: 4,
                start: t,
                timeout: t + 3600,
                callid: (*callid).into(),
                from_uri: format!("sip:caller{}@127.0.0.1:5074", n + 1),
                to_uri: "sip:bob@127.0.0.1:5060".into(),
                caller_tag: format!("2824SIPpTag00{}", n + 1),
                callee_tag: format!("2740SIPpTag01{}", n + 1),
                profiles: vec![
                    ("caller".into(), format!("caller{}", n + 1)),
                    ("inbound".into(), String::new()),
                ],
            });
        }
        s
    }

    fn use_domain(&self) -> bool {
        self.flavor == Flavor::V4
    }

    fn aor_name(&self, user: &str) -> String {
        if self.use_domain() {
            format!("{user}@127.0.0.1")
        } else {
            user.to_owned()
        }
    }

    /// Applies usrloc's `use_domain` to an AOR given by the client.
    fn fix_aor(&self, aor: &str) -> Result<String, ServerError> {
        match (self.use_domain(), aor.split_once('@')) {
            (true, None) => Err(ServerError::new(400, "Domain missing in AOR")),
            (true, Some(_)) => Ok(aor.to_owned()),
            (false, Some((user, _))) => Ok(user.to_owned()),
            (false, None) => Ok(aor.to_owned()),
        }
    }

    fn insert_contact(&mut self, aor: &str, mut c: Contact) {
        let contacts = match self.usrloc.iter().position(|(a, _)| a == aor) {
            Some(i) => &mut self.usrloc[i].1,
            None => {
                // New AORs are listed first, as the real hash table happened to print them.
                self.usrloc.insert(0, (aor.to_owned(), Vec::new()));
                &mut self.usrloc[0].1
            }
        };
        if let Some(existing) = contacts.iter_mut().find(|e| e.uri == c.uri) {
            c.id = existing.id;
            c.cseq = existing.cseq;
            *existing = c;
        } else {
            c.id = self.next_contact_id;
            self.next_contact_id += 1;
            contacts.push(c);
        }
    }

    /// Raises an event to its subscribers (as usrloc and friends do).
    pub(crate) fn emit(&mut self, name: &str, params: Value) -> usize {
        let legacy = self.flavor == Flavor::V2;
        self.evi.raise(name, &params, legacy)
    }

    fn emit_aor(&mut self, name: &str, aor: &str) {
        let p = Value::Object(vec![
            ("domain".into(), Value::from("location")),
            ("aor".into(), Value::from(aor)),
        ]);
        self.emit(name, p);
    }

    /// `E_UL_CONTACT_*` parameters, as 4.0.1 sends them (`modules/usrloc/ul_evi.c`).
    fn emit_contact(&mut self, name: &str, aor: &str, c: &Contact) {
        let qval =
            c.q.parse::<f64>()
                .map_or(-1, |q| (q * 1000.0).round() as i64);
        let p = Value::Object(vec![
            ("domain".into(), Value::from("location")),
            ("aor".into(), Value::from(aor)),
            ("uri".into(), Value::from(c.uri.as_str())),
            ("received".into(), Value::Null),
            ("path".into(), Value::Null),
            ("qval".into(), Value::Int(qval)),
            ("user_agent".into(), Value::from(c.user_agent.as_str())),
            (
                "socket".into(),
                Value::from(c.socket.as_deref().unwrap_or("")),
            ),
            ("bflags".into(), Value::Int(0)),
            ("expires".into(), Value::Int(c.expires as i64)),
            ("callid".into(), Value::from(c.callid.as_str())),
            ("cseq".into(), Value::Int(c.cseq)),
            ("attr".into(), Value::from("")),
            ("latency".into(), Value::Int(0)),
            ("shtag".into(), Value::from("")),
        ]);
        self.emit(name, p);
    }

    fn stat_value(&self, name: &str, stored: i64) -> i64 {
        let contacts: usize = self.usrloc.iter().map(|(_, c)| c.len()).sum();
        match name {
            "usrloc:registered_users" | "usrloc:location-users" => self.usrloc.len() as i64,
            "usrloc:location-contacts" => contacts as i64,
            "dialog:active_dialogs" => self.dialogs.iter().filter(|d| d.state == 4).count() as i64,
            "core:timestamp" => now().saturating_sub(self.started) as i64,
            _ => stored,
        }
    }

    /// Statistics selected the way OpenSIPS selects them: `group:` (a whole group), `all`,
    /// or a bare name (searched in every group). `group:name` matches nothing, exactly
    /// like 3.5.9 and 4.0.1 (the fixtures' SURPRISE).
    fn select_stats(&self, names: &[String]) -> Vec<(String, bool, i64)> {
        let mut out: Vec<(String, bool, i64)> = Vec::new();
        for want in names {
            for (full, inc, v) in &self.stats {
                let (group, short) = full.split_once(':').unwrap_or(("", full));
                let hit = if want == "all" {
                    true
                } else if let Some(g) = want.strip_suffix(':') {
                    g == group
                } else {
                    !want.contains(':') && short == want
                };
                if hit && !out.iter().any(|(n, _, _)| n == full) {
                    out.push((full.clone(), *inc, self.stat_value(full, *v)));
                }
            }
        }
        out
    }

    fn contact_value(&self, c: &Contact, t: u64) -> Value {
        let expires = if c.expires == 0 {
            Value::from("permanent")
        } else if t > c.expires {
            Value::from("expired")
        } else {
            Value::Int((c.expires - t) as i64)
        };
        let mut o = vec![
            ("Contact".to_owned(), Value::from(&c.uri)),
            ("ContactID".into(), Value::from(c.id.to_string())),
            ("Expires".into(), expires),
            ("Q".into(), Value::from(&c.q)),
            ("Callid".into(), Value::from(&c.callid)),
            ("Cseq".into(), Value::Int(c.cseq)),
            ("User-agent".into(), Value::from(&c.user_agent)),
            ("State".into(), Value::from("CS_NEW")),
            ("Flags".into(), Value::Int(c.flags)),
            ("Cflags".into(), Value::from("")),
        ];
        if let Some(sock) = &c.socket {
            o.push(("Socket".into(), Value::from(sock)));
        }
        o.push(("Methods".into(), Value::Int(c.methods)));
        Value::Object(o)
    }

    fn aor_value(&self, aor: &str, contacts: &[Contact], brief: bool, t: u64) -> Value {
        let mut o = vec![("AOR".to_owned(), Value::from(aor))];
        if !brief {
            o.push((
                "Contacts".into(),
                Value::Array(contacts.iter().map(|c| self.contact_value(c, t)).collect()),
            ));
        }
        Value::Object(o)
    }

    fn dialog_value(&self, d: &Dialog, ctx: bool) -> Value {
        let mut o = vec![
            ("ID".to_owned(), Value::from(&d.id)),
            ("db_id".into(), Value::from(&d.db_id)),
            ("state".into(), Value::Int(d.state)),
            ("user_flags".into(), Value::from("")),
            ("timestart".into(), Value::Int(d.start as i64)),
            ("datestart".into(), Value::from(datetime(d.start))),
            ("timeout".into(), Value::Int(d.timeout as i64)),
        ];
        if d.timeout != 0 {
            o.push(("dateout".into(), Value::from(datetime(d.timeout))));
        }
        o.extend([
            ("callid".into(), Value::from(&d.callid)),
            ("from_uri".into(), Value::from(&d.from_uri)),
            ("to_uri".into(), Value::from(&d.to_uri)),
            ("caller_tag".into(), Value::from(&d.caller_tag)),
            ("caller_contact".into(), Value::from(&d.from_uri)),
            ("callee_cseq".into(), Value::from("0")),
            ("caller_route_set".into(), Value::from("")),
            ("caller_bind_addr".into(), Value::from(SIP_SOCKET)),
            ("caller_sdp".into(), Value::from(SDP)),
            (
                "CALLEES".into(),
                Value::Array(vec![Value::Object(vec![
                    ("callee_tag".into(), Value::from(&d.callee_tag)),
                    (
                        "callee_contact".into(),
                        Value::from("sip:127.0.0.1:5072;transport=UDP"),
                    ),
                    ("caller_cseq".into(), Value::from("1")),
                    ("callee_route_set".into(), Value::from("")),
                    ("callee_bind_addr".into(), Value::from(SIP_SOCKET)),
                    ("callee_sdp".into(), Value::from(SDP)),
                ])]),
            ),
        ]);
        if ctx {
            let profiles = d
                .profiles
                .iter()
                .map(|(k, v)| Value::Object(vec![(k.clone(), Value::from(v))]))
                .collect();
            o.push((
                "context".into(),
                Value::Object(vec![("profiles".into(), Value::Array(profiles))]),
            ));
        }
        Value::Object(o)
    }

    /// Names `which` lists: flat names (3.x) or canonical names (4.0), plus user handlers.
    fn command_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTINS
            .iter()
            .map(|b| {
                if self.flavor == Flavor::V4 {
                    b.canonical
                } else {
                    b.flat
                }
                .to_owned()
            })
            .collect();
        for (n, _) in &self.handlers {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
}

/// Resolves a method name the way the server's flavor does.
pub(crate) enum Resolved<'a> {
    Builtin(&'a Builtin),
    Custom(Handler),
    NotFound,
    Ambiguous(Vec<&'static str>),
}

pub(crate) fn resolve<'a>(state: &State, method: &str) -> Resolved<'a> {
    if let Some((_, h)) = state.handlers.iter().find(|(n, _)| n == method) {
        return Resolved::Custom(h.clone());
    }
    if let Some(b) = BUILTINS.iter().find(|b| b.flat == method) {
        return Resolved::Builtin(b);
    }
    if state.flavor == Flavor::V4 {
        if let Some(b) = BUILTINS.iter().find(|b| b.canonical == method) {
            return Resolved::Builtin(b);
        }
        if !method.contains(':') {
            let hits: Vec<&Builtin> = BUILTINS
                .iter()
                .filter(|b| b.canonical.split_once(':').map(|(_, l)| l) == Some(method))
                .collect();
            match hits.len() {
                0 => {}
                1 => return Resolved::Builtin(hits[0]),
                _ => return Resolved::Ambiguous(hits.iter().map(|b| b.canonical).collect()),
            }
        }
    }
    Resolved::NotFound
}

fn invalid_params(data: impl Into<String>) -> ServerError {
    ServerError::new(-32602, "Invalid params").with_data(data.into())
}

/// Matches `params` against the recipes and checks types (`mi/mi.c`, `mi/item.c`, 3.4+).
pub(crate) fn bind(b: &Builtin, params: &Params) -> Result<Args, ServerError> {
    let recipe: &[(&'static str, Ty)] = match params {
        Params::None => b
            .recipes
            .iter()
            .find(|r| r.is_empty())
            .copied()
            .ok_or_else(|| invalid_params("Too few or too many parameters"))?,
        Params::Positional(v) if v.is_empty() => {
            b.recipes
                .iter()
                .find(|r| r.is_empty())
                .copied()
                .ok_or_else(|| invalid_params("Too few or too many parameters"))?
        }
        Params::Named(v) if v.is_empty() => b
            .recipes
            .iter()
            .find(|r| r.is_empty())
            .copied()
            .ok_or_else(|| invalid_params("Too few or too many parameters"))?,
        Params::Positional(v) => {
            if b.named_only {
                return Err(invalid_params("Command only supports named parameters"));
            }
            let hits: Vec<_> = b.recipes.iter().filter(|r| r.len() == v.len()).collect();
            match hits.len() {
                0 => return Err(invalid_params("Too few or too many parameters")),
                1 => hits[0],
                _ => {
                    return Err(invalid_params(
                        "Ambiguous call, use named parameters instead",
                    ));
                }
            }
        }
        Params::Named(v) => {
            let same_count: Vec<_> = b.recipes.iter().filter(|r| r.len() == v.len()).collect();
            if same_count.is_empty() {
                return Err(invalid_params("Too few or too many parameters"));
            }
            same_count
                .into_iter()
                .find(|r| r.iter().all(|(name, _)| v.iter().any(|(k, _)| k == name)))
                .ok_or_else(|| invalid_params("Named parameters do not match"))?
        }
    };
    let mut args = BTreeMap::new();
    for (i, (name, ty)) in recipe.iter().enumerate() {
        let Some(v) = params.get(i, name) else {
            continue;
        };
        let ok = match (ty, v) {
            (Ty::Str, Value::String(_) | Value::Int(_) | Value::Float(_)) => true,
            (Ty::Int, Value::Int(_) | Value::Float(_)) => true,
            (Ty::Int, Value::String(s)) => s.trim().parse::<i64>().is_ok(),
            (Ty::Array, Value::Array(a)) if a.is_empty() => {
                return Err(invalid_params(format!("Empty array in parameter '{name}'")));
            }
            (Ty::Array, Value::Array(a)) => a
                .iter()
                .all(|e| matches!(e, Value::String(_) | Value::Int(_) | Value::Float(_))),
            _ => false,
        };
        if !ok {
            return Err(invalid_params(format!("Bad type for parameter '{name}'")));
        }
        args.insert(*name, v.clone());
    }
    Ok(Args(args))
}

// ---------------------------------------------------------------- commands

fn ok() -> Outcome {
    Outcome::Done(Ok(Value::from("OK")))
}

fn err(code: i64, msg: &str) -> Outcome {
    Outcome::Done(Err(ServerError::new(code, msg)))
}

fn get_statistics(s: &mut State, a: &Args) -> Outcome {
    let sel = s.select_stats(&a.array("statistics"));
    Ok(Value::Object(
        sel.into_iter()
            .map(|(n, _, v)| (n, Value::Int(v)))
            .collect(),
    ))
    .into()
}

fn list_statistics(s: &mut State, a: &Args) -> Outcome {
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

fn reset_statistics(s: &mut State, a: &Args) -> Outcome {
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

fn reset_all_statistics(s: &mut State, _: &Args) -> Outcome {
    for (_, inc, v) in &mut s.stats {
        if *inc {
            *v = 0;
        }
    }
    ok()
}

fn uptime(s: &mut State, _: &Args) -> Outcome {
    let t = now();
    Ok(Value::Object(vec![
        ("Now".into(), Value::from(ctime(t))),
        ("Up since".into(), Value::from(ctime(s.started))),
        (
            "Up time".into(),
            Value::from(format!("{} [sec]", t.saturating_sub(s.started))),
        ),
    ]))
    .into()
}

fn server_string(s: &State) -> String {
    let v = match s.flavor {
        Flavor::V2 => "2.4.11",
        Flavor::V3 => "3.5.9",
        Flavor::V4 => "4.0.1",
    };
    format!("OpenSIPS ({v} (x86_64/linux))")
}

fn version(s: &mut State, a: &Args) -> Outcome {
    let mut o = vec![("Server".to_owned(), Value::from(server_string(s)))];
    if a.0.contains_key("revision") {
        o.push(("unknown".into(), Value::from("unknown")));
    }
    Ok(Value::Object(o)).into()
}

fn pwd(_: &mut State, _: &Args) -> Outcome {
    let wd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/".into());
    Ok(Value::Object(vec![("WD".into(), Value::from(wd))])).into()
}

fn arg(_: &mut State, _: &Args) -> Outcome {
    Ok(Value::Array(std::env::args().map(Value::from).collect())).into()
}

fn which(s: &mut State, a: &Args) -> Outcome {
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
            return Ok(Value::Array(names)).into();
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
        Resolved::Custom(_) => Ok(Value::Array(vec![Value::Array(Vec::new())])).into(),
        Resolved::NotFound | Resolved::Ambiguous(_) => err(404, "unknown MI command"),
    }
}

const PROCESSES: &[&str] = &[
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

fn ps(_: &mut State, _: &Args) -> Outcome {
    let base = i64::from(std::process::id());
    let procs = PROCESSES
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Value::Object(vec![
                ("ID".into(), Value::Int(i as i64)),
                ("PID".into(), Value::Int(base + i as i64)),
                ("Type".into(), Value::from(*t)),
            ])
        })
        .collect();
    Ok(Value::Object(vec![(
        "Processes".into(),
        Value::Array(procs),
    )]))
    .into()
}

fn log_level(s: &mut State, a: &Args) -> Outcome {
    let base = i64::from(std::process::id());
    match (a.int("level"), a.int("pid")) {
        (None, _) => {
            let procs = PROCESSES
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Value::Object(vec![
                        ("PID".into(), Value::Int(base + i as i64)),
                        ("Log level".into(), Value::Int(s.log_level)),
                        ("Type".into(), Value::from(*t)),
                    ])
                })
                .collect();
            Ok(Value::Object(vec![(
                "Processes".into(),
                Value::Array(procs),
            )]))
            .into()
        }
        (Some(level), None) => {
            s.log_level = level;
            Ok(Value::Object(vec![(
                "New global log level".into(),
                Value::Int(level),
            )]))
            .into()
        }
        (Some(level), Some(pid)) => {
            if !(base..base + PROCESSES.len() as i64).contains(&pid) {
                return Outcome::Done(Err(invalid_params("Bad PID")));
            }
            Ok(Value::Object(vec![("Log level".into(), Value::Int(level))])).into()
        }
    }
}

fn help(s: &mut State, a: &Args) -> Outcome {
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
            Ok(Value::Object(vec![
                ("Help".into(), Value::from("not available for this command")),
                ("Exported by".into(), Value::from(module)),
            ]))
            .into()
        }
        _ => err(404, "MI command not found"),
    }
}

fn cache_store(s: &mut State, a: &Args) -> Outcome {
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

fn cache_fetch(s: &mut State, a: &Args) -> Outcome {
    if a.str("system").as_deref() != Some("local") {
        return err(500, "Cache fetch command failed");
    }
    let key = a.str("attr").unwrap_or_default();
    match s.cache.get(&key) {
        Some((v, exp)) if exp.is_none_or(|e| e > now()) => Ok(Value::Object(vec![
            ("key".into(), Value::from(key)),
            ("value".into(), Value::from(v)),
        ]))
        .into(),
        _ => err(400, "Value not found"),
    }
}

fn cache_remove(s: &mut State, a: &Args) -> Outcome {
    if a.str("system").as_deref() != Some("local") {
        return err(500, "Cache remove command failed");
    }
    s.cache.remove(&a.str("attr").unwrap_or_default());
    ok()
}

/// `{"<key>":[]}`.
fn empty_list(key: &str) -> Outcome {
    Ok(Value::Object(vec![(
        key.to_owned(),
        Value::Array(Vec::new()),
    )]))
    .into()
}

fn list_tcp_conns(_: &mut State, _: &Args) -> Outcome {
    empty_list("Connections")
}

fn sr_get_status(_: &mut State, _: &Args) -> Outcome {
    err(404, "Group not found")
}

/// 4.0.1's events, in `evi:list` order (the ids are the positions).
const EVENTS: &[&str] = &[
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

fn events_list(_: &mut State, _: &Args) -> Outcome {
    let events = EVENTS
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Value::Object(vec![
                ("name".into(), Value::from(*n)),
                ("id".into(), Value::Int(i as i64)),
            ])
        })
        .collect();
    Ok(Value::Object(vec![("Events".into(), Value::Array(events))])).into()
}

fn event_id(name: &str) -> Option<i64> {
    EVENTS.iter().position(|e| *e == name).map(|i| i as i64)
}

fn event_subscribe(s: &mut State, a: &Args) -> Outcome {
    let event = a.str("event").unwrap_or_default();
    let socket = a.str("socket").unwrap_or_default();
    let expire = a.int("expire").unwrap_or(3600).max(0) as u64;
    let legacy = s.flavor == Flavor::V2;
    if event_id(&event).is_none() || !s.evi.subscribe(&event, &socket, expire, legacy) {
        return err(400, "Bad parameter value");
    }
    ok()
}

fn subscribers_list(s: &mut State, a: &Args) -> Outcome {
    let subs = s.evi.list();
    let entry = |name: &str, id: i64| {
        let list = subs
            .iter()
            .filter(|x| x.event == name && a.str("socket").is_none_or(|want| want == x.socket))
            .map(|x| {
                Value::Object(vec![
                    ("socket".into(), Value::from(x.socket.as_str())),
                    ("expire".into(), Value::Int(x.expire as i64)),
                    ("ttl".into(), Value::Int(x.ttl.as_secs_f64().ceil() as i64)),
                ])
            })
            .collect::<Vec<_>>();
        (!list.is_empty()).then(|| {
            Value::Object(vec![
                ("name".into(), Value::from(name)),
                ("id".into(), Value::Int(id)),
                ("Subscribers".into(), Value::Array(list)),
            ])
        })
    };
    if let Some(event) = a.str("event") {
        let Some(id) = event_id(&event) else {
            return err(400, "Unknown event");
        };
        let e = entry(&event, id).unwrap_or_else(|| {
            Value::Object(vec![
                ("name".into(), Value::from(event.as_str())),
                ("id".into(), Value::Int(id)),
            ])
        });
        return Ok(Value::Object(vec![("Event".into(), e)])).into();
    }
    let events = EVENTS
        .iter()
        .enumerate()
        .filter_map(|(i, n)| entry(n, i as i64))
        .collect();
    Ok(Value::Object(vec![("Events".into(), Value::Array(events))])).into()
}

fn list_blacklists(_: &mut State, _: &Args) -> Outcome {
    empty_list("Lists")
}

fn no_clustering(_: &mut State, _: &Args) -> Outcome {
    err(400, "Clustering not enabled")
}

fn table_check(a: &Args) -> Result<(), ServerError> {
    if a.str("table_name").as_deref() == Some("location") {
        Ok(())
    } else {
        Err(ServerError::new(404, "Table not found"))
    }
}

fn ul_rm(s: &mut State, a: &Args) -> Outcome {
    let r = table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default()));
    match r {
        Err(e) => Outcome::Done(Err(e)),
        Ok(aor) => {
            // like usrloc's delete_urecord, an unknown AOR is not an error
            let Some(i) = s.usrloc.iter().position(|(x, _)| *x == aor) else {
                return ok();
            };
            let (aor, contacts) = s.usrloc.remove(i);
            for c in &contacts {
                s.emit_contact("E_UL_CONTACT_DELETE", &aor, c);
            }
            s.emit_aor("E_UL_AOR_DELETE", &aor);
            ok()
        }
    }
}

fn ul_rm_contact(s: &mut State, a: &Args) -> Outcome {
    let aor = match table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default())) {
        Ok(aor) => aor,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let contact = a.str("contact").unwrap_or_default();
    let Some(i) = s.usrloc.iter().position(|(x, _)| *x == aor) else {
        return err(404, "AOR not found");
    };
    let Some(j) = s.usrloc[i].1.iter().position(|c| c.uri == contact) else {
        return err(404, "Contact not found");
    };
    let gone = s.usrloc[i].1.remove(j);
    s.emit_contact("E_UL_CONTACT_DELETE", &aor, &gone);
    if s.usrloc[i].1.is_empty() {
        s.usrloc.remove(i);
        s.emit_aor("E_UL_AOR_DELETE", &aor);
    }
    ok()
}

fn ul_dump(s: &mut State, a: &Args) -> Outcome {
    let brief = a.int("brief").unwrap_or(0) != 0;
    let t = now();
    let aors = s
        .usrloc
        .iter()
        .map(|(aor, c)| s.aor_value(aor, c, brief, t))
        .collect();
    let domain = Value::Object(vec![
        ("name".into(), Value::from("location")),
        ("hash_size".into(), Value::Int(512)),
        ("AORs".into(), Value::Array(aors)),
    ]);
    Ok(Value::Object(vec![(
        "Domains".into(),
        Value::Array(vec![domain]),
    )]))
    .into()
}

fn ul_add(s: &mut State, a: &Args) -> Outcome {
    let aor = match table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default())) {
        Ok(aor) => aor,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let q = a.str("q").unwrap_or_default();
    let q = match q.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => {
            let s = format!("{v:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        _ => return err(400, "Bad parameter"),
    };
    let expires = a.int("expires").unwrap_or(0).max(0) as u64;
    let c = Contact {
        uri: a.str("contact").unwrap_or_default(),
        id: 0,
        expires: if expires == 0 { 0 } else { now() + expires },
        q,
        callid: "dfjrewr12386fd6-343@opensips.mi".into(),
        cseq: 1,
        user_agent: "OpenSIPS MI Server".into(),
        flags: a.int("flags").unwrap_or(0),
        methods: a.int("methods").unwrap_or(0),
        socket: None,
    };
    let known = s
        .usrloc
        .iter()
        .find(|(x, _)| *x == aor)
        .map(|(_, cs)| cs.iter().any(|e| e.uri == c.uri));
    let uri = c.uri.clone();
    s.insert_contact(&aor, c);
    if known.is_none() {
        s.emit_aor("E_UL_AOR_INSERT", &aor);
    }
    let stored = s
        .usrloc
        .iter()
        .find(|(x, _)| *x == aor)
        .and_then(|(_, cs)| cs.iter().find(|e| e.uri == uri))
        .cloned();
    if let Some(c) = stored {
        let name = if known == Some(true) {
            "E_UL_CONTACT_UPDATE"
        } else {
            "E_UL_CONTACT_INSERT"
        };
        s.emit_contact(name, &aor, &c);
    }
    ok()
}

fn ul_show_contact(s: &mut State, a: &Args) -> Outcome {
    let aor = match table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default())) {
        Ok(aor) => aor,
        Err(e) => return Outcome::Done(Err(e)),
    };
    match s.usrloc.iter().find(|(x, _)| *x == aor) {
        Some((x, c)) => Ok(s.aor_value(x, c, false, now())).into(),
        None => err(404, "AOR not found"),
    }
}

fn dlg_list_any(s: &State, a: &Args, ctx: bool) -> Outcome {
    if let Some(callid) = a.str("callid") {
        let tag = a.str("from_tag");
        return match s
            .dialogs
            .iter()
            .find(|d| d.callid == callid && tag.as_ref().is_none_or(|t| *t == d.caller_tag))
        {
            Some(d) => Ok(Value::Object(vec![(
                "Dialog".into(),
                s.dialog_value(d, ctx),
            )]))
            .into(),
            None => err(404, "No such dialog"),
        };
    }
    if let (Some(index), Some(counter)) = (a.int("index"), a.int("counter")) {
        let list: Vec<Value> = s
            .dialogs
            .iter()
            .skip(index.max(0) as usize)
            .take(counter.max(0) as usize)
            .map(|d| s.dialog_value(d, ctx))
            .collect();
        return Ok(Value::Object(vec![
            ("count".into(), Value::Int(s.dialogs.len() as i64)),
            ("Dialogs".into(), Value::Array(list)),
        ]))
        .into();
    }
    let list = s.dialogs.iter().map(|d| s.dialog_value(d, ctx)).collect();
    Ok(Value::Object(vec![("Dialogs".into(), Value::Array(list))])).into()
}

fn dlg_list(s: &mut State, a: &Args) -> Outcome {
    dlg_list_any(s, a, false)
}

fn dlg_list_ctx(s: &mut State, a: &Args) -> Outcome {
    dlg_list_any(s, a, true)
}

fn dlg_end_dlg(s: &mut State, a: &Args) -> Outcome {
    let id = a.str("dialog_id").unwrap_or_default();
    match s
        .dialogs
        .iter_mut()
        .find(|d| (d.id == id || d.callid == id) && d.state < 5)
    {
        Some(d) => {
            d.state = 5;
            d.timeout = 0;
            ok()
        }
        None => err(404, "Requested Dialog not found"),
    }
}

fn profile_get_size(s: &mut State, a: &Args) -> Outcome {
    let profile = a.str("profile").unwrap_or_default();
    let has_value = match profile.as_str() {
        "inbound" => false,
        "caller" => true,
        _ => return err(404, "Profile not found"),
    };
    let value = a.str("value");
    let count = s
        .dialogs
        .iter()
        .filter(|d| d.state < 5)
        .filter(|d| {
            d.profiles
                .iter()
                .any(|(p, v)| *p == profile && value.as_ref().is_none_or(|x| x == v))
        })
        .count();
    Ok(Value::Object(vec![(
        "Profile".into(),
        Value::Object(vec![
            ("name".into(), Value::from(profile)),
            (
                "value".into(),
                if has_value {
                    Value::from(value)
                } else {
                    Value::Null
                },
            ),
            ("count".into(), Value::Int(count as i64)),
            ("shared".into(), Value::from("no")),
            ("replicated".into(), Value::from("no")),
        ]),
    )]))
    .into()
}

fn list_all_profiles(_: &mut State, _: &Args) -> Outcome {
    let p = |n: &str, v: bool| {
        Value::Object(vec![
            ("name".into(), Value::from(n)),
            ("has value".into(), Value::Bool(v)),
        ])
    };
    Ok(Value::Object(vec![(
        "Profiles".into(),
        Value::Array(vec![p("inbound", false), p("caller", true)]),
    )]))
    .into()
}

/// `unescape_crlf` (ut.h, 3.0+): the two-character sequences `\r` and `\n` become CR, LF.
fn unescape_crlf(s: &str) -> String {
    s.replace("\\r", "\r").replace("\\n", "\n")
}

fn header<'h>(headers: &'h str, names: &[&str]) -> Option<&'h str> {
    headers
        .split("\r\n")
        .flat_map(|l| l.split('\n'))
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            names
                .iter()
                .any(|x| n.trim().eq_ignore_ascii_case(x))
                .then(|| v.trim())
        })
}

fn t_uac_dlg(s: &mut State, a: &Args) -> Outcome {
    let method = a.str("method").unwrap_or_default();
    let ruri = a.str("ruri").unwrap_or_default();
    let headers = unescape_crlf(&a.str("headers").unwrap_or_default());
    let body = a.str("body");
    if !(ruri.starts_with("sip:") || ruri.starts_with("sips:") || ruri.starts_with("tel:")) {
        return err(400, "Invalid ruri");
    }
    if method.is_empty() || method.contains(|c: char| !c.is_ascii_alphabetic()) {
        return err(400, "Invalid method");
    }
    let Some(from) = header(&headers, &["From", "f"]) else {
        return err(400, "From missing");
    };
    let Some(to) = header(&headers, &["To", "t"]) else {
        return err(400, "To missing");
    };
    if body.is_some() {
        if header(&headers, &["Content-Type", "c"]).is_none() {
            return err(400, "Content-Type missing");
        }
        if header(&headers, &["Content-Length", "l"]).is_some() {
            return err(400, "Content-Length disallowed");
        }
    }
    let req = UacRequest {
        method: method.clone(),
        ruri,
        headers: headers.clone(),
        next_hop: a.str("next_hop"),
        socket: a.str("socket"),
        body,
    };
    if let Some(sock) = &req.socket {
        if sock != SIP_SOCKET {
            return err(404, "Local socket not found");
        }
    }
    let reply = match &s.uac_responder {
        Some(f) => f(&req),
        None => UacReply::ok(),
    };
    s.uac_log.push(req);
    let mut o = vec![("Status".to_owned(), Value::from(&reply.status))];
    if !reply.status.starts_with("408") {
        let to_tag = if to.contains(";tag=") {
            String::new()
        } else {
            ";tag=mock1".into()
        };
        let message = reply.message.unwrap_or_else(|| {
            format!(
                "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{:x}.0\r\nTo: {to}{to_tag}\r\nFrom: {from}\r\n\
                 CSeq: 10 {method}\r\nCall-ID: {:x}-1@127.0.0.1\r\nServer: opensips-mi mock\r\nContent-Length: 0\r\n\r\n",
                now(),
                s.uac_log.len()
            )
        });
        o.push(("Message".into(), Value::from(message)));
    }
    Outcome::Async {
        delay: s.uac_delay,
        result: Ok(Value::Object(o)),
    }
}

// ---------------------------------------------------------------- time formatting

fn civil(t: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wday = ((days + 4).rem_euclid(7)) as u32; // 1970-01-01 was a Thursday
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
        wday,
    )
}

/// `ctime()` layout, UTC: `Thu Nov 26 11:06:18 2026`.
pub(crate) fn ctime(t: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss, wd) = civil(t);
    format!(
        "{} {} {d:2} {hh:02}:{mm:02}:{ss:02} {y}",
        DAYS[wd as usize],
        MONTHS[(m - 1) as usize]
    )
}

/// `2026-11-26 11:06:16`, UTC.
fn datetime(t: u64) -> String {
    let (y, m, d, hh, mm, ss, _) = civil(t);
    format!("{y}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(ctime(1_795_691_178), "Thu Nov 26 11:06:18 2026");
        assert_eq!(datetime(1_795_691_176), "2026-11-26 11:06:16");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn recipe_matching_like_the_server() {
        let b = BUILTINS
            .iter()
            .find(|b| b.flat == "get_statistics")
            .unwrap();
        let e = bind(b, &Params::None).err().unwrap();
        assert_eq!(e.data, Some(Value::from("Too few or too many parameters")));
        let e = bind(b, &Params::named([("statistics", "x")]))
            .err()
            .unwrap();
        assert_eq!(
            e.data,
            Some(Value::from("Bad type for parameter 'statistics'"))
        );
        assert!(bind(b, &Params::positional([["dialog:"]])).is_ok());
        let t = BUILTINS.iter().find(|b| b.flat == "t_uac_dlg").unwrap();
        let e = bind(t, &Params::positional(["a", "b", "c"])).err().unwrap();
        assert_eq!(
            e.data,
            Some(Value::from("Command only supports named parameters"))
        );
        let u = BUILTINS
            .iter()
            .find(|b| b.flat == "ul_show_contact")
            .unwrap();
        let e = bind(u, &Params::named([("table", "location"), ("aor", "alice")]))
            .err()
            .unwrap();
        assert_eq!(e.data, Some(Value::from("Named parameters do not match")));
        let d = BUILTINS.iter().find(|b| b.flat == "ul_dump").unwrap();
        let e = bind(d, &Params::named([("brief", "yes")])).err().unwrap();
        assert_eq!(e.data, Some(Value::from("Bad type for parameter 'brief'")));
    }

    #[test]
    fn group_name_selects_nothing() {
        let s = State::new(Flavor::V3);
        assert!(s.select_stats(&["core:rcv_requests".into()]).is_empty());
        assert_eq!(
            s.select_stats(&["rcv_requests".into()])[0].0,
            "core:rcv_requests"
        );
        assert!(s.select_stats(&["dialog:".into()]).len() > 5);
    }
}
