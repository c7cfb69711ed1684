//! Thread safety: 8 threads × 2,000 commands on one shared connection (FIFO, UDP, unix) and
//! on a pool (UDP, unix), with random server delays, some of them past the timeout. Every
//! reply must reach the caller that asked for it.
#![cfg(feature = "mock")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opensips_mi::mock::{Fault, MockServer};
use opensips_mi::{Connection, ConnectionLike, Options, Pool, Value, cmd};

const THREADS: usize = 8;
const PER_THREAD: usize = 2_000;
const TIMEOUT: Duration = Duration::from_millis(60);
const DELAYS: usize = 40;

/// xorshift64*: enough randomness for delays, no dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[derive(Default, Debug)]
struct Tally {
    ok: AtomicUsize,
    timeouts: AtomicUsize,
    wrong: AtomicUsize,
    other: AtomicUsize,
}

fn hammer<C: ConnectionLike + Send + Sync + 'static>(
    server: &MockServer,
    conn: Arc<C>,
    label: &str,
) {
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (conn, tally) = (conn.clone(), tally.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let n = (t * 1_000_000 + i) as i64;
                    let c = cmd("echo").arg(n).timeout(TIMEOUT);
                    match c.query(&*conn) {
                        Ok(Value::Int(v)) if v == n => tally.ok.fetch_add(1, Ordering::Relaxed),
                        Ok(other) => {
                            eprintln!("thread {t} asked {n}, got {other}");
                            tally.wrong.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) if e.is_timeout() => tally.timeouts.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("thread {t}: {e}");
                            tally.other.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    // Meanwhile: random delays of 0–120 ms on random requests (half of them past the timeout).
    let mut rng = Rng::seeded();
    let mut injected = 0;
    while injected < DELAYS && !workers.iter().all(|w| w.is_finished()) {
        server.inject_times(Fault::Delay(Duration::from_millis(rng.below(121))), 1);
        injected += 1;
        std::thread::sleep(Duration::from_millis(5 + rng.below(20)));
    }
    for w in workers {
        w.join().unwrap();
    }
    server.clear_faults();
    let (ok, timeouts) = (
        tally.ok.load(Ordering::SeqCst),
        tally.timeouts.load(Ordering::SeqCst),
    );
    assert_eq!(
        tally.wrong.load(Ordering::SeqCst),
        0,
        "{label}: replies delivered to the wrong caller"
    );
    assert_eq!(
        tally.other.load(Ordering::SeqCst),
        0,
        "{label}: errors other than timeouts"
    );
    assert_eq!(ok + timeouts, THREADS * PER_THREAD, "{label}");
    // A delayed call holds a datagram connection's socket, so callers queued behind it can
    // run out of time too: at most every thread per delay.
    assert!(
        ok >= THREADS * PER_THREAD - DELAYS * THREADS,
        "{label}: only {ok} answered"
    );
    // the late-reply path was exercised (40 delays of up to 120 ms vs a 60 ms timeout)
    assert!(timeouts > 0, "{label}: no call timed out");
    eprintln!("{label}: {ok} answered, {timeouts} timed out, {injected} delays injected");
}

fn server() -> MockServer {
    let server = MockServer::start().unwrap();
    server.handle("echo", |p| Ok(p.get(0, "n").cloned().unwrap_or_default()));
    server
}

fn leftover_fifos(server: &MockServer) -> Vec<String> {
    std::fs::read_dir(server.reply_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "opensips_fifo" && n != "opensips_mi.sock")
        .collect()
}

#[test]
fn one_shared_fifo_connection() {
    let server = server();
    let conn = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(TIMEOUT),
    )
    .unwrap();
    hammer(&server, Arc::new(conn), "fifo");
    assert_eq!(leftover_fifos(&server), Vec::<String>::new());
}

#[test]
fn one_shared_udp_connection() {
    let server = server();
    let conn = Connection::open_with(
        &server.udp_url().unwrap(),
        Options::builder().timeout(TIMEOUT),
    )
    .unwrap();
    hammer(&server, Arc::new(conn), "udp");
}

#[test]
fn one_shared_unix_connection() {
    let server = server();
    let conn = Connection::open_with(
        &server.unix_url().unwrap(),
        Options::builder().timeout(TIMEOUT),
    )
    .unwrap();
    hammer(&server, Arc::new(conn), "unix");
}

#[test]
fn pools_over_udp_and_unix() {
    let server = server();
    for url in [server.udp_url().unwrap(), server.unix_url().unwrap()] {
        // the pool's own wait for a free connection is generous; each call keeps TIMEOUT
        let pool = Pool::open_with(&url, 4, Options::builder().timeout(support::GENEROUS)).unwrap();
        let pool = Arc::new(pool);
        hammer(&server, pool.clone(), &url);
        assert!(pool.connections() <= 4);
    }
}

#[test]
fn a_busy_pool_times_out_clearly() {
    let server = server();
    server.inject_for("echo", Fault::Delay(Duration::from_millis(400)));
    let pool = Arc::new(
        Pool::open_with(
            &server.udp_url().unwrap(),
            1,
            Options::builder().timeout(Duration::from_millis(150)),
        )
        .unwrap(),
    );
    let held = pool.get().unwrap();
    let started = std::time::Instant::now();
    let err = cmd("uptime").execute(&*pool).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("pool"), "{err}");
    // bounded by the pool's timeout, not by the held connection (which is never returned
    // while waiting); generous for a loaded machine
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    assert!(cmd("uptime").execute(&*pool).is_ok());
    assert!(Pool::open(&server.udp_url().unwrap(), 0).is_err());
}

#[test]
fn the_documented_thread_bounds_hold() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Connection>();
    send_sync::<Pool>();
    send_sync::<opensips_mi::PooledConnection<'static>>();
    send_sync::<opensips_mi::Cmd>();
    send_sync::<opensips_mi::Response>();
    send_sync::<Value>();
    send_sync::<opensips_mi::Error>();
    send_sync::<Options>();
    send_sync::<MockServer>();
    send::<opensips_mi::events::EventListener>();
    // the rest of the public types: the API listing (cargo public-api -ss) omits auto
    // traits, so losing Send or Sync would show nowhere else
    send_sync::<opensips_mi::FifoConnection>();
    send_sync::<opensips_mi::UdpConnection>();
    send_sync::<opensips_mi::UnixDatagramConnection>();
    send_sync::<opensips_mi::HttpConnection>();
    send_sync::<opensips_mi::Fleet>();
    send_sync::<opensips_mi::NodeResult<Value>>();
    send_sync::<opensips_mi::OptionsBuilder>();
    send_sync::<opensips_mi::Params>();
    send_sync::<opensips_mi::ServerError>();
    send_sync::<opensips_mi::server::ServerFacts>();
    send_sync::<opensips_mi::helpers::Statistics>();
    send_sync::<opensips_mi::events::Event>();
    send_sync::<opensips_mi::events::EventListenerBuilder>();
    send_sync::<opensips_mi::sip::SipRequest>();
    send_sync::<opensips_mi::sip::Batch>();
    send_sync::<opensips_mi::sip::BatchReport>();
    send_sync::<opensips_mi::mock::MockBuilder>();
}
