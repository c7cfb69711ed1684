//! A reply of another generation never passes for an answer: spoken to in the wrong
//! generation, every transport gives a fast error naming the server's generation and
//! `?protocol=` (or, on a FIFO, where servers ignore the other generation, a timeout with
//! that hint). Real captured replies are served over HTTP; the mocks answer the rest.
#![cfg(feature = "mock")]

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use opensips_mi::mock::{Flavor, MockServer};
use opensips_mi::{Connection, Error, Options, Protocol};

fn opts(protocol: Protocol) -> opensips_mi::OptionsBuilder {
    Options::builder()
        .timeout(Duration::from_millis(700))
        .protocol(protocol)
}

/// Serves one captured HTTP reply to one request; the connection's answer to `method`.
#[cfg(feature = "http")]
fn answer_of(scheme: &str, reply: &'static str, method: &str) -> opensips_mi::Result<()> {
    let bytes = support::fixture(reply);
    let addr = support::raw_http_server(move |_req, mut s| {
        let _ = s.write_all(&bytes);
    });
    let path = if scheme == "http" { "mi" } else { "RPC2" };
    let conn = Connection::open_with(
        &format!("{scheme}://{addr}/{path}?keepalive=false"),
        opts(Protocol::JsonRpc),
    )?;
    conn.command(method, ()).map(drop)
}

#[cfg(feature = "http")]
#[test]
fn older_xmlrpc_replies_are_refused_by_a_json_rpc_connection() {
    // every success the 1.x and 2.x XML-RPC modules sent, and the faults only they send
    let mut n = 0;
    for generation in ["1x", "2x"] {
        for (case, req, reply) in support::cases(&format!("{generation}/xmlrpc")) {
            let raw = std::fs::read(&reply).unwrap();
            let body = String::from_utf8_lossy(&raw);
            if !body.contains("<methodResponse>") {
                continue; // HTTP-level answers
            }
            // a bodiless 2.x OK (`<struct></struct>`) cannot be told from a 3.x empty object
            if body.contains("<value><struct></struct></value>") {
                continue;
            }
            let specific = !body.contains("<fault>")
                || body.contains("<i4>-506</i4>")
                || body.contains("<i4>-501</i4>")
                || body.contains("Empty request");
            if !specific {
                continue; // an MI error (404 AOR not found): an error on every generation
            }
            let reply: &'static str =
                Box::leak(format!("{generation}/xmlrpc/{case}.reply.http").into_boxed_str());
            let method = String::from_utf8_lossy(&std::fs::read(&req).unwrap())
                .split("<methodName>")
                .nth(1)
                .and_then(|r| r.split('<').next())
                .unwrap_or("x")
                .to_owned();
            let started = Instant::now();
            let e = answer_of("xmlrpc", reply, &method).unwrap_err();
            assert!(started.elapsed() < Duration::from_millis(600), "{reply}");
            let text = e.to_string();
            let label = if generation == "1x" { "1.x" } else { "2.x" };
            assert!(
                text.contains(label) && text.contains("protocol="),
                "{reply}: {text}"
            );
            // and shows what the server said
            assert!(text.contains("methodResponse"), "{reply}: {text}");
            n += 1;
        }
    }
    assert!(n >= 30, "only {n}");
}

#[cfg(feature = "http")]
#[test]
fn older_http_modules_are_named_to_a_json_rpc_connection() {
    for reply in [
        "1x/html/01_core_uptime.reply.http",
        "2x/html/01_core_uptime.reply.http",
        "1x/json/90_post_method.reply.http",
    ] {
        let e = answer_of("http", reply, "uptime").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("1.x/2.x") && text.contains("protocol=legacy"),
            "{reply}: {text}"
        );
    }
}

/// Datagram: 1.x/2.x answer JSON with `500 command not available`, 3.x/4.x answer the
/// legacy text with `400 Parse_error`: each is a fast error saying what to do.
#[test]
fn datagram_mismatches_are_fast_and_clear() {
    for (flavor, wrong, says) in [
        (Flavor::V1, Protocol::JsonRpc, "protocol=legacy"),
        (Flavor::V2, Protocol::JsonRpc, "protocol=legacy"),
        (Flavor::V3, Protocol::Legacy, "drop ?protocol=legacy"),
        (Flavor::V4, Protocol::Legacy, "drop ?protocol=legacy"),
    ] {
        let server = MockServer::builder()
            .flavor(flavor)
            .udp()
            .unix()
            .start()
            .unwrap();
        for url in [server.udp_url().unwrap(), server.unix_url().unwrap()] {
            let conn = Connection::open_with(&url, opts(wrong)).unwrap();
            let started = Instant::now();
            let e = conn.command("uptime", ()).unwrap_err();
            assert!(!e.is_timeout(), "{flavor:?} {url}: {e}");
            assert!(started.elapsed() < Duration::from_millis(500));
            assert!(e.to_string().contains(says), "{flavor:?} {url}: {e}");
            // detection (the default) gets it right on the same server
            let auto =
                Connection::open_with(&url, Options::builder().timeout(support::GENEROUS)).unwrap();
            assert!(auto.command("uptime", ()).is_ok(), "{flavor:?} {url}");
        }
    }
}

/// FIFO: a server ignores the other generation's requests; the timeout says why.
#[test]
fn fifo_mismatches_time_out_with_the_hint() {
    for (flavor, wrong, says) in [
        (Flavor::V1, Protocol::JsonRpc, "protocol=legacy"),
        (Flavor::V3, Protocol::Legacy, "drop ?protocol=legacy"),
    ] {
        let server = MockServer::builder().flavor(flavor).fifo().start().unwrap();
        let conn = Connection::open_with(&server.fifo_url().unwrap(), opts(wrong)).unwrap();
        let e = conn.command("uptime", ()).unwrap_err();
        assert!(e.is_timeout(), "{flavor:?}: {e}");
        assert!(e.to_string().contains(says), "{flavor:?}: {e}");
    }
}

/// An explicit `legacy` on the XML-RPC of a 3.x/4.x server: detection (needed there to tell
/// the 1.x module from the 2.x one) shows the mismatch at once.
#[cfg(feature = "http")]
#[test]
fn legacy_xmlrpc_on_a_json_rpc_server_is_refused() {
    let server = MockServer::builder().http().start().unwrap();
    let conn =
        Connection::open_with(&server.xmlrpc_url().unwrap(), opts(Protocol::Legacy)).unwrap();
    let e = conn.command("uptime", ()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("3.x") && text.contains("protocol=jsonrpc"),
        "{text}"
    );
    assert!(matches!(e, Error::MalformedReply { .. }), "{e:?}");
}

/// No false alarm: every 3.x/4.x XML-RPC capture still reads as an answer (or its fault)
/// on a JSON-RPC connection.
#[cfg(feature = "http")]
#[test]
fn json_rpc_xmlrpc_replies_are_never_taken_for_older_ones() {
    let mut n = 0;
    for dir in ["3x/xmlrpc", "4x/xmlrpc"] {
        for (case, _req, reply) in support::cases(dir) {
            let raw = std::fs::read(&reply).unwrap();
            if !String::from_utf8_lossy(&raw).contains("<methodResponse>") {
                continue;
            }
            let rel: &'static str = Box::leak(format!("{dir}/{case}.reply.http").into_boxed_str());
            match answer_of("xmlrpc", rel, "x") {
                Ok(()) | Err(Error::Rpc(_) | Error::Command(_)) => {}
                Err(e) => panic!("{rel}: {e}"),
            }
            n += 1;
        }
    }
    assert!(n >= 30, "only {n}");
}

/// Once detection said 3.x/4.x, a command's string answer is its answer, whatever it looks
/// like: empty, or text with line ends (which a 1.x flat reply also is).
#[cfg(feature = "http")]
#[test]
fn a_detected_3x_xmlrpc_server_may_answer_any_string() {
    for flavor in [Flavor::V3, Flavor::V4] {
        let server = MockServer::builder().flavor(flavor).http().start().unwrap();
        server.handle("lines", |_| {
            Ok(opensips_mi::Value::from("line one\nline two\n"))
        });
        server.handle("nothing", |_| Ok(opensips_mi::Value::from("")));
        let conn = Connection::open_with(
            &server.xmlrpc_url().unwrap(),
            Options::builder().timeout(support::GENEROUS),
        )
        .unwrap();
        let r = conn.command("lines", ()).unwrap();
        assert_eq!(
            r.value().as_str(),
            Some("line one\nline two\n"),
            "{flavor:?}"
        );
        let r = conn.command("nothing", ()).unwrap();
        assert_eq!(r.value().as_str(), Some(""), "{flavor:?}");
    }
}

/// Concurrent first calls on one connection wait for one detection: one `version` probe.
#[test]
fn concurrent_first_calls_detect_once() {
    for udp in [true, false] {
        let server = if udp {
            MockServer::builder().udp().start().unwrap()
        } else {
            MockServer::builder().fifo().start().unwrap()
        };
        let url = if udp {
            server.udp_url().unwrap()
        } else {
            server.fifo_url().unwrap()
        };
        let conn = std::sync::Arc::new(
            Connection::open_with(&url, Options::builder().timeout(support::GENEROUS)).unwrap(),
        );
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = conn.clone();
                std::thread::spawn(move || c.command("uptime", ()).map(drop))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let probes = server
            .requests()
            .iter()
            .filter(|r| r.method == "version")
            .count();
        assert_eq!(probes, 1, "udp={udp}");
    }
}

/// Detection is part of the first call and keeps to that call's timeout: a silent server
/// costs the call's timeout, not the connection's.
#[test]
fn the_first_call_keeps_to_its_own_timeout() {
    use opensips_mi::mock::Fault;
    let server = MockServer::builder().udp().fifo().start().unwrap();
    server.inject(Fault::NoReply);
    for url in [server.udp_url().unwrap(), server.fifo_url().unwrap()] {
        let conn = Connection::open_with(&url, Options::builder().timeout(Duration::from_secs(30)))
            .unwrap();
        let started = Instant::now();
        let e = opensips_mi::cmd("uptime")
            .timeout(Duration::from_millis(300))
            .query(&conn)
            .unwrap_err();
        assert!(e.is_timeout(), "{url}: {e}");
        // far below the connection's 30 s, generous for a loaded machine
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url}: {:?}",
            started.elapsed()
        );
    }
}
