//! Event listener against the mock: UDP, unix and TCP delivery, stream framing, renewal,
//! unsubscribe on drop.
#![cfg(feature = "mock")]

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opensips_mi::events::{Event, EventListener, EventTransport};
use opensips_mi::mock::{Fault, Flavor, MockServer};
use opensips_mi::{Connection, Error, Options, Protocol, Value};
use support::GENEROUS;

fn ul_add(conn: &Connection, aor: &str, contact: &str) {
    conn.command(
        "ul_add",
        ["location", aor, contact, "3600", "0.5", "0", "0", "15"],
    )
    .unwrap();
}

fn next(l: &EventListener) -> Event {
    l.recv_timeout(GENEROUS).unwrap().expect("an event in time")
}

fn setup(flavor: Flavor) -> (MockServer, Arc<Connection>) {
    let server = MockServer::builder().flavor(flavor).udp().start().unwrap();
    let conn = Arc::new(Connection::open(&server.udp_url()).unwrap());
    (server, conn)
}

#[test]
fn udp_registration_events_like_the_fixtures() {
    let (server, conn) = setup(Flavor::V4);
    let l = EventListener::builder()
        .subscribe(conn.clone(), &["E_UL_AOR_INSERT", "E_UL_CONTACT_INSERT"])
        .unwrap();
    assert!(l.socket().starts_with("udp:127.0.0.1:"), "{}", l.socket());
    let subs = server.subscriptions();
    assert_eq!(subs.len(), 2);
    assert!(
        subs.iter()
            .all(|s| s.socket == l.socket() && s.expire == 3600)
    );

    ul_add(&conn, "dave@127.0.0.1", "sip:dave@127.0.0.1:5090");
    let aor = next(&l);
    let contact = next(&l);
    assert_eq!(aor.name, "E_UL_AOR_INSERT");
    assert_eq!(aor.params["aor"].as_str(), Some("dave@127.0.0.1"));
    assert_eq!(contact.name, "E_UL_CONTACT_INSERT");
    assert_eq!(
        contact.params["uri"].as_str(),
        Some("sip:dave@127.0.0.1:5090")
    );
    assert_eq!(contact.params["qval"].as_i64(), Some(500));

    // same members, same order, same JSON types as the captured 4.0.1 event
    let captured = Event::parse(&support::fixture(
        "4x/events/06_E_UL_CONTACT_INSERT.event.json",
    ))
    .unwrap();
    let shape = |v: &Value| -> Vec<(String, &'static str)> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.kind()))
            .collect()
    };
    assert_eq!(shape(&contact.params), shape(&captured.params));
    let captured =
        Event::parse(&support::fixture("4x/events/05_E_UL_AOR_INSERT.event.json")).unwrap();
    assert_eq!(shape(&aor.params), shape(&captured.params));

    // a second contact for the same AOR: no AOR event; the subscribed contact event only
    ul_add(&conn, "dave@127.0.0.1", "sip:dave@127.0.0.1:5091");
    assert_eq!(
        next(&l).params["uri"].as_str(),
        Some("sip:dave@127.0.0.1:5091")
    );
    assert!(
        l.recv_timeout(Duration::from_millis(200))
            .unwrap()
            .is_none()
    );
}

#[test]
fn delete_events_on_ul_rm() {
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .subscribe(conn.clone(), &["E_UL_CONTACT_DELETE", "E_UL_AOR_DELETE"])
        .unwrap();
    conn.command("ul_rm", ["location", "alice"]).unwrap();
    let got: Vec<(String, String)> = (0..3)
        .map(|_| {
            let e = next(&l);
            let what = e.params["uri"]
                .as_str()
                .or(e.params["aor"].as_str())
                .unwrap_or("")
                .to_owned();
            (e.name, what)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "E_UL_CONTACT_DELETE".into(),
                "sip:alice@127.0.0.1:5080".into()
            ),
            (
                "E_UL_CONTACT_DELETE".into(),
                "sip:alice@127.0.0.1:5081".into()
            ),
            ("E_UL_AOR_DELETE".into(), "alice".into()),
        ]
    );
}

#[test]
fn unix_datagram_delivery_and_path_cleanup() {
    let (server, conn) = setup(Flavor::V3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sock");
    let l = EventListener::builder()
        .transport(EventTransport::Unix(path.clone()))
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap();
    assert_eq!(l.socket(), format!("unix:{}", path.display()));
    assert!(path.exists());
    let p = Value::Object(vec![
        ("extra".into(), Value::from("x")),
        ("n".into(), Value::Int(4)),
    ]);
    assert_eq!(server.raise_event("E_CORE_THRESHOLD", p.clone()), 1);
    let e = next(&l);
    assert_eq!((e.name.as_str(), &e.params), ("E_CORE_THRESHOLD", &p));
    drop(l);
    assert!(!path.exists(), "the listener's socket file stays behind");
    assert!(server.subscriptions().is_empty());
}

#[test]
fn tcp_event_stream_from_the_mock() {
    let (server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .transport(EventTransport::Tcp)
        .subscribe(conn.clone(), &["E_UL_AOR_INSERT", "E_UL_CONTACT_INSERT"])
        .unwrap();
    assert!(l.socket().starts_with("tcp:127.0.0.1:"));
    // the mock keeps one connection and writes objects back to back
    for i in 0..3 {
        ul_add(&conn, &format!("tcp{i}"), &format!("sip:tcp{i}@10.0.0.1"));
    }
    let names: Vec<String> = (0..6).map(|_| next(&l).name).collect();
    assert_eq!(names.iter().filter(|n| *n == "E_UL_AOR_INSERT").count(), 3);
    assert_eq!(
        names.iter().filter(|n| *n == "E_UL_CONTACT_INSERT").count(),
        3
    );
    assert_eq!(
        server.raise_event("E_UL_AOR_INSERT", Value::Array(vec![Value::Int(1)])),
        1
    );
    assert_eq!(next(&l).params, Value::Array(vec![Value::Int(1)]));
}

#[test]
fn tcp_framing_two_in_one_read_and_one_split() {
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .transport(EventTransport::Tcp)
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let addr = l.socket().strip_prefix("tcp:").unwrap().to_owned();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let a = br#"{"jsonrpc":"2.0","method":"E_A","params":{"n":1}}"#;
    let b = br#"{"jsonrpc":"2.0","method":"E_B","params":{"s":"}{ \"quoted\" brace"}}"#;
    s.write_all(&[&a[..], &b[..]].concat()).unwrap();
    assert_eq!(next(&l).name, "E_A");
    let e = next(&l);
    assert_eq!(
        (e.name.as_str(), e.params["s"].as_str()),
        ("E_B", Some("}{ \"quoted\" brace"))
    );

    // one notification split across three writes, with pauses so they are separate reads
    let c = br#"{"jsonrpc":"2.0","method":"E_C","params":{"k":[1,2,3]}}"#;
    for part in [&c[..7], &c[7..30]] {
        s.write_all(part).unwrap();
        s.flush().unwrap();
        let early = l.recv_timeout(Duration::from_millis(150)).unwrap();
        assert!(early.is_none(), "an event from a partial object: {early:?}");
    }
    s.write_all(&c[30..]).unwrap();
    let e = next(&l);
    assert_eq!(
        (e.name.as_str(), e.params["k"][2].as_i64()),
        ("E_C", Some(3))
    );
}

#[test]
fn tcp_reliable_mode_gets_an_answer() {
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .transport(EventTransport::Tcp)
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let mut s = TcpStream::connect(l.socket().strip_prefix("tcp:").unwrap()).unwrap();
    s.write_all(br#"{"jsonrpc":"2.0","method":"E_R","params":{},"id":42}"#)
        .unwrap();
    assert_eq!(next(&l).name, "E_R");
    s.set_read_timeout(Some(GENEROUS)).unwrap();
    let mut buf = [0u8; 128];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap();
    assert_eq!(&buf[..n], br#"{"jsonrpc":"2.0","result":"OK","id":42}"#);
}

#[test]
fn renewal_keeps_a_short_subscription_alive() {
    let (server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .expire(Duration::from_secs(2))
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap();
    let started = Instant::now();
    // Watch the mock's table for 3.5 s: without renewal it empties at 2 s.
    while started.elapsed() < Duration::from_millis(3500) {
        let subs = server.subscriptions();
        assert_eq!(subs.len(), 1, "lapsed after {:?}", started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let renewals = server
        .requests()
        .iter()
        .filter(|r| r.method == "event_subscribe")
        .count();
    assert!(renewals >= 2, "{renewals} event_subscribe requests");
    assert_eq!(
        server.raise_event("E_CORE_THRESHOLD", Value::Object(vec![])),
        1
    );
    assert_eq!(next(&l).name, "E_CORE_THRESHOLD");
}

#[test]
fn drop_unsubscribes_and_frees_the_port() {
    let (server, conn) = setup(Flavor::V4);
    let l = EventListener::builder()
        .subscribe(conn.clone(), &["E_UL_AOR_INSERT", "E_UL_CONTACT_INSERT"])
        .unwrap();
    let addr = l.socket().strip_prefix("udp:").unwrap().to_owned();
    assert_eq!(server.subscriptions().len(), 2);
    drop(l);
    assert!(server.subscriptions().is_empty());
    let unsubs: Vec<Value> = server
        .requests()
        .iter()
        .filter(|r| r.method == "event_subscribe")
        .filter_map(|r| r.params.get(2, "expire").cloned())
        .collect();
    assert_eq!(unsubs.iter().filter(|v| v.as_i64() == Some(0)).count(), 2);
    std::net::UdpSocket::bind(addr).expect("the port is free again");
    // nothing to deliver to any more
    assert_eq!(
        server.raise_event("E_UL_AOR_INSERT", Value::Object(vec![])),
        0
    );
}

#[test]
fn errors_are_clear_and_leave_nothing_behind() {
    let (server, conn) = setup(Flavor::V3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ev.sock");
    let err = EventListener::builder()
        .transport(EventTransport::Unix(path.clone()))
        .subscribe(conn.clone(), &["E_NO_SUCH_EVENT"])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Command(e) if e.code == 400 && e.message == "Bad parameter value"),
        "{err:?}"
    );
    assert!(!path.exists());
    assert!(server.subscriptions().is_empty());

    let err = EventListener::builder()
        .bind("0.0.0.0:0".parse().unwrap())
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap_err();
    assert!(err.to_string().contains("wildcard"), "{err}");
    let ok = EventListener::builder()
        .bind("0.0.0.0:0".parse().unwrap())
        .advertise("127.0.0.1:9")
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap();
    assert_eq!(ok.socket(), "udp:127.0.0.1:9");
    let none: [&str; 0] = [];
    assert!(EventListener::builder().subscribe(conn, &none).is_err());
}

#[test]
fn legacy_2x_text_events() {
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let opts = Options::new().protocol(Protocol::Legacy);
    let conn = Arc::new(Connection::open_with(&server.fifo_url(), opts).unwrap());
    let l = EventListener::builder()
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let subscribe = server
        .requests()
        .into_iter()
        .find(|r| r.method == "event_subscribe")
        .unwrap();
    assert_eq!(subscribe.params.len(), 3);
    let p = Value::Object(vec![
        ("ip".into(), Value::from("192.168.2.11")),
        ("n".into(), Value::Int(7)),
    ]);
    assert_eq!(server.raise_event("E_CORE_THRESHOLD", p), 1);
    let e = next(&l);
    assert_eq!(e.name, "E_CORE_THRESHOLD");
    assert_eq!(e.params["ip"].as_str(), Some("192.168.2.11"));
    assert_eq!(e.params["n"].as_str(), Some("7"));
}

#[test]
fn a_failed_renewal_is_reported_and_retried() {
    let (server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .expire(Duration::from_secs(2))
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    server.inject_for("event_subscribe", Fault::Garbage(b"500 nope".to_vec()));
    // the renewal at ~1.5 s fails: the receiver hears about it
    let err = l.recv_timeout(GENEROUS).unwrap_err();
    assert!(matches!(err, Error::MalformedReply { .. }), "{err:?}");
    server.clear_faults();
    // a retry comes within the margin and the subscription is back
    let deadline = Instant::now() + GENEROUS;
    while server.subscriptions().is_empty()
        || server.subscriptions()[0].ttl < Duration::from_millis(1500)
    {
        assert!(Instant::now() < deadline, "never resubscribed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        server.raise_event("E_CORE_THRESHOLD", Value::Object(vec![])),
        1
    );
    // skip any further renewal errors reported before the fault was cleared
    let e = loop {
        match l.recv_timeout(GENEROUS) {
            Ok(Some(e)) => break e,
            Ok(None) => panic!("the event never came"),
            Err(_) => continue,
        }
    };
    assert_eq!(e.name, "E_CORE_THRESHOLD");
}

#[test]
fn an_endless_object_on_the_stream_is_cut_off() {
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .transport(EventTransport::Tcp)
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let mut s = TcpStream::connect(l.socket().strip_prefix("tcp:").unwrap()).unwrap();
    s.write_all(br#"{"jsonrpc":"2.0","method":"E_BIG","params":{"x":""#)
        .unwrap();
    let filler = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    let err = loop {
        // the listener drops the connection once it holds more than the limit
        if s.write_all(&filler).is_err() {
            break l.recv_timeout(GENEROUS).unwrap_err();
        }
        sent += filler.len();
        if let Err(e) = l.recv_timeout(Duration::ZERO) {
            break e;
        }
        assert!(
            sent < 8 * opensips_mi::events::MAX_STREAM_EVENT,
            "never cut off"
        );
    };
    assert!(err.to_string().contains("larger than"), "{err}");
    // the listener still works for others
    let mut t = TcpStream::connect(l.socket().strip_prefix("tcp:").unwrap()).unwrap();
    t.write_all(br#"{"jsonrpc":"2.0","method":"E_OK","params":{}}"#)
        .unwrap();
    assert_eq!(next(&l).name, "E_OK");
}

#[test]
fn a_live_socket_at_the_path_is_not_taken_over() {
    let (_server, conn) = setup(Flavor::V3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.sock");
    let other = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let err = EventListener::builder()
        .transport(EventTransport::Unix(path.clone()))
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap_err();
    assert!(err.to_string().contains("binding"), "{err}");
    // the other program's socket still works
    let probe = std::os::unix::net::UnixDatagram::unbound().unwrap();
    probe.send_to(b"x", &path).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(other.recv(&mut buf).unwrap(), 1);
    // a stale one (nobody bound) is replaced
    drop(other);
    let l = EventListener::builder()
        .transport(EventTransport::Unix(path.clone()))
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    assert!(l.socket().ends_with("busy.sock"));
}
