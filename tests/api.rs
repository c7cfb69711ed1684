//! The shape of the public API: one way to open, options through a builder, a user's own
//! `ConnectionLike` behaving like ours, one word per idea.
#![cfg(feature = "mock")]

mod support;

use std::sync::Mutex;
use std::time::Duration;

use opensips_mi::mock::{Flavor, MockServer};
use opensips_mi::server::{Generation, ServerFacts};
use opensips_mi::{
    Cmd, Connection, ConnectionLike, Error, FifoConnection, Fleet, HttpConnection, MiCommands,
    Options, Pool, Protocol, Response, Result, Transport, UdpConnection, UnixDatagramConnection,
    cmd,
};

/// A user's wrapper: forwards everything, remembers every method it was asked to send.
struct Recording<C> {
    inner: C,
    sent: Mutex<Vec<String>>,
}

impl<C> Recording<C> {
    fn new(inner: C) -> Self {
        Recording {
            inner,
            sent: Mutex::new(Vec::new()),
        }
    }

    fn sent(&self, method: &str) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|m| *m == method)
            .count()
    }
}

impl<C: ConnectionLike> ConnectionLike for Recording<C> {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        self.sent.lock().unwrap().push(cmd.method().to_owned());
        self.inner.execute(cmd)
    }

    fn server(&self) -> Result<ServerFacts> {
        self.inner.server()
    }
}

fn open(url: &str) -> Connection {
    Connection::open_with(url, Options::builder().timeout(support::GENEROUS)).unwrap()
}

#[test]
fn a_users_connection_like_honours_verified() {
    for flavor in [Flavor::V3, Flavor::V4, Flavor::V2] {
        let server = MockServer::builder().flavor(flavor).udp().start().unwrap();
        let conn = Recording::new(open(&server.udp_url().unwrap()));

        let e = cmd("nope").verified().query(&conn).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownCommand { name, .. } if name == "nope"),
            "{flavor:?}: {e}"
        );
        assert_eq!(conn.sent("nope"), 0, "{flavor:?}: the command was sent");
        assert!(conn.sent("which") >= 1, "{flavor:?}: which was not asked");

        // a typo gets its suggestion through the wrapper too
        let e = cmd("uptim").verified().execute(&conn).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownCommand { suggestion: Some(s), .. } if s.ends_with("uptime")),
            "{flavor:?}: {e}"
        );
        assert_eq!(conn.sent("uptim"), 0);

        // a command the server has goes through, by every entry point
        let c = cmd("uptime").verified();
        assert!(c.query(&conn).is_ok());
        assert!(c.execute(&conn).is_ok());
        #[derive(serde::Deserialize)]
        struct Up {
            #[serde(rename = "Up time")]
            _up: opensips_mi::Value,
        }
        assert!(c.query_as::<Up>(&conn).is_ok(), "{flavor:?}");
        assert_eq!(conn.sent("uptime"), 3);

        // and through a reference, which is a ConnectionLike as well
        let by_ref = &conn;
        assert!(cmd("nope").verified().query(&by_ref).is_err());
        assert_eq!(conn.sent("nope"), 0);
    }
}

#[test]
fn a_wrapper_speaks_the_generation_its_server_says() {
    // the wrapper's server() (no default) decides the wire form of the helpers
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let conn = Recording::new(open(&server.fifo_url().unwrap()));
    assert_eq!(conn.server().unwrap().generation, Generation::V2);
    assert_eq!(
        conn.server().unwrap().generation.protocol(),
        Protocol::Legacy
    );
    assert!(conn.uptime().is_ok());
}

#[test]
fn a_pool_asks_which_once_for_all_its_connections() {
    let server = MockServer::builder().udp().start().unwrap();
    let pool = Pool::open_with(
        &server.udp_url().unwrap(),
        2,
        Options::builder().timeout(support::GENEROUS),
    )
    .unwrap();
    assert_eq!(pool.timeout(), support::GENEROUS);
    server.clear_requests();
    for _ in 0..3 {
        let e = cmd("nope").verified().query(&pool).unwrap_err();
        assert!(matches!(e, Error::UnknownCommand { .. }), "{e}");
    }
    let asked = |m: &str| server.requests().iter().filter(|r| r.method == m).count();
    assert_eq!(asked("nope"), 0);
    // the answer is kept: the next calls ask nothing new about `nope`
    let which = asked("which");
    assert!(cmd("nope").verified().query(&pool).is_err());
    assert_eq!(asked("which"), which);
    assert_eq!(pool.protocol().unwrap(), Protocol::JsonRpc);
}

#[test]
fn one_constructor_per_transport_and_the_transport_named() {
    let server = MockServer::builder()
        .fifo()
        .udp()
        .unix()
        .http()
        .start()
        .unwrap();
    let opts = Options::builder().timeout(support::GENEROUS);
    let typed: Vec<Connection> = vec![
        FifoConnection::open(
            server.fifo_path().unwrap(),
            opts.clone().reply_dir(server.reply_dir()),
        )
        .unwrap()
        .into(),
        UdpConnection::open(server.udp_addr().unwrap(), opts.clone())
            .unwrap()
            .into(),
        UnixDatagramConnection::open(server.unix_path().unwrap(), opts.clone())
            .unwrap()
            .into(),
        HttpConnection::open(&server.http_url().unwrap(), opts.clone())
            .unwrap()
            .into(),
        HttpConnection::open(&server.xmlrpc_url().unwrap(), opts.clone())
            .unwrap()
            .into(),
    ];
    let expected = [
        (Transport::Fifo, "fifo"),
        (Transport::Udp, "udp"),
        (Transport::UnixDatagram, "unix"),
        (Transport::Http, "http"),
        (Transport::XmlRpc, "xmlrpc"),
    ];
    for (conn, (transport, scheme)) in typed.iter().zip(expected) {
        assert_eq!(conn.transport(), transport);
        assert_eq!(transport.to_string(), scheme);
        assert!(
            conn.endpoint().starts_with(&format!("{scheme}://")),
            "{}",
            conn.endpoint()
        );
        assert!(conn.uptime().is_ok(), "{transport}");
        assert_eq!(conn.timeout(), support::GENEROUS);
        // never Auto once asked
        assert_eq!(conn.protocol().unwrap(), Protocol::JsonRpc);
        let by_url = open(&conn.endpoint());
        assert_eq!(by_url.transport(), transport);
    }
    assert!(matches!(&typed[3], Connection::Http(c) if c.transport() == Transport::Http));
    assert!(matches!(&typed[4], Connection::Http(c) if c.transport() == Transport::XmlRpc));
    assert_eq!(typed[4].transport(), Transport::XmlRpc);
    let e = HttpConnection::open(&server.udp_url().unwrap(), Options::default()).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
}

#[test]
fn options_are_read_only_and_passed_without_build() {
    let server = MockServer::builder().udp().start().unwrap();
    let builder = Options::builder()
        .timeout(Duration::from_millis(1500))
        .datagram_buffer(100_000)
        .protocol(Protocol::JsonRpc);
    let conn = Connection::open_with(&server.udp_url().unwrap(), builder.clone()).unwrap();
    assert_eq!(conn.timeout(), Duration::from_millis(1500));
    let opts: Options = builder.clone().build();
    assert_eq!(opts.datagram_buffer(), 100_000);
    assert_eq!(opts.protocol(), Protocol::JsonRpc);
    // the URL's parameters beat the options, built or not
    let conn =
        Connection::open_with(&format!("{}?timeout=2", server.udp_url().unwrap()), opts).unwrap();
    assert_eq!(conn.timeout(), Duration::from_secs(2));
    let fleet = Fleet::open_with([server.udp_url().unwrap()], builder);
    assert_eq!(fleet.len(), 1);
    assert_eq!(Options::default(), Options::builder().build());
}

#[test]
fn protocol_names_every_generation() {
    for (s, p) in [
        ("1", Protocol::Legacy),
        ("1.x", Protocol::Legacy),
        ("2", Protocol::Legacy),
        ("2.x", Protocol::Legacy),
        ("legacy", Protocol::Legacy),
        ("3", Protocol::JsonRpc),
        ("3.x", Protocol::JsonRpc),
        ("4", Protocol::JsonRpc),
        ("4.x", Protocol::JsonRpc),
        ("jsonrpc", Protocol::JsonRpc),
        ("auto", Protocol::Auto),
    ] {
        assert_eq!(s.parse::<Protocol>().unwrap(), p, "{s}");
    }
    assert!("5".parse::<Protocol>().is_err());
    for (g, p) in [
        (Generation::V1, Protocol::Legacy),
        (Generation::V2, Protocol::Legacy),
        (Generation::V3, Protocol::JsonRpc),
        (Generation::V4, Protocol::JsonRpc),
    ] {
        assert_eq!(g.protocol(), p);
        assert_eq!(g.label().parse::<Protocol>().unwrap(), p);
    }
}

#[test]
fn a_command_is_a_value() {
    let server = MockServer::builder().udp().start().unwrap();
    server.handle("echo", |p| Ok(p.get(0, "n").cloned().unwrap_or_default()));
    let conn = open(&server.udp_url().unwrap());
    // bound first, then run twice (E0716 with the old `&mut` setters)
    let c = cmd("echo").arg(1).timeout(support::GENEROUS);
    assert_eq!(c.query(&conn).unwrap(), opensips_mi::Value::Int(1));
    assert_eq!(c.query(&conn).unwrap(), opensips_mi::Value::Int(1));
    assert_eq!(c.get_timeout(), Some(support::GENEROUS));
    let mut c = cmd("echo");
    for i in 0..3 {
        c = c.arg(i);
    }
    assert_eq!(c.params().len(), 3);
}

#[test]
fn protocol_display_round_trips() {
    for p in [Protocol::JsonRpc, Protocol::Legacy, Protocol::Auto] {
        assert_eq!(p.to_string(), p.as_str());
        assert_eq!(p.as_str().parse::<Protocol>().unwrap(), p);
        assert_eq!(p.to_string().parse::<Protocol>().unwrap(), p);
    }
    assert_eq!(Protocol::JsonRpc.as_str(), "jsonrpc");
    assert_eq!(Protocol::Legacy.as_str(), "legacy");
    assert_eq!(Protocol::Auto.as_str(), "auto");
    // a URL built with Display opens with that protocol
    let url = opensips_mi::url_with_param(
        "udp://127.0.0.1:9",
        "protocol",
        &Protocol::Legacy.to_string(),
    );
    let conn = Connection::open(&url).unwrap();
    assert_eq!(conn.protocol().unwrap(), Protocol::Legacy);
}

#[test]
fn flavors_name_their_generation() {
    assert_eq!(Flavor::V1.generation(), Generation::V1);
    assert_eq!(Flavor::V2.generation(), Generation::V2);
    assert_eq!(Flavor::V3.generation(), Generation::V3);
    assert_eq!(Flavor::V4.generation(), Generation::V4);
    let server = MockServer::builder()
        .flavor(Flavor::V4)
        .udp()
        .start()
        .unwrap();
    let conn = Connection::open(&server.udp_url().unwrap()).unwrap();
    assert_eq!(conn.server().unwrap().generation, Flavor::V4.generation());
}

/// An explicit `?protocol=` is never second-guessed by a probe: `verified()` (like the SIP
/// helpers and event subscriptions) uses the format given (a 2.x FIFO would sit a JSON
/// probe out for a second). (`Connection::server()` still finds the server's true
/// generation: `diagnose` reports it.)
#[test]
fn an_explicit_protocol_sends_no_detection_probe() {
    for (flavor, protocol) in [(Flavor::V2, "legacy"), (Flavor::V3, "jsonrpc")] {
        let server = MockServer::builder()
            .flavor(flavor)
            .fifo()
            .udp()
            .start()
            .unwrap();
        for url in [server.fifo_url().unwrap(), server.udp_url().unwrap()] {
            let url = opensips_mi::url_with_param(&url, "protocol", protocol);
            let conn =
                Connection::open_with(&url, Options::builder().timeout(support::GENEROUS)).unwrap();
            server.clear_requests();
            let t = std::time::Instant::now();
            cmd("uptime").verified().query(&conn).unwrap();
            if protocol == "jsonrpc" {
                // no 1.x `debug` to rule out on 3.x/4.x
                conn.log_level().unwrap();
            }
            let took = t.elapsed();
            let requests = server.requests();
            let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
            // the generation is taken as given: nothing of the other generation is sent
            // (a JSON-RPC probe to a 2.x FIFO is ignored for a second), no `version` probe
            let foreign = requests
                .iter()
                .filter(|r| (r.raw.first() == Some(&b'{')) != (protocol == "jsonrpc"))
                .count();
            assert_eq!(foreign, 0, "{flavor:?} {url}: {methods:?}");
            assert!(!methods.contains(&"version"), "{url}: {methods:?}");
            assert!(methods.contains(&"uptime"), "{methods:?}");
            assert!(
                took < std::time::Duration::from_millis(900),
                "{url}: {took:?}"
            );
        }
    }
}

/// A pool answers `protocol()` without taking (or opening) a connection when it is given or
/// already detected: `SipRequest::send` and `verified()` ask it on every call, and a pool
/// whose connections are all busy must not make them wait for one.
#[test]
fn a_pool_knows_its_protocol_without_a_connection() {
    let server = MockServer::builder().udp().start().unwrap();
    let url = opensips_mi::url_with_param(&server.udp_url().unwrap(), "protocol", "jsonrpc");
    let pool = Pool::open_with(&url, 1, Options::builder().timeout(support::GENEROUS)).unwrap();
    let open = pool.connections();
    assert_eq!(pool.protocol().unwrap(), Protocol::JsonRpc);
    assert_eq!(pool.connections(), open);
    let busy = pool.get().unwrap();
    let t = std::time::Instant::now();
    assert_eq!(pool.protocol().unwrap(), Protocol::JsonRpc);
    assert!(t.elapsed() < std::time::Duration::from_millis(500));
    drop(busy);
}
