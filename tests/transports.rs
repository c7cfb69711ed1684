//! Round trips over a real FIFO, a UDP socket and a unix datagram socket against the mock.
#![cfg(feature = "mock")]

mod support;

use std::time::{Duration, Instant};

use opensips_mi::mock::{Fault, MockServer};
use opensips_mi::{Connection, Error, Options, Params, Protocol, Transport, Value, cmd};
use support::GENEROUS;

fn connections(server: &MockServer) -> Vec<Connection> {
    let opts = Options::builder().timeout(GENEROUS);
    let urls = server.urls();
    assert_eq!(urls.len(), 5, "every transport: {urls:?}");
    urls.iter()
        .map(|u| Connection::open_with(u, opts.clone()).unwrap())
        .collect()
}

fn is_xml(conn: &Connection) -> bool {
    conn.transport() == Transport::XmlRpc
}

#[test]
fn generic_command_positional_named_and_arrays_on_every_transport() {
    let server = MockServer::start().unwrap();
    for conn in connections(&server) {
        // the reply's bytes are kept only when asked for
        assert_eq!(conn.command("uptime", ()).unwrap().raw(), None);
        let up = cmd("uptime").keep_raw().execute(&conn).unwrap();
        assert_eq!((up.code(), up.message()), (200, "OK"));
        assert!(up.value()["Up time"].as_str().unwrap().ends_with(" [sec]"));
        let prefix: &[u8] = if is_xml(&conn) {
            b"<?xml"
        } else {
            br#"{"jsonrpc":"2.0","result":{"Now":"#
        };
        assert!(up.raw().unwrap().starts_with(prefix), "{}", conn.endpoint());

        // one array parameter, positional and named
        let pos = conn
            .command("get_statistics", [["dialog:", "tm:"]])
            .unwrap();
        let named = cmd("get_statistics")
            .param("statistics", ["dialog:", "tm:"])
            .query(&conn)
            .unwrap();
        assert_eq!(pos.value(), &named);
        let keys: Vec<&str> = named.as_object().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(keys[0], "dialog:active_dialogs");
        assert!(
            keys.iter()
                .all(|k| k.starts_with("dialog:") || k.starts_with("tm:"))
        );

        let contacts = cmd("ul_show_contact")
            .arg("location")
            .arg("alice")
            .query(&conn)
            .unwrap();
        assert_eq!(contacts["Contacts"].as_array().unwrap().len(), 2);
        let same = conn
            .command(
                "ul_show_contact",
                Params::named([("table_name", "location"), ("aor", "alice")]),
            )
            .unwrap();
        assert_eq!(same.value()["AOR"], Value::from("alice"));
    }
}

#[test]
fn server_errors_keep_code_message_and_data() {
    let server = MockServer::start().unwrap();
    for conn in connections(&server) {
        match cmd("ul_show_contact")
            .arg("location")
            .arg("nobody")
            .query(&conn)
        {
            Err(Error::Command(e)) => {
                assert_eq!((e.code, e.message.as_str()), (404, "AOR not found"))
            }
            other => panic!("{other:?}"),
        }
        // XML-RPC faults carry fixed texts and lose `data`, as with the real module.
        let xml = is_xml(&conn);
        match conn.command("no_such_command", ()) {
            Err(Error::Rpc(e)) if xml => assert_eq!(e.code, -32601),
            Err(Error::Rpc(e)) => {
                assert_eq!((e.code, e.message.as_str()), (-32601, "Method not found"))
            }
            other => panic!("{other:?}"),
        }
        match conn.command("get_statistics", ()) {
            Err(Error::Rpc(e)) if xml => assert_eq!(e.code, -32602),
            Err(Error::Rpc(e)) => {
                assert_eq!(e.data, Some(Value::from("Too few or too many parameters")))
            }
            other => panic!("{other:?}"),
        }
        match cmd("cache_fetch").arg("local").arg("absent").query(&conn) {
            Err(Error::Command(e)) => {
                assert_eq!((e.code, e.message.as_str()), (400, "Value not found"))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn state_is_shared_across_transports() {
    let server = MockServer::start().unwrap();
    let conns = connections(&server);
    conns[0]
        .command("cache_store", ["local", "k", "héllo \"w\" \u{2603}"])
        .unwrap();
    for c in &conns {
        let v = c
            .command("cache_fetch", ["local", "k"])
            .unwrap()
            .into_value();
        assert_eq!(v["value"].as_str(), Some("héllo \"w\" \u{2603}"));
    }
    conns[1]
        .command(
            "ul_add",
            Params::positional([
                Value::from("location"),
                "dave".into(),
                "sip:dave@127.0.0.1:5090".into(),
                3600.into(),
                "0.5".into(),
                0.into(),
                0.into(),
                15.into(),
            ]),
        )
        .unwrap();
    let dump = conns[2].command("ul_dump", ()).unwrap().into_value();
    let aors = dump["Domains"][0]["AORs"].as_array().unwrap();
    assert!(aors.iter().any(|a| a["AOR"] == Value::from("dave")));
    let transports: Vec<Transport> = server.requests().iter().map(|r| r.transport).collect();
    assert!(transports.contains(&Transport::Fifo) && transports.contains(&Transport::UnixDatagram));
}

#[test]
fn mixing_positional_and_named_is_an_error_before_sending() {
    let server = MockServer::start().unwrap();
    for conn in connections(&server) {
        let e = cmd("cache_fetch")
            .arg("local")
            .param("attr", "x")
            .execute(&conn)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidRequest { .. }), "{e}");
    }
    assert!(server.requests().is_empty(), "nothing may be sent");
}

#[test]
fn stale_replies_are_discarded() {
    let server = MockServer::start().unwrap();
    for conn in connections(&server) {
        server.inject_times(Fault::StaleReplyFirst, 1);
        let v = conn.command("version", ()).unwrap().into_value();
        assert!(
            v["Server"].as_str().unwrap().starts_with("OpenSIPS"),
            "{}: {v}",
            conn.endpoint()
        );
    }
}

#[test]
fn a_late_reply_never_answers_the_next_command() {
    let server = MockServer::start().unwrap();
    server.handle("echo", |p| Ok(p.get(0, "v").cloned().unwrap_or_default()));
    server.handle("slow_echo", |p| {
        Ok(p.get(0, "v").cloned().unwrap_or_default())
    });
    server.inject_for("slow_echo", Fault::Delay(Duration::from_millis(150)));
    for conn in connections(&server) {
        for i in 0..5 {
            let slow = cmd("slow_echo").arg(-1).timeout(Duration::from_millis(40));
            assert!(slow.query(&conn).unwrap_err().is_timeout());
            // The late reply lands while these run; each must get its own answer.
            let until = Instant::now() + Duration::from_millis(250);
            let mut n = 0;
            while Instant::now() < until {
                let v = cmd("echo").arg(i * 1000 + n).query(&conn).unwrap();
                assert_eq!(v, Value::Int(i * 1000 + n), "{}", conn.endpoint());
                n += 1;
            }
        }
    }
}

#[test]
fn fixed_reply_fifo_name_skips_stale_replies() {
    let server = MockServer::start().unwrap();
    server.handle("echo", |p| Ok(p.get(0, "v").cloned().unwrap_or_default()));
    server.handle("slow_echo", |p| {
        Ok(p.get(0, "v").cloned().unwrap_or_default())
    });
    server.inject_for("slow_echo", Fault::Delay(Duration::from_millis(100)));
    let conn = opensips_mi::FifoConnection::open(
        server.fifo_path().unwrap(),
        Options::builder()
            .reply_dir(server.reply_dir())
            .reply_fifo("fixed_reply")
            .timeout(GENEROUS),
    )
    .map(Connection::from)
    .unwrap();
    for i in 0..5 {
        let slow = cmd("slow_echo").arg(-1).timeout(Duration::from_millis(30));
        assert!(slow.query(&conn).unwrap_err().is_timeout());
        let e = cmd("echo").arg(i);
        // Slow enough that the late reply arrives in our (same-named) FIFO first.
        server.inject_times(Fault::Delay(Duration::from_millis(120)), 1);
        assert_eq!(e.query(&conn).unwrap(), Value::Int(i));
    }
    assert!(support::leftovers(server.reply_dir(), "fixed_reply").is_empty());
}

#[test]
fn garbage_truncated_and_plain_text_replies_are_clear_errors() {
    let server = MockServer::start().unwrap();
    for conn in connections(&server).into_iter().filter(|c| !is_xml(c)) {
        server.inject_times(Fault::Garbage(b"hello there".to_vec()), 1);
        let e = conn.command("uptime", ()).unwrap_err();
        assert!(
            matches!(e, Error::MalformedReply { ref excerpt, .. } if excerpt == "hello there"),
            "{e}"
        );

        server.inject_times(Fault::Garbage(b"failed to print response".to_vec()), 1);
        let e = conn.command("uptime", ()).unwrap_err();
        assert!(matches!(e, Error::ServerFailure { .. }), "{e}");

        server.inject_times(
            Fault::Garbage(
                br#"{"jsonrpc":"2.0","result":{"key":"bigv","value":failed to print response"#
                    .to_vec(),
            ),
            1,
        );
        let e = conn.command("uptime", ()).unwrap_err();
        assert!(e.to_string().contains("4 KB"), "{e}");
    }
    // A truncated reply: the datagram is final, the FIFO's EOF is too (after the timeout).
    let udp = Connection::open(&server.udp_url().unwrap()).unwrap();
    server.inject_times(Fault::Truncate(30), 1);
    let e = udp.command("uptime", ()).unwrap_err();
    assert!(matches!(e, Error::MalformedReply { .. }), "{e}");
    let fifo = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(Duration::from_millis(300)),
    )
    .unwrap();
    server.inject_times(Fault::Truncate(30), 1);
    let e = fifo.command("uptime", ()).unwrap_err();
    assert!(
        matches!(e, Error::MalformedReply { ref reason, .. } if reason.contains("cut short")),
        "{e}"
    );
}

#[test]
fn oversized_datagram_reply_suggests_another_transport() {
    let server = MockServer::builder()
        .udp()
        .unix()
        .datagram_buffer(1000)
        .start()
        .unwrap();
    for url in [server.udp_url().unwrap(), server.unix_url().unwrap()] {
        let conn = Connection::open(&url).unwrap();
        let e = conn.command("get_statistics", [["all"]]).unwrap_err();
        assert!(
            matches!(e, Error::ServerFailure { ref text, .. } if text == "500 Internal error"),
            "{e}"
        );
        assert!(e.to_string().contains("FIFO"), "{e}");
    }
}

#[test]
fn requests_over_the_transport_limit_are_refused_before_sending() {
    let server = MockServer::start().unwrap();
    let fifo =
        Connection::open(&format!("{}&protocol=jsonrpc", server.fifo_url().unwrap())).unwrap();
    let big = "x".repeat(5000);
    let e = fifo
        .command("cache_store", ["local", "k", big.as_str()])
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidRequest { ref reason, .. } if reason.contains("4096")),
        "{e}"
    );
    let udp = Connection::open_with(
        &server.udp_url().unwrap(),
        Options::builder()
            .datagram_buffer(2000)
            .protocol(Protocol::JsonRpc),
    )
    .unwrap();
    let e = udp
        .command("cache_store", ["local", "k", big.as_str()])
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e}");
    assert!(server.requests().is_empty());
    // just under the limit still works over FIFO
    let fits = "y".repeat(3900);
    fifo.command("cache_store", ["local", "k", fits.as_str()])
        .unwrap();
}

#[test]
fn truncated_datagram_is_detected() {
    let server = MockServer::builder().udp().start().unwrap();
    let conn = Connection::open_with(
        &server.udp_url().unwrap(),
        Options::builder().datagram_buffer(200),
    )
    .unwrap();
    let e = conn.command("get_statistics", [["tm:"]]).unwrap_err();
    assert!(
        matches!(e, Error::MalformedReply { ref reason, .. } if reason.contains("truncated")),
        "{e}"
    );
}

#[test]
fn async_t_uac_dlg_waits_for_the_sip_transaction() {
    let server = MockServer::start().unwrap();
    server.set_uac_delay(Duration::from_millis(300));
    // a phone listening (for a loopback port where nothing listens the mock answers 408)
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ruri = format!("sip:phone@{}", phone.local_addr().unwrap());
    for conn in connections(&server) {
        let started = Instant::now();
        let c = cmd("t_uac_dlg")
            .param("method", "NOTIFY")
            .param("ruri", ruri.as_str())
            .param("headers", "From: <sip:mi@127.0.0.1>;tag=x\r\nTo: <sip:phone@127.0.0.1>\r\nEvent: check-sync\r\n");
        let v = c.query(&conn).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(290));
        assert_eq!(v["Status"].as_str(), Some("200 OK"));
        assert!(v["Message"].as_str().unwrap().contains("CSeq: 10 NOTIFY"));
    }
    assert_eq!(server.uac_requests().len(), 5);
    assert_eq!(server.uac_requests()[0].method, "NOTIFY");
}

#[test]
fn unix_reply_socket_is_removed_on_drop() {
    let server = MockServer::builder().unix().start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = opensips_mi::UnixDatagramConnection::open(
        server.unix_path().unwrap(),
        Options::builder().reply_socket_dir(dir.path()),
    )
    .map(Connection::from)
    .unwrap();
    conn.command("uptime", ()).unwrap();
    assert_eq!(support::leftovers(dir.path(), "osips_mi_").len(), 1);
    drop(conn);
    assert!(support::leftovers(dir.path(), "osips_mi_").is_empty());
}

#[test]
fn per_call_timeout_overrides_the_default() {
    let server = MockServer::start().unwrap();
    server.inject_for("uptime", Fault::Delay(Duration::from_millis(300)));
    for mut conn in connections(&server) {
        conn.set_timeout(Duration::from_millis(100));
        assert!(conn.command("uptime", ()).unwrap_err().is_timeout());
        let c = cmd("uptime").timeout(GENEROUS);
        assert!(c.query(&conn).is_ok(), "{}", conn.endpoint());
    }
}

#[test]
fn connections_can_be_shared_between_threads() {
    let server = MockServer::start().unwrap();
    server.handle("echo", |p| Ok(p.get(0, "v").cloned().unwrap_or_default()));
    for conn in connections(&server) {
        let conn = std::sync::Arc::new(conn);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let conn = conn.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let n = t * 1000 + i;
                        assert_eq!(cmd("echo").arg(n).query(&*conn).unwrap(), Value::Int(n));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

#[test]
fn large_replies_stream_over_fifo() {
    let server = MockServer::start().unwrap();
    let item = "x".repeat(100);
    server.handle("big", move |_| {
        Ok(Value::Array(
            vec![Value::from(item.as_str()); 50_000].into(),
        ))
    });
    let fifo = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(GENEROUS),
    )
    .unwrap();
    let r = cmd("big").keep_raw().execute(&fifo).unwrap();
    assert_eq!(r.value().as_array().unwrap().len(), 50_000);
    assert!(r.raw().unwrap().len() > 5_000_000);
    // the same reply cannot travel in one datagram
    let udp = Connection::open(&server.udp_url().unwrap()).unwrap();
    assert!(matches!(
        udp.command("big", ()),
        Err(Error::ServerFailure { .. })
    ));
}

/// A FIFO given as `unix://` and a unix socket given as `fifo://` say which scheme to use.
#[test]
fn the_wrong_scheme_for_an_endpoint_says_which_one_is_right() {
    let server = MockServer::builder().fifo().unix().start().unwrap();
    let fifo = server.fifo_path().unwrap().display().to_string();
    let sock = server.unix_path().unwrap().display().to_string();
    let e = Connection::open(&format!("unix://{fifo}"))
        .unwrap()
        .command("uptime", ())
        .unwrap_err();
    assert!(e.to_string().contains("use fifo://"), "{e}");
    let e = Connection::open(&format!("fifo://{sock}"))
        .unwrap()
        .command("uptime", ())
        .unwrap_err();
    assert!(e.to_string().contains("use unix://"), "{e}");
}

/// Sequential FIFO calls reuse one reply FIFO; a call that timed out retires its FIFO (a
/// late reply must never answer the next call), threads never share one, and a plain-text
/// failure on a reused FIFO is an answer at once, not a timeout.
#[test]
fn reply_fifos_are_reused_and_retired() {
    let server = MockServer::builder().fifo().start().unwrap();
    server.handle("slow", |_| Ok(Value::from("late")));
    let conn = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder()
            .timeout(support::GENEROUS)
            .protocol(Protocol::JsonRpc),
    )
    .unwrap();
    let names = |server: &MockServer| -> Vec<String> {
        server
            .requests()
            .iter()
            .filter_map(|r| r.reply_name.clone())
            .collect()
    };
    for _ in 0..20 {
        conn.command("uptime", ()).unwrap();
    }
    let mut used = names(&server);
    used.dedup();
    assert_eq!(used.len(), 1, "{used:?}");
    // a timeout retires the FIFO
    server.inject_for("slow", Fault::Delay(Duration::from_millis(300)));
    let c = cmd("slow").timeout(Duration::from_millis(50));
    assert!(c.execute(&conn).unwrap_err().is_timeout());
    server.clear_requests();
    conn.command("uptime", ()).unwrap();
    std::thread::sleep(Duration::from_millis(400)); // the late reply has nowhere to go
    assert_eq!(conn.command("uptime", ()).unwrap().code(), 200);
    let after = names(&server);
    assert!(!after.contains(&used[0]), "{after:?} reused {}", used[0]);
    // a plain-text failure ends the reply by itself
    server.inject_times(Fault::Garbage(b"failed to print response".to_vec()), 1);
    let started = Instant::now();
    let e = conn.command("uptime", ()).unwrap_err();
    assert!(matches!(e, Error::ServerFailure { .. }), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A reply far larger than the pipe (the server writes while the client reads it in
/// several reads, the read size growing), several times over one reused reply FIFO, then
/// a small one: each reply whole and only its own, on JSON-RPC and the 2.x text alike.
#[test]
fn big_fifo_replies_come_whole_call_after_call() {
    use opensips_mi::mock::Flavor;
    let items: Vec<Value> = (0..30_000)
        .map(|i| Value::from(format!("item-{i:06}")))
        .collect();
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3] {
        let server = MockServer::builder().flavor(flavor).fifo().start().unwrap();
        let list = Value::Array(items.clone().into());
        server.handle("big", move |_| Ok(list.clone()));
        let conn = Connection::open_with(
            &format!("{}&protocol=auto", server.fifo_url().unwrap()),
            Options::builder().timeout(GENEROUS),
        )
        .unwrap();
        for round in 0..3 {
            let r = cmd("big").keep_raw().execute(&conn).unwrap();
            assert!(r.raw().unwrap().len() > 300_000, "{flavor:?} round {round}");
            assert_eq!(
                r.value(),
                &Value::Array(items.clone().into()),
                "{flavor:?} round {round}"
            );
            let up = conn.command("uptime", ()).unwrap().into_value();
            assert!(
                up.get("Uptime").is_some() || up.get("Up time").is_some(),
                "{flavor:?}: {up:?}"
            );
        }
    }
}

/// A connection holds the server FIFO's write end between calls. When the server restarts
/// (a new FIFO at the same path), the next call finds the new one (checked again) instead
/// of failing or waiting on the old FIFO, for JSON-RPC and for the legacy text MI; when the
/// server stops, or leaves its FIFO behind without a reader, the next call says so at once.
#[test]
fn a_restarted_fifo_server_is_found_again() {
    use opensips_mi::mock::Flavor;
    for flavor in [Flavor::V3, Flavor::V2] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opensips_fifo");
        let start = || {
            MockServer::builder()
                .flavor(flavor)
                .fifo_at(&path)
                .start()
                .unwrap()
        };
        let mut server = start();
        let conn = Connection::open_with(
            &server.fifo_url().unwrap(),
            Options::builder().timeout(GENEROUS),
        )
        .unwrap();
        let up = conn.command("uptime", ()).unwrap();
        assert!(
            up.value()["Up time"].as_str().is_some(),
            "{flavor:?}: {}",
            up.value()
        );
        for round in 0..3 {
            // stopped (its FIFO removed, its reader closed), then started again
            drop(server);
            server = start();
            let up = conn
                .command("uptime", ())
                .unwrap_or_else(|e| panic!("{flavor:?}, restart {round}: {e}"));
            assert!(
                up.value()["Up time"].as_str().is_some(),
                "{flavor:?}: {}",
                up.value()
            );
            // and the FIFO opened again serves the next calls
            conn.command("uptime", ()).unwrap();
        }
        // stopped: the FIFO is gone, and the call says so (no timeout)
        drop(server);
        let e = conn.command("uptime", ()).unwrap_err();
        assert!(
            matches!(e, Error::NotFound { ref what, .. } if what == "FIFO"),
            "{flavor:?}: {e:?}"
        );
        // left behind without a reader (a crashed server): not running
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = conn.command("uptime", ()).unwrap_err();
        assert!(matches!(e, Error::NotRunning { .. }), "{flavor:?}: {e:?}");
        std::fs::remove_file(&path).unwrap();
        // and back
        let _server = start();
        conn.command("uptime", ()).unwrap();
        drop(conn);
        assert!(
            support::leftovers(dir.path(), "osips_mi_").is_empty(),
            "{flavor:?}"
        );
    }
}

/// Calls from several threads share the held server FIFO, across a restart too.
#[test]
fn threads_share_the_held_server_fifo_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opensips_fifo");
    let start = || MockServer::builder().fifo_at(&path).start().unwrap();
    let mut server = start();
    let conn = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(GENEROUS),
    )
    .unwrap();
    for _ in 0..2 {
        std::thread::scope(|s| {
            for t in 0..4 {
                let conn = &conn;
                s.spawn(move || {
                    for i in 0..25 {
                        let v = conn
                            .command(
                                "cache_store",
                                Params::positional(["local", &format!("k{t}_{i}"), "v"]),
                            )
                            .and_then(|_| conn.command("uptime", ()));
                        assert!(v.is_ok(), "thread {t}, call {i}: {v:?}");
                    }
                });
            }
        });
        drop(server);
        server = start();
    }
}
