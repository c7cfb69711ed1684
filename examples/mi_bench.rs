//! Round-trip throughput of one connection: runs `uptime` N times and prints commands per
//! second and latency percentiles. `benches/python_baseline.py` runs it next to the official
//! Python client against the same server.
//!
//! ```text
//! cargo run --release --example mi_bench -- udp://127.0.0.1:8809 5000
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use opensips_mi::Connection;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "fifo:///tmp/opensips_fifo".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let conn = match Connection::open(&url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mi_bench: {e}");
            return ExitCode::from(3);
        }
    };
    let mut lat: Vec<Duration> = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        if let Err(e) = conn.command("uptime", ()) {
            eprintln!("mi_bench: {e}");
            return ExitCode::from(3);
        }
        lat.push(t.elapsed());
    }
    let total = started.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((n as f64 * p) as usize).min(n - 1)].as_secs_f64() * 1e3;
    println!(
        "{:.0} cmd/s  p50 {:.3} ms  p99 {:.3} ms  ({n} commands in {:.2} s)",
        n as f64 / total.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        total.as_secs_f64()
    );
    ExitCode::SUCCESS
}
