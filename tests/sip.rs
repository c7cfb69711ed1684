//! SIP helpers over t_uac_dlg against the mock, in every generation: the recorded request is
//! exactly what OpenSIPS would send.
#![cfg(feature = "mock")]

mod support;

use std::time::Duration;

use opensips_mi::mock::{Flavor, MockServer, UacReply};
use opensips_mi::sip::{self, MessageSummary, NotifyEvent};
use opensips_mi::{Connection, Error, Options, Protocol};

fn connections(server: &MockServer, protocol: Protocol) -> Vec<Connection> {
    let opts = Options::builder()
        .timeout(support::GENEROUS)
        .protocol(protocol);
    let mut urls = vec![server.fifo_url().unwrap(), server.udp_url().unwrap()];
    if protocol == Protocol::JsonRpc {
        urls.extend([server.http_url().unwrap(), server.xmlrpc_url().unwrap()]);
    }
    // 2.x mi_xmlrpc_ng, and the 1.x mi_xmlrpc (CR stripped from strings: the helpers must
    // still get CR LF across)
    if matches!(server.flavor(), Flavor::V1 | Flavor::V2) {
        urls.push(server.xmlrpc_url().unwrap());
    }
    urls.iter()
        .map(|u| Connection::open_with(u, opts.clone()).unwrap())
        .collect()
}

#[test]
fn notify_and_mwi_round_trips_in_every_generation() {
    for (flavor, protocol) in [
        (Flavor::V1, Protocol::Legacy),
        (Flavor::V2, Protocol::Legacy),
        (Flavor::V3, Protocol::JsonRpc),
        (Flavor::V4, Protocol::JsonRpc),
    ] {
        let server = MockServer::builder()
            .flavor(flavor)
            .fifo()
            .udp()
            .http()
            .start()
            .unwrap();
        for conn in connections(&server, protocol) {
            server.clear_requests();
            let before = server.uac_requests().len();
            let reply = sip::event_notify("sip:1001@10.0.0.21:5060", NotifyEvent::SnomReboot)
                .from("<sip:pbx@10.0.0.1>;tag=abc")
                .send(&conn)
                .unwrap();
            assert!(
                reply.is_success(),
                "{flavor:?} {}: {reply:?}",
                conn.endpoint()
            );
            assert!(
                reply
                    .message
                    .as_deref()
                    .unwrap()
                    .contains("CSeq: 10 NOTIFY\r\n")
            );

            let summary = MessageSummary::voice(3, 1).account("sip:*97@vm.example.com");
            sip::mwi_update("sip:1001@10.0.0.21:5060", &summary)
                .unwrap()
                .send(&conn)
                .unwrap();

            let sent = &server.uac_requests()[before..];
            assert_eq!(sent.len(), 2, "{flavor:?} {}", conn.endpoint());
            assert_eq!(
                (sent[0].method.as_str(), sent[0].ruri.as_str()),
                ("NOTIFY", "sip:1001@10.0.0.21:5060")
            );
            assert_eq!(
                sent[0].headers,
                "From: <sip:pbx@10.0.0.1>;tag=abc\r\nTo: <sip:1001@10.0.0.21:5060>\r\nContact: <sip:opensips@!!>\r\nEvent: check-sync;reboot=true\r\n"
            );
            assert_eq!(sent[0].body, None);
            // the mailbox sends it, with a Contact OpenSIPS completes (RFC 3265 §7.1)
            assert!(
                sent[1]
                    .headers
                    .starts_with("From: <sip:*97@vm.example.com>;tag="),
                "{}",
                sent[1].headers
            );
            assert!(sent[1].headers.ends_with(
                "\r\nTo: <sip:1001@10.0.0.21:5060>\r\nContact: <sip:*97@!!>\r\nEvent: message-summary\r\nSubscription-State: active\r\nContent-Type: application/simple-message-summary\r\n"
            ));
            assert_eq!(
                sent[1].body.as_deref(),
                Some(
                    "Messages-Waiting: yes\r\nMessage-Account: sip:*97@vm.example.com\r\nVoice-Message: 3/1\r\n"
                )
            );
            // on 3.x/4.x the command went with named parameters only
            if protocol == Protocol::JsonRpc {
                let req = server
                    .requests()
                    .into_iter()
                    .find(|r| r.method == "t_uac_dlg")
                    .unwrap();
                assert!(
                    matches!(req.params, opensips_mi::Params::Named(_)),
                    "{req:?}"
                );
            }
        }
    }
}

#[test]
fn auto_protocol_picks_the_right_wire_form() {
    for flavor in [Flavor::V2, Flavor::V3] {
        let server = MockServer::builder().flavor(flavor).fifo().start().unwrap();
        let conn = Connection::open_with(
            &server.fifo_url().unwrap(),
            Options::builder().protocol(Protocol::Auto),
        )
        .unwrap();
        let r = sip::uac_dlg("OPTIONS", "sip:gw@10.0.0.9")
            .from("<sip:mon@pbx>")
            .to("<sip:gw@10.0.0.9>")
            .send(&conn)
            .unwrap();
        assert_eq!(r.status, 200, "{flavor:?}");
        assert_eq!(server.uac_requests().len(), 1);
    }
}

#[test]
fn a_sip_failure_is_a_result_not_an_error() {
    let server = MockServer::builder().fifo().start().unwrap();
    server.set_uac_responder(|r| {
        if r.ruri.contains("busy") {
            UacReply::status("486 Busy Here")
        } else {
            UacReply::status("408 Request Timeout")
        }
    });
    let conn = Connection::open(&server.fifo_url().unwrap()).unwrap();
    let busy = sip::event_notify("sip:busy@x", NotifyEvent::CiscoCheckCfg)
        .send(&conn)
        .unwrap();
    assert_eq!((busy.status, busy.reason.as_str()), (486, "Busy Here"));
    let timeout = sip::event_notify("sip:gone@x", NotifyEvent::CiscoCheckCfg)
        .send(&conn)
        .unwrap();
    assert_eq!((timeout.status, timeout.message), (408, None));
}

#[test]
fn the_reply_waits_for_the_transaction_beyond_the_connection_timeout() {
    let server = MockServer::builder().fifo().udp().start().unwrap();
    server.set_uac_delay(Duration::from_millis(700));
    for url in [server.fifo_url().unwrap(), server.udp_url().unwrap()] {
        // the connection's own timeout is shorter than the SIP transaction...
        let conn =
            Connection::open_with(&url, Options::builder().timeout(Duration::from_millis(300)))
                .unwrap();
        // ...but t_uac_dlg gets its own, longer one
        let r = sip::event_notify("sip:1@x", NotifyEvent::PolycomCheckCfg)
            .send(&conn)
            .unwrap();
        assert!(r.is_success(), "{url}");
        let short = sip::event_notify("sip:1@x", NotifyEvent::PolycomCheckCfg)
            .timeout(Duration::from_millis(200));
        assert!(short.send(&conn).unwrap_err().is_timeout(), "{url}");
    }
}

#[test]
fn injection_is_refused_before_anything_is_sent() {
    let server = MockServer::builder().fifo().start().unwrap();
    let conn = Connection::open(&server.fifo_url().unwrap()).unwrap();
    let attempts = [
        sip::event_notify("sip:1@x\r\nVia: evil", NotifyEvent::SnomReboot),
        sip::event_notify("sip:1@x", NotifyEvent::SnomReboot).header("X-A", "b\r\nVia: evil"),
        sip::event_notify("sip:1@x", NotifyEvent::Custom("check-sync\nX: 1".into())),
        sip::event_notify("sip:1@x", NotifyEvent::SnomReboot).next_hop("sip:p\r\n"),
        sip::uac_dlg("MESSAGE", "sip:1@x")
            .from("a")
            .to("b")
            .body("text/plain", "hi")
            .header("Content-Length", "2"),
    ];
    for req in attempts {
        let e = req.send(&conn).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest { .. }), "{e}");
    }
    assert!(server.requests().is_empty(), "nothing may reach the server");
    assert!(
        sip::mwi_update(
            "sip:1@x",
            &MessageSummary::voice(1, 0).account("sip:vm\r\nX: 1")
        )
        .is_err()
    );
}

#[test]
fn the_server_still_validates_what_it_gets() {
    // positional parameters are refused by 3.x (named-only command)
    let server = MockServer::builder().fifo().start().unwrap();
    let conn = Connection::open(&server.fifo_url().unwrap()).unwrap();
    let e = conn
        .command(
            "t_uac_dlg",
            ["NOTIFY", "sip:a@b", "From: <sip:a@b>\r\nTo: <sip:a@b>\r\n"],
        )
        .unwrap_err();
    assert!(matches!(e, Error::Rpc(ref s) if s.code == -32602), "{e}");
    // and From is required
    let e = cmd_named(&conn, "To: <sip:a@b>\r\n").unwrap_err();
    assert!(
        matches!(e, Error::Command(ref s) if s.code == 400 && s.message == "From missing"),
        "{e}"
    );
}

fn cmd_named(conn: &Connection, headers: &str) -> opensips_mi::Result<opensips_mi::Response> {
    let c = opensips_mi::cmd("t_uac_dlg")
        .param("method", "NOTIFY")
        .param("ruri", "sip:a@b")
        .param("headers", headers);
    c.execute(conn)
}

/// A request to a loopback port where nothing listens gets what the real server answers
/// after fr_timeout: only `408 Request Timeout` (fixture 3x/*/35_t_uac_dlg_timeout).
#[test]
fn nobody_listening_is_a_local_408_after_fr_timeout() {
    let server = MockServer::builder()
        .fifo()
        .fr_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    let conn = Connection::open(&server.fifo_url().unwrap()).unwrap();
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let start = std::time::Instant::now();
    let reply = opensips_mi::sip::uac_dlg("OPTIONS", &format!("sip:nobody@{addr}"))
        .from("<sip:mi@127.0.0.1>")
        .to(&format!("<sip:nobody@{addr}>"))
        .send(&conn)
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        (reply.status, reply.reason.as_str()),
        (408, "Request Timeout")
    );
    assert!(reply.message.is_none());
}

/// A misspelt preset and a non-URI message account are errors before anything is sent;
/// a custom event goes out when asked for as one.
#[test]
fn nothing_wrong_reaches_a_phone() {
    for (flavor, protocol) in [
        (Flavor::V2, Protocol::Legacy),
        (Flavor::V3, Protocol::JsonRpc),
    ] {
        let server = MockServer::builder().flavor(flavor).start().unwrap();
        for conn in connections(&server, protocol) {
            let summary = MessageSummary::voice(3, 1).account("3");
            let e = sip::mwi_update("sip:1001@10.0.0.21", &summary)
                .and_then(|req| req.send(&conn))
                .unwrap_err();
            assert!(matches!(e, Error::InvalidRequest { .. }), "{e}");
            assert!(e.to_string().contains("not a SIP URI"), "{e}");
            let e = "snom_rebot"
                .parse::<NotifyEvent>()
                .and_then(|ev| sip::event_notify("sip:1001@10.0.0.21", ev).send(&conn))
                .unwrap_err();
            assert!(e.to_string().contains("did you mean `snom_reboot`?"), "{e}");
            assert!(server.uac_requests().is_empty(), "{flavor:?}: nothing sent");
            assert!(server.requests().is_empty(), "{flavor:?}: nothing sent");
        }
        let conn = &connections(&server, protocol)[0];
        let ev = NotifyEvent::custom("check-sync;reboot=false").unwrap();
        let reply = sip::event_notify("sip:1001@10.0.0.21", ev)
            .send(conn)
            .unwrap();
        assert_eq!(reply.status, 200);
        let sent = server.uac_requests();
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0]
                .headers
                .ends_with("Event: check-sync;reboot=false\r\n"),
            "{}",
            sent[0].headers
        );
    }
}
