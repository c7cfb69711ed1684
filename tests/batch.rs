//! Bulk SIP jobs against the mock: outcomes in input order, the concurrency bound, a dead
//! server, and the CLI's `--batch` (input checks, exit codes, the lock).
#![cfg(feature = "mock")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opensips_mi::mock::{Fault, MockServer, UacReply};
use opensips_mi::sip::{
    self, Batch, MessageSummary, NotifyEvent, Outcome, OutcomeKind, SipRequest,
};
use opensips_mi::{Cmd, ConnectionLike, Pool, Response, Result};

/// Counts the calls in flight on the client side.
struct Counting<'a> {
    inner: &'a Pool,
    now: AtomicUsize,
    max: AtomicUsize,
}

impl ConnectionLike for Counting<'_> {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        let r = self.inner.execute(cmd);
        self.now.fetch_sub(1, Ordering::SeqCst);
        r
    }

    fn server(&self) -> Result<opensips_mi::server::ServerFacts> {
        self.inner.server()
    }
}

fn mwi(phone: &str, new: u32) -> SipRequest {
    sip::mwi_update(
        phone,
        &MessageSummary::voice(new, 0).account("sip:*97@vm.example.com"),
    )
    .unwrap()
}

#[test]
fn outcomes_come_back_in_input_order() {
    let server = MockServer::builder().udp().start().unwrap();
    // the far ends: 1xx0 busy, 1xx1 silent, 1xx2 and others accept; later ones answer first
    server.set_uac_responder(|req| {
        let user: u32 = req.ruri[4..8].parse().unwrap();
        match user % 10 {
            0 => UacReply::status("486 Busy Here"),
            1 => UacReply::status("408 Request Timeout"),
            _ => UacReply::ok(),
        }
    });
    server.set_uac_delay(Duration::from_millis(30));
    let mut requests: Vec<SipRequest> = (1000..1040)
        .map(|u| mwi(&format!("sip:{u}@10.0.0.1"), u % 3))
        .collect();
    // an MI error: a local socket the server does not have
    requests[7] = requests[7].clone().socket("udp:10.9.9.9:5060");
    let pool = Pool::open(&server.udp_url().unwrap(), 8).unwrap();
    let seen = AtomicUsize::new(0);
    let report = Batch::new()
        .concurrency(8)
        .send_with(&pool, &requests, |_, _| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 40);
    assert_eq!(report.outcomes.len(), 40);
    for (i, o) in report.outcomes.iter().enumerate() {
        let user = 1000 + i;
        match (i, user % 10) {
            (7, _) => {
                let e = o.error().unwrap_or_else(|| panic!("{i}: {o:?}"));
                assert_eq!(e.server_error().unwrap().code, 404, "{e}");
                assert!(!o.server_unreachable());
            }
            (_, 0) => assert!(
                matches!(o, Outcome::Refused(r) if r.status == 486),
                "{i}: {o:?}"
            ),
            (_, 1) => assert!(matches!(o, Outcome::TimedOut(_)), "{i}: {o:?}"),
            _ => assert!(o.is_delivered(), "{i}: {o:?}"),
        }
    }
    // every request reached the server once, each to its own phone
    let sent = server.uac_requests();
    assert_eq!(sent.len(), 39);
    let mut ruris: Vec<&str> = sent.iter().map(|r| r.ruri.as_str()).collect();
    ruris.sort();
    ruris.dedup();
    assert_eq!(ruris.len(), 39);
    assert_eq!(report.count(OutcomeKind::Delivered), 40 - 4 - 4 - 1);
}

#[test]
fn never_more_than_the_concurrency_in_flight() {
    let server = MockServer::builder().udp().start().unwrap();
    server.set_uac_delay(Duration::from_millis(50));
    let requests: Vec<SipRequest> = (0..30)
        .map(|i| {
            sip::event_notify(
                &format!("sip:{}@10.0.0.2", 2000 + i),
                NotifyEvent::SnomCheckCfg,
            )
        })
        .collect();
    let pool = Pool::open(&server.udp_url().unwrap(), 5).unwrap();
    let counting = Counting {
        inner: &pool,
        now: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    };
    let report = Batch::new()
        .concurrency(5)
        .send(&counting, &requests)
        .unwrap();
    assert!(report.all_delivered());
    let max = counting.max.load(Ordering::SeqCst);
    assert!(max <= 5, "{max} in flight");
    assert!(max >= 2, "no concurrency at all: {max}");
    assert!(report.max_in_flight <= 5 && report.max_in_flight >= 2);
    assert!(pool.connections() <= 5);
}

#[test]
fn a_silent_server_stops_the_batch() {
    let server = MockServer::builder().udp().start().unwrap();
    let pool = Pool::open(&server.udp_url().unwrap(), 2).unwrap();
    server.inject(Fault::NoReply);
    let requests: Vec<SipRequest> = (0..20)
        .map(|i| mwi(&format!("sip:{}@10.0.0.3", 3000 + i), 1).timeout(Duration::from_millis(300)))
        .collect();
    let report = Batch::new().concurrency(2).send(&pool, &requests).unwrap();
    let failed = report.count(OutcomeKind::Failed);
    assert!((1..=2).contains(&failed), "{report:?}");
    assert_eq!(report.count(OutcomeKind::NotSent), 20 - failed);
    assert!(report.outcomes.iter().all(Outcome::server_unreachable));
    // and a bad request is refused before anything is sent
    let mut bad = requests.clone();
    bad[3] = sip::uac_dlg("NOTIFY", "sip:x@h").header("From", "<sip:a@h>");
    server.clear_faults();
    server.clear_requests();
    let e = Batch::new().send(&pool, &bad).unwrap_err();
    assert!(e.to_string().contains("request 4"), "{e}");
    assert!(server.requests().is_empty());
}

#[cfg(feature = "cli")]
mod cli {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Output, Stdio};

    const BIN: &str = env!("CARGO_BIN_EXE_opensips-mi");

    fn run(url: &str, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(BIN)
            .args(["-u", url])
            .args(args)
            .env_remove("OPENSIPS_MI_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn lines(o: &Output) -> Vec<opensips_mi::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| opensips_mi::Value::from_json(l.as_bytes()).unwrap())
            .collect()
    }

    #[test]
    fn batch_exit_codes_order_and_lock() {
        let server = MockServer::builder()
            .udp()
            .fr_timeout(Duration::from_millis(200))
            .start()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("mwi.lock");
        let lock = lock.to_str().unwrap();
        // a loopback port where nothing listens: an offline phone (408 after fr_timeout)
        let offline = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let all_good = "phone,account,new,old\n# first floor\nsip:1001@10.0.0.1,sip:*97@vm,2,5\n\
                        {\"phone\":\"sip:1002@10.0.0.2\",\"account\":null,\"new\":0}\n";
        let o = run(
            &server.udp_url().unwrap(),
            &["mwi-update", "--batch", "-", "--lock", lock],
            all_good,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        let l = lines(&o);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["line"].as_i64(), Some(3));
        assert_eq!(l[1]["line"].as_i64(), Some(4));
        assert_eq!(l[1]["outcome"].as_str(), Some("delivered"));
        assert!(err.contains("2 delivered"), "{err}");
        assert_eq!(server.uac_requests().len(), 2);

        // one phone offline: exit 1, its line says timeout, the others still go
        let file = dir.path().join("lamps.csv");
        std::fs::write(
            &file,
            format!("sip:1001@10.0.0.1,-,1\nsip:1002@{offline},-,1\nsip:1003@10.0.0.3,-,1\n"),
        )
        .unwrap();
        let o = run(
            &server.udp_url().unwrap(),
            &[
                "mwi-update",
                "--batch",
                file.to_str().unwrap(),
                "--lock",
                lock,
                "--concurrency",
                "2",
            ],
            "",
        );
        assert_eq!(o.status.code(), Some(1));
        let l = lines(&o);
        let outcomes: Vec<&str> = l.iter().map(|v| v["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["delivered", "timeout", "delivered"]);

        // a bad line: exit 2, its number, nothing sent
        server.clear_requests();
        let o = run(
            &server.udp_url().unwrap(),
            &["event-notify", "--batch", "-", "--lock", lock],
            "sip:1001@10.0.0.1,snom_reboot\nsip:1002@10.0.0.2,reboot_please\n",
        );
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("line 2: unknown preset"));
        assert!(server.requests().is_empty());

        // OpenSIPS unreachable: exit 3, nothing sent
        let o = run(
            "udp://127.0.0.1:9",
            &["event-notify", "--batch", "-", "--lock", lock],
            "sip:1001@10.0.0.1,snom_reboot\n",
        );
        assert_eq!(o.status.code(), Some(3));

        // another run holds the lock: nothing sent
        let held = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock)
            .unwrap();
        let held =
            nix::fcntl::Flock::lock(held, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
        let o = run(
            &server.udp_url().unwrap(),
            &["mwi-update", "--batch", "-", "--lock", lock],
            all_good,
        );
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("still running"));
        assert!(server.uac_requests().len() == 5, "nothing more was sent");
        drop(held);
        let o = run(
            &server.udp_url().unwrap(),
            &["mwi-update", "--batch", "-", "--lock", lock],
            all_good,
        );
        assert_eq!(o.status.code(), Some(0));
    }
}
