//! Typed helpers give the same structs on every generation: from the real 3.x and 2.x
//! captures of the same command, and from the 3.5 and 2.4 mocks holding the same state.
#![cfg(feature = "mock")]

mod support;

use std::time::Duration;

use opensips_mi::helpers::{DialogState, Expires};
use opensips_mi::mock::{Fault, Flavor, MockServer};
use opensips_mi::server::{Generation, ServerFacts};
use opensips_mi::{
    Cmd, Connection, ConnectionLike, Error, MiCommands, Options, Protocol, Response, Result,
    jsonrpc, legacy,
};

/// Answers every command with one captured reply (3.x JSON-RPC or 2.x text).
struct Captured(Vec<u8>);

impl ConnectionLike for Captured {
    fn execute(&self, _cmd: &Cmd) -> Result<Response> {
        if self.0.starts_with(b"{") {
            let id = serde_json::Deserializer::from_slice(&self.0)
                .into_iter::<serde_json::Value>()
                .next()
                .and_then(|v| v.ok()?["id"].as_u64())
                .unwrap_or(1) as u32;
            jsonrpc::decode_reply(&self.0, id)
        } else {
            legacy::decode_reply(&self.0)
        }
    }

    fn server(&self) -> Result<ServerFacts> {
        Ok(ServerFacts::new(if self.0.starts_with(b"{") {
            Generation::V3
        } else {
            Generation::V2
        }))
    }
}

fn captured(rel: &str) -> Captured {
    Captured(support::fixture(rel))
}

/// Answers every command with one captured 2.4 `mi_xmlrpc_ng` reply (an HTTP capture).
struct CapturedXml24(Vec<u8>);

impl ConnectionLike for CapturedXml24 {
    fn execute(&self, _cmd: &Cmd) -> Result<Response> {
        let body = &self.0[self.0.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        opensips_mi::xmlrpc::decode_reply_v2(body)
    }

    fn server(&self) -> Result<ServerFacts> {
        Ok(ServerFacts::new(Generation::V2))
    }
}

/// 2.4's mi_xmlrpc_ng writes an empty attribute as the text `value`: a contact registered
/// without q has `Q` = `value` (the real capture). The contacts still decode, q is `None`.
#[test]
fn a_2_4_xmlrpc_q_of_value_is_no_q() {
    let raw = support::fixture("2x/xmlrpc/05_ul_dump.reply.http");
    assert!(String::from_utf8_lossy(&raw).contains("<name>Q</name><value>value</value>"));
    let domains = CapturedXml24(raw).ul_dump().unwrap();
    let contacts: Vec<_> = domains
        .iter()
        .flat_map(|d| &d.aors)
        .flat_map(|a| &a.contacts)
        .collect();
    assert!(contacts.len() >= 5, "{contacts:?}");
    assert!(contacts.iter().any(|c| c.q == Some(0.5)));
    assert!(contacts.iter().any(|c| c.q.is_none()));
    let alice = CapturedXml24(support::fixture(
        "2x/xmlrpc/06_ul_show_contact_alice.reply.http",
    ))
    .ul_show_contact("location", "alice")
    .unwrap();
    assert_eq!(alice.len(), 2);
    assert!(alice.iter().all(|c| c.q.is_none()));
}

/// Every optional field reads an odd value as absent instead of failing the reply.
#[test]
fn odd_optional_fields_are_absent_not_fatal() {
    let reply = br#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","hash_size":"value","AORs":[{"AOR":"a","Contacts":[{"Contact":"sip:a@h","ContactID":{"x":1},"Expires":60,"Q":"value","Callid":"c","Cseq":1,"User-agent":true,"Received":[1,2],"State":"CS_NEW","Flags":0,"Cflags":"","Socket":null,"Methods":"value","Attr":".","SIP_instance":""}]}]}]},"id":1}"#;
    let domains = Captured(reply.to_vec()).ul_dump().unwrap();
    assert_eq!(domains[0].hash_size, None);
    let c = &domains[0].aors[0].contacts[0];
    assert_eq!(
        (
            c.q,
            c.methods,
            c.contact_id.as_deref(),
            c.user_agent.as_deref()
        ),
        (None, None, None, None)
    );
    assert_eq!((c.received.as_deref(), c.attr.as_deref()), (None, None));
    let ps = br#"{"jsonrpc":"2.0","result":{"Processes":[{"ID":"value","PID":12,"Type":"attendant"}]},"id":1}"#;
    let ps = Captured(ps.to_vec()).ps().unwrap();
    assert_eq!((ps[0].id, ps[0].pid), (None, 12));
}

#[test]
fn uptime_version_ps_from_both_generations() {
    let (u3, u2) = (
        captured("3x/fifo/01_uptime.reply.json").uptime().unwrap(),
        captured("2x/fifo/01_uptime.reply.txt").uptime().unwrap(),
    );
    assert_eq!(
        (u3.up_time, u2.up_time),
        (Duration::from_secs(3), Duration::from_secs(3))
    );
    assert_eq!(u3.now.len(), u2.now.len());
    let (v3, v2) = (
        captured("3x/fifo/02_version.reply.json").version().unwrap(),
        captured("2x/fifo/02_version.reply.txt").version().unwrap(),
    );
    assert_eq!(
        (v3.release(), v2.release()),
        (Some("3.5.9"), Some("2.4.11"))
    );
    let (p3, p2) = (
        captured("3x/fifo/03_ps.reply.json").ps().unwrap(),
        captured("2x/fifo/03_ps.reply.txt").ps().unwrap(),
    );
    assert_eq!(p3.len(), 10);
    assert_eq!(p2.len(), 9);
    for (a, b) in p3.iter().zip(&p2) {
        // same layout, ids from 0
        assert_eq!(a.id, b.id);
        assert!(a.pid > 0 && b.pid > 0);
    }
    assert_eq!(
        (p3[0].kind.as_str(), p2[0].kind.as_str()),
        ("attendant", "attendant")
    );
    assert_eq!(p2[6].kind, "SIP receiver udp:127.0.0.1:5062 ");
    let (l3, l2) = (
        captured("3x/fifo/51_log_level_get.reply.json")
            .log_level()
            .unwrap(),
        captured("2x/fifo/30_log_level_get.reply.txt")
            .log_level()
            .unwrap(),
    );
    assert!(
        l3.iter()
            .chain(&l2)
            .all(|p| p.log_level == Some(3) && p.id.is_none())
    );
    let (w3, w2) = (
        captured("3x/fifo/00_which.reply.json").which().unwrap(),
        captured("2x/fifo/00_which.reply.txt").which().unwrap(),
    );
    for name in ["uptime", "ul_dump", "t_uac_dlg", "cache_fetch"] {
        assert!(
            w3.iter().any(|n| n == name) && w2.iter().any(|n| n == name),
            "{name}"
        );
    }
}

#[test]
fn statistics_from_both_generations() {
    let s3 = captured("3x/fifo/09_get_statistics_dialog_tm_positional.reply.json")
        .get_statistics(&["dialog:", "tm:"])
        .unwrap();
    let s2 = captured("2x/fifo/05_get_statistics_dialog_tm.reply.txt")
        .get_statistics(&["dialog:", "tm:"])
        .unwrap();
    assert_eq!(s3.get("dialog:active_dialogs"), Some(2));
    assert_eq!(s2.get("dialog:active_dialogs"), Some(2));
    for (name, _) in s2.iter() {
        assert!(s3.get(name).is_some(), "{name} is in 2.4 but not in 3.5");
    }
    // the filter keeps only what was asked for
    let only = captured("3x/fifo/09_get_statistics_dialog_tm_positional.reply.json")
        .get_statistics(&["dialog:active_dialogs"])
        .unwrap();
    assert_eq!(only.len(), 1);
    // 2.x "404 Statistics Not Found" is an empty result
    assert!(
        captured("2x/fifo/07_get_statistics_prefixed.reply.txt")
            .get_statistics(&["nothing"])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn contacts_from_both_generations_are_the_same_structs() {
    let mut c3 = captured("3x/fifo/18_ul_show_contact_alice.reply.json")
        .ul_show_contact("location", "alice")
        .unwrap();
    let mut c2 = captured("2x/fifo/11_ul_show_contact_alice.reply.txt")
        .ul_show_contact("location", "alice")
        .unwrap();
    assert_eq!(c3.len(), 2);
    // the captures differ in what is per run: ids, Call-IDs, the SIP port
    for c in c3.iter_mut().chain(c2.iter_mut()) {
        c.contact_id = None;
        c.callid.clear();
        c.socket = c
            .socket
            .take()
            .map(|s| s.rsplit_once(':').unwrap().0.to_owned());
    }
    assert_eq!(c3, c2);
    assert_eq!(c3[0].expires, Expires::In(3598));
    assert_eq!(c3[0].methods, Some(4_294_967_295));
    // a missing AOR is no contacts, a bad table an error, on both
    assert!(
        captured("3x/fifo/21_ul_show_contact_missing_aor.reply.json")
            .ul_show_contact("location", "x")
            .unwrap()
            .is_empty()
    );
    assert!(
        captured("2x/fifo/12_ul_show_contact_missing.reply.txt")
            .ul_show_contact("location", "x")
            .unwrap()
            .is_empty()
    );
    let e = captured("3x/fifo/22_ul_show_contact_bad_table.reply.json")
        .ul_show_contact("nosuch", "x")
        .unwrap_err();
    assert!(
        matches!(e, Error::Command(ref s) if s.message == "Table not found"),
        "{e}"
    );
    assert!(
        captured("2x/fifo/13_ul_show_contact_bad_table.reply.txt")
            .ul_show_contact("nosuch", "x")
            .is_err()
    );
}

#[test]
fn ul_dump_from_both_generations() {
    let d3 = captured("3x/fifo/16_ul_dump.reply.json").ul_dump().unwrap();
    let d2 = captured("2x/fifo/09_ul_dump.reply.txt").ul_dump().unwrap();
    for d in [&d3, &d2] {
        assert_eq!(
            (d.len(), d[0].name.as_str(), d[0].hash_size),
            (1, "location", Some(512))
        );
        let names: Vec<&str> = d[0].aors.iter().map(|a| a.aor.as_str()).collect();
        for n in ["alice", "bob", "carol", "dave", "erin"] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
        let dave = d[0].aors.iter().find(|a| a.aor == "dave").unwrap();
        assert!(
            dave.contacts
                .iter()
                .any(|c| c.q == Some(0.5) && c.user_agent.as_deref() == Some("OpenSIPS MI Server"))
        );
    }
    let brief = captured("3x/fifo/17_ul_dump_brief.reply.json")
        .ul_dump()
        .unwrap();
    let brief2 = captured("2x/fifo/10_ul_dump_brief.reply.txt")
        .ul_dump()
        .unwrap();
    assert_eq!(brief[0].aors.len(), 5);
    assert_eq!(brief2[0].aors.len(), 5);
    assert!(brief2[0].aors.iter().all(|a| a.contacts.is_empty()));
}

#[test]
fn dialogs_from_both_generations() {
    let d3 = captured("3x/fifo/24_dlg_list_ctx.reply.json")
        .dlg_list_ctx()
        .unwrap();
    let d2 = captured("2x/fifo/15_dlg_list_ctx.reply.txt")
        .dlg_list_ctx()
        .unwrap();
    assert_eq!((d3.len(), d2.len()), (2, 2));
    for (a, b) in d3.iter().zip(&d2) {
        assert_eq!(
            (a.state, b.state),
            (DialogState::Confirmed, DialogState::Confirmed)
        );
        assert_eq!(a.state.code(), 4);
        assert_eq!(a.callees.len(), 1);
        assert_eq!(b.callees.len(), 1);
        assert!(a.callees[0].callee_tag.is_some() && b.callees[0].callee_tag.is_some());
        assert_eq!(a.context, b.context, "context profiles normalised alike");
        assert!(a.from_uri.starts_with("sip:caller") && b.from_uri.starts_with("sip:caller"));
    }
    let ended = captured("2x/setup/dlg_list_after_end_datagram.reply.txt")
        .dlg_list()
        .unwrap();
    assert!(
        ended
            .iter()
            .all(|d| d.state == DialogState::Deleted && d.timeout == 0)
    );
}

#[test]
fn cache_fetch_from_both_generations() {
    assert_eq!(
        captured("3x/fifo/29_cache_fetch.reply.json")
            .cache_fetch("local", "k_fifo")
            .unwrap()
            .as_deref(),
        Some("hello \"world\" / fifo")
    );
    assert_eq!(
        captured("2x/fifo/20_cache_fetch.reply.txt")
            .cache_fetch("local", "k_fifo")
            .unwrap()
            .as_deref(),
        Some("hello \"world\" / fifo")
    );
    assert_eq!(
        captured("3x/fifo/30_cache_fetch_missing.reply.json")
            .cache_fetch("local", "x")
            .unwrap(),
        None
    );
    assert_eq!(
        captured("2x/fifo/21_cache_fetch_missing.reply.txt")
            .cache_fetch("local", "x")
            .unwrap(),
        None
    );
    assert_eq!(
        Captured(b"200 OK\nuserdid = [18005552211]\n\n".to_vec())
            .cache_fetch("local", "userdid")
            .unwrap()
            .as_deref(),
        Some("18005552211")
    );
    assert!(
        captured("3x/fifo/32_cache_fetch_bad_system.reply.json")
            .cache_fetch("redis", "x")
            .is_err()
    );
}

/// The same state behind a 2.4 and a 3.5 mock gives equal structs.
#[test]
fn the_same_state_gives_equal_structs_on_the_2_4_and_3_5_mocks() {
    let v2 = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .udp()
        .start()
        .unwrap();
    let v3 = MockServer::start().unwrap();
    let opts = Options::builder().timeout(support::GENEROUS);
    let legacy = Connection::open_with(
        &v2.fifo_url().unwrap(),
        opts.clone().protocol(Protocol::Legacy),
    )
    .unwrap();
    let mut conns = vec![Connection::open_with(&v3.fifo_url().unwrap(), opts.clone()).unwrap()];
    for url in [
        v3.udp_url().unwrap(),
        v3.unix_url().unwrap(),
        v3.http_url().unwrap(),
        v3.xmlrpc_url().unwrap(),
    ] {
        conns.push(Connection::open_with(&url, opts.clone()).unwrap());
    }
    for conn in &conns {
        let name = conn.endpoint();
        assert_eq!(conn.ps().unwrap(), legacy.ps().unwrap(), "{name}");
        assert_eq!(
            conn.log_level().unwrap(),
            legacy.log_level().unwrap(),
            "{name}"
        );
        // expiries and start times are "now + n": they may straddle a second boundary
        let seconds_apart = |a: &[opensips_mi::helpers::Contact],
                             b: &[opensips_mi::helpers::Contact]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| {
                    let close = match (x.expires, y.expires) {
                        (Expires::In(p), Expires::In(q)) => p.abs_diff(q) <= 2,
                        (p, q) => p == q,
                    };
                    let (mut x, mut y) = (x.clone(), y.clone());
                    x.expires = Expires::Permanent;
                    y.expires = Expires::Permanent;
                    close && x == y
                })
        };
        let (d3, d2) = (conn.ul_dump().unwrap(), legacy.ul_dump().unwrap());
        assert_eq!(d3.len(), d2.len());
        for (a, b) in d3.iter().zip(&d2) {
            assert_eq!(
                (&a.name, a.hash_size, a.aors.len()),
                (&b.name, b.hash_size, b.aors.len()),
                "{name}"
            );
            for (x, y) in a.aors.iter().zip(&b.aors) {
                assert_eq!(x.aor, y.aor, "{name}");
                assert!(
                    seconds_apart(&x.contacts, &y.contacts),
                    "{name}: {x:?} {y:?}"
                );
            }
        }
        assert!(seconds_apart(
            &conn.ul_show_contact("location", "alice").unwrap(),
            &legacy.ul_show_contact("location", "alice").unwrap()
        ));
        assert_eq!(conn.which().unwrap(), legacy.which().unwrap(), "{name}");
        let mut d3 = conn.dlg_list_ctx().unwrap();
        let mut d2 = legacy.dlg_list_ctx().unwrap();
        for d in d3.iter_mut().chain(d2.iter_mut()) {
            d.id.clear();
            d.db_id = None;
            d.callid.clear();
        }
        for (a, b) in d3.iter_mut().zip(d2.iter_mut()) {
            assert!(a.timestart.abs_diff(b.timestart) <= 2 && a.timeout.abs_diff(b.timeout) <= 2);
            (a.timestart, a.timeout) = (b.timestart, b.timeout);
        }
        assert_eq!(d3, d2, "{name}");
        let stats3 = conn
            .get_statistics(&["dialog:", "core:rcv_requests", "usrloc:"])
            .unwrap();
        assert_eq!(
            stats3,
            legacy
                .get_statistics(&["dialog:", "core:rcv_requests", "usrloc:"])
                .unwrap(),
            "{name}"
        );
        let (u3, u2) = (conn.uptime().unwrap(), legacy.uptime().unwrap());
        assert!(
            u3.up_time.abs_diff(u2.up_time) <= Duration::from_secs(2),
            "{u3:?} {u2:?}"
        );
        conn.cache_store("local", "k", "v w", Some(60)).unwrap();
        legacy.cache_store("local", "k", "v w", None).unwrap();
        assert_eq!(
            conn.cache_fetch("local", "k").unwrap(),
            legacy.cache_fetch("local", "k").unwrap()
        );
        conn.cache_remove("local", "k").unwrap();
        assert_eq!(conn.cache_fetch("local", "k").unwrap(), None);
        assert_eq!(
            conn.set_log_level(4).unwrap(),
            legacy.set_log_level(4).unwrap()
        );
    }
}

#[test]
fn user_types_and_field_paths_in_errors() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Dump {
        #[serde(rename = "Domains")]
        domains: Vec<Dom>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Dom {
        #[serde(rename = "AORs")]
        aors: Vec<A>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct A {
        #[serde(rename = "AOR")]
        aor: u32, // wrong on purpose: AORs are strings
    }
    let server = MockServer::builder().udp().start().unwrap();
    let conn = Connection::open(&server.udp_url().unwrap()).unwrap();
    let e = opensips_mi::cmd("ul_dump")
        .query_as::<Dump>(&conn)
        .unwrap_err();
    assert!(
        matches!(e, Error::UnexpectedReply { ref field, .. } if field == "Domains[0].AORs[0].AOR"),
        "{e}"
    );
    #[derive(serde::Deserialize)]
    struct Up {
        #[serde(rename = "Up time")]
        up: String,
    }
    let up: Up = conn.command("uptime", ()).unwrap().deserialize().unwrap();
    assert!(up.up.ends_with("[sec]"));
}

mod verification {
    use super::*;

    #[test]
    fn unknown_commands_are_refused_without_being_sent() {
        let server = MockServer::builder().udp().start().unwrap();
        let conn = Connection::open(&server.udp_url().unwrap()).unwrap();
        let e = opensips_mi::cmd("ul_dupm")
            .verified()
            .execute(&conn)
            .unwrap_err();
        assert!(
            matches!(e, Error::UnknownCommand { ref name, ref suggestion, .. } if name == "ul_dupm" && suggestion.as_deref() == Some("ul_dump")),
            "{e}"
        );
        assert!(e.to_string().contains("did you mean `ul_dump`"), "{e}");
        // the generation probe (`version`, default protocol auto), then only `which`
        assert!(
            server
                .requests()
                .iter()
                .all(|r| r.method == "which" || r.method == "version"),
            "only `which` was sent"
        );
        // a known command goes through, and the answer is cached
        opensips_mi::cmd("uptime")
            .verified()
            .execute(&conn)
            .unwrap();
        server.clear_requests();
        opensips_mi::cmd("uptime")
            .verified()
            .execute(&conn)
            .unwrap();
        let methods: Vec<String> = server.requests().iter().map(|r| r.method.clone()).collect();
        assert_eq!(methods, ["uptime"]);
    }

    #[test]
    fn opensips_4_names_and_aliases() {
        let server = MockServer::builder()
            .flavor(Flavor::V4)
            .fifo()
            .start()
            .unwrap();
        let conn = Connection::open(&server.fifo_url().unwrap()).unwrap();
        conn.verify("usrloc:dump").unwrap();
        conn.verify("ul_dump").unwrap();
        conn.verify("dump").unwrap();
        let e = conn.verify("tm:t_uac_dlg").unwrap_err();
        assert!(matches!(e, Error::UnknownCommand { .. }), "{e}");
        let e = conn.verify("usrloc:dupm").unwrap_err();
        assert!(
            matches!(e, Error::UnknownCommand { ref suggestion, .. } if suggestion.as_deref() == Some("usrloc:dump")),
            "{e}"
        );
        // what was sent: only `which` probes (and the generation probe, `version`)
        assert!(
            server
                .requests()
                .iter()
                .all(|r| r.method == "which" || r.method == "version")
        );
    }

    /// 4.0's `which` lists only `module:command`; the did-you-mean also knows the old names
    /// (the shipped alias table), on every transport.
    #[test]
    fn opensips_4_suggests_old_names_too() {
        let server = MockServer::builder()
            .flavor(Flavor::V4)
            .fifo()
            .udp()
            .http()
            .start()
            .unwrap();
        for url in [
            server.fifo_url().unwrap(),
            server.udp_url().unwrap(),
            server.http_url().unwrap(),
        ] {
            let conn = Connection::open(&url).unwrap();
            for (typo, want) in [
                ("ul_dupm", "ul_dump"),
                ("t_uac_dgl", "t_uac_dlg"),
                ("get_statistcs", "get_statistics"),
                ("usrloc:dupm", "usrloc:dump"),
            ] {
                match conn.verify(typo) {
                    Err(Error::UnknownCommand { suggestion, .. }) => {
                        assert_eq!(suggestion.as_deref(), Some(want), "{url} {typo}")
                    }
                    other => panic!("{url} {typo}: {other:?}"),
                }
            }
        }
    }

    /// When the `which` listing itself fails, that failure is the answer, not "unknown".
    #[test]
    fn a_failed_listing_is_not_an_unknown_command() {
        let server = MockServer::builder().fifo().udp().start().unwrap();
        // `which command=…` says "no such command", the listing then fails
        server.handle("which", |params| match params.get(0, "command") {
            Some(_) => Err(opensips_mi::ServerError::new(404, "unknown command")),
            None => Err(opensips_mi::ServerError::new(500, "listing failed")),
        });
        for url in [server.fifo_url().unwrap(), server.udp_url().unwrap()] {
            let conn = Connection::open(&url).unwrap();
            match conn.verify("ul_dupm") {
                Err(Error::Command(e)) => assert_eq!(e.code, 500, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        // on a legacy server, a listing that times out is a timeout
        let server = MockServer::builder()
            .flavor(Flavor::V2)
            .fifo()
            .start()
            .unwrap();
        server.inject_for("which", Fault::NoReply);
        let conn = Connection::open_with(
            &server.fifo_url().unwrap(),
            Options::builder()
                .timeout(Duration::from_millis(300))
                .protocol(Protocol::Legacy),
        )
        .unwrap();
        let e = conn.verify("ul_dupm").unwrap_err();
        assert!(e.is_timeout(), "{e}");
    }

    #[test]
    fn legacy_servers_use_the_which_list() {
        let server = MockServer::builder()
            .flavor(Flavor::V2)
            .fifo()
            .start()
            .unwrap();
        let conn = Connection::open_with(
            &server.fifo_url().unwrap(),
            Options::builder().protocol(Protocol::Legacy),
        )
        .unwrap();
        conn.verify("dlg_list").unwrap();
        assert!(matches!(
            conn.verify("dlg_lits"),
            Err(Error::UnknownCommand { .. })
        ));
        let which_calls = server
            .requests()
            .iter()
            .filter(|r| r.method == "which")
            .count();
        assert_eq!(which_calls, 1, "the list is fetched once");
    }
}

/// `ul_dump_each` hands over exactly the contacts of `ul_dump`, on every generation.
#[test]
fn ul_dump_each_gives_the_contacts_of_ul_dump() {
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let (_server, conn) = support::auto_fifo(flavor);
        let whole: Vec<(String, String, String)> = conn
            .ul_dump()
            .unwrap()
            .into_iter()
            .flat_map(|d| {
                let name = d.name.clone();
                d.aors.into_iter().flat_map(move |a| {
                    let (name, aor) = (name.clone(), a.aor.clone());
                    a.contacts
                        .into_iter()
                        .map(move |c| (name.clone(), aor.clone(), c.contact))
                })
            })
            .collect();
        let mut streamed = Vec::new();
        let n = conn
            .ul_dump_each(|c| {
                streamed.push((c.domain.to_owned(), c.aor.to_owned(), c.contact.contact))
            })
            .unwrap();
        assert_eq!(n, whole.len(), "{flavor:?}");
        assert_eq!(streamed, whole, "{flavor:?}");
        assert!(n >= 3, "{flavor:?}");
    }
}

/// `dlg_list_each` / `dlg_list_ctx_each` hand over exactly the dialogs of `dlg_list` / `dlg_list_ctx`.
#[test]
fn dlg_list_each_gives_the_dialogs_of_dlg_list() {
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let (_server, conn) = support::auto_fifo(flavor);
        for ctx in [false, true] {
            let whole = if ctx {
                conn.dlg_list_ctx().unwrap()
            } else {
                conn.dlg_list().unwrap()
            };
            let mut streamed = Vec::new();
            let n = if ctx {
                conn.dlg_list_ctx_each(|d| streamed.push(d)).unwrap()
            } else {
                conn.dlg_list_each(|d| streamed.push(d)).unwrap()
            };
            assert_eq!(n, whole.len(), "{flavor:?} ctx={ctx}");
            assert_eq!(streamed, whole, "{flavor:?} ctx={ctx}");
            // the 1.11, 2.4 and 3.5 mocks start with two calls up (the 4.0 one with none)
            assert!(flavor == Flavor::V4 || n >= 2, "{flavor:?}");
        }
    }
}

/// A `ul_dump` reply saved as bytes (what `--output raw` prints) reads into the list the
/// connection gives and into the same contacts one at a time, on every generation; an
/// error reply is the server's error, not an empty list.
#[test]
fn saved_ul_dump_replies_read_like_live_ones() {
    use opensips_mi::helpers::{ul_contacts_in, ul_dump_in};
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let (_server, conn) = support::auto_fifo(flavor);
        let resp = opensips_mi::cmd("ul_dump")
            .keep_raw()
            .execute(&conn)
            .unwrap();
        let raw = resp.raw().unwrap();
        assert_eq!(
            raw.starts_with(b"200 OK\n"),
            matches!(flavor, Flavor::V1 | Flavor::V2),
            "{flavor:?}"
        );
        let live = conn.ul_dump().unwrap();
        assert_eq!(ul_dump_in(raw).unwrap(), live, "{flavor:?}");
        let mut uris = Vec::new();
        let n = ul_contacts_in(raw, |c| uris.push(c.contact.contact)).unwrap();
        let expected: Vec<String> = live
            .iter()
            .flat_map(|d| &d.aors)
            .flat_map(|a| &a.contacts)
            .map(|c| c.contact.clone())
            .collect();
        assert!(
            !expected.is_empty(),
            "{flavor:?}: the mock has registrations"
        );
        assert_eq!((n, uris), (expected.len(), expected), "{flavor:?}");
    }
    let json_error =
        br#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#;
    let text_error = b"404 Table not found\n\n";
    for raw in [&json_error[..], &text_error[..]] {
        assert!(
            matches!(ul_dump_in(raw), Err(Error::Rpc(_) | Error::Command(_))),
            "{:?}",
            ul_dump_in(raw)
        );
        assert!(
            matches!(
                ul_contacts_in(raw, |_| {}),
                Err(Error::Rpc(_) | Error::Command(_))
            ),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    assert!(matches!(
        ul_dump_in(b"<html>no</html>"),
        Err(Error::MalformedReply { .. })
    ));
}

/// A saved `dlg_list` / `dlg_list_ctx` reply reads into the dialogs the connection gives,
/// on every generation; an error reply is the server's error.
#[test]
fn saved_dlg_list_replies_read_like_live_ones() {
    use opensips_mi::helpers::dialogs_in;
    let mut seen = 0;
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let (_server, conn) = support::auto_fifo(flavor);
        for (method, live) in [
            ("dlg_list", conn.dlg_list().unwrap()),
            ("dlg_list_ctx", conn.dlg_list_ctx().unwrap()),
        ] {
            let resp = opensips_mi::cmd(method).keep_raw().execute(&conn).unwrap();
            let raw = resp.raw().unwrap();
            let mut read = Vec::new();
            let n = dialogs_in(raw, |d| read.push(d)).unwrap();
            seen += n;
            assert_eq!((n, read), (live.len(), live), "{flavor:?} {method}");
        }
    }
    // the 2.4 and 3.5 mocks start with calls up
    assert!(seen >= 8, "{seen}");
    let json_error =
        br#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#;
    assert!(matches!(dialogs_in(json_error, |_| {}), Err(Error::Rpc(_))));
    assert!(matches!(
        dialogs_in(b"500 command 'dlg_list' not available\n", |_| {}),
        Err(Error::Command(_))
    ));
    assert!(matches!(
        dialogs_in(b"<html/>", |_| {}),
        Err(Error::MalformedReply { .. })
    ));
}
