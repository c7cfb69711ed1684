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
    let conn = Arc::new(Connection::open(&server.udp_url().unwrap()).unwrap());
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
            .map(|(k, v)| (k.to_owned(), v.kind()))
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
    let p = Value::Object(
        vec![
            ("extra".into(), Value::from("x")),
            ("n".into(), Value::Int(4)),
        ]
        .into(),
    );
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
        server.raise_event("E_UL_AOR_INSERT", Value::Array(vec![Value::Int(1)].into())),
        1
    );
    assert_eq!(next(&l).params, Value::Array(vec![Value::Int(1)].into()));
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
        server.raise_event("E_CORE_THRESHOLD", Value::Object(vec![].into())),
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
        server.raise_event("E_UL_AOR_INSERT", Value::Object(vec![].into())),
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
    let opts = Options::builder().protocol(Protocol::Legacy);
    let conn = Arc::new(Connection::open_with(&server.fifo_url().unwrap(), opts).unwrap());
    let l = EventListener::builder()
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let subscribe = server
        .requests()
        .into_iter()
        .find(|r| r.method == "event_subscribe")
        .unwrap();
    assert_eq!(subscribe.params.len(), 3);
    let p = Value::Object(
        vec![
            ("ip".into(), Value::from("192.168.2.11")),
            ("n".into(), Value::Int(7)),
        ]
        .into(),
    );
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
        server.raise_event("E_CORE_THRESHOLD", Value::Object(vec![].into())),
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

// ---- limits: a slow consumer, many peers, big streams ----

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + GENEROUS;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `dropped()` has not moved for a while (the reader caught up).
fn settled(l: &EventListener) -> u64 {
    let deadline = Instant::now() + GENEROUS;
    let mut last = l.dropped();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(400) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        if l.dropped() != last {
            last = l.dropped();
            since = Instant::now();
        }
    }
    last
}

fn drain(l: &EventListener) -> usize {
    l.iter(Duration::from_millis(300))
        .filter(Result::is_ok)
        .count()
}

#[test]
fn a_slow_consumer_keeps_the_queue_bounded_and_learns_of_drops() {
    use opensips_mi::events::DEFAULT_QUEUE_EVENTS;
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let to = l.socket().strip_prefix("udp:").unwrap().to_owned();
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // 5000 events while nobody receives (paced a little, so that the kernel's socket
    // buffer does not drop them first)
    for i in 0..5000 {
        let ev = format!(r#"{{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":{{"i":{i}}}}}"#);
        s.send_to(ev.as_bytes(), &to).unwrap();
        if i % 25 == 24 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let dropped = settled(&l);
    let received = drain(&l);
    assert_eq!(received, DEFAULT_QUEUE_EVENTS, "dropped {dropped}");
    assert!(
        dropped >= 1 && received as u64 + dropped <= 5000,
        "{dropped}"
    );
    // the queue drained, events get through again and nothing more is dropped
    s.send_to(br#"{"jsonrpc":"2.0","method":"E_AGAIN","params":{}}"#, &to)
        .unwrap();
    assert_eq!(next(&l).name, "E_AGAIN");
    assert_eq!(l.dropped(), dropped);
}

#[test]
fn the_queue_has_a_byte_budget() {
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .queue_limit(10_000, 8 * 9000)
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let to = l.socket().strip_prefix("udp:").unwrap().to_owned();
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let event = |i: usize| {
        let head = format!(r#"{{"jsonrpc":"2.0","method":"E_{i}","params":{{"f":""#);
        let mut ev = head.into_bytes();
        ev.resize(8192 - 3, b'x');
        ev.extend_from_slice(br#""}}"#);
        ev
    };
    // eight 8 KiB events (a little more once parsed) fill the budget; each one more is
    // dropped
    for i in 0..8 {
        s.send_to(&event(i), &to).unwrap();
    }
    for i in 8..20 {
        s.send_to(&event(i), &to).unwrap();
        wait_until("a drop", || l.dropped() == (i - 7) as u64);
    }
    let names: Vec<String> = l
        .iter(Duration::from_millis(300))
        .map(|e| e.unwrap().name)
        .collect();
    assert_eq!(names, (0..8).map(|i| format!("E_{i}")).collect::<Vec<_>>());
    // the budget counts what an event takes once parsed: 10 KB of `[0,0,…]` is ~160 KB
    let zeros = format!(
        r#"{{"jsonrpc":"2.0","method":"E_ZEROS","params":[{}0]}}"#,
        "0,".repeat(5000)
    );
    s.send_to(zeros.as_bytes(), &to).unwrap();
    wait_until("the big array dropped", || l.dropped() == 13);
    s.send_to(&event(99), &to).unwrap();
    assert_eq!(next(&l).name, "E_99");
    assert!(
        EventListener::builder()
            .queue_limit(0, 1)
            .subscribe(
                Arc::new(Connection::open("udp://127.0.0.1:9").unwrap()),
                &["E"]
            )
            .unwrap_err()
            .to_string()
            .contains("event queue")
    );
}

/// Whether the listener closed `s` (EOF or reset) rather than keeping it open.
fn closed_by_listener(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    match std::io::Read::read(s, &mut [0u8; 16]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn tcp_peers_are_limited_and_the_first_keeps_working() {
    use opensips_mi::events::MAX_STREAM_PEERS;
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .transport(EventTransport::Tcp)
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let addr = l.socket().strip_prefix("tcp:").unwrap().to_owned();
    let ev = |name: &str| format!(r#"{{"jsonrpc":"2.0","method":"{name}","params":{{}}}}"#);
    // as many as allowed, each one served
    let mut peers: Vec<TcpStream> = (0..MAX_STREAM_PEERS)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(ev(&format!("E_{i}")).as_bytes()).unwrap();
            assert_eq!(next(&l).name, format!("E_{i}"));
            s
        })
        .collect();
    // one more is closed at once
    let mut extra = TcpStream::connect(&addr).unwrap();
    assert!(
        closed_by_listener(&mut extra, GENEROUS),
        "an extra peer kept"
    );
    assert!(!closed_by_listener(
        &mut peers[0],
        Duration::from_millis(200)
    ));
    // the first still delivers
    peers[0].write_all(ev("E_FIRST").as_bytes()).unwrap();
    assert_eq!(next(&l).name, "E_FIRST");
    // once one goes, a new peer is served again
    drop(peers.pop());
    let deadline = Instant::now() + GENEROUS;
    let mut again = loop {
        let mut s = TcpStream::connect(&addr).unwrap();
        if !closed_by_listener(&mut s, Duration::from_millis(300)) {
            break s;
        }
        assert!(Instant::now() < deadline, "never served again");
    };
    again.write_all(ev("E_AGAIN").as_bytes()).unwrap();
    assert_eq!(next(&l).name, "E_AGAIN");
}

#[test]
fn big_events_sent_in_small_pieces_arrive_in_time() {
    let (_server, conn) = setup(Flavor::V3);
    let l = EventListener::builder()
        .transport(EventTransport::Tcp)
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let mut s = TcpStream::connect(l.socket().strip_prefix("tcp:").unwrap()).unwrap();
    s.set_nodelay(true).unwrap();
    // ten events of ~900 KB, written 1 KiB at a time: ~9000 reads, each scanned once
    // (re-parsing the pending object on each read would scan gigabytes)
    let filler = "y".repeat(900_000);
    let writer = std::thread::spawn(move || {
        for i in 0..10 {
            let ev =
                format!(r#"{{"jsonrpc":"2.0","method":"E_BIG{i}","params":{{"f":"{filler}"}}}}"#);
            for piece in ev.as_bytes().chunks(1024) {
                s.write_all(piece).unwrap();
            }
        }
        s
    });
    let started = Instant::now();
    for i in 0..10 {
        let e = l
            .recv_timeout(Duration::from_secs(60))
            .unwrap()
            .expect("a big event");
        assert_eq!(e.name, format!("E_BIG{i}"));
        assert_eq!(e.params["f"].as_str().map(str::len), Some(900_000));
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(writer.join().unwrap());
}

// ---- unix event sockets: private, unpredictable, forgeries dropped ----

#[test]
fn unix_in_sockets_are_unpredictable_private_and_removed() {
    use std::os::unix::fs::PermissionsExt;
    // a FIFO connection: the socket is opened to the FIFO's owner only (us, or root)
    let server = MockServer::builder().fifo().start().unwrap();
    let conn = Arc::new(Connection::open(&server.fifo_url().unwrap()).unwrap());
    let parent = tempfile::tempdir().unwrap();
    let listen = || {
        EventListener::builder()
            .transport(EventTransport::UnixIn(parent.path().to_path_buf()))
            .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
            .unwrap()
    };
    let (a, b) = (listen(), listen());
    let path_of =
        |l: &EventListener| std::path::PathBuf::from(l.socket().strip_prefix("unix:").unwrap());
    let (pa, pb) = (path_of(&a), path_of(&b));
    assert_ne!(pa.parent(), pb.parent());
    assert_ne!(pa.file_name(), pb.file_name());
    for p in [&pa, &pb] {
        let dir = p.parent().unwrap();
        assert_eq!(dir.parent(), Some(parent.path()));
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("opensips-mi-events-") && name.len() > 30,
            "{name}"
        );
        assert!(p.file_name().unwrap().len() > 16, "{}", p.display());
        let mode = |p: &std::path::Path| {
            std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
        };
        assert_eq!(mode(dir), 0o711);
        assert_eq!(mode(p), 0o600);
    }
    assert_eq!(
        server.raise_event("E_CORE_THRESHOLD", Value::Object(vec![].into())),
        2
    );
    assert_eq!(next(&a).name, "E_CORE_THRESHOLD");
    assert_eq!(next(&b).name, "E_CORE_THRESHOLD");
    drop((a, b));
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    assert!(server.subscriptions().is_empty());

    let err = EventListener::builder()
        .transport(EventTransport::UnixIn(parent.path().join("missing")))
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("UnixIn takes an existing directory"),
        "{err}"
    );
    assert!(server.subscriptions().is_empty());

    // a UDP connection cannot tell who the server is: open to all, senders checked
    let (_udp_server, udp) = setup(Flavor::V3);
    let l = EventListener::builder()
        .transport(EventTransport::UnixIn(parent.path().to_path_buf()))
        .subscribe(udp, &["E_CORE_THRESHOLD"])
        .unwrap();
    let p = path_of(&l);
    let mode = std::fs::symlink_metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o622);
    drop(l);
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
fn an_explicit_unix_path_leaves_other_files_alone() {
    use std::os::unix::fs::PermissionsExt;
    let (_server, conn) = setup(Flavor::V3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ev.sock");
    std::fs::write(&path, "not a socket").unwrap();
    let err = EventListener::builder()
        .transport(EventTransport::Unix(path.clone()))
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap_err();
    assert!(err.to_string().contains("binding"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    std::fs::remove_file(&path).unwrap();
    let l = EventListener::builder()
        .transport(EventTransport::Unix(path.clone()))
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    // a UDP connection: the server's user is unknown, the socket is open to all
    let mode = std::fs::symlink_metadata(&path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o622);
    // replaced meanwhile by another file: that file is not removed with the listener
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, "someone else's").unwrap();
    drop(l);
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
}

// ---- another local user (needs root: CI runs as root) ----

use support::attacker::{ATTACKER_UID, attack, root, sticky_dir};

/// The attacker's side (see `support::attacker`).
#[test]
#[ignore = "run by the other tests as another user"]
fn attacker() {
    support::attacker::serve();
}

const FORGED: &str = r#"{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":{"forged":true}}"#;

#[test]
fn forged_events_from_another_user_are_dropped() {
    if !root() {
        return;
    }
    let dir = sticky_dir();
    // a UDP connection: the socket must be open to every user, the sender check holds
    let (server, conn) = setup(Flavor::V3);
    let fixed = dir.path().join("events.sock");
    for transport in [
        EventTransport::UnixIn(dir.path().to_path_buf()),
        EventTransport::Unix(fixed.clone()),
    ] {
        let l = EventListener::builder()
            .transport(transport.clone())
            .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
            .unwrap();
        let path = l.socket().strip_prefix("unix:").unwrap().to_owned();
        let r = attack(&["send", &path, FORGED, "junk", FORGED]);
        assert_eq!(r, "sent", "{transport:?}");
        wait_until("the forgeries dropped", || l.dropped() == 3);
        assert!(
            l.recv_timeout(Duration::from_millis(300))
                .unwrap()
                .is_none(),
            "{transport:?}: a forgery was delivered"
        );
        // the server's (root's here) still arrive
        let p = Value::Object(vec![("real".into(), Value::Bool(true))].into());
        assert_eq!(server.raise_event("E_CORE_THRESHOLD", p.clone()), 1);
        assert_eq!(next(&l).params, p, "{transport:?}");
        assert_eq!(l.dropped(), 3);
        drop(l);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // with a FIFO connection the socket is the server's alone: others cannot even send
    let fifo_server = MockServer::builder().fifo().start().unwrap();
    let fifo_conn = Arc::new(Connection::open(&fifo_server.fifo_url().unwrap()).unwrap());
    let l = EventListener::builder()
        .transport(EventTransport::UnixIn(dir.path().to_path_buf()))
        .subscribe(fifo_conn, &["E_CORE_THRESHOLD"])
        .unwrap();
    let path = l.socket().strip_prefix("unix:").unwrap().to_owned();
    let r = attack(&["send", &path, FORGED]);
    assert!(r.starts_with("denied"), "{r}");
    drop(l);

    // a server running as another user, over UDP: name it, and its events are taken
    let l = EventListener::builder()
        .transport(EventTransport::UnixIn(dir.path().to_path_buf()))
        .server_user(&ATTACKER_UID.to_string())
        .subscribe(conn.clone(), &["E_CORE_THRESHOLD"])
        .unwrap();
    let path = l.socket().strip_prefix("unix:").unwrap().to_owned();
    assert_eq!(attack(&["send", &path, FORGED]), "sent");
    assert_eq!(next(&l).params["forged"], Value::Bool(true));
    assert_eq!(l.dropped(), 0);
    let err = EventListener::builder()
        .transport(EventTransport::UnixIn(dir.path().to_path_buf()))
        .server_user("no-such-user-opensips-mi")
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn a_stale_socket_of_another_user_is_not_removed() {
    use std::os::unix::fs::MetadataExt;
    if !root() {
        return;
    }
    let (_server, conn) = setup(Flavor::V3);
    let dir = sticky_dir();
    let path = dir.path().join("events.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&path).unwrap());
    std::os::unix::fs::chown(&path, Some(ATTACKER_UID), Some(ATTACKER_UID)).unwrap();
    let err = EventListener::builder()
        .transport(EventTransport::Unix(path.clone()))
        .subscribe(conn, &["E_CORE_THRESHOLD"])
        .unwrap_err();
    assert!(err.to_string().contains("binding"), "{err}");
    assert_eq!(
        std::fs::symlink_metadata(&path).unwrap().uid(),
        ATTACKER_UID
    );
}
