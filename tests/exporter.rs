//! `opensips-mi exporter` over real sockets: a dead and a stalled node in a scrape, /probe
//! for configured targets only, no credentials anywhere, collect[] filters, naming modes,
//! and a clean stop on SIGTERM.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use opensips_mi::ServerError;
use opensips_mi::mock::{Fault, Flavor, MockServer};
use prometheus_parse::{Scrape, Value as PromValue};

const BIN: &str = env!("CARGO_BIN_EXE_opensips-mi");

/// A running exporter; killed on drop (if a test failed before stopping it).
struct Exporter {
    child: Child,
    addr: String,
    stderr: BufReader<ChildStderr>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Exporter {
    let mut child = Command::new(BIN)
        .args(["exporter", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("OPENSIPS_MI_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Exporter {
        child,
        addr,
        stderr,
    }
}

/// GET `path`: (status code, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), len);
    (code, body.to_owned())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn gauge(scrape: &Scrape, metric: &str, node: Option<&str>) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && s.labels.get("node") == node)
        .map(|s| match s.value {
            PromValue::Gauge(v) | PromValue::Counter(v) | PromValue::Untyped(v) => v,
            _ => panic!("{metric}: not a number"),
        })
}

fn fleet_file(dir: &Path, text: &str) -> String {
    let file = dir.join("fleet");
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn a_dead_and_a_stalled_node_cost_at_most_the_deadline() {
    let live = MockServer::builder().udp().start().unwrap();
    let legacy = MockServer::builder()
        .flavor(Flavor::V2)
        .udp()
        .start()
        .unwrap();
    // 1.11 has no list_statistics: the fallback rule types its statistics
    legacy.handle("list_statistics", |_| {
        Err(ServerError::new(500, "command not available"))
    });
    let stalled = MockServer::builder().udp().start().unwrap();
    stalled.inject(Fault::NoReply);
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_file(
        dir.path(),
        &format!(
            "# a mixed fleet\nedge1 {}\nold {}?protocol=legacy\nstuck {}\ndead udp://127.0.0.1:9\n",
            live.udp_url().unwrap(),
            legacy.udp_url().unwrap(),
            stalled.udp_url().unwrap()
        ),
    );
    let exp = start(&["--fleet", &fleet, "--scrape-timeout", "1.5"]);
    for round in 0..2 {
        let t = Instant::now();
        let (code, body) = get(&exp.addr, "/metrics");
        let took = t.elapsed();
        assert_eq!(code, 200, "{body}");
        // the deadline, and not much more (a loaded machine: generous margin)
        assert!(took < Duration::from_secs(6), "round {round}: {took:?}");
        let scrape = parse(&body);
        assert_eq!(gauge(&scrape, "opensips_up", Some("edge1")), Some(1.0));
        assert_eq!(gauge(&scrape, "opensips_up", Some("old")), Some(1.0));
        assert_eq!(gauge(&scrape, "opensips_up", Some("stuck")), Some(0.0));
        assert_eq!(gauge(&scrape, "opensips_up", Some("dead")), Some(0.0));
        assert!(gauge(&scrape, "opensips_scrape_duration_seconds", Some("edge1")).is_some());
        // a stalled node: the whole deadline (on the first scrape: a later one may share the
        // end of the last one's call, and wait less); a dead one: as long as the refusal took
        let stuck = gauge(&scrape, "opensips_scrape_duration_seconds", Some("stuck")).unwrap();
        assert!(stuck < 6.0, "{stuck}");
        if round == 0 {
            assert!(stuck >= 1.4, "{stuck}");
            let dead = gauge(&scrape, "opensips_scrape_duration_seconds", Some("dead")).unwrap();
            assert!(dead < stuck, "{dead}");
        }
        // the same names from 2.x without list_statistics and from 3.x
        for node in ["edge1", "old"] {
            let active = scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == "opensips_dialog_active_dialogs"
                        && s.labels.get("node") == Some(node)
                })
                .unwrap_or_else(|| panic!("{node}: {body}"));
            assert!(matches!(active.value, PromValue::Gauge(_)), "{node}");
            let rcv = scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == "opensips_core_rcv_requests" && s.labels.get("node") == Some(node)
                })
                .unwrap();
            assert!(matches!(rcv.value, PromValue::Counter(_)), "{node}");
        }
        assert!(body.contains("# HELP opensips_up "));
        assert!(body.contains(&format!(
            "opensips_exporter_scrapes_total{{endpoint=\"metrics\"}} {}\n",
            round + 1
        )));
    }
    assert!(body_has_errors(&exp), "the dead node's error counter");
}

fn body_has_errors(exp: &Exporter) -> bool {
    let (_, body) = get(&exp.addr, "/metrics?collect[]=core:");
    body.contains("opensips_exporter_node_errors_total{node=\"dead\"} ")
        && !body.contains("opensips_exporter_node_errors_total{node=\"dead\"} 0\n")
}

#[test]
fn probe_asks_configured_targets_only_and_no_credential_is_shown() {
    let server = MockServer::builder()
        .http_auth("ops", "s3cret")
        .start()
        .unwrap();
    let addr = server.http_addr().unwrap();
    let with_password = format!("http://ops:s3cret@{addr}/mi");
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_file(
        dir.path(),
        &format!("named http://ops:s3cret@{addr}/mi\n{with_password}?timeout=3s\n"),
    );
    let mut exp = start(&["--fleet", &fleet, "--scrape-timeout", "3"]);
    let (code, body) = get(&exp.addr, "/metrics");
    assert_eq!(code, 200);
    assert!(!body.contains("s3cret"), "{body}");
    assert!(body.contains("opensips_up{node=\"named\"} 1\n"), "{body}");
    assert!(
        body.contains(&format!(
            "opensips_up{{node=\"http://ops:***@{addr}/mi?timeout=3s\"}} 1\n"
        )),
        "{body}"
    );
    // a configured target, by name: that node alone, no node label
    let (code, body) = get(&exp.addr, "/probe?target=named");
    assert_eq!(code, 200, "{body}");
    let scrape = parse(&body);
    assert_eq!(gauge(&scrape, "opensips_up", None), Some(1.0));
    assert!(gauge(&scrape, "opensips_core_rcv_requests", None).is_some());
    // anything else is refused without asking anyone
    let before = server.requests().len();
    // the configured URL with its password (right or guessed) is no way in either: it
    // would let anyone test passwords
    let right = format!("http://ops:s3cret@{addr}/mi?timeout=3s");
    let guessed = format!("http://ops:guess@{addr}/mi?timeout=3s");
    for target in [
        "http://127.0.0.1:1/mi",
        "udp%3A%2F%2F127.0.0.1%3A9",
        "unnamed",
        "",
        right.as_str(),
        guessed.as_str(),
    ] {
        let (code, body) = get(&exp.addr, &format!("/probe?target={target}"));
        assert_eq!(code, 404, "{target}: {body}");
        assert!(!body.contains("opensips_up"));
    }
    assert_eq!(get(&exp.addr, "/probe").0, 400);
    assert_eq!(get(&exp.addr, "/nope").0, 404);
    assert_eq!(server.requests().len(), before, "nobody was asked");
    // collect[] filters by group
    let (_, body) = get(
        &exp.addr,
        "/probe?target=named&collect%5B%5D=dialog%3A&collect[]=tm:",
    );
    let scrape = parse(&body);
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("opensips_dialog_"))
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("opensips_tm_"))
    );
    assert!(
        !scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("opensips_core_"))
    );
    // a server that stops answering: up 0, and still no password in the logs
    server.inject(Fault::NoReply);
    let (_, body) = get(&exp.addr, "/metrics");
    assert!(body.contains("opensips_up{node=\"named\"} 0\n"), "{body}");
    // SIGTERM: a clean stop
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(exp.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = exp.child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    exp.stderr.read_to_string(&mut log).unwrap();
    assert!(!log.contains("s3cret"), "{log}");
    assert!(log.contains("stopping (SIGTERM)"), "{log}");
}

#[test]
fn group_modes_and_prefix() {
    let server = MockServer::builder().udp().start().unwrap();
    let exp = start(&[
        "-u",
        &server.udp_url().unwrap(),
        "--prefix",
        "sbc",
        "--group-mode",
        "2",
        "--group-label",
        "module",
    ]);
    let (_, body) = get(&exp.addr, "/metrics");
    let scrape = parse(&body);
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == "sbc_rcv_requests")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(s.labels.get("module"), Some("core"));
    // one node: no node label
    assert_eq!(s.labels.get("node"), None);
    assert_eq!(gauge(&scrape, "opensips_up", None), Some(1.0));
    // bad settings are usage errors
    for args in [
        &["--group-mode", "3"][..],
        &["--prefix", "9x"],
        &["--group-label", "node"],
        &["--scrape-timeout", "0"],
        &["-u", "udp://127.0.0.1:9"], // the same node twice
    ] {
        let o = Command::new(BIN)
            .args([
                "exporter",
                "--listen",
                "127.0.0.1:0",
                "-u",
                "udp://127.0.0.1:9",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Many scrapes at once of stalled nodes: each node has one scrape in flight, shared, and
/// the exporter's threads stay bounded (main, the signal waiter, the HTTP workers, one
/// per node at most).
#[test]
fn concurrent_scrapes_of_stalled_nodes_keep_threads_bounded() {
    let servers: Vec<MockServer> = (0..3)
        .map(|_| MockServer::builder().udp().start().unwrap())
        .collect();
    for s in &servers {
        s.inject(Fault::NoReply);
    }
    let mut args: Vec<String> = Vec::new();
    for s in &servers {
        args.push("-u".into());
        args.push(s.udp_url().unwrap());
    }
    args.extend(["--scrape-timeout", "0.5", "--workers", "2"].map(String::from));
    let exp = start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let pid = exp.child.id();
    let mut most = 0;
    for _ in 0..3 {
        let clients: Vec<_> = (0..6)
            .map(|_| {
                let addr = exp.addr.clone();
                std::thread::spawn(move || get(&addr, "/metrics"))
            })
            .collect();
        for _ in 0..10 {
            most = most.max(threads(pid));
            std::thread::sleep(Duration::from_millis(30));
        }
        for c in clients {
            let (code, body) = c.join().unwrap();
            assert_eq!(code, 200);
            let up: Vec<&str> = body
                .lines()
                .filter(|l| l.starts_with("opensips_up{node="))
                .collect();
            assert_eq!(up.len(), 3, "{body}");
            assert!(up.iter().all(|l| l.ends_with("} 0")), "{up:?}");
        }
    }
    // main + signal waiter + 2 workers + at most 3 scrapes (one per node)
    assert!(most <= 7, "{most} threads");
}
