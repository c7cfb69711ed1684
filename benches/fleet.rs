//! A fleet's call takes about as long as its slowest node, not the sum: 10 mock nodes that
//! answer after 30 ms (a distant server), one of them after 100 ms, asked together and then
//! one after another in the same run.

use std::time::{Duration, Instant};

use opensips_mi::mock::{Fault, MockServer};
use opensips_mi::{Connection, Fleet, Options};

const ROUNDS: usize = 5;

fn main() {
    let servers: Vec<MockServer> = (0..10)
        .map(|_| MockServer::builder().udp().start().unwrap())
        .collect();
    for (i, s) in servers.iter().enumerate() {
        let ms = if i == 3 { 100 } else { 30 };
        s.inject(Fault::Delay(Duration::from_millis(ms)));
    }
    let urls: Vec<String> = servers.iter().map(|s| s.udp_url().unwrap()).collect();
    let opts = Options::builder().timeout(Duration::from_secs(5));
    let fleet = Fleet::open_with(&urls, opts.clone());
    let conns: Vec<Connection> = urls
        .iter()
        .map(|u| Connection::open_with(u, opts.clone()).unwrap())
        .collect();
    let (mut together, mut one_by_one) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let r = fleet.command("uptime", ());
        assert!(r.iter().all(|n| n.result.is_ok()));
        together.push(t.elapsed());
        let t = Instant::now();
        for c in &conns {
            c.command("uptime", ()).unwrap();
        }
        one_by_one.push(t.elapsed());
    }
    together.sort();
    one_by_one.sort();
    let (f, s) = (together[ROUNDS / 2], one_by_one[ROUNDS / 2]);
    println!(
        "10 nodes answering after 30 ms, one after 100 ms (median of {ROUNDS}): fleet {f:?}, \
         one after another {s:?}; fleet / slowest node = {:.2} (goal ≈ 1), \
         one after another / fleet = {:.1}",
        f.as_secs_f64() / 0.1,
        s.as_secs_f64() / f.as_secs_f64()
    );
}
