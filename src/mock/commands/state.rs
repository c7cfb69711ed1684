//! The mock server's state: registrations, dialogs, statistics, cache, subscriptions.

use super::*;

/// One registered contact.
#[derive(Clone, Debug)]
pub(crate) struct Contact {
    pub(crate) uri: String,
    pub(crate) id: u64,
    /// Absolute UNIX expiry; 0 = permanent.
    pub(crate) expires: u64,
    pub(crate) q: String,
    pub(crate) callid: String,
    pub(crate) cseq: i64,
    pub(crate) user_agent: String,
    pub(crate) flags: i64,
    pub(crate) methods: i64,
    pub(crate) socket: Option<String>,
}

/// One dialog.
#[derive(Clone, Debug)]
pub(crate) struct Dialog {
    pub(crate) id: String,
    pub(crate) db_id: String,
    pub(crate) state: i64,
    pub(crate) start: u64,
    pub(crate) timeout: u64,
    pub(crate) callid: String,
    pub(crate) from_uri: String,
    pub(crate) to_uri: String,
    pub(crate) caller_tag: String,
    pub(crate) callee_tag: String,
    pub(crate) profiles: Vec<(String, String)>,
}

/// Everything the mock remembers.
pub(crate) struct State {
    pub(crate) flavor: Flavor,
    pub(crate) started: u64,
    pub(crate) log_level: i64,
    /// (name, incremental, value), in the real server's order.
    pub(crate) stats: Vec<(String, bool, i64)>,
    pub(crate) cache: BTreeMap<String, (String, Option<u64>)>,
    /// AOR → contacts, in insertion order.
    pub(crate) usrloc: Vec<(String, Vec<Contact>)>,
    pub(crate) dialogs: Vec<Dialog>,
    pub(crate) next_contact_id: u64,
    pub(crate) uac_log: Vec<UacRequest>,
    pub(crate) uac_responder: Option<crate::mock::UacResponder>,
    pub(crate) uac_delay: Duration,
    /// tm `fr_timeout`: the wait before a local 408 for an unreachable target.
    pub(crate) fr_timeout: Duration,
    pub(crate) handlers: Vec<(String, Handler)>,
    pub(crate) evi: crate::mock::evi::Evi,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) const STATS: &[(&str, bool, i64)] = &[
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

/// Statistics 1.11 does not have (beyond those of [`NOT_IN_2_4`]): no `load:load*` family,
/// no `net:waiting_tls` in a TLS-less build (INDEX.md surprise 17).
pub(super) const NOT_IN_1_11: &[&str] = &[
    "load:load",
    "load:load1m",
    "load:load10m",
    "load:processes_number",
    "net:waiting_tls",
];

/// Statistics 2.4 does not have yet.
pub(super) const NOT_IN_2_4: &[&str] = &[
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

pub(super) const SIP_SOCKET: &str = "udp:127.0.0.1:5060";
pub(super) const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

impl State {
    pub(crate) fn new(flavor: Flavor) -> State {
        let t = now();
        let mut s = State {
            flavor,
            started: t,
            log_level: 3,
            stats: STATS
                .iter()
                .filter(|(n, _, _)| !flavor.is_legacy() || !NOT_IN_2_4.contains(n))
                .filter(|(n, _, _)| flavor != Flavor::V1 || !NOT_IN_1_11.contains(n))
                .map(|(n, inc, v)| ((*n).to_owned(), *inc, *v))
                // 1.11's per-listener load: a name with `:` in it (INDEX.md surprise 17)
                .chain(
                    (flavor == Flavor::V1).then(|| (format!("load:{SIP_SOCKET}-load"), false, 0)),
                )
                .collect(),
            cache: BTreeMap::new(),
            usrloc: Vec::new(),
            dialogs: Vec::new(),
            next_contact_id: 4_465_107_924_305_326_107,
            uac_log: Vec::new(),
            uac_responder: None,
            uac_delay: Duration::ZERO,
            fr_timeout: Duration::from_secs(5),
            handlers: Vec::new(),
            evi: crate::mock::evi::Evi::default(),
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
        } else if flavor == Flavor::V1 {
            &[
                ("2230051346739", "2230051346739", "2-12162@127.0.0.1"),
                ("12146763812696", "12146763812696", "1-12162@127.0.0.1"),
            ]
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

    pub(crate) fn use_domain(&self) -> bool {
        self.flavor == Flavor::V4
    }

    pub(crate) fn aor_name(&self, user: &str) -> String {
        if self.use_domain() {
            format!("{user}@127.0.0.1")
        } else {
            user.to_owned()
        }
    }

    /// Applies usrloc's `use_domain` to an AOR given by the client.
    pub(crate) fn fix_aor(&self, aor: &str) -> Result<String, ServerError> {
        match (self.use_domain(), aor.split_once('@')) {
            (true, None) => Err(ServerError::new(400, "Domain missing in AOR")),
            (true, Some(_)) => Ok(aor.to_owned()),
            (false, Some((user, _))) => Ok(user.to_owned()),
            (false, None) => Ok(aor.to_owned()),
        }
    }

    pub(crate) fn insert_contact(&mut self, aor: &str, mut c: Contact) {
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
        let legacy = self.flavor.is_legacy();
        self.evi.raise(name, &params, legacy)
    }

    pub(crate) fn emit_aor(&mut self, name: &str, aor: &str) {
        let p = Value::Object(
            vec![
                ("domain".into(), Value::from("location")),
                ("aor".into(), Value::from(aor)),
            ]
            .into(),
        );
        self.emit(name, p);
    }

    /// `E_UL_CONTACT_*` parameters, as 4.0.1 sends them (`modules/usrloc/ul_evi.c`).
    pub(crate) fn emit_contact(&mut self, name: &str, aor: &str, c: &Contact) {
        let qval =
            c.q.parse::<f64>()
                .map_or(-1, |q| (q * 1000.0).round() as i64);
        let p = Value::Object(
            vec![
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
            ]
            .into(),
        );
        self.emit(name, p);
    }

    pub(crate) fn stat_value(&self, name: &str, stored: i64) -> i64 {
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
    pub(crate) fn select_stats(&self, names: &[String]) -> Vec<(String, bool, i64)> {
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

    pub(crate) fn contact_value(&self, c: &Contact, t: u64) -> Value {
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
        Value::Object(o.into())
    }

    pub(crate) fn aor_value(&self, aor: &str, contacts: &[Contact], brief: bool, t: u64) -> Value {
        let mut o = vec![("AOR".to_owned(), Value::from(aor))];
        if !brief {
            o.push((
                "Contacts".into(),
                Value::Array(contacts.iter().map(|c| self.contact_value(c, t)).collect()),
            ));
        }
        Value::Object(o.into())
    }

    pub(crate) fn dialog_value(&self, d: &Dialog, ctx: bool) -> Value {
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
                Value::Array(
                    vec![Value::Object(
                        vec![
                            ("callee_tag".into(), Value::from(&d.callee_tag)),
                            (
                                "callee_contact".into(),
                                Value::from("sip:127.0.0.1:5072;transport=UDP"),
                            ),
                            ("caller_cseq".into(), Value::from("1")),
                            ("callee_route_set".into(), Value::from("")),
                            ("callee_bind_addr".into(), Value::from(SIP_SOCKET)),
                            ("callee_sdp".into(), Value::from(SDP)),
                        ]
                        .into(),
                    )]
                    .into(),
                ),
            ),
        ]);
        if ctx {
            let profiles = d
                .profiles
                .iter()
                .map(|(k, v)| Value::Object(vec![(k.clone(), Value::from(v))].into()))
                .collect();
            o.push((
                "context".into(),
                Value::Object(vec![("profiles".into(), Value::Array(profiles))].into()),
            ));
        }
        Value::Object(o.into())
    }

    /// Names `which` lists: flat names (3.x) or canonical names (4.0), plus user handlers.
    pub(crate) fn command_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTINS
            .iter()
            .filter(|b| {
                self.flavor != Flavor::V1 || !crate::mock::legacy::NOT_IN_1_11.contains(&b.flat)
            })
            .map(|b| {
                if self.flavor == Flavor::V4 {
                    b.canonical
                } else {
                    b.flat
                }
                .to_owned()
            })
            .collect();
        if self.flavor == Flavor::V1 {
            names.push("debug".into());
        }
        for (n, _) in &self.handlers {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
}
