//! Bulk SIP: 500 voicemail lamps, 20 % of the phones offline, against the mock with tm's
//! `fr_timeout` shortened to 100 ms (the phones that answer take 5 ms). The same batch is
//! sent one after another (concurrency 1) and with concurrency N in the same run; the
//! ratio is the figure (goal ≥ 10×), and the most calls in flight, counted on the client
//! side around every MI call, must stay ≤ N.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opensips_mi::mock::MockServer;
use opensips_mi::sip::{self, Batch, MessageSummary, OutcomeKind, SipRequest};
use opensips_mi::{Cmd, ConnectionLike, Pool, Response, Result};

const MAILBOXES: usize = 500;
const CONCURRENCY: usize = 32;

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

fn main() {
    let server = MockServer::builder()
        .udp()
        .fr_timeout(Duration::from_millis(100))
        .start()
        .unwrap();
    server.set_uac_delay(Duration::from_millis(5));
    // a loopback port where nothing listens: the offline phones' address
    let offline = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let requests: Vec<SipRequest> = (0..MAILBOXES)
        .map(|i| {
            let phone = if i % 5 == 0 {
                format!("sip:{}@{offline}", 1000 + i)
            } else {
                format!("sip:{}@10.0.0.{}", 1000 + i, i % 250 + 1)
            };
            let summary =
                MessageSummary::voice((i % 4) as u32, 1).account("sip:*97@vm.example.com");
            sip::mwi_update(&phone, &summary).unwrap()
        })
        .collect();
    let run = |n: usize| {
        let pool = Pool::open(&server.udp_url().unwrap(), n).unwrap();
        let counting = Counting {
            inner: &pool,
            now: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
        };
        let report = Batch::new()
            .concurrency(n)
            .send(&counting, &requests)
            .unwrap();
        assert_eq!(
            report.count(OutcomeKind::Delivered),
            MAILBOXES * 4 / 5,
            "{n}"
        );
        assert_eq!(report.count(OutcomeKind::TimedOut), MAILBOXES / 5, "{n}");
        let max = counting.max.load(Ordering::SeqCst);
        assert!(max <= n, "{max} calls in flight with a concurrency of {n}");
        (report.elapsed, max)
    };
    let (parallel, max) = run(CONCURRENCY);
    let (default, max_default) = run(sip::DEFAULT_CONCURRENCY);
    let (sequential, _) = run(1);
    println!(
        "{MAILBOXES} lamps, 20 % offline (fr_timeout 100 ms, answers after 5 ms): \
         one after another {sequential:.2?}, concurrency {CONCURRENCY} {parallel:.2?}: \
         {:.1}x faster (goal >= 10x); at most {max} calls in flight (bound {CONCURRENCY})",
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );
    println!(
        "  with the default concurrency ({}): {default:.2?}, {:.1}x faster; at most {max_default} in flight",
        sip::DEFAULT_CONCURRENCY,
        sequential.as_secs_f64() / default.as_secs_f64()
    );
}
