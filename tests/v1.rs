//! OpenSIPS 1.11 (the mock's `Flavor::V1`, built from the `1x/` captures): every transport
//! (FIFO, UDP, unix datagram, the 1.x `mi_xmlrpc`), detection among three generations, the
//! typed helpers and SIP helpers, the same as on 2.4.
#![cfg(all(feature = "mock", feature = "http"))]

mod support;

use opensips_mi::helpers::Expires;
use opensips_mi::mock::{Flavor, MockServer};
use opensips_mi::server::Generation;
use opensips_mi::sip::{MessageSummary, mwi_update};
use opensips_mi::{Connection, Error, MiCommands, Options, Protocol, Value};

fn v1() -> MockServer {
    MockServer::builder()
        .flavor(Flavor::V1)
        .fifo()
        .udp()
        .unix()
        .http()
        .start()
        .unwrap()
}

fn urls(server: &MockServer) -> Vec<String> {
    vec![
        server.fifo_url().unwrap(),
        server.udp_url().unwrap(),
        server.unix_url().unwrap(),
        server.xmlrpc_url().unwrap(),
    ]
}

fn open(url: &str) -> Connection {
    Connection::open_with(url, Options::builder().timeout(support::GENEROUS)).unwrap()
}

#[test]
fn every_transport_detects_1x_and_its_release() {
    let server = v1();
    for url in urls(&server) {
        let conn = open(&url);
        assert_eq!(conn.protocol().unwrap(), Protocol::Legacy, "{url}");
        let facts = conn.server().unwrap();
        assert_eq!(facts.generation, Generation::V1, "{url}");
        assert_eq!(facts.version.as_deref(), Some("1.11.11-notls"), "{url}");
        assert!(!facts.has_list_statistics());
        // and it works right after
        let up = conn.uptime().unwrap();
        assert!(!up.now.is_empty(), "{url}");
    }
}

#[test]
fn typed_helpers_give_the_2x_structs() {
    let server = v1();
    let v2 = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let reference = open(&v2.fifo_url().unwrap())
        .ul_show_contact("location", "alice")
        .unwrap();
    for url in urls(&server) {
        let conn = open(&url);
        let alice = conn.ul_show_contact("location", "alice").unwrap();
        assert_eq!(alice.len(), 2, "{url}");
        for (c, r) in alice.iter().zip(&reference) {
            assert_eq!(c.contact, r.contact, "{url}");
            assert!(matches!(c.expires, Expires::In(_)), "{url}: {c:?}");
            assert_eq!((c.flags, c.methods), (0, Some(4_294_967_295)), "{url}");
            assert_eq!(c.callid, r.callid, "{url}");
            assert_eq!(c.q, None, "{url}");
        }
        assert!(
            conn.ul_show_contact("location", "nobody")
                .unwrap()
                .is_empty()
        );
        // ul_dump keeps its nesting, even over the flat XML-RPC string
        let dump = conn.ul_dump().unwrap();
        assert_eq!(dump[0].name, "location", "{url}");
        assert_eq!(dump[0].hash_size, Some(512), "{url}");
        let aors: Vec<&str> = dump[0].aors.iter().map(|a| a.aor.as_str()).collect();
        assert_eq!(aors.len(), 3, "{url}: {aors:?}");
        let alice = dump[0].aors.iter().find(|a| a.aor == "alice").unwrap();
        assert_eq!(alice.contacts.len(), 2, "{url}");
        assert_eq!(alice.contacts[0].cseq, 1, "{url}");
        let dialogs = conn.dlg_list_ctx().unwrap();
        assert_eq!(dialogs.len(), 2, "{url}");
        assert!(
            dialogs.iter().all(|d| !d.callees.is_empty()),
            "{url}: {dialogs:?}"
        );
        let stats = conn.get_statistics(&["dialog:", "tm:"]).unwrap();
        assert_eq!(stats.get("dialog:active_dialogs"), Some(2), "{url}");
        conn.cache_store("local", "k1", "a \"quoted\" <value>", None)
            .unwrap();
        assert_eq!(
            conn.cache_fetch("local", "k1").unwrap().as_deref(),
            Some("a \"quoted\" <value>"),
            "{url}"
        );
        assert_eq!(conn.cache_fetch("local", "nope").unwrap(), None, "{url}");
        assert_eq!(conn.ps().unwrap().len(), reference_ps_len(&v2), "{url}");
        assert!(conn.which().unwrap().iter().any(|n| n == "debug"), "{url}");
    }
}

fn reference_ps_len(v2: &MockServer) -> usize {
    open(&v2.fifo_url().unwrap()).ps().unwrap().len()
}

#[test]
fn crlf_reaches_the_server_over_1x_xmlrpc() {
    let server = v1();
    let conn = open(&server.xmlrpc_url().unwrap());
    conn.cache_store("local", "crlf", "l1\r\nl2\r\n", None)
        .unwrap();
    // read back over the FIFO, which keeps every byte
    let fifo = open(&server.fifo_url().unwrap());
    assert_eq!(
        fifo.cache_fetch("local", "crlf").unwrap().as_deref(),
        Some("l1\r\nl2\r\n")
    );
    // read back over 1.x XML-RPC the CRs are lost (the module strips them from replies
    // too), the lines are not
    assert_eq!(
        conn.cache_fetch("local", "crlf").unwrap().as_deref(),
        Some("l1\nl2\n")
    );
    fifo.cache_store("local", "lf", "a\nb", None).unwrap();
    assert_eq!(
        fifo.cache_fetch("local", "lf").unwrap().as_deref(),
        Some("a\nb")
    );
    let reply = mwi_update("sip:1001@10.0.0.21:5060", &MessageSummary::voice(2, 1))
        .unwrap()
        .send(&conn)
        .unwrap();
    assert_eq!(reply.status, 200);
    let sent = server.uac_requests();
    let headers = &sent.last().unwrap().headers;
    assert!(
        headers.contains("\r\n") && !headers.replace("\r\n", "").contains('\n'),
        "{headers:?}"
    );
    let message = reply.message.unwrap_or_default();
    assert!(message.ends_with("\r\n\r\n"), "{message:?}");
}

#[test]
fn a_1x_reply_never_passes_for_another_generation() {
    let server = v1();
    for url in [server.xmlrpc_url().unwrap(), server.udp_url().unwrap()] {
        let conn = Connection::open_with(
            &url,
            Options::builder()
                .timeout(support::GENEROUS)
                .protocol(Protocol::JsonRpc),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let e = conn.command("version", ()).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let text = e.to_string();
        assert!(
            text.contains("1.x") && text.contains("protocol=") && !e.is_timeout(),
            "{url}: {text}"
        );
    }
}

#[test]
fn unknown_commands_on_1x_xmlrpc() {
    let server = v1();
    let conn = open(&server.xmlrpc_url().unwrap());
    let e = conn.command("ul_dupm", ()).unwrap_err();
    assert!(matches!(&e, Error::Rpc(s) if s.code == -506), "{e}");
    assert!(e.is_unknown_command());
    match conn.verify("ul_dupm") {
        Err(Error::UnknownCommand { suggestion, .. }) => {
            assert_eq!(suggestion.as_deref(), Some("ul_dump"))
        }
        other => panic!("{other:?}"),
    }
    // log level: 1.11 has `debug`
    let v = conn.command("debug", ()).unwrap().into_value();
    assert_eq!(v["DEBUG"], Value::from("3"));
}

#[test]
fn log_levels_through_debug() {
    let server = v1();
    for url in urls(&server) {
        let conn = open(&url);
        assert_eq!(conn.server().unwrap().log_level_command(), "debug");
        assert_eq!(conn.set_log_level(4).unwrap(), 4, "{url}");
        assert_eq!(conn.set_log_level(3).unwrap(), 3, "{url}");
        match conn.log_level() {
            Err(Error::UnknownCommand { suggestion, .. }) => {
                assert_eq!(suggestion.as_deref(), Some("debug"), "{url}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

/// A pool detects once: connections opened after one found the generation start with it.
#[test]
fn a_pool_detects_the_generation_once() {
    let server = v1();
    let pool = opensips_mi::Pool::open_with(
        &server.udp_url().unwrap(),
        3,
        Options::builder().timeout(support::GENEROUS),
    )
    .unwrap();
    pool.get().unwrap().uptime().unwrap();
    let (a, b, c) = (
        pool.get().unwrap(),
        pool.get().unwrap(),
        pool.get().unwrap(),
    );
    for conn in [&a, &b, &c] {
        conn.uptime().unwrap();
    }
    let probes = server
        .requests()
        .iter()
        .filter(|r| r.method == "version")
        .count();
    // the first connection's legacy `version` (its JSON-RPC probe, answered `500 command not
    // available`, is not a request the 1.x mock records), and no other
    assert_eq!(probes, 1);
}

/// 2.4's `mi_xmlrpc_ng` (untyped values) next to it: detected as 2.x, the same typed
/// results as over its FIFO.
#[test]
fn the_2x_xmlrpc_is_told_apart_and_typed_alike() {
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .http()
        .start()
        .unwrap();
    let (fifo, xml) = (
        open(&server.fifo_url().unwrap()),
        open(&server.xmlrpc_url().unwrap()),
    );
    let facts = xml.server().unwrap();
    assert_eq!(
        (facts.generation, facts.version.as_deref()),
        (Generation::V2, Some("2.4.11"))
    );
    assert_eq!(xml.protocol().unwrap(), Protocol::Legacy);
    assert_eq!(
        xml.ul_show_contact("location", "alice").unwrap().len(),
        fifo.ul_show_contact("location", "alice").unwrap().len()
    );
    let strip = |mut d: Vec<opensips_mi::helpers::Domain>| {
        for dom in &mut d {
            for a in &mut dom.aors {
                for c in &mut a.contacts {
                    c.expires = Expires::Permanent; // seconds tick between the two calls
                }
            }
        }
        d
    };
    assert_eq!(
        strip(xml.ul_dump().unwrap()),
        strip(fifo.ul_dump().unwrap())
    );
    assert_eq!(
        xml.dlg_list_ctx().unwrap().len(),
        fifo.dlg_list_ctx().unwrap().len()
    );
    assert_eq!(
        xml.get_statistics(&["dialog:"]).unwrap(),
        fifo.get_statistics(&["dialog:"]).unwrap()
    );
    // a JSON-RPC connection is told at once
    let wrong = Connection::open_with(
        &server.xmlrpc_url().unwrap(),
        Options::builder()
            .timeout(support::GENEROUS)
            .protocol(Protocol::JsonRpc),
    )
    .unwrap();
    let e = wrong
        .command("ul_show_contact", ["location", "alice"])
        .unwrap_err();
    assert!(e.to_string().contains("2.x"), "{e}");
}

/// `Cmd::keep_raw` gives the reply's bytes on every 1.x transport, the flat XML-RPC too
/// (the CLI's `-o raw` prints them).
#[test]
fn keep_raw_on_every_1x_transport() {
    let server = v1();
    for url in urls(&server) {
        let conn = open(&url);
        let r = opensips_mi::cmd("uptime")
            .keep_raw()
            .execute(&conn)
            .unwrap();
        let raw = r.raw().unwrap_or_else(|| panic!("{url}: no raw bytes"));
        assert!(!raw.is_empty(), "{url}");
        assert_eq!(
            opensips_mi::cmd("uptime").execute(&conn).unwrap().raw(),
            None,
            "{url}"
        );
    }
}
