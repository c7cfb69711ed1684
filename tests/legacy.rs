//! OpenSIPS 1.x/2.x: the legacy text MI over real FIFOs and sockets, protocol selection and
//! auto-detection, and property tests for argument framing.
#![cfg(feature = "mock")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opensips_mi::mock::{Fault, Flavor, MockServer};
use opensips_mi::{Connection, Error, Options, Params, Protocol, Value, cmd};
use proptest::prelude::*;

/// The generation a mock flavour speaks.
fn generation_of(flavor: Flavor) -> Protocol {
    if matches!(flavor, Flavor::V1 | Flavor::V2) {
        Protocol::Legacy
    } else {
        Protocol::JsonRpc
    }
}

fn legacy_connections(server: &MockServer) -> Vec<Connection> {
    let opts = Options::builder()
        .timeout(support::GENEROUS)
        .protocol(Protocol::Legacy);
    [server.fifo_url(), server.udp_url(), server.unix_url()]
        .iter()
        .flatten()
        .map(|u| Connection::open_with(u, opts.clone()).unwrap())
        .collect()
}

#[test]
fn legacy_round_trips_on_every_transport() {
    for flavor in [Flavor::V1, Flavor::V2] {
        let server = MockServer::builder()
            .flavor(flavor)
            .fifo()
            .udp()
            .unix()
            .start()
            .unwrap();
        for conn in legacy_connections(&server) {
            let up = cmd("uptime").keep_raw().execute(&conn).unwrap();
            assert_eq!((up.code(), up.message()), (200, "OK"));
            assert!(up.raw().unwrap().starts_with(b"200 OK\nNow:: "));
            assert!(up.value()["Up time"].as_str().unwrap().ends_with(" [sec]"));
            // a list argument becomes one line per element
            let stats = cmd("get_statistics")
                .arg(["dialog:", "tm:"])
                .query(&conn)
                .unwrap();
            assert_eq!(stats["dialog:active_dialogs"].as_i64(), Some(2));
            assert!(stats.get("tm:inuse_transactions").is_some());
            // named arguments are sent as name::value
            cmd("cache_store")
                .param("system", "local")
                .param("attr", "k")
                .param("value", "v")
                .execute(&conn)
                .unwrap();
            let fetched = conn
                .command("cache_fetch", ["local", "k"])
                .unwrap()
                .into_value();
            if flavor == Flavor::V1 {
                // 1.11: one unnamed `key = [value]` line
                assert_eq!(fetched, Value::from(vec!["k = [v]"]));
            } else {
                assert_eq!(fetched["value"], Value::from("v"));
            }
            assert_eq!(
                opensips_mi::MiCommands::cache_fetch(&conn, "local", "k")
                    .unwrap()
                    .as_deref(),
                Some("v")
            );
            // errors keep code and reason
            match conn.command("ul_show_contact", ["location", "nobody"]) {
                Err(Error::Command(e)) => {
                    assert_eq!((e.code, e.message.as_str()), (404, "AOR not found"))
                }
                other => panic!("{other:?}"),
            }
            match conn.command("no_such_command", ()) {
                Err(Error::Command(e)) => {
                    assert!(e.code == 500 && e.message.contains("not available"), "{e}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn t_uac_dlg_reply_with_a_sip_message_inside() {
    for flavor in [Flavor::V1, Flavor::V2] {
        let server = MockServer::builder()
            .flavor(flavor)
            .fifo()
            .udp()
            .start()
            .unwrap();
        let headers =
            "From: <sip:mi@127.0.0.1>;tag=x\r\nTo: <sip:phone@127.0.0.1>\r\nEvent: check-sync\r\n";
        // a phone listening (the mock answers 408 for a loopback port where nothing listens)
        let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ruri = format!("sip:phone@{}", phone.local_addr().unwrap());
        for conn in legacy_connections(&server) {
            let v = conn
                .command("t_uac_dlg", ["NOTIFY", &ruri, ".", ".", headers])
                .unwrap()
                .into_value();
            // 2.4 names the lines (`Status::`…), 1.11 does not: the same SipReply
            if flavor == Flavor::V2 {
                assert_eq!(v["Status"].as_str(), Some("200 OK"));
            }
            let reply = opensips_mi::sip::SipReply::from_value(&v).unwrap();
            assert_eq!((reply.status, reply.reason.as_str()), (200, "OK"));
            let msg = reply.message.unwrap();
            assert!(
                msg.contains("CSeq: 10 NOTIFY\r\n") && msg.ends_with("\r\n\r\n"),
                "{msg:?}"
            );
        }
        let sent = server.uac_requests();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[0].headers, headers,
            "the header block arrived byte for byte"
        );
        assert_eq!(sent[0].next_hop, None, "'.' means none");
    }
}

#[test]
fn unsendable_arguments_are_refused_before_sending() {
    for flavor in [Flavor::V1, Flavor::V2] {
        let server = MockServer::builder()
            .flavor(flavor)
            .fifo()
            .udp()
            .start()
            .unwrap();
        for conn in legacy_connections(&server) {
            for bad in ["", "\"starts with a quote", "two\n\nparagraphs"] {
                let e = conn
                    .command("cache_store", ["local", "k", bad])
                    .unwrap_err();
                assert!(matches!(e, Error::InvalidRequest { .. }), "{bad:?}: {e}");
            }
        }
        assert!(server.requests().is_empty());
    }
}

#[test]
fn auto_detection_picks_the_generation_within_one_timeout() {
    let timeout = Duration::from_secs(2);
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let server = MockServer::builder()
            .flavor(flavor)
            .fifo()
            .udp()
            .unix()
            .start()
            .unwrap();
        let expected = generation_of(flavor);
        for url in [
            server.fifo_url().unwrap(),
            server.udp_url().unwrap(),
            server.unix_url().unwrap(),
        ] {
            let conn = Connection::open_with(
                &url,
                Options::builder().timeout(timeout).protocol(Protocol::Auto),
            )
            .unwrap();
            let start = Instant::now();
            assert_eq!(conn.protocol().unwrap(), expected, "{flavor:?} {url}");
            assert!(
                start.elapsed() < timeout,
                "{flavor:?} {url}: {:?}",
                start.elapsed()
            );
            // cached: no second probe
            let before = server.requests().len();
            assert_eq!(conn.protocol().unwrap(), expected);
            assert_eq!(server.requests().len(), before);
            // and the server is left in a good state: commands work right after
            let v = conn.command("version", ()).unwrap().into_value();
            assert!(
                v["Server"].as_str().unwrap().starts_with("OpenSIPS ("),
                "{flavor:?} {url}: {v}"
            );
            let up = conn.command("uptime", ()).unwrap().into_value();
            assert!(up["Up time"].as_str().is_some(), "{flavor:?} {url}: {up}");
        }
        // the probe never ran a command on the server other than `version`
        assert!(
            server
                .requests()
                .iter()
                .all(|r| ["version", "uptime", ""].contains(&r.method.as_str()))
        );
    }
}

/// The generation probe this crate sent before 2026-12: a JSON request and a 2.x request in
/// one write. On a real 3.x/4.x server the 2.x tail stays in mi_fifo's buffer and every
/// later request from anyone is dropped until a restart; the mock now does the same.
#[test]
fn the_old_probe_would_have_wedged_the_fifo() {
    for flavor in [Flavor::V3, Flavor::V4] {
        let server = MockServer::builder().flavor(flavor).fifo().start().unwrap();
        let fifo = server.fifo_path().unwrap();
        let old_probe = b":osips_mi_j:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}\n:version:osips_mi_l\n\n";
        let answer = support::raw_fifo_exchange(
            fifo,
            server.reply_dir(),
            Some("osips_mi_j"),
            old_probe,
            support::GENEROUS,
        );
        assert!(answer.starts_with(b"{\"jsonrpc\""), "{flavor:?}");
        let conn = Connection::open_with(
            &server.fifo_url().unwrap(),
            Options::builder().timeout(Duration::from_millis(300)),
        )
        .unwrap();
        for _ in 0..3 {
            let e = conn.command("uptime", ()).unwrap_err();
            assert!(e.is_timeout(), "{flavor:?}: {e}");
        }
    }
}

/// After detection, on each flavour and datagram and FIFO alike, the server serves a second
/// client without a single failure; the probes leave no file behind.
#[test]
fn auto_detection_leaves_the_server_serving_everyone() {
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let server = MockServer::builder()
            .flavor(flavor)
            .fifo()
            .udp()
            .start()
            .unwrap();
        let expected = generation_of(flavor);
        for url in [server.fifo_url().unwrap(), server.udp_url().unwrap()] {
            let auto = Connection::open_with(
                &url,
                Options::builder()
                    .timeout(support::GENEROUS)
                    .protocol(Protocol::Auto),
            )
            .unwrap();
            assert_eq!(auto.protocol().unwrap(), expected, "{flavor:?} {url}");
            // the 2.x probe's reply FIFO is named with digits only: read after a JSON
            // request by a slow 3.x/4.x, it parses as a JSON number instead of wedging
            if matches!(flavor, Flavor::V1 | Flavor::V2) && url.starts_with("fifo") {
                let probe = server
                    .requests()
                    .into_iter()
                    .find(|r| r.method == "version")
                    .unwrap();
                let name = probe.reply_name.unwrap();
                assert!(name.bytes().all(|b| b.is_ascii_digit()), "{name}");
            }
            let plain = Connection::open_with(
                &url,
                Options::builder()
                    .timeout(support::GENEROUS)
                    .protocol(expected),
            )
            .unwrap();
            for i in 0..100 {
                let up = plain.command("uptime", ());
                assert!(up.is_ok(), "{flavor:?} {url} request {i}: {up:?}");
            }
        }
        let left: Vec<String> = std::fs::read_dir(server.reply_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("osips_mi_") || n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        assert!(left.is_empty(), "{flavor:?}: {left:?}");
    }
}

/// A 3.x server too slow to answer the JSON probe within its patience gets the 2.x probe
/// as well; it must not wedge, and the late JSON answer still decides.
#[test]
fn a_slow_server_is_still_detected_and_not_wedged() {
    for flavor in [Flavor::V3, Flavor::V4] {
        let server = MockServer::builder().flavor(flavor).fifo().start().unwrap();
        // patience is a third of the timeout: 1 s here; the JSON answer comes after 1.3 s
        server.inject_times(Fault::Delay(Duration::from_millis(1300)), 1);
        let auto = Connection::open_with(
            &server.fifo_url().unwrap(),
            Options::builder()
                .timeout(Duration::from_secs(4))
                .protocol(Protocol::Auto),
        )
        .unwrap();
        assert_eq!(auto.protocol().unwrap(), Protocol::JsonRpc, "{flavor:?}");
        let plain = Connection::open_with(
            &server.fifo_url().unwrap(),
            Options::builder().timeout(support::GENEROUS),
        )
        .unwrap();
        for i in 0..100 {
            let up = plain.command("uptime", ());
            assert!(up.is_ok(), "{flavor:?} request {i}: {up:?}");
        }
    }
}

#[test]
fn auto_detection_against_nothing_is_bounded() {
    let server = MockServer::builder()
        .flavor(Flavor::V3)
        .fifo()
        .udp()
        .start()
        .unwrap();
    server.inject(Fault::NoReply);
    let timeout = Duration::from_millis(500);
    for url in [server.fifo_url().unwrap(), server.udp_url().unwrap()] {
        let conn = Connection::open_with(
            &url,
            Options::builder().timeout(timeout).protocol(Protocol::Auto),
        )
        .unwrap();
        let start = Instant::now();
        let e = conn.protocol().unwrap_err();
        assert!(
            e.is_timeout() && e.to_string().contains("detecting"),
            "{url}: {e}"
        );
        // bounded by the timeout, with room for a loaded machine (it once took 644 ms)
        assert!(
            start.elapsed() < timeout + Duration::from_secs(2),
            "{url}: {:?}",
            start.elapsed()
        );
    }
    assert!(support::leftovers(server.reply_dir(), "osips_mi_").is_empty());
}

#[test]
fn protocol_in_urls_and_http_limits() {
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .udp()
        .http()
        .start()
        .unwrap();
    let conn = Connection::open(&format!("{}?protocol=legacy", server.udp_url().unwrap())).unwrap();
    assert_eq!(conn.protocol().unwrap(), Protocol::Legacy);
    assert!(Connection::open(&format!("{}?protocol=bogus", server.udp_url().unwrap())).is_err());
    let e =
        Connection::open(&format!("{}?protocol=legacy", server.http_url().unwrap())).unwrap_err();
    assert!(e.to_string().contains("no JSON-RPC over HTTP"), "{e}");
}

#[test]
fn a_late_legacy_reply_never_answers_the_next_command() {
    // Legacy replies carry no id: after a timeout the datagram socket is replaced.
    for flavor in [Flavor::V1, Flavor::V2] {
        let server = MockServer::builder()
            .flavor(flavor)
            .udp()
            .unix()
            .fifo()
            .start()
            .unwrap();
        server.handle("echo", |p| Ok(p.get(0, "").cloned().unwrap_or_default()));
        server.handle("slow", |p| Ok(p.get(0, "").cloned().unwrap_or_default()));
        server.inject_for("slow", Fault::Delay(Duration::from_millis(150)));
        for conn in legacy_connections(&server) {
            for i in 0..3 {
                let slow = cmd("slow").arg("late").timeout(Duration::from_millis(40));
                assert!(slow.query(&conn).unwrap_err().is_timeout());
                let until = Instant::now() + Duration::from_millis(250);
                let mut n = 0;
                while Instant::now() < until {
                    let v = cmd("echo").arg(format!("{i}-{n}")).query(&conn).unwrap();
                    assert_eq!(
                        v,
                        Value::from(vec![format!("{i}-{n}")]),
                        "{}",
                        conn.endpoint()
                    );
                    n += 1;
                }
            }
        }
    }
}

/// Every argument the mock's custom handler received, per call.
fn recording_server(flavor: Flavor) -> (MockServer, Arc<Mutex<Vec<Params>>>) {
    let server = MockServer::builder()
        .flavor(flavor)
        .fifo()
        .udp()
        .start()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    server.handle("record", move |p| {
        log.lock().unwrap().push(p.clone());
        Ok(Value::from("OK"))
    });
    (server, seen)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary strings (quotes, colons, backslashes, unicode, blanks, line breaks) either
    /// reach the server's handler unchanged, or are refused before anything is sent.
    #[test]
    fn legacy_arguments_arrive_unchanged_or_are_refused(
        values in proptest::collection::vec("(\\PC|[\"':\\\\ \\t\\r\\n=.]){0,24}", 1..4)
    ) {
        let (server, seen) = recording_server(Flavor::V2);
        for url in [server.fifo_url().unwrap(), server.udp_url().unwrap()] {
            let conn = Connection::open_with(&url, Options::builder().timeout(support::GENEROUS).protocol(Protocol::Legacy)).unwrap();
            seen.lock().unwrap().clear();
            let sent = server.requests().len();
            match conn.command("record", Params::positional(values.iter().map(String::as_str))) {
                Ok(_) => {
                    let got = seen.lock().unwrap().pop().expect("the handler ran");
                    prop_assert_eq!(got, Params::positional(values.iter().map(String::as_str)), "{}", url);
                }
                Err(Error::InvalidRequest { .. }) => prop_assert_eq!(server.requests().len(), sent, "refused but sent"),
                Err(e) => prop_assert!(false, "{url}: {e}"),
            }
        }
    }

    /// The same over JSON-RPC, where every string is sendable.
    #[test]
    fn jsonrpc_arguments_arrive_unchanged(values in proptest::collection::vec("\\PC{0,40}", 1..4)) {
        let (server, seen) = recording_server(Flavor::V3);
        for url in [server.fifo_url().unwrap(), server.udp_url().unwrap()] {
            let conn = Connection::open_with(&url, Options::builder().timeout(support::GENEROUS)).unwrap();
            conn.command("record", Params::positional(values.iter().map(String::as_str))).unwrap();
            let got = seen.lock().unwrap().pop().expect("the handler ran");
            prop_assert_eq!(got, Params::positional(values.iter().map(String::as_str)));
        }
    }
}

/// 2.4 prints a node with attributes and an empty value with two blanks after `::`
/// (`Subscriber::  socket=udp:… expire=0`): those are attributes, not the value.
#[test]
fn an_empty_value_with_attributes_keeps_its_attributes() {
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let conn = support::legacy(&server.fifo_url().unwrap());
    conn.command(
        "event_subscribe",
        ["E_UL_AOR_INSERT", "udp:127.0.0.1:37081", "3600"],
    )
    .unwrap();
    let r = cmd("subscribers_list").keep_raw().execute(&conn).unwrap();
    let text = String::from_utf8_lossy(r.raw().unwrap());
    assert!(
        text.contains("\tSubscriber::  socket=udp:127.0.0.1:37081 expire=3600"),
        "{text}"
    );
    let event = &r.value()["Event"];
    assert_eq!(
        event["value"].as_str(),
        Some("E_UL_AOR_INSERT"),
        "{}",
        r.value()
    );
    let sub = &event["Subscriber"];
    assert_eq!(sub["value"].as_str(), Some(""), "{}", r.value());
    assert_eq!(sub["socket"].as_str(), Some("udp:127.0.0.1:37081"));
    assert_eq!(sub["expire"].as_str(), Some("3600"));
}

/// JSON-RPC (the default) against a 2.4 server by mistake: a clear hint on FIFO and
/// datagram, and the user's next, correct call works (the FIFO request ended in an empty
/// line, so 2.x did not take the next request as its parameters).
#[test]
fn talking_json_to_a_2x_server_by_mistake() {
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .udp()
        .start()
        .unwrap();
    let wrong = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder()
            .timeout(Duration::from_millis(400))
            .protocol(Protocol::JsonRpc),
    )
    .unwrap();
    let e = wrong.command("uptime", ()).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("1.x/2.x") && text.contains("protocol=legacy"),
        "{text}"
    );
    let right = support::legacy(&server.fifo_url().unwrap());
    assert!(right.command("uptime", ()).is_ok());

    let e = Connection::open(&format!("{}?protocol=jsonrpc", server.udp_url().unwrap()))
        .unwrap()
        .command("uptime", ())
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("1.x/2.x") && text.contains("protocol=legacy"),
        "{text}"
    );
}
